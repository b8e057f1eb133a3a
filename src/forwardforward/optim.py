"""Optimisers that ``torch.optim`` does not have, registered by name next to its own (``trainer.optimizer``).

``smoothed_sgd`` is the update rule of Hinton's released FF code. It looks like SGD with momentum but
differs in two ways that change the numbers, which is why it is not spelled as ``SGD(dampening=...)``:

- the gradient is *averaged*, ``g <- delay * g + (1 - delay) * grad``, starting from ``g = 0`` (torch's SGD
  starts its buffer at the first gradient itself, undamped);
- the weight cost is applied *outside* that average, ``w <- w - lr * (g + weight_decay * w)`` (torch's
  ``weight_decay`` is added to the gradient before the buffer).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from .registry import Registry

OPTIMIZERS: Registry[torch.optim.Optimizer] = Registry("optimizer")


@OPTIMIZERS.register("smoothed_sgd")
class SmoothedSGD(torch.optim.Optimizer):
    """SGD on an exponential average of the gradients, with the weight cost outside the average.

    Args:
        params: parameters or parameter groups (each group may set its own ``lr``, ``delay``,
            ``weight_decay``).
        lr: step size.
        delay: the average's decay; Hinton's code uses 0.9 ("0.9 = 1 - 0.1").
        weight_decay: the weight cost, ``w <- w - lr * weight_decay * w`` every step.
    """

    def __init__(
        self, params: Iterable[Any], lr: float = 0.01, delay: float = 0.9, weight_decay: float = 0.0
    ) -> None:
        if lr <= 0:
            raise ValueError(f"smoothed_sgd needs lr > 0, got {lr}")
        if not 0.0 <= delay < 1.0:
            raise ValueError(f"smoothed_sgd needs delay in [0, 1), got {delay}")
        if weight_decay < 0:
            raise ValueError(f"smoothed_sgd needs weight_decay >= 0, got {weight_decay}")
        super().__init__(params, {"lr": lr, "delay": delay, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        """One update of every parameter that has a gradient.

        Args:
            closure: optional, re-evaluates the model and returns the loss (the ``torch.optim`` protocol);
                called with gradients enabled before the update.

        Returns:
            The closure's loss, or ``None`` without one.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, delay, decay = group["lr"], group["delay"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "average" not in state:
                    state["average"] = torch.zeros_like(p)
                average = state["average"]
                average.mul_(delay).add_(p.grad, alpha=1.0 - delay)
                if decay:
                    p.mul_(1.0 - lr * decay)
                p.sub_(average, alpha=lr)
        return loss


def optimizer_class(name: str) -> type[torch.optim.Optimizer] | None:
    """Ours by registered name, else a ``torch.optim`` class by case-insensitive name, else ``None``."""
    if name in OPTIMIZERS:
        return OPTIMIZERS.get(name)  # type: ignore[return-value]
    return torch_optimizers().get(name.lower())


def torch_optimizers() -> dict[str, type[torch.optim.Optimizer]]:
    """Every ``torch.optim`` optimiser class by lower-case name."""
    return {
        n.lower(): getattr(torch.optim, n)
        for n in dir(torch.optim)
        if isinstance(getattr(torch.optim, n), type)
        and issubclass(getattr(torch.optim, n), torch.optim.Optimizer)
        and n != "Optimizer"
    }


__all__ = ["OPTIMIZERS", "SmoothedSGD", "optimizer_class", "torch_optimizers"]
