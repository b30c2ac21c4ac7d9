"""What the ``tools/validate_*.py`` scripts share: the validation split their designs were chosen on."""

from __future__ import annotations

import dataclasses

import torch

from stnlib.checks import check_int
from stnlib.data import ImageData


def validation_split(data: ImageData, n_val: int) -> ImageData:
    """The last ``n_val`` *training* images of ``data`` as the test set (for tuning); the real test set is dropped."""
    n = len(data.train_labels)
    n_val = check_int(n_val, "n_val", min=1, max=n - 1)
    remark = f"validation split: last {n_val:,} training images (test set unused)"
    info = dataclasses.replace(data.info, remark=f"{data.info.remark}; {remark}" if data.info.remark else remark)
    x, y, k = data.train_images, data.train_labels, n - n_val
    return dataclasses.replace(
        data,
        train_images=x[:k],
        train_labels=y[:k],
        test_images=x[k:],
        test_labels=y[k:],
        test_is_exact=torch.ones(n_val, dtype=torch.bool),
        info=info,
        test_params=None,
    )
