"""CIFAR-10 pieces: the course models, our network, recipes, augmentation order, display (scoring: test_stats)."""

import dataclasses
import math

import pytest
import torch

from stnlib import affine, figures, train
from stnlib.augment import RandomCropFlip
from stnlib.data import CIFAR10_MEAN, CIFAR10_STD, ImageData, load_dataset
from stnlib.models import bn_localization, cifar_stn_net, count_parameters, resnet9
from stnlib.recipes import COURSE_BATCH32, COURSE_MODELS, OURS_CIFAR, Recipe


@pytest.fixture(scope="module")
def tiny_cifar():
    return load_dataset("cifar10", profile="quick", data_dir=None).subset(64, 40)


# ------------------------------------------------------------------ models
@pytest.mark.parametrize(("index", "published"), [(0, 39_884), (1, 771_826)])
def test_course_models_match_their_published_parameter_counts(index, published):
    assert count_parameters(COURSE_MODELS[index].build()) == published


def test_wide_course_model_count_by_hand():
    # classifier: conv 3->16 k5 (16*75+16), conv 16->32 k5 (32*400+32), fc 800->1024, fc 1024->10
    classifier = 1216 + 12832 + (800 * 1024 + 1024) + (1024 * 10 + 10)
    # large localization: conv 3->64 k7 (32 -> 26, pool 13), conv 64->128 k5 (13 -> 9, pool 4),
    # fc 128*4*4 = 2048 -> 256 (the "fc 2048->256->6"), regressor 256 -> 6
    localization = (64 * 147 + 64) + (128 * 64 * 25 + 128) + (2048 * 256 + 256) + (256 * 6 + 6)
    wide = COURSE_MODELS[2]
    assert count_parameters(wide.build(stn=False)) == classifier
    assert count_parameters(wide.build()) == classifier + localization


def test_course_models_keep_their_zero_padding():
    for c in COURSE_MODELS:
        assert c.build().stn.has_fill is False  # faithful: grid_sample's zeros, grey on [-1, 1] input


def test_resnet9_shapes_and_parameter_count():
    net = resnet9(16)
    assert net.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    # conv-BN pairs: 3x3 convs without bias (k*k*cin*cout) + BN (2*cout)
    cb = lambda cin, cout: 9 * cin * cout + 2 * cout  # noqa: E731
    want = cb(3, 16) + cb(16, 32) + 2 * cb(32, 32) + cb(32, 64) + cb(64, 128) + 2 * cb(128, 128) + 128 * 10 + 10
    assert count_parameters(net) == want


def test_our_stn_starts_as_the_identity_and_paints_black():
    black = tuple(-m / s for m, s in zip(CIFAR10_MEAN, CIFAR10_STD))
    net = cifar_stn_net(fill=black).eval()
    x = torch.randn(3, 3, 32, 32)
    out, theta = net.stn.transform(x)
    assert torch.allclose(theta, affine.identity(3), atol=1e-7)
    assert torch.allclose(out, x, atol=1e-4)
    assert torch.allclose(net.stn.fill, torch.tensor(black))
    assert count_parameters(net) - count_parameters(cifar_stn_net(stn=False)) == count_parameters(net.stn)


def test_bn_localization_sizes():
    loc, feats = bn_localization(3, 32)
    assert loc(torch.randn(2, 3, 32, 32)).shape == (2, feats)
    loc, feats = bn_localization(1, 60, channels=(16, 32), hidden=64, kernel=5)  # 60 -> 30 -> 15 -> 7
    assert loc(torch.randn(2, 1, 60, 60)).shape == (2, 64)
    with pytest.raises(ValueError, match="too small for 3 poolings"):
        bn_localization(3, 12, channels=(8, 8, 8))
    loc, _ = bn_localization(1, 42, channels=(4, 8), kernel=(5, 3), downsample=1)
    assert [m.kernel_size for m in loc if isinstance(m, torch.nn.Conv2d)] == [(5, 5), (3, 3)]
    with pytest.raises(ValueError, match="one size per layer"):
        bn_localization(1, 42, channels=(4, 8), kernel=(5, 3, 3))


# ------------------------------------------------------------------ recipes and training
def test_recipe_prepare_sets_the_course_normalization(tiny_cifar):
    course = COURSE_BATCH32.prepare(tiny_cifar)
    assert course.mean == (0.5, 0.5, 0.5) and course.std == (0.5, 0.5, 0.5)
    assert course.black == (-1.0, -1.0, -1.0)  # black is -1 on the course scale; their zero padding is grey
    assert OURS_CIFAR.prepare(tiny_cifar) is tiny_cifar


def test_augmentation_runs_before_normalization(tiny_cifar):
    """Padding added by the crop must come out as normalized *black*, which happens only if the
    crop sees [0, 1] images and normalization runs after it (the STN then sees augmented input)."""
    white = ImageData(
        torch.full((8, 3, 32, 32), 255, dtype=torch.uint8),
        torch.zeros(8, dtype=torch.int64),
        tiny_cifar.test_images[:2],
        tiny_cifar.test_labels[:2],
        tiny_cifar.test_is_exact[:2],
        tiny_cifar.classes,
        tiny_cifar.info,
        tiny_cifar.mean,
        tiny_cifar.std,
    )
    loader, _ = white.loaders(8, transform=RandomCropFlip(pad=4, flip_p=0.0, seed=1))
    x, _ = next(iter(loader))
    black = torch.tensor(white.black).view(1, 3, 1, 1)
    white_n = ((1 - torch.tensor(white.mean)) / torch.tensor(white.std)).view(1, 3, 1, 1)
    is_black = torch.isclose(x, black.expand_as(x), atol=1e-5).all(1)
    is_white = torch.isclose(x, white_n.expand_as(x), atol=1e-5).all(1)
    assert (is_black | is_white).all()  # nothing else: no grey zeros from padding after normalization
    assert is_black.any() and is_white.any()  # the random crops did shift some images


def test_stn_lr_scale_gives_the_transformer_its_own_group_and_keeps_the_ratio():
    net = cifar_stn_net(fill=(0.0, 0.0, 0.0))
    recipe = Recipe("stn x0.1", optimizer="sgd", lr=0.1, momentum=0.9, nesterov=True, stn_lr_scale=0.1, warmup=0.25)
    opt = train.make_optimizer(net, recipe)
    assert [g["lr_scale"] for g in opt.param_groups] == [1.0, 0.1]
    stn_params = {id(p) for p in net.stn.parameters()}
    assert {id(p) for p in opt.param_groups[1]["params"]} == stn_params
    assert {id(p) for p in opt.param_groups[0]["params"]} == {id(p) for p in net.parameters()} - stn_params
    assert opt.param_groups[0]["nesterov"] is True
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.1, 0.01])
    sched = train.make_scheduler(opt, recipe, total_steps=20)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.1 / 25, 0.01 / 25])  # one-cycle starts at 1/25
    for step in range(19):
        opt.step()
        sched.step()
        lrs = [g["lr"] for g in opt.param_groups]
        assert lrs[1] == pytest.approx(0.1 * lrs[0]), step  # the ratio holds at every step
        if step == 3:  # the peak: step 0.25 * 20 - 1 = 4 (the step just scheduled)
            assert lrs == pytest.approx([0.1, 0.01])
    with pytest.raises(ValueError, match="stn_lr_scale"):
        dataclasses.replace(recipe, stn_lr_scale=0.0)


def test_unknown_precision_is_a_clear_error(tiny_cifar):
    with pytest.raises(ValueError, match="precision must be one of .*got str 'fp8'"):
        dataclasses.replace(OURS_CIFAR, precision="fp8")
    _, test = tiny_cifar.loaders(32)
    with pytest.raises(ValueError, match="precision must be one of .*got str 'fp8'"):
        train.evaluate(cifar_stn_net(stn=False), test, precision="fp8")


def test_bf16_channels_last_training_runs_and_evaluates(tiny_cifar):
    net = cifar_stn_net(fill=tiny_cifar.black)
    h = train.fit(net, tiny_cifar, OURS_CIFAR, epochs=1, progress=False)
    assert h.final.test_acc is not None and math.isfinite(h.final.train_loss) and h.final.step == 1  # 64 < 256
    conv = next(m for m in net.classifier.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)


# ------------------------------------------------------------------ scoring
def test_normalized_cifar_images_are_shown_in_their_original_colours(tiny_cifar):
    raw = tiny_cifar.test_images[:1].float() / 255  # (1, 3, 32, 32) in [0, 1]
    mean, std = torch.tensor(tiny_cifar.mean).view(1, 3, 1, 1), torch.tensor(tiny_cifar.std).view(1, 3, 1, 1)
    normalized = (raw - mean) / std
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    figures.imshow(ax, normalized[0], mean=tiny_cifar.mean, std=tiny_cifar.std)
    shown = torch.as_tensor(ax.images[0].get_array().data)  # (H, W, 3) as handed to matplotlib
    assert torch.allclose(shown, raw[0].permute(1, 2, 0), atol=1e-5)
