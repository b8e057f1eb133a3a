"""Several processes for one run: local workers (``ff train --nproc N [--pipeline]``) or ``torchrun``.

Every worker joins the process group and calls the same :func:`~forwardforward.experiment.run.run` as a
single-process ``ff train``, with a :class:`~forwardforward.training.strategies.DataParallel` strategy, or
the layer pipeline (:func:`run_pipeline`). Rank 0 writes the run folder, the same one a single process
writes. Gloo on CPU (127.0.0.1 for local workers), NCCL when ``trainer.device`` resolves to a GPU for each
process (``auto`` does when there is one per local process, else it trains on the CPU).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from omegaconf import DictConfig, OmegaConf

from ..training.callbacks import epoch_line
from ..training.checkpoint import FORMAT_VERSION, recorded_imports, save_atomic, write_text_atomic
from ..training.devices import backend_for, resolve_device
from ..training.pipeline import pipeline_fit
from ..training.strategies import DataParallel, check_peers, free_port, init
from ..training.trainer import eval_subset
from .build import build_network, load_data, optimizer_kwargs, sample_shape
from .config import from_dict, to_dict
from .run import run, test_results

#: Generous: rank 0 evaluates the test set while the others wait at the next collective.
TIMEOUT_S = 1800.0


def run_distributed(cfg: DictConfig, out: Path | None, pipeline: bool = False) -> dict[str, Any]:
    """In a process that has joined the group: data parallel :func:`run` of the config ``cfg`` into the run
    folder ``out`` (``None``: nothing written), or, with ``pipeline``, :func:`run_pipeline`. Returns rank
    0's results (others: their own or ``{}``)."""
    torch.set_num_threads(cfg.trainer.threads or 1)
    result = run_pipeline(cfg, out) if pipeline else run(cfg, out, strategy=DataParallel())
    check_peers(TIMEOUT_S)
    return result


def _held_out(cfg: DictConfig, splits: Any) -> Any:
    """What the pipeline scores after its epochs: the validation split, else the test split, or the
    ``trainer.eval_samples`` of it that :meth:`Trainer.fit` would score (the config ``cfg``'s, from
    ``splits``)."""
    held_out = splits.val if splits.val is not None else splits.test
    samples = cfg.trainer.eval_samples
    if samples is None or samples >= len(held_out.y):
        return held_out
    return eval_subset(held_out, samples, cfg.trainer.seed)


def run_pipeline(cfg: DictConfig, out: Path | None) -> dict[str, Any]:
    """The layer pipeline of the config ``cfg``, writing the same run folder ``out`` as :func:`run` (rank
    0; ``None``: nothing written): config, a checkpoint ``ff eval`` reads, per-epoch evaluated metrics and
    results. Returns the results on rank 0, ``{}`` elsewhere."""
    t, main = cfg.trainer, dist.get_rank() == 0
    t0 = time.perf_counter()  # wall_seconds: everything, data loading included
    splits = load_data(cfg)
    net = build_network(cfg, sample_shape(splits.train), splits.train.num_classes)
    if out is not None and main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    history: list[dict[str, Any]] = []
    held_out = _held_out(cfg, splits)

    def on_epoch_end(epoch: int, seconds: float) -> None:
        if not main:
            return
        row = {
            "epoch": epoch,
            "seconds": seconds,
            "train_seconds": (history[-1]["train_seconds"] if history else 0.0) + seconds,
        }
        if t.eval_every and (epoch % t.eval_every == 0 or epoch == t.epochs):
            ev = net.evaluate(held_out)
            row.update({"eval/accuracy": ev["accuracy"]})
            row.update({f"eval/layer_accuracy/{i}": a for i, a in enumerate(ev["layer_accuracy"])})
        history.append(row)
        if t.progress:  # the same line per epoch as a one-process run (the pipe draws no progress bars)
            print(epoch_line(row, t.epochs, "val" if splits.val is not None else "test"), file=sys.stderr)
        if out is not None:
            state = {
                "format": FORMAT_VERSION,
                "config": to_dict(cfg),
                "imports": recorded_imports(to_dict(cfg), None),
                "model": net.state_dict(),
                "epoch": epoch,
            }
            save_atomic({**state, "phase": 0, "step_count": 0, "history": history}, out / "checkpoint.pt")
            with open(out / "metrics.jsonl", "a" if epoch > 1 else "w") as f:
                f.write(json.dumps(row) + "\n")

    pipeline_fit(
        net,
        splits.train,
        t.epochs,
        t.batch_size,
        t.optimizer,
        t.lr,
        t.weight_decay,
        optimizer_kwargs(cfg),
        t.cooldown_start,
        t.seed,
        timeout_s=TIMEOUT_S,
        on_epoch_end=on_epoch_end,
    )
    if not main:
        return {}
    result = test_results(cfg, net, splits, history[-1]["train_seconds"] if history else 0.0)
    result.update(test_accuracy_head=None, mode="pipeline", nproc=dist.get_world_size())  # no head in a pipe
    result["wall_seconds"] = round(time.perf_counter() - t0, 2)
    if out is not None:
        write_text_atomic(out / "results.json", json.dumps({**result, "history": history}, indent=2))
    return result


def _worker(
    rank: int,
    world: int,
    init_method: str,
    cfg_dict: dict[str, Any],
    out: str | None,
    pipeline: bool,
    result_path: str,
) -> None:
    cfg = from_dict(cfg_dict)
    init(rank, world, init_method, backend=_claim_device(cfg, pipeline, rank, world), timeout_s=TIMEOUT_S)
    try:
        result = run_distributed(cfg, Path(out) if out else None, pipeline)
        if rank == 0:
            Path(result_path).write_text(json.dumps(result))
    finally:
        dist.destroy_process_group()


def _claim_device(
    cfg: DictConfig, pipeline: bool, local_rank: int | None = None, local_world: int | None = None
) -> str:
    """Resolve this process's ``trainer.device`` before it joins the group (a GPU becomes the current CUDA
    device, as NCCL expects) and return the backend that device needs. The layer pipeline computes on the
    CPU whatever the config says, so it always takes gloo."""
    if pipeline:
        return backend_for("cpu")
    device = resolve_device(cfg.trainer.device, local_rank, local_world)
    if device.startswith("cuda:"):
        torch.cuda.set_device(device)
    return backend_for(device)


def launch(cfg: DictConfig, nproc: int, out: Path | None = None, pipeline: bool = False) -> dict[str, Any]:
    """Run the config ``cfg`` on ``nproc`` local worker processes (gloo on 127.0.0.1, or NCCL with a GPU
    each), data parallel or, with ``pipeline``, as a layer pipeline, writing the run folder ``out``; returns
    rank 0's results."""
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as tmp:
        result_path = os.path.join(tmp, "result.json")
        init_method = f"tcp://127.0.0.1:{free_port()}"
        args = (nproc, init_method, to_dict(cfg), str(out) if out else None, pipeline, result_path)
        mp.spawn(_worker, args=args, nprocs=nproc)
        return json.loads(Path(result_path).read_text())


def join_torchrun(cfg: DictConfig, out: Path | None, pipeline: bool = False) -> dict[str, Any]:
    """``ff train`` started by ``torchrun``: join the group from the environment and train the config
    ``cfg`` as one of it (data parallel, or a layer ``pipeline``), rank 0 writing ``out``."""
    init(backend=_claim_device(cfg, pipeline), timeout_s=TIMEOUT_S)
    try:
        return run_distributed(cfg, out, pipeline)
    finally:
        dist.destroy_process_group()


__all__ = ["join_torchrun", "launch", "run_distributed", "run_pipeline"]
