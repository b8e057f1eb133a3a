"""Activations by name, so the activation study (ReLU vs bounded ones) is a config change."""

from __future__ import annotations

from torch import nn

from .registry import Registry

ACTIVATIONS: Registry[nn.Module] = Registry("activation")

for _names, _cls in [
    (("relu",), nn.ReLU),
    (("gelu",), nn.GELU),
    (("leaky_relu",), nn.LeakyReLU),
    (("softplus",), nn.Softplus),
    (("sigmoid",), nn.Sigmoid),
    (("tanh",), nn.Tanh),
    (("hardtanh", "hard_tanh"), nn.Hardtanh),
    (("silu",), nn.SiLU),
    (("identity", "linear"), nn.Identity),
]:
    ACTIVATIONS.register(*_names)(_cls)


def build_activation(spec: str | nn.Module) -> nn.Module:
    """An activation module from ``spec``: a registered name (``"relu"``, ``"tanh"``...) builds a fresh
    module; an ``nn.Module`` instance is passed through unchanged."""
    return ACTIVATIONS.build(spec)
