"""Training progress bars: a notebook bar's output is emptied when it closes (no dead widget is saved)."""

from __future__ import annotations

import IPython.display
import pytest

from stnlib import progress


class _Handle:
    def __init__(self, shown: object) -> None:
        self.shown, self.updates = shown, []

    def update(self, obj: object, raw: bool = False) -> None:
        self.updates.append((obj, raw))


@pytest.fixture
def fake_notebook(monkeypatch):
    """A kernel whose front end renders widgets; records what is displayed."""
    handles: list[_Handle] = []

    def display(obj, display_id=None):
        assert display_id is True, "the bar must be shown through a display handle"
        handles.append(_Handle(obj))
        return handles[-1]

    monkeypatch.setattr(progress, "_kernel", lambda: object())
    monkeypatch.setenv("STNLIB_WIDGETS", "interactive")
    monkeypatch.setattr(IPython.display, "display", display)
    return handles


def test_a_finished_notebook_bar_leaves_empty_text_not_a_widget(fake_notebook):
    with progress.progress_bar(3, "epoch 1/1") as bar:
        for _ in range(3):
            bar.update(1)
        assert len(fake_notebook) == 1 and fake_notebook[0].updates == []  # live: the widget is shown
        container = fake_notebook[0].shown
        assert container.comm is not None
    assert fake_notebook[0].updates == [({"text/plain": ""}, True)]
    assert bar.n == 3 and container.comm is None  # the widget model is closed too


def test_the_output_is_emptied_even_when_training_fails(fake_notebook):
    with pytest.raises(FloatingPointError), progress.progress_bar(3, "epoch 1/1") as bar:
        bar.update(1)
        raise FloatingPointError("loss is nan")
    assert fake_notebook[0].updates == [({"text/plain": ""}, True)]


def test_headless_kernels_show_no_bar(monkeypatch):
    shown = []
    monkeypatch.setattr(progress, "_kernel", lambda: object())
    monkeypatch.setenv("STNLIB_WIDGETS", "static")
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: shown.append(a))
    with progress.progress_bar(2, "epoch 1/1") as bar:
        bar.update(2)
    assert shown == [] and bar.disable


def test_committed_reports_hold_no_widget_outputs():
    """Executed reports are read where no kernel holds widget models (GitHub, a reopened notebook)."""
    import json

    from stnlib.env import REPO_ROOT

    for path in sorted((REPO_ROOT / "reports").glob("[0-9][0-9]_*.ipynb")):
        outputs = [o for c in json.loads(path.read_text())["cells"] for o in c.get("outputs", [])]
        widgets = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
        assert not widgets, f"{path.name}: {len(widgets)} widget outputs (a progress bar or explorer left behind)"
