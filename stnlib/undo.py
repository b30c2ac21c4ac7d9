"""What a transformer undoes, for every family: follow each output pixel back to the undistorted digit.

A transformer's sampling grid ``G`` (:func:`sampling_grid`) reads the distorted canvas at ``G(p)`` for output pixel
``p``; the canvas shows the original digit's point ``O(q)`` at ``q`` (:func:`to_original`). The end-point error
(:func:`undo_error_px`) is the mean of ``|O(G(p)) - p|`` in pixels of the 28x28 digit: 0 when the transformer hands
the classifier the original digit exactly, filling its view. Coordinates as in :mod:`stnlib.affine`."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from . import affine, checks
from .distort import DIGIT_SIZE, Distorted
from .projective import homography_from_corners, homography_grid
from .tps import tps_grid


def identity_grid(n: int, size: tuple[int, int]) -> Tensor:
    """The identity's grid ``(n, H, W, 2)``: each output pixel centre's normalized coordinates."""
    return F.affine_grid(affine.identity(n), [n, 1, *size], align_corners=False)


def sampling_grid(params: Tensor | None, size: tuple[int, int], n: int = 1) -> Tensor:
    """The grid ``(N, H, W, 2)`` at output ``size`` of theta ``(N, 2, 3)``, a homography ``(N, 3, 3)`` or TPS
    source points ``(N, K, 2)``; ``None``: the identity (``n`` items)."""
    size = checks.check_ints(size, "size", length=2, min=1)
    if params is None:
        return identity_grid(checks.check_int(n, "n", min=1), size)
    params = checks.check_tensor(params, "params", shape=("N", "K", "D"), kind="float", finite=True)
    if params.shape[1:] == (2, 3):
        return F.affine_grid(params, [params.shape[0], 1, *size], align_corners=False)
    if params.shape[1:] == (3, 3):
        return homography_grid(params, size)
    if params.shape[2] == 2:
        return tps_grid(params, size)
    raise ValueError(
        f"params must be theta (N, 2, 3), a homography (N, 3, 3) or TPS source points (N, K, 2), got "
        f"shape {tuple(params.shape)}"
    )


def fit_affine(grid: Tensor) -> Tensor:
    """The affine theta ``(N, 2, 3)`` closest (least squares over the pixels) to ``grid`` ``(N, H, W, 2)``."""
    grid = checks.check_tensor(grid, "grid", shape=("N", "H", "W", 2), kind="float", finite=True)
    n, h, w, _ = grid.shape
    points = identity_grid(1, (h, w)).reshape(h * w, 2).double()
    design = torch.cat([points, torch.ones(h * w, 1, dtype=torch.float64)], dim=1)  # (HW, 3): x, y, 1
    solution = torch.linalg.pinv(design) @ grid.reshape(n, h * w, 2).double()  # (N, 3, 2)
    return solution.transpose(1, 2).to(grid.dtype)


def _apply(matrix: Tensor, points: Tensor) -> Tensor:
    """``matrix`` ``(N, 2, 3)`` or ``(N, 3, 3)`` (then the perspective divide) applied to ``points``."""
    ones = torch.ones_like(points[..., :1])
    mapped = torch.einsum("nij,nhwj->nhwi", matrix.to(points.dtype), torch.cat([points, ones], dim=-1))
    return mapped if matrix.shape[1] == 2 else mapped[..., :2] / mapped[..., 2:]


def to_original(points: Tensor, distorted: Distorted) -> Tensor:
    """For ``points`` ``(N, H, W, 2)`` on each distorted canvas, the points of the original digit's box they show
    (normalized over the 28x28 box)."""
    checks.check_type(distorted, "distorted", Distorted, "a Distorted set (load_distorted_mnist(...).test_params)")
    points = checks.check_tensor(points, "points", shape=(len(distorted), "H", "W", 2), kind="float")
    kind = distorted.kind
    if kind in ("r", "rts"):  # distorted(q) = canvas(theta q); the digit's box is 28 of the canvas's pixels
        theta = affine.build_theta(
            rotation=distorted.rotation,
            scale_x=distorted.scale,
            scale_y=distorted.scale,
            tx=distorted.tx,
            ty=distorted.ty,
        )
        return _apply(theta, points) * (distorted.canvas / DIGIT_SIZE)
    if kind == "p":  # the original's corners land on `corners`: that homography maps the original to the canvas
        return _apply(torch.linalg.inv(homography_from_corners(distorted.corners.double())), points.double()).float()
    if kind == "e":  # distorted pixel (i, j) shows the original at (j + dx, i + dy): interpolate the field at q
        field = distorted.displacement.permute(0, 3, 1, 2)  # (N, 2, H, W), pixels
        at_points = F.grid_sample(field, points, mode="bilinear", padding_mode="border", align_corners=False)
        return points + at_points.permute(0, 2, 3, 1) * (2.0 / distorted.canvas)
    raise ValueError(f"distorted.kind must be one of 'r', 'rts', 'p', 'e' (a known distortion), got {kind!r}")


def undo_error_px(params: Tensor | None, distorted: Distorted, view: int = DIGIT_SIZE) -> Tensor:
    """Per item ``(N,)``: the end-point error (module docstring) of a transformer with ``params`` and a ``view`` x
    ``view`` output, in pixels of the 28x28 digit; ``params=None``: no transformer."""
    checks.check_type(distorted, "distorted", Distorted, "a Distorted set (load_distorted_mnist(...).test_params)")
    view = checks.check_int(view, "view", min=1)
    grid = sampling_grid(params, (view, view), n=len(distorted))
    if grid.shape[0] != len(distorted):
        raise ValueError(f"params hold {grid.shape[0]} transforms but distorted {len(distorted)} items")
    target = identity_grid(len(distorted), (view, view))
    miss = (to_original(grid.float(), distorted) - target).norm(dim=-1)  # normalized units of the digit box
    return miss.mean(dim=(1, 2)) * (DIGIT_SIZE / 2)


def corner_offsets(params: Tensor, distorted: Distorted, view: int = DIGIT_SIZE) -> tuple[Tensor, Tensor]:
    """Projective distortions (``kind "p"``): ``(recovered, applied)``, each ``(N, 8)``, the four corner pixels' x and
    y offsets in pixels of the 28x28 canvas. ``applied``: how far the distortion moved the point each corner pixel of
    the original shows; ``recovered``: how far from that corner pixel the transformer's grid reads (a transformer
    that follows every corner scores ``recovered == applied``)."""
    checks.check_type(distorted, "distorted", Distorted, "a Distorted set (load_distorted_mnist(...).test_params)")
    if distorted.kind != "p" or distorted.corners is None:
        raise ValueError(f"corner_offsets needs a projective set (kind 'p', with corners), got kind {distorted.kind!r}")
    grid = sampling_grid(params, (view, view))
    if grid.shape[0] != len(distorted):
        raise ValueError(f"params hold {grid.shape[0]} transforms but distorted {len(distorted)} items")
    at = (0, -1)
    points = identity_grid(len(distorted), (view, view))[:, at][:, :, at].reshape(-1, 4, 2)  # the corner pixels
    recovered = grid[:, at][:, :, at].reshape(-1, 4, 2) - points
    to_canvas = homography_from_corners(distorted.corners.double())  # the original's points -> the canvas
    applied = _apply(to_canvas, points.double().unsqueeze(2)).squeeze(2).float() - points
    scale = distorted.canvas / 2  # normalized -> pixels
    return recovered.reshape(-1, 8) * scale, applied.reshape(-1, 8) * scale
