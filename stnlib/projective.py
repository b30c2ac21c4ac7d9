"""Projective (homography) spatial transformers; coordinates as in :mod:`stnlib.affine`.

Parameters ``(B, 8)`` are ``h11 .. h32`` of ``h`` ``(B, 3, 3)``, ``h33 = 1``. Like theta, ``h`` maps output to input:
output pixel ``(x, y)`` shows the input at ``(u / w, v / w)``, ``(u, v, w) = h @ (x, y, 1)``; pixels at or beyond the
horizon (``w <= HORIZON``) read ``OUTSIDE`` and show ``fill``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import affine, checks
from .checks import check_bool, check_int, check_ints, check_tensor
from .transformer import SpatialTransformer, full_precision

Fill = float | Sequence[float] | Tensor | None
Size = tuple[int, int]

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)
CORNERS = ((-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0))  #: the output's corners, in :data:`CORNERS` order
HORIZON = 1e-6  #: smallest ``w`` a grid point may have; at or below it the point is beyond the horizon
OUTSIDE = 2.0  #: the grid value of points beyond the horizon (outside ``[-1, 1]``: they show ``fill``)


def check_params(params: object, *, name: str = "params") -> Tensor:
    """As :func:`stnlib.affine.check_theta`, for parameters ``(B, 8)``."""
    return check_tensor(params, name, shape=("B", 8), kind="float", nonempty=True, finite=True)


def check_homography(h: object, *, name: str = "h") -> Tensor:
    """As :func:`stnlib.affine.check_theta`, for homographies ``(B, 3, 3)``."""
    return check_tensor(h, name, shape=("B", 3, 3), kind="float", nonempty=True, finite=True)


def identity_params(batch_size: int = 1, *, dtype: torch.dtype = torch.float32, device: affine.Device = None) -> Tensor:
    """The identity's parameters ``(batch_size, 8)``: ``[1, 0, 0, 0, 1, 0, 0, 0]`` each."""
    batch_size, dtype = check_int(batch_size, "batch_size", min=0), affine._check_dtype(dtype)
    return torch.tensor(IDENTITY, dtype=dtype, device=checks.check_device(device)).expand(batch_size, 8).clone()


def homography(params: Tensor) -> Tensor:
    """``(B, 8)`` parameters -> ``(B, 3, 3)`` matrices, ``h33 = 1`` (differentiable)."""
    check_params(params)
    return _homography(params)


def _homography(params: Tensor) -> Tensor:
    return torch.cat([params, torch.ones_like(params[:, :1])], dim=1).view(-1, 3, 3)


def _output_points(size: Size, align_corners: bool, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``(1, H, W, 3)``: the output pixels ``(x, y, 1)``, exactly the points ``F.affine_grid`` uses."""
    eye = torch.eye(2, 3, dtype=dtype, device=device).unsqueeze(0)
    xy = F.affine_grid(eye, [1, 1, *size], align_corners=align_corners)
    return torch.cat([xy, torch.ones_like(xy[..., :1])], dim=-1)


def _grid(h: Tensor, size: Size, align_corners: bool) -> Tensor:
    uvw = _output_points(size, align_corners, h.dtype, h.device) @ h.transpose(1, 2).unsqueeze(1)  # (B, H, W, 3)
    w = uvw[..., 2:]
    ahead = w > HORIZON
    xy = uvw[..., :2] / torch.where(ahead, w, torch.ones_like(w))  # a safe divide: finite values and gradients
    return torch.where(ahead, xy, torch.full_like(xy, OUTSIDE))


def homography_grid(h: Tensor, size: tuple[int, int], *, align_corners: bool = False) -> Tensor:
    """The sampling grid ``(B, H, W, 2)`` for ``F.grid_sample``: where each output pixel of ``size`` ``(H, W)``
    reads the input through ``h`` ``(B, 3, 3)``."""
    check_homography(h)
    size, align_corners = check_ints(size, "size", length=2, min=1), check_bool(align_corners, "align_corners")
    return _grid(h, size, align_corners)


def _warp(images: Tensor, h: Tensor, out_size: Size | None, fill: Fill, align_corners: bool) -> Tensor:
    size = tuple(out_size) if out_size is not None else tuple(images.shape[-2:])
    grid = _grid(h.to(images.dtype), size, align_corners)
    return affine.sample(images, grid, align_corners=align_corners, fill=fill)


def warp_projective(
    images: Tensor,
    h: Tensor,
    *,
    out_size: tuple[int, int] | None = None,
    fill: Fill = None,
    align_corners: bool = False,
) -> Tensor:
    """Resample ``images`` ``(B, C, H, W)`` through ``h`` ``(B, 3, 3)`` -> ``(B, C, H', W')``, bilinear;
    ``out_size`` and ``fill`` as in :func:`stnlib.affine.warp`."""
    images, h = affine.check_images(images), check_homography(h)
    affine.check_pairing(images, h, "h")
    if fill is not None:
        affine.check_fill(fill)
    check_bool(align_corners, "align_corners")
    out_size = None if out_size is None else check_ints(out_size, "out_size", length=2, min=1)
    return _warp(images, h, out_size, fill, align_corners)


def homography_from_corners(corners: Tensor) -> Tensor:
    """``h`` ``(B, 3, 3)`` that sends the output's :data:`CORNERS` to ``corners`` ``(B, 4, 2)`` (where they sample in
    the input), solved in float64. Not convex: part of the output shows ``fill``; three on a line, two equal or
    crossing sides: ``ValueError``."""
    check_tensor(corners, "corners", shape=("B", 4, 2), kind="float", nonempty=True, finite=True)
    uv = corners.to(torch.float64)
    xy = torch.tensor(CORNERS, dtype=torch.float64, device=corners.device).expand_as(uv)
    x, y, u, v = xy[..., 0], xy[..., 1], uv[..., 0], uv[..., 1]
    one, zero = torch.ones_like(x), torch.zeros_like(x)
    # u (h31 x + h32 y + 1) = h11 x + h12 y + h13 and the same for v: linear in the 8 unknowns
    rows_u = torch.stack([x, y, one, zero, zero, zero, -x * u, -y * u], dim=-1)
    rows_v = torch.stack([zero, zero, zero, x, y, one, -x * v, -y * v], dim=-1)
    system = torch.cat([rows_u, rows_v], dim=1)  # (B, 8, 8)
    params, info = torch.linalg.solve_ex(system, torch.cat([u, v], dim=1))
    w = params[:, 6:7] * x + params[:, 7:8] * y + 1  # (B, 4): w at the corners; 0: a corner sent to infinity
    h = _homography(params)
    flat = torch.linalg.det(h).abs() <= affine.SINGULAR_TOL * h.norm(dim=1).prod(dim=-1)  # h maps onto a line
    bad = (info != 0) | ~torch.isfinite(params).all(dim=1) | (w.abs() <= HORIZON).any(dim=1) | flat
    if bad.any():
        raise ValueError(
            f"corners at batch index {bad.nonzero().flatten().tolist()} admit no homography (with h33 = 1): three "
            f"lie on a line, two coincide, or the sides cross (the centre would map to infinity); got "
            f"{corners[bad].tolist()}"
        )
    return h.to(corners.dtype)


class ProjectiveTransformer(SpatialTransformer):
    """A :class:`~stnlib.transformer.SpatialTransformer` that predicts a homography's parameters ``(B, 8)``, starting
    at the identity zoomed in ``init_zoom`` times."""

    def __init__(
        self,
        localization: nn.Module,
        features: int,
        *,
        out_size: Size | None = None,
        fill: Fill = None,
        init_zoom: float = 1.0,
    ) -> None:
        super().__init__(localization, features, out_size=out_size, fill=fill, init_zoom=init_zoom)
        self.family = "projective"

    def _start(self) -> list[float]:
        s = 1.0 / self.init_zoom
        return [s, 0.0, 0.0, 0.0, s, 0.0, 0.0, 0.0]

    def theta(self, x: Tensor) -> Tensor:
        raise NotImplementedError("a ProjectiveTransformer has no affine theta: use params(x) or transform(x)")

    def params(self, x: Tensor) -> Tensor:
        """The parameters ``(B, 8)``, float32, this transformer applies to ``x`` ``(B, C, H, W)``."""
        return self._regress(x)

    def transform(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(warped (B, C, H', W'), h (B, 3, 3))``; sampled on a float32 grid."""
        params = self._regress(x)
        with full_precision(x.device):
            h = _homography(params)
            out = _warp(x, h, self.out_size, self.fill if self.has_fill else None, False)
        return out, h
