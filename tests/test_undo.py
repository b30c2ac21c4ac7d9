"""stnlib.undo: the end-point error of the composed warp against hand-computed truths.

A transformer that applies the exact inverse of each distortion scores 0 px; no transformer scores the
distortion's own size, which for a pure rotation by ``a`` is ``2 |sin(a / 2)| |p|`` at each point ``p``.
"""

import pytest
import torch
import torch.nn.functional as F

from stnlib import affine, undo
from stnlib.distort import DIGIT_SIZE, distort_mnist
from stnlib.projective import homography_from_corners
from stnlib.tps import control_points


def _digits(n: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, 1, 28, 28), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def test_sampling_grid_of_each_family():
    theta = affine.build_theta(rotation=torch.tensor([10.0, -40.0]), scale_x=1.2, scale_y=1.2, tx=0.1)
    expected = F.affine_grid(theta, [2, 1, 9, 7], align_corners=False)
    h = torch.cat([theta, torch.tensor([0.0, 0.0, 1.0]).expand(2, 1, 3)], dim=1)
    assert torch.allclose(undo.sampling_grid(theta, (9, 7)), expected)
    assert torch.allclose(undo.sampling_grid(h, (9, 7)), expected, atol=1e-6)  # affine: a homography's special case
    source = (control_points(4) @ theta[:, :, :2].transpose(1, 2)) + theta[:, None, :, 2]  # TPS reproduces affine maps
    assert torch.allclose(undo.sampling_grid(source, (9, 7)), expected, atol=1e-5)
    assert torch.equal(undo.sampling_grid(None, (9, 7), n=2), undo.identity_grid(2, (9, 7)))


def test_fit_affine_reads_the_affine_part_of_a_bend():
    theta = affine.build_theta(rotation=25.0, scale_x=0.8, scale_y=1.1, tx=-0.2, ty=0.3)
    source = (control_points(4) @ theta[:, :, :2].transpose(1, 2)) + theta[:, None, :, 2]
    assert torch.allclose(undo.fit_affine(undo.sampling_grid(source, (28, 28))), theta, atol=1e-5)
    rotation = affine.decompose(undo.fit_affine(undo.sampling_grid(theta, (28, 28))))["rotation"]
    assert rotation.item() == pytest.approx(25.0, abs=1e-3)


def test_no_transformer_on_r_scores_the_rotation_by_hand():
    d = distort_mnist(_digits(), "r", seed=3)
    got = undo.undo_error_px(None, d)
    radius = undo.identity_grid(1, (28, 28)).norm(dim=-1).mean()  # mean |p| over pixel centres, normalized
    by_hand = 2 * torch.sin(torch.deg2rad(d.rotation).abs() / 2) * radius * 14  # |R p - p| = 2 |sin(a/2)| |p|
    assert torch.allclose(got, by_hand, atol=1e-4)
    assert got.max() > 1.0  # the distortion is real: the perfect undo below has something to undo


def test_the_exact_inverse_scores_zero_on_r_rts_and_p():
    for kind in ("r", "rts", "p"):
        d = distort_mnist(_digits(), kind, seed=1)
        if kind == "p":
            params = homography_from_corners(d.corners)  # the original's corners land on them: read them back
        else:
            t = affine.build_theta(rotation=d.rotation, scale_x=d.scale, scale_y=d.scale, tx=d.tx, ty=d.ty)
            zoom = DIGIT_SIZE / d.canvas  # the view shows the digit's box: 28 of the canvas's pixels
            square = torch.cat([t, torch.tensor([0.0, 0.0, 1.0]).expand(len(d), 1, 3)], dim=1).inverse()
            params = (square @ torch.diag(torch.tensor([zoom, zoom, 1.0])))[:, :2]
        assert undo.undo_error_px(params, d).max() < 1e-3, kind
        assert undo.undo_error_px(None, d).min() > 0.05, kind


def test_no_transformer_on_e_scores_the_mean_displacement():
    d = distort_mnist(_digits(), "e", seed=2)
    by_hand = d.displacement.norm(dim=-1).mean(dim=(1, 2))  # the field at pixel centres, in pixels
    assert torch.allclose(undo.undo_error_px(None, d), by_hand, atol=1e-4)


def test_bad_params_are_named():
    d = distort_mnist(_digits(2), "r", seed=0)
    with pytest.raises(ValueError, match="params"):
        undo.undo_error_px(torch.zeros(2, 4, 3), d)
    with pytest.raises(ValueError, match="2 items"):
        undo.undo_error_px(affine.identity(3), d)
    with pytest.raises(TypeError, match="distorted"):
        undo.undo_error_px(None, "r")


def test_corner_offsets_follow_the_distortion_exactly_for_its_own_homography():
    d = distort_mnist(_digits(), "p", seed=4)
    recovered, applied = undo.corner_offsets(homography_from_corners(d.corners), d)
    assert recovered.shape == applied.shape == (6, 8)
    assert torch.allclose(recovered, applied, atol=1e-4)  # the distortion's own map reads where it moved each corner
    assert applied.abs().max() > 0.5  # and the corners did move (pixels)
    still, _ = undo.corner_offsets(affine.identity(6), d)
    assert still.abs().max() < 1e-5  # the identity reads each corner pixel where it is
    with pytest.raises(ValueError, match="projective set"):
        undo.corner_offsets(affine.identity(6), distort_mnist(_digits(), "r", seed=0))
