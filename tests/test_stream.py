"""Streaming: one pass, bounded memory (never more than the buffer pulled ahead), clear errors."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from forwardforward import Trainer
from forwardforward.training.stream import StreamError, batches


class CountingStream:
    """Yields batches of ``size`` and records, at every pull, how many samples were pulled vs trained."""

    def __init__(self, data, size: int, trainer: Trainer) -> None:
        self.data, self.size, self.trainer = data, size, trainer
        self.pulled = 0
        self.trained = 0
        self.gaps: list[int] = []
        real = trainer.train_step

        def counted(x, y, layers=None):
            self.trained += len(y)
            return real(x, y, layers)

        trainer.train_step = counted  # type: ignore[method-assign]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for s in range(0, len(self.data.y), self.size):
            self.pulled += len(self.data.y[s : s + self.size])
            self.gaps.append(self.pulled - self.trained)
            yield self.data.x[s : s + self.size], self.data.y[s : s + self.size]


@pytest.mark.parametrize(("item", "batch", "buffer"), [(16, None, None), (10, 32, 48), (7, 16, 20)])
def test_never_holds_more_than_the_buffer(make_net, blobs_train, item, batch, buffer) -> None:
    trainer = Trainer(make_net(), lr=0.01, progress=False)
    stream = CountingStream(blobs_train, item, trainer)
    trainer.fit_stream(stream, buffer_size=buffer, batch_size=batch)
    assert stream.trained == stream.pulled == len(blobs_train.y)  # one pass, every sample trained on once
    assert max(stream.gaps) <= (buffer or batch or item)


def test_stream_learns_and_evaluates_every_n(make_net, blobs_train, blobs_test) -> None:
    trainer = Trainer(make_net(), lr=0.01, progress=False)
    seen = []
    stream = (b for _ in range(3) for b in batches(blobs_train, 32, seed=None))  # 768 samples
    rows = trainer.fit_stream(stream, blobs_test, eval_every=256, batch_size=32, on_eval=seen.append)
    assert [r["samples"] for r in rows] == [256, 512, 768] and seen == rows
    assert rows[-1]["accuracy"] > 0.9
    assert rows[-1]["peak_rss_mib"] > 0


def test_unbounded_stream_stops_at_max_samples(make_net, blobs_train) -> None:
    def forever():
        while True:
            yield blobs_train.x[:16].numpy(), blobs_train.y[:16].numpy()  # arrays are accepted too

    trainer = Trainer(make_net(), lr=0.01, progress=False)
    assert trainer.fit_stream(forever(), max_samples=64) == []


@pytest.mark.parametrize(
    ("items", "needle"),
    [
        ([torch.zeros(4, 16)], "expected an (x, y) pair"),
        ([(torch.zeros(4, 16), torch.zeros(3, dtype=torch.long))], "with the same B"),
        ([(torch.zeros(4, 15), torch.zeros(4, dtype=torch.long))], "first layer takes"),
        (
            [
                (torch.zeros(4, 16), torch.zeros(4, dtype=torch.long)),
                (torch.zeros(4, 8, 2), torch.zeros(4, dtype=torch.long)),
            ],
            "earlier items had (16,)",
        ),
        ([(torch.zeros(4, 16), torch.zeros(4))], "must be integers"),
        ([(torch.zeros(4, 16), torch.full((4,), 9))], "labels must be in [0, 4)"),
        ([(torch.zeros(40, 16), torch.zeros(40, dtype=torch.long))], "more than the buffer of 32"),
        ([], "no batches"),
    ],
)
def test_bad_stream_fails_clearly(make_net, items, needle: str) -> None:
    trainer = Trainer(make_net(), lr=0.01, progress=False)
    with pytest.raises(StreamError) as err:
        trainer.fit_stream(iter(items), buffer_size=32)
    assert needle in str(err.value)


def test_buffer_smaller_than_batch_is_rejected(make_net) -> None:
    trainer = Trainer(make_net(), lr=0.01, progress=False)
    with pytest.raises(ValueError, match="must hold at least one batch"):
        trainer.fit_stream(iter([]), buffer_size=8, batch_size=16)


def test_batches_filters_classes(blobs_train) -> None:
    ys = torch.cat([y for _, y in batches(blobs_train, 50, classes=[1, 3])])
    assert set(np.unique(ys.numpy()).tolist()) == {1, 3} and len(ys) == 128
