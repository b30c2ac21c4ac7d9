"""The theta explorer, driven the way a front end drives it: by setting slider values."""

import math

import pytest
import torch
from matplotlib.figure import Figure

from stnlib import affine
from stnlib.env import widgets_rendered
from stnlib.widgets import DISTORTIONS, PRESETS, ThetaExplorer, explore_theta, preset_gallery


@pytest.fixture
def explorer():
    return ThetaExplorer()


def raw_values(e):
    return torch.tensor([[[s.value for s in row] for row in e.raw]])


def test_starts_at_identity_with_an_unchanged_output(explorer):
    assert torch.allclose(raw_values(explorer), affine.identity())
    image = explorer.images[explorer.image_choice.value]
    assert torch.allclose(explorer.output, image, atol=1e-6)
    assert explorer.picture.value[:8] == b"\x89PNG\r\n\x1a\n"


def test_rotation_slider_updates_raw_entries_output_and_matrix(explorer):
    before_png, before_html = explorer.picture.value, explorer.matrix.value
    explorer.params["rotation"].value = 30.0
    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    # content turns counterclockwise by 30 deg -> theta holds the inverse (clockwise) rotation
    want = torch.tensor([[[c, -s, 0.0], [s, c, 0.0]]])
    assert torch.allclose(explorer.theta, want, atol=1e-6)  # theta itself is exact
    assert torch.allclose(raw_values(explorer), want, atol=0.005 + 1e-9)  # sliders show it rounded to their step
    assert [s.value for s in explorer.raw[0]] == pytest.approx([0.87, -0.5, 0.0])
    image = explorer.images[explorer.image_choice.value]
    assert torch.allclose(explorer.output, affine.warp(image, explorer.theta))
    assert not torch.allclose(explorer.output, image)
    assert explorer.picture.value != before_png and explorer.matrix.value != before_html
    assert "-0.500" in explorer.matrix.value


def test_raw_entry_moves_the_decomposed_sliders(explorer):
    explorer.raw[0][2].value = 0.25  # output looks 0.25 right -> content moves left by 0.25
    assert explorer.params["tx"].value == pytest.approx(-0.25, abs=1e-6)
    explorer.raw[0][0].value = 0.5  # output reads half the width -> content twice as wide
    assert explorer.params["scale_x"].value == pytest.approx(2.0, abs=1e-6)
    assert explorer.params["tx"].value == pytest.approx(-0.5, abs=1e-6)  # shift is scaled too
    assert explorer.params["rotation"].value == pytest.approx(0.0, abs=1e-6)


def test_raw_sliders_are_not_rewritten_while_dragging(explorer):
    explorer.raw[0][1].value = 0.3
    assert explorer.raw[0][1].value == 0.3 and explorer.theta[0, 0, 1] == pytest.approx(0.3)


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_set_both_slider_families(explorer, name):
    explorer.apply_preset(name)
    want = affine.build_theta(**PRESETS[name])
    assert torch.equal(explorer.theta, want)
    assert torch.allclose(raw_values(explorer), want, atol=0.005 + 1e-9)  # shown rounded to the 0.01 step
    rebuilt = affine.build_theta(**{k: s.value for k, s in explorer.params.items()})
    assert torch.allclose(rebuilt, want, atol=1e-5)  # presets are round numbers, so no rounding loss


def test_preset_buttons_are_wired(explorer):
    zoom = next(b for b in explorer.buttons if b.description == "zoom in")
    zoom.click()
    assert explorer.params["scale_x"].value == pytest.approx(2.0)


def test_singular_raw_theta_is_refused_with_a_message(explorer):
    good = explorer.theta.clone()
    explorer.raw[0][0].value = 0.0
    explorer.raw[0][1].value = 0.0  # first row all zero except shift: singular
    assert "singular" in explorer.message.value
    assert torch.equal(explorer.theta, good)


def test_zero_scale_is_refused_with_a_message(explorer):
    explorer.params["scale_y"].value = 0.0
    assert "scale 0" in explorer.message.value
    assert torch.allclose(explorer.theta, affine.identity())


def test_image_choice_switches_the_image(explorer):
    names = list(explorer.images)
    explorer.image_choice.value = names[-1]
    assert explorer.output.shape == explorer.images[names[-1]].shape


def test_unknown_preset_raises(explorer):
    with pytest.raises(ValueError, match="unknown preset 'spin'"):
        explorer.apply_preset("spin")


def test_widgets_rendered_follows_the_environment(monkeypatch):
    monkeypatch.setenv("STNLIB_WIDGETS", "interactive")
    assert widgets_rendered()
    monkeypatch.setenv("STNLIB_WIDGETS", "static")
    assert not widgets_rendered()
    monkeypatch.setenv("STNLIB_WIDGETS", "auto")
    assert not widgets_rendered()  # plain pytest process: no kernel, no front end
    monkeypatch.setenv("STNLIB_WIDGETS", "sometimes")
    with pytest.raises(ValueError, match="interactive', 'static' or 'auto'"):
        widgets_rendered()


def test_headless_explore_shows_a_static_gallery(capsys):
    fig = explore_theta()
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2 * len(PRESETS)
    assert "static gallery" in capsys.readouterr().out


def test_interactive_explore_returns_the_explorer():
    assert isinstance(explore_theta(interactive=True), ThetaExplorer)


def test_gallery_titles_are_the_presets():
    fig = preset_gallery(torch.rand(1, 3, 8, 8))
    assert [ax.get_title() for ax in fig.axes[: len(PRESETS)]] == list(PRESETS)  # first row: inputs


def test_front_end_echo_of_a_snapped_value_is_not_taken_as_input(explorer):
    # The browser snaps kernel-set values to the slider step and sends them back (ipywidgets 8.1);
    # that echo must not re-decompose theta (it used to drift rotation to 29.89 and loop).
    explorer.params["rotation"].value = 30.0
    exact = explorer.theta.clone()
    explorer.raw[0][0].value = 0.8700000000000001  # what JupyterLab sends back for 0.87
    assert torch.equal(explorer.theta, exact)
    assert explorer.params["rotation"].value == 30.0
    explorer.raw[0][0].value = 0.88  # a real one-step move is input
    assert explorer.theta[0, 0, 0] == pytest.approx(0.88)


def test_handlers_are_serialised_across_threads(explorer):
    import threading

    errors = []

    def drag(values):
        try:
            for v in values:
                explorer.params["rotation"].value = v
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [
        threading.Thread(target=drag, args=(range(0, 40, 4),)),
        threading.Thread(target=drag, args=(range(-40, 0, 4),)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # whatever order they ran in, theta, the sliders and the output agree at the end
    assert torch.allclose(explorer.theta, affine.build_theta(**{k: s.value for k, s in explorer.params.items()}))
    image = explorer.images[explorer.image_choice.value]
    assert torch.allclose(explorer.output, affine.warp(image, explorer.theta))


def test_moving_one_slider_changes_only_that_part_of_theta(explorer):
    # the other sliders show rounded values; theta must not pick up their rounding
    explorer.params["rotation"].value = 30.0
    explorer.raw[0][2].value = 0.25
    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    assert torch.allclose(explorer.theta, torch.tensor([[[c, -s, 0.25], [s, c, 0.0]]]), atol=1e-6)
    explorer.params["tx"].value = 0.0
    params = affine.decompose(explorer.theta)
    assert float(params["rotation"]) == pytest.approx(30.0, abs=1e-4)
    assert float(params["scale_x"]) == pytest.approx(1.0, abs=1e-6)
    assert float(params["tx"]) == pytest.approx(0.0, abs=1e-6)


def test_fool_the_stn_shows_both_models_predictions():
    from stnlib.models import mnist_cnn, mnist_stn_net
    from stnlib.widgets import FoolTheSTN, fooling_gallery, place_on_canvas

    digit = place_on_canvas(torch.rand(1, 1, 28, 28), 42)
    assert digit.shape == (1, 1, 42, 42) and float(digit[..., :7, :].abs().sum()) == 0.0  # centred, black border
    stn, cnn = mnist_stn_net(42, out_size=28), mnist_cnn(42, out_size=28)
    kw = dict(mean=(0.1307,), std=(0.3081,), classes=tuple("0123456789"))
    fool = FoolTheSTN({"d": digit}, stn, cnn, **kw)
    fool.params["rotation"].value = 40.0
    assert set(fool.probs) == {"with STN", "CNN, no STN"}
    for p in fool.probs.values():
        assert p.shape == (10,) and float(p.sum()) == pytest.approx(1.0, abs=1e-5)
    assert torch.allclose(fool.output, affine.warp(digit, affine.build_theta(rotation=40)))
    fig, cases = fooling_gallery({"a": digit, "b": digit.flip(-1)}, {"a": 3, "b": 5}, stn, cnn, **kw)
    assert len(fig.axes) == 2 * 5 and len(cases) == 2 * len(DISTORTIONS)


def test_fooling_cases_judge_each_model_on_the_distorted_digit_against_the_label():
    from stnlib.models import mnist_cnn, mnist_stn_net
    from stnlib.widgets import FoolTheSTN, fooling_cases, fooling_gallery

    torch.manual_seed(0)
    digits = {"a": torch.rand(1, 1, 42, 42), "b": torch.rand(1, 1, 42, 42)}
    stn, cnn = mnist_stn_net(42, out_size=28).eval(), mnist_cnn(42, out_size=28).eval()
    kw = dict(mean=(0.5,), std=(0.25,), classes=tuple("0123456789"))
    labels = {"a": 3, "b": 7}
    cases = fooling_cases(FoolTheSTN(digits, stn, cnn, **kw), labels)
    for c in cases:  # recomputed here one case at a time, straight from the models
        x = (affine.warp(digits[c["digit"]], affine.build_theta(**DISTORTIONS[c["distortion"]])) - 0.5) / 0.25
        with torch.no_grad():
            p_stn, p_cnn = stn(x).softmax(1)[0], cnn(x).softmax(1)[0]
        y = labels[c["digit"]]
        assert c["stn_ok"] == (int(p_stn.argmax()) == y) and c["cnn_ok"] == (int(p_cnn.argmax()) == y)
        assert c["margin"] == pytest.approx(float(p_stn[y] - p_cnn[y]), abs=1e-5)
    fig, _ = fooling_gallery(digits, labels, stn, cnn, **kw)
    for name, ax in zip(digits, fig.axes[::5]):  # each row shows the digit's largest-margin distortion
        best = max((c for c in cases if c["digit"] == name), key=lambda c: c["margin"])
        assert ax.get_title().startswith(f"{name}\n{best['distortion']}: ")


def test_fool_the_stn_outlines_both_regions_even_when_zoomed_out():
    from stnlib.models import mnist_cnn, mnist_stn_net
    from stnlib.widgets import FoolTheSTN

    fool = FoolTheSTN({"d": torch.rand(1, 1, 42, 42)}, mnist_stn_net(42, out_size=28), mnist_cnn(42, out_size=28),
                      mean=(0.0,), std=(1.0,), classes=tuple("0123456789"))
    fool.apply_preset("zoom out")
    fig = fool.draw(fool.images["d"], fool.output)
    for ax in fig.axes[:2]:  # your distortion's region, the transformer's region
        xs = [x for line in ax.lines for x in line.get_xdata()]
        ys = [y for line in ax.lines for y in line.get_ydata()]
        (x0, x1), (y_bottom, y_top) = ax.get_xlim(), ax.get_ylim()  # image axes: y grows downwards
        assert xs and x0 <= min(xs) and max(xs) <= x1 and y_top <= min(ys) and max(ys) <= y_bottom
    xs = fig.axes[0].lines[0].get_xdata()  # zoom out 0.5x: theta = 2 I samples twice the image's width
    assert max(xs) - min(xs) == pytest.approx(2 * 42, abs=1e-3)


class FixedProbs(torch.nn.Module):
    """A stand-in classifier whose softmax is ``probs`` for every input."""

    def __init__(self, probs):
        super().__init__()
        self.logits = torch.tensor(probs).log()

    def forward(self, x):
        return self.logits.expand(len(x), -1)


def test_fool_the_stn_bars_show_the_three_most_probable_classes_best_on_top():
    from stnlib.models import mnist_stn_net
    from stnlib.widgets import FoolTheSTN

    probs = [0.05, 0.3, 0.02, 0.15, 0.08, 0.1, 0.04, 0.06, 0.12, 0.08]  # top three: 1 (0.3), 3 (0.15), 8 (0.12)
    fool = FoolTheSTN({"d": torch.zeros(1, 1, 42, 42)}, mnist_stn_net(42, out_size=28), FixedProbs(probs),
                      mean=(0.0,), std=(1.0,), classes=tuple("0123456789"))
    fig = fool.draw(fool.images["d"], fool.output)
    bars = fig.axes[4]  # digit, distorted input, STN view, with STN, without STN
    assert bars.get_title() == "CNN, no STN" and bars.get_xlim() == (0, 1)
    assert [round(p.get_width(), 6) for p in bars.patches] == [0.12, 0.15, 0.3]  # barh draws bottom-up
    assert [t.get_text() for t in bars.get_yticklabels()] == ["8", "3", "1"]
    assert [t.get_text() for t in bars.texts] == ["0.12", "0.15", "0.30"]  # the probabilities as numbers


def test_raw_sliders_widen_to_show_what_the_matrix_says(explorer):
    explorer.params["scale_x"].value = 0.2  # the content shrinks 5x: theta[0,0] = 1/0.2
    raw = explorer.raw[0][0]
    assert raw.value == pytest.approx(5.0) and raw.max >= 5.0
    assert "+5.000" in explorer.matrix.value
    explorer.raw[0][0].value = 0.25  # and back: the decomposed scale slider widens to 4
    assert explorer.params["scale_x"].value == pytest.approx(4.0) and explorer.params["scale_x"].max >= 4.0


def test_the_matrix_never_prints_negative_zero(explorer):
    explorer.params["rotation"].value = 180.0  # cos 180 and sin 180 round to -1 and -0.000...
    assert "-0.000" not in explorer.matrix.value and explorer.matrix.value.count("<td") == 6


def test_a_shown_explorer_carries_its_picture_for_front_ends_without_widgets(explorer, monkeypatch):
    import base64

    import stnlib.widgets as w

    shown = []
    monkeypatch.setattr(w, "display", lambda obj, raw=False: shown.append((obj, raw)))
    explorer.apply_preset("rotate")
    explorer.show()
    (bundle, raw), = shown
    assert raw and bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.widget.model_id
    assert base64.b64decode(bundle["image/png"]) == explorer.picture.value  # the state shown: rotated
