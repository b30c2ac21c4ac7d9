"""Static figures: what is drawn where, checked against hand-computed positions and values."""

from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from stnlib import affine, figures
from stnlib.gifs import Snapshot


def test_to_numpy_image_undoes_normalize():
    x = torch.rand(3, 4, 4)
    mean, std = (0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261)
    normalized = (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    assert np.allclose(figures.to_numpy_image(normalized, mean, std), x.permute(1, 2, 0).numpy(), atol=1e-6)
    assert np.allclose(figures.to_numpy_image(torch.full((1, 1, 2, 2), 3.0), [0.5], [0.5]), 1.0)  # clipped to [0, 1]
    with pytest.raises(ValueError, match="1 or 3 values"):
        figures.to_numpy_image(normalized, (0.1, 0.2), std)


def test_to_numpy_image_layouts():
    assert figures.to_numpy_image(torch.rand(1, 5, 6)).shape == (5, 6)
    assert figures.to_numpy_image(torch.rand(1, 3, 5, 6)).shape == (5, 6, 3)
    with pytest.raises(ValueError, match="expected one image"):
        figures.to_numpy_image(torch.rand(2, 3, 5, 6))


def outline_xy(theta, size):
    fig, ax = plt.subplots()
    figures.draw_sampling_outline(ax, theta, size)
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
    figures.draw_sampling_outline(ax, torch.tensor([[[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]]]), (20, 20))
    square = [[4.5, 4.5], [14.5, 4.5], [14.5, 14.5], [4.5, 14.5], [4.5, 4.5]]
    assert np.allclose(ax.lines[0].get_xydata(), square)  # closed outline
    assert np.allclose(ax.lines[1].get_xydata(), square[:2])  # the thick edge is the output's top row
    assert ax.lines[1].get_linewidth() > ax.lines[0].get_linewidth()


ZOOM_OUT = {
    "half": affine.build_theta(scale_x=0.5, scale_y=0.5),  # samples [-2, 2]^2: twice the image each way
    "turned": affine.build_theta(rotation=25, scale_x=0.6, scale_y=0.6, tx=0.2),
}


def pixel_corners(theta, h, w):
    pts = affine.sampling_outline(theta)[0]
    return affine.normalized_to_pixels(pts[:, 0], w).numpy(), affine.normalized_to_pixels(pts[:, 1], h).numpy()


def assert_limits_hold(ax, xs, ys, h, w):
    (x0, x1), (y1, y0) = ax.get_xlim(), ax.get_ylim()  # y points down: ylim is (bottom, top)
    assert x0 < min(xs.min(), -0.5) and x1 > max(xs.max(), w - 0.5)  # every corner, and the whole image
    assert y0 < min(ys.min(), -0.5) and y1 > max(ys.max(), h - 0.5)


@pytest.mark.parametrize("name", sorted(ZOOM_OUT))
def test_zoom_out_region_lies_whole_inside_the_axes(name):
    h, w = 10, 20
    fig, ax = plt.subplots()
    figures.imshow(ax, torch.rand(1, h, w))
    figures.draw_sampling_outline(ax, ZOOM_OUT[name], (h, w))
    xs, ys = pixel_corners(ZOOM_OUT[name], h, w)
    if name == "half":  # by hand: normalized -2 and 2 are pixels (-1 * 20 - 1) / 2 and (3 * 20 - 1) / 2
        assert np.allclose([xs.min(), xs.max(), ys.min(), ys.max()], [-10.5, 29.5, -5.5, 14.5])
    else:
        assert xs.max() > w - 0.5 and ys.max() > h - 0.5  # the region leaves the image
    assert_limits_hold(ax, xs, ys, h, w)
    # outside the image is hatched under the image (shown at its true extent) over the whole canvas
    (x0, x1), (y1, y0) = ax.get_xlim(), ax.get_ylim()
    (shade,) = [p for p in ax.patches if p.get_hatch()]
    assert np.allclose(shade.get_bbox().extents, [x0, y0, x1, y1])
    assert shade.get_zorder() < ax.images[0].get_zorder()
    assert np.allclose(ax.images[0].get_extent(), [-0.5, w - 0.5, h - 0.5, -0.5])


def test_identity_limits_are_the_image_plus_a_small_margin():
    h, w = 10, 20
    fig, ax = plt.subplots()
    figures.draw_sampling_outline(ax, affine.identity(), (h, w))
    (x0, x1), (y1, y0) = ax.get_xlim(), ax.get_ylim()
    assert -0.5 - 0.2 * w <= x0 < -0.5 and w - 0.5 < x1 <= w - 0.5 + 0.2 * w
    assert -0.5 - 0.2 * h <= y0 < -0.5 and h - 0.5 < y1 <= h - 0.5 + 0.2 * h
    assert x0 + x1 == pytest.approx(w - 1) and y0 + y1 == pytest.approx(h - 1)  # centred on the image


def test_mirror_marks_another_top_edge_and_corner_than_the_identity():
    # scale_x=-1: output x = -input x, so the output's top-left reads the input's top-right corner
    h, w = 10, 20
    drawn = {}
    for name, theta in {"identity": affine.identity(), "mirror": affine.build_theta(scale_x=-1)}.items():
        fig, ax = plt.subplots()
        figures.draw_sampling_outline(ax, theta, (h, w))
        outline, top, corner = (np.asarray(line.get_xydata()) for line in ax.lines)
        drawn[name] = top, corner
        assert np.allclose(sorted(map(tuple, outline[:4])), [(-0.5, -0.5), (-0.5, 9.5), (19.5, -0.5), (19.5, 9.5)])
    assert np.allclose(drawn["identity"][0], [[-0.5, -0.5], [19.5, -0.5]])
    assert np.allclose(drawn["identity"][1], [[-0.5, -0.5]])
    assert np.allclose(drawn["mirror"][0], [[19.5, -0.5], [-0.5, -0.5]])
    assert np.allclose(drawn["mirror"][1], [[19.5, -0.5]])


def test_show_before_after_fits_each_input_panel_to_its_own_region():
    h, w = 12, 16
    thetas = torch.cat([affine.identity(), ZOOM_OUT["half"], ZOOM_OUT["turned"]])
    images = torch.rand(3, 1, h, w)
    fig = figures.show_before_after(images, thetas, affine.warp(images, thetas), ["a", "b", "c"], show_theta=False)
    for i, ax in enumerate(fig.axes[:3]):  # the input row
        assert_limits_hold(ax, *pixel_corners(thetas[i : i + 1], h, w), h, w)
    assert fig.axes[0].get_xlim()[1] < fig.axes[1].get_xlim()[1]  # the identity's panel is not widened


def test_theta_text_has_no_negative_zero():
    text = figures.theta_text(affine.build_theta(rotation=90))
    assert "-0.00" not in text and text.splitlines() == ["[+0.00  -1.00  +0.00]", "[+1.00  +0.00  +0.00]"]


def test_figure_to_png_returns_png_bytes():
    fig = figures.image_row([torch.rand(1, 4, 4)] * 2, ["a", "b"])
    assert figures.figure_to_png(fig)[:4] == b"\x89PNG"


def test_show_sampling_grid_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(1, H, W, 2\)"):
        figures.show_sampling_grid(torch.zeros(1, 4, 4, 3))


def test_theta_histograms_draw_a_constant_theta():
    # an STN that applies the same theta to every image (float32 noise only) must still plot
    theta = affine.build_theta(rotation=4.7, scale_x=0.947, scale_y=0.947, tx=-0.107, ty=-0.233).repeat(500, 1, 1)
    theta = theta + 1e-7 * torch.randn_like(theta)
    fig = figures.theta_histograms(affine.decompose(theta), title="constant")
    assert len(fig.axes) == 4
    counts = [sum(p.get_height() for p in ax.patches) for ax in fig.axes]
    assert counts == [500] * 4  # every value lands inside the drawn window


def test_recovery_scatter_titles_carry_the_fitted_slope():
    applied = torch.linspace(-45, 45, 50)
    components = {"rotation": (applied, -applied + 3.0), "scale": (applied / 100, torch.zeros(50))}
    fig = figures.recovery_scatter(components, {"rotation": "degrees", "scale": "log zoom"})
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["rotation: slope -1.00, R² 1.00", "scale: slope +0.00, R² 1.00"]


def test_attention_summary_reports_the_medians():
    measures = {
        "centre_error_px": torch.tensor([1.0, 2.0, 9.0]),
        "width_ratio": torch.tensor([1.0, 1.2, 1.4]),
        "tx": torch.tensor([0.1, -0.2, 0.3]),
        "ty": torch.zeros(3),
    }
    fig = figures.attention_summary(measures, torch.zeros(3, 2), canvas=60)
    assert [ax.get_title() for ax in fig.axes] == ["", "median 2.0 px", "median 1.20"]


def test_plot_histories_draws_accuracy_per_epoch_and_per_second():
    run = SimpleNamespace(
        epochs=[SimpleNamespace(epoch=1, test_acc=50.0), SimpleNamespace(epoch=2, test_acc=60.0)],
        evals=[SimpleNamespace(elapsed=1.5, test_acc=40.0)],
    )
    fig = figures.plot_histories({"a": run, "b": SimpleNamespace(epochs=run.epochs, evals=[])}, title="t")
    by_epoch, by_time = fig.axes
    assert [list(line.get_xydata().ravel()) for line in by_epoch.lines] == [[1, 50, 2, 60]] * 2
    assert [list(line.get_xydata().ravel()) for line in by_time.lines] == [[1.5, 40]]  # "b" has no timed points
    assert by_epoch.get_ylabel() == "test accuracy (%)" and fig._suptitle.get_text() == "t"


def test_compare_bars_pairs_measured_with_reported():
    fig, ax = plt.subplots()
    figures.compare_bars(ax, {"x": 50.0, "y": 60.0, "z": 10.0}, reported={"x": 55.0}, errors={"x": 1.0})
    heights = [round(p.get_height(), 6) for p in ax.patches]
    assert heights == [50, 60, 10, 55]  # three measured bars, one reported bar
    assert ax.patches[3].get_x() > ax.patches[0].get_x()  # the reported bar stands right of its measured bar
    assert ax.get_ylim() == pytest.approx((0, 60 * 1.22))


def snapshot(step, theta, acc=None):
    return Snapshot(step, 1 if step else 0, theta, torch.zeros(len(theta), 1, 4, 4), acc)


def test_theta_trajectories_plot_the_decomposed_thetas():
    zoom_in = [[0.5, 0, 0], [0, 0.5, 0]]  # samples the centred half: content twice as large
    turn = [[0.0, -1, 0], [1, 0, 0]]  # content turned 90 degrees counterclockwise on screen
    right = [[1.0, 0, -0.2], [0, 1, 0]]  # every output pixel looks 0.2 left: content moves 0.2 right
    snaps = [snapshot(0, affine.identity().repeat(3, 1, 1)), snapshot(7, torch.tensor([zoom_in, turn, right]), 50.0)]
    fig = figures.theta_trajectories(snaps, targets={"rotation": [0, 90, 0]})
    zoom, rotation, tx, ty = ([ln.get_ydata() for ln in ax.lines if list(ln.get_xdata()) == [0, 7]] for ax in fig.axes)
    assert np.allclose(zoom, [[1, 2], [1, 1], [1, 1]], atol=1e-6)
    assert np.allclose(rotation, [[0, 0], [0, 90], [0, 0]], atol=1e-4)
    assert np.allclose(tx, [[0, 0], [0, 0], [0, 0.2]], atol=1e-6)
    assert np.allclose(ty, 0, atol=1e-6)
    targets = [ln.get_ydata() for ln in fig.axes[1].lines if ln.get_linestyle() == "--"]
    assert np.allclose(targets, [[0, 0], [90, 90], [0, 0]])
    epoch_ends = [ln.get_xdata() for ln in fig.axes[0].lines if ln.get_linestyle() == ":"]
    assert np.allclose(epoch_ends, [[7, 7]])  # only the snapshot with a test accuracy
    with pytest.raises(ValueError, match="labels needs one entry per image"):
        figures.theta_trajectories(snaps, labels=["a"])


def _tick_labels_overlap(fig, ax) -> bool:
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def test_theta_histogram_tick_labels_are_plain_and_do_not_run_together():
    # a near-identity transformer like notebook 3's: tx spread over +-0.004 around 0, zoom just under 1
    gen = torch.Generator().manual_seed(0)
    n = 10_000
    theta = affine.build_theta(scale_x=0.997, scale_y=0.997, ty=-0.062).repeat(n, 1, 1)
    theta[:, 0, 2] = 0.001 * torch.randn(n, generator=gen).clamp(-4, 4)
    theta[:, 1, 2] += 0.002 * torch.randn(n, generator=gen)
    fig = figures.theta_histograms(affine.decompose(theta))
    for ax in fig.axes:
        assert not _tick_labels_overlap(fig, ax), [t.get_text() for t in ax.get_xticklabels()]
        assert all("e" not in t.get_text() and "×" not in t.get_text() for t in ax.get_xticklabels())
        assert ax.xaxis.get_offset_text().get_text() == ""  # no "+1e-3"-style offset above the axis


def test_compare_bars_puts_each_value_above_its_error_cap():
    fig, ax = plt.subplots()
    figures.compare_bars(ax, {"x": 50.0, "y": 60.0}, errors={"x": 5.0, "y": 0.5})
    fig.canvas.draw()
    labels = {t.get_text(): t for t in ax.texts}
    assert set(labels) == {"50.0", "60.0"}
    for name, cap in (("50.0", 55.0), ("60.0", 60.5)):  # value + its error: the upper cap
        label_bottom = ax.transData.inverted().transform(labels[name].get_window_extent().p0)[1]
        assert label_bottom >= cap
    assert ax.get_ylim()[1] >= 60.5
