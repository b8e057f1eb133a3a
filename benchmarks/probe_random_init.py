"""The linear probe on an *untrained* network: what the architecture gives before any FF learning.

An unsupervised result means something only beside two baselines measured the same way: raw pixels
(``probe.raw=true``) and the same network at its random initialisation, which this script probes.

    python benchmarks/probe_random_init.py configs/fmnist-unsup-hybrid.yaml \
        data.root=../shared/data/fashion-mnist

Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time

import torch

from forwardforward.experiment.build import build_network, load_data, sample_shape
from forwardforward.experiment.config import load_config
from forwardforward.experiment.unsupervised import probe_from_config


def main(argv: list[str]) -> None:
    path = argv[0] if argv and "=" not in argv[0] else None
    cfg = load_config(path, [a for a in argv if "=" in a])
    torch.set_num_threads(cfg.trainer.threads or 1)
    t0 = time.perf_counter()
    splits = load_data(cfg)
    net = build_network(cfg, sample_shape(splits.train), splits.train.num_classes)
    result = probe_from_config(cfg, net, splits, raw=False)
    seconds = round(time.perf_counter() - t0, 1)
    print(json.dumps({"config": path, "untrained": True, **result, "seconds": seconds}))


if __name__ == "__main__":
    main(sys.argv[1:])
