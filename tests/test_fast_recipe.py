"""Issue 22, the fast MLP recipe's pieces: torch's fused optimiser step (trainer.fused), centred inputs and
scoring with both layers, as configs/fmnist-mlp.yaml sets them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import forwardforward as ff
from forwardforward.experiment.build import (
    build_network,
    build_trainer,
    has_fused_kernel,
    load_data,
    optimizer_kwargs,
    sample_shape,
)

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize(
    ("name", "fused"), [("adam", True), ("AdamW", True), ("sgd", True), ("rmsprop", False)]
)
def test_trainer_fused_asks_only_optimisers_that_have_the_kernel(name: str, fused: bool) -> None:
    assert has_fused_kernel(name) is fused
    cfg = ff.load_config(None, [f"trainer.optimizer={name}", "trainer.fused=true"])
    assert optimizer_kwargs(cfg).get("fused", False) is fused
    assert not has_fused_kernel("smoothed_sgd")  # ours has none: trainer.fused leaves it alone


def test_the_fused_adam_step_is_the_same_rule() -> None:
    """Two seeded runs on the bundled digits, one with trainer.fused: the same weights up to float
    rounding after a few hundred steps, and the fused run's optimiser really is fused."""
    weights = []
    for fused in (False, True):
        cfg = ff.load_config(
            None,
            [
                "model.hidden=[40,40]",
                "trainer.epochs=1",
                "trainer.batch_size=32",
                "trainer.lr=0.003",
                "data.train_subset=640",
                "trainer.progress=false",
                f"trainer.fused={str(fused).lower()}",
            ],
        )
        splits = load_data(cfg)
        net = build_network(cfg, sample_shape(splits.train), splits.train.num_classes)
        trainer = build_trainer(cfg, net)
        assert trainer.optimizer.defaults.get("fused") is (True if fused else None)
        trainer.fit(splits.train, 1, cfg.trainer.batch_size)
        weights.append([p.detach().clone() for p in net.parameters()])
    for a, b in zip(*weights):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_the_fast_recipe_centres_its_data_and_scores_with_both_layers() -> None:
    cfg = ff.load_config(CONFIGS / "fmnist-mlp.yaml")
    assert cfg.data.center and list(cfg.model.score_layers) == [0, 1]
    assert cfg.trainer.epochs == 5 and cfg.trainer.fused
    net = build_network(cfg, 784, 10)
    assert net.score_layers == [0, 1]
