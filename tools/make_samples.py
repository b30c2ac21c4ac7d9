"""Build assets/samples/ from the offline datasets in ../shared/data (exact images only).

Usage: python -m tools.make_samples [--data ../shared/data] [--per-class 50] [--out assets/samples]

Takes the first ``per-class`` test images of every class, in test-set order, from
the images known to be exact: all of MNIST's test set, and CIFAR-10's
``test_is_exact`` subset (the first 1,000 test images). Writes one compressed
``.npz`` per dataset with ``images`` (uint8, N x H x W for MNIST, N x H x W x 3 for
CIFAR-10), ``labels`` (uint8), ``test_indices`` (positions in the official test set)
and ``classes``. Deterministic: the same input gives the same arrays.
"""

from __future__ import annotations

import argparse
import hashlib
import io
from pathlib import Path

import numpy as np

from stnlib.env import REPO_ROOT, SAMPLES
from stnlib.runs import atomic_write_bytes

CLASSES = {
    "mnist": [str(i) for i in range(10)],
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
}


def pick(labels: np.ndarray, allowed: np.ndarray, per_class: int) -> np.ndarray:
    chosen = []
    for c in range(10):
        idx = np.flatnonzero((labels == c) & allowed)[:per_class]
        if len(idx) < per_class:
            raise SystemExit(f"only {len(idx)} exact test images of class {c}, wanted {per_class}")
        chosen.append(idx)
    return np.sort(np.concatenate(chosen))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "data")
    parser.add_argument("--per-class", type=int, default=50)
    parser.add_argument("--out", type=Path, default=SAMPLES)
    args = parser.parse_args(argv)
    for name in ("mnist", "cifar10"):
        src = args.data / f"{name}.npz"
        if not src.exists():
            raise SystemExit(f"{src} not found: this script needs the offline dataset copies in ../shared/data")
        with np.load(src) as d:
            x, y = d["x_test"], d["y_test"].astype(np.uint8).reshape(-1)
            exact = d["test_is_exact"].astype(bool) if "test_is_exact" in d.files else np.ones(len(y), bool)
        idx = pick(y, exact, args.per_class)
        buf = io.BytesIO()
        np.savez_compressed(
            buf, images=x[idx], labels=y[idx], test_indices=idx.astype(np.int32), classes=np.array(CLASSES[name])
        )
        out = args.out / f"{name}_test_samples.npz"
        atomic_write_bytes(out, buf.getvalue())
        digest = hashlib.sha256(src.read_bytes()).hexdigest()[:16]
        print(f"{out}: {len(idx)} images {x[idx].shape[1:]}, from {src.name} (sha256 {digest}...)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
