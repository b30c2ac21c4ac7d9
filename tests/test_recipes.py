"""Training recipes (stnlib.recipes): validation, descriptions, and training a named recipe on real (tiny) data."""

import dataclasses
import math

import pytest
import torch

from stnlib import affine, models, train
from stnlib.data import load_dataset
from stnlib.recipes import (
    COURSE_BATCH32,
    COURSE_BATCH64,
    OURS,
    OURS_CIFAR,
    OURS_CIFAR_QUICK,
    OURS_CLUTTER,
    TUTORIAL,
    Recipe,
)


@pytest.fixture(scope="module")
def tiny_mnist():
    return load_dataset("mnist", profile="quick").subset(256, 128)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("optimizer", "adamw"),
        ("optimizer", "Adam"),
        ("scheduler", "cosine"),
        ("scheduler", "step"),
        ("precision", "fp8"),
        ("precision", "FP16"),
    ],
)
def test_recipe_rejects_unknown_names_and_names_itself(field, value):
    with pytest.raises(ValueError, match=rf"Recipe 'mine': {field}.* must be one of .*got str '{value}'"):
        Recipe("mine", **{field: value})
    with pytest.raises(ValueError, match=f"Recipe 'ours': {field}.* must be one of"):  # dataclasses.replace too
        dataclasses.replace(OURS, **{field: value})


@pytest.mark.parametrize("scale", [0.0, -0.3, float("nan"), float("inf")])
def test_recipe_rejects_a_non_positive_stn_lr_scale(scale):
    with pytest.raises(ValueError, match=r"Recipe 'mine': stn_lr_scale must be (a number > 0|finite)"):
        Recipe("mine", stn_lr_scale=scale)


def test_recipe_accepts_every_allowed_name():
    for optimizer in ("adam", "sgd"):
        for scheduler in ("onecycle", None):
            for precision in ("fp32", "bf16", "fp16", "auto"):
                r = Recipe("ok", optimizer=optimizer, scheduler=scheduler, precision=precision, stn_lr_scale=1e-3)
                assert (r.optimizer, r.scheduler, r.precision) == (optimizer, scheduler, precision)


def test_recipes_describe_themselves():
    assert TUTORIAL.describe() == "PyTorch tutorial: SGD lr 0.01, constant lr, batch 64"
    assert OURS.describe() == "ours: ADAM lr 0.003, onecycle schedule, batch 128, mixed precision where native (auto)"
    assert OURS_CLUTTER.describe().endswith("STN lr x0.3, mixed precision where native (auto)")
    assert OURS_CLUTTER.stn_lr_scale == 0.3
    assert COURSE_BATCH64.describe() == "course (batch 64): SGD lr 0.01, constant lr, batch 64, Normalize(0.5, 0.5)"
    assert COURSE_BATCH32.batch_size == 32 and COURSE_BATCH32.normalize == (0.5, 0.5)
    assert OURS_CIFAR.describe() == (
        "ours (CIFAR-10): SGD (Nesterov momentum 0.9) lr 0.1, onecycle schedule, batch 256, weight decay 0.0005, "
        "label smoothing 0.1, crop (pad 4) + flip, STN lr x0.1, mixed precision where native (auto)"
    )
    assert "no weight decay on the STN" in dataclasses.replace(OURS_CIFAR, stn_weight_decay=False).describe()


def test_stn_thetas_of_an_untrained_stn_are_the_identity(tiny_mnist):
    d = train.stn_thetas(models.mnist_stn_net(), tiny_mnist)
    n = len(tiny_mnist.test_labels)
    assert d["theta"].shape == (n, 2, 3)
    assert torch.allclose(d["theta"], affine.identity(n), atol=1e-6)
    assert torch.allclose(d["scale_x"], torch.ones(n), atol=1e-5)


def test_stn_thetas_needs_a_transformer(tiny_mnist):
    with pytest.raises(ValueError, match="no spatial transformer"):
        train.stn_thetas(models.mnist_cnn(), tiny_mnist)


def test_predict_returns_probabilities(tiny_mnist):
    probs, pred = train.predict(models.tutorial_net(), tiny_mnist)
    assert probs.shape == (128, 10) and torch.allclose(probs.sum(1), torch.ones(128), atol=1e-5)
    assert torch.equal(pred, probs.argmax(1))


def test_fit_runs_a_named_recipe(tiny_mnist):
    h = train.fit(models.tutorial_net(), tiny_mnist, TUTORIAL, epochs=1, device="cpu", progress=False)
    n_steps = -(-len(tiny_mnist.train_labels) // TUTORIAL.batch_size)
    assert len(h.epochs) == 1 and h.final.step == n_steps and h.final.test_acc is not None
    assert h.final.lr == pytest.approx(TUTORIAL.lr)  # constant lr


def test_quick_cifar_recipe_changes_only_batch_and_lr():
    changed = {
        f.name for f in dataclasses.fields(Recipe) if getattr(OURS_CIFAR_QUICK, f.name) != getattr(OURS_CIFAR, f.name)
    }
    assert changed == {"name", "lr", "batch_size"}
    assert OURS_CIFAR_QUICK.lr < OURS_CIFAR.lr and OURS_CIFAR_QUICK.batch_size < OURS_CIFAR.batch_size


def test_quick_cifar_recipe_lets_the_loss_fall_where_the_full_one_blows_up():
    # the quick profile's CIFAR-10 run: a few hundred images, two epochs, the quarter ResNet-9 with its transformer
    data = load_dataset("cifar10", profile="quick")
    data = data.subset(1500, 300) if len(data.train_labels) > 1500 else data
    losses = {}
    for recipe in (OURS_CIFAR, OURS_CIFAR_QUICK):
        net = models.cifar_stn_net(fill=recipe.prepare(data).black)
        h = train.fit(net, data, recipe, epochs=2, seed=0, device="cpu", progress=False)
        losses[recipe.name] = [e.train_loss for e in h.epochs]
    full, quick = losses[OURS_CIFAR.name], losses[OURS_CIFAR_QUICK.name]
    assert max(full) > 2 * math.log(10), losses  # lr 0.1 after a step or two of warm-up: far above chance
    assert quick[1] < quick[0] and quick[1] < 1.5 * math.log(10), losses
