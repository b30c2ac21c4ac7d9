"""Execute notebooks headlessly with papermill: ``python -m tools.execute --profile full notebooks/*.ipynb``.

Each notebook runs in a fresh kernel with ``PROFILE`` injected into its ``parameters`` cell and
its own folder as working directory. The profile is decided once, by ``--profile``: a non-empty
``$STNLIB_PROFILE`` naming another profile is an error, and the kernel gets
``STNLIB_PROFILE=<profile>`` explicitly, so the report's folder and what the notebook ran agree.

The report goes to ``reports/<name>.ipynb`` (full) or ``reports/quick/<name>.ipynb`` (quick),
written only when the whole notebook succeeded (a failed run is kept as ``<name>.failed.ipynb``
and the command exits non-zero). The notebook's ``run.record(...)`` only stages its metrics (in a
file named by ``$STNLIB_PENDING``); they are merged into ``metrics.json`` after the report is
saved, so ``metrics.json`` never holds numbers of a run whose report was not written.

``python -m tools.execute --publish reports/metrics.json.<name>.recovered.json`` merges results
that ``record`` had to set aside (because ``metrics.json`` was malformed) once the file is repaired.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import papermill as pm

from stnlib.env import PENDING_ENV, PROFILE_ENV, PROFILES, REPO_ROOT, reports_dir, resolve_profile
from stnlib.runs import MetricsFileError, load_metrics, merge_metrics

__all__ = ["decide_profile", "execute_notebook", "main", "publish"]


def decide_profile(profile: str) -> str:
    """``profile`` (the ``--profile`` value) if ``$STNLIB_PROFILE`` is unset, empty or the same; else ``ValueError``.

    The message names both values and what to do.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
    from_env = resolve_profile(profile)  # $STNLIB_PROFILE wins there when set (unknown values raise)
    if from_env.name != profile:
        raise ValueError(
            f"--profile {profile} conflicts with ${PROFILE_ENV}={from_env.name}: the report would be filed as a "
            f"{profile} run while the notebook would run the {from_env.name} profile. Unset {PROFILE_ENV} (e.g. "
            f"`env -u {PROFILE_ENV} make ...`), or ask for the profile you mean (`make quick` runs quick, "
            f"`make execute` full; or --profile {from_env.name})."
        )
    return profile


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables (the kernel papermill starts inherits them) and restore them afterwards."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def publish(staged: str | os.PathLike[str], target: str | os.PathLike[str]) -> list[str]:
    """Merge the entries of ``staged`` (a metrics file: staged by a run, or ``*.recovered.json``) into ``target``.

    Returns the merged names (none if ``staged`` does not exist). A malformed ``target`` is left as it is
    and :class:`~stnlib.runs.MetricsFileError` says where the entries were saved instead.
    """
    entries = load_metrics(staged)
    if entries:
        merge_metrics(target, entries)
    return sorted(entries)


def execute_notebook(source: Path, profile: str, *, out_dir: Path | None = None, **parameters: object) -> Path:
    """Run ``source`` with ``PROFILE=profile`` (plus ``parameters``), publish its metrics; return the report's path.

    Raises ``ValueError`` (see :func:`decide_profile`) before running anything if the profile is contested.
    """
    profile = decide_profile(profile)
    source = Path(source).resolve()
    if not source.exists():
        raise FileNotFoundError(f"notebook {source} not found")
    out_dir = Path(out_dir or reports_dir(profile))
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / source.name
    partial = out_dir / f".{source.stem}.partial.ipynb"
    failed = out_dir / f"{source.stem}.failed.ipynb"
    os.environ.setdefault("STNLIB_WIDGETS", "static")
    with tempfile.TemporaryDirectory(prefix="stnlib-pending-") as tmp:
        staged = Path(tmp) / f"{source.stem}.json"
        try:
            with _environment(**{PROFILE_ENV: profile, PENDING_ENV: str(staged)}):
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
        _relative_paths(partial, source, final)
        os.replace(partial, final)
        failed.unlink(missing_ok=True)
        publish(staged, reports_dir(profile) / "metrics.json")  # only now: the report exists
    return final


def _relative_paths(report: Path, source: Path, final: Path) -> None:
    """Papermill records absolute input/output paths in the report's metadata; keep them relative to the clone."""
    nb = json.loads(report.read_text())
    meta = nb.get("metadata", {}).get("papermill", {})
    for key, path in (("input_path", source), ("output_path", final)):
        meta[key] = os.path.relpath(path, REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path.name
    report.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def _publish_saved(saved: Path) -> int:
    target = saved.parent / "metrics.json"
    try:
        names = publish(saved, target)
    except MetricsFileError as err:
        print(f"not published: {err}", file=sys.stderr)
        return 1
    saved.unlink(missing_ok=True)
    print(f"merged {', '.join(names) or 'nothing'} from {saved.name} into {target}; removed {saved.name}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.execute", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=PROFILES, default="full")
    parser.add_argument("--publish", type=Path, metavar="FILE", help="merge FILE (a *.recovered.json) into the "
                        "metrics.json beside it, then remove FILE; runs no notebook")  # fmt: skip
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    if args.publish:
        return _publish_saved(args.publish)
    if not args.notebooks:
        parser.error("name at least one notebook (or --publish FILE)")
    try:
        decide_profile(args.profile)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for nb in args.notebooks:
        t0 = time.perf_counter()
        print(f"[{args.profile}] {nb} ...", flush=True)
        try:
            out = execute_notebook(nb, args.profile)
        except pm.PapermillExecutionError as err:
            print(f"FAILED {nb} in cell {err.exec_count}: {err.ename}: {err.evalue}", file=sys.stderr)
            return 1
        except MetricsFileError as err:  # the report was saved; its metrics could not be merged
            print(f"report saved, metrics not published: {err}", file=sys.stderr)
            return 1
        print(f"[{args.profile}] {nb} -> {out} in {time.perf_counter() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
