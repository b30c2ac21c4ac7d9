"""Learning GIFs: what a transformer does to a fixed batch while it trains.

:class:`ThetaSnapshots` is a :class:`~stnlib.train.Callback` for :func:`~stnlib.train.fit`
that records :class:`Snapshot` s (theta ``(B, 2, 3)`` and the transformer's output) before
training, after every epoch and optionally every few steps of epoch 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .train import Callback, EpochStats, EvalMode, _model_device

__all__ = ["Snapshot", "ThetaSnapshots"]


@dataclass(frozen=True)
class Snapshot:
    """The transformer on a fixed batch at one moment: ``theta (B, 2, 3)``, ``output (B, C, H', W')`` (CPU).

    ``epoch`` is 0 before training, else the epoch in progress (or just finished);
    ``test_acc`` is the epoch's test accuracy for end-of-epoch snapshots, else ``None``.
    """

    step: int
    epoch: int
    theta: Tensor
    output: Tensor
    test_acc: float | None


def _transformer_of(model: nn.Module) -> nn.Module:
    stn = getattr(model, "stn", None)
    if stn is None or not callable(getattr(stn, "transform", None)):
        raise ValueError(
            f"{type(model).__name__} has no spatial transformer at .stn (e.g. STNClassifier(..., stn=None)); "
            "theta snapshots need one"
        )
    return stn


class ThetaSnapshots(Callback):
    """Record ``model.stn.transform(images)`` before training, after every epoch, and optionally more often.

    Args:
        images: a fixed batch ``(B, C, H, W)``, already normalized as the model sees it.
        every_steps: also record every ``k`` optimizer steps during the **first** epoch,
            where theta changes fastest (a step that ends epoch 1 is recorded once, as the epoch snapshot).

    Snapshots are taken in eval mode under ``no_grad`` (modes are restored). With ``S`` steps per
    epoch and ``E`` epochs there are ``1 + E`` snapshots, or ``ceil(S / k) + E`` with ``every_steps=k``.
    """

    def __init__(self, images: Tensor, *, every_steps: int | None = None) -> None:
        if not isinstance(images, Tensor) or images.ndim != 4:
            raise ValueError(f"images must be a tensor of shape (B, C, H, W), got {getattr(images, 'shape', images)}")
        if every_steps is not None and every_steps < 1:
            raise ValueError(f"every_steps must be a positive integer or None, got {every_steps}")
        self.images = images.detach().clone()
        self.every_steps = every_steps
        self._snapshots: list[Snapshot] = []

    @property
    def snapshots(self) -> list[Snapshot]:
        return self._snapshots

    @property
    def steps(self) -> list[int]:
        """The step of each snapshot."""
        return [s.step for s in self._snapshots]

    @property
    def thetas(self) -> Tensor:
        """All thetas stacked: ``(num_snapshots, B, 2, 3)`` (feed one row to :func:`stnlib.affine.decompose`)."""
        return torch.stack([s.theta for s in self._snapshots])

    def record(self, model: nn.Module, step: int, epoch: int, test_acc: float | None = None) -> Snapshot:
        """Take one snapshot now (also usable by hand, outside :func:`fit`).

        A snapshot at the same step as the previous one replaces it (the end-of-epoch snapshot knows ``test_acc``).
        """
        stn = _transformer_of(model)
        with EvalMode(stn), torch.no_grad():
            out, theta = stn.transform(self.images.to(_model_device(stn)))
        snap = Snapshot(step, epoch, theta.detach().cpu(), out.detach().cpu(), test_acc)
        if self._snapshots and self._snapshots[-1].step == step:
            self._snapshots[-1] = snap
        else:
            self._snapshots.append(snap)
        return snap

    def on_train_begin(self, model: nn.Module) -> None:
        _transformer_of(model)  # fail before training, not after the first epoch
        self._snapshots.clear()
        self.record(model, 0, 0)

    def on_step_end(self, model: nn.Module, step: int, epoch: int) -> None:
        if self.every_steps is not None and epoch == 1 and step % self.every_steps == 0:
            self.record(model, step, epoch)

    def on_epoch_end(self, model: nn.Module, stats: EpochStats) -> None:
        self.record(model, stats.step, stats.epoch, stats.test_acc)
