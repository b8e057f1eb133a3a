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

from ..training.callbacks import EpochLine
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

    Two clocks, named for what they count (FF and backprop alike, so ``ff compare`` compares like with
    like): ``train_seconds`` is the training steps alone (no evaluation, checkpoints or data loading),
    ``wall_seconds`` everything this run took, from loading the data to the final test (over every
    session of a resumed run). So ``train_seconds <= wall_seconds`` always.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    start = time.perf_counter()
    main = strategy is None or strategy.is_main
    splits = load_data(cfg) if splits is None else splits
    if out is not None and main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    if method == "backprop":
        result, history = _run_backprop(cfg, splits)
        earlier = 0.0
    else:
        result, history, earlier = _run_ff(cfg, out, resume, strategy, splits)
    if strategy is not None and strategy.world > 1:
        result.update(mode="data-parallel", nproc=strategy.world)
    if result:
        result["wall_seconds"] = round(earlier + time.perf_counter() - start, 2)
    if out is not None and main:
        write_text_atomic(out / "results.json", json.dumps({**result, "history": history}, indent=2))
    return result if main else {}


def _run_ff(
    cfg: DictConfig, out: Path | None, resume: bool, strategy: Any, splits: Any
) -> tuple[dict[str, Any], list[dict[str, Any]], float]:
    """FF's results, its history and the wall seconds of the sessions before a resumed one."""
    train = splits.train
    unsupervised = is_unsupervised(cfg)
    if (
        unsupervised
    ):  # an impossible probe.labels (more than the training images) fails now, not after training
        labelled_subset(train, cfg.probe.labels, cfg.trainer.seed)
    net = build_network(cfg, sample_shape(train), train.num_classes)
    trainer = build_trainer(cfg, net, out, strategy, train)
    eval_data = None if unsupervised else (splits.val if splits.val is not None else splits.test)
    if cfg.trainer.progress and (strategy is None or strategy.is_main):
        trainer.callbacks.append(EpochLine(held_out="val" if splits.val is not None else "test"))
    history = trainer.fit(
        train,
        cfg.trainer.epochs,
        cfg.trainer.batch_size,
        eval_data,
        resume=resume_checkpoint(out, resume),
        verbose=False,  # the line above, named after the held-out split, or none without progress
        eval_every=cfg.trainer.eval_every,
        eval_samples=cfg.trainer.eval_samples,
    )
    seconds = history[-1]["train_seconds"] if history else 0.0
    if strategy is not None and not strategy.is_main:
        return {}, history, 0.0
    if unsupervised:
        return _probe_results(cfg, net, splits, seconds), history, trainer.earlier_wall
    return test_results(cfg, net, splits, seconds), history, trainer.earlier_wall


def reported_measures(evaluation: dict[str, Any]) -> dict[str, Any]:
    """The measures in ``evaluation`` (what :meth:`FFNetwork.evaluate` returned for the test set) under
    the names ``ff train``'s results, ``ff eval`` and the benchmarks all report them by (one naming, so the
    same number has one name).

    ``test_accuracy_goodness`` is FF's own prediction (summed goodness of the scoring layers),
    ``test_accuracy_head`` the linear head's (``None`` without a head), ``test_accuracy_all_layers`` the
    goodness of every layer, ``layer_accuracy`` each layer alone, ``goodness_true`` / ``goodness_wrong``
    each layer's mean goodness with the true and with wrong labels; with test-time views, the same
    measures averaged over the views (``test_views`` of them).
    """
    ev = evaluation
    out: dict[str, Any] = {
        "test_accuracy_goodness": ev["accuracy"],
        "test_accuracy_head": ev.get("head_accuracy"),
        "test_accuracy_all_layers": ev["accuracy_all_layers"],
        "layer_accuracy": ev["layer_accuracy"],
        "goodness_true": ev["goodness_true"],
        "goodness_wrong": ev["goodness_wrong"],
    }
    if "views" in ev:  # model.test_views: goodness averaged over shifted copies as well
        out["test_views"] = ev["views"]
        out["test_accuracy_views"] = ev["accuracy_views"]
        out["layer_accuracy_views"] = ev["layer_accuracy_views"]
        out["test_accuracy_head_views"] = ev.get("head_accuracy_views")
    return out


def test_results(cfg: DictConfig, net: Any, splits: Any, seconds: float) -> dict[str, Any]:
    """The results of ``net`` on ``splits.test``: test accuracy by goodness, over all layers, per layer
    and by the head (and with test-time views), with the dataset and epochs of the config ``cfg`` and the
    ``seconds`` of training."""
    return {
        "dataset": cfg.data.name,
        **reported_measures(net.evaluate(splits.test, views=net.test_views)),
        "epochs": cfg.trainer.epochs,
        "train_seconds": round(seconds, 2),
    }


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
        "train_seconds": round(history[-1]["train_seconds"], 2),
    }
    return result, history


def resume_checkpoint(out: Path | None, resume: bool) -> Path | None:
    """The checkpoint in the run folder ``out`` that ``--resume`` continues from (``None`` when ``resume``
    is off).

    Raises:
        FileNotFoundError: ``resume`` is on but there is no checkpoint.
    """
    ckpt = out / "checkpoint.pt" if (resume and out is not None) else None
    if resume and (ckpt is None or not ckpt.exists()):
        raise FileNotFoundError(f"--resume: no checkpoint at {ckpt}; train without --resume first")
    return ckpt


__all__ = ["METHODS", "reported_measures", "resume_checkpoint", "run", "test_results"]
