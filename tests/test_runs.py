import json
import os

import pytest

from stnlib.io import atomic_write_json
from stnlib.runs import Metric, load_metrics, start_run


def test_record_merges_notebooks_into_the_profile_file(tmp_path, monkeypatch):
    monkeypatch.delenv("STNLIB_PROFILE", raising=False)
    a = start_run("01_a", "quick", seed=1)
    path = a.record([Metric("acc", "Accuracy", 98.5, "%")], data="samples")
    b = start_run("02_b", "quick")
    b.record([Metric("n", "Count", 3)], data="samples")
    assert path == tmp_path / "reports" / "quick" / "metrics.json"
    m = load_metrics(path)
    assert set(m) == {"01_a", "02_b"}
    assert m["01_a"]["profile"] == "quick" and m["01_a"]["seed"] == 1
    assert m["01_a"]["metrics"] == [{"key": "acc", "label": "Accuracy", "value": 98.5, "unit": "%"}]


def test_full_profile_writes_top_level_metrics(tmp_path, monkeypatch):
    monkeypatch.delenv("STNLIB_PROFILE", raising=False)
    run = start_run("01_a", "full")
    assert run.record([Metric("x", "X", 1.0)], data="d") == tmp_path / "reports" / "metrics.json"


def test_record_needs_metrics(monkeypatch):
    monkeypatch.delenv("STNLIB_PROFILE", raising=False)
    with pytest.raises(ValueError, match="at least one Metric"):
        start_run("01_a", "quick").record([], data="d")


@pytest.mark.parametrize(
    ("metric", "text"),
    [
        (Metric("a", "", 99.3456, "%"), "99.35%"),
        (Metric("a", "", 60000), "60,000"),
        (Metric("a", "", 3.4e-06), "3.4e-06"),
        (Metric("a", "", 12.345, "s"), "12.35 s"),
        (Metric("a", "", 0.0), "0"),
    ],
)
def test_metric_formatting(metric, text):
    assert metric.formatted() == text


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
