"""The bundled real test images in ``assets/samples/`` (provenance: its README; built by ``tools/make_samples.py``)."""

from dataclasses import dataclass

import numpy as np
import torch

from .env import SAMPLES


@dataclass(frozen=True)
class SampleSet:
    """``images``: ``(N, C, H, W)`` float32 in ``[0, 1]``; ``labels``: ``(N,)`` int64; ``test_indices``: test rows."""

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    test_indices: np.ndarray
    classes: tuple[str, ...]

    def describe(self) -> str:
        """E.g. ``"500 bundled real MNIST test images (assets/samples)"``."""
        return f"{len(self.labels)} bundled real {self.name.upper()} test images (assets/samples)"


def load_samples(name: str) -> SampleSet:
    """``assets/samples/<name>_test_samples.npz``, ``name`` ``"mnist"`` or ``"cifar10"``."""
    if name not in ("mnist", "cifar10"):
        raise ValueError(f"unknown sample set {name!r}; expected one of mnist, cifar10")
    if not (path := SAMPLES / f"{name}_test_samples.npz").exists():
        raise FileNotFoundError(f"{path} not found: `git checkout -- assets/samples` or `python -m tools.make_samples`")
    with np.load(path) as d:
        x = torch.from_numpy(d["images"]).float() / 255.0
        x = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)
        labels, classes = torch.from_numpy(d["labels"].astype(np.int64)), tuple(str(c) for c in d["classes"])
        return SampleSet(name, x.contiguous(), labels, d["test_indices"], classes)
