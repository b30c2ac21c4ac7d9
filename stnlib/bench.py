"""Benchmarks, side by side in one run: ``make bench`` (``python -m stnlib.bench``).

MNIST (issue 3):

* **throughput**: training images/s of the tutorial net and ours, each with and without
  its spatial transformer, measured in interleaved rounds (every model runs a few steps
  per round, so machine noise hits all of them alike); medians over rounds. The STN's
  overhead is ``1 - (img/s with STN) / (img/s without)``: its share of a training step.
* **time to 99 %**: training seconds (evaluation excluded) until the MNIST test accuracy
  first reaches 99 %, for the tutorial recipe (its network, its zero padding, SGD lr
  0.01, batch 64, run until ``--budget`` seconds) and ours (its 4-epoch one-cycle
  schedule, as in notebook 2), evaluated every 200 steps on the full test set.

Prints a table and writes ``reports/bench.json`` and ``reports/figures/bench_mnist.png``
(atomically). ``--quick`` runs a tiny smoke version (seconds; numbers meaningless).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from . import experiments, models  # noqa: E402
from .data import black_value, load_dataset  # noqa: E402
from .io import atomic_write_bytes, atomic_write_json  # noqa: E402
from .paths import reports_dir  # noqa: E402
from .runs import seed_everything  # noqa: E402

__all__ = ["main", "mnist_models", "throughput", "time_to_accuracy"]


#: Epochs each recipe is run with: ours is a 4-epoch one-cycle schedule (as in notebook 2), so the
#: schedule must span those 4 epochs; the tutorial's constant learning rate runs until the budget ends.
RECIPE_EPOCHS = {"tutorial + STN": 60, "ours + STN": 4}


def mnist_models() -> dict[str, tuple[Callable[[], nn.Module], experiments.Recipe]]:
    """Name -> (model factory, recipe) for the MNIST benchmark."""
    black = black_value("mnist")[0]
    return {
        "tutorial + STN": (lambda: models.tutorial_net(), experiments.TUTORIAL),
        "tutorial, no STN": (lambda: models.tutorial_net(stn=False), experiments.TUTORIAL),
        "ours + STN": (lambda: models.mnist_stn_net(fill=black), experiments.OURS),
        "ours, no STN": (lambda: models.mnist_cnn(), experiments.OURS),
    }


def throughput(
    factories: dict[str, tuple[Callable[[], nn.Module], experiments.Recipe]],
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    rounds: int = 7,
    steps: int = 10,
) -> dict[str, dict[str, float]]:
    """Median training images/s per model over ``rounds`` interleaved rounds of ``steps`` steps.

    ``images``: normalized ``(N, C, H, W)``; each model trains on its recipe's batch size.
    """
    state = {}
    for name, (make, recipe) in factories.items():
        seed_everything(0)
        model = make().train()
        opt = (
            torch.optim.SGD(model.parameters(), lr=1e-3)
            if recipe.optimizer == "sgd"
            else torch.optim.Adam(model.parameters(), lr=1e-3)
        )
        state[name] = (model, opt, recipe.batch_size, [])
    for r in range(rounds + 1):  # round 0 warms up (allocations, kernels) and is discarded
        for model, opt, bs, rates in state.values():
            x, y = images[:bs], labels[:bs]
            t0 = time.perf_counter()
            for _ in range(steps):
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(model(x), y).backward()
                opt.step()
            if r:
                rates.append(bs * steps / (time.perf_counter() - t0))
    return {
        name: {"images_per_s": statistics.median(rates), "batch_size": bs, "rounds": rounds, "steps": steps}
        for name, (_, _, bs, rates) in state.items()
    }


def time_to_accuracy(
    make: Callable[[], nn.Module],
    recipe: experiments.Recipe,
    data,
    *,
    target: float,
    budget_s: float,
    eval_every: int,
    max_epochs: int,
) -> dict:
    """Train until the test accuracy first reaches ``target`` (or the budget runs out)."""
    seed_everything(0)
    history = experiments.train(
        make(),
        data,
        recipe,
        epochs=max_epochs,
        eval_every_steps=eval_every,
        time_budget_s=budget_s,
        target_acc=target,
        progress=True,
    )
    return {
        "recipe": recipe.describe(),
        "seconds_to_target": history.time_to(target),
        "steps_to_target": history.steps_to(target),
        "best_test_acc": history.best_test_acc,
        "trained_seconds": history.epochs[-1].elapsed if history.epochs else 0.0,
        "stopped": history.stopped_early,
        "curve": [(p.elapsed, p.test_acc) for p in history.evals],
    }


def _figure(result: dict) -> bytes:
    import io

    fig, (a0, a1) = plt.subplots(1, 2, figsize=(10, 3.8))
    tp = result["throughput"]
    names = list(tp)
    a0.barh(names, [tp[n]["images_per_s"] for n in names], color=["#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78"])
    a0.set_xlabel("training images / s (median)")
    a0.invert_yaxis()
    for name, r in result["time_to_target"].items():
        xs, ys = zip(*r["curve"], strict=True) if r["curve"] else ((), ())
        a1.plot(
            xs,
            ys,
            marker=".",
            label=f"{name}: " + (f"{r['seconds_to_target']:.0f} s" if r["seconds_to_target"] else "not reached"),
        )
    a1.axhline(result["target"], color="grey", ls="--", lw=1)
    a1.set_ylim(max(90.0, a1.get_ylim()[0]), 100)
    a1.set_xlabel("training seconds (evaluation excluded)")
    a1.set_ylabel("MNIST test accuracy (%)")
    a1.legend(fontsize=8)
    fig.suptitle(f"MNIST benchmark ({result['machine']})", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stnlib.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (seconds); numbers are meaningless")
    parser.add_argument("--budget", type=float, default=900.0, help="max training seconds per time-to-99%% run")
    args = parser.parse_args(argv)
    profile = "quick" if args.quick else "full"
    data = load_dataset("mnist", profile=profile)
    if args.quick:
        data = data.subset(2000, 500)
    x = ((data.train_images[:512].float() / 255) - data.mean[0]) / data.std[0]
    y = data.train_labels[:512]
    factories = mnist_models()
    machine = f"{torch.get_num_threads()} CPU threads, torch {torch.__version__}"
    print(f"MNIST benchmark ({profile}): {data.info.describe()}; {machine}", flush=True)
    tp = throughput(factories, x, y, rounds=2 if args.quick else 7, steps=2 if args.quick else 10)
    target = 99.0
    ttt = {}
    for name in ("tutorial + STN", "ours + STN"):
        make, recipe = factories[name]
        print(f"time to {target}%: {name} ({recipe.describe()})", flush=True)
        ttt[name] = time_to_accuracy(
            make, recipe, data, target=target, budget_s=5.0 if args.quick else args.budget,
            eval_every=20 if args.quick else 200, max_epochs=1 if args.quick else RECIPE_EPOCHS[name],
        )  # fmt: skip
    t_tut, t_ours = ttt["tutorial + STN"]["seconds_to_target"], ttt["ours + STN"]["seconds_to_target"]
    result = {
        "profile": profile,
        "data": data.info.describe(),
        "machine": machine,
        "target": target,
        "throughput": tp,
        "stn_overhead": {
            "tutorial": 1 - tp["tutorial + STN"]["images_per_s"] / tp["tutorial, no STN"]["images_per_s"],
            "ours": 1 - tp["ours + STN"]["images_per_s"] / tp["ours, no STN"]["images_per_s"],
        },
        "time_to_target": ttt,
        "time_ratio_ours_over_tutorial": (t_ours / t_tut) if (t_tut and t_ours) else None,
    }
    out = reports_dir(profile)
    atomic_write_json(out / "bench.json", result)
    atomic_write_bytes(out / "figures" / "bench_mnist.png", _figure(result))
    print(f"\n{'model':<20}{'batch':>6}{'img/s':>10}")
    for name, r in tp.items():
        print(f"{name:<20}{r['batch_size']:>6}{r['images_per_s']:>10.0f}")
    for k, v in result["stn_overhead"].items():
        print(f"STN share of a training step, {k}: {100 * v:.1f}%")
    for name, r in ttt.items():
        reached = (
            f"{r['seconds_to_target']:.0f} s"
            if r["seconds_to_target"]
            else f"not reached in {r['trained_seconds']:.0f} s"
        )
        print(f"time to {target}%: {name}: {reached} (best {r['best_test_acc']:.2f}%)")
    ratio = result["time_ratio_ours_over_tutorial"]
    print(f"ratio ours / tutorial: {ratio:.2f}" if ratio else "ratio: n/a (a run did not reach the target)")
    print(f"wrote {out / 'bench.json'} and {out / 'figures' / 'bench_mnist.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
