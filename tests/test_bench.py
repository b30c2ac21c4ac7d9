"""The benchmark (tools.bench): FLOP counts by hand, achieved GFLOP/s, the fast network's throughput timed through
its own training loop (a couple of tiny steps), and quick end-to-end runs (tiny data: numbers here mean nothing)."""

import dataclasses
import json

import pytest
import torch
from torch import nn

from stnlib import env, fast_cifar, recipes
from stnlib.data import load_dataset
from tools import bench


@pytest.mark.parametrize("batch", [1, 3])
def test_linear_flops_by_hand(batch):
    a, h, c = 5, 7, 3
    # one layer on the images: forward 2ab and the weight's gradient 2ab per image (no gradient for the images)
    assert bench.train_flops_per_image(nn.Linear(a, c, bias=False), (a,), batch=batch) == 4 * a * c
    # a second layer also passes the gradient to its input: forward + grad input + grad weight = 3 x forward
    two = nn.Sequential(nn.Linear(a, h, bias=False), nn.Linear(h, c, bias=False))
    assert bench.train_flops_per_image(two, (a,), batch=batch) == 2 * (2 * a * h) + 3 * (2 * h * c)


def test_conv_flops_by_hand():
    n, c_in, c_mid, c_out, k, size = 2, 3, 4, 5, 3, 8
    out1, out2 = size - k + 1, size - 2 * (k - 1)
    forward1 = 2 * n * c_mid * out1 * out1 * c_in * k * k  # 2 N Cout Hout Wout Cin k k
    forward2 = 2 * n * c_out * out2 * out2 * c_mid * k * k
    conv = nn.Conv2d(c_in, c_mid, k, bias=False)
    first = nn.Sequential(conv, nn.Flatten())
    assert bench.train_flops_per_image(first, (c_in, size, size), batch=n) * n == 2 * forward1
    stack = nn.Sequential(conv, nn.Conv2d(c_mid, c_out, k, bias=False), nn.Flatten())
    assert bench.train_flops_per_image(stack, (c_in, size, size), batch=n) * n == 2 * forward1 + 3 * forward2


def test_frozen_weights_get_no_weight_gradient_and_the_model_is_left_as_it_was():
    a, c = 6, 4
    frozen = nn.Linear(a, c, bias=False).requires_grad_(False)
    model = nn.Sequential(frozen, nn.Linear(c, c, bias=False)).eval()
    # the frozen first layer: forward only; the second sees no gradient-carrying input: forward + grad weight
    assert bench.train_flops_per_image(model, (a,)) == 2 * a * c + 2 * (2 * c * c)
    assert not model.training and all(p.grad is None for p in model.parameters())


def test_achieved_compute_arithmetic():
    r = bench.achieved_compute(1000.0, 0.71e9, 1000.0)  # 1,000 img/s x 0.71 GFLOP = 710 GFLOP/s of 1,000
    assert r == pytest.approx({"gflop_per_image": 0.71, "gflop_per_s": 710.0, "peak_share": 0.71})
    assert bench.achieved_compute(500.0, 2e9, None)["peak_share"] is None


def test_matmul_peak_is_a_positive_rate():
    assert bench.matmul_peak(torch.float32, size=64, repeats=2) > 0


def test_exact_test_images_keeps_only_exact_ones():
    data = load_dataset("cifar10", profile="quick", data_dir=None).subset(8, 10)
    mixed = dataclasses.replace(data, test_is_exact=torch.arange(10) < 4)
    exact = fast_cifar.exact_test_images(mixed)
    assert len(exact.test_labels) == 4 and bool(exact.test_is_exact.all()) and exact.info.n_test == 4
    assert torch.equal(exact.test_images, data.test_images[:4])


@pytest.mark.parametrize(("native", "precision"), [(True, "bf16"), (False, "fp32")])
def test_fast_network_throughput_runs_through_train_fast(monkeypatch, native, precision):
    monkeypatch.delenv("STNLIB_PRECISION", raising=False)
    monkeypatch.setattr(env, "native_bf16", lambda device: native)  # the recipe's "auto", resolved by the hardware
    data = load_dataset("cifar10", profile="quick", data_dir=None).subset(64, 8)
    recipe = dataclasses.replace(bench.FAST_RECIPE, batch_size=16)
    factories = {"fast, no STN": (lambda: fast_cifar.fast_stn_net(stn=False), recipe)}
    tp = bench.throughput(factories, data, rounds=1, fast_steps=2)
    r = tp["fast, no STN"]
    assert r["images_per_s"] > 0 and r["batch_size"] == 16 and r["steps"] == 2 and r["precision"] == precision


def test_quick_bench_writes_json_and_figure(tmp_path):
    assert bench.main(["--quick", "--suite", "mnist"]) == 0
    out = tmp_path / "reports" / "quick"
    result = json.loads((out / "bench.json").read_text())["mnist"]
    assert set(result["throughput"]) == set(bench.mnist_models())
    assert all(r["images_per_s"] > 0 for r in result["throughput"].values())
    assert set(result["stn_overhead"]) == {"tutorial", "ours"}
    assert (out / "figures" / "bench_mnist.png").read_bytes()[:4] == b"\x89PNG"


def test_quick_cifar_bench_replaces_only_its_own_suite(tmp_path):
    out = tmp_path / "reports" / "quick"
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps({"mnist": {"throughput": {"kept": 1}}}))
    assert bench.main(["--quick", "--suite", "cifar10"]) == 0
    results = json.loads((out / "bench.json").read_text())
    assert results["mnist"] == {"throughput": {"kept": 1}}
    cifar = results["cifar10"]
    assert set(cifar["throughput"]) == set(bench.cifar10_models())
    ours = {"ours: fast network", "quarter ResNet-9"}
    assert set(cifar["stn_overhead"]) == ours | {f"course: {c.name}" for c in recipes.COURSE_MODELS}
    assert set(cifar["time_to_target"]) == {bench.CIFAR_OURS, bench.CIFAR_COURSE}
    assert set(cifar["time_to_target"][bench.CIFAR_OURS]["seconds_to"]) == {"66", "90"}  # one run, both targets
    peaks = cifar["matmul_peak"]["gflop_per_s"]
    assert peaks["bf16"] > 0 and peaks["fp32"] > 0
    fast = cifar["throughput"][bench.CIFAR_OURS]
    assert fast["gflop_per_s"] == pytest.approx(fast["images_per_s"] * fast["gflop_per_image"])
    assert (out / "figures" / "bench_cifar10.png").read_bytes()[:4] == b"\x89PNG"


def test_a_malformed_bench_json_is_named_not_overwritten(tmp_path):
    out = tmp_path / "reports" / "quick"
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text("[]")
    with pytest.raises(ValueError, match="bench.json holds a JSON list"):
        bench.main(["--quick", "--suite", "mnist"])
    assert (out / "bench.json").read_text() == "[]"
