"""Learning GIFs (notebook 4): :class:`ThetaSnapshots` records a transformer on a fixed batch while it trains;
:func:`learning_gif` draws each :class:`Snapshot` (:func:`snapshot_frame`) into one GIF (:func:`write_gif`);
:class:`LiveRegions` draws them in place while it trains."""

from __future__ import annotations

import base64
import html
import io
import numbers
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from IPython.display import Image as IPImage
from IPython.display import display
from matplotlib.figure import Figure
from PIL import Image, ImageSequence
from torch import Tensor, nn

from .checks import check_int, check_tensor
from .env import widgets_rendered
from .figures import OUTLINE_STYLE, draw_sampling_outline, figure_to_rgb, fit_limits, imshow
from .loop import Callback, EpochStats
from .runs import atomic_write_bytes
from .train import transform_batch

#: Frame durations :func:`write_gif` accepts (ms): browsers show shorter ones as 100 ms; GIFs hold 16 bits of 10 ms.
GIF_MIN_MS, GIF_MAX_MS = 20, 655_350
#: :func:`learning_gif` frame durations (ms): during epoch 1, before training and at epoch ends, the last frame.
FRAME_MS, EPOCH_MS, HOLD_LAST_MS = 150, 700, 3000


@dataclass(frozen=True)
class Snapshot:
    """A transformer on a fixed batch (CPU): ``theta (B, 2, 3)``, ``output (B, C, H', W')``; ``epoch`` 0: before
    training; ``test_acc`` (%) at epoch ends, else ``None``."""

    step: int
    epoch: int
    theta: Tensor
    output: Tensor
    test_acc: float | None


class ThetaSnapshots(Callback):
    """Record ``model.stn.transform(images)`` (eval, no grad) before training, after each epoch and every
    ``every_steps`` steps of epoch 1; ``images``: a fixed ``(B, C, H, W)`` batch, normalized as the model sees it."""

    def __init__(self, images: Tensor, *, every_steps: int | None = None) -> None:
        if every_steps is not None and every_steps < 1:
            raise ValueError(f"every_steps must be >= 1 or None, got {every_steps}")
        self.images = check_tensor(images, "images", shape=("B", "C", "H", "W")).detach().clone()
        self.every_steps = every_steps
        self.snapshots: list[Snapshot] = []

    @property
    def steps(self) -> list[int]:
        return [s.step for s in self.snapshots]

    @property
    def thetas(self) -> Tensor:  # (num_snapshots, B, 2, 3)
        return torch.stack([s.theta for s in self.snapshots])

    def record(self, model: nn.Module, step: int, epoch: int, test_acc: float | None = None) -> Snapshot:
        """Take one snapshot now (also by hand, outside training); it replaces one at the same step (an epoch end)."""
        stn = getattr(model, "stn", None)
        if not callable(getattr(stn, "transform", None)):
            raise ValueError(f"{type(model).__name__} has no spatial transformer at .stn; theta snapshots need one")
        out, theta = transform_batch(model, self.images)
        if self.snapshots and self.snapshots[-1].step == step:
            self.snapshots.pop()
        self.snapshots.append(Snapshot(step, epoch, theta, out, test_acc))
        return self.snapshots[-1]

    def on_train_begin(self, model: nn.Module) -> None:
        self.snapshots.clear()
        self.record(model, 0, 0)  # fails before training if the model has no transformer

    def on_step_end(self, model: nn.Module, step: int, epoch: int) -> None:
        if self.every_steps is not None and epoch == 1 and step % self.every_steps == 0:
            self.record(model, step, epoch)

    def on_epoch_end(self, model: nn.Module, stats: EpochStats) -> None:
        self.record(model, stats.step, stats.epoch, stats.test_acc)


def snapshot_frame(
    snapshot: Snapshot,
    images: Tensor,
    *,
    mean=None,
    std=None,
    titles: Sequence[str] | None = None,
    heading: str | None = None,
    total_steps: int | None = None,
    width_px: int = 720,
) -> np.ndarray:
    """One GIF frame ``(H, W, 3)`` uint8, ``width_px`` wide, one size for all snapshots of a run: a header
    (``heading · epoch E · step S · test acc X%``), the first 8 ``images`` ``(B, C, H, W)`` (``mean``/``std`` undo
    their normalization) with the sampled region and ``titles``, ``snapshot.output``, a bar to ``total_steps``."""
    b, c = check_tensor(images, "images", shape=("B", "C", "H", "W"), nonempty=True).shape[:2]
    check_tensor(snapshot.theta, "snapshot.theta", shape=(b, 2, 3))
    check_tensor(snapshot.output, "snapshot.output", shape=(b, c, "H'", "W'"))
    n = min(8, b)
    if titles is not None and len(titles) < n or total_steps is not None and total_steps < 1:
        raise ValueError(f"need a title per image shown ({n}), total_steps >= 1; got {titles}, {total_steps}")
    dpi, margin, gap, header, label = 100, 0.1, 0.08, 0.4, 0.24  # sizes in inches
    width, title = width_px / dpi, 0.2 if titles is not None else 0.0
    panel = (width - 2 * margin - (n - 1) * gap) / n
    rows = [header + label + title, header + 2 * label + title + panel]  # top edge of each image row
    height = round((rows[1] + panel + (0.34 if total_steps is not None else 0.08)) * dpi) / dpi
    fig = Figure(figsize=(width, height), dpi=dpi, facecolor="white")
    box = lambda left, top, w, h: [left / width, 1 - (top + h) / height, w / width, h / height]
    acc = f" · test acc {snapshot.test_acc:.1f}%" if snapshot.test_acc is not None else ""
    caption = "before training" if snapshot.step == 0 else f"epoch {snapshot.epoch} · step {snapshot.step:,}{acc}"
    caption = f"{heading} · {caption}" if heading else caption
    fig.text(0.5, 1 - 0.22 / height, caption, ha="center", va="center", fontsize=13, weight="bold")
    inputs = "input; orange: the region the transformer samples (thick edge: top of its output, dot: its top-left)"
    for top, text in ((rows[0] - title, inputs), (rows[1], "transformer output: what the classifier sees")):
        fig.text(margin / width, 1 - (top - label / 2) / height, text, ha="left", va="center", fontsize=9.5)
    for i in range(n):
        left = margin + i * (panel + gap)
        ax_in, ax_out = fig.add_axes(box(left, rows[0], panel, panel)), fig.add_axes(box(left, rows[1], panel, panel))
        imshow(ax_in, images[i], mean=mean, std=std)
        draw_sampling_outline(ax_in, snapshot.theta[i : i + 1], tuple(images.shape[-2:]), linewidth=1.6)
        imshow(ax_out, snapshot.output[i], mean=mean, std=std)
        fit_limits(ax_out, tuple(snapshot.output.shape[-2:]))
        ax_in.set_axis_off()
        ax_out.set_axis_off()
        if titles is not None:
            ax_in.set_title(str(titles[i]), fontsize=9, pad=2)
    if total_steps is not None:
        bar = fig.add_axes(box(margin, rows[1] + panel + 0.12, width - 2 * margin, 0.14))
        _step_bar(bar, snapshot.step, total_steps)
    return figure_to_rgb(fig)


def _step_bar(bar, step: int, total_steps: int) -> None:
    """A progress bar on the axes ``bar``: ``step`` of ``total_steps`` training steps done."""
    bar.barh([0], [min(step, total_steps)], height=1.0, color=OUTLINE_STYLE["color"])
    bar.set(xlim=(0, total_steps), ylim=(-0.5, 0.5), facecolor="#e6e6e6", xticks=[], yticks=[])
    bar.spines[:].set_visible(False)
    text = f"training step {step:,} of {total_steps:,}"
    bar.text(0.995, 0.5, text, transform=bar.transAxes, ha="right", va="center", fontsize=8)


def write_gif(frames: Sequence[np.ndarray], path: str | os.PathLike[str], durations: Sequence[float]) -> Path:
    """Write ``frames`` (``(H, W, 3)`` uint8, one size) as a forever-looping GIF, atomically; return ``path``.
    ``durations``: ms per frame, rounded to 10 ms. One palette of 255 colours (median cut over all frames, no
    dithering); identical consecutive frames merge (durations add up). Bad input: ``ValueError``."""
    arrays = list(frames)
    if not arrays or len(durations) != len(arrays):
        raise ValueError(f"need at least one frame and one duration per frame, got {len(arrays)} and {len(durations)}")
    first = getattr(arrays[0], "shape", None)
    for i, a in enumerate(arrays):
        if not isinstance(a, np.ndarray) or a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3 or a.shape != first:
            raise ValueError(
                f"frames must be (H, W, 3) uint8 arrays of one shape; frame 0 has shape {first}, "
                f"frame {i} is {getattr(a, 'dtype', type(a))} {getattr(a, 'shape', '')}"
            )
    for d in durations:
        if isinstance(d, bool) or not isinstance(d, numbers.Real) or not GIF_MIN_MS <= d <= GIF_MAX_MS:
            raise ValueError(f"durations must be numbers of milliseconds from {GIF_MIN_MS} to {GIF_MAX_MS}, got {d!r}")
    tall = Image.fromarray(np.concatenate(arrays)).quantize(255, Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    gif = [tall.crop((0, i * first[0], tall.width, (i + 1) * first[0])) for i in range(len(arrays))]
    buf, ms = io.BytesIO(), [round(d / 10) * 10 for d in durations]
    gif[0].save(buf, format="GIF", save_all=True, append_images=gif[1:], loop=0, optimize=True, duration=ms)
    return atomic_write_bytes(path, buf.getvalue())


@dataclass(frozen=True)
class GifInfo:
    """A GIF file read back: bytes, frames, pixel size, per-frame durations (ms), loop count (``None``: once)."""

    path: Path
    n_bytes: int
    n_frames: int
    width: int
    height: int
    durations_ms: tuple[int, ...]
    loop: int | None

    @property
    def kb(self) -> float:  # 1 KB = 1,000 bytes
        return self.n_bytes / 1000

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        """Shown as an ``<img>`` holding the GIF itself: it animates in Jupyter, Colab, VS Code, nbconvert's HTML
        (what nbviewer shows) and GitHub, where a bare ``image/gif`` output reads as the text of an object."""
        data = base64.b64encode(self.path.read_bytes()).decode("ascii")
        alt = html.escape(self.describe(), quote=True)
        img = f'<img src="data:image/gif;base64,{data}" alt="{alt}" width="{self.width}">'
        return {"text/html": img, "text/plain": self.describe()}

    def describe(self) -> str:  # e.g. "a.gif: 27 frames, 720x311 px, 812 KB, 9.6 s per loop, loops forever"
        loop = "loops forever" if self.loop == 0 else "plays once" if self.loop is None else f"loop count {self.loop}"
        return (
            f"{self.path.name}: {self.n_frames} frames, {self.width}x{self.height} px, {self.kb:,.0f} KB, "
            f"{sum(self.durations_ms) / 1000:.1f} s per loop, {loop}"
        )


def gif_info(path: str | os.PathLike[str]) -> GifInfo:
    """Read a GIF's frame count, size, durations (ms) and loop count back."""
    path = Path(path)
    with Image.open(path) as im:
        loop, (w, h) = im.info.get("loop"), im.size
        durations = tuple(int(frame.info.get("duration", 0)) for frame in ImageSequence.Iterator(im))
    return GifInfo(path, path.stat().st_size, len(durations), w, h, durations, loop)


def learning_gif(snapshots: Sequence[Snapshot], images: Tensor, path: str | os.PathLike[str], **frame) -> Path:
    """Draw every snapshot of the ``(B, C, H, W)`` batch ``images`` (:func:`snapshot_frame` with keywords ``frame``)
    into one looping GIF (:data:`FRAME_MS`, :data:`EPOCH_MS`, :data:`HOLD_LAST_MS`); return its path."""
    frames = [snapshot_frame(s, images, total_steps=max(1, snapshots[-1].step), **frame) for s in snapshots]
    durations = [EPOCH_MS if s.step == 0 or s.test_acc is not None else FRAME_MS for s in snapshots]
    return write_gif(frames, path, durations[:-1] + [HOLD_LAST_MS])


class LiveRegions(ThetaSnapshots):
    """Watch it learn: a snapshot of the fixed batch ``images`` ``(B, C, H, W)`` every ``every_steps`` steps of
    every epoch, drawn in place (one display, updated) where a front end shows live output (``live``; default:
    :func:`~stnlib.env.widgets_rendered`). :meth:`before_during_after` is the static figure for everywhere else.
    ``frame``: :func:`snapshot_frame`'s keywords (``mean``, ``std``, ``titles``, ``heading``)."""

    def __init__(self, images: Tensor, *, every_steps: int, total_steps: int, live: bool | None = None, **frame):
        super().__init__(images, every_steps=check_int(every_steps, "every_steps", min=1))
        self.total_steps, self.frame, self.live = total_steps, frame, widgets_rendered() if live is None else live
        self._display = None

    def picture(self, snapshot: Snapshot) -> np.ndarray:
        """``snapshot`` as one frame ``(H, W, 3)`` uint8."""
        return snapshot_frame(snapshot, self.images, total_steps=self.total_steps, **self.frame)

    def record(self, model: nn.Module, step: int, epoch: int, test_acc: float | None = None) -> Snapshot:
        snapshot = super().record(model, step, epoch, test_acc)
        if self.live:
            buffer = io.BytesIO()
            Image.fromarray(self.picture(snapshot)).save(buffer, format="png")
            png = IPImage(data=buffer.getvalue(), format="png")
            if self._display is None:
                self._display = display(png, display_id=True)
            else:
                self._display.update(png)
        return snapshot

    def on_step_end(self, model: nn.Module, step: int, epoch: int) -> None:
        if step % self.every_steps == 0:
            self.record(model, step, epoch)

    def before_during_after(self) -> np.ndarray:
        """The first, middle and last snapshots' frames, one above the other: ``(3H, W, 3)`` uint8."""
        if not self.snapshots:
            raise ValueError("no snapshots yet: pass this object to fit(callbacks=[...]) and train first")
        picks = [self.snapshots[0], self.snapshots[len(self.snapshots) // 2], self.snapshots[-1]]
        return np.concatenate([self.picture(s) for s in picks])
