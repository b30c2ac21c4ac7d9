"""Everything a run takes from its surroundings, in one place.

Environment variables (each read here and nowhere else):

* ``STNLIB_DATA``    folder holding ``mnist.npz`` / ``cifar10.npz`` (offline copies);
  unset: torchvision downloads into ``data/`` (:func:`data_dir`).
* ``STNLIB_PROFILE`` ``"full"`` or ``"quick"``; overrides a notebook's ``PROFILE``
  parameter, so CI can run any notebook in seconds (:func:`resolve_profile`).
* ``STNLIB_REPORTS`` folder for executed reports and ``metrics.json`` (tests use a
  temporary one); unset: ``reports/`` (:func:`reports_dir`).
* ``STNLIB_WIDGETS`` ``"interactive"``, ``"static"`` or ``"auto"``: whether widgets are
  drawn live or as static figures (:func:`widgets_rendered`).
* ``STNLIB_DEVICE``  ``"cuda"``, ``"cuda:N"``, ``"mps"``, ``"cpu"`` or ``"auto"``
  (:func:`pick_device`).

Also here: the repository's folders, the run profiles, seeding and device choice.

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

__all__ = [
    "ASSETS",
    "PROFILES",
    "REPO_ROOT",
    "SAMPLES",
    "Profile",
    "data_dir",
    "pick_device",
    "published_dir",
    "reports_dir",
    "resolve_profile",
    "seed_everything",
    "widgets_rendered",
]

DATA_ENV, PROFILE_ENV, REPORTS_ENV, WIDGETS_ENV, DEVICE_ENV = (
    "STNLIB_DATA", "STNLIB_PROFILE", "STNLIB_REPORTS", "STNLIB_WIDGETS", "STNLIB_DEVICE")

#: The clone's root (``stnlib`` is installed editable from a clone) and its asset folders.
REPO_ROOT: Path = Path(__file__).resolve().parent.parent
ASSETS: Path = REPO_ROOT / "assets"
SAMPLES: Path = ASSETS / "samples"

T = TypeVar("T")


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


# ------------------------------------------------------------------ folders
def data_dir() -> Path | None:
    """``$STNLIB_DATA`` as a path, or ``None`` when unset (then torchvision downloads)."""
    value = _env(DATA_ENV)
    return Path(value) if value else None


def reports_dir(profile_name: str = "full") -> Path:
    """Folder for executed notebooks and ``metrics.json`` of a profile (created on demand).

    ``reports/`` (or ``$STNLIB_REPORTS``) for the full profile, ``reports/quick/`` for quick
    runs, so they never overwrite the committed full-profile results.
    """
    root = Path(_env(REPORTS_ENV) or REPO_ROOT / "reports")
    folder = root if profile_name == "full" else root / profile_name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def published_dir(profile_name: str = "full") -> Path:
    """Folder for files the README shows (notebook 4's GIFs), created on demand.

    ``assets/`` for a full-profile run without ``$STNLIB_REPORTS``; otherwise
    ``<reports_dir(profile)>/assets``, so quick runs and tests never overwrite committed files.
    """
    if profile_name == "full" and not _env(REPORTS_ENV):
        folder = ASSETS
    else:
        folder = reports_dir(profile_name) / "assets"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# ----------------------------------------------------------------- profiles
PROFILES: tuple[str, ...] = ("full", "quick")


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
        if value is not None:
            return value
        return quick if self.quick else full

    def __str__(self) -> str:
        return f"{self.name} (from {self.source})"


def _profile_name(name: object, where: str) -> str:
    if not isinstance(name, str) or name.strip().lower() not in PROFILES:
        raise ValueError(f"unknown profile {name!r} from {where}; expected one of {', '.join(PROFILES)}")
    return name.strip().lower()


def resolve_profile(notebook_value: str = "full") -> Profile:
    """The profile to run: ``$STNLIB_PROFILE`` if set, else ``notebook_value``.

    Raises ``ValueError`` for an unknown name from either place.
    """
    env = _env(PROFILE_ENV)
    if env:
        return Profile(_profile_name(env, f"${PROFILE_ENV}"), f"${PROFILE_ENV}")
    return Profile(_profile_name(notebook_value, "the notebook's PROFILE parameter"), "PROFILE parameter")


# ------------------------------------------------------- seeding and devices
def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _available(kind: str) -> bool:
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return torch.backends.mps.is_available()
    return kind == "cpu"


def pick_device(prefer: str | None = None) -> torch.device:
    """The device to train on: CUDA if available, else Apple MPS, else CPU.

    ``prefer`` (``"cuda"``, ``"cuda:1"``, ``"mps"``, ``"cpu"`` or ``"auto"``) forces one;
    with ``prefer=None``, ``$STNLIB_DEVICE`` may force one. Raises ``ValueError`` if the
    requested device is unknown or not available on this machine.
    """
    source = "prefer"
    if prefer is None and _env(DEVICE_ENV):
        prefer, source = _env(DEVICE_ENV).lower(), f"${DEVICE_ENV}"
    if prefer is None or prefer.strip().lower() == "auto":
        return torch.device(next(k for k in ("cuda", "mps", "cpu") if _available(k)))
    options = "'cuda', 'cuda:N', 'mps', 'cpu' or 'auto'"
    try:
        device = torch.device(prefer.strip().lower())
    except RuntimeError as e:
        raise ValueError(f"{source}={prefer!r} is not a device name; use {options}") from e
    if device.type not in ("cuda", "mps", "cpu"):
        raise ValueError(f"{source}={prefer!r} is not supported; use {options}")
    if not _available(device.type):
        have = ", ".join(k for k in ("cuda", "mps", "cpu") if _available(k))
        raise ValueError(f"{source}={prefer!r} asks for {device.type}, which is not available here (available: {have})")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(f"{source}={prefer!r}: only {torch.cuda.device_count()} CUDA device(s) on this machine")
    return device


# ------------------------------------------------------------------ widgets
def widgets_rendered() -> bool:
    """Whether a front end will render ipywidgets live in this kernel.

    ``$STNLIB_WIDGETS``: ``interactive`` (yes), ``static`` (no: papermill, CI) or ``auto``
    (default: yes in JupyterLab, Notebook, Colab and VS Code kernels; no in plain Python).
    """
    mode = (_env(WIDGETS_ENV) or "auto").lower()
    if mode in ("static", "0", "off", "false"):
        return False
    if mode in ("interactive", "1", "on", "true"):
        return True
    if mode != "auto":
        raise ValueError(f"${WIDGETS_ENV} must be 'interactive', 'static' or 'auto', got {mode!r}")
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython always comes with ipywidgets
        return False
    ip = get_ipython()
    if ip is None or not hasattr(ip, "kernel"):
        return False  # plain Python or terminal IPython
    if "google.colab" in sys.modules or os.environ.get("JPY_SESSION_NAME"):
        return True
    return "__vsc_ipynb_file__" in ip.user_ns or any(k.startswith("VSCODE_") for k in os.environ)
