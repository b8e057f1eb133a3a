"""Issue 22, prediction speed: the fused int8 scorer (affine 8-bit codes, normalisation in the scales)."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from conftest import INPUT_DIM, NUM_CLASSES
from hypothesis import given, settings
from hypothesis import strategies as st

import forwardforward as ff
from forwardforward import FFNetwork, Trainer
from forwardforward.inference.fused import FusedInt8Scorer, affine_codes
from forwardforward.normalize import RMSNormalize, UnitLengthNormalize


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 8),
    dim=st.integers(1, 60),
    seed=st.integers(0, 10_000),
    size=st.floats(1e-3, 1e3),
    shift=st.floats(-2.0, 2.0),
    unit_length=st.booleans(),
)
def test_affine_codes_rebuild_the_normalised_row_within_half_a_step(
    rows: int, dim: int, seed: int, size: float, shift: float, unit_length: bool
) -> None:
    gen = torch.Generator().manual_seed(seed)
    h = (torch.randn(rows, dim, generator=gen) + shift) * size
    h[0] = 0.0  # a dead ReLU state: finite codes, scale 0 after normalisation
    norm = UnitLengthNormalize() if unit_length else RMSNormalize()
    codes, scale, offset = affine_codes(h, norm)
    assert codes.dtype == torch.int8 and codes.shape == h.shape
    assert torch.isfinite(scale).all() and torch.isfinite(offset).all()
    rebuilt = scale * codes.float() + offset
    want = norm(h)
    slack = 1e-5 * want.abs().amax(1, keepdim=True) + 1e-6  # float rounding of the scale and offset
    assert ((rebuilt - want).abs() <= scale / 2 * (1 + 1e-4) + slack).all()
    # Every row's codes span the whole int8 range unless the row is constant: all 256 levels are used.
    spread = h.amax(1) > h.amin(1)
    assert (codes[spread].amin(1) == -128).all() and (codes[spread].amax(1) == 127).all()


def trained_net(make_net: Callable[..., FFNetwork], train: ff.data.ArrayDataset) -> FFNetwork:
    """A seeded ``[16, 64, 64, 64]`` net trained 3 epochs on ``train`` (hard negatives): clear winners
    for most inputs, so errors and pruning are measured on a net that has learned something."""
    net = make_net(dims=[INPUT_DIM, 64, 64, 64])
    Trainer(net, negatives="hard", lr=0.01, seed=0, progress=False).fit(train, 3, 32)
    return net


def emulated_scores(net: FFNetwork, x: torch.Tensor) -> torch.Tensor:
    """What the fused scorer computes, the slow way in float64: the first layer exact, then each deep
    layer on the affinely rounded normalised states with per-unit rounded weights."""
    c = net.num_classes
    assert c is not None
    acts = []
    h = ff.scoring.first_layer_all_labels(net, x, c).double()
    acts.append(h)
    for layer, prev in zip(net.layers[1:], net.layers[:-1]):
        codes, scale, offset = affine_codes(h.float(), prev.normalize)
        x_in = scale.double() * codes.double() + offset.double()
        w = layer.block.weight.detach().double()
        w_step = w.abs().amax(1, keepdim=True) / 127
        w_rounded = torch.round(w / w_step).clamp(-127, 127) * w_step
        h = layer.activation(x_in @ w_rounded.T + layer.block.bias.detach().double())
        acts.append(h)
    goodness = torch.stack([net.layers[i].goodness(acts[i]) for i in net.score_layers], 1).sum(1)
    return goodness.reshape(x.shape[0], c)


def test_fused_scores_are_the_emulated_int8_arithmetic(make_net: Callable[..., FFNetwork]) -> None:
    net = make_net(dims=[INPUT_DIM, 24, 24, 24])
    net.eval()
    x = torch.randn(30, INPUT_DIM)
    fused = FusedInt8Scorer(net, compile=False)
    torch.testing.assert_close(fused.scores(x).double(), emulated_scores(net, x), rtol=1e-4, atol=1e-5)


def test_fused_scores_are_closer_to_float_than_symmetric_int8(
    make_net: Callable[..., FFNetwork], blobs_train: ff.data.ArrayDataset, blobs_test: ff.data.ArrayDataset
) -> None:
    net = trained_net(make_net, blobs_train)
    net.eval()
    exact = net.scores(blobs_test.x)
    fused_err = (FusedInt8Scorer(net, compile=False).scores(blobs_test.x) - exact).abs()
    int8_err = (ff.inference.quantize_int8(net).scores(blobs_test.x) - exact).abs()
    # Half the activation step (256 levels on a ReLU state instead of 128): a clearly smaller typical error.
    assert fused_err.mean() < 0.8 * int8_err.mean()
    assert fused_err.max() < 0.05 * exact.abs().max()


def test_fused_scorer_follows_the_score_layers_and_stops_at_the_last(
    make_net: Callable[..., FFNetwork],
) -> None:
    net = make_net(dims=[INPUT_DIM, 24, 24, 24], score_layers=[0, 1])
    net.eval()
    fused = FusedInt8Scorer(net, compile=False)
    assert len(fused.steps) == 1  # layer 2 is never scored: not even quantised
    x = torch.randn(12, INPUT_DIM)
    torch.testing.assert_close(fused.scores(x).double(), emulated_scores(net, x), rtol=1e-4, atol=1e-5)
    # Chunking by (sample, label) rows changes nothing.
    torch.testing.assert_close(fused.scores(x, chunk_size=NUM_CLASSES * 5), fused.scores(x))


def test_fused_scorer_is_a_snapshot(make_net: Callable[..., FFNetwork]) -> None:
    net = make_net(dims=[INPUT_DIM, 24, 24])
    x = torch.randn(8, INPUT_DIM)
    fused = FusedInt8Scorer(net, compile=False)
    before = fused.scores(x)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    torch.testing.assert_close(fused.scores(x), before)


def test_fused_scorer_refuses_what_it_cannot_score(make_net: Callable[..., FFNetwork]) -> None:
    with pytest.raises(ValueError, match="at least two layers"):
        FusedInt8Scorer(make_net(dims=[INPUT_DIM, 24]), compile=False)
    with pytest.raises(ValueError, match="per-row scaling"):
        FusedInt8Scorer(make_net(dims=[INPUT_DIM, 24, 24], normalize="centered"), compile=False)
    with pytest.raises(ValueError, match="supervised"):
        FusedInt8Scorer(make_net(dims=[INPUT_DIM, 24, 24], labels=None, num_classes=None), compile=False)
    boxed = make_net(dims=[INPUT_DIM, 24, 24], between={0: lambda h: h.flip(1)})
    with pytest.raises(ValueError, match="between layers"):
        FusedInt8Scorer(boxed, compile=False)
    with pytest.raises(ValueError, match="FFNetwork"):
        FusedInt8Scorer(torch.nn.Linear(3, 3), compile=False)


def test_cascade_over_the_fused_scorer_keeps_the_float_answers(
    make_net: Callable[..., FFNetwork], blobs_train: ff.data.ArrayDataset, blobs_test: ff.data.ArrayDataset
) -> None:
    net = trained_net(make_net, blobs_train)
    cascade = ff.inference.CascadeScorer(net, FusedInt8Scorer(net, compile=False), keep=2)
    cascade.calibrate(blobs_train.x, quantile=1.0)
    assert torch.equal(cascade.predict(blobs_test.x), net.predict(blobs_test.x))
    assert cascade.rescored < cascade.seen
    everything = ff.inference.CascadeScorer(net, cascade.fast, keep=NUM_CLASSES, margin=float("inf"))
    torch.testing.assert_close(everything.scores(blobs_test.x), net.scores(blobs_test.x))


def test_compiled_fused_scorer_equals_the_eager_one(make_net: Callable[..., FFNetwork]) -> None:
    net = make_net(dims=[INPUT_DIM, 24, 24, 24])
    net.eval()
    compiled, eager = FusedInt8Scorer(net, compile=True), FusedInt8Scorer(net, compile=False)
    for n in (7, 13):  # two batch sizes: the steps are compiled for dynamic shapes
        x = torch.randn(n, INPUT_DIM)
        got, want = compiled.scores(x), eager.scores(x)
        # A value exactly between two codes may round the other way in a fused loop: allow a few codes.
        torch.testing.assert_close(got, want, rtol=1e-3, atol=1e-3)


def test_calibrated_pruning_keeps_every_calibration_winner_and_the_kept_scores(
    make_net: Callable[..., FFNetwork], blobs_train: ff.data.ArrayDataset, blobs_test: ff.data.ArrayDataset
) -> None:
    net = trained_net(make_net, blobs_train)
    net.eval()
    fused = FusedInt8Scorer(net, compile=False)
    full = fused.scores(blobs_test.x)
    margin = fused.calibrate_pruning(blobs_test.x, after=1, quantile=1.0)
    pruned = fused.scores(blobs_test.x)
    kept = torch.isfinite(pruned)
    assert 0 < fused.pruned < fused.pairs == kept.numel()  # a trained net's hopeless labels are dropped
    assert int((~kept).sum()) == fused.pruned
    torch.testing.assert_close(pruned[kept], full[kept])  # the kept pairs' scores are the unpruned ones
    # With the largest catch-up as the margin, no calibration sample loses its winner.
    assert torch.equal(pruned.argmax(1), full.argmax(1))
    partial = fused.layer_goodness(blobs_test.x)[:, :, :1].sum(2)  # score layers [1, 2]: layer 1 is early
    behind = partial.amax(1, keepdim=True) - partial
    assert torch.equal(kept, behind <= margin)


def test_pruning_needs_scoring_layers_on_both_sides(make_net: Callable[..., FFNetwork]) -> None:
    net = make_net(dims=[INPUT_DIM, 24, 24, 24])
    fused = FusedInt8Scorer(net, compile=False)
    x = torch.randn(6, INPUT_DIM)
    for after in (0, 2):  # the float first layer; the last scoring layer
        with pytest.raises(ValueError, match="both sides"):
            fused.calibrate_pruning(x, after=after)
    with pytest.raises(ValueError, match="quantile"):
        fused.calibrate_pruning(x, after=1, quantile=0.0)


def test_cascade_over_a_pruning_fused_scorer_calibrates_on_the_kept_labels(
    make_net: Callable[..., FFNetwork], blobs_train: ff.data.ArrayDataset, blobs_test: ff.data.ArrayDataset
) -> None:
    net = trained_net(make_net, blobs_train)
    fused = FusedInt8Scorer(net, compile=False)
    fused.calibrate_pruning(blobs_train.x, after=1, quantile=1.0)
    cascade = ff.inference.CascadeScorer(net, fused, keep=2)
    assert math.isfinite(cascade.calibrate(blobs_train.x, quantile=1.0))
    assert (cascade.predict(blobs_test.x) == net.predict(blobs_test.x)).float().mean() >= 0.99
