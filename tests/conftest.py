"""Shared fixtures. Tests run offline, headless, and never write into the committed reports/."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from stnlib.data import DataInfo, ImageData  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_reports(tmp_path, monkeypatch):
    """Every test writes reports/metrics into its own temporary folder."""
    monkeypatch.setenv("STNLIB_REPORTS", str(tmp_path / "reports"))
    monkeypatch.setenv("STNLIB_WIDGETS", "static")
    yield
    plt.close("all")


def _quadrants(n: int, seed: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=g)
    x = torch.randint(0, 90, (n, 1, size, size), generator=g, dtype=torch.uint8)
    h = size // 2
    for i, label in enumerate(y.tolist()):
        r, c = divmod(label, 2)
        x[i, 0, h * r : h * (r + 1), h * c : h * (c + 1)] += 140  # at most 229: no uint8 overflow
    return x, y


def quadrant_data(
    n_train: int = 256, n_test: int = 128, *, seed: int = 0, size: int = 8, channels: int = 1
) -> ImageData:
    """A tiny separable :class:`ImageData`: uint8 ``(N, channels, size, size)`` noise in ``[0, 90)`` plus 140
    on one quadrant (same in every channel); the label (0 top-left .. 3 bottom-right) is that quadrant.
    Train and test come from seeds ``seed`` and ``seed + 1``; mean 0.31, std 0.26 (about the data's own)."""
    (xtr, ytr), (xte, yte) = _quadrants(n_train, seed, size), _quadrants(n_test, seed + 1, size)
    info = DataInfo(
        dataset="quadrants", source="synthetic", n_train=n_train, n_test=n_test, n_test_exact=n_test, exact=True
    )
    return ImageData(
        xtr.repeat(1, channels, 1, 1),
        ytr,
        xte.repeat(1, channels, 1, 1),
        yte,
        torch.ones(n_test, dtype=torch.bool),
        ("TL", "TR", "BL", "BR"),
        info,
        (0.31,) * channels,
        (0.26,) * channels,
    )


@pytest.fixture
def make_quadrants():
    """The :func:`quadrant_data` maker: ``make_quadrants(n_train, n_test, seed=, size=, channels=)``."""
    return quadrant_data
