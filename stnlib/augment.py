"""Batched data augmentation on ``[0, 1]`` image batches, run *before* normalization and the STN.

``transform`` callables for :func:`stnlib.data.make_loader`: they take a float batch
``(B, C, H, W)`` in ``[0, 1]`` and return one of the same shape. Randomness comes from a
``torch.Generator`` so a seeded loader gives the same augmented batches every run.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["RandomCropFlip"]


class RandomCropFlip:
    """Standard CIFAR augmentation: pad by ``pad`` pixels (zeros = black, since it runs before
    normalization), take a random ``H x W`` crop, and mirror left-right with probability ``flip_p``.

    Vectorised: one gather for the whole batch, no per-image Python loop.
    """

    def __init__(self, pad: int = 4, flip_p: float = 0.5, *, seed: int = 0) -> None:
        if pad < 0 or not 0.0 <= flip_p <= 1.0:
            raise ValueError(f"need pad >= 0 and 0 <= flip_p <= 1, got pad={pad}, flip_p={flip_p}")
        self.pad, self.flip_p = pad, flip_p
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, images: Tensor) -> Tensor:
        if images.dim() != 4:
            raise ValueError(f"images must have shape (B, C, H, W), got {tuple(images.shape)}")
        b, _, h, w = images.shape
        p = self.pad
        padded = F.pad(images, (p, p, p, p))  # (B, C, H + 2p, W + 2p)
        dy = torch.randint(0, 2 * p + 1, (b,), generator=self.generator)
        dx = torch.randint(0, 2 * p + 1, (b,), generator=self.generator)
        flip = torch.rand(b, generator=self.generator) < self.flip_p
        x = torch.arange(w)
        x = torch.where(flip[:, None], w - 1 - x, x)  # (B, W): mirrored column order for flipped images
        rows = (dy[:, None] + torch.arange(h))[:, :, None]  # (B, H, 1)
        cols = (dx[:, None] + x)[:, None, :]  # (B, 1, W)
        batch = torch.arange(b)[:, None, None]
        return padded[batch, :, rows, cols].permute(0, 3, 1, 2).contiguous()  # (B, H, W, C) -> (B, C, H, W)
