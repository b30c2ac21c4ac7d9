"""Unit tests for :mod:`stnlib.affine`, checked against independent truth.

Independent references used here (never the module's own formulas restated):

* ``torch.rot90`` / hand-placed pixels for rotations and translations;
* ``numpy`` 3x3 matrix products and ``numpy.linalg.inv`` for the algebra;
* ``torch.nn.functional.affine_grid`` for where pixel centres sample from;
* ``torchvision.transforms.functional.affine`` / ``rotate`` (a separate implementation).

Conventions under test (see the module docstring): theta maps OUTPUT normalized
coordinates to INPUT coordinates, ``y`` points down, :func:`build_theta` takes the
visible content motion (counterclockwise rotation on screen, magnification, shear
``x' = x + k*y``, translation right/down in normalized units).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torchvision.transforms import InterpolationMode

from stnlib import affine
from stnlib.affine import (
    build_theta,
    compose,
    decompose,
    identity,
    invert,
    normalized_to_pixels,
    pixels_to_normalized,
    sampling_outline,
    warp,
)

PARAM_NAMES = ("rotation", "scale_x", "scale_y", "shear", "tx", "ty")  # build_theta's keywords, decompose's keys
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# ------------------------------------------------------------------ helpers
def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _l_image(size: int = 16, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """An asymmetric "L" (plus a dot) on black, shape (1, 1, size, size): no rotation/flip maps it to itself."""
    img = torch.zeros(1, 1, size, size, dtype=dtype)
    img[..., 2 : size - 3, 3] = 1.0  # vertical stroke
    img[..., size - 4, 3 : size - 5] = 1.0  # horizontal foot
    img[..., 4, size - 4] = 0.5  # a dot top-right
    return img


def _arange_image(size: int = 16, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Every pixel has a distinct value, shape (1, 1, size, size)."""
    return torch.arange(size * size, dtype=dtype).reshape(1, 1, size, size) / (size * size)


def _random_thetas(batch: int, seed: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Well-conditioned random thetas: identity + small noise in the linear part, shifts in [-0.5, 0.5]."""
    g = _gen(seed)
    linear = torch.eye(2, dtype=dtype) + 0.3 * torch.randn(batch, 2, 2, generator=g, dtype=dtype)
    shift = torch.rand(batch, 2, 1, generator=g, dtype=dtype) - 0.5
    return torch.cat([linear, shift], dim=-1)


def _np3(theta: torch.Tensor) -> np.ndarray:
    """(B, 2, 3) tensor -> (B, 3, 3) numpy homogeneous matrices, built independently of ``affine.compose``."""
    t = theta.detach().cpu().numpy().astype(np.float64)
    last = np.zeros((t.shape[0], 1, 3))
    last[:, 0, 2] = 1.0
    return np.concatenate([t, last], axis=1)


def _bright_pixel(h: int, w: int, r: int, c: int) -> torch.Tensor:
    img = torch.zeros(1, 1, h, w)
    img[0, 0, r, c] = 1.0
    return img


def _argmax_rc(img: torch.Tensor) -> tuple[int, int]:
    flat = int(img[0, 0].argmax())
    return divmod(flat, img.shape[-1])


# ------------------------------------------------------------------ 1. identity
def test_identity_theta_leaves_image_unchanged():
    img = torch.rand(2, 3, 12, 10, generator=_gen(0))
    out = warp(img, identity(2))
    torch.testing.assert_close(out, img, atol=1e-5, rtol=0)


def test_identity_helper_shape_dtype_and_values():
    eye = identity(3, dtype=torch.float64)
    assert eye.shape == (3, 2, 3) and eye.dtype == torch.float64
    assert torch.equal(eye, torch.tensor([[1.0, 0, 0], [0, 1.0, 0]], dtype=torch.float64).expand(3, 2, 3))
    # build_theta with no arguments is the identity too
    torch.testing.assert_close(build_theta(), identity(1), atol=1e-7, rtol=0)


# ------------------------------------------------------------------ 2. rotations vs torch.rot90
@pytest.mark.parametrize(("rotation", "k"), [(90, 1), (-90, -1), (180, 2), (270, 3), (-180, 2)])
@pytest.mark.parametrize("make_image", [_l_image, _arange_image], ids=["L", "arange"])
def test_rotation_matches_rot90(rotation, k, make_image):
    # A 90-degree rotation about the centre maps pixel centres onto pixel centres for a square
    # image with align_corners=False, so bilinear sampling is exact up to float32 round-off
    # (cos(90 deg) is ~4e-8, not 0): tolerance atol=1e-5 on values in [0, 1].
    img = make_image(16)
    out = warp(img, build_theta(rotation=rotation), align_corners=False)
    expected = torch.rot90(img, k=k, dims=(-2, -1))  # k=1 is counterclockwise as displayed (row 0 on top)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


def test_rotation_90_is_counterclockwise_on_screen():
    # Independent hand check: a pixel near the top-right corner moves to the top-left corner
    # under a counterclockwise quarter turn (y down: "top" is row 0).
    img = _bright_pixel(8, 8, 0, 7)
    out = warp(img, build_theta(rotation=90))
    assert _argmax_rc(out) == (0, 0)
    assert out[0, 0, 0, 0] == pytest.approx(1.0, abs=1e-5)


# ------------------------------------------------------------------ 3. translations in pixels
@pytest.mark.parametrize(("r", "c"), [(5, 3), (9, 7), (2, 0)])
def test_translation_moves_pixel_exactly(r, c):
    h, w = 12, 16
    img = _bright_pixel(h, w, r, c)
    theta = build_theta(tx=pixels_to_normalized(4, w), ty=pixels_to_normalized(-2, h))
    out = warp(img, theta)
    expected = _bright_pixel(h, w, r - 2, c + 4)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)


def test_translation_align_corners_true():
    h, w = 11, 9
    r, c = 6, 2
    img = _bright_pixel(h, w, r, c)
    assert float(pixels_to_normalized(1, w, align_corners=True)) == pytest.approx(2 / (w - 1))
    assert float(pixels_to_normalized(1, w, align_corners=False)) == pytest.approx(2 / w)
    theta = build_theta(
        tx=pixels_to_normalized(3, w, align_corners=True), ty=pixels_to_normalized(-4, h, align_corners=True)
    )
    out = warp(img, theta, align_corners=True)
    torch.testing.assert_close(out, _bright_pixel(h, w, r - 4, c + 3), atol=1e-5, rtol=0)


def test_pixels_to_normalized_values_and_bad_size():
    torch.testing.assert_close(pixels_to_normalized([1.0, -2.0, 8.0], 16), torch.tensor([0.125, -0.25, 1.0]))
    with pytest.raises(ValueError, match="size must be an int >= 2"):
        pixels_to_normalized(1, 1)


def test_positive_ty_moves_content_down():
    img = _bright_pixel(10, 10, 3, 5)
    out = warp(img, build_theta(ty=pixels_to_normalized(2, 10)))
    assert _argmax_rc(out) == (5, 5)


# ------------------------------------------------------------------ 4. the famous example
def test_positive_theta_shift_moves_content_left():
    w = 20
    img = torch.zeros(1, 1, 8, w)
    img[..., 10] = 1.0  # a bright column
    theta = torch.tensor([[[1.0, 0.0, 0.2], [0.0, 1.0, 0.0]]])  # 0.2 units = 2 pixels at W=20
    out = warp(img, theta)
    col = int(out[0, 0].sum(0).argmax())
    assert col < 10
    assert col == 8
    torch.testing.assert_close(out[..., 8], torch.ones(1, 1, 8), atol=1e-5, rtol=0)


def test_build_theta_tx_stores_negative_shift():
    expected = torch.tensor([[[1.0, 0.0, -0.2], [0.0, 1.0, 0.0]]])
    torch.testing.assert_close(build_theta(tx=0.2), expected, atol=1e-7, rtol=0)


# ------------------------------------------------------------------ other visible-motion semantics
def test_scale_x_two_makes_content_twice_as_wide():
    img = torch.zeros(1, 1, 8, 32)
    img[..., 12:20] = 1.0  # centred bar, 8 px wide
    out = warp(img, build_theta(scale_x=2.0))
    row = out[0, 0, 4]
    # bilinear blurs the edges by up to one pixel, so measure the width at half maximum
    lit = (row > 0.5).nonzero().flatten().tolist()
    assert lit == list(range(8, 24))  # now 16 px wide, still centred
    assert torch.all(row[9:23] > 0.99)
    assert torch.all(row[:7] < 1e-6) and torch.all(row[25:] < 1e-6)


def test_negative_scale_x_mirrors_left_right():
    img = torch.rand(1, 2, 6, 10, generator=_gen(1))
    out = warp(img, build_theta(scale_x=-1.0))
    torch.testing.assert_close(out, torch.flip(img, dims=(-1,)), atol=1e-5, rtol=0)


def test_positive_shear_pushes_lower_half_right():
    size = 32
    img = torch.zeros(1, 1, size, size)
    img[..., :, 15:17] = 1.0  # vertical bar through the centre
    out = warp(img, build_theta(shear=0.5))
    cols = torch.arange(size, dtype=torch.float32)
    top = (out[0, 0, 4] * cols).sum() / out[0, 0, 4].sum()
    bottom = (out[0, 0, size - 5] * cols).sum() / out[0, 0, size - 5].sum()
    assert bottom > 16 > top  # lower half moved right, upper half moved left


# ------------------------------------------------------------------ 5. algebra
def test_compose_with_inverse_is_identity():
    t = _random_thetas(8, seed=2)
    eye = identity(8, dtype=torch.float64)
    torch.testing.assert_close(compose(t, invert(t)), eye, atol=1e-10, rtol=0)
    torch.testing.assert_close(compose(invert(t), t), eye, atol=1e-10, rtol=0)


def test_invert_matches_numpy_and_is_an_involution():
    t = _random_thetas(8, seed=3)
    inv = invert(t)
    expected = np.linalg.inv(_np3(t))[:, :2, :]
    np.testing.assert_allclose(inv.numpy(), expected, atol=1e-10)
    torch.testing.assert_close(invert(inv), t, atol=1e-10, rtol=0)


def test_invert_float32():
    t = _random_thetas(8, seed=4).float()
    torch.testing.assert_close(invert(invert(t)), t, atol=1e-5, rtol=0)
    assert invert(t).dtype == torch.float32


def test_compose_matches_numpy_and_is_associative():
    a, b, c = (_random_thetas(8, seed=s) for s in (5, 6, 7))
    abc = np.einsum("bij,bjk,bkl->bil", _np3(a), _np3(b), _np3(c))[:, :2, :]
    left = compose(compose(a, b), c)
    right = compose(a, compose(b, c))
    np.testing.assert_allclose(left.numpy(), abc, atol=1e-10)
    np.testing.assert_allclose(right.numpy(), abc, atol=1e-10)
    np.testing.assert_allclose(compose(a, b).numpy(), (_np3(a) @ _np3(b))[:, :2, :], atol=1e-10)


def test_compose_with_identity_is_noop():
    t = _random_thetas(4, seed=8)
    eye = identity(4, dtype=torch.float64)
    torch.testing.assert_close(compose(t, eye), t, atol=1e-12, rtol=0)
    torch.testing.assert_close(compose(eye, t), t, atol=1e-12, rtol=0)


def test_compose_broadcasts_batch_of_one():
    a = _random_thetas(1, seed=9)
    b = _random_thetas(5, seed=10)
    out = compose(a, b)
    assert out.shape == (5, 2, 3)
    torch.testing.assert_close(out, compose(a.expand(5, 2, 3), b), atol=1e-12, rtol=0)
    out2 = compose(b, a)
    assert out2.shape == (5, 2, 3)
    torch.testing.assert_close(out2, compose(b, a.expand(5, 2, 3)), atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="batch size mismatch"):
        compose(_random_thetas(2, seed=11), _random_thetas(3, seed=12))


def _pixel_exact(kind: str, size: int) -> torch.Tensor:
    """Transforms that map pixel centres onto pixel centres of a square image (align_corners=False)."""
    px = lambda n: pixels_to_normalized(n, size)  # noqa: E731
    return {
        "rot90": build_theta(rotation=90),
        "rot-90": build_theta(rotation=-90),
        "rot180": build_theta(rotation=180),
        "right3": build_theta(tx=px(3)),
        "up2left1": build_theta(tx=px(-1), ty=px(-2)),
        "flip": build_theta(scale_x=-1),
        "rot90+down3": build_theta(rotation=90, ty=px(3)),
    }[kind]


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ("rot90", "right3"),
        ("right3", "rot90"),
        ("up2left1", "rot-90"),
        ("rot180", "up2left1"),
        ("flip", "rot90+down3"),
        ("rot90+down3", "right3"),
        ("right3", "up2left1"),
    ],
)
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_warp_twice_equals_warp_with_composed_theta(first, then, mode):
    # Content sits inside a zero border of 7 pixels, so no step pushes content off the canvas
    # (shifts per step <= 3 px): the two-step and one-step results must agree pixel for pixel.
    size = 24
    img = torch.zeros(1, 2, size, size)
    img[..., 7:-7, 7:-7] = torch.rand(1, 2, size - 14, size - 14, generator=_gen(13))
    a, b = _pixel_exact(first, size), _pixel_exact(then, size)
    two_steps = warp(warp(img, a, mode=mode), b, mode=mode)
    one_step = warp(img, compose(a, b), mode=mode)
    torch.testing.assert_close(two_steps, one_step, atol=1e-5, rtol=0)
    # and the content really moved (not a trivial pass)
    assert not torch.allclose(one_step, img, atol=1e-3)


def test_compose_order_matters_and_rotate_then_translate_is_visible():
    # rotate the content 90 deg ccw, then move it 3 px right: check with rot90 + roll on a padded image
    size = 16
    img = torch.zeros(1, 1, size, size)
    img[..., 5:11, 5:11] = _l_image(6)[..., :, :]
    theta = compose(build_theta(rotation=90), build_theta(tx=pixels_to_normalized(3, size)))
    expected = torch.roll(torch.rot90(img, 1, dims=(-2, -1)), shifts=3, dims=-1)
    torch.testing.assert_close(warp(img, theta), expected, atol=1e-5, rtol=0)


# ------------------------------------------------------------------ 6. decompose
def _random_params(n: int, seed: int) -> dict[str, torch.Tensor]:
    g = _gen(seed)
    u = lambda lo, hi: lo + (hi - lo) * torch.rand(n, generator=g, dtype=torch.float64)  # noqa: E731
    sign = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0).double()
    return {
        "rotation": u(-179.0, 179.0),
        "scale_x": u(0.3, 3.0),
        "scale_y": sign * u(0.3, 3.0),
        "shear": u(-1.0, 1.0),
        "tx": u(-1.0, 1.0),
        "ty": u(-1.0, 1.0),
    }


def test_decompose_inverts_build_theta_on_canonical_domain():
    params = _random_params(200, seed=14)
    theta = build_theta(**params, dtype=torch.float64)
    got = decompose(theta)
    assert set(got) == set(PARAM_NAMES)
    for name in PARAM_NAMES:
        assert got[name].shape == (200,)
        torch.testing.assert_close(got[name], params[name], atol=1e-4, rtol=0, msg=name)
    assert (params["scale_y"] < 0).any()  # mirrors really were covered


def test_decompose_float32_round_trip():
    params = {k: v[:32].float() for k, v in _random_params(32, seed=15).items()}
    got = decompose(build_theta(**params))
    for name in PARAM_NAMES:
        torch.testing.assert_close(got[name], params[name], atol=2e-3, rtol=0, msg=name)


def test_decompose_single_examples():
    got = decompose(build_theta(rotation=30, scale_x=2, scale_y=0.5, shear=0.25, tx=0.1, ty=-0.3, dtype=torch.float64))
    expected = {"rotation": 30.0, "scale_x": 2.0, "scale_y": 0.5, "shear": 0.25, "tx": 0.1, "ty": -0.3}
    for name, value in expected.items():
        assert float(got[name]) == pytest.approx(value, abs=1e-9), name
    got = decompose(identity(1, dtype=torch.float64))
    for name, value in zip(PARAM_NAMES, (0.0, 1.0, 1.0, 0.0, 0.0, 0.0), strict=True):
        assert float(got[name]) == pytest.approx(value, abs=1e-12), name


def test_build_of_decompose_reproduces_arbitrary_thetas():
    g = _gen(16)
    theta = torch.randn(64, 2, 3, generator=g, dtype=torch.float64)
    det = torch.linalg.det(theta[:, :, :2])
    keep = det.abs() > 0.05  # non-singular
    theta = theta[keep]
    assert (det[keep] < 0).any() and (det[keep] > 0).any()  # both orientations covered
    got = decompose(theta)
    assert (got["scale_x"] > 0).all()
    assert ((got["rotation"] > -180) & (got["rotation"] <= 180)).all()
    torch.testing.assert_close(build_theta(**got, dtype=torch.float64), theta, atol=1e-8, rtol=0)
    # negative determinant shows up as a negative scale_y
    assert torch.equal(got["scale_y"] < 0, torch.linalg.det(theta[:, :, :2]) < 0)


def test_horizontal_flip_decomposes_to_rotation_180_and_negative_scale_y():
    flip = build_theta(scale_x=-1, dtype=torch.float64)
    got = decompose(flip)
    assert float(got["rotation"]) == pytest.approx(180.0, abs=1e-9)
    assert float(got["scale_x"]) == pytest.approx(1.0, abs=1e-12)
    assert float(got["scale_y"]) == pytest.approx(-1.0, abs=1e-12)
    assert float(got["shear"]) == pytest.approx(0.0, abs=1e-12)
    assert float(got["tx"]) == pytest.approx(0.0, abs=1e-12)
    assert float(got["ty"]) == pytest.approx(0.0, abs=1e-12)
    # ... which is the same matrix
    torch.testing.assert_close(build_theta(**got, dtype=torch.float64), flip, atol=1e-12, rtol=0)
    torch.testing.assert_close(flip, torch.tensor([[[-1.0, 0, 0], [0, 1.0, 0]]], dtype=torch.float64))


# ------------------------------------------------------------------ 7. torchvision agreement
# Empirically verified mapping (both sides sample a pixel grid with align_corners=False, the
# centre of rotation/shear/scale is the image centre, and fill 0 outside):
#
#   TF.affine(img, angle=a, translate=[dx_px, dy_px], scale=s, shear=[phi_deg, 0.0],
#             interpolation=BILINEAR)
#   == warp(img, build_theta(rotation=-a, scale_x=s, scale_y=s, shear=-tan(radians(phi)),
#                            tx=pixels_to_normalized(dx_px, W), ty=pixels_to_normalized(dy_px, H)))
#
# * TF.affine's ``angle`` is CLOCKWISE on screen, ours is counterclockwise -> rotation = -a;
# * TF.affine's shear of +phi degrees is x' = x - tan(phi) * y, ours is x' = x + k * y -> k = -tan(phi);
# * TF.affine's translation is in pixels and moves content right/down, like our tx/ty;
# * TF.rotate(img, a) is COUNTERCLOCKWISE, so it equals build_theta(rotation=a).
#
# Measured max abs differences are ~4e-6; we allow 1e-4 over the whole image.
TV_TOL = 1e-4


@pytest.mark.parametrize(
    ("angle", "translate", "scale", "shear_deg"),
    [
        (0.0, [0, 0], 1.0, 0.0),
        (30.0, [0, 0], 1.0, 0.0),
        (-47.0, [0, 0], 1.0, 0.0),
        (0.0, [3, -5], 1.0, 0.0),
        (0.0, [0, 0], 1.7, 0.0),
        (0.0, [0, 0], 0.6, 0.0),
        (0.0, [0, 0], 1.0, 20.0),
        (0.0, [0, 0], 1.0, -35.0),
        (25.0, [2, 4], 1.3, 15.0),
        (-120.0, [-6, 1], 0.8, -10.0),
        (170.0, [5, 5], 1.1, 30.0),
    ],
)
def test_matches_torchvision_affine(angle, translate, scale, shear_deg):
    g = _gen(17)
    img = torch.rand(3, 32, 32, generator=g)
    h, w = img.shape[-2:]
    expected = TF.affine(
        img,
        angle=angle,
        translate=translate,
        scale=scale,
        shear=[shear_deg, 0.0],
        interpolation=InterpolationMode.BILINEAR,
    )
    theta = build_theta(
        rotation=-angle,
        scale_x=scale,
        scale_y=scale,
        shear=-math.tan(math.radians(shear_deg)),
        tx=pixels_to_normalized(translate[0], w),
        ty=pixels_to_normalized(translate[1], h),
    )
    got = warp(img.unsqueeze(0), theta)[0]
    assert (got - expected).abs().max().item() < TV_TOL


@pytest.mark.parametrize("angle", [15.0, 90.0, -60.0, 135.0])
def test_matches_torchvision_rotate(angle):
    img = torch.rand(3, 32, 32, generator=_gen(18))
    expected = TF.rotate(img, angle, interpolation=InterpolationMode.BILINEAR)
    got = warp(img.unsqueeze(0), build_theta(rotation=angle))[0]
    assert (got - expected).abs().max().item() < TV_TOL


# ------------------------------------------------------------------ 8. warp with fill
def _normalized_image(size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    raw = torch.rand(1, 3, size, size, generator=_gen(19))
    mean = torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1)
    return (raw - mean) / std, -mean / std  # image, black in normalized units


def _outside_mask(size: int, margin: int) -> torch.Tensor:
    mask = torch.zeros(size, size, dtype=torch.bool)
    mask[:margin] = mask[-margin:] = True
    mask[:, :margin] = mask[:, -margin:] = True
    return mask


def test_fill_paints_black_border_for_normalized_images():
    size = 32
    img, black = _normalized_image(size)
    theta = build_theta(scale_x=0.5, scale_y=0.5)  # zoom out: content occupies the central half
    fill = (-torch.tensor(IMAGENET_MEAN) / torch.tensor(IMAGENET_STD)).tolist()
    # Output pixel j samples input at 2 * x_j; for j < 8 (or >= 24) that is more than half a pixel
    # beyond the outer pixel centre, so bilinear sampling has no in-image neighbour: purely padding.
    border = _outside_mask(size, 8)
    filled = warp(img, theta, fill=fill)
    for ch in range(3):
        region = filled[0, ch][border]
        assert torch.equal(region, torch.full_like(region, black[0, ch, 0, 0].item())), ch
    # de-normalized, that border is black (0)
    mean = torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1)
    denorm = filled * std + mean
    assert denorm[0][:, border].abs().max() < 1e-6
    # without fill the border is 0 in normalized units, i.e. grey (= mean) after de-normalization
    plain = warp(img, theta)
    assert torch.equal(plain[0][:, border], torch.zeros_like(plain[0][:, border]))
    torch.testing.assert_close((plain * std + mean)[0][:, border], mean[0].expand(3, size, size)[:, border])
    # the interior (well inside the content) is unaffected by the fill
    inner = ~_outside_mask(size, 9)
    torch.testing.assert_close(filled[0][:, inner], plain[0][:, inner], atol=1e-5, rtol=0)


@pytest.mark.parametrize("fill", [0.7, [-2.0, 0.5, 3.0], torch.tensor([1.0, -1.0, 0.0])])
@pytest.mark.parametrize("theta_kind", ["identity", "zoom_in"])
def test_fill_does_not_change_in_bounds_samples(fill, theta_kind):
    img = torch.rand(2, 3, 10, 10, generator=_gen(20))
    theta = identity(2) if theta_kind == "identity" else build_theta(scale_x=2, scale_y=2, batch_size=2)
    torch.testing.assert_close(warp(img, theta, fill=fill), warp(img, theta), atol=1e-5, rtol=0)
    if theta_kind == "identity":
        torch.testing.assert_close(warp(img, theta, fill=fill), img, atol=1e-5, rtol=0)


def test_scalar_fill_fills_every_channel():
    img = torch.rand(1, 2, 8, 8, generator=_gen(21))
    out = warp(img, build_theta(tx=5.0), fill=0.25)  # content moved entirely off-screen
    assert torch.equal(out, torch.full_like(out, 0.25))


def test_fill_with_border_padding_raises():
    img = torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match="padding_mode"):
        warp(img, identity(1), padding_mode="border", fill=0.5)


def test_fill_with_wrong_number_of_channels_raises():
    img = torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match="one value per channel"):
        warp(img, identity(1), fill=[0.1, 0.2])


def test_warp_out_size():
    img = torch.rand(2, 3, 8, 12, generator=_gen(22))
    out = warp(img, identity(2), out_size=(5, 7))
    assert out.shape == (2, 3, 5, 7)


# ------------------------------------------------------------------ 9. points and outlines
def test_identity_outline_is_the_image_border():
    expected = torch.tensor([[[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0]]])
    torch.testing.assert_close(sampling_outline(identity(1)), expected)
    open_outline = sampling_outline(identity(2), closed=False)
    assert open_outline.shape == (2, 4, 2)
    torch.testing.assert_close(open_outline[1], expected[0, :4])


def test_zoom_in_outline_is_centred_half_square():
    outline = sampling_outline(build_theta(scale_x=2, scale_y=2))
    expected = 0.5 * torch.tensor([[[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0]]])
    torch.testing.assert_close(outline, expected, atol=1e-6, rtol=0)


def test_translated_outline_moves_opposite_to_content():
    # content moves right by 0.5 -> the output samples a region 0.5 to the left
    outline = sampling_outline(build_theta(tx=0.5), closed=False)
    expected = torch.tensor([[[-1.5, -1.0], [0.5, -1.0], [0.5, 1.0], [-1.5, 1.0]]])
    torch.testing.assert_close(outline, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("w", [8, 28, 33])
def test_normalized_to_pixels(w):
    c = torch.tensor([-1.0, 0.0, 1.0])
    torch.testing.assert_close(normalized_to_pixels(c, w), torch.tensor([-0.5, (w - 1) / 2, w - 0.5]))
    expected_aligned = torch.tensor([0.0, (w - 1) / 2, w - 1.0])
    torch.testing.assert_close(normalized_to_pixels(c, w, align_corners=True), expected_aligned)
    # round trip with pixels_to_normalized for displacements
    shift = pixels_to_normalized(3.0, w)
    torch.testing.assert_close(normalized_to_pixels(c + shift, w) - normalized_to_pixels(c, w), torch.full((3,), 3.0))


def test_outline_corners_agree_with_affine_grid():
    # with align_corners=True the corner pixels of a 2x2 output sit exactly at (+-1, +-1), so
    # affine_grid gives, independently, where the output's corners sample from
    theta = _random_thetas(3, seed=23)
    grid = F.affine_grid(theta, [3, 1, 2, 2], align_corners=True).reshape(3, 4, 2)  # TL, TR, BL, BR
    outline = sampling_outline(theta, closed=False)  # TL, TR, BR, BL
    torch.testing.assert_close(outline, grid[:, [0, 1, 3, 2]], atol=1e-12, rtol=0)
    ref = np.einsum("bij,nj->bni", _np3(theta), np.array([[-1, -1, 1], [1, -1, 1], [1, 1, 1], [-1, 1, 1.0]]))
    np.testing.assert_allclose(outline.numpy(), ref[:, :, :2], atol=1e-12)


# ------------------------------------------------------------------ 10. helpful errors
THETA_CONSUMERS = {
    "warp": lambda t: warp(torch.rand(1, 1, 4, 4), t),
    "invert": invert,
    "decompose": decompose,
    "compose_first": lambda t: compose(t, identity(1)),
    "compose_then": lambda t: compose(identity(1), t),
    "sampling_outline": affine.sampling_outline,
    "check_theta": affine.check_theta,
}

BAD_THETAS = {
    "unbatched_2x3": (torch.eye(2, 3), r"\(B, 2, 3\).*unsqueeze"),
    "3x3": (torch.eye(3).expand(1, 3, 3), r"\(B, 2, 3\)"),
    "list": ([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], r"torch\.Tensor.*\(B, 2, 3\)"),
    "numpy": (np.eye(2, 3)[None], r"torch\.Tensor"),
    "integer": (torch.tensor([[[1, 0, 0], [0, 1, 0]]]), "floating-point"),
    "nan": (torch.tensor([[[1.0, 0.0, float("nan")], [0.0, 1.0, 0.0]]]), "finite"),
    "inf": (torch.tensor([[[1.0, 0.0, 0.0], [0.0, float("inf"), 0.0]]]), "finite"),
}


@pytest.mark.parametrize("consumer", list(THETA_CONSUMERS))
@pytest.mark.parametrize("bad", list(BAD_THETAS))
def test_bad_theta_raises_helpful_error(consumer, bad):
    theta, pattern = BAD_THETAS[bad]
    with pytest.raises(ValueError, match=pattern):
        THETA_CONSUMERS[consumer](theta)


def test_warp_batch_mismatch_raises():
    with pytest.raises(ValueError, match=r"batch size mismatch.*2.*3"):
        warp(torch.rand(3, 1, 4, 4), identity(2))


@pytest.mark.parametrize(
    ("images", "pattern"),
    [
        (torch.rand(3, 4, 4), r"\(B, C, H, W\).*unsqueeze"),
        (torch.rand(4, 4), r"\(B, C, H, W\)"),
        (torch.rand(1, 1, 1, 4, 4), r"\(B, C, H, W\)"),
        (torch.zeros(1, 1, 4, 4, dtype=torch.uint8), "floating-point"),
        (torch.zeros(1, 1, 4, 4, dtype=torch.int64), "floating-point"),
        (torch.tensor([[[[0.0, float("nan")], [0.0, 0.0]]]]), "finite"),
        (torch.tensor([[[[0.0, float("-inf")], [0.0, 0.0]]]]), "finite"),
        (np.zeros((1, 1, 4, 4), dtype=np.float32), r"torch\.Tensor"),
    ],
)
def test_bad_images_raise_helpful_error(images, pattern):
    with pytest.raises(ValueError, match=pattern):
        warp(images, identity(1))


@pytest.mark.parametrize(
    "theta",
    [
        [[[1.0, 2.0, 0.0], [2.0, 4.0, 0.0]]],  # rank 1
        [[[0.0, 0.0, 0.3], [0.0, 0.0, -0.1]]],  # zero linear part
        [[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], [[1.0, 2.0, 0.0], [2.0, 4.0, 0.0]]],  # second item singular
    ],
)
def test_invert_singular_raises(theta):
    t = torch.tensor(theta)
    with pytest.raises(ValueError, match="singular"):
        invert(t)
    with pytest.raises(ValueError, match="singular"):
        decompose(t)


def test_invert_singular_reports_batch_index():
    t = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], [[1.0, 2.0, 0.0], [2.0, 4.0, 0.0]]])
    with pytest.raises(ValueError, match=r"index \[1\]"):
        invert(t)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"scale_x": 0.0}, "non-zero"),
        ({"scale_y": 0}, "non-zero"),
        ({"scale_x": [1.0, 0.0]}, "non-zero"),
        ({"rotation": float("nan")}, "rotation must be finite"),
        ({"tx": float("inf")}, "tx must be finite"),
        ({"shear": [0.0, float("nan")]}, "shear must be finite"),
        ({"rotation": [0.0, 10.0], "tx": [0.0, 0.1, 0.2]}, "disagree"),
        ({"rotation": [0.0, 10.0], "batch_size": 3}, "disagree"),
        ({"rotation": [[0.0, 10.0]]}, "1-D"),
    ],
)
def test_build_theta_bad_parameters_raise(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        build_theta(**kwargs)


# ------------------------------------------------------------------ 11. batching and gradients
def test_build_theta_batched_parameters():
    rotations = [0.0, 30.0, -75.0, 180.0]
    txs = [0.1, -0.2, 0.0, 0.5]
    theta = build_theta(rotation=rotations, tx=txs, scale_x=1.5)
    assert theta.shape == (4, 2, 3)
    for i, (r, t) in enumerate(zip(rotations, txs, strict=True)):
        torch.testing.assert_close(theta[i : i + 1], build_theta(rotation=r, tx=t, scale_x=1.5))
    assert build_theta(shear=0.2, batch_size=5).shape == (5, 2, 3)
    assert build_theta(rotation=torch.tensor([1.0, 2.0]), batch_size=2).shape == (2, 2, 3)
    assert build_theta(dtype=torch.float64).dtype == torch.float64


def test_build_theta_is_differentiable_through_warp():
    img = torch.rand(1, 3, 16, 16, generator=_gen(25))
    rotation = torch.tensor(30.0, requires_grad=True)
    out = warp(img, build_theta(rotation=rotation))
    out.sum().backward()
    assert rotation.grad is not None
    assert torch.isfinite(rotation.grad).all()
    assert rotation.grad.abs().item() > 0


def test_build_theta_gradcheck_all_parameters():
    params = [
        torch.tensor([20.0, -65.0], dtype=torch.float64, requires_grad=True),
        torch.tensor([1.3, 0.7], dtype=torch.float64, requires_grad=True),
        torch.tensor([-0.8, 1.9], dtype=torch.float64, requires_grad=True),
        torch.tensor([0.2, -0.4], dtype=torch.float64, requires_grad=True),
        torch.tensor([0.1, 0.5], dtype=torch.float64, requires_grad=True),
        torch.tensor([-0.3, 0.0], dtype=torch.float64, requires_grad=True),
    ]
    fn = lambda *p: build_theta(*p, dtype=torch.float64)  # noqa: E731
    assert torch.autograd.gradcheck(fn, params)


def test_batched_warp_gradient_flows_to_each_item():
    img = torch.rand(3, 1, 12, 12, generator=_gen(26))
    tx = torch.tensor([0.1, -0.2, 0.3], requires_grad=True)
    weights = torch.rand(3, 1, 12, 12, generator=_gen(27))
    (warp(img, build_theta(tx=tx)) * weights).sum().backward()
    assert tx.grad.shape == (3,)
    assert torch.isfinite(tx.grad).all() and (tx.grad.abs() > 0).all()


def test_zoom_is_the_geometric_mean_of_the_scales():
    # by hand: sqrt(2 * 2) = 2 (zoom in), sqrt(2 * 0.5) = 1, a mirror zooms like its twin, rotation is no zoom
    theta = torch.cat(
        [
            affine.build_theta(scale_x=2, scale_y=2),
            affine.build_theta(scale_x=2, scale_y=0.5),
            affine.build_theta(scale_x=-0.5, scale_y=0.5),
            affine.build_theta(rotation=30),
        ]
    )
    assert affine.zoom(affine.decompose(theta)).tolist() == pytest.approx([2.0, 1.0, 0.5, 1.0], abs=1e-6)


def test_outside_share_hand_computed():
    # identity: nothing outside; zoom out 2x: the central half (by width) of the output is the image,
    # so 1 - (1/2)^2 = 3/4 of it reads padding; a shift by a full width: everything outside
    thetas = torch.cat([affine.identity(), affine.build_theta(scale_x=0.5, scale_y=0.5), affine.build_theta(tx=2.5)])
    share = affine.outside_share(thetas, (20, 20))
    assert share.tolist() == pytest.approx([0.0, 0.75, 1.0])


def test_a_well_conditioned_large_zoom_is_invertible():
    # regression: the singularity test was an absolute |det| < 1e-8, which refused a 1e4 zoom (det 1e-8)
    theta = torch.tensor([[[1e-4, 0.0, 0.3], [0.0, 1e-4, -0.2]]])
    inv = invert(theta)
    assert torch.allclose(compose(theta, inv), identity(1), atol=1e-5)
    nearly_parallel = torch.tensor([[[1.0, 1.0, 0.0], [1.0, 1.0 + 1e-8, 0.0]]])
    with pytest.raises(ValueError, match="singular"):
        invert(nearly_parallel)
    with pytest.raises(ValueError, match="singular"):
        invert(torch.zeros(1, 2, 3))


@pytest.mark.parametrize("fill", [float("nan"), float("inf"), (0.0, float("nan"), 0.0)])
def test_a_non_finite_fill_is_a_clear_error(fill):
    # regression: fill=nan turned the whole output into NaN (images - fill, then + fill)
    with pytest.raises(ValueError, match="fill must be finite"):
        warp(torch.rand(1, 3, 8, 8), identity(1), fill=fill)
    from stnlib.models import SpatialTransformer

    with pytest.raises(ValueError, match="fill must be finite"):
        SpatialTransformer(torch.nn.Flatten(), 3 * 8 * 8, fill=fill)


def test_clear_errors_where_torch_gave_raw_ones():
    # regressions (issue 10, defect 6): each of these raised a raw torch error or silently misbehaved
    t32, t64 = identity(1), identity(1, dtype=torch.float64)
    with pytest.raises(ValueError, match="first is torch.float32 but then is torch.float64"):
        compose(t32, t64)
    for half in (torch.float16, torch.bfloat16):
        with pytest.raises(ValueError, match="float32 or float64"):
            invert(t32.to(half))
        with pytest.raises(ValueError, match="float32 or float64"):
            decompose(t32.to(half))
        with pytest.raises(ValueError, match="float32 or float64"):
            build_theta(rotation=10.0, dtype=half)
    with pytest.raises(ValueError, match="out_size must be a pair"):
        warp(torch.rand(1, 1, 8, 8), t32, out_size=5)
    with pytest.raises(ValueError, match="empty batch"):
        warp(torch.rand(0, 1, 8, 8), identity(0))
    from stnlib.models import mnist_stn_net

    net = mnist_stn_net()
    with pytest.raises(ValueError, match="add a batch axis"):
        net.stn(torch.rand(1, 28, 28))
    with pytest.raises(ValueError, match="convert uint8"):
        net.stn(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))


# ------------------------------------------------------------------ 12. properties (Hypothesis)
PROPERTY = settings(max_examples=80, deadline=None, database=None)  # no .hypothesis/ folder
entries = st.floats(-10, 10, allow_nan=False)


@st.composite
def well_conditioned_thetas(draw, max_condition: float = 1e3) -> torch.Tensor:
    """A float64 theta ``(1, 2, 3)``: a 2x2 part with condition number <= ``max_condition`` (either sign of the
    determinant) times ``10**k``, ``k`` in -4..4 (a 1e4 zoom in or out), and a shift."""
    linear = np.array(draw(st.lists(entries, min_size=4, max_size=4)), dtype=np.float64).reshape(2, 2)
    assume(np.linalg.norm(linear) > 1e-3 and np.linalg.cond(linear) <= max_condition)
    linear *= 10.0 ** draw(st.integers(-4, 4))
    shift = np.array(draw(st.lists(entries, min_size=2, max_size=2)))[:, None]
    return torch.from_numpy(np.concatenate([linear, shift], axis=1))[None]


@PROPERTY
@given(theta=well_conditioned_thetas())
def test_property_invert_composes_to_the_identity_both_ways(theta):
    inv, eye = invert(theta), identity(1, dtype=torch.float64)
    np.testing.assert_allclose(compose(inv, theta).numpy(), eye.numpy(), atol=1e-8)
    np.testing.assert_allclose(compose(theta, inv).numpy(), eye.numpy(), atol=1e-8)
    np.testing.assert_allclose(invert(inv).numpy(), theta.numpy(), rtol=1e-8, atol=1e-8 * float(theta.abs().max()))


@PROPERTY
@given(
    rotation=st.floats(-179.5, 179.5),
    scale_x=st.floats(0.1, 10),
    scale_y=st.floats(0.1, 10),
    mirror=st.booleans(),
    shear=st.floats(-3, 3),
    tx=st.floats(-5, 5),
    ty=st.floats(-5, 5),
)
def test_property_decompose_undoes_build_theta(rotation, scale_x, scale_y, mirror, shear, tx, ty):
    params = dict(
        rotation=rotation, scale_x=scale_x, scale_y=-scale_y if mirror else scale_y, shear=shear, tx=tx, ty=ty
    )
    found = decompose(build_theta(**params, dtype=torch.float64))
    for name, value in params.items():
        assert float(found[name][0]) == pytest.approx(value, rel=1e-7, abs=1e-7), name


@PROPERTY
@given(theta=well_conditioned_thetas(max_condition=100))
def test_property_build_theta_of_decompose_is_the_same_theta(theta):
    again = build_theta(**decompose(theta), dtype=torch.float64)
    np.testing.assert_allclose(again.numpy(), theta.numpy(), rtol=1e-7, atol=1e-7 * float(theta.abs().max()))


@PROPERTY
@given(
    batch=st.integers(1, 3),
    channels=st.integers(1, 3),
    height=st.integers(1, 9),
    width=st.integers(1, 9),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_the_identity_warp_returns_the_image(batch, channels, height, width, seed):
    x = torch.rand(batch, channels, height, width, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    torch.testing.assert_close(warp(x, identity(batch, dtype=torch.float64)), x)
