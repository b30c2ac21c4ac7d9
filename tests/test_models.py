import pytest
import torch
from torch import nn

from stnlib import affine, models
from stnlib.models import (
    Resize,
    SpatialTransformer,
    STNClassifier,
    conv_localization,
    count_parameters,
    course_net,
    lenet_bn,
    mnist_cnn,
    mnist_stn_net,
    tutorial_net,
)


def test_tutorial_net_parameter_count_matches_a_hand_count():
    # classifier: conv1 10*25+10, conv2 20*10*25+20, fc1 320*50+50, fc2 50*10+10
    classifier = 260 + 5020 + 16050 + 510
    # localization: conv 8*49+8, conv 10*8*25+10, fc 90*32+32, regressor 32*6+6
    localization = 400 + 2010 + 2912 + 198
    assert count_parameters(tutorial_net(stn=False)) == classifier == 21_840
    assert count_parameters(tutorial_net()) == classifier + localization == 27_360


@pytest.mark.parametrize(
    ("kwargs", "published"),
    [
        ({}, 39_884),  # tutorial net adapted to 3x32x32
        ({"loc_conv": (64, 128), "loc_hidden": 256}, 771_826),  # same classifier, large localization
    ],
)
def test_course_net_parameter_counts_match_the_write_ups(kwargs, published):
    assert count_parameters(course_net(**kwargs)) == published


@pytest.mark.parametrize(
    ("model", "shape"),
    [
        (tutorial_net(), (5, 1, 28, 28)),
        (course_net(), (5, 3, 32, 32)),
        (mnist_stn_net(), (5, 1, 28, 28)),
        (mnist_stn_net(42, out_size=28), (5, 1, 42, 42)),
        (mnist_stn_net(60, out_size=32), (5, 1, 60, 60)),
        (mnist_cnn(60, out_size=32), (5, 1, 60, 60)),
    ],
)
def test_models_give_one_score_per_class(model, shape):
    assert model.eval()(torch.randn(shape)).shape == (5, 10)


@pytest.mark.parametrize("out_size", [None, (20, 20)])
def test_untrained_transformer_is_the_identity(out_size):
    stn = mnist_stn_net(60, out_size=out_size[0] if out_size else None).stn.eval()
    x = torch.randn(3, 1, 60, 60)
    out, theta = stn.transform(x)
    assert torch.allclose(theta, affine.identity(3), atol=1e-7)
    want = affine.warp(x, affine.identity(3), out_size=out_size)
    assert torch.allclose(out, want, atol=1e-6)
    if out_size is None:
        assert torch.allclose(out, x, atol=1e-4)  # float32 round trip of randn values (|x| up to ~4)


def test_transformer_fill_paints_black_on_normalized_input():
    black = -0.1307 / 0.3081
    loc = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 4))
    stn = SpatialTransformer(loc, 4, fill=black)
    with torch.no_grad():
        stn.regressor.bias.copy_(affine.build_theta(scale_x=0.5, scale_y=0.5).flatten())  # zoom out
    out = stn(torch.full((1, 1, 8, 8), black))
    assert torch.allclose(out, torch.full_like(out, black), atol=1e-6)  # all black, no grey frame
    zero_padded = SpatialTransformer(loc, 4)
    zero_padded.load_state_dict(stn.state_dict())
    corner = float(zero_padded(torch.full((1, 1, 8, 8), black)).detach()[0, 0, 0, 0])
    assert corner == pytest.approx(0.0)  # the tutorial's grey


def test_bilinear_baseline_is_the_same_classifier_with_a_frozen_identity_transformer():
    stn_net, cnn = mnist_stn_net(60, out_size=32), mnist_cnn(60, out_size=32, resize="bilinear")
    assert cnn.stn is None
    assert count_parameters(stn_net) - count_parameters(cnn) == count_parameters(stn_net.stn)
    cnn.classifier.load_state_dict(stn_net.classifier.state_dict())
    x = torch.randn(2, 1, 60, 60)
    assert torch.allclose(stn_net.eval()(x), cnn.eval()(x), atol=1e-4)


def test_resize_matches_the_identity_warp():
    x = torch.rand(2, 1, 42, 42)
    warped = affine.warp(x, affine.identity(2), out_size=(28, 28))
    assert torch.allclose(Resize((28, 28), "bilinear")(x), warped, atol=1e-5)


def test_area_resize_averages_blocks_and_bilinear_reads_one_pixel_in_nine():
    x = torch.arange(36.0).view(1, 1, 6, 6)  # 6 -> 2: 3x3 blocks
    blocks = x.view(2, 3, 2, 3).permute(0, 2, 1, 3).reshape(2, 2, 9)
    assert torch.equal(Resize((2, 2))(x)[0, 0], blocks.mean(-1))  # area: every pixel counts
    assert torch.equal(Resize((2, 2), "bilinear")(x)[0, 0], x[0, 0, 1::3, 1::3])  # the centre of each block only
    assert mnist_cnn(60, out_size=20).resize.mode == "area"  # the baseline's default
    full = mnist_cnn(60)  # no out_size: the classifier reads the whole canvas, nothing resized
    assert full.resize(torch.ones(1, 1, 60, 60)).shape == (1, 1, 60, 60)


@pytest.mark.parametrize("size", [42, 30, 21, 60, 28])
def test_lenet_bn_takes_any_size_and_keeps_every_pixel(size):
    net = lenet_bn(size).eval()
    assert net(torch.zeros(2, 1, size, size)).shape == (2, 10)
    x = torch.zeros(1, 1, size, size)
    x[..., -1, -1] = 1.0  # the last pixel changes the logits: rounding pooling up keeps the last row and column
    assert not torch.allclose(net(x), net(torch.zeros_like(x)))


def test_flops_per_image_counts_convolutions_by_hand():
    conv = nn.Conv2d(1, 4, 3, padding=1, bias=False)  # 8x8 outputs x 4 channels x 9 multiply-adds x 2
    assert models.flops_per_image(conv, (1, 8, 8)) == 2 * 8 * 8 * 4 * 9
    full, area = mnist_cnn(60), mnist_cnn(60, out_size=20)
    assert models.flops_per_image(full, (1, 60, 60)) > 5 * models.flops_per_image(area, (1, 60, 60))


def test_bad_model_arguments_raise():
    with pytest.raises(ValueError, match="in_size must be"):
        lenet_bn(3)
    with pytest.raises(ValueError, match="resize is for the baseline only"):
        STNClassifier(lenet_bn(), mnist_stn_net().stn, resize=(28, 28))


@pytest.mark.parametrize(
    ("family", "init_zoom", "expected"),
    [
        ("affine", 1.0, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),
        ("similarity", 1.0, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),
        ("attention", 2.0, [[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]]),  # zoomed in 2x: reads the central half
        ("shift", 2.0, [[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]]),
    ],
)
def test_untrained_transformer_applies_its_starting_theta(family, init_zoom, expected):
    loc, feats = conv_localization(1, 28)
    stn = SpatialTransformer(loc, feats, family=family, init_zoom=init_zoom)
    theta = stn.theta(torch.randn(3, 1, 28, 28))
    assert torch.allclose(theta, torch.tensor(expected).expand(3, 2, 3), atol=1e-7)
    assert stn.init_zoom == init_zoom


def test_families_can_only_produce_their_own_thetas():
    loc, feats = conv_localization(1, 28)
    x = torch.randn(16, 1, 28, 28)
    for family in ("similarity", "attention"):
        stn = SpatialTransformer(loc, feats, family=family)
        torch.nn.init.normal_(stn.regressor.weight, std=1.0)
        parts = affine.decompose(stn.theta(x).detach())
        assert torch.allclose(parts["shear"], torch.zeros(16), atol=1e-4), family  # never shears
        assert torch.allclose(parts["scale_x"].abs(), parts["scale_y"].abs(), atol=1e-4), family  # never stretches
        if family == "attention":
            assert torch.all((parts["rotation"].abs() < 1e-3) | ((parts["rotation"].abs() - 180).abs() < 1e-3))
    shift = SpatialTransformer(loc, feats, family="shift", init_zoom=2.0)
    torch.nn.init.normal_(shift.regressor.weight, std=1.0)
    theta = shift.theta(x)
    assert torch.equal(theta[:, :, :2].detach(), torch.tensor([[0.5, 0.0], [0.0, 0.5]]).expand(16, 2, 2))  # fixed zoom
    assert theta[:, :, 2].std(0).min() > 0  # only the window's position depends on the image
    theta[:, :, 2].sum().backward()
    assert shift.regressor.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="family must be one of 'affine', .*got str 'shear'"):
        SpatialTransformer(loc, feats, family="shear")
    with pytest.raises(ValueError, match="init_zoom must be a number > 0"):
        SpatialTransformer(loc, feats, init_zoom=0)


def test_distorted_mnist_designs_keep_the_baselines_view():
    rts, clutter = models.rts_stn_net(fill=-0.4), models.clutter_stn_net(fill=-0.4)
    assert rts.stn.out_size == (models.RTS_VIEW,) * 2 and clutter.stn.out_size == (models.CLUTTER_VIEW,) * 2
    assert rts(torch.randn(2, 1, 42, 42)).shape == clutter(torch.randn(2, 1, 60, 60)).shape == (2, 10)
    # the baselines use the identical classifier
    assert count_parameters(rts.classifier) == count_parameters(mnist_cnn(42, out_size=models.RTS_VIEW).classifier)
    clutter_cnn = mnist_cnn(60, out_size=models.CLUTTER_VIEW)
    assert count_parameters(clutter.classifier) == count_parameters(clutter_cnn.classifier)


def test_theta_and_sampling_stay_float32_under_bf16_autocast():
    # regression (issue 10, defect 8): under bf16 autocast theta came out of the regressor in bfloat16
    torch.manual_seed(0)
    stn = mnist_stn_net().stn.eval()
    torch.nn.init.normal_(stn.regressor.weight, std=0.1)
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        features = stn.localization(x)
        out, theta = stn.transform(x)
    assert features.dtype == torch.bfloat16  # the localization net itself still runs in bf16
    assert theta.dtype == torch.float32
    want = torch.nn.functional.linear(features.float(), stn.regressor.weight, stn.regressor.bias).view(-1, 2, 3)
    torch.testing.assert_close(theta, want, atol=1e-6, rtol=0)
    torch.testing.assert_close(out, affine.warp(x, theta), atol=1e-6, rtol=0)  # sampled on an fp32 grid


def test_a_wrong_input_size_is_a_clear_error():
    # regression (issue 10, defect 6): a 28x28 model fed 32x32 gave "mat1 and mat2 shapes cannot be multiplied"
    with pytest.raises(ValueError, match="built for 28x28 inputs, got 32x32"):
        mnist_stn_net()(torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match="built for 42x42 inputs, got 60x60"):
        models.rts_stn_net()(torch.randn(2, 1, 60, 60))
    # a localization net without a fixed size (no in_size) takes any size
    any_size = SpatialTransformer(torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten()), 4)
    assert any_size(torch.randn(2, 1, 8, 8)).shape == (2, 1, 8, 8)
    assert any_size(torch.randn(2, 1, 12, 10)).shape == (2, 1, 12, 10)
