"""Time to accuracy for the convolutional FF configs (and their backprop twin); prints one JSON line.

    python benchmarks/cnn_time_to_accuracy.py configs/fmnist-cnn-cwc.yaml \
        data.root=../shared/data/fashion-mnist trainer.threads=2 --minutes 30
    python benchmarks/cnn_time_to_accuracy.py configs/fmnist-cnn-cwc.yaml data.root=... --backprop

Trains for ``trainer.epochs`` epochs (the learning-rate schedule is planned for them) and stops early once
the cumulative *training* wall time passes ``--minutes`` (evaluation excluded; the epoch that crosses the
budget is finished and reported, flagged ``stopped_by_budget``). Test accuracy is measured after every epoch:
FF by goodness (summed over the scoring layers), per layer, and by the linear head; with
``model.test_views`` set, the final net is evaluated once more with goodness averaged over the shifted
views (test-time augmentation; training never sees it). Prints dataset, config,
method, per-epoch test accuracy, per-layer accuracy, ``train_seconds`` (cumulative, training only),
``wall_seconds`` (everything), peak RSS
and threads. Timing belongs here, never in unit tests; run it when the machine is otherwise idle.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch

import forwardforward as ff
from forwardforward.experiment.build import (
    build_network,
    build_trainer,
    load_data,
    sample_shape,
    train_backprop_twin,
)
from forwardforward.training.callbacks import Callback


class _Budget(Exception):
    """Raised by the callback to stop training when the time budget is spent."""


class StopAfter(Callback):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_epoch_end(self, trainer, row) -> None:  # type: ignore[no-untyped-def, override]
        if row["train_seconds"] >= self.seconds:
            raise _Budget


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("items", nargs="+", help="CONFIG.yaml [key=value ...]")
    p.add_argument("--minutes", type=float, default=None, help="training wall-time budget")
    p.add_argument("--backprop", action="store_true", help="train the backprop twin instead")
    p.add_argument("--test-subset", type=int, default=None, help="evaluate on the first N test images")
    p.add_argument("--checkpoint", default=None, help="save the trained FF net (ff eval / probe)")
    args = p.parse_intermixed_args()  # overrides may come after the options too
    path = args.items[0] if "=" not in args.items[0] else None
    overrides = [a for a in args.items if "=" in a]
    cfg = ff.load_config(path, [*overrides, "trainer.progress=false"])
    if cfg.trainer.threads:
        torch.set_num_threads(cfg.trainer.threads)
    t_start = time.perf_counter()
    splits = load_data(cfg)
    if args.test_subset:
        splits.test = splits.test.subset(torch.arange(min(args.test_subset, len(splits.test))))
    out: dict = {"dataset": cfg.data.name, "config": path, "overrides": overrides, "minutes": args.minutes}
    if args.backprop:
        history = train_backprop_twin(cfg, splits)
        out["method"] = "backprop"
        out["test_accuracy"] = [round(r["eval/accuracy"], 4) for r in history]
    else:
        net = build_network(cfg, sample_shape(splits.train), splits.train.num_classes)
        callbacks = [StopAfter(args.minutes * 60)] if args.minutes else []
        trainer = build_trainer(cfg, net, callbacks=callbacks)
        try:
            trainer.fit(splits.train, cfg.trainer.epochs, cfg.trainer.batch_size, eval_data=splits.test)
            out["stopped_by_budget"] = False
        except _Budget:
            out["stopped_by_budget"] = True
        history = trainer.history
        if args.checkpoint:
            out["checkpoint"] = str(trainer.save_checkpoint(args.checkpoint))
        n_layers = len(net.layers)
        out["method"] = "forward-forward"
        out["test_accuracy_goodness"] = [round(r["eval/accuracy"], 4) for r in history]
        if net.head is not None:
            out["test_accuracy_head"] = [round(r["eval/head_accuracy"], 4) for r in history]
        out["layer_accuracy"] = [
            [round(r[f"eval/layer_accuracy/{i}"], 4) for i in range(n_layers)] for r in history
        ]
        if net.test_views is not None:  # the final net once more, goodness averaged over the shifted views
            t_views = time.perf_counter()
            final = net.evaluate(splits.test, views=net.test_views)
            out["test_views"] = final["views"]
            out["test_accuracy_views"] = round(final["accuracy_views"], 4)
            out["layer_accuracy_views"] = [round(a, 4) for a in final["layer_accuracy_views"]]
            out["views_eval_seconds"] = round(time.perf_counter() - t_views, 1)
        out["train_separation"] = [
            [(round(r[f"sep/{i}"], 4) if f"sep/{i}" in r else None) for i in range(n_layers)] for r in history
        ]
    out["epochs_run"] = len(history)
    out["train_seconds"] = [round(r["train_seconds"], 1) for r in history]
    out["seconds_per_epoch"] = round(history[-1]["train_seconds"] / len(history), 1) if history else None
    out["wall_seconds"] = round(time.perf_counter() - t_start, 1)
    out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    out["threads"] = torch.get_num_threads()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
