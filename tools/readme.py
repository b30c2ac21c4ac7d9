"""Repository bookkeeping: the repo URL, and the generated parts of ``README.md`` and ``CONTRIBUTING.md``.

The repository URL lives **only** in :data:`REPO_URL`. A fork changes that line and runs ``make sync``,
which rewrites everything derived from it or from the committed results in ``reports/``:

* ``README.md``, the students' page: the "Start here" list and the notebook table (Colab badges; each
  notebook's run time from its executed report's papermill metadata), one results table per notebook
  with what each number means (:mod:`tools.results`: the words follow from the value by explicit rules),
  and the instructors' commands;
* ``CONTRIBUTING.md``: the issues' targets with met or missed, every recorded number with the full provenance
  of its run, notebook 3's CIFAR-10 detail, and the benchmarks (``reports/bench.json``), rendered by
  :mod:`tools.contributing`;
* the Colab setup cell at the top of every notebook in ``notebooks/``, its links into the repository (absolute,
  from :data:`REPO_URL`) and the Run-all time in its first Markdown cell (also in the committed reports).

``python -m tools.readme check`` fails if any of these is stale (the tests check the same), so nobody
can hand-edit a number into either page. A malformed ``reports/metrics.json`` or ``reports/bench.json``
is reported by name, with what is wrong, and nothing is written. A results row whose metric is not in
``metrics.json`` is left out, and a note under its table names the missing key.

This module holds the pages' inputs (``reports/``), the notebook table, the Colab cells, and the ``sync`` /
``check`` command; the blocks themselves come from :mod:`tools.results` and :mod:`tools.contributing`, which
share :mod:`tools.notebook_info`. None of those imports this module.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import nbformat

from stnlib.env import REPO_ROOT
from stnlib.runs import MetricsFileError, atomic_write_text, load_metrics
from tools.contributing import render_all_metrics, render_bench, render_cifar, render_targets
from tools.notebook_info import NOTEBOOKS_DIR, format_duration, notebook_stems, notebook_title
from tools.results import render_student_results

__all__ = [
    "BRANCH",
    "NOTEBOOK_DATA",
    "NOTEBOOK_SUMMARIES",
    "REPO_URL",
    "colab_cell_source",
    "main",
    "render_contributing",
    "render_readme",
    "stale_files",
    "sync",
]

#: The one place the repository URL is written. Change it in a fork, then run ``make sync``.
REPO_URL = "https://github.com/stn-notebooks/stn-notebooks"
BRANCH = "main"
#: The paper the series teaches (authors, title, venue, link).
PAPER = (
    "Jaderberg, Simonyan, Zisserman, Kavukcuoglu",
    "Spatial Transformer Networks",
    "NeurIPS 2015",
    "https://arxiv.org/abs/1506.02025",
)

#: What each notebook teaches, in a few words (file stem -> summary), for the README's notebook table.
NOTEBOOK_SUMMARIES: dict[str, str] = {
    "01_affine_intuition": "What the 2x3 matrix theta does to an image; why shifts and zooms look reversed; "
    "live sliders",
    "02_stn_mnist": "A transformer in 20 lines; where it helps on rotated and cluttered digits, measured",
    "03_stn_cifar10": "When a transformer helps on photos (off-centre) and when it does nothing (centred)",
    "04_stn_learning_gif": "Watch transformers learn, as GIFs",
    "05_beyond_affine": "Projective and thin-plate-spline transformers you can drag; the paper's Table 1 side by side",
    "06_stn_on_feature_maps": "A transformer on feature maps: what it learns, what it undoes, and whether the "
    "output stays put when the input turns",
}
#: The real datasets each notebook needs (none: it runs on the images bundled in assets/samples).
#: ``tests/test_project.py`` checks these against the data each committed run says it used.
NOTEBOOK_DATA: dict[str, tuple[str, ...]] = {
    "01_affine_intuition": (),
    "02_stn_mnist": ("MNIST",),
    "03_stn_cifar10": ("CIFAR-10",),
    "04_stn_learning_gif": ("MNIST", "CIFAR-10"),
    "05_beyond_affine": ("MNIST",),
    "06_stn_on_feature_maps": ("MNIST",),
}
#: What else a notebook's Run-all time depends on (file stem -> one sentence), shown after it.
RUN_TIME_CAVEATS: dict[str, str] = {
    "03_stn_cifar10": "That CPU has native bf16, which the CIFAR-10 networks train in; on a CPU without it they "
    "train in fp32 instead (the line printed under the parameters says which, and why), and Run all takes longer.",
}
#: Approximate size of torchvision's download of each dataset (a property of the dataset, not a result).
DOWNLOAD_SIZE = {"MNIST": "~11 MB", "CIFAR-10": "~170 MB"}

COLAB_TAG = "colab-setup"
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
    """Source of the first cell of every notebook: set up Colab (safe to run twice), do nothing elsewhere.

    It clones the repository beside the notebook's working folder (``/content`` in Colab) unless a clone is
    there, installs stnlib from it unless that is done (pip upgrades nothing Colab has: the requirements admit
    its versions), and imports stnlib from the clone at once, so no restart is needed. If pip did upgrade a
    package the runtime had already imported, the cell stops and says to restart."""
    name = _slug().split("/")[1]
    return f'''# Colab only: get the repository (stnlib, assets/) and install it. Runs twice safely; nothing elsewhere.
import sys

if "google.colab" in sys.modules:
    import subprocess
    from importlib import metadata
    from pathlib import Path

    REPO_URL = "{REPO_URL}"  # written by `make sync` from tools/readme.py
    CLONE = Path("{name}").resolve()  # /content/{name} in Colab
    if not (CLONE / "pyproject.toml").exists():
        got = subprocess.run(["git", "clone", "--depth", "1", REPO_URL, str(CLONE)], capture_output=True, text=True)
        if got.returncode != 0:
            raise RuntimeError(f"Could not clone {{REPO_URL}} into {{CLONE}}:\\n{{got.stderr.strip()}}\\nCheck that "
                               "the runtime is connected and the address opens in a browser, delete the folder if "
                               "a partial clone is left there, then run this cell again.")
    if str(CLONE) not in sys.path:
        sys.path.insert(0, str(CLONE))  # stnlib is importable from the clone now: no restart needed
    installed = [d.read_text("direct_url.json") or "" for d in metadata.distributions(name="stnlib")]
    if not any(CLONE.as_uri() in url for url in installed):  # first run: install it, and what the runtime lacks
        loaded = {{d: metadata.version(d) for d in ("ipywidgets", "torch", "numpy", "matplotlib", "tqdm")
                  if d in sys.modules}}
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", str(CLONE)], check=True)
        changed = [f"{{d}} {{v}} -> {{metadata.version(d)}}" for d, v in loaded.items() if metadata.version(d) != v]
        if changed:
            raise RuntimeError("pip upgraded packages this runtime has already imported (" + ", ".join(changed)
                               + "). Restart it (Runtime > Restart session), then run this cell again.")
    from google.colab import output

    output.enable_custom_widget_manager()'''


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
    gpu, loaded = (entry or {}).get("gpu_seconds"), (entry or {}).get("load_seconds")
    times = (
        f"CPU {format_duration(cpu) if cpu is not None else 'not measured'}; "
        f"GPU {format_duration(gpu) if gpu is not None else 'not measured'}"
    )
    return f"saved weights: CPU {format_duration(loaded)}; retraining: {times}" if loaded is not None else times


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
    rows = [
        "| # | Notebook (executed report) | What it teaches | Full run | Data needed | Colab | Source |",
        "|---|---|---|---|---|---|---|",
    ]
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
    rows += [
        "",
        f"*Full run*: how long the committed full-profile report took to execute (papermill){where}; where a "
        "notebook loads saved weights by default, first how long that takes. "
        "Colab downloads the data on first use.",
    ]
    return "\n".join(rows)


def render_instructors() -> str:
    """The instructors' two commands, with the CPU time ``make execute`` took for the committed reports."""
    stems = notebook_stems()
    times = [t for t in map(report_seconds, stems) if t is not None]
    cost = f"about {format_duration(sum(times))} of CPU" if times else "run time not measured yet"
    if times and len(times) < len(stems):
        cost += f" for {len(times)} of {len(stems)} notebooks"
    execute = f"make execute   # every notebook, full profile, into reports/ (overwrites them), then make sync: {cost}"
    test = "make test      # what CI runs: unit tests, lint, every notebook in the quick profile, nbval on the reports,"
    browser = "               # and the widgets, driven in JupyterLab in headless Chromium"
    return "\n".join(["```bash", execute, test, browser, "```"])


def _replace_block(text: str, name: str, body: str, file: str = "README.md", *, note: bool = True) -> str:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"{file} lacks the markers {start} ... {end}")
    generated = "<!-- generated by `make sync` (python -m tools.readme sync); do not edit by hand -->\n" if note else ""
    return pattern.sub(lambda _: f"{start}\n{generated}{body}\n{end}", text)


def render_readme(text: str, metrics: dict, bench: dict | None = None) -> str:
    """``text`` (README.md) with its generated blocks brought up to date. ``bench`` is not shown there (it is
    CONTRIBUTING's); the parameter stays so both pages render from the same inputs."""
    text = _replace_block(text, "start-here", render_start(metrics))
    text = _replace_block(text, "notebooks", render_index(metrics))
    text = _replace_block(text, "results", render_student_results(metrics))
    return _replace_block(text, "instructors", render_instructors())


#: The targets section, added before "Every recorded number" to a CONTRIBUTING.md written before it had one.
TARGETS_SECTION = """## Targets from the issues

The targets the issues set for the notebooks, each with its value from `reports/metrics.json` and
whether it was met (`tools.contributing.TARGETS`). They are for contributors: the students' README
gives each number with what it means, beside the paper's figure and the stronger of two fair
baselines, never a pass/fail target (issue 18). A target whose metric is not recorded yet reads
"not measured yet"; run times count in the full profile only.

<!-- targets:start -->
<!-- targets:end -->

"""


def render_contributing(text: str, metrics: dict, bench: dict | None = None) -> str:
    """``text`` (CONTRIBUTING.md) with its generated blocks (targets, every number, CIFAR-10 detail, benchmarks) up
    to date; a page without the targets block gets :data:`TARGETS_SECTION` before "## Every recorded number"."""
    text = _replace_block(text, "runs", render_all_metrics(metrics), "CONTRIBUTING.md")
    if "<!-- targets:start -->" not in text:
        text = text.replace("\n## Every recorded number\n", f"\n{TARGETS_SECTION}## Every recorded number\n", 1)
    text = _replace_block(text, "targets", render_targets(metrics), "CONTRIBUTING.md")
    text = _replace_block(text, "cifar", render_cifar(metrics), "CONTRIBUTING.md")
    return _replace_block(text, "bench", render_bench(bench or {}), "CONTRIBUTING.md")


def _inputs() -> tuple[dict, dict]:
    """``reports/metrics.json`` and ``reports/bench.json``; :class:`~stnlib.runs.MetricsFileError` if malformed."""
    return load_metrics(REPORTS / "metrics.json"), load_metrics(REPORTS / "bench.json", entries=False)


def _pages() -> list[tuple[Path, Callable[[str, dict, dict], str]]]:
    return [(README, render_readme), (CONTRIBUTING, render_contributing)]


_LINK = re.compile(r"(\]\()([^)\s]+)(\))")  # a Markdown link or image target: [text](TARGET)


def absolute_links(markdown: str, old_url: str | None = None) -> str:
    """``markdown`` of a notebook with every repository link absolute, so it works in Colab and nbviewer too: a
    relative target (``../stnlib``, ``02_stn_mnist.ipynb``, read from ``notebooks/``) becomes its GitHub page
    under :data:`REPO_URL`; a link under ``old_url`` (a fork's previous URL) moves to :data:`REPO_URL`.

    >>> absolute_links("[the library](../stnlib), [next](02_stn_mnist.ipynb#top), [paper](https://arxiv.org/x)")
    '[the library](https://github.com/stn-notebooks/stn-notebooks/tree/main/stnlib), \
[next](https://github.com/stn-notebooks/stn-notebooks/blob/main/notebooks/02_stn_mnist.ipynb#top), \
[paper](https://arxiv.org/x)'
    """
    if old_url and old_url.rstrip("/") != REPO_URL:
        markdown = markdown.replace(old_url.rstrip("/") + "/", REPO_URL + "/")

    def absolute(match: re.Match) -> str:
        target = match[2]
        if re.match(r"[a-z][a-z0-9+.-]*:|#", target):  # has a scheme (https:, mailto:) or is an anchor
            return match[0]
        path, _, anchor = target.partition("#")
        resolved = (NOTEBOOKS_DIR / path).resolve()
        if not resolved.is_relative_to(REPO_ROOT) or not resolved.exists():
            raise ValueError(f"a notebook links to {target!r}, which is not a file or folder of the repository")
        kind = "tree" if resolved.is_dir() else "blob"
        url = f"{REPO_URL}/{kind}/{BRANCH}/{resolved.relative_to(REPO_ROOT).as_posix()}"
        return f"{match[1]}{url}{'#' + anchor if anchor else ''}{match[3]}"

    return _LINK.sub(absolute, markdown)


def run_time_note(stem: str, metrics: Mapping | None = None) -> str:
    """What Run all costs, for the top of ``notebooks/<stem>.ipynb``: the full profile's time from its report's
    papermill metadata (GPU time where a run recorded one), and the quick profile, with its caveat."""
    entry = (metrics or {}).get(stem) or {}
    cpu, gpu = report_seconds(stem), entry.get("gpu_seconds")
    where = f" ({entry['machine']})" if entry.get("machine") else ""
    full = (
        f"takes about {format_duration(cpu)} on a CPU{where}" if cpu is not None else "has not been timed on a CPU yet"
    )
    gpu_text = f"about {format_duration(gpu)} on a GPU" if gpu is not None else "not measured yet on a GPU"
    note = f"**Run all** with the default parameters (the full profile) {full}; {gpu_text}."
    if entry.get("load_seconds") is not None:
        note = (
            f"**Run all** with the default parameters takes about {format_duration(entry['load_seconds'])} on a CPU: "
            "the networks load the weights the full run saved (checked against their SHA-256) instead of training. "
            f"With `TRAIN = True` it trains them again: {full.removeprefix('takes ')}; {gpu_text}."
        )
    if stem in RUN_TIME_CAVEATS:
        note += " " + RUN_TIME_CAVEATS[stem]
    if not NOTEBOOK_DATA.get(stem):  # nothing to train: no shorter run worth having
        return note
    return (
        f'{note} For a short run, set `PROFILE = "quick"` in the parameters cell: every cell runs, on a few '
        "hundred images and one epoch. That checks that everything works, and is far too short to show the "
        "effects described here."
    )


def _synced_notebook(path: Path, metrics: Mapping | None = None) -> tuple[nbformat.NotebookNode, bool]:
    """The notebook with its generated parts brought up to date (the Colab cell, absolute links, the run-time
    note in the first Markdown cell), and whether anything changed."""
    nb = nbformat.read(path, as_version=4)
    before = nbformat.writes(nb)
    want = colab_cell_source()
    first = nb.cells[0] if nb.cells else None
    old_url = None
    if first is not None and COLAB_TAG in first.get("metadata", {}).get("tags", []):
        old_url = (re.search(r'REPO_URL = "([^"]+)"', first.source) or [None, None])[1]
        first.source = want
    else:
        nb.cells.insert(0, nbformat.v4.new_code_cell(want, metadata={"tags": [COLAB_TAG]}))
    markdown = [c for c in nb.cells if c.cell_type == "markdown"]
    for cell in markdown:
        cell.source = absolute_links(cell.source, old_url)
    if markdown:
        markdown[0].source = _replace_block(
            markdown[0].source, "run-time", run_time_note(path.stem, metrics), f"{path.name}'s first Markdown cell"
        )
    return nb, nbformat.writes(nb) != before


def _synced_report(stem: str, metrics: Mapping) -> str | None:
    """The committed report ``reports/<stem>.ipynb`` with the run-time note of its first Markdown cell up to date
    (a report cannot hold its own run time when it runs), as text; ``None`` if there is nothing to update."""
    path = REPORTS / f"{stem}.ipynb"
    if not path.exists():
        return None
    text = path.read_text()
    nb = json.loads(text)
    first = next((c for c in nb.get("cells", []) if c.get("cell_type") == "markdown"), None)
    source = "".join(first["source"]) if first else ""
    if "<!-- run-time:start -->" not in source:
        return None
    new = _replace_block(source, "run-time", run_time_note(stem, metrics), f"reports/{stem}.ipynb")
    first["source"] = new.splitlines(keepends=True)
    updated = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"  # as tools.execute writes reports
    return updated if updated != text else None


def stale_files() -> list[str]:
    """Generated files that differ from what :func:`sync` would write."""
    metrics, bench = _inputs()
    stale = [p.name for p, render in _pages() if p.read_text() != render(p.read_text(), metrics, bench)]
    for stem in notebook_stems():
        if _synced_notebook(NOTEBOOKS_DIR / f"{stem}.ipynb", metrics)[1]:
            stale.append(f"notebooks/{stem}.ipynb")
        if _synced_report(stem, metrics) is not None:
            stale.append(f"reports/{stem}.ipynb")
    return stale


def sync() -> list[str]:
    """Rewrite the generated parts; returns the files it changed. The notebooks go first, since CONTRIBUTING's
    reading times count their generated run-time notes; both pages are rendered before either is written."""
    metrics, bench, changed = *_inputs(), []
    for stem in notebook_stems():
        path = NOTEBOOKS_DIR / f"{stem}.ipynb"
        nb, was_changed = _synced_notebook(path, metrics)
        if was_changed:
            atomic_write_text(path, nbformat.writes(nb) + "\n")
            changed.append(f"notebooks/{stem}.ipynb")
        report = _synced_report(stem, metrics)
        if report is not None:
            atomic_write_text(REPORTS / f"{stem}.ipynb", report)
            changed.append(f"reports/{stem}.ipynb")
    pages = [(p, p.read_text(), render(p.read_text(), metrics, bench)) for p, render in _pages()]
    for path, old, new in pages:
        if new != old:
            atomic_write_text(path, new)
            changed.append(path.name)
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
    for journal in sorted(REPORTS.glob(".*.publish.json")):
        print(
            f"note: a run was killed while publishing ({journal.name}); finish it with "
            "`python -m tools.execute --finish`",
            file=sys.stderr,
        )
    for saved in _unmerged():
        shown = saved.relative_to(REPO_ROOT) if saved.is_relative_to(REPO_ROOT) else saved
        print(
            f"note: {shown} holds results not in metrics.json yet; merge them with "
            f"`python -m tools.execute --publish {shown}`",
            file=sys.stderr,
        )
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
