"""Where things live: the repository root, ``assets/`` and ``reports/``.

``stnlib`` is installed in editable mode (``pip install -e .``) from a clone, so the
repository root is the parent of this package. ``$STNLIB_REPORTS`` redirects
reports (tests use a temporary folder); quick-profile runs write below
``reports/quick/`` so they never overwrite the committed full-profile results.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ASSETS", "REPO_ROOT", "SAMPLES", "reports_dir"]

REPO_ROOT: Path = Path(__file__).resolve().parent.parent
ASSETS: Path = REPO_ROOT / "assets"
SAMPLES: Path = ASSETS / "samples"


def reports_dir(profile_name: str = "full") -> Path:
    """Folder for executed notebooks, metrics and figures of a profile (created on demand)."""
    root = Path(os.environ.get("STNLIB_REPORTS") or REPO_ROOT / "reports")
    folder = root if profile_name == "full" else root / profile_name
    folder.mkdir(parents=True, exist_ok=True)
    return folder
