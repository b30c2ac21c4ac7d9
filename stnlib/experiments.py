"""Training recipes and the small pieces of experiment logic shared by notebooks and benchmarks.

A :class:`Recipe` is everything about *how* a model is trained except the number of
epochs; :func:`train` runs one on an :class:`~stnlib.data.ImageData`. Keeping them here
means notebook 2, notebook 4 and ``make bench`` train the same way from the same code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from . import affine, models
from .augment import RandomCropFlip
from .data import ImageData
from .train import Callback, EvalMode, History, fit

__all__ = [
    "COURSE_MODELS",
    "CourseModel",
    "COURSE_BATCH32",
    "COURSE_BATCH64",
    "OURS",
    "OURS_CIFAR",
    "OURS_CLUTTER",
    "TUTORIAL",
    "Recipe",
    "predict",
    "stn_thetas",
    "train",
]


@dataclass(frozen=True)
class Recipe:
    """How a model is trained (epochs are chosen per experiment).

    Besides optimizer, schedule and batch size: ``augment_pad`` > 0 turns on random crop
    (with that padding) + horizontal flip, applied to ``[0, 1]`` images *before*
    normalization and the STN (:class:`~stnlib.augment.RandomCropFlip`); ``normalize``
    replaces the dataset's mean/std by one ``(mean, std)`` for every channel (the course
    write-ups' ``Normalize(0.5, 0.5)``); ``stn_lr_scale``, ``stn_weight_decay``, ``warmup``, ``precision`` and
    ``channels_last`` as in :func:`~stnlib.train.fit`.
    """

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

    def describe(self) -> str:
        sched = f", {self.scheduler} schedule" if self.scheduler else ", constant lr"
        mom = ""
        if self.optimizer == "sgd" and self.momentum:
            mom = f" ({'Nesterov ' if self.nesterov else ''}momentum {self.momentum})"
        extras = [
            f"weight decay {self.weight_decay:g}" if self.weight_decay else "",
            f"label smoothing {self.label_smoothing:g}" if self.label_smoothing else "",
            f"crop (pad {self.augment_pad}) + flip" if self.augment_pad else "",
            f"Normalize({self.normalize[0]:g}, {self.normalize[1]:g})" if self.normalize else "",
            f"STN lr x{self.stn_lr_scale:g}" if self.stn_lr_scale != 1 else "",
            "no weight decay on the STN" if self.weight_decay and not self.stn_weight_decay else "",
            "bf16 autocast" if self.precision == "bf16" else "",
        ]
        tail = "".join(f", {e}" for e in extras if e)
        return f"{self.name}: {self.optimizer.upper()}{mom} lr {self.lr:g}{sched}, batch {self.batch_size}{tail}"

    def prepare(self, data: ImageData) -> ImageData:
        """``data`` with this recipe's normalization (unchanged when ``normalize`` is ``None``)."""
        if self.normalize is None:
            return data
        c = data.image_shape[0]
        mean, std = self.normalize
        return dataclasses.replace(data, mean=(mean,) * c, std=(std,) * c)

    def as_dict(self) -> dict:
        return asdict(self)


#: The PyTorch STN tutorial's recipe: plain SGD, lr 0.01, batch 64, no schedule.
TUTORIAL = Recipe("PyTorch tutorial", optimizer="sgd", lr=0.01, momentum=0.0, scheduler=None, batch_size=64)
#: Ours: Adam with a one-cycle schedule, batch 128 (chosen on a validation split, never the test set).
OURS = Recipe("ours", optimizer="adam", lr=3e-3, scheduler="onecycle", batch_size=128)
#: Ours on cluttered MNIST: the transformer learns at 0.3x the classifier's rate (validation split,
#: ``scripts/validate_mnist.py``: fewer errors and a closer region than at 1x after 3 epochs).
OURS_CLUTTER = dataclasses.replace(OURS, name="ours (cluttered)", stn_lr_scale=0.3)
#: The CIFAR-10 course write-ups: the tutorial's plain SGD, inputs ``Normalize(0.5, 0.5)`` (to [-1, 1]).
COURSE_BATCH64 = dataclasses.replace(TUTORIAL, name="course (batch 64)", normalize=(0.5, 0.5))
COURSE_BATCH32 = dataclasses.replace(COURSE_BATCH64, name="course (batch 32)", batch_size=32)


@dataclass(frozen=True)
class CourseModel:
    """One CIFAR-10 course write-up: its :func:`~stnlib.models.course_net` arguments, recipe and reported result."""

    name: str
    net: dict
    recipe: Recipe
    reported_acc: float
    reported_epochs: int = 50

    def build(self, *, stn: bool = True) -> models.STNClassifier:
        """The network, faithful: zero padding in ``grid_sample`` (grey on [-1, 1] input), as they had it."""
        return models.course_net(3, 32, stn=stn, **self.net)


#: The three course models (issue 4's table): same classifier design, two localization sizes, one wider.
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

#: Ours on CIFAR-10 (chosen on a validation split of the training set, never the test set).
OURS_CIFAR = Recipe(
    "ours (CIFAR-10)",
    optimizer="sgd",
    lr=0.1,
    momentum=0.9,
    nesterov=True,
    stn_lr_scale=0.1,
    weight_decay=5e-4,
    scheduler="onecycle",
    warmup=0.25,
    batch_size=256,
    label_smoothing=0.1,
    augment_pad=4,
    precision="bf16",
    channels_last=True,
)


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
    """Train ``model`` on ``data.train_*`` with ``recipe``, evaluating on ``data.test_*`` after each epoch.

    The recipe's normalization and augmentation are applied here (augmentation seeded by ``seed``).
    """
    augment = RandomCropFlip(recipe.augment_pad, seed=seed) if recipe.augment_pad else None
    train_loader, test_loader = recipe.prepare(data).loaders(
        recipe.batch_size, test_batch_size=1000, transform=augment, seed=seed
    )  # test batches: see _test_batches
    return fit(
        model,
        train_loader,
        test_loader=test_loader,
        epochs=epochs,
        optimizer=recipe.optimizer,
        lr=recipe.lr,
        momentum=recipe.momentum,
        nesterov=recipe.nesterov,
        stn_lr_scale=recipe.stn_lr_scale,
        stn_weight_decay=recipe.stn_weight_decay,
        weight_decay=recipe.weight_decay,
        scheduler=recipe.scheduler,
        warmup=recipe.warmup,
        label_smoothing=recipe.label_smoothing,
        precision=recipe.precision,
        channels_last=recipe.channels_last,
        seed=seed,
        callbacks=callbacks,
        eval_every_steps=eval_every_steps,
        time_budget_s=time_budget_s,
        target_acc=target_acc,
        progress=progress,
    )


def _test_batches(data: ImageData, recipe: Recipe | None = None):
    """The test set in order, normalized (as ``recipe`` says), in batches of 1000 (what :func:`train` evaluates on)."""
    return (recipe.prepare(data) if recipe is not None else data).loaders(1000)[1]


@torch.inference_mode()
def predict(model: nn.Module, data: ImageData, recipe: Recipe | None = None) -> tuple[Tensor, Tensor]:
    """Class probabilities ``(N, classes)`` and predictions ``(N,)`` on the test set, on the CPU.

    Pass the ``recipe`` the model was trained with when it normalizes differently from ``data``.
    Runs in fp32 whatever the training precision.
    """
    device = next(model.parameters()).device
    with EvalMode(model):
        p = torch.cat([torch.softmax(model(x.to(device)), dim=1).cpu() for x, _ in _test_batches(data, recipe)])
    return p, p.argmax(1)


@torch.inference_mode()
def stn_thetas(model: nn.Module, data: ImageData, recipe: Recipe | None = None) -> dict[str, Tensor]:
    """Thetas ``(N, 2, 3)`` the model's transformer applies to each test image, and their decomposition.

    Returns ``{"theta": (N, 2, 3), "rotation": (N,), "scale_x": ..., "tx": ..., ...}`` (see
    :func:`stnlib.affine.decompose`; ``scale > 1`` means the STN zooms in).
    """
    stn = getattr(model, "stn", None)
    if stn is None:
        raise ValueError("model has no spatial transformer (.stn is None)")
    device = next(model.parameters()).device
    with EvalMode(model):
        thetas = torch.cat([stn.theta(x.to(device)).cpu() for x, _ in _test_batches(data, recipe)])
    return {"theta": thetas, **affine.decompose(thetas)}
