"""Benchmarks, side by side in one run: ``make bench`` (``python -m tools.bench``).

Two suites (``--suite mnist``, ``--suite cifar10``; default both). Each suite's models are
measured together in one run; a suite run alone replaces only its own part of the results.

* **throughput**: training images/s of each model with and without its spatial transformer,
  each with its own recipe (batch size, precision, memory layout), measured in interleaved
  rounds (every model runs a few steps per round, so machine noise hits all of them alike);
  medians over rounds. The STN's share of a training step is ``1 - (img/s with) / (img/s without)``.
  The fast CIFAR-10 network is timed inside :func:`~stnlib.fast_cifar.train_fast` itself (its
  training seconds for a few steps: augmentation, autocast (bf16 where native), channels-last, batch 1024, SGD
  step, lookahead), i.e. exactly the step notebook 3 trains with.
* **compute**: FLOPs per training image of every model (:func:`train_flops_per_image`: forward
  + backward of cross-entropy, convolutions and matrix products as counted by
  ``torch.utils.flop_counter``), this CPU's matmul peak measured in the same run
  (:func:`matmul_peak`: median GFLOP/s of ``torch.mm`` on 4096 x 4096 matrices, bf16 and fp32),
  and so each model's achieved GFLOP/s (img/s x FLOPs per image) and its share of the peak of
  its own precision.
* **time to target**: training seconds (evaluation excluded) until the test accuracy first
  reaches the target.

  - MNIST, 99 %: the tutorial recipe (its net, zero padding, SGD lr 0.01, batch 64, until
    ``--budget`` seconds) against ours (its 4-epoch one-cycle schedule, as in notebook 2);
    evaluated on the full test set every few hundred steps.
  - CIFAR-10, 66 % (the best course result) and 90 %, evaluated on the exact test images every
    10,240 training images (ours: 10 steps of 1024; the course model: 320 steps of 32): ours (the
    fast network + STN, notebook 3's recipe and 12-epoch schedule, stopping at 90 %) first; then
    the best course model (the wide one, its recipe) for at most ``10 x`` our time to 66 %, which
    is enough to decide the target "ours at most one tenth of the course model's time" either way.

Prints tables and writes ``reports/bench.json`` and ``reports/figures/bench_<suite>.png``
(atomically). ``--quick`` runs a tiny smoke version (seconds; numbers meaningless).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import statistics
import time
from collections.abc import Callable, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from stnlib import fast_cifar, models, recipes, train  # noqa: E402
from stnlib.data import ArrayDataset, ImageData, black_value, load_dataset  # noqa: E402
from stnlib.env import pick_device, reports_dir, resolve_precision, seed_everything  # noqa: E402
from stnlib.fast_cifar import FastRecipe  # noqa: E402
from stnlib.runs import atomic_write_bytes, atomic_write_json, load_metrics  # noqa: E402
from stnlib.train import History  # noqa: E402
from tools.contributing import BENCH_TITLES  # noqa: E402

__all__ = [
    "SUITES",
    "achieved_compute",
    "cifar10_models",
    "main",
    "matmul_peak",
    "mnist_models",
    "throughput",
    "time_to_accuracy",
    "time_to_accuracy_fast",
    "train_flops_per_image",
]

Factories = dict[str, tuple[Callable[[], nn.Module], recipes.Recipe | FastRecipe]]

#: Epochs each MNIST recipe is run with: ours is a 4-epoch one-cycle schedule (as in notebook 2), so the
#: schedule must span those 4 epochs; the tutorial's constant learning rate runs until the budget ends.
RECIPE_EPOCHS = {"tutorial + STN": 60, "ours + STN": 4}
#: Ours on CIFAR-10: the fast network + STN, trained as notebook 3 trains it.
CIFAR_OURS = "ours: fast network + STN"
CIFAR_COURSE = "course: wide + large localization + STN"
#: Notebook 3's recipe (the fast one, the transformer's learning rate x0.01) and schedule length.
FAST_RECIPE = dataclasses.replace(fast_cifar.FAST, stn_lr_scale=0.01)
FAST_EPOCHS = 12
#: CIFAR-10 targets (test accuracy on the exact test images, %): the course's best result, and 90 %.
CIFAR_TARGETS = (66.0, 90.0)
#: The course recipes have no schedule: at most this many epochs (the time budget ends it first).
COURSE_EPOCHS = 50
#: The course model is given this many times our time to 66 % (the target is a ratio of at most 1/10).
#: Training stops after the step that passes the budget, so it trains at least that long.
COURSE_TIME_FACTOR = 10.0
#: Matrix size and repeats of the matmul peak (:func:`matmul_peak`) in the full run.
PEAK_SIZE, PEAK_REPEATS = 4096, 5


def mnist_models() -> Factories:
    """Name -> (model factory, recipe) for the MNIST benchmark."""
    black = black_value("mnist")[0]
    return {
        "tutorial + STN": (lambda: models.tutorial_net(), recipes.TUTORIAL),
        "tutorial, no STN": (lambda: models.tutorial_net(stn=False), recipes.TUTORIAL),
        "ours + STN": (lambda: models.mnist_stn_net(fill=black), recipes.OURS),
        "ours, no STN": (lambda: models.mnist_cnn(), recipes.OURS),
    }


def cifar10_models(fast_recipe: FastRecipe = FAST_RECIPE) -> Factories:
    """Name -> (model factory, recipe) for the CIFAR-10 benchmark, each +/- STN: ours (the fast network,
    ``fast_recipe``), the three course models, and our earlier quarter-width ResNet-9."""
    black = black_value("cifar10")
    out: Factories = {
        CIFAR_OURS: (lambda: fast_cifar.fast_stn_net(fill=black), fast_recipe),
        "ours: fast network, no STN": (lambda: fast_cifar.fast_stn_net(stn=False), fast_recipe),
    }
    for course in recipes.COURSE_MODELS:
        out[f"course: {course.name} + STN"] = (lambda c=course: c.build(), course.recipe)
        out[f"course: {course.name}, no STN"] = (lambda c=course: c.build(stn=False), course.recipe)
    out["quarter ResNet-9 + STN"] = (lambda: models.cifar_stn_net(fill=black), recipes.OURS_CIFAR)
    out["quarter ResNet-9, no STN"] = (lambda: models.cifar_stn_net(stn=False), recipes.OURS_CIFAR)
    return out


def _recipe_stepper(make: Callable[[], nn.Module], recipe: recipes.Recipe, data: ImageData):
    """``run(steps) -> (images, seconds)``: ``steps`` of :func:`stnlib.train.train_step` (the notebooks' own
    training step) on one fixed batch, no augmentation; lr 1e-3 and no schedule, so repeating one batch stays finite."""
    seed_everything(0)
    model = make().train()
    if recipe.channels_last:
        model.to(memory_format=torch.channels_last)
    steady = dataclasses.replace(recipe, lr=1e-3, scheduler=None)
    opt = train.make_optimizer(model, steady)
    d = recipe.prepare(data)  # normalized as the recipe says (the course recipes: 0.5, 0.5)
    x, y = ArrayDataset(d.train_images, d.train_labels, mean=d.mean, std=d.std)[: recipe.batch_size]
    x = x.contiguous(memory_format=torch.channels_last) if recipe.channels_last else x

    def run(steps: int) -> tuple[int, float]:
        t0 = time.perf_counter()
        for _ in range(steps):
            train.train_step(model, x, y, opt, steady)
        return len(y) * steps, time.perf_counter() - t0

    return run


def _fast_stepper(make: Callable[[], nn.Module], recipe: FastRecipe, data: ImageData):
    """``run(steps) -> (images, seconds)``: :func:`~stnlib.fast_cifar.train_fast` for ``steps`` steps (one short
    epoch on the first ``steps x batch`` training images), its own training seconds (evaluation excluded)."""
    seed_everything(0)
    model = make()

    def run(steps: int) -> tuple[int, float]:
        sub = data.subset(steps * recipe.batch_size, min(100, len(data.test_labels)))  # tiny test set: cheap eval
        history = fast_cifar.train_fast(model, sub, recipe, epochs=1, seed=0, progress=False)
        return history.final.step * recipe.batch_size, history.final.elapsed

    return run


def throughput(
    factories: Factories, data: ImageData, *, rounds: int = 7, steps: int = 10, fast_steps: int = 5
) -> dict[str, dict]:
    """Median training images/s per model over ``rounds`` interleaved rounds of ``steps`` steps.

    Each model trains as its recipe says (optimizer, batch size, normalization, precision,
    memory layout) on the first ``batch_size`` training images of ``data``, without augmentation;
    models with a :class:`~stnlib.fast_cifar.FastRecipe` run ``fast_steps`` steps of
    :func:`~stnlib.fast_cifar.train_fast` per round instead (the notebook's own training step).
    """
    runners, rates = {}, {}
    for name, (make, recipe) in factories.items():
        fast = isinstance(recipe, FastRecipe)
        runners[name] = (_fast_stepper if fast else _recipe_stepper)(make, recipe, data), fast_steps if fast else steps
        rates[name] = []
    for r in range(rounds + 1):  # round 0 warms up (allocations, kernels) and is discarded
        for name, (run, n) in runners.items():
            images, seconds = run(n)
            if r:
                rates[name].append(images / seconds)
    return {
        name: {
            "images_per_s": statistics.median(rates[name]),
            "batch_size": recipe.batch_size,
            "precision": _precision(recipe),
            "rounds": rounds,
            "steps": runners[name][1],
        }
        for name, (_, recipe) in factories.items()
    }


def _precision(recipe: recipes.Recipe | FastRecipe) -> str:
    """The precision ``recipe`` trains in here (``"auto"`` resolved): the fast recipe on :func:`pick_device`, the
    others on the CPU (:func:`_recipe_stepper` keeps them there)."""
    return resolve_precision(recipe.precision, pick_device() if isinstance(recipe, FastRecipe) else "cpu")[0]


def train_flops_per_image(model: nn.Module, input_shape: Sequence[int], *, batch: int = 4) -> float:
    """FLOPs of one training step per image: forward and backward of cross-entropy on a batch of ``batch``
    random inputs of ``input_shape`` (no batch dimension), divided by ``batch``.

    Counted by ``torch.utils.flop_counter.FlopCounterMode``: convolutions and matrix products
    (forward and the gradients autograd actually computes: none for the input images, none for
    frozen weights); element-wise work (batch norm, activations, grid sampling) is not counted.
    The model runs in train mode in fp32 (the count does not depend on the precision) and is
    left with its gradients cleared.
    """
    was_training = model.training
    model.train()
    x = torch.randn(batch, *input_shape)
    with FlopCounterMode(display=False) as counter:
        out = model(x).float().flatten(1)
        F.cross_entropy(out, torch.zeros(batch, dtype=torch.long)).backward()
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return counter.get_total_flops() / batch


def matmul_peak(dtype: torch.dtype, *, size: int = PEAK_SIZE, repeats: int = PEAK_REPEATS) -> float:
    """Median GFLOP/s of ``torch.mm`` on two ``size x size`` matrices of ``dtype`` (after one warm-up), on the CPU."""
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    torch.mm(a, b)
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        rates.append(2 * size**3 / (time.perf_counter() - t0) / 1e9)
    return statistics.median(rates)


def achieved_compute(images_per_s: float, flops_per_image: float, peak_gflop_per_s: float | None) -> dict:
    """``images_per_s x flops_per_image`` in GFLOP/s, and its share (0..1) of ``peak_gflop_per_s`` (``None``: none)."""
    gflops = images_per_s * flops_per_image / 1e9
    return {
        "gflop_per_image": flops_per_image / 1e9,
        "gflop_per_s": gflops,
        "peak_share": gflops / peak_gflop_per_s if peak_gflop_per_s else None,
    }


def _compute(factories: Factories, data: ImageData, tp: dict[str, dict], quick: bool) -> dict:
    """FLOPs per training image, this CPU's matmul peaks, and each model's achieved GFLOP/s (into ``tp``)."""
    size, repeats = (1024, 2) if quick else (PEAK_SIZE, PEAK_REPEATS)
    peaks = {"bf16": matmul_peak(torch.bfloat16, size=size, repeats=repeats)}
    peaks["fp32"] = matmul_peak(torch.float32, size=size, repeats=repeats)
    shape = tuple(data.train_images.shape[1:])
    for name, (make, _) in factories.items():
        seed_everything(0)
        flops = train_flops_per_image(make(), shape)
        tp[name].update(achieved_compute(tp[name]["images_per_s"], flops, peaks.get(tp[name]["precision"])))
    return {"size": size, "repeats": repeats, "gflop_per_s": peaks}


def stn_overheads(tp: dict[str, dict[str, float]]) -> dict[str, float]:
    """``1 - (img/s with STN) / (img/s without)`` for every ``"<name> + STN"`` / ``"<name>, no STN"`` pair."""
    out = {}
    for name in tp:
        if name.endswith(" + STN") and (base := name[: -len(" + STN")]) + ", no STN" in tp:
            out[base] = 1 - tp[name]["images_per_s"] / tp[base + ", no STN"]["images_per_s"]
    return out


def _outcome(history: History, recipe, targets: Sequence[float], budget_s: float | None) -> dict:
    """One time-to-target result: ``seconds_to_target`` / ``steps_to_target`` for ``targets[0]``, all of
    them in ``seconds_to`` / ``steps_to`` (keys ``f"{target:g}"``), and the accuracy curve."""
    return {
        "recipe": recipe.describe(),
        "seconds_to_target": history.time_to(targets[0]),
        "steps_to_target": history.steps_to(targets[0]),
        "seconds_to": {f"{t:g}": history.time_to(t) for t in targets},
        "steps_to": {f"{t:g}": history.steps_to(t) for t in targets},
        "best_test_acc": history.best_test_acc,
        "trained_seconds": history.epochs[-1].elapsed if history.epochs else 0.0,
        "budget_s": budget_s,
        "stopped": history.stopped_early,
        "curve": [(p.elapsed, p.test_acc) for p in history.evals],
    }


def time_to_accuracy(
    make: Callable[[], nn.Module],
    recipe: recipes.Recipe,
    data: ImageData,
    *,
    target: float,
    budget_s: float,
    eval_every: int,
    max_epochs: int,
) -> dict:
    """Train until the test accuracy first reaches ``target`` (or the budget runs out)."""
    seed_everything(0)
    history = train.fit(
        make(),
        data,
        recipe,
        epochs=max_epochs,
        eval_every_steps=eval_every,
        time_budget_s=budget_s,
        target_acc=target,
        progress=True,
    )
    return _outcome(history, recipe, [target], budget_s)


def time_to_accuracy_fast(
    make: Callable[[], nn.Module],
    recipe: FastRecipe,
    data: ImageData,
    *,
    targets: Sequence[float],
    epochs: float,
    eval_every: int,
) -> dict:
    """:func:`~stnlib.fast_cifar.train_fast` for ``epochs`` (its schedule), evaluated on the exact test images
    every ``eval_every`` steps, stopping at the first evaluation that reaches the last of ``targets``."""
    seed_everything(0)
    history = fast_cifar.train_fast(
        make(),
        data,
        recipe,
        epochs=epochs,
        seed=0,
        eval_exact=True,
        eval_every_steps=eval_every,
        target_acc=max(targets),
        progress=True,
    )
    return {**_outcome(history, recipe, targets, None), "epochs": epochs}


def _figure(result: dict, title: str, ylim_low: float) -> bytes:
    tp = result["throughput"]
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(11, 0.9 + 0.42 * len(tp)))
    names = list(tp)
    colors = ["#ff7f0e" if n.endswith("+ STN") else "#1f77b4" for n in names]
    a0.barh(names, [tp[n]["images_per_s"] for n in names], color=colors)
    a0.set_xlabel("training images / s (median; orange: with STN)")
    a0.tick_params(axis="y", labelsize=8)
    a0.invert_yaxis()
    for name, r in result["time_to_target"].items():
        xs, ys = zip(*r["curve"], strict=True) if r["curve"] else ((), ())
        done = r["seconds_to_target"]
        a1.plot(xs, ys, marker=".", label=f"{name}: " + (f"{done:.0f} s" if done else "not reached"))
    for target in result.get("targets", [result["target"]]):
        a1.axhline(target, color="grey", ls="--", lw=1)
    a1.set_ylim(max(ylim_low, a1.get_ylim()[0]), 100)
    a1.set_xlabel("training seconds (evaluation excluded)")
    a1.set_ylabel("test accuracy (%)")
    a1.legend(fontsize=8)
    fig.suptitle(f"{title} ({result['machine']})", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def _machine() -> str:
    return f"{torch.get_num_threads()} CPU threads, torch {torch.__version__}"


Run = Callable[[dict], dict]  # time-to-target results so far -> this model's result


def _suite(
    name: str, data: ImageData, factories: Factories, runs: dict[str, Run], targets: Sequence[float], quick: bool
) -> dict:
    """Throughput and compute of every model, then time to target for each of ``runs`` (in order; a run may
    depend on the results before it, as the course model's budget depends on ours)."""
    print(f"{name} benchmark ({'quick' if quick else 'full'}): {data.info.describe()}; {_machine()}", flush=True)
    tp = throughput(factories, data, rounds=2 if quick else 7, steps=2 if quick else 10, fast_steps=1 if quick else 5)
    peak = _compute(factories, data, tp, quick)
    ttt: dict[str, dict] = {}
    for model_name, run in runs.items():
        ttt[model_name] = run(ttt)
    return {
        "profile": "quick" if quick else "full",
        "data": data.info.describe(),
        "machine": _machine(),
        "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "target": targets[0],
        "targets": list(targets),
        "throughput": tp,
        "matmul_peak": peak,
        "stn_overhead": stn_overheads(tp),
        "time_to_target": ttt,
    }


def _recipe_run(factories: Factories, name: str, data: ImageData, target: float, *, budget_s, **kwargs) -> Run:
    """A :func:`time_to_accuracy` run; ``budget_s`` may be a function of the results so far."""

    def run(done: dict) -> dict:
        make, recipe = factories[name]
        budget = budget_s(done) if callable(budget_s) else budget_s
        print(f"time to {target:g}%: {name} ({recipe.describe()}), budget {budget:.0f} s", flush=True)
        return time_to_accuracy(make, recipe, data, target=target, budget_s=budget, **kwargs)

    return run


def run_mnist(quick: bool, budget: float) -> dict:
    data = load_dataset("mnist", profile="quick" if quick else "full")
    if quick:
        data = data.subset(2000, 500)
    factories = mnist_models()
    kwargs = dict(budget_s=5.0 if quick else budget, eval_every=20 if quick else 200)
    runs = {
        name: _recipe_run(factories, name, data, 99.0, max_epochs=1 if quick else RECIPE_EPOCHS[name], **kwargs)
        for name in ("tutorial + STN", "ours + STN")
    }
    result = _suite("MNIST", data, factories, runs, [99.0], quick)
    result["time_ratio"] = _ratio(result, "ours + STN", "tutorial + STN")
    return result


def run_cifar10(quick: bool, budget: float) -> dict:
    data = load_dataset("cifar10", profile="quick" if quick else "full")
    if quick:
        data = data.subset(1000, 300)
    recipe = dataclasses.replace(FAST_RECIPE, batch_size=128) if quick else FAST_RECIPE  # quick: 7 steps/epoch
    factories = cifar10_models(recipe)
    exact = fast_cifar.exact_test_images(data)  # every time to target is measured on the exact test images
    ours_every = 1 if quick else 10
    course_every = ours_every * recipe.batch_size // factories[CIFAR_COURSE][1].batch_size  # same images apart

    def ours(done: dict) -> dict:
        targets = " and ".join(f"{t:g}%" for t in CIFAR_TARGETS)
        print(f"time to {targets}: {CIFAR_OURS} ({recipe.describe()})", flush=True)
        make = factories[CIFAR_OURS][0]
        return time_to_accuracy_fast(
            make, recipe, exact, targets=CIFAR_TARGETS, epochs=1 if quick else FAST_EPOCHS, eval_every=ours_every
        )

    def course_budget(done: dict) -> float:
        t = done[CIFAR_OURS]["seconds_to_target"]
        if quick:
            return 5.0
        if t and COURSE_TIME_FACTOR * t > budget:
            print(f"note: --budget {budget:g} s < {COURSE_TIME_FACTOR:g} x ours; the 1/10 target may stay undecided")
        return min(budget, COURSE_TIME_FACTOR * t) if t else budget

    runs = {
        CIFAR_OURS: ours,
        CIFAR_COURSE: _recipe_run(
            factories,
            CIFAR_COURSE,
            exact,
            CIFAR_TARGETS[0],
            budget_s=course_budget,
            eval_every=course_every,
            max_epochs=1 if quick else COURSE_EPOCHS,
        ),
    }
    result = _suite("CIFAR-10", data, factories, runs, CIFAR_TARGETS, quick)
    result["test_images"] = exact.info.n_test
    result["headline"] = CIFAR_OURS  # the model whose compute the README spells out
    result["time_ratio"] = _ratio(result, CIFAR_OURS, CIFAR_COURSE)
    return result


def _ratio(result: dict, ours: str, theirs: str) -> dict:
    """Ours / theirs time to target; if theirs never got there, an upper bound from its training time."""
    a, b = result["time_to_target"][ours], result["time_to_target"][theirs]
    t_ours, t_theirs = a["seconds_to_target"], b["seconds_to_target"]
    if t_ours and t_theirs:
        return {"value": t_ours / t_theirs, "bound": "exact"}
    if t_ours and not t_theirs:  # theirs needs more than it trained: the ratio is below ours / trained
        return {"value": t_ours / b["trained_seconds"], "bound": "upper"}
    return {"value": None, "bound": "n/a"}


SUITES: dict[str, Callable[[bool, float], dict]] = {"mnist": run_mnist, "cifar10": run_cifar10}
FIGURE_YLIM = {"mnist": 90.0, "cifar10": 10.0}


def _print(suite: str, result: dict) -> None:
    tp = result["throughput"]
    print(f"\n{suite}: {'model':<44}{'batch':>6}{'img/s':>10}{'GFLOP/img':>10}{'GFLOP/s':>9}{'of peak':>8}")
    for name, r in tp.items():
        compute = ""
        if "gflop_per_image" in r:
            share = f"{100 * r['peak_share']:.0f}%" if r.get("peak_share") is not None else "-"
            compute = f"{r['gflop_per_image']:>10.3f}{r['gflop_per_s']:>9.0f}{share:>8}"
        print(f"{'':<{len(suite) + 2}}{name:<44}{r['batch_size']:>6}{r['images_per_s']:>10.0f}{compute}")
    if "matmul_peak" in result:
        peak = result["matmul_peak"]
        rates = ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in peak["gflop_per_s"].items())
        print(f"matmul peak ({peak['size']}x{peak['size']}, median of {peak['repeats']}): {rates}")
    for k, v in result["stn_overhead"].items():
        print(f"STN share of a training step, {k}: {100 * v:.1f}%")
    for name, r in result["time_to_target"].items():
        for target, t in r.get("seconds_to", {f"{result['target']:g}": r["seconds_to_target"]}).items():
            reached = f"{t:.0f} s" if t else f"not reached in {r['trained_seconds']:.0f} s"
            print(f"time to {target}%: {name}: {reached} (best {r['best_test_acc']:.2f}%)")
    ratio = result["time_ratio"]
    if ratio["value"] is None:
        print("time ratio: n/a (ours did not reach the target)")
    else:
        print(f"time ratio ours / theirs: {'< ' if ratio['bound'] == 'upper' else ''}{ratio['value']:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (seconds); numbers are meaningless")
    parser.add_argument("--suite", choices=[*SUITES, "all"], default="all", help="which benchmark to run")
    parser.add_argument("--budget", type=float, default=900.0, help="max training seconds per time-to-target run")
    args = parser.parse_args(argv)
    out = reports_dir("quick" if args.quick else "full")
    path = out / "bench.json"
    results = load_metrics(path, entries=False)  # a suite run alone replaces only its own part
    for suite in SUITES if args.suite == "all" else [args.suite]:
        result = SUITES[suite](args.quick, args.budget)
        results[suite] = result
        atomic_write_json(path, results)  # after each suite: a later failure keeps what finished
        figure = _figure(result, f"{BENCH_TITLES[suite]} benchmark", FIGURE_YLIM[suite])
        atomic_write_bytes(out / "figures" / f"bench_{suite}.png", figure)
        _print(suite, result)
    print(f"wrote {path} and {out / 'figures'}/bench_*.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
