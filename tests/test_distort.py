"""Tests for stnlib.distort: distorted MNIST (RTS, cluttered) and off-centre CIFAR-10.

Truth comes from outside the generators where possible: geometric moments (mass, centre,
principal axis) of white shapes on black, backgrounds rebuilt with ``F.interpolate``, and a
re-warp of each photo from the stored parameters alone.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision

from stnlib import affine
from stnlib.data import CIFAR10_MEAN, MNIST_MEAN, black_value, load_dataset
from stnlib.distort import (
    DIGIT_SIZE,
    DISTORTIONS,
    E_ALPHA,
    E_SIGMA,
    OFFCENTRE_CANVAS,
    P_CORNER_CLIP,
    P_CORNER_STD,
    P_SCALE,
    R_ROTATION,
    TEST_SEED_OFFSET,
    Distorted,
    distort_cifar,
    distort_mnist,
    load_distorted_mnist,
    load_offcentre_cifar,
)
from stnlib.recovery import attention_components, fit_line, rts_components
from stnlib.samples import load_samples


@pytest.fixture(autouse=True)
def _no_data_env(monkeypatch):
    monkeypatch.delenv("STNLIB_DATA", raising=False)


def _fake_npz(folder: Path, name: str, n_train: int, n_test: int, **extra) -> None:
    rng = np.random.default_rng(0)
    hwc = (28, 28) if name == "mnist" else (32, 32, 3)
    np.savez(
        folder / f"{name}.npz",
        x_train=rng.integers(0, 256, (n_train, *hwc), dtype=np.uint8),
        y_train=rng.integers(0, 10, n_train).astype(np.uint8),
        x_test=rng.integers(0, 256, (n_test, *hwc), dtype=np.uint8),
        y_test=rng.integers(0, 10, n_test).astype(np.uint8),
        **extra,
    )


@pytest.fixture
def failing_download(monkeypatch):
    """torchvision's MNIST/CIFAR10 raise as they do offline."""

    def offline(*args, **kwargs):
        raise RuntimeError("Error downloading: <urlopen error no network here>")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)


# ------------------------------------------------------------- distorted MNIST
def _digits(n: int = 64) -> torch.Tensor:
    return (load_samples("mnist").images[:n] * 255).round().to(torch.uint8)


@pytest.mark.parametrize(("kind", "canvas"), [("rts", 42), ("cluttered", 60)])
def test_distortion_shapes_determinism_and_prefix_stability(kind, canvas):
    x = _digits()
    a, b = distort_mnist(x, kind, seed=5), distort_mnist(x, kind, seed=5)
    assert a.images.shape == (64, 1, canvas, canvas) and a.images.dtype == torch.uint8 and a.canvas == canvas
    assert torch.equal(a.images, b.images) and torch.equal(a.tx, b.tx)
    assert not torch.equal(a.images, distort_mnist(x, kind, seed=6).images)
    head = distort_mnist(x[:10], kind, seed=5, clutter_source=x)
    assert torch.equal(head.images, a.images[:10]) and torch.equal(head.ty, a.ty[:10])
    # the digit's ink survives (nothing is lost off-canvas for most digits)
    assert float(a.images.float().sum()) > 0.8 * float(x.float().sum())


def test_rts_parameters_lie_in_their_documented_ranges():
    d = distort_mnist(_digits(200), "rts", seed=0)
    assert float(d.rotation.min()) >= -45 and float(d.rotation.max()) <= 45
    assert float(d.rotation.min()) < -30 and float(d.rotation.max()) > 30  # really spread
    assert float(d.scale.min()) >= 0.7 and float(d.scale.max()) <= 1.2
    margin = (42 - 28 * d.scale) / 42  # normalized half-room for the scaled box
    assert bool((d.tx.abs() <= margin + 1e-6).all()) and bool((d.ty.abs() <= margin + 1e-6).all())


def _moments(images: torch.Tensor):
    """Mass, centre (x, y) in pixels and covariance of each (N, 1, S, S) image."""
    w = images[:, 0].double()
    s = w.shape[-1]
    ys, xs = torch.meshgrid(torch.arange(s, dtype=torch.double), torch.arange(s, dtype=torch.double), indexing="ij")
    mass = w.sum((1, 2))
    cx, cy = (w * xs).sum((1, 2)) / mass, (w * ys).sum((1, 2)) / mass
    dx, dy = xs - cx[:, None, None], ys - cy[:, None, None]
    cov = [(w * a * b).sum((1, 2)) / mass for a, b in ((dx, dx), (dy, dy), (dx, dy))]
    return mass, cx, cy, cov


def _inside_canvas(d, half_w: float, half_h: float) -> torch.Tensor:
    """Whether the rotated, scaled box of half-size (half_w, half_h) px stays inside the 42 px canvas."""
    a = torch.deg2rad(d.rotation.double())
    s = d.scale.double()
    extent_x = s * (half_w * a.cos().abs() + half_h * a.sin().abs())
    extent_y = s * (half_w * a.sin().abs() + half_h * a.cos().abs())
    return (d.tx.double().abs() * 21 + extent_x <= 20.5) & (d.ty.double().abs() * 21 + extent_y <= 20.5)


def test_rts_square_mass_and_centre_follow_the_recorded_scale_and_shift():
    square = torch.full((300, 1, 28, 28), 255, dtype=torch.uint8)
    d = distort_mnist(square, "rts", seed=1)
    mass, cx, cy, _ = _moments(d.images)
    inside = _inside_canvas(d, 14, 14)
    assert int(inside.sum()) >= 30
    expected = 28 * 28 * d.scale.double() ** 2 * 255
    assert bool(((mass / expected - 1).abs() < 0.10)[inside].all())
    assert bool((mass <= expected * 1.10).all())  # clipped squares only lose mass
    # content motion: the centre moves right/down by tx/ty (21 px per normalized unit on 42 px)
    assert bool(((cx - (20.5 + 21 * d.tx.double())).abs() < 1.5)[inside].all())
    assert bool(((cy - (20.5 + 21 * d.ty.double())).abs() < 1.5)[inside].all())


def test_rts_bar_turns_counterclockwise_by_the_recorded_rotation():
    bar = torch.zeros(200, 1, 28, 28, dtype=torch.uint8)
    bar[:, :, 12:16, 2:26] = 255  # horizontal, 24 x 4 px
    d = distort_mnist(bar, "rts", seed=2)
    inside = _inside_canvas(d, 12, 2)
    _, _, _, (cxx, cyy, cxy) = _moments(d.images)
    # principal axis angle in image coordinates (y down); counterclockwise on screen is a negative angle here
    axis = torch.rad2deg(0.5 * torch.atan2(2 * cxy, cxx - cyy))
    assert bool(((axis + d.rotation.double()).abs() < 3.0)[inside].all())
    major = 0.5 * (cxx + cyy) + torch.sqrt((0.5 * (cxx - cyy)) ** 2 + cxy**2)
    length = torch.sqrt(12 * major)  # a uniform bar of length L has variance L^2 / 12
    assert bool(((length / (24 * d.scale.double()) - 1).abs() < 0.06)[inside].all())


def test_cluttered_digit_sits_at_the_recorded_offset_under_the_clutter():
    x = _digits(100)
    d = distort_mnist(x, "cluttered", seed=3)
    assert bool((d.rotation == 0).all()) and bool((d.scale == 1).all())
    left, top = d.tx.double() * 30 + 16, d.ty.double() * 30 + 16  # 30 px per unit; centred corner at 16
    assert torch.allclose(left, left.round(), atol=1e-4) and torch.allclose(top, top.round(), atol=1e-4)
    left, top = left.round().long(), top.round().long()
    assert int(left.min()) >= 0 and int(left.max()) <= 32 and int(top.min()) >= 0 and int(top.max()) <= 32
    assert len(set(left.tolist())) > 10  # positions really vary
    for i in range(100):
        crop = d.images[i, 0, top[i] : top[i] + 28, left[i] : left[i] + 28]
        assert bool((crop >= x[i, 0]).all())  # max(digit, clutter) >= digit everywhere
    assert bool(((d.images > 0).sum((1, 2, 3)) > (x > 0).sum((1, 2, 3))).all())  # clutter adds ink


def test_cluttered_pieces_come_from_other_images_and_there_are_four():
    n = 150
    ids = torch.arange(1, n + 1, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 28, 28).contiguous()
    d = distort_mnist(ids, "cluttered", seed=4)  # image i is filled with the value i + 1
    left, top = (d.tx * 30 + 16).round().long(), (d.ty * 30 + 16).round().long()
    for i in range(n):
        outside = d.images[i, 0].clone()
        outside[top[i] : top[i] + 28, left[i] : left[i] + 28] = 0
        assert (i + 1) not in set(outside.unique().tolist())  # never clutter from the digit's own image
        digit_box = d.images[i, 0, top[i] : top[i] + 28, left[i] : left[i] + 28]
        assert bool((digit_box >= i + 1).all())
    blank = torch.zeros(200, 1, 28, 28, dtype=torch.uint8)
    full = torch.full((5, 1, 28, 28), 255, dtype=torch.uint8)
    pieces = distort_mnist(blank, "cluttered", seed=5, clutter_source=full)
    ink = (pieces.images > 0).sum((1, 2, 3)).double()
    assert float(ink.min()) >= 64 and float(ink.max()) <= 4 * 64
    assert float(ink.mean()) > 0.9 * 4 * 64  # four 8x8 pieces, overlapping only now and then
    assert float(ink.max()) == 4 * 64


def test_distort_rejects_bad_input():
    with pytest.raises(ValueError, match="kind must be one of 'rts', 'cluttered', 'r', 'p', 'e', got str 'zoom'"):
        distort_mnist(_digits(2), "zoom", seed=0)
    with pytest.raises(ValueError, match="uint8"):
        distort_mnist(_digits(2).float(), "rts", seed=0)
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        distort_mnist(torch.zeros(2, 1, 32, 32, dtype=torch.uint8), "rts", seed=0)


def test_load_distorted_mnist_from_a_folder(tmp_path):
    _fake_npz(tmp_path, "mnist", n_train=40, n_test=30)
    rts = load_distorted_mnist("rts", data_dir=tmp_path, seed=4)
    again = load_distorted_mnist("rts", data_dir=tmp_path, seed=4, limit_train=10, limit_test=12)
    assert rts.info.dataset == "mnist-rts" and rts.train_images.shape == (40, 1, 42, 42)
    assert rts.test_images.shape[0] == 30
    assert torch.equal(again.test_images, rts.test_images[:12]) and torch.equal(
        again.train_images, rts.train_images[:10]
    )
    assert len(again.test_params) == 12 and torch.equal(again.test_params.rotation, rts.test_params.rotation[:12])
    assert rts.test_params.seed == 4 + TEST_SEED_OFFSET
    assert torch.equal(rts.test_params.images, rts.test_images)
    expected_train = distort_mnist(load_dataset("mnist", data_dir=tmp_path).train_images, "rts", seed=4)
    assert torch.equal(rts.train_images, expected_train.images)
    assert rts.mean == MNIST_MEAN and rts.black == pytest.approx(black_value("mnist"))
    text = rts.info.describe()
    assert text.startswith("MNIST-RTS from the folder passed as data_dir")
    assert "train seed 4" in text and "test seed 1000007" in text
    clut = load_distorted_mnist("cluttered", data_dir=tmp_path, limit_test=5)
    assert clut.test_images.shape == (5, 1, 60, 60) and clut.info.dataset == "mnist-cluttered"
    xb, _ = next(iter(clut.loaders(batch_size=5)[1]))
    assert xb.shape == (5, 1, 60, 60)


def test_load_distorted_mnist_quick_profile_uses_the_samples(failing_download):
    data = load_distorted_mnist("rts", profile="quick", limit_train=16)
    assert data.train_images.shape == (16, 1, 42, 42) and data.test_images.shape == (250, 1, 42, 42)
    assert "bundled samples" in data.info.describe() and "TEST images" in data.info.describe()
    assert math.isclose(float(data.test_params.scale.mean()), 0.95, abs_tol=0.05)


# ------------------------------------------------ R, P, E: the paper's other sets
ALL_FIELDS = ("images", "rotation", "scale", "tx", "ty", "corners", "displacement")
SQUARE = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])  # TL, TR, BR, BL; normalized (x, y)


def _same(a: Distorted, b: Distorted) -> bool:
    return all(
        (getattr(a, k) is None and getattr(b, k) is None) or torch.equal(getattr(a, k), getattr(b, k))
        for k in ALL_FIELDS
    )


def test_the_paper_kinds_are_listed():
    assert DISTORTIONS == ("rts", "cluttered", "r", "p", "e")
    assert R_ROTATION == 90 and P_CORNER_STD == 0.1 and P_CORNER_CLIP == 3 and P_SCALE == (0.75, 1.0)
    assert (E_ALPHA, E_SIGMA) == (34.0, 4.0)


@pytest.mark.parametrize(("kind", "extra"), [("r", None), ("p", "corners"), ("e", "displacement")])
def test_r_p_e_deterministic_seeded_prefix_stable_and_selectable(kind, extra):
    x = _digits(40)
    a, b = distort_mnist(x, kind, seed=5), distort_mnist(x, kind, seed=5)
    assert a.images.shape == (40, 1, 28, 28) and a.images.dtype == torch.uint8
    assert (a.kind, a.canvas, a.seed, a.object_size) == (kind, 28, 5, 28) and _same(a, b)
    assert [k for k in ("corners", "displacement") if getattr(a, k) is not None] == ([extra] if extra else [])
    c = distort_mnist(x, kind, seed=6)
    assert not torch.equal(a.images, c.images)
    assert not torch.equal(getattr(a, extra or "rotation"), getattr(c, extra or "rotation"))
    assert _same(distort_mnist(x[:7], kind, seed=5), a.head(7))  # item i: the seed and image i only
    picked = a.select(torch.tensor([3, 0]))
    assert all(
        getattr(picked, k) is None if getattr(a, k) is None else torch.equal(getattr(picked, k), getattr(a, k)[[3, 0]])
        for k in ALL_FIELDS
    )
    if kind != "r":  # p and e record no rotation or shift; p's scale is its corner square's
        assert bool((a.rotation == 0).all() & (a.tx == 0).all() & (a.ty == 0).all())
        assert bool((a.scale == 1).all()) == (kind == "e")


def test_r_rotation_in_range_reproduces_each_image_and_turns_a_bar_counterclockwise():
    x = _digits(64)
    d = distort_mnist(x, "r", seed=0)
    assert float(d.rotation.abs().max()) <= 90 and float(d.rotation.min()) < -70 and float(d.rotation.max()) > 70
    assert bool((d.scale == 1).all() & (d.tx == 0).all() & (d.ty == 0).all())
    again = affine.warp(x.float(), affine.build_theta(rotation=d.rotation)).round()
    assert float((again - d.images.float()).abs().max()) <= 1
    bar = torch.zeros(100, 1, 28, 28, dtype=torch.uint8)
    bar[:, :, 12:16, 4:24] = 255  # horizontal, 20 x 4 px: stays inside at any angle
    d = distort_mnist(bar, "r", seed=1)
    _, _, _, (cxx, cyy, cxy) = _moments(d.images)
    axis = torch.rad2deg(0.5 * torch.atan2(2 * cxy, cxx - cyy))  # y down: counterclockwise on screen is negative
    turn = (axis + d.rotation.double() + 90) % 180 - 90  # an axis is only defined modulo 180 degrees
    assert float(turn.abs().max()) < 3.0


def test_p_corners_in_range_and_reproduce_each_image_through_an_independent_homography():
    kt = pytest.importorskip("kornia.geometry.transform")
    x = _digits(100)
    d = distort_mnist(x, "p", seed=3)
    assert float(d.scale.min()) >= 0.75 and float(d.scale.max()) <= 1.0 and float(d.scale.max() - d.scale.min()) > 0.2
    offset = d.corners - d.scale[:, None, None] * SQUARE  # normalized; 14 px per unit on 28 px
    assert float(offset.abs().max()) <= 3 * 0.1 + 1e-6 and float(offset.abs().max()) > 0.2
    assert float(offset.std()) == pytest.approx(0.1, abs=0.01)
    # kornia: pixel centres at integers 0..27, so the outer pixel edges (normalized -1, 1) lie at -0.5 and 27.5
    src = ((SQUARE + 1) * 14 - 0.5).expand(100, 4, 2)
    m = kt.get_perspective_transform(src, (d.corners + 1) * 14 - 0.5)
    want = kt.warp_perspective(x.float(), m, (28, 28), mode="bilinear", padding_mode="zeros", align_corners=True)
    assert float((want.round() - d.images.float()).abs().max()) <= 1
    # the batched warp is torchvision's perspective (pixel centres at j + 0.5: corners at 0 and 28)
    tv = torchvision.transforms.v2.functional
    start = [[0, 0], [28, 0], [28, 28], [0, 28]]
    for i in range(0, 100, 10):
        end = ((d.corners[i] + 1) * 14).tolist()
        one = tv.perspective(x[i : i + 1].float(), start, end, tv.InterpolationMode.BILINEAR)
        assert float((one.round() - d.images[i : i + 1].float()).abs().max()) <= 1, i


def test_p_mean_corner_offset_is_about_1_76_px():
    d = distort_mnist(torch.zeros(400, 1, 28, 28, dtype=torch.uint8), "p", seed=4)
    shift_px = ((d.corners - d.scale[:, None, None] * SQUARE) * 14).norm(dim=-1)  # (400, 4)
    assert float(shift_px.mean()) == pytest.approx(1.76, abs=0.1)  # Rayleigh mean: 1.4 px * sqrt(pi / 2)


def _identity_grid(n: int) -> torch.Tensor:
    return F.affine_grid(torch.eye(2, 3).expand(n, 2, 3), [n, 1, 28, 28], align_corners=False)


def test_e_displacement_reproduces_each_image_and_follows_the_stated_pixel_convention():
    x = _digits(64)
    d = distort_mnist(x, "e", seed=2)
    assert d.displacement.shape == (64, 28, 28, 2) and d.displacement.dtype == torch.float32
    grid = _identity_grid(64) + d.displacement * (2 / 28)  # pixels -> normalized (align_corners=False)
    again = F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    assert float((again.round() - d.images.float()).abs().max()) <= 1
    assert torch.equal(distort_mnist(x, "e", seed=2, keep_displacement=False).images, d.images)
    assert distort_mnist(x, "e", seed=2, keep_displacement=False).displacement is None
    # ramps: output pixel (row i, col j) shows the input at (j + dx, i + dy); bilinear is exact on a linear ramp
    cols = torch.arange(28.0)
    ramps = torch.stack([10 + 8 * cols.expand(28, 28), 10 + 8 * cols[:, None].expand(28, 28)])  # 10 + 8 x, 10 + 8 y
    d = distort_mnist(ramps.round().to(torch.uint8)[:, None], "e", seed=7)
    x_at = cols + d.displacement[..., 0]  # (2, 28, 28): the column each output pixel reads
    y_at = cols[:, None] + d.displacement[..., 1]
    inside = (x_at >= 0) & (x_at <= 27) & (y_at >= 0) & (y_at <= 27)  # bilinear is exact on the ramp there
    assert inside.float().mean() > 0.6  # most pixels are checked
    want_x, want_y = 10 + 8 * x_at[0], 10 + 8 * y_at[1]
    assert float((d.images[0, 0].float() - want_x)[inside[0]].abs().max()) <= 0.51
    assert float((d.images[1, 0].float() - want_y)[inside[1]].abs().max()) <= 0.51


def test_e_displacement_size_matches_the_docstring():
    d = distort_mnist(torch.zeros(300, 1, 28, 28, dtype=torch.uint8), "e", seed=8)
    length = d.displacement.norm(dim=-1)
    assert float(length.mean()) == pytest.approx(2.1, abs=0.1) and float(length.max()) < 13
    # smooth: neighbours move alike (a sigma 4 px blur), unlike raw noise
    step = (d.displacement[:, :, 1:] - d.displacement[:, :, :-1]).norm(dim=-1)
    assert float(step.mean()) < 0.25 * float(length.mean())


@pytest.mark.parametrize(("kind", "extra"), [("r", None), ("p", "corners"), ("e", "displacement")])
def test_load_r_p_e_from_a_folder(tmp_path, kind, extra):
    _fake_npz(tmp_path, "mnist", n_train=20, n_test=15)
    full = load_distorted_mnist(kind, data_dir=tmp_path, seed=2)
    part = load_distorted_mnist(kind, data_dir=tmp_path, seed=2, limit_train=6, limit_test=5)
    assert full.info.dataset == f"mnist-{kind}" and full.train_images.shape == (20, 1, 28, 28)
    assert full.info.describe().startswith(f"MNIST-{kind.upper()} from the folder passed as data_dir")
    assert {"r": "rotated ±90°", "p": "N(0, 0.1²)", "e": "displaced 34 px"}[kind] in full.info.remark
    assert torch.equal(part.train_images, full.train_images[:6]) and _same(part.test_params, full.test_params.head(5))
    base = load_dataset("mnist", data_dir=tmp_path)
    test = distort_mnist(base.test_images, kind, seed=2 + TEST_SEED_OFFSET)
    assert _same(full.test_params, test) and torch.equal(full.test_images, test.images)
    if extra:
        assert getattr(full.test_params, extra).shape[0] == 15


# ------------------------------------------------------- off-centre CIFAR-10
FIELDS = ("images", "rotation", "scale", "tx", "ty")


def _photos(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, 32, 32), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def _white(n: int) -> torch.Tensor:
    return torch.full((n, 3, 32, 32), 255, dtype=torch.uint8)


def _black(n: int = 3) -> torch.Tensor:
    return torch.zeros(n, 3, 32, 32, dtype=torch.uint8)


def _theta(d: Distorted) -> torch.Tensor:
    return affine.build_theta(rotation=d.rotation, scale_x=d.scale, scale_y=d.scale, tx=d.tx, ty=d.ty)


def _moments64(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
    """Mass (in white pixels), centroid (pixel centres at 0..63) and central second moments of channel 0."""
    w = images[:, 0].double() / 255
    ys, xs = torch.meshgrid(
        torch.arange(64.0, dtype=torch.float64), torch.arange(64.0, dtype=torch.float64), indexing="ij"
    )
    mass = w.sum((1, 2))
    cx, cy = (w * xs).sum((1, 2)) / mass, (w * ys).sum((1, 2)) / mass
    dx, dy = xs - cx[:, None, None], ys - cy[:, None, None]
    second = tuple((w * a).sum((1, 2)) / mass for a in (dx * dx, dy * dy, dx * dy))
    return mass, cx, cy, second


def test_offcentre_deterministic_seeded_and_prefix_stable():
    x = _photos(20)
    a, b = distort_cifar(x, seed=3), distort_cifar(x, seed=3)
    assert a.images.shape == (20, 3, 64, 64) and a.images.dtype == torch.uint8
    assert (a.kind, a.canvas, a.seed, a.object_size) == ("offcentre", 64, 3, 32)
    assert all(torch.equal(getattr(a, k), getattr(b, k)) for k in FIELDS)
    c = distort_cifar(x, seed=4)
    assert not torch.equal(a.images, c.images) and not torch.equal(a.tx, c.tx)
    head = distort_cifar(x[:7], seed=3, background_source=x)
    assert all(torch.equal(getattr(head, k), getattr(a.head(7), k)) for k in FIELDS)


def test_parameters_in_range_and_the_photo_never_reaches_the_canvas_border():
    d = distort_cifar(_white(300), seed=1, background_source=_black())
    assert float(d.rotation.abs().max()) <= 30 and float(d.rotation.min()) < -25 and float(d.rotation.max()) > 25
    assert float(d.scale.min()) >= 0.5 and float(d.scale.max()) <= 1.0 and float(d.scale.max() - d.scale.min()) > 0.4
    a = torch.deg2rad(d.rotation)
    half = 16 * d.scale * (a.cos().abs() + a.sin().abs())  # the rotated square's half-extent in pixels
    assert bool((d.tx.abs() * 32 + half <= 32).all()) and bool((d.ty.abs() * 32 + half <= 32).all())
    assert float(d.tx.abs().max()) > 0.2 and float(d.ty.abs().max()) > 0.2  # positions really vary
    border = torch.ones(64, 64, dtype=torch.bool)
    border[1:-1, 1:-1] = False
    assert int(d.images[:, :, border].max()) == 0
    assert bool((d.images.flatten(1).amax(1) == 255).all())


def test_stored_parameters_reproduce_each_image_and_background_is_another_blurred_photo():
    x, source = _photos(20, seed=1), _photos(6, seed=2)
    d = distort_cifar(x, seed=5, background_source=source)
    theta = _theta(d)
    photo = affine.warp(F.pad(x.float(), (16, 16, 16, 16)), theta)
    mask = affine.warp(F.pad(torch.ones(20, 1, 32, 32), (16, 16, 16, 16)), theta)
    inside = (mask > 1 - 1e-5).expand(-1, 3, -1, -1)
    assert int(inside[:, 0].sum((1, 2)).min()) > 100
    assert float((d.images.float() - photo.round())[inside].abs().max()) <= 1
    blurred = F.interpolate(F.avg_pool2d(source.float(), 4), size=(64, 64), mode="bilinear", align_corners=False)
    outside = (mask < 1e-6)[:, None]  # (20, 1, 1, 64, 64): pure background
    diff = (d.images[:, None].float() - blurred.round()[None]).abs()  # (20, 6, 3, 64, 64): image i vs background j
    err = torch.where(outside, diff, 0).flatten(2).amax(2)  # (20, 6)
    assert bool((err.amin(1) <= 1).all()) and bool(((err <= 1).sum(1) == 1).all())
    assert bool((err.argmin(1) != torch.arange(20)).all())  # never the photo's own image


def test_white_square_centroid_area_and_orientation_match_the_parameters():
    n = 100
    d = distort_cifar(_white(n), seed=2, background_source=_black())
    mass, cx, cy, _ = _moments64(d.images)
    assert float((cx - (31.5 + 32 * d.tx.double())).abs().max()) < 0.5
    assert float((cy - (31.5 + 32 * d.ty.double())).abs().max()) < 0.5
    assert float((mass / (32 * d.scale.double()) ** 2 - 1).abs().max()) < 0.03
    bar = _black(n)
    bar[:, :, 14:18, 2:30] = 255  # horizontal, 28 x 4 px
    d = distort_cifar(bar, seed=2, background_source=_black())
    _, _, _, (cxx, cyy, cxy) = _moments64(d.images)
    axis = torch.rad2deg(0.5 * torch.atan2(2 * cxy, cxx - cyy))  # y down: counterclockwise on screen is negative
    assert float((axis + d.rotation.double()).abs().max()) < 3.0


def test_recovery_readings_use_the_photo_size():
    d = distort_cifar(_photos(50), seed=6)
    undo = affine.compose(affine.invert(_theta(d)), affine.build_theta(scale_x=1.5, scale_y=1.5).expand(50, -1, -1))
    for name, (applied, recovered) in rts_components(undo, d).items():
        fit = fit_line(applied, recovered)
        assert fit.slope == pytest.approx(-1.0, abs=1e-3) and fit.r2 == pytest.approx(1.0, abs=1e-4), name
    s = 32 * d.scale / 64  # a region exactly the photo's box (32 * scale px wide)
    zero = torch.zeros(50)
    box = torch.stack([torch.stack([s, zero, d.tx], 1), torch.stack([zero, s, d.ty], 1)], 1)
    m = attention_components(box, d)
    assert float(m["centre_error_px"].max()) < 1e-5 and m["width_ratio"] == pytest.approx(torch.ones(50))
    as_digit = attention_components(box, dataclasses.replace(d, object_size=DIGIT_SIZE))
    assert as_digit["width_ratio"] == pytest.approx(torch.full((50,), 32 / 28))


def test_offcentre_rejects_bad_input():
    with pytest.raises(ValueError, match="uint8"):
        distort_cifar(_photos(2).float(), seed=0)
    with pytest.raises(ValueError, match="32, 32"):
        distort_cifar(torch.zeros(2, 1, 28, 28, dtype=torch.uint8), seed=0)
    with pytest.raises(ValueError, match="at least one"):
        distort_cifar(_photos(2), seed=0, background_source=_black(0))


def test_load_offcentre_cifar_from_a_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("STNLIB_DATA", raising=False)
    rng = np.random.default_rng(0)
    exact = np.arange(30) < 10
    np.savez(
        tmp_path / "cifar10.npz",
        x_train=rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8),
        y_train=rng.integers(0, 10, 40).astype(np.uint8),
        x_test=rng.integers(0, 256, (30, 32, 32, 3), dtype=np.uint8),
        y_test=rng.integers(0, 10, 30).astype(np.uint8),
        test_is_exact=exact,
    )
    full = load_offcentre_cifar(data_dir=tmp_path, seed=4)
    part = load_offcentre_cifar(data_dir=tmp_path, seed=4, limit_train=10, limit_test=12)
    assert full.info.dataset == "cifar10-offcentre" and full.train_images.shape == (40, 3, OFFCENTRE_CANVAS, 64)
    assert torch.equal(part.train_images, full.train_images[:10]) and torch.equal(
        part.test_images, full.test_images[:12]
    )
    assert torch.equal(full.test_params.images, full.test_images) and full.test_params.seed == 4 + TEST_SEED_OFFSET
    assert len(part.test_params) == 12 and torch.equal(part.test_params.tx, full.test_params.tx[:12])
    base = load_dataset("cifar10", data_dir=tmp_path)
    assert torch.equal(full.train_images, distort_cifar(base.train_images, seed=4).images)
    assert torch.equal(full.train_labels, base.train_labels) and torch.equal(full.test_is_exact, torch.tensor(exact))
    assert full.mean == CIFAR10_MEAN and full.black == pytest.approx(black_value("cifar10-offcentre"))
    text = full.info.describe()
    assert text.startswith("CIFAR-10 off-centre from the folder passed as data_dir")
    assert "train seed 4, test seed 1000007" in text
    assert "rotated ±30°" in text and "only the first 10 of 30" in text
    xb, _ = next(iter(part.loaders(batch_size=5)[1]))
    assert xb.shape == (5, 3, 64, 64)


def test_offcentre_subset_description_fits_the_subset(tmp_path):
    # regression (issue 10, defect 9): a 6-image test set used to say "only the first 10 of 30 ... are exact"
    _fake_npz(tmp_path, "cifar10", n_train=8, n_test=30, test_is_exact=np.arange(30) < 10)
    inside = load_offcentre_cifar(data_dir=tmp_path, limit_test=6).info.describe()
    assert inside.split("; ")[0].endswith(": 8 train / 6 test (all exact)"), inside
    assert "of 30" not in inside and "first 10" not in inside
    beyond = load_offcentre_cifar(data_dir=tmp_path, limit_test=12).info.describe()
    assert "12 test (10 exact)" in beyond and "only the first 10 of 12 test images are exact" in beyond
