"""Training progress bars that leave nothing dead behind in a saved notebook: a finished widget bar's output is
replaced with empty text (else a reopened notebook shows "Error displaying widget: model not found" there)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm as text_tqdm

from .env import widgets_rendered


def _kernel() -> object | None:
    """The running IPython kernel, or ``None`` (plain Python, terminal IPython)."""
    from IPython import get_ipython  # ipywidgets' dependency, always installed

    return getattr(get_ipython(), "kernel", None)


def _live_bars() -> bool:
    """A live bar renders in a terminal or a notebook front end that shows widgets (never in papermill/CI)."""
    if _kernel() is None:
        return sys.stderr.isatty()
    try:
        return widgets_rendered()
    except ValueError:
        return False


@contextmanager
def progress_bar(total: int, desc: str, *, enabled: bool = True, unit: str = "batch") -> Iterator[text_tqdm]:
    """A tqdm bar over ``total`` steps: a widget in a notebook front end (its output emptied on exit), text on a
    terminal, disabled (still a tqdm) when ``enabled`` is false or nothing would render it."""
    if not (enabled and _live_bars()):
        with text_tqdm(total=total, disable=True) as bar:
            yield bar
        return
    if _kernel() is None:
        with text_tqdm(total=total, desc=desc, unit=unit, leave=False, file=sys.stderr) as bar:
            yield bar
        return
    from IPython.display import display
    from tqdm.notebook import tqdm as notebook_tqdm

    bar = notebook_tqdm(total=total, desc=desc, unit=unit, leave=False, display=False)
    handle = display(bar.container, display_id=True)
    try:
        yield bar
    finally:
        handle.update({"text/plain": ""}, raw=True)  # the saved notebook keeps no widget entry for the bar
        bar.close()
