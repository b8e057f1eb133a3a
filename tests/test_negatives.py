"""Negative samplers: hard negatives never pick the truth, follow the scores, and are reproducible."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from forwardforward import Trainer
from forwardforward.negatives import HardLabel, RandomLabel, build_negatives

C = 5


def _hard(y: torch.Tensor, scores: torch.Tensor, seed: int = 0, **kwargs: float) -> torch.Tensor:
    return HardLabel(**kwargs)(y, scores.shape[1], scores, torch.Generator().manual_seed(seed))


def test_hard_never_returns_the_true_label_over_many_batches() -> None:
    gen = torch.Generator().manual_seed(0)
    for b in range(200):
        y = torch.randint(0, C, (32,), generator=gen)
        scores = torch.randn(32, C, generator=gen) * (10.0 ** (b % 7 - 2))  # 0.01 .. 10000
        rows = torch.arange(32)
        kind = b % 5
        if kind == 1:
            scores[rows, y] = float("inf")  # the model is certain of the truth
        elif kind == 2:
            scores[rows, y] = 1e30  # huge finite logit on the truth
        elif kind == 3:
            scores = torch.zeros(32, C)  # all-equal scores
        elif kind == 4:
            scores[rows, y] = float("inf")
            scores[rows, (y + 1) % C] = float("-inf")
        out = _hard(y, scores, seed=b)
        assert bool((out != y).all()), f"batch {b} (kind {kind}) returned a true label"
        assert bool(((out >= 0) & (out < C)).all())


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    c=st.integers(2, 8),
    rows=st.lists(
        st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=8, max_size=8),
        min_size=1,
        max_size=6,
    ),
    labels=st.lists(st.integers(0, 7), min_size=6, max_size=6),
    temperature=st.sampled_from([0.1, 1.0, 10.0]),
)
def test_hard_never_returns_the_true_label_for_any_scores(
    c: int, rows: list, labels: list, temperature: float
) -> None:
    """Any floats at all, NaN and +-inf included."""
    scores = torch.tensor(rows, dtype=torch.float32)[:, :c]
    y = torch.tensor(labels[: len(rows)]) % c
    out = _hard(y, scores, temperature=temperature)
    assert bool((out != y).all())
    assert bool(((out >= 0) & (out < c)).all())


def test_all_equal_or_all_masked_scores_give_uniform_wrong_labels() -> None:
    y = torch.zeros(20000, dtype=torch.int64)
    for scores in (torch.zeros(20000, C), torch.full((20000, C), float("-inf"))):
        counts = torch.bincount(_hard(y, scores), minlength=C).float() / len(y)
        assert counts[0] == 0
        assert torch.allclose(counts[1:], torch.full((C - 1,), 0.25), atol=0.02)


def test_a_peaked_wrong_class_is_chosen_almost_always() -> None:
    y = torch.arange(1000) % C
    scores = torch.zeros(1000, C)
    peak = (y + 2) % C
    scores[torch.arange(1000), peak] = 8.0
    scores[torch.arange(1000), y] = 20.0  # the truth is even stronger but must be masked out
    out = _hard(y, scores)
    assert float((out == peak).float().mean()) > 0.9


def test_hard_labels_follow_the_softmax_over_wrong_classes() -> None:
    n = 40000
    y = torch.zeros(n, dtype=torch.int64)
    logits = torch.tensor([5.0, 0.0, 1.0, 2.0, -1.0])
    wrong = torch.exp(logits[1:])
    expected = wrong / wrong.sum()
    freq = torch.bincount(_hard(y, logits.expand(n, C)), minlength=C).float() / n
    assert freq[0] == 0
    assert torch.allclose(freq[1:], expected, atol=0.01)
    # A temperature of 2 flattens the distribution to softmax(logits / 2).
    warm = torch.exp(logits[1:] / 2)
    freq_t = torch.bincount(_hard(y, logits.expand(n, C), temperature=2.0), minlength=C).float() / n
    assert torch.allclose(freq_t[1:], warm / warm.sum(), atol=0.01)


def test_hard_is_reproducible_with_the_same_seed() -> None:
    y = torch.arange(256) % C
    scores = torch.randn(256, C, generator=torch.Generator().manual_seed(3))
    assert torch.equal(_hard(y, scores, seed=11), _hard(y, scores, seed=11))
    assert not torch.equal(_hard(y, scores, seed=11), _hard(y, scores, seed=12))


def test_hard_does_not_modify_the_scores() -> None:
    y = torch.arange(8) % C
    scores = torch.randn(8, C)
    before = scores.clone()
    _hard(y, scores)
    assert torch.equal(scores, before)


def test_hard_input_errors() -> None:
    y = torch.arange(4) % C
    with pytest.raises(ValueError, match=r"needs the model's class scores \[batch, classes\]"):
        HardLabel()(y, C, None)
    with pytest.raises(ValueError, match=r"\[batch, classes\] = \[4, 5\], got \(4, 4\)"):
        HardLabel()(y, C, torch.zeros(4, 4))
    with pytest.raises(ValueError, match="temperature must be > 0, got 0"):
        HardLabel(temperature=0)


def test_random_is_uniform_over_wrong_classes() -> None:
    n = 40000
    y = torch.arange(n) % C
    out = RandomLabel()(y, C, None, torch.Generator().manual_seed(0))
    assert bool((out != y).all())
    offsets = torch.bincount((out - y) % C, minlength=C).float() / n
    assert offsets[0] == 0
    assert torch.allclose(offsets[1:], torch.full((C - 1,), 0.25), atol=0.015)
    two = RandomLabel()(torch.tensor([0, 1, 1, 0]), 2)
    assert two.tolist() == [1, 0, 0, 1]


def test_build_negatives_by_name_or_instance() -> None:
    assert isinstance(build_negatives("random"), RandomLabel)
    sampler = HardLabel(temperature=2.0, warmup_epochs=3)
    assert build_negatives(sampler) is sampler
    assert build_negatives("random").needs_scores is False and sampler.needs_scores is True


class SpyHard(HardLabel):
    """Records the scores it is given."""

    def __init__(self, **kwargs: float) -> None:
        super().__init__(**kwargs)
        self.seen: list[torch.Tensor] = []

    def forward(self, y, num_classes, scores=None, generator=None):  # type: ignore[override]
        self.seen.append(scores.clone())
        return super().forward(y, num_classes, scores, generator)


def test_trainer_uses_random_negatives_during_warmup_then_scores(make_net, blobs_train) -> None:
    spy = SpyHard(warmup_epochs=1)
    trainer = Trainer(make_net(), negatives=spy, progress=False)
    assert trainer.hard_warmup_epochs == 1
    trainer.fit(blobs_train, epochs=2, batch_size=64)
    steps_per_epoch = math.ceil(len(blobs_train) / 64)
    assert len(spy.seen) == steps_per_epoch  # only the second epoch asked the sampler
    assert all(s.shape == (64, 4) and bool(torch.isfinite(s).all()) for s in spy.seen)


@pytest.mark.parametrize("source", ["head", "goodness"])
def test_trainer_hard_scores_come_from_the_chosen_source(make_net, blobs_train, source: str) -> None:
    net = make_net()
    spy = SpyHard()
    trainer = Trainer(net, negatives=spy, hard_source=source, optimizer="sgd", lr=1e-12, progress=False)
    trainer.fit(blobs_train.subset(range(16)), epochs=1, batch_size=16)
    x = blobs_train.x[:16]
    perm = torch.randperm(16, generator=torch.Generator().manual_seed(0))
    expected = net.head_logits(x[perm]) if source == "head" else net.scores(x[perm])
    assert torch.allclose(spy.seen[0], expected, atol=1e-4)
