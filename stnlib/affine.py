"""Theta algebra for spatial transformers: build, compose, invert, decompose, warp. Conventions (tested):

* Normalized ``(x, y)`` in ``[-1, 1]^2``, ``x`` right, ``y`` **down**; with ``align_corners=False`` (the default)
  ``-1``/``+1`` are the border pixels' outer edges: one pixel is ``2 / W``.
* Theta ``(B, 2, 3)`` maps **output** to **input** coordinates (as ``F.affine_grid``): output pixel ``p`` shows the
  input at ``theta[:, :, :2] @ p + theta[:, :, 2]``, so content moves *against* theta.
* :func:`build_theta`'s parameters say what the content visibly does: ``p_out = R(rotation) @ [[1, shear], [0, 1]] @
  diag(scale_x, scale_y) @ p_in + (tx, ty)``, ``R(a) = [[cos a, sin a], [-sin a, cos a]]`` (counterclockwise on
  screen); theta is its inverse.
* ``compose(first, then)`` warps with ``first``, then ``then``: as 3x3 matrices ``first @ then``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from . import checks
from .checks import check_bool, check_float, check_floats, check_int, check_ints, check_tensor

ParamLike = float | int | Tensor | Sequence[float | int]
Device = torch.device | str | None

SINGULAR_TOL = 1e-6  #: smallest ``|det| / (|column 1| * |column 2|)`` :func:`invert` accepts (1: a rotation; 0: a line)
MODES, PADDING_MODES = ("bilinear", "nearest", "bicubic"), ("zeros", "border", "reflection")  #: :func:`warp`'s options


def check_theta(theta: object, *, name: str = "theta") -> Tensor:
    """``theta`` if it is a finite float tensor ``(B, 2, 3)``, ``B >= 1``; else ``ValueError`` (a non-tensor or a
    non-float dtype: :class:`~stnlib.checks.ArgumentTypeError`)."""
    return check_tensor(theta, name, shape=("B", 2, 3), kind="float", nonempty=True, finite=True)


def check_images(images: object, *, name: str = "images") -> Tensor:
    """As :func:`check_theta`, for images ``(B, C, H, W)``."""
    return check_tensor(images, name, shape=("B", "C", "H", "W"), kind="float", nonempty=True, finite=True)


def check_fill(fill: object, *, name: str = "fill") -> Tensor:
    """``fill`` (a finite number, or one per channel: a sequence or tensor) as a flat float32 tensor."""
    if not isinstance(fill, Tensor):
        return torch.tensor(check_floats(fill, name))
    check_tensor(fill, name, kind="real")
    if fill.numel() == 0 or not bool(torch.isfinite(fill).all()):
        raise ValueError(
            f"{name} must be finite (a NaN or inf fill spreads over the whole output) and hold at "
            f"least one value, got {fill!r}"
        )
    return fill.detach().float().reshape(-1)


def _check_dtype(dtype: object, options: tuple[torch.dtype, ...] | None = None) -> torch.dtype:
    checks.check_type(dtype, "dtype", torch.dtype, "a torch.dtype such as torch.float32")
    if not dtype.is_floating_point or (options and dtype not in options):  # type: ignore[union-attr]
        raise ValueError(
            f"dtype must be {'float32 or float64' if options else 'a floating-point dtype'}, got "
            f"{dtype} (theta holds fractions{'; torch.linalg has no half kernels' if options else ''})"
        )
    return dtype  # type: ignore[return-value]


def identity(batch_size: int = 1, *, dtype: torch.dtype = torch.float32, device: Device = None) -> Tensor:
    """The identity theta, shape ``(batch_size, 2, 3)`` (``batch_size`` 0: an empty batch)."""
    batch_size, dtype = check_int(batch_size, "batch_size", min=0), _check_dtype(dtype)
    eye = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=dtype, device=checks.check_device(device))
    return eye.expand(batch_size, 2, 3).clone()


def _as_batch(values: dict[str, ParamLike], batch_size: int | None, dtype: torch.dtype, device) -> dict[str, Tensor]:
    """Numbers or 1-D sequences (length 1 or B) -> ``{name: (B,) tensor}``."""
    for k, v in values.items():
        if not isinstance(v, Tensor):
            check_floats(v, k)
        elif v.dim() > 1 or v.numel() == 0:
            raise ValueError(f"{k} must be a number or a non-empty 1-D sequence of length B, got {tuple(v.shape)}")
        else:
            check_tensor(v, k, kind="real")
    tensors = {k: torch.as_tensor(v, dtype=dtype, device=device) for k, v in values.items()}
    for k, t in tensors.items():
        if not torch.isfinite(t).all():
            raise ValueError(f"{k} must be finite (in {dtype}), got {t.tolist()}")
    sizes = {t.numel() for t in tensors.values() if t.dim() == 1} | ({batch_size} if batch_size is not None else set())
    sizes.discard(1)
    if len(sizes) > 1:
        raise ValueError(f"parameter batch sizes disagree: got lengths {sorted(sizes)} (each must be 1 or B)")
    b = sizes.pop() if sizes else (batch_size or 1)
    return {k: t.reshape(-1).expand(b) for k, t in tensors.items()}


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
    device: Device = None,
) -> Tensor:
    """Theta ``(B, 2, 3)``, differentiably, from what the content should visibly do (each parameter a number or a
    length-``B`` sequence). It is the motion's *inverse*: content right 0.2, output pixels look 0.2 left.

    >>> build_theta(tx=0.2)
    tensor([[[ 1.0000,  0.0000, -0.2000],
             [ 0.0000,  1.0000,  0.0000]]])
    """
    dtype, device = _check_dtype(dtype, (torch.float32, torch.float64)), checks.check_device(device)
    batch_size = None if batch_size is None else check_int(batch_size, "batch_size", min=1)
    params = dict(rotation=rotation, scale_x=scale_x, scale_y=scale_y, shear=shear, tx=tx, ty=ty)
    p = _as_batch(params, batch_size, dtype, device)
    if (p["scale_x"] == 0).any() or (p["scale_y"] == 0).any():
        raise ValueError("scale_x and scale_y must be non-zero: a zero scale collapses the image to a line")
    a = torch.deg2rad(p["rotation"])
    c, s = torch.cos(a), torch.sin(a)
    rotation_m = torch.stack([torch.stack([c, s], -1), torch.stack([-s, c], -1)], -2)  # counterclockwise, y down
    zeros, ones = torch.zeros_like(p["shear"]), torch.ones_like(p["shear"])
    shear_m = torch.stack([torch.stack([ones, p["shear"]], -1), torch.stack([zeros, ones], -1)], -2)
    scale_m = torch.diag_embed(torch.stack([p["scale_x"], p["scale_y"]], -1))
    forward = torch.cat([rotation_m @ shear_m @ scale_m, torch.stack([p["tx"], p["ty"]], -1).unsqueeze(-1)], -1)
    return _invert(forward, "the motion from scale_x, scale_y and shear (a shear far above the scales)")


def pixels_to_normalized(pixels: ParamLike, size: int, *, align_corners: bool = False) -> Tensor:
    """A displacement of ``pixels`` along an axis of ``size`` pixels, in normalized units (``2 / size`` each, or
    ``2 / (size - 1)`` with ``align_corners``)."""
    size, align_corners = check_int(size, "size", min=2), check_bool(align_corners, "align_corners")
    _check_real(pixels, "pixels")
    return torch.as_tensor(pixels, dtype=torch.float32) * (2.0 / (size - 1 if align_corners else size))


def normalized_to_pixels(coords: Tensor, size: int, *, align_corners: bool = False) -> Tensor:
    """Normalized *positions* (any shape) -> pixel positions (pixel centres at ``0 .. size-1``)."""
    size, align_corners = check_int(size, "size", min=1), check_bool(align_corners, "align_corners")
    _check_real(coords, "coords")
    if align_corners:
        return (coords + 1) * (size - 1) / 2
    return ((coords + 1) * size - 1) / 2


def _check_real(value: object, name: str) -> None:  # finite real numbers: a number, nested sequences, array, tensor
    if isinstance(value, Sequence | np.ndarray) and not isinstance(value, checks.TEXT):
        try:
            value = torch.as_tensor(np.asarray(value))
        except (TypeError, ValueError, RuntimeError):
            raise checks.ArgumentTypeError(f"{name} must be numbers, got {checks.describe(value)}") from None
    if isinstance(value, Tensor):
        check_tensor(value, name, kind="real", finite=True)
    else:
        check_float(value, name)


def _to_3x3(theta: Tensor) -> Tensor:  # (B, 2, 3) -> (B, 3, 3), last row [0, 0, 1]
    last = torch.zeros_like(theta[:, :1, :])
    last[:, 0, 2] = 1
    return torch.cat([theta, last], dim=1)


def compose(first: Tensor, then: Tensor) -> Tensor:
    """The single theta ``(B, 2, 3)`` equal to ``warp(warp(x, first), then)``; a batch of one broadcasts."""
    check_theta(first, name="first")
    check_theta(then, name="then")
    if first.dtype != then.dtype:
        raise ValueError(f"first is {first.dtype} but then is {then.dtype}: convert one, e.g. then.to(first.dtype)")
    if first.shape[0] != then.shape[0] and 1 not in (first.shape[0], then.shape[0]):
        raise ValueError(f"batch size mismatch: first has {first.shape[0]} matrices, then has {then.shape[0]}")
    if first.device != then.device:
        raise ValueError(f"first is on {first.device} but then is on {then.device}: move one, then.to(first.device)")
    return (_to_3x3(first) @ _to_3x3(then))[:, :2, :]


def invert(theta: Tensor) -> Tensor:
    """The inverse theta ``(B, 2, 3)``: ``compose(theta, invert(theta))`` is the identity. ``ValueError`` if
    singular: ``|det|`` at most :data:`SINGULAR_TOL` times the product of the column lengths."""
    check_theta(theta)
    if theta.dtype not in (torch.float32, torch.float64):
        raise ValueError(f"theta must be float32 or float64 for matrix inversion, got {theta.dtype}: use .float()")
    return _invert(theta, "theta")


def _invert(theta: Tensor, what: str) -> Tensor:
    linear, shift = theta[:, :, :2], theta[:, :, 2:]
    det = torch.linalg.det(linear)
    size = linear.norm(dim=1).prod(dim=-1)  # |column 1| * |column 2| >= |det| (Hadamard)
    bad = (det.abs() <= SINGULAR_TOL * size) | (size == 0) | ~torch.isfinite(size)
    if bad.any():
        idx = bad.nonzero().flatten().tolist()
        raise ValueError(
            f"{what} is singular (|det| <= {SINGULAR_TOL:g} x its column lengths, or overflows) at batch index {idx}"
        )
    inv_linear = torch.linalg.inv(linear)
    return torch.cat([inv_linear, -inv_linear @ shift], dim=-1)


def decompose(theta: Tensor) -> dict[str, Tensor]:
    """Theta ``(B, 2, 3)``'s visible motion ``{"rotation", "scale_x", "scale_y", "shear", "tx", "ty"}``, each ``(B,)``,
    undoing :func:`build_theta`: forward ``R @ [[sx, k*sy], [0, sy]]`` (QR), ``sx > 0``, rotation in ``(-180, 180]``."""
    forward = invert(theta)
    col0, col1, t = forward[:, :, 0], forward[:, :, 1], forward[:, :, 2]
    scale_x = torch.linalg.vector_norm(col0, dim=-1)
    rotation = torch.rad2deg(torch.atan2(-col0[:, 1], col0[:, 0]))  # col0 = scale_x * (cos a, -sin a)
    rotation = torch.where(rotation <= -180.0, rotation + 360.0, rotation)
    a = torch.deg2rad(rotation)
    q0 = torch.stack([torch.cos(a), -torch.sin(a)], -1)
    q1 = torch.stack([torch.sin(a), torch.cos(a)], -1)
    scale_y = (q1 * col1).sum(-1)
    shear = (q0 * col1).sum(-1) / scale_y
    return {"rotation": rotation, "scale_x": scale_x, "scale_y": scale_y, "shear": shear, "tx": t[:, 0], "ty": t[:, 1]}


def zoom(decomposed: dict[str, Tensor]) -> Tensor:
    """``(B,)`` magnification ``sqrt(|scale_x * scale_y|)`` from :func:`decompose`'s output (``> 1``: zoom in)."""
    needs = "decomposed must be decompose()'s dict with 'scale_x' and 'scale_y', got " + type(decomposed).__name__
    if not isinstance(decomposed, Mapping):
        fix = " (pass decompose(theta), not theta)" if isinstance(decomposed, Tensor) else ""
        raise checks.ArgumentTypeError(needs + fix)
    if not {"scale_x", "scale_y"} <= decomposed.keys():
        raise ValueError(f"{needs} with keys {sorted(map(str, decomposed))}")
    sx = check_tensor(decomposed["scale_x"], "decomposed['scale_x']", kind="float")
    sy = check_tensor(decomposed["scale_y"], "decomposed['scale_y']", shape=tuple(sx.shape), kind="float")
    return (sx * sy).abs().sqrt()


def sampling_outline(theta: Tensor, *, closed: bool = True) -> Tensor:
    """Normalized corners ``(B, 5, 2)`` (closed) or ``(B, 4, 2)`` of the input region the output samples: the
    output's top-left, top-right, bottom-right, bottom-left (the identity gives the image border)."""
    check_theta(theta)
    check_bool(closed, "closed")
    corners = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]], dtype=theta.dtype, device=theta.device)
    if closed:
        corners = torch.cat([corners, corners[:1]])
    return corners @ theta[:, :, :2].transpose(1, 2) + theta[:, :, 2].unsqueeze(1)  # p -> A p + t, per matrix


def outside_share(theta: Tensor, out_size: tuple[int, int]) -> Tensor:
    """``(B,)``: the share of output pixels ``(H', W')`` that sample outside the input (and show ``fill``)."""
    check_theta(theta)
    out_size = check_ints(out_size, "out_size", length=2, min=1)
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
    """Resample ``images`` ``(B, C, H, W)`` through ``theta`` ``(B, 2, 3)`` -> ``(B, C, H', W')`` (``out_size``,
    default the input's). ``fill``: the value outside (a number or one per channel; ``padding_mode="zeros"`` only);
    after ``Normalize(mean, std)`` black is ``-mean / std``. ``validate=False``: no checks (they sync a GPU).

    >>> x = torch.tensor([[[[1.0, 2.0, 3.0, 4.0]]]])  # (1, 1, 1, 4)
    >>> warp(x, build_theta(tx=pixels_to_normalized(1, 4)))  # content one pixel right; zeros enter
    tensor([[[[0., 1., 2., 3.]]]])
    >>> warp(x, build_theta(scale_x=0.5), fill=-1.0)  # half as wide; -1 outside
    tensor([[[[-1.0000,  1.5000,  3.5000, -1.0000]]]])
    """
    if validate:
        images, theta = check_images(images), check_theta(theta)
        check_pairing(images, theta, "theta")
        checks.check_choice(mode, "mode", MODES)
        checks.check_choice(padding_mode, "padding_mode", PADDING_MODES)
        check_bool(align_corners, "align_corners")
        if fill is not None:
            check_fill(fill)
    b, c, h, w = images.shape
    out_h, out_w = (h, w) if out_size is None else check_ints(out_size, "out_size", length=2, min=1)
    grid = F.affine_grid(theta.to(images.dtype), [b, c, out_h, out_w], align_corners=align_corners)
    return sample(images, grid, mode=mode, padding_mode=padding_mode, align_corners=align_corners, fill=fill)


def sample(
    images: Tensor,
    grid: Tensor,
    *,
    mode: Literal["bilinear", "nearest", "bicubic"] = "bilinear",
    padding_mode: Literal["zeros", "border", "reflection"] = "zeros",
    align_corners: bool = False,
    fill: float | Sequence[float] | Tensor | None = None,
) -> Tensor:
    """``images`` ``(B, C, H, W)`` read at ``grid`` ``(B, H', W', 2)`` (normalized input ``(x, y)``, as for
    ``F.grid_sample``) -> ``(B, C, H', W')``; exact ``fill`` outside: ``images - fill`` is sampled, ``fill`` added
    back. Checks shapes and dtypes, never values (no device sync)."""
    check_tensor(images, "images", shape=("B", "C", "H", "W"), kind="float")
    check_tensor(grid, "grid", shape=("B", "H'", "W'", 2), kind="float")
    if grid.shape[0] != images.shape[0]:
        raise ValueError(f"batch size mismatch: grid has {grid.shape[0]} items, images {images.shape[0]}")
    c = images.shape[1]
    if fill is None:
        return F.grid_sample(images, grid, mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    if padding_mode != "zeros":
        raise ValueError(f"fill only applies to padding_mode='zeros', got padding_mode={padding_mode!r}")
    fill_t = torch.as_tensor(fill, dtype=images.dtype, device=images.device).reshape(-1)
    if fill_t.numel() not in (1, c):
        raise ValueError(f"fill must be a number or have one value per channel ({c}), got {fill_t.numel()} values")
    fill_t = fill_t.reshape(1, -1, 1, 1)
    return F.grid_sample(images - fill_t, grid, mode=mode, padding_mode="zeros", align_corners=align_corners) + fill_t


def check_pairing(images: Tensor, params: Tensor, name: str) -> None:
    """``ValueError`` unless ``params`` (a warp's parameters, named ``name``) hold one item per image of ``images``
    and sit on the same device."""
    if params.shape[0] != images.shape[0]:
        raise ValueError(f"batch size mismatch: {name} has {params.shape[0]} items, images {images.shape[0]}")
    if params.device != images.device:
        raise ValueError(f"{name} is on {params.device} but images on {images.device}: use {name}.to(images.device)")
