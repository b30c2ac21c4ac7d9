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
* :func:`cifar_stn_net`: our CIFAR-10 network, a quarter-width ResNet-9 (:func:`resnet9`)
  behind a small, cheap localization net (:func:`bn_localization`); ``stn=False``
  gives the ablation, the same backbone alone.
* :func:`rts_stn_net` / :func:`clutter_stn_net`: the distorted-MNIST designs of notebook 2
  (a similarity transformer for RTS; an attention transformer starting zoomed in for clutter),
  each with the classifier view :data:`RTS_VIEW` / :data:`CLUTTER_VIEW` its CNN baseline shares.
* :func:`mnist_stn_net` / :func:`mnist_cnn`: our improved MNIST network (batch-norm
  LeNet classifier, correct padding) and its baseline, the same network with the
  transformer frozen at the identity.

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
    "THETA_FAMILIES",
    "STNClassifier",
    "SpatialTransformer",
    "cifar_stn_net",
    "conv_localization",
    "count_parameters",
    "course_net",
    "resnet9",
    "bn_localization",
    "Resize",
    "lenet_bn",
    "CLUTTER_VIEW",
    "RTS_VIEW",
    "clutter_stn_net",
    "mnist_cnn",
    "mnist_stn_net",
    "rts_stn_net",
    "tutorial_net",
]


#: Theta families a :class:`SpatialTransformer` can regress (see its ``family`` argument).
THETA_FAMILIES: tuple[str, ...] = ("affine", "similarity", "attention", "shift")


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
        family: which thetas the regressor can produce (see :data:`THETA_FAMILIES`):
            ``"affine"`` (all six entries), ``"similarity"`` (``(a, b, tx, ty) -> [[a, -b, tx],
            [b, a, ty]]``: turn, zoom and move, no shear or stretch) or ``"attention"``
            (``(s, tx, ty) -> [[s, 0, tx], [0, s, ty]]``, the paper's attention transformer: zoom
            and move only) or ``"shift"`` (``(tx, ty)``, a window of fixed zoom ``init_zoom`` that
            can only move).
        init_zoom: the zoom of the untrained transformer (``1``: identity; ``2``: the central
            half of the input, magnified 2x). The regressor starts at zero weights, so before
            training every image gets this same theta.

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
        family: str = "affine",
        init_zoom: float = 1.0,
    ) -> None:
        super().__init__()
        if family not in THETA_FAMILIES:
            raise ValueError(f"unknown theta family {family!r}; expected one of {', '.join(THETA_FAMILIES)}")
        if not init_zoom > 0:
            raise ValueError(f"init_zoom must be positive, got {init_zoom!r}")
        self.localization = localization
        self.family, self.init_zoom = family, init_zoom
        s = 1.0 / init_zoom  # the regressor's bias: theta = [[s, 0, 0], [0, s, 0]] in this family's numbers
        start = {
            "affine": [s, 0.0, 0.0, 0.0, s, 0.0],
            "similarity": [s, 0.0, 0.0, 0.0],
            "attention": [s, 0.0, 0.0],
            "shift": [0.0, 0.0],
        }
        start = start[family]
        self.regressor = nn.Linear(features, len(start))
        nn.init.zeros_(self.regressor.weight)
        with torch.no_grad():
            self.regressor.bias.copy_(torch.tensor(start))
        self.out_size = out_size
        self.align_corners = align_corners
        fill_t = torch.as_tensor(0.0 if fill is None else fill, dtype=torch.float32).reshape(-1)
        if not bool(torch.isfinite(fill_t).all()):
            raise ValueError(f"fill must be finite, got {fill!r}")
        self.register_buffer("fill", fill_t, persistent=False)
        self.has_fill = fill is not None  # decided once: checking the buffer per batch would sync a GPU
        self.last_theta: Tensor | None = None

    def theta(self, x: Tensor) -> Tensor:
        """The thetas ``(B, 2, 3)`` this transformer would apply to ``x``."""
        if x.dim() != 4 or not x.is_floating_point():  # shape and dtype only: no device sync
            hint = " (add a batch axis: x.unsqueeze(0))" if x.dim() == 3 else ""
            hint += " (convert uint8 images with .float() / 255, then normalize)" if not x.is_floating_point() else ""
            got = f"{x.dtype} {tuple(x.shape)}"
            raise ValueError(f"a SpatialTransformer needs float images (B, C, H, W), got {got}{hint}")
        p = self.regressor(self.localization(x))
        if self.family == "affine":
            return p.view(-1, 2, 3)
        if self.family == "similarity":
            a, b, tx, ty = p.unbind(1)
            return torch.stack([torch.stack([a, -b, tx], 1), torch.stack([b, a, ty], 1)], 1)
        if self.family == "shift":
            tx, ty = p.unbind(1)
            s = torch.full_like(tx, 1.0 / self.init_zoom)
        else:
            s, tx, ty = p.unbind(1)
        zero = torch.zeros_like(s)
        return torch.stack([torch.stack([s, zero, tx], 1), torch.stack([zero, s, ty], 1)], 1)

    def transform(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(warped (B, C, H', W'), theta (B, 2, 3))``."""
        theta = self.theta(x)
        fill = self.fill if self.has_fill else None
        out = affine.warp(x, theta, out_size=self.out_size, align_corners=self.align_corners, fill=fill, validate=False)
        return out, theta

    def forward(self, x: Tensor) -> Tensor:
        out, theta = self.transform(x)
        self.last_theta = theta.detach()
        return out


class STNClassifier(nn.Module):
    """``classifier(stn(x))``; ``stn=None`` gives the plain CNN with the same classifier.

    ``resize`` (only without ``stn``) resizes the input first, see :class:`Resize`.
    """

    def __init__(
        self, classifier: nn.Module, stn: SpatialTransformer | None = None, *, resize: tuple[int, int] | None = None
    ) -> None:
        super().__init__()
        if stn is not None and resize is not None:
            raise ValueError("resize is for the baseline only: a SpatialTransformer sets its own out_size")
        self.stn = stn
        self.resize = Resize(resize) if resize is not None else None
        self.classifier = classifier

    def forward(self, x: Tensor) -> Tensor:
        if self.stn is not None:
            x = self.stn(x)
        elif self.resize is not None:
            x = self.resize(x)
        return self.classifier(x)


class _LogSoftmax(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.log_softmax(x, dim=1)


def conv_localization(
    in_channels: int,
    in_size: int,
    channels: Sequence[int] = (8, 10),
    kernels: Sequence[int] = (7, 5),
    hidden: int = 32,
    *,
    downsample: int = 1,
) -> tuple[nn.Sequential, int]:
    """The tutorial's localization design: ``[conv k, maxpool 2, ReLU] x 2 -> fc -> ReLU``.

    ``downsample > 1`` average-pools the input first (a large canvas needs only a coarse
    look to find the object). Returns ``(module, features)`` for :class:`SpatialTransformer`.
    """
    layers: list[nn.Module] = [nn.AvgPool2d(downsample)] if downsample > 1 else []
    c, s = in_channels, in_size // downsample
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


def lenet_bn(in_size: int = 28, *, width: int = 32, hidden: int = 128, classes: int = 10) -> nn.Sequential:
    """Our classifier: LeNet-style ``[conv k5 -> BN -> ReLU -> pool] x 2 -> fc -> fc`` with dropout.

    Input ``(B, 1, in_size, in_size)`` (``in_size`` divisible by 4); about 0.4 M parameters at
    ``width=32``. Batch norm and a wider first layer are what make it train in a few epochs.
    """
    if in_size % 4:
        raise ValueError(f"in_size must be divisible by 4, got {in_size}")
    s = in_size // 4
    return nn.Sequential(
        nn.Conv2d(1, width, 5, padding=2, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 5, padding=2, bias=False), nn.BatchNorm2d(2 * width), nn.ReLU(inplace=True),
        nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.3),
        nn.Linear(2 * width * s * s, hidden), nn.ReLU(inplace=True), nn.Dropout(0.3), nn.Linear(hidden, classes),
    )  # fmt: skip


class Resize(nn.Module):
    """Fixed bilinear resize to ``size``: a spatial transformer frozen at the identity theta.

    ``F.interpolate(bilinear, align_corners=False)`` samples exactly where the identity
    theta's grid does, so the baseline sees the whole canvas at the resolution the STN's
    classifier gets, and the only difference is that its theta cannot move.
    """

    def __init__(self, size: tuple[int, int]) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: Tensor) -> Tensor:
        if tuple(x.shape[-2:]) == tuple(self.size):
            return x
        return F.interpolate(x, size=self.size, mode="bilinear", align_corners=False)


def mnist_stn_net(
    in_size: int = 28,
    *,
    out_size: int | None = None,
    width: int = 32,
    fill: float | None = None,
    classes: int = 10,
    localization: tuple[nn.Module, int] | None = None,
    family: str = "affine",
    init_zoom: float = 1.0,
) -> STNClassifier:
    """Our MNIST ST-CNN: a transformer in front of the :func:`lenet_bn` classifier.

    ``in_size``: input canvas (28; 42 for RTS; 60 for cluttered). ``out_size``: the
    transformer's output and the classifier's input (default ``in_size``). ``fill``: pass
    ``-mean/std`` for normalized input (the tutorial's zero padding paints grey).
    ``localization``: ``(module, features)``, default the tutorial's design
    (:func:`conv_localization`); ``family``/``init_zoom``: see :class:`SpatialTransformer`.
    """
    size = out_size or in_size
    loc, feats = localization if localization is not None else conv_localization(1, in_size)
    stn = SpatialTransformer(loc, feats, out_size=(size, size), fill=fill, family=family, init_zoom=init_zoom)
    return STNClassifier(lenet_bn(size, width=width, classes=classes), stn)


def mnist_cnn(in_size: int = 28, *, out_size: int | None = None, width: int = 32, classes: int = 10) -> STNClassifier:
    """The baseline: :func:`mnist_stn_net` with the transformer frozen at the identity.

    The canvas is resized to ``out_size`` (:class:`Resize`), then the same classifier runs.
    """
    size = out_size or in_size
    return STNClassifier(lenet_bn(size, width=width, classes=classes), None, resize=(size, size))


#: The classifier's view (pixels) on RTS MNIST's 42x42 canvas, for the ST-CNN and its CNN baseline alike.
RTS_VIEW = 28
#: The classifier's view on cluttered MNIST's 60x60 canvas: the whole canvas at this size leaves a digit ~9 px tall.
CLUTTER_VIEW = 20


def rts_stn_net(*, fill: float | None = None) -> STNClassifier:
    """RTS MNIST (42x42 -> 28x28 view): a transformer that can turn, zoom and move digits.

    Localization: :func:`bn_localization` on the 2x-downsampled canvas (21x21), convolutions
    5x5/32, 5x5/64 and 3x3/64 channels, 128 hidden units; theta family ``"similarity"`` (what RTS does to
    a digit). Chosen on a validation split (``scripts/validate_mnist.py``).
    """
    loc = bn_localization(1, 42, channels=(32, 64, 64), hidden=128, kernel=(5, 5, 3), downsample=2)
    return mnist_stn_net(42, out_size=RTS_VIEW, fill=fill, localization=loc, family="similarity")


def clutter_stn_net(*, fill: float | None = None, init_zoom: float = 2.0) -> STNClassifier:
    """Cluttered MNIST (60x60 -> 20x20 view): an attention transformer (zoom and move) that starts zoomed in 2x.

    From the identity, the region covers the whole canvas and the transformer learns little
    attention (its region barely moves from digit to digit: notebook 2 measures it); starting at
    the central 30x30, which overlaps most digits, it learns to find them. Localization: :func:`bn_localization` on the
    2x-downsampled canvas (30x30), 5x5 convolutions with 16 and 32 channels, 64 hidden units.
    Chosen on a validation split (``scripts/validate_mnist.py``); ``init_zoom=1`` gives the
    identity start, for showing the collapse.
    """
    loc = bn_localization(1, 60, channels=(16, 32), hidden=64, kernel=5, downsample=2)
    return mnist_stn_net(
        60, out_size=CLUTTER_VIEW, fill=fill, localization=loc, family="attention", init_zoom=init_zoom
    )


# ------------------------------------------------------------------- CIFAR-10
def _conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class _Residual(nn.Module):
    """``x + f(x)`` with ``f`` two 3x3 conv-BN-ReLU layers (shape preserving)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.f = nn.Sequential(_conv_bn(channels, channels), _conv_bn(channels, channels))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.f(x)


def resnet9(width: int = 16, *, in_channels: int = 3, classes: int = 10) -> nn.Sequential:
    """The DAWNBench ResNet-9 (Myrtle.ai's fast CIFAR-10 network) with ``width`` channels in its stem.

    ``(B, in_channels, H, W) -> (B, classes)`` logits, any ``H, W`` divisible by 8. Channels
    ``width * (1, 2, 4, 8)``; three 2x max-pools (32 -> 16 -> 8 -> 4), residual blocks after the
    first and last, global max pool, one linear layer. The original uses ``width=64``; at
    ``width=16`` (about 0.41 M parameters) it trains at roughly 1,000 images/s on a 2-core CPU.
    """
    w = width
    return nn.Sequential(
        _conv_bn(in_channels, w),
        _conv_bn(w, 2 * w), nn.MaxPool2d(2), _Residual(2 * w),
        _conv_bn(2 * w, 4 * w), nn.MaxPool2d(2),
        _conv_bn(4 * w, 8 * w), nn.MaxPool2d(2), _Residual(8 * w),
        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(8 * w, classes),
    )  # fmt: skip


def bn_localization(
    in_channels: int,
    in_size: int,
    *,
    channels: Sequence[int] = (8, 16),
    hidden: int = 32,
    kernel: int | Sequence[int] = 3,
    downsample: int = 2,
) -> tuple[nn.Sequential, int]:
    """A batch-norm localization net: ``(B, C, S, S) -> (B, hidden)``.

    It looks at a ``downsample``-times average-pooled copy of the input (where an object is and
    how it is turned does not need full resolution), then ``[conv k x k -> BN -> ReLU -> maxpool 2]``
    per entry of ``channels`` (``kernel``: one size, or one per layer) and one hidden layer.
    The defaults are CIFAR-10's cheap net; the
    MNIST nets (:func:`rts_stn_net`, :func:`clutter_stn_net`) use wider, 5x5 versions.
    """
    if in_size // downsample < 2 ** len(channels):
        raise ValueError(f"in_size {in_size} is too small for {len(channels)} poolings after {downsample}x pooling")
    layers: list[nn.Module] = [nn.AvgPool2d(downsample)] if downsample > 1 else []
    kernels = [kernel] * len(channels) if isinstance(kernel, int) else list(kernel)
    if len(kernels) != len(channels):
        raise ValueError(f"kernel needs one size per layer ({len(channels)}), got {kernels}")
    c, s = in_channels, in_size // downsample
    for c_out, k in zip(channels, kernels):
        layers += [
            nn.Conv2d(c, c_out, k, padding=k // 2, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True), nn.MaxPool2d(2),
        ]  # fmt: skip
        c, s = c_out, s // 2
    layers += [nn.Flatten(), nn.Linear(c * s * s, hidden), nn.ReLU(True)]
    return nn.Sequential(*layers), hidden


def cifar_stn_net(
    *,
    width: int = 16,
    stn: bool = True,
    fill: float | Sequence[float] | None = None,
    classes: int = 10,
    loc_downsample: int = 2,
    regressor_init_std: float = 0.0,
) -> STNClassifier:
    """Our first CIFAR-10 ST-CNN: :func:`bn_localization` -> transformer -> :func:`resnet9`.

    ``fill``: pass ``data.black`` (``-mean/std``) for normalized input. ``stn=False``: the ablation,
    the identical backbone with no transformer in front. ``loc_downsample``: how much the
    localization net pools its input first (2: it sees 16x16; 1: full resolution).
    ``regressor_init_std`` > 0: the regressor's weights start ``N(0, std^2)`` instead of zero.
    """
    transformer = None
    if stn:
        loc, feats = bn_localization(3, 32, downsample=loc_downsample)
        transformer = SpatialTransformer(loc, feats, fill=fill)
        if regressor_init_std > 0:
            nn.init.normal_(transformer.regressor.weight, std=regressor_init_std)
    return STNClassifier(resnet9(width, classes=classes), transformer)
