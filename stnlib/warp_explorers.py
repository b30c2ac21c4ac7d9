"""Notebook 5's explorers: the corners of a homography (:class:`ProjectiveExplorer`) and the control points of a
thin-plate spline (:class:`TPSExplorer`), built as the theta explorer is; static galleries where no front end renders
widgets. The kernel writes controls only for presets and points."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable

import ipywidgets as W
import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from torch import Tensor

from . import affine, figures, projective, tps
from .checks import check_choice
from .samples import load_samples
from .theta_explorer import Explorer, explore, make_slider, matrix_html, png_with_text

CORNER_NAMES = ("TL", "TR", "BR", "BL")  #: slider prefixes, in :data:`stnlib.projective.CORNERS` order
#: Preset -> where the output's corners (TL, TR, BR, BL) sample the input. "tilt left": the left edge leans away (it
#: reads a taller strip: content there looks smaller); "perspective": the top recedes; "zoom in": the central half.
PROJECTIVE_PRESETS: dict[str, tuple[tuple[float, float], ...]] = {
    "identity": projective.CORNERS,
    "tilt left": ((-1.0, -1.3), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.3)),
    "tilt right": ((-1.0, -1.0), (1.0, -1.3), (1.0, 1.3), (-1.0, 1.0)),
    "perspective": ((-1.4, -1.0), (1.4, -1.0), (1.0, 1.0), (-1.0, 1.0)),
    "zoom in": ((-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5)),
}
TPS_BENDS = ("reset", "random bend", "bulge", "wave")  #: :func:`bend_sources` names ("reset": no bend)
RANDOM_BEND_SEED = 5
CORNER_RANGE, OFFSET_RANGE = (-1.5, 1.5, 0.01), (-1.0, 1.0, 0.01)  #: slider (min, max, step)
SELECTED, DOTS, GRID = "#d62728", "#17becf", "#ff7f0e"  #: colours: the chosen point, the other points, grid lines
_RED = "<span style='color:#c00'>{}</span>"


def _check_image(image: Tensor | None) -> Tensor:
    """``image`` ``(1, C, H, W)``, C 1 or 3, as float32 on the CPU; ``None``: the first bundled MNIST test digit."""
    if image is None:
        return load_samples("mnist").images[:1]
    image = affine.check_images(image, name="image")
    if image.shape[0] != 1 or image.shape[1] not in (1, 3):
        raise ValueError(f"image must be one image of shape (1, C, H, W) with C = 1 or 3, got {tuple(image.shape)}")
    return image.detach().float().cpu()


def matrix_table(h: Tensor) -> str:
    """HTML for ``h`` ``(1, 3, 3)``: a ``<table class="stn-matrix">`` of 3 rows x 3 cells, 3 decimals."""
    return matrix_html(h, "h (output → input)", "stn-matrix")


def _matrix_text(h: Tensor, sep: str = "\n") -> str:
    return sep.join("[" + " ".join(figures.format_entry(v) for v in row) + "]" for row in h[0].tolist())


def _pixels(points: Tensor, size: tuple[int, int]) -> tuple[list[float], list[float]]:
    """Normalized points ``(..., 2)`` -> pixel ``(xs, ys)`` on an image of ``size`` ``(H, W)``, flattened."""
    p = points.detach().double().reshape(-1, 2)
    return tuple(affine.normalized_to_pixels(p[:, k], size[1 - k]).tolist() for k in (0, 1))


def _lines(ax: plt.Axes, grid: Tensor, rows: Iterable[int], size: tuple[int, int], width: float) -> None:
    """Rows and columns ``rows`` of ``grid`` ``(n, n, 2)`` (normalized points) as thin :data:`GRID` lines."""
    for k in rows:
        for line in (grid[k], grid[:, k]):
            ax.plot(*_pixels(line, size), color=GRID, linewidth=width, alpha=0.8)


def _frame(ax: plt.Axes, size: tuple[int, int], points: Tensor) -> None:  # limits hold points clipped to [-2, 2]
    figures.frame_image(ax, size, *_pixels(points.clamp(-2.0, 2.0), size))


def draw_quadrilateral(ax: plt.Axes, h: Tensor, size: tuple[int, int], lines: int = 3) -> None:
    """Where ``h`` ``(1, 3, 3)`` samples the input of ``size`` ``(H, W)`` shown in ``ax``: ``lines`` lines each way,
    then the quadrilateral (:func:`stnlib.figures.draw_outline`)."""
    grid = projective.homography_grid(h.float(), (lines + 2, lines + 2), align_corners=True)[0]  # (L, L, 2)
    _lines(ax, grid, range(1, lines + 1), size, 0.7)
    corners = torch.stack([grid[0, 0], grid[0, -1], grid[-1, -1], grid[-1, 0], grid[0, 0]])
    figures.draw_outline(ax, *_pixels(corners, size))
    _frame(ax, size, grid)


def draw_bent_grid(ax: plt.Axes, sources: Tensor, size: tuple[int, int], selected: int | None = None) -> None:
    """Where the spline of ``sources`` ``(1, K², 2)`` samples the input of ``size`` ``(H, W)`` shown in ``ax``:
    ``2 (K - 1)`` lines each way (through the control points), the sources as dots, ``selected`` in red."""
    n = 16 * (math.isqrt(sources.shape[1]) - 1) + 1  # 8 points per cell, 2 cells per control point spacing
    grid = tps.tps_grid(sources.float(), (n, n), align_corners=True)[0]  # (n, n, 2)
    _lines(ax, grid, range(0, n, 8), size, 0.8)
    xs, ys = _pixels(sources, size)
    ax.plot(xs, ys, "o", markersize=4, color=DOTS, markeredgecolor="black", markeredgewidth=0.5)
    if selected is not None:
        ax.plot(xs[selected], ys[selected], "o", markersize=8, color=SELECTED, markeredgecolor="white")
    _frame(ax, size, torch.cat([grid.reshape(-1, 2), sources[0]]))


def bend_sources(name: str, grid_size: int = 4) -> Tensor:
    """Sources ``(1, K², 2)`` of bend ``name`` (:data:`TPS_BENDS`) on :func:`stnlib.tps.control_points`: "reset" (no
    bend), "random bend" (seed :data:`RANDOM_BEND_SEED`, each point up to 0.25 each way), "bulge" (inner points read
    nearer the centre: it looks magnified), "wave" (points read up to 0.25 up or down). Offsets rounded to 0.01."""
    rest = tps.control_points(grid_size)
    x, y = rest.unbind(-1)
    offset = torch.zeros_like(rest)
    if check_choice(name, "bend", TPS_BENDS) == "random bend":
        offset = (torch.rand(rest.shape, generator=torch.Generator().manual_seed(RANDOM_BEND_SEED)) - 0.5) * 0.5
    elif name == "bulge":
        offset = -0.4 * rest * ((x.abs() < 1) & (y.abs() < 1)).unsqueeze(-1)
    elif name == "wave":
        offset[:, 1] = 0.25 * torch.sin(math.pi * x)
    return (rest + torch.round(offset * 100) / 100).unsqueeze(0)


class _Explorer(Explorer):
    """The checked ``image`` ``(1, C, H, W)`` and a redraw per input (a front end sends a slider's next value only
    once the kernel is done with the last: no backlog). Subclasses set ``_params`` and ``_warp`` (makes the output)
    and define ``_apply`` (input from a control; ``None``: a preset) and ``_draw`` (the figure, what it shows)."""

    def __init__(self, image: Tensor | None, presets: Iterable[str], action: Callable[[str], None]) -> None:
        self.image = _check_image(image)
        self.size: tuple[int, int] = tuple(self.image.shape[-2:])
        self._quiet = False
        self._parts(presets, action)

    def _layout(self, intro: str, *rows: list) -> None:
        """``widget``: ``intro``, the preset buttons, ``rows``, the picture."""
        wrap = W.Layout(flex_flow="row wrap")
        self.widget = W.VBox([W.HTML(intro), *(W.HBox(r, layout=wrap) for r in (self.buttons, *rows)), self.picture])

    def params(self) -> Tensor:
        """What the picture shows: the corners ``(1, 4, 2)`` or where the control points sample, ``(1, K², 2)``."""
        return self._params.clone()

    def output(self) -> Tensor:
        """The warped image ``(1, C, H, W)`` the picture shows."""
        return self._warp()

    def _set(self, values: dict[W.ValueWidget, float]) -> None:
        """Show ``values`` on their controls (not input: sliders clamp, nothing raises), ``_apply(None)``, redraw."""
        self._quiet = True
        for control, value in values.items():
            control.value = value
        self._quiet = False
        self._apply(None)
        self.render()

    def _on_input(self, change: dict) -> None:
        if not self._quiet:
            self._apply(change["owner"])
            self.render()

    def render(self) -> None:
        """Redraw the picture, its PNG text saying what it shows. Torch runs on one thread meanwhile: for tensors
        this small, waking a second one costs 100 times the work on a busy machine (measured)."""
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            fig, stated = self._draw()
        finally:
            torch.set_num_threads(threads)
        self.picture.value = png_with_text(figures.figure_to_png(fig), **stated)
        self.redraws += 1

    def _figure(self, title: str, left: str, right: str) -> tuple[Figure, plt.Axes, plt.Axes]:
        fig = Figure(figsize=(6.4, 3.6), layout="tight")  # not pyplot: never shown twice, never left open
        fig.suptitle(title, fontsize=8, family="monospace")
        a0, a1 = fig.subplots(1, 2)
        figures.imshow(a0, self.image, left)
        figures.imshow(a1, self.output(), right)
        return fig, a0, a1


class ProjectiveExplorer(_Explorer):
    """Eight sliders (``sliders``, ``"TL x"`` .. ``"BL y"``): where each corner of the output square samples the
    input; :data:`PROJECTIVE_PRESETS`; the input with the sampled quadrilateral, the output, and ``h`` ``(1, 3, 3)``
    (``matrix``). Corners that admit no homography (three on a line) are refused with a message."""

    def __init__(self, image: Tensor | None = None) -> None:
        super().__init__(image, PROJECTIVE_PRESETS, self.apply_preset)
        self.sliders = {
            f"{c} {a}": make_slider(f"{c} {a}", v, CORNER_RANGE, width="300px")
            for c, corner in zip(CORNER_NAMES, projective.CORNERS)
            for a, v in zip("xy", corner)
        }
        for s in self.sliders.values():
            s.observe(self._on_input, names="value")
        self.matrix, self._warp = W.HTML(), lambda: projective.warp_projective(self.image, self._h)
        pairs = {c: W.VBox([self.sliders[f"{c} x"], self.sliders[f"{c} y"]]) for c in CORNER_NAMES}
        self._layout(
            "Each corner of the <b>output</b> reads the input where its sliders say (x right, y down; the "
            "identity is the square ±1): TL top-left, TR top-right, BR bottom-right, BL bottom-left.",
            [pairs["TL"], pairs["TR"]],  # laid out as the corners are
            [pairs["BL"], pairs["BR"]],
            [self.matrix, self.message],
        )
        self.apply_preset("identity")

    def apply_preset(self, name: str) -> None:
        """Set the corners to :data:`PROJECTIVE_PRESETS` ``[name]`` and redraw."""
        corners = PROJECTIVE_PRESETS[check_choice(name, "preset", PROJECTIVE_PRESETS)]
        self._set(dict(zip(self.sliders.values(), torch.tensor(corners).flatten().tolist())))

    def _apply(self, _owner: W.ValueWidget | None) -> None:
        """Read the corners off the sliders; a quadrilateral that is not convex is kept, with a warning."""
        corners = torch.tensor([s.value for s in self.sliders.values()]).view(1, 4, 2)
        try:
            self._h, self._params = projective.homography_from_corners(corners), corners
        except ValueError:
            self.message.value = _RED.format("Three corners on a line: no homography (showing the last one).")
            return
        edges = corners[0].roll(-1, 0) - corners[0]
        turns = torch.linalg.det(torch.stack([edges, edges.roll(-1, 0)], dim=1))  # cross products of turning edges
        convex = bool((turns > 0).all() or (turns < 0).all())
        self.message.value = "" if convex else _RED.format("Not convex: part of the output lies beyond the horizon.")

    def _draw(self) -> tuple[Figure, dict[str, str]]:
        title = "h = " + _matrix_text(self._h, "  ")
        fig, a0, _ = self._figure(title, "input + sampled region", "output")
        draw_quadrilateral(a0, self._h, self.size)
        self.matrix.value = matrix_table(self._h)
        corners, h = json.dumps(self._params[0].tolist()), json.dumps(self._h[0].flatten().tolist())
        return fig, {"Title": title, "corners": corners, "h": h}


class TPSExplorer(_Explorer):
    """A thin-plate spline on a ``grid_size`` x ``grid_size`` lattice (:func:`stnlib.tps.control_points`): choose a
    control point (``point``) and move where it samples the input (``dx``, ``dy``: from where it rests); bends from
    :data:`TPS_BENDS`. The picture: the input with the bent sampling grid (the chosen point in red), the output."""

    def __init__(self, image: Tensor | None = None, *, grid_size: int = 4) -> None:
        super().__init__(image, TPS_BENDS, self.apply_bend)
        self.rest = tps.control_points(grid_size)  # (K², 2); checks grid_size
        k, self._warp = math.isqrt(len(self.rest)), lambda: tps.warp_tps(self.image, self._params)
        self.grid_size = k
        self.point = W.Dropdown(
            options=[(f"{i}: row {i // k}, column {i % k}", i) for i in range(k * k)],
            value=k + 1,
            description="point",
            layout=W.Layout(width="260px"),
        )
        self.dx, self.dy = (make_slider(d, 0.0, OFFSET_RANGE, width="300px") for d in ("dx", "dy"))
        self.info = W.HTML()
        for s in (self.dx, self.dy):
            s.observe(self._on_input, names="value")
        self.point.observe(lambda _change: self._select(), names="value")
        self._layout(
            "Choose a control point of the <b>output</b>, then move where it reads the input (dx, dy: "
            "from where it rests); the spline bends smoothly between the points.",
            [self.point, self.dx, self.dy],
            [self.info, self.message],
        )
        self.apply_bend("reset")

    def apply_bend(self, name: str) -> None:
        """Set all sources to :func:`bend_sources` ``(name)`` and redraw."""
        self._params = bend_sources(name, self.grid_size)
        self._select()

    def _select(self) -> None:  # show the chosen point's offset on dx, dy
        offset = self._params[0, self.point.value] - self.rest[self.point.value]
        self._set(dict(zip((self.dx, self.dy), offset.tolist())))

    def _apply(self, owner: W.ValueWidget | None) -> None:
        if owner is not None:
            i, axis = self.point.value, int(owner is self.dy)
            self._params = self._params.clone()
            self._params[0, i, axis] = self.rest[i, axis] + float(owner.value)

    def _draw(self) -> tuple[Figure, dict[str, str]]:
        i, k = self.point.value, self.grid_size
        (x, y), (u, v) = self.rest[i].tolist(), self._params[0, i].tolist()
        title = f"point {i} (row {i // k}, column {i % k}) at ({x:+.2f}, {y:+.2f}) reads ({u:+.2f}, {v:+.2f})"
        fig, a0, a1 = self._figure(title, "input + where the output samples", "output + control points")
        draw_bent_grid(a0, self._params, self.size, i)
        draw_bent_grid(a1, self.rest.unsqueeze(0), self.size, i)
        self.info.value = f"<span class='stn-tps-point'>{title}</span>"
        return fig, {"Title": title, "sources": json.dumps(self._params[0].tolist()), "selected": str(i)}


def _gallery(image: Tensor | None, params: dict[str, Tensor], draw, warp, label: str, caption) -> Figure:
    """Static figure: per ``title: p`` of ``params``, ``image`` with ``draw(ax, p, size)`` over ``warp(image, p)``
    captioned ``caption(p)``; ``label`` names what the first row shows."""
    image = _check_image(image)
    fig, axes = plt.subplots(2, len(params), figsize=(2.2 * len(params), 5.0), squeeze=False)
    for k, (title, p) in enumerate(params.items()):
        figures.imshow(axes[0, k], image, title)
        draw(axes[0, k], p, tuple(image.shape[-2:]))
        figures.imshow(axes[1, k], warp(image, p))
        axes[1, k].set_title(caption(p), fontsize=7, family="monospace")
    axes[0, 0].set_ylabel(f"input +\n{label}", fontsize=9)
    axes[1, 0].set_ylabel("output", fontsize=9)
    fig.tight_layout()
    return fig


def projective_gallery(image: Tensor | None = None) -> Figure:
    """:data:`PROJECTIVE_PRESETS` on ``image`` ``(1, C, H, W)`` (default: a bundled MNIST digit), ``h`` below each."""
    hs = {name: projective.homography_from_corners(torch.tensor([c])) for name, c in PROJECTIVE_PRESETS.items()}
    return _gallery(image, hs, draw_quadrilateral, projective.warp_projective, "sampled region", _matrix_text)


def tps_gallery(image: Tensor | None = None, *, grid_size: int = 4) -> Figure:
    """:data:`TPS_BENDS` on ``image`` ``(1, C, H, W)`` (default: a bundled MNIST digit)."""
    bends = {"no bend" if name == "reset" else name: bend_sources(name, grid_size) for name in TPS_BENDS}
    return _gallery(image, bends, draw_bent_grid, tps.warp_tps, "where the output samples", lambda _p: "")


_HEADLESS = "No widget front end detected (headless run): a static gallery. In Jupyter, pass interactive=True."


def explore_projective(image: Tensor | None = None, *, interactive: bool | None = None) -> ProjectiveExplorer | Figure:
    """The :class:`ProjectiveExplorer` for ``image`` ``(1, C, H, W)`` in ``[0, 1]`` (default: a bundled MNIST digit)
    if a front end renders widgets (or ``interactive=True``), else :func:`projective_gallery`."""
    return explore(lambda: ProjectiveExplorer(image), lambda: projective_gallery(image), interactive, _HEADLESS)


def explore_tps(
    image: Tensor | None = None, *, grid_size: int = 4, interactive: bool | None = None
) -> TPSExplorer | Figure:
    """The :class:`TPSExplorer` for ``image`` ``(1, C, H, W)`` in ``[0, 1]`` (default: a bundled MNIST digit) if a
    front end renders widgets (or ``interactive=True``), else :func:`tps_gallery`."""
    make = lambda: TPSExplorer(image, grid_size=grid_size)
    return explore(make, lambda: tps_gallery(image, grid_size=grid_size), interactive, _HEADLESS)
