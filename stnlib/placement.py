"""Where a spatial transformer sits: on feature maps inside the network, or two side by side.

* :class:`FeatureMapTransformer` warps the feature maps of a first block instead of the image. Its theta is in the
  maps' normalized coordinates, which are the image's (a same-padded convolution and a 2x pooling keep the frame
  ``[-1, 1]``), so it reads back as :mod:`stnlib.recovery` reads an input-level one.
  :func:`feature_map_stn_net` puts it after :func:`~stnlib.models.lenet_bn`'s first block on RTS MNIST: the same
  classifier layers as :func:`stnlib.table1.table1_net` ``("rts", "affine")``, which puts the transformer in front.
* :class:`TwoTransformers`: two transformers read the whole canvas, each samples its own view, one shared encoder
  turns each view into features and a linear head reads both (the paper's 2xST, appendix A.1).
  :func:`two_stn_adder` builds it for MNIST addition (:mod:`stnlib.addition`), its two windows starting on the left
  and right halves of the canvas so that they need not pick the same digit; :func:`addition_cnn` is the baseline.

>>> net = feature_map_stn_net()
>>> tuple(net(torch.zeros(2, 1, 42, 42)).shape), tuple(net.stn.theta(torch.zeros(2, 1, 42, 42)).shape)
((2, 10), (2, 2, 3))
>>> adder = two_stn_adder(60)
>>> tuple(adder(torch.zeros(3, 1, 60, 60)).shape), tuple(adder.thetas(torch.zeros(3, 1, 60, 60)).shape)
((3, 19), (3, 2, 2, 3))
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from . import checks, models, train
from .checks import check_float, check_int
from .data import ImageData
from .models import SpatialTransformer, STNClassifier

__all__ = ["FeatureMapTransformer", "TwoTransformers", "addition_cnn", "feature_map_stn_net", "region_to_digit",
           "thetas_of_test_set", "two_stn_adder", "two_views"]  # fmt: skip

RTS_CANVAS, VIEW, SUMS = 42, 28, 19  # the RTS canvas, the classifier's view (pixels), the sums 0..18


class FeatureMapTransformer(SpatialTransformer):
    """``(B, C, H, W) -> (B, C', h, w)``: ``block`` (the network's first layers), then a :class:`SpatialTransformer`
    on its feature maps ``(B, C', H', W')``: ``localization`` reads the maps and ``out_size`` is in map pixels.
    ``theta(x)`` and ``transform(x)`` take the image ``x``, as an input-level transformer's do."""

    def __init__(self, block: nn.Module, localization: nn.Module, features: int, **kw) -> None:
        super().__init__(localization, features, **kw)
        self.block = checks.check_type(block, "block", nn.Module, "a torch.nn.Module (the first layers)")

    def theta(self, x: Tensor) -> Tensor:
        return super().theta(self.block(x))

    def transform(self, x: Tensor) -> tuple[Tensor, Tensor]:
        maps = self.block(x)
        theta = super().theta(maps)
        return self._warp(maps, theta), theta


def feature_map_stn_net(in_size: int = RTS_CANVAS, view: int = VIEW) -> STNClassifier:
    """:func:`~stnlib.models.lenet_bn` ``(view)`` with a transformer between its first block and the rest: the block
    turns the ``in_size`` canvas into 32 maps of ``ceil(in_size / 2)``, the transformer samples a ``view / 2`` window
    of them (fill 0, no activation) and the rest classifies it. Its localization reads the maps with
    :func:`~stnlib.models.bn_localization` (64 and 64 channels, 128 hidden); it starts at the identity."""
    in_size, view = check_int(in_size, "in_size", min=8), check_int(view, "view", min=8)
    layers = models.lenet_bn(view)
    maps = -(-in_size // 2)  # the first block's pooling rounds up
    loc, features = models.bn_localization(32, maps, channels=(64, 64), hidden=128, kernel=(5, 3), downsample=1)
    stn = FeatureMapTransformer(layers[:4], loc, features, out_size=(view // 2, view // 2))
    return STNClassifier(layers[4:], stn)


class TwoTransformers(nn.Module):
    """``(B, C, H, W) -> (B, classes)``: ``head(cat(encoder(stn_1(x)), encoder(stn_2(x))))``. ``encoder``: a view
    ``(B, C, h, w) -> (B, features)``, shared by both transformers; ``head``: ``2 * features -> classes``."""

    def __init__(self, stns: Sequence[SpatialTransformer], encoder: nn.Module, head: nn.Module) -> None:
        super().__init__()
        if not isinstance(stns, Sequence) or len(stns) != 2:
            raise checks.ArgumentTypeError(f"stns must be two SpatialTransformers, got {checks.describe(stns)}")
        for i, stn in enumerate(stns):
            checks.check_type(stn, f"stns[{i}]", SpatialTransformer, "a SpatialTransformer")
        self.stns = nn.ModuleList(stns)
        self.encoder = checks.check_type(encoder, "encoder", nn.Module, "a torch.nn.Module")
        self.head = checks.check_type(head, "head", nn.Module, "a torch.nn.Module")

    def thetas(self, x: Tensor) -> Tensor:
        """``(B, 2, 2, 3)``: each transformer's theta (second axis: which transformer)."""
        return torch.stack([stn.theta(x) for stn in self.stns], 1)

    def views(self, x: Tensor) -> Tensor:
        """``(B, 2, C, h, w)``: what each transformer samples."""
        return torch.stack([stn(x) for stn in self.stns], 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(torch.cat([self.encoder(stn(x)) for stn in self.stns], 1))


def two_stn_adder(canvas: int, *, view: int = VIEW, fill: float | None = None, start_zoom: float = 1.5,
                  start_shift: float = 0.35) -> TwoTransformers:  # fmt: skip
    """Two affine transformers (each with notebook 2's RTS localization on the ``canvas``) sampling ``view`` x
    ``view`` windows, the :func:`~stnlib.models.lenet_bn` encoder (128 features) and a linear head to the 19 sums.
    The windows start zoomed ``start_zoom``x and centred ``start_shift`` (normalized) left and right of the middle."""
    canvas, view = check_int(canvas, "canvas", min=16), check_int(view, "view", min=4)
    start_zoom = check_float(start_zoom, "start_zoom", positive=True)
    start_shift = check_float(start_shift, "start_shift", min=-1.0, max=1.0)
    stns = []
    for side in (-1.0, 1.0):
        loc, features = models.bn_localization(1, canvas, channels=(32, 64, 64), hidden=128, kernel=(5, 5, 3))
        stn = SpatialTransformer(loc, features, out_size=(view, view), fill=fill, init_zoom=start_zoom)
        with torch.no_grad():
            stn.regressor.bias[2] = side * start_shift  # theta[0, 2]: the window's centre x
        stns.append(stn)
    encoder = models.lenet_bn(view)[:-1]  # up to the 128 features
    return TwoTransformers(stns, encoder, nn.Linear(2 * 128, SUMS))


def addition_cnn(canvas: int) -> STNClassifier:
    """The baseline: :func:`~stnlib.models.lenet_bn` on the whole ``canvas`` at full resolution, 19 sums."""
    return STNClassifier(models.lenet_bn(check_int(canvas, "canvas", min=4), classes=SUMS))


def _check_two(model: object) -> TwoTransformers:
    return checks.check_type(model, "model", TwoTransformers, "a TwoTransformers (two_stn_adder's result)")


def two_views(model: TwoTransformers, x: Tensor) -> tuple[Tensor, Tensor]:
    """``(views (B, 2, C, h, w), thetas (B, 2, 2, 3))`` of ``model``'s transformers on a batch ``x`` normalized as
    the model sees it: run where the model lives, in eval mode, without gradients; both come back on the CPU."""
    model = _check_two(model)
    checks.check_tensor(x, "x", shape=("B", "C", "H", "W"), kind="float", nonempty=True)
    with train.EvalMode(model), torch.no_grad():
        x = x.to(train.model_device(model))
        return train.to_cpu(model.views(x)), train.to_cpu(model.thetas(x))


def thetas_of_test_set(model: TwoTransformers, data: ImageData) -> Tensor:
    """``(N, 2, 2, 3)``: both transformers' thetas for every test image of ``data``, in order, on the CPU."""
    model = _check_two(model)
    checks.check_type(data, "data", ImageData, "an ImageData (stnlib.data)")
    test_loader = data.loaders(train.TEST_BATCH)[1]  # in order
    outs, _ = train.over_batches(model, test_loader, lambda m, x: train.to_cpu(m.thetas(x)))
    return torch.cat(outs)


def region_to_digit(thetas: Tensor, centres: Tensor) -> tuple[Tensor, Tensor]:
    """Each window's centre against the digit it reads, in normalized units: ``thetas`` ``(N, 2, 2, 3)`` (two
    windows), ``centres`` ``(N, 2, 2)`` (two digits' ``(x, y)``). Windows and digits are paired the way that puts
    the two windows' centres nearer in total. Returns ``(distances (N, 2), swapped (N,) bool)``: ``swapped`` means
    window 1 reads digit 2.

    >>> t = torch.zeros(1, 2, 2, 3); t[0, 0, :, 2] = torch.tensor([0.5, 0.0]); t[0, 1, :, 2] = torch.tensor([-0.5, 0.1])
    >>> d, swapped = region_to_digit(t, torch.tensor([[[-0.5, 0.0], [0.5, 0.0]]]))
    >>> [round(v, 3) for v in d[0].tolist()], swapped.tolist()
    ([0.0, 0.1], [True])
    """
    thetas = checks.check_tensor(thetas, "thetas", shape=("N", 2, 2, 3), kind="float")
    centres = checks.check_tensor(centres, "centres", shape=(len(thetas), 2, 2), kind="float")
    windows = thetas[..., 2]  # (N, 2, 2): each window's centre
    straight = (windows - centres).norm(dim=2)  # window k on digit k
    crossed = (windows - centres.flip(1)).norm(dim=2)  # window k on the other digit
    swapped = crossed.sum(1) < straight.sum(1)
    return torch.where(swapped[:, None], crossed, straight), swapped
