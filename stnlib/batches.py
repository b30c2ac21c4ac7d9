"""uint8 images ``(N, C, H, W)`` and labels ``(N,)`` as batches normalized ``(x / 255 - mean) / std`` per channel."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler

from . import checks
from .checks import check_bool, check_floats, check_int, check_tensor


def _check_labels(labels: object, name: str, n: int, classes: int = 10) -> Tensor:
    """``labels`` (an integer tensor, array or list) as int64 ``(n,)`` with values in ``0 .. classes - 1``."""
    if not isinstance(labels, Tensor):
        listed = isinstance(labels, np.ndarray | Sequence) and not isinstance(labels, checks.TEXT)
        array = np.asarray(labels) if listed else None
        if array is None or (array.dtype.kind not in "iuf" and array.size):
            raise checks.ArgumentTypeError(
                f"{name} must be integers (a tensor, array or list), got {checks.describe(labels)}"
            )
        labels = torch.as_tensor(array if array.size else array.astype(np.int64))
    labels = check_tensor(labels, name, shape=(n,), kind="real")
    if labels.is_floating_point() and not bool((labels == labels.round()).all()):  # NaN too
        raise ValueError(f"{name} must be whole numbers (class indices), got {checks.describe(labels)} with fractions")
    labels = labels.long()
    if n and not (0 <= int(labels.min()) and int(labels.max()) < classes):
        raise ValueError(
            f"{name} must lie in 0..{classes - 1} (one class index per image), got values in "
            f"[{int(labels.min())}, {int(labels.max())}]"
        )
    return labels


class ArrayDataset(Dataset):
    """``ds[indices]`` (slice, list, array or tensor): a normalized batch ``((B, C, H, W), (B,))``, labels in
    ``0 .. classes - 1``; ``transform`` maps the ``[0, 1]`` batch before normalizing."""

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        *,
        mean: Sequence[float],
        std: Sequence[float],
        transform: Callable[[Tensor], Tensor] | None = None,
        classes: int = 10,
    ) -> None:
        images = check_tensor(images, "images", shape=("N", "C", "H", "W"), kind="uint8")
        labels = _check_labels(labels, "labels", len(images), check_int(classes, "classes", min=1))
        c = int(images.shape[1])
        mean, std = check_floats(mean, "mean", length=c), check_floats(std, "std", length=c, positive=True)
        self.mean, self.std = (torch.tensor(v, dtype=torch.float32).reshape(1, -1, 1, 1) for v in (mean, std))
        self.images, self.labels = images, labels
        self.transform = checks.check_callable(transform, "transform", optional=True)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: slice | Sequence[int] | np.ndarray | Tensor) -> tuple[Tensor, Tensor]:
        index = range(len(self))[index] if isinstance(index, slice) else index
        idx = torch.as_tensor(index if isinstance(index, Tensor) else np.asarray(index), dtype=torch.int64).reshape(-1)
        x = self.images[idx].float().div_(255.0)
        x = (x if self.transform is None else self.transform(x)) - self.mean
        return x / self.std, self.labels[idx]


def make_loader(
    images: Tensor,
    labels: Tensor,
    *,
    batch_size: int,
    shuffle: bool,
    mean: Sequence[float],
    std: Sequence[float],
    transform: Callable[[Tensor], Tensor] | None = None,
    seed: int = 0,
    classes: int = 10,
) -> DataLoader:
    """A :class:`DataLoader` of normalized batches ``((B, C, H, W), (B,))``, one indexing step each. With ``shuffle``
    each epoch is a fresh permutation seeded by ``seed``; epochs' base seeds come from ``seed + 1``, not torch's RNG."""
    batch_size, shuffle = check_int(batch_size, "batch_size", min=1), check_bool(shuffle, "shuffle")
    seed = checks.check_seed(seed)
    dataset = ArrayDataset(images, labels, mean=mean, std=std, transform=transform, classes=classes)
    order = RandomSampler(dataset, generator=torch.Generator().manual_seed(seed)) if shuffle else range(len(dataset))
    return DataLoader(
        dataset,
        batch_size=None,
        sampler=BatchSampler(order, batch_size=batch_size, drop_last=False),
        generator=torch.Generator().manual_seed(seed + 1),
    )
