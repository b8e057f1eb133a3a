"""Time to accuracy: train an FF config on a dataset and print one JSON line.

    python benchmarks/time_to_accuracy.py configs/fmnist-mlp.yaml data.root=../shared/data/fashion-mnist

Prints: dataset, config, test accuracy (goodness and linear head) after each epoch, cumulative training
wall seconds (evaluation excluded), total wall seconds (evaluation included), peak RSS in MiB.
Timing belongs here, never in unit tests: this machine's timings are noisy, so run it when it is idle.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import forwardforward as ff
from forwardforward.build import build_network, build_trainer


def main(argv: list[str]) -> None:
    path = argv[0] if argv and "=" not in argv[0] else None
    overrides = [a for a in argv if "=" in a]
    cfg = ff.load_config(path, [*overrides, "trainer.progress=false"])
    t_start = time.perf_counter()
    splits = ff.data.load(cfg.data.name, root=cfg.data.root, seed=cfg.trainer.seed)
    net = build_network(cfg, splits.train.input_dim, splits.train.num_classes)
    trainer = build_trainer(cfg, net)
    history = trainer.fit(splits.train, cfg.trainer.epochs, cfg.trainer.batch_size, eval_data=splits.test)
    total = time.perf_counter() - t_start
    print(
        json.dumps(
            {
                "dataset": cfg.data.name,
                "config": path,
                "overrides": overrides,
                "test_accuracy_goodness": [round(r["eval/accuracy"], 4) for r in history],
                "test_accuracy_head": [round(r.get("eval/head_accuracy", float("nan")), 4) for r in history],
                "train_wall_seconds": [round(r["wall"], 1) for r in history],
                "total_wall_seconds": round(total, 1),
                "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "threads": __import__("torch").get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1:])
