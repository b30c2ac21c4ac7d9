"""The generated blocks of ``CONTRIBUTING.md``: the issues' targets, each with its measured value and met or
missed (:data:`TARGETS`, :func:`render_targets`; the students' README shows the numbers without them, issue 18),
every recorded number with its run's provenance (:func:`render_all_metrics`), notebook 3's CIFAR-10 detail
(:func:`render_cifar`) and the benchmarks from ``reports/bench.json`` (:func:`render_bench`, suites named by
:data:`BENCH_TITLES`).

:mod:`tools.readme` puts the rendered blocks into the page; this module never imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from stnlib.paper import TABLE1_COLUMNS
from stnlib.recipes import COURSE_MODELS
from tools.notebook_info import NOTEBOOKS_DIR, format_duration, notebook_stems
from tools.reading_time import reading_minutes
from tools.results import RESULT_ROWS

__all__ = [
    "BENCH_TITLES",
    "TARGETS",
    "Target",
    "format_value",
    "render_all_metrics",
    "render_bench",
    "render_cifar",
    "render_targets",
]


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


def _first(value: float, *_: float) -> float:
    return value


def _vs_stronger(stcnn: float, *baselines: float) -> float:
    """The ST-CNN's error over the stronger baseline's (the lowest error of ``baselines``)."""
    return stcnn / min(baselines) if min(baselines) else float("inf")


@dataclass(frozen=True)
class Target:
    """One target an issue set for a notebook: met when ``lo <= measure(*values of keys) <= hi`` (``None``: open).
    ``full_run_s`` is the notebook's run time (``metrics.json``'s ``seconds``) when it ran in the full profile."""

    stem: str
    what: str
    keys: tuple[str, ...]
    lo: float | None = None
    hi: float | None = None
    unit: str = ""
    source: str = "before issue 18"
    measure: Callable[..., float] = _first

    def show(self, value: float, digits: str = ".2f") -> str:
        """``value`` in the target's unit: ``0.93%``, ``0.44x``, ``4.45 px``, ``1782 s (30 min)``, ``-0.68``."""
        if self.unit == "s":
            return format_duration(value) if digits == "g" else f"{value:.0f} s ({format_duration(value)})"
        return f"{value:{digits}}" + {"%": "%", "x": "x", "px": " px", "min": " min"}.get(self.unit, "")

    def bound(self) -> str:
        """The target in words: ``≤ 0.8%``, ``≥ 99.5%``, ``0.8-1.5x``, ``≤ 35 min``."""
        fmt = lambda v: self.show(v, "g")  # noqa: E731
        if self.lo is not None and self.hi is not None:
            return f"{self.lo:g}-{fmt(self.hi)}"
        return f"≤ {fmt(self.hi)}" if self.lo is None else f"≥ {fmt(self.lo)}"

    def met(self, value: float) -> bool:
        return (self.lo is None or value >= self.lo) and (self.hi is None or value <= self.hi)


_NB2, _NB3, _I18 = "02_stn_mnist", "03_stn_cifar10", "issue 18"
_RTS3 = ("rts_stcnn_err", "rts_cnn_full_err", "rts_cnn_area_err")
_CLUTTER3 = ("cluttered_stcnn_err", "cluttered_cnn_full_err", "cluttered_cnn_area_err")
_OFFCENTRE3 = ("offcentre_stn_err", "offcentre_cnn_full_err", "offcentre_cnn_area_err")
_NB5, _I19 = "05_beyond_affine", "issue 19"
_NB1, _NB6, _I20 = "01_affine_intuition", "06_stn_on_feature_maps", "issue 20"
_COLUMNS = tuple(TABLE1_COLUMNS)  # r, rts, p, e: notebook 5's Table 1 columns


def _st_over_cnn(cnn: float, *stcnns: float) -> float:
    """The worst ST-CNN's error over the CNN's: at most 1 when every ST-CNN is at or below the CNN."""
    return max(stcnns) / cnn if cnn else float("inf")


def _minus(a: float, b: float) -> float:
    return a - b


#: The targets the issues set. Their place is here, not the students' README (issue 18): a student reads each
#: number beside the paper's figure and the stronger of two fair baselines.
TARGETS: list[Target] = [
    Target(_NB2, "plain MNIST: ST-CNN test accuracy", ("mnist_stn_acc",), lo=99.5, unit="%"),
    Target(_NB2, "RTS MNIST: ST-CNN test error", ("rts_stcnn_err",), hi=0.8, unit="%", source=_I18),
    Target(
        _NB2,
        "RTS MNIST: ST-CNN error / the stronger CNN's (full canvas or 28x28 area view)",
        _RTS3,
        hi=0.75,
        unit="x",
        source=_I18,
        measure=_vs_stronger,
    ),
    Target(
        _NB2,
        "RTS: shift undone, slope (the less undone of x, y)",
        ("rts_tx_slope", "rts_ty_slope"),
        hi=-0.8,
        measure=max,
    ),
    Target(_NB2, "RTS: turn undone, overall slope", ("rts_rotation_slope",), hi=-0.8),
    Target(_NB2, "RTS: turn undone, R² of the overall fit", ("rts_rotation_r2",), lo=0.8),
    Target(_NB2, "RTS: zoom undone, slope", ("rts_scale_slope",), hi=-0.8),
    Target(_NB2, "cluttered MNIST: ST-CNN test error", ("cluttered_stcnn_err",), hi=2.5, unit="%", source=_I18),
    Target(
        _NB2,
        "cluttered MNIST: ST-CNN error / the stronger CNN's (full canvas or 20x20 area view)",
        _CLUTTER3,
        hi=0.6,
        unit="x",
        source=_I18,
        measure=_vs_stronger,
    ),
    Target(_NB2, "cluttered: region centre to the digit's (median)", ("cluttered_centre_err",), hi=3, unit="px"),
    Target(
        _NB2, "cluttered: region width / the digit box's (median)", ("cluttered_width_ratio",), lo=0.8, hi=1.5, unit="x"
    ),
    Target(
        _NB2,
        "cluttered: theta depends on the image, std of the region's x (theta units)",
        ("cluttered_tx_std",),
        lo=0.2,
    ),
    Target(_NB2, "notebook 2: full-profile run time", ("full_run_s",), hi=35 * 60, unit="s", source=_I18),
    Target(
        _NB3,
        "CIFAR-10: ours + STN, accuracy on the exact test photos",
        ("cifar_ours_stn_acc_exact",),
        lo=93.0,
        unit="%",
    ),
    Target(_NB3, "CIFAR-10: ours + STN, training time", ("cifar_stn_train_s",), hi=1200, unit="s"),
    Target(
        _NB3,
        "off-centre CIFAR-10: transformer's error / the stronger CNN's (full canvas or 32x32 area view)",
        _OFFCENTRE3,
        hi=0.8,
        unit="x",
        source=_I18,
        measure=_vs_stronger,
    ),
    Target(_NB3, "off-centre: region centre to the photo's (median)", ("offcentre_centre_err_px",), hi=4.0, unit="px"),
    Target(_NB3, "notebook 3: full-profile run time", ("full_run_s",), hi=60 * 60, unit="s", source=_I18),
    *[
        Target(
            _NB5,
            f"Table 1, {c.upper()}: the worst ST-CNN's error / the CNN's (each ST-CNN ≤ the CNN)",
            tuple(f"{c}_{m}_err" for m in ("cnn", "affine", "projective", "tps")),
            hi=1.0,
            unit="x",
            source=_I19,
            measure=_st_over_cnn,
        )
        for c in _COLUMNS
    ],
    Target(
        _NB5,
        "Table 1, E: TPS error - affine error (TPS ≤ affine)",
        ("e_tps_err", "e_affine_err"),
        hi=0.0,
        unit="%",
        source=_I19,
        measure=_minus,
    ),
    Target(
        _NB5,
        "Table 1, RTS: ST-CNN affine error (within 1.5x of the paper's 0.5 %)",
        ("rts_affine_err",),
        hi=0.75,
        unit="%",
        source=_I19,
    ),
    Target(
        _NB5,
        "Table 1, R: ST-CNN affine error (within 1.5x of the paper's 0.7 %)",
        ("r_affine_err",),
        hi=1.05,
        unit="%",
        source=_I19,
    ),
    Target(_NB5, "notebook 5: full-profile run time", ("full_run_s",), hi=60 * 60, unit="s", source=_I19),
    Target(
        _NB1,
        "the sampler written in the page against F.grid_sample (fp64, both align_corners): max difference",
        ("sampler_max_diff",),
        hi=1e-6,
        source=_I20,
    ),
    Target(
        _NB1,
        "the paper's gradient formulas against autograd at one pixel (fp64): max difference",
        ("sampler_grad_max_diff",),
        hi=1e-8,
        source=_I20,
    ),
    Target(
        _NB1, "gradcheck of the sampler written in the page (1 = passed)", ("sampler_gradcheck",), lo=1.0, source=_I20
    ),
    Target(
        _NB6,
        "MNIST addition: two transformers' error / the whole-canvas CNN's",
        ("two_stn_stn_err", "two_stn_cnn_err"),
        hi=0.5,
        unit="x",
        source=_I20,
        measure=_vs_stronger,
    ),
    *[
        Target(
            stem,
            f"notebook {stem[1]}: reading time (words / 200 + code lines / 10)",
            ("reading_min",),
            hi=30,
            unit="min",
            source=_I20,
        )
        for stem in notebook_stems()
    ],
]


def render_targets(metrics: Mapping, targets: list[Target] | None = None) -> str:
    """CONTRIBUTING's targets table: each of :data:`TARGETS` with its value in ``metrics`` and met or missed; a
    target whose keys the notebook's entry lacks reads "not measured yet"."""
    rows = ["| notebook | target | set by | measured | |", "|---|---|---|---|---|"]
    for t in TARGETS if targets is None else targets:
        entry = metrics.get(t.stem) or {}
        values = {m["key"]: m["value"] for m in entry.get("metrics", [])}
        if entry.get("profile") == "full" and "seconds" in entry:
            values["full_run_s"] = entry["seconds"]
        if (NOTEBOOKS_DIR / f"{t.stem}.ipynb").exists():
            values["reading_min"] = round(reading_minutes(NOTEBOOKS_DIR / f"{t.stem}.ipynb")[0], 1)
        if all(k in values for k in t.keys):
            value = t.measure(*(values[k] for k in t.keys))
            measured, verdict = t.show(value), "met" if t.met(value) else "**missed**"
        else:
            measured, verdict = "not measured yet", ""
        rows.append(f"| {t.stem[:2]} | {t.what} {t.bound()} | {t.source} | {measured} | {verdict} |")
    return "\n".join(rows)


def render_all_metrics(metrics: Mapping) -> str:
    """CONTRIBUTING's record of every number in ``metrics``: per notebook, its run's full provenance once, then
    each metric (key, label, value) and whether a README row shows it."""
    if not metrics:
        return "_No results yet: run `make execute`._"
    out: list[str] = []
    for nb in sorted(metrics):
        e = metrics[nb]
        present = {m["key"] for m in e["metrics"]}
        used = {k for row in RESULT_ROWS.get(nb, []) if set(row.keys) <= present for k in row.keys}  # rows shown
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
            *(
                f"| `{m['key']}` | {m['label']} | {format_value(m['value'], m.get('unit', ''))} "
                f"| {'yes' if m['key'] in used else ''} |"
                for m in e["metrics"]
            ),
            "",
        ]
    return "\n".join(out).rstrip()


def render_cifar(metrics: dict) -> str:
    """Notebook 3's results: CIFAR-10 next to the course write-ups, and off-centre CIFAR-10 with the transformer
    beside two CNNs (the full canvas; the canvas area-averaged to 32x32)."""
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
    if all(k in m for k in _OFFCENTRE3):  # older entries have one CNN only: no table
        rows += [
            "",
            "| off-centre CIFAR-10 (64x64 canvas) | test error | forward MFLOP / image | training time "
            "| what it means |",
            "|---|---|---|---|---|",
        ]
        nets = (
            ("cnn_full", "CNN on the full canvas (first layer: 2x2 patches at stride 2)"),
            ("cnn_area", "same backbone, canvas area-averaged to 32x32"),
            ("stn", "with a transformer that moves a 32x32 window"),
        )
        stn = f"{_vs_stronger(*(m[k] for k in _OFFCENTRE3)):.2f}x the stronger CNN's errors"
        if "offcentre_centre_err_px" in m:
            stn += f"; window centre {m['offcentre_centre_err_px']:.1f} px from the photo's (median)"
        for key, name in nets:
            mflop, train_s = m.get(f"offcentre_{key}_mflop"), m.get(f"offcentre_{key}_train_s")
            cells = ("–" if mflop is None else f"{mflop:.2f}", "–" if train_s is None else f"{train_s:.0f} s")
            meaning = stn if key == "stn" else ""
            rows.append(f"| {name} | {m[f'offcentre_{key}_err']:.2f}% | {cells[0]} | {cells[1]} | {meaning} |")
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
