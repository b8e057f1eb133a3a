"""How far an FF MLP's (or locally connected net's) training step is from its matrix products' floor.

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

A ``model.kind=cnn`` net whose blocks are all locally connected (``local: true``, no pooling) is counted the
same way: each of a layer's P output positions has its own ``[fan_in, out]`` weights, so its products are
P batched ones (``torch.bmm``) of the shapes above, with fan_in = in_channels * kernel * kernel.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

import forwardforward as ff
from forwardforward.experiment.build import build_network, build_trainer


def product_shapes(
    layers: list[tuple[int, int, int]], batch: int, neutral_pass: bool
) -> list[tuple[int, int, int, int]]:
    """The ``(p, m, k, n)`` of every product in one step: ``p`` batched ``[m, k] @ [k, n]``, for layers
    given as ``(positions, fan_in, fan_out)`` (one position for a dense layer)."""
    shapes = []
    for p, fan_in, fan_out in layers:
        shapes.append((p, 2 * batch, fan_in, fan_out))  # positives and negatives forward
        shapes.append((p, fan_in, 2 * batch, fan_out))  # the weight gradient
        if neutral_pass:
            shapes.append((p, batch, fan_in, fan_out))  # the neutral-label pass the head reads
    return shapes


def layer_products(net: ff.FFNetwork, kind: str, config: str) -> list[tuple[int, int, int]]:
    """Each FF layer's ``(positions, fan_in, fan_out)``: a dense layer's widths, or a locally connected
    map's output positions, fan-in and channels; any other block is refused (its floor is not a product)."""
    if kind == "mlp":
        widths = [net.layers[0].block.in_features, *[layer.num_units for layer in net.layers]]
        return [(1, a, b) for a, b in zip(widths[:-1], widths[1:])]
    out = []
    for i, layer in enumerate(net.layers):
        conv = getattr(layer.block, "conv", None)
        out_size = getattr(conv, "out_size", None)  # only a locally connected map has one
        if out_size is None or tuple(layer.block.out_shape[1:]) != tuple(out_size):  # not local, or pooled
            raise SystemExit(
                f"epoch_floor counts dense and locally connected products; layer {i} of {config} is a "
                "convolution or is pooled"
            )
        positions, fan_in, channels = conv.weight.shape
        out.append((int(positions), int(fan_in), int(channels)))
    return out


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
    if cfg.model.kind not in ("mlp", "cnn"):
        raise SystemExit(f"epoch_floor counts an MLP's products; {a.config} is model.kind={cfg.model.kind}")
    batch = cfg.trainer.batch_size
    net = build_network(cfg, (1, 28, 28), 10)
    trainer = build_trainer(cfg, net)
    x, y = torch.rand(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
    step = seconds_per_call(lambda: trainer.train_step(x, y), a.steps)

    layers = layer_products(net, cfg.model.kind, a.config)
    shapes = product_shapes(layers, batch, neutral_pass=net.head is not None)
    operands = [(torch.randn(p, m, k).squeeze(0), torch.randn(p, k, n).squeeze(0)) for p, m, k, n in shapes]
    products = seconds_per_call(lambda: [u @ v for u, v in operands], a.steps)
    flops = sum(2 * p * m * k * n for p, m, k, n in shapes)
    steps_per_epoch = -(-a.train_size // batch)
    print(
        json.dumps(
            {
                "config": a.config,
                "overrides": a.overrides,
                "threads": a.threads,
                "batch": batch,
                "layers_positions_fanin_fanout": layers,
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
