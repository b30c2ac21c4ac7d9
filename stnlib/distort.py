"""Distorted MNIST and off-centre CIFAR-10, generated deterministically from a seed.

MNIST kinds: ``"rts"`` (Jaderberg et al., 2015): on a 42x42 canvas, rotated ``U[-45, 45]`` degrees, scaled
``U[0.7, 1.2]``, shifted so that the scaled box stays inside; ``"cluttered"``: at a random place on 60x60, plus 4 random
8x8 crops of other digits (``max``). On the 28x28 canvas: ``"r"``, rotated ``U[-90, 90]`` degrees; ``"p"``
(projective): the corners scaled ``U[0.75, 1]``, then moved ``N(0, 0.1²)`` per axis (normalized, clipped at ±3σ; our
choice, the paper gives none); ``"e"`` (elastic, Simard et al., 2003): 34 px times a σ 4 px Gaussian blur of
``U[-1, 1]`` noise per pixel and axis (mean length 2.1 px). ``"offcentre"`` CIFAR-10: on 64x64, rotated ``U[-30, 30]``
degrees, scaled ``U[0.5, 1]``, placed inside the outer pixel ring over another photo blurred to 8x8.

:class:`Distorted` records the visible motion as :func:`stnlib.affine.build_theta` takes it: ``rotation`` (degrees,
counterclockwise), ``scale``, ``tx``/``ty`` (the object centre's offset from the canvas centre, normalized, right/down).
``corners`` (``"p"``): where the corners ``(-1, -1), (1, -1), (1, 1), (-1, 1)`` land (normalized ``(x, y)``, ±1 the
outer pixel edges). ``displacement`` (``"e"``, px): output pixel ``(row i, col j)`` shows the input at
``(j + dx, i + dy)``, ``dx, dy = displacement[..., i, j, :]``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from torch import Tensor

from . import checks
from .affine import build_theta, pixels_to_normalized, warp
from .checks import check_int, check_seed
from .data import ImageData, _limit, load_dataset
from .env import Profile

Kind = Literal["rts", "cluttered", "r", "p", "e"]
DISTORTIONS: tuple[str, ...] = ("rts", "cluttered", "r", "p", "e")
DIGIT_SIZE, RTS_CANVAS, CLUTTER_CANVAS, CLUTTER_PIECES, CLUTTER_SIZE = 28, 42, 60, 4, 8
RTS_ROTATION, RTS_SCALE = 45.0, (0.7, 1.2)  # degrees: U[-45, 45]; scale: U[0.7, 1.2]
R_ROTATION = 90.0  # degrees: U[-90, 90]
P_CORNER_STD, P_CORNER_CLIP, P_SCALE = 0.1, 3.0, (0.75, 1.0)  # normalized (1.4 px on 28 px); clip in σ; U[0.75, 1]
E_ALPHA, E_SIGMA = 34.0, 4.0  # pixels: displacement scale, Gaussian blur σ (Simard et al. 2003's values)
PHOTO_SIZE, OFFCENTRE_CANVAS, OFFCENTRE_ROTATION, OFFCENTRE_SCALE = 32, 64, 30.0, (0.5, 1.0)  # scale: width / 32 px
TEST_SEED_OFFSET = 1_000_003  # the distorted test set uses seed + TEST_SEED_OFFSET: fixed, never the train seed
_CHUNK_RTS, _CHUNK_CIFAR = 8192, 2048  # images per float chunk; (2048, 4, 64, 64) float32 is 134 MB
_CORNERS = ((-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0))  # top-left, top-right, bottom-right, bottom-left


@dataclasses.dataclass
class Distorted:
    """``images`` uint8 ``(N, C, canvas, canvas)`` and each one's motion, float32 ``(N,)`` (module docstring);
    ``object_size``: the object's side in pixels before scaling; ``corners`` ``(N, 4, 2)`` (``"p"``),
    ``displacement`` ``(N, 28, 28, 2)`` (``"e"``, if kept), else ``None``."""

    images: Tensor
    rotation: Tensor
    scale: Tensor
    tx: Tensor
    ty: Tensor
    kind: str
    canvas: int
    seed: int
    object_size: int = DIGIT_SIZE
    corners: Tensor | None = None
    displacement: Tensor | None = None

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def head(self, n: int | None) -> Distorted:
        """The first ``n`` items (all if ``None``)."""
        return self if n is None else self.select(slice(0, check_int(n, "n", min=0)))

    def select(self, index: slice | Tensor) -> Distorted:
        """The items at ``index``: a slice, a bool mask ``(N,)``, or positions (a tensor, array or list; out of
        range: ``IndexError``)."""
        index = torch.as_tensor(index) if isinstance(index, list | tuple | np.ndarray) else index
        if isinstance(index, Tensor) and index.dtype == torch.bool:
            checks.check_tensor(index, "index", shape=(len(self),))
        elif not isinstance(index, slice):
            index, n = checks.check_tensor(index, "index", shape=("K",), kind="int"), len(self)
            if len(index) and not -n <= int(index.min()) <= int(index.max()) < n:
                raise IndexError(
                    f"index must hold positions in -{n} .. {n - 1}, got values in "
                    f"[{int(index.min())}, {int(index.max())}]"
                )
        fields = ("images", "rotation", "scale", "tx", "ty", "corners", "displacement")
        return dataclasses.replace(self, **{k: getattr(self, k)[index] for k in fields if getattr(self, k) is not None})


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


def _chunks(n: int, size: int = _CHUNK_RTS) -> list[slice]:
    return [slice(i, i + size) for i in range(0, n, size)]


def _to_uint8(images: Tensor) -> Tensor:
    return images.round_().clamp_(0, 255).to(torch.uint8)


def _warp_padded(images: Tensor, pad: int, **params: Tensor) -> Tensor:
    """uint8 ``images`` padded with ``pad`` black pixels per side, warped by ``build_theta(**params)``."""
    n, c, h, w = images.shape
    out = torch.empty(n, c, h + 2 * pad, w + 2 * pad, dtype=torch.uint8)
    for sl in _chunks(n):
        theta = build_theta(**{k: v[sl] for k, v in params.items()})
        out[sl] = _to_uint8(warp(F.pad(images[sl].float(), (pad, pad, pad, pad)), theta))
    return out


def _distort_rts(images: Tensor, seed: int) -> Distorted:
    n, size = images.shape[0], RTS_CANVAS
    u = _uniform(seed, n, 4).float()
    rotation = (2 * u[:, 0] - 1) * RTS_ROTATION
    scale = RTS_SCALE[0] + (RTS_SCALE[1] - RTS_SCALE[0]) * u[:, 1]
    margin = (size - DIGIT_SIZE * scale) / 2  # pixels the scaled box may move each way
    tx, ty = (pixels_to_normalized((2 * u[:, k] - 1) * margin, size) for k in (2, 3))
    pad = (size - DIGIT_SIZE) // 2
    out = _warp_padded(images, pad, rotation=rotation, scale_x=scale, scale_y=scale, tx=tx, ty=ty)
    return Distorted(out, rotation, scale, tx, ty, "rts", size, int(seed))


def _distort_r(images: Tensor, seed: int) -> Distorted:
    n = images.shape[0]
    rotation = ((2 * _uniform(seed, n, 1)[:, 0] - 1) * R_ROTATION).float()
    out = _warp_padded(images, 0, rotation=rotation)
    return Distorted(out, rotation, torch.ones(n), torch.zeros(n), torch.zeros(n), "r", DIGIT_SIZE, int(seed))


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


def _homography(src: Tensor, dst: Tensor) -> Tensor:
    """float64 ``H`` ``(N, 3, 3)``, ``H[:, 2, 2] = 1``, that sends the four points ``src`` ``(N, 4, 2)`` to ``dst``
    (torchvision's ``_get_perspective_coeffs``, batched)."""
    x, y, u, v = src[..., 0], src[..., 1], dst[..., 0], dst[..., 1]
    one, zero = torch.ones_like(x), torch.zeros_like(x)
    rows_u = torch.stack([x, y, one, zero, zero, zero, -u * x, -u * y], -1)  # (N, 4, 8)
    rows_v = torch.stack([zero, zero, zero, x, y, one, -v * x, -v * y], -1)
    a, b = torch.stack([rows_u, rows_v], 2).flatten(1, 2), torch.stack([u, v], 2).flatten(1)  # (N, 8, 8), (N, 8)
    h = torch.linalg.solve(a, b)
    return torch.cat([h, torch.ones_like(h[:, :1])], 1).view(-1, 3, 3)


def _distort_p(images: Tensor, seed: int) -> Distorted:
    # normals by inverse CDF of the uniforms (torch.randn on the CPU is not prefix-stable); torchvision's grid, batched
    n, size, clip = images.shape[0], DIGIT_SIZE, P_CORNER_CLIP * P_CORNER_STD
    u = _uniform(seed, n, 9)
    scale = P_SCALE[0] + (P_SCALE[1] - P_SCALE[0]) * u[:, 0]
    offset = (torch.special.ndtri(u[:, 1:]) * P_CORNER_STD).clamp_(-clip, clip).view(n, 4, 2)
    square = torch.tensor(_CORNERS, dtype=torch.float64)
    corners = (scale[:, None, None] * square + offset).float()  # (N, 4, 2): where the canvas corners land
    h = _homography(corners.double(), square.expand(n, 4, 2))  # output -> input
    eye = torch.eye(2, 3, dtype=torch.float64)[None]
    points = F.pad(F.affine_grid(eye, [1, 1, size, size], align_corners=False), (0, 1), value=1.0).view(1, -1, 3)
    out = torch.empty_like(images)
    for sl in _chunks(n, 4096):  # q: (4096, 784, 3) float64 is 77 MB
        q = points @ h[sl].transpose(1, 2)  # (B, 784, 3): homogeneous input positions, normalized
        grid = (q[..., :2] / q[..., 2:]).view(-1, size, size, 2).float()
        out[sl] = _to_uint8(F.grid_sample(images[sl].float(), grid, mode="bilinear", align_corners=False))
    rotation, tx, ty = torch.zeros(3, n)
    return Distorted(out, rotation, scale.float(), tx, ty, "p", size, int(seed), corners=corners)


def _blur_matrix(size: int, sigma: float) -> Tensor:
    """``B`` ``(size, size)`` such that ``B @ x @ B.T`` is torchvision's ``gaussian_blur`` of ``x`` (20x faster)."""
    kernel = 2 * math.ceil(3 * sigma) + 1
    return TF.gaussian_blur(torch.eye(size).view(size, 1, 1, size), [kernel, 1], [sigma, sigma]).view(size, size).T


def _distort_e(images: Tensor, seed: int, keep: bool) -> Distorted:
    # item i: the i-th 1568 draws of one generator; torchvision's elastic_transform takes one field per call
    n, size, gen = images.shape[0], DIGIT_SIZE, torch.Generator().manual_seed(int(seed))
    blur = _blur_matrix(size, E_SIGMA)
    out, field = torch.empty_like(images), torch.empty(n, size, size, 2) if keep else None
    for sl in _chunks(n, 4096):
        x = images[sl].float()
        noise = torch.rand(len(x), 2, size, size, generator=gen).mul_(2).sub_(1)  # (B, 2, 28, 28): dx, dy
        disp = (E_ALPHA * (blur @ noise @ blur.T)).permute(0, 2, 3, 1)  # (B, 28, 28, 2) px
        norm = disp * (2 / size)  # torchvision's normalized units
        out[sl] = _to_uint8(torch.cat([TF.elastic_transform(x[i : i + 1], norm[i : i + 1]) for i in range(len(x))]))
        if field is not None:
            field[sl] = disp
    rotation, tx, ty = torch.zeros(3, n)
    return Distorted(out, rotation, torch.ones(n), tx, ty, "e", size, int(seed), displacement=field)


def distort_mnist(
    images: Tensor, kind: Kind, *, seed: int, clutter_source: Tensor | None = None, keep_displacement: bool = True
) -> Distorted:
    """Distort digits (uint8 ``(N, 1, 28, 28)``) as ``kind``; ``"cluttered"`` takes pieces from ``clutter_source[j]``
    (uint8 ``(M, 1, H, W)``, default ``images``), ``j != i``. Item ``i`` depends only on ``seed``, ``images[i]`` and
    the source, so prefixes are stable. ``keep_displacement=False``: ``"e"`` leaves ``displacement`` ``None``."""
    checks.check_choice(kind, "kind", DISTORTIONS)
    _check(images, "images", (1, DIGIT_SIZE, DIGIT_SIZE))
    seed, keep_displacement = check_seed(seed), checks.check_bool(keep_displacement, "keep_displacement")
    if kind == "e":
        return _distort_e(images, seed, keep_displacement)
    if kind != "cluttered":
        return {"rts": _distort_rts, "r": _distort_r, "p": _distort_p}[kind](images, seed)
    clutter = _check(images if clutter_source is None else clutter_source, "clutter_source", (1, "H", "W"))
    if len(clutter) == 0 or min(clutter.shape[2:]) < CLUTTER_SIZE:
        raise ValueError(f"clutter_source needs images of at least {CLUTTER_SIZE}x{CLUTTER_SIZE}")
    return _distort_cluttered(images, clutter, seed)


def _backgrounds(photos: Tensor) -> Tensor:
    """uint8 ``(B, 3, 32, 32)`` -> float ``(B, 3, 64, 64)``: average-pooled to 8x8, upsampled bilinearly as
    ``A @ small @ A.T`` (``A``: ``F.interpolate`` of the identity; the same numbers, faster)."""
    small = F.avg_pool2d(photos.float(), 4)  # (B, 3, 8, 8)
    eye = torch.eye(small.shape[-1]).unsqueeze(1)  # (8, 1, 8): one basis signal per row
    a = F.interpolate(eye, size=OFFCENTRE_CANVAS, mode="linear", align_corners=False)[:, 0].T  # (64, 8)
    return a @ small @ a.T


def distort_cifar(images: Tensor, *, seed: int, background_source: Tensor | None = None) -> Distorted:
    """Place photos (uint8 ``(N, 3, 32, 32)``) off-centre on a 64x64 canvas -> images uint8 ``(N, 3, 64, 64)``,
    photo ``i`` over a blurred ``background_source[j]`` (uint8 ``(M, 3, 32, 32)``, default ``images``), ``j != i``
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
    for sl in _chunks(n, _CHUNK_CIFAR):
        b = len(images[sl])
        layers[:b, :3, inner, inner] = images[sl]
        theta = build_theta(rotation=rotation[sl], scale_x=scale[sl], scale_y=scale[sl], tx=tx[sl], ty=ty[sl])
        warped = warp(layers[:b], theta, validate=False)  # (B, 4, 64, 64): premultiplied photo and its coverage
        out[sl] = _to_uint8(warped[:, :3].add_((1 - warped[:, 3:]) * _backgrounds(source[j[sl]])))
    return Distorted(out, rotation, scale, tx, ty, "offcentre", size, int(seed), object_size=PHOTO_SIZE)


def distorted_set(
    base: ImageData,
    distort: Callable[[Tensor, int, Tensor], Distorted],
    *,
    name: str,
    how: str,
    seed: int,
    limits: tuple[int | None, int | None] = (None, None),
) -> ImageData:
    """Both splits of ``base`` through ``distort(images, seed, source)``, ``source`` the split's full set (so
    ``limits`` prefixes are stable); the test split's seed is ``seed + TEST_SEED_OFFSET``, its result in
    ``test_params``."""
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
        raise checks.ArgumentTypeError(
            f"limits must be a pair (limit_train, limit_test), got {checks.describe(limits)}"
        )
    return tuple(_limit(n, name) for n, name in zip(limits, ("limit_train", "limit_test")))


_HOW: dict[str, str] = {
    "rts": f"rotated ±{RTS_ROTATION:g}°, scaled {RTS_SCALE[0]:g}-{RTS_SCALE[1]:g}, shifted on a {RTS_CANVAS}x"
    f"{RTS_CANVAS} canvas",
    "cluttered": f"digit on a {CLUTTER_CANVAS}x{CLUTTER_CANVAS} canvas with {CLUTTER_PIECES} clutter pieces of "
    f"{CLUTTER_SIZE}x{CLUTTER_SIZE}",
    "r": f"rotated ±{R_ROTATION:g}° about the centre of the {DIGIT_SIZE}x{DIGIT_SIZE} canvas",
    "p": f"projective: the canvas corners scaled {P_SCALE[0]:g}-{P_SCALE[1]:g}, then moved N(0, {P_CORNER_STD:g}²) per"
    f" axis (normalized, clipped at ±{P_CORNER_CLIP:g}σ) on the {DIGIT_SIZE}x{DIGIT_SIZE} canvas",
    "e": f"elastic: displaced {E_ALPHA:g} px times a σ {E_SIGMA:g} px Gaussian blur of U[-1, 1] noise (Simard et al.)"
    f" on the {DIGIT_SIZE}x{DIGIT_SIZE} canvas",
    "offcentre": f"photo scaled {OFFCENTRE_SCALE[0]:g}-{OFFCENTRE_SCALE[1]:g}, rotated ±{OFFCENTRE_ROTATION:g}°, "
    f"placed at random on a {OFFCENTRE_CANVAS}x{OFFCENTRE_CANVAS} canvas over a blurred other photo",
}


def load_distorted_mnist(
    kind: Kind,
    *,
    profile: str | Profile = "full",
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    limit_train: int | None = None,
    limit_test: int | None = None,
    seed: int = 0,
) -> ImageData:
    """MNIST (:func:`stnlib.data.load_dataset`) through :func:`distort_mnist`, clutter from the same split:
    ``"mnist-<kind>"``, uint8 ``(N, 1, 42, 42)`` (rts), ``(N, 1, 60, 60)`` (cluttered) or ``(N, 1, 28, 28)``;
    ``"e"`` keeps the displacement of the test split only."""
    checks.check_choice(kind, "kind", DISTORTIONS)
    seed, limits = check_seed(seed), (limit_train, limit_test)
    _limits(limits)  # before loading: fail fast
    base = load_dataset("mnist", profile=profile, data_dir=data_dir, download=download)
    keep = seed + TEST_SEED_OFFSET  # distorted_set's seed for the test split
    distort = lambda x, s, src: distort_mnist(x, kind, seed=s, clutter_source=src, keep_displacement=s == keep)
    return distorted_set(base, distort, name=f"mnist-{kind}", how=_HOW[kind], seed=seed, limits=limits)


def load_offcentre_cifar(
    *,
    profile: str | Profile = "full",
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    limit_train: int | None = None,
    limit_test: int | None = None,
    seed: int = 0,
) -> ImageData:
    """CIFAR-10 (:func:`stnlib.data.load_dataset`) through :func:`distort_cifar`, backgrounds from the same split:
    ``"cifar10-offcentre"``, uint8 ``(N, 3, 64, 64)``."""
    seed, limits = check_seed(seed), (limit_train, limit_test)
    _limits(limits)  # before loading: fail fast
    base = load_dataset("cifar10", profile=profile, data_dir=data_dir, download=download)
    distort = lambda x, s, src: distort_cifar(x, seed=s, background_source=src)
    return distorted_set(base, distort, name="cifar10-offcentre", how=_HOW["offcentre"], seed=seed, limits=limits)
