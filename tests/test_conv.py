"""Convolutional FF: conv/local blocks as FFLayers, label channels, channel-wise competition, augmentation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import forwardforward as ff
from forwardforward.data import ArrayDataset, DataSplits
from forwardforward.data.augment import RandomShift, RandomShiftFlip, random_shift
from forwardforward.experiment.build import build_network, build_trainer, train_backprop_twin
from forwardforward.experiment.config import ConfigError, load_config
from forwardforward.goodness import ChannelGroupGoodness
from forwardforward.labels.embeddings import Overlay
from forwardforward.labels.spatial import LearnedPlanes, SpatialPatterns, grating_patterns
from forwardforward.losses import ChannelCrossEntropy
from forwardforward.models.conv import BackpropCNN, ConvBlock, LocallyConnected2d, conv_stack

C = 4  # classes of the synthetic problem


def bars(n: int, seed: int, size: int = 12) -> ArrayDataset:
    """Class k: a bright bar in one of 4 orientations/positions, plus noise: needs spatial features."""
    gen = torch.Generator().manual_seed(seed)
    x = 0.3 * torch.rand(n, 1, size, size, generator=gen)
    y = torch.arange(n) % C
    for i in range(n):
        off = int(torch.randint(2, size - 2, (1,), generator=gen))
        if y[i] == 0:
            x[i, 0, off, :] += 1
        elif y[i] == 1:
            x[i, 0, :, off] += 1
        elif y[i] == 2:
            x[i, 0].diagonal().add_(1)
        else:
            x[i, 0].flip(1).diagonal().add_(1)
    return ArrayDataset(x, y, C)


def cnn_config(tmp: Path, labels: str, **extra: str) -> Path:
    """A small CNN config (written as YAML so the config schema is exercised too)."""
    group = labels == "channels"
    c1, c2 = (10, 20) if group else (8, 16)  # channel-wise competition: a multiple of the 10 classes
    text = f"""
data: {{name: digits}}
model:
  kind: cnn
  labels: {labels}
  goodness: {"mean" if group else "meansq"}
  loss: {"channel_ce" if group else "symba"}
  normalize: {"none" if group else "rms"}
  label_strength: 2.0
  head: false
  score_layers: [0, 1]
  conv:
    - {{channels: {c1}, kernel: 3, pool: max, norm: layer}}
    - {{channels: {c2}, kernel: 3, pool: none, norm: layer}}
trainer: {{epochs: 1, batch_size: 32, lr: 0.01, progress: false, negatives: random}}
"""
    path = tmp / f"cnn-{labels}.yaml"
    path.write_text(text)
    return path


# ------------------------------------------------------------------------- the FF invariant for conv layers


@pytest.mark.parametrize("local", [False, True])
def test_conv_layers_never_pass_gradients_to_earlier_layers(local: bool) -> None:
    torch.manual_seed(0)
    layers = conv_stack(
        (1, 8, 8),
        [{"channels": 4, "pool": "max", "local": local}, {"channels": 6, "local": local}],
        goodness="meansq",
        loss="symba",
    )
    net = ff.FFNetwork(layers, labels=None, num_classes=None, head=False)
    x_pos, x_neg = torch.randn(5, 64), torch.randn(5, 64)
    losses, _ = net.local_losses(x_pos, x_neg)
    # The graph: layer 1's activity has no path back to layer 0's weights.
    acts = net.activities(x_pos)
    assert acts[0].requires_grad
    grads = torch.autograd.grad(acts[1].sum(), list(layers[0].parameters()), allow_unused=True)
    assert all(g is None for g in grads)
    losses[1].backward(retain_graph=True)
    assert all(p.grad is None for p in layers[0].parameters())
    assert all(p.grad is not None for p in layers[1].parameters())
    # The summed loss gives each layer exactly its own gradient.
    own = [p.grad.clone() for p in layers[1].parameters()]
    net.zero_grad(set_to_none=True)
    torch.stack(losses).sum().backward()
    assert all(torch.equal(a, p.grad) for a, p in zip(own, layers[1].parameters()))


def test_learned_planes_are_trained_by_the_first_layer_only() -> None:
    torch.manual_seed(0)
    emb = LearnedPlanes(C, strength=1.0, shape=(1, 8, 8), grid=4)
    layers = conv_stack(
        emb.output_shape(64), [{"channels": 4}, {"channels": 4}], goodness="meansq", loss="symba"
    )
    net = ff.FFNetwork(layers, labels=emb)
    x, y = torch.rand(6, 1, 8, 8), torch.arange(6) % C
    losses, _ = net.local_losses(net.embed(x, y), net.embed(x, (y + 1) % C))
    losses[1].backward(retain_graph=True)
    assert emb.weight.grad is None and all(p.grad is None for p in layers[0].parameters())
    losses[0].backward()
    assert emb.weight.grad is not None and float(emb.weight.grad.abs().sum()) > 0
    trainer = ff.Trainer(net, negatives="random", progress=False)
    assert any(p is emb.weight for p in trainer.optimizer.param_groups[0]["params"])


def test_locally_connected_equals_a_convolution_when_its_weights_are_tied() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, padding=1)
    local = LocallyConnected2d(2, 3, (5, 6), 3, padding=1)
    with torch.no_grad():
        local.weight.copy_(conv.weight.reshape(3, -1).t().expand_as(local.weight))
        local.bias.copy_(conv.bias.view(3, 1, 1).expand_as(local.bias))
    x = torch.randn(4, 2, 5, 6)
    assert torch.allclose(local(x), conv(x), atol=1e-5)
    assert local.weight.shape == (30, 18, 3)  # one filter per output position: nothing shared


@pytest.mark.parametrize("emb_cls", [SpatialPatterns, LearnedPlanes, Overlay])
@pytest.mark.parametrize("local", [False, True])
def test_all_label_scoring_equals_one_pass_per_label(emb_cls: type, local: bool) -> None:
    """The first conv computed once for the batch and once for the codes equals C separate passes."""
    torch.manual_seed(0)
    emb = emb_cls(C, strength=1.5, shape=(1, 8, 8)) if emb_cls is not Overlay else Overlay(C, 1.5)
    in_shape = emb.output_shape(64) if hasattr(emb, "output_shape") else (1, 8, 8)
    spec = [{"channels": 4, "pool": "max", "norm": "layer", "local": local}, {"channels": 4}]
    net = ff.FFNetwork(conv_stack(in_shape, spec), labels=emb).eval()
    x = torch.rand(5, 1, 8, 8)
    assert torch.allclose(net.label_goodness(x), net.label_goodness_naive(x), atol=1e-5)


@pytest.mark.parametrize("labels", ["spatial", "channels"])
def test_channels_last_layout_changes_speed_not_numbers(labels: str) -> None:
    """NHWC weights and activities give the NCHW net's goodness, scores and gradients (to float rounding),
    and the layout survives every block, so no layer silently converts back."""
    spec = [{"channels": 20, "pool": "max", "norm": "batch"}, {"channels": 20, "norm": "layer"}]

    def net(channels_last: bool) -> ff.FFNetwork:
        torch.manual_seed(0)
        if labels == "channels":
            layers = conv_stack(
                (1, 8, 8), spec, goodness=ChannelGroupGoodness(C), loss="channel_ce", normalize="none",
                channels_last=channels_last,
            )  # fmt: skip
            layers[1].goodness = ChannelGroupGoodness(C)
            return ff.FFNetwork(layers, labels=None, num_classes=C, head=False)
        emb = SpatialPatterns(C, strength=1.0, shape=(1, 8, 8))
        return ff.FFNetwork(conv_stack(emb.output_shape(64), spec, channels_last=channels_last), labels=emb)

    nchw, nhwc = net(False), net(True)
    assert nhwc.layers[0].block.conv.weight.is_contiguous(memory_format=torch.channels_last)
    x, y = torch.rand(6, 64), torch.arange(6) % C
    xn = nchw.embed(x, y) if labels != "channels" else x
    xh = nhwc.embed(x, y) if labels != "channels" else x
    for h_n, h_h in zip(nchw.activities(xn), nhwc.activities(xh)):
        assert h_h.is_contiguous(memory_format=torch.channels_last)
        assert torch.allclose(h_n, h_h, atol=1e-5)
    neg = x[:0] if labels == "channels" else nchw.embed(x, (y + 1) % C)
    for a, b in zip(nchw.local_losses(xn, neg, y=y)[0], nhwc.local_losses(xh, neg, y=y)[0]):
        a.backward()
        b.backward()
        assert torch.allclose(a, b, atol=1e-5)
    # Float rounding differs between the layouts' kernels; a conv bias right before BatchNorm has a true
    # gradient of zero and carries only that rounding, so compare against the net's gradient scale.
    pairs = [(p_n, p_h) for p_n, p_h in zip(nchw.parameters(), nhwc.parameters()) if p_n.grad is not None]
    assert len(pairs) >= 6  # both blocks' conv and norm parameters
    scale = max(p_n.grad.abs().max().item() for p_n, _ in pairs)
    for p_n, p_h in pairs:
        assert torch.allclose(p_n.grad, p_h.grad, atol=1e-4 * scale, rtol=1e-3)
    nchw.eval(), nhwc.eval()
    assert torch.allclose(nchw.scores(x), nhwc.scores(x), atol=1e-4)


def test_grouped_conv_keeps_class_groups_apart() -> None:
    """With one group per class, a class's output channels depend only on that class's input channels."""
    torch.manual_seed(0)
    block = ConvBlock((8, 6, 6), 12, groups=4)  # 2 input and 3 output channels per group
    assert tuple(block.conv.weight.shape) == (12, 2, 3, 3)  # a quarter of the full convolution's weights
    x = torch.randn(3, 8, 6, 6)
    moved = x.clone()
    moved[:, 2:4] += torch.randn(3, 2, 6, 6)  # change group 1's input channels only
    changed = (block(moved) - block(x)).abs().amax((0, 2, 3)) > 0
    assert changed.tolist() == [False] * 3 + [True] * 3 + [False] * 6
    for kwargs, match in [
        ({"groups": 3}, "groups=3 must be >= 1 and divide both the input channels \\(8\\)"),
        ({"groups": 0}, "groups=0 must be >= 1"),
        ({"groups": 2, "local": True}, "locally connected layer has no groups"),
    ]:
        with pytest.raises(ValueError, match=match):
            ConvBlock((8, 6, 6), 12, **kwargs)


def test_all_label_scoring_with_a_grouped_first_conv_equals_one_pass_per_label() -> None:
    torch.manual_seed(0)
    emb = SpatialPatterns(C, 1.5, shape=(1, 8, 8))  # image + label channel: 2 channels, 2 groups
    spec = [{"channels": 4, "pool": "max", "groups": 2}, {"channels": 4, "groups": 2}]
    net = ff.FFNetwork(conv_stack(emb.output_shape(64), spec), labels=emb).eval()
    x = torch.rand(5, 1, 8, 8)
    assert torch.allclose(net.label_goodness(x), net.label_goodness_naive(x), atol=1e-5)


# ----------------------------------------------------------------------------- spatial labels


def test_spatial_patterns_are_distinct_per_class_and_cover_the_image() -> None:
    p = grating_patterns(10, 28, 28)
    flat = p.flatten(1)
    dist = torch.cdist(flat, flat) / 28  # RMS difference per pixel
    off_diagonal = dist[~torch.eye(10, dtype=torch.bool)]
    assert float(off_diagonal.min()) > 0.5  # every pair of classes differs by a large margin
    assert float(p.abs().mean()) > 0.5  # the pattern is everywhere, not in a corner


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spatial_labels_survive_the_first_conv_and_pool_where_a_one_hot_does_not(seed: int) -> None:
    """Every receptive field must see the label: after a random 3x3 conv and 2x2 max pooling, the
    label changes the first layer's activity at nearly every position; the one-hot overlay at few."""
    torch.manual_seed(seed)
    x = torch.rand(1, 1, 28, 28)

    def changed_fraction(emb: ff.labels.LabelEmbedding, in_channels: int) -> float:
        block = ConvBlock((in_channels, 28, 28), 16, 3, pool="max")
        out = block(emb.all_labels(x).reshape(C, -1))  # [C, 16, 14, 14]
        per_position = (out.unsqueeze(0) - out.unsqueeze(1)).abs().amax(2)  # [C, C, 14, 14]
        pairs = ~torch.eye(C, dtype=torch.bool)
        return float((per_position[pairs] > 1e-3).float().mean())

    assert changed_fraction(SpatialPatterns(C, 1.0, shape=(1, 28, 28)), 2) > 0.95
    assert changed_fraction(Overlay(C, 1.0), 1) < 0.05


# ----------------------------------------------------------------------------- channel-wise competition


def test_channel_group_goodness_and_cross_entropy_by_hand() -> None:
    h = torch.arange(2 * 6 * 2 * 2, dtype=torch.float32).reshape(2, 6, 2, 2)
    g = ChannelGroupGoodness(3, "meansq")(h)
    expected = torch.stack([h[:, 2 * k : 2 * k + 2].pow(2).flatten(1).mean(1) for k in range(3)], 1)
    assert torch.equal(g, expected)
    logits = torch.randn(5, 3)
    y = torch.tensor([0, 2, 1, 1, 0])
    from forwardforward.goodness import split_true_group

    pos, neg = split_true_group(logits, y)
    ce = ChannelCrossEntropy(temperature=0.5)(pos, neg)
    assert torch.allclose(ce, F.cross_entropy(logits / 0.5, y))
    with pytest.raises(ValueError, match="use a multiple of 3 channels"):
        ChannelGroupGoodness(3)(torch.randn(2, 7, 2, 2))


def _group_cnn(head: bool = False, head_layers: list[int] | None = None) -> ff.FFNetwork:
    """A seeded two-layer channel-wise competition CNN for the 12x12 bars."""
    torch.manual_seed(0)
    layers = conv_stack(
        (1, 12, 12),
        [{"channels": 8, "pool": "max", "norm": "layer"}, {"channels": 16, "norm": "layer"}],
        goodness=ChannelGroupGoodness(C),
        loss="channel_ce",
        normalize="none",
    )
    layers[1].goodness = ChannelGroupGoodness(C)
    return ff.FFNetwork(layers, labels=None, num_classes=C, head=head, head_layers=head_layers)


def test_channel_competition_needs_no_negatives_and_learns(tmp_path: Path) -> None:
    net = _group_cnn()
    assert not net.needs_negatives and net.one_pass

    class NoNegatives(ff.negatives.RandomLabel):
        def forward(self, *args, **kwargs):
            raise AssertionError("channel-wise competition must not sample negatives")

    x = torch.randn(3, 144)
    losses, stats = net.local_losses(x, x[:0], y=torch.tensor([0, 1, 3]))  # an empty negative batch
    assert all(torch.isfinite(v) for v in losses) and len(stats) == 2
    with pytest.raises(ValueError, match="needs the labels: pass y="):
        net.local_losses(x, x[:0])
    train, test = bars(256, 1), bars(128, 2)
    trainer = ff.Trainer(net, negatives=NoNegatives(), lr=0.01, progress=False, seed=0)
    trainer.fit(train, epochs=4, batch_size=32)
    ev = net.evaluate(test)
    assert ev["accuracy"] > 0.8, ev  # chance is 0.25
    assert net.label_goodness(test.x[:7]).shape == (7, C, 2)  # one pass: [B, C, L]


@pytest.mark.parametrize("head_layers", [None, [1], [0, 1]])
def test_channel_competition_head_reads_the_local_loss_pass(head_layers: list[int] | None) -> None:
    """Without a label in the input, the head's features are the positives' activities: the Trainer takes
    them from the local-loss forward instead of a second pass, and the head's gradient is unchanged."""
    net = _group_cnn(head=True, head_layers=head_layers)
    data = bars(16, 3)
    x, y = data.x.flatten(1), data.y
    expected = torch.autograd.grad(F.cross_entropy(net.head(net.features(x)), y), list(net.head.parameters()))
    trainer = ff.Trainer(net, lr=0.0, progress=False, seed=0)  # lr 0: the step keeps the weights
    calls = []
    features = net.features
    net.features = lambda *a, **k: calls.append(1) or features(*a, **k)  # type: ignore[method-assign]
    trainer.optimizer.zero_grad()
    row = trainer.train_step(x, y)
    assert not calls, "the one-pass head must not run a second forward"
    for p, g in zip(net.head.parameters(), expected):
        torch.testing.assert_close(p.grad, g)
    with torch.no_grad():
        head_loss = float(F.cross_entropy(net.head(features(x)), y))
    assert row["loss/head"] == pytest.approx(head_loss, rel=1e-5)


def test_channel_competition_head_falls_back_when_a_window_skips_its_layer() -> None:
    net = _group_cnn(head=True, head_layers=[1])
    data = bars(16, 3)
    x, y = data.x.flatten(1), data.y
    trainer = ff.Trainer(net, lr=0.01, progress=False, seed=0)
    row = trainer.train_step(x, y, layers=[0])  # layer 1 (the head's) is outside the window
    assert math.isfinite(row["loss/head"]) and all(p.grad is not None for p in net.head.parameters())


@pytest.mark.parametrize(
    "name", sorted(p.name for p in (Path(__file__).parents[1] / "configs").glob("fmnist-cnn-*.yaml"))
)
def test_shipped_fashion_cnn_configs_build_and_take_a_step(name: str) -> None:
    """Every shipped Fashion-MNIST CNN config loads against the schema, builds, and trains one batch."""
    cfg = load_config(Path(__file__).parents[1] / "configs" / name, ["trainer.progress=false"])
    net = build_network(cfg, 784, 10)
    trainer = build_trainer(cfg, net)
    x, y = torch.rand(8, 1, 28, 28), torch.arange(8) % 10
    row = trainer.train_step(x.flatten(1), y)
    assert all(math.isfinite(v) for v in row.values()), row
    assert (net.head is not None) == bool(cfg.model.head)


def test_spatial_and_planes_cnns_learn_with_negatives() -> None:
    train, test = bars(256, 1), bars(128, 2)
    for emb in (SpatialPatterns(C, 2.0, shape=(1, 12, 12)), LearnedPlanes(C, 2.0, shape=(1, 12, 12))):
        torch.manual_seed(0)
        layers = conv_stack(
            emb.output_shape(144),
            [{"channels": 8, "pool": "max", "norm": "layer"}, {"channels": 16}],
            goodness="meansq",
            loss="symba",
        )
        net = ff.FFNetwork(layers, labels=emb, score_layers=[0, 1], head=False)
        ff.Trainer(net, negatives="random", lr=0.01, progress=False).fit(train, epochs=8, batch_size=32)
        assert net.evaluate(test)["accuracy"] > 0.65, type(emb).__name__  # chance is 0.25


# ----------------------------------------------------------------------------- augmentation and windows


def test_random_shift_is_seeded_and_moves_content_with_zero_fill() -> None:
    x = torch.zeros(6, 1, 5, 5)
    x[:, 0, 2, 2] = 1.0  # a dot in the centre
    a = random_shift(x, 2, torch.Generator().manual_seed(3))
    b = random_shift(x, 2, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == x.shape
    assert torch.equal(a.sum((1, 2, 3)), torch.ones(6))  # the dot stays inside (shift <= 2)
    positions = {tuple(v.tolist()) for v in a[:, 0].flatten(1).argmax(1).unsqueeze(1)}
    assert len(positions) > 1  # different samples, different shifts
    edge = torch.zeros(1, 1, 3, 3)
    edge[0, 0, :, 0] = 1.0
    moved = RandomShift(1)(edge.expand(50, 1, 3, 3), torch.Generator().manual_seed(0))
    assert float(moved.sum((1, 2, 3)).min()) == 0.0  # a column shifted off the edge is gone, not wrapped
    assert torch.equal(random_shift(x, 0, torch.Generator()), x)


def test_flip_augmentation_mirrors_some_images() -> None:
    x = torch.arange(16, dtype=torch.float32).reshape(1, 1, 4, 4).expand(40, 1, 4, 4)
    out = RandomShiftFlip(max_shift=0)(x, torch.Generator().manual_seed(0))
    flipped = (out == x.flip(3)).flatten(1).all(1)
    assert 0 < int(flipped.sum()) < 40 and bool(((out == x).flatten(1).all(1) | flipped).all())


def test_layer_windows_freeze_layers_outside_their_window() -> None:
    torch.manual_seed(0)
    layers = conv_stack((1, 12, 12), [{"channels": 4, "pool": "max"}, {"channels": 4}], goodness="meansq")
    net = ff.FFNetwork(layers, labels=None, num_classes=None, head=False)
    net = ff.FFNetwork(
        conv_stack((2, 12, 12), [{"channels": 4, "pool": "max"}, {"channels": 4}]),
        labels=SpatialPatterns(C, 1.0, shape=(1, 12, 12)),
        head=False,
    )
    before = [p.detach().clone() for p in net.layers[1].parameters()]
    trainer = ff.Trainer(net, negatives="random", progress=False, layer_windows=[[0, 2], [1, 2]])
    trainer.fit(bars(64, 1), epochs=1, batch_size=32)
    assert all(torch.equal(a, p) for a, p in zip(before, net.layers[1].parameters()))
    with pytest.raises(ValueError, match="one \\[start, end\\) epoch pair"):
        ff.Trainer(net, layer_windows=[[0, 2]])


# ----------------------------------------------------------------------------- configs, twin, CLI


@pytest.mark.parametrize("labels", ["spatial", "planes", "channels"])
def test_cnn_configs_build_train_and_reload(tmp_path: Path, labels: str) -> None:
    cfg = load_config(cnn_config(tmp_path, labels), ["trainer.augment=shift", "trainer.augment_shift=1"])
    net = build_network(cfg, 64, 10)
    assert isinstance(net.layers[0].block, ConvBlock)
    trainer = build_trainer(cfg, net, tmp_path / "run")
    assert isinstance(trainer.augment, RandomShift)
    splits = ff.data.load("digits")
    trainer.fit(splits.train, 1, 64)
    again = build_network(cfg, 64, 10)
    again.load_state_dict(torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["model"])
    assert torch.equal(again.eval().predict(splits.test.x[:20]), net.eval().predict(splits.test.x[:20]))


def test_cnn_config_errors_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"model.kind=cnn needs model.conv"):
        load_config(None, ["model.kind=cnn"])
    with pytest.raises(ConfigError, match=r"model.labels=append does not suit a CNN"):
        load_config(cnn_config(tmp_path, "append"))
    bad = tmp_path / "bad.yaml"
    bad.write_text(cnn_config(tmp_path, "channels").read_text().replace("channels: 10,", "channels: 8,"))
    cfg = load_config(bad)
    with pytest.raises(ValueError, match=r"model.conv\[0\].channels=8: .*multiple of the 10 classes"):
        build_network(cfg, 64, 10)


def test_backprop_twin_is_the_same_cnn(tmp_path: Path) -> None:
    cfg = load_config(cnn_config(tmp_path, "spatial"), ["trainer.epochs=2"])
    twin = BackpropCNN(
        (1, 8, 8),
        [
            {"channels": 8, "kernel": 3, "pool": "max", "norm": "layer"},
            {"channels": 16, "kernel": 3, "norm": "layer"},
        ],
        10,
    )
    assert [type(m) for m in twin.features] == [ConvBlock, nn.ReLU, ConvBlock, nn.ReLU]
    splits = ff.data.load("digits")
    small = DataSplits(train=splits.train.subset(torch.arange(400)), test=splits.test)
    hist = train_backprop_twin(cfg, small)
    assert len(hist) == 2 and hist[-1]["eval/accuracy"] > 0.5


def test_ff_compare_runs_the_cnn_twin(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from forwardforward.experiment.cli import main

    path = cnn_config(tmp_path, "channels")
    assert main(["compare", str(path), "data.train_subset=300", "--out", str(tmp_path / "cmp")]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0.0 <= result["backprop"]["test_accuracy"] <= 1.0
    assert len(result["ff"]["layer_accuracy"]) == 2


def test_the_cnn_benchmark_stops_at_its_time_budget_and_reports_the_epoch() -> None:
    """benchmarks/cnn_time_to_accuracy.py (the CNN figures' script) runs end to end on the bundled digits,
    its ``--minutes`` budget stopping the run after the first epoch."""
    import subprocess
    import sys

    root = Path(__file__).parents[1]
    done = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "cnn_time_to_accuracy.py"), str(root / "configs" /
         "fmnist-cnn-cwc.yaml"), "data.name=digits", "trainer.epochs=3", "trainer.threads=1", "--minutes",
         "0.0001"],
        capture_output=True, text=True, timeout=300, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["stopped_by_budget"] is True and out["epochs_run"] == 1
    assert len(out["test_accuracy_goodness"]) == 1 and 0.0 <= out["test_accuracy_goodness"][0] <= 1.0
