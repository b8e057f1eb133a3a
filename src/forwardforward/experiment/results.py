"""Finished runs read back from their folders, grouped by setting and summarised as a table: what
``ff sweep`` writes to ``results.md`` and ``ff plot`` draws.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .build import BACKPROP_TWIN_KEYS

RUN_FILE = "run.json"
RESULTS_FILE = "results.json"


def twin_relevant(key: str) -> bool:
    """Whether a config key changes the backprop twin (the sweep runs one twin per setting of these)."""
    return key == "method" or key.startswith("data.") or key in BACKPROP_TWIN_KEYS


@dataclass
class FinishedRun:
    """One finished run of a sweep, read back from its folder.

    Attributes:
        directory: the run's folder (``DIR/runs/<point>/seed<k>``).
        point: the grid point it ran, ``{key: value}`` of the swept axes.
        seed: its ``trainer.seed``.
        method: ``"ff"`` or ``"backprop"``.
        result: its ``results.json``.
        settings: every swept or fixed key of this run, the method and config file name included.
        resolved: the run's whole resolved config (empty for runs recorded without it).
    """

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
    """Every finished run under ``out/runs`` (unfinished ones, without ``results.json``, are left out)."""
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
    """The accuracy a run's ``result`` is compared by: FF's own prediction (goodness) for FF runs; test
    accuracy for the backprop twin; ``None`` for a run whose loss diverged."""
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
    """The seeds of one setting.

    Attributes:
        settings: the setting's keys and values (what the table's columns show).
        runs: its finished runs, one per seed.
    """

    settings: dict[str, str]
    runs: list[FinishedRun]

    def label(self, keys: Sequence[str]) -> str:
        """A short name for plots: ``backprop: lr=0.1, momentum=0.9``, showing the values of ``keys`` (the
        keys that vary between groups; the method only when it is one of them)."""
        shown = [f"{k.split('.')[-1]}={self.settings[k]}" for k in keys if k in self.settings]
        method = self.settings.get("method") if "method" in keys else None
        text = ", ".join(s for s in shown if not s.startswith("method=")) or "base"
        return f"{method}: {text}" if method else text


def group_runs(runs: Sequence[FinishedRun]) -> tuple[list[str], list[Group]]:
    """Group ``runs`` by their settings; return the keys whose values differ between groups, and the
    groups."""
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
            if k not in g.settings and (g.runs[0].method == "ff" or twin_relevant(k)):
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
    """The markdown table of ``runs``: one row per setting, mean ± std over seeds (percent), mean training
    time."""
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
        # training alone: train_seconds, or train_wall_total in results written before the clocks were
        # renamed (their train_seconds counted the per-epoch evaluation too)
        seconds = _mean_std([r.get("train_wall_total") or r.get("train_seconds") for r in res])[0]
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
