"""The paper's own figures, printed beside our results: Jaderberg et al., *Spatial Transformer Networks*, NeurIPS 2015
(arXiv 1506.02025). Errors are test errors in percent, each the mean of three runs; :data:`PAPER` is keyed like our
measurement it sits beside (``metrics.json`` stores it as ``paper_<key>``).

>>> round(ratio("cluttered"), 2)  # the paper's ST-CNN error / its CNN's: 1.7 / 3.5
0.49
>>> PAPER["rts_stcnn_err"].says()
'the paper: 0.5 % (ST-CNN, affine, RTS MNIST 42x42; Table 1, mean of 3 runs)'
>>> PAPER["e_tps_err"].value, PAPER["e_affine_err"].value  # Table 1's E column: TPS 1.1, affine 1.2
(1.1, 1.2)
"""

from __future__ import annotations

from dataclasses import dataclass

from .checks import check_choice


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


#: Table 1's distorted-MNIST columns and its CNN and ST-CNN rows; ``TABLE1[model][column]``: % test error.
TABLE1_COLUMNS: dict[str, str] = {"r": "R", "rts": "RTS", "p": "P", "e": "E"}
TABLE1_MODELS: dict[str, str] = {
    "cnn": "CNN",
    "affine": "ST-CNN affine",
    "projective": "ST-CNN projective",
    "tps": "ST-CNN TPS",
}
TABLE1: dict[str, dict[str, float]] = {
    "cnn": {"r": 1.2, "rts": 0.8, "p": 1.5, "e": 1.4},
    "affine": {"r": 0.7, "rts": 0.5, "p": 0.8, "e": 1.2},
    "projective": {"r": 0.8, "rts": 0.6, "p": 0.8, "e": 1.3},
    "tps": {"r": 0.7, "rts": 0.5, "p": 0.8, "e": 1.1},
}


def _table1_figure(model: str, column: str) -> PaperFigure:
    canvas = "42x42" if column == "rts" else "28x28"
    what = f"{TABLE1_MODELS[model].replace('ST-CNN ', 'ST-CNN, ')}, {TABLE1_COLUMNS[column]} MNIST {canvas}"
    if model == "cnn" and column == "rts":
        what = "CNN on the whole 42x42 canvas, RTS MNIST"
    return PaperFigure(TABLE1[model][column], "%", what, "Table 1, mean of 3 runs")


PAPER: dict[str, PaperFigure] = {
    **{f"{c}_{m}_err": _table1_figure(m, c) for m in TABLE1_MODELS for c in TABLE1_COLUMNS},
    "rts_stcnn_err": _table1_figure("affine", "rts"),
    "rts_cnn_err": _table1_figure("cnn", "rts"),
    "cluttered_stcnn_err": PaperFigure(1.7, "%", "ST-CNN, 60x60 cluttered MNIST", "section 4.1, mean of 3 runs"),
    "cluttered_cnn_err": PaperFigure(3.5, "%", "CNN on the whole 60x60 canvas", "section 4.1, mean of 3 runs"),
    "two_stn_err": PaperFigure(
        5.8, "%", "2xST-FCN, MNIST addition, one digit per channel of a 42x42 input", "appendix A.1"
    ),
    "two_stn_cnn_err": PaperFigure(14.7, "%", "CNN, MNIST addition", "appendix A.1"),
}

#: The paper's budget behind each figure (its appendix), and why our numbers differ, as a results cell prints it.
PAPER_BUDGET = "the mean of 3 runs of up to 150,000 training iterations on a GPU"
WHY_OURS_DIFFER = f"why they differ: ours is one run of a few epochs on a CPU; the paper's is {PAPER_BUDGET}"


def ratio(task: str) -> float:
    """The paper's ST-CNN error over its CNN's for ``task`` (``"rts"`` or ``"cluttered"``)."""
    task = check_choice(task, "task", ("rts", "cluttered"))
    return PAPER[f"{task}_stcnn_err"].value / PAPER[f"{task}_cnn_err"].value
