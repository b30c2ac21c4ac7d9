"""tools.execute: the profile is decided once (defect 1), and metrics are published only with their report (defect 3).

The notebooks here are tiny generated ones (one kernel start each, a few seconds)."""

import json
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from stnlib.runs import MetricsFileError, load_metrics
from tools import execute

TINY = (
    "import os\n"
    "from stnlib.runs import Metric, start_run\n"
    'print("kernel STNLIB_PROFILE =", os.environ.get("STNLIB_PROFILE"))\n'
    'run = start_run("99_tiny", PROFILE)\n'
    'path = run.record([Metric("quick", "quick profile", int(run.profile.quick))], data="none")'
)


def tiny_notebook(folder, *, fail_after_record=False):
    cells = [
        nbformat.v4.new_code_cell('PROFILE = "full"', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(TINY),
    ]
    if fail_after_record:  # stands for a run killed after record(), before the report is saved
        cells.append(nbformat.v4.new_code_cell('raise RuntimeError("killed after record")'))
    meta = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "99_tiny.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata=meta), path)
    return path


@pytest.fixture(autouse=True)
def _no_profile_override(monkeypatch):
    monkeypatch.delenv("STNLIB_PROFILE", raising=False)
    monkeypatch.delenv("STNLIB_PENDING", raising=False)


# ------------------------------------------------------------------ defect 1: the profile is decided once
@pytest.mark.parametrize(("flag", "env"), [("full", "quick"), ("quick", "full"), ("full", " QUICK ")])
def test_conflicting_profile_is_an_error_naming_both(monkeypatch, flag, env):
    monkeypatch.setenv("STNLIB_PROFILE", env)
    other = env.strip().lower()
    with pytest.raises(ValueError, match=rf"--profile {flag} conflicts with \$STNLIB_PROFILE={other}") as err:
        execute.decide_profile(flag)
    assert "Unset STNLIB_PROFILE" in str(err.value)


@pytest.mark.parametrize("env", [None, "", "  ", "full"])
def test_agreeing_or_absent_profile_variable_is_fine(monkeypatch, env):
    if env is not None:
        monkeypatch.setenv("STNLIB_PROFILE", env)
    assert execute.decide_profile("full") == "full"


def test_unknown_profiles_are_errors(monkeypatch):
    with pytest.raises(ValueError, match="unknown profile 'medium'"):
        execute.decide_profile("medium")
    monkeypatch.setenv("STNLIB_PROFILE", "medium")
    with pytest.raises(ValueError, match=r"'medium' from \$STNLIB_PROFILE"):
        execute.decide_profile("full")


def test_conflict_stops_before_running_anything(tmp_path, monkeypatch):
    monkeypatch.setenv("STNLIB_PROFILE", "quick")
    nb = tiny_notebook(tmp_path / "nb")
    with pytest.raises(ValueError, match=r"--profile full conflicts with \$STNLIB_PROFILE=quick"):
        execute.execute_notebook(nb, "full", out_dir=tmp_path / "out")
    assert not (tmp_path / "out" / "99_tiny.ipynb").exists()
    assert not (tmp_path / "reports" / "quick" / "metrics.json").exists()


def test_main_reports_the_conflict_and_exits_non_zero(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STNLIB_PROFILE", "full")
    assert execute.main(["--profile", "quick", str(tiny_notebook(tmp_path / "nb"))]) == 2
    err = capsys.readouterr().err
    assert "--profile quick conflicts with $STNLIB_PROFILE=full" in err and "Traceback" not in err


def test_kernel_gets_the_profile_explicitly_and_metrics_follow_the_report(tmp_path):
    nb = tiny_notebook(tmp_path / "nb")
    out = execute.execute_notebook(nb, "quick", out_dir=tmp_path / "out")
    assert out == tmp_path / "out" / "99_tiny.ipynb"
    assert "kernel STNLIB_PROFILE = quick" in out.read_text()
    entry = load_metrics(tmp_path / "reports" / "quick" / "metrics.json")["99_tiny"]
    assert entry["profile"] == "quick" and entry["metrics"][0]["value"] == 1
    assert "metrics staged" in out.read_text()  # record() staged; the executor published after saving
    meta = json.loads(out.read_text())["metadata"]["papermill"]  # no absolute paths of this machine
    assert (meta["input_path"], meta["output_path"]) == ("99_tiny.ipynb", "99_tiny.ipynb")


# --------------------------------------------- defect 3: no numbers without their report
def test_a_run_that_dies_after_record_publishes_nothing(tmp_path):
    metrics = tmp_path / "reports" / "quick" / "metrics.json"
    nb = tiny_notebook(tmp_path / "nb", fail_after_record=True)
    with pytest.raises(pm.PapermillExecutionError, match="killed after record"):
        execute.execute_notebook(nb, "quick", out_dir=tmp_path / "out")
    assert not (tmp_path / "out" / "99_tiny.ipynb").exists()
    assert (tmp_path / "out" / "99_tiny.failed.ipynb").exists()
    assert "99_tiny" not in load_metrics(metrics)


def test_a_malformed_metrics_file_costs_neither_the_report_nor_the_numbers(tmp_path):
    metrics = tmp_path / "reports" / "quick" / "metrics.json"
    metrics.parent.mkdir(parents=True)
    metrics.write_text('{"01_a": {"profile": "quick"')  # truncated
    with pytest.raises(MetricsFileError, match="cannot be read as JSON"):
        execute.execute_notebook(tiny_notebook(tmp_path / "nb"), "quick", out_dir=tmp_path / "out")
    assert (tmp_path / "out" / "99_tiny.ipynb").exists()  # the notebook finished and its report was saved
    assert metrics.read_text() == '{"01_a": {"profile": "quick"'
    saved = metrics.with_name("metrics.json.99_tiny.recovered.json")
    assert load_metrics(saved)["99_tiny"]["metrics"][0]["value"] == 1


def _entry(value):
    return {
        "profile": "full",
        "data": "d",
        "seconds": 1.0,
        "finished": "today",
        "metrics": [{"key": "k", "label": "K", "value": value, "unit": ""}],
    }


def test_publish_merges_a_staged_file(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text(json.dumps({"01_a": _entry(1.0)}))
    staged = tmp_path / "staged.json"
    staged.write_text(json.dumps({"02_b": _entry(2.0)}))
    assert execute.publish(staged, target) == ["02_b"]
    assert sorted(load_metrics(target)) == ["01_a", "02_b"]
    assert execute.publish(tmp_path / "nothing-staged.json", target) == []


def test_publish_into_a_malformed_file_sets_the_results_aside(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("[]")
    staged = tmp_path / "staged.json"
    staged.write_text(json.dumps({"02_b": _entry(2.0)}))
    with pytest.raises(MetricsFileError, match="holds a JSON list"):
        execute.publish(staged, target)
    assert target.read_text() == "[]"
    assert load_metrics(tmp_path / "metrics.json.02_b.recovered.json")["02_b"] == _entry(2.0)


def test_publish_cli_merges_recovered_results_once_the_file_is_repaired(tmp_path, capsys):
    target = tmp_path / "metrics.json"
    saved = tmp_path / "metrics.json.02_b.recovered.json"
    saved.write_text(json.dumps({"02_b": _entry(2.0)}))
    target.write_text("")  # still broken: nothing happens, the saved file stays
    assert execute.main(["--publish", str(saved)]) == 1
    assert saved.exists() and "is empty" in capsys.readouterr().err
    target.write_text(json.dumps({"01_a": _entry(1.0)}))  # repaired
    assert execute.main(["--publish", str(saved)]) == 0
    assert sorted(load_metrics(target)) == ["01_a", "02_b"] and not saved.exists()


# ------------------------------------------------ a finished run never loses its numbers (issue: bad input)
def test_a_nan_in_the_metrics_file_costs_no_run(tmp_path):
    """Written by hand or an older version: reading refuses what writing would refuse, so the numbers go aside."""
    metrics = tmp_path / "reports" / "quick" / "metrics.json"
    metrics.parent.mkdir(parents=True)
    broken = json.dumps({"01_a": _entry(1.0)}).replace("1.0", "NaN")
    metrics.write_text(broken)
    with pytest.raises(MetricsFileError, match="NaN"):
        execute.execute_notebook(tiny_notebook(tmp_path / "nb"), "quick", out_dir=tmp_path / "out")
    assert (tmp_path / "out" / "99_tiny.ipynb").exists() and metrics.read_text() == broken
    assert load_metrics(metrics.with_name("metrics.json.99_tiny.recovered.json"))["99_tiny"]["metrics"][0]["value"] == 1


def _fake_papermill(monkeypatch, kill_at: str | None = None):
    """papermill stand-in: writes the report and stages an entry as the notebook would; ``kill_at`` ("replace":
    between the report and its metrics, "merge": while merging) raises SystemExit there, as a kill would stop it."""

    def run(source, output, *, parameters, **kw):
        import os

        from stnlib.runs import atomic_write_json

        atomic_write_json(os.environ["STNLIB_PENDING"], {"99_tiny": _entry(2.0)})
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("new report")]), output)

    monkeypatch.setattr(execute.pm, "execute_notebook", run)
    if kill_at == "merge":
        monkeypatch.setattr(execute, "publish", lambda *a: (_ for _ in ()).throw(SystemExit("killed")))
    if kill_at == "replace":
        real = execute.os.replace

        def replace(src, dst):
            real(src, dst)
            if str(dst).endswith("99_tiny.ipynb"):
                raise SystemExit("killed")

        monkeypatch.setattr(execute.os, "replace", replace)


def _pair(tmp_path):
    report = tmp_path / "out" / "99_tiny.ipynb"
    metrics = load_metrics(tmp_path / "reports" / "quick" / "metrics.json")
    value = metrics.get("99_tiny", {}).get("metrics", [{}])[0].get("value")
    return ("new report" in report.read_text()) if report.exists() else None, value


@pytest.mark.parametrize("kill_at", ["replace", "merge"])
def test_a_kill_between_report_and_metrics_is_finished_by_the_next_run(tmp_path, monkeypatch, kill_at):
    out = tmp_path / "out"
    nb = tiny_notebook(tmp_path / "nb")
    _fake_papermill(monkeypatch, kill_at)
    with pytest.raises(SystemExit):
        execute.execute_notebook(nb, "quick", out_dir=out)
    assert (out / ".99_tiny.publish.json").exists()  # past the commit point: the journal says what is owed
    monkeypatch.undo()
    monkeypatch.setenv("STNLIB_REPORTS", str(tmp_path / "reports"))
    done = execute.finish_interrupted(out, "99_tiny")  # what the next run does first, under the lock
    assert done and _pair(tmp_path) == (True, 2.0)  # the new report with its own numbers
    assert {p.name for p in out.iterdir()} - {".99_tiny.lock"} == {"99_tiny.ipynb"}  # no journal, no leftovers


def test_a_kill_during_the_run_leaves_the_old_pair_and_no_leftovers(tmp_path, monkeypatch):
    out = tmp_path / "out"
    nb = tiny_notebook(tmp_path / "nb")
    _fake_papermill(monkeypatch)
    execute.execute_notebook(nb, "quick", out_dir=out)  # an earlier, complete run
    assert _pair(tmp_path) == (True, 2.0)

    def killed(source, output, **kw):  # the notebook dies mid-run, after staging and a partial report
        import os

        (out / ".99_tiny.partial.ipynb").write_text("half")
        Path(os.environ["STNLIB_PENDING"]).write_text('{"99_tiny": ')
        raise KeyboardInterrupt

    monkeypatch.setattr(execute.pm, "execute_notebook", killed)
    with pytest.raises(KeyboardInterrupt):
        execute.execute_notebook(nb, "quick", out_dir=out)
    assert _pair(tmp_path) == (True, 2.0)  # the old pair, untouched
    names = {p.name for p in out.iterdir()}
    assert not {".99_tiny.pending", ".99_tiny.partial.ipynb", ".99_tiny.publish.json"} & names
    # a SIGKILL skips all cleanup: the next run removes what it left
    (out / ".99_tiny.pending").mkdir()
    (out / ".99_tiny.partial.ipynb").write_text("half")
    assert len(execute.finish_interrupted(out, "99_tiny")) == 2 and _pair(tmp_path) == (True, 2.0)
    assert not {".99_tiny.pending", ".99_tiny.partial.ipynb"} & {p.name for p in out.iterdir()}


def test_nothing_is_left_in_the_temp_folder(tmp_path, monkeypatch):
    import tempfile

    before = set(Path(tempfile.gettempdir()).glob("stnlib-pending-*"))
    _fake_papermill(monkeypatch)
    execute.execute_notebook(tiny_notebook(tmp_path / "nb"), "quick", out_dir=tmp_path / "out")
    assert set(Path(tempfile.gettempdir()).glob("stnlib-pending-*")) == before  # staging lives beside the report


def test_finish_cli_completes_a_killed_publish(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STNLIB_REPORTS", str(tmp_path / "reports"))
    out = tmp_path / "reports" / "quick"
    _fake_papermill(monkeypatch, "merge")
    with pytest.raises(SystemExit):
        execute.execute_notebook(tiny_notebook(tmp_path / "nb"), "quick")
    monkeypatch.undo()
    monkeypatch.setenv("STNLIB_REPORTS", str(tmp_path / "reports"))
    assert (out / ".99_tiny.publish.json").exists()
    assert execute.main(["--profile", "quick", "--finish"]) == 0
    assert "published 99_tiny" in capsys.readouterr().err and not (out / ".99_tiny.publish.json").exists()
    assert load_metrics(out / "metrics.json")["99_tiny"]["metrics"][0]["value"] == 2.0
