"""Unsupervised FF: negative images (hybrid, SCFF, user), the label-free trainer, and their errors."""

from __future__ import annotations

import pytest
import torch

from forwardforward import FFNetwork, Trainer
from forwardforward.data import ArrayDataset
from forwardforward.experiment.build import build_network
from forwardforward.experiment.config import ConfigError, load_config
from forwardforward.negatives import NEGATIVES
from forwardforward.negatives.images import (
    HybridNegatives,
    NegativeSourceError,
    SelfContrastivePairs,
    UserNegatives,
    hybrid_masks,
)


def smooth_images(n: int, seed: int, size: int = 8) -> torch.Tensor:
    """``[n, 1, size, size]`` images of one or two Gaussian bumps: structure a hybrid breaks."""
    g = torch.Generator().manual_seed(seed)
    grid = torch.arange(size).float()
    yy, xx = torch.meshgrid(grid, grid, indexing="ij")
    centre = torch.rand(n, 2, generator=g) * (size - 3) + 1.5
    d2 = (yy - centre[:, 0, None, None]) ** 2 + (xx - centre[:, 1, None, None]) ** 2
    return torch.exp(-d2 / 4.0).unsqueeze(1)


#: A label-free conv net learning from hybrids, as a config says it; tests add the conv layers and pieces.
UNSUP_CNN = ["model.kind=cnn", "model.labels=none", "model.head=false", "trainer.negatives=hybrid"]
#: Dense goodness with a logistic loss around 1 (the conv tests' default pieces).
DENSE_LOGISTIC = ["model.goodness=meansq", "model.loss=softplus", "model.threshold=1.0"]


def unsup_net(dims: list[int], seed: int = 0) -> FFNetwork:
    torch.manual_seed(seed)
    return FFNetwork.mlp(dims, num_classes=None, labels=None, head=False, goodness="meansq", loss="symba")


# ---------------------------------------------------------------------- hybrid masks
def test_masks_are_binary_blobs_about_half_on() -> None:
    m = hybrid_masks(64, 28, 28, blur_steps=6, generator=torch.Generator().manual_seed(0))
    assert m.shape == (64, 1, 28, 28)
    assert set(m.unique().tolist()) <= {0.0, 1.0}
    # Neighbouring pixels agree far more often than independent bits (0.5).
    agree_h = (m[..., 1:] == m[..., :-1]).float().mean()
    agree_v = (m[..., 1:, :] == m[..., :-1, :]).float().mean()
    assert agree_h > 0.85 and agree_v > 0.85
    assert 0.3 < float(m.mean()) < 0.7
    bits = hybrid_masks(64, 28, 28, blur_steps=0, generator=torch.Generator().manual_seed(0))
    assert abs(float((bits[..., 1:] == bits[..., :-1]).float().mean()) - 0.5) < 0.02


def test_more_blurring_gives_larger_blobs() -> None:
    def agreement(steps: int) -> float:
        m = hybrid_masks(64, 28, 28, blur_steps=steps, generator=torch.Generator().manual_seed(1))
        return float((m[..., 1:] == m[..., :-1]).float().mean())

    assert agreement(1) < agreement(4) < agreement(12)


def test_masks_are_seeded() -> None:
    a = hybrid_masks(8, 12, 12, generator=torch.Generator().manual_seed(3))
    b = hybrid_masks(8, 12, 12, generator=torch.Generator().manual_seed(3))
    c = hybrid_masks(8, 12, 12, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_hybrids_mix_two_different_images_and_both_contribute() -> None:
    n = 32
    x = torch.arange(1, n + 1).float().view(n, 1, 1, 1).expand(n, 1, 16, 16).contiguous()  # image i == i+1
    neg = HybridNegatives(blur_steps=3)(x, torch.Generator().manual_seed(0))[1]
    both = 0
    for i in range(n):
        values = set(neg[i].unique().tolist())
        own = float(i + 1)
        others = values - {own}
        assert len(others) <= 1, "a hybrid takes its pixels from exactly two images"
        assert values <= {own} | others
        if own in values and others:
            both += 1
            assert others != {own}
    assert both >= 0.9 * n  # a mask all 0 or all 1 is rare at this size


def test_hybrid_partner_is_never_the_image_itself() -> None:
    x = torch.arange(2).float().view(2, 1, 1, 1).expand(2, 1, 8, 8).contiguous()
    for seed in range(5):
        neg = HybridNegatives(blur_steps=1).negatives(x, torch.Generator().manual_seed(seed))
        assert (neg[0] != 0).any() or (neg[1] != 1).any()
        assert set(neg.unique().tolist()) <= {0.0, 1.0}


def test_hybrid_needs_images_and_two_of_them() -> None:
    with pytest.raises(NegativeSourceError, match=r"images \[batch, channels, height, width\]"):
        HybridNegatives().negatives(torch.rand(4, 64))
    with pytest.raises(NegativeSourceError, match="at least 2"):
        HybridNegatives().negatives(torch.rand(1, 1, 8, 8))


def test_scff_positive_is_the_image_and_negative_the_mean_of_two_different_ones() -> None:
    x = torch.arange(1, 9).float().view(8, 1, 1, 1).expand(8, 1, 4, 4).contiguous()
    pos, neg = SelfContrastivePairs()(x, torch.Generator().manual_seed(0))
    assert torch.equal(pos, x)
    own = x[:, 0, 0, 0]
    partner = 2 * neg[:, 0, 0, 0] - own
    assert (partner != own).all()
    assert sorted(partner.tolist()) == sorted(own.tolist())  # a permutation of the batch


def test_registry_names() -> None:
    assert {"hybrid", "scff", "user"} <= set(NEGATIVES.names())
    with pytest.raises(KeyError, match="Did you mean 'hybrid'"):
        NEGATIVES.get("hybird")


# ---------------------------------------------------------------------- user negatives
def test_user_iterator_that_runs_out_fails_clearly() -> None:
    src = UserNegatives(iter([torch.rand(3, 1, 4, 4), torch.rand(2, 1, 4, 4)]))
    x = torch.rand(4, 1, 4, 4)
    assert src.negatives(x).shape == x.shape  # 3 + 1 of the next batch; 1 row carried over
    with pytest.raises(NegativeSourceError, match=r"ran out after 5 negatives.*itertools.cycle"):
        src.negatives(x)


def test_user_source_of_the_wrong_shape_fails_clearly() -> None:
    x = torch.rand(4, 1, 8, 8)
    with pytest.raises(NegativeSourceError, match=r"per-sample shape \(1, 5, 5\).*\(1, 8, 8\)"):
        UserNegatives(torch.rand(10, 1, 5, 5)).negatives(x)
    with pytest.raises(NegativeSourceError, match="asked for 4 negatives and returned 3"):
        UserNegatives(lambda n, g: torch.rand(3, 1, 8, 8)).negatives(x)
    with pytest.raises(NegativeSourceError, match="yielded a str"):
        UserNegatives(iter(["not a tensor"])).negatives(x)
    with pytest.raises(NegativeSourceError, match="must be a tensor, a dataset"):
        UserNegatives(42)


def test_user_dataset_is_sampled_with_replacement_and_seeded() -> None:
    pool = torch.rand(5, 1, 8, 8)
    src = UserNegatives(ArrayDataset.from_tensors(pool, torch.zeros(5, dtype=torch.long), 2))
    x = torch.zeros(16, 1, 8, 8)
    a = src.negatives(x, torch.Generator().manual_seed(0))
    b = src.negatives(x, torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    assert all(any(torch.equal(row, p) for p in pool) for row in a)
    for _ in range(5):  # never runs out
        src.negatives(x)
    flat = UserNegatives(torch.rand(5, 64)).negatives(x)  # flat rows of the right size are reshaped
    assert flat.shape == x.shape


def test_training_stops_with_the_message_when_the_user_source_runs_out() -> None:
    x = smooth_images(32, 0)
    data = ArrayDataset.from_tensors(x, torch.zeros(32, dtype=torch.long), 2)
    net = unsup_net([64, 16])
    batches = iter([torch.rand(8, 1, 8, 8) for _ in range(5)])  # 40 negatives: one epoch and a bit
    trainer = Trainer(net, UserNegatives(batches), progress=False)
    with pytest.raises(NegativeSourceError, match="ran out"):
        trainer.fit(data, epochs=3, batch_size=8)


# ---------------------------------------------------------------------- the trainer: no labels anywhere
def test_config_builds_a_network_with_no_label_path() -> None:
    cfg = load_config(None, ["model.labels=none", "trainer.negatives=hybrid", "model.hidden=[8,8]"])
    net = build_network(cfg, 64, 10)
    assert net.labels is None and net.head is None and net.num_classes is None
    assert net.layers[0].block.in_features == 64  # nothing appended to the pixels


def test_labels_never_reach_a_layer() -> None:
    """Training with the true labels, shuffled labels or no labels gives bit-identical weights, and the
    first layer only ever sees real images or negatives built from them."""
    x = smooth_images(48, 1)
    y = torch.arange(48) % 3
    seen: list[torch.Tensor] = []
    weights = []
    for labels in (y, y.flip(0), torch.zeros_like(y)):
        net = unsup_net([64, 16, 16])
        if not weights:
            net.layers[0].block.register_forward_pre_hook(lambda m, inp: seen.append(inp[0].detach()))
        trainer = Trainer(net, HybridNegatives(2), progress=False, seed=3)
        trainer.fit(ArrayDataset.from_tensors(x, labels, 3), epochs=2, batch_size=16)
        weights.append([p.detach().clone() for p in net.parameters()])
    for other in weights[1:]:
        assert all(torch.equal(a, b) for a, b in zip(weights[0], other))
    flat = x.flatten(1)
    for batch in seen:
        assert batch.shape[1] == 64
        pos = batch[: len(batch) // 2]
        assert all((flat == row).all(1).any() for row in pos)


def test_unsupervised_config_errors_name_the_key_to_change() -> None:
    with pytest.raises(ConfigError, match=r"set model\.labels=none"):
        load_config(None, ["trainer.negatives=hybrid"])
    with pytest.raises(ConfigError, match="needs negative images"):
        load_config(None, ["model.labels=none"])
    with pytest.raises(ValueError, match="without a label embedding"):
        Trainer(FFNetwork.mlp([16, 8], num_classes=4, labels="append"), "hybrid")


@pytest.mark.parametrize("source", ["hybrid", "scff"])
def test_an_unsupervised_layer_learns_on_synthetic_images(source: str) -> None:
    x = smooth_images(256, 2)
    data = ArrayDataset.from_tensors(x, torch.zeros(256, dtype=torch.long), 2)
    net = unsup_net([64, 32])
    trainer = Trainer(net, source, progress=False, lr=3e-3, seed=0)
    history = trainer.fit(data, epochs=8, batch_size=32)
    first, last = history[0], history[-1]
    assert last["loss/0"] < 0.85 * first["loss/0"]
    assert last["sep/0"] > first["sep/0"] + 0.02 and last["sep/0"] > 0.7


def assert_learns_to_tell_hybrids_of_smooth_images_apart(net) -> None:
    """12 epochs on 256 smooth 8x8 images and their hybrids: layer 0's loss falls, its separation rises."""
    x = smooth_images(256, 4)
    data = ArrayDataset.from_tensors(x, torch.zeros(256, dtype=torch.long), 2)
    trainer = Trainer(net, HybridNegatives(2), progress=False, lr=3e-3, seed=0)
    history = trainer.fit(data, epochs=12, batch_size=32)
    assert history[-1]["loss/0"] < 0.9 * history[0]["loss/0"]
    assert history[-1]["sep/0"] > history[0]["sep/0"] + 0.1


def test_an_unsupervised_conv_net_has_no_label_path_and_learns_from_hybrids() -> None:
    """model.kind=cnn with model.labels=none: conv layers, no label embedding or head, and hybrid negatives
    of 8x8 images are told apart better after training."""
    cfg = load_config(None, [*UNSUP_CNN, *DENSE_LOGISTIC, "model.conv=[{channels: 8, kernel: 3, pool: max}]"])
    net = build_network(cfg, (1, 8, 8), 10)
    assert net.labels is None and net.head is None and net.num_classes is None
    assert_learns_to_tell_hybrids_of_smooth_images_apart(net)


def test_topk_goodness_from_the_config_reaches_every_layer_and_learns_from_hybrids() -> None:
    """model.goodness=topk with model.topk: each conv layer counts its k strongest activities, the MLP's too,
    and the conv net still learns to tell hybrids apart (SymBa, as in the shipped config)."""
    from forwardforward.goodness import TopKMeanSquares

    topk = ["model.goodness=topk", "model.topk=4", "model.loss=symba"]
    unsup = ["model.labels=none", "model.head=false", "trainer.negatives=hybrid", *topk]
    conv_layers = "model.conv=[{channels: 8, kernel: 3, pool: max}, {channels: 8, kernel: 3}]"
    conv = load_config(None, ["model.kind=cnn", conv_layers, *unsup])
    net = build_network(conv, (1, 8, 8), 10)
    mlp = build_network(load_config(None, ["model.hidden=[8,8]", *unsup]), 64, 10)
    for layer in [*net.layers, *mlp.layers]:
        assert isinstance(layer.goodness, TopKMeanSquares) and layer.goodness.k == 4
    assert_learns_to_tell_hybrids_of_smooth_images_apart(net)


def test_greedy_schedule_trains_each_layer_on_frozen_outputs() -> None:
    x = smooth_images(128, 3)
    data = ArrayDataset.from_tensors(x, torch.zeros(128, dtype=torch.long), 2)
    net = unsup_net([64, 16, 16])
    trainer = Trainer(net, HybridNegatives(2), progress=False, schedule="greedy", lr=3e-3)
    history = trainer.fit(data, epochs=4, batch_size=32)
    assert [row["layer"] for row in history] == [0] * 4 + [1] * 4
    assert history[3]["loss/0"] < history[0]["loss/0"]
    assert history[7]["loss/1"] < history[4]["loss/1"]


def test_centered_normaliser_removes_the_common_component() -> None:
    from forwardforward.normalize import NORMALIZE

    h = torch.relu(torch.randn(6, 50)) + 3.0  # non-negative activity with a large shared offset
    out = NORMALIZE.build("centered")(h)
    assert torch.allclose(out.mean(1), torch.zeros(6), atol=1e-5)
    assert torch.allclose(out.pow(2).mean(1), torch.ones(6), atol=1e-4)
    assert torch.allclose(NORMALIZE.build("centered")(h + 10.0), out, atol=1e-4)  # the offset is gone


def test_config_user_noise_source_trains_from_the_command_line(tmp_path, capsys) -> None:
    import json

    from forwardforward.experiment.cli import main

    rc = main(
        [
            "train",
            "model.labels=none",
            "trainer.negatives=user",
            "unsup.user_source=noise",
            "model.hidden=[16]",
            "trainer.epochs=1",
            "probe.epochs=2",
            "trainer.progress=false",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert rc == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["negatives"] == "user" and 0.0 <= result["test_accuracy_probe"] <= 1.0
    rc = main(
        [
            "train",
            "model.labels=none",
            "trainer.negatives=user",
            "unsup.user_source=digits",
            "data.name=digits",
            "model.hidden=[16]",
            "trainer.epochs=1",
            "trainer.progress=false",
            "data.train_subset=64",
            "probe.epochs=1",
            "--out",
            str(tmp_path / "run2"),
        ]
    )
    assert rc == 0  # another dataset's images as bad data (here the same shape)
    capsys.readouterr()
    assert (
        main(
            [
                "train",
                "model.labels=none",
                "trainer.negatives=user",
                "unsup.user_source=nosuchset",
                "model.hidden=[16]",
                "trainer.epochs=1",
                "trainer.progress=false",
                "--out",
                str(tmp_path / "run3"),
            ]
        )
        == 2
    )
    assert "unsup.user_source='nosuchset'" in capsys.readouterr().err


def test_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path) -> None:
    x = smooth_images(64, 4)
    data = ArrayDataset.from_tensors(x, torch.zeros(64, dtype=torch.long), 2)

    def run(epochs: int, out, resume=None) -> list[torch.Tensor]:
        net = unsup_net([64, 16])
        trainer = Trainer(net, HybridNegatives(2), progress=False, seed=5, out_dir=out)
        trainer.fit(data, epochs=epochs, batch_size=16, resume=resume)
        return [p.detach().clone() for p in net.parameters()]

    straight = run(2, None)
    run(1, tmp_path / "a")
    resumed = run(2, tmp_path / "b", resume=tmp_path / "a" / "checkpoint.pt")
    assert all(torch.equal(a, b) for a, b in zip(straight, resumed))


# ------------------------------------------------------------------ Hinton's faithful pieces, unsupervised
@pytest.mark.parametrize("schedule", ["all", "greedy"])
def test_input_normalisation_reaches_every_input_unsupervised_training_feeds(schedule: str) -> None:
    """model.input_normalize=rms (Hinton's ffnormrows) with no label path: every row the first layer sees
    in training, real image or hybrid, has mean square 1, as features() (the probe's input) has. So the
    weights do not depend on the images' scale: training on 10 x the images gives the same net."""
    x = smooth_images(64, 6)
    seen: list[torch.Tensor] = []

    def train(scale: float, record: bool) -> list[torch.Tensor]:
        torch.manual_seed(0)
        net = FFNetwork.mlp(
            [64, 16, 16], num_classes=None, labels=None, head=False, input_normalize="rms", loss="symba"
        )
        if record:
            net.layers[0].block.register_forward_pre_hook(lambda m, inp: seen.append(inp[0].detach()))
        trainer = Trainer(net, HybridNegatives(2), progress=False, seed=1, lr=3e-3, schedule=schedule)
        trainer.fit(ArrayDataset.from_tensors(scale * x, torch.zeros(64, dtype=torch.long), 2), 2, 16)
        return [p.detach().clone() for p in net.parameters()]

    plain, scaled = train(1.0, True), train(10.0, False)
    assert seen and all(torch.allclose(b.pow(2).mean(1), torch.ones(len(b)), atol=1e-4) for b in seen)
    assert sum(len(b) for b in seen) >= 2 * 64  # positives and negatives both went through it
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(plain, scaled))


@pytest.mark.parametrize("mode", ["all", "layerwise", "greedy"])
def test_ungated_peer_normalisation_revives_a_dead_unit_in_unsupervised_training(mode: str) -> None:
    """peer_gated=False needs the positives as the first rows of the layer's latest training forward;
    every label-free path (one backward, layer-wise steps, greedy) keeps that, and a unit switched off for
    every input comes back on, which no gradient could do through its ReLU."""
    x = smooth_images(128, 7)
    data = ArrayDataset.from_tensors(x, torch.zeros(128, dtype=torch.long), 2)

    def dead_unit_on(gated: bool) -> float:
        torch.manual_seed(0)
        net = FFNetwork.mlp(
            [64, 8, 8], num_classes=None, labels=None, head=False, goodness="sumsq", loss="softplus",
            loss_kwargs={"threshold": "width"}, input_normalize="rms", init="hinton",
            peer_norm=0.3, peer_gated=gated,
        )  # fmt: skip
        for layer in net.layers:
            with torch.no_grad():
                layer.block.weight[0] = 0.0
                layer.block.bias[0] = -1.0  # unit 0 of each layer is off for every input
        trainer = Trainer(
            net, HybridNegatives(2), progress=False, seed=0, lr=0.01,
            schedule="greedy" if mode == "greedy" else "all", layerwise_step=mode == "layerwise",
        )  # fmt: skip
        trainer.fit(data, epochs=8, batch_size=32)
        with torch.no_grad():
            acts = net.activities(net.embed_neutral(x))
        return min(float((h[:, 0] > 0).float().mean()) for h in acts)

    assert dead_unit_on(True) == 0.0  # gated: the ReLU blocks the peer term, the unit stays dead
    assert dead_unit_on(False) > 0.5  # ungated: it fires again, in every layer


def peer_normalised_cnn(conv: str, gated: bool) -> FFNetwork:
    """An unsupervised CNN of the layers ``conv`` (a ``model.conv`` value) for 8x8 images, from the config,
    with strong peer normalisation (0.5), gated or not, and RMS-scaled input."""
    cfg = load_config(
        None,
        [
            *UNSUP_CNN,
            *DENSE_LOGISTIC,
            f"model.conv={conv}",
            "model.peer_norm=0.5",
            f"model.peer_gated={str(gated).lower()}",
            "model.input_normalize=rms",
        ],
    )
    return build_network(cfg, (1, 8, 8), 10)


def activities_after_hybrid_training(net: FFNetwork, x: torch.Tensor) -> list[torch.Tensor]:
    """Each layer's activities on ``x`` after 6 epochs of hybrid-negative training on ``x`` (plain SGD 0.5,
    seed 0): long enough for ungated peer normalisation to revive what was switched off."""
    data = ArrayDataset.from_tensors(x, torch.zeros(len(x), dtype=torch.long), 2)
    Trainer(net, HybridNegatives(2), progress=False, seed=0, optimizer="sgd", lr=0.5).fit(data, 6, 32)
    with torch.no_grad():
        return net.activities(net.embed_neutral(x))


def test_conv_peer_normalisation_is_per_channel_and_revives_a_dead_channel() -> None:
    """model.peer_norm on conv layers (from the config): one running mean per channel, over the batch and
    every position; ungated, a channel that is off everywhere comes back on."""
    x = smooth_images(128, 8)

    def dead_channel_on(gated: bool) -> float:
        net = peer_normalised_cnn("[{channels: 4, kernel: 3, pool: max}, {channels: 4, kernel: 3}]", gated)
        for layer in net.layers:
            assert layer.running_mean.shape == (4,)
            with torch.no_grad():
                layer.block.conv.weight[0] = 0.0
                layer.block.conv.bias[0] = -1.0  # channel 0 is off at every position of every input
        acts = activities_after_hybrid_training(net, x)
        return min(float((h[:, 0] > 0).float().mean()) for h in acts)

    assert dead_channel_on(True) == 0.0
    assert dead_channel_on(False) > 0.2


def test_locally_connected_peer_normalisation_is_per_unit_and_revives_one_dead_unit() -> None:
    """Without weight sharing every channel at every position is a unit of its own (Hinton's locally
    connected nets): one running mean per unit, and, ungated, a unit that is off at one position only comes
    back on (a per-channel mean would hardly see it among the channel's other positions)."""
    x = smooth_images(128, 8)

    def dead_unit_on(gated: bool) -> float:
        net = peer_normalised_cnn("[{channels: 4, kernel: 4, stride: 2, padding: 0, local: true}]", gated)
        layer = net.layers[0]
        assert layer.block.out_shape == (4, 3, 3)
        assert layer.running_mean.shape == (4 * 3 * 3,)
        with torch.no_grad():
            layer.block.conv.weight[0, :, 0] = 0.0  # position (0, 0) of channel 0 ...
            layer.block.conv.bias[0, 0, 0] = -1.0  # ... is off for every input; its other positions are not
        (h,) = activities_after_hybrid_training(net, x)
        return float((h[:, 0, 0, 0] > 0).float().mean())

    assert dead_unit_on(True) == 0.0
    assert dead_unit_on(False) > 0.2


def test_negative_peer_norm_fails_at_config_load() -> None:
    with pytest.raises(ConfigError, match=r"model\.peer_norm"):
        load_config(None, ["model.peer_norm=-0.1"])


@pytest.mark.parametrize("local", [False, True])
def test_hinton_init_reaches_conv_layers_by_their_fan_in(local: bool) -> None:
    """model.init=hinton on model.kind=cnn: each conv (or locally connected) map's weights are N(0, 1/fan_in)
    with fan_in = in_channels * kernel^2, its biases 0; before, the conv block was refused."""
    first = f"{{channels: 16, kernel: 5, pool: max, local: {str(local).lower()}}}"
    conv = f"[{first}, {{channels: 32, kernel: 3}}]"
    cfg = load_config(
        None,
        [*UNSUP_CNN, f"model.conv={conv}", "model.init=hinton"],
    )
    net = build_network(cfg, (1, 28, 28), 10)
    for layer, fan_in in zip(net.layers, (1 * 5 * 5, 16 * 3 * 3)):
        w = layer.block.conv.weight.detach()
        assert float(w.std()) == pytest.approx(fan_in**-0.5, rel=0.1)
        assert abs(float(w.mean())) < 0.2 * fan_in**-0.5
        assert float(layer.block.conv.bias.detach().abs().max()) == 0.0


def test_hinton_unsup_config_is_the_papers_net_with_the_faithful_pieces_and_trains() -> None:
    """configs/hinton-unsup.yaml: 4 x 2000 ReLUs, no label path, hybrid negatives, the pieces of Hinton's
    code, a probe on the last three layers; shrunk, it trains through the Trainer."""
    from pathlib import Path

    from forwardforward.experiment.build import build_trainer

    path = Path(__file__).parents[1] / "configs" / "hinton-unsup.yaml"
    cfg = load_config(path)
    m, t = cfg.model, cfg.trainer
    assert list(m.hidden) == [2000] * 4 and m.labels == "none" and not m.head
    assert (m.goodness, m.loss, m.threshold, m.normalize, m.input_normalize) == (
        "sumsq", "softplus", "width", "rms", "rms",
    )  # fmt: skip
    assert (m.peer_norm, m.peer_gated, m.init) == (0.03, False, "hinton")
    assert (t.negatives, t.optimizer, t.lr, t.weight_decay, t.batch_size) == (
        "hybrid", "smoothed_sgd", 0.01, 0.001, 100,
    )  # fmt: skip
    assert cfg.probe.layers is None  # the default: the last three hidden layers
    assert (t.epochs, cfg.data.center) == (100, False)  # the paper's epochs; no centring in his recipe
    # Our variant changes exactly two values: centred images and 3 epochs (CPU time).
    ours = load_config(path.with_name("fmnist-unsup-centred.yaml"))
    assert load_config(path, ["data.center=true", "trainer.epochs=3"]) == ours
    small = load_config(path, ["model.hidden=[16,16,16,16]", "trainer.progress=false"])
    net = build_network(small, (1, 8, 8), 10)
    trainer = build_trainer(small, net)
    x = smooth_images(64, 9)
    history = trainer.fit(ArrayDataset.from_tensors(x, torch.zeros(64, dtype=torch.long), 2), 2, 32)
    assert len(history) == 2 and all(0.0 <= history[-1][f"sep/{i}"] <= 1.0 for i in range(4))


def test_hinton_mnist_local_is_the_unsup_recipe_on_three_locally_connected_layers() -> None:
    """configs/hinton-mnist-local.yaml: configs/hinton-mnist-unsup.yaml's every training value, on the
    paper's locally connected layout (4x4x128 over 10x10 patches at stride 6, then 3x3x220 and 2x2x512 over
    2x2 squares below), about 2,000 units a layer, 60 epochs; every layer's units are its own (no sharing)."""
    from pathlib import Path

    from omegaconf import OmegaConf

    folder = Path(__file__).parents[1] / "configs"
    local = load_config(folder / "hinton-mnist-local.yaml")
    unsup = load_config(folder / "hinton-mnist-unsup.yaml")
    assert (local.model.kind, local.trainer.epochs, local.data.name) == ("cnn", 60, "mnist")
    for section in ("trainer", "unsup", "probe", "data"):
        a, b = OmegaConf.to_container(local[section]), OmegaConf.to_container(unsup[section])
        assert {k: v for k, v in a.items() if k != "epochs"} == {k: v for k, v in b.items() if k != "epochs"}
    skip = {"kind", "conv", "hidden"}
    a, b = OmegaConf.to_container(local.model), OmegaConf.to_container(unsup.model)
    assert {k: v for k, v in a.items() if k not in skip} == {k: v for k, v in b.items() if k not in skip}
    net = build_network(local, (1, 28, 28), 10)
    shapes = [tuple(layer.block.out_shape) for layer in net.layers]
    assert shapes == [(128, 4, 4), (220, 3, 3), (512, 2, 2)]
    assert [c * h * w for c, h, w in shapes] == [2048, 1980, 2048]
    assert [layer.running_mean.numel() for layer in net.layers] == [2048, 1980, 2048]  # peer norm per unit
    assert [layer.loss.threshold for layer in net.layers] == [2048, 1980, 2048]  # "width": every unit
    assert [type(layer.block.conv).__name__ for layer in net.layers] == ["LocallyConnected2d"] * 3
