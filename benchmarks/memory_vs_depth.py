"""Peak training memory against depth: FF (layer-wise step), FF (one backward) and the backprop twin.

    python benchmarks/memory_vs_depth.py [--depths 2 4 8 16] [--width 256] [--batch 4096] [--steps 3]

Every (method, depth) runs in a fresh subprocess with one torch thread and prints one JSON line; a summary
line with the depth-16 / depth-4 ratios comes last.

Method. Width 256 and batch 4096 make activations dominate: one layer's activity for the FF batch (4096
positives + 4096 negatives) is 8 MiB, its weights 0.25 MiB. The child builds the model and a random
MNIST-shaped batch (784 inputs, 10 classes), takes one warm-up step (Adam's state, allocator caches), then
resets the kernel's peak-RSS counter (``echo 5 > /proc/self/clear_refs`` resets VmHWM), reads VmRSS as the
baseline, takes ``--steps`` steps and reports ``VmHWM - baseline``: the peak extra resident memory of a
training step. glibc would otherwise keep freed tensors in its heap and hide them from RSS, so the child
runs with ``MALLOC_MMAP_THRESHOLD_=65536``: every tensor over 64 KiB is its own mapping, returned to the
kernel when freed, and RSS follows the live tensors. FF uses hard negatives from the linear head, which
reads only the last layer (``head_layers=[-1]``): a head on every layer would itself grow with depth.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(method: str, depth: int, width: int, batch: int, steps: int) -> dict[str, object]:
    import torch
    import torch.nn.functional as F

    import forwardforward as ff
    from forwardforward.evaluation.baselines import BackpropMLP

    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = torch.rand(batch, 784)
    y = torch.randint(0, 10, (batch,))
    if method == "backprop":
        model = BackpropMLP([784, *[width] * depth], 10)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step() -> None:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    else:
        net = ff.FFNetwork.mlp([784, *[width] * depth], num_classes=10, labels="overlay", head_layers=[-1])
        trainer = ff.Trainer(
            net,
            negatives="hard",
            optimizer="adam",
            lr=1e-3,
            progress=False,
            layerwise_step=method == "ff-layerwise",
        )

        def step() -> None:
            trainer.train_step(x, y)

    step()  # warm-up: optimiser state, allocator and thread-pool setup
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    base = _status_kib("VmRSS")
    for _ in range(steps):
        step()
    peak = _status_kib("VmHWM")
    return {
        "method": method,
        "depth": depth,
        "width": width,
        "batch": batch,
        "baseline_mib": round(base / 1024, 1),
        "peak_delta_mib": round((peak - base) / 1024, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--depths", type=int, nargs="+", default=[2, 4, 8, 16])
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--methods", nargs="+", default=["ff-layerwise", "ff", "backprop"])
    p.add_argument("--child", nargs=2, metavar=("METHOD", "DEPTH"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        print(json.dumps(child(a.child[0], int(a.child[1]), a.width, a.batch, a.steps)))
        return
    env = dict(os.environ, OMP_NUM_THREADS="1", MALLOC_MMAP_THRESHOLD_="65536")
    peaks: dict[str, dict[int, float]] = {}
    for method in a.methods:
        for depth in a.depths:
            cmd = [
                sys.executable,
                __file__,
                "--child",
                method,
                str(depth),
                "--width",
                str(a.width),
                "--batch",
                str(a.batch),
                "--steps",
                str(a.steps),
            ]
            out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
            row = json.loads(out.strip().splitlines()[-1])
            print(json.dumps(row), flush=True)
            peaks.setdefault(method, {})[depth] = row["peak_delta_mib"]
    if 4 in a.depths and 16 in a.depths:
        ratios = {m: round(v[16] / v[4], 2) for m, v in peaks.items()}
        print(json.dumps({"peak_ratio_depth16_over_depth4": ratios}))


if __name__ == "__main__":
    main()
