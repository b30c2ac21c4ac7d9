"""Spatial transformer and classifiers: inputs ``(B, C, H, W)``, logits ``(B, 10)``, thetas ``(B, 2, 3)`` as in
:mod:`stnlib.affine`. The tutorial's nets (:func:`tutorial_net`, :func:`course_net`); ours: :func:`mnist_stn_net`,
:func:`rts_stn_net`, :func:`clutter_stn_net`, the baseline :func:`mnist_cnn`, and :func:`cifar_stn_net`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import affine, checks
from .checks import check_bool, check_choice, check_float, check_int, check_ints


def full_precision(device: torch.device) -> AbstractContextManager:
    """Autocast off on ``device`` (fp32 inside a mixed-precision region); nothing to turn off on a device type
    without autocast (``meta``, for example)."""
    if not isinstance(device, torch.device):  # a string or an index is converted; None is refused
        device = checks.check_device(checks.check_type(device, "device", str | int, "a torch.device such as x.device"))
    available = torch.amp.is_autocast_available(device.type)
    return torch.autocast(device.type, enabled=False) if available else nullcontext()


Ints = Sequence[int]
Fill = float | Sequence[float] | None
Size = tuple[int, int]

THETA_FAMILIES: tuple[str, ...] = ("affine", "similarity", "attention", "shift")  #: a SpatialTransformer's ``family``
RTS_VIEW, CLUTTER_VIEW = 28, 20  #: the classifier's view (pixels) of RTS (42x42) and cluttered (60x60) MNIST


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters.

    >>> count_parameters(tutorial_net(stn=False))  # convs 260 + 5,020, linears 16,050 + 510
    21840
    """
    checks.check_type(module, "module", nn.Module, "a torch.nn.Module")
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


class SpatialTransformer(nn.Module):
    """``(B, C, H, W) -> (B, C, H', W')``: predict theta (output -> input, float32 even under autocast), resample.

    ``localization``: ``(B, C, H, W) -> (B, features)``, then a linear ``regressor``; its ``in_size`` ``(H, W)``,
    if set, is enforced. ``out_size``: ``(H', W')``, default the input's. ``fill``: the value outside (number or
    per channel; ``-mean/std`` is black on normalized input; ``None``: zeros). ``family``: ``"affine"`` (6 numbers),
    ``"similarity"`` (``[[a, -b, tx], [b, a, ty]]``), ``"attention"`` (``[[s, 0, tx], [0, s, ty]]``) or ``"shift"``
    (``(tx, ty)``, zoom fixed). ``init_zoom``: the untrained zoom (zero regressor weights; 2: the central half).

    >>> stn = SpatialTransformer(nn.Flatten(), 16, out_size=(2, 2))
    >>> out, theta = stn.transform(torch.arange(16.0).view(1, 1, 4, 4))
    >>> theta.tolist()  # untrained: the identity
    [[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]]
    >>> out.tolist()  # the whole 4x4 input at 2x2: each pixel is the mean of a 2x2 block
    [[[[2.5, 4.5], [10.5, 12.5]]]]
    """

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
        """The regressor's bias (its weights start at zero): the untrained parameters. Subclasses override it (set
        what it reads before calling ``__init__``). Here: theta ``[[s, 0, 0], [0, s, 0]]``, ``s = 1 / init_zoom``."""
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
        """The regressor's output ``(B, len(self._start()))`` for ``x``, checked; float32 even under autocast."""
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
    """Resize ``(B, C, H, W)`` to ``size`` ``(H', W')``. ``mode="area"`` (antialiased): each output pixel averages
    the input pixels under it (a 60 -> 20 resize averages 3x3 blocks: every pixel counts); ``"bilinear"``: samples
    exactly where the identity theta's grid does (a 60 -> 20 resize then reads one pixel in nine)."""

    def __init__(self, size: Size, mode: str = "area") -> None:
        super().__init__()
        self.size = check_ints(size, "size", length=2, min=1)
        self.mode = check_choice(mode, "mode", RESIZE_MODES)

    def forward(self, x: Tensor) -> Tensor:
        if tuple(x.shape[-2:]) == tuple(self.size):
            return x
        if self.mode == "area":
            return F.interpolate(x, size=self.size, mode="area")
        return F.interpolate(x, size=self.size, mode="bilinear", align_corners=False)

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


def conv_localization(in_channels: int, in_size: int, channels: Ints = (8, 10), hidden: int = 32):
    """The tutorial's localization net ``(B, C, S, S) -> (B, hidden)``, returned as ``(module, hidden)``:
    ``[conv k -> maxpool 2 -> ReLU] x 2`` with kernels 7 and 5, then ``fc -> ReLU``; ``in_size`` at least 18."""
    in_channels, hidden = check_int(in_channels, "in_channels", min=1), check_int(hidden, "hidden", min=1)
    in_size, channels = check_int(in_size, "in_size", min=18), check_ints(channels, "channels", length=2, min=1)
    layers, c, s = [], in_channels, in_size
    for out_c, k in zip(channels, (7, 5)):
        layers += [nn.Conv2d(c, out_c, k), nn.MaxPool2d(2, stride=2), nn.ReLU(True)]
        c, s = out_c, (s - k + 1) // 2
    net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * s * s, hidden), nn.ReLU(True))
    net.in_size = (in_size, in_size)
    return net, hidden


def _check_stn_fill(stn: object, fill: object) -> bool:
    if fill is not None:
        affine.check_fill(fill)  # even without a transformer: a NaN fill is a mistake either way
    return check_bool(stn, "stn")


def course_net(
    in_channels: int = 3,
    in_size: int = 32,
    *,
    conv: Ints = (10, 20),
    hidden: int = 50,
    loc_conv: Ints = (8, 10),
    loc_hidden: int = 32,
    stn: bool = True,
    fill: Fill = None,
) -> STNClassifier:
    """The PyTorch tutorial's STN net (10 classes) as the course write-ups reused it: :func:`conv_localization`,
    then ``[conv k5 -> (Dropout2d) -> pool -> ReLU] x 2 -> fc -> ReLU -> Dropout -> fc -> log_softmax``."""
    in_channels, in_size = check_int(in_channels, "in_channels", min=1), check_int(in_size, "in_size", min=16)
    conv, hidden = check_ints(conv, "conv", length=2, min=1), check_int(hidden, "hidden", min=1)
    stn = _check_stn_fill(stn, fill)
    s = ((in_size - 4) // 2 - 4) // 2
    classifier = nn.Sequential(
        nn.Conv2d(in_channels, conv[0], 5),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Conv2d(conv[0], conv[1], 5),
        nn.Dropout2d(),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(conv[1] * s * s, hidden),
        nn.ReLU(),
        nn.Dropout(),
        nn.Linear(hidden, 10),
        nn.LogSoftmax(dim=1),
    )
    transformer = None
    if stn:
        loc, feats = conv_localization(in_channels, in_size, loc_conv, loc_hidden)
        transformer = SpatialTransformer(loc, feats, fill=fill)
    return STNClassifier(classifier, transformer)


def tutorial_net(*, stn: bool = True, fill: float | None = None) -> STNClassifier:
    """The PyTorch STN tutorial's MNIST net (1x28x28), faithful; ``fill=None`` keeps its zero padding."""
    check_bool(stn, "stn")
    return course_net(1, 28, stn=stn, fill=fill)  # the defaults are the tutorial's sizes


def lenet_bn(in_size: int = 28) -> nn.Sequential:
    """Our MNIST classifier ``(B, 1, S, S) -> (B, 10)``, ``S = in_size`` >= 4: ``[conv k5 -> BN -> ReLU -> pool 2]
    x 2 -> fc -> fc``, 32/64 channels, 128 hidden, dropout (batch norm: trains fast). Pooling rounds up, so an odd
    size (21 after a 42 canvas's first pooling) keeps its last row and column. Layers ``[:4]`` are the first block,
    ``[4:]`` the rest (:func:`stnlib.placement.feature_map_stn_net` puts a transformer between them)."""
    in_size = check_int(in_size, "in_size", min=4)
    s = math.ceil(math.ceil(in_size / 2) / 2)
    return nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2, bias=False),
        nn.BatchNorm2d(32),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2, ceil_mode=True),
        nn.Conv2d(32, 64, 5, padding=2, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2, ceil_mode=True),
        nn.Flatten(),
        nn.Dropout(0.3),
        nn.Linear(64 * s * s, 128),
        nn.ReLU(inplace=True),
        nn.Dropout(0.3),
        nn.Linear(128, 10),
    )


def mnist_stn_net(
    in_size: int = 28,
    *,
    out_size: int | None = None,
    fill: float | None = None,
    localization: tuple[nn.Module, int] | None = None,
    family: str = "affine",
    init_zoom: float = 1.0,
) -> STNClassifier:
    """Our MNIST ST-CNN: a :class:`SpatialTransformer` (``in_size`` canvas -> ``out_size`` view, default
    ``in_size``; ``localization`` ``(module, features)``, default :func:`conv_localization`), then :func:`lenet_bn`."""
    size = _view_size(in_size, out_size)
    if localization is not None and not (isinstance(localization, tuple | list) and len(localization) == 2):
        raise checks.ArgumentTypeError(
            f"localization must be a pair (module, features), got {checks.describe(localization)}"
        )
    loc, feats = localization if localization is not None else conv_localization(1, in_size)
    stn = SpatialTransformer(loc, feats, out_size=(size, size), fill=fill, family=family, init_zoom=init_zoom)
    return STNClassifier(lenet_bn(size), stn)


def _view_size(in_size: object, out_size: object) -> int:  # the classifier's view: lenet_bn's in_size
    in_size = check_int(in_size, "in_size", min=4)
    return in_size if out_size is None else check_int(out_size, "out_size", min=4)


def mnist_cnn(in_size: int = 28, *, out_size: int | None = None, resize: str = "area") -> STNClassifier:
    """A baseline: :func:`lenet_bn` on the ``in_size`` canvas, shrunk first to ``out_size`` if given (``resize``:
    ``"area"``, antialiased, or ``"bilinear"``, what :func:`mnist_stn_net`'s untrained identity transformer reads;
    see :class:`Resize`). ``out_size=None``: the CNN sees the whole canvas at full resolution, as the paper's."""
    size = _view_size(in_size, out_size)
    return STNClassifier(lenet_bn(size), None, resize=(size, size), resize_mode=resize)


def flops_per_image(model: nn.Module, image_shape: Sequence[int]) -> int:
    """Floating-point operations of one forward pass on one image ``(C, H, W)`` (``torch.utils.flop_counter``:
    convolutions and matrix products, a multiply-add counted as 2; the sampler and pooling are not counted).

    >>> flops_per_image(nn.Linear(3, 2, bias=False), (3,))  # 2 x 3 multiply-adds
    12
    """
    from torch.utils.flop_counter import FlopCounterMode

    checks.check_type(model, "model", nn.Module, "a torch.nn.Module")
    shape = check_ints(image_shape, "image_shape", min=1)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, *shape, device=device))
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def rts_stn_net(*, fill: float | None = None) -> STNClassifier:
    """RTS MNIST (42x42 canvas -> 28x28 view): a ``"similarity"`` transformer (turn, zoom, move); localization
    :func:`bn_localization`, 2x pooled, 5x5/32, 5x5/64, 3x3/64, 128 hidden (validated)."""
    loc = bn_localization(1, 42, channels=(32, 64, 64), hidden=128, kernel=(5, 5, 3), downsample=2)
    return mnist_stn_net(42, out_size=RTS_VIEW, fill=fill, localization=loc, family="similarity")


def clutter_stn_net(*, fill: float | None = None, init_zoom: float = 2.0) -> STNClassifier:
    """Cluttered MNIST (60x60 -> 20x20 view): an ``"attention"`` transformer (zoom, move) starting 2x zoomed in
    (``init_zoom=1`` collapses); localization :func:`bn_localization`, 2x pooled, 5x5/16, 5x5/32, 64 hidden."""
    loc = bn_localization(1, 60, channels=(16, 32), hidden=64, kernel=5, downsample=2)
    view, family = CLUTTER_VIEW, "attention"
    return mnist_stn_net(60, out_size=view, fill=fill, localization=loc, family=family, init_zoom=init_zoom)


def _conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class _Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.f = nn.Sequential(_conv_bn(channels, channels), _conv_bn(channels, channels))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.f(x)


def resnet9(width: int = 16) -> nn.Sequential:
    """Myrtle.ai's DAWNBench ResNet-9 (original ``width=64``), ``(B, 3, H, W) -> (B, 10)``, ``H, W`` divisible by 8:
    channels ``width * (1, 2, 4, 8)``, three 2x max-pools, two residual blocks, global max pool, linear."""
    w = check_int(width, "width", min=1)
    return nn.Sequential(
        _conv_bn(3, w),
        _conv_bn(w, 2 * w),
        nn.MaxPool2d(2),
        _Residual(2 * w),
        _conv_bn(2 * w, 4 * w),
        nn.MaxPool2d(2),
        _conv_bn(4 * w, 8 * w),
        nn.MaxPool2d(2),
        _Residual(8 * w),
        nn.AdaptiveMaxPool2d(1),
        nn.Flatten(),
        nn.Linear(8 * w, 10),
    )


def bn_localization(
    in_channels: int, in_size: int, *, channels: Ints = (8, 16), hidden: int = 32, kernel: int | Ints = 3, downsample=2
) -> tuple[nn.Sequential, int]:
    """``(module, hidden)``, the module ``(B, C, S, S) -> (B, hidden)``: ``downsample``x average pooling, then
    ``[conv k -> BN -> ReLU -> maxpool 2]`` per ``channels`` entry (``kernel``: odd; one or per layer), then
    ``fc -> ReLU``."""
    in_channels, hidden = check_int(in_channels, "in_channels", min=1), check_int(hidden, "hidden", min=1)
    in_size, downsample = check_int(in_size, "in_size", min=1), check_int(downsample, "downsample", min=1)
    channels = check_ints(channels, "channels", min=1)
    if in_size // downsample < 2 ** len(channels):
        raise ValueError(
            f"in_size {in_size} is too small for {len(channels)} poolings after {downsample}x pooling "
            f"(downsample={downsample}, channels={channels}): need in_size >= "
            f"{downsample * 2 ** len(channels)}"
        )
    layers: list[nn.Module] = [nn.AvgPool2d(downsample)] if downsample > 1 else []
    kernels = list(
        check_ints(kernel, "kernel", min=1)
        if isinstance(kernel, Sequence)
        else [check_int(kernel, "kernel", min=1)] * len(channels)
    )
    if len(kernels) != len(channels) or any(k % 2 == 0 for k in kernels):
        raise ValueError(
            f"kernel needs one size per layer ({len(channels)}), each odd (padding k // 2 keeps the size), got {kernel}"
        )
    c, s = in_channels, in_size // downsample
    for c_out, k in zip(channels, kernels):
        layers += [nn.Conv2d(c, c_out, k, padding=k // 2, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
        layers.append(nn.MaxPool2d(2))
        c, s = c_out, s // 2
    net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * s * s, hidden), nn.ReLU(True))
    net.in_size = (in_size, in_size)
    return net, hidden


def cifar_stn_net(
    *, stn: bool = True, fill: Fill = None, loc_downsample: int = 2, regressor_init_std: float = 0.0
) -> STNClassifier:
    """CIFAR-10 (3x32x32): :func:`bn_localization` (``loc_downsample``x pooled) -> transformer -> :func:`resnet9`;
    ``stn=False``: the backbone alone; ``regressor_init_std > 0``: regressor weights ``N(0, std^2)``."""
    regressor_init_std = check_float(regressor_init_std, "regressor_init_std", min=0.0)
    loc_downsample = check_int(loc_downsample, "loc_downsample", min=1, max=8)  # 32 // 8: room for 2 poolings
    stn = _check_stn_fill(stn, fill)
    transformer = None
    if stn:
        loc, feats = bn_localization(3, 32, downsample=loc_downsample)
        transformer = SpatialTransformer(loc, feats, fill=fill)
        if regressor_init_std > 0:
            nn.init.normal_(transformer.regressor.weight, std=regressor_init_std)
    return STNClassifier(resnet9(16), transformer)
