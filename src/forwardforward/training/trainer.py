"""Trainer: the schedule around an FFNetwork.

Two schedules:
- ``"all"``: every layer learns on every batch. The layers' local losses (plus the head's) are summed and
  back-propagated once; since each layer's input is detached, every layer gets exactly its local gradient.
- ``"greedy"``: one layer at a time, each for ``epochs`` epochs, fed by cached outputs of the frozen layers
  below it (computed once, not once per batch); then the linear head on the frozen features.

The Trainer owns the optimiser (any ``torch.optim`` class by name, per-layer settings), the learning-rate
schedule (Hinton's constant-then-linear-cooldown), seeding, logging callbacks, atomic checkpoints, resume
and the NaN guard.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..negatives.labels import LabelNegatives, RandomLabel, build_negatives
from ..network import FFNetwork
from ..optim import OPTIMIZERS, optimizer_class, torch_optimizers
from ..registry import suggest
from .callbacks import Callback, default_callbacks
from .checkpoint import FORMAT_VERSION, load_checkpoint, save_atomic


class NonFiniteLossError(RuntimeError):
    """Raised when a loss becomes NaN or infinite; training stops instead of learning garbage."""


SCHEDULES = ("all", "greedy")


def build_optimizer(
    params: list[dict[str, Any]], name: str, lr: float, weight_decay: float, **kwargs: Any
) -> torch.optim.Optimizer:
    """An optimiser by name: any ``torch.optim`` class (case-insensitive: ``"adam"``, ``"SGD"``,
    ``"AdamW"``) or one of ours (:mod:`forwardforward.optim`, e.g. ``"smoothed_sgd"``). ``kwargs`` go to it;
    an argument it does not take is an error naming the ones it does."""
    cls = optimizer_class(name)
    if cls is None:
        valid = sorted([*torch_optimizers(), *OPTIMIZERS.names()])
        raise ValueError(
            f"unknown optimizer {name!r}; valid: {', '.join(valid)}.{suggest(name.lower(), valid)}"
        )
    accepted = set(inspect.signature(cls).parameters) - {"self", "params"}
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise ValueError(
            f"optimizer {name!r} takes no argument {', '.join(map(repr, unknown))} "
            f"(trainer.optimizer_kwargs); it takes: {', '.join(sorted(accepted))}"
        )
    return cls(params, lr=lr, weight_decay=weight_decay, **kwargs)


COOLDOWN_EVERY = ("step", "epoch")


def cooldown_factor(step: int, total: int, cooldown_start: float) -> float:
    """Hinton's schedule: constant until ``cooldown_start`` (a fraction of training), then linear to 0."""
    start = cooldown_start * total
    if step < start or total <= start:
        return 1.0
    return max(0.0, (total - step) / (total - start))


def epoch_cooldown_factor(epoch: int, epochs: int, cooldown_start: float) -> float:
    """The same line, changed once per epoch: epoch ``epoch`` (1-based) runs at the line's value at its
    middle, ``(epochs - epoch + 0.5) / ((1 - cooldown_start) * epochs)`` once past ``cooldown_start``.

    With ``cooldown_start = 0.5`` that is Hinton's released code exactly: full rate for epochs up to half
    of ``epochs``, then ``(1 + 2 (epochs - epoch)) / epochs``, ending at ``1 / epochs``, not 0.
    """
    if epochs <= 0 or epoch <= cooldown_start * epochs or cooldown_start >= 1.0:
        return 1.0
    return (epochs - epoch + 0.5) / ((1.0 - cooldown_start) * epochs)


class Trainer:
    """Trains an :class:`FFNetwork`.

    Args:
        net: the network.
        negatives: a sampler of wrong labels (``"hard"``, ``"random"`` or an instance).
        optimizer: a ``torch.optim`` class name; ``optimizer_kwargs`` go to it (e.g. ``momentum``).
        lr, weight_decay: defaults for every layer.
        decay_biases: apply ``weight_decay`` to biases (and other 1-D parameters) too; Hinton's code
            decays weights only.
        layer_lr: optional per-layer learning rates (one per layer) overriding ``lr``.
        head_lr: learning rate of the linear head (default ``lr``).
        head_weight_decay: weight decay of the linear head (default ``weight_decay``).
        schedule: ``"all"`` or ``"greedy"``.
        cooldown_start: fraction of training after which the learning rate decays linearly to 0;
            1.0 keeps it constant.
        cooldown_every: ``"step"`` (the rate falls a little every step) or ``"epoch"`` (it changes once
            per epoch, as in Hinton's code: see :func:`epoch_cooldown_factor`).
        hard_source: where hard negatives' scores come from: ``"head"`` (the linear head on a neutral-label
            pass: one extra forward, Hinton's choice) or ``"goodness"`` (all-label goodness: C passes).
        seed: seeds shuffling and negative sampling (initialisation is seeded where the net is built).
        device: where to train; defaults to the network's device.
        out_dir: where checkpoints and metrics go (nothing is written when ``None``).
        callbacks: extra :class:`Callback`s (progress bar, CSV/JSON and TensorBoard loggers are added when
            ``out_dir`` is given).
        config: the full config recorded in checkpoints so ``ff eval`` can rebuild the network.
        layerwise_step: back-propagate and step each layer before the next layer's forward, so at most one
            layer's activations are alive: training memory stays flat in depth. Same weights as the default
            one-backward path with per-parameter optimisers (SGD, Adam...); a NaN loss found deep in the
            stack then stops training after the layers below it have stepped.
        compile: ``torch.compile`` every layer (in place: checkpoints keep their keys).
        autocast: ``"bf16"`` runs the training forward passes under bfloat16 autocast; ``None`` is fp32.
        augment: a callable ``(x, generator) -> x`` applied to every training batch (``"all"`` schedule),
            drawing from the Trainer's seeded generator (see :mod:`forwardforward.augment`).
        layer_windows: optional ``[start, end)`` epoch window per layer (``"all"`` schedule): layer ``i``
            learns only in epochs ``start <= epoch < end`` (0-based), for staggered / interleaved training.
    """

    def __init__(
        self,
        net: FFNetwork,
        negatives: str | LabelNegatives = "hard",
        optimizer: str = "adam",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        optimizer_kwargs: dict[str, Any] | None = None,
        layer_lr: Sequence[float] | None = None,
        head_lr: float | None = None,
        schedule: str = "all",
        cooldown_start: float = 1.0,
        cooldown_every: str = "step",
        decay_biases: bool = True,
        head_weight_decay: float | None = None,
        hard_source: str = "head",
        hard_warmup_epochs: int = 0,
        seed: int = 0,
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
    ) -> None:
        if schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {schedule!r}; valid: {', '.join(SCHEDULES)}")
        if hard_source not in ("head", "goodness"):
            raise ValueError(f"hard_source must be 'head' or 'goodness', got {hard_source!r}")
        if hard_source == "head" and net.head is None and isinstance(negatives, str) and negatives == "hard":
            hard_source = "goodness"
        if layer_lr is not None and len(layer_lr) != len(net.layers):
            raise ValueError(
                f"layer_lr needs one learning rate per layer ({len(net.layers)}), got {len(layer_lr)}"
            )
        if schedule == "greedy" and not getattr(net, "needs_negatives", True):
            raise ValueError(
                "channel-wise competition trains with the 'all' schedule; "
                "for staggered layers use layer_windows"
            )
        if layer_windows is not None and (
            len(layer_windows) != len(net.layers) or any(len(w) != 2 or w[0] >= w[1] for w in layer_windows)
        ):
            raise ValueError(
                f"layer_windows needs one [start, end) epoch pair with start < end per layer "
                f"({len(net.layers)}), got {[list(w) for w in layer_windows]}"
            )
        self.layer_windows = [tuple(int(v) for v in w) for w in layer_windows] if layer_windows else None
        self.augment = augment
        if not 0.0 <= cooldown_start <= 1.0:
            raise ValueError(f"cooldown_start is a fraction of training in [0, 1], got {cooldown_start}")
        if cooldown_every not in COOLDOWN_EVERY:
            raise ValueError(f"cooldown_every must be one of {COOLDOWN_EVERY}, got {cooldown_every!r}")
        self.cooldown_every = cooldown_every
        self.device = torch.device(device) if device is not None else next(net.parameters()).device
        self.net = net.to(self.device)
        self.sampler = build_negatives(negatives)
        self.hard_warmup_epochs = int(getattr(self.sampler, "warmup_epochs", 0)) or hard_warmup_epochs
        self.hard_source = hard_source
        self.schedule = schedule
        self.cooldown_start = cooldown_start
        self.config = config or {}
        self.negatives_refresh = max(1, int(negatives_refresh))
        self.layerwise_step = bool(layerwise_step)
        if autocast not in (None, "bf16"):
            raise ValueError(f"autocast must be None or 'bf16', got {autocast!r}")
        self.autocast = autocast
        if compile:
            for layer in net.layers:
                layer.compile()

        layer_params = [list(layer.parameters()) for layer in net.layers]
        if getattr(net, "labels", None) is not None:  # a learned label embedding learns with layer 0
            layer_params[0] += [p for p in net.labels.parameters() if p.requires_grad]
        groups = [
            group
            for i, params in enumerate(layer_params)
            for group in _param_groups(
                params, f"layer{i}", layer_lr[i] if layer_lr else lr, weight_decay, decay_biases
            )
        ]
        if net.head is not None:
            head_decay = weight_decay if head_weight_decay is None else head_weight_decay
            head_params = list(net.head.parameters())
            groups += _param_groups(head_params, "head", head_lr or lr, head_decay, decay_biases)
        self.optimizer = build_optimizer(groups, optimizer, lr, weight_decay, **(optimizer_kwargs or {}))
        self.base_lrs = [g["lr"] for g in self.optimizer.param_groups]

        self.generator = torch.Generator().manual_seed(seed)
        self.seed = seed
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.callbacks: list[Callback] = list(callbacks or [])
        if self.out_dir is not None:
            self.callbacks = default_callbacks(self.out_dir, tensorboard) + self.callbacks
        self.progress = progress
        self.epoch = 0  # epochs completed (all schedule) / in the current layer phase (greedy)
        self.phase = 0  # greedy: the layer being trained
        self.step_count = 0
        self.total_steps = 0  # set by fit(); 0 keeps the learning rate constant
        self.total_epochs = 0  # likewise, for cooldown_every="epoch"
        self.history: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ public API
    def fit(
        self,
        train: Any,
        epochs: int,
        batch_size: int = 256,
        eval_data: Any = None,
        resume: str | Path | None = None,
    ) -> list[dict[str, Any]]:
        """Train for ``epochs`` epochs (per layer, for the greedy schedule); returns per-epoch metrics.

        ``train`` and ``eval_data`` have ``.x`` (``[N, ...]``) and ``.y`` (``[N]``), e.g. an
        :class:`~forwardforward.data.ArrayDataset`. ``resume`` continues from a checkpoint.
        """
        if epochs < 1 or batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {epochs} and {batch_size}")
        if len(train.y) == 0:
            raise ValueError("the training set is empty")
        if resume is not None:
            # RNG states must stay on the CPU; load_state_dict moves weights to the model's device.
            self.load_state(load_checkpoint(resume, map_location="cpu"))
        self.total_epochs, self.batch_size = epochs, batch_size
        steps_per_epoch = math.ceil(len(train.y) / batch_size)
        self.total_steps = epochs * steps_per_epoch
        for cb in self.callbacks:
            cb.on_fit_start(self)
        if self.schedule == "all":
            self._fit_all(train, epochs, batch_size, eval_data)
        else:
            self._fit_greedy(train, epochs, batch_size, eval_data)
        for cb in self.callbacks:
            cb.on_fit_end(self)
        return self.history

    def fit_stream(
        self,
        stream: Any,
        eval_data: Any = None,
        eval_every: int | None = None,
        buffer_size: int | None = None,
        **kwargs: Any,
    ) -> list[dict[str, Any]]:
        """Learn from one pass over an iterable of ``(x, y)`` batches with bounded memory, evaluating every
        ``eval_every`` samples; see :func:`forwardforward.stream.fit_stream` (which takes ``kwargs``)."""
        from .stream import fit_stream

        return fit_stream(self, stream, eval_data, eval_every, buffer_size, **kwargs)

    # ------------------------------------------------------------------ schedules
    def _fit_all(self, train: Any, epochs: int, batch_size: int, eval_data: Any) -> None:
        while self.epoch < epochs:
            t0 = time.perf_counter()
            sums: dict[str, float] = {}
            batches = self._batches(len(train.y), batch_size)
            bar = self._bar(len(batches), f"epoch {self.epoch + 1}/{epochs}")
            active = self._active_layers(epochs)
            for idx in batches:
                x = train.x[idx].to(self.device, non_blocking=True)
                y = train.y[idx].to(self.device, non_blocking=True)
                if self.augment is not None:
                    x = self.augment(x, self.generator)
                row = self.train_step(x, y, active)
                _accumulate(sums, row)
                _tick(bar, row)
            if bar is not None:
                bar.close()
            self.epoch += 1
            self._end_epoch(sums, len(batches), time.perf_counter() - t0, eval_data)

    def _active_layers(self, epochs: int) -> list[int] | None:
        """The layers whose window holds this epoch (``None``: all of them)."""
        if self.layer_windows is None:
            return None
        active = [i for i, (a, b) in enumerate(self.layer_windows) if a <= self.epoch < b]
        if not active:
            raise ValueError(
                f"layer_windows {self.layer_windows} leave epoch {self.epoch} (0-based) of {epochs} "
                "with no layer to train; make the windows cover every epoch"
            )
        return None if len(active) == len(self.layer_windows) else active

    def train_step(self, x: torch.Tensor, y: torch.Tensor, layers: Sequence[int] | None = None) -> dict:
        """One optimiser step on a batch of raw samples and true labels; returns its statistics."""
        if self.autocast is None:
            return self._train_step(x, y, layers)
        with torch.autocast(self.device.type, dtype=torch.bfloat16):
            return self._train_step(x, y, layers)

    def _train_step(self, x: torch.Tensor, y: torch.Tensor, layers: Sequence[int] | None) -> dict:
        net = self.net
        self._set_lr()
        head_loss = None
        scores = None
        # With no label in the input (channel-wise competition) the head's features are the positives'
        # activities: they are read from the local-loss pass below instead of a second forward.
        capture: dict[int, torch.Tensor] | None = None
        one_pass_head = net.head is not None and net.labels is None and not net.needs_negatives
        if one_pass_head and not self.layerwise_step:
            capture = dict.fromkeys(net.head_layers, torch.empty(0))
        elif net.head is not None:
            with torch.no_grad():
                feats = net.features(x)
            logits = net.head(feats)
            head_loss = F.cross_entropy(logits, y)
            if self.hard_source == "head":
                scores = logits.detach()
        y_true = None
        if getattr(net, "needs_negatives", True):
            y_neg = self._sample_negatives(y, lambda: scores if scores is not None else net.scores(x))
            x_pos, x_neg = net.embed(x, y), net.embed(x, y_neg)
        else:  # channel-wise competition: the labels pick each layer's true group; no negative data
            x_pos, y_true = net.embed(x, y), y
            x_neg = x_pos[:0]
        if self.layerwise_step:
            stats = self._layerwise_step(x_pos, x_neg, head_loss, layers, y_true)
            return self._step_row(stats, head_loss, layers)
        losses, stats = net.local_losses(x_pos, x_neg, layers, y=y_true, capture=capture)
        if capture is not None:
            assert net.head is not None
            if any(v.numel() == 0 for v in capture.values()):  # a staggered window left a head layer out
                with torch.no_grad():
                    feats = net.features(x)
            else:
                feats = torch.cat([capture[i] for i in net.head_layers], 1)
            head_loss = F.cross_entropy(net.head(feats), y)
        total = torch.stack(losses).sum()
        if head_loss is not None:
            total = total + head_loss
        self._check_finite(losses, head_loss, layers)
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self._before_step()
        self.optimizer.step()
        return self._step_row(stats, head_loss, layers)

    def _layerwise_step(
        self,
        x_pos: torch.Tensor,
        x_neg: torch.Tensor,
        head_loss: torch.Tensor | None,
        layers: Sequence[int] | None,
        y: torch.Tensor | None = None,
    ) -> list[Any]:
        """Backward and step the head, then each layer in turn before the next one's forward.

        Only the parameters that were just given a gradient step: ``torch.optim`` skips parameters whose
        ``.grad`` is ``None``, and each layer's gradients are set to ``None`` again right after its step.
        """
        self.optimizer.zero_grad(set_to_none=True)
        if head_loss is not None:
            self._check_finite([], head_loss, [])
            self._step_only(head_loss, self.net.head)
        stats = []
        for i, loss, st in self.net.iter_local_losses(x_pos, x_neg, layers, y=y):
            self._check_finite([loss], None, [i])
            self._step_only(loss, self.net.layers[i])
            stats.append(st)
        return stats

    def _step_only(self, loss: torch.Tensor, module: Any) -> None:
        loss.backward()
        self._before_step()
        self.optimizer.step()
        for p in module.parameters():
            p.grad = None

    def _before_step(self) -> None:
        """Called between backward and the optimiser step; data-parallel training averages gradients."""

    def _step_row(
        self, stats: Sequence[Any], head_loss: torch.Tensor | None, layers: Sequence[int] | None
    ) -> dict[str, float]:
        net = self.net
        self.step_count += 1
        row: dict[str, float] = {}
        for i, st in zip(layers if layers is not None else range(len(net.layers)), stats):
            row[f"loss/{i}"] = st.loss
            row[f"sep/{i}"] = st.separation
            row[f"g_pos/{i}"] = st.g_pos
            row[f"g_neg/{i}"] = st.g_neg
        if head_loss is not None:
            row["loss/head"] = float(head_loss.detach())
        return row

    def _fit_greedy(self, train: Any, epochs: int, batch_size: int, eval_data: Any) -> None:
        net = self.net
        n = len(train.y)
        while self.phase < len(net.layers):
            k = self.phase
            pos_in = self._frozen_inputs(train, k, train.y)
            neg_in = None
            while self.epoch < epochs:
                t0 = time.perf_counter()
                if neg_in is None or self.epoch % self.negatives_refresh == 0:
                    y_neg = self._greedy_negatives(train, k, self.epoch // self.negatives_refresh)
                    neg_in = self._frozen_inputs(train, k, y_neg)
                sums: dict[str, float] = {}
                batches = self._batches(n, batch_size)
                bar = self._bar(len(batches), f"layer {k} epoch {self.epoch + 1}/{epochs}")
                layer = net.layers[k]
                for idx in batches:
                    self._set_lr()
                    xp, xn = pos_in[idx].to(self.device), neg_in[idx].to(self.device)
                    h = layer(torch.cat([xp, xn]))
                    loss, st = layer.local_loss(h[: len(idx)], h[len(idx) :])
                    self._check_finite([loss], None, [k])
                    self.optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    self.optimizer.step()
                    self.step_count += 1
                    row = {
                        f"loss/{k}": st.loss,
                        f"sep/{k}": st.separation,
                        f"g_pos/{k}": st.g_pos,
                        f"g_neg/{k}": st.g_neg,
                    }
                    _accumulate(sums, row)
                    _tick(bar, row)
                if bar is not None:
                    bar.close()
                self.epoch += 1
                if k == len(net.layers) - 1 and self.epoch == epochs and net.head is not None:
                    _accumulate(sums, {"loss/head": self._fit_head(train, epochs, batch_size) * len(batches)})
                self._end_epoch(sums, len(batches), time.perf_counter() - t0, eval_data)
            self.phase += 1
            if self.phase < len(net.layers):
                self.epoch = 0
                self.step_count = 0

    @torch.no_grad()
    def _frozen_inputs(self, data: Any, k: int, labels: torch.Tensor) -> torch.Tensor:
        """Layer k's input for every sample carrying ``labels``, through the frozen layers below it."""
        out = []
        for s in range(0, len(labels), 2048):
            x = self.net.embed(data.x[s : s + 2048].to(self.device), labels[s : s + 2048].to(self.device))
            for i, layer in enumerate(self.net.layers[:k]):
                x = self.net.hand_over(i, layer(x))
            out.append(x)
        return torch.cat(out)

    def _greedy_negatives(self, data: Any, k: int, block: int) -> torch.Tensor:
        """Wrong labels for the whole set; hard ones are scored by the frozen layers below k.

        Drawn from a generator seeded by (seed, layer, refresh block), so a resumed run redraws exactly
        the negatives an uninterrupted run is using, without storing them in the checkpoint.
        """
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + k * 10_007 + block)

        def scores() -> torch.Tensor:
            parts = []
            for s in range(0, len(data.y), 2048):
                g = self.net.label_goodness(data.x[s : s + 2048].to(self.device))
                parts.append(g[:, :, :k].sum(2))
            return torch.cat(parts)

        if k == 0:
            return self.sampler_random(data.y, gen)
        return self._sample_negatives(data.y.to(self.device), scores, gen)

    @torch.no_grad()
    def _features_all(self, data: Any) -> torch.Tensor:
        return torch.cat(
            [self.net.features(data.x[s : s + 2048].to(self.device)) for s in range(0, len(data.y), 2048)]
        )

    def _fit_head(self, train: Any, epochs: int, batch_size: int) -> float:
        """Greedy schedule: train the linear head on frozen features; returns its last epoch's mean loss."""
        assert self.net.head is not None
        feats = self._features_all(train)
        y = train.y.to(self.device)
        opt = torch.optim.Adam(self.net.head.parameters(), lr=self.base_lrs[-1])
        mean = 0.0
        for _ in range(epochs):
            total, batches = 0.0, self._batches(len(y), batch_size)
            for idx in batches:
                loss = F.cross_entropy(self.net.head(feats[idx]), y[idx])
                self._check_finite([], loss, [])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item()
            mean = total / len(batches)
        return mean

    # ------------------------------------------------------------------ helpers
    def sampler_random(self, y: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return RandomLabel()(y, self.net.num_classes, None, generator or self.generator)

    def _sample_negatives(
        self, y: torch.Tensor, scores: Callable[[], torch.Tensor], generator: torch.Generator | None = None
    ) -> torch.Tensor:
        c = self.net.num_classes
        if c is None:
            raise ValueError("label negatives need a supervised network with num_classes")
        gen = generator or self.generator
        if not self.sampler.needs_scores:
            return self.sampler(y, c, None, gen)
        if self.epoch < self.hard_warmup_epochs:
            return self.sampler_random(y, gen)
        return self.sampler(y, c, scores(), gen)

    def _batches(self, n: int, batch_size: int) -> list[torch.Tensor]:
        return list(torch.randperm(n, generator=self.generator).split(batch_size))

    def _set_lr(self) -> None:
        if self.cooldown_every == "epoch":
            f = epoch_cooldown_factor(self.epoch + 1, self.total_epochs, self.cooldown_start)
        else:
            f = cooldown_factor(self.step_count, self.total_steps, self.cooldown_start)
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = base * f

    def _check_finite(
        self, losses: Sequence[torch.Tensor], head_loss: torch.Tensor | None, layers: Sequence[int] | None
    ) -> None:
        names = [f"layer {i}" for i in (layers if layers is not None else range(len(losses)))]
        items = list(zip(names, losses))
        if head_loss is not None:
            items.append(("the linear head", head_loss))
        for name, loss in items:
            if not torch.isfinite(loss.detach()):
                where = f"epoch {self.epoch + 1}, step {self.step_count + 1}"
                if self.schedule == "greedy":
                    where = f"layer phase {self.phase}, " + where
                kept = (
                    f" The last good checkpoint is kept at {self.out_dir / 'checkpoint.pt'}."
                    if self.out_dir is not None and (self.out_dir / "checkpoint.pt").exists()
                    else ""
                )
                raise NonFiniteLossError(
                    f"the loss of {name} became {loss.item()} at {where}. "
                    f"Lower the learning rate (trainer.lr), check the data for NaN/inf, or use a bounded "
                    f"loss/goodness.{kept}"
                )

    def _bar(self, total: int, desc: str) -> Any:
        if not self.progress:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True)

    def _end_epoch(self, sums: dict[str, float], batches: int, seconds: float, eval_data: Any) -> None:
        row: dict[str, Any] = {"epoch": self.epoch, "seconds": seconds}
        if self.schedule == "greedy":
            row["layer"] = self.phase
        row.update({k: v / batches for k, v in sums.items()})
        row["wall"] = (self.history[-1]["wall"] if self.history else 0.0) + seconds
        if eval_data is not None:
            ev = self.net.evaluate(eval_data)
            row["eval/accuracy"] = ev["accuracy"]
            if "head_accuracy" in ev:
                row["eval/head_accuracy"] = ev["head_accuracy"]
            for i, a in enumerate(ev["layer_accuracy"]):
                row[f"eval/layer_accuracy/{i}"] = a
        self.history.append(row)
        for cb in self.callbacks:
            cb.on_epoch_end(self, row)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly: weights, optimiser, counters, RNG states, history."""
        return {
            "format": FORMAT_VERSION,
            "config": self.config,
            "model": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "phase": self.phase,
            "step_count": self.step_count,
            "rng": {"generator": self.generator.get_state(), "torch": torch.get_rng_state()},
            "history": self.history,
        }

    def load_state(self, ckpt: dict[str, Any]) -> None:
        self.net.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.epoch, self.phase, self.step_count = ckpt["epoch"], ckpt["phase"], ckpt["step_count"]
        self.generator.set_state(ckpt["rng"]["generator"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        self.history = list(ckpt["history"])

    def save_checkpoint(self, path: str | Path) -> Path:
        return save_atomic(self.state_dict(), path)


def _param_groups(
    params: list[torch.nn.Parameter], name: str, lr: float, weight_decay: float, decay_biases: bool
) -> list[dict[str, Any]]:
    """One optimiser group, or, when biases are not decayed, one for the weights (2-D and up) and one
    for the biases and other 1-D parameters with ``weight_decay`` 0."""
    if decay_biases or not weight_decay:
        return [{"params": params, "lr": lr, "weight_decay": weight_decay, "name": name}]
    weights = [p for p in params if p.dim() > 1]
    rest = [p for p in params if p.dim() <= 1]
    groups = [
        {"params": weights, "lr": lr, "weight_decay": weight_decay, "name": name},
        {"params": rest, "lr": lr, "weight_decay": 0.0, "name": f"{name}.biases"},
    ]
    return [g for g in groups if g["params"]]


def _accumulate(sums: dict[str, float], row: dict[str, float]) -> None:
    for k, v in row.items():
        sums[k] = sums.get(k, 0.0) + v


def _tick(bar: Any, row: dict[str, float]) -> None:
    """Advance a progress bar (``None`` when progress is off) showing per-layer loss/separation."""
    if bar is not None:
        bar.set_postfix_str(_postfix(row), refresh=False)
        bar.update()


def _postfix(row: dict[str, float]) -> str:
    layers = sorted({k.split("/")[1] for k in row if k.startswith("loss/") and k != "loss/head"})
    return " ".join(f"L{i}:{row[f'loss/{i}']:.3f}/{row[f'sep/{i}']:.2f}" for i in layers)


__all__ = [
    "COOLDOWN_EVERY",
    "SCHEDULES",
    "NonFiniteLossError",
    "Trainer",
    "build_optimizer",
    "cooldown_factor",
    "epoch_cooldown_factor",
]
