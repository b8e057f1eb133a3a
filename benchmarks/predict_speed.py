"""All-label prediction speed: naive per-label loop vs batched scoring, candidate pruning and int8.

    python benchmarks/predict_speed.py --root ../shared/data/fashion-mnist [--checkpoint runs/x/checkpoint.pt]
        [--train-subset 10000] [--epochs 1] [--keep 2 3] [--prune-after 2] [--threads 1]
        [--score-layers 0 1 2 3] [--no-int8] [--rescore-keep 2] [--calibrate 2000] [key=value ...]

The network is Hinton's 4x2000 (configs/hinton-mnist.yaml) on Fashion-MNIST. Without ``--checkpoint`` it is
first trained briefly (``--epochs`` epochs on the first ``--train-subset`` shuffled training images; the
point is a network whose scores are not random, not a good one); with it, the checkpoint's weights are
loaded. Each method then scores the 10,000 test images in batches of 1,000 and the script prints one JSON
line per method (seconds, accuracy) and a summary with the speed-ups over the naive loop. The methods take
turns batch by batch, in reverse order every other batch, so load changes on a shared machine and cold
caches affect them alike.

- naive: one full forward per label (10 forwards of the whole stack).
- batched: ``FFNetwork.scores``: the first layer once plus a broadcast add of each label's code, deeper
  layers on the stacked ``B*C`` states.
- pruned: ``scores(keep=k, prune_after=p)``: all labels through the first ``p`` layers, the top ``k`` deeper.
- int8: the batched method on ``quantize_int8(net)`` (every layer but the first in int8).
- int8+rescore: ``CascadeScorer``: int8 scores; rows whose int8 lead is under the calibrated margin get
  their top ``--rescore-keep`` labels re-scored in float. The margin is calibrated on ``--calibrate``
  training images (twice the 99.9th percentile of the int8 score error), never on the test set.
- fused-int8, fused-int8+rescore: the same two with ``FusedInt8Scorer`` (8-bit affine codes, each deep
  layer's elementwise work compiled into one step) as the fast scorer; ``--no-fused`` skips them,
  ``--no-compile`` runs its steps eagerly, ``--fused-prune-after L`` turns on its calibrated pruning after
  layer L (margin: the ``--quantile`` of the catch-up on the calibration images).
- one-forward: not a prediction, the unit of cost: one float forward of the whole stack with one label
  (label 0) per image, with every layer's goodness. The summary gives each method's time in these units.
Quantising, compiling (the fused scorer's first call, on the calibration images) and calibrating are
one-off set-up costs, printed separately and not counted in the timings.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import forwardforward as ff
from forwardforward.experiment.build import build_network, build_trainer, sample_shape
from forwardforward.experiment.config import from_dict

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "hinton-mnist.yaml"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default=str(Path(__file__).resolve().parents[2] / "shared/data/fashion-mnist"))
    p.add_argument("--checkpoint")
    p.add_argument("--train-subset", type=int, default=10000)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--test-subset", type=int, default=None, help="score only the first N test images")
    p.add_argument("--keep", type=int, nargs="+", default=[3], help="one pruned method per value")
    p.add_argument("--prune-after", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument(
        "--score-layers",
        type=int,
        nargs="+",
        default=None,
        help="score with these layers' goodness instead of the network's own score_layers",
    )
    p.add_argument("--no-int8", action="store_true", help="skip the int8 methods")
    p.add_argument("--no-fused", action="store_true", help="skip the fused int8 methods")
    p.add_argument("--no-compile", action="store_true", help="run the fused scorer's steps eagerly")
    p.add_argument(
        "--fused-prune-after",
        type=int,
        default=None,
        help="calibrated pruning in the fused scorer after this layer (FusedInt8Scorer.calibrate_pruning)",
    )
    p.add_argument("--rescore-keep", type=int, default=2, help="labels re-scored exactly per close call")
    p.add_argument("--calibrate", type=int, default=2000, help="training images for the int8 error margin")
    p.add_argument("--quantile", type=float, default=0.999, help="error quantile the margin doubles")
    p.add_argument("overrides", nargs="*", help="config key=value overrides for the brief training")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    splits = ff.data.load("fashion-mnist", root=a.root, download=False)
    ckpt = ff.load_checkpoint(a.checkpoint) if a.checkpoint else None
    if ckpt is not None:  # the network the checkpoint's own config describes
        cfg = from_dict(ckpt["config"])
    else:
        cfg = ff.load_config(CONFIG, ["data.name=fashion-mnist", "trainer.progress=false", *a.overrides])
    net = build_network(cfg, sample_shape(splits.train), splits.train.num_classes)
    if ckpt is not None:
        net.load_state_dict(ckpt["model"])
        trained = f"checkpoint {a.checkpoint}"
    else:
        idx = torch.randperm(len(splits.train), generator=torch.Generator().manual_seed(0))[: a.train_subset]
        t0 = time.perf_counter()
        build_trainer(cfg, net).fit(splits.train.subset(idx), a.epochs, cfg.trainer.batch_size)
        trained = f"{a.epochs} epoch(s) on {len(idx)} images in {time.perf_counter() - t0:.0f} s"
    net.eval()
    if a.score_layers is not None:
        net.score_layers = net._check_indices(a.score_layers, "--score-layers")
    test = splits.test if a.test_subset is None else splits.test.subset(torch.arange(a.test_subset))
    layers = net.score_layers

    def one_forward(x: torch.Tensor) -> torch.Tensor:
        acts = net.activities(net.embed(x, torch.zeros(x.shape[0], dtype=torch.long)))
        goodness = torch.stack([layer.goodness(h) for layer, h in zip(net.layers, acts)], 1)
        return goodness.sum(1, keepdim=True).expand(-1, net.num_classes)  # [B, C] so the loop can argmax it

    methods = {
        "naive": lambda x: net.label_goodness_naive(x)[:, :, layers].sum(2),
        "one-forward": one_forward,
        "batched": lambda x: net.scores(x),
    }
    for k in a.keep:
        methods[f"pruned(keep={k},prune_after={a.prune_after})"] = lambda x, k=k: net.scores(
            x, keep=k, prune_after=a.prune_after
        )
    setup = {}
    cascade = None
    calib = torch.randperm(len(splits.train), generator=torch.Generator().manual_seed(1))[: a.calibrate]
    calib_x = splits.train.x[calib]  # the margins' and pruning's calibration images, never test images
    if not a.no_int8:
        t0 = time.perf_counter()
        fast = ff.inference.quantize_int8(net)
        setup["quantize_seconds"] = round(time.perf_counter() - t0, 2)
        cascade = ff.inference.CascadeScorer(net, fast, keep=a.rescore_keep)
        t0 = time.perf_counter()
        setup["margin"] = round(cascade.calibrate(calib_x, quantile=a.quantile), 4)
        setup["calibrate_seconds"] = round(time.perf_counter() - t0, 2)
        methods["int8"] = fast.scores
        methods[f"int8+rescore(keep={a.rescore_keep})"] = cascade.scores
    fused_cascade = None
    if not a.no_fused:
        t0 = time.perf_counter()
        fused = ff.inference.FusedInt8Scorer(net, compile=not a.no_compile)
        fused_cascade = ff.inference.CascadeScorer(net, fused, keep=a.rescore_keep)
        for n in (a.batch, a.batch - 1):  # compile for a full batch and another size (dynamic shapes)
            fused.scores(calib_x[:n])
        setup["fused_compile_seconds"] = round(time.perf_counter() - t0, 2)
        if a.fused_prune_after is not None:
            margin = fused.calibrate_pruning(calib_x, a.fused_prune_after, quantile=a.quantile)
            setup["fused_prune_margin"] = round(margin, 4)
        setup["fused_margin"] = round(fused_cascade.calibrate(calib_x, quantile=a.quantile), 4)
        fused.pairs = fused.pruned = 0  # count the test images' pairs only
        methods["fused-int8"] = fused.scores
        methods[f"fused-int8+rescore(keep={a.rescore_keep})"] = fused_cascade.scores
    # Methods take turns on every batch, so a load change on a shared machine hits all of them alike; the
    # order reverses every other batch, so no method always runs first (on caches the others left cold).
    seconds = dict.fromkeys(methods, 0.0)
    correct = dict.fromkeys(methods, 0)
    agree = dict.fromkeys(methods, 0)  # predictions equal to the naive loop's
    with torch.no_grad():
        for j, s in enumerate(range(0, len(test.y), a.batch)):
            xb, yb = test.x[s : s + a.batch], test.y[s : s + a.batch]
            preds = {}
            for name in list(methods) if j % 2 == 0 else list(methods)[::-1]:
                t0 = time.perf_counter()
                preds[name] = methods[name](xb).argmax(1)
                seconds[name] += time.perf_counter() - t0
            for name, pred in preds.items():
                correct[name] += int((pred == yb).sum())
                agree[name] += int((pred == preds["naive"]).sum())
    results = {}
    for name in methods:
        results[name] = {
            "seconds": round(seconds[name], 2),
            "accuracy": correct[name] / len(test.y),
            "agreement_with_naive": agree[name] / len(test.y),
        }
        print(json.dumps({"method": name, **results[name]}), flush=True)
    naive = results["naive"]
    print(
        json.dumps(
            {
                "network": "hinton-mnist 4x2000 on fashion-mnist",
                "trained": trained,
                "score_layers": net.score_layers,
                "overrides": a.overrides,
                "threads": a.threads,
                "test_images": len(test.y),
                **setup,
                "rescored_fraction": None if cascade is None else round(cascade.rescored / cascade.seen, 4),
                "fused_pruned_fraction": None
                if fused_cascade is None or not fused.pairs
                else round(fused.pruned / fused.pairs, 4),
                "fused_rescored_fraction": None
                if fused_cascade is None
                else round(fused_cascade.rescored / fused_cascade.seen, 4),
                "speedup_over_naive": {
                    k: round(naive["seconds"] / v["seconds"], 2) for k, v in results.items()
                },
                "time_in_forward_passes": {
                    k: round(v["seconds"] / results["one-forward"]["seconds"], 2) for k, v in results.items()
                },
                "accuracy_points_vs_naive": {
                    k: round(100 * (v["accuracy"] - naive["accuracy"]), 2) for k, v in results.items()
                },
            }
        )
    )


if __name__ == "__main__":
    main()
