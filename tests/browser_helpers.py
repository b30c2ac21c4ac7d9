"""Helpers for tests/test_browser.py: a throwaway JupyterLab server, a headless Chromium, and readers for what the
widgets show (the theta table, the picture). Playwright is imported lazily: this module must import without it."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: Chromium flags: headless, no sandbox (root in CI), and no background traffic (the build machines are offline).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/snap/bin/chromium")
VIEWPORT = {"width": 1400, "height": 1000}
DEAD_WIDGET_TEXTS = ("model not found", "Error displaying widget")


def find_chromium() -> str | None:
    """A Chromium/Chrome executable: the first of :data:`CHROMIUM_NAMES` on ``PATH``, else of :data:`CHROMIUM_PATHS`."""
    found = [shutil.which(name) for name in CHROMIUM_NAMES] + [p for p in CHROMIUM_PATHS if os.access(p, os.X_OK)]
    return next((p for p in found if p), None)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    """A running JupyterLab: ``url`` (no trailing slash), ``root`` (its notebook folder), the process, its log."""

    url: str
    root: Path
    process: subprocess.Popen
    log: Path

    def api(self, path: str, method: str = "GET") -> Any:
        """JSON from the REST API (``path`` like ``/api/kernels``); ``None`` for an empty answer."""
        request = urllib.request.Request(self.url + path, method=method)
        with urllib.request.urlopen(request, timeout=10) as answer:
            body = answer.read()
        return json.loads(body) if body else None

    def log_tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else "(no log)"

    def stop(self) -> None:
        """SIGTERM the server's process group (the server shuts its kernels down), SIGKILL after 15 s."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)


def start_lab(
    root: Path, home: Path, env_overrides: dict[str, str], timeout: float = 90.0, extra_args: tuple[str, ...] = ()
) -> Lab:
    """Start ``jupyter lab`` on a free loopback port with no token, serving ``root``. Jupyter's config, settings,
    workspaces, runtime and IPython folders are fresh ones under ``home`` (no user settings leak in); the JupyterLab
    news/update check is off. ``env_overrides`` go into the server's (and so its kernels') environment;
    ``extra_args`` onto its command line."""
    dirs = {
        k: home / k.lower()
        for k in (
            "JUPYTER_CONFIG_DIR",
            "JUPYTERLAB_SETTINGS_DIR",
            "JUPYTERLAB_WORKSPACES_DIR",
            "JUPYTER_RUNTIME_DIR",
            "IPYTHONDIR",
        )
    }
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    news = dirs["JUPYTERLAB_SETTINGS_DIR"] / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True, exist_ok=True)
    news.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "JPY_SESSION_NAME")}
    env.update({k: str(v) for k, v in dirs.items()}, **env_overrides)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    port, log = free_port(), home / "jupyter-lab.log"
    cmd = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        "--ServerApp.allow_root=True",
        f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=None",
        *extra_args,
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    lab = Lab(f"http://127.0.0.1:{port}", root, process, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {process.returncode}:\n{lab.log_tail()}")
        try:
            lab.api("/api/status")
            return lab
        except OSError:
            time.sleep(0.5)
    lab.stop()
    raise RuntimeError(f"jupyter lab did not answer /api/status within {timeout:.0f} s:\n{lab.log_tail()}")


# ---- the notebook page -------------------------------------------------------------------------------------------

KERNEL_STATE_JS = """() => ({
  status: document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator')
            ?.dataset.status ?? document.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status,
  prompts: [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputArea-prompt')]
             .map(e => e.textContent.trim()),
})"""


#: The front ends one server offers (Notebook 7 is a server extension beside JupyterLab): name -> notebook URL path.
UIS = {"lab": "/lab/workspaces/{stem}/tree/{name}", "notebook7": "/notebooks/{name}"}


def open_notebook(page, lab: Lab, name: str, timeout: float = 90.0, ui: str = "lab") -> None:
    """Load notebook ``name`` in front end ``ui`` (:data:`UIS`; JupyterLab in a workspace of its own, so no other
    notebook is restored beside it) and wait until all its cells are there and its kernel is idle. Notebook 7 is
    built from JupyterLab's parts: the same selectors and menus work in both."""
    page.goto(lab.url + UIS[ui].format(stem=Path(name).stem, name=name))
    wait_notebook_ready(page, lab.root / name, timeout)
    deadline = time.monotonic() + timeout  # a small notebook is drawn before its kernel starts: wait for that too
    while not any(
        s.get("path") == name and (s.get("kernel") or {}).get("execution_state") == "idle"
        for s in lab.api("/api/sessions")
    ):
        if time.monotonic() > deadline:
            raise AssertionError(f"no idle kernel for {name} after {timeout:.0f} s: {lab.api('/api/sessions')}")
        time.sleep(0.25)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=timeout * 1000)


CELLS_JS = """() => { const cells = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell')];
  return [cells.length, cells.filter(c => c.matches('.jp-CodeCell') && c.querySelector('.cm-content')).length]; }"""


def wait_notebook_ready(page, path: Path, timeout: float = 90.0) -> None:
    """Wait until the page shows every cell of the notebook file ``path`` (code cells with their editor, except those
    whose source is hidden, which JupyterLab shows collapsed, without one; it attaches cells a few at a time) and the
    kernel indicator says idle."""
    cells = json.loads(path.read_text())["cells"]
    hidden = lambda c: c.get("metadata", {}).get("jupyter", {}).get("source_hidden", False)  # noqa: E731
    expected = [len(cells), sum(c["cell_type"] == "code" and not hidden(c) for c in cells)]
    try:
        page.wait_for_function(
            f"want => JSON.stringify(({CELLS_JS})()) === JSON.stringify(want)", arg=expected, timeout=timeout * 1000
        )
    except Exception as err:
        raise AssertionError(
            f"the page shows {page.evaluate(CELLS_JS)} (cells, code cells with an editor) of "
            f"{expected} in {path.name} after {timeout:.0f} s"
        ) from err
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=timeout * 1000)


def menu(page, top: str, item: str) -> None:
    """Click menu bar entry ``top``, then its item labelled exactly ``item`` (fails on an open dialog)."""
    dialog = page.locator(".jp-Dialog")
    if dialog.count() and dialog.first.is_visible():
        raise AssertionError(f"a dialog is open: {dialog.first.inner_text()!r}")
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(top)}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}$")).click()


def run_all_cells(page, timeout: float) -> dict:
    """Run → Run All Cells, then wait until execution has started and the kernel is idle with no ``[*]`` prompt
    (Run All stops at an error, so a failed cell ends the wait too). Returns the last kernel state."""
    menu(page, "Run", "Run All Cells")
    deadline, started, calm = time.monotonic() + timeout, False, 0
    while time.monotonic() < deadline:
        state = page.evaluate(KERNEL_STATE_JS)
        busy = state["status"] != "idle" or "[*]:" in state["prompts"]
        started = started or busy or any(re.fullmatch(r"\[\d+\]:", p) for p in state["prompts"])
        calm = calm + 1 if started and not busy else 0
        if calm >= 3:
            return state
        time.sleep(0.5)
    raise AssertionError(f"Run All did not finish within {timeout:.0f} s: {page.evaluate(KERNEL_STATE_JS)}")


ERRORS_JS = """() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell')]
  .map((c, i) => ({i, text: [...c.querySelectorAll(
      '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')].map(o => o.textContent).join('\\n')}))
  .filter(x => /Traceback|^\\w*(Error|Exception)\\b/m.test(x.text))"""


def cell_errors(page) -> list[dict]:
    """Code cells whose stderr/error output holds a traceback or an ``...Error`` line: ``[{i, text}]``."""
    return page.evaluate(ERRORS_JS)


def output_texts(page) -> str:
    """All output areas' text (rendered widgets included), one string."""
    return page.evaluate("() => [...document.querySelectorAll('.jp-OutputArea')].map(o => o.textContent).join('\\n')")


def dead_widget_texts(page) -> list[str]:
    """Lines of output text that say a widget could not be shown (:data:`DEAD_WIDGET_TEXTS`)."""
    lines = output_texts(page).splitlines()
    return [ln.strip() for ln in lines if any(t.lower() in ln.lower() for t in DEAD_WIDGET_TEXTS)]


def show(locator, tries: int = 6) -> None:
    """Scroll ``locator`` into view until it stops moving (off-screen cells get their real height only once they
    are rendered, so one scroll can land short)."""
    last = None
    for _ in range(tries):
        locator.evaluate("e => e.scrollIntoView({block: 'center'})")
        time.sleep(0.3)
        box = locator.bounding_box()
        if box is not None and last is not None and abs(box["y"] - last["y"]) < 1:
            return
        last = box


def notebook_kernel_id(lab: Lab, name: str) -> str:
    """The id of the kernel of notebook ``name`` (its session's)."""
    ids = [s["kernel"]["id"] for s in lab.api("/api/sessions") if s.get("path") == name and s.get("kernel")]
    assert len(ids) == 1, f"expected one session with a kernel for {name}: {lab.api('/api/sessions')}"
    return ids[0]


def code_cell(page, marker: str):
    """The code cell whose source contains ``marker`` (a Playwright locator; exactly one must match)."""
    cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").filter(
        has=page.locator(".jp-InputArea-editor", has_text=marker)
    )
    assert cell.count() == 1, f"expected one code cell containing {marker!r}, found {cell.count()}"
    return cell


# ---- what the widget shows ----------------------------------------------------------------------------------------

SNAPSHOT_JS = """async (cell) => {
  const area = cell.querySelector('.jp-OutputArea');
  const table = area.querySelector('table.stn-theta') || area.querySelector('table');
  const theta = table ? [...table.querySelectorAll('tr')]
    .map(r => [...r.querySelectorAll('td')].map(d => d.textContent)).filter(r => r.length) : null;
  const imgs = [...area.querySelectorAll('img')].filter(i => i.naturalWidth > 0);
  imgs.sort((a, b) => b.naturalWidth * b.naturalHeight - a.naturalWidth * a.naturalHeight);
  let png = null;
  if (imgs.length) {
    try {
      const buf = new Uint8Array(await (await fetch(imgs[0].src)).arrayBuffer());
      let s = ''; for (let k = 0; k < buf.length; k += 0x8000) s += String.fromCharCode(...buf.subarray(k, k + 0x8000));
      png = btoa(s);
    } catch (e) { png = null; }
  }
  return {theta, png, n_img: imgs.length, text: area.textContent};
}"""


@dataclass
class Snapshot:
    """What a widget cell shows: ``theta`` (the floats of its table, 2x3 unless :func:`snapshot` was told another
    shape, or ``None``), ``png`` (the largest picture's bytes, or ``None``), ``n_img`` (pictures in the output area),
    ``text`` (the output area's text)."""

    theta: np.ndarray | None
    png: bytes | None
    n_img: int
    text: str

    def __repr__(self) -> str:
        theta = None if self.theta is None else self.theta.round(3).tolist()
        png = "none" if self.png is None else f"{len(self.png)} bytes"
        return f"Snapshot(theta={theta}, png={png}, n_img={self.n_img})"

    def same_picture(self, other: Snapshot) -> bool:
        return self.png == other.png

    def key(self) -> tuple:
        return (None if self.theta is None else self.theta.round(4).tolist(), self.png)

    def image(self) -> np.ndarray:
        """The picture as an ``(H, W, 3)`` float array in ``[0, 1]``."""
        from PIL import Image

        assert self.png is not None, "no picture in the cell's output"
        return np.asarray(Image.open(io.BytesIO(self.png)).convert("RGB"), dtype=np.float64) / 255.0


def parse_number(text: str) -> float:
    return float(text.strip().replace("\u2212", "-").replace("+", ""))


def snapshot(cell, shape: tuple[int, int] = (2, 3)) -> Snapshot:
    """What ``cell`` shows (:class:`Snapshot`); its matrix table must have ``shape`` (rows, columns)."""
    raw = cell.element_handle().evaluate(SNAPSHOT_JS)
    theta = None
    if raw["theta"]:
        rows = [[parse_number(v) for v in row] for row in raw["theta"]]
        assert [len(r) for r in rows] == [shape[1]] * shape[0], f"matrix table is not {shape}: {raw['theta']}"
        theta = np.array(rows)
    return Snapshot(theta, base64.b64decode(raw["png"]) if raw["png"] else None, raw["n_img"], raw["text"])


def settled(
    page, cell, accept=lambda s: True, timeout: float = 30.0, still: float = 1.0, shape: tuple[int, int] = (2, 3)
) -> Snapshot:
    """Wait until the kernel is idle and the cell's table (of ``shape``) and picture have stopped changing for
    ``still`` seconds with ``accept(snapshot)`` true; return that snapshot (AssertionError with the last one on
    timeout)."""
    deadline, last, since = time.monotonic() + timeout, None, time.monotonic()
    while time.monotonic() < deadline:
        snap = snapshot(cell, shape)
        idle = page.evaluate(KERNEL_STATE_JS)["status"] == "idle"
        if last is None or snap.key() != last.key() or not idle:
            since = time.monotonic()
        last = snap
        if idle and time.monotonic() - since >= still and accept(snap):
            return snap
        time.sleep(0.25)
    shows = "nothing" if last is None else f"theta={last.theta}, {last.n_img} picture(s)"
    raise AssertionError(f"widget did not settle in an accepted state within {timeout:.0f} s; it shows {shows}")


def slider(page, cell, description: str):
    """The ipywidgets slider labelled exactly ``description`` inside ``cell``."""
    label = page.locator(".widget-label", has_text=re.compile(f"^{re.escape(description)}$"))
    found = cell.locator(".widget-slider").filter(has=label)
    assert found.count() == 1, f"expected one slider {description!r}, found {found.count()}"
    return found


def drag_handle(page, slider_locator, dx: float) -> None:
    """Drag the slider's noUiSlider handle ``dx`` pixels to the right with the mouse (press, move in steps, release)."""
    handle = slider_locator.locator(".noUi-handle")
    show(handle)
    box = handle.bounding_box()
    assert box is not None, "slider handle is not visible"
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y, steps=12)
    page.mouse.up()


def type_readout(page, slider_locator, value: str) -> None:
    """Type ``value`` into the slider's editable readout (click, select all, type, Enter)."""
    readout = slider_locator.locator(".widget-readout")
    show(readout)
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(value)
    page.keyboard.press("Enter")


def click_button(cell, text: str) -> None:
    cell.get_by_role("button", name=text, exact=True).click()


# ---- reading the picture ------------------------------------------------------------------------------------------


def dark_boxes(image: np.ndarray, dark: float = 0.15, min_size: int = 20, gap: int = 6) -> list[tuple[int, ...]]:
    """Image panels drawn on a dark background inside a light figure: ``[(x0, x1, y0, y1), ...]`` left to right
    (half-open pixel ranges). Columns where at least 30% of the pixels are dark form runs (runs split by at most
    ``gap`` columns, such as an outline drawn over the image, are joined); within each run, the rows that are at
    least half dark give its height. Boxes narrower or shorter than ``min_size`` pixels are dropped."""
    is_dark = image @ np.array([0.299, 0.587, 0.114]) < dark
    runs: list[tuple[int, int]] = []
    for x0, x1 in _runs(is_dark.mean(axis=0) >= 0.3):
        runs[-1:] = [(runs[-1][0], x1)] if runs and x0 - runs[-1][1] <= gap else [*runs[-1:], (x0, x1)]
    boxes = []
    for x0, x1 in runs:
        rows = _runs(is_dark[:, x0:x1].mean(axis=1) >= 0.5)
        y0, y1 = max(rows, key=lambda r: r[1] - r[0]) if rows else (0, 0)
        if x1 - x0 >= min_size and y1 - y0 >= min_size:
            boxes.append((x0, x1, y0, y1))
    return boxes


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open index ranges where the 1-D boolean ``mask`` is true."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def bright_centroid(image: np.ndarray, box: tuple[int, int, int, int], bright: float = 0.5) -> tuple[float, float]:
    """Centroid ``(x, y)`` of the grey pixels (not the coloured outlines drawn over a panel) brighter than ``bright``
    inside ``box``, relative to the box and divided by its width and height (``0.5, 0.5``: the box centre)."""
    x0, x1, y0, y1 = box
    panel = image[y0:y1, x0:x1]
    grey = panel.max(axis=2) - panel.min(axis=2) < 0.1
    ys, xs = np.nonzero((panel @ np.array([0.299, 0.587, 0.114]) > bright) & grey)
    assert len(xs) > 0, f"no bright pixels inside the panel {box}"
    return float(xs.mean()) / (x1 - x0), float(ys.mean()) / (y1 - y0)


# ---- fast drags: does a widget settle? ---------------------------------------------------------------------------

WATCH_JS = """(cell) => {
  // Times (performance.now(), ms) of every redraw of a picture in the cell's output (an <img> gets a new src or is
  // added), of every other change there (matrix text, readouts, handles), and of every user input on the page
  // (a chosen <select> option sends only a change event).
  if (window.__stnWatch) { window.__stnWatch.observer.disconnect(); }
  const log = {redraws: [], changes: [], inputs: []};
  const area = cell.querySelector('.jp-OutputArea');
  log.observer = new MutationObserver(records => {
    const now = performance.now();
    for (const r of records) {
      const img = r.target.tagName === 'IMG' || [...r.addedNodes].some(n => n.tagName === 'IMG');
      (img ? log.redraws : log.changes).push(now);
    }
  });
  log.observer.observe(area, {subtree: true, childList: true, attributes: true, characterData: true});
  if (!window.__stnInputs) {
    window.__stnInputs = true;
    const note = e => { if (e.type !== 'pointermove' || e.buttons) window.__stnWatch.inputs.push(performance.now()); };
    for (const type of ['pointerdown', 'pointermove', 'pointerup', 'keydown', 'click', 'change']) {
      document.addEventListener(type, note, true);
    }
  }
  window.__stnWatch = log;
}"""

WATCH_LOG_JS = """() => { const w = window.__stnWatch;
  return {redraws: w.redraws, changes: w.changes, inputs: w.inputs, now: performance.now()}; }"""


def watch(cell) -> None:
    """Start logging (page clock) the redraws and other changes in ``cell``'s output and every input on its page;
    :func:`quiet_after_input` reads the log."""
    cell.element_handle().evaluate(WATCH_JS)


@dataclass
class Quiet:
    """What changed in a widget's output after the last input, in seconds since it: ``redraws`` (picture updates),
    ``changes`` (anything else); ``settled_in``: when the last came (0: nothing); ``late``: those after ``limit``."""

    redraws: list[float]
    changes: list[float]
    limit: float

    @property
    def settled_in(self) -> float:
        return max([0.0, *self.redraws, *self.changes])

    @property
    def late(self) -> list[float]:
        """Redraws and changes later than ``limit`` after the last input."""
        return sorted(t for t in [*self.redraws, *self.changes] if t > self.limit)


def quiet_after_input(page, limit: float = 1.0, guard: float = 0.5, timeout: float = 30.0) -> Quiet:
    """Wait until ``limit + guard`` seconds have passed since the last input on the page (inputs made while waiting
    count too) and return what changed after that input (:class:`Quiet`); changes later than ``limit`` are
    :attr:`Quiet.late`, and ``guard`` is how long we keep looking for them."""
    deadline = time.monotonic() + timeout
    while True:
        log = page.evaluate(WATCH_LOG_JS)
        last = max(log["inputs"], default=0.0)
        left = (last + 1000 * (limit + guard) - log["now"]) / 1000
        if left <= 0 or time.monotonic() > deadline:
            break
        time.sleep(min(left + 0.02, 0.5))

    def after(times: list[float]) -> list[float]:
        return [(t - last) / 1000 for t in times if t > last]

    return Quiet(after(log["redraws"]), after(log["changes"]), limit)


def fast_drag(page, handle, dx: float, steps: int = 10) -> None:
    """Drag ``handle`` (a locator, already in view) ``dx`` pixels sideways with the mouse in ``steps`` moves and no
    pause anywhere: press, move, release, as fast as Playwright sends the events."""
    box = handle.bounding_box()
    assert box is not None, "slider handle is not visible"
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y, steps=steps)
    page.mouse.up()


SLIDERS_JS = """cell => [...cell.querySelectorAll('.widget-slider')].map(s => {
  // the handle's exact value and range from noUiSlider's API on its target (aria-valuenow is rounded)
  const h = s.querySelector('.noUi-handle'), api = s.querySelector('.noUi-target').noUiSlider;
  const r = s.getBoundingClientRect(), hb = h.getBoundingClientRect();
  return {label: s.querySelector('.widget-label').textContent, readout: s.querySelector('.widget-readout').textContent,
          min: api.options.range.min, max: api.options.range.max, now: Number(api.get()),
          visible: hb.top >= 0 && hb.bottom <= innerHeight && r.width > 0};
})"""


@dataclass
class SliderState:
    """One slider as the page shows it: ``label``, ``readout`` (its number), and its handle's range and value."""

    label: str
    readout: float
    min: float
    max: float
    now: float
    visible: bool


def slider_states(cell) -> dict[str, SliderState]:
    """Every slider in ``cell`` by label (:class:`SliderState`)."""
    return {
        s["label"]: SliderState(s["label"], parse_number(s["readout"]), s["min"], s["max"], s["now"], s["visible"])
        for s in cell.element_handle().evaluate(SLIDERS_JS)
    }


def png_text(png: bytes) -> dict[str, str]:
    """The ``tEXt`` chunks of a PNG file: keyword -> text (Latin-1)."""
    png = bytes(png)
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    out, at = {}, 8
    while at + 8 <= len(png):
        length, kind = struct.unpack(">I4s", png[at : at + 8])
        if kind == b"tEXt":
            key, _, text = png[at + 8 : at + 8 + length].partition(b"\0")
            out[key.decode("latin-1")] = text.decode("latin-1")
        at += 12 + length
    return out
