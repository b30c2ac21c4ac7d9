"""A transformer on feature maps (stnlib.placement), against a hand-built equivalent."""

import pytest
import torch
import torch.nn.functional as F

from stnlib import affine, checks
from stnlib.placement import FeatureMapTransformer, feature_map_stn_net


def test_feature_map_transformer_warps_the_first_blocks_maps():
    torch.manual_seed(0)
    net = feature_map_stn_net().eval()
    stn = net.stn
    torch.nn.init.normal_(stn.regressor.weight, std=0.05)  # a theta that depends on the maps
    x = torch.randn(3, 1, 42, 42)
    maps = stn.block(x)
    assert maps.shape == (3, 32, 21, 21)
    theta = stn.theta(x)
    view, theta_t = stn.transform(x)
    grid = F.affine_grid(theta, [3, 32, 14, 14], align_corners=False)
    assert torch.allclose(theta_t, theta)
    assert torch.allclose(view, F.grid_sample(maps, grid, align_corners=False), atol=1e-5)
    assert not torch.allclose(theta, affine.identity().expand(3, -1, -1), atol=1e-3)
    assert torch.allclose(net(x), net.classifier(view), atol=1e-5)


def test_feature_map_transformer_starts_at_the_identity_and_keeps_the_tail_of_lenet():
    net = feature_map_stn_net().eval()
    x = torch.randn(2, 1, 42, 42)
    assert torch.allclose(net.stn.theta(x), affine.identity().expand(2, -1, -1))
    assert [type(m).__name__ for m in net.stn.block] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]
    assert net.classifier[0].in_channels == 32 and net.classifier[-1].out_features == 10


def test_feature_map_transformer_takes_images_of_its_size_only():
    with pytest.raises(ValueError, match="21x21"):
        feature_map_stn_net()(torch.zeros(1, 1, 60, 60))
    with pytest.raises(checks.ArgumentTypeError, match="block"):
        FeatureMapTransformer("conv", torch.nn.Flatten(), 4)
