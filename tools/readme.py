"""Repository bookkeeping: the repo URL, the notebook index, and generated README parts.

The repository URL lives **only** in :data:`REPO_URL`. A fork changes that line and
runs ``make sync``, which rewrites everything derived from it:

* the "Open in Colab" badges and the notebook index in ``README.md``;
* the Colab setup cell at the top of every notebook in ``notebooks/``;
* the results table in ``README.md``, from ``reports/metrics.json``.

``python -m tools.readme check`` fails if any of these is stale (the tests check the same),
so nobody can hand-edit a number into the README. A malformed ``reports/metrics.json`` or
``reports/bench.json`` is reported by name, with what is wrong, and nothing is written.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

from stnlib.env import REPO_ROOT
from stnlib.recipes import COURSE_MODELS
from stnlib.runs import MetricsFileError, atomic_write_text, load_metrics

__all__ = [
    "BENCH_TITLES", "BRANCH", "NOTEBOOK_SUMMARIES", "REPO_URL", "colab_cell_source", "format_value", "main",
    "render_readme", "stale_files", "sync",
]  # fmt: skip

#: The one place the repository URL is written. Change it in a fork, then run ``make sync``.
REPO_URL = "https://github.com/stn-notebooks/stn-notebooks"
BRANCH = "main"

#: One line per notebook for the README index (file stem -> summary).
NOTEBOOK_SUMMARIES: dict[str, str] = {
    "01_affine_intuition": 'What the 2x3 matrix theta does to an image, why shifts and zooms move the "wrong" '
    "way, the padding pitfall, and how theta learns by gradient descent; sliders edit theta live.",
    "02_stn_mnist": "A spatial transformer in 20 lines; against the same CNN without it on plain, rotated/scaled "
    "(RTS) and cluttered MNIST, with what it undoes and where it looks measured per test digit; then fool it.",
    "03_stn_cifar10": "When does a transformer earn its place? On CIFAR-10's centred photos it collapses to one "
    "warp (four suspected causes tested); on off-centre photos it finds them. A fast airbench-style backbone, "
    "and the course write-ups reproduced.",
    "04_stn_learning_gif": "Watch transformers learn, step by step, as GIFs: finding digits in clutter, "
    "turning and centring rotated digits, and a quiet one on CIFAR-10.",
}

COLAB_TAG = "colab-setup"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
README = REPO_ROOT / "README.md"
#: The committed full-profile results the README is rendered from (not ``$STNLIB_REPORTS``).
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


def render_index() -> str:
    rows = ["| # | Notebook | What you learn | Executed report | Colab |", "|---|---|---|---|---|"]
    for stem in notebook_stems():
        if stem not in NOTEBOOK_SUMMARIES:
            raise ValueError(f"notebooks/{stem}.ipynb has no summary in tools.readme.NOTEBOOK_SUMMARIES")
        num = stem.split("_", 1)[0]
        title = notebook_title(NOTEBOOKS_DIR / f"{stem}.ipynb")
        report = (
            f"[report](reports/{stem}.ipynb)" if (REPORTS / f"{stem}.ipynb").exists() else "not yet run"
        )
        rows.append(
            f"| {num} | [{title}](notebooks/{stem}.ipynb) | {NOTEBOOK_SUMMARIES[stem]} "
            f"| {report} | {colab_badge(stem)} |"
        )
    return "\n".join(rows)


def format_value(value: float | int, unit: str = "") -> str:
    """A metric's value for the README: percent with 2 decimals, ints with thousands separators, else 4 digits.

    >>> format_value(99.3456, "%"), format_value(60000), format_value(3.4e-06), format_value(12.345, "s")
    ('99.35%', '60,000', '3.4e-06', '12.35 s')
    """
    suffix = f" {unit}" if unit else ""
    if unit == "%":
        return f"{value:.2f}%"
    if isinstance(value, int):
        return f"{value:,}{suffix}"
    return (f"{value:.3g}" if (abs(value) < 1e-3 or abs(value) >= 1e4) and value != 0 else f"{value:.4g}") + suffix


def render_results(metrics: dict) -> str:
    """Markdown table of every metric in ``metrics`` (the content of ``reports/metrics.json``)."""
    if not metrics:
        return "_No results yet: run `make execute`._"
    rows = ["| Notebook | Result | Value | Profile | Data | Run |", "|---|---|---|---|---|---|"]
    for nb in sorted(metrics):
        entry = metrics[nb]
        for m in entry["metrics"]:
            rows.append(
                f"| [{nb}](reports/{nb}.ipynb) | {m['label']} | {format_value(m['value'], m.get('unit', ''))} "
                f"| {entry['profile']} "
                f"| {entry['data']} | {entry['seconds']:.0f} s, {entry['finished']} |"
            )
    return "\n".join(rows)


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


def _replace_block(text: str, name: str, body: str) -> str:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"README.md lacks the markers {start} ... {end}")
    note = "<!-- generated by `make sync` (python -m tools.readme sync); do not edit by hand -->"
    return pattern.sub(lambda _: f"{start}\n{note}\n{body}\n{end}", text)


def render_readme(text: str, metrics: dict, bench: dict | None = None) -> str:
    """``text`` with its generated blocks (index, results, benchmark) brought up to date."""
    text = _replace_block(text, "notebooks", render_index())
    text = _replace_block(text, "results", render_results(metrics))
    text = _replace_block(text, "cifar", render_cifar(metrics))
    return _replace_block(text, "bench", render_bench(bench or {}))


def _inputs() -> tuple[dict, dict]:
    """``reports/metrics.json`` and ``reports/bench.json``; :class:`~stnlib.runs.MetricsFileError` if malformed."""
    return load_metrics(REPORTS / "metrics.json"), load_metrics(REPORTS / "bench.json", entries=False)


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
    stale = []
    if README.read_text() != render_readme(README.read_text(), metrics, bench):
        stale.append("README.md")
    for stem in notebook_stems():
        if _synced_notebook(NOTEBOOKS_DIR / f"{stem}.ipynb")[1]:
            stale.append(f"notebooks/{stem}.ipynb")
    return stale


def sync() -> list[str]:
    """Rewrite the generated parts; returns the files it changed."""
    changed = []
    old = README.read_text()
    new = render_readme(old, *_inputs())
    if new != old:
        atomic_write_text(README, new)
        changed.append("README.md")
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
            f"make {args.command}: cannot render the README. {err} Nothing was written. Restore the file "
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
    print("README and notebooks are in sync")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
