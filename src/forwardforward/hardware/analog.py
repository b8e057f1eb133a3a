"""Analog-style hardware: noisy and low-precision weights and activations, at training and test time.

Analog and in-memory compute chips multiply with physical quantities: every read of a weight or an
activation carries noise, and converters give few bits. This module simulates that in software so FF and
backprop can be compared on the same "chip":

- :func:`add_noise`: Gaussian noise with a *relative* σ: standard deviation ``sigma * RMS(x)`` of the tensor,
  so σ = 0.1 means 10 % noise whatever the scale (σ = 0 is exactly the identity).
- :func:`quantize`: uniform k-bit quantisation over the tensor's range, at most ``2**k`` distinct values;
  :func:`quantize_ste` adds the straight-through estimator (gradient as if the identity).
- :class:`AnalogLinear` (a linear map with noisy, quantised weights, resampled at every forward) and
  :class:`AnalogActivation` (noise, then quantisation, after an activation: the converter reads a noisy
  analog value and returns k bits).
- :func:`make_analog` converts an :class:`~forwardforward.FFNetwork` or a backprop model in place.

Both learning rules use the straight-through estimate *inside* a quantised layer (a layer's own weights
need a gradient through its own quantiser); what FF never needs is a gradient through the noisy, quantised
layers *above*, which is where backprop's errors compound.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def add_noise(x: torch.Tensor, sigma: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """``x`` plus Gaussian noise of standard deviation ``sigma * RMS(x)`` (relative σ); σ = 0 returns ``x``.

    The scale is detached, so the gradient is the identity (the noise is an input to the circuit, not a
    function of it). The noise is drawn from ``generator`` (default: the global RNG).
    """
    if sigma < 0:
        raise ValueError(f"noise sigma must be >= 0, got {sigma}")
    if sigma == 0:
        return x
    scale = x.detach().pow(2).mean().sqrt()
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return x + sigma * scale * noise


def quantize(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Uniform ``bits``-bit quantisation over ``[min(x), max(x)]``: at most ``2**bits`` distinct values.

    The range is the tensor's own (a per-tensor dynamic range, as a converter calibrated per read-out);
    a constant tensor is returned unchanged.
    """
    if not 1 <= int(bits) <= 16:
        raise ValueError(f"bits must be in 1..16, got {bits}")
    lo, hi = x.detach().min(), x.detach().max()
    if hi <= lo:
        return x.detach().clone()
    step = (hi - lo) / (2 ** int(bits) - 1)
    return lo + torch.round((x.detach() - lo) / step) * step


def quantize_ste(x: torch.Tensor, bits: int) -> torch.Tensor:
    """:func:`quantize` forward, identity backward (the straight-through estimator).

    Written ``q + (x - x.detach())`` rather than ``x + (q - x).detach()``: the added term is exactly zero,
    so the forward values are exactly the ``2**bits`` levels (the other form leaves rounding residue).
    """
    return quantize(x, bits) + (x - x.detach())


@dataclass
class AnalogSpec:
    """What is imperfect: relative noise σ on weights and activations, bits of weights and activations
    (``None``: full precision).

    Attributes:
        weight_noise: relative σ of the noise on the weights, resampled at every forward (0: none).
        act_noise: relative σ of the noise on the activations (0: none).
        weight_bits: the weights' bits, or ``None`` for full precision.
        act_bits: the activations' bits, or ``None`` for full precision.
    """

    weight_noise: float = 0.0
    act_noise: float = 0.0
    weight_bits: int | None = None
    act_bits: int | None = None

    @property
    def active(self) -> bool:
        """True when anything is imperfect (otherwise converting a model would change nothing)."""
        return bool(self.weight_noise or self.act_noise or self.weight_bits or self.act_bits)


class AnalogLinear(nn.Module):
    """A linear map whose weights are quantised, then perturbed, at every forward (training and test).

    ``in_features``, ``out_features`` and ``bias`` as in ``nn.Linear`` (and initialised like it); ``spec``
    says what is imperfect (default: nothing).
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, spec: AnalogSpec | None = None
    ):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)  # nn.Linear's default
        self.spec = spec or AnalogSpec()

    @classmethod
    def from_linear(cls, lin: nn.Linear, spec: AnalogSpec) -> AnalogLinear:
        """The analog version of ``lin`` under ``spec``, sharing its weight and bias parameters (so an
        optimiser built before the conversion still updates them)."""
        new = cls(lin.in_features, lin.out_features, lin.bias is not None, spec)
        new.weight = lin.weight  # shares the parameter: optimisers built before conversion still see it
        new.bias = lin.bias
        return new

    def effective_weight(self) -> torch.Tensor:
        """The weights as this forward reads them: quantised (straight-through), then with fresh noise."""
        w = self.weight
        if self.spec.weight_bits:
            w = quantize_ste(w, self.spec.weight_bits)
        return add_noise(w, self.spec.weight_noise)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` through the linear map with this forward's :meth:`effective_weight`."""
        return F.linear(x, self.effective_weight(), self.bias)

    def extra_repr(self) -> str:
        """The sizes and the spec in the module's repr."""
        return f"{self.in_features}, {self.out_features}, {self.spec}"


class AnalogActivation(nn.Module):
    """``activation``, then relative Gaussian noise, then k-bit quantisation (straight-through), as
    ``spec`` sets them."""

    def __init__(self, activation: nn.Module, spec: AnalogSpec) -> None:
        super().__init__()
        self.inner = activation
        self.spec = spec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The wrapped activation of ``x``, read out noisily and with few bits."""
        h = add_noise(self.inner(x), self.spec.act_noise)
        return quantize_ste(h, self.spec.act_bits) if self.spec.act_bits else h


def make_analog(
    model: nn.Module,
    weight_noise: float = 0.0,
    act_noise: float = 0.0,
    weight_bits: int | None = None,
    act_bits: int | None = None,
) -> nn.Module:
    """Put ``model`` on the simulated analog chip, in place; returns it.

    For an FFNetwork: every layer's ``nn.Linear`` block becomes an :class:`AnalogLinear` and its activation
    an :class:`AnalogActivation` (the linear head, a read-out used for hard negatives, stays digital).
    For any other model (e.g. :class:`~forwardforward.evaluation.baselines.BackpropMLP`): every
    ``nn.Linear`` becomes analog, and in an ``nn.Sequential`` the module right after each hidden
    ``nn.Linear`` (its activation) is wrapped; the output layer's logits are not quantised.
    ``weight_noise``, ``act_noise``, ``weight_bits`` and ``act_bits`` are as in :class:`AnalogSpec`; when
    none is set the model is returned unchanged.
    """
    from ..network import FFNetwork

    spec = AnalogSpec(weight_noise, act_noise, weight_bits, act_bits)
    for name, v in (("weight_noise", weight_noise), ("act_noise", act_noise)):
        if v < 0:
            raise ValueError(f"{name} must be >= 0, got {v}")
    if not spec.active:
        return model
    if isinstance(model, FFNetwork):
        for layer in model.layers:
            if isinstance(layer.block, nn.Linear):
                layer.block = AnalogLinear.from_linear(layer.block, spec)
            layer.activation = AnalogActivation(layer.activation, spec)
        return model
    if isinstance(model, nn.Sequential):
        mods = list(model)
        linears = [i for i, m in enumerate(mods) if isinstance(m, nn.Linear)]
        for i in linears:
            model[i] = AnalogLinear.from_linear(mods[i], spec)
            if i != linears[-1] and i + 1 < len(mods):
                model[i + 1] = AnalogActivation(mods[i + 1], spec)
        return model
    for name, child in model.named_children():
        if isinstance(child, nn.Linear):
            setattr(model, name, AnalogLinear.from_linear(child, spec))
        else:
            make_analog(child, weight_noise, act_noise, weight_bits, act_bits)
    return model


__all__ = [
    "AnalogActivation",
    "AnalogLinear",
    "AnalogSpec",
    "add_noise",
    "make_analog",
    "quantize",
    "quantize_ste",
]
