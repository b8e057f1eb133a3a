"""All-label scores with int8 deep layers and each layer's elementwise work fused into one compiled step.

:func:`~forwardforward.inference.int8.quantize_int8` swaps each deep ``nn.Linear`` for an
:class:`~forwardforward.inference.int8.Int8Linear` and leaves the rest of the network as it is. All-label
scoring then makes about ten separate passes over every deep layer's ``[B * C, units]`` states (cast,
two scale products, bias, activation, goodness, normalisation, the next row scale, rounding, clamping,
casting). On the 4x2000 Fashion-MNIST net those passes took longer than the int8 products themselves.
:class:`FusedInt8Scorer` computes the same kind of scores with three changes:

- Each layer's work after its product (dequantise, bias, activation, goodness, the next layer's codes) is
  one function, compiled by ``torch.compile`` into a few fused loops over the states.
- The normalisation a layer passes on (rms or unit length) multiplies a row by one number, and a row's
  codes are the same whatever number multiplies it. So normalising costs nothing: it only changes the
  row's scale.
- The codes are affine: 8 bits spread over the row's own ``[min, max]``, stored as int8 shifted by 128.
  A ReLU state is never negative, so symmetric codes use only half their 256 levels; affine codes use all
  of them, which halves the rounding error. The shift and the row's minimum come back after the product
  through each unit's column sum of weight codes, ``sum_k ((c_k + 128) s + m) w_kj = s (acc_j + 128 S_j)
  + m S_j`` with ``S_j = sum_k w_kj``. This needs no assumption about the activation.

The weights are per-unit symmetric int8 codes, as in ``Int8Linear``; the first layer stays in float and
is computed once per image, its label codes added afterwards (``first_layer_all_labels``). Scores differ
from the float network's by the quantisation error: use it as the fast scorer of a
:class:`~forwardforward.inference.cascade.CascadeScorer`, which re-scores the close calls exactly.
Optionally (:meth:`FusedInt8Scorer.calibrate_pruning`) the labels far behind after an early layer go no
deeper. On the 4x2000 Fashion-MNIST net the cascade over this scorer, pruning after layer 2, scored every
label in 2.34x the time of one float forward pass, at the float network's accuracy (docs/results.md).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn

from ..layers import FFLayer
from ..normalize import RowScaling
from ..scoring import first_layer_all_labels
from .int8 import _SMALLEST_RANGE, Int8Linear, int8_matmul

#: The affine codes' levels: 256 values, stored as ``level - 128`` in int8.
LEVELS = 255
OFFSET = 128


def affine_codes(h: torch.Tensor, normalize: RowScaling) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The int8 codes of the states ``h`` ``[N, D]`` as the next layer receives them, ``normalize(h)``.

    Returns ``(codes, scale, offset)`` with ``normalize(h) ≈ scale * codes + offset`` row by row
    (``scale`` and ``offset`` ``[N, 1]``): each row's ``[min, max]`` is split into 255 steps, and the
    normaliser's factor, computed from the row's squared length, only multiplies ``scale`` and ``offset``.
    The rounding error of each value is at most half of ``scale``.
    """
    factor = normalize.scale(h.square().sum(1, keepdim=True), h.shape[1])
    low = h.amin(1, keepdim=True)
    # A constant row (a dead ReLU state) gets a finite step, so its codes are all 0 - 128.
    step = (h.amax(1, keepdim=True) - low).clamp_min(_SMALLEST_RANGE) / LEVELS
    codes = torch.round((h - low) / step).clamp(0, LEVELS).sub(OFFSET).to(torch.int8)
    return codes, factor * step, factor * (low + OFFSET * step)


class _FirstStep(nn.Module):
    """The first layer for every label (float, the image's product once per image), its goodness and the
    second layer's codes."""

    def __init__(self, net: Any) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The first layer's goodness for every (sample of ``x``, label) pair, and the second layer's
        codes, scale and offset (:func:`affine_codes`)."""
        first = self.net.layers[0]
        h = first_layer_all_labels(self.net, x, self.net.num_classes)
        return (first.goodness(h), *affine_codes(h, first.normalize))


class _Int8Step(nn.Module):
    """One deep layer: the int8 product of the previous layer's codes with this layer's weight codes,
    then (in one compiled function) dequantisation, bias, activation, goodness and, unless it is the last
    layer scored, the next layer's codes."""

    def __init__(self, layer: FFLayer, pass_on: bool) -> None:
        super().__init__()
        assert isinstance(layer.block, nn.Linear)
        weights = Int8Linear.from_linear(layer.block)  # per-unit symmetric codes, [in, out]
        self.register_buffer("weight_codes", weights.weight_codes)
        self.register_buffer("weight_scale", weights.weight_scale)
        self.register_buffer("column_sums", weights.weight_codes.sum(0).float())  # S_j: shift and minimum
        bias = weights.bias if weights.bias is not None else torch.zeros_like(weights.weight_scale)
        self.register_buffer("bias", bias)
        self.activation = copy.deepcopy(layer.activation)
        self.goodness = copy.deepcopy(layer.goodness)
        self.normalize = copy.deepcopy(layer.normalize)
        self.pass_on = pass_on

    def after_product(
        self, acc: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """This layer's goodness (and the next layer's codes, scale and offset, if it passes on) from the
        int32 product ``acc`` ``[N, out]`` of the input codes whose rows are ``scale * codes + offset``."""
        z = (acc.float() * scale + offset * self.column_sums) * self.weight_scale + self.bias
        h = self.activation(z)
        if not self.pass_on:
            return (self.goodness(h),)
        return (self.goodness(h), *affine_codes(h, self.normalize))


class FusedInt8Scorer(nn.Module):
    """All-label scores of ``net`` (``[B, C]``, goodness summed over its ``score_layers``) with every layer
    after the first in int8 and each layer's elementwise work compiled into one fused step.

    A snapshot of ``net``'s weights, in eval mode: after training ``net`` further, build a new one. It
    scores MLPs whose layers are ``nn.Linear`` blocks handing on a per-row normalisation (rms or unit
    length) with nothing between them, the supervised networks ``ff train`` builds for ``kind=mlp``.

    Args:
        net: the :class:`~forwardforward.network.FFNetwork` to score for.
        compile: compile each step with ``torch.compile`` (needs a C++ compiler on the CPU; the first
            call then takes a minute or so, once per process and shape family). ``False`` runs the same
            steps eagerly: the same numbers up to float rounding, slower.

    Calibrated pruning (:meth:`calibrate_pruning`, off until called): after layer ``prune_after``, the
    (image, label) pairs whose score so far trails the image's best by more than ``prune_margin`` go no
    deeper and score ``-inf``. The margin is a high quantile of how far any label gained on the leader of
    the early layers in the remaining ones, measured on training images: a label that far behind did not
    win there.

    Raises:
        ValueError: ``net`` is not such a network (the message says what is not supported).
    """

    def __init__(self, net: Any, compile: bool = True) -> None:
        super().__init__()
        self.net = copy.deepcopy(net).eval()
        check_supported(self.net)
        self.num_classes = int(net.num_classes)
        self.score_layers = list(net.score_layers)
        last = max(self.score_layers)
        self.first = _FirstStep(self.net)
        self.steps = nn.ModuleList(
            _Int8Step(layer, pass_on=i < last) for i, layer in enumerate(net.layers[1 : last + 1], start=1)
        )
        self.compiled = bool(compile)
        wrap = (lambda f: torch.compile(f, dynamic=True)) if compile else (lambda f: f)
        self._first = wrap(self.first.forward)
        self._after = [wrap(step.after_product) for step in self.steps]
        self.prune_after: int | None = None  # a layer index; None: every label through every layer
        self.prune_margin = float("inf")
        self.pruned = self.pairs = 0  # (image, label) pairs pruned so far, and pairs scored

    @torch.no_grad()
    def scores(self, x: torch.Tensor, chunk_size: int = 2000) -> torch.Tensor:
        """``[B, C]`` scores of the raw samples ``x``, computed ``chunk_size`` (sample, label) rows at a
        time; the argmax is the prediction. Pruned labels (see :meth:`calibrate_pruning`) score ``-inf``.

        Small chunks keep each layer's int32 products in the CPU's cache for the fused step that reads
        them: on the 4x2000 net (2000 units) 2,000 rows took 1.96x the time of one float forward pass,
        10,000 rows 2.78x, 1,000 rows 2.28x."""
        return torch.cat([self._scores(xb) for xb in x.split(self._rows(chunk_size))], 0)

    @torch.no_grad()
    def layer_goodness(self, x: torch.Tensor, chunk_size: int = 2000) -> torch.Tensor:
        """``[B, C, S]``: the goodness of each scoring layer (in ``score_layers`` order) for every label of
        the raw samples ``x``, without pruning, ``chunk_size`` (sample, label) rows at a time."""
        return torch.cat([self._scores(xb, per_layer=True) for xb in x.split(self._rows(chunk_size))], 0)

    @torch.no_grad()
    def calibrate_pruning(self, x: torch.Tensor, after: int, quantile: float = 0.999) -> float:
        """Prune after layer ``after`` with the margin measured on the raw samples ``x`` (training
        images, never the test set); returns the margin.

        For each sample, the leader is the label with the best score summed over the scoring layers up
        to ``after``; the catch-up is the most any label gains on it in the scoring layers after that.
        The margin is the ``quantile`` of the catch-up over the samples: on them, a label further behind
        than that would not have won in that fraction of cases.

        Raises:
            ValueError: ``after`` is the first layer (kept in float, it is never pruned after) or leaves no
                scoring layer before or after it, or ``quantile`` is not in (0, 1].
        """
        if not 0 < quantile <= 1:
            raise ValueError(f"quantile must be in (0, 1], got {quantile}")
        early = [j for j, layer in enumerate(self.score_layers) if layer <= after]
        late = [j for j, layer in enumerate(self.score_layers) if layer > after]
        if after < 1 or not early or not late:
            raise ValueError(
                f"pruning after layer {after} needs scoring layers on both sides of it; the scoring "
                f"layers are {self.score_layers}"
            )
        g = self.layer_goodness(x)
        partial, rest = g[:, :, early].sum(2), g[:, :, late].sum(2)
        leader = partial.argmax(1, keepdim=True)
        catch_up = (rest - rest.gather(1, leader)).amax(1)
        rank = min(len(catch_up) - 1, max(0, math.ceil(quantile * len(catch_up)) - 1))
        self.prune_after, self.prune_margin = int(after), float(catch_up.sort().values[rank])
        return self.prune_margin

    def _rows(self, chunk_size: int) -> int:
        return max(1, chunk_size // self.num_classes)

    def _scores(self, x: torch.Tensor, per_layer: bool = False) -> torch.Tensor:
        b, c = x.shape[0], self.num_classes
        goodness, codes, scale, offset = self._first(x)
        parts = [goodness] if 0 in self.score_layers else []
        total = goodness if 0 in self.score_layers else torch.zeros_like(goodness)
        alive = None  # the indices of the (sample, label) pairs still scored, once pruned
        for i, (step, after) in enumerate(zip(self.steps, self._after), start=1):
            out = after(int8_matmul(codes, step.weight_codes), scale, offset)
            if i in self.score_layers:
                total = total + out[0]
                parts.append(out[0])
            if step.pass_on:
                codes, scale, offset = out[1:]
                if i == self.prune_after and not per_layer:
                    grid = total.view(b, c)
                    keep = (grid.amax(1, keepdim=True) - grid <= self.prune_margin).flatten().nonzero()
                    alive = keep.squeeze(1)
                    self.pairs += b * c
                    self.pruned += b * c - len(alive)
                    codes, scale, offset, total = codes[alive], scale[alive], offset[alive], total[alive]
        if per_layer:
            return torch.stack(parts, 1).reshape(b, c, len(parts))
        if alive is None:
            return total.reshape(b, c)
        pruned = torch.full((b * c,), float("-inf"), dtype=total.dtype, device=total.device)
        return pruned.scatter(0, alive, total).reshape(b, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The scores of the raw samples ``x``, as :meth:`scores`."""
        return self.scores(x)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The predicted class of each raw sample of ``x``: the argmax of :meth:`scores`."""
        return self.scores(x).argmax(1)


def check_supported(net: Any) -> None:
    """Raise a ``ValueError`` saying why :class:`FusedInt8Scorer` cannot score ``net``, if it cannot."""
    layers = getattr(net, "layers", None)
    if layers is None or not all(isinstance(layer, FFLayer) for layer in layers):
        raise ValueError("FusedInt8Scorer expects an FFNetwork (a module whose .layers are FFLayers)")
    if net.labels is None or net.num_classes is None or net.one_pass:
        raise ValueError("FusedInt8Scorer needs a supervised network that scores one label per pass")
    kinds = [type(layer.block).__name__ for layer in layers]
    if not all(isinstance(layer.block, nn.Linear) for layer in layers):
        raise ValueError(f"FusedInt8Scorer scores MLPs (nn.Linear blocks only); this network has {kinds}")
    if len(layers) < 2:
        raise ValueError("FusedInt8Scorer needs at least two layers (the first stays in float)")
    if net.between:
        raise ValueError(
            f"FusedInt8Scorer cannot pass states through the boxes between layers {sorted(net.between)}: "
            "use quantize_int8(net) instead"
        )
    last = max(net.score_layers)
    bad = [i for i in range(last) if not isinstance(layers[i].normalize, RowScaling)]
    if bad:
        names = sorted({type(layers[i].normalize).__name__ for i in bad})
        raise ValueError(
            f"layers {bad} pass on {names}; FusedInt8Scorer needs a per-row scaling (normalize='rms' or "
            "'length') so that the codes survive normalisation: use quantize_int8(net) instead"
        )


__all__ = ["FusedInt8Scorer", "affine_codes", "check_supported"]
