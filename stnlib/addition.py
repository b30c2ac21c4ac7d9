"""MNIST addition on one canvas (after Jaderberg et al., 2015, appendix A.1): two digits, the label is their sum.

Canvas ``i`` of a split holds that split's digit ``i`` and another digit ``j != i`` of the same split (chosen from
the seed), each rotated ``U[-45, 45]`` degrees and scaled ``U[0.7, 1.0]`` (20-28 px boxes) like RTS MNIST, placed at
random on a 60x60 canvas with its box inside, combined with ``max``. The second digit's place is the first of 64
random places at least ``MIN_GAP`` = 24 px from the first digit's centre, or the farthest of them when none is
(about 2 % of canvases; they are then at least 19 px apart). The label is ``y_i + y_j``, ``0..18`` (19 classes).
The paper stacks its two digits in two channels of a 42x42 input; on one canvas each transformer has to find its
digit, which is the lesson here.

:class:`TwoDigits` records each canvas's two digits (their labels, rotations, scales and centres, normalized
``(x, y)`` from the canvas centre, right/down), like :class:`stnlib.distort.Distorted` for one.

>>> d = distort_addition(torch.zeros(4, 1, 28, 28, dtype=torch.uint8), torch.arange(4), seed=0)
>>> tuple(d.images.shape), tuple(d.centres.shape), d.labels.tolist() == d.digits.sum(1).tolist()
((4, 1, 60, 60), (4, 2, 2), True)
"""

from __future__ import annotations

import dataclasses
import os

import torch
import torch.nn.functional as F
from torch import Tensor

from . import checks
from .affine import build_theta, pixels_to_normalized, warp
from .checks import check_seed
from .data import ImageData, load_dataset
from .distort import DIGIT_SIZE, RTS_ROTATION, TEST_SEED_OFFSET, _limits, _other, _uniform
from .env import Profile

__all__ = ["ADD_CANVAS", "ADD_SCALE", "MIN_GAP", "TwoDigits", "distort_addition", "load_addition_mnist"]

ADD_CANVAS, ADD_SCALE, MIN_GAP = 60, (0.7, 1.0), 24.0  # canvas px; digit scale U[0.7, 1.0]; centre distance px
_TRIES = 64  # candidate places for the second digit; the first far enough from the first digit is taken


@dataclasses.dataclass
class TwoDigits:
    """``images`` uint8 ``(N, 1, canvas, canvas)``, ``labels`` ``(N,)`` (the sums), and per canvas and digit
    (second axis: the split's own digit, then the other): ``digits`` ``(N, 2)`` labels, ``rotation`` and ``scale``
    ``(N, 2)``, ``centres`` ``(N, 2, 2)`` normalized ``(x, y)``."""

    images: Tensor
    labels: Tensor
    digits: Tensor
    rotation: Tensor
    scale: Tensor
    centres: Tensor
    canvas: int
    seed: int

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def head(self, n: int | None) -> TwoDigits:
        """The first ``n`` canvases (all if ``None``)."""
        if n is None:
            return self
        n = checks.check_int(n, "n", min=0)
        fields = ("images", "labels", "digits", "rotation", "scale", "centres")
        return dataclasses.replace(self, **{k: getattr(self, k)[:n] for k in fields})


def distort_addition(images: Tensor, labels: Tensor, *, seed: int, source: tuple[Tensor, Tensor] | None = None,
                     canvas: int = ADD_CANVAS) -> TwoDigits:  # fmt: skip
    """Two-digit canvases for ``images`` uint8 ``(N, 1, 28, 28)`` with ``labels`` ``(N,)``: canvas ``i`` adds a
    digit of ``source`` (``(images, labels)``, default these; index ``i`` is never chosen) to digit ``i``."""
    images = checks.check_tensor(images, "images", shape=("N", 1, DIGIT_SIZE, DIGIT_SIZE), kind="uint8")
    labels = checks.check_tensor(labels, "labels", shape=(len(images),), kind="int")
    src_images, src_labels = (images, labels) if source is None else source
    seed, canvas = check_seed(seed), checks.check_int(canvas, "canvas", min=DIGIT_SIZE + 8)
    n, pad = len(images), (canvas - DIGIT_SIZE) // 2
    u = _uniform(seed, n, 7 + 2 * _TRIES).float()
    other = _other(u[:, 0].double(), len(src_images))
    digits = torch.stack([labels, src_labels[other]], 1).long()
    rotation = (2 * u[:, 1:3] - 1) * RTS_ROTATION
    scale = ADD_SCALE[0] + (ADD_SCALE[1] - ADD_SCALE[0]) * u[:, 3:5]
    margin = (canvas - DIGIT_SIZE * scale) / 2  # (N, 2): pixels each box may move from the centre, per axis
    first = (2 * u[:, 5:7] - 1) * margin[:, :1]  # (N, 2): x, y in pixels
    tries = (2 * u[:, 7:].view(n, _TRIES, 2) - 1) * margin[:, 1:, None]  # (N, tries, 2)
    far = (tries - first[:, None]).norm(dim=2) >= MIN_GAP
    pick = torch.where(far.any(1), far.float().argmax(1), (tries - first[:, None]).norm(dim=2).argmax(1))
    second = tries[torch.arange(n), pick]
    centres = pixels_to_normalized(torch.stack([first, second], 1), canvas)  # (N, 2, 2)
    out = torch.zeros(n, 1, canvas, canvas, dtype=torch.uint8)
    for k, pictures in enumerate((images, src_images[other])):
        placed = F.pad(pictures.float(), (pad, pad, pad, pad))
        theta = build_theta(rotation=rotation[:, k], scale_x=scale[:, k], scale_y=scale[:, k], tx=centres[:, k, 0],
                            ty=centres[:, k, 1])  # fmt: skip
        out = torch.maximum(out, warp(placed, theta).round_().clamp_(0, 255).to(torch.uint8))
    return TwoDigits(out, digits.sum(1), digits, rotation, scale, centres, canvas, seed)


def load_addition_mnist(*, profile: str | Profile = "full", data_dir: str | os.PathLike[str] | None = None,
                        download: bool = True, limit_train: int | None = None, limit_test: int | None = None,
                        seed: int = 0) -> ImageData:  # fmt: skip
    """MNIST (:func:`stnlib.data.load_dataset`) through :func:`distort_addition`: ``"mnist-addition"``, uint8
    ``(N, 1, 60, 60)``, 19 classes ``"0"..."18"``; test seed ``seed + TEST_SEED_OFFSET``; ``test_params``: the test
    split's :class:`TwoDigits`. Prefixes are stable: the first ``k`` canvases do not depend on the limits."""
    seed, limits = check_seed(seed), _limits((limit_train, limit_test))
    base = load_dataset("mnist", profile=profile, data_dir=data_dir, download=download)
    data, test_seed = base.subset(*limits), seed + TEST_SEED_OFFSET
    train = distort_addition(data.train_images, data.train_labels, seed=seed,
                             source=(base.train_images, base.train_labels))  # fmt: skip
    test = distort_addition(data.test_images, data.test_labels, seed=test_seed,
                            source=(base.test_images, base.test_labels))  # fmt: skip
    how = (f"two digits, each rotated ±{RTS_ROTATION:g}° and scaled {ADD_SCALE[0]:g}-{ADD_SCALE[1]:g}, at least "
           f"{MIN_GAP:g} px apart on a {ADD_CANVAS}x{ADD_CANVAS} canvas; label: their sum (train seed {seed}, test "
           f"seed {test_seed})")  # fmt: skip
    remark = "; ".join(t for t in (how, base.info.remark) if t)
    info = dataclasses.replace(data.info, dataset="mnist-addition", remark=remark)
    return dataclasses.replace(data, train_images=train.images, train_labels=train.labels, test_images=test.images,
                               test_labels=test.labels, classes=tuple(str(s) for s in range(19)), info=info,
                               test_params=test)  # fmt: skip
