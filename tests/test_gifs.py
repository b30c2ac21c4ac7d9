"""Learning GIFs (notebook 4): the writer, one frame per snapshot.

GIFs are read back with imageio directly (not with stnlib's own reader), and compared
with hand-computed frame counts, sizes, durations and loop flags.
"""

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from stnlib import env as paths
from stnlib import gifs
from stnlib.gifs import Snapshot
from stnlib.samples import load_samples

ORANGE = np.array([0xFF, 0x7F, 0x0E])  # figures.OUTLINE_STYLE colour


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
    path = gifs.write_gif(frames, tmp_path / "sub" / "dir" / "a.gif", [100, 200, 300, 1500])
    assert path == tmp_path / "sub" / "dir" / "a.gif" and path.exists()  # parent folders created
    props, metas, pixels = read_back(path)
    assert props.n_images == 4 and pixels.shape == (4, 12, 20, 3)
    assert [m["duration"] for m in metas] == [100, 200, 300, 1500]
    assert metas[0]["loop"] == 0  # loop forever
    # few colours: the palette holds them exactly, so every frame reads back bit for bit
    assert np.array_equal(pixels, np.stack(frames))
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.gif"]  # atomic write left no temporary file


def test_write_gif_rounds_durations_to_centiseconds(tmp_path):
    path = gifs.write_gif(solid_frames(3), tmp_path / "c.gif", [124, 126.0, 2004])
    assert [m["duration"] for m in read_back(path)[1]] == [120, 130, 2000]


def test_write_gif_shares_one_palette_of_at_most_255_colours(tmp_path):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(2)]  # 512 distinct colours
    pixels = read_back(gifs.write_gif(frames, tmp_path / "q.gif", [100, 100]))[2]
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) <= 255  # over both frames together


def test_write_gif_merges_identical_consecutive_frames(tmp_path):
    a, b = solid_frames(2)
    path = gifs.write_gif([a, a, b], tmp_path / "m.gif", [100, 100, 100])
    props, metas, _ = read_back(path)
    assert props.n_images == 2 and [m["duration"] for m in metas] == [200, 100]
    info = gifs.gif_info(path)
    assert (info.n_frames, info.width, info.height, info.durations_ms, info.loop) == (2, 20, 12, (200, 100), 0)
    assert info.n_bytes == path.stat().st_size and info.kb == info.n_bytes / 1000
    assert info.describe() == f"m.gif: 2 frames, 20x12 px, {info.n_bytes / 1000:,.0f} KB, 0.3 s per loop, loops forever"


@pytest.mark.parametrize(
    ("frames", "durations", "message"),
    [
        ([], [], "at least one frame"),
        (solid_frames(2), [100], "one duration per frame, got 2 and 1"),
        (solid_frames(1) + solid_frames(1, h=13), [100, 100], r"shape \(12, 20, 3\), frame 1 is uint8 \(13, 20, 3\)"),
        ([np.zeros((4, 4, 3), np.float32)], [100], "uint8 arrays.*frame 0 is float32"),
        ([np.zeros((4, 4), np.uint8)], [100], r"\(H, W, 3\).*frame 0 is uint8 \(4, 4\)"),
        ([[[0, 0, 0]]], [100], "uint8 arrays.*frame 0 is <class 'list'>"),
        (solid_frames(2), [100, 0], "from 20 to"),
        (solid_frames(2), [10, 100], "from 20 to"),
        (solid_frames(2), [-100, 100], "from 20 to"),
        (solid_frames(2), [float("nan"), 100], "from 20 to"),
        (solid_frames(2), [1e9, 100], "from 20 to"),
        (solid_frames(2), [True, 100], "numbers of milliseconds"),
        (solid_frames(2), ["fast", 100], "numbers of milliseconds"),
    ],
)
def test_write_gif_rejects_bad_input_and_writes_nothing(tmp_path, frames, durations, message):
    path = tmp_path / "bad.gif"
    with pytest.raises(ValueError, match=message):
        gifs.write_gif(frames, path, durations)
    assert not path.exists()


# --------------------------------------------------------------------- frames
def snapshot(step, epoch, theta, acc=None, images=None):
    images = torch.zeros(2, 1, 16, 16) if images is None else images
    return Snapshot(step, epoch, theta, torch.nn.functional.interpolate(images, size=(12, 12)), acc)


IDENTITY2 = torch.tensor([[[1.0, 0, 0], [0, 1, 0]]] * 2)


def test_snapshot_frame_header_names_the_moment(monkeypatch):
    drawn = []
    monkeypatch.setattr(gifs, "figure_to_rgb", lambda fig: drawn.append(fig.texts[0].get_text()))
    images = torch.zeros(2, 1, 16, 16)
    for snap in (snapshot(0, 0, IDENTITY2), snapshot(40, 1, IDENTITY2), snapshot(1407, 3, IDENTITY2, 98.456)):
        gifs.snapshot_frame(snap, images, width_px=200)
    gifs.snapshot_frame(snapshot(40, 1, IDENTITY2), images, heading="RTS MNIST", width_px=200)
    assert drawn == [
        "before training",
        "epoch 1 · step 40",
        "epoch 3 · step 1,407 · test acc 98.5%",
        "RTS MNIST · epoch 1 · step 40",
    ]


def orange_box(frame):
    """``(x0, x1, y0, y1)`` of the pixels drawn in the outline colour."""
    ys, xs = np.nonzero(np.abs(frame.astype(int) - ORANGE).sum(-1) < 60)
    return xs.min(), xs.max(), ys.min(), ys.max()


def test_snapshot_frame_is_a_fixed_size_rgb_frame():
    images = torch.zeros(2, 1, 16, 16)
    zoom = torch.tensor([[[0.5, 0, 0], [0, 0.5, 0]]] * 2)
    kw = dict(titles=["a", "b"], heading="test", total_steps=100, width_px=300)
    before = gifs.snapshot_frame(snapshot(0, 0, IDENTITY2), images, **kw)
    after = gifs.snapshot_frame(snapshot(100, 2, zoom, 97.0), images, **kw)
    assert before.dtype == np.uint8 and before.ndim == 3 and before.shape[1:] == (300, 3)
    assert before.shape == after.shape  # every frame of a GIF has the same size


def test_snapshot_frame_outlines_the_sampled_region():
    # one black image, no progress bar: the only orange pixels are the outline on the input
    images = torch.zeros(1, 1, 16, 16)
    frame = {
        name: gifs.snapshot_frame(snapshot(5, 1, torch.tensor([theta]), images=images), images, width_px=300)
        for name, theta in {"identity": [[1.0, 0, 0], [0, 1, 0]], "zoom": [[0.5, 0, 0], [0, 0.5, 0]]}.items()
    }
    x0, x1, y0, y1 = orange_box(frame["identity"])  # the whole input panel
    z0, z1, w0, w1 = orange_box(frame["zoom"])  # the centred half of it (plus the line's width)
    assert abs((x0 + x1) / 2 - (z0 + z1) / 2) <= 1.5 and abs((y0 + y1) / 2 - (w0 + w1) / 2) <= 1.5
    assert (z1 - z0) / (x1 - x0) == pytest.approx(0.5, abs=0.04)
    assert (w1 - w0) / (y1 - y0) == pytest.approx(0.5, abs=0.04)


def test_snapshot_frame_shows_zoom_out_regions_whole_in_a_fixed_frame(monkeypatch):
    figures = []
    render = gifs.figure_to_rgb
    monkeypatch.setattr(gifs, "figure_to_rgb", lambda fig: figures.append(fig) or render(fig))
    images = torch.zeros(2, 1, 16, 16)
    zoom_out = torch.tensor([[[2.0, 0, 0], [0, 2, 0]], [[1.2, -0.5, 0.3], [0.5, 1.2, 0.4]]])  # reads beyond the image
    kw = dict(titles=["a", "b"], total_steps=100, width_px=300)
    frames = [gifs.snapshot_frame(snapshot(s, 1, theta), images, **kw) for s, theta in ((1, IDENTITY2), (2, zoom_out))]
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
        gifs.snapshot_frame(snapshot(0, 0, IDENTITY2), torch.zeros(3, 1, 16, 16))
    with pytest.raises(ValueError, match=r"a title per image shown \(2\)"):
        gifs.snapshot_frame(snapshot(0, 0, IDENTITY2), torch.zeros(2, 1, 16, 16), titles=["a"])


def test_learning_gif_holds_epoch_frames_and_the_last_one(tmp_path):
    images = torch.rand(2, 1, 16, 16)
    shift = torch.tensor([[[1.0, 0, 0.2], [0, 1, 0]]] * 2)
    snaps = [
        snapshot(0, 0, IDENTITY2, images=images),
        snapshot(5, 1, shift, images=images),
        snapshot(10, 1, shift * 0.9, 50.0, images=images),
        snapshot(20, 2, shift * 0.8, 60.0, images=images),
    ]
    path = gifs.learning_gif(snaps, images, tmp_path / "learn.gif", width_px=300)
    props, metas, _ = read_back(path)
    assert props.n_images == 4 and props.shape[2] == 300
    assert [m["duration"] for m in metas] == [700, 150, 700, 3000]  # EPOCH_MS, FRAME_MS, EPOCH_MS, HOLD_LAST_MS
    with pytest.raises(ValueError, match="at least one frame"):
        gifs.learning_gif([], images, tmp_path / "none.gif")
    assert not (tmp_path / "none.gif").exists()


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
    pixels = read_back(gifs.write_gif(frames, tmp_path / "w.gif", [100, 100]))[2]
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) <= 255
    assert (pixels[:, :10] == 255).all() and (pixels[:, 31:] == 255).all()


def test_learning_gif_frames_of_photos_stay_close_to_the_rgb_frames(tmp_path):
    # CIFAR-10 photos: thousands of colours squeezed into one 255-colour palette shared by all frames
    s = load_samples("cifar10")
    images = s.images[:4]
    thetas = [torch.eye(2, 3).expand(4, 2, 3) * z for z in (1.0, 0.8, 0.6)]
    snaps = [
        Snapshot(k, k, t, torch.nn.functional.interpolate(images * 0.9, size=(24, 24)), None)
        for k, t in enumerate(thetas)
    ]
    frames = [gifs.snapshot_frame(snap, images, width_px=300, total_steps=2) for snap in snaps]
    pixels = read_back(gifs.write_gif(frames, tmp_path / "photos.gif", [100, 100, 100]))[2]
    error = np.abs(pixels.astype(int) - np.stack(frames).astype(int))
    assert error.mean() < 2 and np.percentile(error, 99) < 25  # measured here: 1.05 and 12
    white = np.stack(frames).min(-1) == 255
    assert (pixels[white] == 255).all()  # the background stays exactly white
