"""Where a spatial transformer sits: on the feature maps inside the network instead of in front of it.

:class:`FeatureMapTransformer` warps the feature maps of a first block instead of the image. Its theta is in the
maps' normalized coordinates, which are the image's (a same-padded convolution and a 2x pooling keep the frame
``[-1, 1]``), so it reads back as :mod:`stnlib.recovery` reads an input-level one. :func:`feature_map_stn_net` puts
it after :func:`~stnlib.models.lenet_bn`'s first block on RTS MNIST: the same classifier layers as
:func:`stnlib.table1.table1_net` ``("rts", "affine")``, which puts the transformer in front.

>>> net = feature_map_stn_net()
>>> tuple(net(torch.zeros(2, 1, 42, 42)).shape), tuple(net.stn.theta(torch.zeros(2, 1, 42, 42)).shape)
((2, 10), (2, 2, 3))
"""

from __future__ import annotations

import torch  # noqa: F401 (the doctest builds its input with it)
from torch import Tensor, nn

from . import checks, models
from .checks import check_int
from .distort import RTS_CANVAS
from .models import RTS_VIEW, SpatialTransformer, STNClassifier


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


def feature_map_stn_net(in_size: int = RTS_CANVAS, view: int = RTS_VIEW) -> STNClassifier:
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
