"""Experiment helpers and the benchmark's plumbing (tiny data: numbers here mean nothing)."""

import json

import pytest
import torch

from stnlib import affine, bench, experiments, models
from stnlib.data import load_dataset


@pytest.fixture(scope="module")
def tiny_mnist():
    return load_dataset("mnist", profile="quick").subset(256, 128)


def test_recipes_describe_themselves():
    assert experiments.TUTORIAL.describe() == "PyTorch tutorial: SGD lr 0.01, constant lr, batch 64"
    assert "onecycle" in experiments.OURS.describe()


def test_stn_thetas_of_an_untrained_stn_are_the_identity(tiny_mnist):
    d = experiments.stn_thetas(models.mnist_stn_net(), tiny_mnist)
    n = len(tiny_mnist.test_labels)
    assert d["theta"].shape == (n, 2, 3)
    assert torch.allclose(d["theta"], affine.identity(n), atol=1e-6)
    assert torch.allclose(d["scale_x"], torch.ones(n), atol=1e-5)


def test_stn_thetas_needs_a_transformer(tiny_mnist):
    with pytest.raises(ValueError, match="no spatial transformer"):
        experiments.stn_thetas(models.mnist_cnn(), tiny_mnist)


def test_predict_returns_probabilities(tiny_mnist):
    probs, pred = experiments.predict(models.tutorial_net(), tiny_mnist)
    assert probs.shape == (128, 10) and torch.allclose(probs.sum(1), torch.ones(128), atol=1e-5)
    assert torch.equal(pred, probs.argmax(1))


def test_train_runs_a_recipe(tiny_mnist):
    h = experiments.train(models.tutorial_net(), tiny_mnist, experiments.TUTORIAL, epochs=1, progress=False)
    assert len(h.epochs) == 1 and h.final.test_acc is not None


def test_quick_bench_writes_json_and_figure(tmp_path):
    assert bench.main(["--quick", "--suite", "mnist"]) == 0
    out = tmp_path / "reports" / "quick"
    result = json.loads((out / "bench.json").read_text())["mnist"]
    assert set(result["throughput"]) == set(bench.mnist_models())
    assert all(r["images_per_s"] > 0 for r in result["throughput"].values())
    assert set(result["stn_overhead"]) == {"tutorial", "ours"}
    assert (out / "figures" / "bench_mnist.png").read_bytes()[:4] == b"\x89PNG"


def test_quick_cifar_bench_adds_its_suite_and_migrates_the_old_layout(tmp_path):
    out = tmp_path / "reports" / "quick"
    out.mkdir(parents=True, exist_ok=True)
    # earlier versions wrote the MNIST suite alone at the top level: it must survive as results["mnist"]
    (out / "bench.json").write_text(json.dumps({"throughput": {"kept": 1}, "time_ratio_ours_over_tutorial": 0.5}))
    assert bench.main(["--quick", "--suite", "cifar10"]) == 0
    results = json.loads((out / "bench.json").read_text())
    assert results["mnist"] == {"throughput": {"kept": 1}, "time_ratio": {"value": 0.5, "bound": "exact"}}
    cifar = results["cifar10"]
    assert set(cifar["throughput"]) == set(bench.cifar10_models())
    ours = {"ours: fast network", "quarter ResNet-9"}
    assert set(cifar["stn_overhead"]) == ours | {f"course: {c.name}" for c in experiments.COURSE_MODELS}
    assert set(cifar["time_to_target"]) == {bench.CIFAR_OURS, bench.CIFAR_COURSE}
    assert set(cifar["time_to_target"][bench.CIFAR_OURS]["seconds_to"]) == {"66", "90"}  # one run, both targets
    peaks = cifar["matmul_peak"]["gflop_per_s"]
    assert peaks["bf16"] > 0 and peaks["fp32"] > 0
    fast = cifar["throughput"][bench.CIFAR_OURS]
    assert fast["gflop_per_s"] == pytest.approx(fast["images_per_s"] * fast["gflop_per_image"])
    assert (out / "figures" / "bench_cifar10.png").read_bytes()[:4] == b"\x89PNG"
