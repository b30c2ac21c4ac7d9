"""What the repository publishes reads the same anywhere: no machine's absolute paths in the committed reports,
``metrics.json``, README or CONTRIBUTING, and report 04's GIFs render as images in nbconvert's HTML (what nbviewer
shows), not as the text of a Python object."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest

from stnlib.gifs import gif_info, write_gif

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "reports"
#: An absolute POSIX path (``/work/data``, two segments at least, not part of a URL or a relative path) or a
#: Windows drive path (``C:\\data``).
ABSOLUTE = re.compile(r"(?<![\w.~:/\\-])(/(?:[\w.@+-]+/)+[\w.@+-]*|[A-Za-z]:\\[\w.-]+)")
EMBEDDED = re.compile(r"data:image/[a-z]+;base64,[A-Za-z0-9+/=]+")  # pictures, not text


def absolute_paths(text: str) -> list[str]:
    """Absolute paths in ``text`` (embedded base64 pictures skipped).

    >>> absolute_paths("MNIST from folder /work/shared/data (mnist.npz); see https://x.org/a/b and ../shared/data")
    ['/work/shared/data']
    >>> absolute_paths(r"C:\\Users\\me, 1/0.8, ±45° / 2, [link](../assets/a.gif), `$STNLIB_DATA`")
    ['C:\\\\Users']
    """
    return ABSOLUTE.findall(EMBEDDED.sub("", text))


def _output_text(cell: dict) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append("".join(out.get("text", "")))
        parts += [
            "".join(v) if isinstance(v, list) else str(v)
            for k, v in out.get("data", {}).items()
            if k.startswith("text/") or k.endswith("json")
        ]
        parts += out.get("traceback", [])
    return "\n".join(parts)


@pytest.mark.parametrize("report", sorted(REPORTS.glob("*.ipynb")), ids=lambda p: p.name)
def test_no_absolute_path_in_a_committed_report(report):
    cells = json.loads(report.read_text())["cells"]
    found = {i: absolute_paths(_output_text(c)) for i, c in enumerate(cells)}
    assert not {i: p for i, p in found.items() if p}, f"{report.name}: absolute paths in outputs (cell: paths)"


@pytest.mark.parametrize("stem", sorted(json.loads((REPORTS / "metrics.json").read_text())))
def test_no_absolute_path_in_metrics_json(stem):
    entry = json.loads((REPORTS / "metrics.json").read_text())[stem]
    assert not absolute_paths(json.dumps(entry, ensure_ascii=False)), f"metrics.json[{stem!r}]"


@pytest.mark.parametrize("page", ["README.md", "CONTRIBUTING.md"])
def test_no_absolute_path_in_the_pages(page):
    text = (ROOT / page).read_text()
    found = absolute_paths(text)
    assert not found, f"{page}: {found}"


def test_a_gif_displays_as_an_img_holding_its_own_bytes(tmp_path):
    frames = [np.full((4, 6, 3), v, np.uint8) for v in (0, 128, 255)]
    info = gif_info(write_gif(frames, tmp_path / "a.gif", [100, 100, 300]))
    bundle = info._repr_mimebundle_()
    assert set(bundle) == {"text/html", "text/plain"}  # no image/gif: nbconvert and GitHub would print its repr
    src = re.fullmatch(r'<img src="data:image/gif;base64,([^"]+)" alt="([^"]*)" width="6">', bundle["text/html"])
    assert src and base64.b64decode(src[1]) == (tmp_path / "a.gif").read_bytes()
    assert src[2] == info.describe() == bundle["text/plain"]


def test_report_04_gifs_render_in_nbconvert_html():
    nbconvert = pytest.importorskip("nbconvert")
    html, _ = nbconvert.HTMLExporter().from_filename(str(REPORTS / "04_stn_learning_gif.ipynb"))
    assert "IPython.core.display.Image object" not in html
    gifs = re.findall(r'<img [^>]*src="data:image/gif;base64,', html)
    assert len(gifs) == 3, f"expected the three GIFs as <img> tags, found {len(gifs)}"
