"""Recovery measures against transformers whose answer is known by construction."""

import pytest
import torch

from stnlib import affine, recovery
from stnlib.distort import Distorted
from stnlib.recovery import attention_components, fit_line, rts_components, within_group_fit


def _rts(n: int = 200, seed: int = 0) -> Distorted:
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(n, 4, generator=g)
    return Distorted(
        images=torch.zeros(n, 1, 42, 42, dtype=torch.uint8),
        rotation=(2 * u[:, 0] - 1) * 45,
        scale=0.7 + 0.5 * u[:, 1],
        tx=(2 * u[:, 2] - 1) * 0.3,
        ty=(2 * u[:, 3] - 1) * 0.3,
        kind="rts",
        canvas=42,
        seed=seed,
    )


def _perfect_undo(d: Distorted, zoom: float = 1.5) -> torch.Tensor:
    """The theta that undoes the distortion exactly: warp(warp(x, D), T) == warp(x, Z) for a fixed zoom Z."""
    distortion = affine.build_theta(rotation=d.rotation, scale_x=d.scale, scale_y=d.scale, tx=d.tx, ty=d.ty)
    fixed_zoom = affine.build_theta(scale_x=zoom, scale_y=zoom).expand(len(d), -1, -1)
    return affine.compose(affine.invert(distortion), fixed_zoom)


def test_fit_line_hand_computed():
    fit = fit_line(torch.tensor([0.0, 1.0, 2.0, 3.0]), torch.tensor([1.0, -1.0, -3.0, -5.0]))
    assert fit.slope == pytest.approx(-2.0) and fit.intercept == pytest.approx(1.0) and fit.r2 == pytest.approx(1.0)
    noisy = fit_line(torch.tensor([0.0, 1.0, 2.0]), torch.tensor([0.0, 2.0, 1.0]))
    # slope 0.5, intercept 0.5; residuals -0.5, 1, -0.5 -> SSE 1.5; SST 2 -> R² 0.25
    assert (noisy.slope, noisy.intercept, noisy.r2) == pytest.approx((0.5, 0.5, 0.25))
    assert str(noisy) == "slope +0.50, R² 0.25"
    with pytest.raises(ValueError, match="constant"):
        fit_line(torch.ones(3), torch.arange(3.0))


def test_perfect_undo_scores_slope_minus_one_on_every_component():
    d = _rts()
    components = rts_components(_perfect_undo(d), d)
    assert list(components) == ["rotation", "scale", "tx", "ty"]
    for name, (applied, recovered) in components.items():
        fit = fit_line(applied, recovered)
        assert fit.slope == pytest.approx(-1.0, abs=1e-3), name
        assert fit.r2 == pytest.approx(1.0, abs=1e-4), name
    # the fixed zoom shows up as the scale intercept only: log(1.5)
    assert fit_line(*components["scale"]).intercept == pytest.approx(torch.tensor(1.5).log().item(), abs=1e-4)


def test_identity_transformer_recovers_nothing():
    d = _rts()
    for name, (_, recovered) in rts_components(affine.identity(len(d)), d).items():
        assert recovered.abs().max() < 1e-4, name


def test_wrong_sign_is_caught():
    """A transformer that repeats the distortion instead of undoing it scores +1, not -1."""
    d = _rts()
    again = affine.build_theta(rotation=d.rotation)  # turns the content by the applied angle once more
    assert fit_line(d.rotation, rts_components(again, d)["rotation"][1]).slope == pytest.approx(1.0, abs=1e-4)


def test_attention_on_the_digit_box_scores_zero_centre_error_and_width_one():
    n, canvas = 50, 60
    tx = torch.linspace(-0.5, 0.5, n)
    ty = torch.linspace(0.4, -0.4, n)
    d = Distorted(
        torch.zeros(n, 1, canvas, canvas, dtype=torch.uint8),
        torch.zeros(n),
        torch.ones(n),
        tx,
        ty,
        "cluttered",
        canvas,
        0,
    )
    s = 28 / canvas  # a region exactly the digit's 28x28 box
    zero = torch.zeros(n)
    theta = torch.stack([torch.stack([zero + s, zero, tx], 1), torch.stack([zero, zero + s, ty], 1)], 1)
    m = attention_components(theta, d)
    assert m["centre_error_px"].abs().max() < 1e-5
    assert m["width_ratio"] == pytest.approx(torch.ones(n))
    # one pixel off to the right -> error 1 px; region twice the box -> ratio 2
    theta[:, 0, 2] += 2 / canvas
    theta[:, :, :2] *= 2
    m = attention_components(theta, d)
    assert m["centre_error_px"] == pytest.approx(torch.ones(n), abs=1e-5)
    assert m["width_ratio"] == pytest.approx(2 * torch.ones(n))


def test_length_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="3 thetas for 200"):
        rts_components(affine.identity(3), _rts())


def test_within_group_fit_removes_each_digits_own_offset():
    # three digits with their own slant (+20, -10, +5 degrees), each shown at five applied rotations;
    # a transformer that undoes the applied rotation but also straightens the slant
    applied = torch.tensor([-40.0, -20.0, 0.0, 20.0, 40.0]).repeat(3)
    digit = torch.arange(3).repeat_interleave(5)
    slant = torch.tensor([20.0, -10.0, 5.0])[digit]
    recovered = -applied - slant
    pooled = fit_line(applied, recovered)
    within = within_group_fit(applied, recovered, digit)
    assert pooled.slope == pytest.approx(-1.0) and pooled.r2 < 0.9  # the slant scatters the pooled fit
    assert within.slope == pytest.approx(-1.0) and within.r2 == pytest.approx(1.0)
    assert within.intercept == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="groups must match"):
        within_group_fit(applied, recovered, digit[:3])


def test_error_with_theta_reproduces_the_models_own_error_and_sees_a_moved_region():
    import torch

    from stnlib import models, train
    from stnlib.data import DataInfo, ImageData

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    images = (torch.rand(40, 1, 60, 60, generator=g) * 255).to(torch.uint8)
    labels = torch.randint(0, 10, (40,), generator=g)
    data = ImageData(
        images,
        labels,
        images,
        labels,
        torch.ones(40, dtype=torch.bool),
        tuple("0123456789"),
        DataInfo("mnist", "test"),
        (0.1307,),
        (0.3081,),
    )
    net = models.clutter_stn_net(fill=-0.42).eval()
    torch.nn.init.normal_(net.stn.regressor.weight, std=0.05)  # thetas differ from image to image
    _, acc = train.evaluate(net, data.loaders(16)[1])
    own = train.stn_thetas(net, data)["theta"]
    assert recovery.error_with_theta(net, data, own) == pytest.approx(100 - acc)
    moved = own.clone()
    moved[:, 0, 2] += 0.5  # every region a quarter of the canvas to the right
    x = (data.test_images.float() / 255 - 0.1307) / 0.3081  # by hand: normalize, sample, classify
    with torch.no_grad():
        preds = net.classifier(affine.warp(x, moved, out_size=(20, 20), fill=-0.42)).argmax(1)
    assert recovery.error_with_theta(net, data, moved, batch_size=7) == pytest.approx(
        100 * float((preds != labels).float().mean())
    )
    with pytest.raises(ValueError, match="theta"):
        recovery.error_with_theta(net, data, own[:3])
