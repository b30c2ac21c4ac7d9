"""Transformers on feature maps and side by side (stnlib.placement), against hand-built equivalents."""

import pytest
import torch
import torch.nn.functional as F

from stnlib import affine, checks
from stnlib.placement import FeatureMapTransformer, TwoTransformers, addition_cnn, feature_map_stn_net, two_stn_adder


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


def test_two_transformers_start_apart_and_share_one_encoder():
    adder = two_stn_adder(60, start_zoom=2.0, start_shift=0.4).eval()
    x = torch.randn(4, 1, 60, 60)
    thetas = adder.thetas(x)
    assert thetas.shape == (4, 2, 2, 3)
    expected = torch.tensor([[[0.5, 0.0, -0.4], [0.0, 0.5, 0.0]], [[0.5, 0.0, 0.4], [0.0, 0.5, 0.0]]])
    assert torch.allclose(thetas, expected.expand(4, -1, -1, -1))
    views = adder.views(x)
    assert views.shape == (4, 2, 1, 28, 28)
    left = F.grid_sample(x, F.affine_grid(thetas[:, 0], [4, 1, 28, 28], align_corners=False), align_corners=False)
    assert torch.allclose(views[:, 0], left, atol=1e-5)
    by_hand = adder.head(torch.cat([adder.encoder(views[:, 0]), adder.encoder(views[:, 1])], 1))
    assert torch.allclose(adder(x), by_hand, atol=1e-5) and by_hand.shape == (4, 19)


def test_two_transformers_need_two():
    adder = two_stn_adder(60)
    with pytest.raises(checks.ArgumentTypeError, match="two SpatialTransformers"):
        TwoTransformers([adder.stns[0]], adder.encoder, adder.head)
    with pytest.raises(checks.ArgumentTypeError, match=r"stns\[1\]"):
        TwoTransformers([adder.stns[0], adder.encoder], adder.encoder, adder.head)


def test_addition_cnn_reads_the_whole_canvas():
    assert addition_cnn(60)(torch.zeros(2, 1, 60, 60)).shape == (2, 19)
