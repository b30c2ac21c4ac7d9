"""One notebook run: profile, seed, wall time, and the metrics it reports.

Each notebook starts with ``run = start_run("02_stn_mnist", PROFILE, seed=SEED)``
and ends with ``run.record([...], data=...)``. Metrics go to
``reports/metrics.json`` (full profile) or ``reports/quick/metrics.json``, keyed by
notebook; ``python -m stnlib.readme`` turns the full-profile file into the README's
results table, so every number there comes from a run.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from .env import Profile, reports_dir, resolve_profile, seed_everything
from .io import atomic_write_json

__all__ = ["Metric", "NotebookRun", "load_metrics", "start_run"]


@dataclass(frozen=True)
class Metric:
    """One reported number. ``unit`` is ``"%"`` (value already in percent), ``"s"``, or free text."""

    key: str
    label: str
    value: float | int
    unit: str = ""

    def formatted(self) -> str:
        v = self.value
        if self.unit == "%":
            return f"{v:.2f}%"
        if isinstance(v, int):
            return f"{v:,}{' ' + self.unit if self.unit else ''}"
        text = f"{v:.3g}" if (abs(v) < 1e-3 or abs(v) >= 1e4) and v != 0 else f"{v:.4g}"
        return f"{text}{' ' + self.unit if self.unit else ''}"


@dataclass
class NotebookRun:
    """State of one executed notebook; create it with :func:`start_run`."""

    name: str
    profile: Profile
    seed: int
    started: float = field(default_factory=time.perf_counter)

    @property
    def metrics_path(self) -> Path:
        return reports_dir(self.profile.name) / "metrics.json"

    def elapsed(self) -> float:
        """Seconds since :func:`start_run`."""
        return time.perf_counter() - self.started

    def record(self, metrics: list[Metric], *, data: str) -> Path:
        """Merge this notebook's metrics into ``metrics.json`` (atomically) and return its path.

        ``data`` says which data the numbers were measured on (source, counts, exactness).
        """
        if not metrics:
            raise ValueError("record() needs at least one Metric")
        path = self.metrics_path
        allm = load_metrics(path)
        allm[self.name] = {
            "profile": self.profile.name,
            "data": data,
            "seed": self.seed,
            "seconds": round(self.elapsed(), 1),
            "finished": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
            "metrics": [m.__dict__ for m in metrics],
        }
        atomic_write_json(path, allm)
        return path


def load_metrics(path: str | Path) -> dict[str, Any]:
    """The metrics file as a dict (empty if it does not exist yet)."""
    path = Path(path)
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def start_run(name: str, profile: str = "full", *, seed: int = 0) -> NotebookRun:
    """Resolve the profile (``$STNLIB_PROFILE`` wins), seed everything, start the clock, say so."""
    run = NotebookRun(name=name, profile=resolve_profile(profile), seed=seed)
    seed_everything(seed)
    print(f"{name}: profile {run.profile}, seed {seed}, torch {torch.__version__}")
    return run
