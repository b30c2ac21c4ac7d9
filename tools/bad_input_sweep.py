"""Count how stnlib answers the bad inputs of ``tests/test_bad_inputs.py``, by module.

Outcomes (see ``classify`` there): **clear** (a ``ValueError``/``TypeError`` raised by stnlib itself, naming the
argument), **unclear** (stnlib's own error, without the argument's name), **raw** (an error from inside torch, numpy
or Python: ``AttributeError``, ``ZeroDivisionError``, torch's messages ...) and **silent** (no error: a wrong or
non-finite result, or a failure much later). The table is read from this checkout; the ``stnlib`` measured is
whichever Python imports, so an older copy can be measured by putting it first on ``PYTHONPATH``::

    python tools/bad_input_sweep.py                         # this checkout
    git worktree add /tmp/orig HEAD~1                       # an older stnlib ...
    PYTHONPATH=/tmp/orig python tools/bad_input_sweep.py    # ... measured against today's table
    git worktree remove /tmp/orig

``--show raw,silent`` lists the rows with those outcomes. The rows run in a temporary folder, with
``$STNLIB_REPORTS`` there too (``$STNLIB_PENDING`` unset): an older stnlib that accepts a bad path or name writes
nothing into the checkout.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

TABLE = Path(__file__).resolve().parent.parent / "tests" / "test_bad_inputs.py"


def load_table():
    """``tests/test_bad_inputs.py`` as a module (by path: ``stnlib`` stays whichever the interpreter finds)."""
    spec = importlib.util.spec_from_file_location("bad_input_table", TABLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def sweep(table, *, strict: bool = False) -> dict[str, dict[str, list[tuple[str, str]]]]:
    """``{module: {outcome: [(row name, detail), ...]}}`` for every row of ``table.BAD_INPUTS``."""
    found: dict[str, dict[str, list[tuple[str, str]]]] = {}
    for module, rows in table.BAD_INPUTS.items():
        found[module] = {o: [] for o in table.OUTCOMES}
        for row in rows:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                outcome, detail = table.classify(row, strict=strict)
            found[module][outcome].append((row.name, detail))
    return found


def report(found: dict[str, dict[str, list[tuple[str, str]]]], outcomes: tuple[str, ...]) -> str:
    lines = [f"{'module':<10}" + "".join(f"{o:>9}" for o in outcomes) + f"{'total':>9}"]
    totals = dict.fromkeys(outcomes, 0)
    for module, by in found.items():
        lines.append(
            f"{module:<10}" + "".join(f"{len(by[o]):>9}" for o in outcomes) + f"{sum(len(v) for v in by.values()):>9}"
        )
        for o in outcomes:
            totals[o] += len(by[o])
    lines.append(f"{'all':<10}" + "".join(f"{totals[o]:>9}" for o in outcomes) + f"{sum(totals.values()):>9}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--show", default="", help="comma-separated outcomes whose rows to list (raw,silent,...)")
    parser.add_argument("--strict", action="store_true", help="clear only with the table's own error class")
    args = parser.parse_args(argv)
    os.environ.setdefault("STNLIB_WIDGETS", "static")
    table = load_table()
    print(f"stnlib from {Path(table.stnlib.__file__).parent}; table {TABLE.relative_to(TABLE.parent.parent)}")
    scratch, home = Path(tempfile.mkdtemp(prefix="stnlib-sweep-")), Path.cwd()
    os.environ["STNLIB_REPORTS"] = str(scratch / "reports")  # never the checkout's reports/
    os.environ.pop("STNLIB_PENDING", None)
    os.chdir(scratch)  # relative paths (a file named "  ") that an older stnlib accepts land here
    try:
        found = sweep(table, strict=args.strict)
    finally:
        os.chdir(home)
        shutil.rmtree(scratch, ignore_errors=True)
    print(report(found, table.OUTCOMES))
    for outcome in filter(None, args.show.split(",")):
        print(f"\n{outcome}:")
        for module, by in found.items():
            for name, detail in by[outcome]:
                print(f"  {module}: {name}: {detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
