"""Hinton's own FF code and our configs/hinton-ffnew.yaml, side by side, on the same data and epochs.

    python benchmarks/hinton_side_by_side.py --ffnew PATH/TO/ffnew.m --root ../shared/data/fashion-mnist

``--ffnew`` is his released Matlab script, unmodified and never copied into this project. GNU Octave runs
it (``apt-get install octave``) while the library trains the config on the same images; both are tested
on the full test set every 5 epochs (his ``testfreq``), by goodness (the label whose input gives the highest
sum of squares over hidden layers 2 and up) and by his softmax head. Prints one JSON line with both curves,
the gaps and the issue's acceptance checks:

- after the last epoch, our goodness and head accuracies are each within 0.5 points of his;
- over the 5-epoch points, the mean absolute gap is at most 1.5 points (each measure).

How his script is driven (it expects its caller to set things up, as his own driver scripts do):
- the data: ``batchdata`` [100, 784, 600] and ``batchtargets`` [100, 10, 600] from one seeded random
  permutation of the 60k training images (pixels / 255), fixed for all epochs; the 10k test images as both
  ``validbatchdata`` (tested every 5 epochs) and ``finaltestbatchdata``; ``restart = 1``, ``maxepoch``;
- the test scripts he calls every 5 epochs, ``ffenergytest`` and ``ffsoftmaxtest``, are ours: they
  compute the same two test accuracies from his weights without touching his workspace, and print them in
  a form this script reads. Any other helper his script calls and the folder of ``--ffnew`` lacks
  (``ffnormrows``, ``logistic``, ``softmax``, ``choosefrom``, ``rms``) is supplied by a short
  implementation of what it computes; his own copies win where they are present;
- figures are drawn invisibly (his script plots activity histograms every epoch).

Both sides run at the same time, one BLAS / torch thread each (``--threads``), so a 30-epoch comparison
takes about as long as the slower side alone. ``--skip-hinton`` / ``--skip-ours`` run one side;
``--hinton-json`` reuses his curve from an earlier run's printed JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

import forwardforward as ff
from forwardforward.experiment.build import build_network, build_trainer, sample_shape

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "hinton-ffnew.yaml"
BATCH = 100  # his code takes the batch size from batchdata's first dimension

# The helpers his script calls, each a few lines of what it computes (used only where his are missing).
FALLBACK_HELPERS = {
    "ffnormrows.m": """function out = ffnormrows(a)
  % each row scaled so that its mean square is 1 (a tiny constant guards all-zero rows)
  out = a ./ (exp(-50) + sqrt(mean(a .^ 2, 2)));
end
""",
    "logistic.m": """function p = logistic(x)
  p = 1 ./ (1 + exp(-x));
end
""",
    "softmax.m": """function p = softmax(x)
  % row-wise
  e = exp(x - max(x, [], 2));
  p = e ./ sum(e, 2);
end
""",
    "choosefrom.m": """function onehot = choosefrom(p)
  % one sample per row from that row's distribution, as one-hot rows
  [n, k] = size(p);
  [~, idx] = max(rand(n, 1) < cumsum(p, 2), [], 2);
  onehot = zeros(n, k, class(p));
  onehot(sub2ind([n, k], (1:n)', idx)) = 1;
end
""",
    "rms.m": """function r = rms(x)
  r = sqrt(mean(x(:) .^ 2));
end
""",
}

# Our measurement, called from the two test scripts his code runs; a function, so his workspace is untouched.
MEASURE = """function ffside_measure(kind, epoch, final, weights, biases, supweightsfrom, numlayers, ...
                        labelstrength, minlevelenergy, minlevelsup, data, targets)
  numlab = size(targets, 2);
  correct = 0; total = 0;
  for b = 1:size(data, 3)
    x = data(:, :, b);
    [~, truth] = max(targets(:, :, b), [], 2);
    n = size(x, 1);
    if strcmp(kind, 'goodness')
      score = zeros(n, numlab);
      for lab = 1:numlab
        x(:, 1:numlab) = 0; x(:, lab) = labelstrength;
        h = ffnormrows(x);
        for l = 2:numlayers-1
          s = max(0, h * weights{l} + biases{l});
          if l >= minlevelenergy, score(:, lab) = score(:, lab) + sum(s .^ 2, 2); end
          h = ffnormrows(s);
        end
      end
    else
      x(:, 1:numlab) = labelstrength / numlab;
      h = ffnormrows(x);
      score = repmat(biases{numlayers}, n, 1);
      for l = 2:numlayers-1
        h = ffnormrows(max(0, h * weights{l} + biases{l}));
        if l >= minlevelsup, score = score + h * supweightsfrom{l}; end
      end
    end
    [~, guess] = max(score, [], 2);
    correct = correct + sum(guess == truth); total = total + n;
  end
  fprintf(1, '\\nFFSIDE {"kind": "%s", "epoch": %d, "final": %d, "accuracy": %.6f}\\n', ...
          kind, epoch, final, correct / total);
  fflush(stdout);
end
"""

TEST_SCRIPT = """ffside_measure('{kind}', epoch, finaltest, weights, biases, supweightsfrom, numlayers, ...
               labelstrength, minlevelenergy, minlevelsup, validbatchdata, validbatchtargets);
"""

DRIVER = """more off;
warning('off', 'Octave:possible-matlab-short-circuit-operator');
set(0, 'defaultfigurevisible', 'off');
addpath('{his_dir}');
addpath('{fallback_dir}', '-end');
function a = ffside_read(path, dims)
  fid = fopen(path, 'r'); a = reshape(fread(fid, prod(dims), 'single=>single'), dims); fclose(fid);
end
batchdata = ffside_read('train_x.bin', [{batch}, {pixels}, {train_batches}]);
batchtargets = ffside_read('train_y.bin', [{batch}, {classes}, {train_batches}]);
validbatchdata = ffside_read('test_x.bin', [{batch}, {pixels}, {test_batches}]);
validbatchtargets = ffside_read('test_y.bin', [{batch}, {classes}, {test_batches}]);
finaltestbatchdata = validbatchdata;
finaltestbatchtargets = validbatchtargets;
restart = 1;
maxepoch = {epochs};
{script}
"""


def write_column_major(path: Path, array: np.ndarray) -> None:
    """Raw float32 in Matlab's element order (first index fastest), as ``fread`` + ``reshape`` expect."""
    np.asarray(array, dtype=np.float32).ravel(order="F").tofile(path)


def batches(x: np.ndarray, y: np.ndarray, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """``[batch, features, n // batch]`` data and one-hot targets, batch b holding rows b*100 .. b*100+99."""
    n = len(x) // BATCH * BATCH
    data = x[:n].reshape(n // BATCH, BATCH, -1).transpose(1, 2, 0)
    onehot = np.eye(classes, dtype=np.float32)[y[:n]].reshape(n // BATCH, BATCH, classes).transpose(1, 2, 0)
    return data, onehot


def start_hinton(ffnew: Path, splits: Any, epochs: int, threads: int, work: Path) -> subprocess.Popen:
    """Write his data (training images in their given order), our test scripts and the fallback helpers
    into ``work``, and start Octave there."""
    train, test = splits.train, splits.test
    tr_x, tr_y = batches(train.x.flatten(1).numpy(), train.y.numpy(), train.num_classes)
    te_x, te_y = batches(test.x.flatten(1).numpy(), test.y.numpy(), test.num_classes)
    for name, arr in (("train_x", tr_x), ("train_y", tr_y), ("test_x", te_x), ("test_y", te_y)):
        write_column_major(work / f"{name}.bin", arr)
    fallback = work / "fallback"
    fallback.mkdir()
    for name, text in FALLBACK_HELPERS.items():
        (fallback / name).write_text(text)
    (work / "ffside_measure.m").write_text(MEASURE)
    (work / "ffenergytest.m").write_text(TEST_SCRIPT.format(kind="goodness"))
    (work / "ffsoftmaxtest.m").write_text(TEST_SCRIPT.format(kind="head"))
    driver = DRIVER.format(
        his_dir=ffnew.parent.resolve(),
        fallback_dir=fallback,
        batch=BATCH,
        pixels=tr_x.shape[1],
        classes=tr_y.shape[1],
        train_batches=tr_x.shape[2],
        test_batches=te_x.shape[2],
        epochs=epochs,
        script=ffnew.stem,
    )
    (work / "driver.m").write_text(driver)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads)}
    log = (work / "octave.log").open("w")
    return subprocess.Popen(
        ["octave", "--no-gui", "--no-window-system", "--quiet", "driver.m"],
        cwd=work,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )


def hinton_curve(log: str, epochs: int) -> dict[str, list[float]]:
    """His test accuracies every 5 epochs, from our measurement lines in Octave's output."""
    curve: dict[str, dict[int, float]] = {"goodness": {}, "head": {}}
    for line in re.findall(r"^FFSIDE (\{.*\})$", log, flags=re.M):
        row = json.loads(line)
        if not row["final"]:
            curve[row["kind"]][row["epoch"]] = row["accuracy"]
    points = list(range(5, epochs + 1, 5))
    missing = [e for e in points if e not in curve["goodness"] or e not in curve["head"]]
    if missing:
        raise RuntimeError(f"Octave's output has no test accuracies for epochs {missing}; see its log")
    return {kind: [round(curve[kind][e], 4) for e in points] for kind in curve}


class EveryFifthEpoch(ff.Callback):
    """Test accuracy by goodness and by the head after every 5th epoch, as his code measures it (testing
    every epoch would cost our side as much time as training)."""

    def __init__(self, test: Any) -> None:
        self.test, self.rows = test, []

    def on_epoch_end(self, trainer: Any, row: dict[str, Any]) -> None:
        if row["epoch"] % 5 == 0:
            result = trainer.net.evaluate(self.test)
            self.rows.append((round(result["accuracy"], 4), round(result["head_accuracy"], 4)))


def train_ours(cfg: DictConfig, splits: Any) -> dict[str, object]:
    net = build_network(cfg, sample_shape(splits.train), splits.train.num_classes)
    tests = EveryFifthEpoch(splits.test)
    trainer = build_trainer(cfg, net)
    trainer.callbacks.append(tests)
    t0 = time.perf_counter()
    history = trainer.fit(splits.train, cfg.trainer.epochs, cfg.trainer.batch_size)
    return {
        "goodness": [g for g, _ in tests.rows],
        "head": [h for _, h in tests.rows],
        "train_seconds": round(sum(r["seconds"] for r in history), 1),
        "wall_seconds": round(time.perf_counter() - t0, 1),
    }


def compare(his: dict, ours: dict) -> dict[str, object]:
    """The issue's acceptance: final gaps within 0.5 points, mean absolute gap over the points <= 1.5."""
    out: dict[str, object] = {}
    for kind in ("goodness", "head"):
        gaps = [100 * (o - h) for o, h in zip(ours[kind], his[kind])]
        out[f"final_gap_{kind}_points"] = round(gaps[-1], 2)
        out[f"mean_abs_gap_{kind}_points"] = round(sum(abs(g) for g in gaps) / len(gaps), 2)
    out["final_within_0.5"] = all(abs(out[f"final_gap_{k}_points"]) <= 0.5 for k in ("goodness", "head"))
    out["mean_abs_within_1.5"] = all(out[f"mean_abs_gap_{k}_points"] <= 1.5 for k in ("goodness", "head"))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--ffnew", type=Path, help="Hinton's unmodified ffnew.m (his release's folder may hold helpers)"
    )
    p.add_argument("--root", default="../shared/data/fashion-mnist", help="the dataset's folder")
    p.add_argument("--data", default="fashion-mnist", help="fashion-mnist or mnist")
    p.add_argument("--epochs", type=int, default=30, help="a multiple of 5 (his test frequency)")
    p.add_argument("--threads", type=int, default=1, help="BLAS / torch threads for each side")
    p.add_argument("--seed", type=int, default=0, help="the permutation that makes his fixed batches")
    p.add_argument(
        "--subset", type=int, help="train both on the first N images of that permutation (smoke test)"
    )
    p.add_argument("--skip-hinton", action="store_true")
    p.add_argument("--skip-ours", action="store_true")
    p.add_argument("--hinton-json", type=Path, help="a file with this script's earlier JSON: reuse his curve")
    p.add_argument("--keep", type=Path, help="keep his working folder (data, driver, Octave log) here")
    p.add_argument("overrides", nargs="*", help="key=value overrides for our side (for experiments only)")
    args = p.parse_args()
    if args.epochs < 5 or args.epochs % 5:
        p.error("--epochs must be a positive multiple of 5: his code tests every 5 epochs")
    run_his = not args.skip_hinton and args.hinton_json is None
    if run_his and (args.ffnew is None or not args.ffnew.is_file()):
        p.error(f"--ffnew must name Hinton's ffnew.m; got {args.ffnew}")
    if run_his and shutil.which("octave") is None:
        sys.exit(
            "GNU Octave is not installed: apt-get install octave (or pass --skip-hinton / --hinton-json)"
        )
    torch.set_num_threads(args.threads)
    cfg = ff.load_config(
        CONFIG,
        [
            f"data.name={args.data}",
            f"data.root={args.root}",
            f"trainer.epochs={args.epochs}",
            f"trainer.threads={args.threads}",
            "trainer.progress=false",
            *args.overrides,
        ],
    )
    splits = ff.data.load(cfg.data.name, root=cfg.data.root)
    # One seeded order of the training images: his fixed batches, and the same images for both sides.
    order = torch.from_numpy(np.random.default_rng(args.seed).permutation(len(splits.train)))
    splits.train = splits.train.subset(order[: args.subset] if args.subset else order)
    out: dict[str, object] = {
        "data": args.data,
        "train_images": len(splits.train),
        "epochs": args.epochs,
        "points": list(range(5, args.epochs + 1, 5)),
        "threads_each": args.threads,
        "overrides": args.overrides,
    }
    work = Path(tempfile.mkdtemp(prefix="hinton-ffnew-")) if run_his else None
    proc, t0 = None, time.perf_counter()
    if run_his:
        proc = start_hinton(args.ffnew, splits, args.epochs, args.threads, work)  # type: ignore[arg-type]
    if not args.skip_ours:
        out["ours"] = train_ours(cfg, splits)
    if proc is not None:
        proc.wait()
        log = (work / "octave.log").read_text()  # type: ignore[operator]
        if proc.returncode:
            sys.exit(f"Octave failed (exit {proc.returncode}); the end of its log:\n{log[-3000:]}")
        out["hinton"] = {**hinton_curve(log, args.epochs), "wall_seconds": round(time.perf_counter() - t0, 1)}
    elif args.hinton_json is not None:
        earlier = json.loads(args.hinton_json.read_text().strip().splitlines()[-1])
        out["hinton"] = earlier["hinton"]
    if "hinton" in out and "ours" in out:
        out["comparison"] = compare(out["hinton"], out["ours"])  # type: ignore[arg-type]
    if work is not None:
        if args.keep is not None:
            shutil.copytree(work, args.keep, dirs_exist_ok=True)
        shutil.rmtree(work)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
