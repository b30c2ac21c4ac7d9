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
from stnlib.weights import sha256_of
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


def test_the_committed_weights_are_the_recorded_ones_and_fit_the_budget():
    """Every file in weights/ is recorded with its SHA-256 and size in reports/metrics.json (and every recorded file
    is there); issue 21's budget: 30 MB in the repository in all."""
    metrics = load_metrics(REPO_ROOT / "reports" / "metrics.json")
    recorded = {r["file"]: r for e in metrics.values() for r in e.get("weights", {}).values()}
    files = sorted(p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "weights").rglob("*.safetensors"))
    assert files == sorted(recorded) and set(WITH_WEIGHTS) == {f.split("/")[1] for f in files}
    for file, record in recorded.items():
        data = (REPO_ROOT / file).read_bytes()
        assert (len(data), sha256_of(data)) == (record["bytes"], record["sha256"]), file
    assert sum(r["bytes"] for r in recorded.values()) <= 30_000_000
