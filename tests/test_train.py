"""Unit tests for :mod:`stnlib.train` on a tiny synthetic task (fast, CPU, offline).

The task: 8x8 single-channel images of noise with one bright 4x4 quadrant; the label
(0..3) is the quadrant. A linear model solves it, so "it learned" is a clear signal.
Independent truth: ``F.cross_entropy`` / hand-counted accuracies for :func:`evaluate`,
``torch.load(weights_only=True)`` for checkpoints, the identity theta for untrained STNs.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from stnlib.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from stnlib.env import pick_device
from stnlib.gifs import ThetaSnapshots
from stnlib.models import SpatialTransformer, STNClassifier
from stnlib.train import (
    Callback,
    EpochStats,
    EvalPoint,
    History,
    evaluate,
    fit,
    make_optimizer,
    make_scheduler,
)

STEPS_PER_EPOCH = 8  # 256 samples / batch 32


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


# ------------------------------------------------------------------ helpers
def quadrants(n: int, seed: int) -> TensorDataset:
    """``x (n, 1, 8, 8)``: noise plus one bright quadrant; ``y (n,)``: which (0 top-left .. 3 bottom-right)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=g)
    x = 0.3 * torch.randn(n, 1, 8, 8, generator=g)
    for i, label in enumerate(y.tolist()):
        r, c = divmod(label, 2)
        x[i, 0, 4 * r : 4 * r + 4, 4 * c : 4 * c + 4] += 1.0
    return TensorDataset(x, y)


def loaders(shuffle: bool = True) -> tuple[DataLoader, DataLoader]:
    train = DataLoader(quadrants(256, 0), batch_size=32, shuffle=shuffle)
    test = DataLoader(quadrants(128, 1), batch_size=64)
    return train, test


def mlp(seed: int = 0, hidden: int = 16, dropout: float = 0.0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 4))


def tiny_stn(seed: int = 0) -> STNClassifier:
    torch.manual_seed(seed)
    loc = nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.ReLU())
    return STNClassifier(nn.Sequential(nn.Flatten(), nn.Linear(64, 4)), SpatialTransformer(loc, 8))


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------- training
def test_fit_learns_the_quadrant_task():
    train, test = loaders()
    h = fit(mlp(), train, epochs=3, test_loader=test, lr=1e-2, device="cpu", seed=0, progress=False)
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


def test_fit_without_test_loader_and_progress_lines(capsys):
    train, _ = loaders()
    h = fit(mlp(), train, epochs=2, device="cpu", progress=True)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2") and "test      -" in lines[0]
    assert h.final.test_acc is None and h.final.test_loss is None and h.evals == [] and h.best_test_acc is None
    fit(mlp(), train, epochs=1, device="cpu", progress=False)
    assert capsys.readouterr().out == ""


def test_fit_leaves_model_in_eval_mode_and_checks_arguments():
    train, test = loaders()
    model = mlp()
    fit(model, train, epochs=1, device="cpu", progress=False)
    assert not model.training
    with pytest.raises(ValueError, match="epochs"):
        fit(model, train, epochs=0, progress=False)
    with pytest.raises(ValueError, match="need a test_loader"):
        fit(model, train, epochs=1, target_acc=90.0, progress=False)
    with pytest.raises(ValueError, match="need a test_loader"):
        fit(model, train, epochs=1, eval_every_steps=2, progress=False)
    with pytest.raises(ValueError, match="eval_every_steps"):
        fit(model, train, epochs=1, test_loader=test, eval_every_steps=0, progress=False)


def test_eval_every_steps_records_evals_and_time_to():
    train, test = loaders()
    h = fit(mlp(), train, epochs=2, test_loader=test, lr=1e-2, device="cpu", eval_every_steps=3, progress=False)
    # every 3 steps plus each epoch end (8, 16); no step evaluated twice
    assert [p.step for p in h.evals] == [3, 6, 8, 9, 12, 15, 16]
    elapsed = [p.elapsed for p in h.evals]
    assert elapsed == sorted(elapsed) and elapsed[-1] == pytest.approx(h.final.elapsed)
    assert h.evals[-1].test_acc == h.final.test_acc
    assert h.time_to(101.0) is None and h.steps_to(101.0) is None
    first = next(p for p in h.evals if p.test_acc >= 50.0)
    assert h.time_to(50.0) == first.elapsed and h.steps_to(50.0) == first.step


def test_history_helpers_on_hand_made_records():
    stats = EpochStats(1, 30, 0.5, 80.0, 0.4, 99.5, 3.0, 3.0, 1e-3)
    h = History([stats], [EvalPoint(10, 1.0, 50.0), EvalPoint(20, 2.0, 95.0), EvalPoint(30, 3.0, 99.5)])
    assert h.time_to(95.0) == 2.0 and h.time_to(99.0) == 3.0 and h.time_to(99.9) is None
    assert h.steps_to(40.0) == 10
    assert h.best_test_acc == 99.5 and h.final is stats
    d = h.as_dict()
    assert json.loads(json.dumps(d)) == d  # plain types only
    assert d["evals"][0] == {"step": 10, "elapsed": 1.0, "test_acc": 50.0}
    assert History.from_dict(d) == h
    with pytest.raises(ValueError, match="empty"):
        _ = History().final


def test_target_acc_stops_early():
    train, test = loaders()
    h = fit(
        mlp(), train, epochs=20, test_loader=test, lr=1e-2, device="cpu", seed=0, eval_every_steps=2,
        target_acc=90.0, progress=False,
    )  # fmt: skip
    assert len(h.epochs) < 20 and h.stopped_early is not None and "target_acc" in h.stopped_early
    assert h.evals[-1].test_acc >= 90.0 and all(p.test_acc < 90.0 for p in h.evals[:-1])
    assert h.final.step == h.evals[-1].step and h.final.test_acc == h.evals[-1].test_acc
    assert h.time_to(90.0) == h.evals[-1].elapsed


def test_target_acc_reached_at_an_epoch_end():
    train, test = loaders()
    h = fit(mlp(), train, epochs=20, test_loader=test, lr=1e-2, device="cpu", seed=0, target_acc=90, progress=False)
    assert 1 <= len(h.epochs) < 20 and "target_acc" in (h.stopped_early or "")
    assert h.final.test_acc >= 90.0 and h.final.step % STEPS_PER_EPOCH == 0


def test_time_budget_stops_after_the_current_step():
    train, test = loaders()
    h = fit(mlp(), train, epochs=5, test_loader=test, device="cpu", time_budget_s=0.0, progress=False)
    assert h.stopped_early is not None and "time budget" in h.stopped_early
    assert len(h.epochs) == 1 and h.final.step == 1  # a partial epoch, still evaluated
    assert h.final.test_acc is not None and [p.step for p in h.evals] == [1]


def test_seed_makes_fits_identical():
    train, test = loaders(shuffle=True)
    runs = []
    for seed in (7, 7, 8):
        model = mlp(seed=0, dropout=0.3)
        fit(model, train, epochs=2, test_loader=test, lr=1e-2, device="cpu", seed=seed, progress=False)
        runs.append(weights(model))
    assert same_weights(runs[0], runs[1])
    assert not same_weights(runs[0], runs[2])  # shuffling and dropout do depend on the seed


def test_callback_hooks_are_called_in_order():
    class Recorder(Callback):
        def __init__(self) -> None:
            self.calls: list[tuple] = []

        def on_train_begin(self, model):
            self.calls.append(("begin",))

        def on_step_end(self, model, step, epoch):
            self.calls.append(("step", step, epoch))

        def on_epoch_end(self, model, stats):
            self.calls.append(("epoch", stats.epoch, stats.step))

        def on_train_end(self, model, history):
            self.calls.append(("end", len(history.epochs)))

    rec = Recorder()
    train, _ = loaders()
    fit(mlp(), train, epochs=2, device="cpu", callbacks=[rec], progress=False)
    steps = [("step", s, 1 + (s - 1) // STEPS_PER_EPOCH) for s in range(1, 17)]
    assert rec.calls == [("begin",), *steps[:8], ("epoch", 1, 8), *steps[8:], ("epoch", 2, 16), ("end", 2)]
    Callback().on_epoch_end(mlp(), EpochStats(1, 1, 0.0, 0.0, None, None, 0.0, 0.0, 0.1))  # base hooks are no-ops


# -------------------------------------------------------- optimizers/schedules
@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd"])
@pytest.mark.parametrize("scheduler", [None, "onecycle", "cosine", "step"])
def test_optimizer_and_scheduler_names(optimizer, scheduler):
    train, _ = loaders()
    h = fit(mlp(), train, epochs=3, optimizer=optimizer, scheduler=scheduler, lr=0.1, device="cpu", progress=False)
    lrs = [e.lr for e in h.epochs]  # lr of each epoch's last step
    if scheduler is None:
        assert lrs == pytest.approx([0.1] * 3)
    elif scheduler == "step":  # x0.1 after each third of the 24 steps
        assert lrs == pytest.approx([0.1, 0.01, 0.001])
    elif scheduler == "cosine":
        assert lrs[0] > lrs[1] > lrs[2] and lrs[2] < 0.01
    else:  # one cycle: warm up to lr, then anneal far below it
        assert lrs[2] < 1e-3 and max(lrs) <= 0.1 + 1e-9


def test_make_optimizer_details():
    model = mlp()
    assert type(make_optimizer(model, "adam")) is torch.optim.Adam
    assert type(make_optimizer(model, "AdamW", weight_decay=0.01)) is torch.optim.AdamW
    plain = make_optimizer(model, "sgd", lr=0.01, momentum=0.0)
    assert type(plain) is torch.optim.SGD and plain.defaults["momentum"] == 0.0
    make_scheduler("onecycle", plain, lr=0.01, total_steps=10)
    assert plain.param_groups[0]["momentum"] == 0.0  # the tutorial's plain SGD stays plain under one-cycle
    assert make_optimizer(model, plain) is plain
    with pytest.raises(ValueError, match="adam, adamw, sgd"):
        make_optimizer(model, "lbfgs")
    with pytest.raises(ValueError, match="onecycle, cosine, step"):
        make_scheduler("linear", plain, lr=0.01, total_steps=10)
    frozen = nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        make_optimizer(frozen, "adam")


def test_unknown_names_in_fit_and_callables():
    train, _ = loaders()
    with pytest.raises(ValueError, match="unknown optimizer"):
        fit(mlp(), train, epochs=1, optimizer="rmsprop", device="cpu", progress=False)
    with pytest.raises(ValueError, match="unknown scheduler"):
        fit(mlp(), train, epochs=1, scheduler="plateau", device="cpu", progress=False)
    h = fit(
        mlp(), train, epochs=1, device="cpu", progress=False,
        optimizer=lambda params: torch.optim.SGD(params, lr=0.05),
        scheduler=lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5),
    )  # fmt: skip
    assert h.final.lr == pytest.approx(0.025)


def test_non_finite_loss_raises_before_the_step_is_applied():
    class NaNModel(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(64, 4)

        def forward(self, x):
            return self.fc(x.flatten(1)) * float("nan")

    model = NaNModel()
    before = weights(model)
    train, _ = loaders()
    with pytest.raises(FloatingPointError, match=r"epoch 1, step 1 .*lower lr"):
        fit(model, train, epochs=2, device="cpu", progress=False)
    assert same_weights(before, weights(model))


# --------------------------------------------------------------- evaluation
def test_evaluate_matches_cross_entropy_and_hand_counted_accuracy():
    logits = torch.tensor([[2.0, 0.0, 0.0, 0.0], [0.0, 3.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 5.0]])
    labels = torch.tensor([0, 1, 3, 0])  # argmax is right for the first two only
    loader = DataLoader(TensorDataset(logits, labels), batch_size=3)
    loss, acc = evaluate(nn.Identity(), loader)
    assert acc == 50.0 and loss == pytest.approx(F.cross_entropy(logits, labels).item())
    # log-probabilities give the same loss: log_softmax is idempotent
    loss_lp, acc_lp = evaluate(nn.LogSoftmax(dim=1), loader)
    assert (loss_lp, acc_lp) == (pytest.approx(loss), acc)
    first_batch = pytest.approx((F.cross_entropy(logits[:3], labels[:3]).item(), 200 / 3))
    assert evaluate(nn.Identity(), loader, max_batches=1) == first_batch
    with pytest.raises(ValueError, match="no samples"):
        evaluate(nn.Identity(), loader, max_batches=0)


def test_evaluate_restores_every_modules_mode():
    _, test = loaders()
    model = mlp(dropout=0.5)
    model.train()
    model[3].eval()  # a deliberately frozen submodule must stay as it was
    out = evaluate(model, test, "cpu")
    assert model.training and not model[3].training and model[1].training
    model.eval()
    evaluate(model, test)
    assert not any(m.training for m in model.modules())
    assert evaluate(model, test) == out  # eval mode: dropout off, deterministic


# ----------------------------------------------------------- theta snapshots
def test_theta_snapshots_start_at_identity_and_record_each_epoch():
    train, test = loaders()
    images = quadrants(5, 3).tensors[0]
    snaps = ThetaSnapshots(images)
    model = tiny_stn()
    fit(model, train, epochs=2, test_loader=test, lr=1e-2, device="cpu", callbacks=[snaps], progress=False)
    assert snaps.steps == [0, 8, 16] and [s.epoch for s in snaps.snapshots] == [0, 1, 2]
    first = snaps.snapshots[0]
    identity = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]).expand(5, 2, 3)
    assert first.theta.shape == (5, 2, 3) and torch.equal(first.theta, identity)
    assert first.output.shape == images.shape and torch.allclose(first.output, images, atol=1e-5)
    assert first.test_acc is None and all(s.test_acc is not None for s in snaps.snapshots[1:])
    assert snaps.thetas.shape == (3, 5, 2, 3) and not torch.equal(snaps.thetas[-1], identity)  # it learned something
    assert first.theta.device.type == "cpu" and not first.theta.requires_grad


@pytest.mark.parametrize(("every", "steps"), [(3, [0, 3, 6, 8, 16]), (4, [0, 4, 8, 16]), (None, [0, 8, 16])])
def test_theta_snapshots_every_steps_in_the_first_epoch(every, steps):
    train, _ = loaders()
    snaps = ThetaSnapshots(quadrants(2, 3).tensors[0], every_steps=every)
    fit(tiny_stn(), train, epochs=2, device="cpu", callbacks=[snaps], progress=False)
    assert snaps.steps == steps and len(snaps.snapshots) == math.ceil(STEPS_PER_EPOCH / (every or 8)) + 2


def test_theta_snapshot_restores_train_mode():
    model = tiny_stn().train()
    snap = ThetaSnapshots(quadrants(3, 3).tensors[0]).record(model, step=5, epoch=1)
    assert all(m.training for m in model.modules())
    assert snap.step == 5 and snap.theta.shape == (3, 2, 3) and snap.output.shape == (3, 1, 8, 8)


def test_theta_snapshots_need_a_transformer():
    train, _ = loaders()
    images = quadrants(2, 3).tensors[0]
    for model in (mlp(), STNClassifier(nn.Sequential(nn.Flatten(), nn.Linear(64, 4)), None)):
        before = weights(model)
        with pytest.raises(ValueError, match=r"no spatial transformer at \.stn"):
            fit(model, train, epochs=1, device="cpu", callbacks=[ThetaSnapshots(images)], progress=False)
        assert same_weights(before, weights(model))  # refused before training
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        ThetaSnapshots(images[0])
    with pytest.raises(ValueError, match="every_steps"):
        ThetaSnapshots(images, every_steps=0)


# --------------------------------------------------------------- checkpoints
def _trained(seed: int = 0) -> tuple[nn.Module, torch.optim.Optimizer, History]:
    train, test = loaders()
    model = mlp(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    h = fit(model, train, epochs=1, test_loader=test, optimizer=opt, device="cpu", progress=False, eval_every_steps=4)
    return model, opt, h


def test_checkpoint_round_trip(tmp_path):
    model, opt, history = _trained()
    meta = {"notebook": "02", "seed": 0, "mean": [0.1307], "std": (0.3081,), "note": None, "ok": True}
    path = save_checkpoint(tmp_path / "ckpt" / "model.pt", model, optimizer=opt, history=history, meta=meta)
    assert path == tmp_path / "ckpt" / "model.pt" and sorted(p.name for p in path.parent.iterdir()) == ["model.pt"]

    raw = torch.load(path, weights_only=True)  # exactly what load_checkpoint relies on
    assert raw["format"] == "stnlib-checkpoint" and raw["version"] == 1

    fresh = mlp(seed=1)
    fresh_opt = torch.optim.Adam(fresh.parameters(), lr=0.5)
    assert not same_weights(weights(model), weights(fresh))
    ckpt = load_checkpoint(path, fresh, optimizer=fresh_opt)
    assert same_weights(weights(model), weights(fresh))
    assert ckpt["meta"] == {**meta, "std": (0.3081,)}
    assert History.from_dict(ckpt["history"]) == history
    restored, original = fresh_opt.state_dict(), opt.state_dict()
    assert restored["param_groups"][0]["lr"] == 1e-2
    for i, state in original["state"].items():
        assert state["step"] == restored["state"][i]["step"]
        assert torch.equal(state["exp_avg"], restored["state"][i]["exp_avg"])
        assert torch.equal(state["exp_avg_sq"], restored["state"][i]["exp_avg_sq"])

    # overwriting in place leaves no temporary files behind either
    save_checkpoint(path, fresh)
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pt"]
    assert load_checkpoint(path, fresh)["optimizer_state"] is None


def test_checkpoint_rejects_non_plain_meta(tmp_path):
    with pytest.raises(TypeError, match=r"checkpoint\['meta'\]\['path'\] is a PosixPath|is a WindowsPath"):
        save_checkpoint(tmp_path / "m.pt", mlp(), meta={"path": tmp_path})
    with pytest.raises(TypeError, match=r"checkpoint\['meta'\]\['acc'\]\[1\] is a float64"):
        save_checkpoint(tmp_path / "m.pt", mlp(), meta={"acc": [1.0, np.float64(99.1)]})  # saves, but would not load
    assert not (tmp_path / "m.pt").exists()


def test_missing_checkpoint_names_the_path(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found: .*nothing.pt"):
        load_checkpoint(tmp_path / "nothing.pt", mlp())
    with pytest.raises(CheckpointError, match="directory"):
        load_checkpoint(tmp_path, mlp())


@pytest.mark.parametrize("damage", ["truncated", "random", "empty"])
def test_corrupted_checkpoint_raises_and_keeps_weights(tmp_path, damage):
    model, _, _ = _trained()
    path = save_checkpoint(tmp_path / "m.pt", model)
    data = path.read_bytes()
    g = torch.Generator().manual_seed(0)
    bad = {
        "truncated": data[: len(data) // 2],
        "random": bytes(torch.randint(0, 256, (len(data),), generator=g, dtype=torch.uint8).tolist()),
        "empty": b"",
    }[damage]
    path.write_bytes(bad)
    target = mlp(seed=3)
    before = weights(target)
    with pytest.raises(CheckpointError, match="not a readable torch checkpoint"):
        load_checkpoint(path, target)
    assert same_weights(before, weights(target))


def test_torch_files_that_are_not_our_checkpoints(tmp_path):
    torch.save({"a": torch.zeros(2)}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not an stnlib checkpoint"):
        load_checkpoint(tmp_path / "plain.pt", mlp())
    torch.save(mlp().state_dict(), tmp_path / "state.pt")  # a bare state_dict is not our format either
    with pytest.raises(CheckpointError, match="not an stnlib checkpoint"):
        load_checkpoint(tmp_path / "state.pt", mlp())
    torch.save(mlp(), tmp_path / "module.pt")  # a pickled module: weights_only refuses it
    with pytest.raises(CheckpointError, match="not a readable torch checkpoint"):
        load_checkpoint(tmp_path / "module.pt", mlp())


@pytest.mark.parametrize(
    ("other", "message"),
    [
        (lambda: mlp(hidden=8), "shape mismatches"),
        (lambda: nn.Sequential(nn.Flatten(), nn.Linear(64, 4)), "unexpected keys"),
        (tiny_stn, "missing keys"),
    ],
)
def test_wrong_architecture_raises_and_leaves_weights_unchanged(tmp_path, other, message):
    model, _, _ = _trained()
    path = save_checkpoint(tmp_path / "m.pt", model)
    target = other()
    before = weights(target)
    with pytest.raises(CheckpointError, match=f"does not fit.*{message}"):
        load_checkpoint(path, target)
    assert same_weights(before, weights(target))


def test_optimizer_mismatch_is_atomic(tmp_path):
    model, opt, _ = _trained()
    path = save_checkpoint(tmp_path / "m.pt", model, optimizer=opt)
    target = mlp(seed=5)
    params = list(target.parameters())
    two_groups = torch.optim.Adam([{"params": params[:2]}, {"params": params[2:]}], lr=0.1)
    before = weights(target)
    with pytest.raises(CheckpointError, match="nothing changed"):
        load_checkpoint(path, target, optimizer=two_groups)
    assert same_weights(before, weights(target))  # the model had been loaded, then was rolled back
    assert two_groups.param_groups[0]["lr"] == 0.1
    path_no_opt = save_checkpoint(tmp_path / "no_opt.pt", model)
    with pytest.raises(CheckpointError, match="no optimizer state"):
        load_checkpoint(path_no_opt, target, optimizer=torch.optim.Adam(target.parameters()))


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
def test_pick_device_honours_env(monkeypatch):
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
    train, _ = loaders()
    with pytest.raises(ValueError, match="STNLIB_DEVICE"):
        fit(mlp(), train, epochs=1, progress=False)
