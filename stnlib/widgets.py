"""Widgets: the theta explorer (notebook 1) and "fool the STN" (notebook 2), each a static gallery where no
front end renders ipywidgets (:func:`stnlib.env.widgets_rendered`), so executed reports keep pictures.

An explorer's output also carries its picture as ``image/png``, which front ends without the widget show
instead; JupyterLab shows a reopened explorer from the widget state saved with the notebook (``make lab``
saves it). Each picture has theta in its title, so a saved picture says which state it shows."""

from __future__ import annotations

import base64
import json
import math
import struct
import threading
import time
import zlib

import ipywidgets as W
import matplotlib.pyplot as plt
import torch
from IPython.display import display
from matplotlib.figure import Figure
from torch import Tensor

from . import affine, figures
from .env import widgets_rendered
from .loop import model_device
from .samples import load_samples
from .train import to_cpu, transform_batch

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


def _sample_choices(per_dataset: int = 3) -> dict[str, Tensor]:
    """A few bundled images by display name, each ``(1, C, H, W)`` in ``[0, 1]``."""
    samples = {label: load_samples(name) for name, label in (("mnist", "MNIST digit"), ("cifar10", "CIFAR-10"))}
    return {
        f"{label} {s.classes[int(s.labels[i])]} (test #{int(s.test_indices[i])})": s.images[i : i + 1]
        for label, s in samples.items()
        for i in range(per_dataset)
    }


def preset_gallery(image: Tensor) -> Figure:
    """Static figure: for each of :data:`PRESETS`, the input ``(1, C, H, W)`` with the sampled region, the output."""
    thetas = torch.cat([affine.build_theta(**kw) for kw in PRESETS.values()])
    images = image.expand(len(PRESETS), -1, -1, -1)
    return figures.show_before_after(images, thetas, affine.warp(images, thetas), list(PRESETS))


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


def _title_with_theta(fig: Figure, theta: Tensor) -> None:
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
        images = {"image": images} if isinstance(images, Tensor) else images or _sample_choices()
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
        _title_with_theta(fig, self.theta)
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


def explore_theta(image: Tensor | None = None, *, interactive: bool | None = None) -> ThetaExplorer | Figure:
    """The :class:`ThetaExplorer` for ``image`` ``(1, C, H, W)`` in ``[0, 1]`` (default: bundled samples) if a
    front end renders widgets (or ``interactive=True``), else :func:`preset_gallery`."""
    if interactive or (interactive is None and widgets_rendered()):
        explorer = ThetaExplorer(image)
        explorer.show()
        return explorer
    print(
        "No widget front end detected (headless run): showing the presets as a static gallery. "
        "In Jupyter, call explore_theta(interactive=True) to force the sliders."
    )
    fig = preset_gallery(next(iter(_sample_choices(1).values())) if image is None else image)
    plt.show()
    return fig


def place_on_canvas(digits: Tensor, canvas: int) -> Tensor:
    """Centre ``(B, C, h, w)`` images on a black ``(B, C, canvas, canvas)`` canvas (values in [0, 1]).

    >>> place_on_canvas(torch.ones(1, 1, 2, 2), 4)[0, 0].int().tolist()
    [[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]]
    """
    h, w = digits.shape[-2:]
    top, left = (canvas - h) // 2, (canvas - w) // 2
    out = digits.new_zeros(*digits.shape[:-2], canvas, canvas)
    out[..., top : top + h, left : left + w] = digits
    return out


class FoolTheSTN(ThetaExplorer):
    """Distort ``digits`` (name -> ``(1, 1, H, W)`` in ``[0, 1]``) with the sliders; see where the transformer of
    ``stn_model`` (has a ``.stn``) looks, what it hands its classifier, and the top-3 ``probs`` of ``stn_model``
    and ``cnn_model``, both trained on ``Normalize(mean, std)`` inputs."""

    def __init__(
        self,
        digits: dict[str, Tensor],
        stn_model: torch.nn.Module,
        cnn_model: torch.nn.Module,
        *,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        classes: tuple[str, ...],
        **options,
    ) -> None:
        self.models = {"with STN": stn_model.eval(), "CNN, no STN": cnn_model.eval()}
        self.mean, self.std, self.classes = mean, std, classes
        super().__init__(digits, **options)

    @torch.inference_mode()
    def classify(self, distorted: Tensor) -> tuple[dict[str, Tensor], Tensor, Tensor]:
        """``(probs, stn_view, stn_theta)`` for a batch ``(B, 1, H, W)`` in [0, 1]: ``probs`` name -> ``(B, K)``;
        the models run on their own devices, results come back on the CPU."""
        x = (distorted - torch.tensor(self.mean).view(1, -1, 1, 1)) / torch.tensor(self.std).view(1, -1, 1, 1)
        probs = {name: to_cpu(torch.softmax(m(x.to(model_device(m))), dim=1)) for name, m in self.models.items()}
        view, theta = transform_batch(self.models["with STN"], x)
        return probs, view, theta

    def draw_row(self, axes, image: Tensor, theta: Tensor, title: str) -> None:
        """Five panels on ``axes`` for ``image`` ``(1, 1, H, W)`` distorted by ``theta`` ``(1, 2, 3)``: the digit
        with the region the distortion samples; the distorted input with the region the transformer samples; the
        transformer's output; top-3 probabilities (as numbers too) with and without the transformer."""
        distorted = affine.warp(image, theta)
        probs, view, stn_theta = self.classify(distorted)
        self.probs = {name: p[0] for name, p in probs.items()}
        size = tuple(image.shape[-2:])
        figures.imshow(axes[0], image, title)
        figures.draw_sampling_outline(axes[0], theta, size)
        figures.imshow(axes[1], distorted, "input + transformer's region")
        figures.draw_sampling_outline(axes[1], stn_theta, size, color="#2ca02c")
        figures.imshow(axes[2], view, "transformer output", mean=self.mean, std=self.std)
        for ax, (name, p) in zip(axes[3:], self.probs.items()):  # top 3, most probable on top
            top, idx = p.topk(3)
            ax.barh([str(self.classes[i]) for i in idx.tolist()][::-1], top.tolist()[::-1], color="#1f77b4")
            for y, v in enumerate(top.tolist()[::-1]):
                ax.text(min(v, 0.62) + 0.03, y, f"{v:.2f}", va="center", fontsize=8)
            ax.set_xlim(0, 1)
            ax.tick_params(labelsize=8)
            ax.set_title(name, fontsize=9)

    def draw(self, image: Tensor, output: Tensor) -> Figure:
        fig = Figure(figsize=(12, 2.9), layout="tight")
        _title_with_theta(fig, self.theta)
        self.draw_row(fig.subplots(1, 5), image, self.theta, "your distortion")
        return fig


#: Distortions :func:`fooling_gallery` tries on every digit: name -> :func:`stnlib.affine.build_theta` keywords.
DISTORTIONS = {
    "rotate 45°": {"rotation": 45},
    "rotate -45°": {"rotation": -45},
    "rotate 70°": {"rotation": 70},
    "rotate -70°": {"rotation": -70},
    "rotate 100°": {"rotation": 100},
    "shrink 0.6x, move": {"scale_x": 0.6, "scale_y": 0.6, "tx": 0.3, "ty": -0.3},
    "zoom out 0.5x": {"scale_x": 0.5, "scale_y": 0.5},
    "shear 0.6": {"shear": 0.6},
    "move to a corner": {"tx": 0.35, "ty": 0.35},
}


def fooling_cases(explorer: FoolTheSTN, labels: dict[str, int]) -> list[dict]:
    """Every digit of ``explorer`` under every :data:`DISTORTIONS`: dicts with ``digit``, ``distortion``,
    ``stn_ok``/``cnn_ok`` (top-1 equals ``labels[digit]``) and ``margin`` (STN's minus CNN's probability of
    the label: large where the transformer rescues the CNN)."""
    cases, thetas = [], torch.cat([affine.build_theta(**kw) for kw in DISTORTIONS.values()])
    for name, image in explorer.images.items():
        probs, _, _ = explorer.classify(affine.warp(image.expand(len(thetas), -1, -1, -1), thetas))
        stn, cnn, y = probs["with STN"], probs["CNN, no STN"], labels[name]
        for k, distortion in enumerate(DISTORTIONS):
            cases.append(
                {
                    "digit": name,
                    "distortion": distortion,
                    "stn_ok": int(stn[k].argmax()) == y,
                    "cnn_ok": int(cnn[k].argmax()) == y,
                    "margin": float(stn[k, y] - cnn[k, y]),
                }
            )
    return cases


def fooling_gallery(
    digits: dict[str, Tensor],
    labels: dict[str, int],
    stn_model: torch.nn.Module,
    cnn_model: torch.nn.Module,
    *,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    classes: tuple[str, ...],
) -> tuple[Figure, list[dict]]:
    """Static version of :class:`FoolTheSTN`: for each digit, the distortion from :data:`DISTORTIONS` where the
    transformer helps most (largest ``margin``); ``(figure, all cases)`` (see :func:`fooling_cases`)."""
    explorer = FoolTheSTN(digits, stn_model, cnn_model, mean=mean, std=std, classes=classes)
    cases = fooling_cases(explorer, labels)
    fig = Figure(figsize=(12, 2.5 * len(digits)), layout="tight")
    for row, name in zip(fig.subplots(len(digits), 5, squeeze=False), digits):
        best = max((c for c in cases if c["digit"] == name), key=lambda c: c["margin"])
        verdict = f"STN {'✓' if best['stn_ok'] else '✗'}  CNN {'✓' if best['cnn_ok'] else '✗'}"
        explorer.draw_row(
            row,
            explorer.images[name],
            affine.build_theta(**DISTORTIONS[best["distortion"]]),
            f"{name}\n{best['distortion']}: {verdict}",
        )
    return fig, cases


def explore_fooling(
    digits: dict[str, Tensor],
    labels: dict[str, int],
    stn_model: torch.nn.Module,
    cnn_model: torch.nn.Module,
    *,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    classes: tuple[str, ...],
    interactive: bool | None = None,
) -> FoolTheSTN | Figure:
    """:class:`FoolTheSTN` where widgets render (or ``interactive=True``), else :func:`fooling_gallery` and a
    count of who is right over all its cases. ``labels``: digit name -> true class index."""
    if interactive or (interactive is None and widgets_rendered()):
        explorer = FoolTheSTN(digits, stn_model, cnn_model, mean=mean, std=std, classes=classes)
        explorer.show()
        return explorer
    print("No widget front end detected (headless run): showing fixed distortions instead of sliders.")
    fig, cases = fooling_gallery(digits, labels, stn_model, cnn_model, mean=mean, std=std, classes=classes)
    count = {(s, c): sum(1 for x in cases if (x["stn_ok"], x["cnn_ok"]) == (s, c)) for s in (1, 0) for c in (1, 0)}
    print(
        f"{len(digits)} digits x {len(DISTORTIONS)} distortions = {len(cases)} cases: transformer right and CNN "
        f"wrong {count[1, 0]}, CNN right and transformer wrong {count[0, 1]}, both right {count[1, 1]}, "
        f"both wrong {count[0, 0]}"
    )
    display(fig)
    return fig
