""":class:`SpatialTransformer` (theta as in :mod:`stnlib.affine`) and :class:`STNClassifier`, a classifier behind
one (or behind a :class:`Resize`, for the baselines); :mod:`stnlib.models` builds networks from them."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import affine, checks
from .checks import check_choice, check_float, check_int, check_ints

Fill = float | Sequence[float] | None
Size = tuple[int, int]
THETA_FAMILIES: tuple[str, ...] = ("affine", "similarity", "attention", "shift")  #: a SpatialTransformer's ``family``


def full_precision(device: torch.device) -> AbstractContextManager:
    """Autocast off on ``device`` (fp32 inside a mixed-precision region), if its type has autocast."""
    if not isinstance(device, torch.device):  # a string or an index is converted; None is refused
        device = checks.check_device(checks.check_type(device, "device", str | int, "a torch.device such as x.device"))
    available = torch.amp.is_autocast_available(device.type)
    return torch.autocast(device.type, enabled=False) if available else nullcontext()


class SpatialTransformer(nn.Module):
    """``(B, C, H, W) -> (B, C, H', W')``: predict theta (output -> input, float32 even under autocast), resample.

    ``localization``: ``(B, C, H, W) -> (B, features)``, then a linear ``regressor``; its ``in_size`` ``(H, W)``,
    if set, is enforced. ``out_size``: ``(H', W')``, default the input's. ``fill``: the value outside (number or
    per channel; ``None``: zeros). ``family``: ``"affine"`` (6 numbers), ``"similarity"`` (``[[a, -b, tx], [b, a,
    ty]]``), ``"attention"`` (``[[s, 0, tx], [0, s, ty]]``) or ``"shift"`` (``(tx, ty)``). ``init_zoom``: the
    untrained zoom (zero regressor weights; 2: the central half)."""

    def __init__(
        self,
        localization: nn.Module,
        features: int,
        *,
        out_size: Size | None = None,
        fill: Fill = None,
        family: str = "affine",
        init_zoom: float = 1.0,
    ) -> None:
        super().__init__()
        checks.check_callable(localization, "localization")
        features, family = check_int(features, "features", min=1), check_choice(family, "family", THETA_FAMILIES)
        init_zoom = check_float(init_zoom, "init_zoom", positive=True)
        out_size = None if out_size is None else check_ints(out_size, "out_size", length=2, min=1)
        in_size = getattr(localization, "in_size", None)
        self.localization = localization
        self.in_size = None if in_size is None else check_ints(in_size, "localization.in_size", length=2, min=1)
        self.family, self.init_zoom, self.out_size = family, init_zoom, out_size
        start = self._start()
        self.regressor = nn.Linear(features, len(start))
        nn.init.zeros_(self.regressor.weight)
        with torch.no_grad():
            self.regressor.bias.copy_(torch.tensor(start))
        fill_t = torch.zeros(1) if fill is None else affine.check_fill(fill)
        self.register_buffer("fill", fill_t, persistent=False)
        self.has_fill = fill is not None  # decided once: checking the buffer per batch would sync a GPU

    def _start(self) -> list[float]:
        """The regressor's starting bias (subclasses override it): theta ``s * I``, ``s = 1 / init_zoom``."""
        s = 1.0 / self.init_zoom
        start = {"affine": [s, 0.0, 0.0, 0.0, s, 0.0], "similarity": [s, 0.0, 0.0, 0.0], "attention": [s, 0.0, 0.0]}
        return start.get(self.family, [0.0, 0.0])  # "shift": (tx, ty)

    def _check_input(self, x: object) -> None:  # shapes and dtypes only: no device sync
        if not isinstance(x, Tensor):
            raise checks.ArgumentTypeError(f"x must be a float tensor (B, C, H, W), got {checks.describe(x)}")
        if x.dim() != 4 or not x.is_floating_point():
            hint = " (add a batch axis: x.unsqueeze(0))" if x.dim() == 3 else ""
            hint += " (convert uint8 images with .float() / 255, then normalize)" if not x.is_floating_point() else ""
            got = f"{x.dtype} {tuple(x.shape)}"
            raise ValueError(f"a {type(self).__name__} needs float images (B, C, H, W), got {got}{hint}")
        if self.in_size is not None and tuple(x.shape[-2:]) != tuple(self.in_size):
            (h, w), (got_h, got_w) = self.in_size, x.shape[-2:]
            raise ValueError(f"this {type(self).__name__} was built for {h}x{w} inputs, got {got_h}x{got_w}")

    def _regress(self, x: Tensor) -> Tensor:
        self._check_input(x)
        features = self.localization(x)
        with full_precision(x.device):  # fp32 even under bf16 autocast
            return self.regressor(features.float())

    def theta(self, x: Tensor) -> Tensor:
        """The thetas ``(B, 2, 3)``, float32, this transformer applies to ``x`` ``(B, C, H, W)``."""
        p = self._regress(x)
        with full_precision(x.device):
            if self.family == "affine":
                return p.view(-1, 2, 3)
            if self.family == "similarity":
                a, b, tx, ty = p.unbind(1)
                return torch.stack([torch.stack([a, -b, tx], 1), torch.stack([b, a, ty], 1)], 1)
            if self.family == "shift":
                tx, ty = p.unbind(1)
                s = torch.full_like(tx, 1.0 / self.init_zoom)
            else:
                s, tx, ty = p.unbind(1)
            zero = torch.zeros_like(s)
            return torch.stack([torch.stack([s, zero, tx], 1), torch.stack([zero, s, ty], 1)], 1)

    def transform(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(warped (B, C, H', W'), theta (B, 2, 3))``; sampled on a float32 grid."""
        theta = self.theta(x)
        return self._warp(x, theta), theta

    def _warp(self, x: Tensor, theta: Tensor) -> Tensor:  # x resampled with theta, out_size and fill, in fp32
        with full_precision(x.device):
            return affine.warp(
                x, theta, out_size=self.out_size, fill=self.fill if self.has_fill else None, validate=False
            )

    def forward(self, x: Tensor) -> Tensor:
        return self.transform(x)[0]


RESIZE_MODES: tuple[str, ...] = ("area", "bilinear")  #: how a baseline :class:`Resize` shrinks its canvas


class Resize(nn.Module):
    """Resize ``(B, C, H, W)`` to ``size`` ``(H', W')``: ``mode="area"`` averages the input pixels under each output
    pixel; ``"bilinear"`` samples where the identity theta's grid does (60 -> 20 reads one pixel in nine)."""

    def __init__(self, size: Size, mode: str = "area") -> None:
        super().__init__()
        self.size = check_ints(size, "size", length=2, min=1)
        self.mode = check_choice(mode, "mode", RESIZE_MODES)

    def forward(self, x: Tensor) -> Tensor:
        if tuple(x.shape[-2:]) == tuple(self.size):
            return x
        align_corners = None if self.mode == "area" else False
        return F.interpolate(x, size=self.size, mode=self.mode, align_corners=align_corners)

    def extra_repr(self) -> str:
        return f"size={tuple(self.size)}, mode={self.mode!r}"


class STNClassifier(nn.Module):
    """``classifier(stn(x))``; ``stn=None`` gives the plain CNN, which may ``resize`` (:class:`Resize`) first."""

    def __init__(
        self,
        classifier: nn.Module,
        stn: SpatialTransformer | None = None,
        *,
        resize: Size | None = None,
        resize_mode: str = "area",
    ):
        super().__init__()
        checks.check_type(classifier, "classifier", nn.Module, "a torch.nn.Module (B, C, H, W) -> (B, 10)")
        checks.check_type(stn, "stn", SpatialTransformer | None, "a SpatialTransformer or None")
        if stn is not None and resize is not None:
            raise ValueError("resize is for the baseline only: a SpatialTransformer sets its own out_size")
        resize = None if resize is None else check_ints(resize, "resize", length=2, min=1)
        self.stn = stn
        self.resize = Resize(resize, resize_mode) if resize is not None else None
        self.classifier = classifier

    def forward(self, x: Tensor) -> Tensor:
        if self.stn is not None:
            x = self.stn(x)
        elif self.resize is not None:
            x = self.resize(x)
        return self.classifier(x)
