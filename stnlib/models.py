"""The networks, built from :mod:`stnlib.transformer`'s pieces (also exported here): inputs ``(B, C, H, W)``,
logits ``(B, 10)``. The tutorial's (:func:`tutorial_net`, :func:`course_net`) and ours (the rest)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from . import affine, checks
from .checks import check_bool, check_float, check_int, check_ints
from .transformer import RESIZE_MODES as RESIZE_MODES
from .transformer import THETA_FAMILIES as THETA_FAMILIES
from .transformer import Fill, SpatialTransformer, STNClassifier
from .transformer import Resize as Resize
from .transformer import full_precision as full_precision

Ints = Sequence[int]

RTS_VIEW, CLUTTER_VIEW = 28, 20  #: the classifier's view (pixels) of RTS (42x42) and cluttered (60x60) MNIST


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    checks.check_type(module, "module", nn.Module, "a torch.nn.Module")
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


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
    block1 = [nn.Conv2d(in_channels, conv[0], 5), nn.MaxPool2d(2), nn.ReLU()]
    block2 = [nn.Conv2d(conv[0], conv[1], 5), nn.Dropout2d(), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten()]
    head = [nn.Linear(conv[1] * s * s, hidden), nn.ReLU(), nn.Dropout(), nn.Linear(hidden, 10), nn.LogSoftmax(dim=1)]
    classifier = nn.Sequential(*block1, *block2, *head)
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
    """Our MNIST classifier ``(B, 1, S, S) -> (B, 10)``, ``S = in_size`` >= 4: two :func:`_conv_block` (k5, 32/64
    channels, pooling rounding up: an odd size keeps its last row) -> fc 128 -> fc, dropout. Layers ``[:4]`` are the
    first block, ``[4:]`` the rest (:func:`stnlib.placement.feature_map_stn_net` puts a transformer between them)."""
    in_size = check_int(in_size, "in_size", min=4)
    s = math.ceil(math.ceil(in_size / 2) / 2)
    return nn.Sequential(
        *_conv_block(1, 32, 5, ceil_mode=True),
        *_conv_block(32, 64, 5, ceil_mode=True),
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
    """A baseline: :func:`lenet_bn` on the ``in_size`` canvas, first shrunk to ``out_size`` if given (``resize``:
    ``"area"``, antialiased, or ``"bilinear"``, what an untrained identity transformer reads; :class:`Resize`)."""
    size = _view_size(in_size, out_size)
    return STNClassifier(lenet_bn(size), None, resize=(size, size), resize_mode=resize)


def flops_per_image(model: nn.Module, image_shape: Sequence[int]) -> int:
    """Floating-point operations of one forward pass on one image ``(C, H, W)`` (``torch.utils.flop_counter``:
    convolutions and matrix products, a multiply-add counted as 2; the sampler and pooling are not counted)."""
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
    """RTS MNIST (42x42 canvas -> 28x28 view): a ``"similarity"`` transformer (turn, zoom, move)."""
    loc = bn_localization(1, 42, channels=(32, 64, 64), hidden=128, kernel=(5, 5, 3), downsample=2)
    return mnist_stn_net(42, out_size=RTS_VIEW, fill=fill, localization=loc, family="similarity")


def clutter_stn_net(*, fill: float | None = None, init_zoom: float = 2.0) -> STNClassifier:
    """Cluttered MNIST (60x60 -> 20x20 view): an ``"attention"`` transformer (zoom, move) starting 2x zoomed in
    (``init_zoom=1`` collapses)."""
    loc = bn_localization(1, 60, channels=(16, 32), hidden=64, kernel=5, downsample=2)
    view, family = CLUTTER_VIEW, "attention"
    return mnist_stn_net(60, out_size=view, fill=fill, localization=loc, family=family, init_zoom=init_zoom)


def _conv_block(c_in: int, c_out: int, k: int, *, ceil_mode: bool = False) -> list[nn.Module]:
    """``conv k (same size, no bias) -> BN -> ReLU -> maxpool 2``."""
    conv = nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=False)
    return [conv, nn.BatchNorm2d(c_out), nn.ReLU(inplace=True), nn.MaxPool2d(2, ceil_mode=ceil_mode)]


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
    """``(module, hidden)``, the module ``(B, C, S, S) -> (B, hidden)``: ``downsample``x average pooling, a
    :func:`_conv_block` per ``channels`` entry (``kernel``: odd; one or per layer), ``fc -> ReLU``."""
    in_channels, hidden = check_int(in_channels, "in_channels", min=1), check_int(hidden, "hidden", min=1)
    in_size, downsample = check_int(in_size, "in_size", min=1), check_int(downsample, "downsample", min=1)
    channels = check_ints(channels, "channels", min=1)
    if in_size // downsample < 2 ** len(channels):
        raise ValueError(
            f"in_size {in_size} is too small for {len(channels)} poolings after {downsample}x pooling (downsample="
            f"{downsample}, channels={channels}): need in_size >= {downsample * 2 ** len(channels)}"
        )
    one = not isinstance(kernel, Sequence)
    kernels = (check_int(kernel, "kernel", min=1),) * len(channels) if one else check_ints(kernel, "kernel", min=1)
    if len(kernels) != len(channels) or any(k % 2 == 0 for k in kernels):
        raise ValueError(
            f"kernel needs one size per layer ({len(channels)}), each odd (padding k // 2 keeps the size), got {kernel}"
        )
    return _bn_stack(in_channels, (in_size, in_size), channels, kernels, downsample, hidden), hidden


def _bn_stack(
    c: int, size: tuple[int, int], channels: Ints, kernels: Ints, downsample: int, hidden: int
) -> nn.Sequential:
    """:func:`bn_localization`'s module for ``(B, c, H, W)`` inputs, ``size = (H, W)``; arguments unchecked."""
    layers: list[nn.Module] = [nn.AvgPool2d(downsample)] if downsample > 1 else []
    h, w = size[0] // downsample, size[1] // downsample
    for c_out, k in zip(channels, kernels):
        layers += _conv_block(c, c_out, k)
        c, h, w = c_out, h // 2, w // 2
    net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * h * w, hidden), nn.ReLU(True))
    net.in_size = size
    return net


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
