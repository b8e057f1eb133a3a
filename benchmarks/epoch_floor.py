"""How far an FF MLP's training step is from its matrix products' floor on this CPU.

    python benchmarks/epoch_floor.py configs/hinton-mnist.yaml [key=value ...] [--steps 20] [--threads 2]

An FF step of an MLP is, in arithmetic, a handful of dense products per layer: the forward pass of the
positive and the negative batch, the weight gradient (a layer's input is detached, so no input gradient is
ever computed), and, when the net has a linear head, one more forward pass of the neutral-label batch (the
head reads it every step, whatever the negatives). This script times ``--steps`` real Trainer steps of the
config (random inputs of the config's data shape, after warm-up), then times those products alone, with the
same shapes, on the same threads, and prints one JSON line: seconds per step for each, their ratio, and both
projected to one epoch of ``--train-size`` images. A ratio near 1 means the hours go into arithmetic; a large
one means something else (elementwise work, the optimiser, Python) is worth finding. Timing belongs here,
never in unit tests; run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

import forwardforward as ff
from forwardforward.experiment.build import build_network, build_trainer


def product_shapes(widths: list[int], batch: int, neutral_pass: bool) -> list[tuple[int, int, int]]:
    """The ``(m, k, n)`` of every dense product in one step: ``[m, k] @ [k, n]``."""
    shapes = []
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
        shapes.append((2 * batch, fan_in, fan_out))  # positives and negatives forward
        shapes.append((fan_out, 2 * batch, fan_in))  # the weight gradient
        if neutral_pass:
            shapes.append((batch, fan_in, fan_out))  # the neutral-label pass the head reads
    return shapes


def seconds_per_call(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    """The median of ``repeats`` timed calls of ``fn`` after two warm-up calls."""
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("config")
    p.add_argument("overrides", nargs="*")
    p.add_argument("--steps", type=int, default=20, help="timed training steps (the median is kept)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--train-size", type=int, default=60000, help="images per epoch, for the projection")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    cfg = ff.load_config(a.config, [*a.overrides, "trainer.progress=false", f"trainer.threads={a.threads}"])
    if cfg.model.kind != "mlp":
        raise SystemExit(f"epoch_floor counts an MLP's products; {a.config} is model.kind={cfg.model.kind}")
    batch = cfg.trainer.batch_size
    net = build_network(cfg, (1, 28, 28), 10)
    trainer = build_trainer(cfg, net)
    x, y = torch.rand(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
    step = seconds_per_call(lambda: trainer.train_step(x, y), a.steps)

    widths = [net.layers[0].block.in_features, *[layer.num_units for layer in net.layers]]
    shapes = product_shapes(widths, batch, neutral_pass=net.head is not None)
    operands = [(torch.randn(m, k), torch.randn(k, n)) for m, k, n in shapes]
    products = seconds_per_call(lambda: [u @ v for u, v in operands], a.steps)
    flops = sum(2 * m * k * n for m, k, n in shapes)
    steps_per_epoch = -(-a.train_size // batch)
    print(
        json.dumps(
            {
                "config": a.config,
                "overrides": a.overrides,
                "threads": a.threads,
                "batch": batch,
                "widths": widths,
                "gflop_per_step": round(flops / 1e9, 2),
                "step_s": round(step, 4),
                "products_s": round(products, 4),
                "products_gflops": round(flops / products / 1e9, 1),
                "step_over_products": round(step / products, 2),
                "epoch_training_s": round(step * steps_per_epoch, 1),
                "epoch_products_floor_s": round(products * steps_per_epoch, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
