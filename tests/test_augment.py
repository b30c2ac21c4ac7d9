import pytest
import torch

from stnlib.augment import RandomCropFlip
from stnlib.data import make_loader


def test_no_pad_no_flip_is_the_identity():
    x = torch.rand(4, 3, 8, 8)
    assert torch.equal(RandomCropFlip(pad=0, flip_p=0.0)(x), x)


def test_always_flip_without_pad_mirrors_left_right():
    x = torch.rand(4, 3, 8, 8)
    assert torch.equal(RandomCropFlip(pad=0, flip_p=1.0)(x), x.flip(-1))


def test_each_output_is_a_shifted_window_of_the_zero_padded_image():
    x = torch.rand(16, 3, 8, 8) + 0.1  # strictly positive, so padding (0) is recognisable
    out = RandomCropFlip(pad=2, flip_p=0.0, seed=3)(x)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(16):
        windows = [padded[i, :, dy : dy + 8, dx : dx + 8] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(out[i], win) for win in windows)
    assert not torch.equal(out, x)  # with 16 images, some crop moved


def test_seeded_augmentation_is_reproducible():
    x = torch.rand(8, 3, 8, 8)
    assert torch.equal(RandomCropFlip(seed=1)(x), RandomCropFlip(seed=1)(x))


def test_augmentation_runs_before_normalization():
    # an all-white batch padded before normalization gets black (0) borders, which normalize to -mean/std
    images = torch.full((4, 1, 8, 8), 255, dtype=torch.uint8)
    loader = make_loader(
        images,
        torch.zeros(4, dtype=torch.long),
        batch_size=4,
        shuffle=False,
        mean=(0.5,),
        std=(0.25,),
        transform=RandomCropFlip(pad=4, flip_p=0.0, seed=0),
    )
    x, _ = next(iter(loader))
    assert set(torch.unique(x).tolist()) <= {(0 - 0.5) / 0.25, (1 - 0.5) / 0.25}
    assert float(x.min()) == pytest.approx(-2.0)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="pad >= 0"):
        RandomCropFlip(pad=-1)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        RandomCropFlip()(torch.rand(3, 8, 8))
