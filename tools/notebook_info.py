"""What the generated pages know about the notebooks themselves: where they are, their stems and titles, how a
run time is written, and which real data a run used (the ``data`` string ``run.record`` wrote).

The lowest of the page-rendering modules: :mod:`tools.results`, :mod:`tools.contributing` and
:mod:`tools.readme` import it; it imports none of them.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from stnlib.env import REPO_ROOT

__all__ = ["NOTEBOOKS_DIR", "datasets_used", "format_duration", "notebook_stems", "notebook_title", "short_provenance"]

#: The notebook sources (``NN_name.ipynb``), committed without outputs.
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"


def notebook_stems() -> list[str]:
    return sorted(p.stem for p in NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


def notebook_title(path: Path) -> str:
    """The notebook's first markdown heading without its number ("01 · Affine intuition: ..." -> "Affine intuition")."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("# "):
            heading = cell.source.splitlines()[0][2:]
            return heading.split("·", 1)[-1].split(":", 1)[0].strip()
    raise ValueError(f"{path.name} has no '# title' markdown cell")


def format_duration(seconds: float) -> str:
    """Seconds as a student reads a run time.

    >>> format_duration(7.66), format_duration(510.3), format_duration(3376.5), format_duration(5709.0)
    ('8 s', '9 min', '56 min', '1 h 35 min')
    """
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


# ------------------------------------------------------------------------------------------ data provenance
_LOADED = re.compile(
    r"(?P<name>[A-Za-z][\w-]*)(?: [\w-]+)? from (?P<source>[^:;]+): [\d,]+ train / "
    r"(?P<test>[\d,]+) test \((?:all exact|(?P<exact>[\d,]+) exact)\)"
)
_BUNDLED = re.compile(r"(?P<n>[\d,]+) bundled real (?P<name>\w+) test images")


def _family(name: str) -> str:
    """``MNIST-RTS`` -> ``MNIST``, ``CIFAR10`` -> ``CIFAR-10``."""
    upper = name.upper()
    return "MNIST" if upper.startswith("MNIST") else "CIFAR-10" if upper.startswith("CIFAR") else name


def short_provenance(data: str) -> str:
    """The short form of a run's data (the ``data`` string ``run.record`` wrote), for a results caption.

    A fully exact dataset reads "real MNIST (exact)". A partly exact one is the offline CIFAR-10 copy this
    project's machines use (its README: training set exact, the first test images exact, the rest decoded
    from JPEGs). Anything not recognised is given as written.

    >>> short_provenance("MNIST from folder d (mnist.npz): 60,000 train / 10,000 test (all exact); distorted")
    'real MNIST (exact)'
    >>> short_provenance("CIFAR-10 from folder d (cifar10.npz): 50,000 train / 10,000 test (1,000 exact); x")
    'CIFAR-10: train exact, 1,000 of 10,000 test images exact, rest JPEG-derived'
    >>> short_provenance("500 bundled real CIFAR10 test images (assets/samples), first 200 used")
    '500 bundled real CIFAR-10 test images'
    """
    parts: list[str] = []
    for m in _LOADED.finditer(data):
        family = _family(m["name"])
        if "bundled" in m["source"]:
            parts.append(f"{family}: bundled samples only (a smoke test)")
        elif m["exact"] is None:
            parts.append(f"real {family} (exact)")
        else:
            parts.append(f"{family}: train exact, {m['exact']} of {m['test']} test images exact, rest JPEG-derived")
    parts += [f"{m['n']} bundled real {_family(m['name'])} test images" for m in _BUNDLED.finditer(data)]
    return "; ".join(dict.fromkeys(parts)) or data


def datasets_used(data: str) -> set[str]:
    """The real datasets a run's ``data`` string says it loaded (bundled samples do not count)."""
    return {_family(m["name"]) for m in _LOADED.finditer(data) if "bundled" not in m["source"]}
