"""Unit tests for :mod:`stnlib.projective`, checked against independent truth.

Independent references: ``kornia.geometry.transform`` (``get_perspective_transform``, ``warp_perspective``: its own
DLT, pixel-coordinate homographies and grid), ``F.affine_grid`` / :func:`stnlib.affine.warp` for the affine special
case, and homographies worked out by hand.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from stnlib import affine, checks
from stnlib.models import STNClassifier, conv_localization, lenet_bn
from stnlib.projective import (
    CORNERS,
    OUTSIDE,
    ProjectiveTransformer,
    homography,
    homography_from_corners,
    homography_grid,
    identity_params,
    warp_projective,
)

kornia_transform = pytest.importorskip("kornia.geometry.transform")

SEEDS = range(6)


def _random_corners(batch: int, seed: int) -> torch.Tensor:
    """A convex quadrilateral per item, the square's corners jittered by up to 0.3 (a valid homography: every
    output pixel ahead of the horizon; corners pushed outward make some output pixels read outside the input)."""
    g = torch.Generator().manual_seed(seed)
    return torch.tensor(CORNERS) + 0.3 * (2 * torch.rand(batch, 4, 2, generator=g) - 1)


def _pixels_to_normalized(size: tuple[int, int]) -> torch.Tensor:
    """3x3 ``N`` with ``normalized = N @ pixel`` at ``align_corners=False``: pixel centres at ``0 .. W-1``,
    ``x_n = (2 x + 1) / W - 1``."""
    h, w = size
    return torch.tensor([[2 / w, 0, 1 / w - 1], [0, 2 / h, 1 / h - 1], [0, 0, 1]], dtype=torch.float64)


def _apply(h: torch.Tensor, points: torch.Tensor) -> torch.Tensor:  # (B, 3, 3), (B, N, 2) -> (B, N, 2), by hand
    uvw = torch.cat([points, torch.ones_like(points[..., :1])], -1) @ h.transpose(1, 2)
    return uvw[..., :2] / uvw[..., 2:]


@pytest.mark.parametrize("seed", SEEDS)
def test_homography_from_corners_matches_kornia(seed):
    corners = _random_corners(3, seed)
    ours = homography_from_corners(corners)
    # kornia: the homography that sends points_src to points_dst, any frame; here output corners -> input corners
    want = kornia_transform.get_perspective_transform(torch.tensor(CORNERS).expand(3, 4, 2), corners)
    want = want / want[:, 2:, 2:]  # kornia's scale is arbitrary: ours has h33 = 1
    diff = (ours - want).abs().max().item()
    print(f"kornia get_perspective_transform vs homography_from_corners (seed {seed}): max |diff| = {diff:.2e}")
    assert diff <= 1e-4
    torch.testing.assert_close(_apply(ours, torch.tensor(CORNERS).expand(3, 4, 2)), corners, atol=1e-5, rtol=0)


@pytest.mark.parametrize("seed", SEEDS)
def test_warp_projective_matches_kornia_warp_perspective(seed):
    g = torch.Generator().manual_seed(100 + seed)
    (in_h, in_w), (out_h, out_w) = (17, 23), (19, 13)
    images = torch.rand(3, 2, in_h, in_w, generator=g)
    corners = _random_corners(3, seed)
    h = homography_from_corners(corners)
    ours = warp_projective(images, h, out_size=(out_h, out_w))
    # kornia's M maps input (src) PIXELS to output (dst) PIXELS; ours maps output NORMALIZED to input NORMALIZED.
    # input pixel = N_in^-1 @ h @ N_out @ output pixel, so M = (N_in^-1 h N_out)^-1. Both sample with grid_sample at
    # align_corners=False and zero padding, so the whole image (border included) is compared.
    n_in, n_out = _pixels_to_normalized((in_h, in_w)), _pixels_to_normalized((out_h, out_w))
    m = torch.linalg.inv(torch.linalg.inv(n_in) @ h.double() @ n_out).float()
    want = kornia_transform.warp_perspective(images, m, (out_h, out_w), align_corners=False)
    # the same warp from corners in pixels: the output's outer pixel edges (-0.5 .. W - 0.5) -> input pixels
    src_x, src_y = (
        affine.normalized_to_pixels(corners[..., 0], in_w),
        affine.normalized_to_pixels(corners[..., 1], in_h),
    )
    src = torch.stack([src_x, src_y], -1)
    dst = torch.tensor([[-0.5, -0.5], [out_w - 0.5, -0.5], [out_w - 0.5, out_h - 0.5], [-0.5, out_h - 0.5]])
    m_corners = kornia_transform.get_perspective_transform(src, dst.expand(3, 4, 2))
    want_corners = kornia_transform.warp_perspective(images, m_corners, (out_h, out_w), align_corners=False)
    diffs = (ours - want).abs().max().item(), (ours - want_corners).abs().max().item()
    print(f"kornia warp_perspective vs warp_projective (seed {seed}): max |diff| = {diffs[0]:.2e} (matrix), ", end="")
    print(f"{diffs[1]:.2e} (pixel corners)")
    assert max(diffs) <= 1e-4
    assert (homography_grid(h, (out_h, out_w)).abs() > 1).any()  # some output pixels did read outside the input


@pytest.mark.parametrize("align_corners", [False, True])
def test_the_affine_family_is_a_special_case(align_corners):
    g = torch.Generator().manual_seed(0)
    theta = affine.identity(4) + 0.3 * torch.randn(4, 2, 3, generator=g)
    h = torch.cat([theta, torch.tensor([[[0.0, 0.0, 1.0]]]).expand(4, 1, 3)], 1)
    grid = homography_grid(h, (7, 9), align_corners=align_corners)
    torch.testing.assert_close(grid, F.affine_grid(theta, [4, 1, 7, 9], align_corners=align_corners))
    images = torch.rand(4, 3, 8, 6, generator=g)
    fill = (0.1, -0.2, 0.3)
    torch.testing.assert_close(
        warp_projective(images, h, out_size=(5, 7), fill=fill, align_corners=align_corners),
        affine.warp(images, theta, out_size=(5, 7), fill=fill, align_corners=align_corners),
    )


def test_identity_returns_the_image():
    assert identity_params(2).tolist() == [[1.0, 0, 0, 0, 1, 0, 0, 0]] * 2
    assert torch.equal(homography(identity_params(1, dtype=torch.float64)), torch.eye(3, dtype=torch.float64)[None])
    images = torch.rand(2, 3, 6, 5)
    torch.testing.assert_close(warp_projective(images, homography(identity_params(2))), images, atol=1e-6, rtol=0)
    torch.testing.assert_close(homography_from_corners(torch.tensor([CORNERS])), torch.eye(3)[None])


def test_a_scale_and_shift_quadrilateral_is_its_affine_theta():
    # the output square read from the rectangle x in [-0.2, 0.6], y in [-0.9, 0.1]: scale (0.4, 0.5), shift (0.2, -0.4)
    rect = torch.tensor([[[-0.2, -0.9], [0.6, -0.9], [0.6, 0.1], [-0.2, 0.1]]])
    want = torch.tensor([[[0.4, 0.0, 0.2], [0.0, 0.5, -0.4], [0.0, 0.0, 1.0]]])
    torch.testing.assert_close(homography_from_corners(rect), want)


def test_a_perspective_quadrilateral_by_hand():
    # h = [[1, 0, 0], [0, 1, 0], [0.5, 0, 1]]: (x, y) -> (x, y) / (1 + x / 2); the corners go to
    # (-1, -1) / 0.5 = (-2, -2), (1, -1) / 1.5, (1, 1) / 1.5, (-1, 1) / 0.5 = (-2, 2)
    corners = torch.tensor([[[-2.0, -2.0], [2 / 3, -2 / 3], [2 / 3, 2 / 3], [-2.0, 2.0]]])
    want = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.0, 1.0]]])
    torch.testing.assert_close(homography_from_corners(corners), want)
    grid = homography_grid(want, (2, 2))  # output pixel centres (+-0.5, +-0.5)
    x = torch.tensor([-0.5 / 0.75, 0.5 / 1.25])  # x / (1 + x / 2) at x = -0.5, 0.5; y alike
    torch.testing.assert_close(grid[0, 0, :, 0], x)
    torch.testing.assert_close(grid[0, :, 0, 1], torch.tensor([-0.5 / 0.75, 0.5 / 0.75]))


def test_a_non_convex_quadrilateral_is_kept_and_part_of_it_shows_fill():
    not_convex = torch.tensor([[[-1.0, -1.0], [1.0, -1.0], [-0.5, -0.5], [-1.0, 1.0]]])  # a corner inside
    h = homography_from_corners(not_convex)
    torch.testing.assert_close(_apply(h, torch.tensor([CORNERS])), not_convex)  # the corners still land
    out = warp_projective(torch.rand(1, 1, 10, 10), h, fill=-1.0)
    assert (out == -1.0).any() and torch.isfinite(out).all()  # the part beyond the horizon shows fill


def test_pixels_beyond_the_horizon_show_fill_with_finite_gradients():
    params = torch.tensor([[1.0, 0, 0, 0, 1, 0, 2.0, 0]], requires_grad=True)  # w = 1 + 2 x <= 0 for x <= -1/2
    grid = homography_grid(homography(params), (4, 8))
    assert torch.equal(grid[0, :, :2], torch.full((4, 2, 2), OUTSIDE))  # pixel centres x = -7/8, -5/8
    assert torch.isfinite(grid).all()
    out = warp_projective(torch.rand(1, 1, 4, 8), homography(params), fill=0.5)
    assert torch.equal(out[0, 0, :, :2], torch.full((4, 2), 0.5))
    out.sum().backward()
    assert torch.isfinite(params.grad).all()


def test_gradcheck_warp_projective_images_and_params():
    g = torch.Generator().manual_seed(1)
    images = torch.rand(2, 2, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    params = identity_params(2, dtype=torch.float64) + 0.1 * torch.randn(2, 8, generator=g, dtype=torch.float64)
    params = params.requires_grad_()
    func = lambda x, p: warp_projective(x, homography(p), out_size=(3, 4), fill=0.25)
    assert torch.autograd.gradcheck(func, (images, params))
    corners = _random_corners(2, 3).double().requires_grad_()
    assert torch.autograd.gradcheck(homography_from_corners, (corners,))


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match=r"params must have shape \(B, 8\), got \(2, 9\)"):
        homography(torch.zeros(2, 9))
    with pytest.raises(ValueError, match=r"h must have shape \(B, 3, 3\), got \(3, 3\) \(add a batch axis"):
        warp_projective(torch.zeros(1, 1, 4, 4), torch.eye(3))
    with pytest.raises(ValueError, match="batch size mismatch: h has 2 items, images 1"):
        warp_projective(torch.zeros(1, 1, 4, 4), homography(identity_params(2)))
    with pytest.raises(checks.ArgumentTypeError, match="params must be a floating-point tensor"):
        homography(torch.zeros(1, 8, dtype=torch.int64))
    collinear = [[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [0.0, 1.0]]
    coincide = [[0.0, 0.0], [0.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
    bow_tie = [[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]]  # the last two swapped: h33 would be 0
    with pytest.raises(ValueError, match=r"corners at batch index \[1, 2, 3\] admit no homography"):
        homography_from_corners(torch.tensor([CORNERS, collinear, coincide, bow_tie]))
    mirrored = torch.tensor([CORNERS]) * torch.tensor([-1.0, 1.0])  # a mirror image is a fine homography
    torch.testing.assert_close(homography_from_corners(mirrored), torch.diag(torch.tensor([-1.0, 1.0, 1.0]))[None])
    with pytest.raises(ValueError, match="fill must be finite"):
        warp_projective(torch.zeros(1, 1, 4, 4), homography(identity_params()), fill=float("nan"))


def test_untrained_transformer_is_the_identity_and_init_zoom_reads_the_central_half():
    loc, feats = conv_localization(1, 28)
    x = torch.rand(3, 1, 28, 28)
    out, h = ProjectiveTransformer(loc, feats).transform(x)
    torch.testing.assert_close(out, x, atol=1e-5, rtol=0)  # float32 grids hit pixel centres to about 1e-6
    assert torch.equal(h, torch.eye(3).expand(3, 3, 3))
    zoomed = ProjectiveTransformer(loc, feats, out_size=(14, 14), init_zoom=2.0, fill=-1.0)
    half = affine.build_theta(scale_x=2.0, scale_y=2.0, batch_size=3)
    torch.testing.assert_close(zoomed(x), affine.warp(x, half, out_size=(14, 14)), atol=1e-6, rtol=0)
    torch.testing.assert_close(zoomed.params(x), torch.tensor([[0.5, 0, 0, 0, 0.5, 0, 0, 0]]).expand(3, 8))
    net = STNClassifier(lenet_bn(14), zoomed)  # a SpatialTransformer: fits the classifier, trains end to end
    net(x).sum().backward()
    assert zoomed.regressor.weight.grad.abs().sum() > 0


def test_params_stay_float32_under_bf16_autocast():
    loc, feats = conv_localization(1, 28)
    stn = ProjectiveTransformer(loc, feats).eval()
    torch.nn.init.normal_(stn.regressor.weight, std=0.01)
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        params = stn.params(x)
        out, h = stn.transform(x)
    assert params.dtype == h.dtype == out.dtype == torch.float32
    torch.testing.assert_close(out, warp_projective(x, h), atol=1e-6, rtol=0)


def test_transformer_input_errors():
    loc, feats = conv_localization(1, 28)
    stn = ProjectiveTransformer(loc, feats)
    with pytest.raises(ValueError, match="this ProjectiveTransformer was built for 28x28 inputs, got 32x32"):
        stn(torch.rand(1, 1, 32, 32))
    with pytest.raises(NotImplementedError, match="no affine theta: use params"):
        stn.theta(torch.rand(1, 1, 28, 28))
    with pytest.raises(ValueError, match="init_zoom must be a number > 0"):
        ProjectiveTransformer(loc, feats, init_zoom=-1.0)
