"""Real-data checks on MNIST, the FF paper's own dataset: the files load as published, and both the faithful
recipe (configs/hinton-mnist.yaml) and ours (configs/mnist-mlp.yaml) learn it in a short run.

The data are the ``mnist/`` folder of ``--data-dir`` (default ``$FF_DATA_DIR``); without it the checks
skip. Not benchmarks: docs/results.md reports the full runs; these are floors a broken piece would fall
through.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from forwardforward.data import DataSplits, load
from forwardforward.experiment.build import build_network, build_trainer, sample_shape
from forwardforward.experiment.config import load_config

pytestmark = pytest.mark.slow

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture(scope="module")
def splits(real_data: Callable[[str], Path]) -> DataSplits:
    """Real MNIST, never downloaded: a missing folder skips."""
    return load("mnist", real_data("mnist"), download=False)


def test_real_mnist_is_the_published_set(splits: DataSplits) -> None:
    train, test = splits.train, splits.test
    assert (len(train), len(test)) == (60000, 10000)
    assert tuple(train.x.shape[1:]) == (1, 28, 28)
    assert float(train.x.min()) == 0.0 and float(train.x.max()) == 1.0
    # The class counts LeCun and Cortes publish for the two splits.
    assert torch.bincount(train.y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert torch.bincount(test.y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _short_run(splits: DataSplits, config: str, overrides: list[str]) -> dict:
    """Train ``config`` with ``overrides`` on a seeded 10,000-image draw; evaluate on 2,000 test images."""
    gen = torch.Generator().manual_seed(0)
    train = splits.train.subset(torch.randperm(len(splits.train), generator=gen)[:10000])
    test = splits.test.subset(torch.arange(2000))
    cfg = load_config(CONFIGS / config, [*overrides, "trainer.progress=false", "trainer.threads=1"])
    net = build_network(cfg, sample_shape(train), train.num_classes)
    build_trainer(cfg, net).fit(train, cfg.trainer.epochs, cfg.trainer.batch_size)
    return net.evaluate(test)


def test_our_mnist_recipe_learns_in_two_epochs(splits: DataSplits) -> None:
    """Ours, shrunk to 2x256 and 2 epochs (80 steps): measured 85.80% goodness, 86.80% head. Chance is
    10%; the floor leaves room for other CPUs' kernels, not for a broken piece."""
    result = _short_run(splits, "mnist-mlp.yaml", ["model.hidden=[256,256]", "trainer.epochs=2"])
    assert result["accuracy"] > 0.80, result
    assert result["head_accuracy"] > 0.80, result


def test_hintons_mnist_recipe_learns_in_one_epoch(splits: DataSplits) -> None:
    """His recipe (every value of ffnew.m), shrunk to 4x256 and 1 epoch (100 steps): measured 51.65%
    goodness, 80.65% head; his slow start (the goodness lags the head early on) is part of the recipe.
    Before his input scaling and initialisation were reproduced, this architecture stayed at chance."""
    result = _short_run(splits, "hinton-mnist.yaml", ["model.hidden=[256,256,256,256]", "trainer.epochs=1"])
    assert result["accuracy"] > 0.40, result
    assert result["head_accuracy"] > 0.72, result
