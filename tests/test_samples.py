from pathlib import Path

import numpy as np
import pytest
import torch

from stnlib.env import REPO_ROOT
from stnlib.samples import load_samples, sample_image

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


def test_unknown_sample_set_and_index_raise():
    with pytest.raises(ValueError, match="unknown sample set 'svhn'"):
        load_samples("svhn")
    with pytest.raises(ValueError, match=r"index must be in \[0, 500\)"):
        sample_image("mnist", 500)
    assert sample_image("mnist", 3).shape == (1, 1, 28, 28)


def test_missing_sample_file_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setattr("stnlib.samples.SAMPLES", tmp_path)
    with pytest.raises(FileNotFoundError, match="make_samples.py"):
        load_samples("mnist")
