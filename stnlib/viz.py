"""Figures for the notebooks: images, the sampled region's outline, theta as text.

Images are torch tensors ``(C, H, W)`` or ``(1, C, H, W)``; pass ``mean``/``std``
(per channel) to undo ``Normalize`` before display. Pixel positions follow
matplotlib's ``imshow``: pixel centres at integers, the border at ``-0.5`` and
``W - 0.5``, which is exactly where normalized ``-1``/``+1`` land with
``align_corners=False`` (see :func:`stnlib.affine.normalized_to_pixels`).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor

from . import affine

__all__ = [
    "OUTLINE_STYLE",
    "denormalize",
    "draw_sampling_outline",
    "figure_to_png",
    "image_row",
    "imshow",
    "plot_histories",
    "show_normalized_coordinates",
    "show_sampling_grid",
    "show_before_after",
    "theta_histograms",
    "theta_text",
    "to_numpy_image",
    "top_k_bars",
]

#: How the sampled region is drawn on input images.
OUTLINE_STYLE = dict(color="#ff7f0e", linewidth=2.0)


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
    """Draw, on an input image of ``size=(H, W)``, the region that ``theta`` ``(1, 2, 3)`` samples.

    The outline's first edge (output top) is drawn thicker, so rotations and flips are visible.
    """
    h, w = size
    pts = affine.sampling_outline(theta.detach().float().cpu()[:1])[0]
    xs = affine.normalized_to_pixels(pts[:, 0], w, align_corners=align_corners).numpy()
    ys = affine.normalized_to_pixels(pts[:, 1], h, align_corners=align_corners).numpy()
    kw = {**OUTLINE_STYLE, **style}
    ax.plot(xs, ys, **kw)
    ax.plot(xs[:2], ys[:2], **{**kw, "linewidth": float(kw.get("linewidth", 2.0)) * 2.2})  # type: ignore[arg-type]
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)


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


def theta_histograms(decomposed: dict[str, Tensor], *, title: str = "") -> Figure:
    """Histograms of decomposed thetas (:func:`stnlib.affine.decompose` output) over a test set.

    Zoom is the geometric mean of ``scale_x`` and ``scale_y`` (> 1: the STN zooms in).
    """
    zoom = (decomposed["scale_x"].abs() * decomposed["scale_y"].abs()).sqrt()
    panels = [
        ("zoom (>1 = zoom in)", zoom),
        ("rotation (deg, counterclockwise)", decomposed["rotation"]),
        ("shift right tx", decomposed["tx"]),
        ("shift down ty", decomposed["ty"]),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(12, 2.8))
    for ax, (name, values) in zip(axes, panels):
        ax.hist(values.detach().cpu().numpy(), bins=40, color="#ff7f0e")
        ax.set_title(name, fontsize=9)
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
