"""The students' results tables in ``README.md``: one per notebook, each row a measured value and what it means.

* the thresholds (:data:`IDENTITY_ZOOM`, :data:`FIXED_WARP_PX`, ...) and the rule functions (:func:`zoom_words`,
  :func:`undone_words`, :func:`baseline_words`, :func:`ablation_words`, ...) that turn a value into words. A row
  gives the number, what it means and the yardstick a student can read (the paper's figure, the stronger of two
  fair baselines); never an internal pass/fail target (issue 18: those are listed in ``CONTRIBUTING.md``,
  :data:`tools.contributing.TARGETS`);
* :class:`Row` and :data:`RESULT_ROWS`: per notebook, the rows a student cares about and the metric keys each reads;
* :func:`render_student_results`: the README's results block (:func:`caption` names the run once per table).

:mod:`tools.readme` puts the rendered block into the page; this module never imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from stnlib.distort import OFFCENTRE_CANVAS, OFFCENTRE_SCALE, PHOTO_SIZE
from stnlib.paper import TABLE1_MODELS
from stnlib.recipes import COURSE_MODELS
from tools.notebook_info import NOTEBOOKS_DIR, format_duration, notebook_stems, notebook_title, short_provenance

__all__ = [
    "CIFAR_TEST_PHOTOS",
    "DIGIT_BOX_PX",
    "DIGIT_WIDTH_FIT",
    "FIXED_WARP_PX",
    "FLOAT_AGREE",
    "IDENTITY_ZOOM",
    "NOTHING_UNDONE",
    "RESULT_FIGURES",
    "RESULT_ROWS",
    "SMALLEST_PHOTO_PX",
    "Row",
    "ablation_words",
    "baseline_words",
    "caption",
    "centre_words",
    "one_in",
    "region_words",
    "render_notebook_results",
    "render_student_results",
    "spread_words",
    "undone_words",
    "zoom_words",
]

#: Images shown beside a notebook's results (markdown), e.g. the GIFs notebook 4 makes.
RESULT_FIGURES: dict[str, str] = {
    "04_stn_learning_gif": "![A spatial transformer learning where to look on cluttered 60x60 MNIST canvases: the "
    "region it samples (orange) on each canvas while it trains; below, the 20x20 view its classifier gets]"
    "(assets/stn_learning_mnist_cluttered.gif)\n\nThe other two films: [an RTS transformer turning and "
    "centring digits](assets/stn_learning_mnist_rts.gif), [one on CIFAR-10, where photos are already centred]"
    "(assets/stn_learning_cifar10.gif).",
}


# -------------------------------------------------------------------------- what a number means: the rules
IDENTITY_ZOOM = 0.05  #: |median zoom - 1| below this: the transformer leaves images as they are
FIXED_WARP_PX = 1.0  #: region centre moving less than this (std, px) between images: one warp for all
NOTHING_UNDONE = 0.1  #: undone share (-slope) below this: nothing undone
FLOAT_AGREE = 1e-4  #: largest difference (pixels in [0, 1], or theta entries) that still counts as float rounding
CIFAR_TEST_PHOTOS = {"exact": 1000, "all": 10000}  #: CIFAR-10's exact test photos and all of them (full profile)
DIGIT_BOX_PX = 28  #: an MNIST digit's box; a region centre within half of it lies on the digit
DIGIT_WIDTH_FIT = (0.8, 1.5)  #: region width / digit box width in this range: zoomed onto the digit
SMALLEST_PHOTO_PX = PHOTO_SIZE * OFFCENTRE_SCALE[0]  #: off-centre CIFAR-10's smallest photo (16 px wide)


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


def baseline_words(stcnn: float, baselines: Mapping[str, float]) -> str:
    """The ST-CNN's test error against the *stronger* baseline (the lowest error of ``baselines``, name -> %).

    >>> baseline_words(1.0, {"full canvas": 2.0, "area view": 4.0})
    '0.50x the errors of the stronger CNN (full canvas), one run: fewer mistakes'
    """
    name = min(baselines, key=lambda k: baselines[k])
    ratio = stcnn / baselines[name] if baselines[name] else float("inf")
    return f"{ratio:.2f}x the errors of the stronger CNN ({name}), one run: " + (
        "fewer mistakes" if ratio < 1 else "no better"
    )


def centre_words(px: float, box_px: float, what: str, box: str = "its") -> str:
    """How far a region's centre lies from the object's, in words: under half the object's box it lies on it.

    >>> centre_words(4.79, DIGIT_BOX_PX, "digit"), centre_words(15.0, DIGIT_BOX_PX, "digit")
    ('centre on the digit (4.79 px from its centre; half its 28 px box is 14 px)', \
'centre off the digit (15.00 px from its centre; half its 28 px box is 14 px)')
    """
    where = "on" if px < box_px / 2 else "off"
    return f"centre {where} the {what} ({px:.2f} px from its centre; half {box} {box_px:g} px box is {box_px / 2:g} px)"


def region_words(centre: float, width: float) -> tuple[str, str]:
    """Where a cluttered-MNIST region ends (median centre error in px, width / digit box): (measured, meaning).
    Notebook 2's and notebook 4's rows both say it this way (rules: :data:`DIGIT_BOX_PX`, :data:`DIGIT_WIDTH_FIT`)."""
    lo, hi = DIGIT_WIDTH_FIT
    size = (
        "narrower than the digit: it cuts it off"
        if width < lo
        else "about the digit's size: zoomed onto it"
        if width <= hi
        else "much wider than the digit: hardly zoomed"
    )
    return (
        f"centre {centre:.2f} px from the digit's; {width:.2f}x the digit box's width",
        f"{centre_words(centre, DIGIT_BOX_PX, 'digit')}; {size}",
    )


def one_in(error_pct: float, what: str) -> str:
    """A test error as "about 1 in N".

    >>> one_in(3.36, "digit"), one_in(0.0, "digit")
    ('about 1 test digit in 30 misread', 'no test digit misread')
    """
    return f"no test {what} misread" if error_pct <= 0 else f"about 1 test {what} in {100 / error_pct:.0f} misread"


def ablation_words(stn: tuple[float, float], without: tuple[float, float], p: float) -> str:
    """With the STN minus without (accuracies in %: exact photos, all) beside the larger binomial standard error on
    the exact photos. One run per network: McNemar's p covers the test photos' sampling only, so no verdict on chance.

    >>> exact, runs = ablation_words((95.3, 87.86), (94.9, 87.29), 0.025).split("; ")
    >>> exact
    'with the STN +0.40 points on the exact photos (within one standard error, ±0.70), +0.57 on all'
    >>> runs
    "one training run each: McNemar p = 0.025 covers the test photos' sampling, not a second training run"
    """
    diff, n = stn[0] - without[0], CIFAR_TEST_PHOTOS["exact"]
    se = max(100 * (a[0] / 100 * (1 - a[0] / 100) / n) ** 0.5 for a in (stn, without))  # binomial, in points
    return (
        f"with the STN {diff:+.2f} points on the exact photos ({'within' if abs(diff) <= se else 'more than'} "
        f"one standard error, ±{se:.2f}), {stn[1] - without[1]:+.2f} on all; one training run each: McNemar "
        f"p = {p:.3f} covers the test photos' sampling, not a second training run"
    )


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
def _sampler(diff: float, grad_diff: float, gradcheck: float) -> tuple[str, str]:
    ok = diff < FLOAT_AGREE and grad_diff < FLOAT_AGREE and gradcheck == 1
    return f"output {diff:.1e}, gradient {grad_diff:.1e}; gradcheck {'passed' if gradcheck == 1 else 'FAILED'}", (
        "agree to float precision: the page's sampler and formulas are what PyTorch computes"
        if ok
        else "DISAGREE: the page's sampler or formulas differ from PyTorch's"
    )


def _plain_mnist(stn: float, cnn: float) -> tuple[str, str]:
    return f"with STN {_pct(stn)}, without {_pct(cnn)}", (
        f"the STN changes accuracy by {stn - cnn:+.2f} points; {one_in(100 - stn, 'digit')}"
    )


def _vs_baselines(view: str) -> Callable[..., tuple[str, str]]:
    """An ST-CNN's test error beside two fair CNNs (the full canvas; the same classifier on a ``view`` resized by
    area averaging) and the paper's figures (whose CNN sees the full canvas)."""

    def render(stcnn: float, full: float, area: float, paper_st: float, paper_cnn: float) -> tuple[str, str]:
        measured = f"ST-CNN {_pct(stcnn)}; CNNs: full canvas {_pct(full)}, {view} area view {_pct(area)}"
        paper = f"the paper: {paper_st:g}% vs {paper_cnn:g}% (full canvas), {paper_st / paper_cnn:.2f}x"
        ours = baseline_words(stcnn, {"full canvas": full, f"{view} area view": area})
        return measured, f"{ours}; {paper} (mean of 3 runs)"

    return render


def _compute(*mflop: float) -> tuple[str, str]:
    """Forward MFLOP per image of the ST-CNN, the full-canvas CNN and the area-view CNN, RTS then cluttered."""
    rts, clutter = mflop[:3], mflop[3:]
    measured = f"RTS: {', '.join(f'{m:.2f}' for m in rts)}; cluttered: {', '.join(f'{m:.2f}' for m in clutter)}"
    return measured, (
        f"the ST-CNN costs {rts[0] / rts[1]:.2f}x (RTS), {clutter[0] / clutter[1]:.2f}x (cluttered) "
        f"the full-canvas CNN's FLOPs and {rts[0] / rts[2]:.2f}x, {clutter[0] / clutter[2]:.2f}x "
        "the area-view CNN's"
    )


def _rts_shift(tx: float, ty: float) -> tuple[str, str]:
    return f"x {tx:.2f}, y {ty:.2f}", f"{undone_words(max(tx, ty), 'shift')} (the less undone of x, y)"


def _rts_turn(slope: float, r2: float, within: float) -> tuple[str, str]:
    return (
        f"overall {slope:.2f}, R² {r2:.2f}; within a digit {within:.2f}",
        f"by the overall slope it {undone_words(slope, 'turn')}; by the within-digit slope (the digit's own "
        f"slant taken out) it {undone_words(within, 'turn')}",
    )


def _rts_zoom(slope: float, r2: float) -> tuple[str, str]:
    return f"{slope:.2f}, R² {r2:.2f}", undone_words(slope, "zoom")


def _padding(zoom0: float, zoom1: float, acc0: float, acc1: float) -> tuple[str, str]:
    words0, words1 = zoom_words(zoom0), zoom_words(zoom1)
    meaning = f"{words0}, with either padding" if words0 == words1 else f"zero: {words0}; black: {words1}"
    return f"zoom {zoom0:.3f} vs {zoom1:.3f}; accuracy {_pct(acc0)} vs {_pct(acc1)}", meaning


def _cifar_ours(exact: float, every: float, train_s: float) -> tuple[str, str]:
    return (
        f"{_pct(exact)} on the exact test photos ({_pct(every)} on all), after {train_s:.0f} s",
        f"{one_in(100 - exact, 'photo')} (exact photos); trained in {format_duration(train_s)}",
    )


def _cifar_ablation(exact: float, every: float, stn_exact: float, stn_every: float, p: float) -> tuple[str, str]:
    """McNemar's test compares the two networks on all test photos (notebook 3); :func:`ablation_words`."""
    return (
        f"{_pct(exact)} on the exact test photos ({_pct(every)} on all)",
        ablation_words((stn_exact, stn_every), (exact, every), p),
    )


def _spread(what: str) -> Callable[[float], tuple[str, str]]:
    return lambda px: (f"{px:.2f} px", spread_words(px, what))


def _offcentre_error(stn: float, full: float, area: float) -> tuple[str, str]:
    """Beside two fair CNNs: the full canvas (2x2 patches at stride 2 first), the canvas area-averaged to 32x32."""
    view = f"{PHOTO_SIZE}x{PHOTO_SIZE} area view"
    return (
        f"with the transformer {_pct(stn)}; CNNs: full canvas {_pct(full)}, {view} {_pct(area)}",
        baseline_words(stn, {"full canvas": full, view: area}),
    )


def _offcentre_compute(stn: float, full: float, area: float) -> tuple[str, str]:
    return f"{stn:.2f}, {full:.2f}, {area:.2f}", (
        f"the transformer network costs {stn / full:.2f}x the full-canvas "
        f"CNN's FLOPs and {stn / area:.2f}x the area-view CNN's"
    )


def _offcentre_where(centre: float) -> tuple[str, str]:
    return f"{centre:.2f} px", centre_words(centre, SMALLEST_PHOTO_PX, "photo", "the smallest photo's")


def _offcentre_shift(tx: float, ty: float) -> tuple[str, str]:
    return f"x {tx:.2f}, y {ty:.2f}", f"x: {undone_words(tx, 'shift')}; y: {undone_words(ty, 'shift')}"


def _course(budget: float, *exact: float) -> tuple[str, str]:
    got = ", ".join(f"{c.name} {_pct(a)}" for c, a in zip(COURSE_MODELS, exact))
    epochs = sorted({c.reported_epochs for c in COURSE_MODELS})
    reported = ", ".join(
        f"{c.reported_acc:g}%" + ("" if len(epochs) == 1 else f" ({c.reported_epochs} epochs)") for c in COURSE_MODELS
    )
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


def _cifar_gif(exact: float, every: float) -> tuple[str, str]:
    return f"{_pct(exact)} on the exact test photos ({_pct(every)} on all)", f"about {exact / 10:.0f} in 10 right"


def _film_times(*seconds: float) -> tuple[str, str]:
    names = ("cluttered", "RTS", "CIFAR-10")
    return (
        ", ".join(f"{n} {s:.0f} s" for n, s in zip(names, seconds)),
        f"{format_duration(sum(seconds))} of training for the {len(seconds)} films on this CPU",
    )


def _errors_keys(task: str) -> tuple[str, ...]:
    return tuple(f"{task}_{k}" for k in ("stcnn_err", "cnn_full_err", "cnn_area_err")) + tuple(
        f"paper_{task}_{k}" for k in ("stcnn_err", "cnn_err")
    )


_TABLE1_MODELS = tuple(TABLE1_MODELS)  # cnn, affine, projective, tps: notebook 5's rows
_TABLE1_SHORT = {"cnn": "CNN", "affine": "affine", "projective": "projective", "tps": "TPS"}


def _table1_keys(column: str) -> tuple[str, ...]:
    """Notebook 5's keys for one Table 1 column: each model's mean error, std and seeds, then the paper's."""
    ours = tuple(f"{column}_{m}_{k}" for m in _TABLE1_MODELS for k in ("err", "err_std", "seeds"))
    return ours + tuple(f"paper_{column}_{m}_err" for m in _TABLE1_MODELS)


def _table1_column(*values: float) -> tuple[str, str]:
    """Ours (mean ± std over seeds, per model) beside the paper's Table 1 figures, and which of ours is lowest."""
    ours = {m: values[3 * i : 3 * i + 3] for i, m in enumerate(_TABLE1_MODELS)}
    paper = dict(zip(_TABLE1_MODELS, values[3 * len(_TABLE1_MODELS) :]))
    seeds = int(min(n for _, _, n in ours.values()))
    spread = (lambda std: f" ± {std:.2f}") if seeds > 1 else (lambda std: "")
    measured = ", ".join(f"{_TABLE1_SHORT[m]} {mean:.2f}{spread(std)}" for m, (mean, std, _) in ours.items())
    runs = f"{seeds} seeds, mean ± std" if seeds > 1 else "one run each"
    lowest = min(ours, key=lambda m: ours[m][0])
    beaten = sum(ours[m][0] <= ours["cnn"][0] for m in _TABLE1_MODELS[1:])
    text = ", ".join(f"{_TABLE1_SHORT[m]} {v:g}" for m, v in paper.items())
    return f"{measured} % ({runs})", (
        f"lowest here: {_TABLE1_SHORT[lowest]}; {beaten} of 3 ST-CNNs at or below "
        f"the CNN; the paper: {text} % (mean of 3 runs)"
    )


def _undone_px(*values: float) -> tuple[str, str]:
    """Median end-point error (px) of the composed warp: no transformer, then affine, projective, TPS."""
    none, *st = values
    best = min(range(3), key=lambda i: st[i])
    names = ("affine", "projective", "TPS")
    measured = f"none {none:.2f}, {', '.join(f'{n} {v:.2f}' for n, v in zip(names, st))} px"
    if st[best] >= none:  # no transformer brings the digit closer to the original than the distortion left it
        lowest = f"{names[best]} {st[best]:.2f} px"
        return measured, (
            f"not one of the three lowers it below the distortion's own {none:.2f} px (lowest: "
            f"{lowest}): their lower errors come without undoing this warp"
        )
    return measured, f"{names[best]} undoes the most: {st[best]:.2f} px left of the distortion's {none:.2f} px"


def _slopes(perfect: float) -> Callable[..., tuple[str, str]]:
    """Three transformers' slopes (affine, projective, TPS) and how much of the distortion each follows."""

    def render(*slopes: float) -> tuple[str, str]:
        names = ("affine", "projective", "TPS")
        shares = ", ".join(f"{n} {100 * s / perfect:.0f}%" for n, s in zip(names, slopes))
        return ", ".join(f"{n} {s:+.2f}" for n, s in zip(names, slopes)), f"share of it followed: {shares}"

    return render


def _placements(front: float, maps: float, cnn: float) -> tuple[str, str]:
    return f"in front {_pct(front)}, on feature maps {_pct(maps)}, none {_pct(cnn)}", (
        f"on feature maps the transformer's error is {maps - front:+.2f} points from the one in front; "
        f"{one_in(min(front, maps), 'digit')} for the better"
    )


def _turn_slopes(front: float, maps: float) -> tuple[str, str]:
    return f"in front {front:+.2f}, on feature maps {maps:+.2f}", (
        f"share of each digit's turn undone: in front {-100 * front:.0f}%, on feature maps {-100 * maps:.0f}%"
    )


def _two_transformers(stn: float, cnn: float, halves: float, paper_stn: float, paper_cnn: float) -> tuple[str, str]:
    stronger, name = min((cnn, "CNN on the whole canvas"), (halves, "halves without transformers"))
    return f"two transformers {_pct(stn)}; CNN, whole canvas {_pct(cnn)}; halves {_pct(halves)}", (
        f"{stn / stronger:.2f}x the errors of the stronger baseline ({name}), one run; "
        f"the paper: {paper_stn:g}% vs {paper_cnn:g}% for its CNN, {paper_stn / paper_cnn:.2f}x"
    )


def _output_change(front: float, maps: float, cnn: float) -> tuple[str, str]:
    least = min((front, "in front"), (maps, "on feature maps"), (cnn, "no transformer"))[1]
    return f"in front {front:.3f}, on feature maps {maps:.3f}, none {cnn:.3f}", (
        f"0 = the same answer for the turned digit; the output moves least with the transformer {least}"
        if least != "no transformer"
        else "0 = the same answer for the turned digit; it moves least without one"
    )


_MFLOP_KEYS = tuple(f"{t}_{m}_mflop" for t in ("rts", "cluttered") for m in ("stcnn", "cnn_full", "cnn_area"))
_COURSE_KEYS = tuple(f"cifar_course{i}_acc_exact" for i in range(1, len(COURSE_MODELS) + 1))

#: Each notebook's README results table (file stem -> rows): the results a student cares about.
RESULT_ROWS: dict[str, list[Row]] = {
    "01_affine_intuition": [
        Row(
            "The sampler written in the page (`affine_grid` and bilinear `grid_sample` in plain torch) against "
            "PyTorch's, and the paper's gradient formulas against autograd: largest differences (fp64)",
            ("sampler_max_diff", "sampler_grad_max_diff", "sampler_gradcheck"),
            _sampler,
        ),
    ],
    "02_stn_mnist": [
        Row("Plain MNIST (centred digits): test accuracy", ("mnist_stn_acc", "mnist_cnn_acc"), _plain_mnist),
        Row(
            "Rotated, scaled and shifted (RTS) MNIST, 42x42 canvas: test error",
            _errors_keys("rts"),
            _vs_baselines("28x28"),
        ),
        Row(
            "RTS: shift undone (slope of undone against applied; -1 = all of it)",
            ("rts_tx_slope", "rts_ty_slope"),
            _rts_shift,
        ),
        Row(
            "RTS: turn undone (overall slope, R²; then the within-digit slope, each digit's slant fixed)",
            ("rts_rotation_slope", "rts_rotation_r2", "rts_rotation_within_slope"),
            _rts_turn,
        ),
        Row("RTS: zoom undone (slope, R²)", ("rts_scale_slope", "rts_scale_r2"), _rts_zoom),
        Row(
            "Cluttered MNIST (a digit somewhere on a 60x60 canvas, among clutter): test error",
            _errors_keys("cluttered"),
            _vs_baselines("20x20"),
        ),
        Row(
            "Compute per image (forward MFLOP): ST-CNN, CNN on the full canvas, CNN on the area view",
            _MFLOP_KEYS,
            _compute,
        ),
        Row(
            "Cluttered: where the STN looks (median over test digits)",
            ("cluttered_centre_err", "cluttered_width_ratio"),
            region_words,
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
            "Off-centre CIFAR-10 (each photo shrunk, turned, placed at random on a "
            f"{OFFCENTRE_CANVAS}x{OFFCENTRE_CANVAS} canvas): test error",
            ("offcentre_stn_err", "offcentre_cnn_full_err", "offcentre_cnn_area_err"),
            _offcentre_error,
        ),
        Row(
            "Off-centre: compute per image (forward MFLOP): transformer network, full-canvas CNN, area-view CNN",
            ("offcentre_stn_mflop", "offcentre_cnn_full_mflop", "offcentre_cnn_area_mflop"),
            _offcentre_compute,
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
        Row("The course write-ups' STN models, test accuracy", ("cifar_budget_s", *_COURSE_KEYS), _course),
    ],
    "04_stn_learning_gif": [
        Row("Cluttered MNIST (the film above): test error at the end", ("clutter_err",), _error_in_words("digit")),
        Row(
            "Cluttered: where the region ends (median over test digits)",
            ("clutter_centre_err", "clutter_width_ratio"),
            region_words,
        ),
        Row("RTS MNIST (second film): test accuracy at the end", ("rts_acc",), _accuracy_in_words("digit")),
        Row(
            "RTS: turn undone at the end (overall slope; -1 = all of it)",
            ("rts_rotation_slope",),
            lambda slope: (f"{slope:.2f}", f"by the overall slope it {undone_words(slope, 'turn')}"),
        ),
        Row("CIFAR-10 (third film): test accuracy at the end", ("cifar_acc_exact", "cifar_acc"), _cifar_gif),
        Row("Training time of each film", ("clutter_train_s", "rts_train_s", "cifar_train_s"), _film_times),
    ],
    "05_beyond_affine": [
        *[
            Row(f"{name} MNIST ({what}): test error, CNN and ST-CNNs", _table1_keys(column), _table1_column)
            for column, name, what in (
                ("r", "R", "rotated ±90°, 28x28"),
                ("rts", "RTS", "42x42 canvas"),
                ("p", "P", "projective, 28x28"),
                ("e", "E", "elastic, 28x28"),
            )
        ],
        *[
            Row(
                f"{name}: what each transformer undoes (median end-point error of the composed warp)",
                tuple(f"{column}_{m}_undo_px" for m in ("none", "affine", "projective", "tps")),
                _undone_px,
            )
            for column, name in (("r", "R"), ("rts", "RTS"), ("p", "P"), ("e", "E"))
        ],
        Row(
            "R: turn undone (slope of applied against undone; -1 = every turn): affine, projective, TPS",
            tuple(f"r_{m}_rotation_slope" for m in ("affine", "projective", "tps")),
            _slopes(-1.0),
        ),
        Row(
            "P: corners followed (slope of the grid's corner shift against the distortion's; +1 = every corner)",
            tuple(f"p_{m}_corner_slope" for m in ("affine", "projective", "tps")),
            _slopes(1.0),
        ),
    ],
    "06_stn_on_feature_maps": [
        Row(
            "RTS MNIST (42x42): test error with the transformer in front, on feature maps, and without",
            tuple(f"feature_map_{k}_err" for k in ("front", "maps", "cnn")),
            _placements,
        ),
        Row(
            "RTS MNIST: turn undone (slope of applied against undone; -1 = every turn)",
            ("feature_map_front_slope", "feature_map_maps_slope"),
            _turn_slopes,
        ),
        Row(
            "RTS MNIST: how far the class probabilities move when the input turns 30° (total variation)",
            tuple(f"feature_map_{k}_change_30" for k in ("front", "maps", "cnn")),
            _output_change,
        ),
        Row(
            "MNIST addition (two RTS digits on a 42x84 canvas, the label their sum): test error on the sum",
            (*(f"two_stn_{k}_err" for k in ("stn", "cnn", "halves")), "paper_two_stn_err", "paper_two_stn_cnn_err"),
            _two_transformers,
        ),
        Row(
            "MNIST addition: each region's centre to its digit's (median)",
            ("two_stn_left_centre_px", "two_stn_right_centre_px"),
            lambda left, right: (f"left start {left:.1f} px, right start {right:.1f} px", "a digit's box is 20-34 px"),
        ),
    ],
}


# ----------------------------------------------------------------------------- rendering the results tables
def caption(stem: str, entry: Mapping) -> str:
    """The one line that says which run a notebook's results come from: profile, data (short form), seed, date."""
    seed = f" · seed {entry['seed']}" if "seed" in entry else ""
    return (
        f"*{entry['profile'].capitalize()} profile · {short_provenance(entry['data'])}{seed} · "
        f"run {str(entry['finished'])[:10]} · [executed report](reports/{stem}.ipynb)*"
    )


def render_notebook_results(stem: str, entry: Mapping | None) -> str:
    """One notebook's section: heading, caption, figure, and its :data:`RESULT_ROWS` table."""
    if stem not in RESULT_ROWS:
        raise ValueError(f"notebooks/{stem}.ipynb has no results rows in tools.results.RESULT_ROWS")
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
        lines += [
            "",
            f"_Rows left out: `reports/metrics.json` has no {keys} for this notebook "
            f"(rerun `make execute NOTEBOOKS=notebooks/{stem}.ipynb`)._",
        ]
    return "\n".join(lines)


def render_student_results(metrics: Mapping) -> str:
    """The README's results: one section per notebook (:func:`render_notebook_results`)."""
    return "\n\n".join(render_notebook_results(stem, metrics.get(stem)) for stem in notebook_stems())
