"""One notebook run (``start_run``, then ``run.record([...], data=...)``) and safe file writes: the metrics go into
``reports_dir(profile) / "metrics.json"`` under a lock, atomically, or (``$STNLIB_PENDING``, set by
``tools/execute.py``) are staged until the report is saved. A malformed ``metrics.json`` is left untouched."""

import contextlib
import importlib
import json
import math
import os
import platform
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from .env import Profile, pending_metrics_path, reports_dir, resolve_profile, seed_everything

fcntl = None if os.name == "nt" else importlib.import_module("fcntl")  # no locking on Windows

__all__ = ["Metric", "MetricsFileError", "NotebookRun", "atomic_write_bytes", "atomic_write_json",
           "atomic_write_text", "load_metrics", "merge_metrics", "start_run"]  # fmt: skip

STALE_TMP_S = 3600  #: seconds after which a temporary file counts as a killed writer's


class MetricsFileError(ValueError):
    """A metrics (or other results) file that cannot be used; the message names it and the problem."""


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to a unique fsynced temporary beside ``path`` (removed on any error), renamed over ``path``:
    readers see the old file or the new one. Removes ``path``'s temporaries older than :data:`STALE_TMP_S`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for old in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            if old.stat().st_mtime < time.time() - STALE_TMP_S:
                old.unlink()
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # normal permissions: 0666 minus the umask
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """UTF-8 text version of :func:`atomic_write_bytes`."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Pretty-printed, key-sorted JSON (stable diffs), written atomically; ``ValueError`` for NaN/infinity.

    >>> import tempfile
    >>> p = atomic_write_json(Path(tempfile.mkdtemp()) / "m.json", {"b": 1, "a": [0.5]})
    >>> p.read_text().split(), sorted(f.name for f in p.parent.iterdir())  # keys sorted; no temporary left
    (['{', '"a":', '[', '0.5', '],', '"b":', '1', '}'], ['m.json'])
    """
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")


@dataclass(frozen=True)
class Metric:
    """One reported number (finite int or float); ``unit``: ``"%"`` (value already in percent), ``"s"``, free text."""

    key: str
    label: str
    value: float | int
    unit: str = ""


def load_metrics(path: str | os.PathLike[str], *, entries: bool = True) -> dict[str, Any]:
    """``metrics.json`` as ``{notebook: entry}``, ``{}`` if missing; :class:`MetricsFileError` if it is not a
    JSON object or (``entries=True``) an entry lacks a field or a metric's key, label or value."""
    path = Path(path)
    try:
        data = json.loads(path.read_text() or "null") if path.exists() else {}
    except (OSError, ValueError) as err:  # ValueError: bad JSON or bad UTF-8
        raise MetricsFileError(f"{path} cannot be read as JSON ({err}).") from None
    if not isinstance(data, dict):
        what = "is empty" if data is None else f"holds a JSON {type(data).__name__}"
        raise MetricsFileError(f"{path} {what}, not an object keyed by name.")
    for name, entry in data.items() if entries else ():
        fields = ("profile", "data", "seconds", "finished", "metrics")
        missing = [k for k in fields if k not in entry] if isinstance(entry, dict) else fields
        if missing or not isinstance(entry["metrics"], list) or not all(
                isinstance(m, dict) and {"key", "label", "value"} <= m.keys() for m in entry["metrics"]):
            what = f"lacks {', '.join(missing)}" if missing else "has a malformed 'metrics' list"
            raise MetricsFileError(f"{path}: the entry {name!r} {what}.")
    return data


def merge_metrics(path: str | os.PathLike[str], entries: dict[str, Any]) -> Path:
    """Merge ``{notebook: entry}`` into the metrics file ``path`` (locked, atomic); returns ``path``. A malformed
    ``path`` stays as it is: ``entries`` go to ``<path>.<names>.recovered.json``, :class:`MetricsFileError` says why."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:  # the lock is released when this file closes
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            current = load_metrics(path)
        except MetricsFileError as err:
            saved = atomic_write_json(path.with_name(f"{path.name}.{'+'.join(entries)}.recovered.json"), entries)
            raise MetricsFileError(f"{err} It was left untouched; the new results are in {saved}. To recover, repair "
                                   f"or restore it (`git checkout -- {path}`, or delete it), then run "
                                   f"`python -m tools.execute --publish {saved}`.") from None
        return atomic_write_json(path, {**current, **entries})


@dataclass
class NotebookRun:
    """State of one executed notebook; create it with :func:`start_run`."""

    name: str
    profile: Profile
    seed: int
    started: float = field(default_factory=time.perf_counter)

    def elapsed(self) -> float:
        """Seconds since :func:`start_run`."""
        return time.perf_counter() - self.started

    def record(self, metrics: list[Metric], *, data: str) -> Path:
        """Add these metrics (measured on ``data``) to ``metrics.json``, or stage them (module docstring); its path.
        ``ValueError`` for no metrics or a value that is not a finite number (the message names its key)."""
        if not metrics:
            raise ValueError("record() needs at least one Metric")
        for m in metrics:
            if not isinstance(m.value, (int, float)) or not math.isfinite(m.value):
                raise ValueError(f"metric {m.key!r} has the value {m.value!r}; only finite numbers can be recorded")
        entry = {"profile": self.profile.name, "data": data, "seed": self.seed, "seconds": round(self.elapsed(), 1),
                 "finished": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                 "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
                 "metrics": [m.__dict__ for m in metrics]}  # fmt: skip
        path, pending = reports_dir(self.profile.name) / "metrics.json", pending_metrics_path()
        if pending is None:
            return merge_metrics(path, {self.name: entry})
        atomic_write_json(pending, {**load_metrics(pending), self.name: entry})
        print(f"metrics staged: tools/execute.py adds them to {path.name} once the report is saved")
        return path


def start_run(name: str, profile: str = "full", *, seed: int = 0) -> NotebookRun:
    """Resolve the profile (``$STNLIB_PROFILE`` wins), seed everything, start the clock, say so."""
    run = NotebookRun(name=name, profile=resolve_profile(profile), seed=seed)
    seed_everything(seed)
    print(f"{name}: profile {run.profile}, seed {seed}, torch {torch.__version__}")
    return run
