"""The optimiser and its learning-rate schedule: any optimiser by name, parameter groups per layer (and
for biases and the head), Hinton's constant-then-linear cooldown per step or per epoch."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..optim import OPTIMIZERS, optimizer_class, torch_optimizers
from ..registry import suggest

COOLDOWN_EVERY = ("step", "epoch")


def build_optimizer(
    params: list[dict[str, Any]], name: str, lr: float, weight_decay: float, **kwargs: Any
) -> torch.optim.Optimizer:
    """An optimiser by ``name``: any ``torch.optim`` class (case-insensitive: ``"adam"``, ``"SGD"``,
    ``"AdamW"``) or one of ours (:mod:`forwardforward.optim`, e.g. ``"smoothed_sgd"``), over ``params``
    (parameter groups, which may set their own rates), with the defaults ``lr`` and ``weight_decay``.
    ``kwargs`` go to it; an argument it does not take is an error naming the ones it does."""
    cls = optimizer_class(name)
    if cls is None:
        valid = sorted([*torch_optimizers(), *OPTIMIZERS.names()])
        raise ValueError(
            f"unknown optimizer {name!r}; valid: {', '.join(valid)}.{suggest(name.lower(), valid)}"
        )
    accepted = accepted_arguments(cls)
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise ValueError(
            f"optimizer {name!r} takes no argument {', '.join(map(repr, unknown))} "
            f"(trainer.optimizer_kwargs); it takes: {', '.join(sorted(accepted))}"
        )
    return cls(params, lr=lr, weight_decay=weight_decay, **kwargs)


def accepted_arguments(cls: type[torch.optim.Optimizer]) -> set[str]:
    """The keyword arguments the optimiser class ``cls`` takes besides its parameters."""
    return set(inspect.signature(cls).parameters) - {"self", "params"}


def param_groups(
    params: list[nn.Parameter], name: str, lr: float, weight_decay: float, decay_biases: bool
) -> list[dict[str, Any]]:
    """The optimiser groups of ``params``, labelled ``name``, at learning rate ``lr``: one group, or, when
    biases are not decayed (``decay_biases=False`` with a nonzero ``weight_decay``), one for the weights
    (2-D and up) and one for the biases and other 1-D parameters with ``weight_decay`` 0."""
    if decay_biases or not weight_decay:
        return [{"params": params, "lr": lr, "weight_decay": weight_decay, "name": name}]
    weights = [p for p in params if p.dim() > 1]
    rest = [p for p in params if p.dim() <= 1]
    groups = [
        {"params": weights, "lr": lr, "weight_decay": weight_decay, "name": name},
        {"params": rest, "lr": lr, "weight_decay": 0.0, "name": f"{name}.biases"},
    ]
    return [g for g in groups if g["params"]]


def network_groups(
    net: Any,
    lr: float,
    weight_decay: float,
    layer_lr: Sequence[float] | None = None,
    head_lr: float | None = None,
    head_weight_decay: float | None = None,
    decay_biases: bool = True,
) -> list[dict[str, Any]]:
    """The parameter groups of the FF network ``net``: one (or two) per layer, a learned label embedding
    with the first layer, then the linear head's.

    Args:
        net: the network.
        lr: every layer's learning rate, unless ``layer_lr`` is given.
        weight_decay: every layer's weight decay.
        layer_lr: one learning rate per layer.
        head_lr: the head's learning rate (default ``lr``).
        head_weight_decay: the head's weight decay (default ``weight_decay``).
        decay_biases: ``False`` puts biases and other 1-D parameters in groups without weight decay.
    """
    layer_params = [list(layer.parameters()) for layer in net.layers]
    if getattr(net, "labels", None) is not None:  # a learned label embedding learns with layer 0
        layer_params[0] += [p for p in net.labels.parameters() if p.requires_grad]
    groups = [
        group
        for i, params in enumerate(layer_params)
        for group in param_groups(
            params, f"layer{i}", layer_lr[i] if layer_lr else lr, weight_decay, decay_biases
        )
    ]
    if net.head is not None:
        head_decay = weight_decay if head_weight_decay is None else head_weight_decay
        groups += param_groups(list(net.head.parameters()), "head", head_lr or lr, head_decay, decay_biases)
    return groups


def cooldown_factor(step: int, total: int, cooldown_start: float) -> float:
    """Hinton's schedule: the learning-rate factor at step ``step`` of ``total``: 1 until
    ``cooldown_start`` (a fraction of training), then linear to 0. ``total`` 0 (unknown) keeps it at 1."""
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


__all__ = [
    "COOLDOWN_EVERY",
    "accepted_arguments",
    "build_optimizer",
    "cooldown_factor",
    "epoch_cooldown_factor",
    "network_groups",
    "param_groups",
]
