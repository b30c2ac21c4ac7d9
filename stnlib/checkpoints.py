"""Checkpoints: atomic, ``weights_only``-loadable files that fail loudly instead of loading half a model.

:func:`save_checkpoint` writes ``{"format", "version", "model_state", "optimizer_state",
"history", "meta"}`` with :func:`torch.save` into memory, then atomically
(:func:`stnlib.io.atomic_write_bytes`). :func:`load_checkpoint` reads it with
``torch.load(weights_only=True)`` and raises :class:`CheckpointError` for a missing,
corrupted, foreign or mismatched file; the model is untouched when loading fails.
"""

from __future__ import annotations

import copy
import io
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from .io import atomic_write_bytes
from .train import History

__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_VERSION", "CheckpointError", "load_checkpoint", "save_checkpoint"]

CHECKPOINT_FORMAT = "stnlib-checkpoint"
CHECKPOINT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, not ours, or does not fit the model/optimizer."""


_SCALARS = (str, int, float, bool, type(None), torch.device, torch.dtype)
_MAPPINGS = (dict, OrderedDict)


def _check_plain(obj: object, where: str) -> None:
    """``TypeError`` unless ``obj`` is made of types ``torch.load(weights_only=True)`` accepts.

    Exact types: subclasses such as ``numpy.float64`` (a ``float``) or ``defaultdict`` would save
    but not load.
    """
    if type(obj) in _MAPPINGS:
        for k, v in obj.items():  # type: ignore[attr-defined]
            if type(k) not in (str, int):
                raise TypeError(f"{where}: keys must be str or int, got {type(k).__name__}")
            _check_plain(v, f"{where}[{k!r}]")
    elif type(obj) in (list, tuple):
        for i, v in enumerate(obj):  # type: ignore[arg-type]
            _check_plain(v, f"{where}[{i}]")
    elif not (type(obj) in _SCALARS or isinstance(obj, Tensor)):
        raise TypeError(
            f"{where} is a {type(obj).__name__}; checkpoints hold only tensors, dicts, lists, tuples, str, int, "
            "float, bool and None (so torch.load(weights_only=True) can read them); convert it, e.g. float(x)"
        )


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    *,
    optimizer: Optimizer | None = None,
    history: History | None = None,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write model (and optionally optimizer) state, history and ``meta`` atomically to ``path``.

    The file is a ``torch.save`` of ``{"format": "stnlib-checkpoint", "version": 1, "model_state",
    "optimizer_state", "history", "meta"}`` with plain types only (``TypeError`` otherwise), so
    ``torch.load(path, weights_only=True)`` reads it. Readers never see a half-written file.
    """
    payload: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "model_state": model.state_dict(),
        "optimizer_state": optimizer.state_dict() if optimizer is not None else None,
        "history": history.as_dict() if history is not None else None,
        "meta": meta,
    }
    _check_plain(payload, "checkpoint")
    buf = io.BytesIO()
    torch.save(payload, buf)
    return atomic_write_bytes(path, buf.getvalue())


def _state_mismatch(model: nn.Module, state: dict[str, Any]) -> list[str]:
    own = model.state_dict()
    problems = []
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing:
        problems.append(f"missing keys {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    if unexpected:
        problems.append(f"unexpected keys {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
    shapes = [
        f"{k}: checkpoint {tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__} "
        f"vs model {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and (not isinstance(v, Tensor) or v.shape != own[k].shape)
    ]
    if shapes:
        problems.append(f"shape mismatches {shapes[:5]}{' ...' if len(shapes) > 5 else ''}")
    return problems


def load_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    *,
    optimizer: Optimizer | None = None,
    map_location: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Load a :func:`save_checkpoint` file into ``model`` (strictly) and ``optimizer``; return the whole dict.

    Uses ``torch.load(weights_only=True)``. Raises :class:`CheckpointError` if the file is missing,
    unreadable (truncated, corrupted, not a torch file), not an stnlib checkpoint, or does not fit the
    model (missing/unexpected keys, shapes) or optimizer; the model and optimizer are then unchanged.
    ``result["history"]`` is a dict: :meth:`History.from_dict` turns it back into a :class:`History`.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}" + (" (it is a directory)" if path.is_dir() else ""))
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises RuntimeError, UnpicklingError, EOFError, ... depending on the damage
        raise CheckpointError(
            f"{path} is not a readable torch checkpoint (truncated, corrupted, or not saved by torch.save "
            f"with plain types only): {type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
        ) from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        what = f"a dict with keys {sorted(map(str, ckpt))[:8]}" if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{path} is a torch file but not an stnlib checkpoint ({what}); use save_checkpoint()")
    if ckpt.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: checkpoint version {ckpt.get('version')!r} is not supported (expected 1)")
    state = ckpt.get("model_state")
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: the checkpoint has no model_state")
    problems = _state_mismatch(model, state)
    if problems:
        raise CheckpointError(
            f"{path} does not fit {type(model).__name__} (was it saved from a different architecture?): "
            + "; ".join(problems)
        )
    if optimizer is not None and ckpt.get("optimizer_state") is None:
        raise CheckpointError(f"{path} has no optimizer state, but an optimizer was given to restore")
    model_backup = {k: v.detach().clone() for k, v in model.state_dict().items()}
    opt_backup = copy.deepcopy(optimizer.state_dict()) if optimizer is not None else None
    try:
        model.load_state_dict(state, strict=True)
        if optimizer is not None:
            optimizer.load_state_dict(ckpt["optimizer_state"])
    except Exception as e:
        model.load_state_dict(model_backup, strict=True)
        if optimizer is not None and opt_backup is not None:
            optimizer.load_state_dict(opt_backup)
        raise CheckpointError(f"{path} could not be loaded into the model/optimizer (nothing changed): {e}") from e
    return ckpt
