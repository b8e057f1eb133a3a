"""Hinton's released recipe (configs/hinton-ffnew.yaml) and the knobs it needs.

The central check: two training steps of the library, built from the shipped config, give the same
weights as an independent NumPy implementation of the update rule of Hinton's released Matlab code
(ffnew.m), written here from its description: input rows normalised with their label pixels, logistic
p = sigma(sum of squares - width) whose derivative lacks the factor 2, peer normalisation added to the
derivative w.r.t. each unit's total input (not gated by the ReLU), gradients averaged with 0.9 / 0.1, weight
cost outside the average and on weights only, a bias-free softmax head on neutral-label states of hidden
layers 2 and 3 with its own rate and weight cost, and hard negatives sampled from it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from forwardforward import FFNetwork, Trainer
from forwardforward.experiment.build import build_network, build_trainer
from forwardforward.experiment.config import ConfigError, load_config
from forwardforward.init import initialize
from forwardforward.layers import linear_layer
from forwardforward.negatives.labels import LabelNegatives
from forwardforward.optim import SmoothedSGD
from forwardforward.training.trainer import build_optimizer, epoch_cooldown_factor

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "hinton-ffnew.yaml"
HIDDEN = [12, 10, 8]
PIXELS = 20
CLASSES = 10


def _rms_rows(a: np.ndarray) -> np.ndarray:
    return a / np.sqrt((a**2).mean(1, keepdims=True) + 1e-8)


def _with_label(x: np.ndarray, onehot: np.ndarray) -> np.ndarray:
    out = x.copy()
    out[:, :CLASSES] = onehot
    return out


class _Reference:
    """Hinton's update, in float64 NumPy: weights ``W[l]`` are ``[fan_in, units]`` as in his code."""

    def __init__(self, net: FFNetwork) -> None:
        self.W = [layer.block.weight.detach().double().numpy().T.copy() for layer in net.layers]
        self.b = [layer.block.bias.detach().double().numpy().copy() for layer in net.layers]
        head = net.head.weight.detach().double().numpy()  # [classes, sum of the head layers' units]
        cuts = np.cumsum([0] + [HIDDEN[i] for i in net.head_layers])
        self.V = {i: head[:, cuts[k] : cuts[k + 1]].T.copy() for k, i in enumerate(net.head_layers)}
        self.gW = [np.zeros_like(w) for w in self.W]
        self.gb = [np.zeros_like(b) for b in self.b]
        self.gV = {i: np.zeros_like(v) for i, v in self.V.items()}
        self.mean_act = [np.full(len(b), 0.5) for b in self.b]  # his start value; only deviations matter

    def _forward(self, x: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Inputs of every layer (normalised) and every layer's states."""
        ins, states = [_rms_rows(x)], []
        for w, b in zip(self.W, self.b):
            s = np.maximum(0.0, ins[-1] @ w + b)
            states.append(s)
            ins.append(_rms_rows(s))
        return ins, states

    def step(self, x: np.ndarray, y: np.ndarray, y_neg: np.ndarray, lam: float = 0.03) -> np.ndarray:
        n = len(y)
        eye = np.eye(CLASSES)
        grads_w, grads_b = [], []
        ins, states = self._forward(_with_label(x, eye[y]))
        for k, s in enumerate(states):
            p = 1 / (1 + np.exp(-((s**2).sum(1) - s.shape[1])))
            d_in = (1 - p)[:, None] * s  # ascent direction; no factor 2, as in his code
            self.mean_act[k] = 0.9 * self.mean_act[k] + 0.1 * s.mean(0)
            d_in = d_in + lam * (self.mean_act[k].mean() - self.mean_act[k])  # every case, not gated
            grads_w.append(ins[k].T @ d_in)
            grads_b.append(d_in.sum(0))
        neutral_ins, _ = self._forward(_with_label(x, np.full((n, CLASSES), 0.1)))
        logits = sum(neutral_ins[i + 1] @ v for i, v in self.V.items())
        probs = np.exp(logits - logits.max(1, keepdims=True))
        probs /= probs.sum(1, keepdims=True)
        for i, v in self.V.items():
            self.gV[i] = 0.9 * self.gV[i] + 0.1 * (neutral_ins[i + 1].T @ (eye[y] - probs)) / n
            self.V[i] = v + 0.1 * (self.gV[i] - 0.003 * v)
        ins, states = self._forward(_with_label(x, eye[y_neg]))
        for k, s in enumerate(states):
            p = 1 / (1 + np.exp(-((s**2).sum(1) - s.shape[1])))
            d_in = -p[:, None] * s
            grads_w[k] = grads_w[k] + ins[k].T @ d_in
            grads_b[k] = grads_b[k] + d_in.sum(0)
        for k in range(len(self.W)):
            self.gW[k] = 0.9 * self.gW[k] + 0.1 * grads_w[k] / n
            self.gb[k] = 0.9 * self.gb[k] + 0.1 * grads_b[k] / n
            self.b[k] = self.b[k] + 0.01 * self.gb[k]
            self.W[k] = self.W[k] + 0.01 * (self.gW[k] - 0.001 * self.W[k])
        return logits


class _Recording(LabelNegatives):
    """Hard negatives as the config samples them, remembered so the reference uses the same labels."""

    needs_scores = True

    def __init__(self, inner: LabelNegatives) -> None:
        super().__init__()
        self.inner, self.drawn, self.scores = inner, [], []

    def forward(self, y, num_classes, scores=None, generator=None):  # type: ignore[override]
        self.scores.append(scores.detach().double().numpy().copy())
        self.drawn.append(self.inner(y, num_classes, scores, generator))
        return self.drawn[-1]


def _hinton_net_and_trainer() -> tuple[FFNetwork, Trainer, _Recording]:
    cfg = load_config(CONFIG, [f"model.hidden={HIDDEN}"])
    net = build_network(cfg, PIXELS, CLASSES).double()
    trainer = build_trainer(cfg, net)
    recording = _Recording(trainer.negatives)
    trainer.negatives = recording
    return net, trainer, recording


def test_two_steps_of_the_config_match_hintons_update_rule() -> None:
    net, trainer, recording = _hinton_net_and_trainer()
    ref = _Reference(net)
    gen = torch.Generator().manual_seed(3)
    for _ in range(2):
        x = torch.rand(16, PIXELS, generator=gen, dtype=torch.float64)
        y = torch.randint(0, CLASSES, (16,), generator=gen)
        trainer.train_step(x, y)
        logits = ref.step(x.numpy(), y.numpy(), recording.drawn[-1].numpy())
        # the negatives were drawn from the same (pre-update) softmax logits
        np.testing.assert_allclose(recording.scores[-1], logits, rtol=1e-9, atol=1e-12)
    for k, layer in enumerate(net.layers):
        np.testing.assert_allclose(layer.block.weight.detach().numpy().T, ref.W[k], rtol=1e-7, atol=1e-10)
        np.testing.assert_allclose(layer.block.bias.detach().numpy(), ref.b[k], rtol=1e-7, atol=1e-10)
    head = np.concatenate([ref.V[i].T for i in net.head_layers], 1)
    np.testing.assert_allclose(net.head.weight.detach().numpy(), head, rtol=1e-7, atol=1e-10)
    assert net.head.bias is None  # his softmax has no bias that learns


def test_the_config_is_hintons_in_every_value() -> None:
    cfg = load_config(CONFIG)
    m, t = cfg.model, cfg.trainer
    assert (list(m.hidden), t.epochs, t.batch_size) == ([1000, 1000, 1000], 30, 100)
    assert (m.goodness, m.loss, m.threshold, m.temperature) == ("sumsq", "softplus", "width", 1.0)
    assert (m.labels, m.label_strength, m.input_normalize, m.normalize) == ("overlay", 1.0, "rms", "rms")
    assert (m.peer_norm, m.peer_momentum, m.peer_gated, m.init) == (0.03, 0.9, False, "hinton")
    assert (list(m.score_layers), list(m.head_layers), m.head_bias) == ([1, 2], [1, 2], False)
    assert (t.optimizer, dict(t.optimizer_kwargs), t.lr, t.weight_decay, t.decay_biases) == (
        "smoothed_sgd",
        {"delay": 0.9},
        0.01,
        0.001,
        False,
    )
    assert (t.head_lr, t.head_weight_decay, t.cooldown_start, t.cooldown_every) == (0.1, 0.003, 0.5, "epoch")
    assert (t.negatives, t.hard_source, t.hard_temperature) == ("hard", "head", 1.0)
    paper = load_config(CONFIG.with_name("hinton-mnist.yaml"))
    assert (list(paper.model.hidden), paper.trainer.epochs, paper.data.name) == ([2000] * 4, 60, "mnist")
    assert list(paper.model.head_layers) == [1, 2, 3] and list(paper.model.score_layers) == [1, 2, 3]
    for key in ("goodness", "input_normalize", "peer_gated", "init", "head_bias", "labels"):
        assert paper.model[key] == m[key]
    for key in ("optimizer", "lr", "weight_decay", "head_lr", "head_weight_decay", "cooldown_every"):
        assert paper.trainer[key] == t[key]


def test_epoch_cooldown_is_hintons_epsgain() -> None:
    his = [1.0 if e <= 15 else (1 + 2 * (30 - e)) / 30 for e in range(1, 31)]
    ours = [epoch_cooldown_factor(e, 30, 0.5) for e in range(1, 31)]
    assert ours == pytest.approx(his, abs=1e-12)
    assert epoch_cooldown_factor(3, 0, 0.5) == 1.0  # no epoch count known (streams): constant


def test_smoothed_sgd_averages_from_zero_and_decays_outside_the_average() -> None:
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = SmoothedSGD([w], lr=0.5, delay=0.9, weight_decay=0.1)
    g, expected = torch.zeros(2), torch.tensor([1.0, -2.0])
    for grad in (torch.tensor([1.0, 1.0]), torch.tensor([-3.0, 2.0])):
        w.grad = grad.clone()
        opt.step()
        g = 0.9 * g + 0.1 * grad
        expected = expected - 0.5 * (g + 0.1 * expected)
        assert torch.allclose(w.detach(), expected)
    # torch's SGD would have started its buffer at the full first gradient, with the decay inside it
    torch_w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    torch_opt = torch.optim.SGD([torch_w], lr=0.5, momentum=0.9, dampening=0.9, weight_decay=0.1)
    torch_w.grad = torch.tensor([1.0, 1.0])
    torch_opt.step()
    assert not torch.allclose(torch_w.detach(), torch.tensor([1.0, -2.0]) - 0.5 * (0.1 + 0.1 * 1.0))


def test_optimizer_kwargs_reach_the_optimizer_and_typos_are_named() -> None:
    p = [torch.nn.Parameter(torch.zeros(2))]
    opt = build_optimizer([{"params": p}], "sgd", 0.1, 0.0, momentum=0.9, dampening=0.9)
    assert opt.param_groups[0]["dampening"] == 0.9
    with pytest.raises(ValueError, match=r"takes no argument 'dampning'.*dampening"):
        build_optimizer([{"params": p}], "sgd", 0.1, 0.0, dampning=0.9)
    cfg = load_config(None, ["trainer.optimizer=sgd", "trainer.optimizer_kwargs={dampening: 0.5}"])
    assert dict(cfg.trainer.optimizer_kwargs) == {"dampening": 0.5}


def test_biases_and_the_head_get_their_own_weight_decay() -> None:
    torch.manual_seed(0)
    net = FFNetwork.mlp([PIXELS, 6, 5], num_classes=CLASSES, head_layers=[1])
    trainer = Trainer(
        net,
        optimizer="smoothed_sgd",
        lr=0.01,
        weight_decay=0.001,
        decay_biases=False,
        head_lr=0.1,
        head_weight_decay=0.003,
    )
    groups = {
        g["name"]: (g["lr"], g["weight_decay"], len(g["params"])) for g in trainer.optimizer.param_groups
    }
    assert groups == {
        "layer0": (0.01, 0.001, 1),
        "layer0.biases": (0.01, 0.0, 1),
        "layer1": (0.01, 0.001, 1),
        "layer1.biases": (0.01, 0.0, 1),
        "head": (0.1, 0.003, 1),
        "head.biases": (0.1, 0.0, 1),
    }


def test_a_unit_that_never_fires_recovers_only_under_ungated_peer_normalisation() -> None:
    """Hinton: the ungated term 'allows the extra term to revive units that are always off'."""
    gen = torch.Generator().manual_seed(0)
    x_pos, x_neg = torch.rand(64, 8, generator=gen) + 0.5, torch.rand(64, 8, generator=gen) - 1.5

    def unit_means_after_training(gated: bool) -> torch.Tensor:
        torch.manual_seed(0)
        layer = linear_layer(8, 4, peer_norm=0.03, peer_gated=gated, loss_kwargs={"threshold": 2.0})
        with torch.no_grad():
            layer.block.weight[0] = 0.0
            layer.block.bias[0] = -5.0  # unit 0 is off for every input, positive or negative
        opt = torch.optim.SGD(layer.parameters(), lr=0.5)
        for _ in range(200):
            h = layer(torch.cat([x_pos, x_neg]))
            loss, _ = layer.local_loss(h[:64], h[64:])
            opt.zero_grad()
            loss.backward()
            opt.step()
        return layer.running_mean.clone()

    gated, ungated = unit_means_after_training(True), unit_means_after_training(False)
    assert gated[0] == 0 and gated[1:].max() > 1  # no gradient ever reaches a dead ReLU
    assert ungated[0] > 0.9 * ungated[1:].mean()  # the ungated term turned it back on, level with its peers


def test_ungated_peer_gradient_reaches_the_total_input_of_an_off_unit() -> None:
    layer = linear_layer(3, 2, peer_norm=0.1, peer_momentum=0.0, peer_gated=False, loss="softplus")
    with torch.no_grad():
        layer.block.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]]))
        layer.block.bias.zero_()
    x = torch.tensor([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0]])
    h = layer(torch.cat([x, x]))  # unit 1 is off everywhere
    loss, _ = layer.local_loss(h[:2], h[2:])
    loss.backward()
    # unit means r = (1.5, 0), r_bar = 0.75: the penalty's gradient on unit 1's bias is λ (r_1 − r̄) = −0.075
    assert layer.block.bias.grad[1] == pytest.approx(-0.075)


def test_ungated_peer_normalisation_refuses_positives_from_elsewhere() -> None:
    layer = linear_layer(3, 2, peer_norm=0.1, peer_gated=False)
    h = layer(torch.rand(4, 3))
    with pytest.raises(RuntimeError, match=r"first rows of this layer's latest training forward"):
        layer.local_loss(h[2:] * 1.0, h[:2])


@pytest.mark.parametrize("norm", ["rms", "length", "centered"])
@pytest.mark.parametrize("labels", ["overlay", "append"])
def test_all_label_scoring_stays_exact_with_a_normalised_input(norm: str, labels: str) -> None:
    torch.manual_seed(0)
    net = FFNetwork.mlp(
        [PIXELS, 9, 7, 5],
        num_classes=CLASSES,
        labels=labels,
        input_normalize=norm,
        goodness="sumsq",
        label_strength=2.0,
    )
    x = torch.rand(6, PIXELS)
    fast, naive = net.label_goodness(x), net.label_goodness_naive(x)
    assert torch.allclose(fast, naive, rtol=1e-5, atol=1e-5)
    cand = torch.tensor([[3, 1], [0, 9], [4, 4], [2, 7], [8, 5], [6, 0]])
    assert torch.allclose(
        net.candidate_scores(x, cand), naive[:, :, [1, 2]].sum(2).gather(1, cand), atol=1e-5
    )
    # the input each layer sees really is normalised, label pixels included
    embedded = net.embed(x, torch.zeros(6, dtype=torch.long))
    if norm == "rms":
        assert torch.allclose(embedded.pow(2).mean(1), torch.ones(6), atol=1e-5)


def test_hinton_init_draws_weights_by_fan_in_and_zeroes_biases_and_head() -> None:
    torch.manual_seed(0)
    net = initialize(FFNetwork.mlp([784, 1000, 500], num_classes=CLASSES), "hinton")
    for layer, fan_in in zip(net.layers, (784, 1000)):
        assert float(layer.block.weight.detach().std()) == pytest.approx(fan_in**-0.5, rel=0.02)
        assert not layer.block.bias.any()
    assert not net.head.weight.any() and not net.head.bias.any()


def test_bad_values_of_the_new_keys_fail_at_config_load() -> None:
    with pytest.raises(ConfigError, match=r"unknown model.input_normalize 'rsm'.*Did you mean 'rms'"):
        load_config(None, ["model.input_normalize=rsm"])
    with pytest.raises(ConfigError, match=r"unknown model.init 'hintn'.*Did you mean 'hinton'"):
        load_config(None, ["model.init=hintn"])
    with pytest.raises(ConfigError, match=r"unknown trainer.optimizer 'smoothed_sdg'"):
        load_config(None, ["trainer.optimizer=smoothed_sdg"])
    with pytest.raises(ConfigError, match=r"unknown trainer.cooldown_every .batch.; valid: step, epoch"):
        load_config(None, ["trainer.cooldown_every=batch"])
    with pytest.raises(ConfigError, match=r"recurrent supports neither"):
        load_config(None, ["model.kind=recurrent", "model.input_normalize=rms"])
