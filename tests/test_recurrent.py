"""Recurrent FF with top-down connections: dynamics, locality of gradients, the top-down path, the CLI."""

from __future__ import annotations

import json

import pytest
import torch

from forwardforward.data import ArrayDataset
from forwardforward.experiment.cli import main
from forwardforward.experiment.config import ConfigError, load_config
from forwardforward.models.recurrent import RecurrentFFNetwork, zero_top_down
from forwardforward.training.trainer import Trainer


def _net(damping: float = 0.3, iterations: int = 4, **kw) -> RecurrentFFNetwork:
    torch.manual_seed(0)
    return RecurrentFFNetwork.build(
        6,
        [5, 4],
        3,
        label_strength=2.0,
        damping=damping,
        iterations=iterations,
        score_from=2,
        score_to=3,
        goodness="meansq",
        loss="symba",
        **kw,
    )


def _clusters(n: int, seed: int) -> tuple[ArrayDataset, ArrayDataset]:
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(4, 12, generator=g) * 1.5
    y = torch.randint(0, 4, (n,), generator=g)
    x = centers[y] + torch.randn(n, 12, generator=g)
    cut = 3 * n // 4
    return (
        ArrayDataset.from_tensors(x[:cut], y[:cut], num_classes=4),
        ArrayDataset.from_tensors(x[cut:], y[cut:], num_classes=4),
    )


def test_damped_synchronous_update_from_neighbours_previous_states():
    net = _net(damping=0.3)
    x = net.embed(torch.randn(2, 6), torch.tensor([0, 2]))
    image, label = x[:, :6], x[:, 6:]
    old = net._initial_states(image, label)
    new = net.step(old, image, label)
    l0, l1 = net.layers
    # Layer 0 hears the image and layer 1's *old* normalised state; layer 1 hears layer 0's old one + label.
    c0 = l0(torch.cat([image, l1.pass_on(old[1])], 1))
    c1 = l1(torch.cat([l0.pass_on(old[0]), label], 1))
    torch.testing.assert_close(new[0], 0.3 * c0 + 0.7 * old[0])
    torch.testing.assert_close(new[1], 0.3 * c1 + 0.7 * old[1])
    assert len(list(net.run(x))) == 4  # `iterations` synchronous steps
    assert len(list(net.run(x, steps=2))) == 2


def test_damping_one_forgets_the_old_state():
    net = _net(damping=1.0)
    x = net.embed(torch.randn(2, 6), torch.tensor([1, 1]))
    image, label = x[:, :6], x[:, 6:]
    old = net._initial_states(image, label)
    new = net.step(old, image, label)
    torch.testing.assert_close(new[1], net.layers[1](torch.cat([net.layers[0].pass_on(old[0]), label], 1)))


def test_gradient_stays_in_its_layer_and_its_time_step():
    net = _net()
    x = net.embed(torch.randn(3, 6), torch.tensor([0, 1, 2]))
    states = list(net.run(x))
    params = {n: p for n, p in net.named_parameters() if not n.startswith("head")}
    for t in (1, 3):
        for i in range(2):
            g = net.layers[i].goodness(states[t][i]).sum()
            grads = torch.autograd.grad(g, list(params.values()), allow_unused=True, retain_graph=True)
            touched = {n for (n, _), gr in zip(params.items(), grads) if gr is not None}
            assert touched and all(n.startswith(f"layers.{i}.") for n in touched), (t, i, touched)
    # Time: the step-t gradient equals the one computed from detached step t-1 states (no BPTT).
    prev = [s.detach() for s in states[1]]
    image, label = x[:, :6], x[:, 6:]
    manual = net.step(prev, image, label)[0]
    w = net.layers[0].block.up.weight
    g_run = torch.autograd.grad(net.layers[0].goodness(states[2][0]).sum(), w)[0]
    g_manual = torch.autograd.grad(net.layers[0].goodness(manual).sum(), w)[0]
    torch.testing.assert_close(g_run, g_manual)


def test_summed_local_losses_give_each_layer_its_own_gradient():
    net = _net()
    xp = net.embed(torch.randn(4, 6), torch.tensor([0, 1, 2, 0]))
    xn = net.embed(torch.randn(4, 6), torch.tensor([1, 2, 0, 1]))
    losses, stats = net.local_losses(xp, xn)
    assert len(losses) == 2 and len(stats) == 2
    torch.stack(losses).sum().backward()
    summed = [p.grad.clone() for p in net.layers[0].parameters()]
    net.zero_grad(set_to_none=True)
    losses, _ = net.local_losses(xp, xn)
    losses[0].backward()
    assert all(p.grad is None for p in net.layers[1].parameters())
    for a, p in zip(summed, net.layers[0].parameters()):
        torch.testing.assert_close(a, p.grad)


def test_prediction_averages_goodness_over_the_window():
    net = _net(iterations=4)  # window 2..3
    x = torch.randn(2, 6)
    got = net.label_goodness(x)
    for c in range(3):
        emb = net.embed(x, torch.full((2,), c))
        steps = list(net.run(emb, 3))
        want = torch.stack(
            [torch.stack([lay.goodness(s) for lay, s in zip(net.layers, steps[t])], 1) for t in (1, 2)]
        ).mean(0)
        torch.testing.assert_close(got[:, c], want)
    assert torch.equal(net.predict(x), got.sum(2).argmax(1))  # score_layers default: every layer


def test_learns_and_the_top_down_path_carries_the_label_to_the_first_layer():
    """The first layer never sees the label directly: it can tell labels apart only through the top-down
    weights from the layer above. Trained, it classifies well; with those weights zeroed its goodness no
    longer depends on the label and its accuracy falls to chance (ties go to the first class)."""
    train, test = _clusters(800, seed=1)
    torch.manual_seed(0)
    net = RecurrentFFNetwork.build(12, [32, 32], 4, label_strength=3.0, goodness="meansq", loss="symba")
    history = Trainer(net, negatives="random", lr=0.01, progress=False).fit(train, 6, 64)
    assert history[-1]["loss/0"] < history[0]["loss/0"] and history[-1]["loss/1"] < history[0]["loss/1"]
    before = net.evaluate(test)
    assert before["accuracy"] > 0.9 and before["layer_accuracy"][0] > 0.9
    zero_top_down(net)
    after = net.evaluate(test)
    assert after["layer_accuracy"][0] < 0.4  # 4 classes: chance
    assert before["layer_accuracy"][0] - after["layer_accuracy"][0] > 0.5
    zero_top_down(net, include_label=True)
    assert net.evaluate(test)["accuracy"] < 0.4  # no label anywhere: nothing to score


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="scoring window"):
        _net(iterations=2)  # window 2..3 does not fit
    with pytest.raises(ValueError, match="damping"):
        _net(damping=0.0)
    with pytest.raises(ConfigError, match="score_from"):
        load_config(overrides=["model.kind=recurrent", "recurrent.score_to=9"])
    with pytest.raises(ConfigError, match="kind"):
        load_config(overrides=["model.kind=recurent"])
    with pytest.raises(ConfigError, match=r"recurrent does not support trainer\.schedule=greedy"):
        load_config(overrides=["model.kind=recurrent", "trainer.schedule=greedy"])


def test_cli_trains_evaluates_and_resumes_a_recurrent_net(tmp_path, capsys):
    args = [
        "model.kind=recurrent",
        "model.hidden=[24,24]",
        "recurrent.iterations=4",
        "recurrent.score_to=4",
        "recurrent.damping=0.3",  # the bar below was set with it; 12 steps are too few to compare dampings
        "trainer.epochs=1",
        "trainer.batch_size=128",
        "trainer.progress=false",
        "trainer.threads=1",
    ]
    assert main(["train", *args, "--out", str(tmp_path)]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["test_accuracy_goodness"] > 0.3  # 10 digits: chance is 0.1
    assert main(["eval", str(tmp_path / "checkpoint.pt")]) == 0
    ev = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert ev["test_accuracy_goodness"] == pytest.approx(result["test_accuracy_goodness"])
    assert main(["train", *args, "trainer.epochs=2", "--out", str(tmp_path), "--resume"]) == 0
    rows = [json.loads(r) for r in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
