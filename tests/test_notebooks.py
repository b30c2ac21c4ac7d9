"""Every notebook in notebooks/ runs top to bottom in a fresh kernel, headless, in the quick profile."""

from pathlib import Path

import pytest

from stnlib.env import REPO_ROOT
from tools.execute import execute_notebook

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_in_quick_profile(path: Path, tmp_path):
    import papermill as pm

    try:
        out = execute_notebook(path, "quick", out_dir=tmp_path)
    except pm.PapermillExecutionError as err:  # show the failing cell's error, not papermill's wrapper
        pytest.fail(f"{path.name}, cell {err.exec_count}: {err.ename}: {err.evalue}\n{''.join(err.traceback)}")
    metrics = tmp_path / "reports" / "quick" / "metrics.json"  # STNLIB_REPORTS, set in conftest.py
    assert out.exists() and metrics.exists()
    assert path.stem in metrics.read_text()
