"""Layer pipeline vs one process: training time and test accuracy, one torch thread per rank.

    python benchmarks/pipeline_speed.py --root ../shared/data/fashion-mnist [--train-subset 60000]
        [--epochs 1] [--hidden 2000 2000 2000 2000] [--batch 100] [--nproc 2] [--repeats 3]

Runs :func:`forwardforward.training.pipeline.pipeline_fit` twice on the same network (4x2000, mean-of-squares
goodness, SymBa loss, label appended at strength 5, random negatives, Adam 3e-3) and data: once in a
one-process group, once with ``--nproc`` ranks (gloo on 127.0.0.1). Both train every layer on the same
inputs in the same order, so accuracy should match; the pipeline should take about 1/nproc of the time
when the machine has ``nproc`` idle cores. On 4x2000 the balanced split is layers 0-1 (5.6M weights) and
2-3 (8.0M), so the ideal 2-rank speed-up is 13.6 / 8.0 = 1.7x; another busy process on a 2-core machine
takes it below 1. Timing starts after the process group is up and torch's one-time lazy imports are done.
Prints one JSON line per run and a summary with the speed-ups and their median (``--repeats`` alternates
the two so that load changes hit both alike).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import forwardforward as ff
from forwardforward.training.pipeline import pipeline_fit
from forwardforward.training.strategies import free_port, init


def _worker(rank: int, world: int, init_method: str, a: argparse.Namespace, out: str) -> None:
    torch.set_num_threads(1)
    init(rank, world, init_method, backend="gloo", timeout_s=600)
    try:
        splits = ff.data.load("fashion-mnist", root=a.root, download=False)
        idx = torch.randperm(len(splits.train), generator=torch.Generator().manual_seed(0))[: a.train_subset]
        train = splits.train.subset(idx)
        torch.manual_seed(0)
        net = ff.FFNetwork.mlp(
            [train.input_dim, *a.hidden],
            num_classes=10,
            labels="append",
            label_strength=5.0,
            goodness="meansq",
            loss="symba",
            head=False,
        )
        # torch's first optimiser construction imports torch._dynamo lazily (about 3.5 s here): a one-time
        # start-up cost of the process, not training, and it would dilute the ratio, so pay it untimed.
        torch.optim.Adam([torch.zeros(1, requires_grad=True)])
        dist.barrier()
        t0 = time.perf_counter()
        pipeline_fit(net, train, a.epochs, a.batch, optimizer="adam", lr=3e-3, timeout_s=600)
        seconds = time.perf_counter() - t0
        if rank == 0:
            acc = net.evaluate(splits.test)["accuracy"]
            Path(out).write_text(
                json.dumps(
                    {"nproc": world, "train_seconds": round(seconds, 2), "test_accuracy_goodness": acc}
                )
            )
    finally:
        dist.destroy_process_group()


def run(world: int, a: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "r.json")
        mp.spawn(_worker, args=(world, f"tcp://127.0.0.1:{free_port()}", a, out), nprocs=world)
        return json.loads(Path(out).read_text())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default=str(Path(__file__).resolve().parents[2] / "shared/data/fashion-mnist"))
    p.add_argument("--train-subset", type=int, default=60000)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--hidden", type=int, nargs="+", default=[2000, 2000, 2000, 2000])
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--repeats", type=int, default=1, help="alternate one-rank and pipeline runs this often")
    a = p.parse_args()
    speedups, differences = [], []
    for _ in range(a.repeats):
        one = run(1, a)
        print(json.dumps(one), flush=True)
        many = run(a.nproc, a)
        print(json.dumps(many), flush=True)
        speedups.append(one["train_seconds"] / many["train_seconds"])
        differences.append(100 * (many["test_accuracy_goodness"] - one["test_accuracy_goodness"]))
    print(
        json.dumps(
            {
                "speedups": [round(v, 2) for v in speedups],
                "median_speedup": round(statistics.median(speedups), 2),
                "accuracy_points_difference": [round(v, 2) for v in differences],
            }
        )
    )


if __name__ == "__main__":
    main()
