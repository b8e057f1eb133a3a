"""The run layer: one :func:`run` that trains and tests what a config describes and writes its run folder.

``ff train``, ``ff sweep``, ``ff compare``, ``--nproc`` (data parallel) and ``--pipeline`` all come here, so
every run folder holds the same things, whatever trained it:

- ``config.yaml``: the resolved config, written when the run starts;
- ``checkpoint.pt``: weights, optimiser, counters and RNG states after every epoch (atomic; ``ff eval``,
  ``ff.load`` and ``--resume`` read it);
- ``metrics.jsonl`` / ``metrics.csv``: one row per epoch, with its evaluation;
- ``results.json``: the final test results and the per-epoch history, written last and atomically, so a
  folder holding it is a finished run.

A supervised network is tested by goodness, per layer and by its linear head; an unsupervised one by the
linear probe (and, with ``probe.raw``, the same probe on raw pixels).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ..training.checkpoint import write_text_atomic
from ..training.strategies import SingleProcess
from .build import build_network, build_trainer, load_data, sample_shape, train_backprop_twin
from .unsupervised import is_unsupervised, labelled_subset, probe_from_config

METHODS = ("ff", "backprop")


def run(
    cfg: DictConfig,
    out: Path | None = None,
    resume: bool = False,
    strategy: SingleProcess | None = None,
    method: str = "ff",
    splits: Any = None,
) -> dict[str, Any]:
    """Train and test what ``cfg`` describes; returns the results (``{}`` on all but the main process).

    ``out`` is the run folder (nothing is written without it); ``resume`` continues from its checkpoint;
    ``strategy`` spreads training over processes; ``method="backprop"`` trains the backprop twin of the
    same architecture and budget instead; ``splits`` skips loading the data.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    main = strategy is None or strategy.is_main
    splits = load_data(cfg) if splits is None else splits
    if out is not None and main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    if method == "backprop":
        result, history = _run_backprop(cfg, splits)
    else:
        result, history = _run_ff(cfg, out, resume, strategy, splits)
    if strategy is not None and strategy.world > 1:
        result.update(mode="data-parallel", nproc=strategy.world)
    if out is not None and main:
        write_text_atomic(out / "results.json", json.dumps({**result, "history": history}, indent=2))
    return result if main else {}


def _run_ff(
    cfg: DictConfig, out: Path | None, resume: bool, strategy: Any, splits: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    train = splits.train
    unsupervised = is_unsupervised(cfg)
    if (
        unsupervised
    ):  # an impossible probe.labels (more than the training images) fails now, not after training
        labelled_subset(train, cfg.probe.labels, cfg.trainer.seed)
    net = build_network(cfg, sample_shape(train), train.num_classes)
    trainer = build_trainer(cfg, net, out, strategy, train)
    eval_data = None if unsupervised else (splits.val if splits.val is not None else splits.test)
    t0 = time.perf_counter()
    history = trainer.fit(
        train, cfg.trainer.epochs, cfg.trainer.batch_size, eval_data, resume=resume_checkpoint(out, resume)
    )
    seconds = time.perf_counter() - t0
    if strategy is not None and not strategy.is_main:
        return {}, history
    if unsupervised:
        return _probe_results(cfg, net, splits, seconds), history
    return test_results(cfg, net, splits, history, seconds), history


def test_results(
    cfg: DictConfig, net: Any, splits: Any, history: list[dict[str, Any]], seconds: float
) -> dict[str, Any]:
    """Test accuracy by goodness, over all layers, per layer and by the head (and with test-time views)."""
    test = net.evaluate(splits.test, views=net.test_views)
    result: dict[str, Any] = {
        "dataset": cfg.data.name,
        "test_accuracy_goodness": test["accuracy"],
        "test_accuracy_head": test.get("head_accuracy"),
        "test_accuracy_all_layers": test["accuracy_all_layers"],
        "layer_accuracy": test["layer_accuracy"],
        "epochs": cfg.trainer.epochs,
        "train_seconds": round(seconds, 2),
        "train_wall_total": round(history[-1]["wall"], 2) if history else None,
    }
    if net.test_views is not None:  # model.test_views: goodness averaged over shifted copies as well
        result["test_views"] = test["views"]
        result["test_accuracy_views"] = test["accuracy_views"]
    return result


def _probe_results(cfg: DictConfig, net: Any, splits: Any, seconds: float) -> dict[str, Any]:
    """An unsupervised network measured by the linear probe (and raw pixels, with ``probe.raw``)."""
    t1 = time.perf_counter()
    probed = probe_from_config(cfg, net, splits)
    return {
        "dataset": cfg.data.name,
        "negatives": cfg.trainer.negatives,
        "test_accuracy_probe": probed["probe"]["accuracy"],
        **probed,
        "epochs": cfg.trainer.epochs,
        "train_seconds": round(seconds, 2),
        "probe_seconds": round(time.perf_counter() - t1, 2),
    }


def _run_backprop(cfg: DictConfig, splits: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The backprop twin: same architecture, data, optimiser, schedule and budget, end-to-end gradients."""
    history = train_backprop_twin(cfg, splits)
    result = {
        "dataset": cfg.data.name,
        "method": "backprop",
        "test_accuracy": history[-1]["eval/accuracy"],
        "epochs": cfg.trainer.epochs,
        "train_seconds": round(history[-1]["wall"], 2),
    }
    return result, history


def resume_checkpoint(out: Path | None, resume: bool) -> Path | None:
    """The checkpoint ``--resume`` continues from (``None`` without it); an error when there is none."""
    ckpt = out / "checkpoint.pt" if (resume and out is not None) else None
    if resume and (ckpt is None or not ckpt.exists()):
        raise FileNotFoundError(f"--resume: no checkpoint at {ckpt}; train without --resume first")
    return ckpt


__all__ = ["METHODS", "resume_checkpoint", "run"]
