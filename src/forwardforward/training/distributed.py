"""Scaling FF across processes on torch.distributed: data parallel and a layer pipeline.

FF's locality makes both natural. Launch with ``ff train CONFIG --nproc N [--pipeline]`` (local processes via
``torch.multiprocessing``), or with ``torchrun`` on one or more nodes (see docs/architecture.md): every
worker then reads ``RANK``/``WORLD_SIZE``/``MASTER_ADDR``/``MASTER_PORT`` from the environment. Gloo on CPU,
NCCL when ``trainer.device`` is a CUDA device.

- Data parallel (:class:`DataParallelTrainer`): every rank takes its shard of every batch; after the local
  backward, each parameter's gradient is averaged across ranks (one ``all_reduce`` per step, weighted by
  shard size so uneven shards give exactly the full batch's mean gradient), then every rank steps.
- Layer pipeline (:func:`pipeline_fit`): consecutive layers live on consecutive ranks. Rank 0 embeds the
  data and draws *random* wrong labels (hard negatives need the whole stack's beliefs, which only exist at
  the end of the pipe; we chose not to send them back). Each rank trains its layers on the positive and
  negative activities it receives and sends its normalised, detached outputs on with ``isend``; at most
  ``max_in_flight`` batches are in flight per link, so a fast rank waits instead of queueing without bound.
  The linear head is not trained in the pipeline; prediction is by goodness, gathered from all ranks.
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from ..network import FFNetwork
from .trainer import Trainer, build_optimizer, cooldown_factor

DEFAULT_TIMEOUT_S = 60.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for local process groups)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def init(
    rank: int | None = None,
    world_size: int | None = None,
    init_method: str | None = None,
    backend: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> None:
    """Join the process group; without arguments, from torchrun's environment variables.

    The timeout bounds every collective and point-to-point wait: a dead or stuck peer becomes an error
    on the others instead of a hang.
    """
    if dist.is_initialized():
        return
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() and os.environ.get("FF_BACKEND") != "gloo" else "gloo"
    kwargs: dict[str, Any] = {"timeout": datetime.timedelta(seconds=timeout_s)}
    if rank is not None:
        kwargs.update(rank=rank, world_size=world_size)
    dist.init_process_group(backend, init_method=init_method or "env://", **kwargs)


def _check_peers(timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
    """A barrier that names the ranks that did not arrive (gloo), instead of waiting forever."""
    if dist.get_backend() == "gloo":
        dist.monitored_barrier(timeout=datetime.timedelta(seconds=timeout_s), wait_all_ranks=True)
    else:
        dist.barrier()


# ---------------------------------------------------------------------- data parallel
class DataParallelTrainer(Trainer):
    """A :class:`Trainer` whose ranks split every batch and average gradients before each step.

    All ranks build the network from the same seed; rank 0's weights are broadcast anyway, so the ranks
    start identical even from a network built without a seed. Shuffling uses the shared seed, so all ranks
    agree on every batch and each takes the rows ``rank::world_size``; negatives come from a per-rank
    generator. Resuming from a checkpoint is not supported. Peer normalisation's running means are averaged
    too; its penalty is not a per-sample mean, so with ``peer_norm > 0`` results match single-process
    training only approximately.
    """

    def __init__(self, net: FFNetwork, *args: Any, **kwargs: Any) -> None:
        if not dist.is_initialized():
            raise RuntimeError(
                "DataParallelTrainer needs torch.distributed; call forwardforward.distributed.init"
            )
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        if self.rank != 0:
            kwargs.update(out_dir=None, progress=False)
        super().__init__(net, *args, **kwargs)
        with torch.no_grad():
            for t in [*net.parameters(), *net.buffers()]:
                dist.broadcast(t.data, src=0)
        self._local_rows = 0
        # Shuffling must agree on every rank; negatives must not (each rank samples its own shard, and
        # uneven shards would desynchronise one shared generator). So two generators.
        self.shuffle_generator = torch.Generator().manual_seed(self.seed)
        self.generator.manual_seed(self.seed + 1_000_003 * (self.rank + 1))

    def _batches(self, n: int, batch_size: int) -> list[torch.Tensor]:
        perm = torch.randperm(n, generator=self.shuffle_generator)
        return [b[self.rank :: self.world] for b in perm.split(batch_size)]

    def train_step(self, x: torch.Tensor, y: torch.Tensor, layers: Sequence[int] | None = None) -> dict:
        self._local_rows = len(y)
        return super().train_step(x, y, layers)

    def _before_step(self) -> None:
        average_gradients(self.net, self._local_rows)

    def _end_epoch(self, sums: dict[str, float], batches: int, seconds: float, eval_data: Any) -> None:
        super()._end_epoch(sums, batches, seconds, eval_data if self.rank == 0 else None)


@torch.no_grad()
def average_gradients(module: torch.nn.Module, local_rows: int) -> None:
    """Replace every gradient by the all-ranks mean over samples: ``sum_r n_r g_r / sum_r n_r``.

    One ``all_reduce`` of a flat buffer holding the weighted gradients, the row count and the module's
    floating-point buffers (averaged plainly).
    """
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    bufs = [b for b in module.buffers() if b.is_floating_point()]
    parts = [g.reshape(-1) * local_rows for g in grads] + [b.reshape(-1) for b in bufs]
    ref = grads[0] if grads else next(module.parameters())
    flat = torch.cat([*parts, torch.tensor([float(local_rows)], dtype=ref.dtype, device=ref.device)])
    dist.all_reduce(flat)
    total_rows = flat[-1]
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g) / total_rows)
        offset += g.numel()
    world = dist.get_world_size()
    for b in bufs:
        b.copy_(flat[offset : offset + b.numel()].view_as(b) / world)
        offset += b.numel()


# ---------------------------------------------------------------------- layer pipeline
def split_layers(net: FFNetwork, world: int) -> list[tuple[int, int]]:
    """Consecutive ``[lo, hi)`` layer ranges, one per rank, balanced by parameter count (a proxy for
    compute: every layer sees the same number of rows)."""
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
) -> list[tuple[int, int]]:
    """Train ``net`` as a layer pipeline across the process group; returns the ``[lo, hi)`` ranges.

    Every rank calls this with the same network (same seed) and data; rank ``r`` trains layers
    ``ranges[r]``. Afterwards every rank holds every layer's trained weights (broadcast from their
    owners), so any rank can save or evaluate the network. ``log``, when given, receives
    ``(layer, epoch, batch)`` for every batch a layer of this rank trained on, in order.
    """
    rank, world = dist.get_rank(), dist.get_world_size()
    ranges = split_layers(net, world)
    lo, hi = ranges[rank]
    c = net.num_classes
    if c is None or net.labels is None:
        raise ValueError("pipeline training needs a supervised network (labels=...)")
    groups = [{"params": list(net.layers[i].parameters()), "lr": lr} for i in range(lo, hi)]
    opt = build_optimizer(groups, optimizer, lr, weight_decay, **(optimizer_kwargs or {}))
    gen = torch.Generator().manual_seed(seed)  # shuffling: identical on every rank
    neg_gen = torch.Generator().manual_seed(seed + 1)  # negatives: drawn on rank 0 only
    n = len(train.y)
    steps = epochs * -(-n // batch_size)
    inbox = _Link(rank - 1, max_in_flight) if rank > 0 else None
    outbox = _Link(rank + 1, max_in_flight) if rank < world - 1 else None
    in_width = net.layers[lo].block.in_features if rank > 0 else 0
    dtype = next(net.parameters()).dtype
    step = 0
    _check_peers(timeout_s)
    for epoch in range(epochs):
        # Every rank draws the same permutation, so all agree on the number of batches.
        batches = torch.randperm(n, generator=gen).split(batch_size)
        for b, idx in enumerate(batches):
            if inbox is None:
                x, y = train.x[idx], train.y[idx]
                y_neg = (y + torch.randint(1, c, y.shape, generator=neg_gen)) % c
                h_in = torch.cat([net.embed(x, y), net.embed(x, y_neg)], 0)
            else:
                h_in = inbox.recv(in_width, dtype)
            rows = h_in.shape[0] // 2
            f = cooldown_factor(step, steps, cooldown_start)
            for g in opt.param_groups:
                g["lr"] = lr * f
            x = h_in
            for i in range(lo, hi):
                h = net.layers[i](x)
                loss, _ = net.layers[i].local_loss(h[:rows], h[rows:])
                if not torch.isfinite(loss.detach()):
                    raise FloatingPointError(f"layer {i}'s loss became {loss.item()} at epoch {epoch + 1}")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if log is not None:
                    log.append((i, epoch, b))
                x = net.hand_over(i, h) if i < len(net.layers) - 1 else x
            if outbox is not None:
                outbox.send(x)
            step += 1
    if outbox is not None:
        outbox.flush()
    _check_peers(timeout_s)
    with torch.no_grad():
        for r, (a, z) in enumerate(ranges):
            for i in range(a, z):
                for t in net.layers[i].state_dict().values():
                    dist.broadcast(t, src=r)
    return ranges


@torch.no_grad()
def pipeline_label_goodness(net: FFNetwork, x: torch.Tensor, chunk_size: int = 1024) -> torch.Tensor | None:
    """``[B, C, L]`` goodness computed along the pipeline: each rank scores its own layers on the states it
    receives and passes them on; rank 0 gathers the result (other ranks get ``None``). Every rank calls it
    with the same ``x``."""
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
            h = net._first_layer_all_labels(xb, c)
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


# ---------------------------------------------------------------------- launching from the CLI
def _worker(
    rank: int,
    world: int,
    init_method: str,
    cfg_dict: dict[str, Any],
    out: str | None,
    pipeline: bool,
    result_path: str,
) -> None:
    from ..experiment.build import build_network, build_trainer, optimizer_kwargs
    from ..experiment.cli import _load_data
    from ..experiment.config import from_dict

    cfg = from_dict(cfg_dict)
    torch.set_num_threads(cfg.trainer.threads or 1)
    # Generous: rank 0 evaluates the test set while the others wait at the final barrier.
    timeout_s = 1800.0
    init(rank, world, init_method, timeout_s=timeout_s)
    try:
        splits = _load_data(cfg)
        train = splits.train
        net = build_network(cfg, train.input_dim, train.num_classes)
        t = cfg.trainer
        t0 = time.perf_counter()
        if pipeline:
            if t.negatives != "random" and rank == 0:
                print(
                    f"ff: --pipeline uses random negatives (trainer.negatives={t.negatives} needs the whole "
                    "stack's scores at the first rank)",
                    flush=True,
                )
            pipeline_fit(
                net,
                train,
                t.epochs,
                t.batch_size,
                t.optimizer,
                t.lr,
                t.weight_decay,
                optimizer_kwargs(cfg),
                t.cooldown_start,
                t.seed,
                timeout_s=timeout_s,
            )
        else:
            trainer = build_trainer(
                cfg, net, Path(out) if (out and rank == 0) else None, trainer_cls=DataParallelTrainer
            )
            trainer.fit(train, t.epochs, t.batch_size, splits.val)
        seconds = time.perf_counter() - t0
        if rank == 0:
            test = net.evaluate(splits.test)
            result = {
                "dataset": cfg.data.name,
                "mode": "pipeline" if pipeline else "data-parallel",
                "nproc": world,
                "test_accuracy_goodness": test["accuracy"],
                "test_accuracy_head": None if pipeline else test.get("head_accuracy"),
                "layer_accuracy": test["layer_accuracy"],
                "epochs": t.epochs,
                "train_seconds": round(seconds, 2),
            }
            Path(result_path).write_text(json.dumps(result))
            if out:
                Path(out).mkdir(parents=True, exist_ok=True)
                torch.save(
                    {"config": cfg_dict, "model": net.state_dict(), "epoch": t.epochs},
                    Path(out) / ("pipeline.pt" if pipeline else "model.pt"),
                )
        _check_peers(timeout_s)
    finally:
        dist.destroy_process_group()


def launch(cfg_dict: dict[str, Any], nproc: int, out: str | None = None, pipeline: bool = False) -> dict:
    """Run ``nproc`` local worker processes (gloo on 127.0.0.1) and return rank 0's result."""
    import tempfile

    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as tmp:
        result_path = os.path.join(tmp, "result.json")
        init_method = f"tcp://127.0.0.1:{free_port()}"
        mp.spawn(_worker, args=(nproc, init_method, cfg_dict, out, pipeline, result_path), nprocs=nproc)
        return json.loads(Path(result_path).read_text())


__all__ = [
    "DataParallelTrainer",
    "average_gradients",
    "free_port",
    "init",
    "launch",
    "pipeline_fit",
    "pipeline_label_goodness",
    "split_layers",
]
