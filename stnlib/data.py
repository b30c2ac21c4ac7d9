"""MNIST and CIFAR-10 as uint8 tensors: images ``(N, C, H, W)``, labels int64 ``(N,)`` in ``0..9``; models see
``(x / 255 - mean) / std`` per channel. :func:`load_dataset` takes the first source that has the data: (1) the folder
``data_dir=`` or ``$STNLIB_DATA``, with a Keras-style ``<name>.npz`` (``x_train``, ``y_train``, ``x_test``, ``y_test``,
optional bool ``test_is_exact``) or torchvision's layout; (2) torchvision, into ``<repo>/data``; (3) quick profile
only: the 500 bundled real *test* images."""

from __future__ import annotations

import dataclasses
import os
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from . import checks
from .batches import ArrayDataset as ArrayDataset
from .batches import _check_labels, make_loader
from .checks import check_bool, check_floats, check_int, check_tensor
from .env import DATA_ENV, PROFILES, REPO_ROOT, Profile
from .env import data_dir as env_data_dir
from .samples import load_samples

DATASETS: tuple[str, ...] = ("mnist", "cifar10")
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
_CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


class _Spec(NamedTuple):
    """A dataset's title, image shape ``(C, H, W)``, mean/std, classes, torchvision class and folder."""

    title: str
    shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: tuple[str, ...]
    tv: str
    layout: str


_SPEC = {
    "mnist": _Spec("MNIST", (1, 28, 28), MNIST_MEAN, MNIST_STD, tuple("0123456789"), "MNIST", "MNIST/raw/"),
    "cifar10": _Spec(
        "CIFAR-10", (3, 32, 32), CIFAR10_MEAN, CIFAR10_STD, _CIFAR10_CLASSES, "CIFAR10", "cifar-10-batches-py/"
    ),
}
_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
_SAMPLES_REMARK = (
    "quick profile only: the bundled samples are real TEST images (even positions train, odd test), so the numbers "
    "only show that the code runs"
)


class DatasetUnavailable(RuntimeError):
    """The real dataset could not be found or downloaded (the message says how to provide it)."""


def black_value(name: str) -> tuple[float, ...]:
    """``-mean / std`` per channel for ``"mnist"``, ``"cifar10"`` or a distorted set (``"mnist-rts"``: MNIST's)."""
    checks.check_type(name, "name", str, "a dataset name such as 'mnist' or 'mnist-rts'")
    if (base := name.split("-", 1)[0]) not in DATASETS:
        raise ValueError(
            f"name must be one of {', '.join(DATASETS)}, optionally with a suffix ('mnist-rts'), got "
            f"{name!r} (unknown dataset)"
        )
    return tuple(-m / s for m, s in zip(_SPEC[base].mean, _SPEC[base].std))


@dataclasses.dataclass(frozen=True)
class DataInfo:
    """Source, counts (set by :class:`ImageData`) and notes; ``exact_first``: the first ``n_test_exact`` are exact."""

    dataset: str
    source: str
    n_train: int = 0
    n_test: int = 0
    n_test_exact: int = 0
    exact: bool = True
    remark: str = ""
    exact_first: bool = True

    @property
    def note(self) -> str:
        """``remark``, then (unless all are exact) which test images are exact copies."""
        first = "the first " if self.exact_first else ""
        caveat = (
            "" if self.exact else f"only {first}{self.n_test_exact:,} of {self.n_test:,} test images are exact copies"
        )
        caveat += " (test_is_exact); report accuracy on those too" if caveat else ""
        return "; ".join(t for t in (self.remark, caveat) if t)

    def describe(self) -> str:
        """One line: ``"MNIST from the folder in $STNLIB_DATA (mnist.npz): 60,000 train / 10,000 test (all exact)"``."""
        base, dash, suffix = self.dataset.partition("-")
        title = _SPEC[base].title if base in _SPEC else base
        title += " off-centre" if suffix == "offcentre" else (dash + suffix).upper()  # "-rts" -> "-RTS"
        exact = "all exact" if self.exact else f"{self.n_test_exact:,} exact"
        line = f"{title} from {self.source}: {self.n_train:,} train / {self.n_test:,} test ({exact})"
        return f"{line}; {self.note}" if self.note else line


@dataclasses.dataclass
class ImageData:
    """A train/test split: ``*_images`` uint8 ``(N, C, H, W)``, ``*_labels`` int64 ``(N,)``, ``test_is_exact`` bool
    ``(N_test,)``, per-channel ``mean``/``std``; ``test_params``: the test set's :class:`~stnlib.distort.Distorted`."""

    train_images: Tensor
    train_labels: Tensor
    test_images: Tensor
    test_labels: Tensor
    test_is_exact: Tensor
    classes: tuple[str, ...]
    info: DataInfo
    mean: tuple[float, ...]
    std: tuple[float, ...]
    test_params: Any = None

    def __post_init__(self) -> None:  # the counts in info always describe the tensors held
        _check_split(self)
        exact, n = self.test_is_exact, int(self.test_is_exact.sum())
        counts = dict(n_train=len(self.train_labels), n_test=len(exact), n_test_exact=n, exact=n == len(exact))
        self.info = dataclasses.replace(self.info, **counts, exact_first=bool(exact[:n].all()))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)``."""
        return tuple(map(int, self.train_images.shape[1:]))  # type: ignore[return-value]

    @property
    def black(self) -> tuple[float, ...]:
        """``-mean / std``: the normalized value of a black pixel (a spatial transformer's fill)."""
        return tuple(-m / s for m, s in zip(self.mean, self.std))

    def subset(self, limit_train: int | None = None, limit_test: int | None = None) -> ImageData:
        """The first ``limit_train`` / ``limit_test`` images (``None``: all)."""
        n, m = _limit(limit_train, "limit_train"), _limit(limit_test, "limit_test")  # [:None] keeps everything
        train = {k: getattr(self, k)[:n] for k in ("train_images", "train_labels")}
        test = {k: getattr(self, k)[:m] for k in ("test_images", "test_labels", "test_is_exact")}
        params = None if self.test_params is None else self.test_params.head(m)
        return dataclasses.replace(self, **train, **test, test_params=params)

    def loaders(
        self,
        batch_size: int,
        test_batch_size: int | None = None,
        transform: Callable[[Tensor], Tensor] | None = None,
        seed: int = 0,
    ) -> tuple[DataLoader, DataLoader]:
        """:func:`make_loader` for train (shuffled by ``seed``, ``transform``) and test (in order), this mean/std."""
        if test_batch_size is not None:
            check_int(test_batch_size, "test_batch_size", min=1)
        kw = dict(mean=self.mean, std=self.std, classes=len(self.classes))
        train = dict(batch_size=batch_size, shuffle=True, transform=transform, seed=seed)
        return (
            make_loader(self.train_images, self.train_labels, **train, **kw),
            make_loader(
                self.test_images, self.test_labels, batch_size=test_batch_size or batch_size, shuffle=False, **kw
            ),
        )


def _limit(n: object, name: str) -> int | None:
    return None if n is None else check_int(n, name, min=0)


def _check_split(d: ImageData) -> None:
    """Types, shapes and ranges of an :class:`ImageData`'s fields (no pass over the images: cheap)."""
    checks.check_type(d.classes, "classes", tuple | list, "a tuple of class names")
    for split in ("train", "test"):
        x = check_tensor(getattr(d, f"{split}_images"), f"{split}_images", shape=("N", "C", "H", "W"), kind="uint8")
        if tuple(x.shape[1:]) != tuple(d.train_images.shape[1:]):
            raise ValueError(
                f"test_images must be (N, {', '.join(map(str, d.train_images.shape[1:]))}) as "
                f"train_images are, got {tuple(x.shape)}"
            )
        _check_labels(getattr(d, f"{split}_labels"), f"{split}_labels", len(x), len(d.classes))
    check_tensor(d.test_is_exact, "test_is_exact", shape=(len(d.test_images),), kind="bool")
    c = int(d.train_images.shape[1])
    check_floats(d.mean, "mean", length=c)
    check_floats(d.std, "std", length=c, positive=True)


def _assemble(name: str, arrays: dict[str, Any], *, source: str, what: str) -> ImageData:
    """Keras/torchvision arrays (images uint8 ``(N, H, W[, C])``, labels ``(N[, 1])``) -> checked :class:`ImageData`."""
    spec, out = _SPEC[name], []
    c, h, w = spec.shape
    for split in ("train", "test"):
        x, y = np.asarray(arrays[f"x_{split}"]), np.asarray(arrays[f"y_{split}"])
        x = x[..., None] if x.ndim == 3 and c == 1 else x
        if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (h, w, c):
            shape = f"(N, {h}, {w}{', ' + str(c) if c > 1 else ''})"
            raise ValueError(f"x_{split} in {what} must be uint8 of shape {shape}, got {x.dtype} {x.shape}")
        if split == "train" and len(x) == 0:
            raise ValueError(f"x_train in {what} holds no images: nothing to train on (is the file complete?)")
        y = y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y  # Keras CIFAR-10 stores (N, 1)
        ok = y.ndim == 1 and len(y) == len(x) and y.dtype.kind in "iu"
        if not ok or (len(y) and (y.min() < 0 or y.max() > 9)):
            got = f"values in [{y.min()}, {y.max()}]" if ok else f"{y.dtype} {y.shape}"
            raise ValueError(f"y_{split} in {what} must lie in 0..9, one integer per image ({len(x)},); got {got}")
        t = torch.from_numpy(np.asarray(arrays[f"x_{split}"]))  # unsqueezed in torch: (N, 1, H, W) strides as before
        t = t.unsqueeze(-1) if t.dim() == 3 else t
        out += [t.permute(0, 3, 1, 2).contiguous(), torch.from_numpy(y.astype(np.int64))]
    exact = torch.as_tensor(np.asarray(arrays.get("test_is_exact", np.ones(len(out[2]), bool)))).reshape(-1)
    if exact.dtype != torch.bool or len(exact) != len(out[2]):
        raise ValueError(f"test_is_exact in {what} must be bool ({len(out[2])},), got {exact.dtype} {exact.shape}")
    return ImageData(*out, exact, spec.classes, DataInfo(name, source), spec.mean, spec.std)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a Keras-style ``.npz`` (never unpickled), else ``ValueError`` saying what is wrong."""
    with open(path, "rb") as f:
        head = f.read(6)
    if not head.startswith(b"PK"):  # every .npz is a zip archive; numpy would call anything else a pickle
        what = "it is empty" if not head else f"it starts with {head!r}, not a zip archive's 'PK'"
        raise ValueError(f"it is damaged or not a .npz file ({what}: is it a text or HTML page saved under this name?)")
    try:
        with np.load(path, allow_pickle=False) as d:
            files, arrays = d.files, {k: d[k] for k in (*_NPZ_KEYS, "test_is_exact") if k in d.files}
    except (OSError, EOFError, TypeError, ValueError, AttributeError, zipfile.BadZipFile, zlib.error) as e:
        why = "pickled (object) arrays are never loaded" if "pickle" in str(e) else f"{type(e).__name__}: {e}"
        raise ValueError(f"it is damaged or not a Keras-style .npz of plain arrays ({why})") from None
    if missing := [k for k in _NPZ_KEYS if k not in files]:
        raise ValueError(
            f"it is missing the key(s) {', '.join(missing)}; a Keras-style file needs "
            f"{', '.join(_NPZ_KEYS)} (found {', '.join(files) or 'none'})"
        )
    if bad := [k for k, a in arrays.items() if not isinstance(a, np.ndarray)]:
        raise ValueError(f"{', '.join(bad)} are not .npy arrays (the file is damaged or not written by numpy)")
    return arrays


def _from_torchvision(name: str, root: Path, *, download: bool, source: str) -> ImageData:
    import torchvision

    cls = getattr(torchvision.datasets, _SPEC[name].tv)
    train, test = cls(str(root), train=True, download=download), cls(str(root), train=False, download=download)
    arrays = dict(x_train=train.data, y_train=train.targets, x_test=test.data, y_test=test.targets)
    return _assemble(name, arrays, source=source, what=f"torchvision's {cls.__name__} in {root}")


def _from_folder(name: str, folder: Path, origin: str) -> ImageData:
    """``<name>.npz`` or torchvision's layout in ``folder``; a damaged file is a ``ValueError`` saying what to do."""
    npz, layout = folder / f"{name}.npz", _SPEC[name].layout
    words = f"the folder in ${DATA_ENV}" if origin.startswith("$") else "the folder passed as data_dir"  # not its path
    if npz.is_file():
        try:
            return _assemble(name, _read_npz(npz), source=f"{words} ({npz.name})", what=npz.name)
        except ValueError as e:
            unset = f"unset ${DATA_ENV}" if origin.startswith("$") else "pass data_dir=None (and no $STNLIB_DATA)"
            raise ValueError(
                f"cannot use {npz} (found through {origin}): {e}. Re-download the dataset or re-copy "
                f"{npz.name} from a good copy, or {unset} to let torchvision download "
                f"{_SPEC[name].title} instead."
            ) from None
    if (folder / layout).is_dir():
        return _from_torchvision(name, folder, download=False, source=f"{words} (torchvision's layout, {layout})")
    state = "does not exist" if not folder.exists() else "holds neither"
    raise FileNotFoundError(
        f"the data folder {folder} (from {origin}) {state}: expected {npz.name} (Keras layout: "
        f"{', '.join(_NPZ_KEYS)}) or torchvision's layout ({folder / layout})"
    )


def load_dataset(
    name: str,
    *,
    profile: str | Profile = "full",
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    limit_train: int | None = None,
    limit_test: int | None = None,
) -> ImageData:
    """``"mnist"`` or ``"cifar10"`` from the first source that has it (module docstring); ``limit_*``: the first N
    images. Raises ``ValueError`` (unknown name or profile, damaged file), ``FileNotFoundError`` (a named folder
    without the data), :class:`DatasetUnavailable` (full profile, no data)."""
    checks.check_choice(name, "name", DATASETS)
    checks.check_type(profile, "profile", str | Profile, "a profile name ('quick' or 'full') or a Profile")
    profile_name = profile.name if isinstance(profile, Profile) else checks.check_choice(profile, "profile", PROFILES)
    check_bool(download, "download")
    limit_train, limit_test = _limit(limit_train, "limit_train"), _limit(limit_test, "limit_test")
    folder, origin = env_data_dir(), f"${DATA_ENV}"
    if data_dir is not None:
        folder, origin = checks.check_path(data_dir, "data_dir"), "data_dir="
    if folder is not None:
        return _from_folder(name, folder.expanduser(), origin).subset(limit_train, limit_test)
    root = REPO_ROOT / "data"
    try:
        data = _from_torchvision(name, root, download=download, source=f"torchvision download ({root.name}/)")
    except Exception as e:  # no internet, a dead mirror, a half-written file: all mean "try the next source"
        if profile_name != "quick":
            raise DatasetUnavailable(
                f"{_SPEC[name].title} is not available: no data folder was given and torchvision could not "
                f"{'download it into' if download else 'find it in'} {root} ({type(e).__name__}: {e}).\nPass data_dir="
                f"... or set ${DATA_ENV} to a folder holding {name}.npz (Keras layout) or torchvision's ("
                f"{_SPEC[name].layout}); or download=True (needs internet); or, for a smoke test on the bundled "
                'samples (numbers mean nothing), the quick profile (PROFILE = "quick" or STNLIB_PROFILE=quick).'
            ) from e
        s = load_samples(name)  # quick profile: the bundled samples, even positions train, odd test
        x, y = (s.images * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy(), s.labels.numpy()
        arrays = dict(x_train=x[0::2], y_train=y[0::2], x_test=x[1::2], y_test=y[1::2])
        data = _assemble(name, arrays, source="bundled samples (assets/samples)", what="the bundled samples")
        data.info = dataclasses.replace(data.info, remark=_SAMPLES_REMARK)
    return data.subset(limit_train, limit_test)
