"""Tests for stnlib.data: sources, validation, damaged files, descriptions and batched loaders.

Truth comes from outside the module: the raw ``.npz`` arrays (transposed with numpy),
IDX files written here and read back by torchvision, and hand-written normalization.
"""

from __future__ import annotations

import struct
import traceback
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from stnlib import data as D
from stnlib.env import REPO_ROOT, Profile
from stnlib.samples import load_samples

SHARED = REPO_ROOT.parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not (SHARED / "mnist.npz").exists(), reason="offline dataset copies not beside repo")


@pytest.fixture(autouse=True)
def _no_data_env(monkeypatch):
    monkeypatch.delenv("STNLIB_DATA", raising=False)


def _fake_arrays(name: str, n_train: int = 12, n_test: int = 6, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    hwc = (28, 28) if name == "mnist" else (32, 32, 3)
    return {
        "x_train": rng.integers(0, 256, (n_train, *hwc), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train).astype(np.uint8),
        "x_test": rng.integers(0, 256, (n_test, *hwc), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test).astype(np.uint8),
    }


def _write_npz(folder: Path, name: str, **arrays) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.npz"
    np.savez(path, **arrays)
    return path


def _to_chw(x: np.ndarray) -> np.ndarray:
    return x[:, None] if x.ndim == 3 else np.transpose(x, (0, 3, 1, 2))


@pytest.fixture
def failing_download(monkeypatch):
    """torchvision's MNIST/CIFAR10 raise as they do offline; records the calls."""
    calls = []

    class Offline:
        def __init__(self, root, train=True, download=False, **kw):
            calls.append((Path(root), train, download))
            raise RuntimeError("Error downloading train-images: <urlopen error no network here>")

    monkeypatch.setattr(torchvision.datasets, "MNIST", Offline)
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", Offline)
    return calls


# ----------------------------------------------------------- real offline copies
@needs_shared
def test_real_mnist_from_npz_folder():
    data = D.load_dataset("mnist", data_dir=SHARED)
    with np.load(SHARED / "mnist.npz") as d:
        x_test, y_train = d["x_test"], d["y_train"]
    assert data.train_images.shape == (60000, 1, 28, 28) and data.train_images.dtype == torch.uint8
    assert data.test_images.shape == (10000, 1, 28, 28) and data.test_labels.dtype == torch.int64
    assert torch.equal(data.test_images[:, 0], torch.from_numpy(x_test))
    # label counts published with the dataset (see ../shared/data/README.md)
    assert torch.bincount(data.train_labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.array_equal(data.train_labels.numpy(), y_train)
    assert data.info.exact and data.info.n_test_exact == 10000 and bool(data.test_is_exact.all())
    assert (
        data.info.describe()
        == "MNIST from the folder passed as data_dir (mnist.npz): 60,000 train / 10,000 test (all exact)"
    )
    assert data.mean == D.MNIST_MEAN and data.classes == tuple("0123456789")


@needs_shared
def test_real_cifar10_from_npz_folder_with_limits():
    data = D.load_dataset("cifar10", data_dir=SHARED, limit_train=100, limit_test=1500)
    with np.load(SHARED / "cifar10.npz") as d:
        x_test, y_test, exact = d["x_test"][:1500], d["y_test"][:1500], d["test_is_exact"]
    assert int(exact.sum()) == 1000  # the file itself
    assert data.train_images.shape == (100, 3, 32, 32) and data.test_images.shape == (1500, 3, 32, 32)
    assert np.array_equal(data.test_images.numpy(), np.transpose(x_test, (0, 3, 1, 2)))
    assert np.array_equal(data.test_labels.numpy(), y_test.reshape(-1))
    assert int(data.train_labels.min()) >= 0 and int(data.train_labels.max()) <= 9
    assert data.info.n_test_exact == 1000 and not data.info.exact and int(data.test_is_exact.sum()) == 1000
    assert "1,500 test (1,000 exact)" in data.info.describe() and "first 1,000" in data.info.note
    exact_only = data.subset(limit_test=1000)
    assert exact_only.info.exact and exact_only.info.n_test == 1000
    assert data.classes[0] == "airplane" and data.classes[9] == "truck" and data.std == D.CIFAR10_STD


# ------------------------------------------------------------ synthetic folders
@pytest.mark.parametrize("name", D.DATASETS)
def test_npz_folder_layout_values_and_limits(tmp_path, name):
    arrays = _fake_arrays(name)
    if name == "cifar10":  # Keras stores CIFAR labels as (N, 1) and the offline copy adds test_is_exact
        arrays["y_train"] = arrays["y_train"][:, None]
        arrays["test_is_exact"] = np.array([True, True, False, True, False, False])
    _write_npz(tmp_path, name, **arrays)
    data = D.load_dataset(name, data_dir=tmp_path)
    c = 1 if name == "mnist" else 3
    assert data.train_images.shape == (12, c, *arrays["x_train"].shape[1:3])
    assert data.train_images.dtype == torch.uint8 and data.train_labels.dtype == torch.int64
    assert np.array_equal(data.train_images.numpy(), _to_chw(arrays["x_train"]))
    assert np.array_equal(data.test_images.numpy(), _to_chw(arrays["x_test"]))
    assert np.array_equal(data.train_labels.numpy(), arrays["y_train"].reshape(-1))
    assert data.info.source == f"the folder passed as data_dir ({name}.npz)"  # no machine path
    expected_exact = 3 if name == "cifar10" else 6
    assert data.info.n_test_exact == expected_exact and data.info.exact == (expected_exact == 6)
    assert data.black == pytest.approx(D.black_value(name))

    small = D.load_dataset(name, data_dir=tmp_path, limit_train=5, limit_test=2)
    assert small.train_images.shape[0] == 5 and small.test_labels.shape == (2,)
    assert torch.equal(small.train_images, data.train_images[:5])
    assert (small.info.n_train, small.info.n_test, small.info.n_test_exact, small.info.exact) == (5, 2, 2, True)


def test_black_value_is_minus_mean_over_std():
    assert D.black_value("mnist") == pytest.approx((-0.1307 / 0.3081,))
    assert D.black_value("cifar10") == pytest.approx((-0.4914 / 0.2470, -0.4822 / 0.2435, -0.4465 / 0.2616))
    assert D.black_value("mnist-rts") == D.black_value("mnist")


def test_env_var_is_honoured_and_data_dir_wins(tmp_path, monkeypatch):
    env_arrays, arg_arrays = _fake_arrays("mnist", seed=1), _fake_arrays("mnist", seed=2)
    _write_npz(tmp_path / "env", "mnist", **env_arrays)
    _write_npz(tmp_path / "arg", "mnist", **arg_arrays)
    monkeypatch.setenv("STNLIB_DATA", str(tmp_path / "env"))
    from_env = D.load_dataset("mnist")
    assert np.array_equal(from_env.test_images[:, 0].numpy(), env_arrays["x_test"])
    assert from_env.info.source == "the folder in $STNLIB_DATA (mnist.npz)"  # words, not the path
    from_arg = D.load_dataset("mnist", data_dir=tmp_path / "arg")
    assert np.array_equal(from_arg.test_images[:, 0].numpy(), arg_arrays["x_test"])


def test_named_folder_without_data_raises_and_is_never_skipped(tmp_path, monkeypatch, failing_download):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds neither") as info:
        D.load_dataset("mnist", data_dir=tmp_path / "empty", profile="quick")
    assert str(tmp_path / "empty") in str(info.value) and "mnist.npz" in str(info.value)
    assert "MNIST/raw" in str(info.value)
    monkeypatch.setenv("STNLIB_DATA", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=r"does not exist") as info:
        D.load_dataset("cifar10", profile="quick")
    assert "$STNLIB_DATA" in str(info.value) and "cifar10.npz" in str(info.value)
    assert failing_download == []  # neither torchvision nor the samples were tried


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">I", 0x0800 + array.ndim) + b"".join(struct.pack(">I", n) for n in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_torchvision_mnist_layout_in_a_folder(tmp_path):
    arrays = _fake_arrays("mnist", n_train=7, n_test=3)
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    _write_idx(raw / "train-images-idx3-ubyte", arrays["x_train"])
    _write_idx(raw / "train-labels-idx1-ubyte", arrays["y_train"])
    _write_idx(raw / "t10k-images-idx3-ubyte", arrays["x_test"])
    _write_idx(raw / "t10k-labels-idx1-ubyte", arrays["y_test"])
    data = D.load_dataset("mnist", data_dir=tmp_path)
    assert data.info.source == "the folder passed as data_dir (torchvision's layout, MNIST/raw/)"
    assert np.array_equal(data.train_images[:, 0].numpy(), arrays["x_train"])
    assert np.array_equal(data.test_labels.numpy(), arrays["y_test"].astype(np.int64))
    assert data.info.exact and data.info.n_test == 3


# ------------------------------------------------------------------ validation
def test_unknown_dataset_and_profile_raise():
    with pytest.raises(ValueError, match=r"name must be one of 'mnist', 'cifar10', got str 'svhn'"):
        D.load_dataset("svhn")
    with pytest.raises(ValueError, match="profile must be one of 'full', 'quick', got str 'fast'"):
        D.load_dataset("mnist", profile="fast")


def test_npz_missing_keys_names_them(tmp_path):
    arrays = _fake_arrays("mnist")
    del arrays["y_test"], arrays["x_train"]
    _write_npz(tmp_path, "mnist", **arrays)
    with pytest.raises(ValueError, match=r"missing the key\(s\) x_train, y_test"):
        D.load_dataset("mnist", data_dir=tmp_path)


def test_npz_without_training_images_is_a_clear_error(tmp_path):
    # regression (issue 10, defect 6): zero training images used to load, then fail later with a raw torch error
    arrays = _fake_arrays("mnist")
    arrays["x_train"], arrays["y_train"] = arrays["x_train"][:0], arrays["y_train"][:0]
    _write_npz(tmp_path, "mnist", **arrays)
    with pytest.raises(ValueError, match="x_train in .*mnist.npz holds no images"):
        D.load_dataset("mnist", data_dir=tmp_path)


@pytest.mark.parametrize("bad", [10, -1])
def test_labels_out_of_range_raise(tmp_path, bad):
    arrays = _fake_arrays("mnist")
    arrays["y_train"] = arrays["y_train"].astype(np.int16)
    arrays["y_train"][3] = bad
    _write_npz(tmp_path, "mnist", **arrays)
    with pytest.raises(ValueError, match=r"y_train .* must lie in 0\.\.9"):
        D.load_dataset("mnist", data_dir=tmp_path)


def test_wrong_image_shape_or_dtype_raise(tmp_path):
    arrays = _fake_arrays("cifar10")
    arrays["x_test"] = arrays["x_test"][:, :, :, :1]
    _write_npz(tmp_path / "a", "cifar10", **arrays)
    with pytest.raises(ValueError, match=r"x_test .* shape \(N, 32, 32, 3\)"):
        D.load_dataset("cifar10", data_dir=tmp_path / "a")
    arrays = _fake_arrays("mnist")
    arrays["x_train"] = arrays["x_train"].astype(np.float32)
    _write_npz(tmp_path / "b", "mnist", **arrays)
    with pytest.raises(ValueError, match="must be uint8"):
        D.load_dataset("mnist", data_dir=tmp_path / "b")


# ------------------------------------------------------------------- fallbacks
def test_quick_profile_falls_back_to_the_bundled_samples(failing_download):
    data = D.load_dataset("mnist", profile=Profile("quick", "test"))
    samples = load_samples("mnist")
    assert failing_download and failing_download[0] == (REPO_ROOT / "data", True, True)
    assert data.info.source == "bundled samples (assets/samples)"
    assert (data.info.n_train, data.info.n_test) == (250, 250) and "250 train / 250 test" in data.info.describe()
    assert "TEST images" in data.info.note
    assert torch.equal(data.train_images.float() / 255, samples.images[0::2])
    assert torch.equal(data.test_labels, samples.labels[1::2])
    cifar = D.load_dataset("cifar10", profile="quick", limit_train=20)
    assert cifar.train_images.shape == (20, 3, 32, 32) and cifar.test_images.shape == (250, 3, 32, 32)


def test_full_profile_without_data_explains_every_way_out(failing_download):
    with pytest.raises(D.DatasetUnavailable) as info:
        D.load_dataset("cifar10", profile="full")
    message = str(info.value)
    assert isinstance(info.value, RuntimeError)
    for needle in ("data_dir=", "$STNLIB_DATA", "cifar10.npz", "cifar-10-batches-py", "download", "needs internet"):
        assert needle in message, needle
    assert "no network here" in message and "quick profile" in message


# --------------------------------------------------------------------- loaders
def _images(n: int, c: int = 1, size: int = 5, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, c, size, size), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def test_loader_batches_are_normalized_by_hand():
    x, y = _images(10, c=3), torch.arange(10) % 10
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 2.0)
    loader = D.make_loader(x, y, batch_size=4, shuffle=False, mean=mean, std=std)
    xb, yb = next(iter(loader))
    expected = np.stack([(x[:, ch].numpy() / 255.0 - mean[ch]) / std[ch] for ch in range(3)], axis=1)
    assert xb.dtype == torch.float32 and xb.shape == (4, 3, 5, 5)
    np.testing.assert_allclose(xb.numpy(), expected[:4], rtol=1e-5, atol=1e-6)
    assert yb.tolist() == [0, 1, 2, 3] and yb.dtype == torch.int64
    picked_x, picked_y = loader.dataset[torch.tensor([9, 2])]
    np.testing.assert_allclose(picked_x.numpy(), expected[[9, 2]], rtol=1e-5, atol=1e-6)
    assert picked_y.tolist() == [9, 2]
    assert [len(b) for b, _ in loader] == [4, 4, 2]


def _epoch_order(loader) -> list[int]:  # the images carry their index: pixel value i, normalized back to i
    return [round(float(v)) for xb, _ in loader for v in xb[:, 0, 0, 0]]


def test_shuffled_order_is_seeded_and_covers_every_index_once():
    x, y = torch.arange(23, dtype=torch.uint8).view(23, 1, 1, 1).expand(23, 1, 2, 2).contiguous(), torch.arange(23) % 10
    order = _epoch_order  # labels must stay in 0..9, so the images carry the index
    kwargs = dict(batch_size=5, shuffle=True, mean=(0.0,), std=(1 / 255,))
    a, b = D.make_loader(x, y, seed=7, **kwargs), D.make_loader(x, y, seed=7, **kwargs)
    first, second = order(a), order(a)
    assert sorted(first) == list(range(23)) and sorted(second) == list(range(23))
    assert first == order(b) and second == order(b)  # same seed, same epochs
    assert first != second  # each epoch is a fresh permutation
    assert first != order(D.make_loader(x, y, seed=8, **kwargs))
    assert order(D.make_loader(x, y, **{**kwargs, "shuffle": False})) == list(range(23))


def test_transform_runs_on_unit_range_batches_before_normalization():
    x, y = _images(6), torch.zeros(6, dtype=torch.long)
    seen = []

    def invert(batch):
        seen.append((tuple(batch.shape), float(batch.min()), float(batch.max())))
        return 1.0 - batch

    loader = D.make_loader(x, y, batch_size=6, shuffle=False, mean=(0.25,), std=(0.5,), transform=invert)
    xb, _ = next(iter(loader))
    np.testing.assert_allclose(xb.numpy(), ((1 - x.numpy() / 255.0) - 0.25) / 0.5, rtol=1e-5, atol=1e-6)
    shape, lo, hi = seen[0]
    assert shape == (6, 1, 5, 5) and 0.0 <= lo and hi <= 1.0


def test_image_data_loaders_use_its_statistics(tmp_path):
    _write_npz(tmp_path, "cifar10", **_fake_arrays("cifar10"))
    data = D.load_dataset("cifar10", data_dir=tmp_path)
    train, test = data.loaders(batch_size=4, test_batch_size=5, seed=1)
    xb, yb = next(iter(test))
    manual = (data.test_images[:5].float() / 255 - torch.tensor(D.CIFAR10_MEAN).view(1, 3, 1, 1)) / torch.tensor(
        D.CIFAR10_STD
    ).view(1, 3, 1, 1)
    torch.testing.assert_close(xb, manual)
    assert torch.equal(yb, data.test_labels[:5]) and len(test) == 2 and len(train) == 3


# ------------------------------------------------- regression: damaged data files
def _damage(path: Path, how: str) -> None:
    """Turn ``path`` (a good Keras-style MNIST .npz) into one of the damaged files people end up with."""
    good = path.read_bytes()
    if how == "truncated":  # an interrupted copy or download
        path.write_bytes(good[: len(good) // 2])
    elif how == "garbage":  # an HTML error page saved under the right name, or random bytes
        path.write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8)))
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "no_x_train":
        arrays = _fake_arrays("mnist")
        del arrays["x_train"]
        np.savez(path, **arrays)
    elif how == "object_array":  # numpy refuses it without allow_pickle=True (which can run arbitrary code)
        arrays = _fake_arrays("mnist")
        arrays["x_train"] = np.array([arrays["x_train"][0], "not an image"], dtype=object)
        np.savez(path, **arrays)
    elif how == "not_npy_members":  # a zip whose members are not .npy arrays
        with zipfile.ZipFile(path, "w") as z:
            for key in ("x_train", "y_train", "x_test", "y_test"):
                z.writestr(f"{key}.npy", b"garbage" * 3)


@pytest.mark.parametrize(
    ("how", "problem"),
    [
        ("truncated", "damaged"),
        ("garbage", "damaged"),
        ("empty", "damaged"),
        ("no_x_train", "x_train"),
        ("object_array", "object"),
        ("not_npy_members", "x_train"),
    ],
)
@pytest.mark.parametrize("via", ["data_dir", "env"])
def test_damaged_npz_is_a_clear_error_naming_file_origin_and_remedy(tmp_path, monkeypatch, how, problem, via):
    # regression (issue 10, defect 4): used to raise raw BadZipFile / EOFError / AttributeError, or numpy's
    # advice to load the file with allow_pickle=True
    path = _write_npz(tmp_path, "mnist", **_fake_arrays("mnist"))
    _damage(path, how)
    if via == "env":
        monkeypatch.setenv("STNLIB_DATA", str(tmp_path))
    with pytest.raises(ValueError) as info:
        D.load_dataset("mnist", **({"data_dir": tmp_path} if via == "data_dir" else {}))
    message = str(info.value)
    assert str(path) in message and problem in message
    assert ("$STNLIB_DATA" if via == "env" else "data_dir=") in message
    assert "re-download" in message.lower() and "re-copy" in message.lower()
    assert ("unset $STNLIB_DATA" if via == "env" else "data_dir=None") in message and "torchvision" in message
    shown = "".join(traceback.format_exception(info.type, info.value, info.tb))
    assert "allow_pickle" not in shown and "pickle.load" not in shown and "unsafely" not in shown


# ------------------------------------------- regression: descriptions of a subset
def _cifar_first_1000_exact(folder: Path) -> Path:
    """A CIFAR-10 file like the offline copy: 1,500 test images of which only the first 1,000 are exact."""
    arrays = _fake_arrays("cifar10", n_train=20, n_test=1500)
    return _write_npz(folder, "cifar10", **arrays, test_is_exact=np.arange(1500) < 1000)


def test_subset_within_the_exact_images_says_all_are_exact(tmp_path):
    # regression (issue 10, defect 9): used to read "200 test (all exact); only the first 1,000 of 1,500 ... exact"
    _cifar_first_1000_exact(tmp_path)
    full = D.load_dataset("cifar10", data_dir=tmp_path)
    assert "1,500 test (1,000 exact)" in full.info.describe()
    assert "only the first 1,000 of 1,500 test images are exact" in full.info.describe()
    for small in (full.subset(limit_test=200), D.load_dataset("cifar10", data_dir=tmp_path, limit_test=200)):
        text = small.info.describe()
        assert text.endswith(": 20 train / 200 test (all exact)"), text
        assert "1,000" not in text and "1,500" not in text and small.info.note == ""


def test_subset_beyond_the_exact_images_counts_them_for_the_subset(tmp_path):
    _cifar_first_1000_exact(tmp_path)
    part = D.load_dataset("cifar10", data_dir=tmp_path).subset(limit_test=1200)
    text = part.info.describe()
    assert "1,200 test (1,000 exact)" in text and "only the first 1,000 of 1,200 test images are exact" in text
    assert "1,500" not in text
