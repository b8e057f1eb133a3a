"""Forward-Forward through a NumPy black box, and what backprop does with the same box.

    python examples/numpy_blackbox.py --epochs 5    # Fashion-MNIST from $FF_DATA_DIR, else downloaded

Between the two hidden layers sits ``round(4 h @ R) / 4``: a fixed random projection of the normalised
activity followed by rounding, written in NumPy (``--box sign`` takes the sign instead: a 1-bit "SimHash").
FF trains straight through it, since no layer ever needs a gradient from above. Backprop cannot: the NumPy
call is outside autograd, so the graph is cut there and the first layer never learns (and calling NumPy on
a tensor that requires grad raises). With a straight-through estimator (pretend the rounding is the
identity and back-propagate through ``h @ R``), backprop trains, but only because we know what is inside
the box.

Prints one line per run, then a JSON summary. Uses one CPU thread (see the README on thread contention).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import forwardforward as ff
from forwardforward.evaluation.baselines import BackpropMLP, accuracy, train_backprop
from forwardforward.experiment.build import build_network
from forwardforward.hardware.blackbox import BlackBox


def numpy_box(width: int, kind: str = "round", seed: int = 0) -> BlackBox:
    """A fixed random projection of the RMS-normalised activity, then rounding to steps of 1/4 (``"round"``,
    about 4 bits per unit) or the sign (``"sign"``, 1 bit), in NumPy. The STE surrogate is the projection.

    Normalising inside the box makes it see the same thing in FF (whose layers pass on RMS-normalised
    activities already) and in the backprop twin (which passes on raw activities).
    """
    r = np.random.default_rng(seed).standard_normal((width, width)).astype(np.float32) / np.sqrt(width)
    r_t = torch.from_numpy(r)

    def project(h: np.ndarray) -> np.ndarray:
        rms = np.sqrt((h**2).mean(1, keepdims=True)) + 1e-8
        return (h / rms) @ r

    def numpy_round_projection(h: np.ndarray) -> np.ndarray:
        return np.round(project(h) * 4) / 4

    def numpy_sign_projection(h: np.ndarray) -> np.ndarray:
        return np.where(project(h) >= 0, 1.0, -1.0).astype(np.float32)

    def surrogate(h: torch.Tensor) -> torch.Tensor:
        return (h / (h.pow(2).mean(1, keepdim=True).sqrt() + 1e-8)) @ r_t.to(h.device, h.dtype)

    fn = numpy_round_projection if kind == "round" else numpy_sign_projection
    return BlackBox(fn, surrogate=surrogate)


RECIPE = Path(__file__).resolve().parents[1] / "configs" / "fmnist-mlp.yaml"


def ff_net(hidden: list[int], seed: int, **mlp_kwargs: Any) -> ff.FFNetwork:
    """The tuned FF recipe (configs/fmnist-mlp.yaml) with these hidden sizes and seed."""
    cfg = ff.load_config(RECIPE, [f"model.hidden={list(hidden)}", f"trainer.seed={seed}"])
    return build_network(cfg, 784, 10, **mlp_kwargs)


def train_ff(splits: Any, hidden: list[int], epochs: int, box: BlackBox | None, seed: int) -> dict[str, Any]:
    net = ff_net(hidden, seed, between={0: box} if box is not None else None)
    trainer = ff.Trainer(net, negatives="hard", lr=3e-3, cooldown_start=0.5, seed=seed, progress=False)
    t0 = time.perf_counter()
    trainer.fit(splits.train, epochs=epochs, batch_size=256)
    res = net.evaluate(splits.test)
    return {
        "accuracy": res["accuracy"],
        "head_accuracy": res["head_accuracy"],
        "seconds": round(time.perf_counter() - t0, 1),
    }


def train_bp(
    splits: Any, hidden: list[int], epochs: int, box: BlackBox | None, mode: str, seed: int
) -> dict[str, Any]:
    torch.manual_seed(seed)
    model = BackpropMLP(
        [splits.train.input_dim, *hidden], 10, between={0: box} if box else None, blackbox_mode=mode
    )
    first = model[1].weight.detach().clone()
    t0 = time.perf_counter()
    train_backprop(model, splits.train, epochs, 256, lr=3e-3, seed=seed, cooldown_start=0.5)
    return {
        "accuracy": accuracy(model, splits.test),
        "first_layer_learned": not torch.equal(first, model[1].weight.detach()),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def naive_backprop_error(box: BlackBox, width: int) -> str:
    """What happens when backprop code hands its activity, still attached to the graph, to NumPy."""
    h = torch.rand(4, width, requires_grad=True) * 1.0
    try:
        box.fn(h.numpy())
    except RuntimeError as err:
        return f"{type(err).__name__}: {err}"
    return "no error"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--root", default=None, help="the Fashion-MNIST folder (default: $FF_DATA_DIR, else a download)"
    )
    p.add_argument("--hidden", type=int, nargs="+", default=[500, 500])
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--train-size", type=int, default=None, help="first N training samples (default all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--box", choices=["round", "sign"], default="round", help="rounding (~4 bits) or sign (1 bit)"
    )
    args = p.parse_args()
    torch.set_num_threads(1)
    splits = ff.data.load("fashion-mnist", root=args.root)
    if args.train_size:
        splits.train = splits.train.subset(torch.arange(args.train_size))
    box = numpy_box(args.hidden[0], args.box, args.seed)
    out: dict[str, Any] = {
        "box": box.name,
        "hidden": args.hidden,
        "epochs": args.epochs,
        "train_size": len(splits.train),
    }
    runs = [
        ("ff_with_box", lambda: train_ff(splits, args.hidden, args.epochs, box, args.seed)),
        ("ff_without_box", lambda: train_ff(splits, args.hidden, args.epochs, None, args.seed)),
        ("bp_without_box", lambda: train_bp(splits, args.hidden, args.epochs, None, "autograd", args.seed)),
        (
            "bp_with_box_autograd",
            lambda: train_bp(splits, args.hidden, args.epochs, box, "autograd", args.seed),
        ),
        ("bp_with_box_ste", lambda: train_bp(splits, args.hidden, args.epochs, box, "ste", args.seed)),
    ]
    out["bp_naive_numpy_call"] = naive_backprop_error(box, args.hidden[0])
    print(f"backprop handing its graph to NumPy: {out['bp_naive_numpy_call']}", flush=True)
    for name, run in runs:
        out[name] = run()
        print(f"{name:22s} {json.dumps(out[name])}", flush=True)
    gap = out["ff_without_box"]["accuracy"] - out["ff_with_box"]["accuracy"]
    out["ff_gap_points"] = round(100 * gap, 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
