"""Training recipes (how :func:`stnlib.train.fit` trains a model), the named ones notebooks use, and what a recipe
builds for a model: its optimizer and schedule; the checks of what training takes.

>>> Recipe("demo", optimizer="sgd", lr=0.1, momentum=0.9, scheduler=None).describe()
'demo: SGD (momentum 0.9) lr 0.1, constant lr, batch 128'
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from . import models
from .checks import (
    TEXT,
    ArgumentTypeError,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_seed,
    check_tensor,
    check_type,
    describe,
)
from .data import ImageData
from .env import PRECISIONS

OPTIMIZERS, SCHEDULERS = ("adam", "sgd"), ("onecycle", None)
#: How a recipe's description names its precision; fp32 is the unremarked default.
_PRECISION_WORDS = {
    "auto": "mixed precision where native (auto)",
    "bf16": "bf16 autocast",
    "fp16": "fp16 autocast + gradient scaler",
    "fp32": "",
}


def precision_words(precision: str) -> str:
    """A recipe's precision in a description's words (``""`` for fp32)."""
    return _PRECISION_WORDS[check_choice(precision, "precision", PRECISIONS)]


def _mean_std(value: object, name: str) -> tuple[float, float] | None:
    if value is None:
        return None
    if isinstance(value, TEXT) or not isinstance(value, Sequence) or len(value) != 2:
        cls = ArgumentTypeError if isinstance(value, TEXT) or not isinstance(value, Sequence) else ValueError
        raise cls(f"{name} must be None or a (mean, std) pair of numbers, got {describe(value)}")
    return check_float(value[0], f"{name} mean"), check_float(value[1], f"{name} std", positive=True)


_NUMBER, _NONNEG = functools.partial(check_float, positive=True), functools.partial(check_float, min=0.0)
_COUNT, _SIZE = functools.partial(check_int, min=0), functools.partial(check_int, min=1)
_FRACTION = functools.partial(check_float, min=0.0, max=1.0)


def _choice(options: tuple) -> Callable[[object, str], Any]:
    return lambda value, name: check_choice(value, name, options)


def _scheduler(value: object, name: str) -> str | None:
    return None if value is None else check_choice(value, f"{name} (None: constant lr)", SCHEDULERS[:1])


def check_fields(recipe: Any, checks: dict[str, Callable[[object, str], Any]]) -> None:
    """Check a frozen recipe's fields: ``checks`` maps each to ``check(value, name)``, whose result is stored back."""
    kind = type(recipe).__name__
    name = check_type(recipe.name, f"{kind} name", str, "a str")
    for field, check in checks.items():
        object.__setattr__(recipe, field, check(getattr(recipe, field), f"{kind} {name!r}: {field}"))


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How a model is trained (epochs: per experiment). ``optimizer``: ``"adam"`` (``weight_decay`` as L2) or ``"sgd"``.
    ``scheduler``: ``"onecycle"`` (peak ``lr``, rising for the ``warmup`` fraction of steps) or ``None`` (constant).
    The transformer (``model.stn``) learns at ``lr * stn_lr_scale``; ``stn_weight_decay=False`` exempts it from weight
    decay. ``augment_pad`` > 0: random crop with that padding + horizontal flip. ``normalize``: one ``(mean, std)`` for
    all channels. ``precision``: see :func:`~stnlib.env.resolve_precision`; ``channels_last``: NHWC layout."""

    name: str
    optimizer: str = "adam"
    lr: float = 3e-3
    momentum: float = 0.9
    nesterov: bool = False
    stn_lr_scale: float = 1.0
    stn_weight_decay: bool = True
    weight_decay: float = 0.0
    scheduler: str | None = "onecycle"
    warmup: float = 0.3
    batch_size: int = 128
    label_smoothing: float = 0.0
    augment_pad: int = 0
    normalize: tuple[float, float] | None = None
    precision: str = "fp32"
    channels_last: bool = False

    def __post_init__(self) -> None:
        check_fields(
            self,
            {
                "optimizer": _choice(OPTIMIZERS),
                "lr": _NUMBER,
                "momentum": _FRACTION,
                "nesterov": check_bool,
                "stn_lr_scale": _NUMBER,
                "stn_weight_decay": check_bool,
                "weight_decay": _NONNEG,
                "scheduler": _scheduler,
                "warmup": _FRACTION,
                "batch_size": _SIZE,
                "label_smoothing": _FRACTION,
                "augment_pad": _COUNT,
                "normalize": _mean_std,
                "precision": _choice(PRECISIONS),
                "channels_last": check_bool,
            },
        )
        if self.optimizer == "sgd" and self.nesterov and not self.momentum:
            raise ValueError(f"Recipe {self.name!r}: nesterov needs a momentum > 0, got momentum {self.momentum:g}")

    def describe(self) -> str:
        """One line for a notebook: optimizer, lr, schedule, batch and what differs from the defaults."""
        nesterov = "Nesterov " if self.nesterov else ""
        mom = f" ({nesterov}momentum {self.momentum})" if self.optimizer == "sgd" and self.momentum else ""
        extras = [
            f"weight decay {self.weight_decay:g}" if self.weight_decay else "",
            f"label smoothing {self.label_smoothing:g}" if self.label_smoothing else "",
            f"crop (pad {self.augment_pad}) + flip" if self.augment_pad else "",
            f"Normalize({self.normalize[0]:g}, {self.normalize[1]:g})" if self.normalize else "",
            f"STN lr x{self.stn_lr_scale:g}" if self.stn_lr_scale != 1 else "",
            "no weight decay on the STN" if self.weight_decay and not self.stn_weight_decay else "",
            precision_words(self.precision),
        ]
        sched = f", {self.scheduler} schedule" if self.scheduler else ", constant lr"
        tail = "".join(f", {e}" for e in extras if e)
        return f"{self.name}: {self.optimizer.upper()}{mom} lr {self.lr:g}{sched}, batch {self.batch_size}{tail}"

    def prepare(self, data: ImageData) -> ImageData:
        """``data`` with this recipe's normalization (unchanged when ``normalize`` is ``None``)."""
        check_type(data, "data", ImageData, "an ImageData (stnlib.data)")
        if self.normalize is None:
            return data
        c = data.image_shape[0]
        return dataclasses.replace(data, mean=(self.normalize[0],) * c, std=(self.normalize[1],) * c)


TUTORIAL = Recipe("PyTorch tutorial", optimizer="sgd", lr=0.01, momentum=0.0, scheduler=None, batch_size=64)
#: Ours, chosen on a validation split (never the test set).
OURS = Recipe("ours", optimizer="adam", lr=3e-3, scheduler="onecycle", batch_size=128, precision="auto")
#: Cluttered MNIST: STN lr 0.3x (``tools/validate_mnist.py``).
OURS_CLUTTER = dataclasses.replace(OURS, name="ours (cluttered)", stn_lr_scale=0.3)
#: The CIFAR-10 course write-ups: the tutorial's plain SGD, inputs ``Normalize(0.5, 0.5)``.
COURSE_BATCH64 = dataclasses.replace(TUTORIAL, name="course (batch 64)", normalize=(0.5, 0.5))
COURSE_BATCH32 = dataclasses.replace(COURSE_BATCH64, name="course (batch 32)", batch_size=32)


@dataclasses.dataclass(frozen=True)
class CourseModel:
    """One CIFAR-10 course write-up: its :func:`~stnlib.models.course_net` arguments, recipe and reported result."""

    name: str
    net: dict
    recipe: Recipe
    reported_acc: float
    reported_epochs: int = 50

    def build(self, *, stn: bool = True) -> models.STNClassifier:
        """The network, with zero padding in ``grid_sample`` (grey on [-1, 1] input), as they had it."""
        return models.course_net(3, 32, stn=stn, **self.net)


#: The three course models notebook 3 compares: one classifier design, two localization sizes, one wider.
COURSE_MODELS: tuple[CourseModel, ...] = (
    CourseModel("tutorial net", {}, COURSE_BATCH64, 57.0),
    CourseModel("large localization", {"loc_conv": (64, 128), "loc_hidden": 256}, COURSE_BATCH32, 56.46),
    CourseModel(
        "wide + large localization",
        {"conv": (16, 32), "hidden": 1024, "loc_conv": (64, 128), "loc_hidden": 256},
        COURSE_BATCH32,
        66.0,
    ),
)

#: Ours on CIFAR-10 for the quarter ResNet-9 (chosen on a validation split).
OURS_CIFAR = Recipe(
    "ours (CIFAR-10)",
    optimizer="sgd",
    lr=0.1,
    momentum=0.9,
    nesterov=True,
    stn_lr_scale=0.1,
    weight_decay=5e-4,
    warmup=0.25,
    batch_size=256,
    label_smoothing=0.1,
    augment_pad=4,
    precision="auto",
    channels_last=True,
)
#: :data:`OURS_CIFAR` for the quick profile's few dozen steps, where lr 0.1 arrives before batch norm's statistics
#: settle and the loss climbs far above chance.
OURS_CIFAR_QUICK = dataclasses.replace(OURS_CIFAR, name="ours (CIFAR-10, quick profile)", lr=0.003, batch_size=32)


def make_optimizer(model: nn.Module, recipe: Recipe) -> Optimizer:
    """The recipe's optimizer over the trainable parameters; ``model.stn`` gets its own group when it learns
    differently (``lr * stn_lr_scale``, kept as ``"lr_scale"`` for :func:`make_scheduler`; no weight decay)."""
    check_model(model), check_recipe(recipe)
    params: list = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"model ({type(model).__name__}) has no trainable parameters")
    stn = getattr(model, "stn", None)
    if (recipe.stn_lr_scale != 1.0 or not recipe.stn_weight_decay) and isinstance(stn, nn.Module):
        ids = {id(p) for p in stn.parameters()}
        own = {"params": [p for p in params if id(p) in ids], "lr": recipe.lr * recipe.stn_lr_scale}
        own |= {"lr_scale": recipe.stn_lr_scale} | ({} if recipe.stn_weight_decay else {"weight_decay": 0.0})
        groups = [{"params": [p for p in params if id(p) not in ids], "lr_scale": 1.0}, own]
        params = [g for g in groups if g["params"]]
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    return torch.optim.SGD(
        params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay, nesterov=recipe.nesterov
    )


def make_scheduler(optimizer: Optimizer, recipe: Recipe, total_steps: int) -> LRScheduler | None:
    """The recipe's schedule, stepped once per optimizer step (``total_steps`` of them), or ``None``."""
    check_type(optimizer, "optimizer", Optimizer, "a torch.optim.Optimizer (make_optimizer)")
    check_recipe(recipe)
    total_steps = check_int(total_steps, "total_steps", min=1)
    if recipe.scheduler is None:
        return None
    d, warmup = optimizer.defaults, recipe.warmup
    if total_steps >= 4:  # OneCycleLR divides by each phase's length: keep both >= 1.5 steps
        warmup = min(max(warmup, 1.5 / total_steps), 1 - 1.5 / total_steps)
    elif warmup * total_steps >= 1:  # fewer: a warm-up step would leave a phase of length 0; start at the peak
        warmup = 0.5 / total_steps
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=[recipe.lr * g.get("lr_scale", 1.0) for g in optimizer.param_groups],
        total_steps=total_steps,
        cycle_momentum="betas" in d or bool(d.get("momentum", 0.0)),
        pct_start=warmup,
    )


def check_recipe(recipe: object, name: str = "recipe") -> Recipe:
    """``recipe`` if it is a :class:`Recipe` (a :class:`~stnlib.fast_cifar.FastRecipe` trains with ``train_fast``)."""
    return check_type(recipe, name, Recipe, "a Recipe (stnlib.recipes; a FastRecipe trains with train_fast)")


def check_model(model: object, name: str = "model", *, stn: str | None = None) -> nn.Module:
    """``model`` if it is a :class:`torch.nn.Module`; ``stn``: its ``.stn`` must have that method (``"theta"``)."""
    check_type(model, name, nn.Module, "a torch.nn.Module")
    if stn is not None and not callable(getattr(getattr(model, "stn", None), stn, None)):
        raise ValueError(f"{name} ({type(model).__name__}) has no spatial transformer at .stn (needs .stn.{stn})")
    return model


def check_step(model: object, x: object, y: object, opt: object, recipe: object, sched: object) -> None:
    """One training step's arguments, checked cheaply (types, shapes and dtypes: no GPU sync)."""
    check_model(model)
    check_tensor(x, "x", kind="float", nonempty=True)
    check_tensor(y, "y", shape=(len(x),))
    if y.dtype != torch.int64:
        raise ArgumentTypeError(f"y must be int64 class indices, got dtype {y.dtype} (convert with .long())")
    check_type(opt, "opt", Optimizer, "a torch.optim.Optimizer (make_optimizer)")
    check_recipe(recipe)
    if sched is not None and not callable(getattr(sched, "step", None)):
        raise ArgumentTypeError(f"sched must be a learning-rate scheduler or None, got {describe(sched)}")


_HOOKS = ("on_train_begin", "on_step_end", "on_epoch_end")


def _callbacks(callbacks: object) -> list:
    if isinstance(callbacks, TEXT) or not isinstance(callbacks, Iterable):
        wrap = " (put one in a list: [callback])" if hasattr(callbacks, "on_step_end") else ""
        raise ArgumentTypeError(f"callbacks must be a list of Callback objects, got {describe(callbacks)}{wrap}")
    callbacks = list(callbacks)
    for i, cb in enumerate(callbacks):
        if not all(callable(getattr(cb, hook, None)) for hook in _HOOKS):
            raise ArgumentTypeError(f"callbacks[{i}] must be a Callback (with {', '.join(_HOOKS)}), got {describe(cb)}")
    return callbacks


def _optional(check: Callable[..., Any], value: object, name: str, **kw: Any) -> Any:
    return None if value is None else check(value, name, **kw)


def check_fit(model, data, recipe, epochs, seed, callbacks, eval_every_steps, time_budget_s, target_acc, progress):
    """:func:`stnlib.train.fit`'s arguments, checked before any work: ``(epochs, seed, callbacks, limits)``."""
    check_model(model)
    check_type(data, "data", ImageData, "an ImageData (stnlib.data)")
    check_recipe(recipe)
    for split in ("train", "test"):
        if len(getattr(data, f"{split}_labels")) == 0:
            raise ValueError(
                f"data has no {split} images (data.{split}_images is empty): fit trains on data.train_* "
                "and evaluates on data.test_* after each epoch"
            )
    epochs, seed, _ = check_int(epochs, "epochs", min=1), check_seed(seed), check_bool(progress, "progress")
    limits = {
        "eval_every_steps": _optional(check_int, eval_every_steps, "eval_every_steps", min=1),
        "time_budget_s": _optional(check_float, time_budget_s, "time_budget_s", min=0.0, finite=False),
        "target_acc": _optional(check_float, target_acc, "target_acc (percent)", min=0.0, max=100.0),
    }
    return epochs, seed, _callbacks(callbacks), limits
