"""Test accuracy with standard errors, and McNemar's paired test, for predicted class indices ``(N,)``."""

import math
from dataclasses import dataclass

from torch import Tensor

from .data import ImageData


@dataclass(frozen=True)
class Accuracy:
    """Percent right on all and on the exact test images, with binomial standard errors ``sqrt(p (1 - p) / n)``."""

    all: float
    all_se: float
    n_all: int
    exact: float | None
    exact_se: float | None
    n_exact: int

    def describe(self) -> str:
        """``"75.00% ± 21.65 on all 4 test images; 100.00% ± 0.00 on the 2 exact ones"`` (the second part only
        when some test images are not exact)."""
        text = f"{self.all:.2f}% ± {self.all_se:.2f} on all {self.n_all:,} test images"
        if self.exact is not None and self.n_exact != self.n_all:
            text += f"; {self.exact:.2f}% ± {self.exact_se:.2f} on the {self.n_exact:,} exact ones"
        return text


def _hits(pred: Tensor, data: ImageData) -> Tensor:
    if pred.shape != data.test_labels.shape:
        raise ValueError(f"predictions must have shape {tuple(data.test_labels.shape)}, got {tuple(pred.shape)}")
    return pred.to(data.test_labels.device) == data.test_labels


def test_accuracy(pred: Tensor, data: ImageData) -> Accuracy:
    """Score ``pred`` ``(N,)`` against ``data.test_labels``, on all and on the ``data.test_is_exact`` images."""
    percent_se = lambda p, n: (100.0 * p, 100.0 * math.sqrt(p * (1.0 - p) / n))  # p: the share right of n
    hits = _hits(pred, data)
    exact = hits[data.test_is_exact]
    e_acc, e_se = percent_se(float(exact.float().mean()), exact.numel()) if exact.numel() else (None, None)
    return Accuracy(*percent_se(float(hits.float().mean()), hits.numel()), hits.numel(), e_acc, e_se, exact.numel())


def mcnemar_p(pred_a: Tensor, pred_b: Tensor, data: ImageData) -> tuple[int, int, float]:
    """``(a_only, b_only, p)``: images only ``a``/``b`` gets right, and the exact two-sided McNemar p-value."""
    ha, hb = _hits(pred_a, data), _hits(pred_b, data)
    a_only, b_only = int((ha & ~hb).sum()), int((hb & ~ha).sum())
    n, k = a_only + b_only, min(a_only, b_only)  # n = 0 gives p = 1; exact integers: no overflow for large n
    return a_only, b_only, min(1.0, 2.0 * (sum(math.comb(n, i) for i in range(k + 1)) / 2**n))


test_accuracy.__test__ = False  # a scoring function, not a pytest test
