"""Time to accuracy: train a config on a dataset and print one JSON line.

    python benchmarks/time_to_accuracy.py configs/fmnist-mlp.yaml data.root=../shared/data/fashion-mnist
    python benchmarks/time_to_accuracy.py configs/fmnist-mlp.yaml data.root=... --backprop

Prints: dataset, config, method, test accuracy after each epoch (FF: ``test_accuracy_goodness`` and
``test_accuracy_head``, the keys of ``ff train``'s results), ``train_seconds`` after each epoch (training
steps only, evaluation excluded), ``wall_seconds`` (everything: data loading and evaluation included),
peak RSS in MiB. ``--backprop`` trains the backprop twin (same hidden sizes, activation, optimiser, lr
schedule, batch size and epochs) instead. Timing belongs here, never in unit tests: this machine's timings
are noisy, so run it when the machine is otherwise idle.
"""

from __future__ import annotations

import json
import resource
import sys
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


def main(argv: list[str]) -> None:
    backprop = "--backprop" in argv
    argv = [a for a in argv if a != "--backprop"]
    path = argv[0] if argv and "=" not in argv[0] else None
    overrides = [a for a in argv if "=" in a]
    cfg = ff.load_config(path, [*overrides, "trainer.progress=false"])
    t_start = time.perf_counter()
    splits = load_data(cfg)  # as ff train loads it: data.center and data.train_subset applied
    out: dict = {"dataset": cfg.data.name, "config": path, "overrides": overrides}
    t = cfg.trainer
    if backprop:
        history = train_backprop_twin(cfg, splits)
        out["method"] = "backprop"
        out["test_accuracy"] = [round(r["eval/accuracy"], 4) for r in history]
    else:
        net = build_network(cfg, sample_shape(splits.train), splits.train.num_classes)
        history = build_trainer(cfg, net).fit(splits.train, t.epochs, t.batch_size, eval_data=splits.test)
        out["method"] = "forward-forward"
        out["test_accuracy_goodness"] = [round(r["eval/accuracy"], 4) for r in history]
        out["test_accuracy_head"] = [round(r.get("eval/head_accuracy", float("nan")), 4) for r in history]
    out["train_seconds"] = [round(r["train_seconds"], 1) for r in history]
    out["wall_seconds"] = round(time.perf_counter() - t_start, 1)
    out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    out["threads"] = torch.get_num_threads()
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
