"""The theta explorer, driven the way a front end drives it: by setting slider values."""

import json
import math
import threading

import pytest
import torch
from matplotlib.figure import Figure

from stnlib import affine, figures
from stnlib.env import widgets_rendered
from stnlib.widgets import DISTORTIONS, PRESETS, ThetaExplorer, explore_theta, preset_gallery, theta_table
from tests.browser_helpers import png_text


@pytest.fixture
def explorer():
    """An explorer that settles on every input (no timer), as a script would drive it."""
    return ThetaExplorer(settle_delay=0)


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
    fool = FoolTheSTN({"d": digit}, stn, cnn, **kw, settle_delay=0)
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

    fool = FoolTheSTN(
        {"d": torch.rand(1, 1, 42, 42)},
        mnist_stn_net(42, out_size=28),
        mnist_cnn(42, out_size=28),
        mean=(0.0,),
        std=(1.0,),
        classes=tuple("0123456789"),
    )
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
    fool = FoolTheSTN(
        {"d": torch.zeros(1, 1, 42, 42)},
        mnist_stn_net(42, out_size=28),
        FixedProbs(probs),
        mean=(0.0,),
        std=(1.0,),
        classes=tuple("0123456789"),
    )
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

    import stnlib.theta_explorer as w  # where ThetaExplorer.show displays

    shown = []
    monkeypatch.setattr(w, "display", lambda obj, raw=False: shown.append((obj, raw)))
    explorer.apply_preset("rotate")
    explorer.show()
    ((bundle, raw),) = shown
    assert raw and bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.widget.model_id
    assert base64.b64decode(bundle["image/png"]) == explorer.picture.value  # the state shown: rotated


# ---- settling: a browser drags faster than the kernel draws -------------------------------------------------------


@pytest.fixture
def debounced():
    """An explorer whose settle timer never fires by itself (the test calls ``flush()``) and that draws no live
    pictures while input comes: deterministic, no sleeping."""
    e = ThetaExplorer(settle_delay=3600, live_interval=math.inf)
    yield e
    e.flush()  # cancels the timer


def user_sets(slider, value):
    """What a front end does when the user moves ``slider``: a state update from the browser (ipywidgets'
    ``set_state``, the path a comm message takes; it answers with an echo_update of its own)."""
    slider.set_state({"value": value})


class KernelWrites:
    """Every value the kernel pushes to the explorer's sliders, in order: ``(slider, value)``."""

    def __init__(self, e):
        self.log, push = [], e._push
        e._push = lambda slider, value: (self.log.append((slider, value)), push(slider, value))

    def values(self, slider=None):
        return [v for s, v in self.log if slider is None or s is slider]


def snapped_echo(value, slider):
    """What the browser sends back for a pushed ``value``: noUiSlider's ``min + k * step`` (float noise)."""
    return slider.min + round((value - slider.min) / slider.step) * slider.step


def assert_settled_and_agreeing(e):
    """Picture, matrix and both slider families agree with the exact theta; nothing is left to settle."""
    assert not e.pending
    for s in e._sliders():  # each slider shows its exact value rounded to its step, inside its range
        target = e._target(s)
        assert abs(s.value - target) <= s.step / 2 + 1e-9, (s.description, s.value, target)
        assert s.min <= s.value <= s.max
    for (i, j), s in zip([(i, j) for i in range(2) for j in range(3)], e._sliders()[6:]):
        assert e._target(s) == float(e.theta[0, i, j])
    assert torch.allclose(affine.build_theta(**e.values), e.theta, atol=1e-4)  # the params rebuild theta
    assert e.matrix.value == theta_table(e.theta)
    meta = png_text(e.picture.value)
    assert json.loads(meta["theta"]) == e.theta[0].flatten().tolist()
    assert meta["Title"] == "theta = " + figures.theta_text(e.theta, decimals=3).replace("\n", "  ")
    image = e.images[e.image_choice.value]
    assert torch.equal(e.output, affine.warp(image, e.theta))


def test_no_slider_is_written_while_input_comes_in(debounced):
    e = debounced
    writes, drawn = KernelWrites(e), e.redraws
    theta02, tx = e.raw[0][2], e.params["tx"]
    ranges = [(s.min, s.max) for s in e._sliders()]
    for k in range(1, 41):  # a fast drag of θ[0,2] to 2.0: every slider keeps its value and its range
        user_sets(theta02, snapped_echo(k * 0.05, theta02))
        assert e.theta[0, 0, 2] == pytest.approx(k * 0.05, abs=1e-6) and e.pending
    assert writes.log == [] and [(s.min, s.max) for s in e._sliders()] == ranges
    assert tx.value == 0.0 and e.redraws == drawn  # the other family waits; no live pictures (live_interval=inf)
    e.flush()  # quiet: the other family follows, the picture is drawn once
    assert writes.values() == [pytest.approx(-2.0)] and writes.values(tx) == [pytest.approx(-2.0)]
    assert (tx.min, tx.max) == (-2.0, 1.5)  # widened to hold it
    assert e.redraws == drawn + 1
    assert_settled_and_agreeing(e)
    seen = len(writes.log)
    e.flush()  # nothing left: no writes, no redraw
    assert len(writes.log) == seen and e.redraws == drawn + 1


def test_late_and_out_of_order_echoes_are_not_taken_for_input(debounced):
    # Each settle pushes a new tx; the browser's echoes of them come back late, after newer pushes, in any order.
    # Only the last pushed value was remembered before: an older echo looked like input and moved theta.
    e, tx, theta02 = debounced, debounced.params["tx"], debounced.raw[0][2]
    pushed = []
    for v in (0.1, 0.2, 0.3):
        user_sets(theta02, v)
        e.flush()
        pushed.append(tx.value)
    assert pushed == pytest.approx([-0.1, -0.2, -0.3])
    exact, drawn = e.theta.clone(), e.redraws
    for k in (1, 0, 2):  # -0.2 first, then -0.1 (both older than the last push), then -0.3
        user_sets(tx, snapped_echo(pushed[k], tx))
        assert torch.equal(e.theta, exact), f"the echo of {pushed[k]} was taken for input"
    e.flush()
    assert e.redraws == drawn and tx.value == pytest.approx(-0.3)
    assert_settled_and_agreeing(e)
    user_sets(tx, snapped_echo(pushed[0], tx))  # an old echo comes last: the slider shows -0.1 ...
    assert torch.equal(e.theta, exact) and e.pending
    e.flush()  # ... so settling sets it back to what theta says
    assert tx.value == pytest.approx(-0.3) and e.redraws == drawn
    assert_settled_and_agreeing(e)
    now = e.clock()
    e.clock = lambda: now + 10  # later, the user types -0.1, pushed earlier (not last) but long ago: input
    user_sets(tx, -0.1)
    assert e.values["tx"] == pytest.approx(-0.1) and e.theta[0, 0, 2] == pytest.approx(0.1, abs=1e-6)


def test_a_drag_burst_with_late_echoes_settles_and_agrees(debounced):
    import random

    e = debounced
    rng = random.Random(7)
    writes = KernelWrites(e)
    sliders = e._sliders()
    pending_echoes = {id(s): [] for s in sliders}  # what the browser will send back for each push, not yet sent

    def deliver(slider):  # the browser's echoes for one slider, in a random order (handler threads may reorder)
        echoes = pending_echoes[id(slider)]
        rng.shuffle(echoes)
        while echoes:
            user_sets(slider, echoes.pop())

    for _ in range(300):
        seen = len(writes.log)
        slider = rng.choice(sliders)
        if rng.random() < 0.1:
            e.flush()  # the user paused long enough
        elif rng.random() < 0.3:
            deliver(slider)  # late echoes arrive
        else:
            deliver(slider)  # the browser sends a slider's echoes before a later move of that slider
            lo, hi = max(slider.min, -2.5), min(slider.max, 2.5)
            user_sets(slider, snapped_echo(rng.uniform(lo, hi), slider))
        for s, value in writes.log[seen:]:
            pending_echoes[id(s)].append(snapped_echo(value, s))
    e.flush()
    for s in sliders:  # the remaining echoes: they change nothing
        deliver(s)
    drawn, theta = e.redraws, e.theta.clone()
    e.flush()
    assert torch.equal(e.theta, theta) and e.redraws == drawn
    assert_settled_and_agreeing(e)


def test_ranges_widen_only_when_settling_and_never_on_the_moved_slider(debounced):
    e = debounced
    scale_x, raw00 = e.params["scale_x"], e.raw[0][0]
    user_sets(scale_x, 0.2)  # theta[0,0] = 1 / 0.2 = 5, outside the raw slider's -3..3
    assert (raw00.min, raw00.max, raw00.value) == (-3.0, 3.0, 1.0)
    e.flush()
    assert raw00.value == pytest.approx(5.0) and (raw00.min, raw00.max) == (-3.0, 5.0)
    assert (scale_x.min, scale_x.max, scale_x.value) == (-3.0, 3.0, 0.2)
    assert_settled_and_agreeing(e)


def test_a_wider_range_reaches_the_front_end_before_the_value(debounced):
    # A front end applying a value before the range that holds it clamps it and sends the clamped value back
    # (as input: it was never pushed). Both go in one message, range first (the front end applies them in order).
    e, raw00 = debounced, debounced.raw[0][0]
    sent = []
    raw00._send = lambda msg, buffers=None: sent.append(msg)
    user_sets(e.params["scale_x"], 0.2)
    e.flush()
    updates = [m["state"] for m in sent if m.get("method") == "update"]
    assert updates and list(updates[0]) == ["min", "max", "value"] and updates[0]["max"] == 5.0
    assert all(u == {k: updates[0][k] for k in u} for u in updates[1:])  # any repeat says the same


def test_a_refused_move_is_undone_when_settling(debounced):
    e = debounced
    user_sets(e.params["scale_y"], 0.0)
    assert "scale 0" in e.message.value and torch.equal(e.theta, affine.identity())
    e.flush()
    assert e.params["scale_y"].value == 1.0 and "scale 0" in e.message.value  # the message stays to explain
    assert_settled_and_agreeing(e)
    user_sets(e.params["scale_y"], 0.5)
    assert e.message.value == ""


def test_settles_by_itself_after_the_delay():
    e = ThetaExplorer(settle_delay=0.05)
    e.raw[0][2].value = 0.25
    assert e.pending and e.params["tx"].value == 0.0
    for _ in range(500):  # the timer thread settles it; wait up to 10 s (normally 0.05 s)
        if not e.pending:
            break
        threading.Event().wait(0.02)
    with e._lock:
        assert e.params["tx"].value == pytest.approx(-0.25)
        assert_settled_and_agreeing(e)


def test_input_pushes_the_settle_back(debounced):
    e = debounced
    e.raw[0][2].value = 0.25
    timer = e._timer
    e.raw[0][2].value = 0.5  # more input: the pending settle is cancelled, a new one starts
    assert timer.finished.is_set() and e._timer is not timer and e.pending


def test_a_flip_stays_a_flip_when_rotated(explorer):
    # the sliders keep the parameters the user set (scale_x -1), not theta's canonical decomposition
    # (scale_x +1, rotation 180, scale_y -1), so rotating a flipped image does not jump
    explorer.apply_preset("flip")
    assert explorer.params["scale_x"].value == -1.0 and explorer.params["rotation"].value == 0.0
    explorer.params["rotation"].value = 10.0
    assert torch.allclose(explorer.theta, affine.build_theta(rotation=10, scale_x=-1), atol=1e-6)
    assert_settled_and_agreeing(explorer)


def test_the_picture_says_which_theta_it_shows(explorer):
    explorer.apply_preset("rotate")
    meta = png_text(explorer.picture.value)
    assert meta["Title"] == "theta = [+0.866  -0.500  +0.000]  [+0.500  +0.866  +0.000]"
    assert json.loads(meta["theta"]) == explorer.theta[0].flatten().tolist()
    assert json.loads(meta["params"])["rotation"] == 30.0
