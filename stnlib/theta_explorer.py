"""The theta explorer (notebook 1; "fool the STN" builds on it) and what every explorer shares: sliders, presets,
the output bundle (the widget and its picture as ``image/png``), PNG text saying what a picture shows, and the
static gallery shown where no front end renders widgets."""

from __future__ import annotations

import base64
import json
import math
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterable

import ipywidgets as W
import matplotlib.pyplot as plt
from IPython.display import display
from matplotlib.figure import Figure
from torch import Tensor

from . import affine, figures
from .env import widgets_rendered
from .samples import load_samples

#: Preset name -> :func:`stnlib.affine.build_theta` keywords (what the content visibly does).
PRESETS: dict[str, dict[str, float]] = {
    "identity": {},
    "zoom in": {"scale_x": 2.0, "scale_y": 2.0},
    "zoom out": {"scale_x": 0.5, "scale_y": 0.5},
    "rotate": {"rotation": 30.0},
    "shear": {"shear": 0.5},
    "flip": {"scale_x": -1.0},
    "translate": {"tx": 0.5},
}
#: Slider ranges (min, max, step) of the decomposed parameters, and of the raw entries.
PARAM_RANGES = {
    "rotation": (-180.0, 180.0, 1.0),
    "scale_x": (-3.0, 3.0, 0.01),
    "scale_y": (-3.0, 3.0, 0.01),
    "shear": (-1.5, 1.5, 0.01),
    "tx": (-1.5, 1.5, 0.01),
    "ty": (-1.5, 1.5, 0.01),
}
RAW_RANGE = (-3.0, 3.0, 0.01)
#: :class:`ThetaExplorer`: seconds without input before it settles; while input comes, seconds between redraws
#: (at least as long as the last one took); pushed values remembered per slider; seconds an older one may echo.
SETTLE_DELAY, LIVE_INTERVAL, ECHO_MEMORY, ECHO_WINDOW = 0.15, 0.1, 8, 2.0


def sample_choices(per_dataset: int = 3) -> dict[str, Tensor]:
    """A few bundled images by display name, each ``(1, C, H, W)`` in ``[0, 1]``."""
    samples = {label: load_samples(name) for name, label in (("mnist", "MNIST digit"), ("cifar10", "CIFAR-10"))}
    return {
        f"{label} {s.classes[int(s.labels[i])]} (test #{int(s.test_indices[i])})": s.images[i : i + 1]
        for label, s in samples.items()
        for i in range(per_dataset)
    }


def matrix_html(matrix: Tensor, heading: str, css_class: str) -> str:
    """``<b>heading</b>`` over a ``<table class=css_class>`` of ``matrix`` ``(1, R, C)``
    (:func:`stnlib.figures.format_entry`, 3 decimals)."""
    cells = [[f"<td style='padding:2px 8px'>{figures.format_entry(v)}</td>" for v in row] for row in matrix[0].tolist()]
    rows = "".join("<tr>" + "".join(row) + "</tr>" for row in cells)
    return f"<b>{heading}</b><table class='{css_class}' style='font-family:monospace'>{rows}</table>"


def theta_table(theta: Tensor) -> str:
    """HTML for theta ``(1, 2, 3)``: a ``<table class="stn-theta">`` of 2 rows x 3 cells."""
    return matrix_html(theta, "theta", "stn-theta")


def widget_bundle(widget: W.Widget, *, png: bytes | None = None) -> dict:
    """The display bundle of ``widget`` (view protocol 2.0: ipywidgets 7.7 and 8 alike), with ``png`` as
    ``image/png`` for front ends that cannot render widgets (GitHub, nbviewer, a closed kernel)."""
    view = {"version_major": 2, "version_minor": 0, "model_id": widget.model_id}
    bundle = {"text/plain": repr(widget), "application/vnd.jupyter.widget-view+json": view}
    if png is not None:
        bundle["image/png"] = base64.b64encode(png).decode("ascii")
    return bundle


def title_with_theta(fig: Figure, theta: Tensor) -> None:
    """Theta ``(1, 2, 3)`` as the figure's title, so a saved picture says which state it shows."""
    fig.suptitle(_theta_title(theta), fontsize=9, family="monospace")


def _theta_title(theta: Tensor) -> str:
    return "theta = " + figures.theta_text(theta, decimals=3).replace("\n", "  ")


def png_with_text(png: bytes, **text: str) -> bytes:
    """``png`` with a ``tEXt`` chunk per keyword (Latin-1) after its header: what a picture shows, machine-readable."""
    data = [b"tEXt" + k.encode("latin-1") + b"\0" + v.encode("latin-1") for k, v in text.items()]
    chunks = b"".join(struct.pack(">I", len(d) - 4) + d + struct.pack(">I", zlib.crc32(d)) for d in data)
    return png[:33] + chunks + png[33:]  # after the signature (8 bytes) and the header chunk (25)


def make_slider(description: str, value: float, limits: tuple, fmt: str = ".2f", width: str = "320px") -> W.FloatSlider:
    """A slider over ``limits`` ``(min, max, step)``; it reports while dragged (``continuous_update``)."""
    lo, hi, step = limits
    layout = W.Layout(width=width)
    return W.FloatSlider(
        value=value, min=lo, max=hi, step=step, description=description, readout_format=fmt, layout=layout
    )


def explore(make: Callable[[], Explorer], gallery: Callable[[], Figure], interactive: bool | None, note: str):
    """``make()``'s explorer, shown, if a front end renders widgets (or ``interactive=True``); else ``gallery()``,
    shown with pyplot after printing ``note``."""
    if interactive or (interactive is None and widgets_rendered()):
        (explorer := make()).show()
        return explorer
    fig = gallery()
    print(note)
    plt.show()
    return fig


class Explorer:
    """What the explorers share: ``picture`` (PNG), ``message`` (HTML), a button per preset (``buttons``), ``widget``
    (set by the subclass) and :meth:`show`."""

    def _parts(self, presets: Iterable[str], action: Callable[[str], None]) -> None:
        fit = W.Layout(width="auto", max_width="100%")  # shrinks with the notebook, never clipped
        self.picture, self.message, self.redraws = W.Image(format="png", layout=fit), W.HTML(), 0
        self.buttons = [W.Button(description=name, layout=W.Layout(width="auto")) for name in presets]
        for b in self.buttons:
            b.on_click(lambda button: action(button.description))

    def show(self) -> None:
        """Display the widget; its output also holds the picture as ``image/png`` (for front ends without it)."""
        display(widget_bundle(self.widget, png=self.picture.value), raw=True)


def _shows(slider: W.FloatSlider, value: float) -> bool:  # its readout rounds both alike to its step
    return math.floor(slider.value / slider.step + 0.5) == math.floor(value / slider.step + 0.5)


class ThetaExplorer(Explorer):
    """Sliders for one image ``(1, C, H, W)`` or a dict of named ones (default: bundled samples): the visible
    motion (``params``: rotation, scale, shear, shift) and the raw entries (``raw``, 2x3), kept in sync; presets;
    the input with the sampled region, the ``output``, the exact ``theta`` ``(1, 2, 3)``; ``widget`` to display.

    The kernel holds the truth, ``theta`` and ``values`` (parameters that rebuild it); a moved slider changes only its
    part. No slider is written while input comes: ``settle_delay`` s after the last (a timer; :meth:`flush` settles
    now), each slider is set to its exact value rounded to its step, its range widened first in the same message.
    A change within half a step of a value pushed to that slider (the last one, or any in the last ``ECHO_WINDOW``
    s) is a front end's echo, not input. While input comes, picture and matrix are redrawn at most every
    ``live_interval`` s. Handlers may run on other threads: they hold a lock and draw on a plain ``Figure``."""

    def __init__(
        self,
        images: dict[str, Tensor] | Tensor | None = None,
        *,
        settle_delay: float = SETTLE_DELAY,
        live_interval: float = LIVE_INTERVAL,
    ) -> None:
        images = {"image": images} if isinstance(images, Tensor) else images or sample_choices()
        self.images = {k: affine.check_images(v, name=f"image {k!r}")[:1] for k, v in images.items()}
        self.settle_delay, self.live_interval, self.clock = settle_delay, live_interval, time.monotonic
        self._lock, self._timer, self._next_live = threading.RLock(), None, -math.inf
        self._pushed: dict[int, list[tuple[float, float]]] = {}  # id(slider) -> [(value, clock)] since it moved
        self.widget = self._build()
        self.apply_preset("identity")

    def _build(self) -> W.VBox:
        self.params = {  # at the identity: scales 1, the rest 0
            name: make_slider(name, float(name.startswith("scale")), limits, ".0f" if name == "rotation" else ".2f")
            for name, limits in PARAM_RANGES.items()
        }
        self.raw = [[make_slider(f"θ[{i},{j}]", float(i == j), RAW_RANGE) for j in range(3)] for i in range(2)]
        self._entry = {id(s): (i, j) for i in range(2) for j, s in enumerate(self.raw[i])}
        self.image_choice = W.Dropdown(options=list(self.images), description="image", layout=W.Layout(width="420px"))
        self._parts(PRESETS, self.apply_preset)
        self.matrix = W.HTML()
        for s in self._sliders():
            s.observe(self._on_slider, names="value")
        self.image_choice.observe(lambda _change: self.render(), names="value")
        wrap = W.Layout(flex_flow="row wrap")
        columns = [
            W.VBox([W.HTML("<b>What the content does</b>"), *self.params.values()]),
            W.VBox([W.HTML("<b>Raw theta (output → input)</b>"), *self.raw[0], *self.raw[1]]),
            W.VBox([self.matrix, self.message]),
        ]
        return W.VBox(
            [self.image_choice, W.HBox(self.buttons, layout=wrap), W.HBox(columns, layout=wrap), self.picture]
        )

    def _sliders(self) -> list[W.FloatSlider]:
        return [*self.params.values(), *self.raw[0], *self.raw[1]]

    def apply_preset(self, name: str) -> None:
        """Set theta to a preset from :data:`PRESETS` and settle at once (both slider families, the picture)."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; expected one of {', '.join(PRESETS)}")
        with self._lock:
            self.values = {**dict.fromkeys(PARAM_RANGES, 0.0), "scale_x": 1.0, "scale_y": 1.0, **PRESETS[name]}
            self.theta, self.message.value, self._stale = affine.build_theta(**self.values), "", True
            self.flush()

    def _on_slider(self, change: dict) -> None:
        """Apply a moved slider (``owner.value``: of two threads, the last handler wins with the last value), redraw
        if due, (re)start the settle timer; an echo only makes sure the slider will show theta."""
        with self._lock:
            owner = change["owner"]
            pushed, recent = self._pushed.get(id(owner), []), self.clock() - ECHO_WINDOW
            echoes = [v for k, (v, t) in enumerate(pushed, 1) if k == len(pushed) or t >= recent]  # may come back
            if any(abs(owner.value - v) < owner.step / 2 for v in echoes):
                if not _shows(owner, self._target(owner)):
                    self._schedule()  # an old echo left it showing something else
                return
            pushed.clear()  # the user moved it: our older pushes cannot come back any more
            try:  # only the moved slider's part changes
                if owner.description in self.params:
                    values = {**self.values, owner.description: float(owner.value)}
                    theta = affine.build_theta(**values)
                else:
                    theta = self.theta.clone()
                    theta[0][self._entry[id(owner)]] = float(owner.value)
                    values = {k: float(v) for k, v in affine.decompose(theta).items()}
                self.theta, self.values, self.message.value, self._stale = theta, values, "", True
            except ValueError:  # a zero scale or a singular theta
                what = "scale 0" if owner.description in self.params else "singular theta: it"
                self.message.value = f"<span style='color:#c00'>{what} squashes the image to a line.</span>"
            self._schedule()
            if self._stale and self.clock() >= self._next_live:
                self.render()

    def _target(self, slider) -> float:
        """The exact value ``slider`` should show: its decomposed parameter or its entry of theta."""
        if slider.description in self.params:
            return self.values[slider.description]
        return float(self.theta[0][self._entry[id(slider)]])

    def _schedule(self) -> None:  # settle ``settle_delay`` s from now: a new timer, the pending one cancelled
        if self.settle_delay <= 0:
            return self.flush()
        if self._timer is not None:
            self._timer.cancel()
        self._timer = threading.Timer(self.settle_delay, self.flush)
        self._timer.daemon = True
        self._timer.start()

    pending = property(lambda self: self._timer is not None, doc="True while a settle is scheduled.")

    def flush(self) -> None:
        """Settle now: set each slider that does not show its exact value to it; redraw if theta changed."""
        with self._lock:
            if isinstance(me := threading.current_thread(), threading.Timer) and me is not self._timer:
                return  # a settle cancelled while it waited for the lock
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            for slider in self._sliders():
                if not _shows(slider, target := self._target(slider)):
                    self._push(slider, target)
            if self._stale:
                self.render()

    def _push(self, slider, value: float) -> None:
        """Show ``value`` on ``slider``, rounded to its step, its range widened (to whole numbers) to hold it."""
        snapped = round(value / slider.step) * slider.step
        lo, hi = min(slider.min, math.floor(snapped)), max(slider.max, math.ceil(snapped))
        pushed = self._pushed.setdefault(id(slider), [])
        pushed[:] = [*pushed[1 - ECHO_MEMORY :], (snapped, self.clock())]  # before it comes back through observe
        with slider.hold_sync():  # sends what changed on exit (in no set order: after ours, a harmless repeat)
            widen = (lo, hi) != (slider.min, slider.max)
            slider.min, slider.max, slider.value = lo, hi, snapped
            if widen:  # range first, in one message: a front end applies them in that order
                slider.send_state(["min", "max", "value"])

    def draw(self, image: Tensor, output: Tensor) -> Figure:
        """The picture for one state: input with the sampled region, and the output. Subclasses add panels."""
        fig = Figure(figsize=(6.4, 3.5), layout="tight")  # not pyplot: handlers may run on another thread
        title_with_theta(fig, self.theta)
        a0, a1 = fig.subplots(1, 2)
        figures.imshow(a0, image, "input + sampled region")
        figures.draw_sampling_outline(a0, self.theta, tuple(image.shape[-2:]))
        figures.imshow(a1, output, "output")
        return fig

    def render(self) -> None:
        """Recompute the output, redraw the picture (its PNG text states ``theta``, ``params``) and the matrix."""
        with self._lock:
            start, image = self.clock(), self.images[self.image_choice.value]
            self.output = affine.warp(image, self.theta)
            png = figures.figure_to_png(self.draw(image, self.output))
            params, theta = json.dumps(self.values), json.dumps(self.theta[0].flatten().tolist())
            self.picture.value = png_with_text(png, Title=_theta_title(self.theta), params=params, theta=theta)
            self.matrix.value = theta_table(self.theta)
            self._stale, self.redraws = False, self.redraws + 1
            self._next_live = self.clock() + max(self.live_interval, self.clock() - start)
