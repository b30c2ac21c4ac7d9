import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from stnlib import affine, viz


def test_denormalize_inverts_normalize():
    x = torch.rand(2, 3, 4, 4)
    mean, std = (0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261)
    normalized = (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    assert torch.allclose(viz.denormalize(normalized, mean, std), x, atol=1e-6)
    with pytest.raises(ValueError, match="1 or 3 values"):
        viz.denormalize(normalized, (0.1, 0.2), std)


def test_to_numpy_image_layouts():
    assert viz.to_numpy_image(torch.rand(1, 5, 6)).shape == (5, 6)
    assert viz.to_numpy_image(torch.rand(1, 3, 5, 6)).shape == (5, 6, 3)
    with pytest.raises(ValueError, match="expected one image"):
        viz.to_numpy_image(torch.rand(2, 3, 5, 6))


def outline_xy(theta, size):
    fig, ax = plt.subplots()
    viz.draw_sampling_outline(ax, theta, size)
    return np.asarray(ax.lines[0].get_xydata())


def test_identity_outline_is_the_image_border_in_pixels():
    # imshow draws pixel centres at integers, so the border is at -0.5 and W - 0.5
    xy = outline_xy(affine.identity(), (10, 20))
    assert np.allclose(xy, [[-0.5, -0.5], [19.5, -0.5], [19.5, 9.5], [-0.5, 9.5], [-0.5, -0.5]])


def test_zoom_outline_is_the_centred_half_size_square():
    xy = outline_xy(affine.build_theta(scale_x=2, scale_y=2), (20, 20))
    assert np.allclose(xy[:4], [[4.5, 4.5], [14.5, 4.5], [14.5, 14.5], [4.5, 14.5]])


def test_half_zoom_theta_outline_is_the_centred_half_size_square_with_its_top_edge_thick():
    # theta = [[0.5, 0, 0], [0, 0.5, 0]] reads normalized [-0.5, 0.5]^2: pixels -0.5 + 20 * (0.25, 0.75)
    fig, ax = plt.subplots()
    viz.draw_sampling_outline(ax, torch.tensor([[[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]]]), (20, 20))
    square = [[4.5, 4.5], [14.5, 4.5], [14.5, 14.5], [4.5, 14.5], [4.5, 4.5]]
    assert np.allclose(ax.lines[0].get_xydata(), square)  # closed outline
    assert np.allclose(ax.lines[1].get_xydata(), square[:2])  # the thick edge is the output's top row
    assert ax.lines[1].get_linewidth() > ax.lines[0].get_linewidth()


def test_theta_text_has_no_negative_zero():
    text = viz.theta_text(affine.build_theta(rotation=90))
    assert "-0.00" not in text and text.splitlines() == ["[+0.00  -1.00  +0.00]", "[+1.00  +0.00  +0.00]"]


def test_figure_to_png_returns_png_bytes():
    fig = viz.image_row([torch.rand(1, 4, 4)] * 2, ["a", "b"])
    assert viz.figure_to_png(fig)[:4] == b"\x89PNG"


def test_show_sampling_grid_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(1, H, W, 2\)"):
        viz.show_sampling_grid(torch.zeros(1, 4, 4, 3))


def test_theta_histograms_draw_a_constant_theta():
    # an STN that applies the same theta to every image (float32 noise only) must still plot
    theta = affine.build_theta(rotation=4.7, scale_x=0.947, scale_y=0.947, tx=-0.107, ty=-0.233).repeat(500, 1, 1)
    theta = theta + 1e-7 * torch.randn_like(theta)
    fig = viz.theta_histograms(affine.decompose(theta), title="constant")
    assert len(fig.axes) == 4
    counts = [sum(p.get_height() for p in ax.patches) for ax in fig.axes]
    assert counts == [500] * 4  # every value lands inside the drawn window
