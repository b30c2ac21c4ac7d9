"""Unit tests for :mod:`stnlib.train` on a tiny synthetic task (fast, CPU, offline).

The task (``make_quadrants`` in conftest): 8x8 images of noise with one bright 4x4 quadrant; the
label (0..3) is the quadrant. A linear model solves it, so "it learned" is a clear signal.
Independent truth: ``F.cross_entropy`` / hand-counted accuracies, a hand-written SGD step, a hand
loop over the test set, PyTorch's one-cycle formula, the identity theta for untrained STNs.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import math
import time

import numpy as np
import PIL.Image
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from stnlib import affine, gifs
from stnlib.env import pick_device
from stnlib.gifs import ThetaSnapshots
from stnlib.models import SpatialTransformer, STNClassifier
from stnlib.recipes import Recipe
from stnlib.train import (
    Callback,
    EpochStats,
    EvalPoint,
    History,
    evaluate,
    fit,
    make_optimizer,
    make_scheduler,
    predict,
    stn_thetas,
    train_step,
)

STEPS_PER_EPOCH = 8  # 256 samples / batch 32
#: Adam at a constant lr 1e-2, batch 32: solves the quadrant task in a couple of epochs.
QUICK = Recipe("quick", optimizer="adam", lr=1e-2, scheduler=None, batch_size=32)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: one intra-op thread is much faster than waking a pool for each op (and keeps CPU use modest)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _no_device_env(monkeypatch):
    monkeypatch.delenv("STNLIB_DEVICE", raising=False)
    monkeypatch.delenv("STNLIB_PRECISION", raising=False)


@pytest.fixture
def data(make_quadrants):
    return make_quadrants()  # 256 train, 128 test


# ------------------------------------------------------------------ helpers
def mlp(seed: int = 0, hidden: int = 16, dropout: float = 0.0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 4))


def tiny_stn(seed: int = 0, dropout: float = 0.0) -> STNClassifier:
    torch.manual_seed(seed)
    loc = nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.ReLU(), nn.Dropout(dropout))
    return STNClassifier(nn.Sequential(nn.Flatten(), nn.Linear(64, 4)), SpatialTransformer(loc, 8))


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def quick_fit(model: nn.Module, data, recipe: Recipe = QUICK, **kw) -> History:
    return fit(model, data, recipe, **{"epochs": 1, "device": "cpu", "progress": False, **kw})


def normalized_test_images(data, mean: float, std: float) -> torch.Tensor:
    return (data.test_images.float() / 255 - mean) / std


# ---------------------------------------------------------------- training
def test_fit_learns_the_quadrant_task(data):
    h = quick_fit(mlp(), data, epochs=3)
    assert len(h.epochs) == 3 and h.stopped_early is None
    assert [e.epoch for e in h.epochs] == [1, 2, 3]
    assert [e.step for e in h.epochs] == [8, 16, 24]
    assert h.epochs[-1].train_loss < 0.5 * h.epochs[0].train_loss
    assert h.final.test_acc > 90.0 and h.final.train_acc > 90.0  # chance is 25%
    assert h.final.test_loss is not None and h.final.test_loss < math.log(4)
    assert all(e.seconds > 0 and e.lr == pytest.approx(1e-2) for e in h.epochs)
    assert [e.elapsed for e in h.epochs] == pytest.approx([sum(e.seconds for e in h.epochs[: i + 1]) for i in range(3)])
    assert h.best_test_acc == max(e.test_acc for e in h.epochs)
    assert [p.step for p in h.evals] == [8, 16, 24]  # one evaluation per epoch without eval_every_steps


def test_fit_prints_one_line_per_epoch(data, capsys):
    h = quick_fit(mlp(), data, epochs=2, progress=True)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2") and lines[1].startswith("epoch 2/2")
    assert f"test {h.final.test_acc:5.2f}%" in lines[1] and f"step {16:>6}" in lines[1]
    quick_fit(mlp(), data, progress=False)
    assert capsys.readouterr().out == ""


def test_fit_leaves_model_in_eval_mode_and_checks_arguments(data):
    model = mlp()
    quick_fit(model, data)
    assert not model.training and not any(m.training for m in model.modules())
    for bad in ({"epochs": 0}, {"eval_every_steps": 0}, {"time_budget_s": -1.0}):
        with pytest.raises(ValueError, match=f"{next(iter(bad))} must be"):  # names the argument
            quick_fit(model, data, **bad)


def test_eval_every_steps_records_evals_and_time_to(data):
    h = quick_fit(mlp(), data, epochs=2, eval_every_steps=3)
    # every 3 steps plus each epoch end (8, 16); no step evaluated twice
    assert [p.step for p in h.evals] == [3, 6, 8, 9, 12, 15, 16]
    elapsed = [p.elapsed for p in h.evals]
    assert elapsed == sorted(elapsed) and elapsed[-1] == pytest.approx(h.final.elapsed)
    assert h.evals[-1].test_acc == h.final.test_acc and h.evals[2].test_acc == h.epochs[0].test_acc
    assert h.time_to(101.0) is None and h.steps_to(101.0) is None
    first = next(p for p in h.evals if p.test_acc >= 50.0)
    assert h.time_to(50.0) == first.elapsed and h.steps_to(50.0) == first.step


def test_history_helpers_on_hand_made_records():
    stats = EpochStats(1, 30, 0.5, 80.0, 0.4, 99.5, 3.0, 3.0, 1e-3)
    h = History([stats], [EvalPoint(10, 1.0, 50.0), EvalPoint(20, 2.0, 95.0), EvalPoint(30, 3.0, 99.5)])
    assert h.time_to(95.0) == 2.0 and h.time_to(99.0) == 3.0 and h.time_to(99.9) is None
    assert h.steps_to(40.0) == 10 and h.steps_to(95.0) == 20
    assert h.best_test_acc == 99.5 and h.final is stats
    assert History().best_test_acc is None
    with pytest.raises(ValueError, match="empty"):
        _ = History().final


def test_target_acc_stops_early(data):
    h = quick_fit(mlp(), data, epochs=20, eval_every_steps=2, target_acc=90.0)
    assert len(h.epochs) < 20 and h.stopped_early is not None and "target_acc" in h.stopped_early
    assert h.evals[-1].test_acc >= 90.0 and all(p.test_acc < 90.0 for p in h.evals[:-1])
    assert h.final.step == h.evals[-1].step and h.final.test_acc == h.evals[-1].test_acc
    assert h.time_to(90.0) == h.evals[-1].elapsed


def test_target_acc_reached_at_an_epoch_end(data):
    h = quick_fit(mlp(), data, epochs=20, target_acc=90)
    assert 1 <= len(h.epochs) < 20 and "target_acc" in (h.stopped_early or "")
    assert h.final.test_acc >= 90.0 and h.final.step == len(h.epochs) * STEPS_PER_EPOCH
    assert all(e.test_acc < 90.0 for e in h.epochs[:-1])


def test_time_budget_stops_after_the_current_step(data):
    h = quick_fit(mlp(), data, epochs=5, time_budget_s=0.0)
    assert h.stopped_early is not None and "time budget" in h.stopped_early
    assert len(h.epochs) == 1 and h.final.step == 1  # a partial epoch, still evaluated
    assert h.final.test_acc is not None and [p.step for p in h.evals] == [1]


def test_training_clock_excludes_evaluation_and_callbacks(data):
    class SlowToEvaluate(nn.Module):  # every evaluation batch takes 50 ms
        def __init__(self) -> None:
            super().__init__()
            self.net = mlp()

        def forward(self, x):
            if not self.training:
                time.sleep(0.05)
            return self.net(x)

    class SlowCallback(Callback):
        def on_step_end(self, model, step, epoch):
            time.sleep(0.05)

    start = time.perf_counter()
    h = quick_fit(SlowToEvaluate(), data, epochs=2, eval_every_steps=1, callbacks=[SlowCallback()])
    wall = time.perf_counter() - start
    assert len(h.evals) == 16 and wall > 16 * 0.1  # 16 evaluations and 16 callbacks slept
    assert h.final.elapsed < 0.5 * 16 * 0.05  # 16 tiny steps take milliseconds: none of the sleeping counted


def test_seed_makes_fits_identical(data):
    recipe = dataclasses.replace(QUICK, augment_pad=1)  # shuffling, augmentation and dropout all draw randomness
    runs = []
    for i, seed in enumerate((7, 7, 8)):
        model = mlp(seed=0, dropout=0.3)
        torch.rand(i + 1)  # whatever the global generator did before, fit's seed decides
        h = quick_fit(model, data, recipe, epochs=2, seed=seed)
        stats = [(e.step, e.train_loss, e.train_acc, e.test_loss, e.test_acc, e.lr) for e in h.epochs]
        runs.append((weights(model), stats))
    assert same_weights(runs[0][0], runs[1][0]) and runs[0][1] == runs[1][1]
    assert not same_weights(runs[0][0], runs[2][0]) and runs[0][1] != runs[2][1]


def test_callback_hooks_are_called_in_order_with_their_arguments(data):
    class Recorder(Callback):
        def __init__(self) -> None:
            self.calls: list[tuple] = []
            self.models: set[int] = set()
            self.stats: list[EpochStats] = []

        def on_train_begin(self, model):
            self.models.add(id(model))
            self.calls.append(("begin", next(model.parameters()).device.type))

        def on_step_end(self, model, step, epoch):
            self.models.add(id(model))
            self.calls.append(("step", step, epoch, model.training))

        def on_epoch_end(self, model, stats):
            self.models.add(id(model))
            self.stats.append(stats)
            self.calls.append(("epoch", stats.epoch, stats.step))

    rec, model = Recorder(), mlp()
    h = quick_fit(model, data, epochs=2, callbacks=[rec], eval_every_steps=4)
    # steps run in train mode, also right after an evaluation (steps 4, 8, ...)
    steps = [("step", s, 1 + (s - 1) // STEPS_PER_EPOCH, True) for s in range(1, 17)]
    assert rec.calls == [("begin", "cpu"), *steps[:8], ("epoch", 1, 8), *steps[8:], ("epoch", 2, 16)]
    assert rec.models == {id(model)} and rec.stats == h.epochs
    assert not hasattr(Callback, "on_train_end")
    Callback().on_epoch_end(mlp(), EpochStats(1, 1, 0.0, 0.0, None, None, 0.0, 0.0, 0.1))  # base hooks are no-ops


def test_non_finite_loss_raises_before_the_step_is_applied(data):
    class NaNAt(nn.Module):
        """A linear model whose ``bad``-th training forward pass returns NaN."""

        def __init__(self, bad: int) -> None:
            super().__init__()
            self.fc, self.bad, self.calls = nn.Linear(64, 4), bad, 0

        def forward(self, x):
            out = self.fc(x.flatten(1))
            if self.training:
                self.calls += 1
                if self.calls == self.bad:
                    out = out * float("nan")
            return out

    class LastWeights(Callback):
        def on_step_end(self, model, step, epoch):
            self.after = (step, weights(model))

    model = NaNAt(bad=1)
    before = weights(model)
    with pytest.raises(FloatingPointError, match=r"epoch 1, step 1: loss is nan .*lower lr"):
        quick_fit(model, data, epochs=2)
    assert same_weights(before, weights(model))
    model, last = NaNAt(bad=11), LastWeights()
    with pytest.raises(FloatingPointError, match=r"epoch 2, step 11: loss is nan"):
        quick_fit(model, data, epochs=2, callbacks=[last])
    assert last.after[0] == 10 and same_weights(last.after[1], weights(model))  # step 11 was not applied


def one_cycle_lr(step: int, total: int, peak: float, warmup: float = 0.3) -> float:
    """PyTorch's one-cycle lr before step ``step`` (0-based), by hand: cosine from ``peak / 25`` up to
    ``peak`` at step ``warmup * total - 1``, then cosine down to ``peak / 25 / 1e4`` at step ``total - 1``."""
    start, end, top = peak / 25, peak / 25 / 1e4, warmup * total - 1
    a, b, pct = (start, peak, step / top) if step <= top else (peak, end, (step - top) / (total - 1 - top))
    return b + (a - b) * (1 + math.cos(math.pi * pct)) / 2


def test_fit_uses_the_recipes_schedule(data):
    for optimizer in ("adam", "sgd"):
        constant = quick_fit(mlp(), data, Recipe("c", optimizer=optimizer, lr=0.1, scheduler=None), epochs=3)
        assert [e.lr for e in constant.epochs] == pytest.approx([0.1] * 3)
        h = quick_fit(mlp(), data, Recipe("1c", optimizer=optimizer, lr=0.1, batch_size=32), epochs=3)
        # EpochStats.lr: the lr of each epoch's last step, steps 7, 15, 23 counting from 0
        assert [e.lr for e in h.epochs] == pytest.approx([one_cycle_lr(s, 24, 0.1) for s in (7, 15, 23)], rel=1e-6)


# -------------------------------------------------------- optimizers/schedules
def test_make_optimizer_details():
    model = mlp()
    adam = make_optimizer(model, Recipe("a", optimizer="adam", lr=0.02, weight_decay=1e-4))
    assert type(adam) is torch.optim.Adam and len(adam.param_groups) == 1  # no .stn: one group
    assert adam.defaults["lr"] == 0.02 and adam.defaults["weight_decay"] == 1e-4
    nesterov = make_optimizer(model, Recipe("n", optimizer="sgd", momentum=0.8, nesterov=True))
    assert type(nesterov) is torch.optim.SGD and nesterov.defaults["momentum"] == 0.8 and nesterov.defaults["nesterov"]
    plain_recipe = Recipe("plain", optimizer="sgd", lr=0.01, momentum=0.0, scheduler="onecycle")
    plain = make_optimizer(model, plain_recipe)
    make_scheduler(plain, plain_recipe, total_steps=10)
    assert plain.param_groups[0]["momentum"] == 0.0  # the tutorial's plain SGD stays plain under one-cycle
    assert make_scheduler(plain, dataclasses.replace(plain_recipe, scheduler=None), total_steps=10) is None
    assert {id(p) for p in plain.param_groups[0]["params"]} == {id(p) for p in model.parameters()}
    frozen = nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        make_optimizer(frozen, plain_recipe)


def test_train_step_is_one_sgd_step_by_hand():
    torch.manual_seed(0)
    model, x, y = nn.Linear(4, 3), torch.randn(5, 4), torch.tensor([0, 2, 1, 1, 0])
    lr, wd, eps = 0.1, 0.01, 0.1
    recipe = Recipe("sgd", optimizer="sgd", lr=lr, momentum=0.0, weight_decay=wd, label_smoothing=eps, scheduler=None)
    w, b = model.weight.detach().clone().requires_grad_(), model.bias.detach().clone().requires_grad_()
    logits = x @ w.T + b
    logp = logits.log_softmax(1)  # label smoothing by hand: (1 - eps) * NLL + eps * mean over classes of -log p
    hand_loss = ((1 - eps) * -logp[torch.arange(5), y] + eps * -logp.mean(1)).mean()
    gw, gb = torch.autograd.grad(hand_loss, [w, b])

    def check(opt, sched, step_lr):
        with torch.no_grad():
            model.weight.copy_(w)
            model.bias.copy_(b)
        for p in model.parameters():
            p.grad = torch.full_like(p, 100.0)  # stale gradients must not leak into the step
        loss, out = train_step(model, x, y, opt, recipe, sched)
        assert loss == pytest.approx(hand_loss.item()) and torch.allclose(out, logits.detach())
        assert torch.allclose(model.weight, w - step_lr * (gw + wd * w), atol=1e-7)  # one step, no more
        assert torch.allclose(model.bias, b - step_lr * (gb + wd * b), atol=1e-7)

    check(make_optimizer(model, recipe), None, lr)
    # one-cycle over 10 steps: the step uses lr / 25, then the schedule moves on exactly once, to step 1
    recipe = dataclasses.replace(recipe, scheduler="onecycle")
    opt = make_optimizer(model, recipe)
    sched = make_scheduler(opt, recipe, total_steps=10)
    check(opt, sched, lr / 25)
    assert sched.last_epoch == 1 and opt.param_groups[0]["lr"] == pytest.approx(one_cycle_lr(1, 10, lr))


def test_train_step_gives_the_transformer_its_lr_and_weight_decay_exemption():
    model, x, y = tiny_stn(), torch.randn(6, 1, 8, 8), torch.tensor([0, 1, 2, 3, 0, 1])
    lr, wd = 0.1, 0.05
    recipe = Recipe(
        "stn",
        optimizer="sgd",
        lr=lr,
        momentum=0.0,
        weight_decay=wd,
        scheduler=None,
        stn_lr_scale=0.5,
        stn_weight_decay=False,
    )
    with torch.no_grad():  # an STN away from the identity, so its gradients are not special
        model.stn.regressor.weight.normal_(0, 0.1)
    hand = copy.deepcopy(model)
    grads = torch.autograd.grad(F.cross_entropy(hand(x), y), list(hand.parameters()))
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    train_step(model, x, y, make_optimizer(model, recipe), recipe)
    for (name, p), g in zip(model.named_parameters(), grads):
        want = before[name] - 0.5 * lr * g if name.startswith("stn.") else before[name] - lr * (g + wd * before[name])
        assert torch.allclose(p, want, atol=1e-7), name


def test_bf16_autocast_path(data):
    model, x, y = mlp(), torch.randn(8, 1, 8, 8), torch.arange(8) % 4
    recipe = Recipe("bf16", optimizer="sgd", lr=0.1, scheduler=None, precision="bf16")
    before = weights(model)
    loss, out = train_step(model, x, y, make_optimizer(model, recipe), recipe)
    assert out.dtype == torch.bfloat16 and math.isfinite(loss)  # the forward pass ran in bf16 ...
    assert all(p.dtype == torch.float32 for p in model.parameters())  # ... the weights stay fp32
    assert not same_weights(before, weights(model))
    batches = [(x, y)]
    fp32, bf16 = evaluate(model, batches), evaluate(model, batches, precision="bf16")
    assert bf16[0] == pytest.approx(fp32[0], abs=0.05) and bf16 != fp32  # close, but not the fp32 numbers
    with pytest.raises(ValueError, match="precision must be one of .*got str 'fp8'"):
        evaluate(model, batches, precision="fp8")
    h = quick_fit(model, data, dataclasses.replace(QUICK, precision="bf16"))  # fit evaluates in bf16 too
    test = data.loaders(1000)[1]
    assert h.final.test_loss == evaluate(model, test, precision="bf16")[0] != evaluate(model, test)[0]


def test_channels_last_reaches_weights_and_batches(make_quadrants):
    data = make_quadrants(64, 32, channels=3)

    class Probe(nn.Module):  # records whether each batch arrives in NHWC layout
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.fc, self.seen = nn.Conv2d(3, 4, 3, padding=1), nn.Linear(256, 4), []

        def forward(self, x):
            self.seen.append((self.training, x.is_contiguous(memory_format=torch.channels_last), x.is_contiguous()))
            return self.fc(self.conv(x).flatten(1))

    model = Probe()
    h = quick_fit(model, data, dataclasses.replace(QUICK, channels_last=True), epochs=1)
    assert model.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert {s[0] for s in model.seen} == {True, False}  # training and evaluation batches
    assert all(nhwc and not nchw for _, nhwc, nchw in model.seen)
    model.seen.clear()
    test = data.loaders(32)[1]
    assert evaluate(model, test) == pytest.approx((h.final.test_loss, h.final.test_acc))
    assert all(nchw for _, _, nchw in model.seen)  # evaluate's default: batches as they come


# --------------------------------------------------------------- evaluation
def test_evaluate_matches_cross_entropy_and_hand_counted_accuracy():
    logits = torch.tensor([[2.0, 0.0, 0.0, 0.0], [0.0, 3.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 5.0]])
    labels = torch.tensor([0, 1, 3, 0])  # argmax is right for the first two only
    batches = [(logits[:3], labels[:3]), (logits[3:], labels[3:])]
    loss, acc = evaluate(nn.Identity(), batches)
    assert acc == 50.0 and loss == pytest.approx(F.cross_entropy(logits, labels).item())
    # log-probabilities give the same loss: log_softmax is idempotent
    loss_lp, acc_lp = evaluate(nn.LogSoftmax(dim=1), batches)
    assert (loss_lp, acc_lp) == (pytest.approx(loss), acc)
    with pytest.raises(ValueError, match="no samples"):
        evaluate(nn.Identity(), [])


def test_evaluate_restores_every_modules_mode(data):
    test = data.loaders(64)[1]
    model = mlp(dropout=0.5)
    model.train()
    model[3].eval()  # a deliberately frozen submodule must stay as it was
    out = evaluate(model, test)
    assert model.training and not model[3].training and model[1].training
    model.eval()
    evaluate(model, test)
    assert not any(m.training for m in model.modules())
    assert evaluate(model, test) == out  # eval mode: dropout off, deterministic


@pytest.mark.parametrize("recipe", [None, Recipe("course", normalize=(0.5, 0.5))])
def test_predict_stn_thetas_and_evaluate_agree_with_a_hand_loop(make_quadrants, recipe):
    data = make_quadrants(8, 1100)  # more test images than one batch of 1000
    model = tiny_stn(dropout=0.5).train()  # dropout: train-mode outputs would differ
    with torch.no_grad():
        model.stn.regressor.weight.normal_(0, 0.3)  # thetas that differ from image to image
    # the hand loop: the whole test set at once, normalized by hand, in eval mode
    mean, std = recipe.normalize if recipe else (data.mean[0], data.std[0])
    x, y = normalized_test_images(data, mean, std), data.test_labels
    hand = copy.deepcopy(model).eval()
    with torch.no_grad():
        logits, thetas = hand(x), hand.stn.theta(x)
    probs, pred = predict(model, data, recipe)
    assert torch.allclose(probs, logits.softmax(1), atol=1e-6) and torch.equal(pred, probs.argmax(1))
    assert torch.allclose(probs.sum(1), torch.ones(1100), atol=1e-5)
    d = stn_thetas(model, data, recipe)
    assert torch.allclose(d["theta"], thetas, atol=1e-6) and d["theta"].std(0).max() > 0.01
    parts = {k: d[k] for k in ("rotation", "scale_x", "scale_y", "shear", "tx", "ty")}
    assert torch.allclose(affine.build_theta(**parts), thetas, atol=1e-4)  # the decomposition of those thetas
    test = (recipe.prepare(data) if recipe else data).loaders(1000)[1]
    loss, acc = evaluate(model, test)
    assert loss == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-5)
    assert acc == pytest.approx(100.0 * (logits.argmax(1) == y).sum().item() / 1100)
    assert all(m.training for m in model.modules())  # each of the three restored train mode


def test_stn_thetas_needs_a_transformer(data):
    for model in (mlp(), STNClassifier(nn.Sequential(nn.Flatten(), nn.Linear(64, 4)), None)):
        with pytest.raises(ValueError, match="no spatial transformer"):
            stn_thetas(model, data)


# ----------------------------------------------------------- theta snapshots
def test_theta_snapshots_start_at_identity_and_record_each_epoch(data):
    images = normalized_test_images(data, data.mean[0], data.std[0])[:5]
    snaps = ThetaSnapshots(images)
    quick_fit(tiny_stn(), data, epochs=2, callbacks=[snaps])
    assert snaps.steps == [0, 8, 16] and [s.epoch for s in snaps.snapshots] == [0, 1, 2]
    first = snaps.snapshots[0]
    identity = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]).expand(5, 2, 3)
    assert first.theta.shape == (5, 2, 3) and torch.equal(first.theta, identity)
    assert first.output.shape == images.shape and torch.allclose(first.output, images, atol=1e-5)
    assert first.test_acc is None and all(s.test_acc is not None for s in snaps.snapshots[1:])
    assert snaps.thetas.shape == (3, 5, 2, 3) and not torch.equal(snaps.thetas[-1], identity)  # it learned something
    assert first.theta.device.type == "cpu" and not first.theta.requires_grad


@pytest.mark.parametrize(("every", "steps"), [(3, [0, 3, 6, 8, 16]), (4, [0, 4, 8, 16]), (None, [0, 8, 16])])
def test_theta_snapshots_every_steps_in_the_first_epoch(data, every, steps):
    snaps = ThetaSnapshots(torch.randn(2, 1, 8, 8), every_steps=every)
    quick_fit(tiny_stn(), data, epochs=2, callbacks=[snaps])
    assert snaps.steps == steps and len(snaps.snapshots) == math.ceil(STEPS_PER_EPOCH / (every or 8)) + 2


def test_theta_snapshot_restores_train_mode():
    model = tiny_stn().train()
    snap = ThetaSnapshots(torch.randn(3, 1, 8, 8)).record(model, step=5, epoch=1)
    assert all(m.training for m in model.modules())
    assert snap.step == 5 and snap.theta.shape == (3, 2, 3) and snap.output.shape == (3, 1, 8, 8)


def test_theta_snapshots_need_a_transformer(data):
    images = torch.randn(2, 1, 8, 8)
    for model in (mlp(), STNClassifier(nn.Sequential(nn.Flatten(), nn.Linear(64, 4)), None)):
        before = weights(model)
        with pytest.raises(ValueError, match=r"no spatial transformer at \.stn"):
            quick_fit(model, data, callbacks=[ThetaSnapshots(images)])
        assert same_weights(before, weights(model))  # refused before training
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        ThetaSnapshots(images[0])
    with pytest.raises(ValueError, match="every_steps"):
        ThetaSnapshots(images, every_steps=0)


# ------------------------------------------------------------------ devices
no_accelerator = pytest.mark.skipif(
    torch.cuda.is_available() or torch.backends.mps.is_available(), reason="needs a machine without GPU"
)


@no_accelerator
def test_pick_device_is_cpu_here_and_refuses_missing_gpus():
    assert pick_device() == torch.device("cpu") and pick_device("auto").type == "cpu"
    assert pick_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="prefer='cuda'.*not available"):
        pick_device("cuda")
    with pytest.raises(ValueError, match="not available"):
        pick_device("mps")
    with pytest.raises(ValueError, match="'cuda', 'cuda:N', 'mps', 'cpu'"):
        pick_device("tpu")


@no_accelerator
def test_pick_device_honours_env(monkeypatch, data):
    monkeypatch.setenv("STNLIB_DEVICE", "cuda")
    with pytest.raises(ValueError, match=r"\$STNLIB_DEVICE='cuda'"):
        pick_device()
    assert pick_device("cpu").type == "cpu"  # an explicit preference wins over the environment
    monkeypatch.setenv("STNLIB_DEVICE", "CPU")
    assert pick_device() == torch.device("cpu")
    monkeypatch.setenv("STNLIB_DEVICE", "auto")
    assert pick_device() == torch.device("cpu")
    monkeypatch.setenv("STNLIB_DEVICE", "gpu0")
    with pytest.raises(ValueError, match="STNLIB_DEVICE"):
        pick_device()
    # fit() uses pick_device() when no device is given
    monkeypatch.setenv("STNLIB_DEVICE", "cuda")
    with pytest.raises(ValueError, match="STNLIB_DEVICE"):
        fit(mlp(), data, QUICK, epochs=1, progress=False)


@pytest.mark.parametrize("live", [True, False])
def test_live_regions_redraw_one_display_in_place_or_stay_quiet_headless(data, live, monkeypatch):
    shown, updates = [], []

    class Handle:
        def update(self, obj):
            updates.append(obj)

    def display(obj, display_id=False):
        shown.append(obj)
        return Handle()

    monkeypatch.setattr(gifs, "display", display)
    images = normalized_test_images(data, data.mean[0], data.std[0])[:4]
    watch = gifs.LiveRegions(images, every_steps=3, total_steps=16, live=live)
    quick_fit(tiny_stn(), data, epochs=2, callbacks=[watch])
    assert watch.steps == [0, 3, 6, 8, 9, 12, 15, 16]  # every 3 steps in both epochs, and each epoch's end
    assert (len(shown), len(updates)) == ((1, 7) if live else (0, 0))  # one display, redrawn in place
    if live:
        first, last = (np.asarray(PIL.Image.open(io.BytesIO(p.data))) for p in (shown[0], updates[-1]))
        assert first.shape == last.shape and not np.array_equal(first, last)  # the region moved
    still = watch.before_during_after()
    frame = watch.picture(watch.snapshots[0])
    assert still.shape == (3 * frame.shape[0], *frame.shape[1:]) and np.array_equal(still[: frame.shape[0]], frame)
