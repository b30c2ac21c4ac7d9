from pathlib import Path

import numpy as np
import pytest
import torch

from stnlib.env import REPO_ROOT
from stnlib.samples import load_samples
from tools import make_samples

SHARED = REPO_ROOT.parent / "shared" / "data"


@pytest.mark.parametrize(("name", "shape"), [("mnist", (1, 28, 28)), ("cifar10", (3, 32, 32))])
def test_samples_shapes_ranges_and_balance(name, shape):
    s = load_samples(name)
    assert s.images.shape == (500, *shape) and s.images.dtype == torch.float32
    assert 0.0 <= float(s.images.min()) and float(s.images.max()) <= 1.0
    assert float(s.images.max()) > 0.9  # real images, not blank
    assert torch.bincount(s.labels, minlength=10).tolist() == [50] * 10
    assert len(s.classes) == 10 and len(np.unique(s.test_indices)) == 500


def test_cifar_samples_come_from_the_exact_first_thousand():
    assert load_samples("cifar10").test_indices.max() < 1000


@pytest.mark.skipif(not (SHARED / "mnist.npz").exists(), reason="offline dataset copies not beside the repo")
@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_samples_equal_the_source_images(name):
    s = load_samples(name)
    with np.load(Path(SHARED) / f"{name}.npz") as d:
        x, y = d["x_test"][s.test_indices], d["y_test"].reshape(-1)[s.test_indices]
    x = torch.from_numpy(x).float() / 255
    x = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)
    assert torch.equal(x, s.images)
    assert np.array_equal(y, s.labels.numpy())


def test_unknown_sample_set_raises():
    with pytest.raises(ValueError, match="unknown sample set 'svhn'"):
        load_samples("svhn")


def test_missing_sample_file_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setattr("stnlib.samples.SAMPLES", tmp_path)
    with pytest.raises(FileNotFoundError, match="python -m tools.make_samples"):
        load_samples("mnist")


def test_make_samples_rebuilds_the_bundled_files_exactly(tmp_path):
    # tools.make_samples from a tiny stand-in of the offline copies: first 2 exact test images per class, in order
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    data.mkdir()
    labels = np.tile(np.arange(10, dtype=np.uint8), 4)  # 40 test images, 4 per class
    exact = np.arange(40) >= 10  # the first 10 are not exact: the picks skip them
    np.savez(data / "mnist.npz", x_test=rng.integers(0, 256, (40, 28, 28), dtype=np.uint8), y_test=labels)
    np.savez(
        data / "cifar10.npz",
        x_test=rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8),
        y_test=labels,
        test_is_exact=exact,
    )
    assert make_samples.main(["--data", str(data), "--per-class", "2", "--out", str(tmp_path / "out")]) == 0
    with np.load(tmp_path / "out" / "mnist_test_samples.npz") as d:
        assert d["test_indices"].tolist() == list(range(20))
    with np.load(tmp_path / "out" / "cifar10_test_samples.npz") as d, np.load(data / "cifar10.npz") as src:
        assert d["test_indices"].tolist() == list(range(10, 30))
        assert np.array_equal(d["images"], src["x_test"][10:30]) and d["labels"].tolist() == labels[10:30].tolist()
        assert d["classes"][0] == "airplane"
