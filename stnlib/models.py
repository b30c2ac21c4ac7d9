"""Spatial transformer and the classifiers it is compared with.

* :class:`SpatialTransformer`: localization net -> 6 numbers -> theta ``(B, 2, 3)`` ->
  resampled image. The last layer (``regressor``) starts at zero weights and an
  identity bias, so an untrained STN passes its input through unchanged. ``fill`` is
  the value painted outside the input: for normalized inputs pass ``-mean/std``
  (black), never leave it at 0 (grey; see notebook 1, section 8).
* :class:`STNClassifier`: ``classifier(stn(x))``; with ``stn=None`` it is the CNN
  baseline, so "with" and "without" differ by the transformer only.
* :func:`tutorial_net`: the PyTorch STN tutorial's MNIST network, layer for layer
  (optionally with its zero-padding bug), and :func:`course_net`: the same design
  parametrised for the CIFAR-10 course write-ups.
* :func:`mnist_stn_net` / :func:`mnist_cnn`: our improved MNIST network (batch norm,
  a stronger localization net, correct padding) and its baseline.

Shapes: inputs ``(B, C, H, W)``, logits ``(B, num_classes)``; thetas ``(B, 2, 3)``
in the convention of :mod:`stnlib.affine` (output -> input coordinates).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import affine

__all__ = [
    "STNClassifier",
    "SpatialTransformer",
    "conv_localization",
    "count_parameters",
    "course_net",
    "mnist_cnn",
    "mnist_stn_net",
    "tutorial_net",
]


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


class SpatialTransformer(nn.Module):
    """``(B, C, H, W) -> (B, C, H', W')``: predict theta from the input and resample it.

    Args:
        localization: maps the input ``(B, C, H, W)`` to features ``(B, features)``.
        features: size of the localization output; a linear ``regressor`` maps it to theta.
        out_size: ``(H', W')`` of the output (default: the input's size).
        fill: value outside the input (number or one per channel), e.g. ``-mean/std``.
        align_corners: passed to ``affine_grid``/``grid_sample``.

    After each forward pass, ``last_theta`` holds the (detached) thetas of that batch.
    """

    def __init__(
        self,
        localization: nn.Module,
        features: int,
        *,
        out_size: tuple[int, int] | None = None,
        fill: float | Sequence[float] | None = None,
        align_corners: bool = False,
    ) -> None:
        super().__init__()
        self.localization = localization
        self.regressor = nn.Linear(features, 6)
        nn.init.zeros_(self.regressor.weight)
        with torch.no_grad():
            self.regressor.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]))
        self.out_size = out_size
        self.align_corners = align_corners
        fill_t = torch.as_tensor(0.0 if fill is None else fill, dtype=torch.float32).reshape(-1)
        self.register_buffer("fill", fill_t, persistent=False)
        self.last_theta: Tensor | None = None

    def theta(self, x: Tensor) -> Tensor:
        """The thetas ``(B, 2, 3)`` this transformer would apply to ``x``."""
        return self.regressor(self.localization(x)).view(-1, 2, 3)

    def transform(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(warped (B, C, H', W'), theta (B, 2, 3))``."""
        theta = self.theta(x)
        fill = self.fill if bool(self.fill.any()) else None
        out = affine.warp(x, theta, out_size=self.out_size, align_corners=self.align_corners, fill=fill, validate=False)
        return out, theta

    def forward(self, x: Tensor) -> Tensor:
        out, theta = self.transform(x)
        self.last_theta = theta.detach()
        return out


class STNClassifier(nn.Module):
    """``classifier(stn(x))``; ``stn=None`` gives the plain CNN with the same classifier."""

    def __init__(self, classifier: nn.Module, stn: SpatialTransformer | None = None) -> None:
        super().__init__()
        self.stn = stn
        self.classifier = classifier

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.stn(x) if self.stn is not None else x)


class _LogSoftmax(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.log_softmax(x, dim=1)


def conv_localization(
    in_channels: int, in_size: int, channels: Sequence[int] = (8, 10), kernels: Sequence[int] = (7, 5), hidden: int = 32
) -> tuple[nn.Sequential, int]:
    """The tutorial's localization design: ``[conv k, maxpool 2, ReLU] x 2 -> fc -> ReLU``.

    Returns ``(module, features)`` for :class:`SpatialTransformer`.
    """
    layers: list[nn.Module] = []
    c, s = in_channels, in_size
    for out_c, k in zip(channels, kernels):
        layers += [nn.Conv2d(c, out_c, k), nn.MaxPool2d(2, stride=2), nn.ReLU(True)]
        c, s = out_c, (s - k + 1) // 2
    layers += [nn.Flatten(), nn.Linear(c * s * s, hidden), nn.ReLU(True)]
    return nn.Sequential(*layers), hidden


def _tutorial_classifier(in_channels: int, in_size: int, channels: Sequence[int], hidden: int, classes: int):
    s = ((in_size - 4) // 2 - 4) // 2
    return nn.Sequential(
        nn.Conv2d(in_channels, channels[0], 5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(channels[0], channels[1], 5), nn.Dropout2d(), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(channels[1] * s * s, hidden), nn.ReLU(), nn.Dropout(),
        nn.Linear(hidden, classes), _LogSoftmax(),
    )  # fmt: skip


def course_net(
    in_channels: int = 3,
    in_size: int = 32,
    *,
    conv: Sequence[int] = (10, 20),
    hidden: int = 50,
    loc_conv: Sequence[int] = (8, 10),
    loc_hidden: int = 32,
    classes: int = 10,
    stn: bool = True,
    fill: float | Sequence[float] | None = None,
) -> STNClassifier:
    """The PyTorch tutorial's STN network, parametrised (the design every course write-up reused).

    Classifier: ``conv k5 -> pool -> ReLU -> conv k5 -> Dropout2d -> pool -> ReLU -> fc -> ReLU ->
    Dropout -> fc -> log_softmax``. Localization: :func:`conv_localization`. ``fill=None``
    reproduces the tutorial's zero padding (grey on normalized input).
    """
    classifier = _tutorial_classifier(in_channels, in_size, conv, hidden, classes)
    transformer = None
    if stn:
        loc, feats = conv_localization(in_channels, in_size, loc_conv, (7, 5), loc_hidden)
        transformer = SpatialTransformer(loc, feats, fill=fill)
    return STNClassifier(classifier, transformer)


def tutorial_net(*, stn: bool = True, fill: float | None = None) -> STNClassifier:
    """The PyTorch STN tutorial's MNIST net (1x28x28), faithful; ``fill=None`` keeps its zero padding."""
    return course_net(1, 28, conv=(10, 20), hidden=50, loc_conv=(8, 10), loc_hidden=32, stn=stn, fill=fill)


def _conv_bn(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


def _mnist_classifier(in_channels: int, classes: int, width: int) -> nn.Sequential:
    w = width
    return nn.Sequential(
        *_conv_bn(in_channels, w), *_conv_bn(w, w), nn.MaxPool2d(2),
        *_conv_bn(w, 2 * w), *_conv_bn(2 * w, 2 * w), nn.MaxPool2d(2),
        *_conv_bn(2 * w, 4 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Dropout(0.2), nn.Linear(4 * w, classes),
    )  # fmt: skip


def _mnist_localization(in_channels: int, in_size: int, width: int = 16) -> tuple[nn.Sequential, int]:
    """Small conv net for theta: it sees the whole (possibly large, cluttered) canvas."""
    layers: list[nn.Module] = [nn.MaxPool2d(2)] if in_size > 40 else []
    layers += [
        *_conv_bn(in_channels, width), nn.MaxPool2d(2),
        *_conv_bn(width, 2 * width), nn.MaxPool2d(2),
        *_conv_bn(2 * width, 2 * width), nn.AdaptiveAvgPool2d(3), nn.Flatten(),
        nn.Linear(2 * width * 9, 64), nn.ReLU(inplace=True),
    ]  # fmt: skip
    return nn.Sequential(*layers), 64


def mnist_stn_net(
    in_size: int = 28,
    *,
    out_size: int | None = None,
    width: int = 32,
    fill: float | None = None,
    classes: int = 10,
) -> STNClassifier:
    """Our MNIST ST-CNN: conv-BN localization, identity-initialised regressor, BN classifier.

    ``in_size``: input canvas (28, 42 for RTS, 60 for cluttered); ``out_size``: the
    transformer's output (default ``in_size``). ``fill``: pass ``-mean/std`` for normalized input.
    """
    loc, feats = _mnist_localization(1, in_size)
    size = out_size or in_size
    stn = SpatialTransformer(loc, feats, out_size=(size, size), fill=fill)
    return STNClassifier(_mnist_classifier(1, classes, width), stn)


def mnist_cnn(*, width: int = 32, classes: int = 10) -> STNClassifier:
    """The baseline: :func:`mnist_stn_net`'s classifier without the transformer (any input size)."""
    return STNClassifier(_mnist_classifier(1, classes, width), None)
