"""Scoring: test accuracy with standard errors and McNemar's test, against hand-computed values."""

import math
from types import SimpleNamespace

import pytest
import torch

from stnlib import stats


def _data(labels: list[int], exact: list[bool]) -> SimpleNamespace:
    """The two fields of an ImageData that scoring reads."""
    return SimpleNamespace(test_labels=torch.tensor(labels), test_is_exact=torch.tensor(exact))


def test_test_accuracy_on_all_and_exact_images():
    data = _data([0, 1, 2, 3], [True, True, False, False])
    s = stats.test_accuracy(torch.tensor([0, 1, 2, 0]), data)
    assert (s.all, s.n_all, s.exact, s.n_exact) == (75.0, 4, 100.0, 2)
    assert s.all_se == pytest.approx(100 * math.sqrt(0.75 * 0.25 / 4))
    assert s.exact_se == 0.0
    assert s.describe() == "75.00% ± 21.65 on all 4 test images; 100.00% ± 0.00 on the 2 exact ones"
    with pytest.raises(ValueError, match=r"predictions must have shape \(4,\)"):
        stats.test_accuracy(torch.tensor([0, 1]), data)


def test_test_accuracy_without_exact_images_and_all_exact():
    none_exact = stats.test_accuracy(torch.tensor([0, 0]), _data([0, 1], [False, False]))
    assert (none_exact.exact, none_exact.exact_se, none_exact.n_exact) == (None, None, 0)
    assert none_exact.describe() == "50.00% ± 35.36 on all 2 test images"  # 100 * sqrt(0.25 / 2)
    all_exact = stats.test_accuracy(torch.tensor([0, 0]), _data([0, 1], [True, True]))
    assert all_exact.describe() == "50.00% ± 35.36 on all 2 test images"  # the exact part is the whole set


def test_mcnemar_matches_the_exact_binomial_test():
    # 3 images only A gets right, 17 only B: two-sided exact binomial p = 2 * P(X <= 3), X ~ Bin(20, 1/2)
    data = _data([0] * 20, [True] * 20)
    a = torch.tensor([0] * 3 + [1] * 17)
    b = torch.tensor([1] * 3 + [0] * 17)
    a_only, b_only, p = stats.mcnemar_p(a, b, data)
    assert (a_only, b_only) == (3, 17)
    assert p == pytest.approx(2 * (1 + 20 + 190 + 1140) / 2**20)  # 0.002577
    assert stats.mcnemar_p(a, a, data) == (0, 0, 1.0)  # no discordant pair: no evidence either way
    assert stats.mcnemar_p(b, a, data)[:2] == (17, 3)
    one_each = stats.mcnemar_p(torch.tensor([0, 0]), torch.tensor([1, 1]), _data([0, 1], [True] * 2))
    assert one_each == (1, 1, 1.0)  # 2 * P(X <= 1), X ~ Bin(2, 1/2) = 1.5, capped at 1
