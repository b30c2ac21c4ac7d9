"""README, Colab cells and packaging stay consistent with their single sources (tools.readme)."""

import re
import subprocess
import sys

import nbformat
import pytest
import yaml

from stnlib.env import REPO_ROOT
from stnlib.runs import Metric
from tools import readme

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_generated_parts_are_in_sync():
    # README index/results and notebook Colab cells equal what `make sync` would write
    assert readme.stale_files() == []


def test_repo_url_is_written_in_one_place():
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT,
                           capture_output=True, text=True, check=True)  # fmt: skip
    holders = []
    for name in files.stdout.split():
        path = REPO_ROOT / name
        if path.suffix in {".py", ".md", ".ipynb", ".toml", ".yml", ".cfg", ""} and path.is_file():
            if readme.REPO_URL.split("//")[1] in path.read_text(errors="ignore"):
                holders.append(name)
    hand_written = [h for h in holders if not h.startswith(("notebooks/", "reports/")) and h != "README.md"]
    assert sorted(set(hand_written)) == ["tools/readme.py"]


def test_results_table_is_rendered_from_metrics():
    metrics = {
        "02_x": {
            "profile": "full",
            "data": "MNIST (exact)",
            "seconds": 61.2,
            "finished": "2026-01-01 00:00 UTC",
            "metrics": [Metric("acc", "Test accuracy", 99.31, "%").__dict__],
        }
    }
    table = readme.render_results(metrics)
    assert "| [02_x](reports/02_x.ipynb) | Test accuracy | 99.31% | full | MNIST (exact) | 61 s," in table
    assert readme.render_results({}).startswith("_No results yet")


def test_readme_lacking_markers_is_an_error():
    with pytest.raises(ValueError, match="notebooks:start"):
        readme.render_readme("# no markers", {})


def test_readme_names_the_two_commands_near_the_top():
    top = "\n".join((REPO_ROOT / "README.md").read_text().splitlines()[:40])
    assert "make execute" in top and "make test" in top


def test_readme_links_resolve():
    text = (REPO_ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(((?!https?://)[^)#]+)\)", text):
        assert (REPO_ROOT / target).exists(), f"README links to missing {target}"


def test_ci_calls_the_readme_test_command():
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "make test" in (REPO_ROOT / "README.md").read_text()


def _requirements_from_pyproject():
    import tomllib

    data = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    return sorted(data["dependencies"] + data["optional-dependencies"]["dev"])


def test_environment_yml_matches_pyproject():
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert sorted(r for r in pip if not r.startswith("-e")) == _requirements_from_pyproject()
    assert "python=3.11" in env["dependencies"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_sources_are_clean(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert dirty == [], f"{path.name}: cells {dirty} carry outputs; run `make strip`"
    assert readme.COLAB_TAG in nb.cells[0].metadata.get("tags", [])
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and re.search(r'^PROFILE = "full"', params[0].source, re.M)
    assert "/work/" not in path.read_text() and "/home/" not in path.read_text()  # no absolute paths


def test_colab_cell_does_nothing_outside_colab():
    namespace: dict = {}
    exec(readme.colab_cell_source(), namespace)  # no clone, no install, no error here
    assert "REPO_URL" not in namespace


def test_lint_is_clean():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "stnlib", "tools", "tests", "notebooks"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_bench_summary_is_rendered_from_bench_json():
    suite = {
        "profile": "full",
        "machine": "2 CPU threads",
        "data": "MNIST",
        "target": 99.0,
        "throughput": {"ours + STN": {"images_per_s": 1234.4, "batch_size": 128}},
        "stn_overhead": {"tutorial": 0.25, "ours": 0.1},
        "time_to_target": {
            "tutorial + STN": {
                "recipe": "tut",
                "seconds_to_target": None,
                "trained_seconds": 900.0,
                "best_test_acc": 98.9,
            },
            "ours + STN": {"recipe": "ours", "seconds_to_target": 61.0, "trained_seconds": 61.0, "best_test_acc": 99.1},
        },
        "time_ratio": {"value": 61.0 / 900.0, "bound": "upper"},
    }
    cifar = {**suite, "data": "CIFAR-10", "target": 66.0, "time_ratio": {"value": 0.25, "bound": "exact"}}
    text = readme.render_bench({"cifar10": cifar, "mnist": suite})
    assert text.index("**MNIST**") < text.index("**CIFAR-10**")  # fixed order, whatever the JSON order
    assert "| ours + STN | 128 | 1,234 |" in text
    assert "STN share of a training step: tutorial 25.0%, ours 10.0%." in text
    assert "| tutorial + STN | tut | not reached in 900 s | 98.90% |" in text
    assert "| ours + STN | ours | 61 s | 99.10% |" in text
    assert "Time to 99%, ours / theirs: **below 0.07**." in text
    assert "Time to 66%, ours / theirs: **0.25**." in text
    assert readme.render_bench({}).startswith("_No benchmark yet")


def _cifar_bench_with_compute() -> dict:
    return {
        "profile": "full",
        "machine": "2 CPU threads",
        "data": "CIFAR-10",
        "target": 66.0,
        "targets": [66.0, 90.0],
        "test_images": 1000,
        "headline": "ours: fast network + STN",
        "matmul_peak": {"size": 4096, "repeats": 5, "gflop_per_s": {"bf16": 1000.0, "fp32": 187.4}},
        "throughput": {
            "ours: fast network + STN": {
                "images_per_s": 1010.0,
                "batch_size": 1024,
                "precision": "bf16",
                "gflop_per_image": 0.7108,
                "gflop_per_s": 1010.0 * 0.7108,
                "peak_share": 1010.0 * 0.7108 / 1000.0,
            },
            "course: wide + large localization + STN": {
                "images_per_s": 669.0,
                "batch_size": 32,
                "precision": "fp32",
                "gflop_per_image": 0.05,
                "gflop_per_s": 33.45,
                "peak_share": 33.45 / 187.4,
            },
            "old entry without compute": {"images_per_s": 5.0, "batch_size": 8},
        },
        "stn_overhead": {"ours: fast network": 0.05},
        "time_to_target": {
            "ours: fast network + STN": {
                "recipe": "fast",
                "seconds_to_target": 52.0,
                "seconds_to": {"66": 52.0, "90": 431.0},
                "trained_seconds": 431.0,
                "epochs": 12,
                "best_test_acc": 90.3,
            },
            "course: wide + large localization + STN": {
                "recipe": "course",
                "seconds_to_target": None,
                "seconds_to": {"66": None},
                "trained_seconds": 520.0,
                "best_test_acc": 60.1,
            },
        },
        "time_ratio": {"value": 52.0 / 520.0, "bound": "upper"},
    }


def test_bench_compute_and_two_targets_are_rendered():
    text = readme.render_bench({"cifar10": _cifar_bench_with_compute()})
    assert (
        "| CIFAR-10 model | batch | precision | training images/s (median) | GFLOP / training image "
        "| achieved GFLOP/s | share of the matmul peak (same precision) |"
    ) in text
    assert "| ours: fast network + STN | 1024 | bf16 | 1,010 | 0.711 | 718 | 71.8% |" in text
    assert "| course: wide + large localization + STN | 32 | fp32 | 669 | 0.050 | 33 | 17.8% |" in text
    assert "| old entry without compute | 8 | – | 5 | – | – | – |" in text
    assert (
        "**Compute**: ours: fast network + STN: 1,010 img/s x 0.711 GFLOP = 718 GFLOP/s, **71.8%** of this CPU's "
        "bf16 matmul peak (1,000 GFLOP/s, measured in the same run: `torch.mm`, 4096 x 4096, median of 5; "
        "fp32: 187 GFLOP/s)."
    ) in text
    assert "| model | recipe | time to 66% test accuracy | time to 90% test accuracy | best accuracy |" in text
    assert "| ours: fast network + STN | fast, 12-epoch schedule | 52 s | 431 s | 90.30% |" in text
    assert "| course: wide + large localization + STN | course | not reached in 520 s | – | 60.10% |" in text
    assert "Test accuracy on the 1,000 exact test images; training seconds exclude it." in text
    assert "Time to 66%, ours / theirs: **below 0.10**." in text
    without_headline = {**_cifar_bench_with_compute(), "headline": None}
    assert (
        "This CPU's matmul peak, measured in the same run (`torch.mm`, 4096 x 4096, median of 5): "
        "bf16 1,000 GFLOP/s, fp32 187 GFLOP/s."
    ) in readme.render_bench({"cifar10": without_headline})


def test_bench_layout_without_compute_renders_as_before():
    old = _cifar_bench_with_compute()
    for key in ("targets", "test_images", "headline", "matmul_peak"):
        del old[key]
    for t in old["throughput"].values():
        for key in ("precision", "gflop_per_image", "gflop_per_s", "peak_share"):
            t.pop(key, None)
    for t in old["time_to_target"].values():
        del t["seconds_to"]
        t.pop("epochs", None)
    text = readme.render_bench({"cifar10": old})
    assert "| CIFAR-10 model | batch | training images/s (median) |\n|---|---|---|\n" in text
    assert "| ours: fast network + STN | 1024 | 1,010 |" in text
    assert "Compute" not in text and "GFLOP" not in text and "exact test images" not in text
    assert "| model | recipe | time to 66% test accuracy | best accuracy |\n|---|---|---|---|\n" in text
    assert "| course: wide + large localization + STN | course | not reached in 520 s | 60.10% |" in text


def _nb3_entry(keys: dict) -> dict:
    metrics = [{"key": k, "label": k, "value": v, "unit": ""} for k, v in keys.items()]
    return {
        "03_stn_cifar10": {"profile": "full", "seconds": 10.0, "finished": "today", "data": "d", "metrics": metrics}
    }


def test_cifar_block_shows_off_centre_results_and_the_spread():
    keys = {f"cifar_course{i}_acc": 50.0 + i for i in (1, 2, 3)} | {
        f"cifar_course{i}_acc_exact": 51.0 for i in (1, 2, 3)
    }
    keys |= {"cifar_ours_stn_acc": 90.12, "cifar_ours_stn_acc_exact": 93.4, "cifar_ours_nostn_acc": 90.0,
             "cifar_ours_nostn_acc_exact": 93.0, "cifar_budget_s": 150.0, "cifar_stn_train_s": 750.0,
             "offcentre_stn_err": 20.0, "offcentre_cnn_err": 25.0, "offcentre_err_ratio": 0.8,
             "offcentre_centre_err_px": 9.25, "cifar_stn_shift_spread_px": 0.04,
             "offcentre_shift_spread_px": 7.5}  # fmt: skip
    text = readme.render_cifar(_nb3_entry(keys))
    assert "| course: tutorial net | 57% after 50 epochs | 150 s | 51.00% | 51.00% |" in text
    assert "| ours + STN | | 750 s | 90.12% | 93.40% |" in text
    assert "| ours, no STN (ablation) | | same schedule | 90.00% | 93.00% |" in text
    assert "| with a transformer that moves a 32x32 window | 20.00% | 0.80x the errors; window centre 9.2 px" in text
    assert "0.04 px on CIFAR-10" in text and "7.5 px off-centre" in text


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [(99.3456, "%", "99.35%"), (60000, "", "60,000"), (3.4e-06, "", "3.4e-06"), (12.345, "s", "12.35 s"),
     (0.0, "", "0")],  # fmt: skip
)
def test_metric_formatting(value, unit, text):
    assert readme.format_value(value, unit) == text


# ----------------------------------------------- defect 2: a malformed metrics.json stops sync with a message
@pytest.fixture
def readme_copy(tmp_path, monkeypatch):
    """tools.readme pointed at a copy of README.md and an empty reports folder in ``tmp_path``."""
    (tmp_path / "reports").mkdir()
    copy = tmp_path / "README.md"
    copy.write_text(readme.README.read_text())
    monkeypatch.setattr(readme, "README", copy)
    monkeypatch.setattr(readme, "REPORTS", tmp_path / "reports")
    return copy


@pytest.mark.parametrize(
    ("content", "problem"),
    [("", "is empty"), ('{"02_x": {"pro', "cannot be read as JSON"), ("[]", "holds a JSON list"),
     ('{"02_x": {"profile": "full", "data": "d", "seconds": 1, "finished": "x"}}', ": the entry '02_x' lacks metrics")],
)  # fmt: skip
@pytest.mark.parametrize("command", ["sync", "check"])
def test_sync_names_a_malformed_metrics_file(readme_copy, capsys, content, problem, command):
    metrics = readme.REPORTS / "metrics.json"
    metrics.write_text(content)
    before = readme_copy.read_text()
    assert readme.main([command]) == 1
    err = capsys.readouterr().err
    assert str(metrics) in err and problem in err and "git checkout -- reports/metrics.json" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1  # one paragraph
    assert readme_copy.read_text() == before  # nothing written


def test_sync_names_a_malformed_bench_file(readme_copy, capsys):
    (readme.REPORTS / "bench.json").write_text('{"mnist": ')
    assert readme.main(["sync"]) == 1
    assert f"{readme.REPORTS / 'bench.json'} cannot be read as JSON" in capsys.readouterr().err


def test_sync_points_at_results_set_aside(readme_copy, capsys):
    (readme.REPORTS / "metrics.json.02_x.recovered.json").write_text("{}")
    readme.main(["check"])
    assert "metrics.json.02_x.recovered.json holds results not in metrics.json yet" in capsys.readouterr().err
