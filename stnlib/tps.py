"""Thin-plate-spline (TPS) spatial transformers; coordinates as in :mod:`stnlib.affine`, output -> input.

Control points ``(K², 2)`` (:func:`control_points`) lie on a ``K x K`` lattice in the output; source points
``(B, K², 2)`` are where each samples in the input. The spline through those pairs, ``f(p) = a0 + a1 x + a2 y +
sum_i w_i U(|p - c_i|)``, has ``[w; a] = L^-1 [source; 0]`` (:func:`tps_system`), so the grid is ``basis @ source``:
``basis`` ``(H W, K²)`` is ``[U(|p - c_j|), 1, x, y]`` at the output pixels times ``L^-1``'s first ``K²`` columns."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from . import affine, checks
from .checks import check_bool, check_int, check_ints, check_tensor
from .projective import Fill, Size, _output_points
from .transformer import SpatialTransformer, full_precision


def _check_grid_size(grid_size: object) -> int:
    if isinstance(grid_size, Sequence | Tensor) and not isinstance(grid_size, str):
        raise checks.ArgumentTypeError(
            f"grid_size must be one int K (a K x K lattice: non-square lattices are not supported), "
            f"got {checks.describe(grid_size)}"
        )
    return check_int(grid_size, "grid_size", min=2)


def control_points(grid_size: int = 4, *, dtype: torch.dtype = torch.float32, device: affine.Device = None) -> Tensor:
    """The ``grid_size x grid_size`` lattice over ``[-1, 1]^2``, ``(K², 2)``, row-major (``x`` varies fastest)."""
    k, dtype = _check_grid_size(grid_size), affine._check_dtype(dtype)
    line = torch.linspace(-1.0, 1.0, k, dtype=dtype, device=checks.check_device(device))
    y, x = torch.meshgrid(line, line, indexing="ij")
    return torch.stack([x, y], dim=-1).reshape(-1, 2)


def tps_kernel(r2: Tensor) -> Tensor:
    """``U`` from squared distances ``r2`` (any shape): ``r² log r = 0.5 r2 log(r2)``, ``U(0) = 0`` exactly, with
    finite gradients at 0."""
    check_tensor(r2, "r2", kind="float")
    positive = r2 > 0
    safe = torch.where(positive, r2, torch.ones_like(r2))  # log(1) = 0: no -inf, no NaN gradient at r2 = 0
    return torch.where(positive, 0.5 * r2 * torch.log(safe), torch.zeros_like(r2))


def _squared_distances(a: Tensor, b: Tensor) -> Tensor:  # (..., N, 2), (M, 2) -> (..., N, M), exact at 0
    return (a.unsqueeze(-2) - b).pow(2).sum(-1)


def _check_points(points: object, name: str) -> Tensor:
    points = check_tensor(points, name, shape=("N", 2), kind="float", finite=True)
    if points.shape[0] < 3:
        raise ValueError(f"{name} must hold at least 3 points (not on one line), got {points.shape[0]}")
    return points


def tps_system(points: Tensor) -> Tensor:
    """``L^-1`` ``(N + 3, N + 3)``, float64: the inverse of ``[[K, P], [P^T, 0]]`` for ``points`` ``(N, 2)``
    (``K_ij = U(|p_i - p_j|)``, ``P = [1, x, y]``)."""
    p = _check_points(points, "points").to(torch.float64)
    n = p.shape[0]
    big_p = torch.cat([torch.ones_like(p[:, :1]), p], dim=1)  # (N, 3)
    top = torch.cat([tps_kernel(_squared_distances(p, p)), big_p], dim=1)
    bottom = torch.cat([big_p.T, torch.zeros(3, 3, dtype=p.dtype, device=p.device)], dim=1)
    inv, info = torch.linalg.inv_ex(torch.cat([top, bottom], dim=0))
    if info != 0 or not torch.isfinite(inv).all():
        raise ValueError(f"points admit no thin-plate spline: all {n} lie on one line, or two coincide")
    return inv


def _basis(control: Tensor, system: Tensor, size: Size, align_corners: bool) -> Tensor:
    p = _output_points(size, align_corners, system.dtype, system.device).reshape(-1, 3)  # (H W, 3): x, y, 1
    c = control.to(system.dtype)
    rows = torch.cat([tps_kernel(_squared_distances(p[:, :2], c)), p[:, 2:], p[:, :2]], dim=1)  # [U, 1, x, y]
    return rows @ system[:, : c.shape[0]]


def _spline_grid(source: Tensor, size: Size, control: object, align_corners: bool) -> Tensor:
    """:func:`tps_grid` for a checked ``source``, ``size`` and ``align_corners``."""
    n = source.shape[1]
    if control is None:
        k = math.isqrt(n)
        if k * k != n or k < 2:
            raise ValueError(
                f"source has {n} points per item: not a K x K lattice (4, 9, 16, ...); pass control=(N, 2) points"
            )
        control = control_points(k, dtype=torch.float64, device=source.device)
    elif _check_points(control, "control").shape[0] != n:
        raise ValueError(f"control has {control.shape[0]} points but source {n} per item: one control per source")
    control = control.to(source.device)
    return _grid(source, _basis(control, tps_system(control), size, align_corners), size)


def tps_grid(
    source: Tensor,
    size: tuple[int, int],
    *,
    control: Tensor | None = None,
    align_corners: bool = False,
) -> Tensor:
    """The sampling grid ``(B, H, W, 2)`` of the thin-plate spline that sends ``control`` ``(N, 2)`` (output;
    default :func:`control_points` of ``sqrt(N)``) to ``source`` ``(B, N, 2)`` (input), at the pixels of ``size``."""
    source = check_tensor(source, "source", shape=("B", "N", 2), kind="float", nonempty=True, finite=True)
    size, align_corners = check_ints(size, "size", length=2, min=1), check_bool(align_corners, "align_corners")
    return _spline_grid(source, size, control, align_corners)


def _grid(source: Tensor, basis: Tensor, size: Size) -> Tensor:
    return (basis.to(source.dtype) @ source).view(-1, *size, 2)


def warp_tps(
    images: Tensor,
    source: Tensor,
    *,
    out_size: tuple[int, int] | None = None,
    fill: Fill = None,
    control: Tensor | None = None,
    align_corners: bool = False,
) -> Tensor:
    """Resample ``images`` ``(B, C, H, W)`` through the spline of :func:`tps_grid` -> ``(B, C, H', W')``,
    bilinear; ``out_size`` and ``fill`` as in :func:`stnlib.affine.warp`."""
    images = affine.check_images(images)
    source = check_tensor(source, "source", shape=("B", "N", 2), kind="float", nonempty=True, finite=True)
    affine.check_pairing(images, source, "source")
    if fill is not None:
        affine.check_fill(fill)
    size = tuple(images.shape[-2:]) if out_size is None else check_ints(out_size, "out_size", length=2, min=1)
    check_bool(align_corners, "align_corners")
    grid = _spline_grid(source.to(images.dtype), size, control, align_corners)
    return affine.sample(images, grid, align_corners=align_corners, fill=fill)


class TPSTransformer(SpatialTransformer):
    """A :class:`~stnlib.transformer.SpatialTransformer` that predicts source points ``(B, K², 2)`` on a
    ``grid_size x grid_size`` lattice, starting at ``control_points / init_zoom``. ``L^-1`` and, with ``out_size``,
    the basis are float32 buffers built once in float64; without ``out_size`` the basis is built per call."""

    def __init__(
        self,
        localization: nn.Module,
        features: int,
        *,
        grid_size: int = 4,
        out_size: Size | None = None,
        fill: Fill = None,
        init_zoom: float = 1.0,
    ) -> None:
        self.grid_size = _check_grid_size(grid_size)  # read by _start, during super().__init__
        super().__init__(localization, features, out_size=out_size, fill=fill, init_zoom=init_zoom)
        self.family = "tps"
        control = control_points(self.grid_size, dtype=torch.float64)
        system = tps_system(control)
        self.register_buffer("control", control.float(), persistent=False)
        self.register_buffer("system", system.float(), persistent=False)
        basis = None if self.out_size is None else _basis(control, system, self.out_size, False).float()
        self.register_buffer("basis", basis, persistent=False)

    def _start(self) -> list[float]:
        return (control_points(self.grid_size) / self.init_zoom).flatten().tolist()  # float32, as the bias

    def theta(self, x: Tensor) -> Tensor:
        raise NotImplementedError("a TPSTransformer has no affine theta: use params(x) or transform(x)")

    def params(self, x: Tensor) -> Tensor:
        """The source points ``(B, K², 2)``, float32, this transformer applies to ``x`` ``(B, C, H, W)``."""
        return self._regress(x).view(-1, self.grid_size**2, 2)

    def transform(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(warped (B, C, H', W'), source (B, K², 2))``; sampled on a float32 grid."""
        source = self.params(x)
        size = self.out_size if self.out_size is not None else tuple(x.shape[-2:])
        with full_precision(x.device):
            basis = self.basis if self.basis is not None else _basis(self.control, self.system, size, False)
            grid = _grid(source, basis, size).to(x.dtype)
            out = affine.sample(x, grid, fill=self.fill if self.has_fill else None)
        return out, source
