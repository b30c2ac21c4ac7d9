"""Theta algebra for spatial transformers: build, compose, invert, decompose, warp.

Conventions (written down once, tested in ``tests/test_affine.py``)
--------------------------------------------------------------------
* **Coordinates.** An image of size ``H x W`` is a function on normalized
  coordinates ``(x, y)`` in ``[-1, 1]^2``: ``x`` grows to the right, ``y`` grows
  **downwards** (row order), ``(0, 0)`` is the image centre. With
  ``align_corners=False`` (the default everywhere here) ``-1`` and ``+1`` are the
  *outer edges* of the border pixels, so one pixel is ``2 / W`` units wide.
* **Theta.** ``theta`` has shape ``(B, 2, 3)``. It maps **output** coordinates to
  **input** coordinates: the output pixel at ``p_out`` takes the colour found at
  ``theta[:, :, :2] @ p_out + theta[:, :, 2]`` in the input. This is what
  :func:`torch.nn.functional.affine_grid` expects.
* **Why the picture moves "the wrong way".** Because theta says where each output
  pixel *looks*, the visible content moves opposite to theta: ``theta =
  [[1, 0, 0.2], [0, 1, 0]]`` makes every output pixel look 0.2 to the right, so the
  content slides 0.2 to the **left**.
* **Builder parameters describe what you see** (the content's forward motion,
  input -> output), and :func:`build_theta` stores its inverse in theta:

  - ``rotation`` (degrees): the content turns **counterclockwise on screen**;
  - ``scale_x``, ``scale_y``: the content gets that many times wider / taller
    (``2`` zooms in, ``0.5`` zooms out, ``-1`` mirrors);
  - ``shear``: horizontal shear factor ``k``; a content point moves by ``k * y``
    in ``x`` (positive ``k`` pushes the lower half to the right);
  - ``tx``, ``ty``: the content moves right / down by that many normalized units
    (see :func:`pixels_to_normalized` for pixels).

  The content's forward map is ``p_out = R(rotation) @ Shear(shear) @
  diag(scale_x, scale_y) @ p_in + (tx, ty)`` with the on-screen rotation
  ``R(a) = [[cos a, sin a], [-sin a, cos a]]`` (counterclockwise because ``y``
  points down); ``theta`` is its inverse.
* **Decomposition** returns the same parameters. It is unique on the canonical
  domain ``scale_x > 0``, ``rotation`` in ``(-180, 180]``; a mirror shows up as a
  negative ``scale_y`` (a horizontal flip decomposes to ``rotation=180,
  scale_y=-1``, which is the same matrix).
* **Composition.** ``compose(first, then)`` is the single theta equal to warping
  with ``first`` and warping the result with ``then``. As 3x3 matrices it is
  ``first @ then`` (output-to-input maps chain in reverse).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "PARAM_NAMES",
    "build_theta",
    "check_images",
    "check_theta",
    "compose",
    "decompose",
    "identity",
    "invert",
    "map_points",
    "normalized_to_pixels",
    "outside_share",
    "pixels_to_normalized",
    "sampling_outline",
    "to_3x3",
    "warp",
    "zoom",
]

#: Keyword names of :func:`build_theta`, in slider order; :func:`decompose` returns these keys.
PARAM_NAMES: tuple[str, ...] = ("rotation", "scale_x", "scale_y", "shear", "tx", "ty")

Number = float | int
ParamLike = Number | Tensor | Sequence[Number]

#: Smallest relative ``|det| / (|column 1| * |column 2|)`` :func:`invert` accepts (1 for a rotation
#: or any zoom, 0 for a matrix that squashes the plane onto a line). Relative, so a well-conditioned
#: 1e4 zoom (``|det|`` 1e-8) is invertible while a nearly parallel pair of columns is not.
SINGULAR_TOL = 1e-6


# --------------------------------------------------------------------- checks
def check_theta(theta: object, *, name: str = "theta") -> Tensor:
    """Return ``theta`` if it is a finite float tensor of shape ``(B, 2, 3)``, else raise ``ValueError``."""
    if not isinstance(theta, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (B, 2, 3), got {type(theta).__name__}")
    if theta.dim() != 3 or tuple(theta.shape[1:]) != (2, 3):
        hint = " (add a batch axis: theta.unsqueeze(0))" if tuple(theta.shape) == (2, 3) else ""
        raise ValueError(f"{name} must have shape (B, 2, 3), got {tuple(theta.shape)}{hint}")
    if not theta.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {theta.dtype}")
    if theta.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (shape {tuple(theta.shape)}): need at least one matrix")
    if not torch.isfinite(theta).all():
        raise ValueError(f"{name} must be finite, got NaN or inf in {theta.detach().cpu().tolist()}")
    return theta


def check_images(images: object, *, name: str = "images") -> Tensor:
    """Return ``images`` if it is a finite float tensor of shape ``(B, C, H, W)``, else raise ``ValueError``."""
    if not isinstance(images, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (B, C, H, W), got {type(images).__name__}")
    if images.dim() != 4:
        hint = " (add a batch axis: images.unsqueeze(0))" if images.dim() == 3 else ""
        raise ValueError(f"{name} must have shape (B, C, H, W), got {tuple(images.shape)}{hint}")
    if not images.is_floating_point():
        raise ValueError(
            f"{name} must be a floating-point tensor, got dtype {images.dtype} (convert with .float() / 255)"
        )
    if images.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (shape {tuple(images.shape)}): need at least one image")
    if not torch.isfinite(images).all():
        raise ValueError(f"{name} must be finite, got NaN or inf")
    return images


def _check_linalg_dtype(theta: Tensor, name: str = "theta") -> None:
    if theta.dtype not in (torch.float32, torch.float64):
        raise ValueError(
            f"{name} must be float32 or float64 for matrix inversion, got {theta.dtype} "
            "(torch.linalg has no half-precision kernels): convert with .float()"
        )


def _check_same_batch(theta: Tensor, other: Tensor, other_name: str) -> None:
    if theta.shape[0] != other.shape[0]:
        raise ValueError(
            f"batch size mismatch: theta has {theta.shape[0]} matrices but {other_name} has {other.shape[0]} items"
        )


# ------------------------------------------------------------------- building
def identity(
    batch_size: int = 1, *, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> Tensor:
    """The identity theta, shape ``(batch_size, 2, 3)``."""
    eye = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=dtype, device=device)
    return eye.expand(batch_size, 2, 3).clone()


def _as_batch(values: dict[str, ParamLike], batch_size: int | None, dtype: torch.dtype, device) -> dict[str, Tensor]:
    tensors = {k: torch.as_tensor(v, dtype=dtype, device=device) for k, v in values.items()}
    for k, t in tensors.items():
        if t.dim() > 1:
            raise ValueError(f"{k} must be a number or a 1-D sequence of length B, got shape {tuple(t.shape)}")
        if not torch.isfinite(t).all():
            raise ValueError(f"{k} must be finite, got {t.tolist()}")
    sizes = {t.numel() for t in tensors.values() if t.dim() == 1}
    if batch_size is not None:
        sizes.add(batch_size)
    sizes.discard(1)
    if len(sizes) > 1:
        raise ValueError(f"parameter batch sizes disagree: got lengths {sorted(sizes)} (each must be 1 or B)")
    b = sizes.pop() if sizes else (batch_size or 1)
    return {k: t.reshape(-1).expand(b) for k, t in tensors.items()}


def _screen_rotation(deg: Tensor) -> Tensor:
    """``(B,) -> (B, 2, 2)``: counterclockwise on screen (y down)."""
    a = torch.deg2rad(deg)
    c, s = torch.cos(a), torch.sin(a)
    return torch.stack([torch.stack([c, s], -1), torch.stack([-s, c], -1)], -2)


def build_theta(
    rotation: ParamLike = 0.0,
    scale_x: ParamLike = 1.0,
    scale_y: ParamLike = 1.0,
    shear: ParamLike = 0.0,
    tx: ParamLike = 0.0,
    ty: ParamLike = 0.0,
    *,
    batch_size: int | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """Build theta ``(B, 2, 3)`` from what the content should visibly do (see module docstring).

    Each parameter is a number or a 1-D tensor/sequence of length ``B``; numbers are
    broadcast. ``rotation`` is in degrees, counterclockwise on screen; ``tx``/``ty``
    are in normalized units (``+1`` = half the image width/height) and move the
    content right/down. Differentiable in every parameter.

    Example: ``build_theta(tx=0.2)`` is ``[[1, 0, -0.2], [0, 1, 0]]``: to move the
    content right, every output pixel must look 0.2 to the left.
    """
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"build_theta needs dtype float32 or float64, got {dtype} (torch.linalg has no half kernels)")
    p = _as_batch(
        dict(rotation=rotation, scale_x=scale_x, scale_y=scale_y, shear=shear, tx=tx, ty=ty), batch_size, dtype, device
    )
    if (p["scale_x"] == 0).any() or (p["scale_y"] == 0).any():
        raise ValueError("scale_x and scale_y must be non-zero: a zero scale collapses the image to a line")
    zeros, ones = torch.zeros_like(p["shear"]), torch.ones_like(p["shear"])
    shear_m = torch.stack([torch.stack([ones, p["shear"]], -1), torch.stack([zeros, ones], -1)], -2)
    scale_m = torch.diag_embed(torch.stack([p["scale_x"], p["scale_y"]], -1))
    forward_linear = _screen_rotation(p["rotation"]) @ shear_m @ scale_m  # (B, 2, 2)
    forward = torch.cat([forward_linear, torch.stack([p["tx"], p["ty"]], -1).unsqueeze(-1)], -1)
    return invert(forward)


def pixels_to_normalized(pixels: ParamLike, size: int, *, align_corners: bool = False) -> Tensor:
    """Convert a displacement in pixels to normalized units along an axis of ``size`` pixels.

    One pixel is ``2 / size`` units with ``align_corners=False`` and ``2 / (size - 1)`` with ``True``.
    """
    if size < 2:
        raise ValueError(f"size must be at least 2 pixels, got {size}")
    return torch.as_tensor(pixels, dtype=torch.float32) * (2.0 / (size - 1 if align_corners else size))


def normalized_to_pixels(coords: Tensor, size: int, *, align_corners: bool = False) -> Tensor:
    """Map normalized *positions* in ``[-1, 1]`` to pixel positions (pixel centres at 0..size-1).

    With ``align_corners=False``, ``-1`` maps to ``-0.5`` (the outer edge of the first
    pixel), which is where matplotlib's ``imshow`` draws the image border.
    """
    if align_corners:
        return (coords + 1) * (size - 1) / 2
    return ((coords + 1) * size - 1) / 2


# -------------------------------------------------------------------- algebra
def to_3x3(theta: Tensor) -> Tensor:
    """``(B, 2, 3) -> (B, 3, 3)`` homogeneous matrices (last row ``[0, 0, 1]``)."""
    check_theta(theta)
    last = torch.zeros_like(theta[:, :1, :])
    last[:, 0, 2] = 1
    return torch.cat([theta, last], dim=1)


def compose(first: Tensor, then: Tensor) -> Tensor:
    """Single theta equal to ``warp(warp(x, first), then)``; shapes ``(B, 2, 3)`` each.

    A batch of one is broadcast against the other batch.
    """
    check_theta(first, name="first")
    check_theta(then, name="then")
    if first.dtype != then.dtype:
        raise ValueError(f"first is {first.dtype} but then is {then.dtype}: convert one, e.g. then.to(first.dtype)")
    if first.shape[0] != then.shape[0] and 1 not in (first.shape[0], then.shape[0]):
        raise ValueError(f"batch size mismatch: first has {first.shape[0]} matrices, then has {then.shape[0]}")
    return (to_3x3(first) @ to_3x3(then))[:, :2, :]


def invert(theta: Tensor) -> Tensor:
    """Inverse theta ``(B, 2, 3)``: ``compose(theta, invert(theta))`` is the identity.

    Raises ``ValueError`` if some matrix is (numerically) singular: ``|det|`` below
    :data:`SINGULAR_TOL` times the product of its column lengths (a test of shape, not of size).
    """
    check_theta(theta)
    _check_linalg_dtype(theta)
    linear, shift = theta[:, :, :2], theta[:, :, 2:]
    det = torch.linalg.det(linear)
    size = linear.norm(dim=1).prod(dim=-1)  # |column 1| * |column 2| >= |det| (Hadamard)
    bad = (det.abs() <= SINGULAR_TOL * size) | (size == 0)
    if bad.any():
        idx = bad.nonzero().flatten().tolist()
        raise ValueError(
            f"theta is singular (|det| <= {SINGULAR_TOL:g} x the product of its column lengths) at batch index "
            f"{idx}; it has no inverse"
        )
    inv_linear = torch.linalg.inv(linear)
    return torch.cat([inv_linear, -inv_linear @ shift], dim=-1)


def decompose(theta: Tensor) -> dict[str, Tensor]:
    """Read the visible motion back from theta: the inverse of :func:`build_theta`.

    Returns a dict with the keys of :data:`PARAM_NAMES`, each a tensor of shape ``(B,)``,
    so that ``build_theta(**decompose(theta))`` reproduces ``theta``. Uses a QR
    factorisation of the forward linear map ``R @ [[sx, k*sy], [0, sy]]`` with
    ``scale_x > 0`` and ``rotation`` in ``(-180, 180]`` degrees.
    """
    forward = invert(theta)
    m, t = forward[:, :, :2], forward[:, :, 2]
    col0, col1 = m[:, :, 0], m[:, :, 1]
    scale_x = torch.linalg.vector_norm(col0, dim=-1)
    # first column = scale_x * (cos a, -sin a) for the on-screen rotation R(a)
    rotation = torch.rad2deg(torch.atan2(-col0[:, 1], col0[:, 0]))
    rotation = torch.where(rotation <= -180.0, rotation + 360.0, rotation)
    a = torch.deg2rad(rotation)
    q0 = torch.stack([torch.cos(a), -torch.sin(a)], -1)
    q1 = torch.stack([torch.sin(a), torch.cos(a)], -1)
    scale_y = (q1 * col1).sum(-1)
    shear = (q0 * col1).sum(-1) / scale_y
    return {"rotation": rotation, "scale_x": scale_x, "scale_y": scale_y, "shear": shear, "tx": t[:, 0], "ty": t[:, 1]}


# ------------------------------------------------------------------- sampling
def zoom(decomposed: dict[str, Tensor]) -> Tensor:
    """How much a theta magnifies the content, from :func:`decompose` output: ``sqrt(|scale_x * scale_y|)``.

    The geometric mean of the two scales (the square root of the area ratio): ``> 1`` zooms in,
    ``< 1`` zooms out; a mirror (negative scale) zooms like its unmirrored twin. Shape ``(B,)``.
    """
    return (decomposed["scale_x"] * decomposed["scale_y"]).abs().sqrt()


def map_points(theta: Tensor, points: Tensor) -> Tensor:
    """Map output-space points to the input-space points they sample from.

    ``theta``: ``(B, 2, 3)``; ``points``: ``(B, N, 2)`` or ``(N, 2)`` (shared by the batch),
    normalized ``(x, y)``. Returns ``(B, N, 2)``.
    """
    check_theta(theta)
    if points.dim() == 2:
        points = points.unsqueeze(0).expand(theta.shape[0], -1, -1)
    if points.dim() != 3 or points.shape[-1] != 2:
        raise ValueError(f"points must have shape (B, N, 2) or (N, 2), got {tuple(points.shape)}")
    _check_same_batch(theta, points, "points")
    points = points.to(theta.dtype)
    return points @ theta[:, :, :2].transpose(1, 2) + theta[:, :, 2].unsqueeze(1)


def sampling_outline(theta: Tensor, *, closed: bool = True) -> Tensor:
    """Corners of the input region the output samples from, ``(B, 5, 2)`` (closed) or ``(B, 4, 2)``.

    The output square ``[-1, 1]^2`` is traversed top-left, top-right, bottom-right,
    bottom-left; the identity gives the image border. Convert to pixels with
    :func:`normalized_to_pixels` for plotting.
    """
    corners = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]], device=theta.device)
    if closed:
        corners = torch.cat([corners, corners[:1]])
    return map_points(theta, corners)


def outside_share(theta: Tensor, out_size: tuple[int, int]) -> Tensor:
    """``(B,)``: the share of output pixels ``(H', W')`` whose sampling point lies outside the input.

    Those pixels show only padding (``fill``): a grey frame with zero padding after ``Normalize``.
    A point counts as outside when either normalized coordinate exceeds 1 in absolute value.
    """
    check_theta(theta)
    grid = F.affine_grid(theta, [theta.shape[0], 1, *out_size], align_corners=False)
    return (grid.abs() > 1).any(-1).flatten(1).float().mean(1)


def warp(
    images: Tensor,
    theta: Tensor,
    *,
    out_size: tuple[int, int] | None = None,
    mode: Literal["bilinear", "nearest", "bicubic"] = "bilinear",
    padding_mode: Literal["zeros", "border", "reflection"] = "zeros",
    align_corners: bool = False,
    fill: float | Sequence[float] | Tensor | None = None,
    validate: bool = True,
) -> Tensor:
    """Resample ``images`` ``(B, C, H, W)`` through ``theta`` ``(B, 2, 3)`` -> ``(B, C, H', W')``.

    ``out_size`` is ``(H', W')`` (default: the input size). Outside the input the
    output takes ``fill`` (a number or one value per channel, default 0) with
    ``padding_mode="zeros"``. Use ``fill`` for normalized inputs: after
    ``Normalize(mean, std)`` black is ``-mean / std``, not 0, so zero padding paints
    grey borders; :func:`stnlib.affine.warp` with ``fill=-mean/std`` paints black.
    The fill is exact because bilinear sampling is linear: we sample
    ``images - fill`` with zero padding and add ``fill`` back.
    """
    if validate:  # modules call warp with validate=False: the checks cost a device sync per batch
        check_images(images)
        check_theta(theta)
        _check_same_batch(theta, images, "images")
        if fill is not None and not bool(torch.isfinite(torch.as_tensor(fill, dtype=torch.float64)).all()):
            raise ValueError(f"fill must be finite (a NaN or inf fill spreads over the whole output), got {fill!r}")
    pair = isinstance(out_size, (tuple, list)) and len(out_size) == 2
    if out_size is not None and not (pair and all(isinstance(v, int) and v > 0 for v in out_size)):
        raise ValueError(f"out_size must be a pair of positive ints (H, W), got {out_size!r}")
    b, c, h, w = images.shape
    out_h, out_w = out_size if out_size is not None else (h, w)
    grid = F.affine_grid(theta.to(images.dtype), [b, c, out_h, out_w], align_corners=align_corners)
    if fill is None:
        return F.grid_sample(images, grid, mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    if padding_mode != "zeros":
        raise ValueError(f"fill only applies to padding_mode='zeros', got padding_mode={padding_mode!r}")
    fill_t = torch.as_tensor(fill, dtype=images.dtype, device=images.device).reshape(-1)
    if fill_t.numel() not in (1, c):
        raise ValueError(f"fill must be a number or have one value per channel ({c}), got {fill_t.numel()} values")
    fill_t = fill_t.reshape(1, -1, 1, 1)
    out = F.grid_sample(images - fill_t, grid, mode=mode, padding_mode="zeros", align_corners=align_corners)
    return out + fill_t
