"""Figures for the notebooks: images, the sampled region's outline, theta as text, learning GIFs.

Images are torch tensors ``(C, H, W)`` or ``(1, C, H, W)``; pass ``mean``/``std``
(per channel) to undo ``Normalize`` before display. Pixel positions follow
matplotlib's ``imshow``: pixel centres at integers, the border at ``-0.5`` and
``W - 0.5``, which is exactly where normalized ``-1``/``+1`` land with
``align_corners=False`` (see :func:`stnlib.affine.normalized_to_pixels`).

GIFs (notebook 4): :func:`snapshot_frame` renders one :class:`~stnlib.train.Snapshot` as
an RGB frame ``(H, W, 3)`` uint8, in memory, with a plain matplotlib ``Figure`` (no
pyplot, no temporary files); :func:`write_gif` writes frames as an animated GIF
(durations in **milliseconds**) atomically; :func:`learning_gif` does both for all
snapshots of a run; :func:`gif_info` reads a GIF's frame count, size and durations back.

Result charts (notebook 3): :func:`compare_bars` (measured vs reported accuracy, with error
bars) and :func:`per_class_bars` (per-class accuracy of several models).
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import Tensor

from . import affine
from .io import atomic_write_bytes
from .recovery import fit_line

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

    from .gifs import Snapshot

__all__ = [
    "GIF_MAX_MS",
    "GIF_MIN_MS",
    "CORNER_STYLE",
    "FRAME_PAD",
    "OUTLINE_STYLE",
    "OUTSIDE_STYLE",
    "GifInfo",
    "attention_summary",
    "compare_bars",
    "denormalize",
    "draw_sampling_outline",
    "figure_to_png",
    "figure_to_rgb",
    "gif_info",
    "image_row",
    "imshow",
    "learning_gif",
    "per_class_bars",
    "plot_histories",
    "recovery_scatter",
    "show_normalized_coordinates",
    "show_sampling_grid",
    "show_before_after",
    "snapshot_caption",
    "snapshot_frame",
    "theta_histograms",
    "theta_text",
    "theta_trajectories",
    "to_numpy_image",
    "top_k_bars",
    "write_gif",
]

#: How the sampled region is drawn on input images.
OUTLINE_STYLE = dict(color="#ff7f0e", linewidth=2.0)
#: The dot on the output's top-left corner, in a second colour: a mirror differs from the identity.
CORNER_STYLE = dict(marker="o", markersize=6, linestyle="none", color="#17becf", markeredgecolor="black",
                    markeredgewidth=0.7)  # fmt: skip
#: The canvas around an input image, where the sampled region reads padding (nothing).
OUTSIDE_STYLE = dict(facecolor="#e6e6e6", edgecolor="#a6a6a6", hatch="////", linewidth=0.0)
#: Margin around a drawn canvas (image and sampled region), as a fraction of the image size:
#: outlines on the image border (the identity) stay visible.
FRAME_PAD = 0.1


def denormalize(images: Tensor, mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> Tensor:
    """Undo ``Normalize(mean, std)`` on ``(C, H, W)`` or ``(B, C, H, W)``: ``x * std + mean``."""
    if mean is None and std is None:
        return images
    c = images.shape[-3]
    m = torch.as_tensor(mean if mean is not None else [0.0] * c, dtype=images.dtype).reshape(-1, 1, 1)
    s = torch.as_tensor(std if std is not None else [1.0] * c, dtype=images.dtype).reshape(-1, 1, 1)
    if m.numel() not in (1, c) or s.numel() not in (1, c):
        raise ValueError(f"mean/std need 1 or {c} values, got {m.numel()} and {s.numel()}")
    return images * s.to(images.device) + m.to(images.device)


def to_numpy_image(
    image: Tensor, mean: Sequence[float] | None = None, std: Sequence[float] | None = None
) -> np.ndarray:
    """``(C, H, W)`` or ``(1, C, H, W)`` tensor -> ``(H, W)`` or ``(H, W, 3)`` array in ``[0, 1]``."""
    if image.dim() == 4:
        if image.shape[0] != 1:
            raise ValueError(f"expected one image, got a batch of {image.shape[0]}")
        image = image[0]
    if image.dim() != 3:
        raise ValueError(f"expected an image of shape (C, H, W), got {tuple(image.shape)}")
    x = denormalize(image.detach().float().cpu(), mean, std).clamp(0, 1)
    return x[0].numpy() if x.shape[0] == 1 else x.permute(1, 2, 0).numpy()


def imshow(
    ax: Axes,
    image: Tensor,
    title: str | None = None,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> Axes:
    """Show one image without ticks (grayscale for one channel, black = 0)."""
    arr = to_numpy_image(image, mean, std)
    ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def draw_sampling_outline(
    ax: Axes, theta: Tensor, size: tuple[int, int], *, align_corners: bool = False, **style: object
) -> None:
    """Draw the region that ``theta`` ``(1, 2, 3)`` samples on an input image of ``size=(H, W)`` shown in ``ax``.

    ``ax.lines`` gets, in pixel positions (:func:`stnlib.affine.sampling_outline`): the closed
    outline (output top-left, top-right, bottom-right, bottom-left, top-left), its first edge
    (the output's top row) drawn thicker, and a dot on the output's top-left corner
    (:data:`CORNER_STYLE`), so rotations and flips are visible. ``style`` overrides
    :data:`OUTLINE_STYLE`. The axes limits grow to hold the whole region (never less than the
    image, plus :data:`FRAME_PAD`); the canvas outside the image is hatched (:data:`OUTSIDE_STYLE`:
    output pixels there read padding) and a thin grey line marks the image border.
    """
    h, w = size
    pts = affine.sampling_outline(theta.detach().float().cpu()[:1])[0]
    xs = affine.normalized_to_pixels(pts[:, 0], w, align_corners=align_corners).numpy()
    ys = affine.normalized_to_pixels(pts[:, 1], h, align_corners=align_corners).numpy()
    kw = {**OUTLINE_STYLE, **style}
    ax.plot(xs, ys, **kw)
    ax.plot(xs[:2], ys[:2], **{**kw, "linewidth": float(kw.get("linewidth", 2.0)) * 2.2})  # type: ignore[arg-type]
    ax.plot(xs[:1], ys[:1], **CORNER_STYLE)  # type: ignore[arg-type]
    x0, x1, y0, y1 = _fit_limits(ax, size, xs, ys)
    ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, zorder=-1, **OUTSIDE_STYLE))  # under the image (zorder 0)
    ax.add_patch(Rectangle((-0.5, -0.5), w, h, fill=False, edgecolor="0.45", linewidth=0.8))


def _fit_limits(
    ax: Axes, size: tuple[int, int], xs: Sequence[float] = (), ys: Sequence[float] = ()
) -> tuple[float, float, float, float]:
    """Limit ``ax`` to the image ``size=(H, W)`` (edges at ``-0.5``, ``W - 0.5``) and the points ``xs, ys``.

    Adds a margin of :data:`FRAME_PAD` times the image size on each side; y points down.
    Returns the limits ``(left, right, top, bottom)``.
    """
    h, w = size
    x0, x1 = float(min([-0.5, *xs])) - FRAME_PAD * w, float(max([w - 0.5, *xs])) + FRAME_PAD * w
    y0, y1 = float(min([-0.5, *ys])) - FRAME_PAD * h, float(max([h - 0.5, *ys])) + FRAME_PAD * h
    ax.set_xlim(x0, x1)
    ax.set_ylim(y1, y0)
    return x0, x1, y0, y1


def theta_text(theta: Tensor, decimals: int = 2) -> str:
    """``(1, 2, 3)`` or ``(2, 3)`` theta as a two-line matrix string."""
    t = theta.detach().cpu().reshape(2, 3).tolist()
    # round first, then add 0.0, so that -4e-8 prints as +0.00 rather than -0.00
    return "\n".join("[" + "  ".join(f"{round(v, decimals) + 0.0:+.{decimals}f}" for v in row) + "]" for row in t)


def show_before_after(
    images: Tensor,
    thetas: Tensor,
    outputs: Tensor,
    titles: Sequence[str] | None = None,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    show_theta: bool = True,
) -> Figure:
    """Two rows: inputs with the sampled region outlined, and the warped outputs.

    ``images``: ``(B, C, H, W)``; ``thetas``: ``(B, 2, 3)``; ``outputs``: ``(B, C, H', W')``.
    """
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
    fig.tight_layout()
    return fig


def image_row(
    images: Sequence[Tensor],
    titles: Sequence[str] | None = None,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    size: float = 2.2,
    suptitle: str | None = None,
) -> Figure:
    """One row of images (each ``(C, H, W)`` or ``(1, C, H, W)``) with optional titles."""
    fig, axes = plt.subplots(1, len(images), figsize=(size * len(images), size + 0.4), squeeze=False)
    for i, (ax, img) in enumerate(zip(axes[0], images)):
        imshow(ax, img, titles[i] if titles else None, mean=mean, std=std)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def show_normalized_coordinates(image: Tensor) -> Figure:
    """An image drawn on its normalized coordinate frame: x in [-1, 1] to the right, y in [-1, 1] down."""
    fig, ax = plt.subplots(figsize=(3.6, 3.6))
    arr = to_numpy_image(image)
    ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=1, extent=(-1, 1, 1, -1))
    ax.set_xticks([-1, -0.5, 0, 0.5, 1])
    ax.set_yticks([-1, -0.5, 0, 0.5, 1])
    ax.axhline(0, color="#ff7f0e", lw=0.8)
    ax.axvline(0, color="#ff7f0e", lw=0.8)
    ax.annotate("", xy=(0.9, 0), xytext=(0, 0), arrowprops=dict(arrowstyle="->", color="#ff7f0e", lw=2))
    ax.annotate("", xy=(0, 0.9), xytext=(0, 0), arrowprops=dict(arrowstyle="->", color="#ff7f0e", lw=2))
    ax.text(0.92, -0.06, "x", color="#ff7f0e", fontsize=12)
    ax.text(0.05, 0.95, "y", color="#ff7f0e", fontsize=12)
    ax.set_xlabel("x (normalized)")
    ax.set_ylabel("y (normalized, pointing down)")
    fig.tight_layout()
    return fig


def show_sampling_grid(grid: Tensor, title: str = "") -> Figure:
    """The two channels of an ``affine_grid`` output ``(1, H, W, 2)`` as images with colour bars.

    Each output pixel's value is the input coordinate it will read: channel 0 is x, channel 1 is y.
    """
    if grid.dim() != 4 or grid.shape[0] != 1 or grid.shape[-1] != 2:
        raise ValueError(f"grid must have shape (1, H, W, 2), got {tuple(grid.shape)}")
    fig, axes = plt.subplots(1, 2, figsize=(7.2, 3.2))
    for c, (ax, name) in enumerate(zip(axes, ("x: where to read, horizontally", "y: where to read, vertically"))):
        im = ax.imshow(grid[0, :, :, c].detach().cpu().numpy(), cmap="coolwarm", vmin=-1.5, vmax=1.5)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("output column")
        ax.set_ylabel("output row")
        fig.colorbar(im, ax=ax, fraction=0.046)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def figure_to_png(fig: Figure, dpi: int = 80) -> bytes:
    """Render a figure to PNG bytes (and close it if pyplot manages it)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    if fig.canvas.manager is not None:
        plt.close(fig)
    return buf.getvalue()


def plot_histories(histories: dict, *, title: str = "", error: bool = True) -> Figure:
    """Test error (or accuracy) against training time and epoch for several :class:`~stnlib.train.History`."""
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(9, 3.4))
    for name, h in histories.items():
        xs = [e.epoch for e in h.epochs]
        ys = [100 - e.test_acc if error else e.test_acc for e in h.epochs]
        a0.plot(xs, ys, marker="o", label=name)
        if h.evals:
            a1.plot([p.elapsed for p in h.evals], [100 - p.test_acc if error else p.test_acc for p in h.evals],
                    marker=".", label=name)  # fmt: skip
    ylabel = "test error (%)" if error else "test accuracy (%)"
    a0.set_xlabel("epoch")
    a1.set_xlabel("training seconds")
    for ax in (a0, a1):
        ax.set_ylabel(ylabel)
        if error:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


#: Panel titles of the four readable parts of a theta, in plotting order.
_THETA_TITLES = {
    "zoom": "zoom (>1 = zoom in)",
    "rotation": "rotation (deg, counterclockwise)",
    "tx": "shift right tx",
    "ty": "shift down ty",
}


def _theta_panels(decomposed: dict[str, Tensor]) -> dict[str, Tensor]:
    """The values behind :data:`_THETA_TITLES`, from :func:`stnlib.affine.decompose` output."""
    return {"zoom": affine.zoom(decomposed), **{k: decomposed[k] for k in ("rotation", "tx", "ty")}}


def theta_histograms(decomposed: dict[str, Tensor], *, title: str = "") -> Figure:
    """Histograms of decomposed thetas (:func:`stnlib.affine.decompose` output) over a test set.

    Zoom is :func:`stnlib.affine.zoom` (> 1: the STN zooms in). A panel
    whose values all lie within 1e-3 (a constant theta) is drawn over a window of +-0.005.
    """
    fig, axes = plt.subplots(1, 4, figsize=(12, 2.8))
    for ax, (key, values) in zip(axes, _theta_panels(decomposed).items()):
        v = values.detach().cpu().double().numpy()
        lo, hi = float(v.min()), float(v.max())
        # a (nearly) constant theta, e.g. an untrained STN or one that collapsed to a fixed warp:
        # matplotlib cannot cut a float32-sized range into 40 bins, so give it a visible window
        span = (lo - 5e-3, hi + 5e-3) if hi - lo < 1e-3 else None
        ax.hist(v, bins=40, range=span, color="#ff7f0e")
        ax.set_title(_THETA_TITLES[key], fontsize=9)
        ax.axvline(float(values.median()), color="k", lw=1, ls="--")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def top_k_bars(ax: Axes, probs: Tensor, classes: Sequence[str], *, k: int = 3, title: str = "") -> None:
    """Horizontal bars of the ``k`` most probable classes of one probability vector ``(classes,)``."""
    p, idx = probs.detach().cpu().topk(k)
    ax.barh([str(classes[i]) for i in idx.tolist()][::-1], p.tolist()[::-1], color="#1f77b4")
    ax.set_xlim(0, 1)
    ax.tick_params(labelsize=8)
    if title:
        ax.set_title(title, fontsize=9)


# ---------------------------------------------------------------- learning GIFs
#: Shortest frame duration :func:`write_gif` accepts (ms): browsers show shorter GIF delays as 100 ms.
GIF_MIN_MS = 20
#: Longest frame duration (ms): a GIF stores delays as 16-bit centiseconds.
GIF_MAX_MS = 655_350


def figure_to_rgb(fig: Figure) -> np.ndarray:
    """Render ``fig`` at its own size and dpi into an ``(H, W, 3)`` uint8 RGB array, in memory.

    ``H, W = round(height_in * dpi), round(width_in * dpi)``. A plain ``Figure`` (no pyplot)
    gets an Agg canvas; nothing is written to disk and nothing is displayed.
    """
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def snapshot_caption(snapshot: Snapshot) -> str:
    """The header of a GIF frame: ``"before training"`` or ``"epoch E · step S"`` (``" · test acc X%"`` at epoch ends).

    Test accuracy is printed with one decimal; only end-of-epoch snapshots carry one.
    """
    if snapshot.step == 0:
        return "before training"
    text = f"epoch {snapshot.epoch} · step {snapshot.step:,}"
    if snapshot.test_acc is not None:
        text += f" · test acc {snapshot.test_acc:.1f}%"
    return text


def _check_snapshot(snapshot: Snapshot, images: Tensor) -> None:
    if not isinstance(images, Tensor) or images.dim() != 4:
        raise ValueError(f"images must be a tensor (B, C, H, W), got {getattr(images, 'shape', images)!r}")
    b = images.shape[0]
    theta, out = snapshot.theta, snapshot.output
    if theta.dim() != 3 or tuple(theta.shape) != (b, 2, 3):
        raise ValueError(f"snapshot.theta must have shape ({b}, 2, 3) for {b} images, got {tuple(theta.shape)}")
    if out.dim() != 4 or out.shape[0] != b or out.shape[1] != images.shape[1]:
        raise ValueError(
            f"snapshot.output must have shape ({b}, {images.shape[1]}, H', W') for images {tuple(images.shape)}, "
            f"got {tuple(out.shape)}"
        )


def snapshot_frame(
    snapshot: Snapshot,
    images: Tensor,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    titles: Sequence[str] | None = None,
    n: int = 8,
    heading: str | None = None,
    total_steps: int | None = None,
    width_px: int = 720,
    dpi: int = 100,
) -> np.ndarray:
    """One GIF frame for a :class:`~stnlib.train.Snapshot`: an ``(H, W, 3)`` uint8 RGB array.

    Layout (fixed for given ``n``, ``titles``, ``total_steps``, ``width_px``, so every frame
    of a run has the same size and nothing jitters): a header ``"<heading> · epoch E · step S
    · test acc X%"`` (:func:`snapshot_caption`); a top row with the first ``n`` ``images``
    ``(B, C, H, W)`` (the fixed batch the snapshot was taken on, normalized as the model saw
    it; ``mean``/``std`` undo that) and the region the transformer samples outlined
    (:func:`draw_sampling_outline`: the thick edge is the output's top, the dot its top-left
    corner; each input panel's limits grow to hold the whole region, hatched outside the image,
    inside the panel's fixed box); a bottom row with ``snapshot.output`` ``(B, C, H', W')``,
    what the classifier sees (with a white margin of :data:`FRAME_PAD`); with ``total_steps``, a
    progress bar ``step / total_steps`` at the bottom. ``titles``: one per image (e.g. labels).

    The frame is ``width_px`` wide (720 by default; legible at that size) and rendered with a
    plain matplotlib ``Figure`` in memory (:func:`figure_to_rgb`): no pyplot, no files.
    """
    _check_snapshot(snapshot, images)
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    n = min(n, images.shape[0])
    if titles is not None and len(titles) < n:
        raise ValueError(f"titles needs at least {n} entries (one per image shown), got {len(titles)}")
    if total_steps is not None and total_steps < 1:
        raise ValueError(f"total_steps must be a positive integer or None, got {total_steps}")
    # sizes in inches, top to bottom
    width = width_px / dpi
    margin, gap = 0.1, 0.08
    panel = (width - 2 * margin - (n - 1) * gap) / n
    header, label, title = 0.4, 0.24, 0.2 if titles is not None else 0.0
    bottom = 0.34 if total_steps is not None else 0.08
    rows = [header + label + title, header + label + title + panel + label]  # top edge of each image row
    height = round((rows[1] + panel + bottom) * dpi) / dpi
    fig = Figure(figsize=(width, height), dpi=dpi, facecolor="white")

    def box(left: float, top: float, w: float, h: float) -> list[float]:
        return [left / width, 1 - (top + h) / height, w / width, h / height]

    caption = snapshot_caption(snapshot)
    fig.text(0.5, 1 - 0.22 / height, f"{heading} · {caption}" if heading else caption,
             ha="center", va="center", fontsize=13, weight="bold")  # fmt: skip
    row_labels = (
        "input; orange: the region the transformer samples (thick edge: top of its output, dot: its top-left)",
        "transformer output: what the classifier sees",
    )
    for top, text in zip(rows, row_labels):
        lab_top = top - label - (title if top == rows[0] else 0.0)
        fig.text(margin / width, 1 - (lab_top + label / 2) / height, text, ha="left", va="center", fontsize=9.5)
    style = {"linewidth": 1.6}
    for i in range(n):
        left = margin + i * (panel + gap)
        ax_in = fig.add_axes(box(left, rows[0], panel, panel))
        imshow(ax_in, images[i], mean=mean, std=std)
        draw_sampling_outline(ax_in, snapshot.theta[i : i + 1], tuple(images.shape[-2:]), **style)
        ax_out = fig.add_axes(box(left, rows[1], panel, panel))
        imshow(ax_out, snapshot.output[i], mean=mean, std=std)
        _fit_limits(ax_out, tuple(snapshot.output.shape[-2:]))
        ax_in.set_axis_off()
        ax_out.set_axis_off()
        if titles is not None:
            ax_in.set_title(str(titles[i]), fontsize=9, pad=2)
    if total_steps is not None:
        bar = fig.add_axes(box(margin, rows[1] + panel + 0.12, width - 2 * margin, 0.14))
        bar.barh([0], [min(snapshot.step, total_steps)], height=1.0, color=OUTLINE_STYLE["color"])
        bar.set_xlim(0, total_steps)
        bar.set_ylim(-0.5, 0.5)
        bar.set_facecolor("#e6e6e6")
        bar.set_xticks([])
        bar.set_yticks([])
        for spine in bar.spines.values():
            spine.set_visible(False)
        bar.text(0.995, 0.5, f"training step {snapshot.step:,} of {total_steps:,}", transform=bar.transAxes,
                 ha="right", va="center", fontsize=8)  # fmt: skip
    return figure_to_rgb(fig)


def _check_ms(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{what} must be a number of milliseconds, got {value!r}")
    v = float(value)
    if not (math.isfinite(v) and GIF_MIN_MS <= v <= GIF_MAX_MS):
        raise ValueError(
            f"{what} must be between {GIF_MIN_MS} and {GIF_MAX_MS} ms, got {value!r} "
            f"(browsers show GIF delays under {GIF_MIN_MS} ms as 100 ms)"
        )
    return v


def _frame_array(frame: object, i: int) -> np.ndarray:
    from PIL import Image  # Pillow comes with matplotlib

    if isinstance(frame, Image.Image):
        return np.asarray(frame.convert("RGB"))
    if not isinstance(frame, np.ndarray):
        raise ValueError(f"frame {i} must be an (H, W, 3) uint8 array or a PIL image, got {type(frame).__name__}")
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame {i} must be an (H, W, 3) uint8 array, got {frame.dtype} {frame.shape}")
    return frame


def _rgb_code(rgb: np.ndarray) -> np.ndarray:
    """``(N, 3)`` uint8 -> ``(N,)`` int64 ``0xRRGGBB``."""
    rgb = rgb.astype(np.int64)
    return (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]


def _quantize_shared(arrays: Sequence[np.ndarray], colors: int, *, sample: int = 1_000_000) -> list[np.ndarray]:
    """``arrays`` ``(H, W, 3)`` uint8 reduced to one shared palette of at most ``colors`` colours.

    The palette comes from a median cut over (up to ``sample`` evenly spaced pixels of) all
    frames, with each entry replaced by the most frequent real colour of its cluster, so flat
    colours (a white background, black, the outline's orange) stay exact instead of becoming a
    cluster's average. Every pixel then gets its nearest palette colour (exactly; Pillow's own
    palette mapping is approximate and turns white into a near-white).
    """
    from PIL import Image

    pixels = np.concatenate([a.reshape(-1, 3) for a in arrays])  # (N, 3)
    some = np.ascontiguousarray(pixels[:: max(1, len(pixels) // sample)])
    image = Image.fromarray(some[:, None, :])  # an (n, 1) image of the sampled pixels
    cluster = np.asarray(image.quantize(colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE))
    keys, counts = np.unique((cluster.reshape(-1).astype(np.int64) << 24) | _rgb_code(some), return_counts=True)
    keys = keys[np.lexsort((-counts, keys >> 24))]  # by cluster, its most frequent colour first
    modes = keys[np.concatenate([[True], (keys[1:] >> 24) != (keys[:-1] >> 24)])] & 0xFFFFFF
    palette = np.stack([(modes >> 16) & 255, (modes >> 8) & 255, modes & 255], axis=1)  # (K, 3)
    code = _rgb_code(pixels)
    present = np.zeros(1 << 24, dtype=bool)
    present[code] = True
    unique = np.flatnonzero(present)  # every colour that occurs
    urgb = np.stack([(unique >> 16) & 255, (unique >> 8) & 255, unique & 255], axis=1).astype(np.float32)
    pal = palette.astype(np.float32)
    lut = np.zeros(1 << 24, dtype=np.uint8)
    for i in range(0, len(unique), 16384):  # squared distances |u|^2 - 2 u.p + |p|^2, exact in float32
        u = urgb[i : i + 16384]
        d = (u * u).sum(1, keepdims=True) - 2 * u @ pal.T + (pal * pal).sum(1)
        lut[unique[i : i + 16384]] = d.argmin(1)
    out = palette.astype(np.uint8)[lut[code]]
    return [f.reshape(a.shape) for f, a in zip(np.split(out, len(arrays)), arrays)]


def write_gif(
    frames: Sequence[np.ndarray | PILImage],
    path: str | os.PathLike[str],
    *,
    duration: float | Sequence[float] = 200,
    loop: int | None = 0,
    hold_last: float | None = None,
    max_width: int | None = None,
    colors: int = 255,
) -> Path:
    """Write ``frames`` as an animated GIF at ``path`` (atomically, parent folders created); return the path.

    * ``frames``: ``(H, W, 3)`` uint8 RGB arrays (e.g. from :func:`snapshot_frame`) or PIL
      images, all the same size.
    * ``duration``: how long each frame shows, in **milliseconds**: one number for all, or one
      per frame. GIFs store centiseconds, so each is rounded to the nearest 10 ms; each must be
      in ``[GIF_MIN_MS, GIF_MAX_MS]``. ``hold_last`` (ms): show the last frame this long instead,
      so a looping GIF pauses on the final state.
    * ``loop``: ``0`` loops forever; ``N > 0`` is written as the GIF's loop count (browsers
      repeat the animation N more times); ``None`` writes no loop block (plays once).
    * Size: all frames share one adaptive palette of at most ``colors`` colours (median cut
      over all frames, flat colours kept exact, no dithering: flat areas compress well). Up to
      255 colours leave a palette slot free, so pixels that did not change since the previous
      frame are stored as transparent (they compress to almost nothing), and the frames read
      back exactly as quantized. ``colors=256`` leaves quantization to Pillow (one palette per
      frame). ``max_width`` scales frames wider than that down (aspect kept, Lanczos).
      Consecutive identical frames are merged into one (their durations add up), so the file
      may hold fewer frames than given: :func:`gif_info` reads back what was written.

    The GIF is encoded in memory by imageio (Pillow) and written with
    :func:`stnlib.io.atomic_write_bytes`. Raises ``ValueError`` for no frames, frames of
    different sizes or types, or bad durations, loop, ``max_width`` or ``colors``.
    """
    import imageio.v3 as iio
    from PIL import Image

    frames = list(frames)
    if not frames:
        raise ValueError("write_gif needs at least one frame, got none")
    arrays = [_frame_array(f, i) for i, f in enumerate(frames)]
    for i, a in enumerate(arrays):
        if a.shape != arrays[0].shape:
            raise ValueError(
                f"all frames must have the same size: frame 0 is {arrays[0].shape[1]}x{arrays[0].shape[0]} px "
                f"but frame {i} is {a.shape[1]}x{a.shape[0]} px (width x height)"
            )
    if isinstance(duration, int | float | np.integer | np.floating):  # one for all (bool is rejected by _check_ms)
        durations = [_check_ms(duration, "duration")] * len(arrays)
    else:
        durations = [_check_ms(d, f"duration[{i}]") for i, d in enumerate(duration)]
        if len(durations) != len(arrays):
            raise ValueError(f"duration has {len(durations)} values for {len(arrays)} frames; give one per frame")
    if hold_last is not None:
        durations[-1] = _check_ms(hold_last, "hold_last")
    if loop is not None and (isinstance(loop, bool) or not isinstance(loop, int) or not 0 <= loop <= 65535):
        raise ValueError(f"loop must be 0 (forever), a repeat count up to 65535, or None (play once), got {loop!r}")
    if max_width is not None and (isinstance(max_width, bool) or not isinstance(max_width, int) or max_width < 1):
        raise ValueError(f"max_width must be a positive number of pixels or None, got {max_width!r}")
    if isinstance(colors, bool) or not isinstance(colors, int) or not 2 <= colors <= 256:
        raise ValueError(f"colors must be an integer from 2 to 256, got {colors!r}")
    h, w = arrays[0].shape[:2]
    if max_width is not None and w > max_width:
        size = (max_width, max(1, round(h * max_width / w)))
        arrays = [np.asarray(Image.fromarray(a).resize(size, Image.Resampling.LANCZOS)) for a in arrays]
    if colors < 256:  # one palette for all frames, so unchanged pixels stay identical between frames
        arrays = _quantize_shared(arrays, colors)
    kwargs: dict[str, object] = {"duration": [int(round(d / 10)) * 10 for d in durations], "optimize": True}
    if loop is not None:
        kwargs["loop"] = loop
    data = iio.imwrite("<bytes>", np.stack(arrays), extension=".gif", is_batch=True, **kwargs)
    return atomic_write_bytes(path, data)


@dataclass(frozen=True)
class GifInfo:
    """What a GIF file holds, read back from the file: frames, pixel size, durations (ms), loop, bytes."""

    path: Path
    n_bytes: int
    n_frames: int
    width: int
    height: int
    durations_ms: tuple[int, ...]
    loop: int | None

    @property
    def kb(self) -> float:
        """File size in kilobytes (1 KB = 1,000 bytes)."""
        return self.n_bytes / 1000

    def describe(self) -> str:
        """One line, e.g. ``"stn_learning.gif: 27 frames, 720x311 px, 812 KB, 9.6 s per loop"``."""
        loop = "loops forever" if self.loop == 0 else "plays once" if self.loop is None else f"loop count {self.loop}"
        return (
            f"{self.path.name}: {self.n_frames} frames, {self.width}x{self.height} px, {self.kb:,.0f} KB, "
            f"{sum(self.durations_ms) / 1000:.1f} s per loop, {loop}"
        )


def gif_info(path: str | os.PathLike[str]) -> GifInfo:
    """Read a GIF's frame count, size, per-frame durations (ms) and loop count back with imageio."""
    import imageio.v3 as iio

    path = Path(path)
    props = iio.improps(path, extension=".gif", index=None)
    n = int(props.n_images or 1)
    metas = [iio.immeta(path, extension=".gif", index=i) for i in range(n)]
    h, w = props.shape[-3:-1] if len(props.shape) >= 3 else props.shape[-2:]
    return GifInfo(
        path=path,
        n_bytes=path.stat().st_size,
        n_frames=n,
        width=int(w),
        height=int(h),
        durations_ms=tuple(int(m.get("duration", 0)) for m in metas),
        loop=metas[0].get("loop"),
    )


def learning_gif(
    snapshots: Sequence[Snapshot],
    images: Tensor,
    path: str | os.PathLike[str],
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    titles: Sequence[str] | None = None,
    n: int = 8,
    heading: str | None = None,
    frame_ms: float = 150,
    epoch_ms: float = 700,
    hold_last_ms: float = 3000,
    width_px: int = 720,
    colors: int = 255,
) -> Path:
    """Render every snapshot with :func:`snapshot_frame` and write them as one looping GIF; return its path.

    ``snapshots``: e.g. ``ThetaSnapshots.snapshots`` (step order); ``images``: the fixed batch
    ``(B, C, H, W)`` they were taken on (``ThetaSnapshots.images``). The progress bar runs to the
    last snapshot's step. Frames between epochs show ``frame_ms``; the frame before training and
    each end-of-epoch frame (they carry the test accuracy) show ``epoch_ms``; the last one
    ``hold_last_ms`` (all in milliseconds; see :func:`write_gif`).
    """
    if not snapshots:
        raise ValueError("learning_gif needs at least one snapshot, got none")
    total = max(1, snapshots[-1].step)
    frames = [
        snapshot_frame(
            s, images, mean=mean, std=std, titles=titles, n=n, heading=heading, total_steps=total, width_px=width_px
        )
        for s in snapshots
    ]
    durations = [epoch_ms if s.step == 0 or s.test_acc is not None else frame_ms for s in snapshots]
    return write_gif(frames, path, duration=durations, loop=0, hold_last=hold_last_ms, colors=colors)


def theta_trajectories(
    snapshots: Sequence[Snapshot],
    *,
    examples: Sequence[int] | None = None,
    labels: Sequence[str] | None = None,
    targets: dict[str, Sequence[float]] | None = None,
    title: str = "",
) -> Figure:
    """Decomposed theta of a few fixed examples against the training step, one line per example.

    Four panels, as in :func:`theta_histograms`: zoom (geometric mean of ``|scale_x|`` and
    ``|scale_y|``, > 1 zooms in), rotation (degrees, counterclockwise on screen), ``tx``, ``ty``
    (see :func:`stnlib.affine.decompose`). ``examples``: indices into the snapshot batch
    (default: the first four); ``labels``: one legend entry per example. ``targets``: optional
    ideal values per panel key (``"zoom"``, ``"rotation"``, ``"tx"``, ``"ty"``), one per
    example, drawn as dashed lines in the example's colour (e.g. the rotation that would undo
    a known distortion). Dotted vertical lines mark end-of-epoch snapshots (those with a test accuracy).
    """
    if not snapshots:
        raise ValueError("theta_trajectories needs at least one snapshot, got none")
    thetas = torch.stack([s.theta for s in snapshots]).detach().float().cpu()  # (S, B, 2, 3)
    examples = list(range(min(4, thetas.shape[1]))) if examples is None else list(examples)
    if not examples or any(not 0 <= i < thetas.shape[1] for i in examples):
        raise ValueError(f"examples must be indices in 0..{thetas.shape[1] - 1}, got {examples}")
    if labels is not None and len(labels) != len(examples):
        raise ValueError(f"labels needs one entry per example ({len(examples)}), got {len(labels)}")
    steps = [s.step for s in snapshots]
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.0))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, i in enumerate(examples):
        panels = _theta_panels(affine.decompose(thetas[:, i]))
        colour = colours[k % len(colours)]
        for ax, (key, values) in zip(axes, panels.items()):
            ax.plot(steps, values.numpy(), marker=".", ms=4, lw=1.2, color=colour,
                    label=labels[k] if labels is not None else f"example {i}")  # fmt: skip
            if targets is not None and key in targets:
                ax.axhline(float(targets[key][k]), color=colour, lw=1, ls="--", alpha=0.8)
    ends = [s.step for s in snapshots if s.test_acc is not None]
    for ax, name in zip(axes, _THETA_TITLES.values()):
        for step in ends:
            ax.axvline(step, color="#999999", lw=0.8, ls=":")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def compare_bars(
    ax: Axes,
    measured: dict[str, float],
    *,
    reported: dict[str, float] | None = None,
    errors: dict[str, float] | None = None,
    ylabel: str = "test accuracy (%)",
    title: str = "",
) -> None:
    """Bars of ``measured`` values (with optional ``errors`` as error bars), each beside its ``reported`` value.

    For accuracy tables: ``measured`` here vs what a write-up ``reported``; names missing from
    ``reported`` get a single bar. Values are printed on the bars.
    """
    reported = reported or {}
    names = list(measured)
    xs = range(len(names))
    width = 0.38 if reported else 0.6
    shift = width / 2 if reported else 0.0
    yerr = [errors.get(n, 0.0) for n in names] if errors else None
    bars = ax.bar([x - shift for x in xs], [measured[n] for n in names], width, yerr=yerr, capsize=3,
                  color="#ff7f0e", label="measured here")  # fmt: skip
    ax.bar_label(bars, fmt="%.1f", fontsize=8, padding=2)
    if reported:
        rx = [x + shift for x, n in zip(xs, names) if n in reported]
        rb = ax.bar(rx, [reported[n] for n in names if n in reported], width, color="#bbbbbb", label="reported")
        ax.bar_label(rb, fmt="%.1f", fontsize=8, padding=2)
        ax.legend(fontsize=8, loc="upper left", ncol=2)
    top = max([*measured.values(), *reported.values()])
    ax.set_ylim(0, top * 1.22)  # room for the value labels and the legend
    ax.set_xticks(list(xs), names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)


def per_class_bars(ax: Axes, per_class: dict[str, Tensor], classes: Sequence[str], *, title: str = "") -> None:
    """Grouped bars: accuracy (percent) per class ``(num_classes,)`` for each model in ``per_class``."""
    k = len(per_class)
    width = 0.8 / k
    for i, (name, acc) in enumerate(per_class.items()):
        xs = [c + (i - (k - 1) / 2) * width for c in range(len(classes))]
        ax.bar(xs, acc.tolist(), width, label=name)
    ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)


def recovery_scatter(
    components: dict[str, tuple[Tensor, Tensor]], units: dict[str, str], *, title: str = "", max_points: int = 3000
) -> Figure:
    """Recovered against applied, one panel per component (:func:`stnlib.recovery.rts_components` output).

    Each panel shows up to ``max_points`` test digits, the dashed line of a perfect undo (slope -1
    through the data's mean) and the least-squares fit, with its slope and R² in the title.
    """
    fig, axes = plt.subplots(1, len(components), figsize=(3.1 * len(components), 3.1))
    for ax, (name, (applied, recovered)) in zip(np.atleast_1d(axes), components.items()):
        fit = fit_line(applied, recovered)
        a, r = applied[:max_points].double().numpy(), recovered[:max_points].double().numpy()
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
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def attention_summary(
    measures: dict[str, Tensor], digit_centre: Tensor, *, canvas: int, title: str = "", thing: str = "digit"
) -> Figure:
    """Where the sampled regions lie against the digits (:func:`stnlib.recovery.attention_components` output).

    Left: region centre x against digit centre x (pixels from the canvas centre; on the diagonal
    means found). Middle: centre error histogram. Right: width relative to the digit box.
    ``digit_centre``: ``(N, 2)`` digit centres in the same pixels; ``thing``: what the object is
    called in the labels (``"photo"`` for off-centre CIFAR-10).
    """
    region_x = measures["tx"] * canvas / 2
    fig, (a0, a1, a2) = plt.subplots(1, 3, figsize=(10.5, 3.1))
    a0.scatter(digit_centre[:, 0].numpy(), region_x.numpy(), s=2, alpha=0.3)
    lim = canvas / 2
    a0.plot([-lim, lim], [-lim, lim], "k--", lw=1, label=f"region centred on the {thing}")
    a0.plot([-lim, lim], [0, 0], color="#7f7f7f", lw=1, label="region never moves")
    a0.set_xlabel(f"{thing} centre x (px from canvas centre)", fontsize=8)
    a0.set_ylabel("region centre x (px)", fontsize=8)
    a0.legend(fontsize=7)
    err = measures["centre_error_px"]
    a1.hist(err.numpy(), bins=40, range=(0, max(10.0, float(err.quantile(0.99)))), color="#ff7f0e")
    a1.axvline(float(err.median()), color="k", ls="--", lw=1)
    a1.set_xlabel("centre error (px)", fontsize=8)
    a1.set_title(f"median {float(err.median()):.1f} px", fontsize=9)
    ratio = measures["width_ratio"]
    a2.hist(ratio.numpy(), bins=40, color="#2ca02c")
    a2.axvline(float(ratio.median()), color="k", ls="--", lw=1)
    a2.set_xlabel(f"region width / {thing} box width", fontsize=8)
    a2.set_title(f"median {float(ratio.median()):.2f}", fontsize=9)
    for ax in (a0, a1, a2):
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
