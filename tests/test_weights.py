"""stnlib.weights: verified weights load exactly; a flipped bit, a truncated file or a wrong hash is refused with a
message that names the file and the fix; a missing file means "train"."""

import pytest
import torch

from stnlib import models, recipes, train
from stnlib.env import reports_dir
from stnlib.loop import History
from stnlib.runs import Metric, load_metrics, start_run
from stnlib.weights import WeightsError, fit_or_load, load_weights, save_weights, sha256_of, weights_path


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = models.mnist_stn_net()
    path = tmp_path / "mnist_stn.safetensors"
    return model, path, save_weights(model, path)


def test_a_verified_file_loads_the_same_model(saved):
    model, path, digest = saved
    assert digest == sha256_of(path.read_bytes())
    fresh = models.mnist_stn_net()
    assert load_weights(fresh, path, sha256=digest) == {}
    x = torch.randn(3, 1, 28, 28)
    model.eval(), fresh.eval()
    assert torch.equal(model(x), fresh(x))


def test_a_missing_file_means_train(tmp_path):
    assert load_weights(models.mnist_stn_net(), tmp_path / "none.safetensors", sha256="0" * 64) is None


@pytest.mark.parametrize("damage", ["flipped bit", "truncated", "wrong hash"])
def test_a_damaged_file_is_refused_with_the_file_and_the_fix(saved, damage):
    model, path, digest = saved
    data = bytearray(path.read_bytes())
    if damage == "flipped bit":
        data[len(data) // 2] ^= 0x01
    elif damage == "truncated":
        data = data[: len(data) - 100]
    else:
        digest = "f" * 64
    path.write_bytes(bytes(data))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(WeightsError, match=r"mnist_stn\.safetensors.*TRAIN = True.*make execute"):
        load_weights(model, path, sha256=digest)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # nothing loaded


def test_weights_of_another_model_are_refused(saved):
    _, path, digest = saved
    with pytest.raises(WeightsError, match="does not fit this model"):
        load_weights(models.mnist_cnn(), path, sha256=digest)


def test_bad_arguments_are_named(tmp_path, saved):
    model, path, digest = saved
    with pytest.raises(ValueError, match="sha256 must be 64"):
        load_weights(model, path, sha256="abc")
    with pytest.raises(ValueError, match=r"\.safetensors"):
        save_weights(model, tmp_path / "weights.pt")
    with pytest.raises(TypeError, match="model"):
        save_weights("not a model", tmp_path / "x.safetensors")


# ---------------------------------------------------------------- fit_or_load: train once, then load the same model
def _quadrant_net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))


def _record(run, history):
    run.record([Metric("acc", "test accuracy", history.final.test_acc, "%")], data="quadrants")


def test_history_survives_json_exactly(make_quadrants):
    history = train.fit(_quadrant_net(), make_quadrants(), recipes.OURS, epochs=2, progress=False)
    assert History.from_json(history.to_json()) == history


def test_fit_or_load_trains_once_then_loads_the_same_model_and_numbers(make_quadrants, capsys):
    data = make_quadrants()
    first = start_run("99_weights", "quick")
    trained_net = _quadrant_net()
    trained = fit_or_load(first, "net", trained_net, data, recipes.OURS, epochs=2)
    _record(first, trained)
    record = load_metrics(reports_dir("quick") / "metrics.json")["99_weights"]
    assert record["weights"]["net"]["sha256"] == sha256_of(weights_path(first, "net").read_bytes())
    printed_when_trained = capsys.readouterr().out
    second = start_run("99_weights", "quick")
    loaded_net = _quadrant_net(seed=1)  # other initial weights: only loading makes them equal
    loaded = fit_or_load(second, "net", loaded_net, data, recipes.OURS, epochs=2)
    assert loaded == trained and second.loaded == {"net"}
    assert all(torch.equal(a, b) for a, b in zip(trained_net.state_dict().values(), loaded_net.state_dict().values()))
    out = capsys.readouterr().out
    assert "SHA-256 checked" in out and all(
        s.line(2) in printed_when_trained and s.line(2) in out for s in trained.epochs
    )
    assert f"test accuracy of the loaded weights {trained.final.test_acc:.2f}%" in out  # recomputed, deterministic
    _record(second, loaded)
    assert "all 1 numbers equal the training run's" in capsys.readouterr().out
    after = load_metrics(reports_dir("quick") / "metrics.json")["99_weights"]
    assert after["seconds"] == record["seconds"] and "load_seconds" in after  # the training run's record stays


@pytest.mark.parametrize("change", ["TRAIN = True", "other epochs", "file deleted"])
def test_fit_or_load_trains_when_asked_or_when_nothing_fits(make_quadrants, change, capsys):
    data = make_quadrants()
    first = start_run("99_weights", "quick")
    _record(first, fit_or_load(first, "net", _quadrant_net(), data, recipes.OURS, epochs=1))
    if change == "file deleted":
        weights_path(first, "net").unlink()
    second = start_run("99_weights", "quick", train=change == "TRAIN = True")
    fit_or_load(second, "net", _quadrant_net(), data, recipes.OURS, epochs=2 if change == "other epochs" else 1)
    assert second.loaded == set() and "epoch 1/" in capsys.readouterr().out


def test_fit_or_load_refuses_a_damaged_file(make_quadrants):
    data = make_quadrants()
    first = start_run("99_weights", "quick")
    _record(first, fit_or_load(first, "net", _quadrant_net(), data, recipes.OURS, epochs=1))
    path = weights_path(first, "net")
    damaged = bytearray(path.read_bytes())
    damaged[-5] ^= 0x10
    path.write_bytes(bytes(damaged))
    with pytest.raises(WeightsError, match=r"net\.safetensors.*TRAIN = True"):
        fit_or_load(start_run("99_weights", "quick"), "net", _quadrant_net(), data, recipes.OURS, epochs=1)
