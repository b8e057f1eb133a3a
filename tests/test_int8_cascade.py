"""Issue 7, prediction speed: int8 deep layers, and the cascade that re-scores close calls exactly."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from conftest import INPUT_DIM, NUM_CLASSES
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import forwardforward as ff
from forwardforward import FFNetwork, Trainer
from forwardforward.inference.int8 import Int8Linear, int8_matmul, int8_matmul_emulated, quantize_int8


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 9),
    k=st.integers(1, 70),
    out=st.integers(1, 20),
    seed=st.integers(0, 10_000),
    x_scale=st.floats(1e-3, 1e3),
    w_scale=st.floats(1e-3, 1e2),
)
def test_int8_linear_error_is_within_half_a_step_of_each_operand(
    rows: int, k: int, out: int, seed: int, x_scale: float, w_scale: float
) -> None:
    gen = torch.Generator().manual_seed(seed)
    linear = nn.Linear(k, out)
    with torch.no_grad():
        linear.weight.copy_(torch.randn(out, k, generator=gen) * w_scale)
    x = torch.randn(rows, k, generator=gen) * x_scale
    x[0] = 0.0  # an all-zero row (a dead ReLU state) must not divide by zero
    q = Int8Linear.from_linear(linear)
    got, want = q(x), linear(x).detach()
    s_x = x.abs().amax(1, keepdim=True) / 127  # [rows, 1]
    s_w = linear.weight.detach().abs().amax(1) / 127  # [out]
    w_l1 = linear.weight.detach().abs().sum(1)
    bound = s_x * w_l1 / 2 + s_w * x.abs().sum(1, keepdim=True) / 2 + k * s_x * s_w / 4
    slack = 1e-4 * (x.abs() @ linear.weight.detach().abs().t() + linear.bias.detach().abs())  # float rounding
    assert torch.isfinite(got).all()
    assert ((got - want).abs() <= bound + slack + 1e-6).all()
    torch.testing.assert_close(got[0], linear.bias.detach())
    w = linear.weight.detach()
    assert ((q.dequantized_weight() - w).abs() <= s_w.unsqueeze(1) / 2 * (1 + 1e-5)).all()


def test_int8_matmul_is_the_exact_integer_product_and_the_emulation_agrees() -> None:
    gen = torch.Generator().manual_seed(0)
    a = torch.randint(-127, 128, (33, 70), generator=gen, dtype=torch.int8)
    b = torch.randint(-127, 128, (70, 17), generator=gen, dtype=torch.int8)
    exact = (a.long() @ b.long()).to(torch.int32)
    assert torch.equal(int8_matmul(a, b), exact)
    assert torch.equal(int8_matmul_emulated(a, b), exact)  # sums far below 2**24: exact in float32
    # Size-1 dimensions with odd strides (what .t().contiguous() of a [2, 1] gives) are still read right.
    col = torch.tensor([[0], [127]], dtype=torch.int8).as_strided((2, 1), (1, 1))
    row = torch.tensor([[127, -127]], dtype=torch.int8).as_strided((1, 2), (1, 1))
    for _ in range(5):
        assert torch.equal(int8_matmul(col, row), torch.tensor([[0, 0], [16129, -16129]], dtype=torch.int32))


def test_int8_linear_rejects_a_wrong_width_and_keeps_leading_dims() -> None:
    q = Int8Linear.from_linear(nn.Linear(8, 3))
    assert q(torch.randn(2, 5, 8)).shape == (2, 5, 3)
    with pytest.raises(ValueError, match="8 features"):
        q(torch.randn(4, 7))


def test_quantize_int8_copies_and_keeps_the_first_layer_in_float(make_net: Callable[..., FFNetwork]) -> None:
    net = make_net(dims=[INPUT_DIM, 24, 24, 24])
    before = {k: v.clone() for k, v in net.state_dict().items()}
    q = quantize_int8(net)
    assert isinstance(q.layers[0].block, nn.Linear)
    assert all(isinstance(layer.block, Int8Linear) for layer in q.layers[1:])
    assert all(isinstance(layer.block, nn.Linear) for layer in net.layers)  # the original is untouched
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k])
    only_last = quantize_int8(net, layers=[2])
    assert [type(layer.block) for layer in only_last.layers] == [nn.Linear, nn.Linear, Int8Linear]
    x = torch.randn(64, INPUT_DIM)
    full, fast = net.scores(x), q.scores(x)
    assert (fast - full).abs().max() <= 0.05 * full.abs().max()


def test_quantize_int8_rejects_what_it_cannot_quantise(make_net: Callable[..., FFNetwork]) -> None:
    net = make_net()
    with pytest.raises(ValueError, match="out of range"):
        quantize_int8(net, layers=[2])
    with pytest.raises(ValueError, match="quantises nothing"):
        quantize_int8(net, layers=[])
    with pytest.raises(TypeError, match="FFNetwork"):
        quantize_int8(nn.Linear(3, 3))
    conv = ff.FFNetwork([ff.FFLayer(nn.Conv2d(1, 2, 3)), ff.FFLayer(nn.Conv2d(2, 2, 3))], head=False)
    with pytest.raises(ValueError, match="nothing to quantise"):
        quantize_int8(conv)
    with pytest.raises(ValueError, match="not linear"):
        quantize_int8(conv, layers=[1])


def test_quantize_int8_layer_choice_counts_from_the_end_and_ignores_repeats(
    make_net: Callable[..., FFNetwork],
) -> None:
    net = make_net(dims=[INPUT_DIM, 24, 24, 24])
    q = quantize_int8(net, layers=[-1, 2, 2])
    assert [type(layer.block) for layer in q.layers] == [nn.Linear, nn.Linear, Int8Linear]


def test_int8_dense_layer_after_conv_layers_sees_the_flattened_maps() -> None:
    torch.manual_seed(0)
    net = ff.FFNetwork(
        [ff.FFLayer(nn.Conv2d(1, 3, 3)), ff.FFLayer(nn.Linear(3 * 6 * 6, 16)), ff.FFLayer(nn.Linear(16, 8))],
        head=False,
    )
    q = quantize_int8(net)  # the default skips the conv layer and quantises both dense ones
    assert [type(layer.block) for layer in q.layers] == [nn.Conv2d, Int8Linear, Int8Linear]
    x = torch.randn(5, 1, 8, 8)
    want, got = net.activities(x)[-1], q.activities(x)[-1]
    assert got.shape == want.shape == (5, 8)
    assert (got - want).abs().max() <= 0.05 * want.abs().max()


def test_int8_keeps_the_callers_dtype(make_net: Callable[..., FFNetwork]) -> None:
    net = make_net(dims=[INPUT_DIM, 24, 24]).double()
    x = torch.randn(30, INPUT_DIM, dtype=torch.float64)
    assert quantize_int8(net).layers[1](torch.randn(3, 24, dtype=torch.float64)).dtype == torch.float64
    cascade = ff.inference.CascadeScorer(net, keep=2, margin=float("inf"))
    s = cascade.scores(x)
    assert s.dtype == torch.float64
    assert torch.equal(s.argmax(1), net.scores(x).argmax(1))


def test_candidate_scores_equal_the_full_scores_of_those_labels(make_net: Callable[..., FFNetwork]) -> None:
    net = make_net(dims=[INPUT_DIM, 24, 24, 24])
    x = torch.randn(20, INPUT_DIM)
    cand = torch.stack([torch.randperm(NUM_CLASSES)[:3] for _ in range(20)])
    torch.testing.assert_close(net.candidate_scores(x, cand), net.scores(x).gather(1, cand))
    layers = [0, 2]
    full = net.label_goodness(x)[:, :, layers].sum(2)
    torch.testing.assert_close(net.candidate_scores(x, cand, layers=layers), full.gather(1, cand))
    with pytest.raises(ValueError, match=r"\[B, K\]"):
        net.candidate_scores(x, cand[:5])
    with pytest.raises(ValueError, match="candidate labels"):
        net.candidate_scores(x, cand + NUM_CLASSES)


def test_cascade_rescoring_every_row_with_every_label_is_exact(make_net: Callable[..., FFNetwork]) -> None:
    net = make_net(dims=[INPUT_DIM, 24, 24, 24])
    x = torch.randn(50, INPUT_DIM)
    cascade = ff.inference.CascadeScorer(net, keep=NUM_CLASSES, margin=float("inf"))
    torch.testing.assert_close(cascade.scores(x), net.scores(x))
    assert cascade.rescored == cascade.seen == 50
    never = ff.inference.CascadeScorer(net, fast=cascade.fast, margin=0.0)
    assert torch.equal(never.scores(x), cascade.fast.scores(x))  # margin 0: the int8 answer stands
    assert never.rescored == 0


def test_cascade_rescored_rows_get_exact_shortlist_scores(make_net: Callable[..., FFNetwork]) -> None:
    net = make_net(dims=[INPUT_DIM, 24, 24, 24])
    x = torch.randn(40, INPUT_DIM)
    cascade = ff.inference.CascadeScorer(net, keep=2, margin=float("inf"))
    s = cascade.scores(x)
    finite = torch.isfinite(s)
    assert (finite.sum(1) == 2).all()
    shortlist = cascade.fast.scores(x).topk(2, 1).indices
    assert torch.equal(finite, torch.zeros_like(finite).scatter(1, shortlist, True))
    torch.testing.assert_close(s[finite], net.scores(x)[finite])


def test_calibrated_cascade_matches_the_float_network_on_held_out_data(
    make_net: Callable[..., FFNetwork], blobs_train: ff.data.ArrayDataset, blobs_test: ff.data.ArrayDataset
) -> None:
    net = make_net(dims=[INPUT_DIM, 64, 64, 64])
    Trainer(net, negatives="hard", lr=0.01, seed=0, progress=False).fit(blobs_train, 3, 32)
    cascade = ff.inference.CascadeScorer(net, keep=2)
    margin = cascade.calibrate(blobs_train.x, quantile=1.0)
    err = (cascade.fast.scores(blobs_train.x) - net.scores(blobs_train.x)).abs().max()
    assert margin == pytest.approx(2 * float(err))
    exact = net.predict(blobs_test.x)
    assert torch.equal(cascade.predict(blobs_test.x), exact)
    assert cascade.rescored < cascade.seen  # a trained net's clear calls are left to int8
    assert (exact == blobs_test.y).float().mean() > 0.9


def test_cascade_arguments_are_checked(make_net: Callable[..., FFNetwork]) -> None:
    net = make_net()
    with pytest.raises(ValueError, match="keep"):
        ff.inference.CascadeScorer(net, keep=1)
    with pytest.raises(ValueError, match="margin"):
        ff.inference.CascadeScorer(net, margin=-1.0)
    with pytest.raises(ValueError, match="calibrate"):
        ff.inference.CascadeScorer(net).scores(torch.randn(3, INPUT_DIM))
    with pytest.raises(ValueError, match="quantile"):
        ff.inference.CascadeScorer(net).calibrate(torch.randn(3, INPUT_DIM), quantile=0.0)


def test_cascade_rescores_the_close_calls_it_finds(make_net: Callable[..., FFNetwork]) -> None:
    net = make_net(dims=[INPUT_DIM, 64, 64, 64])
    gen = torch.Generator().manual_seed(4)
    cascade = ff.inference.CascadeScorer(net, keep=2)
    cascade.calibrate(torch.randn(400, INPUT_DIM, generator=gen))
    x = torch.randn(400, INPUT_DIM, generator=gen)
    agree = (cascade.predict(x) == net.predict(x)).float().mean()
    assert 0 < cascade.rescored < cascade.seen  # an untrained net has close calls: the float path ran
    assert agree >= (quantize_int8(net).predict(x) == net.predict(x)).float().mean()
