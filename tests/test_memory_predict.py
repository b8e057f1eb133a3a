"""Issue 7, memory and prediction: the layer-wise step equals the one-backward step, and all-label scoring
(batched, pruned) agrees with the naive one-forward-per-label loop."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from conftest import INPUT_DIM, NUM_CLASSES

import forwardforward as ff
from forwardforward import FFNetwork, Trainer
from forwardforward.experiment.build import build_network, build_trainer


def _one_step_weights(
    make_net: Callable[..., FFNetwork], layerwise: bool, optimizer: str, steps: int = 2, **net_kwargs: object
) -> dict[str, torch.Tensor]:
    net = make_net(seed=3, dims=[INPUT_DIM, 24, 24, 24], **net_kwargs)
    kwargs = {"momentum": 0.9} if optimizer == "sgd" else {}
    trainer = Trainer(
        net,
        negatives="hard",
        optimizer=optimizer,
        lr=0.05,
        optimizer_kwargs=kwargs,
        seed=5,
        progress=False,
        layerwise_step=layerwise,
    )
    gen = torch.Generator().manual_seed(9)
    for _ in range(steps):
        x = torch.randn(32, INPUT_DIM, generator=gen)
        y = torch.randint(0, NUM_CLASSES, (32,), generator=gen)
        trainer.train_step(x, y)
    return {k: v.clone() for k, v in net.state_dict().items()}


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
@pytest.mark.parametrize("peer_norm", [0.0, 0.03])
def test_layerwise_step_gives_the_same_weights(
    make_net: Callable[..., FFNetwork], optimizer: str, peer_norm: float
) -> None:
    default = _one_step_weights(make_net, False, optimizer, peer_norm=peer_norm)
    layerwise = _one_step_weights(make_net, True, optimizer, peer_norm=peer_norm)
    assert default.keys() == layerwise.keys()
    for k in default:
        torch.testing.assert_close(layerwise[k], default[k], rtol=0, atol=1e-7, msg=k)


def test_layerwise_step_from_config_and_trains(blobs_train: ff.data.ArrayDataset) -> None:
    cfg = ff.load_config(
        None, ["model.hidden=[32,32]", "trainer.layerwise_step=true", "trainer.progress=false"]
    )
    net = build_network(cfg, blobs_train.input_dim, blobs_train.num_classes)
    trainer = build_trainer(cfg, net)
    assert trainer.layerwise_step
    history = trainer.fit(blobs_train, 2, 64)
    assert all(torch.isfinite(torch.tensor(v)) for k, v in history[-1].items() if k.startswith("loss/"))


def test_bf16_autocast_step_is_finite(make_net: Callable[..., FFNetwork]) -> None:
    trainer = Trainer(make_net(), negatives="random", progress=False, autocast="bf16")
    row = trainer.train_step(torch.randn(16, INPUT_DIM), torch.arange(16) % NUM_CLASSES)
    assert all(torch.isfinite(torch.tensor(v)) for v in row.values())
    with pytest.raises(ValueError, match="autocast"):
        Trainer(make_net(), progress=False, autocast="fp8")


@pytest.mark.parametrize("labels", ["append", "overlay"])
def test_batched_label_goodness_equals_naive_loop(make_net: Callable[..., FFNetwork], labels: str) -> None:
    net = make_net(dims=[INPUT_DIM, 24, 24, 24], labels=labels)
    x = torch.randn(40, INPUT_DIM)
    torch.testing.assert_close(net.label_goodness(x, chunk_size=64), net.label_goodness_naive(x))


def test_pruned_scores_with_all_labels_kept_equal_full_scores(make_net: Callable[..., FFNetwork]) -> None:
    net = make_net(dims=[INPUT_DIM, 24, 24, 24])
    x = torch.randn(50, INPUT_DIM)
    full = net.scores(x)
    for cut in (1, 2, 3):
        pruned = net.scores(x, keep=NUM_CLASSES, prune_after=cut, chunk_size=64)
        torch.testing.assert_close(pruned, full)
        assert torch.equal(pruned.argmax(1), full.argmax(1))
    assert torch.equal(net.predict(x, keep=NUM_CLASSES), full.argmax(1))


def test_pruned_scores_keep_k_candidates(make_net: Callable[..., FFNetwork]) -> None:
    net = make_net(dims=[INPUT_DIM, 24, 24, 24])
    x = torch.randn(30, INPUT_DIM)
    full = net.scores(x)
    pruned = net.scores(x, keep=2, prune_after=2)  # rank by layer 1 (the first scoring layer)
    finite = torch.isfinite(pruned)
    assert (finite.sum(1) == 2).all()
    # Survivors are the top 2 by layer 1's goodness, and keep their full scores.
    top = net.label_goodness(x)[:, :, 1].topk(2, dim=1).indices
    assert torch.equal(finite, torch.zeros_like(finite).scatter(1, top, True))
    torch.testing.assert_close(pruned[finite], full[finite])


def test_pruning_arguments_are_checked(make_net: Callable[..., FFNetwork]) -> None:
    net = make_net()
    x = torch.randn(4, INPUT_DIM)
    with pytest.raises(ValueError, match="keep"):
        net.scores(x, keep=0)
    with pytest.raises(ValueError, match="prune_after"):
        net.scores(x, keep=2, prune_after=5)


def test_features_unchanged_by_memory_saving(make_net: Callable[..., FFNetwork]) -> None:
    net = make_net(dims=[INPUT_DIM, 24, 24, 24])
    x = torch.randn(8, INPUT_DIM)
    acts = net.activities(net.embed_neutral(x))
    expected = torch.cat([net.layers[i].pass_on(acts[i]) for i in (0, 2)], 1)
    torch.testing.assert_close(net.features(x, layers=[0, 2]), expected)
