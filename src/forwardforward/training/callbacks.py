"""Callbacks: what happens at the end of each epoch (logging, checkpoints). Plain classes, no framework."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any


class Callback:
    """Hooks the Trainer calls. Override what you need."""

    def on_fit_start(self, trainer: Any) -> None: ...

    def on_epoch_end(self, trainer: Any, row: dict[str, Any]) -> None: ...

    def on_fit_end(self, trainer: Any) -> None: ...


class JSONLogger(Callback):
    """Appends one JSON object per epoch to ``metrics.jsonl`` (rewritten from the history on resume)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def on_fit_start(self, trainer: Any) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "w") as f:
            for row in trainer.history:
                f.write(json.dumps(row) + "\n")

    def on_epoch_end(self, trainer: Any, row: dict[str, Any]) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")


class CSVLogger(Callback):
    """Writes ``metrics.csv`` from the whole history each epoch (columns can differ between schedules)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def on_epoch_end(self, trainer: Any, row: dict[str, Any]) -> None:
        keys: list[str] = []
        for r in trainer.history:
            keys += [k for k in r if k not in keys]
        tmp = self.path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(trainer.history)
        tmp.replace(self.path)


class TensorBoardLogger(Callback):
    """Scalars to TensorBoard, when the ``tensorboard`` package is installed."""

    def __init__(self, log_dir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard extra

        self.writer = SummaryWriter(str(log_dir))

    def on_epoch_end(self, trainer: Any, row: dict[str, Any]) -> None:
        step = len(trainer.history)
        for k, v in row.items():
            if isinstance(v, (int, float)):
                self.writer.add_scalar(k, v, step)
        self.writer.flush()

    def on_fit_end(self, trainer: Any) -> None:
        self.writer.close()


class Checkpoint(Callback):
    """Saves ``checkpoint.pt`` atomically after every epoch, so an interrupted run resumes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def on_epoch_end(self, trainer: Any, row: dict[str, Any]) -> None:
        trainer.save_checkpoint(self.path)


def default_callbacks(out_dir: Path, tensorboard: bool = False) -> list[Callback]:
    """Checkpoint + JSON + CSV always; TensorBoard when asked for and installed."""
    cbs: list[Callback] = [
        Checkpoint(out_dir / "checkpoint.pt"),
        JSONLogger(out_dir / "metrics.jsonl"),
        CSVLogger(out_dir / "metrics.csv"),
    ]
    if tensorboard:
        try:
            cbs.append(TensorBoardLogger(out_dir / "tensorboard"))
        except ImportError:
            import warnings

            warnings.warn(
                "tensorboard is not installed; pip install 'forwardforward[tensorboard]'", stacklevel=2
            )
    return cbs
