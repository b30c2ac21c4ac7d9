"""tools/validation.py: the validation split the validate_* tools choose designs on."""

import numpy as np
import pytest
import torch

from stnlib.checks import ArgumentTypeError
from stnlib.data import DataInfo, ImageData
from tools.validation import validation_split


def _data(n_train: int = 8) -> ImageData:
    images = torch.arange(n_train, dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 4, 4).contiguous()
    return ImageData(
        images,
        torch.arange(n_train) % 10,
        images[:3],
        torch.zeros(3, dtype=torch.int64),
        torch.ones(3, dtype=torch.bool),
        tuple("0123456789"),
        DataInfo("mnist", "test", remark="tiny"),
        (0.5,),
        (0.25,),
    )


def test_the_last_training_images_become_the_test_set():
    val = validation_split(_data(), np.int64(3))
    assert val.train_images[:, 0, 0, 0].tolist() == [0, 1, 2, 3, 4] and val.test_labels.tolist() == [5, 6, 7]
    assert bool(val.test_is_exact.all()) and val.test_params is None
    assert val.info.remark == "tiny; validation split: last 3 training images (test set unused)"


@pytest.mark.parametrize(("n_val", "error"), [(0, ValueError), (8, ValueError), (2.5, ArgumentTypeError)])
def test_a_split_needs_images_on_both_sides(n_val, error):
    with pytest.raises(error, match="n_val"):
        validation_split(_data(), n_val)
