"""Distributed: data-parallel steps and whole fits equal single-process ones (every kind of negatives is
drawn identically on every rank), the layer pipeline delivers every batch once and in order (and equals
sequential training), and a dead rank is an error, not a hang.

Each test forks two CPU processes joined by gloo on 127.0.0.1 with short timeouts (fork, not spawn: a
spawned child re-imports torch, which takes seconds on a busy machine; the parent runs torch with one
thread, so forking it is safe).
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from forwardforward import FFNetwork, Trainer
from forwardforward.data import ArrayDataset
from forwardforward.negatives.labels import LabelNegatives
from forwardforward.training.pipeline import pipeline_fit, pipeline_label_goodness, split_layers
from forwardforward.training.strategies import DataParallel, average_gradients, free_port, init

DIMS = [12, 16, 16, 16, 16]


@pytest.fixture(scope="module", autouse=True)
def _warm_optimizer() -> None:
    """The first optimiser step imports torch._dynamo (seconds); do it once here, not in every child."""
    p = torch.zeros(1, requires_grad=True)
    p.sum().backward()
    torch.optim.Adam([p]).step()


def _net() -> FFNetwork:
    torch.manual_seed(0)
    return FFNetwork.mlp(DIMS, num_classes=3, labels="append", goodness="meansq", loss="symba")


def _data(n: int = 40) -> ArrayDataset:
    gen = torch.Generator().manual_seed(1)
    return ArrayDataset.from_tensors(torch.randn(n, DIMS[0], generator=gen), torch.arange(n) % 3, 3)


def _grads(net: FFNetwork, x: torch.Tensor, y: torch.Tensor, y_neg: torch.Tensor) -> list[torch.Tensor]:
    net.zero_grad(set_to_none=True)
    losses, _ = net.local_losses(net.embed(x, y), net.embed(x, y_neg))
    torch.stack(losses).sum().backward()
    return [p.grad for p in net.layers.parameters()]


def _dp_worker(rank: int, world: int, init_method: str) -> None:
    torch.set_num_threads(1)
    init(rank, world, init_method, backend="gloo", timeout_s=20)
    try:
        data = _data(33)  # uneven shards: 17 and 16 rows
        y_neg = (data.y + 1) % 3
        full = [g.clone() for g in _grads(_net(), data.x, data.y, y_neg)]
        net = _net()
        s = slice(rank, None, world)
        _grads(net, data.x[s], data.y[s], y_neg[s])
        average_gradients(net.layers, len(data.y[s]))
        for g, ref in zip([p.grad for p in net.layers.parameters()], full):
            torch.testing.assert_close(g, ref, rtol=1e-5, atol=1e-6)
    finally:
        dist.destroy_process_group()


class _NextLabel(LabelNegatives):
    """Deterministic wrong labels, so a sharded step and a full-batch step see the same negatives."""

    def forward(self, y, num_classes, scores=None, generator=None):  # type: ignore[override]
        return (y + 1) % num_classes


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for (k, v), ref in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(v, ref, rtol=1e-5, atol=1e-6, msg=k)


def _dp_trainer_worker(rank: int, world: int, init_method: str, layerwise: bool, negatives: str) -> None:
    torch.set_num_threads(1)
    init(rank, world, init_method, backend="gloo", timeout_s=20)
    try:
        data = _data(21)  # uneven shards: 11 and 10 rows
        kwargs = {
            "negatives": _NextLabel() if negatives == "next" else negatives,
            "optimizer": "adam",
            "lr": 0.01,
            "progress": False,
            "layerwise_step": layerwise,
        }
        single = Trainer(_net(), **kwargs)
        single.train_step(data.x, data.y)
        par = Trainer(_net(), strategy=DataParallel(), **kwargs)
        par.train_step(data.x, data.y)  # every rank is given the batch; each computes its rows
        assert par.local_rows == (11 if rank == 0 else 10)
        _assert_same_weights(par.net, single.net)
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize(("layerwise", "negatives"), [(False, "next"), (True, "next"), (False, "hard")])
def test_data_parallel_trainer_step_equals_single_process_step(layerwise: bool, negatives: str) -> None:
    mp.start_processes(
        _dp_trainer_worker,
        args=(2, f"tcp://127.0.0.1:{free_port()}", layerwise, negatives),
        nprocs=2,
        start_method="fork",
    )


def _dp_fit_worker(rank: int, world: int, init_method: str) -> None:
    torch.set_num_threads(1)
    init(rank, world, init_method, backend="gloo", timeout_s=20)
    try:
        par = Trainer(_net(), negatives="hard", progress=False, lr=0.01, strategy=DataParallel())
        par.fit(_data(21), epochs=3, batch_size=8)  # uneven shards in every epoch's last batch
        single = Trainer(_net(), negatives="hard", progress=False, lr=0.01)
        single.fit(_data(21), epochs=3, batch_size=8)
        _assert_same_weights(par.net, single.net)  # hard negatives drawn alike: the same training
        flat = torch.cat([p.detach().reshape(-1) for p in par.net.parameters()])
        everyone = [torch.empty_like(flat) for _ in range(world)]
        dist.all_gather(everyone, flat)
        assert torch.equal(everyone[0], everyone[1])  # the replicas never drift apart
    finally:
        dist.destroy_process_group()


def test_data_parallel_fit_equals_single_process_and_keeps_replicas_equal() -> None:
    mp.start_processes(
        _dp_fit_worker, args=(2, f"tcp://127.0.0.1:{free_port()}"), nprocs=2, start_method="fork"
    )


def test_data_parallel_gradients_equal_single_process() -> None:
    mp.start_processes(_dp_worker, args=(2, f"tcp://127.0.0.1:{free_port()}"), nprocs=2, start_method="fork")


def _pipe_worker(rank: int, world: int, init_method: str, out: str) -> None:
    torch.set_num_threads(1)
    init(rank, world, init_method, backend="gloo", timeout_s=20)
    try:
        net = _net()
        log: list[tuple[int, int, int]] = []
        ranges = pipeline_fit(
            net, _data(), epochs=2, batch_size=8, lr=0.01, max_in_flight=2, log=log, timeout_s=10
        )
        lo, hi = ranges[rank]
        expected = [(i, e, b) for e in range(2) for b in range(5) for i in range(lo, hi)]
        assert log == expected, (rank, log)
        goods = pipeline_label_goodness(net, _data(10).x, chunk_size=9)
        if rank == 0:
            torch.save({"state": net.state_dict(), "goods": goods, "ranges": ranges}, out)
    finally:
        dist.destroy_process_group()


def test_pipeline_delivers_every_batch_in_order_and_equals_sequential(tmp_path: Path) -> None:
    out = tmp_path / "pipe.pt"
    mp.start_processes(
        _pipe_worker, args=(2, f"tcp://127.0.0.1:{free_port()}", str(out)), nprocs=2, start_method="fork"
    )
    got = torch.load(out, weights_only=True)
    assert got["ranges"] == [(0, 2), (2, 4)]
    # The same function in a one-process group trains every layer in turn on the same inputs.
    init(0, 1, f"file://{tmp_path / 'store'}", backend="gloo", timeout_s=10)
    try:
        net = _net()
        pipeline_fit(net, _data(), epochs=2, batch_size=8, lr=0.01)
        for k, v in net.state_dict().items():
            torch.testing.assert_close(got["state"][k], v, rtol=1e-5, atol=1e-6, msg=k)
        torch.testing.assert_close(got["goods"], net.label_goodness(_data(10).x), rtol=1e-5, atol=1e-5)
    finally:
        dist.destroy_process_group()


def test_split_layers_is_balanced_and_checked() -> None:
    net = FFNetwork.mlp([784, 2000, 2000, 2000, 2000], num_classes=10)
    assert split_layers(net, 2) == [(0, 2), (2, 4)]
    assert split_layers(net, 4) == [(0, 1), (1, 2), (2, 3), (3, 4)]
    with pytest.raises(ValueError, match="at least 5 layers"):
        split_layers(net, 5)


class _DieAfter(list):
    """A log that kills its process after ``n`` entries: a rank dying mid-training."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def append(self, item: object) -> None:
        super().append(item)
        if len(self) >= self.n:
            os._exit(17)


def _dying_worker(rank: int, world: int, init_method: str, err_path: str) -> None:
    torch.set_num_threads(1)
    init(rank, world, init_method, backend="gloo", timeout_s=5)
    log = _DieAfter(3) if rank == 1 else None
    try:
        pipeline_fit(
            _net(), _data(400), epochs=3, batch_size=8, lr=0.01, max_in_flight=2, log=log, timeout_s=5
        )
    except Exception:
        Path(err_path).write_text(traceback.format_exc())
        os._exit(3)


def test_a_dead_rank_is_an_error_not_a_hang(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    init_method = f"tcp://127.0.0.1:{free_port()}"
    err = tmp_path / "rank0.txt"
    procs = [ctx.Process(target=_dying_worker, args=(r, 2, init_method, str(err))) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=30)
    alive = [p for p in procs if p.is_alive()]
    for p in alive:
        p.kill()
    assert not alive, "a rank hung after its peer died"
    assert procs[1].exitcode == 17
    assert procs[0].exitcode == 3
    assert err.read_text()  # rank 0 raised (connection closed / timeout) instead of hanging
