"""The paper's own figures, the yardstick each notebook prints beside its result (one place for each).

Jaderberg, Simonyan, Zisserman, Kavukcuoglu, *Spatial Transformer Networks*, NeurIPS 2015 (arXiv 1506.02025).
Errors are test errors in percent; the paper reports each as the mean of three runs, its CNNs see the whole
canvas, and it trains for up to 150,000 iterations on a GPU (our notebooks: a few epochs on a CPU, one seed).

>>> PAPER["cluttered_stcnn_err"].value, PAPER["cluttered_cnn_err"].value
(1.7, 3.5)
>>> round(ratio("cluttered"), 2)  # the paper's ST-CNN error / its CNN's
0.49
>>> PAPER["rts_stcnn_err"].says()
'the paper: 0.5 % (ST-CNN, affine, RTS MNIST 42x42, Table 1; mean of 3 runs)'
"""

from __future__ import annotations

from dataclasses import dataclass

from .checks import check_choice

__all__ = ["PAPER", "WHY_OURS_DIFFER", "PaperFigure", "ratio"]


@dataclass(frozen=True)
class PaperFigure:
    """One number from the paper: ``key`` is the ``metrics.json`` key of our measurement it sits beside."""

    key: str
    value: float
    unit: str
    what: str
    where: str

    def says(self) -> str:
        """One line for a notebook: ``'the paper: 1.7 % (ST-CNN, ...; mean of 3 runs)'``."""
        return f"the paper: {self.value:g} {self.unit} ({self.what}, {self.where}; mean of 3 runs)"


PAPER: dict[str, PaperFigure] = {
    f.key: f
    for f in (
        PaperFigure("rts_cnn_err", 0.8, "%", "CNN, RTS MNIST 42x42", "Table 1"),
        PaperFigure("rts_stcnn_err", 0.5, "%", "ST-CNN, affine, RTS MNIST 42x42", "Table 1"),
        PaperFigure("r_cnn_err", 1.2, "%", "CNN, MNIST rotated by up to ±90°", "Table 1"),
        PaperFigure("r_stcnn_err", 0.7, "%", "ST-CNN, affine, MNIST rotated by up to ±90°", "Table 1"),
        PaperFigure("cluttered_cnn_err", 3.5, "%", "CNN, 60x60 cluttered MNIST", "section 4.1"),
        PaperFigure("cluttered_stcnn_err", 1.7, "%", "ST-CNN, 60x60 cluttered MNIST", "section 4.1"),
    )
}

#: Why our numbers differ from the paper's, in one line a results cell prints.
WHY_OURS_DIFFER = (
    "ours is one run of a few epochs on a CPU; the paper's is the mean of 3 runs of up to 150,000 training "
    "iterations on a GPU"
)


def ratio(task: str) -> float:
    """The paper's ST-CNN error over its CNN's for ``task`` (``"rts"``, ``"r"`` or ``"cluttered"``)."""
    task = check_choice(task, "task", ("rts", "r", "cluttered"))
    return PAPER[f"{task}_stcnn_err"].value / PAPER[f"{task}_cnn_err"].value
