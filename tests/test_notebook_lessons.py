"""What the notebooks write out in the page agrees with the library and with each other.

* Notebook 2's spatial transformer (the cell tagged ``stn-in-code``) computes what
  ``stnlib.models.SpatialTransformer`` computes.
* The "theta a trained STN produced" that notebook 1 reads back (from ``reports/metrics.json``) is the one
  notebook 2 recorded and printed.
* Notebook 1's sampler written in plain torch (the cell tagged ``sampler-in-code``) equals ``F.affine_grid`` and
  ``F.grid_sample``, which the library's ``affine.warp`` calls, for both ``align_corners``; its gradients pass
  ``gradcheck``; and the gradient by the paper's formulas (the cell tagged ``sampler-gradient``) equals autograd's.
"""

import json
import math
import re

import pytest
import torch

from stnlib import models
from stnlib.data import black_value
from stnlib.env import REPO_ROOT
from stnlib.runs import published_metrics

NOTEBOOK = REPO_ROOT / "notebooks" / "02_stn_mnist.ipynb"
NOTEBOOK_1 = REPO_ROOT / "notebooks" / "01_affine_intuition.ipynb"
REPORT_2 = REPO_ROOT / "reports" / "02_stn_mnist.ipynb"
REPORT_1 = REPO_ROOT / "reports" / "01_affine_intuition.ipynb"
TAG = "stn-in-code"


def _tagged(notebook, tag: str, namespace: dict) -> dict:
    cells = [c for c in json.loads(notebook.read_text())["cells"] if tag in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"expected one cell tagged {tag!r} in {notebook.name}, found {len(cells)}"
    exec(compile("".join(cells[0]["source"]), f"{notebook.name}[{tag}]", "exec"), namespace)
    return namespace


def _cell_namespace() -> dict:
    return _tagged(NOTEBOOK, TAG, {"torch": torch, "nn": torch.nn, "F": torch.nn.functional})  # its imports


@pytest.mark.parametrize("out_size", [None, (20, 20)])
def test_cell_transformer_equals_the_library_one(out_size):
    cell_class = _cell_namespace()["SpatialTransformer"]
    black = black_value("mnist")[0]
    loc, feats = models.conv_localization(1, 42)
    library = models.SpatialTransformer(loc, feats, out_size=out_size, fill=black)
    torch.manual_seed(0)
    for p in library.regressor.parameters():  # move away from the identity so the test sees a real warp
        torch.nn.init.normal_(p, std=0.1)
    cell = cell_class(models.conv_localization(1, 42)[0], feats, out_size=out_size, fill=black)
    cell.load_state_dict(library.state_dict())
    x = torch.randn(4, 1, 42, 42)
    expected = library(x)
    got = cell(x)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=1e-6)
    assert not torch.allclose(expected, torch.nn.functional.interpolate(x, size=expected.shape[-2:]), atol=1e-2)


def test_cell_transformer_starts_at_the_identity():
    cell_class = _cell_namespace()["SpatialTransformer"]
    loc, feats = models.conv_localization(1, 28)
    x = torch.rand(2, 1, 28, 28)
    assert torch.allclose(cell_class(loc, feats)(x), x, atol=1e-5)


def _numbers(text: str) -> list[float]:
    return [float(v) for v in re.findall(r"[-+]?\d+\.\d+", text)]


def _printed_after(report, marker: str) -> list[float]:
    """The two matrix rows printed right after ``marker`` in ``report``'s outputs, as six numbers."""
    printed = [
        "".join(o.get("text", ""))
        for c in json.loads(report.read_text())["cells"]
        for o in c.get("outputs", [])
        if marker in "".join(o.get("text", ""))
    ]
    assert len(printed) == 1, f"{report.name} should print {marker!r} once"
    return _numbers(" ".join(printed[0].split(marker)[1].strip().splitlines()[:2]))


def test_notebook_1_reads_back_the_theta_notebook_2_recorded():
    recorded = published_metrics("02_stn_mnist")
    theta = [recorded[f"rts_example_theta_{r}{c}"] for r in range(2) for c in range(3)]
    # notebook 2 printed the theta it recorded, and notebook 1 (report re-run after it) printed the same one
    assert _printed_after(REPORT_2, "theta the transformer produced for RTS test digit #0:") == pytest.approx(
        theta, abs=0.006
    )
    assert _printed_after(REPORT_1, "the transformer's theta:") == pytest.approx(theta, abs=0.006)
    sources = "\n".join("".join(c["source"]) for c in json.loads(NOTEBOOK_1.read_text())["cells"])
    assert 'published_metrics("02_stn_mnist")' in sources and "learned = torch.tensor([[[0" not in sources


# ---- notebook 5: the TPS grid written in the page (the cell tagged ``tps-in-code``) -----------------------------

NOTEBOOK_5 = REPO_ROOT / "notebooks" / "05_beyond_affine.ipynb"
TPS_TAG = "tps-in-code"


def _tps_cell() -> dict:
    return _tagged(NOTEBOOK_5, TPS_TAG, {"torch": torch, "F": torch.nn.functional})  # the notebook's imports


@pytest.mark.parametrize("grid_size, size, seed", [(4, (28, 28), 0), (3, (20, 12), 1), (5, (9, 9), 2)])
def test_cell_tps_grid_equals_the_library_one(grid_size, size, seed):
    from stnlib import tps

    cell = _tps_cell()
    control = tps.control_points(grid_size)
    source = control + 0.2 * torch.randn(3, grid_size**2, 2, generator=torch.Generator().manual_seed(seed))
    got, expected = cell["tps_grid"](source, size, control), tps.tps_grid(source, size)
    assert got.shape == expected.shape == (3, *size, 2)
    assert torch.allclose(got, expected, atol=1e-5), float((got - expected).abs().max())
    identity = torch.nn.functional.affine_grid(torch.eye(2, 3)[None], [1, 1, *size], align_corners=False)
    assert not torch.allclose(expected, identity, atol=1e-2)  # a real bend: the comparison can fail


def test_cell_tps_kernel_is_r2_log_r():
    cell = _tps_cell()
    r = torch.tensor([0.0, 0.5, 1.0, 2.0], dtype=torch.float64)
    expected = torch.tensor([0.0, 0.25 * math.log(0.5), 0.0, 4 * math.log(2.0)], dtype=torch.float64)  # r² log r
    assert torch.allclose(cell["tps_kernel"](r**2), expected, atol=1e-12)


def _page_sampler() -> dict:
    from stnlib import affine

    namespace = _tagged(NOTEBOOK_1, "sampler-in-code", {"torch": torch, "F": torch.nn.functional, "affine": affine})
    return _tagged(NOTEBOOK_1, "sampler-gradient", namespace)


def _random_theta(gen: torch.Generator, batch: int) -> torch.Tensor:
    eye = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    return eye + 0.6 * torch.randn(batch, 2, 3, generator=gen, dtype=torch.float64)  # reads partly outside too


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("seed, shape", [(0, (2, 3, 7, 9)), (1, (1, 1, 28, 28)), (2, (3, 2, 5, 4)), (3, (1, 1, 1, 6))])
def test_page_sampler_equals_torchs(align_corners, seed, shape):
    page = _page_sampler()
    gen = torch.Generator().manual_seed(seed)
    image = torch.rand(*shape, generator=gen, dtype=torch.float64)
    theta = _random_theta(gen, shape[0])
    out_shape = (shape[0], shape[1], shape[2] + 2, shape[3] + 1)  # another output size than the input's
    grid = page["my_affine_grid"](theta, out_shape, align_corners)
    expected_grid = torch.nn.functional.affine_grid(theta, list(out_shape), align_corners=align_corners)
    assert grid.shape == expected_grid.shape
    assert torch.allclose(grid, expected_grid, atol=1e-12)
    got = page["my_grid_sample"](image, grid, align_corners)
    expected = torch.nn.functional.grid_sample(image, expected_grid, align_corners=align_corners)
    assert (got - expected).abs().max() <= 1e-6  # issue 20's target, in fp64
    assert expected.abs().sum() > 0 and (expected == 0).any()  # a real warp that also reads outside the image


def test_page_sampler_passes_gradcheck():
    page = _page_sampler()
    gen = torch.Generator().manual_seed(4)
    theta = _random_theta(gen, 2).requires_grad_(True)
    image = torch.rand(2, 2, 5, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    for ac in (False, True):
        warp = lambda t, im, ac=ac: page["my_grid_sample"](im, page["my_affine_grid"](t, im.shape, ac), ac)  # noqa: E731
        assert torch.autograd.gradcheck(warp, (theta, image))


@pytest.mark.parametrize("seed", range(5))
def test_paper_gradient_formulas_equal_autograd(seed):
    page = _page_sampler()
    gen = torch.Generator().manual_seed(seed)
    image = torch.rand(1, 1, 9, 11, generator=gen, dtype=torch.float64)
    theta = torch.eye(2, 3, dtype=torch.float64)[None] + 0.3 * torch.randn(1, 2, 3, generator=gen, dtype=torch.float64)
    checked = 0
    for row in range(9):
        for col in range(11):
            leaf = theta.clone().requires_grad_(True)
            grid = torch.nn.functional.affine_grid(leaf, [1, 1, 9, 11], align_corners=False)
            torch.nn.functional.grid_sample(image, grid, align_corners=False)[0, 0, row, col].backward()
            by_hand = page["dV_dtheta"](image, theta, row, col)
            assert torch.allclose(by_hand, leaf.grad[0], atol=1e-8), (row, col)
            checked += bool(leaf.grad.abs().sum() > 0)
    assert checked > 50  # most pixels have a non-zero gradient: the comparison is not 0 == 0
