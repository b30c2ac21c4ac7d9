"""The bundled real test images in ``assets/samples/`` (see its README for provenance).

>>> s = load_samples("mnist")   # s.images: (500, 1, 28, 28) float in [0, 1]; s.labels: (500,) int64
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .env import SAMPLES

__all__ = ["DATASETS", "SampleSet", "load_samples", "sample_image"]

DATASETS: tuple[str, ...] = ("mnist", "cifar10")


@dataclass(frozen=True)
class SampleSet:
    """Bundled images. ``images``: ``(N, C, H, W)`` float32 in ``[0, 1]``; ``labels``: ``(N,)`` int64."""

    name: str
    images: Tensor
    labels: Tensor
    test_indices: np.ndarray
    classes: tuple[str, ...]

    def describe(self) -> str:
        return f"{len(self.labels)} bundled real {self.name.upper()} test images (assets/samples)"


def load_samples(name: str) -> SampleSet:
    """Load ``assets/samples/<name>_test_samples.npz`` for ``name`` in :data:`DATASETS`."""
    if name not in DATASETS:
        raise ValueError(f"unknown sample set {name!r}; expected one of {', '.join(DATASETS)}")
    path = SAMPLES / f"{name}_test_samples.npz"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing. It ships with the repository; in a checkout run `git checkout -- assets/samples`, "
            "or rebuild it from the offline datasets with `python scripts/make_samples.py`."
        )
    with np.load(path) as d:
        x = torch.from_numpy(d["images"]).float() / 255.0
        x = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)
        return SampleSet(
            name=name,
            images=x.contiguous(),
            labels=torch.from_numpy(d["labels"].astype(np.int64)),
            test_indices=d["test_indices"],
            classes=tuple(str(c) for c in d["classes"]),
        )


def sample_image(name: str, index: int = 0) -> Tensor:
    """One bundled image as a batch of one, ``(1, C, H, W)`` in ``[0, 1]``."""
    s = load_samples(name)
    if not 0 <= index < len(s.labels):
        raise ValueError(f"index must be in [0, {len(s.labels)}), got {index}")
    return s.images[index : index + 1].clone()
