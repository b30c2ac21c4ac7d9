"""The paper's own figures, the yardstick each notebook prints beside its result (one place for each).

Jaderberg, Simonyan, Zisserman, Kavukcuoglu, *Spatial Transformer Networks*, NeurIPS 2015 (arXiv 1506.02025).
Errors are test errors in percent, each the mean of three runs; the paper's CNNs see the whole canvas at full
resolution. :data:`PAPER` is keyed like our measurement it sits beside (``metrics.json`` stores it as
``paper_<key>``).

>>> PAPER["cluttered_stcnn_err"].value, PAPER["cluttered_cnn_err"].value
(1.7, 3.5)
>>> round(ratio("cluttered"), 2)  # the paper's ST-CNN error / its CNN's
0.49
>>> PAPER["rts_stcnn_err"].says()
'the paper: 0.5 % (ST-CNN, affine, RTS MNIST 42x42; Table 1, mean of 3 runs)'
"""

from __future__ import annotations

from dataclasses import dataclass

from .checks import check_choice

__all__ = ["PAPER", "WHY_OURS_DIFFER", "PaperFigure", "ratio"]


@dataclass(frozen=True)
class PaperFigure:
    """One number from the paper, what it measured and where the paper gives it."""

    value: float
    unit: str
    what: str
    where: str

    def says(self) -> str:
        """One line for a notebook: ``'the paper: 1.7 % (ST-CNN, ...; section 4.1, mean of 3 runs)'``."""
        return f"the paper: {self.value:g} {self.unit} ({self.what}; {self.where})"


PAPER: dict[str, PaperFigure] = {
    "rts_stcnn_err": PaperFigure(0.5, "%", "ST-CNN, affine, RTS MNIST 42x42", "Table 1, mean of 3 runs"),
    "rts_cnn_err": PaperFigure(0.8, "%", "CNN on the whole 42x42 canvas, RTS MNIST", "Table 1, mean of 3 runs"),
    "cluttered_stcnn_err": PaperFigure(1.7, "%", "ST-CNN, 60x60 cluttered MNIST", "section 4.1, mean of 3 runs"),
    "cluttered_cnn_err": PaperFigure(3.5, "%", "CNN on the whole 60x60 canvas", "section 4.1, mean of 3 runs"),
}

#: Why our numbers differ from the paper's, in one line a results cell prints.
WHY_OURS_DIFFER = (
    "why they differ: ours is one run of a few epochs on a CPU; the paper's is the mean of 3 runs of up to "
    "150,000 training iterations on a GPU"
)


def ratio(task: str) -> float:
    """The paper's ST-CNN error over its CNN's for ``task`` (``"rts"`` or ``"cluttered"``)."""
    task = check_choice(task, "task", ("rts", "cluttered"))
    return PAPER[f"{task}_stcnn_err"].value / PAPER[f"{task}_cnn_err"].value
