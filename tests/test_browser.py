"""The notebook widgets in a real browser: JupyterLab in headless Chromium runs notebooks 1 and 2 (quick profile,
live widgets), then a test drags sliders, types into a readout and clicks presets the way a student would, and checks
the matrix against :func:`stnlib.affine.build_theta`, the picture against the matrix, the layout at 1400x1000 with
the file browser open, and that saving, reloading and shutting the kernel down leave no dead widgets.

Notebook 5's explorers (a homography's corners, a thin-plate spline's control points) are dragged too: the matrix must
be the homography of the corners the sliders read back, the picture must state and show the state, and each update
must settle within 1 s of the input (the medians are printed).

The theta explorer must also settle under fast drags, in JupyterLab (notebook 1) and in Notebook 7 (the same server,
a notebook holding only the explorer): rounds of 10-step mouse drags with no pause over random sliders of both
families, after each of which the picture must stop changing within 1 s of the last input, and the picture (the
theta its PNG text states), the matrix and every slider must agree.

Skipped only when Playwright or a Chromium executable is missing (``pip install -e '.[dev]'``, ``apt-get install
chromium``; never ``playwright install``). Deselect with ``-m "not browser"``. Screenshots go to
``$STN_BROWSER_SHOTS`` if set, else to pytest's temporary folder (printed)."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from stnlib import affine, projective, tps
from stnlib.env import REPO_ROOT
from tests import browser_helpers as bh

pytestmark = pytest.mark.browser

NB01, NB02, NB05 = "01_affine_intuition.ipynb", "02_stn_mnist.ipynb", "05_beyond_affine.ipynb"
RACE_NB = "explorer_race.ipynb"  # only notebook 1's explorer, for Notebook 7 (written by the lab fixture)
EXPLORER, FOOLING = "explore_theta(", "explore_fooling("  # the widget cells, found by their source
PROJECTIVE, TPS = "explore_projective(", "explore_tps("  # notebook 5's
RUN_TIMEOUT = 300.0  # seconds for Run All (notebook 2 trains a few tiny models on 2 cores)
NB05_RUN_TIMEOUT = 600.0  # notebook 5 trains 16 tiny models (4 distortions x 4 models) in the quick profile
THETA_TOL = 1.5e-3  # the table shows 3 decimals


@pytest.fixture(scope="module")
def chromium() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not importable (it comes with the dev extra: pip install -e '.[dev]')")
    path = bh.find_chromium()
    if path is None:
        pytest.skip(
            f"no Chromium executable: searched PATH for {', '.join(bh.CHROMIUM_NAMES)} and "
            f"{', '.join(bh.CHROMIUM_PATHS)} (install it with: apt-get install chromium)"
        )
    return path


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("STN_BROWSER_SHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def lab(chromium, tmp_path_factory):
    """JupyterLab serving copies of notebooks 1, 2 and 5 (where there), with live widgets in the quick profile; always
    stopped."""
    home = tmp_path_factory.mktemp("lab")
    root = home / "notebooks"
    root.mkdir()
    for name in (NB01, NB02, *[NB05] * (REPO_ROOT / "notebooks" / NB05).exists()):
        shutil.copy(REPO_ROOT / "notebooks" / name, root / name)
    write_race_notebook(root / RACE_NB)
    env = {"STNLIB_PROFILE": "quick", "STNLIB_WIDGETS": "interactive", "STNLIB_REPORTS": str(home / "reports")}
    if os.environ.get("STNLIB_DATA"):
        env["STNLIB_DATA"] = os.environ["STNLIB_DATA"]
    server = bh.start_lab(root, home, env)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser(chromium, lab, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=chromium,
            args=bh.CHROMIUM_ARGS,
            headless=True,
            viewport=bh.VIEWPORT,
        )
        yield context
        context.close()


@dataclass
class Opened:
    """A notebook page after Run All: the page, the last kernel state, seconds Run All took."""

    name: str
    page: object
    state: dict
    seconds: float


def write_race_notebook(path: Path) -> None:
    """A notebook whose one cell is notebook 1's explorer cell (Notebook 7 runs it without notebook 1's setup)."""
    import nbformat

    source = "from stnlib.widgets import explore_theta\n\nexplorer = explore_theta()  # as in notebook 1"
    metadata = json.loads((REPO_ROOT / "notebooks" / NB01).read_text())["metadata"]
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)], metadata=metadata), path)


def _open_and_run(browser, lab, name: str, shots: Path, ui: str = "lab", timeout: float = RUN_TIMEOUT):
    for other in browser.pages:  # one notebook page at a time
        other.close()
    page = browser.new_page()
    bh.open_notebook(page, lab, name, ui=ui)
    start = time.monotonic()
    state = bh.run_all_cells(page, timeout)
    opened = Opened(name, page, state, time.monotonic() - start)
    print(f"{name} ({ui}): Run All took {opened.seconds:.1f} s")
    yield opened
    if not page.is_closed():
        page.close()
    print(f"screenshots in {shots}")


@pytest.fixture(scope="module")
def nb01(browser, lab, shots):
    yield from _open_and_run(browser, lab, NB01, shots)


@pytest.fixture(scope="module")
def race_nb7(browser, lab, shots):
    """The explorer alone, in Notebook 7's UI (``/notebooks/...``) on the same server."""
    yield from _open_and_run(browser, lab, RACE_NB, shots, ui="notebook7")


def skip_without_mnist(what: str) -> None:
    data = os.environ.get("STNLIB_DATA", "")
    if not data or not (Path(data) / "mnist.npz").exists():
        pytest.skip(f"{what} needs MNIST: no mnist.npz in $STNLIB_DATA ({data or 'unset'})")


@pytest.fixture(scope="module")
def nb02(browser, lab, shots):
    skip_without_mnist("notebook 2")
    yield from _open_and_run(browser, lab, NB02, shots)


@pytest.fixture(scope="module")
def nb05(browser, lab, shots):
    if not (lab.root / NB05).exists():
        pytest.skip(f"notebooks/{NB05} does not exist yet")
    skip_without_mnist("notebook 5 (its Table 1 trains on distorted MNIST)")
    yield from _open_and_run(browser, lab, NB05, shots, timeout=NB05_RUN_TIMEOUT)


# ---- checks shared by both notebooks ------------------------------------------------------------------------------


def shoot(locator, path: Path) -> None:
    bh.show(locator)
    locator.screenshot(path=str(path))


def assert_ran_cleanly(opened: Opened) -> None:
    errors = bh.cell_errors(opened.page)
    assert not errors, "cells with an error output:\n" + "\n".join(
        f"code cell {e['i']}: {e['text'][-1500:]}" for e in errors
    )
    unrun = [i for i, p in enumerate(opened.state["prompts"]) if not p.strip("[]: ").isdigit()]
    assert not unrun, f"code cells {unrun} did not run (prompts {[opened.state['prompts'][i] for i in unrun]})"


def assert_theta(snap: bh.Snapshot, expected: torch.Tensor, what: str) -> None:
    assert snap.theta is not None, f"{what}: no theta table in the cell's output"
    np.testing.assert_allclose(snap.theta, expected[0].numpy(), atol=THETA_TOL, err_msg=what)


def readout_value(page, cell, description: str) -> float:
    return bh.parse_number(bh.slider(page, cell, description).locator(".widget-readout").inner_text())


def identity_state(page, cell) -> bh.Snapshot:
    """Click the identity preset and return the settled state (the matrix must be the identity)."""
    bh.click_button(cell, "identity")
    snap = bh.settled(page, cell, lambda s: s.theta is not None and s.png is not None)
    assert_theta(snap, affine.identity(), "after the identity preset")
    return snap


def changed_from(before: bh.Snapshot):
    return lambda s: s.key() != before.key()


def content_moves_x(theta: np.ndarray) -> int:
    """Which way stnlib's warp with ``theta`` moves a bright dot in the middle of a dark 21x21 image: +1 right, -1
    left (an independent check of the picture, from the library's own warp)."""
    dot = torch.zeros(1, 1, 21, 21)
    dot[..., 10, 10] = 1.0
    moved = affine.warp(dot, torch.tensor(theta, dtype=torch.float32)[None])[0, 0]
    xs = torch.arange(21, dtype=torch.float32)
    shift = float((moved.sum(0) * xs).sum() / moved.sum()) - 10.0
    assert abs(shift) > 1.0, f"the dot did not move sideways under theta {theta.tolist()}"
    return 1 if shift > 0 else -1


def assert_moved_as_matrix_says(before: bh.Snapshot, after: bh.Snapshot, panel: int, what: str, shots: Path) -> None:
    """``after`` shows ``theta`` with a shift in x: the bright content of dark panel ``panel`` (0: leftmost, -1:
    rightmost) must move the way the matrix says (against theta's shift) and the way stnlib's warp moves a dot."""
    for label, snap in (("before", before), ("after", after)):
        (shots / f"{what.replace(' ', '_')}-{label}.png").write_bytes(snap.png)
    boxes0, boxes1 = bh.dark_boxes(before.image()), bh.dark_boxes(after.image())
    assert boxes0 and boxes1, f"{what}: no dark image panel found in the picture ({boxes0}, {boxes1})"
    box0, box1 = boxes0[panel], boxes1[panel]
    aspect0, aspect1 = ((x1 - x0) / (y1 - y0) for x0, x1, y0, y1 in (box0, box1))
    assert abs(aspect0 / aspect1 - 1) < 0.1, f"{what}: panel {panel} changed shape ({box0} -> {box1}): not the same one"
    (x0, y0), (x1, y1) = bh.bright_centroid(before.image(), box0), bh.bright_centroid(after.image(), box1)
    by_hand = -int(np.sign(after.theta[0, 2]))  # theta maps output -> input: content moves against its shift
    by_warp = content_moves_x(after.theta)
    assert by_hand == by_warp, f"theta[0,2]={after.theta[0, 2]:+.3f}: hand rule says {by_hand}, warp says {by_warp}"
    dx = x1 - x0
    print(f"{what}: theta[0,2]={after.theta[0, 2]:+.3f}, content centroid x {x0:.3f} -> {x1:.3f} (panel widths)")
    assert np.sign(dx) == by_warp and 0.08 < abs(dx) < 0.4, (
        f"{what}: the picture's content moved by {dx:+.3f} panel widths; the matrix (theta[0,2]="
        f"{after.theta[0, 2]:+.3f}) says it moves {'right' if by_warp > 0 else 'left'} by up to 0.25"
    )
    assert abs(y1 - y0) < 0.05, f"{what}: the content also moved vertically ({y0:.3f} -> {y1:.3f})"


def wait_outputs_rendered(page, marker: str, timeout: float = 30.0) -> None:
    """After a reload: wait for an idle kernel (or none) and output text that stays the same for 2 s."""
    deadline, last, since = time.monotonic() + timeout, None, time.monotonic()
    while time.monotonic() < deadline:
        text = bh.output_texts(page) + str(bh.snapshot(bh.code_cell(page, marker)).n_img)
        if text != last:
            last, since = text, time.monotonic()
        elif time.monotonic() - since >= 2.0:
            return
        time.sleep(0.25)


def dom_summary(page, marker: str) -> str:
    """What the widget cell's output area holds, for failure messages."""
    return (
        bh.code_cell(page, marker)
        .element_handle()
        .evaluate("""c => [...c.querySelectorAll(
        '.jp-OutputArea-output')].map(o => `${o.dataset.mimeType || '?'}: ${o.textContent.slice(0, 200)} ` +
        `[${o.querySelectorAll('img').length} img]`).join(' | ')""")
    )


def assert_no_dead_widgets(page, marker: str, when: str) -> None:
    wait_outputs_rendered(page, marker)
    dead = bh.dead_widget_texts(page)
    override = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    saving = "saveState" in override.read_text() if override.exists() else False
    assert not dead, (
        f"{when}: outputs say {dead[:5]} ({len(dead)} in all); the widget cell shows: "
        f"{dom_summary(page, marker)}; widget state saved with the notebook: {saving} ({override}, "
        f"installed by make from tools/lab-settings)"
    )
    snap = bh.snapshot(bh.code_cell(page, marker))
    assert snap.n_img >= 1, f"{when}: the widget cell shows no picture; it shows: {dom_summary(page, marker)}"


def check_save_and_reload(opened: Opened, lab: bh.Lab, marker: str, shots: Path) -> None:
    """Save, reload (the kernel still runs): no dead widgets, the picture is there, and a preset still works."""
    page, stem = opened.page, Path(opened.name).stem
    try:
        bh.menu(page, "File", "Save Notebook")
        page.wait_for_function(
            "() => !document.querySelector('.lm-TabBar-tab.jp-mod-current.jp-mod-dirty')", timeout=30_000
        )
        saved = json.loads((lab.root / opened.name).read_text())
        errors = [
            c["source"][:1]
            for c in saved["cells"]
            if any(o.get("output_type") == "error" for o in c.get("outputs", []))
        ]
        assert not errors, f"the saved notebook has error outputs in cells starting {errors}"
        page.reload()
        bh.wait_notebook_ready(page, lab.root / opened.name)
        assert_no_dead_widgets(page, marker, "after saving and reloading")
        cell = bh.code_cell(page, marker)
        before = bh.settled(page, cell)
        bh.click_button(cell, "rotate")  # the kernel still runs: the reloaded widget must still answer
        after = bh.settled(page, cell, changed_from(before))
        assert_theta(after, affine.build_theta(rotation=30), "rotate preset after the reload")
        assert not after.same_picture(before), (
            "after the reload the rotate preset changed the matrix but not the picture (it still shows the state "
            "from before the reload): the picture no longer follows the controls"
        )
    finally:
        shoot(bh.code_cell(page, marker), shots / f"{stem}-widget-reloaded.png")


def check_shutdown_and_reload(opened: Opened, lab: bh.Lab, marker: str, shots: Path) -> None:
    """Kernel > Shut Down Kernel, reload: no dead widgets, the picture is there."""
    page, stem = opened.page, Path(opened.name).stem
    try:
        kernel = bh.notebook_kernel_id(lab, opened.name)
        bh.menu(page, "Kernel", "Shut Down Kernel")
        deadline = time.monotonic() + 30
        while kernel in (running := [k["id"] for k in lab.api("/api/kernels")]) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert kernel not in running, f"kernel {kernel} still runs after Kernel > Shut Down Kernel"
        page.reload()
        bh.wait_notebook_ready(page, lab.root / opened.name)
        assert_no_dead_widgets(page, marker, "after shutting the kernel down and reloading")
        disconnected = bh.code_cell(page, marker).locator(".jupyter-widgets-disconnected").count()
        print(f"{opened.name}: after the shutdown and reload, {disconnected} controls show as disconnected")
    finally:
        shoot(bh.code_cell(page, marker), shots / f"{stem}-widget-kernel-shut-down-reloaded.png")
        page.screenshot(path=str(shots / f"{stem}-end.png"))


# ---- fast drags: the explorer settles and agrees -----------------------------------------------------------------

SETTLE_LIMIT = 1.0  # seconds after the last input by which the picture (and everything else) must stop changing
GUARD = 0.4  # seconds we keep watching after that
RACE_ROUNDS = int(os.environ.get("STN_RACE_ROUNDS", "20"))
DRAGS_PER_ROUND = 2
PARAMS = ("rotation", "scale_x", "scale_y", "shear", "tx", "ty")
RAW = tuple(f"θ[{i},{j}]" for i in range(2) for j in range(3))


def step_of(label: str) -> float:
    return 1.0 if label == "rotation" else 0.01


def disagreements(cell) -> list[str]:
    """How the explorer's picture, matrix and sliders disagree (empty: they agree). The picture states the exact
    theta and parameters it shows (PNG text ``theta``, ``params``; its title is ``Title``); the matrix must show
    theta to 3 decimals, each slider its value rounded to its step, inside its range."""
    snap, sliders = bh.snapshot(cell), bh.slider_states(cell)
    if snap.png is None or snap.theta is None:
        return [f"no picture or no matrix: {snap}"]
    meta = bh.png_text(snap.png)
    if not {"Title", "theta", "params"} <= set(meta):
        return [f"the picture does not state its theta (PNG text {sorted(meta)})"]
    theta, params = np.array(json.loads(meta["theta"])).reshape(2, 3), json.loads(meta["params"])
    title = np.array([bh.parse_number(v) for v in re.findall(r"[+-]\d+\.\d+", meta["Title"])])
    problems = []
    if title.shape != (6,) or not np.array_equal(title.reshape(2, 3), snap.theta):
        problems.append(f"picture title {meta['Title']!r} but matrix {snap.theta.tolist()}")
    if np.abs(snap.theta - theta).max() > 5e-4 + 1e-6:
        problems.append(f"matrix {snap.theta.tolist()} but the picture's theta {theta.round(4).tolist()}")
    rebuilt = affine.build_theta(**params)[0].numpy()
    if np.abs(rebuilt - theta).max() > 1e-3 * max(1.0, np.abs(theta).max()):
        problems.append(f"the picture's parameters {params} do not rebuild its theta {theta.round(4).tolist()}")
    exact = {**params, **{label: theta.flat[k] for k, label in enumerate(RAW)}}
    for label in (*PARAMS, *RAW):
        s, step = sliders[label], step_of(label)
        if abs(s.readout - exact[label]) > step / 2 + 1e-6:
            problems.append(f"slider {label} reads {s.readout} but the picture says {exact[label]:.4f}")
        if not (s.min <= s.now <= s.max) or abs(s.now - s.readout) > step / 2 + 1e-6:
            problems.append(f"slider {label}: handle at {s.now} in {s.min}..{s.max}, readout {s.readout}")
    return problems


def race_view(page, cell) -> dict:
    """Scroll the explorer so that all its sliders are on screen; their handles by label."""
    bh.show(bh.slider(page, cell, "shear"))
    states = bh.slider_states(cell)
    hidden = [label for label in (*PARAMS, *RAW) if not states[label].visible]
    assert not hidden, f"sliders {hidden} are off screen at 1400x1000"
    return {label: bh.slider(page, cell, label).locator(".noUi-handle") for label in (*PARAMS, *RAW)}


def check_settled(page, cell, what: str) -> tuple[bh.Quiet, list[str]]:
    """Watch until :data:`SETTLE_LIMIT` + :data:`GUARD` after the last input; problems: late changes, disagreements."""
    quiet = bh.quiet_after_input(page, SETTLE_LIMIT, GUARD)
    problems = (
        [
            f"{len(quiet.late)} changes later than {SETTLE_LIMIT} s after the last input (at "
            f"{', '.join(f'{t:.2f}' for t in quiet.late[:8])} s)"
        ]
        if quiet.late
        else []
    )
    problems += disagreements(cell)
    return quiet, [f"{what}: {p}" for p in problems]


def check_fixed_drags(page, cell, ui: str, shots: Path) -> list[str]:
    """The bug report's sequences: from the identity, θ[0,2] dragged 70 px twice, then tx dragged 70 px twice (no
    pause): the dragged slider keeps its range (ranges only ever widen, and not while a handle is held), its value
    moves right inside it, and everything agrees. Returns the problems."""
    problems = []
    for label in ("θ[0,2]", "tx"):
        identity_state(page, cell)
        handles = race_view(page, cell)
        before = bh.slider_states(cell)[label]
        bh.watch(cell)
        bh.fast_drag(page, handles[label], 70)
        bh.fast_drag(page, handles[label], 70)
        quiet, found = check_settled(page, cell, f"{label} dragged 70 px twice")
        state = bh.slider_states(cell)[label]
        print(
            f"{ui}: {label} dragged 70 px twice: {before.readout} -> {state.readout} (range {state.min}.."
            f"{state.max}), settled {quiet.settled_in:.2f} s after the last input, {len(quiet.redraws)} redraws"
        )
        if not (before.readout < state.readout <= state.max and (state.min, state.max) == (before.min, before.max)):
            found.append(
                f"{label} dragged 70 px twice: from {before.readout} in {before.min}..{before.max} to "
                f"{state.readout} in {state.min}..{state.max}"
            )
        problems += found
    if problems:
        shoot(cell, shots / f"race-fixed-{ui.replace(' ', '_')}.png")
    return problems


def check_drag_race(page, cell, ui: str, shots: Path) -> list[list[str]]:
    """:data:`RACE_ROUNDS` rounds of :data:`DRAGS_PER_ROUND` fast 10-step drags (random sliders of both families,
    20 to 90 px either way, no pause), then a last round of 20 drags in a row; after each round the explorer must
    stop changing within :data:`SETTLE_LIMIT` s of the last input and agree (:func:`disagreements`). Returns the
    failed rounds' problems."""
    rng = random.Random(1506)
    identity_state(page, cell)
    handles = race_view(page, cell)
    failed, settle, redraws = [], [], []
    for r in range(RACE_ROUNDS + 1):
        bh.watch(cell)
        for _ in range(20 if r == RACE_ROUNDS else DRAGS_PER_ROUND):
            bh.fast_drag(page, handles[rng.choice([*PARAMS, *RAW])], rng.choice((-1, 1)) * rng.uniform(20, 90))
        quiet, problems = check_settled(page, cell, f"round {r + 1}")
        settle.append(quiet.settled_in)
        redraws.append(len(quiet.redraws))
        if problems:
            failed.append(problems)
            shoot(cell, shots / f"race-{ui.replace(' ', '_')}-round{r + 1}.png")
            handles = race_view(page, cell)
    print(
        f"{ui}: {RACE_ROUNDS + 1 - len(failed)}/{RACE_ROUNDS + 1} drag rounds settled and agreed (the last of 20 "
        f"drags in a row); settled {np.median(settle):.2f} s after the last input (median, max {max(settle):.2f} "
        f"s); redraws after it: median {np.median(redraws):.0f}, max {max(redraws)}"
    )
    return failed


def check_fast_drags(opened: Opened, ui: str, shots: Path) -> None:
    """:func:`check_fixed_drags`, then :func:`check_drag_race` (both run, whatever the first finds)."""
    cell = bh.code_cell(opened.page, EXPLORER)
    fixed = check_fixed_drags(opened.page, cell, ui, shots)
    failed = check_drag_race(opened.page, cell, ui, shots)
    assert not fixed and not failed, (
        f"{ui}: the explorer did not settle or its parts disagree:\n" + "\n".join(fixed) + "\n"
        f"{len(failed)} of {RACE_ROUNDS + 1} drag rounds failed:\n" + "\n".join(p for f in failed[:5] for p in f[:6])
    )


# ---- notebook 1: the theta explorer ------------------------------------------------------------------------------


def test_01_runs_without_errors(nb01):
    assert_ran_cleanly(nb01)


def test_01_dragging_a_slider_changes_picture_and_matrix(nb01):
    page = nb01.page
    cell = bh.code_cell(page, EXPLORER)
    before = identity_state(page, cell)
    bh.drag_handle(page, bh.slider(page, cell, "rotation"), 40)
    after = bh.settled(page, cell, changed_from(before))
    rotation = readout_value(page, cell, "rotation")
    assert rotation != 0, "the drag did not move the rotation slider"
    assert not after.same_picture(before), "the picture did not change when the rotation slider was dragged"
    assert np.abs(after.image() - before.image()).max() > 0.2, "the picture's pixels did not change"
    assert_theta(after, affine.build_theta(rotation=rotation), f"after dragging rotation to {rotation}")


def test_01_rotation_30_typed_into_readout(nb01):
    page = nb01.page
    cell = bh.code_cell(page, EXPLORER)
    before = identity_state(page, cell)
    bh.type_readout(page, bh.slider(page, cell, "rotation"), "30")
    after = bh.settled(page, cell, changed_from(before))
    assert readout_value(page, cell, "rotation") == 30
    expected = affine.build_theta(rotation=30)
    assert_theta(after, expected, "rotation 30")
    assert after.theta[0, 1] == pytest.approx(-0.5, abs=5e-4)  # by hand: theta is the inverse rotation, -sin 30°
    assert float(expected[0, 0, 1]) == pytest.approx(-0.5, abs=1e-6)
    assert not after.same_picture(before), "the picture did not change when rotation was set to 30"


def test_01_translate_preset_moves_content_as_matrix_says(nb01, shots):
    page = nb01.page
    cell = bh.code_cell(page, EXPLORER)
    before = identity_state(page, cell)
    bh.click_button(cell, "translate")
    after = bh.settled(page, cell, changed_from(before))
    assert_theta(after, affine.build_theta(tx=0.5), "translate preset")
    assert_moved_as_matrix_says(before, after, -1, "explorer output panel", shots)
    shoot(cell, shots / "01_explorer_translate.png")


def test_01_explorer_settles_after_fast_drags_in_jupyterlab(nb01, shots):
    check_fast_drags(nb01, "JupyterLab", shots)


def test_01_save_and_reload_keep_a_live_explorer(nb01, lab, shots):
    check_save_and_reload(nb01, lab, EXPLORER, shots)


def test_01_kernel_shutdown_and_reload_keep_the_picture(nb01, lab, shots):
    check_shutdown_and_reload(nb01, lab, EXPLORER, shots)


def test_01_explorer_settles_after_fast_drags_in_notebook7(race_nb7, shots):
    assert_ran_cleanly(race_nb7)
    check_fast_drags(race_nb7, "Notebook 7", shots)


# ---- notebook 2: fool the STN ------------------------------------------------------------------------------------


def test_02_runs_without_errors(nb02):
    assert_ran_cleanly(nb02)


def test_02_fool_the_stn_slider_and_preset(nb02, shots):
    page = nb02.page
    cell = bh.code_cell(page, FOOLING)
    before = identity_state(page, cell)
    boxes = bh.dark_boxes(before.image())
    assert boxes, "no dark image panel in the fool-the-STN picture"
    bars = slice(boxes[-1][1] + 5, None)  # right of the last image panel: the probability charts
    bh.drag_handle(page, bh.slider(page, cell, "rotation"), 60)
    turned = bh.settled(page, cell, changed_from(before))
    rotation = readout_value(page, cell, "rotation")
    assert rotation != 0, "the drag did not move the rotation slider"
    assert_theta(turned, affine.build_theta(rotation=rotation), f"after dragging rotation to {rotation}")
    assert not turned.same_picture(before), "the picture did not change when the rotation slider was dragged"
    assert np.abs(turned.image()[:, bars] - before.image()[:, bars]).max() > 0.2, (
        f"the probabilities shown did not change when the digit was turned by {rotation}°"
    )
    bh.click_button(cell, "translate")
    moved = bh.settled(page, cell, changed_from(turned))
    assert_theta(moved, affine.build_theta(tx=0.5), "translate preset")
    assert_moved_as_matrix_says(before, moved, 1, "fool-the-STN distorted input", shots)


def test_02_fool_the_stn_fits_beside_the_file_browser(nb02):
    page = nb02.page
    if not page.locator("#jp-left-stack").is_visible():
        page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id='filebrowser']").click()
    assert page.locator(".jp-FileBrowser").is_visible(), "the file browser sidebar is not open"
    cell = bh.code_cell(page, FOOLING)
    cell.scroll_into_view_if_needed()
    geometry = cell.element_handle().evaluate("""c => {
      const panel = c.closest('.jp-WindowedPanel-outer') || c.closest('.jp-Notebook');
      const p = panel.getBoundingClientRect();
      const box = e => { if (!e) return null; const r = e.getBoundingClientRect(); return [r.left, r.right]; };
      const area = c.querySelector('.jp-OutputArea');
      const table = area.querySelector('table.stn-theta') || area.querySelector('table');
      const imgs = [...area.querySelectorAll('img')].sort((a, b) => b.naturalWidth * b.naturalHeight -
                                                                    a.naturalWidth * a.naturalHeight);
      const overflow = [area, ...area.querySelectorAll('.jp-OutputArea-child, .jp-OutputArea-output')]
        .filter(e => e.scrollWidth > e.clientWidth + 1)
        .map(e => `${e.className}: scrollWidth ${e.scrollWidth} > clientWidth ${e.clientWidth}`);
      return {panel: [p.left, p.left + panel.clientWidth], table: box(table), img: box(imgs[0]), overflow};
    }""")
    left, right = geometry["panel"]
    print(f"layout: notebook visible x {left:.0f}..{right:.0f}, matrix {geometry['table']}, picture {geometry['img']}")
    for what in ("table", "img"):
        assert geometry[what] is not None, f"no {what} in the fool-the-STN output"
        x0, x1 = geometry[what]
        assert left - 0.5 <= x0 and x1 <= right + 0.5, (
            f"the {'matrix' if what == 'table' else 'picture'} spans x {x0:.0f}..{x1:.0f}, outside the notebook's "
            f"visible {left:.0f}..{right:.0f} (1400x1000 window, file browser open)"
        )
    assert not geometry["overflow"], f"the output area scrolls sideways: {geometry['overflow']}"


def test_02_save_and_reload_keep_a_live_widget(nb02, lab, shots):
    check_save_and_reload(nb02, lab, FOOLING, shots)


def test_02_kernel_shutdown_and_reload_leave_no_dead_widgets(nb02, lab, shots):
    check_shutdown_and_reload(nb02, lab, FOOLING, shots)


# ---- notebook 5: the projective and thin-plate-spline explorers ------------------------------------------------


CORNER_SLIDERS = tuple(f"{c} {a}" for c in ("TL", "TR", "BR", "BL") for a in "xy")
H_TOL = 5e-4 + 1e-6  # the table shows 3 decimals
UPDATE_LIMIT = 1.0  # seconds from an input until the picture has settled (the target: 0.3 s)


@dataclass
class Update:
    """One input and what followed: the settled snapshot, and what changed after the input (:class:`bh.Quiet`)."""

    snap: bh.Snapshot
    quiet: bh.Quiet


def timed(page, cell, act, accept, shape: tuple[int, int] = (2, 3)) -> Update:
    """Do ``act()`` (one input: a drag, a click, a choice) and time it: the cell's output must stop changing within
    :data:`UPDATE_LIMIT` s of the input and stay as it was then; the settled state must pass ``accept``."""
    bh.watch(cell)
    act()
    quiet = bh.quiet_after_input(page, UPDATE_LIMIT, GUARD)
    then = bh.snapshot(cell, shape)
    snap = bh.settled(page, cell, accept, shape=shape)
    assert not quiet.late, f"the output changed {quiet.late} s after the input: later than {UPDATE_LIMIT} s"
    assert snap.key() == then.key(), f"the output still changed more than {UPDATE_LIMIT + GUARD} s after the input"
    return Update(snap, quiet)


def report_times(what: str, updates: list[Update]) -> None:
    times = [u.quiet.settled_in for u in updates]
    print(
        f"{what}: the picture settled {np.median(times):.2f} s after the input (median of {len(times)}, max "
        f"{max(times):.2f} s; {', '.join(f'{t:.2f}' for t in times)})"
    )


def slider_corners(page, cell) -> torch.Tensor:
    """The corners ``(1, 4, 2)`` the projective explorer's slider readouts show."""
    return torch.tensor([readout_value(page, cell, label) for label in CORNER_SLIDERS]).view(1, 4, 2)


def assert_homography(snap: bh.Snapshot, corners: torch.Tensor, what: str) -> None:
    """The matrix shown is the homography of ``corners`` to 3 decimals; the picture states the same corners and h."""
    h = projective.homography_from_corners(corners)[0].double().numpy()
    assert snap.theta is not None and snap.png is not None, f"{what}: no matrix or no picture"
    np.testing.assert_allclose(snap.theta, h, atol=H_TOL, err_msg=f"{what}: the matrix shown")
    meta = bh.png_text(snap.png)
    np.testing.assert_allclose(
        np.array(json.loads(meta["corners"])),
        corners[0].numpy(),
        atol=1e-5,
        err_msg=f"{what}: the corners the picture states",
    )
    np.testing.assert_allclose(
        np.array(json.loads(meta["h"])).reshape(3, 3), h, atol=1e-4, err_msg=f"{what}: the h the picture states"
    )


def red_centroid(snap: bh.Snapshot) -> tuple[float, float]:
    """Centroid ``(x, y)`` in pixels of the chosen control point's red dot in the picture's left half (the input).
    Red: green and blue under 0.3 of red (the orange grid lines have half as much green as red, however blended)."""
    image = snap.image()
    r, g, b = np.moveaxis(image[:, : image.shape[1] // 2], -1, 0)
    ys, xs = np.nonzero((r > 0.6) & (g < 0.3 * r) & (b < 0.3 * r))
    assert len(xs) > 10, "no red dot (the chosen control point) on the input panel"
    return float(xs.mean()), float(ys.mean())


def test_05_runs_without_errors(nb05):
    assert_ran_cleanly(nb05)


def test_05_projective_corner_slider_changes_picture_and_matrix(nb05, shots):
    page = nb05.page
    cell = bh.code_cell(page, PROJECTIVE)
    bh.click_button(cell, "identity")
    before = bh.settled(page, cell, lambda s: s.theta is not None and s.png is not None, shape=(3, 3))
    assert_homography(before, torch.tensor([projective.CORNERS]), "the identity preset")
    updates = []
    for label, dx in (("TR y", 30), ("BL x", 25), ("TL x", -25), ("BR y", -30), ("TR y", -20)):
        corners = slider_corners(page, cell)
        update = timed(
            page,
            cell,
            lambda label=label, dx=dx: bh.drag_handle(page, bh.slider(page, cell, label), dx),
            changed_from(before),
            shape=(3, 3),
        )
        moved = slider_corners(page, cell)
        k = CORNER_SLIDERS.index(label)
        assert moved.flatten()[k] != corners.flatten()[k], f"dragging {label} did not move it"
        assert_homography(update.snap, moved, f"after dragging {label} by {dx} px")
        assert not update.snap.same_picture(before), f"the picture did not change when {label} was dragged"
        assert np.abs(update.snap.image() - before.image()).max() > 0.2, "the picture's pixels did not change"
        updates.append(update)
        before = update.snap
    (shots / "05_projective.png").write_bytes(before.png)
    shoot(cell, shots / "05_projective-cell.png")
    report_times("projective explorer, 5 corner drags", updates)


def test_05_projective_settles_after_fast_drags(nb05, shots):
    """Rounds of 4 fast 10-step drags (random corner sliders, no pause): the picture must settle within
    :data:`UPDATE_LIMIT` s of the last input, with the matrix and the picture on the corners the sliders show."""
    page = nb05.page
    cell = bh.code_cell(page, PROJECTIVE)
    bh.click_button(cell, "identity")
    bh.settled(page, cell, lambda s: s.theta is not None and s.png is not None, shape=(3, 3))
    bh.show(bh.slider(page, cell, "BL x"))
    handles = {label: bh.slider(page, cell, label).locator(".noUi-handle") for label in CORNER_SLIDERS}
    rng, times = random.Random(505), []
    for r in range(4):
        bh.watch(cell)
        for _ in range(4):
            bh.fast_drag(page, handles[rng.choice(CORNER_SLIDERS)], rng.choice((-1, 1)) * rng.uniform(10, 30))
        quiet = bh.quiet_after_input(page, UPDATE_LIMIT, GUARD)
        snap = bh.settled(page, cell, shape=(3, 3))
        assert not quiet.late, f"round {r + 1}: the output changed {quiet.late} s after the last input"
        if "no homography" not in snap.text:  # corners on a line keep the last matrix: nothing to compare
            assert_homography(snap, slider_corners(page, cell), f"round {r + 1} of fast drags")
        times.append(quiet.settled_in)
    shoot(cell, shots / "05_projective-fast-drags.png")
    print(
        f"projective explorer, 4 rounds of 4 fast drags: settled {np.median(times):.2f} s after the last input "
        f"(median, max {max(times):.2f} s)"
    )


def test_05_tps_point_moves_grid(nb05, shots):
    page = nb05.page
    cell = bh.code_cell(page, TPS)
    rest = tps.control_points(4)
    bh.click_button(cell, "reset")
    before = bh.settled(page, cell, lambda s: s.png is not None and "sources" in bh.png_text(s.png))
    select = cell.locator(".widget-dropdown select")
    bh.show(select)
    chosen = timed(
        page,
        cell,
        lambda: select.select_option(label="6: row 1, column 2"),
        lambda s: bh.png_text(s.png).get("selected") == "6",
    )
    assert not chosen.snap.same_picture(before), "choosing another point did not move the highlight"
    np.testing.assert_allclose(
        json.loads(bh.png_text(chosen.snap.png)["sources"]),
        rest.numpy(),
        atol=1e-6,
        err_msg="choosing a point moved the sources",
    )
    assert (readout_value(page, cell, "dx"), readout_value(page, cell, "dy")) == (0.0, 0.0)
    updates, prev = [chosen], chosen.snap
    for label, px in (("dx", 30), ("dy", 25), ("dx", -20)):
        drag = lambda label=label, px=px: bh.drag_handle(page, bh.slider(page, cell, label), px)
        update = timed(page, cell, drag, changed_from(prev))
        offset = torch.tensor([readout_value(page, cell, "dx"), readout_value(page, cell, "dy")])
        want = rest.clone()
        want[6] += offset
        meta = bh.png_text(update.snap.png)
        assert meta["selected"] == "6"
        np.testing.assert_allclose(
            json.loads(meta["sources"]),
            want.numpy(),
            atol=1e-5,
            err_msg=f"after dragging {label} to {offset.tolist()}: the sources shown",
        )
        assert f"reads ({want[6, 0]:+.2f}, {want[6, 1]:+.2f})" in update.snap.text, update.snap.text[-300:]
        assert not update.snap.same_picture(prev), f"the picture did not change when {label} was dragged"
        (x0, y0), (x1, y1) = red_centroid(prev), red_centroid(update.snap)
        moved = (x1 - x0) if label == "dx" else (y1 - y0)
        print(f"{label} dragged {px:+d} px: offset {offset.tolist()}, red dot moved {moved:+.1f} px in the picture")
        assert np.sign(moved) == np.sign(px) and abs(moved) > 3, (
            f"dragging {label} by {px:+d} px moved the chosen point's dot by {moved:+.1f} px in the picture"
        )
        updates.append(update)
        prev = update.snap
    (shots / "05_tps.png").write_bytes(prev.png)
    shoot(cell, shots / "05_tps-cell.png")
    report_times("TPS explorer, a point chosen then 3 drags", updates)
