"""What a run takes from its surroundings: environment variables (read here only), folders, profiles, seeds, devices.

* ``STNLIB_DATA``: folder with ``mnist.npz`` / ``cifar10.npz``; unset: torchvision downloads (:func:`data_dir`).
* ``STNLIB_PROFILE``: ``"full"`` or ``"quick"``, overriding a notebook's ``PROFILE`` (:func:`resolve_profile`).
* ``STNLIB_REPORTS``: folder for executed reports and ``metrics.json``; unset: ``reports/`` (:func:`reports_dir`).
* ``STNLIB_WIDGETS``: ``"interactive"``, ``"static"`` or ``"auto"`` (:func:`widgets_rendered`).
* ``STNLIB_DEVICE``: ``"cuda"``, ``"cuda:N"``, ``"mps"``, ``"cpu"`` or ``"auto"`` (:func:`pick_device`).
* ``STNLIB_PENDING``: set by ``tools/execute.py``, where ``run.record`` stages metrics (:func:`pending_metrics_path`).

>>> resolve_profile("quick").choose(None, quick=1, full=20)
1
>>> pick_device("cpu")
device(type='cpu')
"""

from __future__ import annotations

import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

__all__ = ["ASSETS", "PROFILES", "REPO_ROOT", "SAMPLES", "Profile", "data_dir", "pending_metrics_path", "pick_device",
           "published_dir", "reports_dir", "resolve_profile", "seed_everything", "widgets_rendered"]  # fmt: skip

DATA_ENV, PROFILE_ENV, REPORTS_ENV, WIDGETS_ENV, DEVICE_ENV, PENDING_ENV = (
    "STNLIB_DATA", "STNLIB_PROFILE", "STNLIB_REPORTS", "STNLIB_WIDGETS", "STNLIB_DEVICE", "STNLIB_PENDING")

REPO_ROOT: Path = Path(__file__).resolve().parent.parent  #: the clone (``stnlib`` is installed editable from one)
ASSETS: Path = REPO_ROOT / "assets"
SAMPLES: Path = ASSETS / "samples"
PROFILES: tuple[str, ...] = ("full", "quick")
T = TypeVar("T")


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def data_dir() -> Path | None:
    """``$STNLIB_DATA`` as a path, or ``None`` when unset (then torchvision downloads)."""
    return Path(_env(DATA_ENV)) if _env(DATA_ENV) else None


def pending_metrics_path() -> Path | None:
    """``$STNLIB_PENDING`` as a path (a run under ``tools/execute.py``), or ``None`` (interactive)."""
    return Path(_env(PENDING_ENV)) if _env(PENDING_ENV) else None


def reports_dir(profile_name: str = "full") -> Path:
    """Folder (created on demand) for executed notebooks and ``metrics.json``: ``reports/`` (or ``$STNLIB_REPORTS``)
    for the full profile, ``reports/quick/`` for quick runs."""
    root = Path(_env(REPORTS_ENV) or REPO_ROOT / "reports")
    folder = root if profile_name == "full" else root / profile_name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def published_dir(profile_name: str = "full") -> Path:
    """Folder (created on demand) for files the README shows: ``assets/`` for a full-profile run without
    ``$STNLIB_REPORTS``, else ``<reports_dir(profile)>/assets`` (quick runs and tests never overwrite them)."""
    folder = ASSETS if profile_name == "full" and not _env(REPORTS_ENV) else reports_dir(profile_name) / "assets"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass(frozen=True)
class Profile:
    """A resolved run profile; ``source`` says where the name came from."""

    name: str
    source: str

    @property
    def quick(self) -> bool:
        return self.name == "quick"

    def choose(self, value: T | None, *, quick: T, full: T) -> T:
        """``value`` if it was set explicitly (not ``None``), else this profile's default."""
        return value if value is not None else (quick if self.quick else full)

    def __str__(self) -> str:
        return f"{self.name} (from {self.source})"


def _profile_name(name: object, where: str) -> str:
    if not isinstance(name, str) or name.strip().lower() not in PROFILES:
        raise ValueError(f"unknown profile {name!r} from {where}; expected one of {', '.join(PROFILES)}")
    return name.strip().lower()


def resolve_profile(notebook_value: str = "full") -> Profile:
    """The profile to run: ``$STNLIB_PROFILE`` if set, else ``notebook_value``; ``ValueError`` for unknown names."""
    if env := _env(PROFILE_ENV):
        return Profile(_profile_name(env, f"${PROFILE_ENV}"), f"${PROFILE_ENV}")
    return Profile(_profile_name(notebook_value, "the notebook's PROFILE parameter"), "PROFILE parameter")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(prefer: str | None = None) -> torch.device:
    """CUDA if available, else Apple MPS, else CPU; ``prefer`` (``"cuda"``, ``"cuda:1"``, ``"mps"``, ``"cpu"``,
    ``"auto"``) or, if ``None``, ``$STNLIB_DEVICE`` may force one (``ValueError`` if unknown or not available)."""
    flags = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available(), "cpu": True}
    available, source = [k for k, ok in flags.items() if ok], "prefer"
    if prefer is None and _env(DEVICE_ENV):
        prefer, source = _env(DEVICE_ENV).lower(), f"${DEVICE_ENV}"
    if prefer is None or prefer.strip().lower() == "auto":
        return torch.device(available[0])
    options = "'cuda', 'cuda:N', 'mps', 'cpu' or 'auto'"
    try:
        device = torch.device(prefer.strip().lower())
    except RuntimeError as e:
        raise ValueError(f"{source}={prefer!r} is not a device name; use {options}") from e
    if device.type not in ("cuda", "mps", "cpu"):
        raise ValueError(f"{source}={prefer!r} is not supported; use {options}")
    if device.type not in available:
        have = ", ".join(available)
        raise ValueError(f"{source}={prefer!r} asks for {device.type}, which is not available here (available: {have})")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"{source}={prefer!r}: only {torch.cuda.device_count()} CUDA device(s) on this machine")
    return device


def widgets_rendered() -> bool:
    """Whether a front end will render ipywidgets live in this kernel. ``$STNLIB_WIDGETS``: ``interactive`` (yes),
    ``static`` (no: papermill, CI) or ``auto`` (default: yes in JupyterLab, Notebook, Colab and VS Code kernels)."""
    mode = (_env(WIDGETS_ENV) or "auto").lower()
    if mode not in ("auto", "interactive", "1", "on", "true", "static", "0", "off", "false"):
        raise ValueError(f"${WIDGETS_ENV} must be 'interactive', 'static' or 'auto', got {mode!r}")
    if mode != "auto":
        return mode in ("interactive", "1", "on", "true")
    from IPython import get_ipython  # ipywidgets depends on IPython; imported here, where it is needed
    ip = get_ipython()
    if ip is None or not hasattr(ip, "kernel"):
        return False  # plain Python or terminal IPython
    if "google.colab" in sys.modules or os.environ.get("JPY_SESSION_NAME"):
        return True
    return "__vsc_ipynb_file__" in ip.user_ns or any(k.startswith("VSCODE_") for k in os.environ)
