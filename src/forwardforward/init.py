"""Weight initialisations, registered by name (``model.init``).

Where a network starts matters more in FF than in backprop: with sum-of-squares goodness and a threshold
equal to the width, the first steps decide which units ever turn on. ``torch`` keeps PyTorch's own
initialisation (Kaiming-uniform weights, small uniform biases: what every config used before this choice
existed); ``hinton`` is the one in Hinton's released code.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .registry import Registry

INITS: Registry[None] = Registry("init")


@INITS.register("torch", "default")
def torch_default(net: nn.Module) -> None:
    """Leave ``net`` with PyTorch's initialisation as it is (no random numbers are drawn)."""


@INITS.register("hinton", "normal_fanin")
@torch.no_grad()
def hinton(net: nn.Module) -> None:
    """Hinton's code, applied to ``net`` in place: every FF layer's weights N(0, 1/fan_in), its biases 0,
    and a softmax head at zero.

    Scaling by the fan-in keeps a unit's total input at unit variance for a unit-RMS input, so with
    ``threshold="width"`` a layer starts with goodness near its threshold. The head starts at zero
    because its gradient does not need symmetry breaking (every class sees different targets).
    Conv layers (and locally connected ones) too, with fan_in = in_channels * kernel * kernel.
    """
    for layer in getattr(net, "layers", []):
        # A conv FF block (models.conv.ConvBlock) keeps its map in .conv; the rule is the same with
        # fan_in = in_channels * kernel * kernel, what one output value sums over.
        target = getattr(layer.block, "conv", layer.block)
        weight = getattr(target, "weight", None)
        if not isinstance(weight, torch.Tensor) or weight.dim() < 2:
            raise ValueError(
                f"init 'hinton' initialises blocks with a weight matrix; {type(layer.block).__name__} has "
                "none. Use init='torch' or initialise the block yourself"
            )
        # nn.Linear, nn.Conv2d: weight[0] is one output's inputs; LocallyConnected2d: [positions, fan_in, out]
        fan_in = weight.shape[1] if getattr(target, "out_size", None) is not None else weight[0].numel()
        weight.normal_(0.0, fan_in**-0.5)
        bias = getattr(target, "bias", None)
        if isinstance(bias, torch.Tensor):
            bias.zero_()
    head = getattr(net, "head", None)
    if head is not None:
        for p in head.parameters():
            p.zero_()


def initialize(net: nn.Module, scheme: str | Callable[[nn.Module], None] = "torch") -> nn.Module:
    """Apply ``scheme`` to ``net`` in place and return ``net``: a registered initialisation's name
    (``"torch"``, ``"hinton"``) or any callable that takes the network."""
    (INITS.get(scheme) if isinstance(scheme, str) else scheme)(net)
    return net


__all__ = ["INITS", "hinton", "initialize", "torch_default"]
