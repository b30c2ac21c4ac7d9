"""Execute notebooks headlessly with papermill: ``python -m tools.execute --profile full notebooks/*.ipynb``.

Each notebook runs in a fresh kernel with ``PROFILE`` injected into its ``parameters`` cell and
its own folder as working directory, with ``TRAIN = True``: it retrains every model and saves its
weights (``weights/``, recorded with their SHA-256 in ``metrics.json``). ``--load`` runs the default
path instead (``TRAIN = False``: the verified weights load), into ``reports/loaded/``.
The profile is decided once, by ``--profile``: a non-empty
``$STNLIB_PROFILE`` naming another profile is an error, and the kernel gets
``STNLIB_PROFILE=<profile>`` explicitly, so the report's folder and what the notebook ran agree.

The report goes to ``reports/<name>.ipynb`` (full) or ``reports/quick/<name>.ipynb`` (quick),
written only when the whole notebook succeeded (a failed run is kept as ``<name>.failed.ipynb``
and the command exits non-zero). The notebook's ``run.record(...)`` only stages its metrics (in a
file named by ``$STNLIB_PENDING``); they are merged into ``metrics.json`` after the report is
saved, so ``metrics.json`` never holds numbers of a run whose report was not written.

``python -m tools.execute --publish reports/metrics.json.<name>.recovered.json`` merges results
that ``record`` had to set aside (because ``metrics.json`` was malformed) once the file is repaired.
A run killed after its notebook finished leaves a journal; the next run of that notebook, or
``python -m tools.execute --finish``, saves its report and merges its metrics.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import papermill as pm

from stnlib.env import PENDING_ENV, PROFILE_ENV, PROFILES, REPO_ROOT, reports_dir, resolve_profile
from stnlib.runs import MetricsFileError, atomic_write_json, load_metrics, merge_metrics

fcntl = None if os.name == "nt" else importlib.import_module("fcntl")  # no locking on Windows

__all__ = ["decide_profile", "execute_notebook", "finish_interrupted", "main", "publish"]


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


def _journal(out_dir: Path, stem: str) -> Path:
    return out_dir / f".{stem}.publish.json"


def finish_interrupted(out_dir: Path, stem: str) -> list[str]:
    """Bring ``out_dir``'s ``<stem>`` report and its metrics back to a consistent pair after a run was killed;
    returns what it did. Call it with the notebook's lock held (:func:`execute_notebook` does).

    Past the commit point (a journal ``.<stem>.publish.json`` exists) the publish is finished: the saved
    report replaces the old one and its staged metrics are merged. Before it, nothing was published, and
    the leftovers (a partial report, a staging folder) are removed."""
    journal, done = _journal(out_dir, stem), []
    partial, pending = out_dir / f".{stem}.partial.ipynb", out_dir / f".{stem}.pending"
    if journal.exists():
        plan = json.loads(journal.read_text())
        if partial.exists():
            os.replace(partial, out_dir / f"{stem}.ipynb")
            done.append(f"saved the report {stem}.ipynb")
        staged = pending / "metrics.json"
        if staged.exists():
            try:
                done += [f"published {', '.join(publish(staged, plan['metrics']))}"]
            except MetricsFileError:  # set aside, and the error says where: nothing is lost, nothing owed
                journal.unlink()
                raise
        journal.unlink()
    for leftover in (partial, pending):
        if leftover.exists():
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
            done.append(f"removed {leftover.name}")
    return done


@contextlib.contextmanager
def _notebook_lock(out_dir: Path, stem: str) -> Iterator[None]:
    """One run of ``stem`` into ``out_dir`` at a time (a second waits); leftovers of a killed run are dealt with."""
    with open(out_dir / f".{stem}.lock", "a") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        for line in finish_interrupted(out_dir, stem):
            print(f"an earlier run of {stem} was interrupted: {line}", file=sys.stderr)
        yield


def execute_notebook(source: Path, profile: str, *, out_dir: Path | None = None, **parameters: object) -> Path:
    """Run ``source`` with ``PROFILE=profile`` (plus ``parameters``), publish its metrics; return the report's path.

    Raises ``ValueError`` (see :func:`decide_profile`) before running anything if the profile is contested.
    The metrics are staged in ``out_dir/.<stem>.pending/`` while the notebook runs. Once it has finished, a
    journal is written (the commit point), then the report is saved and the metrics merged, then the journal
    is removed: a kill anywhere leaves either the old pair or a journal that the next run completes.
    """
    profile = decide_profile(profile)
    source = Path(source).resolve()
    if not source.exists():
        raise FileNotFoundError(f"notebook {source} not found")
    out_dir = Path(out_dir or reports_dir(profile))
    out_dir.mkdir(parents=True, exist_ok=True)
    final, stem = out_dir / source.name, source.stem
    partial, failed = out_dir / f".{stem}.partial.ipynb", out_dir / f"{stem}.failed.ipynb"
    pending, target = out_dir / f".{stem}.pending", reports_dir(profile) / "metrics.json"
    os.environ.setdefault("STNLIB_WIDGETS", "static")
    with _notebook_lock(out_dir, stem):
        pending.mkdir()
        try:
            with _environment(**{PROFILE_ENV: profile, PENDING_ENV: str(pending / "metrics.json")}):
                pm.execute_notebook(
                    str(source),
                    str(partial),
                    parameters={"PROFILE": profile, **parameters},
                    cwd=str(source.parent),
                    kernel_name="python3",
                    progress_bar=False,
                )
            _relative_paths(partial, source, final)
        except BaseException:  # a failed cell, Ctrl-C, SIGTERM (main turns it into SystemExit)
            if partial.exists():
                os.replace(partial, failed)
            shutil.rmtree(pending, ignore_errors=True)
            raise
        atomic_write_json(_journal(out_dir, stem), {"report": final.name, "metrics": str(target)})  # commit point
        finish_interrupted(out_dir, stem)  # the report, then its metrics, then the journal goes
        failed.unlink(missing_ok=True)
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
    parser.add_argument(
        "--publish",
        type=Path,
        metavar="FILE",
        help="merge FILE (a *.recovered.json) into the metrics.json beside it, then remove FILE; runs no notebook",
    )
    parser.add_argument(
        "--finish",
        action="store_true",
        help="complete the publishing of runs that were killed "
        "after they finished (their journals .NAME.publish.json in reports/); runs no notebook",
    )
    parser.add_argument(
        "--load",
        action="store_true",
        help="run with TRAIN = False (the default path: load the verified weights instead of training); the report "
        "goes to reports/loaded/, the run's time into metrics.json as load_seconds",
    )
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a polite kill cleans up like Ctrl-C
    if args.publish:
        return _publish_saved(args.publish)
    if args.finish:
        for journal in sorted(reports_dir(args.profile).glob(".*.publish.json")):
            stem = journal.name[1 : -len(".publish.json")]
            with _notebook_lock(journal.parent, stem):  # finishes it, and says what it did
                pass
        return 0
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
            loaded = reports_dir(args.profile) / "loaded" if args.load else None
            out = execute_notebook(nb, args.profile, out_dir=loaded, TRAIN=not args.load)
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
