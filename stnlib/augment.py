"""Batched augmentation of float ``(B, C, H, W)`` batches in ``[0, 1]``, run before normalization and the STN."""

import torch
import torch.nn.functional as F
from torch import Tensor


class RandomCropFlip:
    """Pad by ``pad`` black pixels, crop a random ``H x W`` window, mirror with probability ``flip_p``: a
    ``transform`` for :func:`stnlib.data.make_loader`, one gather per batch, drawn from its own ``seed``ed generator."""

    def __init__(self, pad: int = 4, flip_p: float = 0.5, *, seed: int = 0) -> None:
        if pad < 0 or not 0.0 <= flip_p <= 1.0:
            raise ValueError(f"need pad >= 0 and 0 <= flip_p <= 1, got pad={pad}, flip_p={flip_p}")
        self.pad, self.flip_p, self.generator = pad, flip_p, torch.Generator().manual_seed(seed)

    def __call__(self, images: Tensor) -> Tensor:
        if images.dim() != 4:
            raise ValueError(f"images must have shape (B, C, H, W), got {tuple(images.shape)}")
        (b, _, h, w), p = images.shape, self.pad
        dy = torch.randint(0, 2 * p + 1, (b,), generator=self.generator)
        dx = torch.randint(0, 2 * p + 1, (b,), generator=self.generator)
        flip = torch.rand(b, generator=self.generator) < self.flip_p
        cols = torch.where(flip[:, None], w - 1 - torch.arange(w), torch.arange(w))  # (B, W), mirrored when flipped
        rows = (dy[:, None] + torch.arange(h))[:, :, None]  # (B, H, 1)
        out = F.pad(images, (p, p, p, p))[torch.arange(b)[:, None, None], :, rows, (dx[:, None] + cols)[:, None, :]]
        return out.permute(0, 3, 1, 2).contiguous()  # the gather gives (B, H, W, C)
