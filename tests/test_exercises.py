"""The notebooks' code exercises: each cell tagged ``exercise`` is followed by a collapsed answer (a Markdown
``<details>`` block holding a Python block) and by a cell tagged ``exercise-check``. For every exercise:

* as shipped (nothing written yet) the check says "not tried yet" and raises nothing, so Run all works;
* with the collapsed answer in place of the exercise cell the check passes;
* with a wrong answer (:data:`WRONG`, one per exercise) the check fails.

Only the notebook's imports run first (the import statements of its cells), never its training.
"""

import ast
import json
import re

import pytest

from stnlib.env import REPO_ROOT

NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ANSWER = re.compile(r"<details>.*?```python\n(.*?)```.*?</details>", re.S)
#: A plausible wrong answer per exercise function (the name the exercise cell defines): each check must catch it.
WRONG = {
    "my_tps_kernel": "def my_tps_kernel(r2):\n    return r2 * torch.log(r2.clamp_min(1e-12))  # r² log r², twice U\n",
    "attention_theta": (
        "def attention_theta(s, tx, ty):\n"
        "    zero = torch.zeros_like(s)\n"
        "    return torch.stack([torch.stack([s, zero, -tx], -1), torch.stack([zero, s, -ty], -1)], -2)  # sign\n"
    ),
    "my_nearest_sample": (
        "def my_nearest_sample(image, grid):\n"
        "    B, C, H, W = image.shape\n"
        "    m = (((grid[..., 0] + 1) * W - 1) / 2).floor()  # floor, not the nearest pixel\n"
        "    n = (((grid[..., 1] + 1) * H - 1) / 2).floor()\n"
        "    inside = (m >= 0) & (m <= W - 1) & (n >= 0) & (n <= H - 1)\n"
        "    index = (n.clamp(0, H - 1) * W + m.clamp(0, W - 1)).long().flatten(1)\n"
        "    values = image.flatten(2).gather(2, index.unsqueeze(1).expand(-1, C, -1)).view(B, C, *m.shape[1:])\n"
        "    return values * inside.unsqueeze(1)\n"
    ),
    "turn_theta": (
        "import math\n\n\ndef turn_theta(degrees):\n"
        "    a = math.radians(degrees)\n"
        "    return torch.tensor([[[math.cos(a), math.sin(a), 0.0], [-math.sin(a), math.cos(a), 0.0]]])  # clockwise\n"
    ),
    "centre_error_px": (
        "def centre_error_px(theta, digit_px, canvas):\n"
        "    return (theta[:, :, 2] * canvas - digit_px).norm(dim=1)  # a unit is half the canvas, not all of it\n"
    ),
    "region_width_px": (
        "def region_width_px(theta, canvas):\n"
        "    return theta[:, 0, 0].abs() * canvas  # one entry: wrong once the region turns or is not square\n"
    ),
    "turn_maps": (
        "def turn_maps(maps, degrees):\n"
        "    theta = affine.build_theta(rotation=-degrees).expand(len(maps), -1, -1)  # clockwise\n"
        "    return affine.warp(maps, theta)\n"
    ),
    "start_bias": "def start_bias(zoom):\n    return torch.tensor([zoom, 0.0, 0.0, 0.0, zoom, 0.0])  # zooms out\n",
    "turn_of": (
        "def turn_of(theta):\n    return torch.rad2deg(torch.atan2(theta[:, 0, 1], theta[:, 0, 0]))  # the other sign\n"
    ),
    "centre_spread_px": (
        "def centre_spread_px(theta, canvas):\n    return float(theta[:, 0, 2].std())  # normalized units, not pixels\n"
    ),
    "slope": (
        "def slope(applied, undone):\n"
        "    a, u = applied - applied.mean(), undone - undone.mean()\n"
        "    return float((a * u).sum() / (u * u).sum())  # applied against undone: the other regression\n"
    ),
    "corners_of": (
        "def corners_of(h):\n"
        "    square = torch.tensor([[-1.0, -1.0, 1.0], [1.0, -1.0, 1.0], [1.0, 1.0, 1.0], [-1.0, 1.0, 1.0]])\n"
        "    return (square @ h.transpose(1, 2))[..., :2]  # no perspective divide\n"
    ),
}


def _exercises() -> list[tuple[str, str, str, str, str]]:
    """``(id, imports, exercise, answer, check)`` for every exercise of every notebook."""
    found = []
    for path in NOTEBOOKS:
        cells = json.loads(path.read_text())["cells"]
        sources = ["".join(c["source"]) for c in cells]
        if not any("exercise" in c["metadata"].get("tags", []) for c in cells):
            continue
        imports = "\n".join(
            ast.unparse(node)
            for c, src in zip(cells, sources)
            if c["cell_type"] == "code" and "colab-setup" not in c["metadata"].get("tags", [])
            for node in ast.parse(src).body
            if isinstance(node, ast.Import | ast.ImportFrom)
        )
        for i, c in enumerate(cells):
            if "exercise" not in c["metadata"].get("tags", []):
                continue
            answer = next(ANSWER.search(sources[j]) for j in range(i + 1, len(cells)) if ANSWER.search(sources[j]))
            checks = [j for j in range(i + 1, len(cells)) if "exercise-check" in cells[j]["metadata"].get("tags", [])]
            check = sources[checks[0]]
            name = re.search(r"^def (\w+)", sources[i], re.M)[1]
            found.append((f"{path.stem}:{name}", imports, sources[i], answer[1], check))
    return found


EXERCISES = _exercises()


def _run(imports: str, exercise: str, check: str, capsys) -> str:
    namespace: dict = {}
    exec(compile(f"{imports}\n{exercise}\n{check}", "<exercise>", "exec"), namespace)
    return capsys.readouterr().out


def test_every_exercise_has_a_wrong_answer_to_test_against():
    assert EXERCISES, "no exercise cells found"
    assert {e[0].split(":")[1] for e in EXERCISES} <= set(WRONG)


@pytest.mark.parametrize("ident, imports, exercise, answer, check", EXERCISES, ids=[e[0] for e in EXERCISES])
def test_check_waits_passes_on_the_answer_and_fails_on_a_wrong_one(ident, imports, exercise, answer, check, capsys):
    assert "not tried yet" in _run(imports, exercise, check, capsys)
    assert "correct" in _run(imports, answer, check, capsys)
    with pytest.raises(AssertionError, match="not yet"):
        _run(imports, WRONG[ident.split(":")[1]], check, capsys)
