"""Did the transformer undo the distortion? Recovered vs applied transform, per component: in
:func:`rts_components`' units (degrees, log zoom, canvas pixels) a perfect undo scores slope -1 (R² 1) in
:func:`fit_line`."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from . import affine, checks
from .checks import check_int, check_tensor
from .data import ImageData
from .distort import Distorted
from .recipes import check_model
from .train import over_batches

RTS_UNITS: dict[str, str] = {"rotation": "degrees", "scale": "log zoom", "tx": "pixels", "ty": "pixels"}  # plot order


@dataclass(frozen=True)
class LineFit:
    """Least-squares line ``y = slope * x + intercept`` and its coefficient of determination ``r2``."""

    slope: float
    intercept: float
    r2: float

    def __str__(self) -> str:
        return f"slope {self.slope:+.2f}, R² {self.r2:.2f}"


def fit_line(x: Tensor, y: Tensor) -> LineFit:
    """Fit ``y ≈ slope * x + intercept`` (least squares) over 1-D ``x``, ``y`` ``(N,)``, ``N >= 2``."""
    _check_xy(x, y)
    x, y = x.double(), y.double()
    dx, dy = x - x.mean(), y - y.mean()
    sxx = (dx * dx).sum()
    if sxx == 0:
        raise ValueError("x is constant: no slope to fit")
    slope = (dx * dy).sum() / sxx
    residual, syy = dy - slope * dx, (dy * dy).sum()
    r2 = 1.0 - (residual * residual).sum() / syy if syy > 0 else torch.tensor(1.0)
    return LineFit(float(slope), float(y.mean() - slope * x.mean()), float(r2))


def _check_xy(x: object, y: object, n_min: int = 2) -> None:  # finite real 1-D tensors of one length >= n_min
    x = check_tensor(x, "x", shape=("N",), kind="real", finite=True)
    y = check_tensor(y, "y", shape=("N",), kind="real", finite=True)
    if x.shape != y.shape or len(x) < n_min:
        raise ValueError(
            f"x and y must be 1-D of the same length >= {n_min}, got {tuple(x.shape)} and {tuple(y.shape)}"
        )


def within_group_fit(x: Tensor, y: Tensor, groups: Tensor) -> LineFit:
    """:func:`fit_line` after subtracting each group's mean from ``x`` and ``y`` (``groups``: ints ``(N,)``), e.g.
    one digit at several applied rotations: its own slant drops out."""
    _check_xy(x, y, n_min=1)
    if check_tensor(groups, "groups", kind="int").shape != x.shape:
        raise ValueError(f"groups must match x's shape {tuple(x.shape)}, got {tuple(groups.shape)}")
    _, index, counts = torch.unique(groups, return_inverse=True, return_counts=True)
    x, y = x.double(), y.double()

    def demean(v: Tensor) -> Tensor:
        sums = torch.zeros(len(counts), dtype=v.dtype).index_add_(0, index, v)
        return v - (sums / counts)[index]

    if len(counts) == len(x):
        raise ValueError(f"groups must repeat a group (each of the {len(x)} points is its own group: nothing to fit)")
    return fit_line(demean(x), demean(y))


def region_centre_px(theta: Tensor, canvas: int) -> Tensor:
    """``(N, 2)``: where the output's centre samples, as ``(x, y)`` pixels from the canvas centre (right, down)."""
    return _centre(affine.check_theta(theta), check_int(canvas, "canvas", min=1))


def _centre(theta: Tensor, canvas: int) -> Tensor:
    return theta[:, :, 2] * (canvas / 2)


def digit_centre_px(applied: Distorted) -> Tensor:
    """``(N, 2)``: each object's centre as ``(x, y)`` pixels from the canvas centre (right, down)."""
    checks.check_type(applied, "applied", Distorted, "a Distorted (the distortion's record, e.g. data.test_params)")
    return torch.stack([applied.tx, applied.ty], 1) * (applied.canvas / 2)


def _float_theta(theta: Tensor, applied: Distorted) -> Tensor:
    affine.check_theta(theta)
    checks.check_type(applied, "applied", Distorted, "a Distorted (the distortion's record, e.g. data.test_params)")
    if theta.shape[0] != len(applied):
        raise ValueError(f"got {theta.shape[0]} thetas for {len(applied)} distorted images")
    return theta.float()


def rts_components(theta: Tensor, applied: Distorted) -> dict[str, tuple[Tensor, Tensor]]:
    """``{component: (applied (N,), recovered (N,))}`` for the keys of :data:`RTS_UNITS` (module docstring)."""
    theta, half = _float_theta(theta, applied), applied.canvas / 2
    parts, shift = affine.decompose(theta), -_centre(theta, applied.canvas)
    return {
        "rotation": (applied.rotation, parts["rotation"]),
        "scale": (applied.scale.log(), affine.zoom(parts).log()),
        "tx": (applied.tx * half, shift[:, 0]),
        "ty": (applied.ty * half, shift[:, 1]),
    }


def attention_components(theta: Tensor, applied: Distorted) -> dict[str, Tensor]:
    """``(N,)`` each: ``centre_error_px`` (region centre to box centre, canvas pixels), ``width_ratio`` (the side of a
    square of the region's area / ``applied.object_size * scale``), ``tx``, ``ty`` (region centre, normalized)."""
    theta, canvas = _float_theta(theta, applied), applied.canvas
    centre, width = _centre(theta, canvas), torch.linalg.det(theta[:, :, :2]).abs().sqrt() * canvas
    return {
        "centre_error_px": (centre - digit_centre_px(applied)).norm(dim=1),
        "width_ratio": width / (applied.object_size * applied.scale),
        "tx": theta[:, 0, 2],
        "ty": theta[:, 1, 2],
    }


def theta_spread(theta: Tensor, canvas: int) -> dict[str, float]:
    """Standard deviations over ``N`` of theta ``(N, 2, 3)``'s region centre (``shift_x_px``, ``shift_y_px``),
    ``rotation_deg`` and ``log_zoom``. All near 0: one fixed warp for every image (a *collapsed* transformer)."""
    theta, canvas = affine.check_theta(theta).float(), check_int(canvas, "canvas", min=1)
    if len(theta) < 2:
        raise ValueError(f"theta must hold at least 2 thetas (N, 2, 3) to have a spread, got {len(theta)}")
    parts, centre = affine.decompose(theta), _centre(theta, canvas)
    return {
        "shift_x_px": float(centre[:, 0].std()),
        "shift_y_px": float(centre[:, 1].std()),
        "rotation_deg": float(parts["rotation"].std()),
        "log_zoom": float(affine.zoom(parts).log().std()),
    }


def error_with_theta(model: nn.Module, data: ImageData, theta: Tensor, *, batch_size: int = 1000) -> float:
    """Test error (%) of ``model.classifier`` reading ``data``'s test images resampled with ``theta`` ``(N, 2, 3)``
    (one per test image) instead of its own transformer's: same view size and fill, on the model's device, in
    eval mode. With the thetas the transformer itself produces it gives the model's own test error."""
    stn = check_model(model, stn="transform").stn
    n = len(checks.check_type(data, "data", ImageData, "an ImageData (stnlib.data)").test_labels)
    theta = check_tensor(theta, "theta", shape=(n, 2, 3), kind="float")
    chunks = iter(theta.split(check_int(batch_size, "batch_size", min=1)))  # the test loader keeps the test order
    fill = stn.fill if stn.has_fill else None

    def classify(m: nn.Module, x: Tensor) -> Tensor:
        return m.classifier(affine.warp(x, next(chunks).to(x.device), out_size=stn.out_size, fill=fill)).argmax(1)

    preds, labels = over_batches(model, data.loaders(batch_size)[1], classify)
    return 100 * sum(int((p != y).sum()) for p, y in zip(preds, labels)) / n
