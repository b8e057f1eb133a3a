"""Grids of runs over config keys, resumable, summarised as a table and plots: what ``ff sweep`` runs::

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
import re
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..training.checkpoint import write_text_atomic
from .config import ConfigError, load_config
from .results import RESULTS_FILE, RUN_FILE, collect, results_table, twin_relevant

METHODS = ("ff", "backprop")


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
    """Fixed overrides, the axes (key, values) in the order given, and the seeds.

    Attributes:
        config: the config file every run starts from, or ``None`` (the defaults).
        fixed: the ``key=value`` overrides every run gets.
        axes: ``(key, values)`` per swept key, in the order given.
        seeds: the ``trainer.seed`` values each point runs with.
    """

    config: str | None
    fixed: list[str]
    axes: list[tuple[str, list[str]]]
    seeds: list[int]

    def points(self) -> list[dict[str, str]]:
        """Every combination of axis values, as ``{key: value}`` in axis order."""
        keys = [k for k, _ in self.axes]
        return [dict(zip(keys, combo)) for combo in itertools.product(*(v for _, v in self.axes))]


def parse_grid(config: str | None, items: Sequence[str], seeds: int, base_seed: int | None = None) -> Grid:
    """Read ``key=v1,v2`` axes and ``key=v`` fixed overrides from ``items`` on top of the ``config`` file;
    check every point against the schema now, so a typo fails before the first run rather than an hour
    into the grid. ``seeds`` runs per point, with ``trainer.seed`` counting up from ``base_seed`` (default:
    the config's seed).

    Raises:
        ConfigError: a malformed item, a repeated key or value, a swept ``trainer.seed``, or a point the
            schema refuses.
    """
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
    """One run of the grid: where it lives and everything needed to start it in any process.

    Attributes:
        directory: the run's folder.
        config: the config file, or ``None``.
        overrides: every override of the run (fixed, the point's, its seed, ``trainer.progress=false``).
        point: the grid point, ``{key: value}`` (``method`` included when swept).
        seed: the run's ``trainer.seed``.
        threads: a thread count for callers; nothing in the sweep reads it (:func:`plan` puts the thread
            count in ``overrides`` as ``trainer.threads``, which :func:`run_one` applies).
        extra: free-form data for callers; nothing in the sweep reads it.
    """

    directory: Path
    config: str | None
    overrides: list[str]
    point: dict[str, str]
    seed: int
    threads: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def method(self) -> str:
        """``"ff"`` or ``"backprop"``: the point's method, FF when it is not swept."""
        return self.point.get("method", "ff")

    @property
    def finished(self) -> bool:
        """Whether the run's ``results.json`` exists (it is written last, atomically)."""
        return (self.directory / RESULTS_FILE).exists()


def plan(grid: Grid, out: Path, threads: int | None = None) -> list[RunSpec]:
    """The runs of ``grid`` under ``out/runs``, seed-major within each point, each with
    ``trainer.threads=threads`` when given. A backprop point drops the FF-only axes (loss, goodness,
    negatives...), so the twin runs once per setting it can actually see."""
    specs: list[RunSpec] = []
    seen: set[str] = set()
    for point in grid.points():
        if point.get("method") == "backprop":
            point = {k: v for k, v in point.items() if twin_relevant(k)}
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
    """Train the run ``spec`` (FF or its backprop twin) and write its ``results.json``; resumes an
    unfinished FF run from its checkpoint. A diverged run is recorded as such, not raised."""
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
            "wall_seconds": round(time.perf_counter() - t0, 2),  # the training time is unknown
        }
        write_text_atomic(spec.directory / RESULTS_FILE, json.dumps(result, indent=2))
        return result


def _run_in_worker(spec: RunSpec) -> str:
    run_one(spec)
    return str(spec.directory)


def run_grid(specs: Sequence[RunSpec], jobs: int = 1, log: Any = sys.stderr) -> None:
    """Run every unfinished run of ``specs``, ``jobs`` at a time (separate processes when ``jobs > 1``),
    printing progress lines to ``log``."""
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


def write_summary(out: Path, command: str | None = None, plots: bool = True) -> Path:
    """Write ``out/results.md`` (and, with ``plots``, the figures when matplotlib is installed) from every
    finished run, quoting the ``command`` that ran the sweep when given; returns the path.

    Raises:
        FileNotFoundError: there is no finished run under ``out/runs``.
    """
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
        '"train s" is `train_seconds`: the training steps alone (evaluation and checkpoints excluded). A run '
        "whose loss became NaN or infinite "
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
