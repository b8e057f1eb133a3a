"""Trainer: one optimiser step, around which every schedule, variant and process strategy is composed.

The step (:meth:`Trainer.train_step`): the linear head's loss on a neutral-label pass (when the network has a
head), the batch's positive and negative inputs from its :class:`~forwardforward.negatives.Negatives` (wrong
labels or negative images: one interface), every layer's local loss, and one update. The update
(:meth:`Trainer.update`) is the one place that does zero_grad -> backward -> the strategy's hook (data
parallel averages gradients there) -> step, for every schedule (:mod:`.schedules`), the layer-wise step,
the greedy head and the sleep phase alike. Because every layer's input is detached, the *sum* of the local
losses gives each layer exactly its own gradient, so one backward trains the whole stack.

The Trainer also owns the optimiser (any ``torch.optim`` class or one of ours by name, per-layer settings),
the learning-rate schedule, seeding, callbacks, atomic checkpoints, resume and the NaN guard.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch

from ..data.convert import as_dataset
from ..defaults import TRAINER
from ..negatives import Negatives, RandomLabel, build_negatives
from ..network import FFNetwork
from . import schedules
from .callbacks import Callback, EpochLine, default_callbacks
from .checkpoint import FORMAT_VERSION, check_recordable, load_checkpoint, recorded_imports, save_atomic
from .optimization import (
    COOLDOWN_EVERY,
    build_optimizer,
    cooldown_factor,
    epoch_cooldown_factor,
    network_groups,
)
from .step import step
from .strategies import SingleProcess
from .update import apply_update


class NonFiniteLossError(RuntimeError):
    """Raised when a loss becomes NaN or infinite; training stops instead of learning garbage."""


SCHEDULES = ("all", "greedy")
PHASES = ("together", "halves", "alternate")


def check_options(net: FFNetwork, opts: dict[str, Any]) -> None:
    """The Trainer's argument checks, each a one-line error naming the argument and what it takes.

    Args:
        net: the network to be trained (its layers, head and losses decide what is allowed).
        opts: the Trainer's arguments by name (its ``locals()``).

    Raises:
        ValueError: the first argument that is out of range or does not fit ``net``.
    """
    if opts["schedule"] not in SCHEDULES:
        raise ValueError(f"unknown schedule {opts['schedule']!r}; valid: {', '.join(SCHEDULES)}")
    if opts["hard_source"] not in ("head", "goodness"):
        raise ValueError(f"hard_source must be 'head' or 'goodness', got {opts['hard_source']!r}")
    if opts["layer_lr"] is not None and len(opts["layer_lr"]) != len(net.layers):
        raise ValueError(
            f"layer_lr needs one learning rate per layer ({len(net.layers)}), got {len(opts['layer_lr'])}"
        )
    if opts["schedule"] == "greedy" and not net.needs_negatives:
        raise ValueError(
            "channel-wise competition trains with the 'all' schedule; for staggered layers use layer_windows"
        )
    windows = opts["layer_windows"]
    if windows is not None and (
        len(windows) != len(net.layers) or any(len(w) != 2 or w[0] >= w[1] for w in windows)
    ):
        raise ValueError(
            f"layer_windows needs one [start, end) epoch pair with start < end per layer "
            f"({len(net.layers)}), got {[list(w) for w in windows]}"
        )
    if not 0.0 <= opts["cooldown_start"] <= 1.0:
        raise ValueError(f"cooldown_start is a fraction of training in [0, 1], got {opts['cooldown_start']}")
    if opts["cooldown_every"] not in COOLDOWN_EVERY:
        raise ValueError(f"cooldown_every must be one of {COOLDOWN_EVERY}, got {opts['cooldown_every']!r}")
    if opts["autocast"] not in (None, "bf16"):
        raise ValueError(f"autocast must be None or 'bf16', got {opts['autocast']!r}")
    if opts["phases"] not in PHASES:
        raise ValueError(f"phases must be one of {PHASES}, got {opts['phases']!r}")
    if opts["phases"] != "together":
        if opts["schedule"] != "all" or not net.needs_negatives:
            raise ValueError(
                f"phases={opts['phases']!r} trains every layer on every batch: use schedule='all' with "
                "negative data"
            )
        for layer in net.layers:
            layer.loss.one_sided(torch.zeros(1), True)  # a loss without halves fails now, not mid-training


def _negatives_for(net: FFNetwork, negatives: str | Negatives) -> Negatives:
    built = build_negatives(negatives)
    if built.label_free and net.labels is not None:
        raise ValueError(
            "unsupervised training (negative images) needs a network without a label embedding; build "
            "it with labels=None (config: model.labels=none)"
        )
    return built


class Trainer:
    """Trains an :class:`FFNetwork`.

    Args:
        net: the network.
        negatives: where negative data comes from: a registered name (``"hard"``, ``"random"``,
            ``"hybrid"``, ``"scff"``...) or a :class:`~forwardforward.negatives.Negatives`.
        optimizer: a ``torch.optim`` class name or one of ours; ``optimizer_kwargs`` go to it.
        lr, weight_decay: defaults for every layer; ``decay_biases=False`` decays weights only.
        layer_lr: optional per-layer learning rates (one per layer) overriding ``lr``.
        head_lr, head_weight_decay: the linear head's (default ``lr`` and ``weight_decay``).
        schedule: ``"all"`` (every layer every batch) or ``"greedy"`` (layer by layer).
        phases: ``"together"`` (positives and negatives in one forward pass and one loss), ``"halves"``
            (each in its own forward pass with its half of the loss, one update) or ``"alternate"`` (one
            update per half, so they never share one: Hinton's separate wake and sleep phases). The last
            two need thresholded losses.
        cooldown_start: fraction of training after which the learning rate decays linearly to 0 (1.0:
            constant); ``cooldown_every`` ``"step"`` or ``"epoch"`` (Hinton's code: once per epoch).
        hard_source: where hard negatives' scores come from: ``"head"`` (the linear head on a neutral-label
            pass: one extra forward, Hinton's choice) or ``"goodness"`` (all-label goodness).
        hard_warmup_epochs: random wrong labels for this many epochs before hard ones.
        seed: seeds shuffling, augmentation and negatives (initialisation is seeded where the net is built).
        device: where to train; defaults to the network's device.
        out_dir: where checkpoints and metrics go (nothing is written when ``None``).
        callbacks: extra :class:`Callback`s (the CSV/JSON loggers and the checkpoint are added when
            ``out_dir`` is given).
        progress: a line per epoch on stderr from :meth:`fit` (its ``verbose``), and a tqdm bar per epoch
            on the main process when stderr is a terminal.
        tensorboard: also log the metrics for TensorBoard under ``out_dir``.
        config: the full config recorded in checkpoints so ``ff eval`` and ``ff.load`` can rebuild the net.
        negatives_refresh: greedy: redraw the whole set's negatives every N epochs.
        layerwise_step: back-propagate and step each layer before the next layer's forward: memory flat in
            depth, same weights with per-parameter optimisers.
        compile: ``torch.compile`` every layer. ``autocast="bf16"``: bfloat16 training forwards.
        augment: ``(x, generator) -> x`` applied to every training batch.
        layer_windows: optional ``[start, end)`` epoch window per layer in which it learns.
        strategy: how a step is spread over processes (:mod:`.strategies`); one process by default.
    """

    #: :meth:`fit`'s ``eval_every``: epochs between scorings of its ``eval_data`` (0: none)
    eval_every: int = 1

    def __init__(
        self,
        net: FFNetwork,
        negatives: str | Negatives = TRAINER.negatives,
        optimizer: str = TRAINER.optimizer,
        lr: float = TRAINER.lr,
        weight_decay: float = TRAINER.weight_decay,
        optimizer_kwargs: dict[str, Any] | None = None,
        layer_lr: Sequence[float] | None = None,
        head_lr: float | None = None,
        head_weight_decay: float | None = None,
        decay_biases: bool = TRAINER.decay_biases,
        schedule: str = TRAINER.schedule,
        phases: str = TRAINER.phases,
        cooldown_start: float = TRAINER.cooldown_start,
        cooldown_every: str = TRAINER.cooldown_every,
        hard_source: str = TRAINER.hard_source,
        hard_warmup_epochs: int = TRAINER.hard_warmup_epochs,
        seed: int = TRAINER.seed,
        device: str | torch.device | None = None,
        out_dir: str | Path | None = None,
        callbacks: Sequence[Callback] | None = None,
        progress: bool = True,
        tensorboard: bool = False,
        config: dict[str, Any] | None = None,
        negatives_refresh: int = 1,
        layerwise_step: bool = False,
        compile: bool = False,
        autocast: str | None = None,
        augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
        layer_windows: Sequence[Sequence[int]] | None = None,
        strategy: SingleProcess | None = None,
    ) -> None:
        check_options(net, locals())
        self.negatives = _negatives_for(net, negatives)
        self.strategy = strategy or SingleProcess()
        self.device = torch.device(device) if device is not None else next(net.parameters()).device
        self.net = net.to(self.device)
        self.strategy.setup(self.net)
        self.hard_source = "goodness" if net.head is None else hard_source
        self.schedule, self.phases = schedule, phases
        self.hard_warmup_epochs = int(getattr(self.negatives, "warmup_epochs", 0)) or hard_warmup_epochs
        self.cooldown_start, self.cooldown_every = cooldown_start, cooldown_every
        self.layer_windows = [tuple(int(v) for v in w) for w in layer_windows] if layer_windows else None
        self.augment, self.autocast = augment, autocast
        self.config = config or {}
        self.negatives_refresh, self.layerwise_step = max(1, int(negatives_refresh)), bool(layerwise_step)
        if compile:
            for layer in net.layers:
                layer.compile()
        groups = network_groups(net, lr, weight_decay, layer_lr, head_lr, head_weight_decay, decay_biases)
        self.optimizer = build_optimizer(groups, optimizer, lr, weight_decay, **(optimizer_kwargs or {}))
        self.base_lrs = [g["lr"] for g in self.optimizer.param_groups]
        self.generator, self.seed = torch.Generator().manual_seed(seed), seed
        self._set_outputs(out_dir, callbacks, progress, tensorboard)
        # epochs completed (all schedule) / in the current layer phase (greedy); greedy: the layer trained
        self.epoch = self.phase = self.step_count = 0
        self.total_steps = self.total_epochs = 0  # set by fit(); 0 keeps the learning rate constant
        self.local_rows = 0  # rows this process computed in the current step (gradient weighting)
        self.history: list[dict[str, Any]] = []

    def _set_outputs(
        self,
        out_dir: str | Path | None,
        callbacks: Sequence[Callback] | None,
        progress: bool,
        tensorboard: bool,
    ) -> None:
        """Files, callbacks and progress bars: on the main process only; and the clock of the history's
        ``wall_seconds`` (``fit`` restarts it)."""
        self.earlier_wall, self._clock = 0.0, time.perf_counter()
        main = self.strategy.is_main
        self.out_dir = Path(out_dir) if out_dir is not None and main else None
        self.callbacks: list[Callback] = list(callbacks or []) if main else []
        if self.out_dir is not None:
            self.callbacks = default_callbacks(self.out_dir, tensorboard) + self.callbacks
        self.progress = progress and main

    # ------------------------------------------------------------------ public API
    def fit(
        self,
        train: Any,
        epochs: int = TRAINER.epochs,
        batch_size: int = TRAINER.batch_size,
        eval_data: Any = None,
        resume: str | Path | None = None,
        verbose: bool | None = None,
        eval_every: int = 1,
        eval_samples: int | None = None,
    ) -> list[dict[str, Any]]:
        """Train for ``epochs`` epochs (per layer, for the greedy schedule); returns per-epoch metrics.

        ``train`` and ``eval_data`` are an :class:`~forwardforward.data.ArrayDataset` (anything with ``.x``
        ``[N, ...]`` and ``.y`` ``[N]``), an ``(x, y)`` tuple of tensors or arrays, a
        ``torch.utils.data.Dataset`` of ``(x, y)`` items or a ``DataLoader`` of ``(x, y)`` batches: they are
        read into memory once (:func:`~forwardforward.data.convert.as_dataset`), because every epoch draws
        its own batches, negatives and augmentation from the whole set. ``batch_size`` is the number of
        examples per optimiser step. ``resume`` continues from a checkpoint (a file or a run folder).

        What a quick study sees and pays for:

        - ``verbose`` prints one line per epoch on stderr (:class:`~.callbacks.EpochLine`: each layer's
          loss, the held-out accuracy, the seconds), so a run in a notebook or a log is never silent;
          ``None`` (the default) follows the Trainer's ``progress``. The line is printed once even when
          the callbacks already hold an ``EpochLine``.
        - ``eval_every`` scores ``eval_data`` after every that many epochs and after the last one (0: never
          during training; the greedy schedule counts each layer's epochs), because scoring every label of
          a large test set can cost more than the epoch itself.
        - ``eval_samples`` scores a fixed random subset of that many samples of ``eval_data`` instead of
          all of it (drawn once from ``seed``, so every epoch is scored on the same samples).

        Raises:
            ValueError: ``epochs`` or ``batch_size`` below 1, ``eval_every`` below 0, ``eval_samples``
                below 1, or an empty training set.
            NonFiniteLossError: a loss became NaN or infinite.
        """
        if epochs < 1 or batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {epochs} and {batch_size}")
        if eval_every < 0:
            raise ValueError(f"eval_every is epochs between evaluations (0: none), >= 0; got {eval_every}")
        if eval_samples is not None and eval_samples < 1:
            raise ValueError(f"eval_samples is a count of held-out samples, >= 1 or None; got {eval_samples}")
        classes = getattr(self.net, "num_classes", None)
        train = as_dataset(train, classes, name="train")
        eval_data = None if eval_data is None else as_dataset(eval_data, classes, name="eval_data")
        if len(train.y) == 0:
            raise ValueError("the training set is empty")
        self.eval_every = eval_every
        if eval_data is not None and eval_samples is not None and eval_samples < len(eval_data.y):
            eval_data = eval_subset(eval_data, eval_samples, self.seed)
        if resume is not None:
            # RNG states must stay on the CPU; load_state_dict moves weights to the model's device.
            self.load_state(load_checkpoint(resume, map_location="cpu"))
        self.total_epochs, self.batch_size = epochs, batch_size
        # wall_seconds continues over a resume: the earlier sessions' elapsed time, then this one's clock
        last = self.history[-1] if self.history else {}
        self.earlier_wall = float(last.get("wall_seconds", last.get("train_seconds", 0.0)))
        self._clock = time.perf_counter()
        self.total_steps = epochs * -(-len(train.y) // batch_size)
        printing = (self.progress if verbose is None else verbose) and self.strategy.is_main
        line = EpochLine() if printing and not any(isinstance(c, EpochLine) for c in self.callbacks) else None
        if line is not None:
            self.callbacks.append(line)
        try:
            for cb in self.callbacks:
                cb.on_fit_start(self)
            eval_data = eval_data if self.strategy.is_main else None
            if self.schedule == "all":
                schedules.fit_all(self, train, epochs, batch_size, eval_data)
            else:
                schedules.fit_greedy(self, train, epochs, batch_size, eval_data)
            for cb in self.callbacks:
                cb.on_fit_end(self)
        finally:  # fit's own line, not a callback the caller gave: the next fit decides afresh
            if line is not None:
                self.callbacks.remove(line)
        return self.history

    def fit_stream(
        self,
        stream: Any,
        eval_data: Any = None,
        eval_every: int | None = None,
        buffer_size: int | None = None,
        **kwargs: Any,
    ) -> list[dict[str, Any]]:
        """Learn from one pass over ``stream``, an iterable of ``(x, y)`` batches, with bounded memory (at
        most ``buffer_size`` samples held), evaluating on ``eval_data`` every ``eval_every`` samples; see
        :func:`forwardforward.training.stream.fit_stream`, which ``kwargs`` go to."""
        from .stream import fit_stream

        return fit_stream(self, stream, eval_data, eval_every, buffer_size, **kwargs)

    def train_step(
        self, x: torch.Tensor, y: torch.Tensor | None, layers: Sequence[int] | None = None
    ) -> dict:
        """One optimiser step on a batch of raw samples ``x`` and their true labels ``y``; returns its
        statistics (``loss/i``, ``sep/i``, ``g_pos/i``, ``g_neg/i``, ``loss/head``).

        Every process of a data-parallel run is given the whole batch; each computes the layers on its own
        rows. Labels are never read by a network without a label embedding (unsupervised FF). Only the
        indices in ``layers`` (default all) learn.
        """
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16) if self.autocast else nullcontext()
        with autocast:
            return step(self, x, y, layers)

    def update(self, loss: torch.Tensor, module: Any = None, optimizer: Any = None) -> None:
        """The one optimiser step of the library: zero the gradients, back-propagate ``loss``, let the
        strategy synchronise the gradients (data parallel averages them), step.

        With ``module`` (the layer-wise step) the gradients are zeroed by the caller once per training
        step, and ``module``'s are dropped after its step so the next ``update`` leaves it alone.
        ``optimizer`` replaces the Trainer's own for this update (the greedy schedule's head).
        """
        apply_update(
            optimizer or self.optimizer,
            loss,
            zero=self.net if module is None else None,
            sync=lambda: self.strategy.before_step(self.net, self.local_rows),
            drop=module,
        )

    def negatives_now(self) -> Negatives:
        """The negatives of this epoch: random wrong labels while hard ones warm up."""
        if self.negatives.needs_scores and self.epoch < self.hard_warmup_epochs:
            return RandomLabel()
        return self.negatives

    # ------------------------------------------------------------------ helpers
    def batches(self, n: int, batch_size: int) -> list[torch.Tensor]:
        """A shuffled epoch of index batches of ``batch_size`` over ``n`` samples, drawn from the Trainer's
        generator (so the same on every process of a data-parallel run)."""
        return list(torch.randperm(n, generator=self.generator).split(batch_size))

    def set_lr(self) -> None:
        """Set every parameter group's learning rate for the coming step: its base rate times the
        cooldown factor of this step (or, with ``cooldown_every="epoch"``, of this epoch)."""
        if self.cooldown_every == "epoch":
            f = epoch_cooldown_factor(self.epoch + 1, self.total_epochs, self.cooldown_start)
        else:
            f = cooldown_factor(self.step_count, self.total_steps, self.cooldown_start)
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = base * f

    def check_finite(
        self, losses: Sequence[torch.Tensor], head_loss: torch.Tensor | None, layers: Sequence[int] | None
    ) -> None:
        """Stop with a message naming the layer, epoch and step when a loss is NaN or infinite.

        Args:
            losses: the layers' losses.
            head_loss: the head's loss, or ``None``.
            layers: the layer indices ``losses`` belong to (``None``: 0, 1, ...).

        Raises:
            NonFiniteLossError: one of them is NaN or infinite.
        """
        names = [f"layer {i}" for i in (layers if layers is not None else range(len(losses)))]
        items = list(zip(names, losses)) + ([("the linear head", head_loss)] if head_loss is not None else [])
        for name, loss in items:
            if not torch.isfinite(loss.detach()):
                where = f"epoch {self.epoch + 1}, step {self.step_count + 1}"
                if self.schedule == "greedy":
                    where = f"layer phase {self.phase}, " + where
                kept = self.out_dir is not None and (self.out_dir / "checkpoint.pt").exists()
                raise NonFiniteLossError(
                    f"the loss of {name} became {loss.item()} at {where}. Lower the learning rate "
                    f"(trainer.lr), check the data for NaN/inf, or use a bounded loss/goodness."
                    + (
                        f" The last good checkpoint is kept at {self.out_dir / 'checkpoint.pt'}."
                        if kept
                        else ""
                    )
                )

    def end_epoch(self, sums: dict[str, float], batches: int, seconds: float, eval_data: Any) -> None:
        """Record an epoch's mean statistics (and its evaluation), then tell the callbacks.

        ``sums`` are the epoch's per-step statistics summed over its ``batches`` steps; ``eval_data`` (or
        ``None``) is evaluated after the epoch.

        Three clocks, each named for what it counts: ``seconds`` is this epoch's training steps alone;
        ``train_seconds`` the training steps of every epoch so far (evaluation and checkpoints excluded, so
        runs compare by the cost of learning); ``wall_seconds`` the time elapsed since training started,
        evaluation and checkpoints included, over every session of a resumed run.
        """
        row: dict[str, Any] = {"epoch": self.epoch, "seconds": seconds}
        if self.schedule == "greedy":
            row["layer"] = self.phase
        row.update({k: v / batches for k, v in sums.items()})
        row["train_seconds"] = (self.history[-1]["train_seconds"] if self.history else 0.0) + seconds
        every = self.eval_every
        if eval_data is not None and every and (self.epoch % every == 0 or self.epoch == self.total_epochs):
            ev = self.net.evaluate(eval_data)
            row["eval/accuracy"] = ev["accuracy"]
            if "head_accuracy" in ev:
                row["eval/head_accuracy"] = ev["head_accuracy"]
            for i, a in enumerate(ev["layer_accuracy"]):
                row[f"eval/layer_accuracy/{i}"] = a
        row["wall_seconds"] = self.earlier_wall + time.perf_counter() - self._clock
        self.history.append(row)
        for cb in self.callbacks:
            cb.on_epoch_end(self, row)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly: weights, optimiser, counters, RNG states, history."""
        return {
            "format": FORMAT_VERSION,
            "config": self.config,
            # How to rebuild the network (FFNetwork.mlp's arguments, or the data's shape for the config):
            # what lets ``forwardforward.load`` return a ready network from a checkpoint alone.
            "network": getattr(self.net, "spec", None),
            # The modules of the user's own pieces it names, which loading imports first.
            "imports": recorded_imports(self.config, getattr(self.net, "spec", None)),
            "model": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "phase": self.phase,
            "step_count": self.step_count,
            "rng": {"generator": self.generator.get_state(), "torch": torch.get_rng_state()},
            "history": self.history,
            **({"negatives": negatives} if (negatives := self.negatives.state()) is not None else {}),
        }

    def load_state(self, ckpt: dict[str, Any]) -> None:
        """Take back a :meth:`state_dict` (a loaded checkpoint ``ckpt``): weights, optimiser, counters, RNG
        states (the global torch one too), history and the negatives' state."""
        self.net.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.epoch, self.phase, self.step_count = ckpt["epoch"], ckpt["phase"], ckpt["step_count"]
        self.generator.set_state(ckpt["rng"]["generator"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        self.history = [_migrate_row(r) for r in ckpt["history"]]
        self.negatives.restore(ckpt.get("negatives"))

    def save_checkpoint(self, path: str | Path) -> Path:
        """Write :meth:`state_dict` to ``path`` atomically; returns the path.

        Raises:
            ValueError: the network got a layer piece as an object (``goodness=MyGoodness()``), so
                ``forwardforward.load`` could not rebuild it: register the class and pass its name.
        """
        check_recordable(self.net, self.config)
        return save_atomic(self.state_dict(), path)


def eval_subset(data: Any, samples: int, seed: int) -> Any:
    """``samples`` of the held-out set ``data``, drawn once at random with ``seed``: a quick study's
    evaluation that costs a fraction of the whole set's and, being the same samples every epoch, still
    compares epoch with epoch."""
    order = torch.randperm(len(data.y), generator=torch.Generator().manual_seed(seed))
    picked = order[:samples].sort().values
    if hasattr(data, "subset"):
        return data.subset(picked)
    part = copy.copy(data)  # a held-out set of another kind (a text corpus's windows): the same, fewer rows
    part.x, part.y = data.x[picked.to(data.x.device)], data.y[picked.to(data.y.device)]
    return part


def _migrate_row(row: dict[str, Any]) -> dict[str, Any]:
    """A history row of a checkpoint written before the clocks were renamed: its ``wall`` (cumulative
    training seconds) is ``train_seconds`` now."""
    if "wall" in row and "train_seconds" not in row:
        row = {("train_seconds" if k == "wall" else k): v for k, v in row.items()}
    return row


__all__ = ["PHASES", "SCHEDULES", "NonFiniteLossError", "Trainer", "check_options"]
