"""The layer pipeline: consecutive layers on consecutive processes, training concurrently.

FF's locality makes this natural: a layer needs nothing from the layers above it. Rank 0 embeds the data and
draws *random* wrong labels (hard negatives would need the whole stack's beliefs, which only exist at the end
of the pipe), each rank trains its layers on the positive and negative activities it receives and sends
its normalised, detached outputs on with ``isend``; at most ``max_in_flight`` batches are in flight per link,
so a fast rank waits instead of queueing without bound. The linear head is not trained in the pipeline;
prediction is by goodness. After every epoch the layers' owners broadcast them, so every rank holds the
whole network (rank 0 evaluates and checkpoints it).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist

from .. import scoring
from ..network import FFNetwork
from .optimization import build_optimizer, cooldown_factor
from .strategies import DEFAULT_TIMEOUT_S, check_peers
from .update import apply_update


def split_layers(net: FFNetwork, world: int) -> list[tuple[int, int]]:
    """Consecutive ``[lo, hi)`` ranges of ``net``'s layers, one per rank of ``world``, balanced by
    parameter count (a proxy for compute: every layer sees the same number of rows)."""
    n = len(net.layers)
    if world > n:
        raise ValueError(f"a pipeline of {world} ranks needs at least {world} layers, the network has {n}")
    cost = [sum(p.numel() for p in layer.parameters()) for layer in net.layers]
    bounds, lo = [], 0
    for r in range(world):
        remaining = world - r
        if remaining == 1:
            bounds.append((lo, n))
            break
        target = sum(cost[lo:]) / remaining
        hi, acc = lo, 0.0
        while hi < n - (remaining - 1) and (hi == lo or acc + cost[hi] / 2 <= target):
            acc += cost[hi]
            hi += 1
        bounds.append((lo, hi))
        lo = hi
    return bounds


class _Link:
    """Ordered, bounded point-to-point stream of tensors to one peer: a header (rows) then the data."""

    def __init__(self, peer: int, max_in_flight: int) -> None:
        self.peer = peer
        self.max_in_flight = max(1, max_in_flight)
        self.pending: deque[tuple[Any, torch.Tensor, Any, torch.Tensor]] = deque()

    def send(self, x: torch.Tensor) -> None:
        while len(self.pending) >= self.max_in_flight:
            self._wait_oldest()
        head = torch.tensor([x.shape[0]], dtype=torch.long)
        x = x.contiguous()
        self.pending.append((dist.isend(head, self.peer), head, dist.isend(x, self.peer), x))

    def _wait_oldest(self) -> None:
        w1, _, w2, _ = self.pending.popleft()
        w1.wait()
        w2.wait()

    def flush(self) -> None:
        while self.pending:
            self._wait_oldest()

    def recv(self, width: int, dtype: torch.dtype) -> torch.Tensor:
        head = torch.empty(1, dtype=torch.long)
        dist.recv(head, self.peer)
        x = torch.empty(int(head), width, dtype=dtype)
        dist.recv(x, self.peer)
        return x


def pipeline_fit(
    net: FFNetwork,
    train: Any,
    epochs: int,
    batch_size: int,
    optimizer: str = "adam",
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    optimizer_kwargs: dict[str, Any] | None = None,
    cooldown_start: float = 1.0,
    seed: int = 0,
    max_in_flight: int = 4,
    log: list[tuple[int, int, int]] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    on_epoch_end: Callable[[int, float], None] | None = None,
) -> list[tuple[int, int]]:
    """Train ``net`` as a layer pipeline across the process group; returns the ``[lo, hi)`` ranges.

    Every rank calls this with the same network (same seed) and data; rank ``r`` trains layers
    ``ranges[r]``. After every epoch every rank holds every layer's trained weights (broadcast from their
    owners) and ``on_epoch_end(epoch, seconds)`` is called on every rank. ``log``, when given, receives
    ``(layer, epoch, batch)`` for every batch a layer of this rank trained on, in order.

    Args:
        net: the network, supervised.
        train: the training data (``.x``, ``.y``), the same on every rank.
        epochs: passes over ``train``.
        batch_size: examples per step.
        optimizer: the optimiser by name, one per rank over its layers.
        lr: the peak learning rate.
        weight_decay: the optimiser's weight decay.
        optimizer_kwargs: further optimiser arguments.
        cooldown_start: the fraction of training after which the rate decays linearly to 0.
        seed: seeds the shuffling (every rank alike) and the negatives (drawn on rank 0).
        max_in_flight: how many batches a rank may have sent on without the next rank receiving them:
            bounds the memory the pipe holds.
        log: a list to record the trained batches in, or ``None``.
        timeout_s: how long a rank waits for its peers at each epoch's barrier.
        on_epoch_end: called on every rank after every epoch.
    """
    rank, world = dist.get_rank(), dist.get_world_size()
    ranges = split_layers(net, world)
    if net.num_classes is None or net.labels is None:
        raise ValueError("pipeline training needs a supervised network (labels=...)")
    lo, hi = ranges[rank]
    groups = [{"params": list(net.layers[i].parameters()), "lr": lr} for i in range(lo, hi)]
    stage = _Stage(
        net,
        rank,
        world,
        lo,
        hi,
        build_optimizer(groups, optimizer, lr, weight_decay, **(optimizer_kwargs or {})),
        max_in_flight,
    )
    gen = torch.Generator().manual_seed(seed)  # shuffling: identical on every rank
    neg_gen = torch.Generator().manual_seed(seed + 1)  # negatives: drawn on rank 0 only
    steps = epochs * -(-len(train.y) // batch_size)
    check_peers(timeout_s)
    for epoch in range(epochs):
        t0 = time.perf_counter()
        # Every rank draws the same permutation, so all agree on the number of batches.
        for b, idx in enumerate(torch.randperm(len(train.y), generator=gen).split(batch_size)):
            for g in stage.optimizer.param_groups:
                g["lr"] = lr * cooldown_factor(stage.step, steps, cooldown_start)
            stage.train_batch(train, idx, neg_gen, epoch, b, log)
        stage.flush()
        check_peers(timeout_s)
        share_layers(net, ranges)
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, time.perf_counter() - t0)
    return ranges


class _Stage:
    """One rank's part of the pipe: its layers, their optimiser, and its links to the neighbours."""

    def __init__(
        self, net: FFNetwork, rank: int, world: int, lo: int, hi: int, optimizer: Any, max_in_flight: int
    ) -> None:
        self.net, self.lo, self.hi, self.optimizer = net, lo, hi, optimizer
        self.inbox = _Link(rank - 1, max_in_flight) if rank > 0 else None
        self.outbox = _Link(rank + 1, max_in_flight) if rank < world - 1 else None
        self.in_width = net.layers[lo].block.in_features if rank > 0 else 0
        self.dtype = next(net.parameters()).dtype
        self.step = 0

    def train_batch(
        self, train: Any, idx: torch.Tensor, neg_gen: torch.Generator, epoch: int, b: int, log: Any
    ) -> None:
        """Train this rank's layers on one batch and pass their output on."""
        net, c = self.net, self.net.num_classes
        if self.inbox is None:
            x, y = train.x[idx], train.y[idx]
            y_neg = (y + torch.randint(1, c, y.shape, generator=neg_gen)) % c  # type: ignore[arg-type]
            h_in = torch.cat([net.embed(x, y), net.embed(x, y_neg)], 0)
        else:
            h_in = self.inbox.recv(self.in_width, self.dtype)
        rows, x = h_in.shape[0] // 2, h_in
        for i in range(self.lo, self.hi):
            h = net.layers[i](x)
            loss, _ = net.layers[i].local_loss(h[:rows], h[rows:])
            if not torch.isfinite(loss.detach()):
                raise FloatingPointError(f"layer {i}'s loss became {loss.item()} at epoch {epoch + 1}")
            apply_update(self.optimizer, loss, zero=self.optimizer)
            if log is not None:
                log.append((i, epoch, b))
            x = net.hand_over(i, h) if i < len(net.layers) - 1 else x
        if self.outbox is not None:
            self.outbox.send(x)
        self.step += 1

    def flush(self) -> None:
        if self.outbox is not None:
            self.outbox.flush()


@torch.no_grad()
def share_layers(net: FFNetwork, ranges: list[tuple[int, int]]) -> None:
    """Every layer's weights (and buffers) of ``net`` from the rank that trains it to every other rank;
    ``ranges`` are the ``[lo, hi)`` layer ranges per rank (:func:`split_layers`)."""
    for r, (a, z) in enumerate(ranges):
        for i in range(a, z):
            for t in net.layers[i].state_dict().values():
                dist.broadcast(t, src=r)


@torch.no_grad()
def pipeline_label_goodness(net: FFNetwork, x: torch.Tensor, chunk_size: int = 1024) -> torch.Tensor | None:
    """``[B, C, L]`` goodness of ``net`` computed along the pipeline: each rank scores its own layers on the
    states it receives and passes them on; rank 0 gathers the result (other ranks get ``None``). Every
    rank calls it with the same ``x``; ``chunk_size`` bounds the (sample, label) rows per pass."""
    rank, world = dist.get_rank(), dist.get_world_size()
    lo, hi = split_layers(net, world)[rank]
    c = net.num_classes
    assert c is not None
    out = torch.zeros(x.shape[0], c, len(net.layers))
    dtype = next(net.parameters()).dtype
    inbox = _Link(rank - 1, 2) if rank > 0 else None
    outbox = _Link(rank + 1, 2) if rank < world - 1 else None
    rows = max(1, chunk_size // c)
    for s in range(0, x.shape[0], rows):
        xb = x[s : s + rows]
        b = xb.shape[0]
        if inbox is None:
            h = scoring.first_layer_all_labels(net, xb, c)
            out[s : s + b, :, 0] = net.layers[0].goodness(h).reshape(b, c)
            first = 1
        else:
            h = net.layers[lo](inbox.recv(net.layers[lo].block.in_features, dtype))
            out[s : s + b, :, lo] = net.layers[lo].goodness(h).reshape(b, c)
            first = lo + 1
        for i in range(first, hi):
            h = net.layers[i](net.hand_over(i - 1, h))
            out[s : s + b, :, i] = net.layers[i].goodness(h).reshape(b, c)
        if outbox is not None:
            outbox.send(net.hand_over(hi - 1, h))
    if outbox is not None:
        outbox.flush()
    dist.reduce(out, dst=0)
    return out if rank == 0 else None


__all__ = ["pipeline_fit", "pipeline_label_goodness", "share_layers", "split_layers"]
