"""Tests for stnlib.offcentre: off-centre CIFAR-10 on a 64x64 canvas.

Truth comes from outside the generator where possible: geometric moments (mass, centroid,
principal axis) of white shapes on black, backgrounds rebuilt with ``F.interpolate`` and
a re-warp of each photo from the stored parameters alone.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from stnlib import affine
from stnlib import data as D
from stnlib.offcentre import OFFCENTRE_CANVAS, distort_cifar, load_offcentre_cifar
from stnlib.recovery import attention_components, fit_line, rts_components

FIELDS = ("images", "rotation", "scale", "tx", "ty")


def _photos(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, 32, 32), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def _white(n: int) -> torch.Tensor:
    return torch.full((n, 3, 32, 32), 255, dtype=torch.uint8)


def _black(n: int = 3) -> torch.Tensor:
    return torch.zeros(n, 3, 32, 32, dtype=torch.uint8)


def _theta(d: D.Distorted) -> torch.Tensor:
    return affine.build_theta(rotation=d.rotation, scale_x=d.scale, scale_y=d.scale, tx=d.tx, ty=d.ty)


def _moments(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
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


def test_deterministic_seeded_and_prefix_stable():
    x = _photos(20)
    a, b = distort_cifar(x, seed=3), distort_cifar(x, seed=3)
    assert a.images.shape == (20, 3, 64, 64) and a.images.dtype == torch.uint8
    assert (a.kind, a.canvas, a.seed, a.object_size) == ("offcentre", 64, 3, 32)
    assert all(torch.equal(getattr(a, k), getattr(b, k)) for k in FIELDS)
    c = distort_cifar(x, seed=4)
    assert not torch.equal(a.images, c.images) and not torch.equal(a.tx, c.tx)
    head = distort_cifar(x[:7], seed=3, background_source=x)
    assert all(torch.equal(getattr(head, k), getattr(a.head(7), k)) for k in FIELDS)
    assert a.select(torch.tensor([2, 5])).object_size == 32


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
    mass, cx, cy, _ = _moments(d.images)
    assert float((cx - (31.5 + 32 * d.tx.double())).abs().max()) < 0.5
    assert float((cy - (31.5 + 32 * d.ty.double())).abs().max()) < 0.5
    assert float((mass / (32 * d.scale.double()) ** 2 - 1).abs().max()) < 0.03
    bar = _black(n)
    bar[:, :, 14:18, 2:30] = 255  # horizontal, 28 x 4 px
    d = distort_cifar(bar, seed=2, background_source=_black())
    _, _, _, (cxx, cyy, cxy) = _moments(d.images)
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
    as_digit = attention_components(box, dataclasses.replace(d, object_size=D.DIGIT_SIZE))
    assert as_digit["width_ratio"] == pytest.approx(torch.full((50,), 32 / 28))


def test_rejects_bad_input():
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
    assert full.name == "cifar10-offcentre" and full.train_images.shape == (40, 3, OFFCENTRE_CANVAS, 64)
    assert torch.equal(part.train_images, full.train_images[:10]) and torch.equal(
        part.test_images, full.test_images[:12]
    )
    assert torch.equal(full.test_params.images, full.test_images) and full.test_params.seed == 4 + D.TEST_SEED_OFFSET
    assert len(part.test_params) == 12 and torch.equal(part.test_params.tx, full.test_params.tx[:12])
    base = D.load_dataset("cifar10", data_dir=tmp_path)
    assert torch.equal(full.train_images, distort_cifar(base.train_images, seed=4).images)
    assert torch.equal(full.train_labels, base.train_labels) and torch.equal(full.test_is_exact, torch.tensor(exact))
    assert full.mean == D.CIFAR10_MEAN and full.black == pytest.approx(D.black_value("cifar10-offcentre"))
    text = full.info.describe()
    assert text.startswith("CIFAR-10 off-centre from folder") and "train seed 4, test seed 1000007" in text
    assert "rotated ±30°" in text and "only the first 10 of 30" in text
    xb, _ = next(iter(part.loaders(batch_size=5)[1]))
    assert xb.shape == (5, 3, 64, 64)
