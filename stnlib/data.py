"""MNIST and CIFAR-10 as uint8 tensors, fast batched loaders, and distorted MNIST.

>>> data = load_dataset("mnist", profile=profile)        # ImageData; data.info.describe() says where it came from
>>> train_loader, test_loader = data.loaders(batch_size=128, seed=0)
>>> rts = load_distorted_mnist("rts", profile=profile)    # 42x42 rotated/scaled/translated digits

Where the data comes from (:func:`load_dataset`, first match wins)
-----------------------------------------------------------------
1. **A folder you name**: ``data_dir=...``, else ``$STNLIB_DATA`` (if set and non-empty).
   It holds either Keras-style ``mnist.npz`` / ``cifar10.npz`` (``x_train``, ``y_train``,
   ``x_test``, ``y_test``, uint8, HWC, MNIST without a channel axis, optional bool
   ``test_is_exact``) or torchvision's own layout (``MNIST/raw/...``,
   ``cifar-10-batches-py/``). A named folder is never skipped: if it holds neither,
   :class:`FileNotFoundError`.
2. **torchvision** into ``<repo>/data`` (downloads if ``download=True`` and online).
3. **The bundled samples** (``assets/samples``, 500 real *test* images), only in the
   ``"quick"`` profile: even positions train, odd positions test (250 / 250). Numbers
   measured on them only show that the code runs. In the ``"full"`` profile this step
   raises :class:`DatasetUnavailable`, whose message lists every way to get the data.

Conventions
-----------
* Images stay **uint8** ``(N, C, H, W)`` in memory (MNIST ``C=1``, CIFAR-10 ``C=3``);
  labels are int64 ``(N,)`` in ``0..9``.
* A model sees ``float = uint8 / 255``, then ``(float - mean) / std`` per channel
  (:data:`MNIST_MEAN`, :data:`CIFAR10_STD`, ...). Augmentation ``transform``\\ s run on
  the ``[0, 1]`` batch **before** normalization. Black after normalization is
  :func:`black_value` (``-mean / std``): use it as the ``fill`` of a spatial transformer.
* Loaders are batched: the sampler yields whole index lists and
  :class:`ArrayDataset` converts a batch with one indexing operation (no per-image
  Python loop, no PIL).

Distorted MNIST (:func:`distort_mnist`, deterministic from a seed)
------------------------------------------------------------------
* ``"rts"`` (Jaderberg et al., 2015): the 28x28 digit, centred on a
  ``RTS_CANVAS = 42`` pixel square canvas, is rotated by ``U[-45, 45]`` degrees
  (counterclockwise on screen), scaled by ``U[0.7, 1.2]`` and shifted by
  ``U[-m, m]`` pixels on each axis with ``m = (42 - 28 * scale) / 2``, so the scaled
  (unrotated) 28x28 box stays inside the canvas. Bilinear resampling, rounded to uint8.
* ``"cluttered"``: the unchanged digit at a uniformly random integer position fully
  inside a ``CLUTTER_CANVAS = 60`` pixel canvas, plus ``CLUTTER_PIECES = 4`` random
  ``CLUTTER_SIZE = 8`` pixel crops of *other* images, each pasted at a uniformly random
  position (fully inside) and combined with ``max``.
* The recorded parameters describe the content's visible motion, as in
  :func:`stnlib.affine.build_theta`: ``rotation`` (degrees), ``scale``, and ``tx``/``ty``,
  the digit centre's offset from the canvas centre in normalized units (right / down).
  A perfect spatial transformer would undo exactly this.
* Distorted sets keep MNIST's mean and std (not recomputed for the larger, mostly black
  canvas), so fills and normalized values stay comparable across the MNIST notebooks.
* The CIFAR-10 counterpart (photos placed off-centre on a 64x64 canvas) is
  :func:`stnlib.offcentre.load_offcentre_cifar`; it returns the same :class:`Distorted` records.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler

from .affine import build_theta, pixels_to_normalized, warp
from .env import DATA_ENV, PROFILES, REPO_ROOT, Profile
from .env import data_dir as env_data_dir
from .samples import load_samples

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "CLUTTER_CANVAS",
    "CLUTTER_PIECES",
    "CLUTTER_SIZE",
    "DATASETS",
    "DIGIT_SIZE",
    "DISTORTIONS",
    "MNIST_CLASSES",
    "MNIST_MEAN",
    "MNIST_STD",
    "RTS_CANVAS",
    "RTS_ROTATION",
    "RTS_SCALE",
    "TEST_SEED_OFFSET",
    "ArrayDataset",
    "DataInfo",
    "DatasetUnavailable",
    "Distorted",
    "ImageData",
    "black_value",
    "distort_mnist",
    "distorted_set",
    "load_dataset",
    "load_distorted_mnist",
    "make_loader",
]

DATASETS: tuple[str, ...] = ("mnist", "cifar10")

MNIST_MEAN: tuple[float, ...] = (0.1307,)
MNIST_STD: tuple[float, ...] = (0.3081,)
CIFAR10_MEAN: tuple[float, ...] = (0.4914, 0.4822, 0.4465)
CIFAR10_STD: tuple[float, ...] = (0.2470, 0.2435, 0.2616)

MNIST_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))
CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

DISTORTIONS: tuple[str, ...] = ("rts", "cluttered")
DIGIT_SIZE = 28
RTS_CANVAS = 42
RTS_ROTATION = 45.0  # degrees, uniform in [-RTS_ROTATION, RTS_ROTATION]
RTS_SCALE: tuple[float, float] = (0.7, 1.2)
CLUTTER_CANVAS = 60
CLUTTER_PIECES = 4
CLUTTER_SIZE = 8
#: The distorted test set uses ``seed + TEST_SEED_OFFSET``: fixed, and never the train seed.
TEST_SEED_OFFSET = 1_000_003
_CHUNK = 8192

_SPEC: dict[str, dict[str, Any]] = {
    "mnist": dict(title="MNIST", shape=(1, 28, 28), mean=MNIST_MEAN, std=MNIST_STD, classes=MNIST_CLASSES, tv="MNIST"),
    "cifar10": dict(
        title="CIFAR-10",
        shape=(3, 32, 32),
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
        classes=CIFAR10_CLASSES,
        tv="CIFAR10",
    ),
}
#: How a distortion suffix reads in titles (default: upper case, ``"-rts"`` -> ``"-RTS"``).
_SUFFIX_TITLES = {"-offcentre": " off-centre"}
_TV_LAYOUT = {"mnist": "MNIST/raw/", "cifar10": "cifar-10-batches-py/"}
_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


class DatasetUnavailable(RuntimeError):
    """The real dataset could not be found or downloaded (the message says how to provide it)."""


def _check_name(name: object) -> str:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    return str(name)


def _base_name(name: str) -> str:
    """``"mnist-rts"`` -> ``"mnist"``, ``"cifar10-offcentre"`` -> ``"cifar10"``: distorted sets keep the base stats."""
    base = name.split("-", 1)[0]
    return _check_name(base if base in DATASETS else name)


def black_value(name: str) -> tuple[float, ...]:
    """Black (uint8 0) after normalization, one value per channel: ``-mean / std``.

    Accepts the names of :data:`DATASETS` and of distorted sets (``"mnist-rts"``, ``"cifar10-offcentre"``, ...).
    """
    spec = _SPEC[_base_name(name)]
    return tuple(-m / s for m, s in zip(spec["mean"], spec["std"]))


def _title(name: str) -> str:
    """``"mnist-rts"`` -> ``"MNIST-RTS"``, ``"cifar10-offcentre"`` -> ``"CIFAR-10 off-centre"``."""
    base = _base_name(name)
    suffix = name[len(base) :]
    return _SPEC[base]["title"] + _SUFFIX_TITLES.get(suffix, suffix.upper())


def _display_path(path: Path) -> str:
    """A path as the notebooks show it: relative to the repository (or its parent) when inside."""
    path = Path(path).resolve()
    for root, prefix in ((REPO_ROOT, ""), (REPO_ROOT.parent, "../")):
        try:
            rel = path.relative_to(root)
        except ValueError:
            continue
        return prefix + (rel.as_posix() if rel.parts else ".")
    return str(path)


# ----------------------------------------------------------------- containers
@dataclass(frozen=True)
class DataInfo:
    """Where a dataset came from and how much of it is exact.

    ``n_test_exact`` counts test images that are bit-exact copies of the originals
    (CIFAR-10 from ``../shared/data``: the first 1,000); ``exact`` is ``True`` when all are.
    """

    dataset: str
    source: str
    n_train: int
    n_test: int
    n_test_exact: int
    exact: bool
    note: str = ""

    def describe(self) -> str:
        """One line, e.g. ``"MNIST from folder ../shared/data (mnist.npz): 60,000 train / 10,000 test (all exact)"``."""
        exact = "all exact" if self.exact else f"{self.n_test_exact:,} exact"
        line = f"{_title(self.dataset)} from {self.source}: {self.n_train:,} train / {self.n_test:,} test ({exact})"
        return f"{line}; {self.note}" if self.note else line

    def as_dict(self) -> dict[str, Any]:
        """Plain fields (JSON-ready) for ``reports/metrics.json``."""
        return dataclasses.asdict(self)


@dataclass
class Distorted:
    """Distorted images and the visible motion applied to each.

    ``images``: uint8 ``(N, C, canvas, canvas)``. ``rotation`` (degrees, counterclockwise
    on screen), ``scale``, ``tx``, ``ty`` (normalized units, right / down: the object
    centre's offset from the canvas centre): float32 ``(N,)``. ``"cluttered"`` records
    ``rotation = 0`` and ``scale = 1``. ``object_size``: side in pixels of the undistorted
    object (28 for MNIST digits, 32 for off-centre CIFAR-10 photos, see
    :mod:`stnlib.offcentre`); its box on the canvas is ``object_size * scale`` wide.
    """

    images: Tensor
    rotation: Tensor
    scale: Tensor
    tx: Tensor
    ty: Tensor
    kind: str
    canvas: int
    seed: int
    object_size: int = DIGIT_SIZE

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def head(self, n: int | None) -> Distorted:
        """The first ``n`` items (all if ``None``)."""
        return self if n is None else self.select(slice(0, n))

    def select(self, index: slice | Tensor) -> Distorted:
        """The items at ``index`` (a slice, or an integer tensor of positions), with their parameters."""
        parts = {k: getattr(self, k)[index] for k in ("images", "rotation", "scale", "tx", "ty")}
        return dataclasses.replace(self, **parts)


@dataclass
class ImageData:
    """A train/test split in memory.

    ``*_images``: uint8 ``(N, C, H, W)``; ``*_labels``: int64 ``(N,)`` in ``0..9``;
    ``test_is_exact``: bool ``(N_test,)``. ``mean``/``std``: per-channel normalization
    (see the module docstring). ``test_params`` holds the distortion of the test set
    for distorted MNIST and off-centre CIFAR-10 (``None`` otherwise).
    """

    train_images: Tensor
    train_labels: Tensor
    test_images: Tensor
    test_labels: Tensor
    test_is_exact: Tensor
    classes: tuple[str, ...]
    info: DataInfo
    mean: tuple[float, ...]
    std: tuple[float, ...]
    test_params: Distorted | None = None

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            x, y = getattr(self, f"{split}_images"), getattr(self, f"{split}_labels")
            if x.dtype != torch.uint8 or x.dim() != 4:
                raise ValueError(f"{split}_images must be uint8 (N, C, H, W), got {x.dtype} {tuple(x.shape)}")
            if y.dtype != torch.int64 or y.shape != (x.shape[0],):
                raise ValueError(f"{split}_labels must be int64 ({x.shape[0]},), got {y.dtype} {tuple(y.shape)}")
        if self.test_is_exact.dtype != torch.bool or self.test_is_exact.shape != self.test_labels.shape:
            raise ValueError(f"test_is_exact must be bool ({len(self.test_labels)},)")
        if len(self.mean) != self.train_images.shape[1] or len(self.std) != self.train_images.shape[1]:
            raise ValueError(f"mean/std need one value per channel ({self.train_images.shape[1]})")

    @property
    def name(self) -> str:
        return self.info.dataset

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)``."""
        c, h, w = self.train_images.shape[1:]
        return (int(c), int(h), int(w))

    @property
    def black(self) -> tuple[float, ...]:
        """``-mean / std``: the normalized value of a black pixel (a spatial transformer's fill)."""
        return tuple(-m / s for m, s in zip(self.mean, self.std))

    def subset(self, limit_train: int | None = None, limit_test: int | None = None) -> ImageData:
        """The first ``limit_train`` / ``limit_test`` images (``None``: all); counts in ``info`` follow."""
        n_train, n_test = _limit(limit_train, len(self.train_labels)), _limit(limit_test, len(self.test_labels))
        exact = self.test_is_exact[:n_test]
        n_exact = int(exact.sum())
        info = dataclasses.replace(
            self.info, n_train=n_train, n_test=n_test, n_test_exact=n_exact, exact=n_exact == n_test
        )
        return dataclasses.replace(
            self,
            train_images=self.train_images[:n_train],
            train_labels=self.train_labels[:n_train],
            test_images=self.test_images[:n_test],
            test_labels=self.test_labels[:n_test],
            test_is_exact=exact,
            info=info,
            test_params=None if self.test_params is None else self.test_params.head(n_test),
        )

    def validation_split(self, n_val: int) -> ImageData:
        """Hold out the last ``n_val`` *training* images as the evaluation set, for choosing hyperparameters.

        The test set is dropped entirely, so tuning on the result can never peek at it.
        """
        n = len(self.train_labels)
        if not 0 < n_val < n:
            raise ValueError(f"n_val must be in (0, {n}), got {n_val}")
        info = dataclasses.replace(
            self.info,
            n_train=n - n_val,
            n_test=n_val,
            n_test_exact=n_val,
            exact=True,
            note="; ".join(
                n for n in (self.info.note, f"validation split: last {n_val:,} training images (test set unused)") if n
            ),
        )
        return dataclasses.replace(
            self,
            train_images=self.train_images[: n - n_val],
            train_labels=self.train_labels[: n - n_val],
            test_images=self.train_images[n - n_val :],
            test_labels=self.train_labels[n - n_val :],
            test_is_exact=torch.ones(n_val, dtype=torch.bool),
            info=info,
            test_params=None,
        )

    def loaders(
        self,
        batch_size: int,
        test_batch_size: int | None = None,
        transform: Callable[[Tensor], Tensor] | None = None,
        seed: int = 0,
        num_workers: int = 0,
    ) -> tuple[DataLoader, DataLoader]:
        """``(train_loader, test_loader)`` from :func:`make_loader`, normalized with this set's mean/std.

        The train loader shuffles (reproducibly for ``seed``) and applies ``transform``;
        the test loader keeps the order, has no transform and uses ``test_batch_size``
        (default: ``batch_size``).
        """
        common = dict(mean=self.mean, std=self.std, num_workers=num_workers)
        train = make_loader(
            self.train_images,
            self.train_labels,
            batch_size=batch_size,
            shuffle=True,
            transform=transform,
            seed=seed,
            **common,
        )
        test = make_loader(
            self.test_images, self.test_labels, batch_size=test_batch_size or batch_size, shuffle=False, **common
        )
        return train, test


def _limit(limit: int | None, n: int) -> int:
    if limit is None:
        return n
    if isinstance(limit, bool) or not isinstance(limit, int | np.integer) or limit < 0:
        raise ValueError(f"limits must be None or a non-negative int, got {limit!r}")
    return min(int(limit), n)


# -------------------------------------------------------------------- loading
def _as_images(name: str, x: Any, what: str) -> Tensor:
    """Keras/torchvision arrays (``(N, H, W)`` or ``(N, H, W, C)``) -> uint8 ``(N, C, H, W)``."""
    t = torch.as_tensor(np.asarray(x))
    if t.dtype != torch.uint8:
        raise ValueError(f"{what} must be uint8, got {t.dtype}")
    c, h, w = _SPEC[name]["shape"]
    if t.dim() == 3 and c == 1:
        t = t.unsqueeze(-1)
    if t.dim() != 4 or tuple(t.shape[1:]) != (h, w, c):
        raise ValueError(f"{what} must have shape (N, {h}, {w}{', ' + str(c) if c > 1 else ''}), got {tuple(t.shape)}")
    return t.permute(0, 3, 1, 2).contiguous()


def _as_labels(y: Any, n: int, what: str) -> Tensor:
    a = np.asarray(y)
    if a.ndim == 2 and a.shape[1] == 1:  # Keras CIFAR-10 stores (N, 1)
        a = a[:, 0]
    if a.ndim != 1 or len(a) != n:
        raise ValueError(f"{what} must have shape ({n},) to match the images, got {a.shape}")
    if a.dtype.kind not in "iu":
        raise ValueError(f"{what} must hold integers, got dtype {a.dtype}")
    if n and (a.min() < 0 or a.max() > 9):
        raise ValueError(f"{what} must lie in 0..9, got values in [{a.min()}, {a.max()}]")
    return torch.from_numpy(a.astype(np.int64))


def _assemble(
    name: str, arrays: dict[str, Any], test_is_exact: Any, *, source: str, what: str, note: str = ""
) -> ImageData:
    spec = _SPEC[name]
    x_train = _as_images(name, arrays["x_train"], f"x_train in {what}")
    if len(x_train) == 0:
        raise ValueError(f"x_train in {what} holds no images: nothing to train on (is the file complete?)")
    x_test = _as_images(name, arrays["x_test"], f"x_test in {what}")
    y_train = _as_labels(arrays["y_train"], len(x_train), f"y_train in {what}")
    y_test = _as_labels(arrays["y_test"], len(x_test), f"y_test in {what}")
    if test_is_exact is None:
        exact = torch.ones(len(x_test), dtype=torch.bool)
    else:
        exact = torch.as_tensor(np.asarray(test_is_exact)).reshape(-1)
        if exact.dtype != torch.bool or len(exact) != len(x_test):
            raise ValueError(f"test_is_exact in {what} must be bool ({len(x_test)},), got {exact.dtype} {exact.shape}")
    n_exact = int(exact.sum())
    if n_exact < len(exact) and not note:
        first = "the first " if bool(exact[:n_exact].all()) else ""
        note = (
            f"only {first}{n_exact:,} of {len(exact):,} test images are exact copies (test_is_exact); "
            "report accuracy on those too"
        )
    info = DataInfo(name, source, len(x_train), len(x_test), n_exact, n_exact == len(exact), note)
    return ImageData(x_train, y_train, x_test, y_test, exact, spec["classes"], info, spec["mean"], spec["std"])


def _from_npz(name: str, path: Path) -> ImageData:
    with np.load(path, allow_pickle=False) as d:
        missing = [k for k in _NPZ_KEYS if k not in d.files]
        if missing:
            raise ValueError(
                f"{path} is missing the key(s) {', '.join(missing)}; a Keras-style file needs {', '.join(_NPZ_KEYS)}"
                f" (found {', '.join(d.files) or 'none'})"
            )
        arrays = {k: d[k] for k in _NPZ_KEYS}
        exact = d["test_is_exact"] if "test_is_exact" in d.files else None
    return _assemble(name, arrays, exact, source=f"folder {_display_path(path.parent)} ({path.name})", what=str(path))


def _from_torchvision(name: str, root: Path, *, download: bool, source: str) -> ImageData:
    """Load both splits with ``torchvision.datasets.<MNIST|CIFAR10>`` (looked up at call time)."""
    import torchvision

    cls = getattr(torchvision.datasets, _SPEC[name]["tv"])
    train = cls(str(root), train=True, download=download)
    test = cls(str(root), train=False, download=download)
    arrays = dict(x_train=train.data, y_train=train.targets, x_test=test.data, y_test=test.targets)
    arrays = {k: v.numpy() if isinstance(v, Tensor) else v for k, v in arrays.items()}
    return _assemble(name, arrays, None, source=source, what=f"torchvision's {cls.__name__} in {root}")


def _from_folder(name: str, folder: Path, origin: str) -> ImageData:
    npz = folder / f"{name}.npz"
    if npz.is_file():
        return _from_npz(name, npz)
    if (folder / _TV_LAYOUT[name]).is_dir():
        return _from_torchvision(
            name, folder, download=False, source=f"torchvision folder {_display_path(folder)} ({_TV_LAYOUT[name]})"
        )
    state = "does not exist" if not folder.exists() else "holds neither"
    raise FileNotFoundError(
        f"the data folder {folder} (from {origin}) {state}: expected {npz.name} (Keras layout: "
        f"{', '.join(_NPZ_KEYS)}) or torchvision's layout ({folder / _TV_LAYOUT[name]})"
    )


def _from_samples(name: str) -> ImageData:
    s = load_samples(name)
    x = (s.images * 255).round().to(torch.uint8)
    spec = _SPEC[name]
    note = (
        "quick profile only: the bundled samples are real TEST images (even positions train, odd test), "
        "so the numbers only show that the code runs"
    )
    info = DataInfo(name, "bundled samples (assets/samples)", len(x[0::2]), len(x[1::2]), len(x[1::2]), True, note)
    return ImageData(
        x[0::2].contiguous(),
        s.labels[0::2].clone(),
        x[1::2].contiguous(),
        s.labels[1::2].clone(),
        torch.ones(len(x[1::2]), dtype=torch.bool),
        tuple(s.classes),
        info,
        spec["mean"],
        spec["std"],
    )


def _unavailable_message(name: str, root: Path, download: bool, error: str) -> str:
    title = _SPEC[name]["title"]
    tried = "download it into" if download else "find it in (download=False)"
    return (
        f"{title} is not available: no data folder was given and torchvision could not {tried} {root}.\n"
        "Provide the real data in one of these ways:\n"
        f"  1. pass data_dir=... or set ${DATA_ENV} to a folder holding {name}.npz (Keras layout: "
        f"{', '.join(_NPZ_KEYS)}, uint8) or torchvision's layout ({_TV_LAYOUT[name]});\n"
        f"  2. let torchvision download it into {root} (download=True; needs internet). The attempt failed with:\n"
        f"       {error.strip().replace(chr(10), chr(10) + '       ')}\n"
        '  3. or use the quick profile (PROFILE = "quick" or STNLIB_PROFILE=quick) for a smoke test '
        "on the bundled samples in assets/samples (the numbers then mean nothing)."
    )


def _profile_name(profile: str | Profile) -> str:
    name = profile.name if isinstance(profile, Profile) else profile
    if name not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
    return name


def load_dataset(
    name: str,
    *,
    profile: str | Profile = "full",
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    limit_train: int | None = None,
    limit_test: int | None = None,
) -> ImageData:
    """Load ``name`` (``"mnist"`` or ``"cifar10"``) from the first source that has it (module docstring).

    ``data_dir`` (else ``$STNLIB_DATA``) names a folder that must hold the data. Then
    torchvision in ``<repo>/data``; then, in the quick profile only, the bundled samples.
    ``limit_train`` / ``limit_test`` keep the first N images. Raises ``ValueError`` for an
    unknown name or a malformed file, ``FileNotFoundError`` for a named folder without the
    data, :class:`DatasetUnavailable` when the full profile has no real data.
    """
    name = _check_name(name)
    profile_name = _profile_name(profile)
    env = str(env_data_dir() or "")
    if data_dir is not None:
        data = _from_folder(name, Path(data_dir).expanduser(), "data_dir")
    elif env:
        data = _from_folder(name, Path(env).expanduser(), f"${DATA_ENV}")
    else:
        root = REPO_ROOT / "data"
        try:
            data = _from_torchvision(
                name, root, download=download, source=f"torchvision download ({_display_path(root)}/)"
            )
        except Exception as e:  # no internet, a dead mirror, a half-written file: all mean "try the next source"
            if profile_name != "quick":
                raise DatasetUnavailable(_unavailable_message(name, root, download, f"{type(e).__name__}: {e}")) from e
            data = _from_samples(name)
    return data.subset(limit_train, limit_test)


# -------------------------------------------------------------------- loaders
class ArrayDataset(Dataset):
    """uint8 images ``(N, C, H, W)`` and labels ``(N,)`` served as normalized float batches.

    ``dataset[i]`` gives ``((C, H, W), label)``; ``dataset[[i, j, ...]]`` (a list, range,
    slice, numpy array or 1-D tensor of indices) gives ``((B, C, H, W), (B,))`` in one
    vectorised step. ``transform`` takes a float batch ``(B, C, H, W)`` in ``[0, 1]`` and
    returns one of the same layout; it runs before ``(x - mean) / std``.
    """

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        *,
        mean: Sequence[float],
        std: Sequence[float],
        transform: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        if not isinstance(images, Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"images must be a uint8 tensor (N, C, H, W), got {getattr(images, 'shape', images)!r}")
        labels = torch.as_tensor(labels, dtype=torch.int64)
        if labels.shape != (images.shape[0],):
            raise ValueError(f"labels must have shape ({images.shape[0]},), got {tuple(labels.shape)}")
        c = images.shape[1]
        self.mean = torch.as_tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1)
        self.std = torch.as_tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1)
        if self.mean.numel() != c or self.std.numel() != c:
            raise ValueError(f"mean and std need {c} values (one per channel), got {len(mean)} and {len(std)}")
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int | slice | Sequence[int] | np.ndarray | Tensor) -> tuple[Tensor, Tensor]:
        single = isinstance(index, int | np.integer) or (isinstance(index, Tensor) and index.dim() == 0)
        if isinstance(index, slice):
            index = range(*index.indices(len(self)))
        idx = torch.as_tensor(np.asarray(index) if not isinstance(index, Tensor) else index, dtype=torch.int64)
        idx = idx.reshape(-1)
        x = self.images[idx].float().div_(255.0)
        if self.transform is not None:
            x = self.transform(x)
        x = (x - self.mean) / self.std
        y = self.labels[idx]
        return (x[0], y[0]) if single else (x, y)


def make_loader(
    images: Tensor,
    labels: Tensor,
    *,
    batch_size: int,
    shuffle: bool,
    mean: Sequence[float],
    std: Sequence[float],
    transform: Callable[[Tensor], Tensor] | None = None,
    seed: int = 0,
    num_workers: int = 0,
    drop_last: bool = False,
) -> DataLoader:
    """A :class:`DataLoader` of normalized float batches ``((B, C, H, W), (B,))``.

    A :class:`BatchSampler` hands :class:`ArrayDataset` whole index lists
    (``batch_size=None`` turns off per-item collation), so each batch is one indexing
    and one conversion. With ``shuffle`` the order comes from a generator seeded with
    ``seed``: a new loader with the same seed repeats the same epochs; each epoch is a
    fresh permutation. ``num_workers > 0`` keeps the workers alive between epochs
    (``transform`` must then be picklable on platforms that spawn).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    dataset = ArrayDataset(images, labels, mean=mean, std=std, transform=transform)
    order = (
        RandomSampler(dataset, generator=torch.Generator().manual_seed(seed)) if shuffle else SequentialSampler(dataset)
    )
    return DataLoader(
        dataset,
        batch_size=None,
        sampler=BatchSampler(order, batch_size=batch_size, drop_last=drop_last),
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        generator=torch.Generator().manual_seed(seed + 1),  # seeds the workers' RNGs (random transforms)
    )


# ------------------------------------------------------------ distorted MNIST
def _check_digits(images: Tensor, what: str) -> Tensor:
    if not isinstance(images, Tensor) or images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 1:
        raise ValueError(f"{what} must be a uint8 tensor (N, 1, H, W), got {getattr(images, 'shape', images)!r}")
    return images


def _uniform(generator: torch.Generator, n: int, k: int) -> Tensor:
    """``(n, k)`` float64 uniforms in ``[0, 1)``; row ``i`` does not depend on ``n`` (prefixes are stable)."""
    return torch.rand(n, k, generator=generator, dtype=torch.float64)


def _randint(u: Tensor, high: int) -> Tensor:
    """Integers uniform in ``0..high-1`` from uniforms ``u`` in ``[0, 1)``."""
    return (u * high).long().clamp_(max=high - 1)


def _distort_rts(images: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    n, size, pad = images.shape[0], RTS_CANVAS, (RTS_CANVAS - DIGIT_SIZE) // 2
    u = _uniform(generator, n, 4).float()
    rotation = (2 * u[:, 0] - 1) * RTS_ROTATION
    scale = RTS_SCALE[0] + (RTS_SCALE[1] - RTS_SCALE[0]) * u[:, 1]
    margin = (size - DIGIT_SIZE * scale) / 2  # pixels the scaled box may move each way
    tx = pixels_to_normalized((2 * u[:, 2] - 1) * margin, size)
    ty = pixels_to_normalized((2 * u[:, 3] - 1) * margin, size)
    out = torch.empty(n, 1, size, size, dtype=torch.uint8)
    for start in range(0, n, _CHUNK):
        sl = slice(start, start + _CHUNK)
        canvas = torch.nn.functional.pad(images[sl].float(), (pad, pad, pad, pad))
        theta = build_theta(rotation=rotation[sl], scale_x=scale[sl], scale_y=scale[sl], tx=tx[sl], ty=ty[sl])
        out[sl] = warp(canvas, theta).round_().clamp_(0, 255).to(torch.uint8)
    return out, rotation, scale, tx, ty


def _distort_cluttered(
    images: Tensor, clutter: Tensor, generator: torch.Generator
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    n, size, piece = images.shape[0], CLUTTER_CANVAS, CLUTTER_SIZE
    m, (h, w) = clutter.shape[0], clutter.shape[2:]
    u = _uniform(generator, n, 2 + 5 * CLUTTER_PIECES)
    top, left = _randint(u[:, 0], size - DIGIT_SIZE + 1), _randint(u[:, 1], size - DIGIT_SIZE + 1)
    out = torch.zeros(n, size, size, dtype=torch.uint8)
    rows = torch.arange(n)[:, None, None]
    digit = torch.arange(DIGIT_SIZE)
    out[rows, top[:, None, None] + digit[:, None], left[:, None, None] + digit] = images[:, 0]
    own = torch.arange(n)
    small = torch.arange(piece)
    for k in range(CLUTTER_PIECES):
        uk = u[:, 2 + 5 * k : 7 + 5 * k]
        if m > 1:  # skip the digit's own index: clutter comes from *other* images
            src = _randint(uk[:, 0], m - 1)
            src = src + (src >= own).long()
        else:
            src = torch.zeros(n, dtype=torch.long)
        r0, c0 = _randint(uk[:, 1], h - piece + 1), _randint(uk[:, 2], w - piece + 1)
        crop = clutter[:, 0][src[:, None, None], r0[:, None, None] + small[:, None], c0[:, None, None] + small]
        pr, pc = _randint(uk[:, 3], size - piece + 1), _randint(uk[:, 4], size - piece + 1)
        at = (rows, pr[:, None, None] + small[:, None], pc[:, None, None] + small)
        out[at] = torch.maximum(out[at], crop)
    half = (size - DIGIT_SIZE) / 2  # offset of a centred digit's top-left corner
    tx = pixels_to_normalized(left.float() - half, size)
    ty = pixels_to_normalized(top.float() - half, size)
    return out.unsqueeze(1), torch.zeros(n), torch.ones(n), tx, ty


def distort_mnist(
    images: Tensor,
    kind: Literal["rts", "cluttered"],
    *,
    seed: int,
    clutter_source: Tensor | None = None,
) -> Distorted:
    """Distort 28x28 digits ``images`` (uint8 ``(N, 1, 28, 28)``) as described in the module docstring.

    Deterministic for a ``seed``; item ``i`` depends only on ``seed``, ``images[i]`` and the
    clutter source, so ``distort_mnist(x[:n], ..., clutter_source=x)`` equals the first
    ``n`` items of ``distort_mnist(x, ...)``. For ``"cluttered"``, image ``i`` takes its
    pieces from ``clutter_source[j]`` (uint8 ``(M, 1, H, W)``, default ``images``) with
    ``j != i``. Vectorised; RTS is warped in chunks of 8192.
    """
    if kind not in DISTORTIONS:
        raise ValueError(f"unknown distortion {kind!r}; expected one of {', '.join(DISTORTIONS)}")
    _check_digits(images, "images")
    if tuple(images.shape[2:]) != (DIGIT_SIZE, DIGIT_SIZE):
        raise ValueError(f"images must be {DIGIT_SIZE}x{DIGIT_SIZE} digits, got {tuple(images.shape[2:])}")
    generator = torch.Generator().manual_seed(int(seed))
    if kind == "rts":
        out, rotation, scale, tx, ty = _distort_rts(images, generator)
        canvas = RTS_CANVAS
    else:
        clutter = _check_digits(images if clutter_source is None else clutter_source, "clutter_source")
        if len(clutter) == 0 or min(clutter.shape[2:]) < CLUTTER_SIZE:
            raise ValueError(f"clutter_source needs images of at least {CLUTTER_SIZE}x{CLUTTER_SIZE}")
        out, rotation, scale, tx, ty = _distort_cluttered(images, clutter, generator)
        canvas = CLUTTER_CANVAS
    return Distorted(out, rotation, scale, tx, ty, kind, canvas, int(seed))


def load_distorted_mnist(
    kind: Literal["rts", "cluttered"],
    *,
    profile: str | Profile = "full",
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    limit_train: int | None = None,
    limit_test: int | None = None,
    seed: int = 0,
) -> ImageData:
    """MNIST from :func:`load_dataset`, distorted on the fly (nothing is written to disk).

    The train set uses ``seed``; the test set always uses ``seed + TEST_SEED_OFFSET``.
    Clutter comes from the same split's full image set, and limits take prefixes of
    the full distorted sets (a limited test set is the start of the full one).
    ``test_params`` holds the test set's applied motion. The dataset is named
    ``"mnist-rts"`` / ``"mnist-cluttered"`` and keeps MNIST's mean/std.
    """
    if kind not in DISTORTIONS:
        raise ValueError(f"unknown distortion {kind!r}; expected one of {', '.join(DISTORTIONS)}")
    base = load_dataset("mnist", profile=profile, data_dir=data_dir, download=download)
    if kind == "rts":
        how = f"rotated ±{RTS_ROTATION:g}°, scaled {RTS_SCALE[0]:g}-{RTS_SCALE[1]:g}, shifted"
        how += f" on a {RTS_CANVAS}x{RTS_CANVAS} canvas"
    else:
        how = f"digit on a {CLUTTER_CANVAS}x{CLUTTER_CANVAS} canvas"
        how += f" with {CLUTTER_PIECES} clutter pieces of {CLUTTER_SIZE}x{CLUTTER_SIZE}"

    def distort(images: Tensor, seed: int, source: Tensor) -> Distorted:
        return distort_mnist(images, kind, seed=seed, clutter_source=source)

    return distorted_set(base, distort, name=f"mnist-{kind}", how=how, seed=seed, limits=(limit_train, limit_test))


def distorted_set(
    base: ImageData,
    distort: Callable[[Tensor, int, Tensor], Distorted],
    *,
    name: str,
    how: str,
    seed: int,
    limits: tuple[int | None, int | None] = (None, None),
) -> ImageData:
    """``base`` with both splits distorted on the fly by ``distort(images, seed, source) -> Distorted``.

    The train set uses ``seed``, the test set ``seed + TEST_SEED_OFFSET``; ``source`` is the
    split's full image set (clutter, backgrounds), and ``limits`` (train, test) take prefixes,
    so a limited test set is the start of the full one. The result is named ``name``, keeps
    ``base``'s mean/std, notes ``how`` and the seeds, and holds the test set's distortion in
    ``test_params``.
    """
    n_train, n_test = _limit(limits[0], len(base.train_labels)), _limit(limits[1], len(base.test_labels))
    train = distort(base.train_images[:n_train], seed, base.train_images)
    test_seed = seed + TEST_SEED_OFFSET
    test = distort(base.test_images[:n_test], test_seed, base.test_images)
    note = f"{how} (train seed {seed}, test seed {test_seed})"
    if base.info.note:
        note = f"{note}; {base.info.note}"
    data = base.subset(n_train, n_test)
    info = dataclasses.replace(data.info, dataset=name, note=note)
    return dataclasses.replace(data, train_images=train.images, test_images=test.images, info=info, test_params=test)
