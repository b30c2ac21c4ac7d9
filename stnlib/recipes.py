"""Training recipes: :class:`Recipe` (how :func:`stnlib.train.fit` trains a model) and the named ones notebooks use.

>>> Recipe("demo", optimizer="sgd", lr=0.1, momentum=0.9, scheduler=None).describe()
'demo: SGD (momentum 0.9) lr 0.1, constant lr, batch 128'
>>> OURS.describe()
'ours: ADAM lr 0.003, onecycle schedule, batch 128'
"""

from __future__ import annotations

import dataclasses
import math

from . import models
from .data import ImageData

__all__ = ["COURSE_MODELS", "OURS", "OURS_CIFAR", "OURS_CIFAR_QUICK", "OURS_CLUTTER", "TUTORIAL", "CourseModel",
           "Recipe"]

OPTIMIZERS, SCHEDULERS, PRECISIONS = ("adam", "sgd"), ("onecycle", None), ("fp32", "bf16")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How a model is trained (epochs: per experiment). ``optimizer``: ``"adam"`` (``weight_decay`` as L2) or ``"sgd"``
    (``momentum``, ``nesterov``; momentum 0: the PyTorch tutorial's plain SGD). ``scheduler``: ``"onecycle"`` (peak
    ``lr``, rising for the ``warmup`` fraction of steps) or ``None`` (constant ``lr``). The transformer (``model.stn``)
    learns at ``lr * stn_lr_scale``; ``stn_weight_decay=False`` exempts it from weight decay. ``augment_pad`` > 0:
    random crop with that padding + horizontal flip on ``[0, 1]`` images. ``normalize``: one ``(mean, std)`` for all
    channels (the course write-ups' ``Normalize(0.5, 0.5)``). ``precision``: ``"fp32"`` or ``"bf16"`` (autocast;
    weights stay fp32); ``channels_last``: NHWC layout."""
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
        for what, value, allowed in (("optimizer", self.optimizer, OPTIMIZERS),
                                     ("scheduler", self.scheduler, SCHEDULERS),
                                     ("precision", self.precision, PRECISIONS)):  # fmt: skip
            if value not in allowed:
                raise ValueError(f"Recipe {self.name!r}: unknown {what} {value!r}; use one of {allowed}")
        if not (math.isfinite(self.stn_lr_scale) and self.stn_lr_scale > 0):
            raise ValueError(f"Recipe {self.name!r}: stn_lr_scale must be a positive number, got {self.stn_lr_scale}")

    def describe(self) -> str:
        """One line for a notebook: optimizer, lr, schedule, batch and what differs from the defaults."""
        mom = f" ({'Nesterov ' if self.nesterov else ''}momentum {self.momentum})" if (
            self.optimizer == "sgd" and self.momentum) else ""  # fmt: skip
        extras = [f"weight decay {self.weight_decay:g}" if self.weight_decay else "",
                  f"label smoothing {self.label_smoothing:g}" if self.label_smoothing else "",
                  f"crop (pad {self.augment_pad}) + flip" if self.augment_pad else "",
                  f"Normalize({self.normalize[0]:g}, {self.normalize[1]:g})" if self.normalize else "",
                  f"STN lr x{self.stn_lr_scale:g}" if self.stn_lr_scale != 1 else "",
                  "no weight decay on the STN" if self.weight_decay and not self.stn_weight_decay else "",
                  "bf16 autocast" if self.precision == "bf16" else ""]  # fmt: skip
        sched = f", {self.scheduler} schedule" if self.scheduler else ", constant lr"
        tail = "".join(f", {e}" for e in extras if e)
        return f"{self.name}: {self.optimizer.upper()}{mom} lr {self.lr:g}{sched}, batch {self.batch_size}{tail}"

    def prepare(self, data: ImageData) -> ImageData:
        """``data`` with this recipe's normalization (unchanged when ``normalize`` is ``None``)."""
        if self.normalize is None:
            return data
        c = data.image_shape[0]
        return dataclasses.replace(data, mean=(self.normalize[0],) * c, std=(self.normalize[1],) * c)


TUTORIAL = Recipe("PyTorch tutorial", optimizer="sgd", lr=0.01, momentum=0.0, scheduler=None, batch_size=64)
#: Ours, chosen on a validation split (never the test set).
OURS = Recipe("ours", optimizer="adam", lr=3e-3, scheduler="onecycle", batch_size=128)
#: Cluttered MNIST: STN lr 0.3x (``tools/validate_mnist.py``: fewer errors, closer region than 1x after 3 epochs).
OURS_CLUTTER = dataclasses.replace(OURS, name="ours (cluttered)", stn_lr_scale=0.3)
#: The CIFAR-10 course write-ups: the tutorial's plain SGD, inputs ``Normalize(0.5, 0.5)`` (to [-1, 1]).
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
        """The network, faithful: zero padding in ``grid_sample`` (grey on [-1, 1] input), as they had it."""
        return models.course_net(3, 32, stn=stn, **self.net)


#: The three course models notebook 3 compares: one classifier design, two localization sizes, one wider.
COURSE_MODELS: tuple[CourseModel, ...] = (
    CourseModel("tutorial net", {}, COURSE_BATCH64, 57.0),
    CourseModel("large localization", {"loc_conv": (64, 128), "loc_hidden": 256}, COURSE_BATCH32, 56.46),
    CourseModel("wide + large localization", {"conv": (16, 32), "hidden": 1024, "loc_conv": (64, 128),
                                              "loc_hidden": 256}, COURSE_BATCH32, 66.0),  # fmt: skip
)

#: Ours on CIFAR-10 for the quarter ResNet-9 (chosen on a validation split of the training set, never the test set).
OURS_CIFAR = Recipe("ours (CIFAR-10)", optimizer="sgd", lr=0.1, momentum=0.9, nesterov=True, stn_lr_scale=0.1,
                    weight_decay=5e-4, warmup=0.25, batch_size=256, label_smoothing=0.1, augment_pad=4,
                    precision="bf16", channels_last=True)  # fmt: skip
#: :data:`OURS_CIFAR` for the quick profile only (a few hundred images, one or two epochs: a few dozen steps). There
#: the one-cycle warm-up lasts a step or two, lr 0.1 arrives while batch norm's statistics are still settling, and the
#: loss climbs far above chance (ln 10); batch 32 at lr 0.003 lets it fall. The full profile keeps OURS_CIFAR.
OURS_CIFAR_QUICK = dataclasses.replace(OURS_CIFAR, name="ours (CIFAR-10, quick profile)", lr=0.003, batch_size=32)
