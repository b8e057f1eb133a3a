"""Callbacks: what happens at the end of each epoch (logging, checkpoints). Plain classes, no framework."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from .checkpoint import check_recordable


class Callback:
    """Hooks the Trainer calls. Override what you need; each does nothing by default."""

    def on_fit_start(self, trainer: Any) -> None:
        """Called by ``trainer`` when :meth:`~forwardforward.training.trainer.Trainer.fit` starts, after a
        resumed run's state (and its history) is loaded."""

    def on_epoch_end(self, trainer: Any, row: dict[str, Any]) -> None:
        """Called by ``trainer`` after each epoch with its history ``row`` (already appended to
        ``trainer.history``): the epoch's mean statistics, clocks and evaluation."""

    def on_fit_end(self, trainer: Any) -> None:
        """Called by ``trainer`` when :meth:`~forwardforward.training.trainer.Trainer.fit` has finished."""


class JSONLogger(Callback):
    """Appends one JSON object per epoch to ``path`` (``metrics.jsonl``; rewritten from the history when
    a fit starts, so a resumed run's file holds every epoch once)."""

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
    """Writes ``path`` (``metrics.csv``) from the whole history each epoch (columns can differ between
    schedules), replacing the file atomically."""

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
    """Scalars to TensorBoard event files in ``log_dir``; needs the ``tensorboard`` package (an
    ``ImportError`` otherwise)."""

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
    """Saves the trainer's state to ``path`` (``checkpoint.pt``) atomically after every epoch, so an
    interrupted run resumes. A network no checkpoint could rebuild (a layer piece given as an object) is
    refused when training starts, not after its first epoch."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def on_fit_start(self, trainer: Any) -> None:
        check_recordable(trainer.net, trainer.config)

    def on_epoch_end(self, trainer: Any, row: dict[str, Any]) -> None:
        trainer.save_checkpoint(self.path)


class EpochLine(Callback):
    """One line per epoch on stderr (stdout stays the command's JSON result), so a log file of ``ff train``
    shows the run's progress even where no progress bar is drawn::

        epoch 3/10: layer loss 0.220 0.310 | test accuracy: goodness 95.28%, head 94.72% | 1.2 s (wall 1.6 s)

    ``layer loss`` is each layer's mean FF loss over the epoch; the accuracies are measured on the held-out
    split (``held_out``: ``test``, or ``val`` when the data have one) after the epoch; the seconds are the
    epoch's training steps alone and, in brackets, the wall time since training began. ``stream`` is where
    the lines go (default: ``sys.stderr``, looked up at each print).
    """

    def __init__(self, held_out: str = "test", stream: TextIO | None = None) -> None:
        self.held_out, self.stream = held_out, stream

    def on_epoch_end(self, trainer: Any, row: dict[str, Any]) -> None:
        print(
            epoch_line(row, trainer.total_epochs, self.held_out), file=self.stream or sys.stderr, flush=True
        )


def epoch_line(row: dict[str, Any], epochs: int, held_out: str = "test") -> str:
    """An epoch's history ``row`` as the one line :class:`EpochLine` prints, out of ``epochs`` epochs,
    with the accuracies named after the ``held_out`` split."""
    where = f"epoch {row['epoch']}/{epochs}"
    if "layer" in row:  # the greedy schedule: one layer at a time
        where = f"layer {row['layer']} {where}"
    losses = [f"{row[k]:.3f}" for k in sorted(row, key=_layer_order) if _is_layer_loss(k)]
    parts = [where + (f": layer loss {' '.join(losses)}" if losses else "")]
    if "eval/accuracy" in row:
        acc = f"{held_out} accuracy: goodness {100 * row['eval/accuracy']:.2f}%"
        if "eval/head_accuracy" in row:
            acc += f", head {100 * row['eval/head_accuracy']:.2f}%"
        parts.append(acc)
    parts.append(
        f"{row['seconds']:.1f} s" + (f" (wall {row['wall_seconds']:.1f} s)" if "wall_seconds" in row else "")
    )
    return " | ".join(parts)


def _is_layer_loss(key: str) -> bool:
    return key.startswith("loss/") and key[5:].isdigit()


def _layer_order(key: str) -> tuple[int, str]:
    return (int(key[5:]), key) if _is_layer_loss(key) else (-1, key)


def default_callbacks(out_dir: Path, tensorboard: bool = False) -> list[Callback]:
    """The callbacks writing into ``out_dir``: checkpoint + JSON + CSV always; TensorBoard (in
    ``out_dir/tensorboard``) when ``tensorboard`` is asked for and installed, else a warning."""
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
