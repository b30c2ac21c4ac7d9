"""stnlib.runs: recording metrics, the metrics file's safety (locking, malformed files, no NaN), atomic writes."""

import json
import multiprocessing
import os
import time

import pytest

from stnlib.runs import Metric, MetricsFileError, atomic_write_json, load_metrics, merge_metrics, start_run


@pytest.fixture(autouse=True)
def _no_profile_override(monkeypatch):
    monkeypatch.delenv("STNLIB_PROFILE", raising=False)
    monkeypatch.delenv("STNLIB_PENDING", raising=False)


def _entry(value=1.0):
    return {
        "profile": "quick",
        "data": "d",
        "seconds": 1.0,
        "finished": "today",
        "metrics": [{"key": "k", "label": "K", "value": value, "unit": ""}],
    }


def test_record_merges_notebooks_into_the_profile_file(tmp_path):
    a = start_run("01_a", "quick", seed=1)
    path = a.record([Metric("acc", "Accuracy", 98.5, "%")], data="samples")
    b = start_run("02_b", "quick")
    b.record([Metric("n", "Count", 3)], data="samples")
    assert path == tmp_path / "reports" / "quick" / "metrics.json"
    m = load_metrics(path)
    assert set(m) == {"01_a", "02_b"}
    assert m["01_a"]["profile"] == "quick" and m["01_a"]["seed"] == 1
    assert m["01_a"]["metrics"] == [{"key": "acc", "label": "Accuracy", "value": 98.5, "unit": "%"}]


def test_full_profile_writes_top_level_metrics(tmp_path):
    run = start_run("01_a", "full")
    assert run.record([Metric("x", "X", 1.0)], data="d") == tmp_path / "reports" / "metrics.json"


def test_record_needs_metrics():
    with pytest.raises(ValueError, match="non-empty list of Metric"):
        start_run("01_a", "quick").record([], data="d")


def test_record_under_the_executor_only_stages(tmp_path, monkeypatch):
    staged = tmp_path / "pending" / "01_a.json"
    monkeypatch.setenv("STNLIB_PENDING", str(staged))
    path = start_run("01_a", "quick").record([Metric("x", "X", 2.5)], data="d")
    assert path == tmp_path / "reports" / "quick" / "metrics.json" and not path.exists()
    assert load_metrics(staged)["01_a"]["metrics"][0]["value"] == 2.5


# ---------------------------------------------------------------- defect 2: a malformed metrics.json
MALFORMED = {
    "empty": ("", "is empty"),
    "truncated": ('{"01_a": {"profile": "qu', "cannot be read as JSON"),
    "list": ("[]", "holds a JSON list"),
    "no metrics": ('{"01_a": {"profile": "q", "data": "d", "seconds": 1, "finished": "x"}}', "'01_a' lacks metrics"),
    "bad metric": (
        '{"01_a": {"profile": "q", "data": "d", "seconds": 1, "finished": "x", "metrics": [{"key": "k"}]}}',
        "'01_a' has a malformed 'metrics' list",
    ),
}


@pytest.mark.parametrize("kind", MALFORMED)
def test_malformed_metrics_file_keeps_the_new_results(tmp_path, kind):
    content, problem = MALFORMED[kind]
    path = tmp_path / "reports" / "quick" / "metrics.json"
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.raises(MetricsFileError) as err:
        start_run("02_b", "quick").record([Metric("acc", "Accuracy", 98.5, "%")], data="d")
    saved = path.with_name("metrics.json.02_b.recovered.json")
    message = str(err.value)
    assert str(path) in message and problem in message and str(saved) in message
    assert "tools.execute --publish" in message  # how to recover
    assert "not committed" in message and "git checkout" not in message  # reports/quick/ is git-ignored
    assert path.read_text() == content  # the broken file is left as it was
    assert json.loads(saved.read_text())["02_b"]["metrics"][0]["value"] == 98.5  # nothing lost


def test_load_metrics_of_a_missing_file_is_empty(tmp_path):
    assert load_metrics(tmp_path / "none.json") == {}
    assert load_metrics(tmp_path / "none.json", entries=False) == {}


def test_results_files_other_than_metrics_need_only_be_an_object(tmp_path):
    path = tmp_path / "bench.json"
    path.write_text('{"mnist": {"throughput": {}}}')
    assert load_metrics(path, entries=False) == {"mnist": {"throughput": {}}}
    path.write_text("[1, 2]")
    with pytest.raises(MetricsFileError, match="holds a JSON list"):
        load_metrics(path, entries=False)


# -------------------------------------------------------- defect 3: concurrent writers lose no entries
def _record_many(prefix: str, n: int) -> None:
    for i in range(n):
        start_run(f"{prefix}_{i:02d}", "quick").record([Metric("i", "i", i)], data="d")


def test_concurrent_writers_lose_no_entries(tmp_path):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_record_many, args=(f"p{k}", 15)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    m = load_metrics(tmp_path / "reports" / "quick" / "metrics.json")
    assert sorted(m) == sorted(f"p{k}_{i:02d}" for k in range(4) for i in range(15))
    assert all(m[f"p{k}_{i:02d}"]["metrics"][0]["value"] == i for k in range(4) for i in range(15))


def test_merge_metrics_keeps_other_entries_and_replaces_its_own(tmp_path):
    path = tmp_path / "metrics.json"
    merge_metrics(path, {"01_a": _entry(1.0), "02_b": _entry(2.0)})
    merge_metrics(path, {"02_b": _entry(3.0)})
    m = load_metrics(path)
    assert (m["01_a"]["metrics"][0]["value"], m["02_b"]["metrics"][0]["value"]) == (1.0, 3.0)


# ------------------------------------------------ defect 9: no NaN in JSON, no temporaries left behind
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf"), "99%", None])
def test_non_finite_metric_is_rejected_by_key(tmp_path, bad):
    with pytest.raises(ValueError, match="metric 'acc' has the value"):
        start_run("01_a", "quick").record([Metric("ok", "fine", 1.0), Metric("acc", "Accuracy", bad, "%")], data="d")
    assert not (tmp_path / "reports" / "quick" / "metrics.json").exists()


def test_json_never_holds_nan(tmp_path):
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        atomic_write_json(tmp_path / "m.json", {"x": float("nan")})
    assert list(tmp_path.iterdir()) == []  # neither the file nor a temporary


def test_stale_temporaries_of_the_target_are_cleaned(tmp_path):
    stale, fresh = tmp_path / ".m.json.abcd1234.tmp", tmp_path / ".m.json.efgh5678.tmp"
    other = tmp_path / ".n.json.abcd1234.tmp"  # another target's: not ours to remove
    for p in (stale, fresh, other):
        p.write_text("half written")
    two_hours_ago = time.time() - 2 * 3600
    os.utime(stale, (two_hours_ago, two_hours_ago))
    os.utime(other, (two_hours_ago, two_hours_ago))
    atomic_write_json(tmp_path / "m.json", {"a": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.json.efgh5678.tmp", ".n.json.abcd1234.tmp", "m.json"]


def test_each_write_uses_its_own_temporary_beside_the_target(tmp_path, monkeypatch):
    sources = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (sources.append(src), real_replace(src, dst)))
    atomic_write_json(tmp_path / "m.json", {"a": 1})
    atomic_write_json(tmp_path / "m.json", {"a": 2})
    assert len(set(sources)) == 2 and all(os.path.dirname(s) == str(tmp_path) for s in sources)
    assert json.loads((tmp_path / "m.json").read_text()) == {"a": 2}


def test_atomic_write_keeps_old_file_when_replace_fails(tmp_path, monkeypatch):
    path = tmp_path / "m.json"
    atomic_write_json(path, {"old": 1})

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_json(path, {"new": 2})
    assert json.loads(path.read_text()) == {"old": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]  # no temporary left behind


def test_atomic_write_gives_normal_permissions(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    path = atomic_write_json(tmp_path / "m.json", {"a": 1})
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0600
