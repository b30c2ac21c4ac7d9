"""MNIST addition (stnlib.addition): labels are the sums of the two digits drawn, the digits sit where the record
says, the second digit comes from another image, and everything follows from the seed."""

import torch

from stnlib import affine
from stnlib.addition import ADD_CANVAS, MIN_GAP, distort_addition


def _digits(n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Digit k is a filled square of grey 100 + k % 150 (a canvas pixel names its digit), label k % 10."""
    images = torch.zeros(n, 1, 28, 28, dtype=torch.uint8)
    for k in range(n):
        images[k, 0, 9:19, 9:19] = 100 + k % 150
    return images, torch.arange(n) % 10


def test_labels_are_the_sums_of_the_two_digits_drawn():
    images, labels = _digits()
    d = distort_addition(images, labels, seed=3)
    assert torch.equal(d.digits[:, 0], labels)
    assert torch.equal(d.labels, d.digits.sum(1)) and int(d.labels.max()) <= 18
    for i in range(len(images)):  # the other digit's interior grey names its image: never the canvas's own
        greys, counts = d.images[i].unique(return_counts=True)
        interiors = {int(g) - 100 for g, c in zip(greys, counts) if c > 20 and g >= 100}  # edges are blends
        assert i in interiors and len(interiors) == 2, (i, interiors)
        (j,) = interiors - {i}
        assert labels[j] == d.digits[i, 1]


def test_each_digit_sits_at_its_recorded_centre():
    images, labels = _digits()
    d = distort_addition(images, labels, seed=5)
    rows, cols = torch.meshgrid(torch.arange(ADD_CANVAS).float(), torch.arange(ADD_CANVAS).float(), indexing="ij")
    for i in range(len(images)):
        mask = (d.images[i, 0] == 100 + i).float()  # the square's interior, exact grey
        centre_px = torch.stack([(mask * cols).sum(), (mask * rows).sum()]) / mask.sum()
        expected = affine.normalized_to_pixels(d.centres[i, 0], ADD_CANVAS)  # pixel index of the centre
        assert (centre_px - expected).abs().max() < 1.0, i


def test_the_two_digits_are_apart_and_inside():
    d = distort_addition(*_digits(256), seed=0)
    gap_px = ((d.centres[:, 0] - d.centres[:, 1]) * ADD_CANVAS / 2).norm(dim=1)
    assert (gap_px >= MIN_GAP).float().mean() > 0.9 and gap_px.min() > 15
    box = 28 * d.scale / ADD_CANVAS  # half the scaled box, normalized
    assert ((d.centres.abs() + box[..., None]) <= 1 + 1e-5).all()


def test_same_seed_same_canvases_and_prefixes_are_stable():
    images, labels = _digits()
    a, b = distort_addition(images, labels, seed=7), distort_addition(images, labels, seed=7)
    assert torch.equal(a.images, b.images) and torch.equal(a.centres, b.centres)
    assert not torch.equal(a.images, distort_addition(images, labels, seed=8).images)
    prefix = distort_addition(images[:10], labels[:10], seed=7, source=(images, labels))
    assert torch.equal(prefix.images, a.images[:10]) and torch.equal(a.head(10).labels, prefix.labels)
