"""Training recipes and the small pieces of experiment logic shared by notebooks and benchmarks.

A :class:`Recipe` is everything about *how* a model is trained except the number of
epochs; :func:`train` runs one on an :class:`~stnlib.data.ImageData`. Keeping them here
means notebook 2, notebook 4 and ``make bench`` train the same way from the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from . import affine
from .data import ImageData
from .train import Callback, EvalMode, History, fit

__all__ = ["OURS", "TUTORIAL", "Recipe", "predict", "stn_thetas", "train"]


@dataclass(frozen=True)
class Recipe:
    """Optimizer, schedule and batch size of a training run (epochs are chosen per experiment)."""

    name: str
    optimizer: str = "adam"
    lr: float = 3e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    scheduler: str | None = "onecycle"
    batch_size: int = 128
    label_smoothing: float = 0.0

    def describe(self) -> str:
        sched = f", {self.scheduler} schedule" if self.scheduler else ", constant lr"
        mom = f" (momentum {self.momentum})" if self.optimizer == "sgd" and self.momentum else ""
        return f"{self.name}: {self.optimizer.upper()}{mom} lr {self.lr:g}{sched}, batch {self.batch_size}"

    def as_dict(self) -> dict:
        return asdict(self)


#: The PyTorch STN tutorial's recipe: plain SGD, lr 0.01, batch 64, no schedule.
TUTORIAL = Recipe("PyTorch tutorial", optimizer="sgd", lr=0.01, momentum=0.0, scheduler=None, batch_size=64)
#: Ours: Adam with a one-cycle schedule, batch 128 (chosen on a validation split, never the test set).
OURS = Recipe("ours", optimizer="adam", lr=3e-3, scheduler="onecycle", batch_size=128)


def train(
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
) -> History:
    """Train ``model`` on ``data.train_*`` with ``recipe``, evaluating on ``data.test_*`` after each epoch."""
    train_loader, test_loader = data.loaders(recipe.batch_size, test_batch_size=1000, seed=seed)  # see _test_batches
    return fit(
        model,
        train_loader,
        test_loader=test_loader,
        epochs=epochs,
        optimizer=recipe.optimizer,
        lr=recipe.lr,
        momentum=recipe.momentum,
        weight_decay=recipe.weight_decay,
        scheduler=recipe.scheduler,
        label_smoothing=recipe.label_smoothing,
        seed=seed,
        callbacks=callbacks,
        eval_every_steps=eval_every_steps,
        time_budget_s=time_budget_s,
        target_acc=target_acc,
        progress=progress,
    )


def _test_batches(data: ImageData):
    """The test set in order, normalized, in batches of 1000 (the loader :func:`train` evaluates on)."""
    return data.loaders(1000)[1]


@torch.inference_mode()
def predict(model: nn.Module, data: ImageData) -> tuple[Tensor, Tensor]:
    """Class probabilities ``(N, classes)`` and predictions ``(N,)`` on the test set, on the CPU."""
    device = next(model.parameters()).device
    with EvalMode(model):
        p = torch.cat([torch.softmax(model(x.to(device)), dim=1).cpu() for x, _ in _test_batches(data)])
    return p, p.argmax(1)


@torch.inference_mode()
def stn_thetas(model: nn.Module, data: ImageData) -> dict[str, Tensor]:
    """Thetas ``(N, 2, 3)`` the model's transformer applies to each test image, and their decomposition.

    Returns ``{"theta": (N, 2, 3), "rotation": (N,), "scale_x": ..., "tx": ..., ...}`` (see
    :func:`stnlib.affine.decompose`; ``scale > 1`` means the STN zooms in).
    """
    stn = getattr(model, "stn", None)
    if stn is None:
        raise ValueError("model has no spatial transformer (.stn is None)")
    device = next(model.parameters()).device
    with EvalMode(model):
        thetas = torch.cat([stn.theta(x.to(device)).cpu() for x, _ in _test_batches(data)])
    return {"theta": thetas, **affine.decompose(thetas)}
