"""The paper's Table 1 on our budget: four distorted-MNIST sets (columns :data:`~stnlib.paper.TABLE1_COLUMNS`; ``"rts"``
on 42x42, the others on 28x28) and four models (rows :data:`~stnlib.paper.TABLE1_MODELS`): notebook 2's CNN on the
whole canvas, and three ST-CNNs that differ only in the transformer (affine, projective, 4x4 thin-plate spline), each
starting at the identity, with the same localization and the same classifier on a 28x28 view.

>>> net = table1_net("p", "tps", fill=0.0)
>>> tuple(net(torch.zeros(2, 1, 28, 28)).shape), type(net.stn).__name__
((2, 10), 'TPSTransformer')
"""

from __future__ import annotations

import statistics
from collections.abc import Hashable, Mapping, Sequence

import torch  # noqa: F401 (the doctest builds its input with it)
from torch import nn

from . import checks, models
from .distort import DIGIT_SIZE, RTS_CANVAS
from .models import STNClassifier
from .paper import TABLE1_COLUMNS, TABLE1_MODELS
from .projective import ProjectiveTransformer
from .tps import TPSTransformer

CANVAS: dict[str, int] = {"r": DIGIT_SIZE, "rts": RTS_CANVAS, "p": DIGIT_SIZE, "e": DIGIT_SIZE}  #: canvas (pixels)
VIEW = 28  #: the classifier's view (pixels), as in the paper


def _localization(canvas: int) -> tuple[nn.Module, int]:
    """Notebook 2's RTS localization on the 2x pooled canvas (two convolutions fit a 28x28 canvas, not three)."""
    if canvas >= 42:
        return models.bn_localization(1, canvas, channels=(32, 64, 64), hidden=128, kernel=(5, 5, 3), downsample=2)
    return models.bn_localization(1, canvas, channels=(32, 64), hidden=128, kernel=(5, 5), downsample=2)


def table1_net(column: str, model: str, *, fill: float | None = None) -> STNClassifier:
    """The ``model`` row's network for the ``column`` set: input ``(B, 1, S, S)`` (``S = CANVAS[column]``), logits
    ``(B, 10)``. ``fill``: the value the transformer reads outside the canvas (normalized black)."""
    column = checks.check_choice(column, "column", tuple(TABLE1_COLUMNS))
    model = checks.check_choice(model, "model", tuple(TABLE1_MODELS))
    canvas = CANVAS[column]
    if model == "cnn":
        return models.mnist_cnn(canvas)  # the whole canvas at full resolution
    loc, features = _localization(canvas)
    size = (VIEW, VIEW)
    if model == "affine":
        stn = models.SpatialTransformer(loc, features, out_size=size, fill=fill)
    elif model == "projective":
        stn = ProjectiveTransformer(loc, features, out_size=size, fill=fill)
    else:
        stn = TPSTransformer(loc, features, grid_size=4, out_size=size, fill=fill)
    return STNClassifier(models.lenet_bn(VIEW), stn)


def summarize(errors: Mapping[Hashable, Sequence[float]]) -> dict[Hashable, tuple[float, float, int]]:
    """Each cell's test errors (one per seed) -> ``(mean, std, seeds)``; the std (sample, n - 1) is 0 for one seed.

    >>> summarize({("e", "tps"): [1.0, 2.0, 3.0]})
    {('e', 'tps'): (2.0, 1.0, 3)}
    """
    out = {}
    for key, values in errors.items():
        values = [checks.check_float(v, f"errors[{key!r}]") for v in values]
        if not values:
            raise ValueError(f"errors[{key!r}] holds no runs: every cell needs at least one test error")
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        out[key] = (statistics.fmean(values), std, len(values))
    return out


def format_cell(mean: float, std: float, seeds: int) -> str:
    """``"1.23 ± 0.10 (3)"``, or ``"1.23 (1 run)"`` where one seed gives no spread."""
    return f"{mean:.2f} ± {std:.2f} ({seeds})" if seeds > 1 else f"{mean:.2f} (1 run)"
