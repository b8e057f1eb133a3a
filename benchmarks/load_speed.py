"""How long the real Fashion-MNIST takes to load from its IDX files (the spec: well under 2 s); one JSON line.

    python benchmarks/load_speed.py ../shared/data/fashion-mnist --repeats 5

Prints each repeat's seconds and their median. Timing belongs here, never in unit tests: a busy machine
makes any bound in a test flaky (tests/slow/test_fashion_mnist_data.py checks the data, not the clock).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from forwardforward.data import load


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("root", help="the directory holding the Fashion-MNIST IDX files")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        splits = load("fashion-mnist", args.root, download=False)
        seconds.append(round(time.perf_counter() - start, 3))
    print(json.dumps({"train": len(splits.train), "test": len(splits.test), "seconds": seconds,
                      "median_seconds": statistics.median(seconds)}))  # fmt: skip


if __name__ == "__main__":
    main()
