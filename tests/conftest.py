"""Shared fixtures. Tests run offline, headless, and never write into the committed reports/."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_reports(tmp_path, monkeypatch):
    """Every test writes reports/metrics into its own temporary folder."""
    monkeypatch.setenv("STNLIB_REPORTS", str(tmp_path / "reports"))
    monkeypatch.setenv("STNLIB_WIDGETS", "static")
    yield
    plt.close("all")
