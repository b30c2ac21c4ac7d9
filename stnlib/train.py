"""Training loop, evaluation, learning snapshots and checkpoints for the notebooks.

* :func:`fit` trains a classifier and returns a :class:`History` (one :class:`EpochStats`
  per epoch, plus :class:`EvalPoint` records for time-to-accuracy measurements).
  Training time is measured **without** evaluation and callbacks, so "seconds to 99 %"
  compares models fairly however often they are evaluated.
* :func:`evaluate`: mean cross-entropy and accuracy (percent) on a loader.
* :class:`ThetaSnapshots`: a :class:`Callback` that records what the transformer does
  to a fixed batch while it learns (thetas ``(B, 2, 3)`` and warped images), for GIFs
  and theta-vs-step plots.
* Checkpoints live in :mod:`stnlib.checkpoints`.

Shapes: inputs ``(B, C, H, W)``, integer labels ``(B,)``, model outputs ``(B, classes)``,
either logits or log-probabilities: ``F.cross_entropy`` applies ``log_softmax``, which
leaves log-probabilities unchanged (``log_softmax`` is idempotent), so both give the
same loss.

Progress output: one concise line per epoch is printed (``progress=True``), which reads
the same in Jupyter, in a terminal and in papermill reports. A live ``tqdm`` bar over the
batches of the current epoch (``leave=False``: it disappears when the epoch ends) is
shown only where something renders it live: a terminal, or a notebook front end that
renders widgets (see :func:`stnlib.env.widgets_rendered`). Headless runs (papermill,
CI, pytest) get the epoch lines only, never frozen bars.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler
from tqdm.auto import tqdm

from .env import pick_device, seed_everything

__all__ = [
    "OPTIMIZERS",
    "PRECISIONS",
    "SCHEDULERS",
    "Callback",
    "EpochStats",
    "EvalMode",
    "EvalPoint",
    "History",
    "evaluate",
    "fit",
    "make_optimizer",
    "make_scheduler",
    "autocast",
]

#: Optimizer names :func:`fit` understands.
OPTIMIZERS: tuple[str, ...] = ("adam", "adamw", "sgd")
#: Scheduler names :func:`fit` understands (all stepped once per optimizer step).
SCHEDULERS: tuple[str, ...] = ("onecycle", "cosine", "step")

#: Arithmetic :func:`fit` and :func:`evaluate` can train/evaluate in (``"bf16"``: autocast, weights stay fp32).
PRECISIONS: tuple[str, ...] = ("fp32", "bf16")

OptimizerSpec = str | Optimizer | Callable[[list[nn.Parameter]], Optimizer]
SchedulerSpec = str | LRScheduler | Callable[[Optimizer], LRScheduler] | None


def _model_device(model: nn.Module) -> torch.device:
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


def _sync(device: torch.device) -> None:
    """Wait for queued GPU work, so wall-clock timings measure the work itself."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


class _Clock:
    """A stopwatch that accumulates only the intervals between ``start()`` and ``stop()``."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.total = 0.0
        self._since: float | None = None

    def start(self) -> None:
        if self._since is None:
            self._since = time.perf_counter()

    def stop(self) -> None:
        if self._since is not None:
            _sync(self.device)
            self.total += time.perf_counter() - self._since
            self._since = None


# ------------------------------------------------------------------- history
@dataclass
class EpochStats:
    """What one epoch did. Accuracies are in percent; times in seconds of training only.

    ``step``: optimizer steps so far (all epochs); ``seconds``: this epoch's training time,
    ``elapsed``: cumulative training time (both exclude evaluation and callbacks);
    ``lr``: learning rate of the epoch's last step; ``test_*`` are ``None`` without a test loader.
    A run stopped early ends with a partial epoch.
    """

    epoch: int
    step: int
    train_loss: float
    train_acc: float
    test_loss: float | None
    test_acc: float | None
    seconds: float
    elapsed: float
    lr: float


class EvalPoint(NamedTuple):
    """One evaluation on the test loader: after ``step`` optimizer steps and ``elapsed`` training seconds."""

    step: int
    elapsed: float
    test_acc: float


@dataclass
class History:
    """Everything :func:`fit` measured: per-epoch stats, every evaluation, and why it stopped early (if it did)."""

    epochs: list[EpochStats] = field(default_factory=list)
    evals: list[EvalPoint] = field(default_factory=list)
    stopped_early: str | None = None

    @property
    def final(self) -> EpochStats:
        """The last epoch's stats."""
        if not self.epochs:
            raise ValueError("the history is empty: no epoch has finished")
        return self.epochs[-1]

    @property
    def best_test_acc(self) -> float | None:
        """Best test accuracy (percent) of any evaluation, ``None`` if there was none."""
        accs = [p.test_acc for p in self.evals] + [e.test_acc for e in self.epochs if e.test_acc is not None]
        return max(accs) if accs else None

    def time_to(self, acc: float) -> float | None:
        """Cumulative training seconds when test accuracy first reached ``acc`` percent (``None``: never)."""
        for p in self.evals:
            if p.test_acc >= acc:
                return p.elapsed
        return None

    def steps_to(self, acc: float) -> int | None:
        """Optimizer steps when test accuracy first reached ``acc`` percent (``None``: never)."""
        for p in self.evals:
            if p.test_acc >= acc:
                return p.step
        return None

    def as_dict(self) -> dict[str, Any]:
        """Plain Python types only (JSON- and ``torch.load(weights_only=True)``-safe)."""
        return {
            "epochs": [asdict(e) for e in self.epochs],
            "evals": [p._asdict() for p in self.evals],
            "stopped_early": self.stopped_early,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        """Inverse of :meth:`as_dict` (e.g. for ``load_checkpoint(...)["history"]``)."""
        return cls(
            epochs=[EpochStats(**e) for e in d.get("epochs", [])],
            evals=[EvalPoint(**p) for p in d.get("evals", [])],
            stopped_early=d.get("stopped_early"),
        )


# ----------------------------------------------------------------- callbacks
class Callback:
    """Hooks :func:`fit` calls; all no-ops here. They run with the training clock stopped."""

    def on_train_begin(self, model: nn.Module) -> None:
        """Before the first step (model already on its device)."""

    def on_step_end(self, model: nn.Module, step: int, epoch: int) -> None:
        """After optimizer step ``step`` (1-based, global) of epoch ``epoch`` (1-based)."""

    def on_epoch_end(self, model: nn.Module, stats: EpochStats) -> None:
        """After each epoch's evaluation (also after a partial last epoch)."""

    def on_train_end(self, model: nn.Module, history: History) -> None:
        """After training finished or stopped early."""


class EvalMode:
    """Put ``module`` in eval mode inside a ``with`` block and restore every submodule's own mode afterwards."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.modes: list[tuple[nn.Module, bool]] = []

    def __enter__(self) -> nn.Module:
        self.modes = [(m, m.training) for m in self.module.modules()]
        self.module.eval()
        return self.module

    def __exit__(self, *exc: object) -> None:
        for m, mode in self.modes:
            m.training = mode


# ------------------------------------------------------------------ training
def autocast(device: torch.device, precision: str = "fp32"):
    """The context to run a forward pass in: ``torch.autocast`` to bfloat16 for ``"bf16"``, a no-op for ``"fp32"``.

    bfloat16 autocast keeps the weights and the optimizer in fp32 and runs convolutions and
    matrix products in bf16 (on CPUs with AMX/AVX-512-BF16 that is about 1.5x faster for
    small ResNets; on older CPUs it may be slower). Spatial transformers are unaffected in
    their coordinates: ``affine_grid``/``grid_sample`` run in fp32 under autocast.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def _layout(x: Tensor, channels_last: bool) -> Tensor:
    return x.contiguous(memory_format=torch.channels_last) if channels_last and x.dim() == 4 else x


def evaluate(
    model: nn.Module,
    loader: Iterable[Sequence[Tensor]],
    device: torch.device | str | None = None,
    *,
    max_batches: int | None = None,
    precision: str = "fp32",
    channels_last: bool = False,
) -> tuple[float, float]:
    """``(mean cross-entropy, accuracy in percent)`` of ``model`` over ``(x (B, C, H, W), y (B,))`` batches.

    Runs in eval mode under ``no_grad`` and restores each submodule's previous train/eval mode.
    ``device``: where to put the batches (default: the model's device). Outputs may be logits or
    log-probabilities (same loss: ``log_softmax`` is idempotent). ``max_batches`` limits the batches used.
    ``precision``/``channels_last``: as in :func:`fit` (the loss is always computed in fp32).
    """
    device = torch.device(device) if device is not None else _model_device(model)
    amp = autocast(device, precision)
    loss_sum, correct, seen = 0.0, 0, 0
    with EvalMode(model), torch.no_grad():
        for i, (x, y) in enumerate(loader):
            if max_batches is not None and i >= max_batches:
                break
            x, y = _layout(x.to(device, non_blocking=True), channels_last), y.to(device, non_blocking=True)
            with amp:
                out = model(x).float()
            loss_sum += F.cross_entropy(out, y, reduction="sum").item()
            correct += int((out.argmax(1) == y).sum().item())
            seen += y.shape[0]
    if seen == 0:
        raise ValueError("evaluate() got no samples: the loader is empty (or max_batches=0)")
    return loss_sum / seen, 100.0 * correct / seen


def make_optimizer(
    model: nn.Module,
    optimizer: OptimizerSpec = "adam",
    *,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    nesterov: bool = False,
    stn_lr_scale: float = 1.0,
    stn_weight_decay: bool = True,
) -> Optimizer:
    """An optimizer over the trainable parameters: a name in :data:`OPTIMIZERS`, a factory, or an instance.

    ``"sgd"`` uses ``momentum`` (``0`` gives plain SGD, the PyTorch tutorial's recipe) and ``nesterov``; ``"adam"``
    applies ``weight_decay`` as L2, ``"adamw"`` decoupled. An ``Optimizer`` instance is returned as is.

    ``stn_lr_scale``: the parameters of ``model.stn`` (the spatial transformer) get their own
    group with learning rate ``lr * stn_lr_scale`` (recorded as the group's ``"lr_scale"``;
    :func:`make_scheduler` keeps the ratio). A localization net that learns more slowly than
    the classifier keeps theta from jumping while the features are still poor.
    ``stn_weight_decay=False`` exempts the transformer's group from weight decay.
    """
    if isinstance(optimizer, Optimizer):
        return optimizer
    if not (math.isfinite(stn_lr_scale) and stn_lr_scale > 0):
        raise ValueError(f"stn_lr_scale must be a positive number, got {stn_lr_scale!r}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"{type(model).__name__} has no trainable parameters")
    if callable(optimizer):
        return optimizer(params)
    stn = getattr(model, "stn", None)
    if (stn_lr_scale != 1.0 or not stn_weight_decay) and isinstance(stn, nn.Module):
        stn_ids = {id(p) for p in stn.parameters()}
        rest = [p for p in params if id(p) not in stn_ids]
        own = [p for p in params if id(p) in stn_ids]
        group = {"params": own, "lr": lr * stn_lr_scale, "lr_scale": stn_lr_scale}
        if not stn_weight_decay:
            group["weight_decay"] = 0.0
        params = [{"params": rest, "lr_scale": 1.0}, group]
        params = [g for g in params if g["params"]]
    name = str(optimizer).lower()
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
    raise ValueError(
        f"unknown optimizer {optimizer!r}; use one of {', '.join(OPTIMIZERS)} or a callable params -> Optimizer"
    )


def make_scheduler(
    scheduler: SchedulerSpec, optimizer: Optimizer, *, lr: float, total_steps: int, warmup: float = 0.3
) -> LRScheduler | None:
    """A learning-rate schedule **stepped once per optimizer step** (``total_steps`` of them).

    * ``"onecycle"``: ``OneCycleLR(max_lr=lr, pct_start=warmup)`` (cycles momentum / beta1 unless SGD has momentum 0);
    * ``"cosine"``: ``CosineAnnealingLR`` from ``lr`` to 0 over ``total_steps``;
    * ``"step"``: ``StepLR``: times 0.1 after each third of ``total_steps``;
    * a callable ``optimizer -> scheduler`` (stepped per optimizer step too), or an instance, or ``None``.
    """
    if scheduler is None or isinstance(scheduler, LRScheduler):
        return scheduler
    if callable(scheduler):
        return scheduler(optimizer)
    name = str(scheduler).lower()
    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {scheduler!r}; use one of {', '.join(SCHEDULERS)}, None or a callable")
    if total_steps < 1:
        raise ValueError(f"scheduler {name!r} needs the number of steps; the train loader has no length")
    sched = torch.optim.lr_scheduler
    if name == "onecycle":
        d = optimizer.defaults
        cycle = "betas" in d or bool(d.get("momentum", 0.0))
        max_lr = [lr * g.get("lr_scale", 1.0) for g in optimizer.param_groups]
        if total_steps >= 4:  # OneCycleLR divides by the length of each phase: keep both >= 1.5 steps
            warmup = min(max(warmup, 1.5 / total_steps), 1 - 1.5 / total_steps)
        return sched.OneCycleLR(
            optimizer, max_lr=max_lr, total_steps=total_steps, cycle_momentum=cycle, pct_start=warmup
        )
    if name == "cosine":
        return sched.CosineAnnealingLR(optimizer, T_max=total_steps)
    return sched.StepLR(optimizer, step_size=max(1, total_steps // 3), gamma=0.1)


def _num_batches(loader: object) -> int | None:
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:
        return None


def _live_bars() -> bool:
    """Whether a live progress bar would render: a terminal, or a notebook front end that shows widgets."""
    try:
        from IPython import get_ipython

        ip = get_ipython()
    except ImportError:  # pragma: no cover
        ip = None
    if ip is not None and hasattr(ip, "kernel"):
        from .env import widgets_rendered

        try:
            return widgets_rendered()
        except ValueError:
            return False
    return sys.stderr.isatty()


def _fmt_acc(acc: float | None) -> str:
    return "     -" if acc is None else f"{acc:5.2f}%"


def fit(
    model: nn.Module,
    train_loader: Iterable[Sequence[Tensor]],
    *,
    epochs: int,
    test_loader: Iterable[Sequence[Tensor]] | None = None,
    optimizer: OptimizerSpec = "adam",
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    nesterov: bool = False,
    stn_lr_scale: float = 1.0,
    stn_weight_decay: bool = True,
    scheduler: SchedulerSpec = None,
    warmup: float = 0.3,
    label_smoothing: float = 0.0,
    precision: str = "fp32",
    channels_last: bool = False,
    device: torch.device | str | None = None,
    seed: int | None = None,
    callbacks: Sequence[Callback] = (),
    progress: bool = True,
    eval_every_steps: int | None = None,
    time_budget_s: float | None = None,
    target_acc: float | None = None,
) -> History:
    """Train ``model`` with cross-entropy on ``(x (B, C, H, W), y (B,))`` batches; return its :class:`History`.

    * ``optimizer``/``scheduler``: see :func:`make_optimizer` / :func:`make_scheduler` (schedules step
      per optimizer step; ``warmup`` is one-cycle's rising fraction; ``nesterov``, ``stn_lr_scale`` (the
      transformer's own learning-rate factor) and ``stn_weight_decay`` go to :func:`make_optimizer`). Pass an
      ``Optimizer`` instance if you need it afterwards (checkpoints).
    * ``precision``: ``"fp32"`` or ``"bf16"`` (autocast, see :func:`autocast`); ``channels_last``: NHWC
      memory layout for model and batches (faster convolutions on CPU). Both also apply to evaluation.
    * ``seed``: :func:`stnlib.env.seed_everything` before anything random (shuffling, dropout).
    * ``device``: default :func:`pick_device`; the model is moved there.
    * After each epoch the model is evaluated on ``test_loader``; with ``eval_every_steps=k`` also every
      ``k`` steps (all evaluations land in ``History.evals`` for :meth:`History.time_to`).
    * ``time_budget_s``: stop after the step during which training time (no evaluation) passed the budget;
      ``target_acc``: stop at the first evaluation reaching it. Either sets ``History.stopped_early``
      and ends with a (possibly partial) last epoch, evaluated.
    * ``progress``: print one line per epoch (and a live bar where one renders; see the module docstring).

    Raises ``FloatingPointError`` on a non-finite loss (before the bad step is applied). Leaves the model in eval mode.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if eval_every_steps is not None and eval_every_steps < 1:
        raise ValueError(f"eval_every_steps must be a positive integer or None, got {eval_every_steps}")
    if test_loader is None and (eval_every_steps is not None or target_acc is not None):
        raise ValueError("eval_every_steps and target_acc need a test_loader")
    if time_budget_s is not None and time_budget_s < 0:
        raise ValueError(f"time_budget_s must be >= 0, got {time_budget_s}")
    if seed is not None:
        seed_everything(seed)
    dev = torch.device(device) if device is not None else pick_device()
    amp = autocast(dev, precision)  # validates precision before any work
    model.to(dev)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    opt = make_optimizer(
        model,
        optimizer,
        lr=lr,
        weight_decay=weight_decay,
        momentum=momentum,
        nesterov=nesterov,
        stn_lr_scale=stn_lr_scale,
        stn_weight_decay=stn_weight_decay,
    )
    per_epoch = _num_batches(train_loader)
    sched = make_scheduler(scheduler, opt, lr=lr, total_steps=epochs * (per_epoch or 0), warmup=warmup)
    callbacks = list(callbacks)
    bars = progress and _live_bars()
    history = History()
    clock = _Clock(dev)
    step = 0
    last_eval: tuple[int, float, float] | None = None  # (step, loss, acc)

    def run_eval() -> tuple[int, float, float]:
        assert test_loader is not None
        loss, acc = evaluate(model, test_loader, dev, precision=precision, channels_last=channels_last)
        history.evals.append(EvalPoint(step, clock.total, acc))
        return step, loss, acc

    def reached(acc: float) -> str | None:
        if target_acc is None or acc < target_acc:
            return None
        return f"target_acc {target_acc:g}% reached: test accuracy {acc:.2f}% after {step} steps ({clock.total:.1f} s)"

    for cb in callbacks:
        cb.on_train_begin(model)
    for epoch in range(1, epochs + 1):
        model.train()
        loss_sum, correct, seen, lr_used, stop = 0.0, 0, 0, opt.param_groups[0]["lr"], None
        start = clock.total
        bar_args = {"desc": f"epoch {epoch}/{epochs}", "leave": False, "disable": not bars, "unit": "batch"}
        with tqdm(total=per_epoch, **bar_args) as bar:  # leave=False: the bar vanishes when the epoch ends
            clock.start()
            for i, (x, y) in enumerate(train_loader):
                x, y = _layout(x.to(dev, non_blocking=True), channels_last), y.to(dev, non_blocking=True)
                lr_used = opt.param_groups[0]["lr"]
                with amp:
                    out = model(x)
                loss = F.cross_entropy(out.float(), y, label_smoothing=label_smoothing)
                value = loss.item()
                if not math.isfinite(value):
                    clock.stop()
                    raise FloatingPointError(
                        f"loss is {value} at epoch {epoch}, step {step + 1} (lr {lr_used:.3g}); "
                        "the weights diverged or the data has NaN/inf: try a lower lr"
                    )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if sched is not None:
                    sched.step()
                step += 1
                n = y.shape[0]
                loss_sum += value * n
                correct += int((out.detach().argmax(1) == y).sum().item())
                seen += n
                bar.update(1)
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{100.0 * correct / seen:.1f}%", refresh=False)
                clock.stop()
                last_step = epoch == epochs and per_epoch is not None and i + 1 == per_epoch
                if eval_every_steps is not None and step % eval_every_steps == 0:
                    last_eval = run_eval()
                    stop = reached(last_eval[2])
                for cb in callbacks:
                    cb.on_step_end(model, step, epoch)
                if stop is None and time_budget_s is not None and clock.total >= time_budget_s:
                    stop = f"time budget of {time_budget_s:g} s used up after {step} steps ({clock.total:.1f} s)"
                if stop is not None and not last_step:
                    break
                stop = None
                clock.start()
            clock.stop()
        if seen == 0:
            raise ValueError(f"the train loader yielded no batches in epoch {epoch}")
        test_loss = test_acc = None
        if test_loader is not None:
            if last_eval is None or last_eval[0] != step:
                last_eval = run_eval()
            _, test_loss, test_acc = last_eval
            if stop is None and epoch < epochs:
                stop = reached(test_acc)
        stats = EpochStats(
            epoch=epoch,
            step=step,
            train_loss=loss_sum / seen,
            train_acc=100.0 * correct / seen,
            test_loss=test_loss,
            test_acc=test_acc,
            seconds=clock.total - start,
            elapsed=clock.total,
            lr=lr_used,
        )
        history.epochs.append(stats)
        if progress:
            print(
                f"epoch {epoch:>{len(str(epochs))}}/{epochs}  step {step:>6}  loss {stats.train_loss:.4f}  "
                f"train {_fmt_acc(stats.train_acc)}  test {_fmt_acc(test_acc)}  lr {lr_used:.2e}  "
                f"{stats.seconds:.1f} s (total {stats.elapsed:.1f} s)",
                flush=True,
            )
        for cb in callbacks:
            cb.on_epoch_end(model, stats)
        if stop is not None:
            history.stopped_early = stop
            if progress:
                print(f"stopped early: {stop}", flush=True)
            break
    model.eval()
    for cb in callbacks:
        cb.on_train_end(model, history)
    return history
