"""Every bad input to a public function gets a clear error at stnlib's boundary; valid edge cases still work.

The table :data:`BAD_INPUTS` holds one list per module (``BAD_AFFINE``, ``BAD_MODELS``, ...): each row is a
:class:`Bad` call that must raise ``error`` (``ValueError`` for a bad value, ``TypeError`` for a wrong type, or a
documented stnlib class) from a frame inside ``stnlib/`` (not from inside torch or numpy), with ``words`` (the
argument's name at least) in the message. To cover another module, add ``BAD_<MODULE> = [...]`` and an entry in
:data:`BAD_INPUTS`. :data:`GOOD_INPUTS` holds valid edge cases that must keep working. :func:`classify` sorts a row's
outcome into clear / unclear / raw / silent; ``tools/bad_input_sweep.py`` prints those counts per module (also for
an older stnlib on ``PYTHONPATH``), so nothing here imports a module the older stnlib lacks at import time.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import importlib
import math
import os
import random
import shutil
import tempfile
import traceback
import types
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch import nn

import stnlib
from stnlib import affine, data, distort, env, fast_cifar, models, recipes, recovery, runs, train


class Bad(NamedTuple):
    """A call with a bad input: it must raise ``error`` with each of ``words`` in the message."""

    name: str
    call: Callable[[], object]
    error: type[BaseException]
    words: tuple[str, ...]


def bad(name: str, call: Callable[[], object], error: type[BaseException], *words: str) -> Bad:
    return Bad(name, call, error, words)


def short(value: object) -> str:
    """A one-line ``repr`` for a row's name; large tensors and arrays by dtype and shape."""
    if isinstance(value, torch.Tensor | np.ndarray) and int(np.prod(value.shape)) > 6:
        return f"{type(value).__name__}({value.dtype}, shape {tuple(value.shape)})"
    text = " ".join(repr(value).split())
    return text if len(text) <= 48 else f"{text[:40]}... ({type(value).__name__})"


def family(name: str, build: Callable[[object], object], values: list[tuple[object, type]], *words: str) -> list[Bad]:
    """One row per ``(value, error)``: ``build(value)`` must raise ``error`` naming ``words``."""
    return [bad(f"{name}={short(v)}", functools.partial(build, v), e, *words) for v, e in values]


T, V = TypeError, ValueError
NAN, INF = float("nan"), float("inf")
#: Bad values by what the argument is: sizes (>= 1), counts (>= 0), real numbers, seeds, flags.
BAD_SIZES = [(0, V), (-1, V), (2.5, T), (28.0, T), (True, T), ("28", T), (None, T)]
BAD_COUNTS = [(-1, V), (1.5, T), (True, T), ("2", T), (None, T)]
BAD_NUMBERS = [(NAN, V), (INF, V), (-INF, V), ("1", T), (None, T), (True, T), (1j, T)]
BAD_SEEDS = [(-1, V), (2**32, V), (1.5, T), (True, T), ("0", T), (None, T)]
BAD_FLAGS = [("yes", T), (1, T), (None, T)]


def _theta(*rows: float) -> torch.Tensor:  # (1, 2, 3) from six numbers
    return torch.tensor([[rows[:3], rows[3:]]], dtype=torch.float32)


EYE = _theta(1, 0, 0, 0, 1, 0)
#: Bad thetas: ``(label, value, error)``.
BAD_THETAS = [
    ("a list", [[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]], T),
    ("a numpy array", np.eye(2, 3)[None], T),
    ("None", None, T),
    ("(2, 3) without a batch axis", torch.eye(2, 3), V),
    ("(1, 3, 3)", torch.eye(3)[None], V),
    ("int64", torch.tensor([[[1, 0, 0], [0, 1, 0]]]), T),
    ("bool", torch.ones(1, 2, 3, dtype=torch.bool), T),
    ("NaN", _theta(1, 0, NAN, 0, 1, 0), V),
    ("inf", _theta(1, 0, 0, 0, INF, 0), V),
    ("an empty batch", torch.zeros(0, 2, 3), V),
]
BAD_IMAGES = [
    ("(C, H, W)", torch.rand(1, 4, 4), V),
    ("(H, W)", torch.rand(4, 4), V),
    ("5-D", torch.rand(1, 1, 1, 4, 4), V),
    ("uint8", torch.zeros(1, 1, 4, 4, dtype=torch.uint8), T),
    ("int64", torch.zeros(1, 1, 4, 4, dtype=torch.int64), T),
    ("NaN", torch.tensor([[[[0.0, NAN], [0.0, 0.0]]]]), V),
    ("-inf", torch.tensor([[[[0.0, -INF], [0.0, 0.0]]]]), V),
    ("a numpy array", np.zeros((1, 1, 4, 4), np.float32), T),
    ("an empty batch", torch.zeros(0, 1, 4, 4), V),
]


def thetas(name: str, build: Callable[[object], object], word: str = "theta", skip: int = 0) -> list[Bad]:
    return [bad(f"{name}: {label}", functools.partial(build, v), e, word) for label, v, e in BAD_THETAS[skip:]]


def _x(n: int = 1, c: int = 1, size: int = 4) -> torch.Tensor:
    return torch.rand(n, c, size, size, generator=torch.Generator().manual_seed(0))


BAD_AFFINE: list[Bad] = [
    *family("identity batch_size", lambda v: affine.identity(v), BAD_COUNTS, "batch_size"),
    bad("identity dtype int64", lambda: affine.identity(dtype=torch.int64), V, "dtype"),
    bad("identity dtype 'float32'", lambda: affine.identity(dtype="float32"), T, "dtype"),
    bad("identity device 'gpu0'", lambda: affine.identity(device="gpu0"), V, "device"),
    bad("identity device 1.5", lambda: affine.identity(device=1.5), T, "device"),
    *family("build_theta rotation", lambda v: affine.build_theta(rotation=v), BAD_NUMBERS, "rotation"),
    *family(
        "build_theta scale_x",
        lambda v: affine.build_theta(scale_x=v),
        [(0, V), (0.0, V), ([1.0, 0.0], V), (NAN, V), ("2", T), (None, T), (True, T), (1e-50, V)],
        "scale_x",
    ),
    *family(
        "build_theta scale_y", lambda v: affine.build_theta(scale_y=v), [(0, V), (INF, V), ([], V), ("y", T)], "scale_y"
    ),
    *family(
        "build_theta shear",
        lambda v: affine.build_theta(shear=v),
        [(NAN, V), ([0.0, NAN], V), ("0", T), ([0.0, "a"], T), ({"a": 1}, T)],
        "shear",
    ),
    bad("build_theta shear 1e20: singular", lambda: affine.build_theta(shear=1e20), V, "shear", "singular"),
    *family(
        "build_theta tx",
        lambda v: affine.build_theta(tx=v),
        [
            (INF, V),
            (None, T),
            ("0.1", T),
            (np.array([[0.1]]), V),
            ([[0.1, 0.2]], V),
            (torch.zeros(1, 2), V),
            (torch.tensor([True]), T),
            (torch.zeros(0), V),
            (torch.tensor([1j]), T),
        ],
        "tx",
    ),
    *family(
        "build_theta ty", lambda v: affine.build_theta(ty=v), [(NAN, V), (b"1", T), (torch.tensor([NAN]), V)], "ty"
    ),
    *family(
        "build_theta batch_size",
        lambda v: affine.build_theta(batch_size=v),
        BAD_SIZES[:2] + BAD_SIZES[2:6],
        "batch_size",
    ),
    bad(
        "build_theta lengths disagree",
        lambda: affine.build_theta(rotation=[0.0, 1.0], tx=[0.0, 0.1, 0.2]),
        V,
        "batch sizes disagree",
    ),
    bad(
        "build_theta batch_size disagrees", lambda: affine.build_theta(rotation=[0.0, 1.0], batch_size=3), V, "disagree"
    ),
    *family(
        "build_theta dtype",
        lambda v: affine.build_theta(dtype=v),
        [(torch.float16, V), (torch.int64, V), ("float32", T), (None, T)],
        "dtype",
    ),
    bad("build_theta device 'nope'", lambda: affine.build_theta(device="nope"), V, "device"),
    *family("pixels_to_normalized size", lambda v: affine.pixels_to_normalized(1, v), [(1, V)] + BAD_SIZES, "size"),
    *family(
        "pixels_to_normalized pixels",
        lambda v: affine.pixels_to_normalized(v, 28),
        [
            (NAN, V),
            (INF, V),
            ("1", T),
            (None, T),
            (True, T),
            ([1, "a"], T),
            (torch.tensor([NAN]), V),
            (torch.tensor([True]), T),
        ],
        "pixels",
    ),
    *family(
        "pixels_to_normalized align_corners",
        lambda v: affine.pixels_to_normalized(1, 4, align_corners=v),
        BAD_FLAGS,
        "align_corners",
    ),
    *family(
        "normalized_to_pixels coords",
        lambda v: affine.normalized_to_pixels(v, 28),
        [("a", T), (None, T), (torch.tensor([NAN]), V), (torch.tensor([True]), T), (INF, V)],
        "coords",
    ),
    *family("normalized_to_pixels size", lambda v: affine.normalized_to_pixels(torch.zeros(2), v), BAD_SIZES, "size"),
    *family(
        "normalized_to_pixels align_corners",
        lambda v: affine.normalized_to_pixels(torch.zeros(2), 4, align_corners=v),
        BAD_FLAGS,
        "align_corners",
    ),
    *thetas("compose first", lambda v: affine.compose(v, EYE), "first"),
    *thetas("compose then", lambda v: affine.compose(EYE, v), "then", skip=3),
    bad("compose dtypes differ", lambda: affine.compose(EYE, EYE.double()), V, "first", "then", "float64"),
    bad("compose batch sizes 2 and 3", lambda: affine.compose(affine.identity(2), affine.identity(3)), V, "batch"),
    *thetas("invert", affine.invert),
    bad("invert float16", lambda: affine.invert(EYE.half()), V, "theta", "float32 or float64"),
    bad("invert singular", lambda: affine.invert(_theta(1, 2, 0, 2, 4, 0)), V, "theta", "singular"),
    bad("invert all zero", lambda: affine.invert(torch.zeros(1, 2, 3)), V, "theta", "singular"),
    *thetas("decompose", affine.decompose, skip=3),
    bad("decompose singular", lambda: affine.decompose(_theta(1, 1, 0, 1, 1, 0)), V, "theta", "singular"),
    bad("zoom of theta", lambda: affine.zoom(EYE), T, "decomposed", "decompose(theta)"),
    bad("zoom of None", lambda: affine.zoom(None), T, "decomposed"),
    bad("zoom without scale_y", lambda: affine.zoom({"scale_x": torch.ones(1)}), V, "decomposed", "scale_y"),
    bad("zoom of lists", lambda: affine.zoom({"scale_x": [1.0], "scale_y": [1.0]}), T, "scale_x"),
    bad("zoom shapes differ", lambda: affine.zoom({"scale_x": torch.ones(2), "scale_y": torch.ones(3)}), V, "scale_y"),
    *thetas("sampling_outline", affine.sampling_outline, skip=5),
    *family("sampling_outline closed", lambda v: affine.sampling_outline(EYE, closed=v), BAD_FLAGS, "closed"),
    *thetas("outside_share", lambda v: affine.outside_share(v, (4, 4)), skip=7),
    *family(
        "outside_share out_size",
        lambda v: affine.outside_share(EYE, v),
        [(5, T), ((0, 5), V), ((5,), V), ("55", T), ((5.0, 5), T), (None, T), ((5, -1), V)],
        "out_size",
    ),
    *[
        bad(f"warp images: {label}", functools.partial(lambda v: affine.warp(v, EYE), v), e, "images")
        for label, v, e in BAD_IMAGES
    ],
    *thetas("warp theta", lambda v: affine.warp(_x(), v)),
    bad("warp batch sizes differ", lambda: affine.warp(_x(3), affine.identity(2)), V, "batch size mismatch"),
    *family(
        "warp mode",
        lambda v: affine.warp(_x(), EYE, mode=v),
        [("linear", V), ("Bilinear", V), (None, T), (1, T)],
        "mode",
    ),
    *family(
        "warp padding_mode",
        lambda v: affine.warp(_x(), EYE, padding_mode=v),
        [("zero", V), ("mirror", V), (0, T)],
        "padding_mode",
    ),
    *family("warp align_corners", lambda v: affine.warp(_x(), EYE, align_corners=v), BAD_FLAGS, "align_corners"),
    *family(
        "warp fill",
        lambda v: affine.warp(_x(1, 3), EYE, fill=v),
        [
            (NAN, V),
            (INF, V),
            ((0.0, NAN, 0.0), V),
            ("black", T),
            ([[0.0]], V),
            ((0.0, 0.0), V),
            (torch.tensor([NAN]), V),
            (torch.zeros(0), V),
            ([], V),
            (True, T),
        ],
        "fill",
    ),
    bad(
        "warp fill with border padding",
        lambda: affine.warp(_x(), EYE, fill=0.0, padding_mode="border"),
        V,
        "fill",
        "padding_mode",
    ),
    *family(
        "warp out_size",
        lambda v: affine.warp(_x(), EYE, out_size=v),
        [(5, T), ((0, 5), V), ((5, 5, 5), V), ((5.5, 5), T), ("55", T)],
        "out_size",
    ),
    bad("check_theta name", lambda: affine.check_theta([1.0], name="view_theta"), T, "view_theta"),
    bad("check_images name", lambda: affine.check_images(torch.zeros(3), name="digit"), V, "digit"),
]


class _Features(nn.Module):  # a localization stand-in: (B, C, H, W) -> (B, 16), built for 4x4 inputs
    in_size = (4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


def _stn(**kw) -> models.SpatialTransformer:
    return models.SpatialTransformer(kw.pop("localization", _Features()), kw.pop("features", 16), **kw)


BAD_MODELS: list[Bad] = [
    bad("count_parameters None", lambda: models.count_parameters(None), T, "module"),
    bad("count_parameters a tensor", lambda: models.count_parameters(torch.zeros(3)), T, "module"),
    bad("SpatialTransformer localization None", lambda: _stn(localization=None), T, "localization"),
    bad("SpatialTransformer localization 'conv'", lambda: _stn(localization="conv"), T, "localization"),
    *family("SpatialTransformer features", lambda v: _stn(features=v), BAD_SIZES, "features"),
    *family(
        "SpatialTransformer out_size",
        lambda v: _stn(out_size=v),
        [((0, 4), V), (4, T), ((4,), V), ((4.0, 4), T), ("44", T)],
        "out_size",
    ),
    *family(
        "SpatialTransformer fill",
        lambda v: _stn(fill=v),
        [(NAN, V), (INF, V), ("black", T), ((0.0, NAN), V), (torch.tensor([NAN]), V)],
        "fill",
    ),
    *family(
        "SpatialTransformer family",
        lambda v: _stn(family=v),
        [("shear", V), ("Affine", V), (None, T), (0, T)],
        "family",
    ),
    *family(
        "SpatialTransformer init_zoom", lambda v: _stn(init_zoom=v), [(0, V), (-1.0, V)] + BAD_NUMBERS, "init_zoom"
    ),
    bad(
        "SpatialTransformer localization.in_size 4",
        lambda: _stn(localization=type("L", (_Features,), {"in_size": 4})()),
        T,
        "in_size",
    ),
    bad("SpatialTransformer.theta of a list", lambda: _stn().theta([[0.0] * 16]), T, "x"),
    bad("SpatialTransformer.theta of (C, H, W)", lambda: _stn().theta(torch.zeros(1, 4, 4)), V, "unsqueeze"),
    bad(
        "SpatialTransformer.theta of uint8",
        lambda: _stn().theta(torch.zeros(1, 1, 4, 4, dtype=torch.uint8)),
        V,
        "float",
    ),
    bad("SpatialTransformer.theta of 8x8", lambda: _stn().theta(torch.zeros(1, 1, 8, 8)), V, "4x4"),
    *family("Resize size", lambda v: models.Resize(v), [((0, 28), V), (28, T), ("28", T), ((28,), V)], "size"),
    bad("STNClassifier classifier None", lambda: models.STNClassifier(None), T, "classifier"),
    bad("STNClassifier stn 5", lambda: models.STNClassifier(nn.Flatten(), 5), T, "stn"),
    bad("STNClassifier stn and resize", lambda: models.STNClassifier(nn.Flatten(), _stn(), resize=(4, 4)), V, "resize"),
    *family(
        "STNClassifier resize",
        lambda v: models.STNClassifier(nn.Flatten(), resize=v),
        [((0, 28), V), (28, T)],
        "resize",
    ),
    *family("conv_localization in_channels", lambda v: models.conv_localization(v, 28), BAD_SIZES[:3], "in_channels"),
    *family(
        "conv_localization in_size", lambda v: models.conv_localization(1, v), [(17, V), (10, V)] + BAD_SIZES, "in_size"
    ),
    *family(
        "conv_localization channels",
        lambda v: models.conv_localization(1, 28, channels=v),
        [((8,), V), ((8, 10, 12), V), ((8, 0), V), (8, T), ((8.0, 10), T)],
        "channels",
    ),
    bad("conv_localization hidden 0", lambda: models.conv_localization(1, 28, hidden=0), V, "hidden"),
    *family(
        "course_net in_size",
        lambda v: models.course_net(1, v, stn=False),
        [(8, V), (15, V), (0, V), (32.0, T)],
        "in_size",
    ),
    bad("course_net in_channels 0", lambda: models.course_net(0, 32), V, "in_channels"),
    bad("course_net conv (10,)", lambda: models.course_net(conv=(10,)), V, "conv"),
    bad("course_net hidden 0", lambda: models.course_net(hidden=0), V, "hidden"),
    *family("course_net stn", lambda v: models.course_net(stn=v), BAD_FLAGS, "stn"),
    bad("course_net fill NaN without stn", lambda: models.course_net(stn=False, fill=NAN), V, "fill"),
    bad("tutorial_net stn 'no'", lambda: models.tutorial_net(stn="no"), T, "stn"),
    bad("tutorial_net fill inf", lambda: models.tutorial_net(fill=INF), V, "fill"),
    *family("lenet_bn in_size", lambda v: models.lenet_bn(v), [(3, V), (-4, V), (2, V)] + BAD_SIZES, "in_size"),
    *family("mnist_stn_net in_size", lambda v: models.mnist_stn_net(v), [(-28, V), (10, V)] + BAD_SIZES, "in_size"),
    *family(
        "mnist_stn_net out_size",
        lambda v: models.mnist_stn_net(42, out_size=v),
        [(0, V), (3, V), (-4, V), (28.0, T), ("28", T)],
        "out_size",
    ),
    bad("mnist_stn_net family 'rts'", lambda: models.mnist_stn_net(family="rts"), V, "family"),
    bad("mnist_stn_net init_zoom 0", lambda: models.mnist_stn_net(init_zoom=0), V, "init_zoom"),
    bad("mnist_stn_net init_zoom inf", lambda: models.mnist_stn_net(init_zoom=INF), V, "init_zoom"),
    bad("mnist_stn_net localization 5", lambda: models.mnist_stn_net(localization=5), T, "localization"),
    bad("mnist_stn_net fill NaN", lambda: models.mnist_stn_net(fill=NAN), V, "fill"),
    *family("mnist_cnn in_size", lambda v: models.mnist_cnn(v), BAD_SIZES, "in_size"),
    *family(
        "mnist_cnn out_size",
        lambda v: models.mnist_cnn(60, out_size=v),
        [(0, V), (-4, V), (3, V), (20.0, T)],
        "out_size",
    ),
    bad("rts_stn_net fill 'black'", lambda: models.rts_stn_net(fill="black"), T, "fill"),
    *family(
        "clutter_stn_net init_zoom",
        lambda v: models.clutter_stn_net(init_zoom=v),
        [(0, V), (-2.0, V), (INF, V), (NAN, V), ("2", T)],
        "init_zoom",
    ),
    bad("clutter_stn_net fill NaN", lambda: models.clutter_stn_net(fill=NAN), V, "fill"),
    *family("resnet9 width", lambda v: models.resnet9(v), BAD_SIZES, "width"),
    *family(
        "bn_localization downsample",
        lambda v: models.bn_localization(1, 32, downsample=v),
        [(0, V), (-1, V), (2.0, T), (None, T), (64, V)],
        "downsample",
    ),
    *family(
        "bn_localization kernel",
        lambda v: models.bn_localization(1, 32, kernel=v),
        [(4, V), ((3,), V), ((3, 4), V), (0, V), (3.0, T), ("3", T)],
        "kernel",
    ),
    *family(
        "bn_localization channels",
        lambda v: models.bn_localization(1, 32, channels=v),
        [((), V), ((8, 0), V), (8, T), ((8.0,), T)],
        "channels",
    ),
    *family(
        "bn_localization in_size",
        lambda v: models.bn_localization(1, v),
        [(4, V), (0, V), (-32, V), (32.0, T)],
        "in_size",
    ),
    bad("bn_localization in_channels 0", lambda: models.bn_localization(0, 32), V, "in_channels"),
    bad("bn_localization hidden 0", lambda: models.bn_localization(1, 32, hidden=0), V, "hidden"),
    *family(
        "cifar_stn_net loc_downsample",
        lambda v: models.cifar_stn_net(loc_downsample=v),
        [(0, V), (16, V), (-2, V), (2.0, T)],
        "loc_downsample",
    ),
    *family(
        "cifar_stn_net regressor_init_std",
        lambda v: models.cifar_stn_net(regressor_init_std=v),
        [(-1.0, V), (NAN, V), (INF, V), ("0.1", T)],
        "regressor_init_std",
    ),
    bad("cifar_stn_net stn 'yes'", lambda: models.cifar_stn_net(stn="yes"), T, "stn"),
    bad("cifar_stn_net fill NaN without stn", lambda: models.cifar_stn_net(stn=False, fill=(0.0, NAN, 0.0)), V, "fill"),
    bad("full_precision None", lambda: models.full_precision(None), T, "device"),
    bad("full_precision 'nope'", lambda: models.full_precision("nope"), V, "device"),
]


@functools.cache
def _folders() -> Path:
    """A temporary folder: ``good/`` (small Keras-style ``mnist.npz`` and ``cifar10.npz``), ``text/`` (a text file
    saved as ``mnist.npz``), ``empty/`` (an empty ``mnist.npz``)."""
    root = Path(tempfile.mkdtemp(prefix="stnlib-bad-inputs-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    rng = np.random.default_rng(0)
    for name, hwc in (("mnist", (28, 28)), ("cifar10", (32, 32, 3))):
        (root / "good").mkdir(exist_ok=True)
        np.savez(
            root / "good" / f"{name}.npz",
            x_train=rng.integers(0, 256, (6, *hwc), dtype=np.uint8),
            y_train=np.arange(6) % 10,
            x_test=rng.integers(0, 256, (4, *hwc), dtype=np.uint8),
            y_test=np.arange(4),
        )
    for kind, text in (("text", "x_train,y_train\n0,1\n"), ("empty", "")):
        (root / kind).mkdir()
        (root / kind / "mnist.npz").write_text(text)
    return root


def _good() -> Path:
    return _folders() / "good"


def _digits(n: int = 3, c: int = 1, size: int = 28, dtype: torch.dtype = torch.uint8) -> torch.Tensor:
    return torch.randint(0, 256, (n, c, size, size), generator=torch.Generator().manual_seed(n)).to(dtype)


def _image_data(**changes) -> data.ImageData:
    """A small MNIST-like :class:`~stnlib.data.ImageData` (8 train, 4 test), with ``changes`` to its fields."""
    fields = dict(
        train_images=_digits(8),
        train_labels=torch.arange(8),
        test_images=_digits(4),
        test_labels=torch.arange(4),
        test_is_exact=torch.ones(4, dtype=torch.bool),
        classes=tuple("0123456789"),
        info=data.DataInfo("mnist", "synthetic"),
        mean=data.MNIST_MEAN,
        std=data.MNIST_STD,
    )
    return data.ImageData(**{**fields, **changes})


def _loader(**changes) -> object:
    kw = dict(images=_digits(4), labels=torch.arange(4), batch_size=2, shuffle=False, mean=(0.5,), std=(0.5,))
    return data.make_loader(**{**kw, **changes})


def _dataset(**changes) -> data.ArrayDataset:
    kw = dict(images=_digits(4, c=3), labels=torch.arange(4), mean=(0.5,) * 3, std=(0.25,) * 3)
    return data.ArrayDataset(**{**kw, **changes})


BAD_DATA: list[Bad] = [
    *family("black_value name", data.black_value, [("svhn", V), ("", V), (None, T), (3, T)], "name"),
    *family(
        "load_dataset name",
        lambda v: data.load_dataset(v, data_dir=_good()),
        [("svhn", V), ("MNIST", V), (None, T), (0, T)],
        "name",
    ),
    *family(
        "load_dataset profile",
        lambda v: data.load_dataset("mnist", data_dir=_good(), profile=v),
        [("fast", V), ("", V), (None, T), (1, T)],
        "profile",
    ),
    *family(
        "load_dataset data_dir",
        lambda v: data.load_dataset("mnist", data_dir=v),
        [(5, T), ("", V), (["data"], T)],
        "data_dir",
    ),
    *family(
        "load_dataset download",
        lambda v: data.load_dataset("mnist", data_dir=_good(), download=v),
        BAD_FLAGS,
        "download",
    ),
    *family(
        "load_dataset limit_train",
        lambda v: data.load_dataset("mnist", data_dir=_good(), limit_train=v),
        BAD_COUNTS[:4],
        "limit_train",
    ),
    *family(
        "load_dataset limit_test",
        lambda v: data.load_dataset("mnist", data_dir=_good(), limit_test=v),
        [(-2, V), (0.5, T)],
        "limit_test",
    ),
    bad(
        "load_dataset: a text file saved as mnist.npz",
        lambda: data.load_dataset("mnist", data_dir=_folders() / "text"),
        V,
        "mnist.npz",
        "not a .npz file",
    ),
    bad(
        "load_dataset: an empty mnist.npz",
        lambda: data.load_dataset("mnist", data_dir=_folders() / "empty"),
        V,
        "mnist.npz",
        "empty",
    ),
    *family(
        "ArrayDataset images",
        lambda v: _dataset(images=v),
        [
            (_digits(4, c=3, dtype=torch.float32), T),
            (_digits(4, c=3)[:, 0], V),
            (_digits(4, c=3).numpy(), T),
            (None, T),
        ],
        "images",
    ),
    *family(
        "ArrayDataset labels",
        lambda v: _dataset(labels=v),
        [
            (torch.tensor([0, 1, 2, 10]), V),
            (torch.tensor([-1, 0, 1, 2]), V),
            (torch.arange(3), V),
            (torch.tensor([0.5, 1.0, 2.0, 3.0]), V),
            (["a", "b", "c", "d"], T),
            (None, T),
            (torch.ones(4, dtype=torch.bool), T),
            (torch.zeros(4, 1), V),
            (torch.tensor([0.0, 1.0, NAN, 3.0]), V),
        ],
        "labels",
    ),
    *family(
        "ArrayDataset mean",
        lambda v: _dataset(mean=v),
        [((0.5,), V), ((0.5, 0.5, NAN), V), ("0.5", T), (None, T)],
        "mean",
    ),
    *family(
        "ArrayDataset std",
        lambda v: _dataset(std=v),
        [((0.0, 0.5, 0.5), V), ((-0.5, 0.5, 0.5), V), ((INF, 1.0, 1.0), V), ((0.5, 0.5), V)],
        "std",
    ),
    bad("ArrayDataset transform 'flip'", lambda: _dataset(transform="flip"), T, "transform"),
    *family("make_loader batch_size", lambda v: _loader(batch_size=v), BAD_SIZES, "batch_size"),
    *family("make_loader shuffle", lambda v: _loader(shuffle=v), BAD_FLAGS, "shuffle"),
    *family("make_loader seed", lambda v: _loader(seed=v), BAD_SEEDS, "seed"),
    bad("make_loader std 0", lambda: _loader(std=(0.0,)), V, "std"),
    bad("make_loader labels 10", lambda: _loader(labels=torch.tensor([0, 1, 2, 10])), V, "labels", "0..9"),
    bad("make_loader labels float 1.5", lambda: _loader(labels=torch.tensor([0.0, 1.5, 2.0, 3.0])), V, "labels"),
    *family("ImageData.subset limit_train", lambda v: _image_data().subset(v), BAD_COUNTS[:4], "limit_train"),
    bad("ImageData.subset limit_test 1.5", lambda: _image_data().subset(limit_test=1.5), T, "limit_test"),
    *family(
        "ImageData.loaders batch_size", lambda v: _image_data().loaders(v), [(0, V), (-4, V), (None, T)], "batch_size"
    ),
    bad(
        "ImageData.loaders test_batch_size 0", lambda: _image_data().loaders(4, test_batch_size=0), V, "test_batch_size"
    ),
    bad("ImageData.loaders seed -1", lambda: _image_data().loaders(4, seed=-1), V, "seed"),
    bad("ImageData.loaders transform 5", lambda: _image_data().loaders(4, transform=5), T, "transform"),
    bad("ImageData train_images float", lambda: _image_data(train_images=_digits(8).float()), T, "train_images"),
    bad("ImageData test_images 32x32", lambda: _image_data(test_images=_digits(4, size=32)), V, "test_images"),
    bad("ImageData train_labels 12", lambda: _image_data(train_labels=torch.full((8,), 12)), V, "train_labels"),
    bad("ImageData test_labels too few", lambda: _image_data(test_labels=torch.arange(3)), V, "test_labels"),
    bad(
        "ImageData test_is_exact int",
        lambda: _image_data(test_is_exact=torch.ones(4, dtype=torch.int64)),
        T,
        "test_is_exact",
    ),
    bad("ImageData std 0", lambda: _image_data(std=(0.0,)), V, "std"),
    bad("ImageData mean for 3 channels", lambda: _image_data(mean=(0.1, 0.2, 0.3)), V, "mean"),
]


@functools.cache
def _applied(n: int = 4) -> distort.Distorted:
    return distort.distort_mnist(_digits(n), "rts", seed=0)


def _thetas(n: int = 4) -> torch.Tensor:
    return affine.build_theta(rotation=torch.linspace(-10, 10, n), scale_x=1.1, scale_y=1.1)


BAD_DISTORT: list[Bad] = [
    *family(
        "distort_mnist images",
        lambda v: distort.distort_mnist(v, "rts", seed=0),
        [
            (_digits(2).float(), T),
            (_digits(2)[:, 0], V),
            (_digits(2, size=32), V),
            (_digits(2, c=3), V),
            (_digits(2).tolist(), T),
            (None, T),
        ],
        "images",
    ),
    *family(
        "distort_mnist kind",
        lambda v: distort.distort_mnist(_digits(2), v, seed=0),
        [("zoom", V), ("RTS", V), (None, T), (1, T)],
        "kind",
    ),
    *family("distort_mnist seed", lambda v: distort.distort_mnist(_digits(2), "rts", seed=v), BAD_SEEDS, "seed"),
    bad("distort_mnist cluttered seed -1", lambda: distort.distort_mnist(_digits(2), "cluttered", seed=-1), V, "seed"),
    *family(
        "distort_mnist clutter_source",
        lambda v: distort.distort_mnist(_digits(2), "cluttered", seed=0, clutter_source=v),
        [(_digits(2).float(), T), (_digits(2, size=4), V), (_digits(0), V), (_digits(2, c=3), V), ("digits", T)],
        "clutter_source",
    ),
    *family(
        "distort_cifar images",
        lambda v: distort.distort_cifar(v, seed=0),
        [(_digits(2, c=3, size=32).float(), T), (_digits(2), V), (_digits(2, c=3, size=32).numpy(), T)],
        "images",
    ),
    *family(
        "distort_cifar seed", lambda v: distort.distort_cifar(_digits(2, c=3, size=32), seed=v), BAD_SEEDS[:4], "seed"
    ),
    *family(
        "distort_cifar background_source",
        lambda v: distort.distort_cifar(_digits(2, c=3, size=32), seed=0, background_source=v),
        [(_digits(0, c=3, size=32), V), (_digits(2), V), (1, T)],
        "background_source",
    ),
    bad(
        "distorted_set base None",
        lambda: distort.distorted_set(None, lambda x, s, src: None, name="x", how="y", seed=0),
        T,
        "base",
    ),
    bad(
        "distorted_set distort 'rts'",
        lambda: distort.distorted_set(_image_data(), "rts", name="x", how="y", seed=0),
        T,
        "distort",
    ),
    *family(
        "distorted_set seed",
        lambda v: distort.distorted_set(_image_data(), lambda x, s, src: _applied(), name="x", how="y", seed=v),
        BAD_SEEDS[:3],
        "seed",
    ),
    *family(
        "distorted_set limits",
        lambda v: distort.distorted_set(
            _image_data(), lambda x, s, src: _applied(), name="x", how="y", seed=0, limits=v
        ),
        [(5, T), ((1,), T), (None, T)],
        "limits",
    ),
    bad(
        "distorted_set limits (-1, None)",
        lambda: distort.distorted_set(
            _image_data(), lambda x, s, src: _applied(), name="x", how="y", seed=0, limits=(-1, None)
        ),
        V,
        "limit_train",
    ),
    bad(
        "distorted_set name 3",
        lambda: distort.distorted_set(_image_data(), lambda x, s, src: _applied(), name=3, how="y", seed=0),
        T,
        "name",
    ),
    *family(
        "load_distorted_mnist kind",
        lambda v: distort.load_distorted_mnist(v, data_dir=_good()),
        [("zoom", V), (None, T)],
        "kind",
    ),
    *family(
        "load_distorted_mnist seed",
        lambda v: distort.load_distorted_mnist("rts", data_dir=_good(), seed=v),
        BAD_SEEDS[:4],
        "seed",
    ),
    bad(
        "load_distorted_mnist limit_train -1",
        lambda: distort.load_distorted_mnist("rts", data_dir=_good(), limit_train=-1),
        V,
        "limit_train",
    ),
    bad(
        "load_distorted_mnist profile 'fast'",
        lambda: distort.load_distorted_mnist("rts", data_dir=_good(), profile="fast"),
        V,
        "profile",
    ),
    bad("load_distorted_mnist data_dir 5", lambda: distort.load_distorted_mnist("rts", data_dir=5), T, "data_dir"),
    *family(
        "load_offcentre_cifar seed",
        lambda v: distort.load_offcentre_cifar(data_dir=_good(), seed=v),
        [(-1, V), (1.5, T)],
        "seed",
    ),
    bad(
        "load_offcentre_cifar limit_test -2",
        lambda: distort.load_offcentre_cifar(data_dir=_good(), limit_test=-2),
        V,
        "limit_test",
    ),
    *family("Distorted.head n", lambda v: _applied().head(v), [(-1, V), (1.5, T), ("2", T)], "n"),
    *family(
        "Distorted.select index",
        lambda v: _applied().select(v),
        [(torch.tensor([0.5]), T), ("0", T), (torch.tensor(0), V), (torch.ones(3, dtype=torch.bool), V)],
        "index",
    ),
    bad("Distorted.select index 99", lambda: _applied().select(torch.tensor([99])), IndexError, "index", "-4 .. 3"),
]


def _y(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


BAD_RECOVERY: list[Bad] = [
    *family(
        "fit_line y",
        lambda v: recovery.fit_line(_y(0, 1, 2), v),
        [
            (_y(0, NAN, 2), V),
            (_y(0, INF, 2), V),
            ([0.0, 1.0, 2.0], T),
            (np.arange(3.0), T),
            (_y(0, 1), V),
            (torch.zeros(3, 1), V),
            (torch.ones(3, dtype=torch.bool), T),
            (None, T),
        ],
        "y",
    ),
    *family(
        "fit_line x",
        lambda v: recovery.fit_line(v, _y(0, 1, 2)),
        [(_y(NAN, 1, 2), V), (_y(0, 1, -INF), V), (torch.zeros(1, 3), V), ("x", T)],
        "x",
    ),
    bad("fit_line one point", lambda: recovery.fit_line(_y(1), _y(2)), V, "x and y", ">= 2"),
    bad("fit_line constant x", lambda: recovery.fit_line(_y(1, 1, 1), _y(0, 1, 2)), V, "x is constant"),
    bad(
        "within_group_fit groups float",
        lambda: recovery.within_group_fit(_y(0, 1, 2, 3), _y(0, 1, 2, 3), _y(0, 0, 1, 1)),
        T,
        "groups",
    ),
    bad(
        "within_group_fit groups shape",
        lambda: recovery.within_group_fit(_y(0, 1, 2, 3), _y(0, 1, 2, 3), torch.tensor([0, 1])),
        V,
        "groups",
    ),
    bad(
        "within_group_fit groups list",
        lambda: recovery.within_group_fit(_y(0, 1, 2, 3), _y(0, 1, 2, 3), [0, 0, 1, 1]),
        T,
        "groups",
    ),
    bad(
        "within_group_fit y NaN",
        lambda: recovery.within_group_fit(_y(0, 1, 2, 3), _y(0, NAN, 2, 3), torch.tensor([0, 0, 1, 1])),
        V,
        "y",
    ),
    bad(
        "within_group_fit y shorter",
        lambda: recovery.within_group_fit(_y(0, 1, 2, 3), _y(0, 1, 2), torch.tensor([0, 0, 1, 1])),
        V,
        "x and y",
    ),
    bad(
        "within_group_fit every point its own group",
        lambda: recovery.within_group_fit(_y(0, 1, 2), _y(0, 1, 2), torch.arange(3)),
        V,
        "groups",
    ),
    *thetas("region_centre_px", lambda v: recovery.region_centre_px(v, 42), skip=3),
    *family("region_centre_px canvas", lambda v: recovery.region_centre_px(EYE, v), BAD_SIZES, "canvas"),
    *family("digit_centre_px applied", recovery.digit_centre_px, [(None, T), (EYE, T)], "applied"),
    *thetas("rts_components", lambda v: recovery.rts_components(v, _applied(1)), skip=2),
    bad("rts_components applied None", lambda: recovery.rts_components(_thetas(4), None), T, "applied"),
    bad("rts_components 3 thetas for 4", lambda: recovery.rts_components(_thetas(3), _applied()), V, "thetas"),
    bad(
        "attention_components theta (4, 3, 3)",
        lambda: recovery.attention_components(torch.eye(3).expand(4, 3, 3), _applied()),
        V,
        "theta",
    ),
    bad(
        "attention_components theta NaN",
        lambda: recovery.attention_components(_thetas(4) * NAN, _applied()),
        V,
        "theta",
    ),
    bad("attention_components applied 'rts'", lambda: recovery.attention_components(_thetas(4), "rts"), T, "applied"),
    bad("theta_spread of one theta", lambda: recovery.theta_spread(EYE, 32), V, "theta", "at least 2"),
    *thetas("theta_spread", lambda v: recovery.theta_spread(v, 32), skip=3),
    *family("theta_spread canvas", lambda v: recovery.theta_spread(_thetas(4), v), BAD_SIZES[:3], "canvas"),
]


# ------------------------------------------------------------------ env, train, recipes, runs
def _with_env(call: Callable[[], object], **variables: str | None) -> object:
    """``call()`` with these environment variables set (``None``: unset), restored afterwards."""
    old = {k: os.environ.get(k) for k in variables}
    try:
        for k, v in variables.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
        return call()
    finally:
        for k, v in old.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def _keeping_rng(call: Callable[[], object]) -> object:
    """``call()`` (which seeds Python, NumPy and torch), with their random states restored afterwards."""
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        return call()
    finally:
        random.setstate(states[0]), np.random.set_state(states[1]), torch.set_rng_state(states[2])


def _in_temp_reports(call: Callable[[], object]) -> object:
    """``call()`` with ``$STNLIB_REPORTS`` in a temporary folder (never the repository's ``reports/``), no staging."""
    return _with_env(call, STNLIB_REPORTS=str(_folders() / "reports"), STNLIB_PENDING=None)


NS, DEFAULT = types.SimpleNamespace, object()  # DEFAULT: an argument left out


def labelled(name: str, build: Callable[[object], object], rows: list[tuple[str, object, type]], *words: str):
    """Like :func:`family`, for values without a short ``repr``: one row per ``(label, value, error)``."""
    return [bad(f"{name}: {label}", functools.partial(build, v), e, *words) for label, v, e in rows]


BAD_DEVICES = [("gpu0", V), ("", V), ("xla", V), ("cuda:99", V), (1.5, T), (None, T), ([], T)]

BAD_ENV: list[Bad] = [
    *family(
        "resolve_profile",
        env.resolve_profile,
        [("fast", V), ("", V), ("quik", V), (None, T), (1, T), (True, T), (["quick"], T)],
        "profile",
    ),
    bad(
        "resolve_profile $STNLIB_PROFILE=fast",
        lambda: _with_env(env.resolve_profile, STNLIB_PROFILE="fast"),
        V,
        "$STNLIB_PROFILE",
        "fast",
    ),
    *family("seed_everything", env.seed_everything, [*BAD_SEEDS, (np.float64(1.0), T), (torch.tensor(1.5), T)], "seed"),
    *family(
        "pick_device prefer",
        env.pick_device,
        [
            ("gpu0", V),
            ("", V),
            ("xla", V),
            ("meta", V),
            ("cuda:99", V),
            ("cuda:-1", V),
            (-1, V),
            (1.5, T),
            (True, T),
            (["cpu"], T),
            (b"cpu", T),
            (torch.device("meta"), V),
        ],
        "prefer",
    ),
    bad("pick_device name='device'", lambda: env.pick_device("gpu", name="device"), V, "device='gpu'"),
    *family(
        "pick_device $STNLIB_DEVICE",
        lambda v: _with_env(env.pick_device, STNLIB_DEVICE=v),
        [("gpu", V), ("tpu", V), ("cuda:99", V)],
        "$STNLIB_DEVICE",
    ),
    *family(
        "resolve_precision requested",
        lambda v: env.resolve_precision(v, "cpu"),
        [("fp8", V), ("FP32", V), ("", V), (None, T), (32, T), (torch.float32, T), (["fp32"], T)],
        "requested",
    ),
    *family("resolve_precision device", lambda v: env.resolve_precision("auto", v), BAD_DEVICES, "device"),
    bad(
        "resolve_precision $STNLIB_PRECISION=fp8",
        lambda: _with_env(lambda: env.resolve_precision("auto", "cpu"), STNLIB_PRECISION="fp8"),
        V,
        "$STNLIB_PRECISION",
    ),
    *family("native_bf16 device", env.native_bf16, BAD_DEVICES[::2], "device"),
    *family("autocast device", lambda v: env.autocast(v, "fp32"), BAD_DEVICES[:1] + BAD_DEVICES[-2:], "device"),
    *family(
        "autocast precision",
        lambda v: env.autocast(torch.device("cpu"), v),
        [("fp8", V), ("half", V), (None, T), (torch.bfloat16, T)],
        "precision",
    ),
    *family(
        "precision_note recipe",
        lambda v: env.precision_note(v, "cpu"),
        [(None, T), (5, T), (NS(precision=5), T), (nn.Linear(1, 1), T)],
        "recipe",
    ),
    *family(
        "precision_note precision",
        lambda v: env.precision_note(v, "cpu"),
        [("fp8", V), (NS(precision="FP16"), V)],
        "precision",
    ),
    *family(
        "precision_note device", lambda v: env.precision_note("fp32", v), [("gpu0", V), (1.5, T), ([], T)], "device"
    ),
    *family("reports_dir profile_name", env.reports_dir, [("fast", V), ("", V), (None, T), (1, T)], "profile_name"),
    *family("published_dir profile_name", env.published_dir, [("quik", V), (None, T), (0, T)], "profile_name"),
    *family("synchronize device", env.synchronize, BAD_DEVICES, "device"),
    bad(
        "widgets_rendered $STNLIB_WIDGETS=maybe",
        lambda: _with_env(env.widgets_rendered, STNLIB_WIDGETS="maybe"),
        V,
        "$STNLIB_WIDGETS",
    ),
]


#: A recipe for the small models below: batch 4, no augmentation, fp32.
TINY = recipes.Recipe("tiny", batch_size=4)


def _mlp(size: int = 28, classes: int = 10) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(size * size, classes))


def _stn_net() -> models.STNClassifier:  # 4x4 inputs, a transformer at .stn
    return models.STNClassifier(_mlp(4), _stn())


def _fit(**changes) -> object:
    kw = dict(model=_mlp(), data=_image_data(), recipe=TINY, epochs=1, progress=False, device="cpu")
    kw = {**kw, **changes}
    return train.fit(kw.pop("model"), kw.pop("data"), kw.pop("recipe"), **kw)


def _step(**changes) -> object:
    model = _mlp(4, 4)
    kw = dict(
        model=model,
        x=_x(2),
        y=torch.tensor([0, 1]),
        opt=torch.optim.SGD(model.parameters(), lr=0.1),
        recipe=TINY,
        sched=None,
    )
    return train.train_step(**{**kw, **changes})


def _batches(*batches: object) -> list:  # a loader: a list of batches
    return list(batches)


def _xy(n: int = 2) -> tuple[torch.Tensor, torch.Tensor]:  # one (x, y) batch for _mlp(4, 4)
    return _x(n), torch.arange(n)


def _evaluate(loader: object, **kw) -> object:
    return train.evaluate(_mlp(4, 4), loader, **kw)


BAD_TRAIN: list[Bad] = [
    *family("fit epochs", lambda v: _fit(epochs=v), BAD_SIZES, "epochs"),
    *family("fit seed", lambda v: _fit(seed=v), BAD_SEEDS, "seed"),
    *family(
        "fit callbacks", lambda v: _fit(callbacks=v), [(train.Callback(), T), ("cb", T), (None, T), (5, T)], "callbacks"
    ),
    bad("fit callbacks [5]", lambda: _fit(callbacks=[5]), T, "callbacks[0]", "on_step_end"),
    bad(
        "fit callbacks [Callback(), object()]", lambda: _fit(callbacks=[train.Callback(), object()]), T, "callbacks[1]"
    ),
    *family(
        "fit eval_every_steps",
        lambda v: _fit(eval_every_steps=v),
        [(0, V), (-1, V), (1.5, T), ("1", T), (True, T)],
        "eval_every_steps",
    ),
    *family(
        "fit time_budget_s", lambda v: _fit(time_budget_s=v), [(-1, V), (NAN, V), ("60", T), (True, T)], "time_budget_s"
    ),
    *family(
        "fit target_acc", lambda v: _fit(target_acc=v), [(101, V), (-1, V), (NAN, V), (INF, V), ("90", T)], "target_acc"
    ),
    *family("fit progress", lambda v: _fit(progress=v), BAD_FLAGS, "progress"),
    *family("fit device", lambda v: _fit(device=v), [("gpu0", V), ("cuda:99", V), ("xla", V), (1.5, T)], "device"),
    *family("fit model", lambda v: _fit(model=v), [(None, T), ("net", T), (len, T)], "model"),
    *labelled(
        "fit data",
        lambda v: _fit(data=v),
        [("None", None, T), ("an (x, y) pair", _xy(), T), ("a list of batches", [_xy()], T)],
        "data",
    ),
    bad("fit data without training images", lambda: _fit(data=_image_data().subset(0)), V, "data", "train"),
    bad("fit data without test images", lambda: _fit(data=_image_data().subset(None, 0)), V, "data", "test"),
    *family("fit recipe", lambda v: _fit(recipe=v), [(None, T), ("ours", T)], "recipe"),
    bad("fit recipe FastRecipe", lambda: _fit(recipe=fast_cifar.FastRecipe()), T, "recipe", "train_fast"),
    *family(
        "train_step x",
        lambda v: _step(x=v),
        [
            (_x(2).to(torch.uint8), T),
            (_x(2).long(), T),
            (_x(2).tolist(), T),
            (_x(2).numpy(), T),
            (None, T),
            (torch.zeros(0, 1, 4, 4), V),
        ],
        "x",
    ),
    *family(
        "train_step y",
        lambda v: _step(y=v),
        [
            (torch.tensor([0.0, 1.0]), T),
            (torch.tensor([0, 1], dtype=torch.int32), T),
            (torch.tensor([0]), V),
            (torch.tensor([[0], [1]]), V),
            ([0, 1], T),
            (None, T),
            (torch.tensor([True, False]), T),
        ],
        "y",
    ),
    *family(
        "train_step opt",
        lambda v: _step(opt=v),
        [(None, T), ("sgd", T), (nn.Linear(1, 1), T), (torch.optim.SGD, T)],
        "opt",
    ),
    *family("train_step recipe", lambda v: _step(recipe=v), [(None, T), (fast_cifar.FastRecipe(), T)], "recipe"),
    *family("train_step sched", lambda v: _step(sched=v), [(5, T), ("onecycle", T)], "sched"),
    *family("train_step model", lambda v: _step(model=v), [(None, T), (len, T)], "model"),
    *family(
        "transform_batch model",
        lambda v: train.transform_batch(v, _x(2)),
        [(_mlp(4), V), (models.STNClassifier(_mlp(4)), V)],
        "model",
        ".stn",
    ),
    bad("transform_batch model None", lambda: train.transform_batch(None, _x(2)), T, "model"),
    *family(
        "transform_batch x",
        lambda v: train.transform_batch(_stn_net(), v),
        [
            (_x(2).tolist(), T),
            (_x(2).numpy(), T),
            (_x(1)[0], V),
            (_x(2).to(torch.uint8), T),
            (torch.zeros(0, 1, 4, 4), V),
        ],
        "x",
    ),
    bad(
        "transform_batch x 8x8 for a 4x4 transformer",
        lambda: train.transform_batch(_stn_net(), _x(2, size=8)),
        V,
        "4x4",
    ),
    bad("over_batches model None", lambda: train.over_batches(None, [_xy()], lambda m, x: m(x)), T, "model"),
    *family("over_batches fn", lambda v: train.over_batches(_mlp(4, 4), [_xy()], v), [(None, T), ("m", T)], "fn"),
    *family(
        "over_batches loader",
        lambda v: train.over_batches(_mlp(4, 4), v, lambda m, x: m(x)),
        [(None, T), (5, T)],
        "loader",
    ),
    *labelled(
        "evaluate loader",
        _evaluate,
        [
            ("empty", [], V),
            ("a list of tensors, not of batches", list(_xy()), T),
            ("(x, y, z) batches", [(*_xy(), torch.arange(2))], V),
            ("numpy x", [(_x(2).numpy(), torch.arange(2))], T),
            ("float y", [(_x(2), torch.arange(2).float())], T),
            ("y of another length", [(_x(2), torch.arange(1))], V),
            ("a str", "ab", T),
            ("list y", [(_x(2), [0, 1])], T),
            ("a 0-d x", [(torch.tensor(1.0), torch.arange(1))], V),
        ],
        "loader",
    ),
    *family("evaluate precision", lambda v: _evaluate([_xy()], precision=v), [("fp8", V), (None, T)], "precision"),
    *family("evaluate channels_last", lambda v: _evaluate([_xy()], channels_last=v), BAD_FLAGS[:2], "channels_last"),
    *family("predict data", lambda v: train.predict(_mlp(), v), [(None, T), ([_xy()], T)], "data"),
    *family(
        "predict recipe",
        lambda v: train.predict(_mlp(), _image_data(), v),
        [("ours", T), (fast_cifar.FastRecipe(), T)],
        "recipe",
    ),
    bad("predict model None", lambda: train.predict(None, _image_data()), T, "model"),
    bad("stn_thetas model without .stn", lambda: train.stn_thetas(_mlp(), _image_data()), V, "model", ".stn"),
    bad("stn_thetas model None", lambda: train.stn_thetas(None, _image_data()), T, "model"),
    bad("stn_thetas data None", lambda: train.stn_thetas(_stn_net(), None), T, "data"),
    bad("stn_thetas recipe 5", lambda: train.stn_thetas(_stn_net(), _image_data(), 5), T, "recipe"),
]


def _recipe(**changes) -> recipes.Recipe:
    return recipes.Recipe(**{"name": "r", **changes})


def _fast(**changes) -> object:
    return fast_cifar.FastRecipe(**changes)


def _field(build: Callable[..., object], field: str, values: list[tuple[object, type]], kind: str) -> list[Bad]:
    return family(f"{kind} {field}", lambda v: build(**{field: v}), values, field)


BAD_RATES = [(0, V), (-1.0, V), (NAN, V), (INF, V), ("0.1", T), (True, T), (None, T)]
BAD_FRACTIONS = [(1.5, V), (-0.1, V), (NAN, V), ("0.5", T)]

BAD_RECIPES: list[Bad] = [
    *_field(_recipe, "name", [(None, T), (5, T)], "Recipe"),
    *_field(_recipe, "optimizer", [("adamw", V), ("Adam", V), (None, T), (1, T)], "Recipe"),
    *_field(_recipe, "lr", BAD_RATES, "Recipe"),
    *_field(_recipe, "momentum", BAD_FRACTIONS, "Recipe"),
    *_field(_recipe, "nesterov", BAD_FLAGS, "Recipe"),
    bad(
        "Recipe nesterov without momentum",
        lambda: _recipe(optimizer="sgd", momentum=0.0, nesterov=True),
        V,
        "nesterov",
        "momentum",
    ),
    *_field(_recipe, "stn_lr_scale", [(0, V), (-1, V), ("1", T)], "Recipe"),
    *_field(_recipe, "stn_weight_decay", [("no", T), (0, T)], "Recipe"),
    *_field(_recipe, "weight_decay", [(-1e-4, V), (NAN, V), (INF, V), ("0", T)], "Recipe"),
    *_field(_recipe, "scheduler", [("cosine", V), ("OneCycle", V), (1, T)], "Recipe"),
    *_field(_recipe, "warmup", BAD_FRACTIONS, "Recipe"),
    *_field(_recipe, "batch_size", BAD_SIZES, "Recipe"),
    *_field(_recipe, "label_smoothing", BAD_FRACTIONS[:2], "Recipe"),
    *_field(_recipe, "augment_pad", [(-1, V), (1.5, T), ("4", T)], "Recipe"),
    *_field(
        _recipe,
        "normalize",
        [((0.5,), V), ((0.5, 0.5, 0.5), V), ("0.5", T), (0.5, T), ((0.5, 0.0), V), ((0.5, NAN), V), (("0.5", 0.5), T)],
        "Recipe",
    ),
    *_field(_recipe, "precision", [("fp8", V), ("FP16", V), (None, T), (torch.float16, T)], "Recipe"),
    *_field(_recipe, "channels_last", BAD_FLAGS, "Recipe"),
    bad("dataclasses.replace(OURS, lr=-1)", lambda: dataclasses.replace(recipes.OURS, lr=-1), V, "lr"),
    bad("Recipe.prepare data None", lambda: recipes.OURS.prepare(None), T, "data"),
    *_field(_fast, "name", [(None, T)], "FastRecipe"),
    *_field(_fast, "batch_size", BAD_SIZES[:3], "FastRecipe"),
    *_field(_fast, "lr", BAD_RATES[:5], "FastRecipe"),
    *_field(_fast, "momentum", [(1, V), (1.0, V), (1.5, V), (0, V), (-0.1, V), (NAN, V), ("0.9", T)], "FastRecipe"),
    *_field(_fast, "weight_decay", [(-1, V), (INF, V)], "FastRecipe"),
    *_field(_fast, "bias_scaler", [(0, V), ("64", T)], "FastRecipe"),
    *_field(_fast, "label_smoothing", [(2, V), (NAN, V)], "FastRecipe"),
    *_field(_fast, "whiten_bias_epochs", [(-1, V), (1.5, T)], "FastRecipe"),
    *_field(_fast, "translate", [(-1, V), (2.0, T)], "FastRecipe"),
    *_field(_fast, "stn_lr_scale", [(0, V), (None, T)], "FastRecipe"),
    *_field(_fast, "precision", [("fp8", V), (None, T)], "FastRecipe"),
    *_field(_fast, "channels_last", BAD_FLAGS[:2], "FastRecipe"),
    *family(
        "make_optimizer model", lambda v: recipes.make_optimizer(v, TINY), [(None, T), ("net", T), (len, T)], "model"
    ),
    bad(
        "make_optimizer model without trainable parameters",
        lambda: recipes.make_optimizer(nn.ReLU(), TINY),
        V,
        "model",
        "no trainable parameters",
    ),
    *family(
        "make_optimizer recipe",
        lambda v: recipes.make_optimizer(_mlp(4), v),
        [(None, T), ("ours", T), (fast_cifar.FastRecipe(), T)],
        "recipe",
    ),
    *family(
        "make_scheduler optimizer",
        lambda v: recipes.make_scheduler(v, TINY, 10),
        [(None, T), (_mlp(4), T), ("adam", T)],
        "optimizer",
    ),
    bad(
        "make_scheduler recipe None",
        lambda: recipes.make_scheduler(recipes.make_optimizer(_mlp(4), TINY), None, 10),
        T,
        "recipe",
    ),
    *family(
        "make_scheduler total_steps",
        lambda v: recipes.make_scheduler(recipes.make_optimizer(_mlp(4), TINY), TINY, v),
        BAD_SIZES,
        "total_steps",
    ),
    *family("precision_words", recipes.precision_words, [("fp8", V), ("FP32", V), (None, T), (32, T)], "precision"),
]


@functools.cache
def _results() -> Path:
    """A temporary folder of results files: ``list.json``, ``nan.json``, ``empty.json``, ``latin1.json``,
    ``lacking.json`` (an entry without its fields), ``number.json`` (an entry that is a number); ``folder/``."""
    root = _folders() / "results"
    (root / "folder").mkdir(parents=True)
    for name, text in (
        ("list", "[]"),
        ("nan", '{"01_a": NaN}'),
        ("empty", ""),
        ("lacking", '{"01_a": {}}'),
        ("number", '{"01_a": 5}'),
    ):
        (root / f"{name}.json").write_text(text)
    (root / "latin1.json").write_bytes('{"01_a": "é"}'.encode("latin-1"))
    return root


def _entry(**changes) -> dict:
    """One notebook's valid record for ``merge_metrics``, with ``changes``."""
    entry = {
        "profile": "quick",
        "data": "synthetic",
        "seconds": 1.0,
        "finished": "2026-01-01 00:00 UTC",
        "metrics": [{"key": "acc", "label": "Accuracy", "value": 99.0, "unit": "%"}],
    }
    return {**entry, **changes}


def _metric(**changes) -> dict:
    return {**_entry()["metrics"][0], **changes}


def _merge(entries: object, path: object = DEFAULT) -> object:
    return runs.merge_metrics(_results() / "merged.json" if path is DEFAULT else path, entries)


def _notebook_run() -> runs.NotebookRun:
    return runs.NotebookRun("99_bad_inputs", env.Profile("quick", "test"), 0)


def _record(metrics: object = DEFAULT, data: object = "synthetic") -> object:
    metrics = [runs.Metric("acc", "Accuracy", 99.0, "%")] if metrics is DEFAULT else metrics
    return _in_temp_reports(lambda: _notebook_run().record(metrics, data=data))


BAD_RUNS: list[Bad] = [
    *family(
        "atomic_write_bytes path",
        lambda v: runs.atomic_write_bytes(v, b"x"),
        [(None, T), (5, T), ("", V), ("  ", V), (b"out.bin", T)],
        "path",
    ),
    bad(
        "atomic_write_bytes path a folder",
        lambda: runs.atomic_write_bytes(_results() / "folder", b"x"),
        V,
        "path",
        "folder",
    ),
    *family(
        "atomic_write_bytes data",
        lambda v: runs.atomic_write_bytes(_results() / "out.bin", v),
        [("text", T), (None, T), ([1, 2], T), (5, T)],
        "data",
    ),
    *family(
        "atomic_write_text text",
        lambda v: runs.atomic_write_text(_results() / "out.txt", v),
        [(b"x", T), (None, T), (5, T), (["a"], T)],
        "text",
    ),
    *family("atomic_write_text path", lambda v: runs.atomic_write_text(v, "x"), [(None, T), ("", V)], "path"),
    *family(
        "atomic_write_json obj",
        lambda v: runs.atomic_write_json(_results() / "out.json", v),
        [
            ({"a": NAN}, V),
            ({"a": INF}, V),
            ([NAN], V),
            ({"a": torch.tensor(1.0)}, T),
            ({1, 2}, T),
            ({("a",): 1}, T),
            (object(), T),
        ],
        "obj",
    ),
    *family("atomic_write_json path", lambda v: runs.atomic_write_json(v, {}), [(None, T), (3.0, T), ("", V)], "path"),
    *family(
        "Metric key",
        lambda v: runs.Metric(v, "Accuracy", 1.0),
        [("", V), ("  ", V), (None, T), (5, T), (b"acc", T)],
        "key",
    ),
    *family("Metric label", lambda v: runs.Metric("acc", v, 1.0), [(None, T), (5, T)], "label"),
    *family("Metric unit", lambda v: runs.Metric("acc", "Accuracy", 1.0, v), [(None, T), (1, T)], "unit"),
    *family(
        "Metric value",
        lambda v: runs.Metric("acc", "Accuracy", v),
        [
            (NAN, V),
            (INF, V),
            (-INF, V),
            (np.float64("nan"), V),
            (torch.tensor(NAN), V),
            (True, T),
            (np.bool_(True), T),
            ("0.9", T),
            (None, T),
            ([0.9], T),
            (torch.tensor([0.9, 0.8]), T),
            (np.array([0.5]), T),
            (1j, T),
        ],
        "value",
        "acc",
    ),
    *family("load_metrics path", runs.load_metrics, [(None, T), (5, T), ("", V)], "path"),
    bad("load_metrics path a folder", lambda: runs.load_metrics(_results() / "folder"), V, "path", "folder"),
    *family(
        "load_metrics entries", lambda v: runs.load_metrics(_results() / "list.json", entries=v), BAD_FLAGS, "entries"
    ),
    *[
        bad(
            f"load_metrics {name}",
            functools.partial(lambda n: runs.load_metrics(_results() / n), name),
            runs.MetricsFileError,
            name,
            why,
        )
        for name, why in (
            ("list.json", "list"),
            ("nan.json", "NaN"),
            ("empty.json", "empty"),
            ("latin1.json", "cannot be read"),
            ("lacking.json", "lacks"),
            ("number.json", "must be an object"),
        )
    ],
    *family("merge_metrics entries", _merge, [(None, T), ({}, V), ([], T), ("01_a", T)], "entries"),
    *labelled(
        "merge_metrics an entry",
        lambda v: _merge({"01_a": v}),
        [
            ("5", 5, V),
            ("None", None, V),
            ("data 5", _entry(data=5), V),
            ("seconds NaN", _entry(seconds=NAN), V),
            ("seconds '1'", _entry(seconds="1"), V),
            ("no metrics", _entry(metrics=[]), V),
            ("metrics 'acc'", _entry(metrics="acc"), V),
            ("a value True", _entry(metrics=[_metric(value=True)]), V),
            ("a value None", _entry(metrics=[_metric(value=None)]), V),
            ("a repeated key", _entry(metrics=[_metric(), _metric()]), V),
            ("a metric without label", _entry(metrics=[{"key": "acc", "value": 1.0}]), V),
            ("unit 5", _entry(metrics=[_metric(unit=5)]), V),
            ("without finished", {k: v for k, v in _entry().items() if k != "finished"}, V),
        ],
        "the entry '01_a'",
    ),
    *family("merge_metrics a name", lambda v: _merge({v: _entry()}), [("", V), (" ", V), (5, V), (None, V)], "name"),
    *family("merge_metrics path", lambda v: _merge({"01_a": _entry()}, v), [(None, T), (5, T), ("", V)], "path"),
    bad("merge_metrics path a folder", lambda: _merge({"01_a": _entry()}, _results() / "folder"), V, "path", "folder"),
    *family("start_run name", lambda v: runs.start_run(v, "quick"), [("", V), ("  ", V), (None, T), (5, T)], "name"),
    *family("start_run seed", lambda v: runs.start_run("99_x", "quick", seed=v), BAD_SEEDS, "seed"),
    *family("start_run profile", lambda v: runs.start_run("99_x", v), [("fast", V), ("", V), (None, T)], "profile"),
    *family(
        "NotebookRun.record metrics",
        _record,
        [
            (None, T),
            ([], V),
            ((), V),
            ("acc", T),
            (runs.Metric("a", "A", 1), T),
            ([{"key": "a", "label": "A", "value": 1}], T),
            (["acc"], T),
            (5, T),
        ],
        "metrics",
    ),
    bad("NotebookRun.record repeated keys", lambda: _record([runs.Metric("acc", "A", 1)] * 2), V, "acc", "repeated"),
    *family(
        "NotebookRun.record data",
        lambda v: _record(data=v),
        [("", V), ("  ", V), (None, T), (5, T), (b"test", T)],
        "data",
    ),
]

#: Module name -> its bad-input rows. To cover another module, add ``"<module>": BAD_<MODULE>`` here.
BAD_INPUTS: dict[str, list[Bad]] = {
    "affine": BAD_AFFINE,
    "models": BAD_MODELS,
    "data": BAD_DATA,
    "distort": BAD_DISTORT,
    "recovery": BAD_RECOVERY,
    "env": BAD_ENV,
    "train": BAD_TRAIN,
    "recipes": BAD_RECIPES,
    "runs": BAD_RUNS,
}
OUTCOMES = ("clear", "unclear", "raw", "silent")


def count_bad() -> dict[str, int]:
    """Rows per module, and ``"total"``."""
    counts = {m: len(rows) for m, rows in BAD_INPUTS.items()}
    return {**counts, "total": sum(counts.values())}


def raised_in_stnlib(exc: BaseException) -> bool:
    """Whether stnlib raised ``exc`` itself: the innermost frame of its traceback is a ``raise`` statement in a file
    of the imported ``stnlib`` package (a torch function implemented in C, called from stnlib, leaves stnlib's call
    line as the innermost frame: that is no boundary check)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames or Path(frames[-1].filename).resolve().parent != Path(stnlib.__file__).resolve().parent:
        return False
    return (frames[-1].line or "").lstrip().startswith("raise ")


def classify(row: Bad, *, strict: bool = True) -> tuple[str, str]:
    """``(outcome, detail)``. ``"clear"``: ``row.error`` (``strict=False``: any ``ValueError``/``TypeError``, as
    stnlib once raised ``ValueError`` for wrong types too) raised in stnlib with ``row.words`` in the message;
    ``"unclear"``: stnlib's own ``ValueError``/``TypeError``/documented class, but without the words (or, strict,
    of another class); ``"raw"``: any other error (from inside torch/numpy/Python, or an ``AttributeError`` ...);
    ``"silent"``: no error."""
    try:
        row.call()
    except Exception as e:  # noqa: BLE001 - sorting every outcome is the point
        where = traceback.extract_tb(e.__traceback__)[-1]
        detail = f"{type(e).__name__}: {str(e)[:160]} [{Path(where.filename).name}:{where.lineno}]"
        expected = (row.error,) if strict else (ValueError, TypeError, row.error)
        ours = raised_in_stnlib(e) and isinstance(e, (ValueError, TypeError, row.error))
        if ours and isinstance(e, expected) and all(w in str(e) for w in row.words):
            return "clear", detail
        return ("unclear" if ours else "raw"), detail
    return "silent", "no error"


def _rows() -> list:
    return [pytest.param(row, id=f"{module}: {row.name}") for module, rows in BAD_INPUTS.items() for row in rows]


@pytest.mark.parametrize("row", _rows())
def test_a_bad_input_gets_a_clear_error_at_the_boundary(row: Bad):
    with pytest.raises(row.error) as info:
        row.call()
    assert raised_in_stnlib(info.value), "".join(traceback.format_exception(info.value))
    missing = [w for w in row.words if w not in str(info.value)]
    assert not missing, f"{missing} not in: {info.value}"
    assert isinstance(info.value, ValueError | TypeError | IndexError)


#: The public functions and classes each module's rows must call (a row's name starts with what it calls).
COVERED = {
    "env": (
        "resolve_profile",
        "seed_everything",
        "pick_device",
        "resolve_precision",
        "native_bf16",
        "autocast",
        "precision_note",
        "reports_dir",
        "published_dir",
        "synchronize",
        "widgets_rendered",
    ),
    "train": ("fit", "train_step", "transform_batch", "over_batches", "evaluate", "predict", "stn_thetas"),
    "recipes": ("Recipe", "FastRecipe", "make_optimizer", "make_scheduler", "precision_words"),
    "runs": (
        "atomic_write_bytes",
        "atomic_write_text",
        "atomic_write_json",
        "Metric",
        "load_metrics",
        "merge_metrics",
        "start_run",
        "NotebookRun.record",
    ),
}


def test_the_table_covers_every_module_with_enough_rows():
    counts = count_bad()
    assert set(BAD_INPUTS) == {"affine", "models", "data", "distort", "recovery", *COVERED}, sorted(BAD_INPUTS)
    assert counts["total"] >= 900, counts
    assert all(counts[m] >= 30 for m in BAD_INPUTS), counts
    for module, names in COVERED.items():
        calls = {row.name.split()[0].split("=")[0].rstrip(":") for row in BAD_INPUTS[module]}
        assert not set(names) - calls, f"{module}: no rows for {sorted(set(names) - calls)}"
    names = [row.name for rows in BAD_INPUTS.values() for row in rows]
    assert len(names) == len(set(names)), "row names must be unique (they are the test ids)"


def test_classify_sorts_outcomes():
    row = lambda call: bad("x", call, ValueError, "size")  # noqa: E731
    assert classify(row(lambda: affine.pixels_to_normalized(1, 1)))[0] == "clear"
    assert classify(row(lambda: affine.identity(1)))[0] == "silent"
    assert classify(row(lambda: torch.zeros(2) + torch.zeros(3)))[0] == "raw"  # raised inside torch
    assert classify(bad("x", lambda: affine.identity(-1), ValueError, "not in the message"))[0] == "unclear"


# ------------------------------------------------------------------ valid edge cases: never refused
def _close(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-5) -> bool:
    return bool(torch.allclose(a, b, atol=atol))


def _zoom_1e4() -> bool:  # a well-conditioned 1e4 zoom (det 1e-8) is invertible, and composes to the identity
    theta = _theta(1e-4, 0, 0.3, 0, 1e-4, -0.2)
    return _close(affine.compose(theta, affine.invert(theta)), EYE)


def _autocast_fp32_on_cpu() -> bool:
    with env.autocast(torch.device("cpu"), "fp32"):
        return not torch.is_autocast_enabled("cpu")


def _schedule_runs(warmup: float, total_steps: int) -> bool:
    """A one-cycle schedule of ``total_steps`` steps runs to its end with finite learning rates."""
    model, recipe = _mlp(4, 4), _recipe(warmup=warmup)
    opt = recipes.make_optimizer(model, recipe)
    sched = recipes.make_scheduler(opt, recipe, total_steps)
    for _ in range(total_steps):
        opt.step(), sched.step()
    return math.isfinite(opt.param_groups[0]["lr"])


def _recorded_value() -> object:  # a numpy metric, recorded and read back
    path = _record([runs.Metric("acc", "Accuracy", np.float32(0.5), "%")])
    return runs.load_metrics(path)["99_bad_inputs"]["metrics"][0]["value"]


GOOD_INPUTS: list[tuple[str, Callable[[], object]]] = [
    ("affine: 1e4 zoom invertible", _zoom_1e4),
    ("affine: identity numpy size", lambda: affine.identity(np.int64(2)).shape == (2, 2, 3)),
    ("affine: identity 0-d tensor size", lambda: affine.identity(torch.tensor(2)).shape == (2, 2, 3)),
    ("affine: identity empty batch", lambda: affine.identity(0).shape == (0, 2, 3)),
    ("affine: identity float16", lambda: affine.identity(dtype=torch.float16).dtype == torch.float16),
    ("affine: identity device 'cpu'", lambda: affine.identity(device="cpu").device.type == "cpu"),
    (
        "affine: build_theta numpy scalars",
        lambda: _close(affine.build_theta(rotation=np.float32(90), tx=np.int64(0)), affine.build_theta(rotation=90.0)),
    ),
    (
        "affine: build_theta 0-d tensor",
        lambda: _close(affine.build_theta(rotation=torch.tensor(30.0)), affine.build_theta(rotation=30)),
    ),
    (
        "affine: build_theta numpy array, tuple",
        lambda: affine.build_theta(rotation=np.array([1.0, 2.0]), tx=(0.1, 0.2)).shape == (2, 2, 3),
    ),
    ("affine: build_theta integer tensor", lambda: affine.build_theta(rotation=torch.tensor([1, 2])).shape[0] == 2),
    (
        "affine: build_theta list of 0-d tensors",
        lambda: affine.build_theta(rotation=[torch.tensor(1.0), torch.tensor(2.0)]).shape[0] == 2,
    ),
    ("affine: build_theta numpy batch_size", lambda: affine.build_theta(batch_size=np.int64(3)).shape[0] == 3),
    ("affine: build_theta float64, mirror", lambda: affine.build_theta(scale_x=-1, dtype=torch.float64)[0, 0, 0] == -1),
    (
        "affine: build_theta from decompose",
        lambda: _close(affine.build_theta(**affine.decompose(_thetas(3))), _thetas(3)),
    ),
    (
        "affine: build_theta keeps gradients",
        lambda: affine.build_theta(rotation=torch.tensor([10.0], requires_grad=True)).requires_grad,
    ),
    ("affine: pixels_to_normalized numpy size", lambda: float(affine.pixels_to_normalized(1, np.int32(4))) == 0.5),
    (
        "affine: pixels_to_normalized 0-d tensor size",
        lambda: float(affine.pixels_to_normalized(1, torch.tensor(4))) == 0.5,
    ),
    ("affine: pixels_to_normalized nested list", lambda: affine.pixels_to_normalized([[1, 2]], 4).shape == (1, 2)),
    (
        "affine: pixels_to_normalized float64 tensor",
        lambda: affine.pixels_to_normalized(torch.ones(3, dtype=torch.float64), 4).shape == (3,),
    ),
    ("affine: normalized_to_pixels number", lambda: affine.normalized_to_pixels(0.0, 28) == 13.5),
    ("affine: normalized_to_pixels numpy", lambda: affine.normalized_to_pixels(np.array([0.0]), 28)[0] == 13.5),
    ("affine: compose broadcasts a batch of one", lambda: affine.compose(EYE, affine.identity(3)).shape[0] == 3),
    ("affine: compose float64", lambda: affine.compose(EYE.double(), EYE.double()).dtype == torch.float64),
    ("affine: invert a batch of one, float64", lambda: _close(affine.invert(EYE.double()), EYE.double())),
    ("affine: decompose float64", lambda: float(affine.decompose(EYE.double())["scale_x"]) == 1.0),
    ("affine: zoom of stn_thetas' dict", lambda: affine.zoom({"theta": EYE, **affine.decompose(EYE)}).shape == (1,)),
    ("affine: warp float64", lambda: affine.warp(_x().double(), EYE.double()).dtype == torch.float64),
    ("affine: warp float64 theta on float32 images", lambda: affine.warp(_x(), EYE.double()).dtype == torch.float32),
    (
        "affine: warp fill per channel, tensor, numpy",
        lambda: all(
            affine.warp(_x(1, 3), EYE, fill=f).shape[1] == 3
            for f in ((0.0, 1.0, 2.0), torch.tensor([0.0, 1.0, 2.0]), np.float32(-1.0), torch.tensor(0.5))
        ),
    ),
    (
        "affine: warp out_size list, numpy ints",
        lambda: affine.warp(_x(), EYE, out_size=[np.int64(5), 6]).shape[-2:] == (5, 6),
    ),
    ("affine: warp a theta that needs grad", lambda: affine.warp(_x(), EYE.clone().requires_grad_()).requires_grad),
    ("affine: sampling_outline float64", lambda: affine.sampling_outline(EYE.double()).dtype == torch.float64),
    ("affine: outside_share list out_size", lambda: float(affine.outside_share(EYE, [4, 4])) == 0.0),
    ("models: lenet_bn numpy size", lambda: isinstance(models.lenet_bn(np.int64(28)), nn.Sequential)),
    ("models: lenet_bn 0-d tensor size", lambda: isinstance(models.lenet_bn(torch.tensor(28)), nn.Sequential)),
    (
        "models: mnist_stn_net numpy sizes",
        lambda: models.mnist_stn_net(np.int64(42), out_size=np.int64(28))(torch.zeros(1, 1, 42, 42)).shape == (1, 10),
    ),
    (
        "models: SpatialTransformer numpy features, zoom",
        lambda: _stn(features=np.int64(16), init_zoom=np.float32(2.0)).init_zoom == 2.0,
    ),
    (
        "models: SpatialTransformer 0-d tensor features",
        lambda: _stn(features=torch.tensor(16)).regressor.in_features == 16,
    ),
    (
        "models: SpatialTransformer 1e4 init_zoom",
        lambda: float(_stn(init_zoom=1e4).theta(torch.zeros(1, 1, 4, 4)).detach()[0, 0, 0]) == pytest.approx(1e-4),
    ),
    ("models: SpatialTransformer fill tensor", lambda: _stn(fill=torch.tensor([-0.5])).has_fill),
    (
        "models: SpatialTransformer a plain-function localization",
        lambda: _stn(localization=lambda x: x.flatten(1)).theta(torch.zeros(2, 1, 4, 4)).shape == (2, 2, 3),
    ),
    ("models: bn_localization numpy kernel", lambda: models.bn_localization(1, 32, kernel=np.int64(3))[1] == 32),
    (
        "models: bn_localization per-layer kernels",
        lambda: models.bn_localization(1, 42, channels=(32, 64, 64), kernel=(5, 5, 3))[1] == 32,
    ),
    (
        "models: cifar_stn_net numpy loc_downsample",
        lambda: isinstance(models.cifar_stn_net(loc_downsample=np.int64(4)), models.STNClassifier),
    ),
    ("models: resnet9 numpy width", lambda: isinstance(models.resnet9(np.int32(8)), nn.Sequential)),
    (
        "models: mnist_cnn 60 -> 20",
        lambda: models.mnist_cnn(60, out_size=20)(torch.zeros(1, 1, 60, 60)).shape == (1, 10),
    ),
    ("models: full_precision 'cpu'", lambda: models.full_precision("cpu") is not None),
    (
        "models: a batch of one through the tutorial net",
        lambda: models.tutorial_net().eval()(torch.zeros(1, 1, 28, 28)).shape == (1, 10),
    ),
    (
        "data: make_loader numpy and list labels",
        lambda: all(
            len(list(_loader(labels=y))) == 2
            for y in (np.arange(4), [0, 1, 2, 3], np.arange(4, dtype=np.uint8), torch.arange(4, dtype=torch.int32))
        ),
    ),
    (
        "data: make_loader whole float labels",
        lambda: next(iter(_loader(labels=torch.tensor([0.0, 1, 2, 3]))))[1].dtype == torch.int64,
    ),
    ("data: make_loader mean, std as numbers", lambda: len(list(_loader(mean=0.5, std=np.float32(0.25)))) == 2),
    (
        "data: make_loader mean, std as tensor, array",
        lambda: len(list(_loader(images=_digits(4, c=3), mean=torch.tensor([0.5] * 3), std=np.array([0.5] * 3)))) == 2,
    ),
    (
        "data: make_loader numpy seed, largest seed",
        lambda: all(len(list(_loader(seed=s, shuffle=True))) == 2 for s in (np.int64(5), 2**32 - 1)),
    ),
    ("data: make_loader a batch of one", lambda: len(list(_loader(batch_size=1))) == 4),
    (
        "data: ImageData with 4 classes",
        lambda: len(_image_data(train_labels=torch.arange(8) % 4, classes=("a", "b", "c", "d")).train_labels) == 8,
    ),
    ("data: subset numpy, 0", lambda: len(_image_data().subset(np.int64(2), 0).test_labels) == 0),
    (
        "data: load_dataset str and Path folders",
        lambda: all(
            len(data.load_dataset("mnist", data_dir=d, limit_train=np.int64(2)).train_labels) == 2
            for d in (_good(), str(_good()))
        ),
    ),
    ("data: black_value of a distorted set", lambda: data.black_value("mnist-rts") == data.black_value("mnist")),
    ("distort: distort_mnist an empty batch", lambda: len(distort.distort_mnist(_digits(0), "rts", seed=0)) == 0),
    (
        "distort: distort_mnist numpy seed, largest seed",
        lambda: all(distort.distort_mnist(_digits(2), "rts", seed=s).seed == s for s in (np.int64(3), 2**32 - 1)),
    ),
    (
        "distort: distort_cifar a batch of one",
        lambda: len(distort.distort_cifar(_digits(1, c=3, size=32), seed=0)) == 1,
    ),
    (
        "distort: select a list, a mask, negatives",
        lambda: (
            [len(_applied().select(i)) for i in ([0, 2], torch.tensor([True, False, True, False]), torch.tensor([-1]))]
            == [2, 2, 1]
        ),
    ),
    ("distort: head(0)", lambda: len(_applied().head(0)) == 0),
    (
        "distort: load_distorted_mnist numpy limits",
        lambda: len(distort.load_distorted_mnist("rts", data_dir=_good(), limit_train=np.int64(2)).train_labels) == 2,
    ),
    (
        "recovery: fit_line float64 and integers",
        lambda: recovery.fit_line(torch.arange(3), _y(0, 2, 4).double()).slope == pytest.approx(2.0),
    ),
    ("recovery: fit_line two points", lambda: recovery.fit_line(_y(0, 1), _y(1, 3)).r2 == pytest.approx(1.0)),
    (
        "recovery: within_group_fit",
        lambda: (
            recovery.within_group_fit(_y(0, 1, 5, 6), _y(0, -1, 5, 4), torch.tensor([0, 0, 1, 1])).slope
            == pytest.approx(-1.0)
        ),
    ),
    (
        "recovery: region_centre_px float16, numpy canvas",
        lambda: recovery.region_centre_px(EYE.half(), np.int64(42)).shape == (1, 2),
    ),
    ("recovery: theta_spread of two", lambda: recovery.theta_spread(_thetas(2), 32)["rotation_deg"] > 0),
    ("recovery: rts_components float64", lambda: len(recovery.rts_components(_thetas(4).double(), _applied())) == 4),
    ("recovery: attention_components", lambda: len(recovery.attention_components(_thetas(4), _applied())) == 4),
    (
        "env: pick_device a torch.device, padded upper case",
        lambda: env.pick_device(torch.device("cpu")) == env.pick_device(" CPU ") == torch.device("cpu"),
    ),
    (
        "env: resolve_profile ' Quick '",
        lambda: _with_env(lambda: env.resolve_profile(" Quick "), STNLIB_PROFILE=None).name == "quick",
    ),
    (
        "env: seed_everything largest, numpy, 0-d tensor",
        lambda: (
            _keeping_rng(lambda: [env.seed_everything(s) for s in (2**32 - 1, np.int64(7), torch.tensor(3), 0)])
            == [None] * 4
        ),
    ),
    (
        "env: resolve_precision fp32 on a meta device",
        lambda: (
            _with_env(lambda: env.resolve_precision("fp32", torch.device("meta")), STNLIB_PRECISION=None)[0] == "fp32"
        ),
    ),
    ("env: autocast fp32 on the CPU", _autocast_fp32_on_cpu),
    (
        "env: precision_note of a Recipe",
        lambda: (
            _with_env(lambda: env.precision_note(recipes.TUTORIAL, torch.device("cpu")), STNLIB_PRECISION=None)
            == "precision fp32: as requested"
        ),
    ),
    (
        "env: reports_dir of a Profile",
        lambda: _in_temp_reports(lambda: env.reports_dir(env.Profile("quick", "test"))).name == "quick",
    ),
    (
        "env: synchronize, native_bf16 'cpu'",
        lambda: env.synchronize("cpu") is None and isinstance(env.native_bf16("cpu"), bool),
    ),
    ("train: train_step a batch of one", lambda: _step(x=_x(1), y=torch.tensor([3]))[1].shape == (1, 4)),
    ("train: transform_batch a batch of one", lambda: train.transform_batch(_stn_net(), _x(1))[1].shape == (1, 2, 3)),
    (
        "train: evaluate a generator of tuple and list batches",
        lambda: 0 <= _evaluate(iter([_xy(), list(_xy(1))]))[1] <= 100,
    ),
    ("train: evaluate uint8 labels", lambda: 0 <= _evaluate([(_x(2), torch.tensor([0, 1], dtype=torch.uint8))])[1]),
    (
        "train: fit numpy epochs, largest seed, a tuple of callbacks",
        lambda: (
            _keeping_rng(
                lambda: _fit(
                    epochs=np.int64(1),
                    seed=2**32 - 1,
                    callbacks=(train.Callback(),),
                    time_budget_s=INF,
                    target_acc=100.0,
                    eval_every_steps=np.int64(1),
                )
            ).final.epoch
            == 1
        ),
    ),
    (
        "recipes: Recipe numpy batch_size, 0-d tensor lr",
        lambda: (
            (type(_recipe(batch_size=np.int64(64)).batch_size), type(_recipe(lr=torch.tensor(0.1)).lr)) == (int, float)
        ),
    ),
    (
        "recipes: Recipe momentum 0, warmup 0 and 1, label_smoothing 1",
        lambda: (
            _recipe(optimizer="sgd", momentum=0, warmup=0, label_smoothing=1).momentum == 0
            and _recipe(warmup=1).warmup == 1
        ),
    ),
    (
        "recipes: make_scheduler, warmup 0 or 1, 1 to 5 steps",
        lambda: all(_schedule_runs(w, n) for w in (0.0, 0.3, 0.5, 1 / 3, 1.0) for n in range(1, 6)),
    ),
    (
        "recipes: make_scheduler numpy total_steps",
        lambda: recipes.make_scheduler(recipes.make_optimizer(_mlp(4), TINY), TINY, np.int64(1)) is not None,
    ),
    (
        "recipes: FastRecipe momentum 0.999, numpy batch_size",
        lambda: type(_fast(momentum=0.999, batch_size=np.int64(512)).batch_size) is int,
    ),
    ("recipes: precision_words fp32", lambda: recipes.precision_words("fp32") == ""),
    (
        "runs: Metric numpy and 0-d tensor values become Python numbers",
        lambda: (
            [
                type(runs.Metric("a", "A", v).value)
                for v in (np.float32(0.5), np.int64(3), torch.tensor(3), torch.tensor(0.5))
            ]
            == [float, int, int, float]
        ),
    ),
    (
        "runs: Metric 0, negative, 1e300",
        lambda: [runs.Metric("a", "A", v).value for v in (0, -2.5, 1e300)] == [0, -2.5, 1e300],
    ),
    ("runs: load_metrics of a missing file", lambda: runs.load_metrics(str(_results() / "missing.json")) == {}),
    (
        "runs: atomic_write_text into a new folder",
        lambda: runs.atomic_write_text(_results() / "new" / "a.txt", "é").read_text(encoding="utf-8") == "é",
    ),
    (
        "runs: start_run largest seed, numpy seed, 'QUICK'",
        lambda: (
            _keeping_rng(
                lambda: [
                    _with_env(functools.partial(runs.start_run, "99_x", "QUICK", seed=s), STNLIB_PROFILE=None).seed
                    for s in (2**32 - 1, np.int64(5))
                ]
            )
            == [2**32 - 1, 5]
        ),
    ),
    (
        "runs: record a numpy value, read back a float",
        lambda: _recorded_value() == 0.5 and type(_recorded_value()) is float,
    ),
]


@pytest.mark.parametrize(("name", "call"), GOOD_INPUTS, ids=[name for name, _ in GOOD_INPUTS])
def test_a_valid_edge_case_still_works(name, call):
    assert call()


# ------------------------------------------------------------------ properties (Hypothesis)
FAST = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def _raises_at_boundary(call: Callable[[], object]) -> BaseException:
    """The error ``call`` raises; it must be a ValueError/TypeError raised inside stnlib (never inside torch)."""
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    assert raised_in_stnlib(info.value), "".join(traceback.format_exception(info.value))
    return info.value


bad_sizes = st.one_of(
    st.integers(max_value=0),
    st.booleans(),
    st.floats(allow_nan=True),
    st.text(max_size=3),
    st.none(),
    st.complex_numbers(max_magnitude=10),
)
SIZED = {
    "identity": lambda v: affine.identity(v - 1 if type(v) is int else v),  # a count: 0 is an empty batch
    "lenet_bn": models.lenet_bn,
    "resnet9": models.resnet9,
    "features": lambda v: _stn(features=v),
    "pixels_to_normalized": lambda v: affine.pixels_to_normalized(1, v),
    "batch_size": lambda v: _loader(batch_size=v),
    "canvas": lambda v: recovery.region_centre_px(EYE, v),
    "bn_localization": lambda v: models.bn_localization(1, 32, downsample=v),
}


@FAST
@given(value=bad_sizes, where=st.sampled_from(sorted(SIZED)))
def test_property_bad_sizes_are_refused_at_the_boundary(value, where):
    _raises_at_boundary(lambda: SIZED[where](value))


not_finite = st.sampled_from([NAN, INF, -INF])
bad_numbers = st.one_of(not_finite, st.booleans(), st.text(max_size=3), st.none(), st.lists(not_finite, min_size=1))
NUMBERED = {
    "rotation": lambda v: affine.build_theta(rotation=v),
    "tx": lambda v: affine.build_theta(tx=v),
    "init_zoom": lambda v: _stn(init_zoom=v),
    "fill": lambda v: affine.warp(_x(), EYE, fill=v),
    "pixels": lambda v: affine.pixels_to_normalized(v, 8),
    "std": lambda v: _loader(std=v),
}


@FAST
@given(value=bad_numbers, where=st.sampled_from(sorted(NUMBERED)))
def test_property_non_finite_or_non_numbers_are_refused_at_the_boundary(value, where):
    assume(not (where == "fill" and value is None))  # fill=None: no fill
    error = _raises_at_boundary(lambda: NUMBERED[where](value))
    assert where in str(error)


DTYPES = [torch.float16, torch.float32, torch.float64, torch.int64, torch.uint8, torch.bool]


@st.composite
def bad_thetas(draw) -> torch.Tensor:
    """A tensor that is not a finite float ``(B, 2, 3)``, B >= 1: wrong shape, wrong dtype or a NaN/inf in it."""
    shape = draw(st.lists(st.integers(0, 4), min_size=0, max_size=4).map(tuple))
    dtype = draw(st.sampled_from(DTYPES))
    t = torch.zeros(shape, dtype=dtype)
    good_shape = len(shape) == 3 and shape[0] >= 1 and shape[1:] == (2, 3)
    if good_shape and dtype.is_floating_point:
        t.view(-1)[draw(st.integers(0, t.numel() - 1))] = draw(not_finite)
    return t


THETA_USERS = {
    "invert": affine.invert,
    "decompose": affine.decompose,
    "compose": lambda t: affine.compose(t, EYE),
    "warp": lambda t: affine.warp(_x(), t),
    "sampling_outline": affine.sampling_outline,
    "region_centre_px": lambda t: recovery.region_centre_px(t, 28),
    "theta_spread": lambda t: recovery.theta_spread(t, 28),
}


@FAST
@given(theta=bad_thetas(), where=st.sampled_from(sorted(THETA_USERS)))
def test_property_bad_thetas_are_refused_at_the_boundary(theta, where):
    error = _raises_at_boundary(lambda: THETA_USERS[where](theta))
    assert "theta" in str(error) or "first" in str(error)


@FAST
@given(
    seed=st.one_of(
        st.integers(max_value=-1),
        st.integers(min_value=2**32),
        st.booleans(),
        st.floats(),
        st.text(max_size=2),
        st.none(),
    ),
    where=st.sampled_from(["distort_mnist", "make_loader", "distort_cifar"]),
)
def test_property_bad_seeds_are_refused_at_the_boundary(seed, where):
    calls = {
        "distort_mnist": lambda: distort.distort_mnist(_digits(1), "rts", seed=seed),
        "make_loader": lambda: _loader(seed=seed),
        "distort_cifar": lambda: distort.distort_cifar(_digits(1, c=3, size=32), seed=seed),
    }
    assert "seed" in str(_raises_at_boundary(calls[where]))


@FAST
@given(
    value=st.one_of(
        st.integers(-(2**70), 2**70),
        st.sampled_from([np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint32]).map(lambda t: t(7)),
    ),
    low=st.integers(-5, 5),
)
def test_property_check_int_accepts_every_int_in_range(value, low):
    checks = importlib.import_module("stnlib.checks")
    if int(value) >= low:
        assert checks.check_int(value, "n", min=low) == int(value) and type(checks.check_int(value, "n")) is int
    else:
        with pytest.raises(ValueError, match=f"n must be an int >= {low}"):
            checks.check_int(value, "n", min=low)


@FAST
@given(value=st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300))
def test_property_check_float_accepts_every_finite_float(value):
    checks = importlib.import_module("stnlib.checks")
    assert checks.check_float(value, "x") == value and checks.check_float(np.float64(value), "x") == value
    assert math.isfinite(checks.check_floats([value, value], "x")[1])


def test_the_checks_messages_word_for_word():
    """What :mod:`stnlib.checks` converts, and its messages in full: the argument, the expectation, what came, a fix."""
    checks = importlib.import_module("stnlib.checks")
    assert checks.describe(torch.zeros(2, 3, dtype=torch.int64)) == "a torch.int64 tensor of shape (2, 3)"
    assert (checks.describe("abc"), checks.describe(None)) == ("str 'abc'", "None")
    assert checks.check_int(np.int64(28), "n", min=1) == 28 and checks.check_int(torch.tensor(3), "n") == 3
    assert checks.check_float(np.float32(0.5), "init_zoom", positive=True) == 0.5
    assert checks.check_floats([0.5, 0.25], "std", length=2, positive=True) == (0.5, 0.25)
    assert checks.check_ints([28, np.int64(28)], "out_size", length=2, min=1) == (28, 28)
    assert checks.check_callable(None, "transform", optional=True) is None
    assert checks.check_path("data", "data_dir").name == "data"
    assert checks.check_device("cpu") == torch.device("cpu")
    assert affine.check_fill((0.0, -1.0)).tolist() == [0.0, -1.0]
    calls = {
        "in_size must be an int >= 1, got int 0": lambda: checks.check_int(0, "in_size", min=1),
        "batch_size must be an int, got float 2.0 (use int(2.0))": lambda: checks.check_int(2.0, "batch_size"),
        "shuffle must be True or False, got str 'no'": lambda: checks.check_bool("no", "shuffle"),
        "kind must be one of 'rts', 'cluttered', got str 'rst' (did you mean 'rts'?)": (
            lambda: checks.check_choice("rst", "kind", ("rts", "cluttered"))
        ),
        "seed must be an int in 0 .. 4294967295, got int -1": lambda: checks.check_seed(-1),
        "name must be a dataset name, got None": lambda: checks.check_type(None, "name", str, "a dataset name"),
        "theta must have shape (B, 2, 3), got (2, 3) (add a batch axis: theta.unsqueeze(0))": (
            lambda: checks.check_tensor(torch.eye(2, 3), "theta", shape=("B", 2, 3))
        ),
        "loader's y must have shape (2), got (3,)": (
            lambda: checks.check_batch((torch.zeros(2, 1, 4, 4), torch.zeros(3, dtype=torch.int64)), "loader")
        ),
    }
    types = {"batch_size": checks.ArgumentTypeError, "shuffle": checks.ArgumentTypeError, "name": TypeError}
    for message, call in calls.items():
        with pytest.raises(types.get(message.split()[0], ValueError)) as error:
            call()
        assert str(error.value) == message
