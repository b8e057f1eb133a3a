"""Real-data check: a small FF MLP learns Fashion-MNIST far above chance in seconds.

Not a benchmark (benchmarks/time_to_accuracy.py measures the full recipe); a guard that the pieces work
together on real images: 10,000 training images, 3 epochs of batch 64, evaluated on 2,000 test images.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import forwardforward as ff
from forwardforward.experiment.build import build_network, build_trainer, sample_shape

pytestmark = pytest.mark.slow

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_ff_mlp_learns_real_fashion_mnist(real_data: Callable[[str], Path]) -> None:
    splits = ff.data.load("fashion-mnist", real_data("fashion-mnist"), download=False)
    gen = torch.Generator().manual_seed(0)
    train = splits.train.subset(torch.randperm(len(splits.train), generator=gen)[:10000])
    test = splits.test.subset(torch.arange(2000))
    cfg = ff.load_config(
        CONFIGS / "fmnist-mlp.yaml",
        ["model.hidden=[256,256]", "trainer.epochs=3", "trainer.batch_size=64", "trainer.progress=false"],
    )
    net = build_network(cfg, sample_shape(train), train.num_classes)
    history = build_trainer(cfg, net).fit(train, 3, cfg.trainer.batch_size)
    result = net.evaluate(test)
    # Chance is 10%; a linear model on 10k images gets ~80%. Both readouts must be well above chance,
    # and every layer must have learned to separate positives from negatives.
    assert result["accuracy"] > 0.72, result
    assert result["head_accuracy"] > 0.72, result
    for i in range(len(cfg.model.hidden)):
        assert history[-1][f"sep/{i}"] > history[0][f"sep/{i}"] - 0.02
        assert history[-1][f"sep/{i}"] > 0.75


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_configs_load_and_build(path: Path) -> None:
    """Every shipped config passes the strict schema and builds its network (no training)."""
    cfg = ff.load_config(path)
    shape = (3, 32, 32) if str(cfg.data.name).startswith("cifar") else (1, 28, 28)
    if cfg.model.kind == "cnn":  # conv layers: their channels
        net = build_network(cfg, shape, 100 if cfg.data.name == "cifar100" else 10)
        assert [layer.block.out_channels for layer in net.layers] == [c.channels for c in cfg.model.conv]
    else:
        net = build_network(cfg, 784, 10)
        assert [layer.num_units for layer in net.layers] == list(cfg.model.hidden)
    images = SimpleNamespace(x=torch.rand(8, *shape))  # what the user's bad data is shaped like
    build_trainer(cfg, net, train=images)
