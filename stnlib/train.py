"""Training and evaluation: :func:`fit` runs a :class:`~stnlib.recipes.Recipe` in the one training loop,
:func:`stnlib.loop.run_plan`; :func:`evaluate`, :func:`predict` and :func:`stn_thetas` share :func:`over_batches`.
Images ``(B, C, H, W)`` normalized as the data says, labels ``(B,)``, outputs ``(B, classes)`` logits.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from . import affine
from .augment import RandomCropFlip
from .checks import check_batch, check_bool, check_callable, check_choice, check_tensor, check_type
from .data import ImageData
from .env import PRECISIONS, autocast, pick_device, resolve_precision, seed_everything
from .loop import Callback, History, Plan, model_device, run_plan
from .loop import EpochStats as EpochStats
from .loop import EvalPoint as EvalPoint
from .recipes import Recipe, check_fit, check_model, check_recipe, check_step, make_optimizer, make_scheduler

TEST_BATCH = 1000


class EvalMode:
    """``with EvalMode(m):`` eval mode inside, every submodule's own mode restored afterwards."""

    def __init__(self, module: nn.Module) -> None:
        self.module, self.modes = module, []

    def __enter__(self) -> nn.Module:
        self.modes = [(m, m.training) for m in self.module.modules()]
        self.module.eval()
        return self.module

    def __exit__(self, *exc: object) -> None:
        for m, mode in self.modes:
            m.training = mode


_SCALERS: weakref.WeakKeyDictionary[Optimizer, torch.amp.GradScaler] = weakref.WeakKeyDictionary()


def grad_scaler(opt: Optimizer, device: torch.device, init_scale: float = 2.0**16) -> torch.amp.GradScaler:
    """The gradient scaler of fp16 steps with ``opt``: made on first use, kept as long as ``opt``."""
    if opt not in _SCALERS:
        _SCALERS[opt] = torch.amp.GradScaler(device.type, init_scale=init_scale)
    return _SCALERS[opt]


def backward_step(loss: Tensor, opt: Optimizer, precision: str) -> None:
    """Gradients of ``loss`` and one ``opt`` step; in a resolved ``precision`` of ``"fp16"`` through ``opt``'s
    :func:`grad_scaler` (the step skipped if a gradient overflowed)."""
    opt.zero_grad(set_to_none=True)
    if precision != "fp16":
        loss.backward()
        opt.step()
        return
    scaler = grad_scaler(opt, loss.device)
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()


def to_cpu(t: Tensor) -> Tensor:
    """A result back on the CPU as fp32 (detached)."""
    return t.detach().float().cpu()


@torch.no_grad()
def transform_batch(model: nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
    """``(view (B, C, h, w), theta (B, 2, 3))`` of ``model.stn`` in eval mode on a normalized batch ``x``
    ``(B, C, H, W)``, on the CPU in fp32 wherever the model lives."""
    stn = check_model(model, stn="transform").stn
    check_tensor(x, "x", shape=("B", "C", "H", "W"), kind="float", nonempty=True)
    with EvalMode(stn):
        view, theta = stn.transform(x.to(model_device(stn)))
    return to_cpu(view), to_cpu(theta)


def _layout(x: Tensor, channels_last: bool) -> Tensor:
    return x.contiguous(memory_format=torch.channels_last) if channels_last and x.dim() == 4 else x


def over_batches(
    model: nn.Module,
    loader: Iterable[Sequence[Tensor]],
    fn: Callable[[nn.Module, Tensor], Tensor],
    *,
    precision: str = "fp32",
    channels_last: bool = False,
) -> tuple[list[Tensor], list[Tensor]]:
    """``fn(model, x)`` on every ``(x, y)`` batch on the model's device in eval mode, no gradients: ``(outputs,
    labels)`` per batch, on that device."""
    check_model(model), check_callable(fn, "fn"), check_choice(precision, "precision", PRECISIONS)
    check_type(loader, "loader", Iterable, "an iterable of (x, y) batches (a DataLoader)")
    device, channels_last = model_device(model), check_bool(channels_last, "channels_last")
    outs, labels = [], []
    with EvalMode(model), torch.no_grad(), autocast(device, precision):
        for x, y in map(check_batch, loader):  # types and shapes only: no device sync
            outs.append(fn(model, _layout(x.to(device, non_blocking=True), channels_last)))
            labels.append(y.to(device, non_blocking=True))
    return outs, labels


def evaluate(model: nn.Module, loader: Iterable[Sequence[Tensor]], **kw) -> tuple[float, float]:
    """``(mean cross-entropy, accuracy in percent)`` over ``loader``; ``kw`` as in :func:`over_batches`."""
    outs, labels = over_batches(model, loader, lambda m, x: m(x).float(), **kw)
    seen = sum(len(y) for y in labels)
    if seen == 0:
        raise ValueError("evaluate() got no samples: the loader is empty")
    loss = sum(F.cross_entropy(o, y, reduction="sum").item() for o, y in zip(outs, labels))
    correct = sum(int((o.argmax(1) == y).sum().item()) for o, y in zip(outs, labels))
    return loss / seen, 100.0 * correct / seen


def _test_loader(data: ImageData, recipe: Recipe | None):  # the test set in order, batches of TEST_BATCH
    check_type(data, "data", ImageData, "an ImageData (stnlib.data)"), recipe is None or check_recipe(recipe)
    return (recipe.prepare(data) if recipe is not None else data).loaders(TEST_BATCH)[1]


@torch.inference_mode()
def predict(model: nn.Module, data: ImageData, recipe: Recipe | None = None) -> tuple[Tensor, Tensor]:
    """Class probabilities ``(N, classes)`` and predictions ``(N,)`` on the test set (CPU, fp32); ``recipe``: the
    one the model was trained with, when it normalizes differently from ``data``."""
    outs, _ = over_batches(model, _test_loader(data, recipe), lambda m, x: to_cpu(torch.softmax(m(x), dim=1)))
    p = torch.cat(outs)
    return p, p.argmax(1)


@torch.inference_mode()
def stn_thetas(model: nn.Module, data: ImageData, recipe: Recipe | None = None) -> dict[str, Tensor]:
    """The transformer's theta for each test image and its decomposition (:func:`stnlib.affine.decompose`):
    ``{"theta": (N, 2, 3), "rotation": (N,), "scale_x": (N,), "tx": (N,), ...}``."""
    check_model(model, stn="theta")
    outs, _ = over_batches(model, _test_loader(data, recipe), lambda m, x: to_cpu(m.stn.theta(x)))
    thetas = torch.cat(outs)
    return {"theta": thetas, **affine.decompose(thetas)}


def train_step(
    model: nn.Module, x: Tensor, y: Tensor, opt: Optimizer, recipe: Recipe, sched: LRScheduler | None = None
) -> tuple[float, Tensor]:
    """One optimizer step on a batch on the model's device, in the recipe's precision: ``(loss, outputs (B,
    classes))``. ``FloatingPointError`` on a non-finite loss, before the bad step."""
    check_step(model, x, y, opt, recipe, sched)  # cheap: types, shapes and dtypes only (every batch)
    precision = resolve_precision(recipe.precision, x.device)[0]
    with autocast(x.device, precision):
        out = model(x)
    loss = F.cross_entropy(out.float(), y, label_smoothing=recipe.label_smoothing)
    value = loss.item()
    if not math.isfinite(value):
        raise FloatingPointError(
            f"loss is {value} (lr {opt.param_groups[0]['lr']:.3g}): the weights diverged "
            "or the data has NaN/inf; try a lower lr"
        )
    backward_step(loss, opt, precision)
    if sched is not None:
        sched.step()
    return value, out.detach()


def fit(
    model: nn.Module,
    data: ImageData,
    recipe: Recipe,
    *,
    epochs: int,
    seed: int = 0,
    callbacks: Sequence[Callback] = (),
    eval_every_steps: int | None = None,
    time_budget_s: float | None = None,
    target_acc: float | None = None,
    progress: bool = True,
    device: torch.device | str | None = None,
) -> History:
    """Train ``model`` on ``data.train_*`` as ``recipe`` says, evaluating on ``data.test_*`` after each epoch (and
    every ``eval_every_steps``); ``time_budget_s`` (training seconds) and ``target_acc`` (test accuracy) stop early.
    ``seed`` seeds augmentation, shuffling and the rest; ``progress``: a line per epoch. Leaves the model in eval mode.
    """
    epochs, seed, callbacks, limits = check_fit(
        model, data, recipe, epochs, seed, callbacks, eval_every_steps, time_budget_s, target_acc, progress
    )
    device = pick_device(device, name="device")
    augment = RandomCropFlip(recipe.augment_pad, seed=seed) if recipe.augment_pad else None
    train_loader, test_loader = recipe.prepare(data).loaders(
        recipe.batch_size, test_batch_size=TEST_BATCH, transform=augment, seed=seed
    )
    seed_everything(seed)
    model.to(device)
    if recipe.channels_last:
        model.to(memory_format=torch.channels_last)
    opt = make_optimizer(model, recipe)
    sched = make_scheduler(opt, recipe, epochs * len(train_loader))

    def batches(epoch: int) -> Iterable[tuple[Tensor, Tensor]]:
        for x, y in train_loader:
            yield _layout(x.to(device, non_blocking=True), recipe.channels_last), y.to(device)

    def step(x: Tensor, y: Tensor) -> tuple[float, Tensor]:
        value, out = train_step(model, x, y, opt, recipe, sched)
        return value * len(y), out

    def test() -> tuple[float, float]:
        return evaluate(model, test_loader, precision=recipe.precision, channels_last=recipe.channels_last)

    plan = Plan(opt, batches, len(train_loader), epochs * len(train_loader), step, test)
    return run_plan(model, plan, epochs=epochs, callbacks=callbacks, limits=limits, progress=progress)
