"""The one optimiser update of the library: zero the gradients, back-propagate, synchronise, step.

Every training loop calls it: the Trainer's step for every schedule, variant and the linear head, the
layer pipeline's stages, the linear probe and the backprop twins. So the hook between backward and step,
where data parallel training averages gradients, can never be forgotten by one of them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def apply_update(
    optimizer: torch.optim.Optimizer,
    loss: torch.Tensor,
    zero: nn.Module | torch.optim.Optimizer | None,
    sync: Callable[[], None] | None = None,
    drop: nn.Module | None = None,
) -> None:
    """``zero.zero_grad()`` (unless the caller zeroed already), ``loss.backward()``, ``sync()`` (e.g. average
    the gradients across processes), ``optimizer.step()``; then ``drop``'s gradients are set to ``None`` so
    the next update of the same optimiser leaves those parameters alone (the layer-wise step)."""
    if zero is not None:
        zero.zero_grad(set_to_none=True)
    loss.backward()
    if sync is not None:
        sync()
    optimizer.step()
    if drop is not None:
        for p in drop.parameters():
            p.grad = None


__all__ = ["apply_update"]
