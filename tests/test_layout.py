"""The package's shape: no import cycles (lazy imports included), the core never imports figures,
widgets or run records, nothing in ``stnlib`` imports the repository tools, and every module and
function stays small enough to read."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "stnlib"
#: What notebooks build on; none of these may import a module outside this set.
CORE = {
    "env",
    "progress",
    "affine",
    "augment",
    "data",
    "batches",
    "distort",
    "transformer",
    "models",
    "recipes",
    "train",
    "loop",
    "fast_cifar",
    "stats",
    "projective",
    "tps",
    "table1",
    "undo",
    "recovery",
    "samples",
    "checks",
    "paper",
    "addition",
}
MAX_MODULE_LINES, MAX_FUNCTION_LINES, MAX_PACKAGE_LINES = 400, 60, 4_500


def _modules() -> dict[str, ast.Module]:
    return {p.stem: ast.parse(p.read_text(), str(p)) for p in sorted(PACKAGE.glob("*.py")) if p.stem != "__init__"}


def imports_of(tree: ast.Module, known: set[str]) -> set[str]:
    """Every ``stnlib`` module ``tree`` imports anywhere (top level, inside functions, under TYPE_CHECKING)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level == 1 or base == "stnlib" or base.startswith("stnlib."):
                base = base.removeprefix("stnlib").lstrip(".")
                if base:
                    found.add(base.split(".")[0])
                else:  # from . import a, b / from stnlib import a
                    found |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("stnlib.")}
    return found & known


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or ``None``."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return stack[stack.index(n) :] + [n]
            if n not in state and (cycle := visit(n)):
                return cycle
        state[m] = 2
        stack.pop()
        return None

    for m in sorted(graph):
        if m not in state and (cycle := visit(m)):
            return cycle
    return None


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {name: imports_of(tree, set(mods)) - {name} for name, tree in mods.items()}


def test_the_cycle_finder_finds_a_known_cycle():
    old = {"train": {"widgets"}, "widgets": {"viz"}, "viz": {"train"}}  # the cycle this package once had
    assert find_cycle(old) == ["train", "widgets", "viz", "train"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    lazy = ast.parse("def f():\n    from .viz import g\nif TYPE_CHECKING:\n    from stnlib import train\n")
    assert imports_of(lazy, {"viz", "train", "data"}) == {"viz", "train"}


def test_no_import_cycles_lazy_or_not():
    assert find_cycle(_graph()) is None


def test_the_core_imports_only_the_core():
    graph = _graph()
    bad = {m: sorted(graph[m] - CORE) for m in CORE & set(graph) if graph[m] - CORE}
    assert not bad, f"core modules import figures/widgets/run records: {bad}"


def test_stnlib_never_imports_the_repository_tools():
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else ([a.name for a in node.names] if isinstance(node, ast.Import) else [])
            )
            assert not any(n == "tools" or n.startswith("tools.") for n in names), f"{path.name} imports tools"


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_modules_and_functions_stay_small(path):
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_MODULE_LINES, f"{path.name}: {len(text.splitlines())} lines"
    sizes = {n.name: n.end_lineno - n.lineno + 1 for n in ast.walk(ast.parse(text)) if isinstance(n, ast.FunctionDef)}
    long = {name: lines for name, lines in sizes.items() if lines > MAX_FUNCTION_LINES}
    assert not long, f"{path.name}: functions over {MAX_FUNCTION_LINES} lines: {long}"


@pytest.mark.xfail(
    strict=True, reason="issue 20: stnlib is at about 6,170 lines; remove this mark once it is cut to 4,500"
)
def test_the_package_stays_small_enough_to_read():
    """A student reads all of ``stnlib`` next to the notebooks, so it holds what they use and no more (what only the
    tools or tests need lives in ``tools/``). The limit is for readability, not a brake for hand-packing: ``ruff
    format`` lays the code out (no opt-outs, tests/test_project.py), and the count is of its lines."""
    total = sum(len(p.read_text().splitlines()) for p in PACKAGE.glob("*.py"))
    assert total <= MAX_PACKAGE_LINES, f"stnlib has {total:,} lines, more than {MAX_PACKAGE_LINES:,}"
