"""The theta explorer (notebook 1) and "fool the STN" (notebook 2), each a static gallery where no front end renders
ipywidgets (:func:`stnlib.env.widgets_rendered`), so executed reports keep pictures."""

from __future__ import annotations

import torch
from IPython.display import display
from matplotlib.figure import Figure
from torch import Tensor

from . import affine, figures
from .env import widgets_rendered
from .loop import model_device
from .theta_explorer import PRESETS, ThetaExplorer, explore, sample_choices, title_with_theta
from .theta_explorer import theta_table as theta_table
from .train import to_cpu, transform_batch


def preset_gallery(image: Tensor) -> Figure:
    """Static figure: for each of :data:`PRESETS`, the input ``(1, C, H, W)`` with the sampled region, the output."""
    thetas = torch.cat([affine.build_theta(**kw) for kw in PRESETS.values()])
    images = image.expand(len(PRESETS), -1, -1, -1)
    return figures.show_before_after(images, thetas, affine.warp(images, thetas), list(PRESETS))


def explore_theta(image: Tensor | None = None, *, interactive: bool | None = None) -> ThetaExplorer | Figure:
    """The :class:`ThetaExplorer` for ``image`` ``(1, C, H, W)`` in ``[0, 1]`` (default: bundled samples) if a
    front end renders widgets (or ``interactive=True``), else :func:`preset_gallery`."""
    return explore(
        lambda: ThetaExplorer(image),
        lambda: preset_gallery(next(iter(sample_choices(1).values())) if image is None else image),
        interactive,
        "No widget front end detected (headless run): showing the presets as a static gallery. "
        "In Jupyter, call explore_theta(interactive=True) to force the sliders.",
    )


def place_on_canvas(digits: Tensor, canvas: int) -> Tensor:
    """Centre ``(B, C, h, w)`` images on a black ``(B, C, canvas, canvas)`` canvas (values in [0, 1])."""
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
        title_with_theta(fig, self.theta)
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
            ok = {"stn_ok": int(stn[k].argmax()) == y, "cnn_ok": int(cnn[k].argmax()) == y}
            cases.append({"digit": name, "distortion": distortion, **ok, "margin": float(stn[k, y] - cnn[k, y])})
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
        theta = affine.build_theta(**DISTORTIONS[best["distortion"]])
        explorer.draw_row(row, explorer.images[name], theta, f"{name}\n{best['distortion']}: {verdict}")
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
        (explorer := FoolTheSTN(digits, stn_model, cnn_model, mean=mean, std=std, classes=classes)).show()
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
