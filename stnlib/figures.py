"""Static figures. Images are ``(C, H, W)`` or ``(1, C, H, W)``; ``mean``/``std`` undo ``Normalize``. Pixel
centres are at integers, so the image border is at ``-0.5`` and ``W - 0.5`` (normalized -1 and +1)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, MaxNLocator
from torch import Tensor

from . import affine
from .checks import check_tensor
from .recovery import fit_line

OUTLINE_STYLE = dict(color="#ff7f0e", linewidth=2.0)  #: the sampled region's outline on input images
#: Tick labels as plain numbers, without an offset or a power of ten: ``0.997``, ``-0.004``, ``2``, ``50``.
PLAIN_NUMBERS = FuncFormatter(lambda v, _pos: f"{round(v, 10) + 0.0:.4g}")
_PANEL_TITLES = {
    "zoom": "zoom (>1 = zoom in)",
    "rotation": "rotation (deg, counterclockwise)",
    "tx": "shift right tx",
    "ty": "shift down ty",
}


def to_numpy_image(image: Tensor, mean: Sequence[float] | None = None, std: Sequence[float] | None = None):
    """``(C, H, W)`` or ``(1, C, H, W)`` -> ``(H, W)`` or ``(H, W, 3)`` in ``[0, 1]``; ``x * std + mean`` first."""
    x = image.detach().float().cpu()
    x = x[0] if x.dim() == 4 and x.shape[0] == 1 else x
    if x.dim() != 3:
        raise ValueError(f"expected one image (C, H, W) or (1, C, H, W), got {tuple(image.shape)}")
    m = torch.as_tensor(0.0 if mean is None else mean, dtype=x.dtype).reshape(-1, 1, 1)
    s = torch.as_tensor(1.0 if std is None else std, dtype=x.dtype).reshape(-1, 1, 1)
    if m.numel() not in (1, x.shape[0]) or s.numel() not in (1, x.shape[0]):
        raise ValueError(f"mean/std need 1 or {x.shape[0]} values, got {m.numel()} and {s.numel()}")
    x = (x * s + m).clamp(0, 1)
    return x[0].numpy() if x.shape[0] == 1 else x.permute(1, 2, 0).numpy()


def imshow(ax: plt.Axes, image: Tensor, title: str | None = None, *, mean=None, std=None) -> None:
    """Show one image without ticks (grayscale for one channel, black = 0)."""
    arr = to_numpy_image(image, mean, std)
    ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set(xticks=[], yticks=[])
    if title:
        ax.set_title(title, fontsize=9)


def draw_sampling_outline(ax: plt.Axes, theta: Tensor, size: tuple[int, int], **style: object) -> None:
    """Outline the region ``theta`` ``(1, 2, 3)`` samples on an input of ``size=(H, W)`` shown in ``ax``
    (:func:`draw_outline`, ``style`` overriding :data:`OUTLINE_STYLE`); limits grow to hold it (:func:`frame_image`)."""
    h, w = size
    pts = affine.sampling_outline(theta.detach().float().cpu()[:1])[0]
    xs, ys = affine.normalized_to_pixels(pts[:, 0], w).numpy(), affine.normalized_to_pixels(pts[:, 1], h).numpy()
    draw_outline(ax, xs, ys, **style)
    frame_image(ax, size, xs, ys)


def draw_outline(ax: plt.Axes, xs: Sequence[float], ys: Sequence[float], **style: object) -> None:
    """A sampled region's outline through pixel points from the output's top-left corner, clockwise, closed
    (``ax.lines``: the outline; its top edge, thicker; a dot on its top-left corner)."""
    kw = {**OUTLINE_STYLE, **style}
    ax.plot(xs, ys, **kw)
    ax.plot(xs[:2], ys[:2], **{**kw, "linewidth": float(kw.get("linewidth", 2.0)) * 2.2})
    ax.plot(xs[:1], ys[:1], "o", markersize=6, color="#17becf", markeredgecolor="black", markeredgewidth=0.7)


def frame_image(ax: plt.Axes, size: tuple[int, int], xs: Sequence[float] = (), ys: Sequence[float] = ()) -> None:
    """:func:`fit_limits`, then hatch what lies outside the image and draw its border."""
    x0, x1, y0, y1 = fit_limits(ax, size, xs, ys)
    outside = dict(facecolor="#e6e6e6", edgecolor="#a6a6a6", hatch="////", linewidth=0.0)
    ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, zorder=-1, **outside))  # under the image (zorder 0)
    ax.add_patch(Rectangle((-0.5, -0.5), size[1], size[0], fill=False, edgecolor="0.45", linewidth=0.8))


def fit_limits(ax: plt.Axes, size: tuple[int, int], xs: Sequence[float] = (), ys: Sequence[float] = ()) -> tuple:
    """Limit ``ax`` to the image ``size=(H, W)`` and points ``xs, ys``, plus a 10% margin; ``(l, r, t, b)``."""
    h, w = size
    x0, x1 = float(min([-0.5, *xs])) - 0.1 * w, float(max([w - 0.5, *xs])) + 0.1 * w
    y0, y1 = float(min([-0.5, *ys])) - 0.1 * h, float(max([h - 0.5, *ys])) + 0.1 * h
    ax.set_xlim(x0, x1)
    ax.set_ylim(y1, y0)
    return x0, x1, y0, y1


def format_entry(value: float, decimals: int = 3) -> str:
    """One theta entry: signed, rounded first, so it never reads ``-0.000`` (``-0.0001`` -> ``+0.000``)."""
    return f"{round(value, decimals) + 0.0:+.{decimals}f}"


def theta_text(theta: Tensor, decimals: int = 2) -> str:
    """``(1, 2, 3)`` or ``(2, 3)`` theta as a two-line matrix string of :func:`format_entry` values.

    >>> print(theta_text(affine.build_theta(rotation=90)))
    [+0.00  -1.00  +0.00]
    [+1.00  +0.00  +0.00]
    """
    t = theta.detach().cpu().reshape(2, 3).tolist()
    return "\n".join("[" + "  ".join(format_entry(v, decimals) for v in row) + "]" for row in t)


def show_before_after(
    images: Tensor,
    thetas: Tensor,
    outputs: Tensor,
    titles: Sequence[str] | None = None,
    *,
    mean=None,
    std=None,
    show_theta: bool = True,
) -> plt.Figure:
    """Inputs ``(B, C, H, W)`` with the region each ``thetas`` ``(B, 2, 3)`` samples, over ``outputs``."""
    b = images.shape[0]
    fig, axes = plt.subplots(2, b, figsize=(1.9 * b, 4.3 if show_theta else 3.9), squeeze=False)
    for i in range(b):
        imshow(axes[0, i], images[i], titles[i] if titles else None, mean=mean, std=std)
        draw_sampling_outline(axes[0, i], thetas[i : i + 1], tuple(images.shape[-2:]))
        imshow(axes[1, i], outputs[i], mean=mean, std=std)
        if show_theta:
            axes[1, i].set_xlabel(theta_text(thetas[i]), fontsize=7, family="monospace")
    axes[0, 0].set_ylabel("input +\nsampled region", fontsize=9)
    axes[1, 0].set_ylabel("output", fontsize=9)
    return _finish(fig)


def show_two_regions(images: Tensor, thetas: Tensor, views: Tensor, titles: Sequence[str], *, mean=None, std=None):
    """Canvases ``(B, C, H, W)`` with the two regions ``thetas`` ``(B, 2, 2, 3)`` sample (orange: the first
    transformer, green: the second), over the two views ``(B, 2, C, h, w)`` side by side."""
    b = images.shape[0]
    fig, axes = plt.subplots(2, b, figsize=(2.6 * b, 3.2), squeeze=False)
    for i in range(b):
        imshow(axes[0, i], images[i], titles[i], mean=mean, std=std)
        for k, colour in enumerate(("#ff7f0e", "#2ca02c")):
            draw_sampling_outline(axes[0, i], thetas[i, k : k + 1], tuple(images.shape[-2:]), color=colour)
        imshow(axes[1, i], torch.cat(list(views[i]), -1), mean=mean, std=std)
    axes[0, 0].set_ylabel("canvas +\nregions", fontsize=9)
    axes[1, 0].set_ylabel("views", fontsize=9)
    return _finish(fig)


def image_row(
    images: Sequence[Tensor],
    titles: Sequence[str] | None = None,
    *,
    mean=None,
    std=None,
    size: float = 2.2,
    suptitle: str | None = None,
) -> plt.Figure:
    """One row of images (each ``(C, H, W)`` or ``(1, C, H, W)``), ``size`` inches each."""
    fig, axes = plt.subplots(1, len(images), figsize=(size * len(images), size + 0.4), squeeze=False)
    for i, (ax, img) in enumerate(zip(axes[0], images)):
        imshow(ax, img, titles[i] if titles else None, mean=mean, std=std)
    return _finish(fig, suptitle)


def show_normalized_coordinates(image: Tensor) -> plt.Figure:
    """An image on its normalized frame: x in [-1, 1] to the right, y in [-1, 1] down."""
    fig, ax = plt.subplots(figsize=(3.6, 3.6))
    arr = to_numpy_image(image)
    ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=1, extent=(-1, 1, 1, -1))
    ticks = [-1, -0.5, 0, 0.5, 1]
    ax.set(xticks=ticks, yticks=ticks, xlabel="x (normalized)", ylabel="y (normalized, pointing down)")
    ax.axhline(0, color="#ff7f0e", lw=0.8)
    ax.axvline(0, color="#ff7f0e", lw=0.8)
    for tip, label, at in (((0.9, 0), "x", (0.92, -0.06)), ((0, 0.9), "y", (0.05, 0.95))):
        ax.annotate("", xy=tip, xytext=(0, 0), arrowprops=dict(arrowstyle="->", color="#ff7f0e", lw=2))
        ax.text(*at, label, color="#ff7f0e", fontsize=12)
    return _finish(fig)


def show_sampling_grid(grid: Tensor, title: str = "") -> plt.Figure:
    """The two channels of an ``affine_grid`` ``(1, H, W, 2)``: the input x and y each output pixel reads."""
    check_tensor(grid, "grid", shape=(1, "H", "W", 2))
    fig, axes = plt.subplots(1, 2, figsize=(7.2, 3.2))
    for c, (ax, name) in enumerate(zip(axes, ("x: where to read, horizontally", "y: where to read, vertically"))):
        im = ax.imshow(grid[0, :, :, c].detach().cpu().numpy(), cmap="coolwarm", vmin=-1.5, vmax=1.5)
        ax.set_title(name, fontsize=9)
        ax.set(xlabel="output column", ylabel="output row")
        fig.colorbar(im, ax=ax, fraction=0.046)
    return _finish(fig, title)


def figure_to_png(fig: plt.Figure, dpi: int = 80) -> bytes:
    """Render a figure to PNG bytes (and close it if pyplot manages it)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    if fig.canvas.manager is not None:
        plt.close(fig)
    return buf.getvalue()


def figure_to_rgb(fig: plt.Figure) -> np.ndarray:
    """Render ``fig`` at its size and dpi into an ``(H, W, 3)`` uint8 array, in memory (works without pyplot)."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def _finish(fig: plt.Figure, title: str | None = None) -> plt.Figure:
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_histories(histories: dict, *, title: str = "") -> plt.Figure:
    """Test accuracy against epoch and against training seconds, one line per :class:`~stnlib.train.History`."""
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(9, 3.4))
    for name, h in histories.items():
        a0.plot([e.epoch for e in h.epochs], [e.test_acc for e in h.epochs], marker="o", label=name)
        if h.evals:
            a1.plot([p.elapsed for p in h.evals], [p.test_acc for p in h.evals], marker=".", label=name)
    for ax, xlabel in ((a0, "epoch"), (a1, "training seconds")):
        ax.set(xlabel=xlabel, ylabel="test accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _finish(fig, title)


def _theta_panels(decomposed: dict[str, Tensor]) -> dict[str, Tensor]:
    return {"zoom": affine.zoom(decomposed), **{k: decomposed[k] for k in ("rotation", "tx", "ty")}}


def theta_histograms(decomposed: dict[str, Tensor], *, title: str = "") -> plt.Figure:
    """Histograms of zoom, rotation, tx, ty (:func:`stnlib.affine.decompose` output), dashed at the median."""
    fig, axes = plt.subplots(1, 4, figsize=(12, 2.8))
    for ax, (key, values) in zip(axes, _theta_panels(decomposed).items()):
        v = values.detach().cpu().double().numpy()
        lo, hi = float(v.min()), float(v.max())
        # matplotlib cannot cut a float32-sized range into 40 bins: give a constant theta a visible window
        ax.hist(v, bins=40, range=(lo - 5e-3, hi + 5e-3) if hi - lo < 1e-3 else None, color="#ff7f0e")
        ax.set_title(_PANEL_TITLES[key], fontsize=9)
        ax.axvline(float(values.median()), color="k", lw=1, ls="--")
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))  # few ticks, so labels like -0.004 never touch
        ax.xaxis.set_major_formatter(PLAIN_NUMBERS)
        ax.tick_params(axis="x", labelsize=8, labelrotation=30)
    return _finish(fig, title)


def theta_trajectories(
    snapshots: Sequence,
    *,
    labels: Sequence[str] | None = None,
    targets: dict[str, Sequence[float]] | None = None,
    title: str = "",
) -> plt.Figure:
    """Zoom, rotation, tx, ty of the first four images against the step over :class:`stnlib.gifs.Snapshot` s;
    ``targets``: panel key -> one ideal value per image (dashed); dotted lines mark end-of-epoch snapshots."""
    if not snapshots:
        raise ValueError("theta_trajectories needs at least one snapshot, got none")
    thetas = torch.stack([s.theta for s in snapshots]).detach().float().cpu()[:, :4]  # (S, <=4, 2, 3)
    if labels is not None and len(labels) != thetas.shape[1]:
        raise ValueError(f"labels needs one entry per image ({thetas.shape[1]}), got {len(labels)}")
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.0))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    steps = [s.step for s in snapshots]
    for i in range(thetas.shape[1]):
        colour = colours[i % len(colours)]
        label = labels[i] if labels is not None else f"example {i}"
        for ax, (key, values) in zip(axes, _theta_panels(affine.decompose(thetas[:, i])).items()):
            ax.plot(steps, values.numpy(), marker=".", ms=4, lw=1.2, color=colour, label=label)
            if targets is not None and key in targets:
                ax.axhline(float(targets[key][i]), color=colour, lw=1, ls="--", alpha=0.8)
    for ax, name in zip(axes, _PANEL_TITLES.values()):
        for step in [s.step for s in snapshots if s.test_acc is not None]:
            ax.axvline(step, color="#999999", lw=0.8, ls=":")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    return _finish(fig, title)


def compare_bars(
    ax: plt.Axes,
    measured: dict[str, float],
    *,
    reported: dict[str, float] | None = None,
    errors: dict[str, float] | None = None,
    title: str = "",
    ylabel: str = "test accuracy (%)",
    labels: tuple[str, str] = ("measured here", "reported"),
    legend: bool = True,
) -> None:
    """Bars of ``measured`` values (optional ``errors`` bars), each beside its ``reported`` value if any;
    ``labels``: the two series' legend entries (``legend=False``: none on this axis, e.g. one for the figure)."""
    reported = reported or {}
    names, xs = list(measured), range(len(measured))
    width, shift = (0.38, 0.19) if reported else (0.6, 0.0)
    heights = [measured[n] for n in names]
    yerr = [errors.get(n, 0.0) for n in names] if errors else None
    bars = ax.bar([x - shift for x in xs], heights, width, yerr=yerr, capsize=3, color="#ff7f0e", label=labels[0])
    ax.bar_label(bars, fmt="%.1f", fontsize=8, padding=2)  # above the error bar's cap where there is one
    if reported:
        rx = [x + shift for x, n in zip(xs, names) if n in reported]
        rb = ax.bar(rx, [reported[n] for n in names if n in reported], width, color="#bbbbbb", label=labels[1])
        ax.bar_label(rb, fmt="%.1f", fontsize=8, padding=2)
        if legend:
            ax.legend(fontsize=8, loc="upper left", ncol=2)
    tops = [v + (yerr[i] if yerr else 0.0) for i, v in enumerate(heights)]
    ax.set_ylim(0, max([*tops, *reported.values()]) * 1.22)  # room for the labels and the legend
    ax.set_xticks(list(xs), names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)


def recovery_scatter(components: dict[str, tuple[Tensor, Tensor]], units: dict[str, str], *, title: str = ""):
    """Recovered against applied per :func:`stnlib.recovery.rts_components` entry (3,000 points), perfect undo
    dashed (slope -1 through the means), the least-squares fit in the title."""
    fig, axes = plt.subplots(1, len(components), figsize=(3.1 * len(components), 3.1))
    for ax, (name, (applied, recovered)) in zip(np.atleast_1d(axes), components.items()):
        fit = fit_line(applied, recovered)
        a, r = applied[:3000].double().numpy(), recovered[:3000].double().numpy()
        ax.scatter(a, r, s=2, alpha=0.3, color="#1f77b4")
        xs = np.array([a.min(), a.max()])
        centre_a, centre_r = float(applied.double().mean()), float(recovered.double().mean())
        ax.plot(xs, centre_r - (xs - centre_a), "k--", lw=1, label="perfect undo (slope -1)")
        ax.plot(xs, fit.slope * xs + fit.intercept, color="#ff7f0e", lw=2, label="fit")
        ax.set_title(f"{name}: {fit}", fontsize=9)
        ax.set_xlabel(f"applied ({units[name]})", fontsize=8)
        ax.set_ylabel(f"transformer applies ({units[name]})", fontsize=8)
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].legend(fontsize=7)
    return _finish(fig, title)


def attention_summary(
    measures: dict[str, Tensor], digit_centre: Tensor, *, canvas: int, title: str = "", thing: str = "digit"
) -> plt.Figure:
    """Region x against object x, centre error, width / object box (:func:`stnlib.recovery.attention_components`
    output); ``digit_centre``: ``(N, 2)`` px; ``thing`` names the object."""
    fig, (a0, a1, a2) = plt.subplots(1, 3, figsize=(10.5, 3.1))
    a0.scatter(digit_centre[:, 0].numpy(), (measures["tx"] * canvas / 2).numpy(), s=2, alpha=0.3)
    lim = canvas / 2
    a0.plot([-lim, lim], [-lim, lim], "k--", lw=1, label=f"region centred on the {thing}")
    a0.plot([-lim, lim], [0, 0], color="#7f7f7f", lw=1, label="region never moves")
    a0.set_xlabel(f"{thing} centre x (px from canvas centre)", fontsize=8)
    a0.set_ylabel("region centre x (px)", fontsize=8)
    a0.legend(fontsize=7)
    err, ratio = measures["centre_error_px"], measures["width_ratio"]
    a1.hist(err.numpy(), bins=40, range=(0, max(10.0, float(err.quantile(0.99)))), color="#ff7f0e")
    a2.hist(ratio.numpy(), bins=40, color="#2ca02c")
    for ax, v, text in ((a1, err, "centre error (px)"), (a2, ratio, f"region width / {thing} box width")):
        ax.axvline(float(v.median()), color="k", ls="--", lw=1)
        ax.set_xlabel(text, fontsize=8)
    a1.set_title(f"median {float(err.median()):.1f} px", fontsize=9)
    a2.set_title(f"median {float(ratio.median()):.2f}", fontsize=9)
    for ax in (a0, a1, a2):
        ax.grid(alpha=0.3)
    return _finish(fig, title)
