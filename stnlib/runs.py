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

import numpy as np
import torch

from .checks import ArgumentTypeError, check_bool, check_seed, check_type, describe
from .env import REPO_ROOT, Profile, pending_metrics_path, reports_dir, resolve_profile, seed_everything

fcntl = None if os.name == "nt" else importlib.import_module("fcntl")  # no locking on Windows

STALE_TMP_S = 3600  #: seconds after which a temporary file counts as a killed writer's


class MetricsFileError(ValueError):
    """A metrics (or other results) file that cannot be used; the message names it and the problem."""


def _file(path: object) -> Path:
    """``path`` as a :class:`~pathlib.Path`: a non-empty ``str`` or ``os.PathLike`` naming a file, not a folder."""
    check_type(path, "path", str | os.PathLike, "a file path (str or pathlib.Path)")
    if not str(path).strip() or not Path(path).name:
        raise ValueError(f"path must name a file, got {describe(path)}")
    if Path(path).is_dir():
        raise ValueError(f"path must name a file, got the folder {path} (add the file's name to it)")
    return Path(path)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to a unique fsynced temporary beside ``path`` (removed on any error), renamed over ``path``:
    readers see the old file or the new one. Removes ``path``'s temporaries older than :data:`STALE_TMP_S`."""
    path = _file(path)
    check_type(data, "data", bytes | bytearray | memoryview, "bytes (atomic_write_text writes a str)")
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
    check_type(text, "text", str, "a str")
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Pretty-printed, key-sorted JSON (stable diffs), written atomically; ``ValueError`` for NaN/infinity.

    >>> import tempfile
    >>> p = atomic_write_json(Path(tempfile.mkdtemp()) / "m.json", {"b": 1, "a": [0.5]})
    >>> p.read_text().split(), sorted(f.name for f in p.parent.iterdir())  # keys sorted; no temporary left
    (['{', '"a":', '[', '0.5', '],', '"b":', '1', '}'], ['m.json'])
    """
    try:
        text = json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n"
    except (TypeError, ValueError) as err:  # TypeError: not JSON (a tensor, a set); ValueError: NaN or infinity
        cls = ArgumentTypeError if isinstance(err, TypeError) else ValueError
        raise cls(f"obj cannot be written as JSON: {err}") from None
    return atomic_write_text(path, text)


@dataclass(frozen=True)
class Metric:
    """One reported number (finite int or float); ``unit``: ``"%"`` (value already in percent), ``"s"``, free text."""

    key: str
    label: str
    value: float | int
    unit: str = ""

    def __post_init__(self) -> None:  # numpy and 0-d tensor numbers become Python numbers (JSON has no others)
        if not isinstance(self.key, str) or not self.key.strip():
            cls = ValueError if isinstance(self.key, str) else ArgumentTypeError
            raise cls(f"a metric's key must be a non-empty str, got {describe(self.key)}")
        for what in ("label", "unit"):
            check_type(getattr(self, what), f"metric {self.key!r}: {what}", str, "a str")
        value = self.value
        if isinstance(value, torch.Tensor) and value.dim() == 0 or isinstance(value, np.integer | np.floating):
            object.__setattr__(self, "value", value.item())
        if not _is_number(self.value):  # a number that is NaN or infinite: ValueError; not a number: also TypeError
            real = isinstance(self.value, int | float) and not isinstance(self.value, bool)
            raise (ValueError if real else ArgumentTypeError)(
                f"metric {self.key!r} has the value {value!r}; only finite numbers can be recorded"
            )


def _is_number(value: object) -> bool:
    """A finite int or float (not a bool): what a metric's value may be, in memory and in the file."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_entry(name: object, entry: object) -> None:
    """``ValueError`` naming the problem unless ``entry`` is one run's record under the notebook ``name``: strings
    ``profile``, ``data``, ``finished``, a finite number ``seconds`` and ``metrics``, a non-empty list of ``{"key",
    "label", "value"[, "unit"]}`` with distinct non-empty string keys and finite values; other fields may be there."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"an entry's name must be a non-empty string (the notebook's name), got {name!r}")
    where = f"the entry {name!r}"
    if not isinstance(entry, dict):
        fields = "profile, data, seconds, finished and metrics"
        raise ValueError(f"{where} must be an object with {fields}, got {type(entry).__name__} {entry!r}")
    if missing := [k for k in ("profile", "data", "seconds", "finished", "metrics") if k not in entry]:
        raise ValueError(f"{where} lacks {', '.join(missing)}")
    for k in ("profile", "data", "finished"):
        if not isinstance(entry[k], str):
            raise ValueError(f"{where}: {k!r} must be a string, got {entry[k]!r}")
    if not _is_number(entry["seconds"]):
        raise ValueError(f"{where}: 'seconds' must be a finite number, got {entry['seconds']!r}")
    metrics = entry["metrics"]
    if not isinstance(metrics, list) or not metrics:
        raise ValueError(f"{where} has a malformed 'metrics' list: expected a non-empty list, got {metrics!r}")
    seen: list[object] = []
    for m in metrics:
        if not isinstance(m, dict) or not {"key", "label", "value"} <= m.keys():
            raise ValueError(f"{where} has a malformed 'metrics' list: {m!r} lacks key, label or value")
        key = m["key"]
        if not isinstance(key, str) or not key.strip() or key in seen:
            what = "is repeated" if key in seen else "must be a non-empty string"
            raise ValueError(f"{where}: the metric key {key!r} {what}")
        seen.append(key)
        if not isinstance(m["label"], str) or not isinstance(m.get("unit", ""), str):
            raise ValueError(
                f"{where}: metric {key!r} needs a string label and unit, got {m['label']!r}, {m.get('unit')!r}"
            )
        if not _is_number(m["value"]):
            raise ValueError(f"{where}: metric {key!r} has the value {m['value']!r}; expected a finite number")


def _refuse_constant(name: str) -> float:
    raise ValueError(f"it holds {name}, which JSON does not allow and no metric may be")


def load_metrics(path: str | os.PathLike[str], *, entries: bool = True) -> dict[str, Any]:
    """``metrics.json`` as ``{notebook: entry}``, ``{}`` if missing; :class:`MetricsFileError` if it is not a
    JSON object (NaN and Infinity are not JSON) or (``entries=True``) an entry fails :func:`check_entry`:
    reading accepts exactly what writing does."""
    path = _file(path)
    check_bool(entries, "entries")
    try:
        text = path.read_text() if path.exists() else "{}"
        data = json.loads(text or "null", parse_constant=_refuse_constant)
    except (OSError, ValueError) as err:  # ValueError: bad JSON, bad UTF-8, NaN or Infinity
        raise MetricsFileError(f"{path} cannot be read as JSON ({err}).") from None
    if not isinstance(data, dict):
        what = "is empty" if data is None else f"holds a JSON {type(data).__name__}"
        raise MetricsFileError(f"{path} {what}, not an object keyed by name.")
    for name, entry in data.items() if entries else ():
        try:
            check_entry(name, entry)
        except ValueError as err:
            raise MetricsFileError(f"{path}: {err}.") from None
    return data


def _set_aside(path: Path, entries: dict[str, Any], problem: str) -> MetricsFileError:
    """Save ``entries`` beside ``path`` as ``<name>.<notebooks>.recovered.json``; the error to raise, saying how
    to publish them (or, if even that cannot be written, carrying the entries themselves)."""
    saved = path.with_name(f"{path.name}.{'+'.join(entries)}.recovered.json")
    try:
        atomic_write_json(saved, entries)
    except (OSError, ValueError) as err:
        return MetricsFileError(
            f"{problem} The new results could not be saved either ({err}); here they are, "
            f"to keep: {json.dumps(entries, sort_keys=True)}"
        )
    if path.parent.name == "quick":  # quick-profile results are not committed, the others are
        advice = f"repair or delete it (quick-profile results are not committed: `rm {path}`)"
    else:
        advice = f"repair or restore it (`git checkout -- {path}`, or delete it)"
    publish = f"python -m tools.execute --publish {saved}"
    return MetricsFileError(f"{problem} The new results are in {saved}. To recover, {advice}, then run `{publish}`.")


def merge_metrics(path: str | os.PathLike[str], entries: dict[str, Any]) -> Path:
    """Merge ``{notebook: entry}`` (checked first: :func:`check_entry`) into the metrics file ``path``, locked and
    atomic; returns ``path``. If ``path`` is malformed or cannot be written, it stays as it is: ``entries`` go to
    ``<path>.<names>.recovered.json`` and :class:`MetricsFileError` says how to publish them. Nothing is lost."""
    if not isinstance(entries, dict) or not entries:
        cls = ValueError if isinstance(entries, dict) else ArgumentTypeError
        raise cls(f"entries must be a non-empty {{notebook: entry}} dict, got {describe(entries)}")
    for name, entry in entries.items():
        check_entry(name, entry)
    path = _file(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_name(path.name + ".lock"), "a") as lock:  # released when this file closes
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                current = load_metrics(path)
            except MetricsFileError as err:
                raise _set_aside(path, entries, f"{err} It was left untouched.") from None
            return atomic_write_json(path, {**current, **entries})
    except OSError as err:  # a full disk, a read-only folder: the file is as it was; the numbers go beside it
        raise _set_aside(path, entries, f"{path} could not be written ({err}); it is as it was.") from None


@dataclass
class NotebookRun:
    """State of one executed notebook; create it with :func:`start_run`."""

    name: str
    profile: Profile
    seed: int
    train: bool = False  #: retrain every model even where verified weights are saved (stnlib.weights.fit_or_load)
    started: float = field(default_factory=time.perf_counter)
    #: name -> {"file", "sha256", "bytes", "settings"} of every model this run trained or loaded
    weights: dict[str, dict[str, Any]] = field(default_factory=dict)
    loaded: set[str] = field(default_factory=set)  #: the names of those it loaded instead of training

    def recorded(self) -> dict[str, Any]:
        """This notebook's entry in its profile's ``metrics.json`` (``{}`` if there is none)."""
        return load_metrics(reports_dir(self.profile.name) / "metrics.json").get(self.name, {})

    def elapsed(self) -> float:
        """Seconds since :func:`start_run`."""
        return time.perf_counter() - self.started

    def record(self, metrics: list[Metric], *, data: str) -> Path:
        """Add these metrics (measured on ``data``) to ``metrics.json``, or stage them (module docstring); its path.
        ``ValueError`` for no metrics or a value that is not a finite number (the message names its key)."""
        if not isinstance(metrics, (list, tuple)) or not metrics:
            cls = ValueError if isinstance(metrics, (list, tuple)) else ArgumentTypeError
            raise cls(f"record() needs a non-empty list of Metric in metrics, got {describe(metrics)}")
        for m in metrics:  # a Metric's value is a finite number already
            check_type(m, "record()'s metrics", Metric, "Metric(key, label, value, unit) objects")
        if not isinstance(data, str) or not data.strip():
            cls = ValueError if isinstance(data, str) else ArgumentTypeError
            raise cls(f"record() needs data=: where the numbers were measured, in words; got {data!r}")
        entry = {
            "profile": self.profile.name,
            "data": data,
            "seed": self.seed,
            "seconds": round(self.elapsed(), 1),
            "finished": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
            "metrics": [m.__dict__ for m in metrics],
        }
        if self.weights:
            entry["weights"] = self.weights
        check_entry(self.name, entry)  # keys: non-empty, distinct strings
        if self.weights and self.loaded == self.weights.keys():
            entry = self._loaded_entry(entry)
        path, pending = reports_dir(self.profile.name) / "metrics.json", pending_metrics_path()
        if pending is None:
            return merge_metrics(path, {self.name: entry})
        atomic_write_json(pending, {**load_metrics(pending), self.name: entry})
        print(f"metrics staged: tools/execute.py adds them to {path.name} once the report is saved")
        return path

    def _loaded_entry(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Every model was loaded: the record stays the training run's, and gets this run's time as
        ``load_seconds`` if every number equals the one it recorded (printed either way)."""
        before = self.recorded()
        was = {m["key"]: m["value"] for m in before.get("metrics", [])}
        differ = [
            f"{m['key']} {m['value']!r}, recorded {was.get(m['key'])!r}"
            for m in entry["metrics"]
            if was.get(m["key"]) != m["value"]
        ]
        if differ:
            print("these numbers differ from the training run's, which stay recorded: " + "; ".join(differ))
            return before
        print(f"all {len(entry['metrics'])} numbers equal the training run's (recorded {before['finished']})")
        return {**before, "load_seconds": entry["seconds"], "load_machine": entry["machine"]}


def start_run(name: str, profile: str = "full", *, seed: int = 0, train: bool = False) -> NotebookRun:
    """Resolve the profile (``$STNLIB_PROFILE`` wins), seed everything, start the clock, say so. ``train``: retrain
    every model even where verified weights are saved (the notebooks' ``TRAIN`` parameter)."""
    if not isinstance(name, str) or not name.strip():
        cls = ValueError if isinstance(name, str) else ArgumentTypeError
        raise cls(f"start_run needs the notebook's name (e.g. '02_stn_mnist'), got {name!r}")
    seed = check_seed(seed)
    run = NotebookRun(name=name, profile=resolve_profile(profile), seed=seed, train=check_bool(train, "train"))
    seed_everything(seed)
    print(f"{name}: profile {run.profile}, seed {seed}, torch {torch.__version__}")
    return run


def published_metrics(notebook: str) -> dict[str, float]:
    """``{key: value}`` of ``notebook``'s last full-profile run as committed in the repository's
    ``reports/metrics.json`` (how one notebook reads a number another one measured)."""
    path = REPO_ROOT / "reports" / "metrics.json"
    entry = load_metrics(path).get(notebook)
    if entry is None:
        raise MetricsFileError(
            f"reports/metrics.json has no entry for {notebook!r}: "
            f"run it with `make execute NOTEBOOKS=notebooks/{notebook}.ipynb`"
        )
    return {m["key"]: m["value"] for m in entry["metrics"]}
