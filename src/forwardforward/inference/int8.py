"""Int8 inference for FF layers: the deep layers' matrix products in 8-bit integers.

All-label prediction runs every deep layer once per (image, label) pair, so it is dominated by float
matrix products. On CPUs with 8-bit dot-product instructions (AVX-512 VNNI, AVX-VNNI) an int8 product
with int32 accumulation is about 4x faster than the float one. :class:`Int8Linear` stores a linear
layer's weights as int8 with one scale per output unit and quantises its input on the fly with one scale
per row, so every (image, label) state keeps its own dynamic range; the int32 result is scaled back to
float before the activation, goodness and normalisation, which stay in float.

Quantisation moves every score a little, and a near-tie can flip: use
:class:`forwardforward.inference.cascade.CascadeScorer` to re-score the close calls exactly.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence

import torch
from torch import nn

from ..layers import FFLayer

INT8_MAX = 127
# Rows whose largest magnitude is below this are treated as zero (codes 0). Far above float32's subnormals,
# so the division below never overflows to inf and never sees 0 / 0.
_SMALLEST_RANGE = 1e-30


def _symmetric_scale(t: torch.Tensor) -> torch.Tensor:
    """Per-row scale mapping ``[-max|t|, max|t|]`` onto ``[-127, 127]``. An all-zero row (a dead ReLU
    state) gets a small finite scale, so its codes are exactly 0 instead of 0 / 0."""
    return t.abs().amax(1, keepdim=True).clamp_min(_SMALLEST_RANGE) / INT8_MAX


def _quantize_rows(t: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return torch.round(t / scale).clamp_(-INT8_MAX, INT8_MAX).to(torch.int8)


def int8_matmul_emulated(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` for int8 operands computed in float32: exact while the sums stay below 2**24, otherwise
    rounded like any float product. The fallback where no int8 kernel is available."""
    return (a.float() @ b.float()).round_().to(torch.int32)


def int8_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` for int8 ``[M, K]`` and ``[K, N]``, accumulated in int32.

    On the CPU this is ``torch._int_mm`` (oneDNN's VNNI kernels); on other devices it is
    :func:`int8_matmul_emulated`: the same numbers up to float rounding, without the speed.
    """
    if a.device.type == "cpu" and _cpu_int_mm_available():
        return torch._int_mm(_row_major(a), _row_major(b))
    return int8_matmul_emulated(a, b)


@functools.lru_cache(maxsize=1)
def _cpu_int_mm_available() -> bool:
    """Whether this torch has a CPU kernel for ``torch._int_mm`` (added in 2024; torch 2.1/2.2 had the
    function for CUDA only). Probed once on a tiny product and checked against the exact answer."""
    if not hasattr(torch, "_int_mm"):
        return False
    a = torch.arange(-8, 8, dtype=torch.int8).reshape(2, 8)
    b = torch.arange(-16, 16, dtype=torch.int8).reshape(8, 4)
    try:
        return bool(torch.equal(torch._int_mm(a, b), (a.long() @ b.long()).to(torch.int32)))
    except (RuntimeError, NotImplementedError):
        return False


def _row_major(t: torch.Tensor) -> torch.Tensor:
    """``t`` with the canonical strides ``(columns, 1)``. A matrix with a size-1 dimension counts as
    contiguous whatever that dimension's stride is, and ``torch._int_mm`` reads the leading dimension from
    the stride: a ``[2, 1]`` input with strides ``(1, 1)`` gave garbage (torch 2.13, CPU)."""
    if t.stride() == (t.shape[1], 1):
        return t
    return torch.empty(t.shape, dtype=t.dtype, device=t.device).copy_(t)


class Int8Linear(nn.Module):
    """An inference-only stand-in for ``nn.Linear`` computing ``x @ W.T + b`` with int8 operands.

    Weights: symmetric int8, one scale per output unit (the largest weights of different units differed
    by up to 45x in our 4x2000 Fashion-MNIST net, so one scale for the whole matrix would waste bits).
    Inputs: symmetric int8, one scale per row, computed at every call. The result's error per element is
    at most ``s_x * sum|w| / 2 + s_w * sum|x| / 2 + K * s_x * s_w / 4`` (half a quantisation step of each
    operand), which the tests check.

    ``weight`` ``[out, in]`` and ``bias`` ``[out]`` (or ``None``) are the float layer's; they are copied,
    so the float layer is not tied to this one.
    """

    flat_input = True  # FFLayer flattens conv maps before it, as it does for nn.Linear

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__()
        weight = weight.detach().float()
        scale = _symmetric_scale(weight)
        codes = _quantize_rows(weight, scale)
        self.out_features, self.in_features = weight.shape
        self.register_buffer("weight_codes", codes.t().contiguous())  # [in, out]: the product's layout
        self.register_buffer("weight_scale", scale.squeeze(1))
        self.register_buffer("bias", None if bias is None else bias.detach().float().clone())

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> Int8Linear:
        """The int8 version of ``linear`` (a snapshot of its weights)."""
        return cls(linear.weight, linear.bias)

    def dequantized_weight(self) -> torch.Tensor:
        """The float weights this layer actually multiplies by (for error analysis)."""
        return self.weight_codes.t().float() * self.weight_scale.unsqueeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x @ W.T + b`` for ``x`` ``[..., in_features]``, with ``x`` quantised per row; returned in
        ``x``'s dtype.

        Raises:
            ValueError: ``x``'s last dimension is not ``in_features``.
        """
        if x.shape[-1] != self.in_features:
            raise ValueError(
                f"Int8Linear expects inputs with {self.in_features} features, got shape {tuple(x.shape)}"
            )
        lead, dtype = x.shape[:-1], x.dtype
        x = x.reshape(-1, self.in_features).float()
        x_scale = _symmetric_scale(x)
        codes = _quantize_rows(x, x_scale)
        y = int8_matmul(codes, self.weight_codes).float().mul_(x_scale).mul_(self.weight_scale)
        if self.bias is not None:
            y.add_(self.bias)
        return y.reshape(*lead, self.out_features).to(dtype)  # the caller's dtype, as nn.Linear would

    def extra_repr(self) -> str:
        """The sizes and whether there is a bias, in the module's repr."""
        bias = self.bias is not None
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={bias}"


def quantize_int8(net: nn.Module, layers: Sequence[int] | None = None) -> nn.Module:
    """A copy of ``net`` whose chosen FF layers' linear blocks are :class:`Int8Linear` (inference only).

    ``layers`` defaults to every linear layer but the first: all-label scoring computes the first layer once
    per image (its label code is added after the product), so it is cheap, and keeping it in float keeps
    that shortcut. Conv and other blocks stay as they are; naming one in ``layers`` is an error. Negative
    indices count from the end. ``net`` itself is not modified: the copy is a snapshot of its weights.
    """
    ff_layers = getattr(net, "layers", None)
    if ff_layers is None or not all(isinstance(layer, FFLayer) for layer in ff_layers):
        raise TypeError("quantize_int8 expects an FFNetwork (a module whose .layers are FFLayers)")
    n = len(ff_layers)
    if layers is None:
        chosen = [i for i in range(1, n) if isinstance(ff_layers[i].block, nn.Linear)]
        if not chosen:
            raise ValueError(
                "nothing to quantise: int8 covers linear layers after the first, and this network has none "
                f"(its blocks: {[type(layer.block).__name__ for layer in ff_layers]})"
            )
    else:
        bad = [i for i in layers if not -n <= int(i) < n]
        if bad:
            raise ValueError(f"layer indices {bad} out of range: the network has {n} layers (0..{n - 1})")
        chosen = sorted({int(i) % n for i in layers})  # negative indices count from the end, like lists
        if not chosen:
            raise ValueError("layers=[] quantises nothing: name at least one layer, or leave layers=None")
    not_linear = [i for i in chosen if not isinstance(ff_layers[i].block, nn.Linear)]
    if not_linear:
        kinds = sorted({type(ff_layers[i].block).__name__ for i in not_linear})
        raise ValueError(
            f"layers {not_linear} are not linear (their blocks are {kinds}); int8 covers nn.Linear blocks "
            "only: choose other layers with layers=[...]"
        )
    quantized = copy.deepcopy(net).eval()
    for i in chosen:
        block = quantized.layers[i].block
        quantized.layers[i].block = Int8Linear.from_linear(block).to(block.weight.device)
    return quantized
