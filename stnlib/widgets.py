"""The theta explorer: sliders that edit theta live, with a static fallback for headless runs.

``explore_theta()`` is the one call the notebooks make. In a front end that renders
ipywidgets (JupyterLab, Notebook 7, VS Code, Colab) it shows :class:`ThetaExplorer`:

* sliders for the *visible motion* (rotation, scale x/y, shear, translation) and for
  the six *raw entries* of theta, kept in sync both ways (move one family and the
  other follows, through :func:`stnlib.affine.build_theta` / :func:`~stnlib.affine.decompose`);
* preset buttons, a choice of sample image, the input with the sampled region
  outlined, the output, and the live matrix.

When nothing renders widgets (papermill, nbconvert, GitHub) the same call shows a
static gallery of the presets instead, so executed reports still have pictures.
Which one you get is decided by ``$STNLIB_WIDGETS`` (``interactive`` / ``static`` /
``auto``, default ``auto``) or the ``interactive=`` argument; ``auto`` looks for a
kernel started by Jupyter Server (``$JPY_SESSION_NAME``), VS Code or Colab.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from torch import Tensor

from . import affine, viz
from .env import widgets_rendered
from .samples import load_samples

__all__ = [
    "PRESETS",
    "FoolTheSTN",
    "ThetaExplorer",
    "explore_fooling",
    "explore_theta",
    "fooling_gallery",
    "place_on_canvas",
    "preset_gallery",
    "sample_choices",
]

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

#: Slider ranges for the decomposed parameters: (min, max, step).
PARAM_RANGES: dict[str, tuple[float, float, float]] = {
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
    out: dict[str, Tensor] = {}
    for name, label in (("mnist", "MNIST digit"), ("cifar10", "CIFAR-10")):
        s = load_samples(name)
        for i in range(per_dataset):
            out[f"{label} {s.classes[int(s.labels[i])]} (test #{int(s.test_indices[i])})"] = s.images[i : i + 1]
    return out


def preset_gallery(image: Tensor, presets: dict[str, dict[str, float]] | None = None) -> Figure:
    """Static figure: for each preset, the input with the sampled region, the output and theta."""
    presets = presets or PRESETS
    thetas = torch.cat([affine.build_theta(**kw) for kw in presets.values()])
    images = image.expand(len(presets), -1, -1, -1)
    return viz.show_before_after(images, thetas, affine.warp(images, thetas), list(presets))


class ThetaExplorer:
    """Interactive theta editor for one image ``(1, C, H, W)`` (or a dict of named images).

    Attributes meant for tests and notebooks: ``params`` (decomposed sliders by name),
    ``raw`` (2x3 nested list of raw sliders), ``theta`` (current ``(1, 2, 3)``, exact),
    ``output`` (current warped image), ``widget`` (the box to display).

    Two front-end realities shape the code (both seen in JupyterLab 4.6 with ipywidgets 8.1):

    * a slider snaps any value the kernel sets to its step and sends the snapped value
      back as if the user had moved it. So values we push are rounded to the step first,
      and an incoming change within half a step of what we pushed is an echo, not input;
      ``theta`` itself stays exact.
    * widget messages may be handled on a kernel subshell thread, concurrently with the
      main thread. Handlers therefore hold a lock, and pictures are drawn on a plain
      :class:`~matplotlib.figure.Figure` (pyplot is not thread-safe).
    """

    def __init__(self, images: dict[str, Tensor] | Tensor | None = None, *, padding_mode: str = "zeros") -> None:
        import ipywidgets as W

        if images is None:
            images = sample_choices()
        elif isinstance(images, Tensor):
            images = {"image": images}
        self.images = {k: affine.check_images(v, name=f"image {k!r}")[:1] for k, v in images.items()}
        self.padding_mode = padding_mode
        self._syncing = False
        self._lock = threading.RLock()
        self._shown: dict[int, float] = {}  # id(slider) -> the value we last pushed to it
        self.output: Tensor | None = None
        self.theta = affine.identity()

        self.params = {
            name: W.FloatSlider(
                value=1.0 if name.startswith("scale") else 0.0,
                min=lo,
                max=hi,
                step=step,
                description=name,
                continuous_update=True,
                readout_format=".0f" if name == "rotation" else ".2f",
                layout=W.Layout(width="320px"),
            )
            for name, (lo, hi, step) in PARAM_RANGES.items()
        }
        lo, hi, step = RAW_RANGE
        self.raw = [
            [
                W.FloatSlider(
                    value=float(i == j),
                    min=lo,
                    max=hi,
                    step=step,
                    description=f"θ[{i},{j}]",
                    readout_format=".2f",
                    layout=W.Layout(width="320px"),
                )
                for j in range(3)
            ]
            for i in range(2)
        ]
        self.image_choice = W.Dropdown(options=list(self.images), description="image", layout=W.Layout(width="420px"))
        self.buttons = [W.Button(description=name, layout=W.Layout(width="auto")) for name in PRESETS]
        self.picture = W.Image(format="png")
        self.matrix = W.HTML()
        self.message = W.HTML()

        for s in self.params.values():
            s.observe(self._on_param, names="value")
        for row in self.raw:
            for s in row:
                s.observe(self._on_raw, names="value")
        self.image_choice.observe(self._on_image, names="value")
        for b in self.buttons:
            b.on_click(self._preset_handler(b.description))

        self.widget = W.VBox(
            [
                self.image_choice,
                W.HBox(self.buttons),
                W.HBox(
                    [
                        W.VBox([W.HTML("<b>What the content does</b>"), *self.params.values()]),
                        W.VBox([W.HTML("<b>Raw theta (output → input)</b>"), *(s for row in self.raw for s in row)]),
                    ]
                ),
                W.HBox([self.picture, W.VBox([self.matrix, self.message])]),
            ]
        )
        self._set_theta(affine.identity(), source="params")

    # ------------------------------------------------------------------ sync
    def _preset_handler(self, name: str) -> Callable[[object], None]:
        return lambda _button: self.apply_preset(name)

    def apply_preset(self, name: str) -> None:
        """Set the sliders to a preset from :data:`PRESETS`."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; expected one of {', '.join(PRESETS)}")
        with self._lock:
            self._set_theta(affine.build_theta(**PRESETS[name]), source=None)

    def _is_echo(self, change: dict) -> bool:
        """True for the front end bouncing back (snapped) a value we pushed; remembers real input."""
        slider = change["owner"]
        shown = self._shown.get(id(slider))
        echo = shown is not None and abs(slider.value - shown) < slider.step / 2
        self._shown[id(slider)] = slider.value
        return echo

    def _push(self, slider, value: float) -> None:
        """Show ``value`` on ``slider``, rounded to its step and clamped to its range."""
        snapped = min(max(round(value / slider.step) * slider.step, slider.min), slider.max)
        self._shown[id(slider)] = snapped
        slider.value = snapped

    # Handlers read ``owner.value``, not ``change["new"]``: traitlets stores a value before it
    # takes our lock, so with two threads moving one slider the handlers can run in the other
    # order; reading the slider's current value makes the last handler win with the last value.
    def _on_param(self, change: dict) -> None:
        with self._lock:
            if self._syncing or self._is_echo(change):
                return
            # start from the exact current theta and change only the moved slider: the other
            # sliders show rounded values, and rebuilding from them would nudge theta
            values = {k: float(v) for k, v in affine.decompose(self.theta).items()}
            values[change["owner"].description] = float(change["owner"].value)
            if values["scale_x"] == 0 or values["scale_y"] == 0:
                self.message.value = "<span style='color:#c00'>scale 0 squashes the image to a line: no theta.</span>"
                return
            self._set_theta(affine.build_theta(**values), source="params")

    def _on_raw(self, change: dict) -> None:
        with self._lock:
            if self._syncing or self._is_echo(change):
                return
            theta = self.theta.clone()  # exact; only the moved entry changes
            i, j = next((i, j) for i in range(2) for j in range(3) if self.raw[i][j] is change["owner"])
            theta[0, i, j] = float(change["owner"].value)
            try:
                affine.invert(theta)
            except ValueError:
                self.message.value = "<span style='color:#c00'>singular theta: it squashes the image to a line.</span>"
                return
            self._set_theta(theta, source="raw")

    def _on_image(self, _change: dict) -> None:
        with self._lock:
            self.render()

    def _set_theta(self, theta: Tensor, source: str | None) -> None:
        """Store theta and move the *other* slider family to match it (``source`` stays as the user set it)."""
        self.theta = theta
        self._syncing = True
        try:
            if source != "params":
                for k, v in affine.decompose(theta).items():
                    self._push(self.params[k], float(v))
            if source != "raw":
                for i in range(2):
                    for j in range(3):
                        self._push(self.raw[i][j], float(theta[0, i, j]))
        finally:
            self._syncing = False
        self.message.value = ""
        self.render()

    # ---------------------------------------------------------------- render
    def draw(self, image: Tensor, output: Tensor) -> Figure:
        """The picture for one state: input with the sampled region, and the output. Subclasses add panels."""
        fig = Figure(figsize=(6.4, 3.2), layout="tight")  # not pyplot: handlers may run on another thread
        a0, a1 = fig.subplots(1, 2)
        viz.imshow(a0, image, "input + sampled region")
        viz.draw_sampling_outline(a0, self.theta, tuple(image.shape[-2:]))
        viz.imshow(a1, output, "output")
        return fig

    def render(self) -> None:
        """Recompute the output for the current theta and redraw the picture and the matrix."""
        image = self.images[self.image_choice.value]
        self.output = affine.warp(image, self.theta, padding_mode=self.padding_mode)
        self.picture.value = viz.figure_to_png(self.draw(image, self.output))
        rows = "".join(
            "<tr>" + "".join(f"<td style='padding:2px 8px'>{v:+.3f}</td>" for v in row) + "</tr>"
            for row in self.theta[0].tolist()
        )
        self.matrix.value = f"<b>theta</b><table style='font-family:monospace'>{rows}</table>"


def explore_theta(image: Tensor | None = None, *, interactive: bool | None = None) -> ThetaExplorer | Figure:
    """Show the theta explorer if a front end renders widgets, else a static preset gallery.

    ``image``: ``(1, C, H, W)`` in ``[0, 1]`` (default: bundled MNIST and CIFAR-10 samples).
    Returns the :class:`ThetaExplorer` or the gallery figure.
    """
    from IPython.display import display

    if interactive is None:
        interactive = widgets_rendered()
    if interactive:
        explorer = ThetaExplorer(image)
        display(explorer.widget)
        return explorer
    if image is None:
        image = next(iter(sample_choices(1).values()))
    print(
        "No widget front end detected (headless run): showing the presets as a static gallery. "
        "In Jupyter, call explore_theta(interactive=True) to force the sliders."
    )
    fig = preset_gallery(image)
    plt.show()
    return fig


def place_on_canvas(digits: Tensor, canvas: int) -> Tensor:
    """Centre ``(B, C, h, w)`` images on a black ``(B, C, canvas, canvas)`` canvas (values in [0, 1])."""
    h, w = digits.shape[-2:]
    top, left = (canvas - h) // 2, (canvas - w) // 2
    out = digits.new_zeros(*digits.shape[:-2], canvas, canvas)
    out[..., top : top + h, left : left + w] = digits
    return out


class FoolTheSTN(ThetaExplorer):
    """Distort a digit with theta sliders and watch a trained ST-CNN and a CNN classify it, live.

    Args:
        digits: name -> ``(1, 1, H, W)`` images in ``[0, 1]`` already on the models' canvas.
        stn_model: classifier with a ``.stn`` (e.g. :func:`stnlib.models.mnist_stn_net`).
        cnn_model: the baseline, same input.
        mean, std: the normalization both models were trained with.
        classes: class names.

    The picture shows the distorted input, what the transformer makes of it, and the top-3
    probabilities with and without the STN.
    """

    def __init__(
        self,
        digits: dict[str, Tensor],
        stn_model: torch.nn.Module,
        cnn_model: torch.nn.Module,
        *,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        classes: tuple[str, ...],
    ) -> None:
        self.models = {"with STN": stn_model.eval(), "CNN, no STN": cnn_model.eval()}
        self.mean, self.std, self.classes = mean, std, classes
        self.probs: dict[str, Tensor] = {}
        super().__init__(digits)

    def _normalized(self, x: Tensor) -> Tensor:
        m = torch.tensor(self.mean).view(1, -1, 1, 1)
        s = torch.tensor(self.std).view(1, -1, 1, 1)
        return (x - m) / s

    @torch.inference_mode()
    def draw_row(self, axes, distorted: Tensor, title: str) -> None:
        """Four panels on ``axes``: the distorted input, the STN's view, top-3 with and without STN."""
        x = self._normalized(distorted)
        self.probs = {name: torch.softmax(m(x), dim=1)[0] for name, m in self.models.items()}
        stn_view, _ = self.models["with STN"].stn.transform(x)
        viz.imshow(axes[0], distorted, title)
        viz.imshow(axes[1], stn_view, "STN output", mean=self.mean, std=self.std)
        for ax, (name, p) in zip(axes[2:], self.probs.items()):
            viz.top_k_bars(ax, p, self.classes, title=name)

    def draw(self, image: Tensor, output: Tensor) -> Figure:
        fig = Figure(figsize=(10, 2.6), layout="tight")
        self.draw_row(fig.subplots(1, 4), output, "distorted input")
        return fig


def fooling_gallery(
    digit: Tensor,
    stn_model: torch.nn.Module,
    cnn_model: torch.nn.Module,
    *,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    classes: tuple[str, ...],
    distortions: dict[str, dict[str, float]] | None = None,
) -> Figure:
    """Static version of :class:`FoolTheSTN`: one row per distortion (``build_theta`` keywords)."""
    distortions = distortions or {
        "as is": {},
        "rotate 45°": {"rotation": 45},
        "rotate -70°": {"rotation": -70},
        "shrink 0.6x, move": {"scale_x": 0.6, "scale_y": 0.6, "tx": 0.3, "ty": -0.3},
        "shear 0.6": {"shear": 0.6},
    }
    fig = Figure(figsize=(10, 2.3 * len(distortions)), layout="tight")
    axes = fig.subplots(len(distortions), 4, squeeze=False)
    explorer = FoolTheSTN({"digit": digit}, stn_model, cnn_model, mean=mean, std=std, classes=classes)
    for row, (name, kw) in zip(axes, distortions.items()):
        explorer.draw_row(row, affine.warp(digit, affine.build_theta(**kw)), name)
    return fig


def explore_fooling(
    digits: dict[str, Tensor],
    stn_model: torch.nn.Module,
    cnn_model: torch.nn.Module,
    *,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    classes: tuple[str, ...],
    interactive: bool | None = None,
) -> FoolTheSTN | Figure:
    """:class:`FoolTheSTN` where widgets render, else :func:`fooling_gallery` of the first digit."""
    from IPython.display import display

    if interactive is None:
        interactive = widgets_rendered()
    if interactive:
        explorer = FoolTheSTN(digits, stn_model, cnn_model, mean=mean, std=std, classes=classes)
        display(explorer.widget)
        return explorer
    print("No widget front end detected (headless run): showing fixed distortions instead of sliders.")
    fig = fooling_gallery(next(iter(digits.values())), stn_model, cnn_model, mean=mean, std=std, classes=classes)
    display(fig)
    return fig
