"""FFLayer: one local learner.

A layer owns a block (``nn.Linear`` or any module), an activation, a goodness, a local loss and the
normaliser applied to what it passes on. It never lets gradients out: its input is detached on entry, so
the sum of all layers' local losses gives each layer exactly its own local gradient ("one backward for the
whole stack"). Layers never own optimisers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .activations import build_activation
from .defaults import MODEL
from .goodness import build_goodness
from .losses import FFLoss, build_loss
from .normalize import build_normalize
from .registry import call_with_accepted


@dataclass
class LayerStats:
    """What one layer's step says about its learning, for progress bars and logs.

    Attributes:
        loss: the layer's local loss on the batch.
        g_pos: the mean goodness of the positives (of the true class group, for channel-wise competition).
        g_neg: the mean goodness of the negatives (of the other class groups).
        separation: the fraction of (positive, negative) pairs with ``g_pos > g_neg``; with per-class
            groups, of samples whose true group beats every other (the layer's training accuracy); NaN for
            an empty batch.
    """

    loss: float
    g_pos: float
    g_neg: float
    separation: float  # fraction of (positive, negative) pairs with g_pos > g_neg


class FFLayer(nn.Module):
    """A block + activation trained by a local goodness loss.

    Args:
        block: the learnable map (``nn.Linear``, a conv block, a user's module).
        activation: name or module.
        goodness: name or module (see :mod:`forwardforward.goodness`).
        loss: name or module (see :mod:`forwardforward.losses`).
        normalize: what this layer passes on: ``"rms"``, ``"length"`` or ``"none"``.
        peer_norm: weight λ of Hinton's peer normalisation (0 disables it): pushes each unit's running
            mean activity on positive data towards the layer's average, so no unit dies or dominates. For
            a conv block (activity ``[B, C, H, W]``) a unit is a channel: its mean is over every position.
        peer_momentum: decay of that running mean.
        peer_gated: ``True`` lets the peer term reach a unit's total input only through its activation
            (so a ReLU that is off gets none of it); ``False`` is Hinton's code: the term is added to the
            derivative with respect to the total input itself, "which allows the extra term to revive
            units that are always off". Ungated needs the positives to be the first rows of this layer's
            latest forward pass (as :class:`~forwardforward.network.FFNetwork` and the Trainer do).
        loss_kwargs: passed to a loss given by name (only the arguments it accepts), so one flat set of
            settings (``threshold``, ``alpha``...) serves every loss.
        goodness_kwargs: the same for a goodness given by name (``p``, ``k``...).
        num_units: the layer's width, for a ``"width"`` threshold, peer normalisation and the head; default
            the block's ``out_features`` or ``out_channels``.

    Raises:
        ValueError: a ``"width"`` threshold with a goodness that does not grow with the width, or without a
            known width; ``peer_momentum`` outside ``[0, 1)``.
    """

    def __init__(
        self,
        block: nn.Module,
        activation: str | nn.Module = MODEL.activation,
        goodness: str | nn.Module = MODEL.goodness,
        loss: str | nn.Module = MODEL.loss,
        normalize: str | nn.Module | None = MODEL.normalize,
        peer_norm: float = MODEL.peer_norm,
        peer_momentum: float = MODEL.peer_momentum,
        peer_gated: bool = MODEL.peer_gated,
        loss_kwargs: dict[str, Any] | None = None,
        goodness_kwargs: dict[str, Any] | None = None,
        num_units: int | None = None,
    ) -> None:
        super().__init__()
        self.block = block
        self.activation = build_activation(activation)
        if isinstance(goodness, str):
            from .goodness import GOODNESS

            goodness = call_with_accepted(GOODNESS.get(goodness), goodness_kwargs or {})
        self.goodness = build_goodness(goodness)
        if isinstance(loss, str):
            from .losses import LOSSES

            loss = call_with_accepted(LOSSES.get(loss), loss_kwargs or {})
        self.loss: FFLoss = build_loss(loss)
        self.normalize = build_normalize(normalize)
        self.num_units = num_units if num_units is not None else _infer_units(block)
        if getattr(self.loss, "_threshold_spec", None) == "width":
            if not getattr(self.goodness, "grows_with_width", False):
                raise ValueError(
                    f"threshold='width' only makes sense for a goodness that grows with the number of "
                    f"units (sum of squares); {type(self.goodness).__name__} does not. Give a number."
                )
            if self.num_units is None:
                raise ValueError("threshold='width' needs num_units for this block; pass num_units=")
            self.loss.resolve_threshold(self.num_units)
        #: Detach the input on entry (the FF rule). FFNetwork turns it off for the first layer only when the
        #: label embedding has parameters (learned label planes), which that layer's loss then trains.
        self.detach_input = True
        self.peer_norm = float(peer_norm)
        self.peer_momentum = float(peer_momentum)
        self.peer_gated = bool(peer_gated)
        #: Ungated peer normalisation: the latest training forward's activity, with its gradient routed
        #: straight to the total input (value ``h``, d/dz = 1), and that forward's output, to check that
        #: the positives handed to :meth:`local_loss` come from it.
        self._ungated: tuple[torch.Tensor, torch.Tensor] | None = None
        if not 0.0 <= self.peer_momentum < 1.0:
            raise ValueError(f"peer_momentum must be in [0, 1), got {peer_momentum}")
        if self.peer_norm > 0:
            units = _peer_units(block, self.num_units)
            if units is None:
                raise ValueError("peer normalisation needs num_units for this block; pass num_units=")
            self.register_buffer("running_mean", torch.zeros(units))

    def __getstate__(self) -> dict[str, Any]:
        # The ungated peer stash belongs to one training step; copies and pickles never carry it.
        return {**self.__dict__, "_ungated": None}

    @property
    def per_class(self) -> bool:
        """True when the goodness is one value per class group (channel-wise competition, no negatives)."""
        return bool(getattr(self.goodness, "per_class", False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The layer's raw activity (before normalisation) for its input ``x``. The input is detached: no
        gradient leaves (except into the network's own label embedding when ``detach_input`` is off; see
        FFNetwork). A dense block after conv layers gets ``x`` flattened."""
        if self.detach_input:
            x = x.detach()
        if x.dim() > 2 and (isinstance(self.block, nn.Linear) or getattr(self.block, "flat_input", False)):
            x = x.flatten(1)  # a dense layer after conv layers sees the flattened maps
        z = self.block(x)
        h = self.activation(z)
        if self.peer_norm > 0 and not self.peer_gated and self.training and torch.is_grad_enabled():
            self._ungated = (h.detach() + (z - z.detach()), h)
        return h

    def pass_on(self, h: torch.Tensor) -> torch.Tensor:
        """What the next layer receives from this layer's activity ``h``: normalised and detached."""
        return self.normalize(h.detach())

    def local_loss(
        self, h_pos: torch.Tensor, h_neg: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, LayerStats]:
        """The layer's loss on a batch of positive and negative activities, and its statistics.

        With a per-class goodness (channel-wise competition) the loss needs the labels ``y`` instead of
        negatives: the true class's group goodness is the positive, the other groups' are the negatives
        (``[B, C-1]``), and ``h_neg`` is ignored (pass an empty batch).

        Args:
            h_pos: this layer's activity on the positives. With ungated peer normalisation it must be the
                first rows of the layer's latest training forward (``h[:n]``).
            h_neg: its activity on the negatives.
            y: the positives' labels, needed for a per-class goodness only.

        Returns:
            The loss (a scalar with its graph, peer penalty included) and the step's :class:`LayerStats`.
        """
        if self.per_class:
            if y is None:
                raise ValueError("a layer with per-class (channel group) goodness needs the labels: pass y=")
            from .goodness import split_true_group

            g_pos, g_neg = split_true_group(self.goodness(h_pos), y)
        else:
            g_pos, g_neg = self.goodness(h_pos), self.goodness(h_neg)
        loss = self.loss(g_pos, g_neg)
        if self.peer_norm > 0:
            loss = loss + self.peer_norm * self._peer_penalty(self._peer_activity(h_pos))
        with torch.no_grad():
            n = min(len(g_pos), len(g_neg))
            stats = LayerStats(
                loss=float(loss.detach()),
                g_pos=float(g_pos.mean()),
                g_neg=float(g_neg.mean()),
                separation=_separation(g_pos, g_neg, n),
            )
        return loss, stats

    def _peer_activity(self, h_pos: torch.Tensor) -> torch.Tensor:
        """What the peer penalty differentiates: ``h_pos`` itself (gated), or, ungated, the same values
        with the gradient passed straight to the total input, from the forward pass ``h_pos`` came from."""
        if self.peer_gated or not (self.training and torch.is_grad_enabled()):
            return h_pos
        ungated, out = self._ungated if self._ungated is not None else (None, None)
        self._ungated = None  # used once: do not keep the graph alive
        same_rows = out is not None and (
            h_pos.data_ptr() == out.data_ptr() and h_pos.shape[1:] == out.shape[1:] and len(h_pos) <= len(out)
        )
        if ungated is None or not same_rows:
            raise RuntimeError(
                "ungated peer normalisation (peer_gated=False) needs the positives as the first rows of this "
                "layer's latest training forward: h = layer(torch.cat([x_pos, x_neg])); "
                "layer.local_loss(h[:n], h[n:])"
            )
        return ungated[: h_pos.shape[0]]

    def _peer_penalty(self, h_pos: torch.Tensor) -> torch.Tensor:
        """Hinton's peer normalisation as a loss: ``Σ_j (r_j − r̄)² / (2 (1 − momentum))``.

        ``r_j`` is unit j's running mean activity on positive data (the current batch keeps its gradient,
        the history does not) and ``r̄`` the layer's mean of them. The scale is chosen so the gradient with
        respect to unit j's batch-mean activity is exactly ``r_j − r̄`` (times λ): the term Hinton's code
        adds to each unit's derivative, pulling units that are rarely on up and units always on down.
        """
        per_channel = h_pos.dim() > 2 and self.running_mean.numel() != h_pos[0].numel()
        unit_mean = h_pos.flatten(2).mean(2).mean(0) if per_channel else h_pos.flatten(1).mean(0)
        running = self.peer_momentum * self.running_mean + (1 - self.peer_momentum) * unit_mean
        if self.training:
            self.running_mean.copy_(running.detach())
        return (running - running.mean().detach()).pow(2).sum() / (2 * (1 - self.peer_momentum))


def _peer_units(block: nn.Module, num_units: int | None) -> int | None:
    """How many running means peer normalisation keeps: one per channel for a convolution's map
    ``[B, C, H, W]`` (a conv block reports ``out_shape``), whose positions share their weights; one per unit
    for a locally connected map (no weight sharing: every channel at every position is a unit of its own,
    as in Hinton's locally connected nets) and for a vector."""
    shape = getattr(block, "out_shape", None)
    if shape is not None and len(shape) == 3:
        locally_connected = getattr(getattr(block, "conv", None), "out_size", None) is not None
        return int(shape[0] * shape[1] * shape[2]) if locally_connected else int(shape[0])
    return num_units


def _separation(g_pos: torch.Tensor, g_neg: torch.Tensor, n: int) -> float:
    """Fraction of pairs with g_pos > g_neg; with per-class negatives ``[B, C-1]``, of samples whose true
    group beats every other group (the layer's training accuracy)."""
    if not n:
        return float("nan")
    if g_neg.dim() == 2:
        return float((g_pos > g_neg.max(1).values).float().mean())
    return float((g_pos[:n] > g_neg[:n]).float().mean())


def _infer_units(block: nn.Module) -> int | None:
    for attr in ("out_features", "out_channels"):
        if hasattr(block, attr):
            return int(getattr(block, attr))
    return None


def linear_layer(in_features: int, out_features: int, bias: bool = True, **kwargs: Any) -> FFLayer:
    """An FFLayer around ``nn.Linear(in_features, out_features, bias=bias)``: the building block of FF
    MLPs. ``kwargs`` go to :class:`FFLayer` (activation, goodness, loss...)."""
    return FFLayer(nn.Linear(in_features, out_features, bias=bias), **kwargs)
