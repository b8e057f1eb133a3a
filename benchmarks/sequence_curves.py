"""Per-character accuracy on held-out Aesop strings against epochs: FF with teacher-forcing negatives, FF
with sleep-phase negatives, the backprop twin of the same net (like Hinton's 2022 sequence figure), and the
same net with its hidden layers frozen at their random initialisation and only a linear softmax readout
trained (on the normalised hidden activities of the context with the neutral candidate; same optimiser,
learning rate, batch size, epochs and seed).

    python benchmarks/sequence_curves.py --root ../shared/data/aesop --epochs 10

Extra ``key=value`` arguments override configs/aesop-seq.yaml for all four runs (the sleep run adds
``sequence.negatives=sleep``; its ``sequence.temperature / dreams / dream_length / sleep_step`` come from
the config and are echoed under ``"sleep"``). Prints one JSON line per FF run as it finishes, then one JSON
object with the four curves, their training seconds and the held-out accuracy of always predicting the
most frequent training character; writes docs/figures/aesop_sequence.png when matplotlib is installed.
``--replot JSON_FILE`` redraws the figure from a saved JSON line without training.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from forwardforward.experiment.build import (
    build_network,
    build_trainer,
    load_data,
    sample_shape,
    train_backprop_twin,
    train_frozen_readout,
)
from forwardforward.experiment.config import load_config


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--root", default="../shared/data/aesop")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--figure", default="docs/figures/aesop_sequence.png")
    p.add_argument("--replot", help="a file holding the JSON this script printed: redraw, do not train")
    p.add_argument("overrides", nargs="*")
    args = p.parse_args()
    if args.replot:
        plot(json.loads(Path(args.replot).read_text().strip().splitlines()[-1]), Path(args.figure))
        return
    torch.set_num_threads(1)
    base = [
        f"data.root={args.root}",
        f"trainer.epochs={args.epochs}",
        "trainer.threads=1",
        "trainer.progress=false",
        *args.overrides,
    ]
    curves: dict[str, list[float]] = {}
    seconds: dict[str, float] = {}
    for mode in ("teacher", "sleep"):
        cfg = load_config("configs/aesop-seq.yaml", [*base, f"sequence.negatives={mode}"])
        splits = load_data(cfg)
        net = build_network(cfg, sample_shape(splits.train), splits.train.num_classes)
        t0 = time.perf_counter()
        hist = build_trainer(cfg, net).fit(splits.train, args.epochs, cfg.trainer.batch_size, splits.test)
        seconds[f"ff_{mode}"] = round(time.perf_counter() - t0, 1)
        curves[f"ff_{mode}"] = [r["eval/accuracy"] for r in hist]
        print(json.dumps({mode: curves[f"ff_{mode}"]}), flush=True)
    cfg = load_config("configs/aesop-seq.yaml", base)
    splits = load_data(cfg)
    t0 = time.perf_counter()  # training only, as for the FF runs
    curves["backprop"] = [r["eval/accuracy"] for r in train_backprop_twin(cfg, splits)]
    seconds["backprop"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()  # features once (the layers are frozen), then the readout's epochs
    curves["frozen_random"] = [r["eval/accuracy"] for r in train_frozen_readout(cfg, splits)]
    seconds["frozen_random"] = round(time.perf_counter() - t0, 1)
    most_frequent = int(torch.bincount(splits.train.y).argmax())
    out = {
        "hidden": list(cfg.model.hidden),
        "epochs": args.epochs,
        "train_strings": cfg.sequence.num_strings,
        "held_out_strings": cfg.sequence.eval_strings,
        "curves": curves,
        "seconds": seconds,
        "most_frequent_baseline": float((splits.test.y == most_frequent).float().mean()),
        "sleep": {k: cfg.sequence[k] for k in ("dreams", "dream_length", "sleep_step", "temperature")},
    }
    print(json.dumps(out), flush=True)
    plot(out, Path(args.figure))


def plot(out: dict, figure: Path) -> None:
    """The curves against epochs, with the most-frequent-character baseline when it is known."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(5, 3.5))
    labels = {
        "ff_teacher": "FF, teacher forcing",
        "ff_sleep": "FF, sleep phase",
        "backprop": "backprop",
        "frozen_random": "random frozen layers + readout",
    }
    for key, ys in out["curves"].items():
        ax.plot(range(1, len(ys) + 1), [100 * y for y in ys], marker="o", label=labels.get(key, key))
    if "most_frequent_baseline" in out:
        ax.axhline(
            100 * out["most_frequent_baseline"],
            color="gray",
            linestyle="--",
            linewidth=1,
            label="most frequent character",
        )
    ax.set_xlabel("epoch")
    ax.set_ylabel("held-out per-character accuracy (%)")
    ax.set_title(f"Aesop next character, 3 x {out['hidden'][0]} ReLU")
    ax.legend(fontsize=8)
    fig.tight_layout()
    figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(figure, dpi=100)


if __name__ == "__main__":
    main()
