"""Seeded per-epoch curves of a battery of small runs: what a refactor must leave bit-identical.

    python benchmarks/refactor_fingerprint.py --out before.json        # on the code before the change
    python benchmarks/refactor_fingerprint.py --compare before.json    # after it: exit 1 on any difference

Every run goes through the command line (``ff train CONFIG key=value --out DIR``), the one entry point that
outlives a reorganisation of the package, on one torch thread. From each run it keeps the per-epoch rows
of ``metrics.jsonl`` and the final ``results.json`` with every timing field removed, so two runs of the
same code give the same file and any change in what is computed shows up as a difference. The battery
covers every model kind, both schedules, label and image negatives, the sleep phase, the layer-wise step,
the simulated analog chip, Hinton's recipe and two-process data parallel training, each on a few thousand
images for one or two epochs (about 5 minutes in all here).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

FMNIST = "data.root=../shared/data/fashion-mnist"
AESOP = "data.root=../shared/data/aesop"
SMALL = ["data.train_subset=2000", "trainer.epochs=2"]

#: name -> (ff train arguments, extra CLI options)
BATTERY: dict[str, tuple[list[str], list[str]]] = {
    "digits-default": (["trainer.epochs=3"], []),
    "digits-greedy": (["trainer.schedule=greedy", "trainer.epochs=2"], []),
    "digits-layerwise-analog": (
        ["trainer.epochs=2", "trainer.layerwise_step=true", "model.weight_noise=0.05", "model.act_bits=6"],
        [],
    ),
    "fmnist-mlp": (["configs/fmnist-mlp.yaml", FMNIST, *SMALL], []),
    "hinton-ffnew": (["configs/hinton-ffnew.yaml", FMNIST, *SMALL, "model.hidden=[200,200,200]"], []),
    "cnn-cwc": (["configs/fmnist-cnn-cwc.yaml", FMNIST, "data.train_subset=1000", "trainer.epochs=1"], []),
    "cnn-spatial": (
        ["configs/fmnist-cnn-spatial.yaml", FMNIST, "data.train_subset=1000", "trainer.epochs=1"],
        [],
    ),
    "recurrent": (
        [
            "configs/fmnist-recurrent.yaml",
            FMNIST,
            "data.train_subset=1000",
            "trainer.epochs=1",
            "model.hidden=[100,100]",
        ],
        [],
    ),
    "aesop-teacher": (["configs/aesop-seq.yaml", AESOP, "trainer.epochs=1", "model.hidden=[60,60]"], []),
    "aesop-sleep": (
        [
            "configs/aesop-seq.yaml",
            AESOP,
            "trainer.epochs=1",
            "model.hidden=[60,60]",
            "sequence.negatives=sleep",
        ],
        [],
    ),
    "unsup-hybrid": (
        ["configs/fmnist-unsup-hybrid.yaml", FMNIST, *SMALL, "model.hidden=[200,200]", "probe.epochs=2"],
        [],
    ),
    "scff": (["configs/fmnist-scff.yaml", FMNIST, *SMALL, "model.hidden=[200,200]", "probe.epochs=2"], []),
    "digits-2proc": (["trainer.epochs=2"], ["--nproc", "2"]),
}

TIMING = {
    "seconds",
    "wall",
    "train_seconds",
    "train_wall_total",
    "wall_seconds",
    "seconds_total",
    "probe_seconds",
}


def _strip(value: object) -> object:
    """``value`` without timing fields, at any depth."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in TIMING}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def run_one(name: str, args: list[str], options: list[str], work: Path) -> dict[str, object]:
    out = work / name
    cmd = ["ff", "train", *args, "trainer.threads=1", "trainer.progress=false", "--out", str(out), *options]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        return {"error": proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]}
    metrics = out / "metrics.jsonl"
    rows = [json.loads(line) for line in metrics.read_text().splitlines()] if metrics.exists() else []
    results = out / "results.json"
    final = (
        json.loads(results.read_text())
        if results.exists()
        else json.loads(proc.stdout.strip().splitlines()[-1])
    )
    return _strip({"epochs": rows, "result": final})  # type: ignore[return-value]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, help="write the fingerprint here")
    p.add_argument(
        "--compare", type=Path, help="compare with this earlier fingerprint; exit 1 if they differ"
    )
    p.add_argument("--only", nargs="+", choices=sorted(BATTERY), help="run only these")
    args = p.parse_args()
    names = args.only or list(BATTERY)
    with tempfile.TemporaryDirectory() as tmp:
        fingerprint = {name: run_one(name, *BATTERY[name], Path(tmp)) for name in names}
    if args.out:
        args.out.write_text(json.dumps(fingerprint, indent=1, sort_keys=True))
    if args.compare:
        before = _strip(json.loads(args.compare.read_text()))
        changed = [n for n in names if before.get(n) != fingerprint[n]]  # type: ignore[union-attr]
        print(json.dumps({"compared": names, "changed": changed}))
        sys.exit(1 if changed else 0)
    print(json.dumps({n: ("error" if "error" in fingerprint[n] else "ok") for n in names}))


if __name__ == "__main__":
    main()
