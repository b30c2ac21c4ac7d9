"""What a run takes from its surroundings: environment variables (read here only), folders, profiles, seeds, devices
and the precision a device computes in.

``STNLIB_DATA``: folder with ``mnist.npz`` / ``cifar10.npz`` (unset: torchvision downloads); ``STNLIB_PROFILE``:
``"full"`` or ``"quick"``, overriding a notebook's ``PROFILE``; ``STNLIB_REPORTS``: folder for executed reports and
``metrics.json`` (unset: ``reports/``); ``STNLIB_WIDGETS``: ``"interactive"``, ``"static"`` or ``"auto"``;
``STNLIB_DEVICE``: ``"cuda"``, ``"cuda:N"``, ``"mps"``, ``"cpu"`` or ``"auto"``; ``STNLIB_PENDING``: where
``run.record`` stages metrics (set by ``tools/execute.py``); ``STNLIB_PRECISION``: overrides a recipe's precision.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from .checks import ArgumentTypeError, check_seed, describe

DATA_ENV = "STNLIB_DATA"
PROFILE_ENV = "STNLIB_PROFILE"
REPORTS_ENV = "STNLIB_REPORTS"
WIDGETS_ENV = "STNLIB_WIDGETS"
DEVICE_ENV = "STNLIB_DEVICE"
PENDING_ENV = "STNLIB_PENDING"
PRECISION_ENV = "STNLIB_PRECISION"

REPO_ROOT: Path = Path(__file__).resolve().parent.parent  #: the clone (``stnlib`` is installed editable from one)
ASSETS: Path = REPO_ROOT / "assets"
SAMPLES: Path = ASSETS / "samples"
PROFILES: tuple[str, ...] = ("full", "quick")
#: What a recipe may ask for: ``"auto"`` (:func:`resolve_precision` picks), or one of the three.
PRECISIONS: tuple[str, ...] = ("auto", "bf16", "fp16", "fp32")
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
    """Folder (created) for executed notebooks and ``metrics.json``: ``reports/`` (or ``$STNLIB_REPORTS``) for the
    full profile, ``reports/quick/`` for quick runs; ``profile_name``: ``"full"``, ``"quick"`` or a :class:`Profile`."""
    profile_name = _folder_profile(profile_name)
    root = Path(_env(REPORTS_ENV) or REPO_ROOT / "reports")
    folder = root if profile_name == "full" else root / profile_name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def published_dir(profile_name: str = "full") -> Path:
    """Folder (created) for files the README shows: ``assets/`` for a full-profile run without ``$STNLIB_REPORTS``,
    else ``<reports_dir(profile)>/assets``."""
    profile_name = _folder_profile(profile_name)
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
        cls = ValueError if isinstance(name, str) else ArgumentTypeError
        raise cls(f"unknown profile {name!r} from {where}; expected one of {', '.join(PROFILES)}")
    return name.strip().lower()


def _folder_profile(profile_name: object) -> str:
    if isinstance(profile_name, Profile):
        return profile_name.name
    return _profile_name(profile_name, "profile_name")


def resolve_profile(notebook_value: str = "full") -> Profile:
    """The profile to run: ``$STNLIB_PROFILE`` if set, else ``notebook_value`` (checked either way); ``ValueError``
    for unknown names."""
    name = _profile_name(notebook_value, "the notebook's PROFILE parameter")
    if env := _env(PROFILE_ENV):
        return Profile(_profile_name(env, f"${PROFILE_ENV}"), f"${PROFILE_ENV}")
    return Profile(name, "PROFILE parameter")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices); ``seed``: an int in ``0 .. 2**32 - 1``."""
    seed = check_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(prefer: str | torch.device | int | None = None, *, name: str = "prefer") -> torch.device:
    """CUDA if available, else Apple MPS, else CPU; ``prefer`` (a name, a :class:`torch.device` or a CUDA index) or,
    if ``None``, ``$STNLIB_DEVICE`` may force one (``ValueError`` if unknown or not available)."""
    flags = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available(), "cpu": True}
    available, source, options = [k for k, ok in flags.items() if ok], name, "'cuda', 'cuda:N', 'mps', 'cpu' or 'auto'"
    if prefer is None and _env(DEVICE_ENV):
        prefer, source = _env(DEVICE_ENV).lower(), f"${DEVICE_ENV}"
    if isinstance(prefer, bool) or not isinstance(prefer, str | torch.device | int | None):
        raise ArgumentTypeError(
            f"{name} must be a device name ({options}), a torch.device or None, got {describe(prefer)}"
        )
    text = "auto" if prefer is None else f"cuda:{prefer}" if isinstance(prefer, int) else str(prefer).strip().lower()
    if text == "auto":
        return torch.device(available[0])
    try:
        device = torch.device(text)
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


def _device(device: object) -> torch.device:
    """A :class:`torch.device` as given (internal calls, simulated hardware), a name through :func:`pick_device`."""
    if isinstance(device, torch.device):
        return device
    if device is None:
        raise ArgumentTypeError("device must be a torch.device or a device name such as 'cpu' or 'cuda', got None")
    return pick_device(device, name="device")


def synchronize(device: torch.device) -> None:
    """Wait for the work queued on ``device`` (CUDA, MPS): before reading a clock."""
    device = _device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def _cpu_bf16_units() -> list[str]:
    """This CPU's bf16 matrix units: ``"AVX-512-BF16"`` and/or ``"AMX"`` (private torch probes)."""
    probes = {"AVX-512-BF16": "_is_avx512_bf16_supported", "AMX": "_is_amx_tile_supported"}
    return [unit for unit, probe in probes.items() if getattr(torch.cpu, probe, lambda: False)()]


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes in bf16 natively, not by emulation: a CPU with AVX-512-BF16 or AMX, a CUDA GPU of
    compute capability 8.0 or newer, an Apple GPU under macOS 14 or newer."""
    device = _device(device)
    if device.type == "cpu":
        return bool(_cpu_bf16_units())
    if device.type == "cuda":
        return torch.cuda.get_device_capability(device) >= (8, 0)
    return device.type == "mps" and torch.backends.mps.is_macos_or_newer(14, 0)


def _hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return "this GPU (compute capability {}.{})".format(*torch.cuda.get_device_capability(device))
    return {"cpu": "this CPU", "mps": "this Apple GPU"}.get(device.type, f"this {device.type} device")


def resolve_precision(requested: str, device: torch.device | str) -> tuple[str, str]:
    """``(precision, reason)``: what to compute in on ``device`` (``"bf16"``, ``"fp16"`` or ``"fp32"``), and why.

    ``"auto"``: bf16 where :func:`native_bf16` (emulated bf16 is slower than fp32), else fp16 with a gradient scaler
    on a CUDA GPU, else fp32. ``"bf16"`` and ``"fp16"`` are honoured; ``$STNLIB_PRECISION`` (unset or ``auto``: no
    override) replaces ``auto``, ``bf16`` and ``fp16``; ``"fp32"`` always stays fp32. ``ValueError`` for unknown names.
    """
    if not isinstance(requested, str) or requested not in PRECISIONS:
        cls = ValueError if isinstance(requested, str) else ArgumentTypeError
        raise cls(f"requested: unknown precision {requested!r}; use one of {', '.join(PRECISIONS)}")
    device = _device(device)
    forced = _env(PRECISION_ENV).lower()
    if forced not in ("", *PRECISIONS):
        raise ValueError(
            f"${PRECISION_ENV} must be one of {', '.join(PRECISIONS)} (or unset), got {_env(PRECISION_ENV)!r}"
        )
    override, scaled = forced not in ("", "auto"), " with a gradient scaler"
    if requested == "fp32" or (requested != "auto" and not override):
        return requested, f"{requested}{scaled if requested == 'fp16' else ''}: as requested"
    if override:
        return forced, f"{forced}{scaled if forced == 'fp16' else ''}: forced by ${PRECISION_ENV}={forced}"
    where = _hardware(device)
    if native_bf16(device):
        units = " and ".join(_cpu_bf16_units()) if device.type == "cpu" else ""
        return "bf16", f"bf16: {where} has native bf16" + (f" ({units})" if units else "")
    if device.type == "cuda":
        return "fp16", f"fp16{scaled}: {where} has no native bf16"
    if device.type == "mps":
        return "fp32", f"fp32: {where} has no bf16 before macOS 14"
    why = " (no AVX-512-BF16 or AMX)" if device.type == "cpu" else ""
    return "fp32", f"fp32: {where} has no native bf16{why}, and bf16 there would be slower"


def autocast(device: torch.device, precision: str = "fp32"):
    """``torch.autocast`` to what ``precision`` resolves to on ``device``: bf16 or fp16 (weights stay fp32), a no-op
    for fp32."""
    device = _device(device)
    precision = resolve_precision(precision, device)[0]
    if precision == "fp32" and not torch.amp.is_autocast_available(device.type):
        return contextlib.nullcontext()  # nothing to turn off where there is no autocast (``meta``)
    return torch.autocast(
        device.type, dtype=torch.float16 if precision == "fp16" else torch.bfloat16, enabled=precision != "fp32"
    )


def precision_note(recipe: object, device: torch.device | str | None = None) -> str:
    """One line for a notebook: the precision ``recipe`` (anything with a ``.precision``, or a precision name)
    trains in on ``device`` (default: :func:`pick_device`), and why."""
    requested = recipe if isinstance(recipe, str) else getattr(recipe, "precision", None)
    if not isinstance(requested, str):
        raise ArgumentTypeError(f"recipe must be a Recipe, a FastRecipe or a precision name, got {describe(recipe)}")
    return "precision " + resolve_precision(requested, device if device is not None else pick_device())[1]


def widgets_rendered() -> bool:
    """Whether a front end will render ipywidgets live in this kernel. ``$STNLIB_WIDGETS``: ``interactive``, ``static``
    (papermill, CI) or ``auto`` (default: yes in JupyterLab, Notebook, Colab and VS Code kernels)."""
    mode = (_env(WIDGETS_ENV) or "auto").lower()
    if mode not in ("auto", "interactive", "1", "on", "true", "static", "0", "off", "false"):
        raise ValueError(f"${WIDGETS_ENV} must be 'interactive', 'static' or 'auto', got {mode!r}")
    if mode != "auto":
        return mode in ("interactive", "1", "on", "true")
    from IPython import get_ipython  # ipywidgets' dependency

    ip = get_ipython()
    if ip is None or not hasattr(ip, "kernel"):
        return False  # plain Python or terminal IPython
    if "google.colab" in sys.modules or os.environ.get("JPY_SESSION_NAME"):
        return True
    return "__vsc_ipynb_file__" in ip.user_ns or any(k.startswith("VSCODE_") for k in os.environ)
