"""Did the transformer undo the distortion? Recovered vs applied transform, per component.

Distorted MNIST (:func:`stnlib.data.distort_mnist`) and off-centre CIFAR-10
(:func:`stnlib.offcentre.distort_cifar`) record what was done to each object (digit or photo):
``rotation`` (degrees, counterclockwise on screen), ``scale`` and the object centre's offset
``tx``, ``ty`` from the canvas centre (normalized units, right / down). A transformer's
theta ``(B, 2, 3)`` maps its output to the canvas (see :mod:`stnlib.affine`). Two readings:

* **RTS** (:func:`rts_components`): what the transformer does to the content, in the units
  of the distortion, so that a **perfect undo scores slope -1** against what was applied:

  - ``rotation``: the rotation it applies (degrees, ``decompose(theta)["rotation"]``);
  - ``scale``: ``log`` of its zoom against ``log`` of the applied scale (an undo zooms by
    ``z0 / scale`` for some fixed ``z0``, and the log turns that into slope -1);
  - ``tx``, ``ty``: the shift it applies in canvas pixels, ``-(region centre)``: the canvas
    point its output centre samples is moved to the middle of its view.

  :func:`fit_line` fits ``recovered = slope * applied + intercept`` (least squares) with its R²;
  :func:`within_group_fit` does the same within each digit shown at several rotations, which
  takes the digit's own slant out of the comparison.
* **Clutter** (:func:`attention_components`): where the sampled region lies against the
  object's box (``applied.object_size`` pixels, 28 for a digit, 32 for a photo, times its
  scale): centre error in canvas pixels and width relative to the box.

A transformer that applies exactly the inverse distortion (``theta = invert(build_theta(...))``
composed with a fixed zoom) scores slope -1, R² 1 and centre error 0 (``tests/test_recovery.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from . import affine
from .data import Distorted

__all__ = [
    "RTS_UNITS",
    "theta_spread",
    "LineFit",
    "attention_components",
    "digit_centre_px",
    "fit_line",
    "region_centre_px",
    "region_width_px",
    "rts_components",
    "within_group_fit",
]

#: RTS components, in the order they are plotted, with their units.
RTS_UNITS: dict[str, str] = {"rotation": "degrees", "scale": "log zoom", "tx": "pixels", "ty": "pixels"}


@dataclass(frozen=True)
class LineFit:
    """Least-squares line ``y = slope * x + intercept`` and its coefficient of determination ``r2``."""

    slope: float
    intercept: float
    r2: float

    def __str__(self) -> str:
        return f"slope {self.slope:+.2f}, R² {self.r2:.2f}"


def fit_line(x: Tensor, y: Tensor) -> LineFit:
    """Fit ``y ≈ slope * x + intercept`` over 1-D tensors of equal length (at least 2, ``x`` not constant)."""
    if x.dim() != 1 or x.shape != y.shape or len(x) < 2:
        raise ValueError(f"x and y must be 1-D of the same length >= 2, got {tuple(x.shape)} and {tuple(y.shape)}")
    x, y = x.double(), y.double()
    dx, dy = x - x.mean(), y - y.mean()
    sxx = (dx * dx).sum()
    if sxx == 0:
        raise ValueError("x is constant: no slope to fit")
    slope = (dx * dy).sum() / sxx
    residual = dy - slope * dx
    syy = (dy * dy).sum()
    r2 = 1.0 - (residual * residual).sum() / syy if syy > 0 else torch.tensor(1.0)
    return LineFit(float(slope), float(y.mean() - slope * x.mean()), float(r2))


def within_group_fit(x: Tensor, y: Tensor, groups: Tensor) -> LineFit:
    """:func:`fit_line` after subtracting each group's mean from ``x`` and ``y`` (``groups``: int ``(N,)``).

    For one digit shown at several applied rotations, this compares each rotation the transformer
    applies with the *other* rotations of the same digit, so the digit's own slant (which no
    transformer can tell apart from an applied rotation) drops out. The intercept is 0.
    """
    if groups.shape != x.shape:
        raise ValueError(f"groups must match x's shape {tuple(x.shape)}, got {tuple(groups.shape)}")
    _, index, counts = torch.unique(groups, return_inverse=True, return_counts=True)
    x, y = x.double(), y.double()

    def demean(v: Tensor) -> Tensor:
        sums = torch.zeros(len(counts), dtype=v.dtype).index_add_(0, index, v)
        return v - (sums / counts)[index]

    return fit_line(demean(x), demean(y))


def region_centre_px(theta: Tensor, canvas: int) -> Tensor:
    """``(B, 2)``: where the output's centre samples, as ``(x, y)`` pixels from the canvas centre (right, down)."""
    affine.check_theta(theta)
    return theta[:, :, 2] * (canvas / 2)


def region_width_px(theta: Tensor, canvas: int) -> Tensor:
    """``(B,)``: side of the square with the sampled region's area, in canvas pixels (``canvas / zoom``)."""
    affine.check_theta(theta)
    return torch.linalg.det(theta[:, :, :2]).abs().sqrt() * canvas


def digit_centre_px(applied: Distorted) -> Tensor:
    """``(N, 2)``: each object's (digit's, photo's) centre as ``(x, y)`` pixels from the canvas centre (right, down).

    The centre does not depend on the object's size; the box around it is ``applied.object_size * scale`` wide.
    """
    return torch.stack([applied.tx, applied.ty], 1) * (applied.canvas / 2)


def _check_same_length(theta: Tensor, applied: Distorted) -> None:
    if theta.shape[0] != len(applied):
        raise ValueError(f"got {theta.shape[0]} thetas for {len(applied)} distorted images")


def rts_components(theta: Tensor, applied: Distorted) -> dict[str, tuple[Tensor, Tensor]]:
    """``{component: (applied (N,), recovered (N,))}`` for the keys of :data:`RTS_UNITS` (see module docstring)."""
    _check_same_length(theta, applied)
    theta = theta.float()
    half = applied.canvas / 2
    parts = affine.decompose(theta)
    shift = -region_centre_px(theta, applied.canvas)
    return {
        "rotation": (applied.rotation, parts["rotation"]),
        "scale": (applied.scale.log(), affine.zoom(parts).log()),
        "tx": (applied.tx * half, shift[:, 0]),
        "ty": (applied.ty * half, shift[:, 1]),
    }


def attention_components(theta: Tensor, applied: Distorted) -> dict[str, Tensor]:
    """Sampled region against each object's box, ``(N,)`` each.

    ``centre_error_px``: distance between the region's centre and the object box's centre
    (canvas pixels); ``width_ratio``: region width / box width (``applied.object_size * scale``
    pixels: 28 for MNIST digits, 32 for CIFAR-10 photos);
    ``tx``, ``ty``: the region centre in normalized units (their spread says whether theta
    depends on the input at all).
    """
    _check_same_length(theta, applied)
    theta = theta.float()
    centre = region_centre_px(theta, applied.canvas)
    return {
        "centre_error_px": (centre - digit_centre_px(applied)).norm(dim=1),
        "width_ratio": region_width_px(theta, applied.canvas) / (applied.object_size * applied.scale),
        "tx": theta[:, 0, 2],
        "ty": theta[:, 1, 2],
    }


def theta_spread(theta: Tensor, canvas: int) -> dict[str, float]:
    """How much theta ``(N, 2, 3)`` varies from image to image: the standard deviation over ``N`` of

    ``shift_x_px``/``shift_y_px`` (the sampled region's centre, canvas pixels), ``rotation_deg``
    and ``log_zoom``. All four near 0 means one fixed warp for every image (a *collapsed*
    transformer); a transformer that undoes a per-image distortion spreads as much as the
    distortion does.
    """
    theta = theta.float()
    parts = affine.decompose(theta)
    centre = region_centre_px(theta, canvas)
    return {
        "shift_x_px": float(centre[:, 0].std()),
        "shift_y_px": float(centre[:, 1].std()),
        "rotation_deg": float(parts["rotation"].std()),
        "log_zoom": float(affine.zoom(parts).log().std()),
    }
