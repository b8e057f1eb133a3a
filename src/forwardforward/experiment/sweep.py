"""Grids of runs over config keys, resumable, summarised as a table and plots: what ``ff sweep`` runs.

    ff sweep CONFIG key=v1,v2 [key2=w1,w2] [key=fixed ...] --seeds N --out DIR [--jobs J]

Every ``key=value`` item whose value has a top-level comma is an *axis*; the grid is their product, run
once per seed (``trainer.seed`` = base seed + 0..N-1). Values may be lists (``model.hidden=[500,500],[1000]``:
commas inside brackets belong to the value). The pseudo-key ``method=ff,backprop`` adds the backprop twin of
the same config as a point on the grid (once per setting of the keys the twin reads: an axis over the FF
loss does not repeat it).

A run lives in ``DIR/runs/<point>/seed<k>/`` and is finished when its ``results.json`` exists (written last
and atomically). Rerunning the same command skips finished runs and resumes unfinished FF runs from their
last per-epoch checkpoint, so a sweep killed mid-grid loses at most one epoch per run in flight. Several
sweeps may share one ``DIR``: the table covers every run in it, with a column for each key whose value
differs between runs.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import signal
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..training.checkpoint import write_text_atomic
from .config import ConfigError, load_config

METHODS = ("ff", "backprop")
RUN_FILE = "run.json"
RESULTS_FILE = "results.json"


def split_top_level(value: str) -> list[str]:
    """Split ``value`` at commas that are not inside brackets, braces or quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(value):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(value[start:i])
            start = i + 1
    parts.append(value[start:])
    return [p.strip() for p in parts]


@dataclass
class Grid:
    """Fixed overrides, the axes (key, values) in the order given, and the seeds."""

    config: str | None
    fixed: list[str]
    axes: list[tuple[str, list[str]]]
    seeds: list[int]

    def points(self) -> list[dict[str, str]]:
        """Every combination of axis values, as ``{key: value}`` in axis order."""
        keys = [k for k, _ in self.axes]
        return [dict(zip(keys, combo)) for combo in itertools.product(*(v for _, v in self.axes))]


def parse_grid(config: str | None, items: Sequence[str], seeds: int, base_seed: int | None = None) -> Grid:
    """Read ``key=v1,v2`` axes and ``key=v`` fixed overrides; check every point against the schema now, so a
    typo fails before the first run rather than an hour into the grid."""
    if seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {seeds}")
    fixed: list[str] = []
    axes: list[tuple[str, list[str]]] = []
    for item in items:
        if "=" not in item:
            raise ConfigError(f"sweep item {item!r} must look like key=v1,v2 (an axis) or key=value (fixed)")
        key, value = (s.strip() for s in item.split("=", 1))
        values = split_top_level(value)
        if any(v == "" for v in values):
            raise ConfigError(f"sweep axis {item!r} has an empty value; separate values with single commas")
        if key == "trainer.seed":
            raise ConfigError("trainer.seed is set by --seeds (and --base-seed); do not sweep it directly")
        if key in {k for k, _ in axes} or key in {f.split("=", 1)[0] for f in fixed}:
            raise ConfigError(f"sweep key {key!r} is given twice; list all its values in one item")
        if key == "method":
            bad = [v for v in values if v not in METHODS]
            if bad:
                raise ConfigError(f"method values must be among {', '.join(METHODS)}; got {', '.join(bad)}")
        if len(values) > 1 or key == "method":
            if len(set(values)) != len(values):
                raise ConfigError(f"sweep axis {key!r} repeats a value: {values}")
            axes.append((key, values))
        else:
            fixed.append(f"{key}={value}")
    base = load_config(config, fixed)  # the config file and fixed overrides, checked
    start = int(base.trainer.seed) if base_seed is None else int(base_seed)
    grid = Grid(config, fixed, axes, list(range(start, start + seeds)))
    for point in grid.points():
        load_config(config, fixed + _overrides(point))
    return grid


def _overrides(point: dict[str, str]) -> list[str]:
    return [f"{k}={v}" for k, v in point.items() if k != "method"]


def point_name(point: dict[str, str]) -> str:
    """A readable, filesystem-safe directory name for one grid point."""
    if not point:
        return "base"
    text = "__".join(f"{k}={v}" for k, v in point.items())
    return re.sub(r"[^A-Za-z0-9_.=,+-]", "_", text)


@dataclass
class RunSpec:
    """One run of the grid: where it lives and everything needed to start it in any process."""

    directory: Path
    config: str | None
    overrides: list[str]
    point: dict[str, str]
    seed: int
    threads: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def method(self) -> str:
        return self.point.get("method", "ff")

    @property
    def finished(self) -> bool:
        return (self.directory / RESULTS_FILE).exists()


def _twin_relevant(key: str) -> bool:
    from .build import BACKPROP_TWIN_KEYS

    return key == "method" or key.startswith("data.") or key in BACKPROP_TWIN_KEYS


def plan(grid: Grid, out: Path, threads: int | None = None) -> list[RunSpec]:
    """The grid's runs, seed-major within each point. A backprop point drops the FF-only axes (loss,
    goodness, negatives...), so the twin runs once per setting it can actually see."""
    specs: list[RunSpec] = []
    seen: set[str] = set()
    for point in grid.points():
        if point.get("method") == "backprop":
            point = {k: v for k, v in point.items() if _twin_relevant(k)}
            if point_name(point) in seen:
                continue
        seen.add(point_name(point))
        for seed in grid.seeds:
            overrides = [*grid.fixed, *_overrides(point), f"trainer.seed={seed}", "trainer.progress=false"]
            if threads is not None:
                overrides.append(f"trainer.threads={threads}")
            specs.append(
                RunSpec(out / "runs" / point_name(point) / f"seed{seed}", grid.config, overrides, point, seed)
            )
    return specs


def run_one(spec: RunSpec) -> dict[str, Any]:
    """Train one run (FF or its backprop twin) and write its ``results.json``; resumes an unfinished FF
    run from its checkpoint."""
    import torch

    from ..training.trainer import NonFiniteLossError
    from .config import to_dict
    from .run import run

    cfg = load_config(spec.config, spec.overrides)
    if cfg.trainer.threads is not None:
        torch.set_num_threads(int(cfg.trainer.threads))
    spec.directory.mkdir(parents=True, exist_ok=True)
    record = {
        "point": spec.point,
        "seed": spec.seed,
        "method": spec.method,
        "config": spec.config,
        "overrides": spec.overrides,
        "resolved": to_dict(cfg),
    }
    write_text_atomic(spec.directory / RUN_FILE, json.dumps(record, indent=2))
    t0 = time.perf_counter()
    try:
        resume = spec.method == "ff" and (spec.directory / "checkpoint.pt").exists()
        return run(cfg, spec.directory, resume=resume, method=spec.method)
    except NonFiniteLossError as err:
        # A setting that blows up is a result, not a crash: the grid goes on, and the table says so. The run
        # counts as finished (it would diverge again: runs are deterministic given their seed).
        result = {
            "dataset": cfg.data.name,
            "diverged": str(err),
            "epochs": cfg.trainer.epochs,
            "train_seconds": round(time.perf_counter() - t0, 2),
        }
        write_text_atomic(spec.directory / RESULTS_FILE, json.dumps(result, indent=2))
        return result


def _run_in_worker(spec: RunSpec) -> str:
    run_one(spec)
    return str(spec.directory)


def run_grid(specs: Sequence[RunSpec], jobs: int = 1, log: Any = sys.stderr) -> None:
    """Run every unfinished spec, ``jobs`` at a time (separate processes when ``jobs > 1``)."""
    todo = [s for s in specs if not s.finished]
    done = len(specs) - len(todo)
    print(f"sweep: {len(specs)} runs, {done} already finished, {len(todo)} to run", file=log)
    if jobs <= 1:
        for i, spec in enumerate(todo, 1):
            t0 = time.perf_counter()
            run_one(spec)
            print(f"sweep: [{i}/{len(todo)}] {spec.directory} ({time.perf_counter() - t0:.1f} s)", file=log)
        return
    import multiprocessing as mp

    # A Pool (not a ProcessPoolExecutor) because it can be terminated: on Ctrl-C or SIGTERM the workers are
    # stopped at once instead of finishing their runs behind the user's back. Unfinished runs resume later.
    previous = signal.signal(signal.SIGTERM, _interrupt) if _in_main_thread() else None
    pool = mp.get_context("spawn").Pool(jobs, maxtasksperchild=1)
    try:
        for i, directory in enumerate(pool.imap_unordered(_run_in_worker, todo), 1):
            print(f"sweep: [{i}/{len(todo)}] {directory}", file=log)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


# ----------------------------------------------------------------------------- the summary


@dataclass
class FinishedRun:
    directory: Path
    point: dict[str, str]
    seed: int
    method: str
    result: dict[str, Any]
    settings: dict[str, str]  # every swept or fixed key of this run, method included
    resolved: dict[str, Any] = field(default_factory=dict)  # the run's whole config

    def value(self, key: str) -> str:
        """The run's value for ``key``: as overridden, else as its config resolved it."""
        if key in self.settings:
            return self.settings[key]
        if key == "method":
            return self.method
        node: Any = self.resolved
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return "-"
            node = node[part]
        return str(node)


def collect(out: Path) -> list[FinishedRun]:
    """Every finished run under ``out/runs`` (unfinished ones are left out)."""
    runs = []
    for run_file in sorted((out / "runs").glob(f"*/*/{RUN_FILE}")):
        res_file = run_file.parent / RESULTS_FILE
        if not res_file.exists():
            continue
        rec = json.loads(run_file.read_text())
        settings = {"method": rec["method"], "config": Path(rec["config"]).stem if rec["config"] else "-"}
        for o in rec["overrides"]:
            key, value = o.split("=", 1)
            if key not in ("trainer.seed", "trainer.progress", "trainer.threads"):
                settings[key] = value
        runs.append(
            FinishedRun(
                run_file.parent,
                rec["point"],
                rec["seed"],
                rec["method"],
                json.loads(res_file.read_text()),
                settings,
                rec.get("resolved", {}),
            )
        )
    return runs


def primary_accuracy(result: dict[str, Any]) -> float | None:
    """FF's own prediction (goodness) for FF runs; test accuracy for the backprop twin; ``None`` for a run
    whose loss diverged."""
    return result.get("test_accuracy_goodness", result.get("test_accuracy"))


def _mean_std(values: list[float]) -> tuple[float, float]:
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _pct(values: list[float]) -> str:
    mean, std = _mean_std(values)
    if math.isnan(mean):
        return "-"
    return f"{100 * mean:.2f} ± {100 * std:.2f}" if len(values) > 1 else f"{100 * mean:.2f}"


@dataclass
class Group:
    """The seeds of one setting."""

    settings: dict[str, str]
    runs: list[FinishedRun]

    def label(self, keys: Sequence[str]) -> str:
        """A short name for plots: ``backprop: lr=0.1, momentum=0.9`` (the method only when it varies)."""
        shown = [f"{k.split('.')[-1]}={self.settings[k]}" for k in keys if k in self.settings]
        method = self.settings.get("method") if "method" in keys else None
        text = ", ".join(s for s in shown if not s.startswith("method=")) or "base"
        return f"{method}: {text}" if method else text


def group_runs(runs: Sequence[FinishedRun]) -> tuple[list[str], list[Group]]:
    """Group runs by their settings; return the keys whose values differ between groups, and the groups."""
    groups: dict[tuple, Group] = {}
    for r in runs:
        key = tuple(sorted(r.settings.items()))
        groups.setdefault(key, Group(r.settings, [])).runs.append(r)
    all_keys: list[str] = []
    for r in runs:
        all_keys += [k for k in r.settings if k not in all_keys]
    varying = [k for k in all_keys if len({g.settings.get(k, "-") for g in groups.values()}) > 1]
    for g in groups.values():  # a key one sweep set and another left at its config value: show that value
        for k in varying:
            if k not in g.settings and (g.runs[0].method == "ff" or _twin_relevant(k)):
                g.settings = {**g.settings, k: g.runs[0].value(k)}
    ordered = sorted(groups.values(), key=lambda g: [_sort_key(g.settings.get(k, "-")) for k in varying])
    return varying, ordered


def _sort_key(value: str) -> tuple[int, float, str]:
    """Numbers in numeric order (2.0 before 10.0), then everything else alphabetically."""
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


def results_table(runs: Sequence[FinishedRun]) -> str:
    """The markdown table: one row per setting, mean ± std over seeds (percent), mean training time."""
    keys, groups = group_runs(runs)
    head = [
        *keys,
        "seeds",
        "test acc (FF goodness / backprop)",
        "FF linear head",
        "FF all layers",
        "per-layer acc",
        "train s",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for g in groups:
        res = [r.result for r in g.runs]
        layers = [r["layer_accuracy"] for r in res if "layer_accuracy" in r]
        per_layer = (
            " / ".join(f"{100 * statistics.fmean(col):.1f}" for col in zip(*layers)) if layers else "-"
        )
        seconds = _mean_std([r.get("train_wall_total") or r["train_seconds"] for r in res])[0]
        diverged = sum("diverged" in r for r in res)
        accuracy = _pct([primary_accuracy(r) for r in res])
        if diverged:
            accuracy = f"diverged ({diverged}/{len(res)})" + (
                "" if accuracy == "-" else f"; others {accuracy}"
            )
        row = [
            *(g.settings.get(k, "-") for k in keys),
            str(len(res)),
            accuracy,
            _pct([r.get("test_accuracy_head") for r in res]),
            _pct([r.get("test_accuracy_all_layers") for r in res]),
            per_layer,
            f"{seconds:.1f}",
        ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def write_summary(out: Path, command: str | None = None, plots: bool = True) -> Path:
    """Write ``out/results.md`` (and plots when matplotlib is installed) from every finished run."""
    runs = collect(out)
    if not runs:
        raise FileNotFoundError(f"no finished runs under {out / 'runs'}; run `ff sweep ... --out {out}`")
    text = "# Sweep results\n\n"
    if command:
        text += f"Command: `{command}`\n\n"
    text += (
        "Test accuracy in percent, mean ± standard deviation over seeds. FF runs report FF's own "
        "prediction (goodness summed over all layers but the first), the linear head, the goodness of every "
        "layer, and each layer's goodness alone; backprop twins report their test accuracy. "
        '"train s" is training wall time (evaluation excluded). A run whose loss became NaN or infinite '
        'is counted as "diverged" (its `results.json` holds the message).\n\n'
    )
    text += results_table(runs)
    if plots:
        try:
            from .plots import plot_sweep
        except ImportError as err:  # matplotlib is an optional extra
            text += f"\n(no plots: {err}; `pip install forwardforward[viz]`)\n"
        else:
            for png in plot_sweep(runs, out):
                text += f"\n![{png.stem}]({png.name})\n"
    return write_text_atomic(out / "results.md", text)
