"""README, Colab cells and packaging stay consistent with their single sources (tools.readme, tools.results,
tools.contributing, tools.notebook_info)."""

import json
import re
import subprocess
import sys

import nbformat
import pytest
import yaml

from stnlib.env import REPO_ROOT
from stnlib.runs import Metric, load_metrics
from tools import contributing, notebook_info, readme, results

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_generated_parts_are_in_sync():
    # README.md, CONTRIBUTING.md and the notebooks' Colab cells equal what `make sync` would write
    assert readme.stale_files() == []


def test_repo_url_is_written_in_one_place():
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    holders = []
    for name in files.stdout.split():
        path = REPO_ROOT / name
        if path.suffix in {".py", ".md", ".ipynb", ".toml", ".yml", ".cfg", ""} and path.is_file():
            if readme.REPO_URL.split("//")[1] in path.read_text(errors="ignore"):
                holders.append(name)
    hand_written = [h for h in holders if not h.startswith(("notebooks/", "reports/")) and h != "README.md"]
    assert sorted(set(hand_written)) == ["tools/readme.py"]


def test_every_metric_is_listed_with_its_provenance_once():
    metrics = {
        "02_stn_mnist": {
            "profile": "full",
            "data": "MNIST (exact)",
            "seed": 0,
            "seconds": 61.2,
            "finished": "2026-01-01 00:00 UTC",
            "metrics": [
                Metric("mnist_stn_acc", "Test accuracy", 99.31, "%").__dict__,
                Metric("mnist_cnn_acc", "CNN accuracy", 99.2, "%").__dict__,
                Metric("rts_stcnn_err", "RTS error", 1.0, "%").__dict__,
                Metric("gif_kb", "GIF size", 363.5, "KB").__dict__,
            ],
        }
    }
    text = contributing.render_all_metrics(metrics)
    assert "| `mnist_stn_acc` | Test accuracy | 99.31% | yes |" in text  # a README row shows it
    assert "| `rts_stcnn_err` | RTS error | 1.00% |  |" in text  # its row lacks the baselines: not shown
    assert "| `gif_kb` | GIF size | 363.5 KB |  |" in text  # engineering numbers are kept here
    assert text.count("MNIST (exact)") == 1 and "full profile, seed 0, 61 s, finished 2026-01-01 00:00 UTC" in text
    assert contributing.render_all_metrics({}).startswith("_No results yet")


def test_pages_lacking_markers_are_an_error():
    with pytest.raises(ValueError, match="README.md lacks the markers <!-- start-here:start -->"):
        readme.render_readme("# no markers", {})
    with pytest.raises(ValueError, match="CONTRIBUTING.md lacks the markers <!-- runs:start -->"):
        readme.render_contributing("# no markers", {})


def _committed() -> dict:
    return load_metrics(readme.REPORTS / "metrics.json")


def _section(text: str, name: str) -> str:
    return text.split(f"<!-- {name}:start -->", 1)[1].split(f"<!-- {name}:end -->", 1)[0]


def test_results_rows_are_short_and_give_the_run_once_per_caption():
    metrics = _committed()
    results = _section(readme.render_readme(readme.README.read_text(), metrics), "results")
    sections = {s.split(" ", 1)[0]: s for s in results.split("\n### ")[1:]}
    assert sorted(sections) == [stem[:2] for stem in notebook_info.notebook_stems()]
    for stem in (s for s in notebook_info.notebook_stems() if s in metrics):  # a notebook not run yet: no rows
        section, entry = sections[stem[:2]], metrics[stem]
        rows = [line for line in section.splitlines() if line.startswith("|")]
        captions = [line for line in section.splitlines() if line.startswith("*") and "profile" in line]
        provenance = notebook_info.short_provenance(entry["data"])
        assert len(rows) > 2 and len(captions) == 1, stem
        assert all(len(row) < 400 for row in rows), [len(r) for r in rows]
        assert provenance in captions[0] and section.count(provenance) == 1, stem
        assert f"seed {entry['seed']}" in captions[0] and entry["finished"][:10] in captions[0]
        assert not any(provenance in row or entry["data"] in row for row in rows)


#: Notebook 2's keys since issue 18 (fair baselines, the paper's figures, compute).
NB2_NEW = {
    "rts_stcnn_err": 1.0,
    "rts_cnn_full_err": 2.0,
    "rts_cnn_area_err": 4.0,
    "rts_ratio": 0.5,
    "rts_stcnn_mflop": 1.5,
    "rts_cnn_full_mflop": 3.0,
    "rts_cnn_area_mflop": 1.0,
    "paper_rts_stcnn_err": 0.5,
    "paper_rts_cnn_err": 0.8,
    "cluttered_stcnn_err": 3.0,
    "cluttered_cnn_full_err": 5.0,
    "cluttered_cnn_area_err": 4.0,
    "cluttered_ratio": 0.75,
    "cluttered_stcnn_mflop": 2.0,
    "cluttered_cnn_full_mflop": 8.0,
    "cluttered_cnn_area_mflop": 1.0,
    "paper_cluttered_stcnn_err": 1.7,
    "paper_cluttered_cnn_err": 3.5,
    "cluttered_tx_std": 0.3,
}


def _rewritten(stem: str, added: dict[str, float], dropped: set[str], changes: dict[str, float]) -> dict:
    """The committed entry of ``stem`` with ``added`` keys (replacing ``dropped`` ones), then ``changes``."""
    entry = dict(_committed()[stem])
    old = [m for m in entry["metrics"] if m["key"] not in {*dropped, *added}]
    new = [{"key": k, "label": k, "value": v, "unit": ""} for k, v in added.items()]
    entry["metrics"] = [{**m, "value": changes.get(m["key"], m["value"])} for m in old + new]
    return entry


def _nb2(**changes: float) -> dict:
    """The committed notebook 2 entry with issue 18's keys added (the old baselines' keys dropped), then ``changes``."""
    return _rewritten("02_stn_mnist", NB2_NEW, {"rts_cnn_err", "cluttered_cnn_err"}, changes)


def _row(text: str, label_start: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"| {label_start}"))


def test_what_a_number_means_follows_from_its_value():
    render = results.render_notebook_results
    low = render("02_stn_mnist", _nb2(mnist_stn_acc=98.0))
    high = render("02_stn_mnist", _nb2(mnist_stn_acc=99.9, padding_0_zoom=1.4, padding_1_zoom=1.4))
    assert "about 1 test digit in 50 misread" in _row(low, "Plain MNIST")
    assert "about 1 test digit in 1000 misread" in _row(high, "Plain MNIST")
    identity = render("02_stn_mnist", _nb2(padding_0_zoom=1.03, padding_1_zoom=0.97))
    assert "≈ identity: the transformer does nothing here" in _row(identity, "The PyTorch tutorial")
    assert "zooms in 1.40x" in _row(high, "The PyTorch tutorial") and "identity" not in _row(high, "The PyTorch")
    centre = render("02_stn_mnist", _nb2(cluttered_centre_err=2.5, cluttered_width_ratio=2.0))
    assert "centre on the digit (2.50 px from its centre; half its 28 px box is 14 px); much wider than the digit" in (
        _row(centre, "Cluttered: where")
    )
    off = render("02_stn_mnist", _nb2(cluttered_centre_err=15.0))
    assert "centre off the digit (15.00 px from its centre" in _row(off, "Cluttered: where")
    assert results.zoom_words(0.96).startswith("≈ identity") and not results.zoom_words(0.94).startswith("≈")
    assert results.spread_words(0.5, "photo").startswith("≈ one fixed warp")
    assert "looks for each one" in results.spread_words(1.5, "photo")


def test_errors_are_read_against_the_stronger_baseline_and_the_papers_figures():
    text = results.render_notebook_results("02_stn_mnist", _nb2())
    rts = _row(text, "Rotated, scaled and shifted (RTS) MNIST")
    assert "| ST-CNN 1.00%; CNNs: full canvas 2.00%, 28x28 area view 4.00% |" in rts
    assert "0.50x the errors of the stronger CNN (full canvas), one run: fewer mistakes" in rts  # 1.0 / min(2, 4)
    assert "the paper: 0.5% vs 0.8% (full canvas), 0.62x (mean of 3 runs)" in rts  # 0.5 / 0.8 = 0.625
    clutter = _row(text, "Cluttered MNIST")
    assert "0.75x the errors of the stronger CNN (20x20 area view)" in clutter  # 3.0 / min(5, 4)
    assert "the paper: 1.7% vs 3.5% (full canvas), 0.49x" in clutter
    compute = _row(text, "Compute per image")
    assert "| RTS: 1.50, 3.00, 1.00; cluttered: 2.00, 8.00, 1.00 |" in compute
    assert "0.50x (RTS), 0.25x (cluttered) the full-canvas CNN's FLOPs and 1.50x, 2.00x the area-view" in compute


def test_no_row_reads_a_target_or_a_verdict():
    committed = _committed()
    pages = [results.render_notebook_results("02_stn_mnist", _nb2(mnist_stn_acc=90.0, cluttered_centre_err=20.0))]
    pages += [results.render_notebook_results(stem, committed.get(stem)) for stem in notebook_info.notebook_stems()]
    rows = [line for page in pages for line in page.splitlines() if line.startswith("|")]
    assert rows and not [r for r in rows if re.search(r"MISSED|\bmet\b|target", r, re.I)]


def test_the_same_centre_error_reads_the_same_in_notebooks_2_and_4():
    nb2 = _row(
        results.render_notebook_results("02_stn_mnist", _nb2(cluttered_centre_err=4.79, cluttered_width_ratio=1.3)),
        "Cluttered: where",
    )
    nb4 = dict(_committed()["04_stn_learning_gif"])
    nb4["metrics"] = [
        {**m, "value": {"clutter_centre_err": 4.79, "clutter_width_ratio": 1.3}.get(m["key"], m["value"])}
        for m in nb4["metrics"]
    ]
    nb4_row = _row(results.render_notebook_results("04_stn_learning_gif", nb4), "Cluttered: where")
    assert nb2.split(" | ", 1)[1] == nb4_row.split(" | ", 1)[1]  # measured and meaning alike
    assert "centre on the digit (4.79 px from its centre" in nb2 and "zoomed onto it" in nb2


def test_the_turn_rows_say_which_slope_they_quote():
    nb2 = _row(
        results.render_notebook_results(
            "02_stn_mnist", _nb2(rts_rotation_slope=-0.69, rts_rotation_within_slope=-0.64)
        ),
        "RTS: turn",
    )
    assert "by the overall slope it undoes about 69% of a turn" in nb2
    assert "by the within-digit slope (the digit's own slant taken out) it undoes about 64% of a turn" in nb2
    nb4 = _row(results.render_notebook_results("04_stn_learning_gif", _committed()["04_stn_learning_gif"]), "RTS: turn")
    assert "by the overall slope it undoes about" in nb4


def test_a_missing_metric_leaves_its_row_out_with_a_note():
    entry = _nb2()
    entry["metrics"] = [m for m in entry["metrics"] if m["key"] not in {"padding_0_zoom", "rts_scale_r2"}]
    text = results.render_notebook_results("02_stn_mnist", entry)
    assert "The PyTorch tutorial" not in text and "RTS: zoom undone" not in text and "RTS: turn undone" in text
    assert "_Rows left out: `reports/metrics.json` has no `rts_scale_r2`, `padding_0_zoom` for this notebook" in text
    not_run = results.render_notebook_results("02_stn_mnist", None)
    assert not_run.startswith("### 02 · ")
    assert "_Not run yet: `make execute NOTEBOOKS=notebooks/02_stn_mnist.ipynb`._" in not_run


def test_an_entry_from_before_issue_18_still_renders():
    old = dict(_committed()["02_stn_mnist"])  # the old baselines' keys, none of the new ones
    old["metrics"] = [m for m in old["metrics"] if m["key"] not in NB2_NEW] + [
        {"key": k, "label": k, "value": 5.0, "unit": "%"} for k in ("rts_cnn_err", "cluttered_cnn_err")
    ]
    text = results.render_notebook_results("02_stn_mnist", old)
    assert "| Plain MNIST" in text and "| RTS: shift undone" in text and "| Cluttered: where" in text
    assert "Rotated, scaled and shifted" not in text and "Compute per image" not in text
    assert "_Rows left out: `reports/metrics.json` has no `rts_stcnn_err`, `rts_cnn_full_err`" in text


#: Notebook 3's keys after its rewrite: the off-centre transformer beside two CNNs (the McNemar p and the
#: accuracies are the committed run's).
NB3_NEW = {
    "cifar_ours_stn_acc": 87.86,
    "cifar_ours_stn_acc_exact": 95.3,
    "cifar_ours_nostn_acc": 87.29,
    "cifar_ours_nostn_acc_exact": 94.9,
    "cifar_stn_mcnemar_p": 0.025,
    "offcentre_stn_err": 22.0,
    "offcentre_cnn_full_err": 27.5,
    "offcentre_cnn_area_err": 25.0,
    "offcentre_stn_mflop": 60.0,
    "offcentre_cnn_full_mflop": 40.0,
    "offcentre_cnn_area_mflop": 30.0,
    "offcentre_stn_train_s": 300.0,
    "offcentre_cnn_full_train_s": 250.0,
    "offcentre_cnn_area_train_s": 200.0,
    "offcentre_ratio": 0.88,
}


def _nb3(**changes: float) -> dict:
    """The committed notebook 3 entry with the rewrite's keys (the old off-centre ones dropped), then ``changes``."""
    return _rewritten("03_stn_cifar10", NB3_NEW, {"offcentre_cnn_err", "offcentre_err_ratio"}, changes)


def test_off_centre_cifar_is_read_against_the_stronger_cnn():
    text = results.render_notebook_results("03_stn_cifar10", _nb3())
    assert "Rows left out" not in text
    error = _row(text, "Off-centre CIFAR-10 (each photo shrunk, turned, placed at random on a 64x64 canvas)")
    assert "| with the transformer 22.00%; CNNs: full canvas 27.50%, 32x32 area view 25.00% |" in error
    # 22 / min(27.5, 25) = 0.88
    assert "0.88x the errors of the stronger CNN (32x32 area view), one run: fewer mistakes" in error
    assert "paper" not in error
    full = _row(results.render_notebook_results("03_stn_cifar10", _nb3(offcentre_cnn_full_err=20.0)), "Off-centre C")
    assert "1.10x the errors of the stronger CNN (full canvas), one run: no better" in full  # 22 / min(20, 25)
    compute = _row(text, "Off-centre: compute per image")
    assert "| 60.00, 40.00, 30.00 |" in compute
    assert "costs 1.50x the full-canvas CNN's FLOPs and 2.00x the area-view CNN's" in compute


def test_the_cifar_ablation_gives_no_verdict_on_chance():
    # one training run per network: McNemar covers the test photos' sampling, not a second run's
    render = lambda **changes: results.render_notebook_results("03_stn_cifar10", _nb3(**changes))  # noqa: E731
    for p, stn in ((0.025, 95.3), (0.0001, 97.0), (0.6, 94.9)):
        row = _row(render(cifar_stn_mcnemar_p=p, cifar_ours_stn_acc_exact=stn), "The same")
        assert "chance" not in row and f"McNemar p = {p:.3f} covers the test photos' sampling" in row, row
    row = _row(render(), "The same network without the STN")
    # 95.3 - 94.9 = +0.40; the larger standard error on 1000 photos: 100 sqrt(0.949 * 0.051 / 1000) = 0.70
    assert "| 94.90% on the exact test photos (87.29% on all) |" in row
    assert (
        "with the STN +0.40 points on the exact photos (within one standard error, ±0.70), +0.57 on all; "
        "one training run each: McNemar p = 0.025 covers the test photos' sampling, not a second training run" in row
    )
    wide = _row(render(cifar_ours_stn_acc_exact=97.0), "The same")
    assert "+2.10 points on the exact photos (more than one standard error, ±0.70)" in wide  # max(0.54, 0.70)
    spread = _row(render(cifar_stn_shift_spread_px=0.01), "CIFAR-10: how")
    assert "≈ one fixed warp for every photo: the transformer does nothing photo-specific" in spread
    assert "identity" not in spread


def test_an_old_notebook_3_entry_still_renders():
    old = dict(_committed()["03_stn_cifar10"])  # one CNN off-centre: offcentre_cnn_err, offcentre_err_ratio
    old["metrics"] = [m for m in old["metrics"] if m["key"] not in NB3_NEW or m["key"].startswith("cifar_")] + [
        {"key": k, "label": k, "value": v, "unit": "%"}
        for k, v in (("offcentre_stn_err", 22.7), ("offcentre_cnn_err", 30.0))
    ]
    text = results.render_notebook_results("03_stn_cifar10", old)
    assert "| CIFAR-10 test accuracy" in text and "| The same network without the STN" in text
    assert "| Off-centre CIFAR-10" not in text and "Off-centre: compute" not in text and "| Off-centre: shift" in text
    assert (
        "_Rows left out: `reports/metrics.json` has no `offcentre_cnn_full_err`, `offcentre_cnn_area_err`, "
        "`offcentre_stn_mflop`" in text
    )
    assert "off-centre CIFAR-10 (64x64 canvas)" not in contributing.render_cifar({"03_stn_cifar10": old})
    assert (
        "| off-centre CIFAR-10: transformer's error / the stronger CNN's (full canvas or 32x32 area view) ≤ 0.8x "
        "| issue 18 | not measured yet |" in contributing.render_targets({"03_stn_cifar10": old})
    )


def test_every_row_renders_from_its_own_keys():
    for stem, rows in results.RESULT_ROWS.items():
        for row in rows:
            measured, meaning = row.render(*(0.5 for _ in row.keys))
            assert measured and meaning, (stem, row.label)


def _results_cell(path) -> str:
    """The first code cell after a notebook's "## Results" heading ("" if it has none)."""
    cells = nbformat.read(path, as_version=4).cells
    heading = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and re.search("^## Results", c.source, re.M)]
    start = heading[0] if heading else None
    return "" if start is None else next((c.source for c in cells[start:] if c.cell_type == "code"), "")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_results_cells_print_no_targets(path):
    # issue 18: a student reads each number beside the paper's and the stronger baseline's; the targets and
    # whether they were met live in CONTRIBUTING.md ("Targets from the issues")
    cell = _results_cell(path)
    assert not re.search(r"\[met\]|MISSED|'met'|\"met\"|\btargets?\b", cell, re.I), f"{path.name}: {cell[:300]}"


def _targets_entry(stem: str, seconds: float = 100.0, profile: str = "full", **values: float) -> dict:
    metrics = [{"key": k, "label": k, "value": v, "unit": ""} for k, v in values.items()]
    return {stem: {"profile": profile, "seconds": seconds, "finished": "today", "data": "d", "metrics": metrics}}


def test_contributing_lists_the_targets_with_met_or_missed():
    metrics = _targets_entry(
        "02_stn_mnist",
        seconds=2400.0,
        rts_stcnn_err=1.0,
        rts_cnn_full_err=2.0,
        rts_cnn_area_err=4.0,
        cluttered_centre_err=2.9,
    )
    text = contributing.render_targets(metrics)
    # 1.0 > 0.8: missed; 1.0 / min(2.0, 4.0) = 0.50 <= 0.75: met; 2.9 px <= 3: met; 2400 s = 40 min > 35 min: missed
    assert "| 02 | RTS MNIST: ST-CNN test error ≤ 0.8% | issue 18 | 1.00% | **missed** |" in text
    assert (
        "| RTS MNIST: ST-CNN error / the stronger CNN's (full canvas or 28x28 area view) ≤ 0.75x | issue 18 "
        "| 0.50x | met |" in text
    )
    assert "| cluttered: region centre to the digit's (median) ≤ 3 px | before issue 18 | 2.90 px | met |" in text
    assert "| notebook 2: full-profile run time ≤ 35 min | issue 18 | 2400 s (40 min) | **missed** |" in text
    assert "| plain MNIST: ST-CNN test accuracy ≥ 99.5% | before issue 18 | not measured yet |  |" in text
    assert "| 03 | notebook 3: full-profile run time ≤ 1 h 0 min | issue 18 | not measured yet |  |" in text
    quick = contributing.render_targets(_targets_entry("02_stn_mnist", seconds=60.0, profile="quick"))
    assert "| notebook 2: full-profile run time ≤ 35 min | issue 18 | not measured yet |  |" in quick
    width = contributing.Target("02_stn_mnist", "width", ("w",), lo=0.8, hi=1.5, unit="x")
    assert contributing.render_targets(_targets_entry("02_stn_mnist", w=1.6), [width]).endswith(
        "| 02 | width 0.8-1.5x | before issue 18 | 1.60x | **missed** |"
    )


def test_a_contributing_page_without_the_targets_section_gets_it():
    old = readme.CONTRIBUTING.read_text()
    old = re.sub(r"## Targets from the issues\n.*?<!-- targets:end -->\n\n", "", old, flags=re.S)
    assert "<!-- targets:start -->" not in old
    text = readme.render_contributing(old, _committed())
    assert (
        text.index("## Targets from the issues")
        < text.index("<!-- targets:start -->")
        < text.index("## Every recorded number")
    )
    assert readme.render_contributing(text, _committed()) == text  # once only


def test_data_needed_matches_what_each_run_used():
    metrics = _committed()
    for stem in (s for s in notebook_info.notebook_stems() if s in metrics):  # those run so far
        assert set(readme.NOTEBOOK_DATA[stem]) == notebook_info.datasets_used(metrics[stem]["data"]), stem
        assert set(readme.NOTEBOOK_DATA[stem]) <= set(readme.DOWNLOAD_SIZE)


def test_run_times_come_from_the_reports_papermill_metadata(tmp_path, monkeypatch):
    monkeypatch.setattr(readme, "REPORTS", tmp_path)
    nb = {"cells": [], "metadata": {"papermill": {"duration": 1815.5, "parameters": {"PROFILE": "full"}}}}
    (tmp_path / "02_stn_mnist.ipynb").write_text(json.dumps(nb))
    nb["metadata"]["papermill"]["parameters"]["PROFILE"] = "quick"
    (tmp_path / "03_stn_cifar10.ipynb").write_text(json.dumps(nb))
    assert readme.report_seconds("02_stn_mnist") == 1815.5
    assert readme.report_seconds("03_stn_cifar10") is None and readme.report_seconds("01_affine_intuition") is None
    index = readme.render_index({"02_stn_mnist": {"gpu_seconds": 95.0}})
    assert "| [STN on MNIST](reports/02_stn_mnist.ipynb) |" in index and "| CPU 30 min; GPU 2 min |" in index
    loaded = {"02_stn_mnist": {"load_seconds": 50.0}}  # a run with TRAIN = False loaded the saved weights
    assert "| saved weights: CPU 50 s; retraining: CPU 30 min; GPU not measured |" in readme.render_index(loaded)
    note = readme.run_time_note("02_stn_mnist", loaded)
    assert note.startswith("**Run all** with the default parameters takes about 50 s on a CPU") and "30 min" in note
    assert "| CPU not measured; GPU not measured |" in index and "(not run yet)" in index
    stems = notebook_info.notebook_stems()
    assert f"about 30 min of CPU for 1 of {len(stems)} notebooks" in readme.render_instructors()


def test_the_first_screen_is_short_and_starts_students_on_notebook_1():
    text = readme.README.read_text()
    first, rest = text.split("\n## Results", 1)
    assert "(reports/01_affine_intuition.ipynb)" in first and "https://arxiv.org/abs/1506.02025" in first
    assert readme.colab_badge("01_affine_intuition") in first and "| # | Notebook (executed report) |" in first
    assert "make execute" not in first  # regenerating is for instructors, further down
    prose = [line for line in first.splitlines() if line.strip() and not line.startswith(("|", "<!--"))]
    assert len(prose) <= 25, len(prose)
    instructors = rest.split("## Instructors", 1)[1]
    assert "make execute" in instructors and "make test" in instructors
    assert "For contributors: [CONTRIBUTING.md](CONTRIBUTING.md)" in rest


@pytest.mark.parametrize("page", ["README.md", "CONTRIBUTING.md"])
def test_page_links_resolve(page):
    text = (REPO_ROOT / page).read_text()
    for target in re.findall(r"\]\(((?!https?://)[^)#]+)\)", text):
        assert (REPO_ROOT / target).exists(), f"{page} links to missing {target}"
    headings = [re.sub(r"[^\w\- ]", "", h).lower().replace(" ", "-") for h in re.findall(r"^#+ (.+)$", text, re.M)]
    for anchor in re.findall(r"\]\(#([^)]+)\)", text):
        assert anchor in headings, f"{page} links to missing section #{anchor}"
    for anchor in re.findall(r"\]\(CONTRIBUTING\.md#([^)]+)\)", text):
        other = (REPO_ROOT / "CONTRIBUTING.md").read_text()
        assert re.search(rf"^## {anchor}$", other, re.M | re.I), f"{page} links to missing CONTRIBUTING.md#{anchor}"


def test_ci_calls_the_documented_test_command():
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "make test" in (REPO_ROOT / "README.md").read_text()
    assert "`.ci/run`, which runs `make test`" in (REPO_ROOT / "CONTRIBUTING.md").read_text()


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


def test_code_is_formatted_by_ruff_with_no_opt_outs():
    """``ruff format`` owns the layout of the package, the tools and the tests: no hand-packed lines kept
    by ``fmt: skip`` / ``fmt: off``."""
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "stnlib", "tools", "tests"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    marker = re.compile(r"#\s*fmt:\s*(skip|off)\b")
    opted_out = [
        f"{p.relative_to(REPO_ROOT)}:{i}"
        for folder in ("stnlib", "tools", "tests")
        for p in sorted((REPO_ROOT / folder).rglob("*.py"))
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if marker.search(line)
    ]
    assert opted_out == [], opted_out


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
    text = contributing.render_bench({"cifar10": cifar, "mnist": suite})
    assert text.index("**MNIST**") < text.index("**CIFAR-10**")  # fixed order, whatever the JSON order
    assert "| ours + STN | 128 | 1,234 |" in text
    assert "STN share of a training step: tutorial 25.0%, ours 10.0%." in text
    assert "| tutorial + STN | tut | not reached in 900 s | 98.90% |" in text
    assert "| ours + STN | ours | 61 s | 99.10% |" in text
    assert "Time to 99%, ours / theirs: **below 0.07**." in text
    assert "Time to 66%, ours / theirs: **0.25**." in text
    assert contributing.render_bench({}).startswith("_No benchmark yet")


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
    text = contributing.render_bench({"cifar10": _cifar_bench_with_compute()})
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
    ) in contributing.render_bench({"cifar10": without_headline})


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
    text = contributing.render_bench({"cifar10": old})
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
    keys |= {
        "cifar_ours_stn_acc": 90.12,
        "cifar_ours_stn_acc_exact": 93.4,
        "cifar_ours_nostn_acc": 90.0,
        "cifar_ours_nostn_acc_exact": 93.0,
        "cifar_budget_s": 150.0,
        "cifar_stn_train_s": 750.0,
        "offcentre_stn_err": 20.0,
        "offcentre_cnn_full_err": 25.0,
        "offcentre_cnn_area_err": 40.0,
        "offcentre_stn_mflop": 60.0,
        "offcentre_cnn_full_mflop": 40.0,
        "offcentre_cnn_area_mflop": 30.0,
        "offcentre_stn_train_s": 300.0,
        "offcentre_cnn_area_train_s": 200.0,
        "offcentre_centre_err_px": 9.25,
        "cifar_stn_shift_spread_px": 0.04,
        "offcentre_shift_spread_px": 7.5,
    }
    text = contributing.render_cifar(_nb3_entry(keys))
    assert "| course: tutorial net | 57% after 50 epochs | 150 s | 51.00% | 51.00% |" in text
    assert "| ours + STN | | 750 s | 90.12% | 93.40% |" in text
    assert "| ours, no STN (ablation) | | same schedule | 90.00% | 93.00% |" in text
    assert "| CNN on the full canvas (first layer: 2x2 patches at stride 2) | 25.00% | 40.00 | – |  |" in text
    assert "| same backbone, canvas area-averaged to 32x32 | 40.00% | 30.00 | 200 s |  |" in text
    # 20 / min(25, 40) = 0.80: against the stronger CNN, the full canvas here
    assert (
        "| with a transformer that moves a 32x32 window | 20.00% | 60.00 | 300 s | 0.80x the stronger CNN's "
        "errors; window centre 9.2 px from the photo's (median) |" in text
    )
    targets = contributing.render_targets(_nb3_entry(keys))
    assert "(full canvas or 32x32 area view) ≤ 0.8x | issue 18 | 0.80x | met |" in targets
    assert "offcentre_err_ratio" not in str([t.keys for t in contributing.TARGETS])
    assert "0.04 px on CIFAR-10" in text and "7.5 px off-centre" in text


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (99.3456, "%", "99.35%"),
        (60000, "", "60,000"),
        (3.4e-06, "", "3.4e-06"),
        (12.345, "s", "12.35 s"),
        (0.0, "", "0"),
    ],
)
def test_metric_formatting(value, unit, text):
    assert contributing.format_value(value, unit) == text


# ----------------------------------------------- defect 2: a malformed metrics.json stops sync with a message
@pytest.fixture
def readme_copy(tmp_path, monkeypatch):
    """tools.readme pointed at copies of README.md and CONTRIBUTING.md and an empty reports folder in ``tmp_path``."""
    (tmp_path / "reports").mkdir()
    copy, contributing_copy = tmp_path / "README.md", tmp_path / "CONTRIBUTING.md"
    copy.write_text(readme.README.read_text())
    contributing_copy.write_text(readme.CONTRIBUTING.read_text())
    monkeypatch.setattr(readme, "README", copy)
    monkeypatch.setattr(readme, "CONTRIBUTING", contributing_copy)
    monkeypatch.setattr(readme, "REPORTS", tmp_path / "reports")
    return copy


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("", "is empty"),
        ('{"02_x": {"pro', "cannot be read as JSON"),
        ("[]", "holds a JSON list"),
        (
            '{"02_x": {"profile": "full", "data": "d", "seconds": 1, "finished": "x"}}',
            ": the entry '02_x' lacks metrics",
        ),
    ],
)
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
