"""Learning GIFs (notebook 4): the writer, one frame per snapshot, theta trajectories.

GIFs are read back with imageio directly (not with stnlib's own reader), and compared
with hand-computed frame counts, sizes, durations and loop flags.
"""

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from PIL import Image

from stnlib import env as paths
from stnlib import viz
from stnlib.gifs import Snapshot

ORANGE = np.array([0xFF, 0x7F, 0x0E])  # viz.OUTLINE_STYLE colour


def solid_frames(n=4, h=12, w=20):
    """``n`` frames of distinct solid colours, each with a white square at a different place."""
    frames = []
    for i in range(n):
        f = np.zeros((h, w, 3), np.uint8)
        f[:] = (40 * i, 255 - 40 * i, 100)
        f[2:5, 2 + 3 * i : 5 + 3 * i] = 255
        frames.append(f)
    return frames


def read_back(path):
    props = iio.improps(path, extension=".gif", index=None)
    metas = [iio.immeta(path, extension=".gif", index=i) for i in range(props.n_images)]
    return props, metas, iio.imread(path, extension=".gif", index=None, mode="RGB")


def test_write_gif_frames_size_durations_and_loop_read_back(tmp_path):
    frames = solid_frames(4)
    path = viz.write_gif(frames, tmp_path / "sub" / "dir" / "a.gif", duration=[100, 200, 300, 400], hold_last=1500)
    assert path == tmp_path / "sub" / "dir" / "a.gif" and path.exists()  # parent folders created
    props, metas, pixels = read_back(path)
    assert props.n_images == 4 and pixels.shape == (4, 12, 20, 3)
    assert [m["duration"] for m in metas] == [100, 200, 300, 1500]  # hold_last replaces the last duration
    assert metas[0]["loop"] == 0  # loop forever
    # few colours: the palette holds them exactly, so every frame reads back bit for bit
    assert np.array_equal(pixels, np.stack(frames))
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.gif"]  # atomic write left no temporary file


def test_write_gif_one_duration_for_all_rounded_to_centiseconds(tmp_path):
    path = viz.write_gif(solid_frames(3), tmp_path / "b.gif", duration=124)
    assert [m["duration"] for m in read_back(path)[1]] == [120, 120, 120]
    path = viz.write_gif(solid_frames(3), tmp_path / "c.gif", duration=126.0, hold_last=2004)
    assert [m["duration"] for m in read_back(path)[1]] == [130, 130, 2000]


@pytest.mark.parametrize(("loop", "expected"), [(0, 0), (3, 3), (None, "absent")])
def test_write_gif_loop_flag(tmp_path, loop, expected):
    path = viz.write_gif(solid_frames(2), tmp_path / "l.gif", loop=loop)
    assert read_back(path)[1][0].get("loop", "absent") == expected


def test_write_gif_accepts_pil_images_and_downscales(tmp_path):
    frames = [Image.fromarray(f) for f in solid_frames(3, h=20, w=40)]
    path = viz.write_gif(frames, tmp_path / "p.gif", max_width=20)
    props, _, _ = read_back(path)
    assert props.n_images == 3 and props.shape == (3, 10, 20, 3)  # aspect kept: 40x20 -> 20x10


def test_write_gif_limits_colours(tmp_path):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(2)]  # ~256 distinct colours each
    pixels = read_back(viz.write_gif(frames, tmp_path / "q.gif", colors=8))[2]
    for frame in pixels:
        assert len(np.unique(frame.reshape(-1, 3), axis=0)) <= 8


def test_write_gif_merges_identical_consecutive_frames(tmp_path):
    a, b = solid_frames(2)
    path = viz.write_gif([a, a, b], tmp_path / "m.gif", duration=100)
    props, metas, _ = read_back(path)
    assert props.n_images == 2 and [m["duration"] for m in metas] == [200, 100]
    info = viz.gif_info(path)
    assert (info.n_frames, info.width, info.height, info.durations_ms, info.loop) == (2, 20, 12, (200, 100), 0)
    assert info.n_bytes == path.stat().st_size


@pytest.mark.parametrize(
    ("frames", "kwargs", "message"),
    [
        ([], {}, "at least one frame"),
        (solid_frames(1) + solid_frames(1, h=13), {}, "same size.*frame 1 is 20x13"),
        ([np.zeros((4, 4, 3), np.float32)], {}, "uint8"),
        ([np.zeros((4, 4), np.uint8)], {}, r"\(H, W, 3\)"),
        ([[[0, 0, 0]]], {}, "PIL image"),
        (solid_frames(2), {"duration": 0}, "between 20 and"),
        (solid_frames(2), {"duration": 10}, "between 20 and"),
        (solid_frames(2), {"duration": -100}, "between 20 and"),
        (solid_frames(2), {"duration": float("nan")}, "between 20 and"),
        (solid_frames(2), {"duration": 1e9}, "between 20 and"),
        (solid_frames(2), {"duration": True}, "number of milliseconds"),
        (solid_frames(2), {"duration": "fast"}, "number of milliseconds"),
        (solid_frames(2), {"duration": [100]}, "1 values for 2 frames"),
        (solid_frames(2), {"hold_last": 5}, "hold_last must be between"),
        (solid_frames(2), {"loop": -1}, "loop must be"),
        (solid_frames(2), {"colors": 1}, "colors must be"),
        (solid_frames(2), {"colors": 300}, "colors must be"),
        (solid_frames(2), {"max_width": 0}, "max_width"),
    ],
)
def test_write_gif_rejects_bad_input_and_writes_nothing(tmp_path, frames, kwargs, message):
    path = tmp_path / "bad.gif"
    with pytest.raises(ValueError, match=message):
        viz.write_gif(frames, path, **kwargs)
    assert not path.exists()


# --------------------------------------------------------------------- frames
def snapshot(step, epoch, theta, acc=None, images=None):
    images = torch.zeros(2, 1, 16, 16) if images is None else images
    return Snapshot(step, epoch, theta, torch.nn.functional.interpolate(images, size=(12, 12)), acc)


IDENTITY2 = torch.tensor([[[1.0, 0, 0], [0, 1, 0]]] * 2)


def test_snapshot_caption():
    assert viz.snapshot_caption(snapshot(0, 0, IDENTITY2)) == "before training"
    assert viz.snapshot_caption(snapshot(40, 1, IDENTITY2)) == "epoch 1 · step 40"
    assert viz.snapshot_caption(snapshot(1407, 3, IDENTITY2, 98.456)) == "epoch 3 · step 1,407 · test acc 98.5%"


def orange_box(frame):
    """``(x0, x1, y0, y1)`` of the pixels drawn in the outline colour."""
    ys, xs = np.nonzero(np.abs(frame.astype(int) - ORANGE).sum(-1) < 60)
    return xs.min(), xs.max(), ys.min(), ys.max()


def test_snapshot_frame_is_a_fixed_size_rgb_frame():
    images = torch.zeros(2, 1, 16, 16)
    zoom = torch.tensor([[[0.5, 0, 0], [0, 0.5, 0]]] * 2)
    kw = dict(titles=["a", "b"], heading="test", total_steps=100, width_px=300)
    before = viz.snapshot_frame(snapshot(0, 0, IDENTITY2), images, **kw)
    after = viz.snapshot_frame(snapshot(100, 2, zoom, 97.0), images, **kw)
    assert before.dtype == np.uint8 and before.ndim == 3 and before.shape[1:] == (300, 3)
    assert before.shape == after.shape  # every frame of a GIF has the same size


def test_snapshot_frame_outlines_the_sampled_region():
    # one black image, no progress bar: the only orange pixels are the outline on the input
    images = torch.zeros(1, 1, 16, 16)
    frame = {
        name: viz.snapshot_frame(snapshot(5, 1, torch.tensor([theta]), images=images), images, width_px=300)
        for name, theta in {"identity": [[1.0, 0, 0], [0, 1, 0]], "zoom": [[0.5, 0, 0], [0, 0.5, 0]]}.items()
    }
    x0, x1, y0, y1 = orange_box(frame["identity"])  # the whole input panel
    z0, z1, w0, w1 = orange_box(frame["zoom"])  # the centred half of it (plus the line's width)
    assert abs((x0 + x1) / 2 - (z0 + z1) / 2) <= 1.5 and abs((y0 + y1) / 2 - (w0 + w1) / 2) <= 1.5
    assert (z1 - z0) / (x1 - x0) == pytest.approx(0.5, abs=0.04)
    assert (w1 - w0) / (y1 - y0) == pytest.approx(0.5, abs=0.04)


def test_snapshot_frame_shows_zoom_out_regions_whole_in_a_fixed_frame(monkeypatch):
    figures = []
    render = viz.figure_to_rgb
    monkeypatch.setattr(viz, "figure_to_rgb", lambda fig: figures.append(fig) or render(fig))
    images = torch.zeros(2, 1, 16, 16)
    zoom_out = torch.tensor([[[2.0, 0, 0], [0, 2, 0]], [[1.2, -0.5, 0.3], [0.5, 1.2, 0.4]]])  # reads beyond the image
    kw = dict(titles=["a", "b"], total_steps=100, width_px=300)
    frames = [viz.snapshot_frame(snapshot(s, 1, theta), images, **kw) for s, theta in ((1, IDENTITY2), (2, zoom_out))]
    assert frames[0].shape == frames[1].shape  # limits grow, the frame does not
    inputs = [ax for ax in figures[1].axes if ax.get_title() in ("a", "b")]
    for theta, ax in zip(zoom_out, inputs):
        corners = theta[:, :2] @ torch.tensor([[-1.0, 1, 1, -1], [-1, -1, 1, 1]]) + theta[:, 2:]  # (x; y) normalized
        px = ((corners + 1) * 16 - 1) / 2  # pixel positions, as imshow draws them
        (x0, x1), (y1, y0) = ax.get_xlim(), ax.get_ylim()
        assert x0 < px[0].min() and px[0].max() < x1 and y0 < px[1].min() and px[1].max() < y1
    assert inputs[0].get_xlim() == pytest.approx((-8.5 - 1.6, 23.5 + 1.6))  # normalized [-2, 2], plus 10% of 16


def test_snapshot_frame_rejects_a_snapshot_of_another_batch():
    with pytest.raises(ValueError, match=r"theta must have shape \(3, 2, 3\)"):
        viz.snapshot_frame(snapshot(0, 0, IDENTITY2), torch.zeros(3, 1, 16, 16))
    with pytest.raises(ValueError, match="titles needs at least 2"):
        viz.snapshot_frame(snapshot(0, 0, IDENTITY2), torch.zeros(2, 1, 16, 16), titles=["a"])


def test_learning_gif_holds_epoch_frames_and_the_last_one(tmp_path):
    images = torch.rand(2, 1, 16, 16)
    shift = torch.tensor([[[1.0, 0, 0.2], [0, 1, 0]]] * 2)
    snaps = [
        snapshot(0, 0, IDENTITY2, images=images),
        snapshot(5, 1, shift, images=images),
        snapshot(10, 1, shift * 0.9, 50.0, images=images),
        snapshot(20, 2, shift * 0.8, 60.0, images=images),
    ]
    path = viz.learning_gif(snaps, images, tmp_path / "learn.gif", width_px=300, frame_ms=100, epoch_ms=500)
    props, metas, _ = read_back(path)
    assert props.n_images == 4 and props.shape[2] == 300
    assert [m["duration"] for m in metas] == [500, 100, 500, 3000]


def test_theta_trajectories_plot_the_decomposed_thetas():
    zoom_in = [[0.5, 0, 0], [0, 0.5, 0]]  # samples the centred half: content twice as large
    turn = [[0.0, -1, 0], [1, 0, 0]]  # content turned 90 degrees counterclockwise on screen
    right = [[1.0, 0, -0.2], [0, 1, 0]]  # every output pixel looks 0.2 left: content moves 0.2 right
    snaps = [snapshot(0, 0, IDENTITY2[:1].repeat(3, 1, 1)), snapshot(7, 1, torch.tensor([zoom_in, turn, right]), 50.0)]
    fig = viz.theta_trajectories(snaps, targets={"rotation": [0, 90, 0]})
    zoom, rotation, tx, ty = ([ln.get_ydata() for ln in ax.lines if list(ln.get_xdata()) == [0, 7]] for ax in fig.axes)
    assert np.allclose(zoom, [[1, 2], [1, 1], [1, 1]], atol=1e-6)
    assert np.allclose(rotation, [[0, 0], [0, 90], [0, 0]], atol=1e-4)
    assert np.allclose(tx, [[0, 0], [0, 0], [0, 0.2]], atol=1e-6)
    assert np.allclose(ty, 0, atol=1e-6)
    targets = [ln.get_ydata() for ln in fig.axes[1].lines if ln.get_linestyle() == "--"]
    assert np.allclose(targets, [[0, 0], [90, 90], [0, 0]])
    with pytest.raises(ValueError, match="examples must be indices"):
        viz.theta_trajectories(snaps, examples=[3])


# ------------------------------------------------------------ where GIFs go
def test_published_dir_keeps_quick_runs_and_tests_out_of_assets(tmp_path, monkeypatch):
    # conftest sets $STNLIB_REPORTS: even the full profile must not write into assets/ here
    assert paths.published_dir("full") == tmp_path / "reports" / "assets"
    assert paths.published_dir("quick") == tmp_path / "reports" / "quick" / "assets"
    monkeypatch.delenv("STNLIB_REPORTS")
    assert paths.published_dir("full") == paths.ASSETS  # exists already: nothing is created
    monkeypatch.setattr(paths, "REPO_ROOT", tmp_path / "repo")  # so the next line creates nothing in the checkout
    assert paths.published_dir("quick") == tmp_path / "repo" / "reports" / "quick" / "assets"


def test_write_gif_keeps_flat_colours_exact_when_quantizing(tmp_path):
    # a white frame with a patch of ~1,000 colours: the palette must shrink, but white stays white
    rng = np.random.default_rng(1)
    frames = []
    for shift in range(2):
        f = np.full((40, 40, 3), 255, np.uint8)
        f[10:30, 10 + shift : 30 + shift] = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
        frames.append(f)
    pixels = read_back(viz.write_gif(frames, tmp_path / "w.gif"))[2]
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) <= 255
    assert (pixels[:, :10] == 255).all() and (pixels[:, 31:] == 255).all()
