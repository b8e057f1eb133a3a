"""The seed write-ups' variants in the form they describe (issue 23), each a registered option:

- ``model.loss=cwc_exp``: channel-wise competition's exponential loss (checked against hand-computed values);
- ``model.labels=spatial_overlay``: class strips the size of the image, added onto the image itself;
- ``unsup.pairs=concat``: self-contrastive pairs side by side, each half of the first layer its own weights;
- ``trainer.phases=alternate``: a positive update, then negatives made by the updated model, then a
  negative update: no update sees both;
- real images as bad data (``configs/fmnist-unsup-digits.yaml``: the bundled digits, resized);
- the poster's setting (``configs/poster-fmnist.yaml``: L2 goodness, sigmoid loss).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import forwardforward as ff
from forwardforward.data import ArrayDataset
from forwardforward.experiment.build import build_network, build_trainer, load_data, sample_shape
from forwardforward.experiment.checks import ConfigError
from forwardforward.experiment.config import load_config
from forwardforward.labels import SpatialOverlay
from forwardforward.labels.spatial import strip_patterns
from forwardforward.losses import build_loss
from forwardforward.negatives import SelfContrastivePairs
from forwardforward.training import schedules

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


# ----------------------------------------------------------------------------- 1. cwc_exp


def test_cwc_exp_matches_the_described_formula_by_hand() -> None:
    loss = build_loss("cwc_exp", threshold=1.0)
    g_true = torch.tensor([1.0, 0.0])
    g_other = torch.tensor([[0.5, 0.2], [0.0, 1.0]])
    # sample 1: e^(1+1-1) + e^(1-1+0.5) + e^(1-1+0.2); sample 2: e^(2) + e^0 + e^1
    first = math.e + math.exp(0.5) + math.exp(0.2)
    second = math.exp(2.0) + 1.0 + math.e
    assert float(loss(g_true, g_other)) == pytest.approx((first + second) / 2, rel=1e-6)
    # the threshold weighs the two sides: theta = 3 multiplies the positive term by e^2, divides the others
    high = build_loss("cwc_exp", threshold=3.0)
    assert float(high(torch.tensor([1.0]), torch.tensor([[0.5]]))) == pytest.approx(
        math.exp(3.0) + math.exp(-1.5), rel=1e-6
    )
    # one negative per sample (a [B] tensor) is the pairwise form; halves for separate phases
    assert float(loss(torch.tensor([1.0]), torch.tensor([0.5]))) == pytest.approx(math.e + math.exp(0.5))
    assert float(loss.one_sided(torch.tensor([1.0]), True)) == pytest.approx(math.e)
    assert float(loss.one_sided(torch.tensor([0.5]), False)) == pytest.approx(math.exp(0.5))
    with pytest.raises(ValueError, match="other groups' goodness for each sample"):
        loss(torch.ones(3), torch.ones(2, 9))


def test_cwc_exp_pushes_the_true_group_up_and_the_others_down() -> None:
    g_true = torch.tensor([0.4], requires_grad=True)
    g_other = torch.tensor([[0.4, 0.4, 0.4]], requires_grad=True)
    build_loss("cwc_exp", threshold=2.0)(g_true, g_other).backward()
    assert float(g_true.grad) < 0 and bool((g_other.grad > 0).all())


def test_cwc_exp_trains_a_channel_competition_cnn_from_the_config() -> None:
    cfg = load_config(CONFIGS / "fmnist-cnn-cwc-exp.yaml", ["trainer.progress=false"])
    assert (cfg.model.loss, cfg.model.labels) == ("cwc_exp", "channels")
    small = load_config(
        None,
        [
            "model.kind=cnn",
            "model.labels=channels",
            "model.loss=cwc_exp",
            "model.threshold=3.0",
            "model.normalize=none",
            "model.head=false",
            "model.score_layers=[1]",
            "model.conv=[{channels: 20, kernel: 3, pool: max, norm: batch}, {channels: 40, norm: batch}]",
            "trainer.lr=0.005",
            "trainer.progress=false",
        ],
    )
    splits = load_data(small)  # the bundled 8x8 digits
    net = build_network(small, sample_shape(splits.train), 10)
    assert type(net.layers[0].loss).__name__ == "ChannelExponentialLoss"
    trainer = build_trainer(small, net)
    trainer.fit(splits.train, 4, 64, eval_data=splits.test)
    losses = [row["loss/1"] for row in trainer.history]
    assert losses[-1] < losses[0], losses
    assert trainer.history[-1]["eval/accuracy"] > 0.8  # chance is 0.1


# ----------------------------------------------------------------------------- 2. spatial_overlay


def test_strips_sit_on_the_image_itself_in_every_channel() -> None:
    emb = SpatialOverlay(10, strength=0.5, shape=(3, 12, 16))
    x = torch.rand(4, 3, 12, 16)
    y = torch.tensor([0, 3, 7, 9])
    out = emb(x, y).reshape(4, 3, 12, 16)  # no extra channel: the image's own shape
    assert emb.output_dim(3 * 12 * 16) == 3 * 12 * 16 and emb.output_shape(576) == (3, 12, 16)
    strips = strip_patterns(10, 12, 16)
    for i, c in enumerate(y.tolist()):
        for channel in range(3):
            assert torch.allclose(out[i, channel] - x[i, channel], 0.5 * strips[c])
    # strips the size of the image: every class's pattern is about half on, with on and off pixels in each
    # quarter of the image, so any part of the image carries the label
    for c in range(10):
        s = strips[c]
        assert s.shape == (12, 16) and 0.3 < float(s.mean()) < 0.7
        for quarter in (s[:6, :8], s[:6, 8:], s[6:, :8], s[6:, 8:]):
            assert 0.0 < float(quarter.mean()) < 1.0
    assert len({tuple(s.flatten().tolist()) for s in strips}) == 10  # one pattern per class
    assert set(strips.unique().tolist()) == {0.0, 1.0}


def test_a_cnn_with_strips_takes_the_image_without_a_label_channel_and_scores_every_label() -> None:
    cfg = load_config(CONFIGS / "fmnist-cnn-strips.yaml", ["trainer.progress=false"])
    net = build_network(cfg, (1, 28, 28), 10)
    assert isinstance(net.labels, SpatialOverlay)
    assert net.layers[0].block.conv.in_channels == 1  # the grating config's first layer takes 2
    spatial = build_network(load_config(CONFIGS / "fmnist-cnn-spatial.yaml"), (1, 28, 28), 10)
    assert spatial.layers[0].block.conv.in_channels == 2
    x = torch.rand(3, 1, 28, 28)
    net.eval()
    with torch.no_grad():
        all_at_once = net.label_goodness(x)  # [B, C, L], the additive-code shortcut
        one_by_one = torch.stack(
            [
                torch.stack([la.goodness(h) for la, h in zip(net.layers, net.activities(net.embed(x, y)))], 1)
                for y in (torch.full((3,), c) for c in range(10))
            ],
            1,
        )
    assert torch.allclose(all_at_once, one_by_one, atol=1e-4)


# ----------------------------------------------------------------------------- 3. unsup.pairs=concat


def _concat_cfg(*extra: str):  # type: ignore[no-untyped-def]
    return load_config(
        None,
        [
            "model.labels=none",
            "model.head=false",
            "model.hidden=[16]",
            "model.loss=softplus",
            "model.goodness=sumsq",
            "model.threshold=width",
            "trainer.negatives=scff",
            "unsup.pairs=concat",
            "trainer.progress=false",
            *extra,
        ],
    )


def test_concat_pairs_are_two_images_side_by_side_never_the_same_one() -> None:
    x = torch.arange(5 * 4, dtype=torch.float32).reshape(5, 1, 2, 2)
    neg = SelfContrastivePairs("concat").negatives(x, torch.Generator().manual_seed(0))
    assert neg.shape == (5, 8)
    assert torch.equal(neg[:, :4], x.flatten(1))
    partners = [int(row[4] // 4) for row in neg]  # which image sits in the second half
    assert sorted(partners) == list(range(5)) and all(p != i for i, p in enumerate(partners))
    mean = SelfContrastivePairs("mean").negatives(x, torch.Generator().manual_seed(0))
    assert torch.equal(2 * mean.flatten(1), neg[:, :4] + neg[:, 4:])  # the same partners, averaged
    with pytest.raises(ValueError, match="scff pairs must be one of"):
        SelfContrastivePairs("sum")


def test_concat_pairs_give_each_half_its_own_weights() -> None:
    cfg = _concat_cfg()
    splits = load_data(cfg)  # 8x8 digits: 64 values
    net = build_network(cfg, sample_shape(splits.train), None)
    first = net.layers[0].block
    assert first.in_features == 128 and net.pair_inputs == 64 and net.input_shape == (1, 8, 8)
    with torch.no_grad():
        first.weight[:, 64:] = first.weight[:, :64]  # start from tied halves, as the mean form has them
    trainer = build_trainer(cfg, net)
    trainer.fit(splits.train, 1, 64)
    # the negatives' halves are different images, so the two halves' gradients differ: they untie
    assert not torch.allclose(first.weight[:, :64], first.weight[:, 64:], atol=1e-4)
    # an image alone is the positive pair [x, x]; a pair goes in as it is; anything else is refused
    x = splits.test.x[:5]
    assert torch.equal(net.embed(x), torch.cat([x.flatten(1), x.flatten(1)], 1))
    assert torch.equal(net.features(x), net.features(torch.cat([x.flatten(1), x.flatten(1)], 1)))
    with pytest.raises(ValueError, match="pairs of images of 64 values each"):
        net.embed(torch.rand(2, 100))


def test_concat_pairs_on_a_conv_net_stack_the_images_as_channels() -> None:
    cfg = _concat_cfg("model.kind=cnn", "model.conv=[{channels: 4, kernel: 3}]", "model.goodness=meansq",
                      "model.threshold=1.0")  # fmt: skip
    net = build_network(cfg, (1, 8, 8), None)
    assert net.layers[0].block.conv.in_channels == 2


def test_a_concat_pair_network_survives_a_checkpoint(tmp_path: Path) -> None:
    cfg = _concat_cfg()
    splits = load_data(cfg)
    net = build_network(cfg, sample_shape(splits.train), None)
    trainer = build_trainer(cfg, net, out_dir=tmp_path)
    trainer.fit(splits.train, 1, 64)
    path = trainer.save_checkpoint(tmp_path / "checkpoint.pt")
    loaded = ff.load(path)
    x = splits.test.x[:7]
    assert loaded.pair_inputs == 64
    assert torch.equal(loaded.features(x), net.features(x))


def test_concat_pairs_need_scff_negatives() -> None:
    with pytest.raises(ConfigError, match=r"unsup\.pairs=concat .* needs trainer\.negatives=scff"):
        load_config(None, ["model.labels=none", "trainer.negatives=hybrid", "unsup.pairs=concat"])
    with pytest.raises(ConfigError, match=r"unsup\.pairs"):
        load_config(None, ["unsup.pairs=sum"])


# ----------------------------------------------------------------------------- 4. trainer.phases=alternate


def _blobs(n: int = 96) -> ArrayDataset:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 3
    x = torch.randn(n, 12, generator=g) * 0.3 + F.one_hot(y, 12).float() * 2
    return ArrayDataset.from_tensors(x, y, num_classes=3)


@pytest.mark.parametrize("phases", ["alternate", "halves"])
def test_alternate_phases_never_mix_positives_and_negatives_in_an_update(monkeypatch, phases) -> None:
    events: list[str] = []
    half_loss, negative_inputs = schedules.half_loss, schedules.negative_inputs

    def logged_half(trainer, x, positive):  # type: ignore[no-untyped-def]
        events.append("pos" if positive else "neg")
        return half_loss(trainer, x, positive)

    def logged_negatives(*args):  # type: ignore[no-untyped-def]
        events.append("draw")
        return negative_inputs(*args)

    monkeypatch.setattr(schedules, "half_loss", logged_half)
    monkeypatch.setattr(schedules, "negative_inputs", logged_negatives)
    cfg = load_config(
        None,
        [
            f"trainer.phases={phases}",
            "model.loss=softplus",
            "model.hidden=[16,16]",
            "trainer.negatives=hard",
            "trainer.progress=false",
        ],
    )
    net = build_network(cfg, 12, 3)
    trainer = build_trainer(cfg, net)
    update = trainer.update
    monkeypatch.setattr(trainer, "update", lambda loss, **kw: events.append("update") or update(loss, **kw))
    trainer.fit(_blobs(), 1, 32)
    per_batch = (
        ["pos", "update", "draw", "neg", "update"]  # negatives made by the model the positive update left
        if phases == "alternate"
        else ["draw", "pos", "neg", "update"]  # one update for both halves
    )
    assert events == per_batch * 3
    assert math.isfinite(trainer.history[-1]["loss/head"])  # the head learns in the positive phase


def _alternating(*overrides: str):  # type: ignore[no-untyped-def]
    """A network for the 12-value blobs and its Trainer with ``trainer.phases=alternate``."""
    base = ["trainer.phases=alternate", "model.loss=softplus", "trainer.progress=false"]
    cfg = load_config(None, [*base, *overrides])
    net = build_network(cfg, 12, 3)
    return net, build_trainer(cfg, net)


def test_alternate_updates_take_only_their_own_half_of_the_loss(monkeypatch) -> None:
    net, trainer = _alternating("model.hidden=[8]", "model.head=false", "trainer.negatives=random")
    grads: list[dict[str, torch.Tensor]] = []
    trainer.optimizer.step = lambda *a, **k: grads.append(  # record, do not move the weights
        {k: p.grad.clone() for k, p in net.named_parameters() if p.grad is not None}
    )
    data = _blobs(32)
    x_pos, y = data.x, data.y
    x_neg = net.embed(x_pos, (y + 1) % 3)
    schedules.wake_sleep(trainer, net.embed(x_pos, y), lambda: x_neg)

    def half(x: torch.Tensor, positive: bool) -> dict[str, torch.Tensor]:
        net.zero_grad()
        layer = net.layers[0]
        layer.loss.one_sided(layer.goodness(net.activities(x)[0]), positive).backward()
        return {k: p.grad.clone() for k, p in net.named_parameters() if p.grad is not None}

    assert len(grads) == 2
    for got, want in zip(grads, (half(net.embed(x_pos, y), True), half(x_neg, False))):
        assert got.keys() == want.keys()
        assert all(torch.allclose(got[k], want[k], atol=1e-6) for k in want)


def test_alternate_phases_learn_image_ff() -> None:
    _, trainer = _alternating("model.hidden=[32,32]", "trainer.negatives=hard", "trainer.lr=0.01")
    trainer.fit(_blobs(192), 5, 32, eval_data=_blobs(96))
    assert trainer.history[-1]["eval/head_accuracy"] > 0.9  # chance is 1/3
    assert trainer.history[-1]["g_pos/0"] > trainer.history[-1]["g_neg/0"]


# ----------------------------------------------------------------------------- 5. real images as bad data


def test_the_digits_config_takes_resized_bundled_digits_as_negatives() -> None:
    from forwardforward.experiment.unsupervised import user_source

    cfg = load_config(CONFIGS / "fmnist-unsup-digits.yaml", ["data.center=false"])
    assert (cfg.trainer.negatives, cfg.unsup.user_source, cfg.unsup.user_resize) == ("user", "digits", True)
    bad = user_source(cfg, torch.zeros(4, 1, 28, 28))
    digits = ff.data.load("digits").train.x
    assert bad.shape == (len(digits), 1, 28, 28)
    want = F.interpolate(digits, size=(28, 28), mode="bilinear", align_corners=False)
    assert torch.allclose(bad, want)
    centred = user_source(load_config(CONFIGS / "fmnist-unsup-digits.yaml"), torch.zeros(4, 1, 28, 28))
    # centred as data.center centres the clothing: each pixel's mean removed, divided by the images' spread
    assert torch.allclose(centred, (want - want.mean(0, keepdim=True)) / want.std(), atol=1e-5)


# ----------------------------------------------------------------------------- 6. the poster's setting


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop", "sgd"])
def test_the_poster_config_is_l2_goodness_with_the_sigmoid_loss(optimizer: str) -> None:
    overrides = [f"trainer.optimizer={optimizer}", "trainer.progress=false"]
    cfg = load_config(CONFIGS / "poster-fmnist.yaml", overrides)
    assert (cfg.model.goodness, cfg.model.loss) == ("l2", "sigmoid_diff")
    net = build_network(cfg, 784, 10)
    h = torch.rand(5, 7)
    assert torch.allclose(net.layers[0].goodness(h), h.norm(dim=1))  # the norm itself, not its square
    trainer = build_trainer(cfg, net)
    assert type(trainer.optimizer).__name__.lower() == optimizer
    row = trainer.train_step(torch.rand(16, 784), torch.arange(16) % 10)
    assert all(math.isfinite(v) for v in row.values())
