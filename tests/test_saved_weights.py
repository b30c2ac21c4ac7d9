"""The default path of a notebook with saved weights (issue 21): ``TRAIN = False`` loads the committed weights,
checked against the SHA-256 in ``reports/metrics.json``, and every number it prints outside the training cells
equals the committed full-profile report's. Needs the real MNIST (``$STNLIB_DATA``); about a minute."""

import json
import os
import shutil
from pathlib import Path

import pytest

from stnlib.env import REPO_ROOT
from stnlib.runs import load_metrics
from tools.execute import execute_notebook

#: Notebooks whose networks load from ``weights/`` by default.
WITH_WEIGHTS = ["06_stn_on_feature_maps"]


def _printed(report: Path) -> list[str]:
    """The text each code cell printed, except the cells that train or load and the record cell (their lines
    differ by design: training's timings, "loaded", "numbers equal")."""
    cells = json.loads(report.read_text())["cells"]
    differ = ("fit_or_load", "run.record")
    keep = [c for c in cells if c["cell_type"] == "code" and not any(d in "".join(c["source"]) for d in differ)]
    return ["".join(o.get("text", "")) for c in keep for o in c.get("outputs", []) if o.get("name") == "stdout"]


@pytest.mark.notebook
@pytest.mark.parametrize("stem", WITH_WEIGHTS)
def test_the_default_path_loads_the_saved_weights_and_prints_the_reports_numbers(stem, tmp_path, monkeypatch):
    data = os.environ.get("STNLIB_DATA")
    if not data or not (Path(data) / "mnist.npz").exists():
        pytest.skip(
            f"notebook {stem[:2]}'s full test sets need MNIST: no mnist.npz in $STNLIB_DATA ({data or 'unset'})"
        )
    reports = tmp_path / "reports"  # conftest points STNLIB_REPORTS here: the committed files are only read
    reports.mkdir(exist_ok=True)
    shutil.copy(REPO_ROOT / "reports" / "metrics.json", reports / "metrics.json")
    (reports / "weights").symlink_to(REPO_ROOT / "weights", target_is_directory=True)
    monkeypatch.setenv("STNLIB_PROFILE", "full")
    out = execute_notebook(REPO_ROOT / "notebooks" / f"{stem}.ipynb", "full", out_dir=tmp_path / "loaded", TRAIN=False)
    entry = load_metrics(reports / "metrics.json")[stem]
    assert "load_seconds" in entry  # written only when every number equals the training run's
    committed = load_metrics(REPO_ROOT / "reports" / "metrics.json")[stem]
    assert entry["metrics"] == committed["metrics"] and entry["seconds"] == committed["seconds"]
    assert _printed(out) == _printed(REPO_ROOT / "reports" / f"{stem}.ipynb")
