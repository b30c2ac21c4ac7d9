"""Repository bookkeeping: the repo URL, and the generated parts of ``README.md`` and ``CONTRIBUTING.md``.

The repository URL lives **only** in :data:`REPO_URL`. A fork changes that line and runs ``make sync``,
which rewrites everything derived from it or from the committed results in ``reports/``:

* ``README.md``, the students' page: the "Start here" list and the notebook table (Colab badges; each
  notebook's run time from its executed report's papermill metadata), one results table per notebook
  with what each number means (:data:`RESULT_ROWS`: the words follow from the value by explicit rules),
  and the instructors' commands;
* ``CONTRIBUTING.md``: every recorded number with the full provenance of its run, notebook 3's CIFAR-10
  detail, and the benchmarks (``reports/bench.json``);
* the Colab setup cell at the top of every notebook in ``notebooks/``.

``python -m tools.readme check`` fails if any of these is stale (the tests check the same), so nobody
can hand-edit a number into either page. A malformed ``reports/metrics.json`` or ``reports/bench.json``
is reported by name, with what is wrong, and nothing is written. A results row whose metric is not in
``metrics.json`` is left out, and a note under its table names the missing key.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import nbformat

from stnlib.env import REPO_ROOT
from stnlib.recipes import COURSE_MODELS
from stnlib.runs import MetricsFileError, atomic_write_text, load_metrics

__all__ = [
    "BENCH_TITLES", "BRANCH", "NOTEBOOK_DATA", "NOTEBOOK_SUMMARIES", "REPO_URL", "RESULT_ROWS", "TARGETS", "Row",
    "colab_cell_source", "format_value", "main", "render_all_metrics", "render_contributing", "render_readme",
    "render_student_results", "short_provenance", "stale_files", "sync",
]  # fmt: skip

#: The one place the repository URL is written. Change it in a fork, then run ``make sync``.
REPO_URL = "https://github.com/stn-notebooks/stn-notebooks"
BRANCH = "main"
#: The paper the series teaches (authors, title, venue, link).
PAPER = ("Jaderberg, Simonyan, Zisserman, Kavukcuoglu", "Spatial Transformer Networks", "NeurIPS 2015",
         "https://arxiv.org/abs/1506.02025")  # fmt: skip

#: What each notebook teaches, in a few words (file stem -> summary), for the README's notebook table.
NOTEBOOK_SUMMARIES: dict[str, str] = {
    "01_affine_intuition": "What the 2x3 matrix theta does to an image; why shifts and zooms look reversed; "
    "live sliders",
    "02_stn_mnist": "A transformer in 20 lines; where it helps on rotated and cluttered digits, measured",
    "03_stn_cifar10": "When a transformer helps on photos (off-centre) and when it does nothing (centred)",
    "04_stn_learning_gif": "Watch transformers learn, as GIFs",
}
#: The real datasets each notebook needs (none: it runs on the images bundled in assets/samples).
#: ``tests/test_project.py`` checks these against the data each committed run says it used.
NOTEBOOK_DATA: dict[str, tuple[str, ...]] = {
    "01_affine_intuition": (),
    "02_stn_mnist": ("MNIST",),
    "03_stn_cifar10": ("CIFAR-10",),
    "04_stn_learning_gif": ("MNIST", "CIFAR-10"),
}
#: Approximate size of torchvision's download of each dataset (a property of the dataset, not a result).
DOWNLOAD_SIZE = {"MNIST": "~11 MB", "CIFAR-10": "~170 MB"}
#: Images shown beside a notebook's results (markdown), e.g. the GIFs notebook 4 makes.
RESULT_FIGURES: dict[str, str] = {
    "04_stn_learning_gif": "![A spatial transformer learning where to look: on cluttered 60x60 MNIST canvases it "
    "moves its sampling region (orange) onto each digit; below, the 20x20 view its classifier gets]"
    "(assets/stn_learning_mnist_cluttered.gif)\n\nThe other two films: [an RTS transformer turning and "
    "centring digits](assets/stn_learning_mnist_rts.gif), [a quiet one on CIFAR-10](assets/stn_learning_cifar10.gif).",
}

COLAB_TAG = "colab-setup"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
README = REPO_ROOT / "README.md"
CONTRIBUTING = REPO_ROOT / "CONTRIBUTING.md"
#: The committed full-profile results the pages are rendered from (not ``$STNLIB_REPORTS``).
REPORTS = REPO_ROOT / "reports"


def _slug() -> str:
    match = re.fullmatch(r"https://github\.com/([^/]+/[^/]+?)(\.git)?/?", REPO_URL)
    if not match:
        raise ValueError(f"REPO_URL must look like https://github.com/OWNER/NAME, got {REPO_URL!r}")
    return match.group(1)


def colab_badge(stem: str) -> str:
    """Markdown "Open in Colab" badge for ``notebooks/<stem>.ipynb``."""
    url = f"https://colab.research.google.com/github/{_slug()}/blob/{BRANCH}/notebooks/{stem}.ipynb"
    return f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


def colab_cell_source() -> str:
    """Source of the first cell of every notebook: set up Colab, do nothing elsewhere."""
    name = _slug().split("/")[1]
    return f'''# Colab only: clone the repository (for stnlib and assets/) and install stnlib. Does nothing elsewhere.
import subprocess
import sys

if "google.colab" in sys.modules:
    REPO_URL = "{REPO_URL}"  # written by `make sync` from tools/readme.py
    subprocess.run(["git", "clone", "--depth", "1", REPO_URL, "/content/{name}"], check=False)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "/content/{name}"], check=True)
    sys.path.insert(0, "/content/{name}")  # the editable install is only seen after a restart
    from google.colab import output

    output.enable_custom_widget_manager()'''


def notebook_stems() -> list[str]:
    return sorted(p.stem for p in NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


def notebook_title(path: Path) -> str:
    """The notebook's first markdown heading without its number ("01 · Affine intuition: ..." -> "Affine intuition")."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("# "):
            heading = cell.source.splitlines()[0][2:]
            return heading.split("·", 1)[-1].split(":", 1)[0].strip()
    raise ValueError(f"{path.name} has no '# title' markdown cell")


def report_seconds(stem: str) -> float | None:
    """How long the committed full-profile report ``reports/<stem>.ipynb`` took to run: papermill's
    ``metadata.papermill.duration``; ``None`` if there is no report, no duration, or it ran another profile."""
    path = REPORTS / f"{stem}.ipynb"
    if not path.exists():
        return None
    meta = json.loads(path.read_text()).get("metadata", {}).get("papermill", {})
    if meta.get("parameters", {}).get("PROFILE", "full") != "full" or meta.get("duration") is None:
        return None
    return float(meta["duration"])


def format_duration(seconds: float) -> str:
    """Seconds as a student reads a run time.

    >>> format_duration(7.66), format_duration(510.3), format_duration(3376.5), format_duration(5709.0)
    ('8 s', '9 min', '56 min', '1 h 35 min')
    """
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def data_needed(stem: str) -> str:
    """The data cell of the notebook table: ``none`` or each dataset with its download size."""
    names = NOTEBOOK_DATA.get(stem)
    if names is None:
        raise ValueError(f"notebooks/{stem}.ipynb has no entry in tools.readme.NOTEBOOK_DATA")
    if not names:
        return "none (bundled images)"
    return " + ".join(f"{n} {DOWNLOAD_SIZE[n]}" for n in names) + " download"


def _run_time(stem: str, entry: Mapping | None) -> str:
    """CPU: the report's papermill duration; GPU: ``gpu_seconds`` in its metrics entry, if a run recorded one."""
    cpu = report_seconds(stem)
    gpu = (entry or {}).get("gpu_seconds")
    return (f"CPU {format_duration(cpu) if cpu is not None else 'not measured'}; "
            f"GPU {format_duration(gpu) if gpu is not None else 'not measured'}")  # fmt: skip


def render_start(metrics: Mapping) -> str:
    """The README's "Start here" list: read or run the first notebook, the paper, then the rest."""
    stems = notebook_stems()
    first = stems[0]
    seconds = report_seconds(first)
    cost = f"{format_duration(seconds)} of CPU" if seconds is not None else "run time not measured"
    data = "no data to download" if not NOTEBOOK_DATA.get(first) else f"data: {data_needed(first)}"
    authors, title, venue, url = PAPER
    lines = [
        f"1. **Read** [notebook {int(first[:2])}, executed](reports/{first}.ipynb) on GitHub, every output "
        f"shown, or **run** it in Colab {colab_badge(first)} ({cost}, {data}).",
        f"2. **The paper**: {authors}, [*{title}*]({url}), {venue} (arXiv {url.rsplit('/', 1)[1]}).",
    ]
    if len(stems) > 1:
        lines.append(f"3. **Then** notebooks {int(stems[1][:2])} to {int(stems[-1][:2])}, in order:")
    return "\n".join(lines)


def render_index(metrics: Mapping | None = None) -> str:
    """The README's notebook table: executed report, what it teaches, run time, data, Colab, source."""
    metrics = metrics or {}
    rows = ["| # | Notebook (executed report) | What it teaches | Full run | Data needed | Colab | Source |",
            "|---|---|---|---|---|---|---|"]  # fmt: skip
    for stem in notebook_stems():
        if stem not in NOTEBOOK_SUMMARIES:
            raise ValueError(f"notebooks/{stem}.ipynb has no summary in tools.readme.NOTEBOOK_SUMMARIES")
        title = notebook_title(NOTEBOOKS_DIR / f"{stem}.ipynb")
        name = f"[{title}](reports/{stem}.ipynb)" if (REPORTS / f"{stem}.ipynb").exists() else f"{title} (not run yet)"
        rows.append(
            f"| {stem[:2]} | {name} | {NOTEBOOK_SUMMARIES[stem]} | {_run_time(stem, metrics.get(stem))} "
            f"| {data_needed(stem)} | {colab_badge(stem)} | [source](notebooks/{stem}.ipynb) |"
        )
    machines = sorted({e["machine"] for e in metrics.values() if isinstance(e, dict) and e.get("machine")})
    where = f" on {'; '.join(machines)}" if machines else ""
    rows += ["", f"*Full run*: how long the committed full-profile report took to execute (papermill){where}. "
             "Colab downloads the data on first use."]  # fmt: skip
    return "\n".join(rows)


def render_instructors() -> str:
    """The instructors' two commands, with the CPU time ``make execute`` took for the committed reports."""
    stems = notebook_stems()
    times = [t for t in map(report_seconds, stems) if t is not None]
    cost = f"about {format_duration(sum(times))} of CPU" if times else "run time not measured yet"
    if times and len(times) < len(stems):
        cost += f" for {len(times)} of {len(stems)} notebooks"
    return "\n".join([
        "```bash",
        f"make execute   # every notebook, full profile, into reports/ (overwrites them), then make sync: {cost}",
        "make test      # what CI runs: unit tests, lint, every notebook in the quick profile, nbval on the reports",
        "```",
    ])  # fmt: skip


# ------------------------------------------------------------------------------------------ data provenance
_LOADED = re.compile(r"(?P<name>[A-Za-z][\w-]*)(?: [\w-]+)? from (?P<source>[^:;]+): [\d,]+ train / "
                     r"(?P<test>[\d,]+) test \((?:all exact|(?P<exact>[\d,]+) exact)\)")  # fmt: skip
_BUNDLED = re.compile(r"(?P<n>[\d,]+) bundled real (?P<name>\w+) test images")


def _family(name: str) -> str:
    """``MNIST-RTS`` -> ``MNIST``, ``CIFAR10`` -> ``CIFAR-10``."""
    upper = name.upper()
    return "MNIST" if upper.startswith("MNIST") else "CIFAR-10" if upper.startswith("CIFAR") else name


def short_provenance(data: str) -> str:
    """The short form of a run's data (the ``data`` string ``run.record`` wrote), for a results caption.

    A fully exact dataset reads "real MNIST (exact)". A partly exact one is the offline CIFAR-10 copy this
    project's machines use (its README: training set exact, the first test images exact, the rest decoded
    from JPEGs). Anything not recognised is given as written.

    >>> short_provenance("MNIST from folder d (mnist.npz): 60,000 train / 10,000 test (all exact); distorted")
    'real MNIST (exact)'
    >>> short_provenance("CIFAR-10 from folder d (cifar10.npz): 50,000 train / 10,000 test (1,000 exact); x")
    'CIFAR-10: train exact, 1,000 of 10,000 test images exact, rest JPEG-derived'
    >>> short_provenance("500 bundled real CIFAR10 test images (assets/samples), first 200 used")
    '500 bundled real CIFAR-10 test images'
    """
    parts: list[str] = []
    for m in _LOADED.finditer(data):
        family = _family(m["name"])
        if "bundled" in m["source"]:
            parts.append(f"{family}: bundled samples only (a smoke test)")
        elif m["exact"] is None:
            parts.append(f"real {family} (exact)")
        else:
            parts.append(f"{family}: train exact, {m['exact']} of {m['test']} test images exact, rest JPEG-derived")
    parts += [f"{m['n']} bundled real {_family(m['name'])} test images" for m in _BUNDLED.finditer(data)]
    return "; ".join(dict.fromkeys(parts)) or data


def datasets_used(data: str) -> set[str]:
    """The real datasets a run's ``data`` string says it loaded (bundled samples do not count)."""
    return {_family(m["name"]) for m in _LOADED.finditer(data) if "bundled" not in m["source"]}


# -------------------------------------------------------------------------- what a number means: the rules
#: The targets the notebooks' Results cells check (``[met]`` / ``[MISSED]``), repeated here so the README can
#: say which were reached. ``tests/test_project.py`` checks each still appears in its notebook's Results cell.
TARGETS: dict[str, dict[str, float]] = {
    "02_stn_mnist": {"plain_acc": 99.5, "rts_err": 1.0, "slope": -0.8, "r2": 0.8, "clutter_ratio": 0.5,
                     "centre_px": 3, "width_lo": 0.8, "width_hi": 1.5},
    "03_stn_cifar10": {"exact_acc": 93.0, "train_s": 1200, "offcentre_ratio": 0.7, "offcentre_centre_px": 4.0},
}  # fmt: skip
IDENTITY_ZOOM = 0.05  #: |median zoom - 1| below this: the transformer leaves images as they are
FIXED_WARP_PX = 1.0  #: region centre moving less than this (std, px) between images: one warp for all (notebook 3)
NOTHING_UNDONE = 0.1  #: undone share (-slope) below this: nothing undone
FLOAT_AGREE = 1e-4  #: largest difference (pixels in [0, 1], or theta entries) that still counts as float rounding
CHANCE_P = 0.05  #: McNemar p below this: the difference is unlikely to be chance
DIGIT_BOX_PX = 28  #: an MNIST digit's box; a region centre within half of it lies on the digit


def verdict(ok: bool, target: str) -> str:
    """``met (target ...)``, or ``MISSED (target ...)``: a missed target reads as one.

    >>> verdict(True, "≤ 1%"), verdict(False, "≤ 3 px")
    ('met (target ≤ 1%)', 'MISSED (target ≤ 3 px)')
    """
    return f"{'met' if ok else 'MISSED'} (target {target})"


def zoom_words(zoom: float) -> str:
    """A median zoom in words: within :data:`IDENTITY_ZOOM` of 1 the transformer does nothing.

    >>> zoom_words(1.036), zoom_words(1.4), zoom_words(0.8)
    ('≈ identity: the transformer does nothing here', 'zooms in 1.40x', 'zooms out to 0.80x, showing padding')
    """
    if abs(zoom - 1) < IDENTITY_ZOOM:
        return "≈ identity: the transformer does nothing here"
    return f"zooms in {zoom:.2f}x" if zoom > 1 else f"zooms out to {zoom:.2f}x, showing padding"


def spread_words(px: float, what: str) -> str:
    """How much the sampled region moves between images, in words (rule: :data:`FIXED_WARP_PX`)."""
    if px < FIXED_WARP_PX:
        return f"≈ one fixed warp for every {what}: the transformer does nothing {what}-specific"
    return f"moves from {what} to {what}: it looks for each one"


def undone_words(slope: float, what: str) -> str:
    """A slope of undone against applied (-1: all of it) as the share undone (rule: :data:`NOTHING_UNDONE`).

    >>> undone_words(-0.72, "turn"), undone_words(-0.02, "turn")
    ('undoes about 72% of a turn', '≈ nothing: it does not undo a turn')
    """
    if -slope < NOTHING_UNDONE:
        return f"≈ nothing: it does not undo a {what}"
    return f"undoes about {-slope:.0%} of a {what}"


def errors_words(with_stn: float, without: float) -> str:
    """Test error with the transformer relative to without it."""
    ratio = with_stn / without if without else float("inf")
    return f"{ratio:.2f}x the errors without it: " + ("fewer mistakes" if ratio < 1 else "no better")


def one_in(error_pct: float, what: str) -> str:
    """A test error as "about 1 in N".

    >>> one_in(3.36, "digit"), one_in(0.0, "digit")
    ('about 1 test digit in 30 misread', 'no test digit misread')
    """
    return f"no test {what} misread" if error_pct <= 0 else f"about 1 test {what} in {100 / error_pct:.0f} misread"


def chance_words(p: float) -> str:
    """A McNemar p-value in words (rule: :data:`CHANCE_P`)."""
    words = "unlikely to be chance" if p < CHANCE_P else "could well be chance"
    return f"{words} (McNemar p = {p:.3f})"


def _pct(v: float) -> str:
    return f"{v:.2f}%"


@dataclass(frozen=True)
class Row:
    """One line of a notebook's README results table: ``render(*values of keys)`` gives the measured value and
    what it means. A row with a key missing from ``metrics.json`` is left out, and a note names the key."""

    label: str
    keys: tuple[str, ...]
    render: Callable[..., tuple[str, str]]


# ------------------------------------------------------------------------- the rows, notebook by notebook
# Each function takes the values of its row's keys, in order, and returns (measured, what it means).
_T2, _T3 = TARGETS["02_stn_mnist"], TARGETS["03_stn_cifar10"]
_SLOPE = f"slope ≤ {_T2['slope']:g}"


def _agree(diff: float) -> tuple[str, str]:
    ok = diff < FLOAT_AGREE
    return f"{diff:.1e} (pixels in 0-1)", (
        "agree to float precision: theta works as this notebook says" if ok
        else "DISAGREE: a convention here differs from torchvision's")  # fmt: skip


def _roundtrip(err: float) -> tuple[str, str]:
    ok = err < FLOAT_AGREE
    return f"{err:.1e}", (
        "exact up to float rounding: reading theta back loses nothing" if ok
        else "DIFFERS: reading theta back loses information")  # fmt: skip


def _with_without(stn: float, cnn: float) -> str:
    return f"with STN {_pct(stn)}, without {_pct(cnn)}"


def _plain_mnist(stn: float, cnn: float) -> tuple[str, str]:
    met = verdict(stn >= _T2["plain_acc"], f"≥ {_T2['plain_acc']:g}%")
    return _with_without(stn, cnn), f"{met}; the STN changes accuracy by {stn - cnn:+.2f} points"


def _rts_error(stn: float, cnn: float) -> tuple[str, str]:
    met = verdict(stn <= _T2["rts_err"], f"≤ {_T2['rts_err']:g}%")
    return _with_without(stn, cnn), f"{met}; {errors_words(stn, cnn)}"


def _rts_shift(tx: float, ty: float) -> tuple[str, str]:
    worse = max(tx, ty)
    meaning = f"{verdict(worse <= _T2['slope'], _SLOPE)}; {undone_words(worse, 'shift')} (the less undone of x, y)"
    return f"x {tx:.2f}, y {ty:.2f}", meaning


def _rts_turn(slope: float, r2: float, within: float) -> tuple[str, str]:
    met = verdict(slope <= _T2["slope"] and r2 >= _T2["r2"], f"{_SLOPE} with R² ≥ {_T2['r2']:g}")
    return (f"{slope:.2f}, R² {r2:.2f}; within a digit {within:.2f}",
            f"{met}; {undone_words(within, 'turn')} once the digit's own slant is taken out")  # fmt: skip


def _rts_zoom(slope: float, r2: float) -> tuple[str, str]:
    return f"{slope:.2f}, R² {r2:.2f}", f"{verdict(slope <= _T2['slope'], _SLOPE)}; {undone_words(slope, 'zoom')}"


def _clutter_error(stn: float, cnn: float) -> tuple[str, str]:
    ratio = _T2["clutter_ratio"]
    met = verdict(stn <= ratio * cnn, f"≤ {ratio:g}x the errors without it")
    return _with_without(stn, cnn), f"{met}; {errors_words(stn, cnn)}"


def _clutter_where(centre: float, width: float) -> tuple[str, str]:
    lo, hi, px = _T2["width_lo"], _T2["width_hi"], _T2["centre_px"]
    return (
        f"centre {centre:.2f} px from the digit's; {width:.2f}x the digit box's width",
        f"centre {verdict(centre <= px, f'≤ {px:g} px')}; width {verdict(lo <= width <= hi, f'{lo:g}-{hi:g}x')}",
    )


def _padding(zoom0: float, zoom1: float, acc0: float, acc1: float) -> tuple[str, str]:
    words0, words1 = zoom_words(zoom0), zoom_words(zoom1)
    meaning = f"{words0}, with either padding" if words0 == words1 else f"zero: {words0}; black: {words1}"
    return f"zoom {zoom0:.3f} vs {zoom1:.3f}; accuracy {_pct(acc0)} vs {_pct(acc1)}", meaning


def _cifar_ours(exact: float, every: float, train_s: float) -> tuple[str, str]:
    acc = verdict(exact >= _T3["exact_acc"], f"≥ {_T3['exact_acc']:g}% on the exact photos")
    time = verdict(train_s <= _T3["train_s"], f"≤ {format_duration(_T3['train_s'])}")
    return f"{_pct(exact)} on the exact test photos ({_pct(every)} on all), after {train_s:.0f} s", (
        f"accuracy {acc}; training time {time}"
    )


def _cifar_ablation(exact: float, every: float, stn_exact: float, stn_every: float, p: float) -> tuple[str, str]:
    """McNemar's test compares the two networks on all test photos (notebook 3)."""
    return (f"{_pct(exact)} on the exact test photos ({_pct(every)} on all)",
            f"with the STN {stn_exact - exact:+.2f} points on the exact photos, {stn_every - every:+.2f} on all; "
            f"on all, {chance_words(p)}")  # fmt: skip


def _spread(what: str) -> Callable[[float], tuple[str, str]]:
    return lambda px: (f"{px:.2f} px", spread_words(px, what))


def _offcentre_error(stn: float, cnn: float, ratio: float) -> tuple[str, str]:
    met = verdict(ratio <= _T3["offcentre_ratio"], f"≤ {_T3['offcentre_ratio']:g}x the errors without it")
    return _with_without(stn, cnn), f"{met}; {errors_words(stn, cnn)}"


def _offcentre_where(centre: float) -> tuple[str, str]:
    px = _T3["offcentre_centre_px"]
    return f"{centre:.2f} px", verdict(centre <= px, f"≤ {px:g} px")


def _offcentre_shift(tx: float, ty: float) -> tuple[str, str]:
    return f"x {tx:.2f}, y {ty:.2f}", f"x: {undone_words(tx, 'shift')}; y: {undone_words(ty, 'shift')}"


def _course(budget: float, *exact: float) -> tuple[str, str]:
    got = ", ".join(f"{c.name} {_pct(a)}" for c, a in zip(COURSE_MODELS, exact))
    epochs = sorted({c.reported_epochs for c in COURSE_MODELS})
    reported = ", ".join(f"{c.reported_acc:g}%" + ("" if len(epochs) == 1 else f" ({c.reported_epochs} epochs)")
                         for c in COURSE_MODELS)  # fmt: skip
    if len(epochs) == 1:
        reported += f" after {epochs[0]} epochs"
    return (
        f"{got} (exact photos), after {budget:.0f} s each",
        f"they reported {reported}: a {budget:.0f} s run here is a snapshot, not their final accuracy",
    )


def _error_in_words(what: str) -> Callable[[float], tuple[str, str]]:
    return lambda err: (_pct(err), one_in(err, what))


def _accuracy_in_words(what: str) -> Callable[[float], tuple[str, str]]:
    return lambda acc: (_pct(acc), one_in(100 - acc, what))


def _clutter_found(centre: float, width: float) -> tuple[str, str]:
    on = "on the digit" if centre <= DIGIT_BOX_PX / 2 else "OFF the digit"
    lo, hi = _T2["width_lo"], _T2["width_hi"]
    size = ("narrower than the digit: it cuts it off" if width < lo else "about the digit's size: zoomed onto it"
            if width <= hi else "much wider than the digit: hardly zoomed")  # fmt: skip
    return f"centre {centre:.2f} px from the digit's; {width:.2f}x its width", f"the region ends {on}, {size}"


def _cifar_gif(exact: float, every: float) -> tuple[str, str]:
    return (
        f"{_pct(exact)} on the exact test photos ({_pct(every)} on all)",
        f"about {exact / 10:.0f} photos in 10 right",
    )


def _film_times(*seconds: float) -> tuple[str, str]:
    names = ("cluttered", "RTS", "CIFAR-10")
    return (
        ", ".join(f"{n} {s:.0f} s" for n, s in zip(names, seconds)),
        f"{format_duration(sum(seconds))} of training for the {len(seconds)} films on this CPU",
    )


def _course_keys() -> tuple[str, ...]:
    return tuple(f"cifar_course{i}_acc_exact" for i in range(1, len(COURSE_MODELS) + 1))


#: Each notebook's README results table (file stem -> rows): the results a student cares about.
RESULT_ROWS: dict[str, list[Row]] = {
    "01_affine_intuition": [
        Row(
            "stnlib's warp against torchvision's affine (an independent implementation), on random transforms "
            "of real photos: largest difference",
            ("torchvision_max_abs_diff",),
            _agree,
        ),
        Row(
            "Reading theta back (`decompose`) and rebuilding it: largest error",
            ("decompose_roundtrip_max_err",),
            _roundtrip,
        ),
    ],
    "02_stn_mnist": [
        Row("Plain MNIST (centred digits): test accuracy", ("mnist_stn_acc", "mnist_cnn_acc"), _plain_mnist),
        Row("Rotated, scaled and shifted (RTS) MNIST: test error", ("rts_stcnn_err", "rts_cnn_err"), _rts_error),
        Row(
            "RTS: shift undone (slope of undone against applied; -1 = all of it)",
            ("rts_tx_slope", "rts_ty_slope"),
            _rts_shift,
        ),
        Row(
            "RTS: turn undone (slope, R²; then within one digit, its slant fixed)",
            ("rts_rotation_slope", "rts_rotation_r2", "rts_rotation_within_slope"),
            _rts_turn,
        ),
        Row("RTS: zoom undone (slope, R²)", ("rts_scale_slope", "rts_scale_r2"), _rts_zoom),
        Row(
            "Cluttered MNIST (a digit somewhere on a larger canvas, among clutter): test error",
            ("cluttered_stcnn_err", "cluttered_cnn_err"),
            _clutter_error,
        ),
        Row(
            "Cluttered: where the STN looks (median over test digits)",
            ("cluttered_centre_err", "cluttered_width_ratio"),
            _clutter_where,
        ),
        Row(
            "The PyTorch tutorial's net, zero vs black padding (mean over seeds): median zoom, test accuracy",
            ("padding_0_zoom", "padding_1_zoom", "padding_0_acc", "padding_1_acc"),
            _padding,
        ),
    ],
    "03_stn_cifar10": [
        Row(
            "CIFAR-10 test accuracy, our network with an STN",
            ("cifar_ours_stn_acc_exact", "cifar_ours_stn_acc", "cifar_stn_train_s"),
            _cifar_ours,
        ),
        Row(
            "The same network without the STN",
            (
                "cifar_ours_nostn_acc_exact",
                "cifar_ours_nostn_acc",
                "cifar_ours_stn_acc_exact",
                "cifar_ours_stn_acc",
                "cifar_stn_mcnemar_p",
            ),
            _cifar_ablation,
        ),
        Row(
            "CIFAR-10: how far the STN's region moves from photo to photo (std of its centre)",
            ("cifar_stn_shift_spread_px",),
            _spread("photo"),
        ),
        Row(
            "Off-centre CIFAR-10 (each photo shrunk, turned, placed at random on a larger canvas): test error",
            ("offcentre_stn_err", "offcentre_cnn_err", "offcentre_err_ratio"),
            _offcentre_error,
        ),
        Row(
            "Off-centre: how far the region moves from photo to photo", ("offcentre_shift_spread_px",), _spread("photo")
        ),
        Row(
            "Off-centre: shift undone (slope; -1 = all of it)",
            ("offcentre_tx_slope", "offcentre_ty_slope"),
            _offcentre_shift,
        ),
        Row("Off-centre: region centre to photo centre (median)", ("offcentre_centre_err_px",), _offcentre_where),
        Row("The course write-ups' STN models, test accuracy", ("cifar_budget_s", *_course_keys()), _course),
    ],
    "04_stn_learning_gif": [
        Row("Cluttered MNIST (the film above): test error at the end", ("clutter_err",), _error_in_words("digit")),
        Row(
            "Cluttered: where the region ends (median over test digits)",
            ("clutter_centre_err", "clutter_width_ratio"),
            _clutter_found,
        ),
        Row("RTS MNIST (second film): test accuracy at the end", ("rts_acc",), _accuracy_in_words("digit")),
        Row(
            "RTS: turn undone at the end (slope; -1 = all of it)",
            ("rts_rotation_slope",),
            lambda slope: (f"{slope:.2f}", undone_words(slope, "turn")),
        ),
        Row("CIFAR-10 (third film): test accuracy at the end", ("cifar_acc_exact", "cifar_acc"), _cifar_gif),
        Row("Training time of each film", ("clutter_train_s", "rts_train_s", "cifar_train_s"), _film_times),
    ],
}


# ----------------------------------------------------------------------------- rendering the results tables
def caption(stem: str, entry: Mapping) -> str:
    """The one line that says which run a notebook's results come from: profile, data (short form), seed, date."""
    seed = f" · seed {entry['seed']}" if "seed" in entry else ""
    return (f"*{entry['profile'].capitalize()} profile · {short_provenance(entry['data'])}{seed} · "
            f"run {str(entry['finished'])[:10]} · [executed report](reports/{stem}.ipynb)*")  # fmt: skip


def render_notebook_results(stem: str, entry: Mapping | None) -> str:
    """One notebook's section: heading, caption, figure, and its :data:`RESULT_ROWS` table."""
    if stem not in RESULT_ROWS:
        raise ValueError(f"notebooks/{stem}.ipynb has no results rows in tools.readme.RESULT_ROWS")
    title = notebook_title(NOTEBOOKS_DIR / f"{stem}.ipynb")
    lines = [f"### {stem[:2]} · {title}", ""]
    if not entry:
        return "\n".join(lines + [f"_Not run yet: `make execute NOTEBOOKS=notebooks/{stem}.ipynb`._"])
    lines += [caption(stem, entry), ""]
    if stem in RESULT_FIGURES:
        lines += [RESULT_FIGURES[stem], ""]
    values = {m["key"]: m["value"] for m in entry["metrics"]}
    table, missing = ["| Result | Measured | What it means |", "|---|---|---|"], []
    for row in RESULT_ROWS[stem]:
        lacking = [k for k in row.keys if k not in values]
        if lacking:
            missing += [k for k in lacking if k not in missing]
            continue
        measured, meaning = row.render(*(values[k] for k in row.keys))
        table.append(f"| {row.label} | {measured} | {meaning} |")
    lines += table if len(table) > 2 else []
    if missing:
        keys = ", ".join(f"`{k}`" for k in missing)
        lines += ["", f"_Rows left out: `reports/metrics.json` has no {keys} for this notebook "
                  f"(rerun `make execute NOTEBOOKS=notebooks/{stem}.ipynb`)._"]  # fmt: skip
    return "\n".join(lines)


def render_student_results(metrics: Mapping) -> str:
    """The README's results: one section per notebook (:func:`render_notebook_results`)."""
    return "\n\n".join(render_notebook_results(stem, metrics.get(stem)) for stem in notebook_stems())


def format_value(value: float | int, unit: str = "") -> str:
    """A metric's value: percent with 2 decimals, ints with thousands separators, else 4 digits.

    >>> format_value(99.3456, "%"), format_value(60000), format_value(3.4e-06), format_value(12.345, "s")
    ('99.35%', '60,000', '3.4e-06', '12.35 s')
    """
    suffix = f" {unit}" if unit else ""
    if unit == "%":
        return f"{value:.2f}%"
    if isinstance(value, int):
        return f"{value:,}{suffix}"
    return (f"{value:.3g}" if (abs(value) < 1e-3 or abs(value) >= 1e4) and value != 0 else f"{value:.4g}") + suffix


def render_all_metrics(metrics: Mapping) -> str:
    """CONTRIBUTING's record of every number in ``metrics``: per notebook, its run's full provenance once, then
    each metric (key, label, value) and whether a README row uses it."""
    if not metrics:
        return "_No results yet: run `make execute`._"
    out: list[str] = []
    for nb in sorted(metrics):
        e = metrics[nb]
        used = {k for row in RESULT_ROWS.get(nb, []) for k in row.keys}
        seed = f", seed {e['seed']}" if "seed" in e else ""
        machine = f" on {e['machine']}" if e.get("machine") else ""
        out += [
            f"**{nb}** ([report](reports/{nb}.ipynb)): {e['profile']} profile{seed}, {e['seconds']:.0f} s, "
            f"finished {e['finished']}{machine}.",
            "",
            f"Data: {e['data']}",
            "",
            "| key | what | value | in the README |",
            "|---|---|---|---|",
            *(f"| `{m['key']}` | {m['label']} | {format_value(m['value'], m.get('unit', ''))} "
              f"| {'yes' if m['key'] in used else ''} |" for m in e["metrics"]),
            "",
        ]  # fmt: skip
    return "\n".join(out).rstrip()


def render_cifar(metrics: dict) -> str:
    """Notebook 3's results: CIFAR-10 next to the course write-ups, and off-centre CIFAR-10 with and without STN."""
    entry = metrics.get("03_stn_cifar10")
    if not entry:
        return "_No CIFAR-10 results yet: run `make execute`._"
    m = {x["key"]: x["value"] for x in entry["metrics"]}
    budget, train_s = m.get("cifar_budget_s"), m.get("cifar_stn_train_s")
    rows = [
        f"Notebook 3, {entry['profile']} profile, {entry['seconds']:.0f} s, {entry['finished']}; {entry['data']}.",
        "",
        "| model | reported by the write-up | trained here | all 10,000 test images | the 1,000 exact ones |",
        "|---|---|---|---|---|",
    ]
    for i, c in enumerate(COURSE_MODELS, 1):
        if f"cifar_course{i}_acc" in m:
            rows.append(
                f"| course: {c.name} | {c.reported_acc:g}% after {c.reported_epochs} epochs "
                f"| {'' if budget is None else f'{budget:.0f} s'} "
                f"| {m[f'cifar_course{i}_acc']:.2f}% | {m[f'cifar_course{i}_acc_exact']:.2f}% |"
            )
    for key, name in (("cifar_ours_stn", "ours + STN"), ("cifar_ours_nostn", "ours, no STN (ablation)")):
        if f"{key}_acc" in m:
            when = "" if train_s is None else (f"{train_s:.0f} s" if key == "cifar_ours_stn" else "same schedule")
            rows.append(f"| {name} | | {when} | {m[f'{key}_acc']:.2f}% | {m[f'{key}_acc_exact']:.2f}% |")
    if "offcentre_stn_err" in m:
        rows += [
            "",
            "| off-centre CIFAR-10 (64x64 canvas, 32x32 view) | test error | what it means |",
            "|---|---|---|",
            f"| same backbone, canvas shrunk to 32x32 | {m['offcentre_cnn_err']:.2f}% | |",
            f"| with a transformer that moves a 32x32 window | {m['offcentre_stn_err']:.2f}% "
            f"| {m['offcentre_err_ratio']:.2f}x the errors; window centre {m['offcentre_centre_err_px']:.1f} px "
            "from the photo's (median) |",
        ]
    if "cifar_stn_shift_spread_px" in m and "offcentre_shift_spread_px" in m:
        rows += [
            "",
            f"How far the transformer's region moves from photo to photo (std of its centre): "
            f"{m['cifar_stn_shift_spread_px']:.2f} px on CIFAR-10 (one warp for every photo), "
            f"{m['offcentre_shift_spread_px']:.1f} px off-centre.",
        ]
    return "\n".join(rows)


#: Display names of the benchmark suites (``make bench``), in README order.
BENCH_TITLES = {"mnist": "MNIST", "cifar10": "CIFAR-10"}


def _render_throughput(title: str, tp: dict[str, dict]) -> list[str]:
    """The throughput table; with FLOPs per image and achieved GFLOP/s where ``make bench`` measured them."""
    if not any("gflop_per_image" in t for t in tp.values()):  # layouts before the compute columns
        rows = [f"| {title} model | batch | training images/s (median) |", "|---|---|---|"]
        return rows + [f"| {n} | {t['batch_size']} | {t['images_per_s']:,.0f} |" for n, t in tp.items()]
    rows = [
        f"| {title} model | batch | precision | training images/s (median) | GFLOP / training image "
        "| achieved GFLOP/s | share of the matmul peak (same precision) |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, t in tp.items():
        flops = f"{t['gflop_per_image']:.3f}" if "gflop_per_image" in t else "–"
        rate = f"{t['gflop_per_s']:,.0f}" if "gflop_per_s" in t else "–"
        share = f"{100 * t['peak_share']:.1f}%" if t.get("peak_share") is not None else "–"
        rows.append(
            f"| {n} | {t['batch_size']} | {t.get('precision', '–')} | {t['images_per_s']:,.0f} | {flops} | {rate} "
            f"| {share} |"
        )
    return rows


def _render_compute(r: dict) -> list[str]:
    """One line: the headline model's img/s x FLOPs per image = GFLOP/s, as a share of this CPU's matmul peak."""
    peak = r.get("matmul_peak")
    if not peak:
        return []
    t = r["throughput"].get(r.get("headline") or "", {})
    if "gflop_per_image" not in t:  # no headline model: the peaks alone
        rates = ", ".join(f"{k} {v:,.0f} GFLOP/s" for k, v in peak["gflop_per_s"].items())
        return [
            f"This CPU's matmul peak, measured in the same run (`torch.mm`, {peak['size']} x {peak['size']}, "
            f"median of {peak['repeats']}): {rates}.",
            "",
        ]
    precision = t.get("precision", "bf16")
    rates = peak["gflop_per_s"]
    others = "; ".join(f"{k}: {v:,.0f} GFLOP/s" for k, v in rates.items() if k != precision)
    share = f"{100 * t['peak_share']:.1f}%" if t.get("peak_share") is not None else "an unknown share"
    return [
        f"**Compute**: {r['headline']}: {t['images_per_s']:,.0f} img/s x {t['gflop_per_image']:.3f} GFLOP "
        f"= {t['gflop_per_s']:,.0f} GFLOP/s, **{share}** of this CPU's {precision} matmul peak "
        f"({rates.get(precision, float('nan')):,.0f} GFLOP/s, measured in the same run: `torch.mm`, "
        f"{peak['size']} x {peak['size']}, median of {peak['repeats']}{'; ' + others if others else ''}). "
        "FLOPs: convolutions and matrix products of forward + backward (`torch.utils.flop_counter`).",
        "",
    ]


def _render_time_to_target(r: dict) -> list[str]:
    targets = [f"{t:g}" for t in r.get("targets", [r["target"]])]
    cols = " | ".join(f"time to {t}% test accuracy" for t in targets)
    rows = [f"| model | recipe | {cols} | best accuracy |", "|---|---|" + "---|" * len(targets) + "---|"]
    for model, t in r["time_to_target"].items():
        reached = t.get("seconds_to", {targets[0]: t["seconds_to_target"]})
        cells = []
        for target in targets:
            if target not in reached:
                cells.append("–")
            else:
                done = reached[target]
                cells.append(f"{done:.0f} s" if done else f"not reached in {t['trained_seconds']:.0f} s")
        recipe = t["recipe"] + (f", {t['epochs']:g}-epoch schedule" if t.get("epochs") else "")
        rows.append(f"| {model} | {recipe} | {' | '.join(cells)} | {t['best_test_acc']:.2f}% |")
    if "test_images" in r:
        rows += ["", f"Test accuracy on the {r['test_images']:,} exact test images; training seconds exclude it."]
    return rows


def _render_suite(name: str, r: dict) -> list[str]:
    title = BENCH_TITLES.get(name, name)
    rows = [
        f"**{title}**: measured by `make bench` ({r['profile']} profile) on {r['machine']}; {r['data']}.",
        "",
        *_render_throughput(title, r["throughput"]),
        "",
        *_render_compute(r),
    ]
    overhead = ", ".join(f"{k} {100 * v:.1f}%" for k, v in r["stn_overhead"].items())
    rows += [f"STN share of a training step: {overhead}.", ""]
    rows += _render_time_to_target(r)
    ratio = r.get("time_ratio") or {}
    if ratio.get("value") is None:
        rows += ["", f"Time to {r['target']:g}%, ours / theirs: n/a."]
    else:
        sign = "below " if ratio["bound"] == "upper" else ""
        rows += ["", f"Time to {r['target']:g}%, ours / theirs: **{sign}{ratio['value']:.2f}**."]
    return rows


def render_bench(bench: dict) -> str:
    """Markdown summary of ``reports/bench.json`` (written by ``make bench``): one section per suite."""
    if not bench:
        return "_No benchmark yet: run `make bench`._"
    rows: list[str] = []
    for name in sorted(bench, key=lambda k: list(BENCH_TITLES).index(k) if k in BENCH_TITLES else 99):
        rows += [*(_render_suite(name, bench[name])), ""]
    return "\n".join(rows).rstrip()


def _replace_block(text: str, name: str, body: str, file: str = "README.md") -> str:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"{file} lacks the markers {start} ... {end}")
    note = "<!-- generated by `make sync` (python -m tools.readme sync); do not edit by hand -->"
    return pattern.sub(lambda _: f"{start}\n{note}\n{body}\n{end}", text)


def render_readme(text: str, metrics: dict, bench: dict | None = None) -> str:
    """``text`` (README.md) with its generated blocks brought up to date. ``bench`` is not shown there (it is
    CONTRIBUTING's); the parameter stays so both pages render from the same inputs."""
    text = _replace_block(text, "start-here", render_start(metrics))
    text = _replace_block(text, "notebooks", render_index(metrics))
    text = _replace_block(text, "results", render_student_results(metrics))
    return _replace_block(text, "instructors", render_instructors())


def render_contributing(text: str, metrics: dict, bench: dict | None = None) -> str:
    """``text`` (CONTRIBUTING.md) with its generated blocks (every number, CIFAR-10 detail, benchmarks) up to date."""
    text = _replace_block(text, "runs", render_all_metrics(metrics), "CONTRIBUTING.md")
    text = _replace_block(text, "cifar", render_cifar(metrics), "CONTRIBUTING.md")
    return _replace_block(text, "bench", render_bench(bench or {}), "CONTRIBUTING.md")


def _inputs() -> tuple[dict, dict]:
    """``reports/metrics.json`` and ``reports/bench.json``; :class:`~stnlib.runs.MetricsFileError` if malformed."""
    return load_metrics(REPORTS / "metrics.json"), load_metrics(REPORTS / "bench.json", entries=False)


def _pages() -> list[tuple[Path, Callable[[str, dict, dict], str]]]:
    return [(README, render_readme), (CONTRIBUTING, render_contributing)]


def _synced_notebook(path: Path) -> tuple[nbformat.NotebookNode, bool]:
    nb = nbformat.read(path, as_version=4)
    want = colab_cell_source()
    first = nb.cells[0] if nb.cells else None
    if first is not None and COLAB_TAG in first.get("metadata", {}).get("tags", []):
        changed = first.source != want
        first.source = want
    else:
        cell = nbformat.v4.new_code_cell(want, metadata={"tags": [COLAB_TAG]})
        nb.cells.insert(0, cell)
        changed = True
    return nb, changed


def stale_files() -> list[str]:
    """Generated files that differ from what :func:`sync` would write."""
    metrics, bench = _inputs()
    stale = [p.name for p, render in _pages() if p.read_text() != render(p.read_text(), metrics, bench)]
    for stem in notebook_stems():
        if _synced_notebook(NOTEBOOKS_DIR / f"{stem}.ipynb")[1]:
            stale.append(f"notebooks/{stem}.ipynb")
    return stale


def sync() -> list[str]:
    """Rewrite the generated parts; returns the files it changed. Both pages are rendered before either is written."""
    metrics, bench = _inputs()
    pages = [(p, p.read_text(), render(p.read_text(), metrics, bench)) for p, render in _pages()]
    changed = []
    for path, old, new in pages:
        if new != old:
            atomic_write_text(path, new)
            changed.append(path.name)
    for stem in notebook_stems():
        path = NOTEBOOKS_DIR / f"{stem}.ipynb"
        nb, was_changed = _synced_notebook(path)
        if was_changed:
            atomic_write_text(path, nbformat.writes(nb) + "\n")
            changed.append(f"notebooks/{stem}.ipynb")
    return changed


def _unmerged() -> list[Path]:
    """Results ``run.record`` set aside because ``metrics.json`` was malformed, not merged back yet."""
    return sorted(REPORTS.glob("metrics.json.*.recovered.json"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.readme", description=__doc__.splitlines()[0])
    parser.add_argument(
        "command", choices=["sync", "check"], help="sync: rewrite generated parts; check: fail if stale"
    )
    args = parser.parse_args(argv)
    for saved in _unmerged():
        shown = saved.relative_to(REPO_ROOT) if saved.is_relative_to(REPO_ROOT) else saved
        print(f"note: {shown} holds results not in metrics.json yet; merge them with "
              f"`python -m tools.execute --publish {shown}`", file=sys.stderr)  # fmt: skip
    try:
        changed = sync() if args.command == "sync" else stale_files()
    except MetricsFileError as err:
        print(
            f"make {args.command}: cannot render README.md and CONTRIBUTING.md. {err} Nothing was written. "
            "Restore the file "
            "(`git checkout -- reports/metrics.json` or `reports/bench.json`) or rerun what wrote it "
            "(`make execute NOTEBOOKS=...`, `make bench`), then run `make sync` again.",
            file=sys.stderr,
        )
        return 1
    if args.command == "sync":
        print("updated: " + ", ".join(changed) if changed else "everything already in sync")
        return 0
    if changed:
        print("out of date (run `make sync`): " + ", ".join(changed), file=sys.stderr)
        return 1
    print("README.md, CONTRIBUTING.md and the notebooks are in sync")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
