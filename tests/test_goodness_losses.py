"""Oracle tests: goodness and losses on a 2x3 tensor against numbers written from their formulas, and the
"width" threshold's resolution and rejection."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from forwardforward import FFLayer, FFNetwork, linear_layer
from forwardforward.goodness import GOODNESS, LpNorm
from forwardforward.losses import LOSSES, LogMarginLoss, SigmoidDifferenceLoss, SoftplusLoss, SymBaLoss

H = torch.tensor([[1.0, -2.0, 3.0], [0.0, 0.5, -1.0]])


def softplus(z: float) -> float:
    return math.log1p(math.exp(z))


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


@pytest.mark.parametrize(
    ("name", "kwargs", "expected"),
    [
        ("sumsq", {}, [1 + 4 + 9, 0 + 0.25 + 1]),
        ("sum_squares", {}, [14.0, 1.25]),
        ("meansq", {}, [14 / 3, 1.25 / 3]),
        ("l2", {}, [math.sqrt(14), math.sqrt(1.25)]),
        ("l1", {}, [1 + 2 + 3, 0 + 0.5 + 1]),
        ("lp", {"p": 3.0}, [(1 + 8 + 27) ** (1 / 3), (0 + 0.125 + 1) ** (1 / 3)]),
        ("lp", {}, [math.sqrt(14), math.sqrt(1.25)]),  # p defaults to 2
        ("topk", {"k": 2}, [(9 + 4) / 2, (1 + 0.25) / 2]),  # the two largest squares of each row
        ("topk", {"k": 3}, [14 / 3, 1.25 / 3]),  # k = width is the mean of squares
    ],
)
def test_goodness_oracle(name: str, kwargs: dict, expected: list[float]) -> None:
    g = GOODNESS.build(name, **kwargs)(H)
    assert torch.allclose(g, torch.tensor(expected), rtol=1e-6, atol=1e-6)


def test_sumsq_gradient_is_twice_the_activity() -> None:
    h = H.clone().requires_grad_()
    GOODNESS.build("sumsq")(h).sum().backward()
    assert torch.equal(h.grad, 2 * H)


def test_topk_gradient_reaches_only_each_samples_k_strongest_activities() -> None:
    """The competition: a sample trains only its k best-matching units; the rest get exactly zero."""
    h = torch.tensor([[0.1, -3.0, 2.0, 0.5], [4.0, 0.2, -0.3, 1.0]], requires_grad=True)
    GOODNESS.build("topk", k=2)(h).sum().backward()
    strongest = torch.tensor([[False, True, True, False], [True, False, False, True]])
    assert torch.equal(h.grad != 0, strongest)
    assert torch.allclose(h.grad[strongest], (2 * h / 2)[strongest].detach())


def test_topk_counts_every_position_of_a_conv_map() -> None:
    h = torch.zeros(1, 2, 3, 3)
    h[0, 1, 2, 2], h[0, 0, 0, 1] = 3.0, -2.0
    assert torch.allclose(GOODNESS.build("topk", k=2)(h), torch.tensor([(9 + 4) / 2]))


@pytest.mark.parametrize("k", [0, -1, 2.5])
def test_topk_rejects_a_k_that_is_not_a_positive_integer(k: float) -> None:
    with pytest.raises(ValueError, match=f"positive integer k, got k={k}"):
        GOODNESS.build("topk", k=k)


def test_topk_larger_than_the_layer_says_which_k_fits() -> None:
    with pytest.raises(ValueError, match=r"k=5 but the layer has only 3 activities .* k <= 3 \(model.topk\)"):
        GOODNESS.build("topk", k=5)(H)


def test_lp_rejects_nonpositive_p() -> None:
    with pytest.raises(ValueError, match="p > 0, got p=0"):
        LpNorm(p=0)


G_POS = torch.tensor([3.0, 1.0])
G_NEG = torch.tensor([0.5, 2.5])


def test_softplus_loss_oracle() -> None:
    theta = 2.0
    expected = 0.5 * (
        (softplus(-(3 - theta)) + softplus(-(1 - theta))) / 2
        + (softplus(0.5 - theta) + softplus(2.5 - theta)) / 2
    )
    assert float(SoftplusLoss(threshold=2.0)(G_POS, G_NEG)) == pytest.approx(expected, rel=1e-6)
    assert float(LOSSES.build("logistic", threshold=2.0)(G_POS, G_NEG)) == pytest.approx(expected, rel=1e-6)


def test_softplus_loss_temperature_divides_the_margin() -> None:
    theta, t = 2.0, 2.0
    expected = 0.5 * (
        (softplus(-(3 - theta) / t) + softplus(-(1 - theta) / t)) / 2
        + (softplus((0.5 - theta) / t) + softplus((2.5 - theta) / t)) / 2
    )
    assert float(SoftplusLoss(2.0, temperature=t)(G_POS, G_NEG)) == pytest.approx(expected, rel=1e-6)


def test_sigmoid_diff_loss_oracle() -> None:
    theta = 1.5
    expected = (sigmoid(0.5 - theta) + sigmoid(2.5 - theta)) / 2 - (
        sigmoid(3 - theta) + sigmoid(1 - theta)
    ) / 2
    loss = SigmoidDifferenceLoss(threshold=theta)(G_POS, G_NEG)
    assert float(loss) == pytest.approx(expected, rel=1e-6)
    assert -1 < float(loss) < 1


@pytest.mark.parametrize("alpha", [4.0, 0.5])
def test_symba_loss_oracle(alpha: float) -> None:
    expected = (softplus(-alpha * (3 - 0.5)) + softplus(-alpha * (1 - 2.5))) / 2
    assert float(SymBaLoss(alpha=alpha)(G_POS, G_NEG)) == pytest.approx(expected, rel=1e-6)


def test_symba_default_alpha_is_four() -> None:
    expected = (softplus(-4 * 2.5) + softplus(-4 * -1.5)) / 2
    assert float(LOSSES.build("symba")(G_POS, G_NEG)) == pytest.approx(expected, rel=1e-6)


def test_symba_needs_paired_batches() -> None:
    with pytest.raises(ValueError, match=r"same shape; got \(2,\) and \(3,\)"):
        SymBaLoss()(G_POS, torch.zeros(3))


def test_goodness_then_loss_oracle_on_a_2x3_activity() -> None:
    """The whole local loss of a layer on the 2x3 activities: positives are row 0, negatives row 1."""
    g = GOODNESS.build("sumsq")(H)  # [14, 1.25]
    loss = SoftplusLoss(threshold=3.0)(g[:1], g[1:])
    assert float(loss) == pytest.approx(0.5 * (softplus(-(14 - 3)) + softplus(1.25 - 3)), rel=1e-6)


# ----------------------------------------------------------------------------- thresholds


def test_width_threshold_resolves_to_the_layers_units_with_sumsq() -> None:
    layer = FFLayer(nn.Linear(3, 4), goodness="sumsq", loss="softplus", loss_kwargs={"threshold": "width"})
    assert layer.loss.threshold == 4.0
    net = FFNetwork.mlp(
        [6, 8, 5], num_classes=2, goodness="sumsq", loss="sigmoid_diff", loss_kwargs={"threshold": "width"}
    )
    assert [layer.loss.threshold for layer in net.layers] == [8.0, 5.0]
    # The resolved threshold is the one the loss uses.
    g_pos, g_neg = torch.tensor([9.0]), torch.tensor([1.0])
    assert float(net.layers[0].loss(g_pos, g_neg)) == pytest.approx(sigmoid(1 - 8) - sigmoid(9 - 8), rel=1e-6)


@pytest.mark.parametrize("goodness", ["meansq", "l2", "l1", "lp"])
def test_width_threshold_is_rejected_for_width_independent_goodness(goodness: str) -> None:
    with pytest.raises(
        ValueError, match=r"threshold='width' only makes sense .*sum of squares.*Give a number"
    ):
        linear_layer(3, 4, goodness=goodness, loss="softplus", loss_kwargs={"threshold": "width"})


def test_width_threshold_needs_units_for_an_opaque_block() -> None:
    width = {"goodness": "sumsq", "loss": "softplus", "loss_kwargs": {"threshold": "width"}}
    with pytest.raises(ValueError, match="pass num_units="):
        FFLayer(nn.Sequential(nn.Linear(3, 4)), **width)
    layer = FFLayer(nn.Sequential(nn.Linear(3, 4)), num_units=4, **width)
    assert layer.loss.threshold == 4.0


def test_unresolved_width_threshold_says_how_to_resolve_it() -> None:
    loss = SoftplusLoss(threshold="width")
    with pytest.raises(RuntimeError, match=r"resolve_threshold\(num_units\)"):
        loss(G_POS, G_NEG)
    loss.resolve_threshold(7)
    assert loss.threshold == 7.0


def test_a_numeric_threshold_is_not_changed_by_resolution() -> None:
    loss = SoftplusLoss(threshold=2.5)
    loss.resolve_threshold(100)
    assert loss.threshold == 2.5


def test_threshold_must_be_a_number_or_width() -> None:
    with pytest.raises(ValueError, match="threshold must be a number or 'width', got 'wide'"):
        SoftplusLoss(threshold="wide")


def test_log_margin_loss_oracle_and_safe_domain() -> None:
    """log(1 + θ − g_pos) + log(1 − θ + g_neg), halved; arguments below ``floor`` are clamped."""
    loss = LogMarginLoss(threshold=2.0, floor=0.05)
    g_pos, g_neg = torch.tensor([2.5, 1.0]), torch.tensor([1.5, 2.0])
    expected = 0.5 * ((math.log(0.5) + math.log(2.0)) / 2 + (math.log(0.5) + math.log(1.0)) / 2)
    assert float(loss(g_pos, g_neg)) == pytest.approx(expected, rel=1e-6)
    # Far past the margin (argument < 0, where the log is undefined): finite, constant, zero gradient.
    far_pos = torch.tensor([10.0], requires_grad=True)
    far_neg = torch.tensor([-10.0], requires_grad=True)
    value = loss(far_pos, far_neg)
    value.backward()
    assert value.item() == pytest.approx(math.log(0.05), rel=1e-6)
    assert float(far_pos.grad) == 0.0 and float(far_neg.grad) == 0.0
    with pytest.raises(ValueError, match="floor must be > 0"):
        LogMarginLoss(floor=0.0)


def test_topk_from_the_config_reaches_recurrent_layers_and_channel_groups() -> None:
    """model.topk reaches every builder that takes the goodness from the config, not only MLP and CNN."""
    from forwardforward.experiment.build import build_network
    from forwardforward.experiment.config import load_config
    from forwardforward.goodness import ChannelGroupGoodness, TopKMeanSquares

    topk = ["model.goodness=topk", "model.topk=3", "model.hidden=[8,8]"]
    recurrent = build_network(load_config(None, ["model.kind=recurrent", *topk]), 64, 10)
    cwc = [
        "model.kind=cnn",
        "model.labels=channels",
        "model.loss=channel_ce",
        "model.conv=[{channels: 10, kernel: 3}]",
    ]
    channels = build_network(load_config(None, [*cwc, *topk]), 64, 10)
    for layer in recurrent.layers:
        assert isinstance(layer.goodness, TopKMeanSquares) and layer.goodness.k == 3
    group = channels.layers[0].goodness
    assert isinstance(group, ChannelGroupGoodness) and isinstance(group.base, TopKMeanSquares)
    assert group.base.k == 3
