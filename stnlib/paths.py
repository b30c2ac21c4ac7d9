"""Where things live: the repository root, ``assets/`` and ``reports/``.

``stnlib`` is installed in editable mode (``pip install -e .``) from a clone, so the
repository root is the parent of this package. ``$STNLIB_REPORTS`` redirects
reports (tests use a temporary folder); quick-profile runs write below
``reports/quick/`` so they never overwrite the committed full-profile results.
Files a notebook publishes for the README (the learning GIFs) go to ``assets/`` only
from a full-profile run without ``$STNLIB_REPORTS`` (:func:`published_dir`).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ASSETS", "REPO_ROOT", "SAMPLES", "published_dir", "reports_dir"]

REPO_ROOT: Path = Path(__file__).resolve().parent.parent
ASSETS: Path = REPO_ROOT / "assets"
SAMPLES: Path = ASSETS / "samples"


def reports_dir(profile_name: str = "full") -> Path:
    """Folder for executed notebooks, metrics and figures of a profile (created on demand)."""
    root = Path(os.environ.get("STNLIB_REPORTS") or REPO_ROOT / "reports")
    folder = root if profile_name == "full" else root / profile_name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def published_dir(profile_name: str = "full") -> Path:
    """Folder for files the README shows (e.g. notebook 4's GIFs), created on demand.

    ``assets/`` for the full profile; ``<reports_dir(profile)>/assets`` for any other profile
    or whenever ``$STNLIB_REPORTS`` is set (tests), so quick runs and tests never overwrite
    the committed files.
    """
    if profile_name == "full" and not os.environ.get("STNLIB_REPORTS"):
        folder = ASSETS
    else:
        folder = reports_dir(profile_name) / "assets"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
