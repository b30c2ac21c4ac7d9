"""Reading time of each notebook, as issue 20 counts it: words of Markdown / 200 + lines of code / 10, in minutes.

Usage: python -m tools.reading_time   (prints one line per notebook in ``notebooks/``)

Words are whitespace-separated tokens of the Markdown cells (formulas and link targets count as written);
code lines are the non-blank lines of the code cells, except the Colab setup cell (tagged ``colab-setup``),
which a student never reads, and cells whose source is hidden in Jupyter (``jupyter.source_hidden``).
"""

from __future__ import annotations

import json
from pathlib import Path

from tools.notebook_info import NOTEBOOKS_DIR

WORDS_PER_MIN, CODE_LINES_PER_MIN = 200, 10


def reading_minutes(path: Path) -> tuple[float, int, int]:
    """``(minutes, words, code lines)`` of the notebook at ``path``."""
    words = lines = 0
    for cell in json.loads(Path(path).read_text())["cells"]:
        source = "".join(cell["source"])
        meta = cell.get("metadata", {})
        if cell["cell_type"] == "markdown":
            words += len(source.split())
        elif cell["cell_type"] == "code" and "colab-setup" not in meta.get("tags", []):
            if not meta.get("jupyter", {}).get("source_hidden"):
                lines += sum(1 for ln in source.splitlines() if ln.strip())
    return words / WORDS_PER_MIN + lines / CODE_LINES_PER_MIN, words, lines


def main() -> int:
    for path in sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb")):
        minutes, words, lines = reading_minutes(path)
        print(f"{path.stem:<22} {minutes:5.1f} min  ({words:,} words, {lines} code lines)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
