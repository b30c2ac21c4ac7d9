"""The fast CIFAR-10 network and recipe (stnlib.fast_cifar), and the collapse suspects' switches."""

import dataclasses

import pytest
import torch
from torch import nn

from stnlib import fast_cifar, train
from stnlib.data import ArrayDataset, load_dataset
from stnlib.models import cifar_stn_net
from stnlib.recipes import OURS_CIFAR, Recipe


@pytest.fixture(scope="module")
def tiny_cifar():
    return load_dataset("cifar10", profile="quick", data_dir=None).subset(96, 40)


def test_whitening_makes_patch_covariance_the_identity():
    torch.manual_seed(0)
    mix = torch.randn(3, 3)
    images = torch.einsum("ij,njhw->nihw", mix, torch.randn(200, 3, 16, 16)) + 0.3  # correlated channels
    images = images + 0.5 * images.roll(1, dims=-1)  # correlated neighbours
    conv = nn.Conv2d(3, 24, 2, bias=False)
    fast_cifar.init_whitening(conv, images, eps=0.0)
    with torch.no_grad():
        out = conv(images)  # (N, 24, 15, 15)
    first = out[:, :12].permute(0, 2, 3, 1).reshape(-1, 12)
    cov = first.T @ first / len(first)  # uncentred, as the whitening uses
    assert torch.allclose(cov, torch.eye(12), atol=1e-3)
    assert torch.equal(out[:, 12:], -out[:, :12])  # the second half is the negated first


def test_whitening_rejects_a_conv_of_the_wrong_width():
    with pytest.raises(ValueError, match="2\\*3\\*2\\*2"):
        fast_cifar.init_whitening(nn.Conv2d(3, 12, 2), torch.rand(4, 3, 8, 8))


def test_triangle_schedule_by_hand():
    total = 100  # peak at int(0.23 * 100) = 23
    assert fast_cifar._triangle(0, total) == pytest.approx(0.2)
    assert fast_cifar._triangle(23, total) == pytest.approx(1.0)
    assert fast_cifar._triangle(100, total) == pytest.approx(0.07)
    assert fast_cifar._triangle(11, total) == pytest.approx(0.2 + 0.8 * 11 / 23)


def test_param_groups_follow_the_decoupled_recipe():
    net = fast_cifar.fast_stn_net(fill=(0.0, 0.0, 0.0))
    recipe = dataclasses.replace(fast_cifar.FAST, stn_lr_scale=0.01)
    norms, rest, stn = fast_cifar._param_groups(net, recipe)
    scale = 1024 * (1 + 1 / (1 - recipe.momentum))
    lr = recipe.lr / scale
    assert norms["lr"] == pytest.approx(64 * lr) and rest["lr"] == pytest.approx(lr)
    assert stn["lr"] == pytest.approx(0.01 * lr) and stn["weight_decay"] == pytest.approx(rest["weight_decay"])
    # weight decay per step is the same for every group that has it: lr * wd_param = wd * batch / scale
    assert norms["lr"] * norms["weight_decay"] == pytest.approx(recipe.weight_decay * 1024 / scale)
    ids = [id(p) for g in (norms, rest, stn) for p in g["params"]]
    trainable = [p for p in net.parameters() if p.requires_grad]
    assert len(ids) == len(set(ids)) == len(trainable)  # every trainable parameter exactly once
    assert {id(p) for p in stn["params"]} == {id(p) for p in net.stn.parameters() if p.requires_grad}
    assert all(p.dim() == 1 for p in norms["params"])  # batch-norm shifts only (their scales are frozen)


def test_fast_nets_shapes_and_frozen_parts():
    x = torch.randn(2, 3, 64, 64)
    net = fast_cifar.fast_stn_net(in_size=64, view=32, family="similarity", init_zoom=2.0)
    assert net(x).shape == (2, 10)
    assert net.stn.out_size == (32, 32)
    cnn = fast_cifar.fast_stn_net(stn=False, in_size=64, view=32)
    assert cnn(x).shape == (2, 10) and cnn.resize is not None
    whiten = net.classifier[0]
    assert not whiten.weight.requires_grad and whiten.bias.requires_grad
    assert all(not m.weight.requires_grad for m in net.classifier.modules() if isinstance(m, nn.BatchNorm2d))


def test_random_regressor_init_makes_theta_depend_on_the_image():
    torch.manual_seed(0)
    x = torch.randn(4, 3, 32, 32)
    zero = cifar_stn_net().stn.eval()
    rand = cifar_stn_net(regressor_init_std=0.05, loc_downsample=1).stn.eval()
    assert not any(isinstance(m, nn.AvgPool2d) for m in rand.localization.modules())
    with torch.no_grad():
        assert zero.theta(x).std(0).max() == 0
        assert rand.theta(x).std(0).max() > 0


def test_train_fast_runs_records_evals_and_stops_at_a_target(tiny_cifar):
    torch.manual_seed(0)
    net = fast_cifar.fast_stn_net(fill=tiny_cifar.black)
    recipe = dataclasses.replace(fast_cifar.FAST, batch_size=32, stn_lr_scale=0.01)
    h = fast_cifar.train_fast(net, tiny_cifar, recipe, epochs=2, progress=False, eval_every_steps=2)
    assert [e.epoch for e in h.epochs] == [1, 2] and h.final.step == 6  # 96 // 32 = 3 steps per epoch
    assert [p.step for p in h.evals] == [2, 3, 4, 6]  # every 2 steps and at each epoch's end
    assert all(a.elapsed <= b.elapsed for a, b in zip(h.evals, h.evals[1:]))
    h2 = fast_cifar.train_fast(
        fast_cifar.fast_stn_net(), tiny_cifar, recipe, epochs=2, progress=False, eval_every_steps=1, target_acc=0.0
    )
    assert h2.stopped_early is not None and h2.final.step == 1


def test_predict_tta_averages_six_views():
    class Mean(nn.Module):  # logits = mean colour of each channel padded to 10: views differ only at borders
        def forward(self, x):
            return torch.nn.functional.pad(x[:, :, :3, :5].mean((2, 3)), (0, 7))

    data = load_dataset("cifar10", profile="quick", data_dir=None).subset(8, 4)
    x = ArrayDataset(data.test_images, data.test_labels, mean=data.mean, std=data.std)[:][0]
    model = Mean()
    p = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
    views = [x, x.flip(-1), p[..., :32, :32], p[..., :32, :32].flip(-1), p[..., 2:, 2:], p[..., 2:, 2:].flip(-1)]
    want = 0.25 * (model(views[0]) + model(views[1])) + 0.125 * sum(model(v) for v in views[2:])
    assert torch.allclose(fast_cifar.predict_tta(model, data), want, atol=1e-6)
    assert torch.allclose(fast_cifar.predict_tta(model, data, tta=False), model(x), atol=1e-6)


def test_stn_weight_decay_switch_in_the_generic_optimizer():
    net = cifar_stn_net()
    opt = train.make_optimizer(
        net, Recipe("no STN decay", optimizer="sgd", lr=0.1, weight_decay=5e-4, stn_weight_decay=False)
    )
    assert len(opt.param_groups) == 2
    stn_ids = {id(p) for p in net.stn.parameters()}
    for g in opt.param_groups:
        is_stn = {id(p) for p in g["params"]} <= stn_ids
        assert g["weight_decay"] == (0.0 if is_stn else 5e-4)
    recipe = dataclasses.replace(OURS_CIFAR, stn_weight_decay=False)
    assert "no weight decay on the STN" in recipe.describe()


def test_the_whole_canvas_baseline_reads_every_pixel_once_at_the_view_networks_cost():
    from stnlib import models

    full = fast_cifar.fast_stn_net(stn=False, in_size=64, view=64).eval()
    view = fast_cifar.fast_stn_net(stn=False, in_size=64, view=32)
    whiten = full.classifier[0]
    assert whiten.stride == (2, 2) and whiten.kernel_size == (2, 2)  # 2x2 patches side by side: each pixel once
    torch.nn.init.normal_(whiten.weight)  # train_fast sets these from the data; any full-rank filters do here
    x = torch.zeros(1, 3, 64, 64)
    for corner in ((0, 0), (63, 63), (0, 63)):  # a change in any corner pixel reaches the logits
        moved = x.clone()
        moved[0, :, corner[0], corner[1]] = 1.0
        assert not torch.allclose(full(moved), full(x)), corner
    cost = models.flops_per_image(full, (3, 64, 64)) / models.flops_per_image(view, (3, 64, 64))
    assert 1.0 <= cost < 1.5  # about the 32x32 view's cost, not 4x
    assert view.resize.mode == "area"  # the view baseline averages 2x2 blocks
