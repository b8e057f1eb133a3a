"""FFLayer and FFNetwork: the FF invariant (each layer gets only its own gradient), batched all-label
scoring against a naive loop, and one local step against plain autograd."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import INPUT_DIM, NUM_CLASSES
from torch import nn

from forwardforward import FFLayer, FFNetwork, linear_layer
from forwardforward.labels.embeddings import Append, Overlay


def _pos_neg(net: FFNetwork, n: int = 12, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, INPUT_DIM, generator=gen)
    y = torch.arange(n) % NUM_CLASSES
    return net.embed(x, y), net.embed(x, (y + 1) % NUM_CLASSES)


def _layer_grads(net: FFNetwork) -> list[list[torch.Tensor | None]]:
    return [[None if p.grad is None else p.grad.clone() for p in layer.parameters()] for layer in net.layers]


# ----------------------------------------------------------------------------- the FF invariant


@pytest.mark.parametrize("peer_norm", [0.0, 0.03])
def test_each_local_loss_reaches_only_its_own_layer(make_net, peer_norm: float) -> None:
    net = make_net(dims=[INPUT_DIM, 12, 10, 8], peer_norm=peer_norm)
    x_pos, x_neg = _pos_neg(net)
    # Peer norm updates its running means on every pass: start every pass from the same ones.
    buffers = {k: v.clone() for k, v in net.named_buffers()}
    own: list[list[torch.Tensor | None]] = []
    for i in range(3):
        net.zero_grad(set_to_none=True)
        net.load_state_dict(buffers, strict=False)
        losses, _ = net.local_losses(x_pos, x_neg)
        losses[i].backward()
        grads = _layer_grads(net)
        for j in range(3):
            if j == i:
                assert all(g is not None and float(g.abs().sum()) > 0 for g in grads[j])
            else:
                assert all(g is None for g in grads[j]), f"loss {i} leaked into layer {j}"
        assert all(p.grad is None for p in net.head.parameters())
        own.append(grads[i])
    # One backward of the summed losses gives every layer exactly its own local gradient.
    net.zero_grad(set_to_none=True)
    net.load_state_dict(buffers, strict=False)
    losses, _ = net.local_losses(x_pos, x_neg)
    torch.stack(losses).sum().backward()
    for i, grads in enumerate(_layer_grads(net)):
        for g_sum, g_own in zip(grads, own[i]):
            assert torch.allclose(g_sum, g_own, atol=1e-7)


def test_peer_norm_adds_a_penalty_only_to_its_own_layer() -> None:
    torch.manual_seed(0)
    plain = FFNetwork.mlp([INPUT_DIM, 8, 8], num_classes=NUM_CLASSES, labels="append")
    torch.manual_seed(0)
    peer = FFNetwork(
        [
            linear_layer(INPUT_DIM + NUM_CLASSES, 8),
            linear_layer(8, 8, peer_norm=0.5, peer_momentum=0.0),
        ],
        Append(NUM_CLASSES),
    )
    peer.load_state_dict(plain.state_dict(), strict=False)
    x_pos, x_neg = _pos_neg(plain)
    grads = []
    for net in (plain, peer):
        net.zero_grad(set_to_none=True)
        losses, _ = net.local_losses(x_pos, x_neg)
        torch.stack(losses).sum().backward()
        grads.append(_layer_grads(net))
    # Layer 0 is untouched by layer 1's penalty; layer 1's gradient changes.
    for a, b in zip(grads[0][0], grads[1][0]):
        assert torch.equal(a, b)
    assert not torch.allclose(grads[0][1][0], grads[1][1][0])
    # With momentum 0 the penalty is half the summed squared spread of the unit means around their
    # average, so its gradient w.r.t. each unit's mean is that unit's deviation (Hinton's rule).
    h_pos = peer.activities(x_pos)[1].detach()
    unit_mean = h_pos.mean(0)
    penalty = (unit_mean - unit_mean.mean()).pow(2).sum() / 2
    with torch.no_grad():
        loss_plain = plain.local_losses(x_pos, x_neg)[0][1]
        loss_peer = peer.local_losses(x_pos, x_neg)[0][1]
    assert float(loss_peer) == pytest.approx(float(loss_plain) + 0.5 * float(penalty), rel=1e-5)
    assert torch.allclose(peer.layers[1].running_mean, unit_mean.detach(), atol=1e-6)


def test_peer_norm_gradient_is_hintons_rule() -> None:
    """d(penalty)/d(unit j's batch-mean activity) = λ (r_j − r̄), whatever the momentum."""
    layer = linear_layer(4, 3, peer_norm=0.03, peer_momentum=0.9)
    layer.running_mean.copy_(torch.tensor([0.2, 1.0, 3.0]))
    h = torch.tensor([[1.0, 0.0, 2.0], [3.0, 2.0, 0.0]], requires_grad=True)
    penalty = layer.peer_norm * layer._peer_penalty(h)
    penalty.backward()
    running = 0.9 * torch.tensor([0.2, 1.0, 3.0]) + 0.1 * h.detach().mean(0)
    expected = 0.03 * (running - running.mean()) / 2  # per sample: the batch mean divides by B = 2
    assert torch.allclose(h.grad, expected.expand(2, 3), atol=1e-7)


def test_peer_norm_running_mean_moves_only_in_training_mode() -> None:
    layer = linear_layer(4, 3, peer_norm=0.1, peer_momentum=0.9)
    h = torch.ones(5, 3)
    layer.eval()
    layer.local_loss(h, h)
    assert torch.equal(layer.running_mean, torch.zeros(3))
    layer.train()
    layer.local_loss(h, h)
    assert torch.allclose(layer.running_mean, torch.full((3,), 0.1))


def test_layer_input_is_detached_and_passed_on_normalised() -> None:
    layer = linear_layer(5, 6, normalize="rms")
    x = torch.randn(3, 5, requires_grad=True)
    h = layer(x)
    h.sum().backward()
    assert x.grad is None  # no gradient leaves a layer
    out = layer.pass_on(h)
    assert not out.requires_grad
    assert torch.allclose(out.pow(2).mean(1), torch.ones(3), atol=1e-4)


def test_local_losses_for_chosen_layers_stop_early(make_net) -> None:
    net = make_net(dims=[INPUT_DIM, 12, 10, 8])
    x_pos, x_neg = _pos_neg(net)
    all_losses, all_stats = net.local_losses(x_pos, x_neg)
    some, stats = net.local_losses(x_pos, x_neg, layers=[1])
    assert len(some) == 1 and len(stats) == 1
    assert torch.allclose(some[0], all_losses[1])
    assert stats[0].loss == pytest.approx(all_stats[1].loss)


def test_layer_stats_are_the_batch_statistics() -> None:
    layer = FFLayer(nn.Identity(), activation="identity", goodness="sumsq", loss="symba", num_units=2)
    h_pos = torch.tensor([[1.0, 1.0], [2.0, 0.0], [0.0, 0.0]])  # goodness 2, 4, 0
    h_neg = torch.tensor([[0.0, 1.0], [3.0, 0.0], [0.0, 0.0]])  # goodness 1, 9, 0
    loss, st = layer.local_loss(h_pos, h_neg)
    assert st.g_pos == pytest.approx(2.0) and st.g_neg == pytest.approx(10 / 3)
    assert st.separation == pytest.approx(1 / 3)  # only pair 0 has g_pos > g_neg
    assert st.loss == pytest.approx(float(loss))


# ----------------------------------------------------------------------------- one step vs plain autograd


def test_one_local_step_matches_plain_autograd() -> None:
    """A 4-unit layer, one SGD step through net.local_losses, against the same step written by hand."""
    torch.manual_seed(0)
    net = FFNetwork.mlp(
        [3, 4],
        num_classes=2,
        labels="append",
        head=False,
        goodness="sumsq",
        loss="softplus",
        loss_kwargs={"threshold": "width"},
    )
    w0 = net.layers[0].block.weight.detach().clone()
    b0 = net.layers[0].block.bias.detach().clone()
    x = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.2, -0.3]])
    y = torch.tensor([0, 1])
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    losses, _ = net.local_losses(net.embed(x, y), net.embed(x, 1 - y))
    opt.zero_grad()
    torch.stack(losses).sum().backward()
    opt.step()

    w, b = w0.clone().requires_grad_(), b0.clone().requires_grad_()
    x_pos = torch.cat([x, F.one_hot(y, 2).float()], 1)
    x_neg = torch.cat([x, F.one_hot(1 - y, 2).float()], 1)
    g_pos = torch.relu(x_pos @ w.T + b).pow(2).sum(1)
    g_neg = torch.relu(x_neg @ w.T + b).pow(2).sum(1)
    theta = 4.0  # "width" of a 4-unit layer
    loss = 0.5 * (F.softplus(-(g_pos - theta)).mean() + F.softplus(g_neg - theta).mean())
    loss.backward()
    assert float(losses[0].detach()) == pytest.approx(float(loss.detach()), rel=1e-6)
    assert torch.allclose(net.layers[0].block.weight, w0 - 0.1 * w.grad, atol=1e-7)
    assert torch.allclose(net.layers[0].block.bias, b0 - 0.1 * b.grad, atol=1e-7)
    assert float((net.layers[0].block.weight.detach() - w0).abs().max()) > 1e-3  # the step did something


# ----------------------------------------------------------------------------- all-label scoring


def _naive_goodness(net: FFNetwork, x: torch.Tensor) -> torch.Tensor:
    """[B, C, L] by embedding each label in turn and running the whole network."""
    out = []
    for c in range(net.num_classes):
        acts = net.activities(net.embed(x, torch.full((len(x),), c)))
        out.append(torch.stack([layer.goodness(h) for layer, h in zip(net.layers, acts)], 1))
    return torch.stack(out, 1)


class Wrapped(nn.Module):
    """A non-Linear first block (forces the generic all-label path)."""

    def __init__(self, a: int, b: int) -> None:
        super().__init__()
        self.inner = nn.Linear(a, b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x) * 1.5


def _opaque_net(labels: str) -> FFNetwork:
    emb = Overlay(NUM_CLASSES) if labels == "overlay" else Append(NUM_CLASSES)
    d = emb.output_dim(INPUT_DIM)
    return FFNetwork(
        [FFLayer(Wrapped(d, 10), num_units=10), linear_layer(10, 9, normalize="length"), linear_layer(9, 7)],
        emb,
    )


@pytest.mark.parametrize("labels", ["overlay", "append"])
@pytest.mark.parametrize("first", ["linear", "opaque"])
@pytest.mark.parametrize("chunk_size", [1024, 8, 3])
def test_label_goodness_equals_a_naive_loop_over_labels(
    make_net, labels: str, first: str, chunk_size: int
) -> None:
    torch.manual_seed(1)
    if first == "linear":
        net = make_net(dims=[INPUT_DIM, 10, 9, 7], labels=labels, goodness="sumsq", label_strength=3.0)
    else:
        net = _opaque_net(labels)
    x = torch.randn(11, 1, 1, INPUT_DIM)
    fast = net.label_goodness(x, chunk_size=chunk_size)
    naive = _naive_goodness(net, x)
    assert fast.shape == (11, NUM_CLASSES, 3)
    assert torch.allclose(fast, naive, rtol=1e-5, atol=1e-5)
    scores = naive[:, :, net.score_layers].sum(2)
    assert net.score_layers == [1, 2]
    assert torch.allclose(net.scores(x), scores, rtol=1e-5, atol=1e-5)
    assert torch.equal(net.predict(x), scores.argmax(1))
    assert torch.equal(net.predict(x), net.predict(x, mode="goodness"))
    assert torch.allclose(net.scores(x, layers=[0]), naive[:, :, 0], rtol=1e-5, atol=1e-5)


def test_evaluate_agrees_with_predict(make_net, blobs_test) -> None:
    net = make_net()
    res = net.evaluate(blobs_test, batch_size=100)
    y = blobs_test.y
    g = _naive_goodness(net, blobs_test.x)
    assert res["accuracy"] == pytest.approx(float((net.predict(blobs_test.x) == y).float().mean()))
    assert res["head_accuracy"] == pytest.approx(
        float((net.predict(blobs_test.x, mode="head") == y).float().mean())
    )
    per_layer = (g.argmax(1) == y.unsqueeze(1)).float().mean(0)
    assert res["layer_accuracy"] == pytest.approx(per_layer.tolist())
    truth = F.one_hot(y, NUM_CLASSES).bool().unsqueeze(2)
    assert res["goodness_true"] == pytest.approx((g * truth).sum((0, 1)).div(len(y)).tolist(), rel=1e-5)
    wrong = (g * ~truth).sum((0, 1)).div(len(y) * (NUM_CLASSES - 1))
    assert res["goodness_wrong"] == pytest.approx(wrong.tolist(), rel=1e-5)
    assert net.training  # evaluate restores the mode


def test_features_are_the_normalised_neutral_activities(make_net) -> None:
    net = make_net()
    x = torch.randn(5, INPUT_DIM)
    acts = net.activities(net.labels.neutral(x))
    expected = torch.cat([net.layers[i].pass_on(a) for i, a in enumerate(acts)], 1)
    assert torch.allclose(net.features(x), expected)
    assert net.head.in_features == 64
    assert torch.allclose(net.features(x, layers=[-1]), expected[:, 32:])
    assert torch.allclose(net.head_logits(x), net.head(expected), atol=1e-6)


def test_network_argument_errors(make_net) -> None:
    msg = r"score_layers must be non-empty layer indices in \[0, 2\); got \[2\]"
    with pytest.raises(ValueError, match=msg):
        make_net(score_layers=[2])
    with pytest.raises(ValueError, match="head_layers"):
        make_net(head_layers=[])
    with pytest.raises(ValueError, match="at least one hidden size"):
        FFNetwork.mlp([16])
    with pytest.raises(ValueError, match="at least one layer"):
        FFNetwork([])
    with pytest.raises(ValueError, match="unknown prediction mode 'vote'"):
        make_net().predict(torch.zeros(1, INPUT_DIM), mode="vote")
    headless = make_net(head=False)
    assert headless.head is None
    with pytest.raises(ValueError, match="no linear head"):
        headless.head_logits(torch.zeros(1, INPUT_DIM))
    with pytest.raises(ValueError, match="does not report num_units"):
        FFNetwork([FFLayer(Wrapped(20, 4))], Append(NUM_CLASSES))
    assert make_net(score_layers=[-1]).score_layers == [1]
    assert make_net(dims=[INPUT_DIM, 8]).score_layers == [0]  # one layer scores itself
