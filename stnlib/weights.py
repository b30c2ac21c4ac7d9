"""Trained weights on disk, verified before they load: ``safetensors`` files (no pickle).

:func:`save_weights` writes a model's state dict (and string metadata) atomically and returns the file's SHA-256,
which the run records beside its numbers. :func:`load_weights` loads a file only if its SHA-256 is the recorded
one: a missing file returns ``None`` (the notebook trains instead); any other mismatch (a flipped bit, a truncated
copy, another run's weights) raises :class:`WeightsError`, naming the file and how to retrain.

>>> import tempfile
>>> from torch import nn
>>> path = Path(tempfile.mkdtemp()) / "tiny.safetensors"
>>> digest = save_weights(nn.Linear(2, 1), path, metadata={"epochs": "3"})
>>> len(digest), load_weights(nn.Linear(2, 1), path, sha256=digest)
(64, {'epochs': '3'})
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes
from torch import nn

from . import train
from .checks import check_type, describe
from .data import ImageData
from .env import REPO_ROOT, REPORTS_ENV, pick_device, reports_dir
from .loop import History
from .recipes import Recipe
from .runs import NotebookRun, atomic_write_bytes

RETRAIN = "set TRAIN = True in the notebook's parameters cell, or run `make execute NOTEBOOKS=notebooks/<notebook>`"


class WeightsError(ValueError):
    """A weights file that cannot be trusted: the message names the file, what is wrong and how to retrain."""


def sha256_of(data: bytes) -> str:
    """The SHA-256 of ``data``, as 64 lowercase hex digits."""
    return hashlib.sha256(data).hexdigest()


def _path(path: object) -> Path:
    check_type(path, "path", str | os.PathLike, "a file path (str or pathlib.Path) ending in .safetensors")
    if Path(path).suffix != ".safetensors":
        raise ValueError(f"path must name a .safetensors file, got {str(path)!r}")
    return Path(path)


def save_weights(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    metadata: dict[str, str] | None = None,
    dtype: torch.dtype | None = None,
) -> str:
    """Write ``model``'s state dict (on the CPU, contiguous; floating-point tensors in ``dtype`` if given) and
    ``metadata`` to ``path`` atomically; its SHA-256. Loading casts back to the model's own dtypes."""
    check_type(model, "model", nn.Module, "a torch.nn.Module")
    path = _path(path)
    if metadata is not None and not all(isinstance(v, str) for v in [*metadata, *metadata.values()]):
        raise ValueError(f"metadata must map strings to strings, got {describe(metadata)}")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    data = save_bytes(state, metadata=metadata)
    atomic_write_bytes(path, data)
    return sha256_of(data)


def _metadata(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file's header (8-byte little-endian length, then JSON)."""
    header = json.loads(data[8 : 8 + int.from_bytes(data[:8], "little")])
    return header.get("__metadata__") or {}


def load_weights(model: nn.Module, path: str | os.PathLike[str], *, sha256: str) -> dict[str, str] | None:
    """Load ``path`` into ``model`` (on its device) if the file's SHA-256 is ``sha256``, and return the file's
    metadata; ``None`` when the file does not exist. :class:`WeightsError` for any other file: a wrong hash, an
    unreadable file, or weights that do not fit ``model``. Nothing is loaded unless everything fits."""
    check_type(model, "model", nn.Module, "a torch.nn.Module")
    path = _path(path)
    if not isinstance(sha256, str) or len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"sha256 must be 64 lowercase hex digits (a SHA-256), got {describe(sha256)}")
    if not path.exists():
        return None
    data = path.read_bytes()
    if (got := sha256_of(data)) != sha256:
        raise WeightsError(
            f"{path.name}: its SHA-256 is {got[:12]}..., the run that made it recorded {sha256[:12]}... "
            f"({len(data):,} bytes): the file is damaged, truncated or from another run, so it is not loaded. "
            f"Delete it and {RETRAIN}."
        )
    try:
        state, own = load_bytes(data), model.state_dict()
        if state.keys() != own.keys() or any(state[k].shape != own[k].shape for k in own):
            raise RuntimeError("its tensors' names or shapes differ from the model's")
        device = next((t.device for t in [*model.parameters(), *model.buffers()]), torch.device("cpu"))
        model.load_state_dict({k: v.to(device) for k, v in state.items()})
    except (SafetensorError, RuntimeError) as err:
        raise WeightsError(
            f"{path.name} matches its recorded SHA-256 but does not fit this model ({err}); {RETRAIN}."
        ) from None
    return _metadata(data)


def weights_path(run: NotebookRun, name: str) -> Path:
    """Where ``run`` keeps the model ``name`` (lower case, ``_`` for other characters): in ``weights/<notebook>/``
    of the repository for the full profile (the committed ones), else beside that profile's ``metrics.json``."""
    root = (
        REPO_ROOT if run.profile.name == "full" and not os.environ.get(REPORTS_ENV) else reports_dir(run.profile.name)
    )
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return root / "weights" / run.name / f"{slug}.safetensors"


def _settings(model: nn.Module, data: ImageData, recipe: Recipe, epochs: int, seed: int, extra: dict) -> str:
    """What a training run depends on, in words (not where it ran): weights load only for the same settings."""
    shape = "x".join(map(str, data.image_shape))
    counts = f"{data.info.dataset} {len(data.train_labels):,} train / {len(data.test_labels):,} test {shape}"
    options = "".join(f", {k}={v!r}" for k, v in sorted(extra.items()) if k not in ("progress", "device"))
    size = sum(p.numel() for p in model.parameters())
    run = f"{recipe.describe()}; {epochs} epochs, seed {seed}{options}"
    return f"{type(model).__name__} ({size:,} parameters); {run}; {counts}"


def fit_or_load(
    run: NotebookRun, name: str, model: nn.Module, data: ImageData, recipe: Recipe, *, epochs: int, seed: int = 0, **fit
) -> History:
    """:func:`stnlib.train.fit` ``model`` and save its weights as ``name``; or, unless ``run.train``, load the weights
    ``run``'s notebook recorded for ``name`` with the same settings (verified: :func:`load_weights`), reprint the
    training run's epoch lines, and return its :class:`History`. Either way the model ends in eval mode on the
    device ``fit`` uses, and ``run`` records the file with its SHA-256."""
    check_type(run, "run", NotebookRun, "the notebook's run (start_run)")
    settings, path = _settings(model, data, recipe, epochs, seed, fit), weights_path(run, name)
    recorded = run.recorded().get("weights", {}).get(name)
    if not run.train and recorded and recorded.get("settings") == settings:
        metadata = load_weights(model.to(pick_device(fit.get("device"))), path, sha256=recorded["sha256"])
        if metadata is not None:
            history = History.from_json(metadata["history"])
            print(f"{name}: trained weights loaded from {path.name} (SHA-256 checked); the training run's epochs:")
            for stats in history.epochs:
                print(stats.line(epochs))
            test = recipe.prepare(data).loaders(train.TEST_BATCH)[1]
            _, acc = train.evaluate(model, test, precision=recipe.precision, channels_last=recipe.channels_last)
            print(
                f"{name}: test accuracy of the loaded weights {acc:.2f}% (the training run's last epoch: "
                f"{history.final.test_acc:.2f}%)"
            )
            model.eval()
            run.weights[name] = recorded
            run.loaded.add(name)
            return history
        print(f"{name}: no saved weights ({path.name}), so it trains")
    history = train.fit(model, data, recipe, epochs=epochs, seed=seed, **fit)
    digest = save_weights(model, path, metadata={"history": history.to_json(), "settings": settings})
    file = path.relative_to(REPO_ROOT).as_posix() if path.is_relative_to(REPO_ROOT) else path.name
    run.weights[name] = {"file": file, "sha256": digest, "bytes": path.stat().st_size, "settings": settings}
    return history
