"""The one training loop, :func:`run_plan`, and what it records: :func:`stnlib.train.fit` and
:func:`stnlib.fast_cifar.train_fast` each describe a run as a :class:`Plan`. Training time excludes evaluation and
callbacks."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from .env import synchronize
from .progress import progress_bar


@dataclass
class EpochStats:
    """One epoch: accuracies in percent; ``seconds`` (this epoch) and ``elapsed`` (cumulative) count training only;
    ``step``: optimizer steps so far; ``lr``: the epoch's last step's learning rate."""

    epoch: int
    step: int
    train_loss: float
    train_acc: float
    test_loss: float | None
    test_acc: float | None
    seconds: float
    elapsed: float
    lr: float

    def line(self, epochs: int, test_label: str = "test") -> str:
        """The line the loop prints after this epoch of ``epochs``."""
        return (
            f"epoch {self.epoch:>{len(str(epochs))}}/{epochs}  step {self.step:>6}  loss {self.train_loss:.4f}  "
            f"train {self.train_acc:5.2f}%  {test_label} {self.test_acc:5.2f}%  lr {self.lr:.2e}  "
            f"{self.seconds:.1f} s (total {self.elapsed:.1f} s)"
        )


class EvalPoint(NamedTuple):
    """One evaluation on the test set: after ``step`` steps and ``elapsed`` training seconds."""

    step: int
    elapsed: float
    test_acc: float


@dataclass
class History:
    """What a run measured: per-epoch stats, every evaluation, why it stopped early (if it did)."""

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

    def to_json(self) -> str:
        """The history as JSON (floats round-trip exactly); :meth:`from_json` reads it back."""
        epochs = [asdict(e) for e in self.epochs]
        return json.dumps(
            {"epochs": epochs, "evals": [list(p) for p in self.evals], "stopped_early": self.stopped_early}
        )

    @classmethod
    def from_json(cls, text: str) -> History:
        """The history :meth:`to_json` wrote."""
        d = json.loads(text)
        return cls([EpochStats(**e) for e in d["epochs"]], [EvalPoint(*p) for p in d["evals"]], d["stopped_early"])

    def time_to(self, acc: float) -> float | None:
        """Training seconds when test accuracy first reached ``acc`` percent (``None``: never)."""
        return next((p.elapsed for p in self.evals if p.test_acc >= acc), None)

    def steps_to(self, acc: float) -> int | None:
        """Optimizer steps when test accuracy first reached ``acc`` percent (``None``: never)."""
        return next((p.step for p in self.evals if p.test_acc >= acc), None)


class Callback:
    """Hooks the loop calls with the training clock stopped: before the first step, after each optimizer step
    (``step`` and ``epoch`` 1-based), after each epoch's evaluation."""

    def on_train_begin(self, model: nn.Module) -> None: ...
    def on_step_end(self, model: nn.Module, step: int, epoch: int) -> None: ...
    def on_epoch_end(self, model: nn.Module, stats: EpochStats) -> None: ...


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter or buffer (CPU for a model with neither)."""
    return next((t.device for t in [*model.parameters(), *model.buffers()]), torch.device("cpu"))


class _Clock:
    """A stopwatch adding up only the intervals between ``start()`` and ``stop()`` (GPU work included)."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.total, self._since = device, 0.0, None

    def start(self) -> None:
        if self._since is None:
            self._since = time.perf_counter()

    def stop(self) -> None:
        if self._since is not None:
            synchronize(self.device)
            self.total += time.perf_counter() - self._since
            self._since = None


@dataclass
class Plan:
    """One training run for :func:`run_plan`: ``batches(epoch)`` yields ``(x, y)`` on the device; ``step(x, y)`` returns
    ``(loss summed over the batch, outputs)``; ``after_step(step)`` is timed, unlike a :class:`Callback`;
    ``evaluate()`` returns ``(test loss or None, test accuracy %)``; training stops after ``total`` steps."""

    opt: Optimizer
    batches: Callable[[int], Iterable[tuple[Tensor, Tensor]]]
    steps_per_epoch: int
    total: int
    step: Callable[[Tensor, Tensor], tuple[float, Tensor]]
    evaluate: Callable[[], tuple[float | None, float]]
    after_step: Callable[[int], None] = lambda step: None
    begin_epoch: Callable[[int], None] = lambda epoch: None
    test_label: str = "test"


class _Run:
    """:func:`run_plan`'s state between steps."""

    def __init__(self, model: nn.Module, plan: Plan, callbacks: list[Callback], limits: dict) -> None:
        self.model, self.plan, self.callbacks, self.limits = model, plan, callbacks, limits
        self.clock, self.history, self.step = _Clock(model_device(model)), History(), 0
        self.last_eval: tuple[int, float | None, float] | None = None  # (step, loss, acc)

    def evaluate(self) -> tuple[int, float | None, float]:
        loss, acc = self.plan.evaluate()
        self.history.evals.append(EvalPoint(self.step, self.clock.total, acc))
        self.last_eval = (self.step, loss, acc)
        return self.last_eval

    def reached(self, acc: float) -> str | None:
        target, t = self.limits["target_acc"], self.clock.total
        hit = target is not None and acc >= target
        return f"target_acc {target:g}% reached: test {acc:.2f}% at step {self.step} ({t:.1f} s)" if hit else None

    def after_step(self, epoch: int) -> str | None:
        """Periodic evaluation, callbacks and the time budget; the reason to stop, if any."""
        stop, every, budget = None, self.limits["eval_every_steps"], self.limits["time_budget_s"]
        if every is not None and self.step % every == 0:
            stop = self.reached(self.evaluate()[2])
        for cb in self.callbacks:
            cb.on_step_end(self.model, self.step, epoch)
        if stop is None and budget is not None and self.clock.total >= budget:
            stop = f"time budget of {budget:g} s used up after {self.step} steps ({self.clock.total:.1f} s)"
        return stop

    def epoch(self, epoch: int, epochs: int, bars: bool) -> tuple[EpochStats, str | None]:
        """One pass over the epoch's batches (cut short by a stop or the last step), then an evaluation."""
        plan, (loss_sum, correct, seen, stop, start) = self.plan, (0.0, 0, 0, None, self.clock.total)
        plan.begin_epoch(epoch)
        self.model.train()
        lr_used, steps = plan.opt.param_groups[0]["lr"], min(plan.steps_per_epoch, plan.total - self.step)
        with progress_bar(steps, f"epoch {epoch}/{epochs}", enabled=bars) as bar:
            self.clock.start()
            for x, y in plan.batches(epoch):  # to its end: a DataLoader's sampler draws its seed there
                if self.step >= plan.total:
                    break
                lr_used = plan.opt.param_groups[0]["lr"]
                try:
                    loss, out = plan.step(x, y)
                except FloatingPointError as e:
                    self.clock.stop()
                    raise FloatingPointError(f"epoch {epoch}, step {self.step + 1}: {e}") from None
                self.step += 1
                plan.after_step(self.step)
                loss_sum, seen = loss_sum + loss, seen + len(y)
                correct += int((out.argmax(1) == y).sum().item())
                bar.update(1)
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{100.0 * correct / seen:.1f}%", refresh=False)
                self.clock.stop()
                if (stop := self.after_step(epoch)) is not None and self.step < plan.total:
                    break
                stop = None
                self.clock.start()
            self.clock.stop()
        if seen == 0:
            raise ValueError(f"the training set yielded no batches in epoch {epoch} (is data.train_images empty?)")
        fresh = self.last_eval is not None and self.last_eval[0] == self.step
        _, test_loss, test_acc = self.last_eval if fresh else self.evaluate()
        stop = stop or (self.reached(test_acc) if epoch < epochs else None)
        seconds, train_acc = self.clock.total - start, 100.0 * correct / seen
        stats = EpochStats(
            epoch, self.step, loss_sum / seen, train_acc, test_loss, test_acc, seconds, self.clock.total, lr_used
        )
        self.history.epochs.append(stats)
        return stats, stop


def run_plan(
    model: nn.Module, plan: Plan, *, epochs: int, callbacks: list[Callback], limits: dict, progress: bool
) -> History:
    """Up to ``epochs`` passes (``plan.total`` steps at most), each followed by an evaluation; ``limits``:
    ``eval_every_steps``, ``time_budget_s``, ``target_acc``. Leaves the model in eval mode."""
    run = _Run(model, plan, callbacks, limits)
    for cb in callbacks:
        cb.on_train_begin(model)
    for epoch in range(1, epochs + 1):
        s, stop = run.epoch(epoch, epochs, bars=progress)
        if progress:
            print(s.line(epochs, plan.test_label), flush=True)
        for cb in callbacks:
            cb.on_epoch_end(model, s)
        if stop is not None:
            run.history.stopped_early = stop
            if progress:
                print(f"stopped early: {stop}", flush=True)
        if stop is not None or run.step >= plan.total:
            break
    model.eval()
    return run.history
