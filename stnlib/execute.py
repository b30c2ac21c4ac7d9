"""Execute notebooks headlessly with papermill: ``python -m stnlib.execute --profile full notebooks/*.ipynb``.

Each notebook runs in a fresh kernel with ``PROFILE`` injected into its
``parameters`` cell and its own folder as working directory. Output goes to
``reports/<name>.ipynb`` (full) or ``reports/quick/<name>.ipynb`` (quick), written
only when the whole notebook succeeded (a failed run is kept as
``<name>.failed.ipynb`` for inspection, and the command exits non-zero).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import papermill as pm

from .env import PROFILES, reports_dir

__all__ = ["execute_notebook", "main"]


def execute_notebook(source: Path, profile: str, *, out_dir: Path | None = None, **parameters: object) -> Path:
    """Run ``source`` with ``PROFILE=profile`` (plus ``parameters``) and return the report's path."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
    source = Path(source).resolve()
    if not source.exists():
        raise FileNotFoundError(f"notebook {source} not found")
    out_dir = out_dir or reports_dir(profile)
    final = out_dir / source.name
    partial = out_dir / f".{source.stem}.partial.ipynb"
    failed = out_dir / f"{source.stem}.failed.ipynb"
    os.environ.setdefault("STNLIB_WIDGETS", "static")
    try:
        pm.execute_notebook(
            str(source),
            str(partial),
            parameters={"PROFILE": profile, **parameters},
            cwd=str(source.parent),
            kernel_name="python3",
            progress_bar=False,
        )
    except BaseException:
        if partial.exists():
            os.replace(partial, failed)
        raise
    os.replace(partial, final)
    failed.unlink(missing_ok=True)
    return final


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stnlib.execute", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=PROFILES, default="full")
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    for nb in args.notebooks:
        t0 = time.perf_counter()
        print(f"[{args.profile}] {nb} ...", flush=True)
        try:
            out = execute_notebook(nb, args.profile)
        except pm.PapermillExecutionError as err:
            print(f"FAILED {nb} in cell {err.exec_count}: {err.ename}: {err.evalue}", file=sys.stderr)
            return 1
        print(f"[{args.profile}] {nb} -> {out} in {time.perf_counter() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
