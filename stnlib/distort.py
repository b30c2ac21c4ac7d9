"""Distorted MNIST and off-centre CIFAR-10, generated on the fly, deterministically from a seed.

* ``"rts"`` (Jaderberg et al., 2015): the digit, centred on a 42x42 canvas, rotated ``U[-45, 45]`` degrees, scaled
  ``U[0.7, 1.2]``, shifted ``U[-m, m]`` px per axis, ``m = (42 - 28 * scale) / 2`` (the scaled box stays inside).
* ``"cluttered"``: the digit at a random place on a 60x60 canvas, plus 4 random 8x8 crops of *other* digits (``max``).
* ``"offcentre"`` CIFAR-10: the photo on a 64x64 canvas, rotated ``U[-30, 30]`` degrees, scaled ``U[0.5, 1]``, moved
  at random inside the outer pixel ring, over another photo average-pooled to 8x8 and upsampled (blurry blobs).

Images are warped bilinearly and rounded to uint8. :class:`Distorted` records the visible motion, as in
:func:`stnlib.affine.build_theta`: ``rotation`` (degrees, counterclockwise), ``scale``, and ``tx``/``ty``, the
object centre's offset from the canvas centre (normalized, right/down): what a perfect transformer undoes.

>>> d = distort_mnist(torch.zeros(3, 1, 28, 28, dtype=torch.uint8), "rts", seed=0)
>>> tuple(d.images.shape), tuple(distort_cifar(torch.zeros(2, 3, 32, 32, dtype=torch.uint8), seed=0).images.shape)
((3, 1, 42, 42), (2, 3, 64, 64))
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from . import checks
from .affine import build_theta, pixels_to_normalized, warp
from .checks import check_int, check_seed
from .data import ImageData, load_dataset
from .env import Profile

__all__ = ["CLUTTER_CANVAS", "CLUTTER_PIECES", "CLUTTER_SIZE", "DIGIT_SIZE", "DISTORTIONS", "OFFCENTRE_CANVAS",
           "OFFCENTRE_ROTATION", "OFFCENTRE_SCALE", "PHOTO_SIZE", "RTS_CANVAS", "RTS_ROTATION", "RTS_SCALE",
           "TEST_SEED_OFFSET", "Distorted", "distort_cifar", "distort_mnist", "distorted_set", "load_distorted_mnist",
           "load_offcentre_cifar"]  # fmt: skip

DISTORTIONS: tuple[str, ...] = ("rts", "cluttered")
DIGIT_SIZE, RTS_CANVAS, CLUTTER_CANVAS, CLUTTER_PIECES, CLUTTER_SIZE = 28, 42, 60, 4, 8
RTS_ROTATION, RTS_SCALE = 45.0, (0.7, 1.2)  # degrees: U[-45, 45]; scale: U[0.7, 1.2]
PHOTO_SIZE, OFFCENTRE_CANVAS, OFFCENTRE_ROTATION, OFFCENTRE_SCALE = 32, 64, 30.0, (0.5, 1.0)  # scale: width / 32 px
TEST_SEED_OFFSET = 1_000_003  # the distorted test set uses seed + TEST_SEED_OFFSET: fixed, never the train seed
_CHUNK_RTS, _CHUNK_CIFAR = 8192, 2048  # images per float chunk; (2048, 4, 64, 64) float32 is 134 MB


@dataclasses.dataclass
class Distorted:
    """``images`` uint8 ``(N, C, canvas, canvas)`` and the visible motion of each: ``rotation``, ``scale``, ``tx``,
    ``ty`` float32 ``(N,)`` (module docstring). ``object_size``: the object's side in pixels before scaling."""
    images: Tensor
    rotation: Tensor
    scale: Tensor
    tx: Tensor
    ty: Tensor
    kind: str
    canvas: int
    seed: int
    object_size: int = DIGIT_SIZE

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def head(self, n: int | None) -> Distorted:
        """The first ``n`` items (all if ``None``)."""
        return self if n is None else self.select(slice(0, check_int(n, "n", min=0)))

    def select(self, index: slice | Tensor) -> Distorted:
        """The items at ``index`` (a slice, positions: an integer tensor, array or list, or a bool mask ``(N,)``),
        with their parameters; ``IndexError`` for a position out of range."""
        index = torch.as_tensor(index) if isinstance(index, list | tuple | np.ndarray) else index
        if not isinstance(index, slice) and not (isinstance(index, Tensor) and index.dtype == torch.bool):
            index, n = checks.check_tensor(index, "index", shape=("K",), kind="int"), len(self)
            if len(index) and not -n <= int(index.min()) <= int(index.max()) < n:
                raise IndexError(f"index must hold positions in -{n} .. {n - 1}, got values in "
                                 f"[{int(index.min())}, {int(index.max())}]")  # fmt: skip
        elif isinstance(index, Tensor):
            checks.check_tensor(index, "index", shape=(len(self),))  # a mask: one bool per item
        parts = {k: getattr(self, k)[index] for k in ("images", "rotation", "scale", "tx", "ty")}
        return dataclasses.replace(self, **parts)


def _uniform(seed: int, n: int, k: int) -> Tensor:  # (n, k) float64 in [0, 1); row i does not depend on n
    return torch.rand(n, k, generator=torch.Generator().manual_seed(int(seed)), dtype=torch.float64)


def _randint(u: Tensor, high: int) -> Tensor:  # uniforms u in [0, 1) -> integers uniform in 0..high-1
    return (u * high).long().clamp_(max=high - 1)


def _other(u: Tensor, m: int) -> Tensor:  # for item i, a uniform index in 0..m-1 other than i (0 when m == 1)
    if m == 1:
        return torch.zeros(len(u), dtype=torch.long)
    j = _randint(u, m - 1)
    return j + (j >= torch.arange(len(u))).long()


def _check(images: object, what: str, shape: tuple[int | str, ...]) -> Tensor:  # uint8 (N, *shape); str: any size
    return checks.check_tensor(images, what, shape=("N", *shape), kind="uint8")


def _distort_rts(images: Tensor, seed: int) -> Distorted:
    n, size, pad = images.shape[0], RTS_CANVAS, (RTS_CANVAS - DIGIT_SIZE) // 2
    u = _uniform(seed, n, 4).float()
    rotation = (2 * u[:, 0] - 1) * RTS_ROTATION
    scale = RTS_SCALE[0] + (RTS_SCALE[1] - RTS_SCALE[0]) * u[:, 1]
    margin = (size - DIGIT_SIZE * scale) / 2  # pixels the scaled box may move each way
    tx, ty = (pixels_to_normalized((2 * u[:, k] - 1) * margin, size) for k in (2, 3))
    out = torch.empty(n, 1, size, size, dtype=torch.uint8)
    for sl in (slice(i, i + _CHUNK_RTS) for i in range(0, n, _CHUNK_RTS)):
        canvas = F.pad(images[sl].float(), (pad, pad, pad, pad))
        theta = build_theta(rotation=rotation[sl], scale_x=scale[sl], scale_y=scale[sl], tx=tx[sl], ty=ty[sl])
        out[sl] = warp(canvas, theta).round_().clamp_(0, 255).to(torch.uint8)
    return Distorted(out, rotation, scale, tx, ty, "rts", size, int(seed))


def _distort_cluttered(images: Tensor, clutter: Tensor, seed: int) -> Distorted:
    n, size, piece, (h, w) = images.shape[0], CLUTTER_CANVAS, CLUTTER_SIZE, clutter.shape[2:]
    u = _uniform(seed, n, 2 + 5 * CLUTTER_PIECES)
    top, left = _randint(u[:, 0], size - DIGIT_SIZE + 1), _randint(u[:, 1], size - DIGIT_SIZE + 1)
    out = torch.zeros(n, size, size, dtype=torch.uint8)
    rows, digit, small = torch.arange(n)[:, None, None], torch.arange(DIGIT_SIZE), torch.arange(piece)
    out[rows, top[:, None, None] + digit[:, None], left[:, None, None] + digit] = images[:, 0]
    for k in range(CLUTTER_PIECES):
        uk = u[:, 2 + 5 * k : 7 + 5 * k]
        src = _other(uk[:, 0], clutter.shape[0])  # clutter comes from *other* images
        r0, c0 = _randint(uk[:, 1], h - piece + 1), _randint(uk[:, 2], w - piece + 1)
        crop = clutter[:, 0][src[:, None, None], r0[:, None, None] + small[:, None], c0[:, None, None] + small]
        pr, pc = _randint(uk[:, 3], size - piece + 1), _randint(uk[:, 4], size - piece + 1)
        at = (rows, pr[:, None, None] + small[:, None], pc[:, None, None] + small)
        out[at] = torch.maximum(out[at], crop)
    half = (size - DIGIT_SIZE) / 2  # offset of a centred digit's top-left corner
    tx, ty = pixels_to_normalized(left.float() - half, size), pixels_to_normalized(top.float() - half, size)
    return Distorted(out.unsqueeze(1), torch.zeros(n), torch.ones(n), tx, ty, "cluttered", size, int(seed))


def distort_mnist(images: Tensor, kind: Literal["rts", "cluttered"], *, seed: int,
                  clutter_source: Tensor | None = None) -> Distorted:
    """Distort digits (uint8 ``(N, 1, 28, 28)``) as ``kind``; ``"cluttered"`` takes pieces from ``clutter_source[j]``
    (uint8 ``(M, 1, H, W)``, default ``images``), ``j != i``. Item ``i`` depends only on ``seed``, ``images[i]`` and
    the source, so ``distort_mnist(x[:n], ..., clutter_source=x)`` is a prefix of ``distort_mnist(x, ...)``."""
    checks.check_choice(kind, "kind", DISTORTIONS)
    _check(images, "images", (1, DIGIT_SIZE, DIGIT_SIZE))
    seed = check_seed(seed)
    if kind == "rts":
        return _distort_rts(images, seed)
    clutter = _check(images if clutter_source is None else clutter_source, "clutter_source", (1, "H", "W"))
    if len(clutter) == 0 or min(clutter.shape[2:]) < CLUTTER_SIZE:
        raise ValueError(f"clutter_source needs images of at least {CLUTTER_SIZE}x{CLUTTER_SIZE}")
    return _distort_cluttered(images, clutter, seed)


def _backgrounds(photos: Tensor) -> Tensor:
    """uint8 ``(B, 3, 32, 32)`` -> float ``(B, 3, 64, 64)``: average-pooled to 8x8, upsampled bilinearly as
    ``A @ small @ A.T`` (``A`` ``(64, 8)``: ``F.interpolate`` of the identity; same numbers, faster on CPU)."""
    small = F.avg_pool2d(photos.float(), 4)  # (B, 3, 8, 8)
    eye = torch.eye(small.shape[-1]).unsqueeze(1)  # (8, 1, 8): one basis signal per row
    a = F.interpolate(eye, size=OFFCENTRE_CANVAS, mode="linear", align_corners=False)[:, 0].T  # (64, 8)
    return a @ small @ a.T


def distort_cifar(images: Tensor, *, seed: int, background_source: Tensor | None = None) -> Distorted:
    """Place photos (uint8 ``(N, 3, 32, 32)``) off-centre on a 64x64 canvas -> images uint8 ``(N, 3, 64, 64)``.
    Photo ``i`` lies over a blurred ``background_source[j]`` (uint8 ``(M, 3, 32, 32)``, default ``images``), ``j != i``
    when ``M > 1``. Item ``i`` depends only on ``seed``, ``images[i]`` and the source (prefixes are stable)."""
    photo, seed = (3, PHOTO_SIZE, PHOTO_SIZE), check_seed(seed)
    _check(images, "images", photo)
    source = _check(images if background_source is None else background_source, "background_source", photo)
    if len(source) == 0:
        raise ValueError("background_source needs at least one photo")
    n, size, pad = images.shape[0], OFFCENTRE_CANVAS, (OFFCENTRE_CANVAS - PHOTO_SIZE) // 2
    u = _uniform(seed, n, 5)  # rotation, scale, x, y, background
    rotation = (2 * u[:, 0] - 1) * OFFCENTRE_ROTATION
    scale = OFFCENTRE_SCALE[0] + (OFFCENTRE_SCALE[1] - OFFCENTRE_SCALE[0]) * u[:, 1]
    angle = torch.deg2rad(rotation)
    half = (PHOTO_SIZE / 2 + 0.5) * scale * (angle.cos().abs() + angle.sin().abs())  # + bilinear's half-pixel fringe
    margin = size / 2 - 0.5 - half  # pixels the centre may move each way; the outer pixel ring stays background
    tx, ty = (pixels_to_normalized((2 * u[:, k] - 1) * margin, size) for k in (2, 3))
    rotation, scale, j = rotation.float(), scale.float(), _other(u[:, 4], len(source))
    out = torch.empty(n, 3, size, size, dtype=torch.uint8)
    inner = slice(pad, pad + PHOTO_SIZE)
    layers = torch.zeros(min(n, _CHUNK_CIFAR), 4, size, size)  # the photo padded to the canvas centre, and a mask
    layers[:, 3, inner, inner] = 1
    for sl in (slice(i, i + _CHUNK_CIFAR) for i in range(0, n, _CHUNK_CIFAR)):
        b = len(images[sl])
        layers[:b, :3, inner, inner] = images[sl]
        theta = build_theta(rotation=rotation[sl], scale_x=scale[sl], scale_y=scale[sl], tx=tx[sl], ty=ty[sl])
        warped = warp(layers[:b], theta, validate=False)  # (B, 4, 64, 64): premultiplied photo and its coverage
        composite = warped[:, :3].add_((1 - warped[:, 3:]) * _backgrounds(source[j[sl]]))
        out[sl] = composite.round_().clamp_(0, 255).to(torch.uint8)
    return Distorted(out, rotation, scale, tx, ty, "offcentre", size, int(seed), object_size=PHOTO_SIZE)


def distorted_set(base: ImageData, distort: Callable[[Tensor, int, Tensor], Distorted], *, name: str, how: str,
                  seed: int, limits: tuple[int | None, int | None] = (None, None)) -> ImageData:
    """Both splits of ``base`` through ``distort(images, seed, source)``; test seed ``seed + TEST_SEED_OFFSET``,
    ``source`` the split's full set (``limits`` prefixes are stable); test :class:`Distorted` -> ``test_params``."""
    checks.check_type(base, "base", ImageData, "an ImageData (load_dataset's result)")
    checks.check_callable(distort, "distort")
    checks.check_type(name, "name", str, "a dataset name such as 'mnist-rts'")
    checks.check_type(how, "how", str, "a description of the distortion")
    seed, limits = check_seed(seed), _limits(limits)
    data, test_seed = base.subset(*limits), seed + TEST_SEED_OFFSET
    train = distort(data.train_images, seed, base.train_images)
    test = distort(data.test_images, test_seed, base.test_images)
    remark = "; ".join(t for t in (f"{how} (train seed {seed}, test seed {test_seed})", base.info.remark) if t)
    info = dataclasses.replace(data.info, dataset=name, remark=remark)
    return dataclasses.replace(data, train_images=train.images, test_images=test.images, info=info, test_params=test)


def _limits(limits: object) -> tuple[int | None, int | None]:
    if not isinstance(limits, tuple | list) or len(limits) != 2:
        raise checks.ArgumentTypeError(f"limits must be a pair (limit_train, limit_test), got "
                                       f"{checks.describe(limits)}")  # fmt: skip
    return tuple(None if n is None else check_int(n, k, min=0) for n, k in zip(limits, ("limit_train", "limit_test")))


def load_distorted_mnist(kind: Literal["rts", "cluttered"], *, profile: str | Profile = "full",
                         data_dir: str | os.PathLike[str] | None = None, download: bool = True,
                         limit_train: int | None = None, limit_test: int | None = None, seed: int = 0) -> ImageData:
    """MNIST (:func:`stnlib.data.load_dataset`) through :func:`distort_mnist`: ``"mnist-rts"`` uint8
    ``(N, 1, 42, 42)`` or ``"mnist-cluttered"`` ``(N, 1, 60, 60)``, clutter from the same split."""
    checks.check_choice(kind, "kind", DISTORTIONS)
    seed, _ = check_seed(seed), _limits((limit_train, limit_test))  # before loading: fail fast
    base = load_dataset("mnist", profile=profile, data_dir=data_dir, download=download)
    how = (f"rotated ±{RTS_ROTATION:g}°, scaled {RTS_SCALE[0]:g}-{RTS_SCALE[1]:g}, shifted on a {RTS_CANVAS}x"
           f"{RTS_CANVAS} canvas" if kind == "rts" else f"digit on a {CLUTTER_CANVAS}x{CLUTTER_CANVAS} canvas with "
           f"{CLUTTER_PIECES} clutter pieces of {CLUTTER_SIZE}x{CLUTTER_SIZE}")  # fmt: skip
    distort = lambda x, s, src: distort_mnist(x, kind, seed=s, clutter_source=src)
    return distorted_set(base, distort, name=f"mnist-{kind}", how=how, seed=seed, limits=(limit_train, limit_test))


def load_offcentre_cifar(*, profile: str | Profile = "full", data_dir: str | os.PathLike[str] | None = None,
                         download: bool = True, limit_train: int | None = None, limit_test: int | None = None,
                         seed: int = 0) -> ImageData:
    """CIFAR-10 (:func:`stnlib.data.load_dataset`) through :func:`distort_cifar`: ``"cifar10-offcentre"``, uint8
    ``(N, 3, 64, 64)``, backgrounds from the same split, ``test_is_exact`` kept."""
    seed, _ = check_seed(seed), _limits((limit_train, limit_test))  # before loading: fail fast
    base = load_dataset("cifar10", profile=profile, data_dir=data_dir, download=download)
    how = f"photo scaled {OFFCENTRE_SCALE[0]:g}-{OFFCENTRE_SCALE[1]:g}, rotated ±{OFFCENTRE_ROTATION:g}°, placed at"
    how += f" random on a {OFFCENTRE_CANVAS}x{OFFCENTRE_CANVAS} canvas over a blurred other photo"
    distort = lambda x, s, src: distort_cifar(x, seed=s, background_source=src)
    return distorted_set(base, distort, name="cifar10-offcentre", how=how, seed=seed, limits=(limit_train, limit_test))
