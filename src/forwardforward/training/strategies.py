"""How one training step is spread over processes: a strategy the Trainer is given, never a subclass.

- :class:`SingleProcess`: every row of a batch is here; nothing to synchronise.
- :class:`DataParallel` (torch.distributed, gloo on CPU, NCCL on GPUs): every rank draws the same batch,
  the same augmentation and the same negatives (one shared seed), computes the layers on its own rows
  ``rank::world`` and averages the gradients before every optimiser step (one ``all_reduce``, weighted by
  rows). Class scores for hard negatives are gathered from the ranks, so the negatives equal one process's.
  It applies to every schedule and every kind of negative data, because the Trainer has one step.

FF's locality is what makes this cheap: no activation crosses a layer boundary backwards, so the only
communication per step is the gradients, exactly as in backprop's data parallelism.
"""

from __future__ import annotations

import datetime
import os
import socket
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

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
    """Join the process group; without arguments, from torchrun's environment variables. Nothing happens
    when this process has joined one already.

    Args:
        rank: this process's rank (with ``world_size``), or ``None`` to read it from the environment.
        world_size: the number of processes.
        init_method: how peers find each other (default ``"env://"``: ``MASTER_ADDR``/``MASTER_PORT``).
        backend: ``"gloo"`` or ``"nccl"``; default NCCL when CUDA is available (unless ``FF_BACKEND=gloo``),
            else gloo.
        timeout_s: bounds every collective and point-to-point wait: a dead or stuck peer becomes an error
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


def launched_by_torchrun() -> bool:
    """Whether this process is one of several that ``torchrun`` (or any launcher setting the usual
    ``RANK`` / ``WORLD_SIZE`` environment) started."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def check_peers(timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
    """A barrier that names the ranks that did not arrive within ``timeout_s`` seconds (gloo), instead of
    waiting forever; other backends get a plain barrier."""
    if dist.get_backend() == "gloo":
        dist.monitored_barrier(timeout=datetime.timedelta(seconds=timeout_s), wait_all_ranks=True)
    else:
        dist.barrier()


class SingleProcess:
    """One process: the whole batch is local, gradients need no synchronisation."""

    rank = 0
    world = 1

    @property
    def is_main(self) -> bool:
        """Whether this process writes files, shows progress and evaluates."""
        return self.rank == 0

    def setup(self, net: nn.Module) -> None:
        """Called once by the Trainer with its network ``net`` before training (data parallel: make every
        rank's weights equal)."""

    def local(self, t: torch.Tensor) -> torch.Tensor:
        """This process's rows of the full-batch tensor ``t``."""
        return t

    def gather(self, t: torch.Tensor) -> torch.Tensor:
        """The full-batch tensor from every process's rows ``t`` (the inverse of :meth:`local`)."""
        return t

    def before_step(self, module: nn.Module, local_rows: int) -> None:
        """Between backward and the optimiser step: data parallel averages the gradients of ``module``
        here, weighting each process's by its ``local_rows``."""

    def describe(self) -> str:
        """How the step is spread, in words (for logs)."""
        return "one process"


class DataParallel(SingleProcess):
    """Every rank a shard ``rank::world`` of every batch, gradients averaged before every step."""

    def __init__(self) -> None:
        if not dist.is_initialized():
            raise RuntimeError("data parallel training needs torch.distributed: call strategies.init() first")
        self.rank, self.world = dist.get_rank(), dist.get_world_size()

    def setup(self, net: nn.Module) -> None:
        # Every rank builds the network from the same seed; broadcasting rank 0's copy makes sure.
        with torch.no_grad():
            for t in [*net.parameters(), *net.buffers()]:
                dist.broadcast(t.data, src=0)

    def local(self, t: torch.Tensor) -> torch.Tensor:
        return t[self.rank :: self.world]

    def gather(self, t: torch.Tensor) -> torch.Tensor:
        sizes = [torch.zeros(1, dtype=torch.long) for _ in range(self.world)]
        dist.all_gather(sizes, torch.tensor([t.shape[0]]))
        most = int(max(sizes))
        padded = torch.cat([t, t.new_zeros(most - t.shape[0], *t.shape[1:])]) if t.shape[0] < most else t
        parts = [torch.empty_like(padded) for _ in range(self.world)]
        dist.all_gather(parts, padded.contiguous())
        out = t.new_empty(int(sum(sizes)), *t.shape[1:])
        for r, (part, n) in enumerate(zip(parts, sizes)):
            out[r :: self.world] = part[: int(n)]
        return out

    def before_step(self, module: nn.Module, local_rows: int) -> None:
        average_gradients(module, local_rows)

    def describe(self) -> str:
        return f"data parallel over {self.world} processes"


@torch.no_grad()
def average_gradients(module: nn.Module, local_rows: int) -> None:
    """Replace every gradient of ``module`` by the all-ranks mean over samples:
    ``sum_r n_r g_r / sum_r n_r``, with ``n_r`` each rank's ``local_rows``.

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


__all__ = [
    "DEFAULT_TIMEOUT_S",
    "DataParallel",
    "SingleProcess",
    "average_gradients",
    "check_peers",
    "free_port",
    "init",
    "launched_by_torchrun",
]
