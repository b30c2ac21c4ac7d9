"""Where a spatial transformer sits: :class:`FeatureMapTransformer` warps the feature maps of a first block instead
of the image. Its theta is in the maps' normalized coordinates, which are the image's (same-padded convolutions and
a 2x pooling keep the frame ``[-1, 1]``), so :mod:`stnlib.recovery` reads it as an input-level one."""

from __future__ import annotations

from torch import Tensor, nn

from . import checks, models
from .checks import check_int
from .distort import RTS_CANVAS
from .models import RTS_VIEW, SpatialTransformer, STNClassifier


class FeatureMapTransformer(SpatialTransformer):
    """``(B, C, H, W) -> (B, C', h, w)``: ``block`` (the network's first layers), then a :class:`SpatialTransformer`
    on its feature maps: ``localization`` reads the maps, ``out_size`` is in map pixels; ``theta(x)`` and
    ``transform(x)`` take the image ``x``."""

    def __init__(self, block: nn.Module, localization: nn.Module, features: int, **kw) -> None:
        super().__init__(localization, features, **kw)
        self.block = checks.check_type(block, "block", nn.Module, "a torch.nn.Module (the first layers)")

    def theta(self, x: Tensor) -> Tensor:
        return super().theta(self.block(x))

    def transform(self, x: Tensor) -> tuple[Tensor, Tensor]:
        maps = self.block(x)
        theta = super().theta(maps)
        return self._warp(maps, theta), theta


def feature_map_stn_net(in_size: int = RTS_CANVAS, view: int = RTS_VIEW) -> STNClassifier:
    """:func:`~stnlib.models.lenet_bn` ``(view)`` with a transformer between its first block and the rest: it reads
    the block's 32 maps of ``ceil(in_size / 2)`` with :func:`~stnlib.models.bn_localization` and samples a
    ``view / 2`` window of them, starting at the identity. The classifier layers are those of
    :func:`stnlib.table1.table1_net` ``("rts", "affine")``, which puts the transformer in front."""
    in_size, view = check_int(in_size, "in_size", min=8), check_int(view, "view", min=8)
    layers = models.lenet_bn(view)
    maps = -(-in_size // 2)  # the first block's pooling rounds up
    loc, features = models.bn_localization(32, maps, channels=(64, 64), hidden=128, kernel=(5, 3), downsample=1)
    stn = FeatureMapTransformer(layers[:4], loc, features, out_size=(view // 2, view // 2))
    return STNClassifier(layers[4:], stn)
