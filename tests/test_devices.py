"""Every helper a notebook calls runs a model where the model lives and hands its results back on the CPU.

No GPU here, so the models go to torch's ``meta`` device: a model there computes shapes only, and any input left
on the CPU is a device mismatch, exactly as on CUDA or MPS. Results leave the model through :func:`stnlib.train.to_cpu`,
which the tests stand in for with zeros of the right shape (a meta tensor has no values to copy).
"""

from __future__ import annotations

import re

import matplotlib
import nbformat
import pytest
import torch

from stnlib import affine, gifs, models, train, widgets
from stnlib.env import REPO_ROOT

META = torch.device("meta")


@pytest.fixture
def off_cpu(monkeypatch):
    """Results of meta models come back on the CPU with their shape: zeros, or identity thetas."""
    real = train.to_cpu

    def to_cpu(t):
        if not t.is_meta:
            return real(t)
        if tuple(t.shape[-2:]) == (2, 3):  # thetas: the identity, which later steps can invert
            return affine.identity().expand(*t.shape).clone()
        return torch.zeros(t.shape)

    for module in (train, widgets):
        monkeypatch.setattr(module, "to_cpu", to_cpu)


def _meta(model: torch.nn.Module) -> torch.nn.Module:
    return model.to(META).eval()


def test_a_model_off_the_cpu_refuses_cpu_inputs():
    """The premise of this file: a meta model fed a CPU batch fails, as a CUDA model would."""
    with pytest.raises((RuntimeError, NotImplementedError)):
        _meta(models.mnist_stn_net())(torch.zeros(2, 1, 28, 28))


def test_transform_batch_moves_the_batch_and_returns_cpu_results(off_cpu):
    view, theta = train.transform_batch(_meta(models.rts_stn_net()), torch.zeros(3, 1, 42, 42))
    assert view.device.type == theta.device.type == "cpu"
    assert tuple(view.shape) == (3, 1, models.RTS_VIEW, models.RTS_VIEW) and tuple(theta.shape) == (3, 2, 3)


def test_test_set_helpers_run_off_the_cpu(off_cpu, make_quadrants):
    data = make_quadrants(8, 16, size=28)
    net = _meta(models.mnist_stn_net())
    probs, pred = train.predict(net, data)
    thetas = train.stn_thetas(net, data)
    assert probs.device.type == pred.device.type == thetas["theta"].device.type == "cpu"
    assert tuple(probs.shape) == (16, 10) and tuple(thetas["theta"].shape) == (16, 2, 3)


def test_theta_snapshots_record_a_model_off_the_cpu(off_cpu):
    snaps = gifs.ThetaSnapshots(torch.zeros(2, 1, 60, 60))
    snap = snaps.record(_meta(models.clutter_stn_net()), 0, 0)
    assert snap.theta.device.type == snap.output.device.type == "cpu"


def _fooling_setup():
    digits = {f"d{i}": widgets.place_on_canvas(torch.rand(1, 1, 28, 28), 42) for i in range(2)}
    stn, cnn = _meta(models.rts_stn_net()), _meta(models.mnist_cnn(42, out_size=models.RTS_VIEW))
    kw = {"mean": (0.13,), "std": (0.31,), "classes": tuple(str(k) for k in range(10))}
    return digits, {"d0": 0, "d1": 1}, stn, cnn, kw


def test_fooling_gallery_and_widget_run_with_models_off_the_cpu(off_cpu):
    digits, labels, stn, cnn, kw = _fooling_setup()
    fig, cases = widgets.fooling_gallery(digits, labels, stn, cnn, **kw)
    assert len(cases) == len(digits) * len(widgets.DISTORTIONS) and len(fig.axes) == 5 * len(digits)
    explorer = widgets.FoolTheSTN(digits, stn, cnn, **kw)  # renders once: classify on the models' device
    explorer.apply_preset("rotate")
    assert set(explorer.probs) == {"with STN", "CNN, no STN"}
    assert all(p.device.type == "cpu" for p in explorer.probs.values())


def _code_cells(stem: str) -> list[str]:
    nb = nbformat.read(REPO_ROOT / "notebooks" / f"{stem}.ipynb", as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code"]


def test_notebook_2s_view_helper_runs_with_models_off_the_cpu(off_cpu, monkeypatch, make_quadrants):
    """``show_views``, as notebook 2 defines it, on trained-model stand-ins living off the CPU."""
    monkeypatch.setattr(matplotlib.pyplot, "show", lambda *a, **k: None)
    source = next(s for s in _code_cells("02_stn_mnist") if s.startswith("def show_views"))
    data = make_quadrants(8, 16, size=42)
    namespace = {"distorted": {"rts": data}, "rts": {"ST-CNN": (_meta(models.rts_stn_net()), None)}, "clutter": {}}
    exec(compile(source, "notebook 2, show_views", "exec"), {**_notebook_globals(), **namespace})  # ends with a call


def _notebook_globals() -> dict:
    import matplotlib.pyplot as plt

    from stnlib import figures
    from stnlib.data import ArrayDataset

    return {
        "plt": plt,
        "figures": figures,
        "train": train,
        "torch": torch,
        "affine": affine,
        "ArrayDataset": ArrayDataset,
    }


@pytest.mark.parametrize("stem", ["02_stn_mnist", "03_stn_cifar10", "04_stn_learning_gif", "06_stn_on_feature_maps"])
def test_notebooks_never_run_a_trained_transformer_by_hand(stem):
    """Cells go through ``train.transform_batch`` / ``stn_thetas``, which handle devices; a bare
    ``net.stn.transform(x)`` in a cell breaks on a GPU (notebook 2's own 20-line transformer is on the CPU)."""
    bare = [
        line.strip()
        for s in _code_cells(stem)
        for line in s.splitlines()
        if re.search(r"\.stn\.(transform|theta)\(|\.to\(pick_device\(\)\)|\.cpu\(\)", line)
    ]
    assert not bare, f"{stem}: device bookkeeping in a cell: {bare}"
