"""The theta explorer's machinery (notebook 1; "fool the STN" builds on it): :class:`ThetaExplorer`, sliders kept in
sync with one exact theta however fast a browser drags, and what its output carries (:func:`widget_bundle`: the
widget and its picture as ``image/png``, :func:`png_with_text`: theta in the picture's text).
:mod:`stnlib.widgets` puts it in front of the student, or a static gallery where no front end renders widgets."""

from __future__ import annotations

import base64
import json
import math
import struct
import threading
import time
import zlib

import ipywidgets as W
from IPython.display import display
from matplotlib.figure import Figure
from torch import Tensor

from . import affine, figures
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


def sample_choices(per_dataset: int = 3) -> dict[str, Tensor]:
    """A few bundled images by display name, each ``(1, C, H, W)`` in ``[0, 1]``."""
    samples = {label: load_samples(name) for name, label in (("mnist", "MNIST digit"), ("cifar10", "CIFAR-10"))}
    return {
        f"{label} {s.classes[int(s.labels[i])]} (test #{int(s.test_indices[i])})": s.images[i : i + 1]
        for label, s in samples.items()
        for i in range(per_dataset)
    }


def theta_table(theta: Tensor) -> str:
    """HTML for theta ``(1, 2, 3)``: a ``<table class="stn-theta">`` of 2 rows x 3 cells
    (:func:`stnlib.figures.format_entry`, 3 decimals)."""
    rows = "".join(
        "<tr>" + "".join(f"<td style='padding:2px 8px'>{figures.format_entry(v)}</td>" for v in row) + "</tr>"
        for row in theta[0].tolist()
    )
    return f"<b>theta</b><table class='stn-theta' style='font-family:monospace'>{rows}</table>"


def widget_bundle(widget: W.Widget, *, png: bytes | None = None) -> dict:
    """The display bundle of ``widget`` (ipywidgets 7.7 and 8 alike: both front ends read view protocol 2.0),
    with ``png`` as ``image/png`` for front ends that cannot render widgets (GitHub, nbviewer, a closed kernel).

    >>> sorted(widget_bundle(W.HTML("hi"), png=b"x"))
    ['application/vnd.jupyter.widget-view+json', 'image/png', 'text/plain']
    """
    bundle = {
        "text/plain": repr(widget),
        "application/vnd.jupyter.widget-view+json": {
            "version_major": 2,
            "version_minor": 0,
            "model_id": widget.model_id,
        },
    }
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


def _slider(description: str, value: float, limits: tuple[float, float, float], fmt: str = ".2f") -> W.FloatSlider:
    lo, hi, step = limits
    return W.FloatSlider(
        value=value,
        min=lo,
        max=hi,
        step=step,
        description=description,
        continuous_update=True,
        readout_format=fmt,
        layout=W.Layout(width="320px"),
    )


def _shows(slider: W.FloatSlider, value: float) -> bool:  # its readout rounds both alike to its step
    return math.floor(slider.value / slider.step + 0.5) == math.floor(value / slider.step + 0.5)


#: :class:`ThetaExplorer`: seconds without input before it settles; while input comes, seconds between redraws
#: (at least as long as the last one took); pushed values remembered per slider; seconds an older one may echo.
SETTLE_DELAY, LIVE_INTERVAL, ECHO_MEMORY, ECHO_WINDOW = 0.15, 0.1, 8, 2.0


class ThetaExplorer:
    """Sliders for one image ``(1, C, H, W)`` or a dict of named ones (default: bundled samples): the visible
    motion (``params``: rotation, scale, shear, shift) and the raw entries (``raw``, 2x3), kept in sync; presets;
    the input with the sampled region, the ``output``, the exact ``theta`` ``(1, 2, 3)``; ``widget`` to display.

    It settles however fast a browser drags. The kernel holds the truth, ``theta`` and ``values`` (parameters
    that rebuild it); a moved slider changes only its part. No slider is written while input comes: after
    ``settle_delay`` s without input (a timer thread; :meth:`flush` settles now) each slider not showing its exact
    value rounded to its step is set to it, its range widened first if needed (one message: a value alone is
    clamped to the old range), so no range changes under a held handle (it would jump). Front ends send values
    back snapped, late, out of order: a change within half a step of the last value pushed to the slider since
    the user moved it, or of one pushed in the last ``ECHO_WINDOW`` s, is an echo, not input. Picture and matrix
    (one theta, stated by the title and PNG text) are redrawn at most every ``live_interval`` s and half the time
    while input comes. Handlers may run on other threads: they hold a lock, draw on a plain ``Figure``."""

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
        self._lock, self._timer, self._next_live, self.redraws = threading.RLock(), None, -math.inf, 0
        self._pushed: dict[int, list[tuple[float, float]]] = {}  # id(slider) -> [(value, clock)] since it moved
        self.widget = self._build()
        self.apply_preset("identity")

    def _build(self):
        self.params = {
            name: _slider(
                name, 1.0 if name.startswith("scale") else 0.0, limits, ".0f" if name == "rotation" else ".2f"
            )
            for name, limits in PARAM_RANGES.items()
        }
        self.raw = [[_slider(f"θ[{i},{j}]", float(i == j), RAW_RANGE) for j in range(3)] for i in range(2)]
        self._entry = {id(s): (i, j) for i in range(2) for j, s in enumerate(self.raw[i])}
        self.image_choice = W.Dropdown(options=list(self.images), description="image", layout=W.Layout(width="420px"))
        self.buttons = [W.Button(description=name, layout=W.Layout(width="auto")) for name in PRESETS]
        fit = W.Layout(width="auto", max_width="100%")  # shrinks with the notebook, never clipped
        self.picture, self.matrix, self.message = W.Image(format="png", layout=fit), W.HTML(), W.HTML()
        for s in self._sliders():
            s.observe(self._on_slider, names="value")
        self.image_choice.observe(lambda _change: self.render(), names="value")
        for b in self.buttons:
            b.on_click(lambda button: self.apply_preset(button.description))
        wrap = W.Layout(flex_flow="row wrap")
        sliders = W.HBox(
            [
                W.VBox([W.HTML("<b>What the content does</b>"), *self.params.values()]),
                W.VBox([W.HTML("<b>Raw theta (output → input)</b>"), *(s for r in self.raw for s in r)]),
                W.VBox([self.matrix, self.message]),
            ],
            layout=wrap,
        )
        return W.VBox([self.image_choice, W.HBox(self.buttons, layout=wrap), sliders, self.picture])

    def _sliders(self) -> list[W.FloatSlider]:
        return [*self.params.values(), *self.raw[0], *self.raw[1]]

    def show(self) -> None:
        """Display the widget; its output also holds the picture as ``image/png`` (for front ends without it)."""
        display(widget_bundle(self.widget, png=self.picture.value), raw=True)

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
        if due, (re)start the settle timer; an echo (our own pushes too) only makes sure the slider shows theta."""
        with self._lock:
            owner = change["owner"]
            pushed, recent = self._pushed.get(id(owner), []), self.clock() - ECHO_WINDOW
            if any(
                abs(owner.value - v) < owner.step / 2
                for k, (v, t) in enumerate(pushed, 1)
                if k == len(pushed) or t >= recent
            ):
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
            self.picture.value = png_with_text(
                png,
                Title=_theta_title(self.theta),
                params=json.dumps(self.values),
                theta=json.dumps(self.theta[0].flatten().tolist()),
            )
            self.matrix.value = theta_table(self.theta)
            self._stale, self.redraws = False, self.redraws + 1
            self._next_live = self.clock() + max(self.live_interval, self.clock() - start)
