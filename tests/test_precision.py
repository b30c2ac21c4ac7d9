"""Precision chosen by hardware (stnlib.env.resolve_precision) and how training uses it (train, fast_cifar).

Independent truth: the hardware is simulated (``env.native_bf16``, ``torch.cuda.get_device_capability``,
``torch.backends.mps.is_macos_or_newer`` monkeypatched), dtypes are read inside the forward pass with hooks, a
gradient scaler is seen through a spy on ``torch.amp.GradScaler.step``, device waits through spies on
``torch.cuda.synchronize`` / ``torch.mps.synchronize``.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import nn

from stnlib import env, fast_cifar, loop, models, train
from stnlib.data import load_dataset
from stnlib.env import PRECISION_ENV, PRECISIONS, autocast, native_bf16, precision_note, resolve_precision
from stnlib.recipes import OURS_CIFAR, Recipe

CPU, CUDA, MPS = torch.device("cpu"), torch.device("cuda"), torch.device("mps")


@pytest.fixture(autouse=True)
def _no_precision_env(monkeypatch):
    monkeypatch.delenv(PRECISION_ENV, raising=False)


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def native(monkeypatch):
    """``native(True/False)``: simulate a device with or without native bf16."""
    return lambda yes: monkeypatch.setattr(env, "native_bf16", lambda device: yes)


@pytest.fixture(scope="module")
def tiny_cifar():
    return load_dataset("cifar10", profile="quick", data_dir=None).subset(64, 16)


# ------------------------------------------------------------------ resolution
@pytest.mark.parametrize(
    ("device", "capability", "macos14", "want", "reason"),
    [
        (CPU, None, None, "bf16", "bf16: this CPU has native bf16"),
        (CUDA, (8, 0), None, "bf16", "bf16: this GPU (compute capability 8.0) has native bf16"),
        (CUDA, (9, 0), None, "bf16", "bf16: this GPU (compute capability 9.0) has native bf16"),
        (
            CUDA,
            (7, 5),
            None,
            "fp16",
            "fp16 with a gradient scaler: this GPU (compute capability 7.5) has no native bf16",
        ),
        (
            CUDA,
            (6, 1),
            None,
            "fp16",
            "fp16 with a gradient scaler: this GPU (compute capability 6.1) has no native bf16",
        ),
        (MPS, None, True, "bf16", "bf16: this Apple GPU has native bf16"),
        (MPS, None, False, "fp32", "fp32: this Apple GPU has no bf16 before macOS 14"),
    ],
)
def test_auto_resolves_by_the_hardware(monkeypatch, device, capability, macos14, want, reason):
    if capability is not None:
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    if macos14 is not None:
        monkeypatch.setattr(torch.backends.mps, "is_macos_or_newer", lambda major, minor: macos14 and major <= 14)
    if device.type == "cpu":
        monkeypatch.setattr(env, "_cpu_bf16_units", lambda: ["AMX"])
    assert native_bf16(device) == (want == "bf16")
    precision, why = resolve_precision("auto", device)
    assert precision == want and why.startswith(reason)
    if device.type == "cpu":
        assert why == "bf16: this CPU has native bf16 (AMX)"


def test_a_cpu_without_native_bf16_computes_in_fp32(monkeypatch):
    monkeypatch.setattr(env, "_cpu_bf16_units", lambda: [])  # e.g. AVX2 only, or AVX-512 without BF16
    assert not native_bf16(CPU)
    assert resolve_precision("auto", CPU) == (
        "fp32",
        "fp32: this CPU has no native bf16 (no AVX-512-BF16 or AMX), and bf16 there would be slower",
    )


def test_this_cpu_is_judged_by_torchs_own_probes():
    units = [torch.cpu._is_avx512_bf16_supported(), torch.cpu._is_amx_tile_supported()]
    assert native_bf16(CPU) == any(units)
    assert resolve_precision("auto", "cpu")[0] == ("bf16" if any(units) else "fp32")


def test_explicit_precisions_are_honoured_on_any_hardware(native):
    native(False)
    assert resolve_precision("bf16", CPU) == ("bf16", "bf16: as requested")
    assert resolve_precision("fp16", CPU) == ("fp16", "fp16 with a gradient scaler: as requested")
    native(True)
    assert resolve_precision("fp32", CPU) == ("fp32", "fp32: as requested")
    with pytest.raises(ValueError, match="unknown precision 'fp8'; use one of auto, bf16, fp16, fp32"):
        resolve_precision("fp8", CPU)


@pytest.mark.parametrize("forced", ["fp32", "fp16", "bf16", "FP32 "])
def test_the_environment_overrides_every_mixed_precision_but_never_fp32(monkeypatch, native, forced):
    native(True)
    monkeypatch.setenv(PRECISION_ENV, forced)
    want = forced.strip().lower()
    for requested in ("auto", "bf16", "fp16"):
        precision, why = resolve_precision(requested, CPU)
        assert precision == want and why.endswith(f"forced by $STNLIB_PRECISION={want}")
    assert resolve_precision("fp32", CPU) == ("fp32", "fp32: as requested")


def test_an_environment_of_auto_leaves_the_choice_to_the_hardware(monkeypatch, native):
    monkeypatch.setenv(PRECISION_ENV, "auto")
    native(False)
    assert resolve_precision("auto", CPU)[0] == "fp32" and resolve_precision("bf16", CPU)[0] == "bf16"
    native(True)
    assert resolve_precision("auto", CPU)[0] == "bf16"


def test_a_bad_environment_value_is_named(monkeypatch):
    monkeypatch.setenv(PRECISION_ENV, "half")
    with pytest.raises(ValueError, match=r"\$STNLIB_PRECISION must be one of auto, bf16, fp16, fp32 .*got 'half'"):
        resolve_precision("auto", CPU)


def test_autocast_computes_in_the_resolved_dtype(native):
    layer, x = nn.Linear(4, 2), torch.randn(3, 4)
    for precision, yes, dtype in [
        ("auto", True, torch.bfloat16),
        ("auto", False, torch.float32),
        ("bf16", False, torch.bfloat16),
        ("fp16", True, torch.float16),
        ("fp32", True, torch.float32),
    ]:
        native(yes)
        with autocast(CPU, precision):
            assert layer(x).dtype == dtype, (precision, yes)


def test_precision_note_takes_a_recipe_a_fast_recipe_or_a_name(native):
    native(True)
    assert precision_note(OURS_CIFAR, "cpu").startswith("precision bf16: this CPU has native bf16")
    assert precision_note(fast_cifar.FAST, CPU) == precision_note("auto", CPU)
    native(False)
    assert precision_note(fast_cifar.FAST, CPU).startswith("precision fp32: this CPU has no native bf16")
    assert precision_note(Recipe("mnist"), CPU) == "precision fp32: as requested"


def test_recipes_accept_every_precision_and_describe_it():
    for p in PRECISIONS:
        assert Recipe("r", precision=p).precision == p and fast_cifar.FastRecipe(precision=p).precision == p
    assert OURS_CIFAR.precision == fast_cifar.FAST.precision == "auto"
    assert OURS_CIFAR.describe().endswith(", mixed precision where native (auto)")
    assert fast_cifar.FAST.describe().endswith(", lookahead, mixed precision where native (auto)")
    assert fast_cifar.FastRecipe(precision="fp32").describe().endswith(", lookahead, fp32")
    assert Recipe("r", precision="fp16").describe().endswith(", fp16 autocast + gradient scaler")
    with pytest.raises(ValueError, match="FastRecipe 'fast .*': precision must be one of .*got str 'fp8'"):
        dataclasses.replace(fast_cifar.FAST, precision="fp8")


# ------------------------------------------------------------------ training
def _quadrant_batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(64) % 4
    x = torch.randn(64, 1, 8, 8, generator=g) + 3 * nn.functional.one_hot(y * 16, 64).float().view(64, 1, 8, 8)
    return x, y


def _mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 4))


def test_an_fp16_training_step_goes_through_a_gradient_scaler_and_learns(monkeypatch):
    steps = []
    real_step = torch.amp.GradScaler.step
    monkeypatch.setattr(torch.amp.GradScaler, "step", lambda self, opt: steps.append(opt) or real_step(self, opt))
    model, (x, y) = _mlp(), _quadrant_batch()
    recipe = Recipe("fp16", optimizer="sgd", lr=0.1, scheduler=None, precision="fp16")
    opt = train.make_optimizer(model, recipe)
    losses = [train.train_step(model, x, y, opt, recipe) for _ in range(20)]
    assert all(out.dtype == torch.float16 for _, out in losses)  # the forward pass ran in fp16 ...
    assert all(p.dtype == torch.float32 for p in model.parameters())  # ... the weights stay fp32
    assert steps == [opt] * 20 and train.grad_scaler(opt, CPU).get_scale() == 2.0**16  # one scaler, kept
    assert losses[-1][0] < 0.5 * losses[0][0]


def test_bf16_and_fp32_steps_use_no_scaler():
    model, (x, y) = _mlp(), _quadrant_batch()
    for precision in ("bf16", "fp32"):
        recipe = Recipe(precision, optimizer="sgd", lr=0.1, scheduler=None, precision=precision)
        opt = train.make_optimizer(model, recipe)
        train.train_step(model, x, y, opt, recipe)
        assert opt not in train._SCALERS


def test_an_overflowing_fp16_step_is_skipped_and_the_scale_drops():
    model, (x, y) = _mlp(), _quadrant_batch()
    recipe = Recipe("fp16", optimizer="sgd", lr=0.1, scheduler=None, precision="fp16")
    opt = train.make_optimizer(model, recipe)
    train._SCALERS[opt] = torch.amp.GradScaler("cpu", init_scale=2.0**100)  # scaled gradients overflow fp16
    before = [p.detach().clone() for p in model.parameters()]
    train.train_step(model, x, y, opt, recipe)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # no step with inf gradients
    assert train.grad_scaler(opt, CPU).get_scale() == 2.0**99


def test_fit_trains_in_fp16_where_the_environment_forces_it(monkeypatch, make_quadrants):
    monkeypatch.setenv(PRECISION_ENV, "fp16")
    model, data = _mlp(), make_quadrants()
    recipe = Recipe("auto", optimizer="adam", lr=1e-2, scheduler=None, batch_size=32, precision="auto")
    h = train.fit(model, data, recipe, epochs=2, device="cpu", progress=False)
    assert h.final.train_loss < h.epochs[0].train_loss and h.final.test_acc > 90.0


def _dtypes_seen(net: nn.Module) -> list[torch.dtype]:
    """Records the dtype the classifier's first convolution computes in, on every training call."""
    seen: list[torch.dtype] = []
    conv = next(m for m in net.classifier.modules() if isinstance(m, nn.Conv2d))
    conv.register_forward_hook(lambda m, i, out: seen.append(out.dtype) if m.training else None)
    return seen


@pytest.mark.parametrize(("yes", "dtype"), [(False, torch.float32), (True, torch.bfloat16)])
def test_the_fast_recipe_trains_in_bf16_only_where_it_is_native(native, tiny_cifar, yes, dtype):
    native(yes)
    torch.manual_seed(0)
    net = fast_cifar.fast_stn_net(fill=tiny_cifar.black)
    seen = _dtypes_seen(net)
    recipe = dataclasses.replace(fast_cifar.FAST, batch_size=32, stn_lr_scale=0.01)
    h = fast_cifar.train_fast(net, tiny_cifar, recipe, epochs=1, progress=False, eval_exact=False)
    assert seen == [dtype, dtype] and h.final.step == 2  # 64 // 32 steps
    assert all(p.dtype == torch.float32 for p in net.parameters())


def test_the_fast_recipe_in_fp16_scales_its_summed_loss_less(monkeypatch, tiny_cifar):
    monkeypatch.setenv(PRECISION_ENV, "fp16")
    net = fast_cifar.fast_stn_net(fill=tiny_cifar.black)
    seen = _dtypes_seen(net)
    recipe = dataclasses.replace(fast_cifar.FAST, batch_size=32, stn_lr_scale=0.01)
    plan = fast_cifar._plan(net, tiny_cifar, recipe, epochs=1, seed=0, exact=False)
    assert train.grad_scaler(plan.opt, CPU).get_scale() == 2.0**16 / 32  # as 2**16 on the mean loss
    net.train()
    loss, _ = plan.step(*next(iter(plan.batches(1))))
    assert seen == [torch.float16] and math.isfinite(loss)


def test_the_cifar_recipe_trains_in_fp32_without_native_bf16(native, tiny_cifar):
    native(False)
    torch.manual_seed(0)
    net = models.cifar_stn_net(fill=tiny_cifar.black)  # the quarter ResNet-9 OURS_CIFAR trains
    seen = _dtypes_seen(net)
    train.fit(net, tiny_cifar, dataclasses.replace(OURS_CIFAR, batch_size=32), epochs=1, device="cpu", progress=False)
    assert seen == [torch.float32, torch.float32]


# ------------------------------------------------------------------ clocks
def test_clocks_wait_for_cuda_and_mps(monkeypatch):
    waits = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: waits.append(("cuda", device)))
    monkeypatch.setattr(torch.mps, "synchronize", lambda: waits.append(("mps", None)))
    env.synchronize(CPU)
    assert waits == []
    for device in (MPS, CUDA):  # the one training clock (fit and train_fast)
        clock = loop._Clock(device)
        clock.start()
        clock.stop()
        assert clock.total >= 0
    assert waits == [("mps", None), ("cuda", CUDA)]
