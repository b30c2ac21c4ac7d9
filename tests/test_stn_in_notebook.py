"""The spatial transformer written out in notebook 2 computes what ``stnlib.models.SpatialTransformer`` computes."""

import json

import pytest
import torch

from stnlib import models
from stnlib.paths import REPO_ROOT

NOTEBOOK = REPO_ROOT / "notebooks" / "02_stn_mnist.ipynb"
TAG = "stn-in-code"


def _cell_namespace() -> dict:
    cells = [c for c in json.loads(NOTEBOOK.read_text())["cells"] if TAG in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"expected one cell tagged {TAG!r} in {NOTEBOOK.name}, found {len(cells)}"
    namespace: dict = {"torch": torch, "nn": torch.nn, "F": torch.nn.functional}  # the notebook's imports
    exec(compile("".join(cells[0]["source"]), f"{NOTEBOOK.name}[{TAG}]", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("out_size", [None, (20, 20)])
def test_cell_transformer_equals_the_library_one(out_size):
    cell_class = _cell_namespace()["SpatialTransformer"]
    black = -0.1307 / 0.3081
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
