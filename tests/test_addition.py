"""MNIST addition (stnlib.addition): the sum head against enumeration, the canvases against the RTS generator,
the digits' and regions' centres against independent measurements, and where the untrained transformers look."""

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stnlib import addition, affine
from stnlib.distort import distort_mnist


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_sum_probabilities_equal_enumerating_every_pair_of_digits(seed):
    gen = torch.Generator().manual_seed(seed)
    left, right = torch.randn(3, 10, generator=gen) * 3, torch.randn(3, 10, generator=gen) * 3
    p, q = left.softmax(1), right.softmax(1)
    expected = torch.zeros(3, 19)
    for a, b in itertools.product(range(10), range(10)):
        expected[:, a + b] += p[:, a] * q[:, b]
    got = addition.sum_log_probs(left, right).exp()
    assert torch.allclose(got, expected, atol=1e-6)
    assert torch.allclose(got.sum(1), torch.ones(3), atol=1e-5)


def test_cross_entropy_of_the_log_probabilities_is_the_negative_log_likelihood():
    logp = addition.sum_log_probs(torch.randn(4, 10), torch.randn(4, 10))
    y = torch.tensor([0, 5, 9, 18])
    nll = -logp[torch.arange(4), y].mean()
    assert torch.allclose(torch.nn.functional.cross_entropy(logp, y), nll, atol=1e-5)


def _squares(n: int) -> torch.Tensor:
    """uint8 (n, 1, 28, 28): a bright 12x12 square in the middle of each (its centroid is the centre)."""
    x = torch.zeros(n, 1, 28, 28, dtype=torch.uint8)
    x[..., 8:20, 8:20] = 255
    return x


def test_a_canvas_is_two_rts_canvases_and_the_label_their_sum():
    images, labels = _squares(6), torch.tensor([0, 1, 2, 3, 4, 9])
    canvases, sums, left, right = addition._pairs(images, labels, seed=3)
    assert tuple(canvases.shape) == (6, 1, *addition.CANVAS)
    assert torch.equal(canvases[..., :42], distort_mnist(images, "rts", seed=3).images)
    assert torch.equal(canvases[..., :42], left.images) and torch.equal(canvases[..., 42:], right.images)
    other = sums - labels  # the right digit's label, taken from another item of the split
    assert ((other >= 0) & (other <= 9)).all()


def test_digit_centres_are_where_the_pixels_are():
    canvases, _, left, right = addition._pairs(_squares(8), torch.zeros(8, dtype=torch.long), seed=1)
    w = canvases[:, 0].float()
    ys, xs = torch.meshgrid(torch.arange(42.0) + 0.5, torch.arange(84.0) + 0.5, indexing="ij")  # pixel centres
    centres = []
    for half in (slice(0, 42), slice(42, 84)):
        m = torch.zeros_like(w)
        m[..., half] = w[..., half]
        centres.append(torch.stack([(m * xs).sum((1, 2)), (m * ys).sum((1, 2))], -1) / m.sum((1, 2))[:, None])
    measured = torch.stack(centres, 1)  # (N, 2, 2): intensity centroids, px from the top-left corner
    assert torch.allclose(addition.digit_centres_px((left, right)), measured, atol=0.3)


def test_the_untrained_transformers_each_read_their_own_half():
    torch.manual_seed(0)
    net = addition.TwoTransformerAdder().eval()
    x = torch.rand(2, 1, *addition.CANVAS)
    with torch.no_grad():
        views, thetas = net.views(x), net.thetas(x)
    for k, half in enumerate((x[..., :42], x[..., 42:])):
        expected = affine.warp(half, affine.identity(2), out_size=(28, 28))
        assert torch.allclose(views[:, k], expected, atol=1e-5)
    centres = addition.region_centres_px(thetas)
    assert torch.allclose(centres, torch.tensor([[21.0, 21.0], [63.0, 21.0]]).expand(2, -1, -1), atol=1e-5)


@pytest.mark.parametrize("make", [addition.TwoTransformerAdder, addition.canvas_cnn_adder, addition.halves_adder])
def test_every_adder_returns_sum_log_probabilities(make):
    out = make()(torch.rand(3, 1, *addition.CANVAS))
    assert tuple(out.shape) == (3, addition.SUMS)
    assert torch.allclose(out.exp().sum(1), torch.ones(3), atol=1e-5)


def test_a_canvas_of_the_wrong_size_is_refused_by_name():
    with pytest.raises(ValueError, match="42x84"):
        addition.TwoTransformerAdder()(torch.rand(1, 1, 42, 42))
