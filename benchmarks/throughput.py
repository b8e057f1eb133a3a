"""Training-step throughput: fp32 eager vs bfloat16 autocast vs torch.compile (``trainer.autocast``,
``trainer.compile``).

    python benchmarks/throughput.py [--hidden 1000 1000] [--batch 256] [--steps 30] [--threads 1]

Times ``--steps`` Trainer steps on random MNIST-shaped data (hard negatives from the head, Adam) after
warm-up steps (which include compilation), for each setting; prints one JSON line each.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

import forwardforward as ff


def measure(setting: str, a: argparse.Namespace) -> dict:
    torch.manual_seed(0)
    net = ff.FFNetwork.mlp(
        [784, *a.hidden], num_classes=10, labels="append", label_strength=5.0, goodness="meansq", loss="symba"
    )
    trainer = ff.Trainer(
        net,
        optimizer="adam",
        lr=3e-3,
        progress=False,
        autocast="bf16" if setting == "bf16" else None,
        compile=setting == "compile",
    )
    x, y = torch.rand(a.batch, 784), torch.randint(0, 10, (a.batch,))
    t0 = time.perf_counter()
    for _ in range(3):
        trainer.train_step(x, y)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(a.steps):
        trainer.train_step(x, y)
    per_step = (time.perf_counter() - t0) / a.steps
    return {"setting": setting, "ms_per_step": round(1000 * per_step, 1), "warmup_s": round(warm, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, nargs="+", default=[1000, 1000])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--settings", nargs="+", default=["fp32", "bf16", "compile"])
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    for s in a.settings:
        print(json.dumps(measure(s, a)), flush=True)


if __name__ == "__main__":
    main()
