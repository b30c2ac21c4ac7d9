"""Open in Colab, Run all: a simulated fresh Colab runtime runs notebooks 1 and 2 through their first cell.

What the simulation has, as Colab does: ipywidgets 7.7.1, IPython 7.34 and ipykernel 6.17 (the versions the
``google-colab`` package pins and Colab ships), ipywidgets and ``google.colab`` already imported when the kernel
starts (a stand-in ``google.colab`` whose ``output.enable_custom_widget_manager`` does nothing), the notebook run
from a folder outside the repository (Colab's ``/content``), and ``REPO_URL`` pointing at a local bare copy of
this repository (what is committed, plus uncommitted changes to tracked files). torch and the rest come from the
project's ``.venv``; the Colab packages sit in a side environment in front of it (``.venv/colab-sim``, made once).

It checks that stnlib imports without a restart, the widgets display (as ipywidgets views, not static figures),
nothing is written in the working folder outside the clone, and the first cell run again clones and installs
nothing. The first cell's error paths are tested without a kernel at the end of this file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import types
from pathlib import Path

import nbformat
import pytest

from stnlib.env import REPO_ROOT
from tools import readme

COLAB_PINS = ("ipywidgets==7.7.1", "ipython==7.34.0", "ipykernel==6.17.1")
SIDE = REPO_ROOT / ".venv" / "colab-sim"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
CLONE_NAME = readme.REPO_URL.rstrip("/").rsplit("/", 1)[1]

STARTUP = """\
# Colab's kernel imports ipywidgets (and google.colab) before any notebook cell runs.
import json, os
import google.colab
import ipywidgets
with open(os.environ["COLAB_SIM_RECORD"], "w") as f:
    json.dump({"ipywidgets": ipywidgets.__version__}, f)
"""


def _side_python() -> Path:
    """The side environment: Colab's pins in front of ``.venv``'s packages (torch is not installed twice)."""
    python = SIDE / "bin" / "python"
    stamp = SIDE / ".pins"
    if stamp.exists() and stamp.read_text() == " ".join(COLAB_PINS) and python.exists():
        return python
    shutil.rmtree(SIDE, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(SIDE)], check=True)
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (site / "zz_project_venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # after its own packages
    got = subprocess.run([str(python), "-m", "pip", "install", "-q", *COLAB_PINS], capture_output=True, text=True)
    if got.returncode != 0:
        pytest.skip(f"cannot install Colab's packages {COLAB_PINS} from the package index: {got.stderr[-500:]}")
    stamp.write_text(" ".join(COLAB_PINS))
    return python


def _bare_copy(where: Path) -> Path:
    """A bare repository whose ``main`` is this checkout: HEAD, plus uncommitted changes to tracked files."""
    git = ["git", "-C", str(REPO_ROOT)]
    commit = subprocess.run([*git, "stash", "create"], check=True, capture_output=True, text=True).stdout.strip()
    bare = where / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(bare)], check=True)
    subprocess.run([*git, "push", "-q", str(bare), f"{commit or 'HEAD'}:refs/heads/main"], check=True)
    return bare


@pytest.fixture(scope="module")
def colab(tmp_path_factory):
    """``run(stem)``: the notebook, run as Colab would from ``content/``; returns the executed notebook."""
    import papermill as pm

    python = _side_python()
    root = tmp_path_factory.mktemp("colab")
    bare = _bare_copy(root)
    fakes = root / "fakes" / "google" / "colab"
    fakes.mkdir(parents=True)
    (fakes / "__init__.py").write_text("")
    (fakes / "output.py").write_text("def enable_custom_widget_manager():\n    pass\n")
    startup = root / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-colab.py").write_text(STARTUP)
    spec = root / "jupyter" / "kernels" / "colab-sim"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Colab (sim)",
                "language": "python",
                "env": {
                    "IPYTHONDIR": str(root / "ipython"),
                    "PYTHONPATH": str(root / "fakes"),
                    "COLAB_SIM_RECORD": str(root / "record.json"),
                },
            }
        )
    )
    content, out = root / "content", root / "out"
    content.mkdir()
    out.mkdir()

    def run(stem: str) -> nbformat.NotebookNode:
        nb = nbformat.read(REPO_ROOT / "notebooks" / f"{stem}.ipynb", as_version=4)
        nb.cells[0].source = nb.cells[0].source.replace(f'"{readme.REPO_URL}"', f'"{bare.as_uri()}"')
        assert bare.as_uri() in nb.cells[0].source
        src = out / f"{stem}.in.ipynb"
        nbformat.write(nb, src)
        kept = {k: os.environ.get(k) for k in ("JUPYTER_PATH", "STNLIB_WIDGETS", "STNLIB_REPORTS")}
        os.environ["JUPYTER_PATH"] = str(root / "jupyter")
        for k in ("STNLIB_WIDGETS", "STNLIB_REPORTS"):  # Colab sets neither: widgets render, reports stay in the clone
            os.environ.pop(k, None)
        try:
            pm.execute_notebook(
                str(src),
                str(out / f"{stem}.ipynb"),
                parameters={"PROFILE": "quick"},
                cwd=str(content),
                kernel_name="colab-sim",
                progress_bar=False,
            )
        except pm.PapermillExecutionError as err:
            pytest.fail(f"{stem}, cell {err.exec_count}: {err.ename}: {err.evalue}\n{''.join(err.traceback)[-3000:]}")
        finally:
            for k, v in kept.items():
                os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
        return nbformat.read(out / f"{stem}.ipynb", as_version=4)

    run.root, run.content, run.bare = root, content, bare
    return run


def _widget_views(nb: nbformat.NotebookNode) -> int:
    return sum(WIDGET_VIEW in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def _installed_stnlib(python: Path, cwd: Path) -> str:
    code = (
        "from importlib import metadata; "
        "print([d.read_text('direct_url.json') for d in metadata.distributions(name='stnlib')])"
    )
    return subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True, cwd=cwd).stdout


@pytest.mark.notebook
@pytest.mark.colab
def test_notebooks_1_and_2_run_all_on_a_fresh_colab_runtime(colab):
    if not (os.environ.get("STNLIB_DATA") and (Path(os.environ["STNLIB_DATA"]) / "mnist.npz").exists()):
        pytest.skip("notebook 2 needs MNIST: no mnist.npz in $STNLIB_DATA (Colab would download it)")
    clone = colab.content / CLONE_NAME
    nb1 = colab("01_affine_intuition")
    assert json.loads((colab.root / "record.json").read_text()) == {"ipywidgets": "7.7.1"}  # preloaded, as Colab
    assert (clone / "stnlib" / "widgets.py").exists()  # the first cell cloned the repository
    assert clone.as_uri() in _installed_stnlib(SIDE / "bin" / "python", colab.root)  # and installed stnlib from it
    assert _widget_views(nb1) >= 1, "notebook 1 shows no live widget"
    assert (clone / "reports" / "quick" / "metrics.json").exists()  # stnlib ran from the clone, no restart

    installed = (SIDE / "lib").glob("python*/site-packages/__editable__*stnlib*")
    stamps = {p: p.stat().st_mtime_ns for p in installed}
    colab.bare.rename(colab.bare.with_suffix(".gone"))  # a second first cell that tried to clone would fail
    try:
        nb2 = colab("02_stn_mnist")
    finally:
        colab.bare.with_suffix(".gone").rename(colab.bare)
    assert stamps and {p: p.stat().st_mtime_ns for p in stamps} == stamps  # pip did not reinstall
    assert _widget_views(nb2) >= 1, "notebook 2's fooling widget is not shown live"
    assert sorted(p.name for p in colab.content.iterdir()) == [CLONE_NAME]  # nothing written beside the clone


# ---------------------------------------------------------------------------------- the first cell, without a kernel
@pytest.fixture
def first_cell(monkeypatch, tmp_path):
    """Run the Colab cell in-process from ``tmp_path`` with ``google.colab`` faked; git and pip are recorded."""
    colab_pkg = types.ModuleType("google.colab")
    colab_pkg.output = types.SimpleNamespace(enable_custom_widget_manager=lambda: None)
    monkeypatch.setitem(sys.modules, "google.colab", colab_pkg)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    calls: list[list[str]] = []

    def run(source: str | None = None, *, clone_fails: bool = False):
        def fake_run(argv, **kw):
            calls.append(list(argv))
            if argv[:2] == ["git", "clone"]:
                if clone_fails:
                    return subprocess.CompletedProcess(argv, 128, "", "fatal: repository 'x' not found")
                Path(argv[-1]).mkdir(parents=True)
                (Path(argv[-1]) / "pyproject.toml").write_text("")
            return subprocess.CompletedProcess(argv, 0, "", "")

        monkeypatch.setattr(subprocess, "run", fake_run)
        exec(source or readme.colab_cell_source(), {})

    run.calls = calls
    return run


def test_a_failed_clone_says_why_and_what_to_do(first_cell):
    with pytest.raises(RuntimeError) as err:
        first_cell(clone_fails=True)
    text = str(err.value)
    assert "Could not clone" in text and "repository 'x' not found" in text and "run this cell again" in text
    assert not any("pip" in a for call in first_cell.calls for a in call)  # nothing installed after a failure


def test_run_twice_the_first_cell_clones_once(first_cell, monkeypatch, tmp_path):
    from importlib import metadata

    first_cell()
    assert [c[:2] for c in first_cell.calls] == [["git", "clone"], [sys.executable, "-m"]]  # clone, then pip
    assert str(tmp_path / CLONE_NAME) in sys.path  # importable at once: no restart
    uri = (tmp_path / CLONE_NAME).as_uri()
    dist = types.SimpleNamespace(read_text=lambda name: json.dumps({"url": uri, "dir_info": {"editable": True}}))
    monkeypatch.setattr(metadata, "distributions", lambda name: [dist])
    first_cell.calls.clear()
    first_cell()
    assert first_cell.calls == []  # the clone is there and stnlib is installed from it: no git, no pip


def test_the_first_cell_stops_loudly_if_pip_upgraded_a_loaded_package(first_cell, monkeypatch):
    from importlib import metadata

    import ipywidgets  # noqa: F401  (loaded, as in Colab)

    real = metadata.version
    pip_ran = lambda: any("pip" in call for call in first_cell.calls)  # noqa: E731
    monkeypatch.setattr(
        metadata, "version", lambda d: ("8.1.5" if pip_ran() else "7.7.1") if d == "ipywidgets" else real(d)
    )
    with pytest.raises(RuntimeError, match=r"ipywidgets 7\.7\.1 -> 8\.1\.5.*Restart"):
        first_cell()


def test_notebook_links_are_absolute_and_point_at_the_repository():
    """Relative links are dead in Colab; every link into the repository is REPO_URL's and names a real path."""
    for path in sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "markdown":
                continue
            for target in re.findall(r"\]\(([^)\s]+)\)", cell.source):
                assert re.match(r"https?://|#", target), f"{path.name}: relative link {target!r}"
                if target.startswith(readme.REPO_URL + "/"):
                    rel = re.sub(r"^/(blob|tree)/[^/]+/", "", target[len(readme.REPO_URL) :]).split("#")[0]
                    assert (REPO_ROOT / rel).exists(), f"{path.name}: {target} names no file of the repository"


def test_a_fork_moves_every_link_with_its_repo_url():
    old = "https://github.com/someone/old-name"
    text = textwrap.dedent(f"""\
        [lib]({old}/tree/main/stnlib) [nb](02_stn_mnist.ipynb) [other](https://github.com/pytorch/tutorials)""")
    moved = readme.absolute_links(text, old)
    assert old not in moved and f"{readme.REPO_URL}/tree/main/stnlib" in moved
    assert f"{readme.REPO_URL}/blob/main/notebooks/02_stn_mnist.ipynb" in moved
    assert "https://github.com/pytorch/tutorials" in moved
    with pytest.raises(ValueError, match="not a file or folder"):
        readme.absolute_links("[gone](../no_such_file.py)")
