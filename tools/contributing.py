"""The generated blocks of ``CONTRIBUTING.md``: every recorded number with its run's provenance
(:func:`render_all_metrics`), notebook 3's CIFAR-10 detail (:func:`render_cifar`) and the benchmarks from
``reports/bench.json`` (:func:`render_bench`, suites named by :data:`BENCH_TITLES`).

:mod:`tools.readme` puts the rendered blocks into the page; this module never imports it.
"""

from __future__ import annotations

from collections.abc import Mapping

from stnlib.recipes import COURSE_MODELS
from tools.results import RESULT_ROWS

__all__ = ["BENCH_TITLES", "format_value", "render_all_metrics", "render_bench", "render_cifar"]


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
