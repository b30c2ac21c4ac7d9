"""Scoring predictions honestly: accuracy on the whole test set and on its exact part, with
standard errors, per-class accuracy, and a paired test of whether two models really differ.

All functions take predictions ``(N,)`` (class indices, e.g. from
:func:`stnlib.experiments.predict`) and the :class:`~stnlib.data.ImageData` whose test set
they were made on. ``test_is_exact`` matters for the offline CIFAR-10 copy, where only the
first 1,000 test images are bit-exact (the rest are decoded from JPEGs); see
``../shared/data/README.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .data import ImageData

__all__ = ["TestAccuracy", "mcnemar_p", "per_class_accuracy", "test_accuracy"]


@dataclass(frozen=True)
class TestAccuracy:
    """Accuracy in percent on all test images and on the exact ones, with binomial standard errors.

    The standard error ``sqrt(p (1 - p) / n)`` is the spread expected from the finite test set
    alone (not from training noise: that needs several seeds).
    """

    all: float
    all_se: float
    n_all: int
    exact: float | None
    exact_se: float | None
    n_exact: int

    def describe(self) -> str:
        text = f"{self.all:.2f}% ± {self.all_se:.2f} on all {self.n_all:,} test images"
        if self.exact is not None and self.n_exact != self.n_all:
            text += f"; {self.exact:.2f}% ± {self.exact_se:.2f} on the {self.n_exact:,} exact ones"
        return text


def _check(pred: Tensor, data: ImageData) -> Tensor:
    if pred.shape != data.test_labels.shape:
        raise ValueError(f"predictions must have shape {tuple(data.test_labels.shape)}, got {tuple(pred.shape)}")
    return pred.to(data.test_labels.device) == data.test_labels


def _percent_se(hits: Tensor) -> tuple[float, float]:
    n = hits.numel()
    p = float(hits.float().mean())
    return 100.0 * p, 100.0 * math.sqrt(p * (1.0 - p) / n)


def test_accuracy(pred: Tensor, data: ImageData) -> TestAccuracy:
    """Score ``pred`` ``(N,)`` against ``data.test_labels`` on all images and on ``data.test_is_exact``."""
    hits = _check(pred, data)
    acc, se = _percent_se(hits)
    exact = hits[data.test_is_exact]
    e_acc, e_se = _percent_se(exact) if exact.numel() else (None, None)
    return TestAccuracy(acc, se, hits.numel(), e_acc, e_se, exact.numel())


def per_class_accuracy(pred: Tensor, data: ImageData) -> Tensor:
    """Accuracy in percent for each class ``(num_classes,)``, over all test images of that class."""
    hits = _check(pred, data).float()
    k = len(data.classes)
    count = torch.bincount(data.test_labels, minlength=k).float()
    right = torch.bincount(data.test_labels, weights=hits, minlength=k)
    return 100.0 * right / count.clamp(min=1)


def mcnemar_p(pred_a: Tensor, pred_b: Tensor, data: ImageData) -> tuple[int, int, float]:
    """Paired comparison of two models on the same test images (exact McNemar test).

    Returns ``(a_only, b_only, p)``: images only ``a`` gets right, only ``b`` gets right, and the
    two-sided p-value of "they are equally good" (binomial test on the discordant pairs). A large
    p says the test set cannot tell the two apart, whatever the accuracies' last digits say.
    """
    ha, hb = _check(pred_a, data), _check(pred_b, data)
    a_only, b_only = int((ha & ~hb).sum()), int((hb & ~ha).sum())
    n, k = a_only + b_only, min(a_only, b_only)
    if n == 0:
        return a_only, b_only, 1.0
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n  # exact integers: no overflow for large n
    return a_only, b_only, min(1.0, 2.0 * tail)
