"""Learning from a stream: one pass over an unbounded iterable of ``(x, y)`` batches, bounded memory.

FF needs nothing but the current batch (no stored activations for a backward pass across layers, no
epochs), so a stream is its natural habitat. :func:`fit_stream` pulls batches one at a time, keeps at most
``buffer_size`` samples (the re-batching buffer: incoming batches of any size are cut into optimiser steps
of ``batch_size``), trains on each step as it fills, and evaluates on a held-out set every ``eval_every``
samples. Nothing else is kept: no list of batches, no dataset, so memory stays flat however long the
stream runs. Use it through :meth:`forwardforward.Trainer.fit_stream`.
"""

from __future__ import annotations

import math
import resource
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch


class StreamError(ValueError):
    """A stream yielded something that is not a batch this network can learn from."""


def rss_mib() -> tuple[float, float]:
    """(current, peak) resident memory of this process in MiB; current is 0.0 where /proc is missing."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * resource.getpagesize() / 2**20, peak
    except (OSError, ValueError, IndexError):
        return 0.0, peak


def _as_batch(item: Any, k: int, trainer: Any, sample_shape: tuple[int, ...] | None) -> tuple:
    """Validate stream item ``k`` and return it as ``(x, y)`` tensors; errors say what was expected."""
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        raise StreamError(
            f"stream item {k} is a {type(item).__name__}"
            + (f" of length {len(item)}" if isinstance(item, (tuple, list)) else "")
            + "; expected an (x, y) pair: x [B, ...] samples and y [B] integer labels"
        )
    x, y = (torch.as_tensor(v) if isinstance(v, np.ndarray) else v for v in item)
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise StreamError(
            f"stream item {k}: x and y must be tensors or arrays, got {type(x).__name__}, {type(y).__name__}"
        )
    if x.dim() < 2 or y.dim() != 1 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise StreamError(
            f"stream item {k}: x has shape {tuple(x.shape)} and y {tuple(y.shape)}; expected x [B, ...] and "
            f"y [B] with the same B >= 1"
        )
    if y.dtype.is_floating_point or y.dtype == torch.bool:
        raise StreamError(f"stream item {k}: labels y must be integers, got {y.dtype}")
    if sample_shape is not None and tuple(x.shape[1:]) != sample_shape:
        raise StreamError(
            f"stream item {k}: samples have shape {tuple(x.shape[1:])}, earlier items had {sample_shape}"
        )
    net = trainer.net
    if sample_shape is None:
        width = getattr(net.layers[0].block, "in_features", None)
        d = int(np.prod(x.shape[1:]))
        got = net.labels.output_dim(d) if net.labels is not None else d
        if width is not None and got != width:
            raise StreamError(
                f"stream item {k}: samples of shape {tuple(x.shape[1:])} ({d} values) give a first-layer "
                f"input of {got}, but the network's first layer takes {width}"
            )
    c = net.num_classes
    if c is not None and (int(y.min()) < 0 or int(y.max()) >= c):
        raise StreamError(
            f"stream item {k}: labels must be in [0, {c}), got [{int(y.min())}, {int(y.max())}]"
        )
    return x.float() if not x.is_floating_point() else x, y.long()


def fit_stream(
    trainer: Any,
    stream: Iterable[Any],
    eval_data: Any = None,
    eval_every: int | None = None,
    buffer_size: int | None = None,
    batch_size: int | None = None,
    expected_samples: int | None = None,
    max_samples: int | None = None,
    on_eval: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Train ``trainer``'s network on one pass over ``stream``; returns the evaluation rows.

    Args:
        stream: any iterable of ``(x, y)`` batches (tensors or arrays), possibly unbounded.
        trainer: the Trainer whose step and optimiser learn.
        eval_data: held-out set with ``.x``/``.y``, evaluated every ``eval_every`` trained samples and at
            the end of the stream.
        eval_every: trained samples between evaluations (``None``: at the end only).
        buffer_size: the most samples held at once: those waiting for a step plus the item just pulled
            (exact as long as no item is larger than the ones before it). Default
            ``batch_size``, or the first item's size when that is not given either.
        batch_size: samples per optimiser step; default: each item is one step.
        expected_samples: the stream's length if known: turns on the Trainer's cooldown schedule
            (the learning rate is otherwise constant, as an unbounded stream has no end to cool down to).
        max_samples: stop after this many samples (for unbounded streams).
        on_eval: called with each evaluation row (e.g. to log or to record memory).

    Each row: ``samples`` trained, ``items`` pulled, ``seconds`` of training, ``accuracy`` (and
    ``head_accuracy``) on ``eval_data``, current and peak RSS in MiB.
    """
    for name, v in (("eval_every", eval_every), ("buffer_size", buffer_size), ("batch_size", batch_size)):
        if v is not None and v < 1:
            raise ValueError(f"{name} must be >= 1, got {v}")
    if buffer_size is not None and batch_size is not None and buffer_size < batch_size:
        raise ValueError(f"buffer_size ({buffer_size}) must hold at least one batch ({batch_size})")
    steps = math.ceil(expected_samples / (batch_size or buffer_size or 1)) if expected_samples else 0
    trainer.total_steps = steps
    run = _StreamRun(trainer, eval_data, eval_every, buffer_size, batch_size, on_eval)
    trainer.net.train()
    for item in stream:
        run.feed(item)
        if max_samples is not None and run.samples + run.held >= max_samples:
            break
    return run.finish()


class _StreamRun:
    """The state of one pass over a stream: what is held for the next step, what was trained, when to
    evaluate next."""

    def __init__(
        self,
        trainer: Any,
        eval_data: Any,
        eval_every: int | None,
        buffer_size: int | None,
        batch_size: int | None,
        on_eval: Callable[[dict[str, Any]], None] | None,
    ) -> None:
        self.trainer, self.eval_data, self.eval_every, self.on_eval = trainer, eval_data, eval_every, on_eval
        self.buffer_size, self.batch_size = buffer_size, batch_size
        self.rows: list[dict[str, Any]] = []
        self.held_x: list[torch.Tensor] = []
        self.held_y: list[torch.Tensor] = []
        self.held = self.samples = self.items = self.largest = 0
        self.next_eval = eval_every
        self.sample_shape: tuple[int, ...] | None = None
        self.train_seconds = 0.0

    def step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        t0 = time.perf_counter()
        self.trainer.train_step(x.to(self.trainer.device), y.to(self.trainer.device))
        self.train_seconds += time.perf_counter() - t0
        self.samples += len(y)

    def flush(self) -> None:
        """One (possibly short) step on everything held."""
        self.step(torch.cat(self.held_x), torch.cat(self.held_y))
        self.held_x, self.held_y, self.held = [], [], 0

    def feed(self, item: Any) -> None:
        """Take one stream item; step whenever a batch is complete or the buffer would overflow."""
        x, y = _as_batch(item, self.items, self.trainer, self.sample_shape)
        self.items += 1
        self.sample_shape = tuple(x.shape[1:])
        if self.buffer_size is None:
            self.buffer_size = self.batch_size or len(y)
        if len(y) > self.buffer_size:
            raise StreamError(
                f"stream item {self.items - 1} has {len(y)} samples, more than the buffer of "
                f"{self.buffer_size}; yield smaller batches or raise buffer_size"
            )
        step_size = self.batch_size or len(y)
        if self.held + len(y) > self.buffer_size:  # an item larger than any before: flush (a short step)
            self.flush()
        self.held_x.append(x)
        self.held_y.append(y)
        self.held += len(y)
        while self.held >= step_size:
            bx, by = torch.cat(self.held_x), torch.cat(self.held_y)
            self.step(bx[:step_size], by[:step_size])
            rest = self.held - step_size
            self.held_x, self.held_y, self.held = (
                ([bx[step_size:]], [by[step_size:]], rest) if rest else ([], [], 0)
            )
            self.maybe_evaluate()
        # Make room for the next item now, before it is pulled (sized like the largest so far), so that
        # what is held plus what arrives never exceeds the buffer.
        self.largest = max(self.largest, len(y))
        if self.held and self.held + self.largest > self.buffer_size:
            self.flush()
            self.maybe_evaluate()

    def evaluate(self) -> None:
        ev = self.trainer.net.evaluate(self.eval_data)
        cur, peak = rss_mib()
        row = {
            "samples": self.samples,
            "items": self.items,
            "seconds": round(self.train_seconds, 2),
            "accuracy": ev["accuracy"],
            "rss_mib": round(cur, 1),
            "peak_rss_mib": round(peak, 1),
        }
        if "head_accuracy" in ev:
            row["head_accuracy"] = ev["head_accuracy"]
        self.rows.append(row)
        if self.on_eval is not None:
            self.on_eval(row)

    def maybe_evaluate(self) -> None:
        if self.eval_data is not None and self.next_eval is not None and self.samples >= self.next_eval:
            self.evaluate()
            while self.next_eval <= self.samples:
                self.next_eval += self.eval_every  # type: ignore[operator]

    def finish(self) -> list[dict[str, Any]]:
        if self.held:
            self.flush()
        if self.items == 0:
            raise StreamError("the stream yielded no batches")
        if self.eval_data is not None and (not self.rows or self.rows[-1]["samples"] != self.samples):
            self.evaluate()
        return self.rows


def batches(data: Any, batch_size: int, seed: int | None = 0, classes: Iterable[int] | None = None) -> Any:
    """A stream over the in-memory dataset ``data`` (``.x``/``.y``): batches of ``batch_size``, shuffled
    by ``seed`` (``None``: in order), optionally of the ``classes`` listed only. Yields one batch at a
    time, so a consumer holds only what it keeps."""
    idx = torch.arange(len(data.y))
    if classes is not None:
        keep = torch.isin(data.y, torch.as_tensor(list(classes)))
        idx = idx[keep]
    if seed is not None:
        idx = idx[torch.randperm(len(idx), generator=torch.Generator().manual_seed(seed))]
    for s in range(0, len(idx), batch_size):
        b = idx[s : s + batch_size]
        yield data.x[b], data.y[b]


__all__ = ["StreamError", "batches", "fit_stream", "rss_mib"]
