"""MNIST addition with two transformers side by side (after Jaderberg et al., 2015, appendix A.1).

A canvas ``(1, 42, 84)`` is two RTS MNIST canvases side by side (:func:`stnlib.distort.distort_mnist` ``"rts"``);
the label is the two digits' sum, ``0..18``. :class:`TwoTransformerAdder`'s transformers each read the whole canvas,
starting on their own half, and hand 28x28 views to one shared digit classifier; only the sum is supervised. The
baselines :func:`canvas_cnn_adder` and :func:`halves_adder` have the same two-digit head. All return
log-probabilities ``(B, 19)`` (:func:`sum_log_probs`), which ``F.cross_entropy`` takes as logits.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import train
from .batches import ArrayDataset
from .data import ImageData, load_dataset
from .distort import RTS_CANVAS, TEST_SEED_OFFSET, Distorted, _other, _uniform, distort_mnist
from .env import Profile
from .models import RTS_VIEW, _bn_stack, lenet_bn
from .transformer import SpatialTransformer

CANVAS = (RTS_CANVAS, 2 * RTS_CANVAS)  #: (H, W): two RTS canvases side by side
SUMS = 19  #: 0 + 0 .. 9 + 9


def sum_log_probs(left: Tensor, right: Tensor) -> Tensor:
    """``log p(a + b = s)`` ``(B, 19)`` for digit logits ``left``, ``right`` ``(B, 10)`` of independent digits:
    ``p(s) = sum_a p_left(a) p_right(s - a)``, in float32."""
    p, q = left.float().softmax(1), right.float().softmax(1)
    joint = (p[:, :, None] * q[:, None, :]).flatten(1)  # (B, 100): p(a) q(b) at a * 10 + b
    index = (torch.arange(10, device=p.device)[:, None] + torch.arange(10, device=p.device)).flatten()
    sums = torch.zeros(len(p), SUMS, device=p.device).index_add_(1, index, joint)
    return sums.clamp_min(1e-12).log()


class _HalfStart(SpatialTransformer):
    """An affine transformer whose untrained theta shows the left (``side=-1``) or right (``+1``) 42x42 half."""

    def __init__(self, side: int, localization: nn.Module, features: int, **kw) -> None:
        self.side = side  # _start reads it
        super().__init__(localization, features, family="affine", **kw)

    def _start(self) -> list[float]:
        return [0.5, 0.0, 0.5 * self.side, 0.0, 1.0, 0.0]


def _localization() -> tuple[nn.Sequential, int]:
    """:func:`stnlib.models.rts_stn_net`'s localization on the wide canvas: ``(B, 1, 42, 84) -> (B, 128)``."""
    return _bn_stack(1, CANVAS, channels=(32, 64, 64), kernels=(5, 5, 3), downsample=2, hidden=128), 128


class TwoTransformerAdder(nn.Module):
    """``(B, 1, 42, 84)`` -> sum log-probabilities ``(B, 19)``: two transformers (left and right start), each a
    28x28 view, one shared :func:`~stnlib.models.lenet_bn` digit classifier. ``fill``: the value outside the canvas."""

    def __init__(self, *, fill: float | None = None) -> None:
        super().__init__()
        views = (RTS_VIEW, RTS_VIEW)
        self.stns = nn.ModuleList(_HalfStart(side, *_localization(), out_size=views, fill=fill) for side in (-1, 1))
        self.classifier = lenet_bn(RTS_VIEW)

    def thetas(self, x: Tensor) -> Tensor:
        """``(B, 2, 2, 3)``: each transformer's theta (second axis: left start, right start)."""
        return torch.stack([stn.theta(x) for stn in self.stns], 1)

    def views(self, x: Tensor) -> Tensor:
        """``(B, 2, 1, 28, 28)``: what each transformer hands the classifier."""
        return torch.stack([stn(x) for stn in self.stns], 1)

    def forward(self, x: Tensor) -> Tensor:
        left, right = (self.classifier(stn(x)) for stn in self.stns)
        return sum_log_probs(left, right)


class _CanvasCNN(nn.Module):
    """:func:`~stnlib.models.lenet_bn`'s layers sized for 42x84, 20 outputs read as the two digits' logits."""

    def __init__(self) -> None:
        super().__init__()
        h, w = (math.ceil(math.ceil(s / 2) / 2) for s in CANVAS)  # two poolings that round up: 11 x 21
        layers = lenet_bn(RTS_VIEW)
        layers[10] = nn.Linear(64 * h * w, 128)  # the first fully connected layer, for the wider maps
        layers[13] = nn.Linear(128, 20)
        self.net = layers

    def forward(self, x: Tensor) -> Tensor:
        left, right = self.net(x).split(10, dim=1)
        return sum_log_probs(left, right)


def canvas_cnn_adder() -> nn.Module:
    """A baseline: a CNN that reads the whole 42x84 canvas at full resolution (:class:`_CanvasCNN`)."""
    return _CanvasCNN()


class _Halves(nn.Module):
    """Each 42x42 half shrunk to 28x28 by area averaging, then the shared digit classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.classifier = lenet_bn(RTS_VIEW)

    def forward(self, x: Tensor) -> Tensor:
        halves = x.split(RTS_CANVAS, dim=3)
        left, right = (self.classifier(F.adaptive_avg_pool2d(h, RTS_VIEW)) for h in halves)
        return sum_log_probs(left, right)


def halves_adder() -> nn.Module:
    """A baseline: the adder whose transformers cannot move, each half read whole (:class:`_Halves`)."""
    return _Halves()


def thetas_on_test_set(net: TwoTransformerAdder, data: ImageData) -> Tensor:
    """``(N, 2, 2, 3)`` on the CPU: both transformers' thetas for every test canvas of ``data`` (on the model's
    device, in eval mode, without gradients)."""
    outs, _ = train.over_batches(net, data.loaders(train.TEST_BATCH)[1], lambda m, x: train.to_cpu(m.thetas(x)))
    return torch.cat(outs)


def views_on_test_set(net: TwoTransformerAdder, data: ImageData, n: int) -> tuple[Tensor, Tensor]:
    """The first ``n`` test canvases, normalized ``(n, 1, 42, 84)``, and what each transformer hands the classifier
    for them, ``(n, 2, 1, 28, 28)``, both on the CPU."""
    batch = ArrayDataset(data.test_images[:n], data.test_labels[:n], mean=data.mean, std=data.std, classes=SUMS)[:n]
    outs, _ = train.over_batches(net, [batch], lambda m, x: train.to_cpu(m.views(x)))
    return batch[0], outs[0]


def region_centres_px(thetas: Tensor) -> Tensor:
    """``(N, 2, 2)``: the centre ``(x, y)`` of each transformer's region, in canvas pixels from the top-left
    corner, for thetas ``(N, 2, 2, 3)`` (:meth:`TwoTransformerAdder.thetas`)."""
    h, w = CANVAS
    centre = thetas[..., 2].float()  # normalized: theta maps the output's centre (0, 0) to its last column
    return torch.stack([(centre[..., 0] + 1) * w / 2, (centre[..., 1] + 1) * h / 2], -1)


def digit_centres_px(params: tuple[Distorted, Distorted]) -> Tensor:
    """``(N, 2, 2)``: the left and right digits' centres ``(x, y)`` in canvas pixels from the top-left corner,
    from ``test_params`` of :func:`load_addition_mnist`."""
    half = RTS_CANVAS / 2
    return torch.stack(
        [torch.stack([half * (1 + d.tx) + k * RTS_CANVAS, half * (1 + d.ty)], -1) for k, d in enumerate(params)], 1
    )


def _pairs(images: Tensor, labels: Tensor, seed: int) -> tuple[Tensor, Tensor, Distorted, Distorted]:
    """Canvases ``(N, 1, 42, 84)``, sums ``(N,)``, and the left and right digits' RTS parameters: digit ``i`` on
    the left, another digit of the same split (from the seed) on the right."""
    other = _other(_uniform(seed, len(images), 1)[:, 0], len(images))
    left = distort_mnist(images, "rts", seed=seed)
    right = distort_mnist(images[other], "rts", seed=seed + 1)
    return torch.cat([left.images, right.images], 3), labels + labels[other], left, right


def load_addition_mnist(
    *, profile: str | Profile = "full", limit_train: int | None = None, limit_test: int | None = None, seed: int = 0
) -> ImageData:
    """MNIST addition: uint8 ``(N, 1, 42, 84)`` canvases, 19 classes ``"0".."18"``, test seed
    ``seed + TEST_SEED_OFFSET``; ``test_params``: the test digits' ``(left, right)``
    :class:`~stnlib.distort.Distorted` (``tx``, ``ty`` in each half's normalized coordinates)."""
    data = load_dataset("mnist", profile=profile).subset(limit_train, limit_test)
    train_x, train_y, _, _ = _pairs(data.train_images, data.train_labels, seed)
    test_x, test_y, left, right = _pairs(data.test_images, data.test_labels, seed + TEST_SEED_OFFSET)
    how = f"two RTS digits side by side on a {CANVAS[0]}x{CANVAS[1]} canvas; label: their sum (seed {seed})"
    return dataclasses.replace(
        data,
        train_images=train_x,
        train_labels=train_y,
        test_images=test_x,
        test_labels=test_y,
        classes=tuple(str(s) for s in range(SUMS)),
        info=dataclasses.replace(data.info, dataset="mnist-addition", remark=how),
        test_params=(left, right),
    )
