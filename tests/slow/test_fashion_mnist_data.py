"""The real Fashion-MNIST files (``--data-dir``, default ``$FF_DATA_DIR``) load with the documented shapes
and balance."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from forwardforward.data import load

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def root(real_data: Callable[[str], Path]) -> Path:
    return real_data("fashion-mnist")


def test_real_fashion_mnist(root: Path) -> None:
    splits = load("fashion-mnist", root, download=False)  # its speed: benchmarks/load_speed.py

    train, test = splits.train, splits.test
    assert (len(train), len(test)) == (60000, 10000)
    for ds in (train, test):
        assert ds.image_shape == (1, 28, 28) and ds.input_dim == 784
        assert ds.num_classes == 10 and ds.classes is not None and len(ds.classes) == 10
        assert ds.x.dtype == torch.float32 and ds.y.dtype == torch.int64
        assert float(ds.x.min()) == 0.0 and float(ds.x.max()) == 1.0
    assert torch.bincount(train.y, minlength=10).tolist() == [6000] * 10
    assert torch.bincount(test.y, minlength=10).tolist() == [1000] * 10
    assert train.classes is not None and train.classes[0] == "T-shirt/top"


def test_real_fashion_mnist_val_split(root: Path) -> None:
    splits = load("fashion-mnist", root, download=False, val_fraction=0.1, seed=0)
    assert splits.val is not None
    assert (len(splits.train), len(splits.val)) == (54000, 6000)
