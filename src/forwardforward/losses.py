"""Layer-local losses: given the goodness of positive and negative samples, what one layer minimises.

Every loss takes ``g_pos`` and ``g_neg`` (each ``[batch]``) and returns a scalar. Losses with a threshold
accept a number or ``"width"``; the layer resolves ``"width"`` to its number of units before the first
step (Hinton's choice for sum-of-squares goodness, under which the expected goodness of a unit-RMS input
equals the width).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .registry import Registry

LOSSES: Registry[nn.Module] = Registry("loss")

Threshold = float | str


class FFLoss(nn.Module):
    """Base class for local losses. ``resolve_threshold(width)`` fixes ``"width"`` thresholds."""

    threshold: float | None = None
    #: True when samples far enough on the right side of the threshold get exactly zero gradient.
    saturating: bool = False
    _threshold_spec: Threshold | None = None

    def _set_threshold(self, threshold: Threshold) -> None:
        if isinstance(threshold, str):
            if threshold != "width":
                raise ValueError(f"threshold must be a number or 'width', got {threshold!r}")
            self._threshold_spec = "width"
            self.threshold = None
        else:
            self._threshold_spec = float(threshold)
            self.threshold = float(threshold)

    def resolve_threshold(self, width: int) -> None:
        """Turn a ``"width"`` threshold into the layer's number of units."""
        if self._threshold_spec == "width":
            self.threshold = float(width)

    def _theta(self) -> float:
        if self.threshold is None:
            raise RuntimeError(
                "threshold='width' has not been resolved: call loss.resolve_threshold(num_units) "
                "(FFLayer does this for you)"
            )
        return self.threshold

    def forward(self, g_pos: torch.Tensor, g_neg: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        """The scalar loss of one layer from the goodness of its positive samples ``g_pos`` and of its
        negative samples ``g_neg`` (each ``[batch]``)."""
        raise NotImplementedError

    def one_sided(self, g: torch.Tensor, positive: bool) -> torch.Tensor:
        """The positive (or negative) half of the loss alone, for updates that see one kind of data only
        (separate wake and sleep phases). Only a loss that scores each sample against a threshold has
        halves; one that compares positives with negatives (SymBa) cannot.

        Args:
            g: the goodness ``[batch]`` of samples of one kind.
            positive: True when they are positives (pushed above the threshold), False for negatives.

        Raises:
            ValueError: this loss has no halves (the base class's answer).
        """
        raise ValueError(
            f"positive and negative updates in separate phases need each layer's loss to have a threshold "
            f"(softplus or sigmoid_diff); {type(self).__name__} compares pairs. Set model.loss=softplus"
        )


@LOSSES.register("softplus", "logistic")
class SoftplusLoss(FFLoss):
    """Hinton's logistic loss: -log σ(g_pos − θ) − log σ(θ − g_neg), averaged over both halves.

    p(positive) = σ(goodness − θ); softplus(−z) = −log σ(z) is the numerically stable form.
    ``threshold`` is θ (a number or ``"width"``); ``temperature`` divides the margin (useful with large
    sum-of-squares goodness).
    """

    def __init__(self, threshold: Threshold = 2.0, temperature: float = 1.0) -> None:
        super().__init__()
        self._set_threshold(threshold)
        self.temperature = float(temperature)

    def forward(self, g_pos: torch.Tensor, g_neg: torch.Tensor) -> torch.Tensor:
        theta, t = self._theta(), self.temperature
        return 0.5 * (F.softplus(-(g_pos - theta) / t).mean() + F.softplus((g_neg - theta) / t).mean())

    def one_sided(self, g: torch.Tensor, positive: bool) -> torch.Tensor:
        margin = (g - self._theta()) / self.temperature
        return F.softplus(-margin).mean() if positive else F.softplus(margin).mean()

    def extra_repr(self) -> str:
        """The threshold (as given) and temperature in the module's repr."""
        return f"threshold={self._threshold_spec}, temperature={self.temperature}"


@LOSSES.register("sigmoid_diff", "sigmoid")
class SigmoidDifferenceLoss(FFLoss):
    """σ(g_neg − θ) − σ(g_pos − θ): bounded in (−1, 1); gradients vanish once a sample is far from θ.

    ``threshold`` is θ, a number or ``"width"``.
    """

    def __init__(self, threshold: Threshold = 2.0) -> None:
        super().__init__()
        self._set_threshold(threshold)

    def forward(self, g_pos: torch.Tensor, g_neg: torch.Tensor) -> torch.Tensor:
        theta = self._theta()
        return torch.sigmoid(g_neg - theta).mean() - torch.sigmoid(g_pos - theta).mean()

    def one_sided(self, g: torch.Tensor, positive: bool) -> torch.Tensor:
        p = torch.sigmoid(g - self._theta()).mean()
        return -p if positive else p

    def extra_repr(self) -> str:
        """The threshold, as given, in the module's repr."""
        return f"threshold={self._threshold_spec}"


@LOSSES.register("symba")
class SymBaLoss(FFLoss):
    """SymBa (arXiv 2303.08418): softplus(−α (g_pos − g_neg)), threshold-free and balanced.

    Positives and negatives are paired element-wise (the i-th negative is built from the i-th positive), so
    the loss acts on each pair's goodness gap; the batches must have equal size. ``alpha`` sets how
    sharply a gap is rewarded (the slope of the softplus).
    """

    def __init__(self, alpha: float = 4.0) -> None:
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, g_pos: torch.Tensor, g_neg: torch.Tensor) -> torch.Tensor:
        """The loss of the pairs (``g_pos[i]``, ``g_neg[i]``).

        Raises:
            ValueError: ``g_pos`` and ``g_neg`` differ in shape, so they cannot be paired.
        """
        if g_pos.shape != g_neg.shape:
            raise ValueError(
                f"SymBa pairs positives with negatives, so both need the same shape; got "
                f"{tuple(g_pos.shape)} and {tuple(g_neg.shape)}"
            )
        return F.softplus(-self.alpha * (g_pos - g_neg)).mean()

    def extra_repr(self) -> str:
        """``alpha`` in the module's repr."""
        return f"alpha={self.alpha}"


@LOSSES.register("log_margin")
class LogMarginLoss(FFLoss):
    """log(1 + θ − g_pos) + log(1 − θ + g_neg), averaged: a write-up's "log" alternative to the logistic loss.

    Minimising it pushes positive goodness up towards θ + 1 and negative goodness down towards θ − 1. The
    logarithm is undefined once a positive passes θ + 1 (or a negative drops below θ − 1), so each argument
    is clamped at ``floor``: a sample that far on the right side of the threshold contributes the constant
    log(floor) and no gradient (it is already classified with a margin), and the loss stays finite.
    """

    saturating = True

    def __init__(self, threshold: Threshold = 2.0, floor: float = 0.05) -> None:
        super().__init__()
        if not floor > 0:
            raise ValueError(f"floor must be > 0 (it keeps the logarithm's argument positive), got {floor}")
        self._set_threshold(threshold)
        self.floor = float(floor)

    def forward(self, g_pos: torch.Tensor, g_neg: torch.Tensor) -> torch.Tensor:
        theta = self._theta()
        pos = torch.log((1.0 + theta - g_pos).clamp(min=self.floor))
        neg = torch.log((1.0 - theta + g_neg).clamp(min=self.floor))
        return 0.5 * (pos.mean() + neg.mean())

    def extra_repr(self) -> str:
        """The threshold (as given) and ``floor`` in the module's repr."""
        return f"threshold={self._threshold_spec}, floor={self.floor}"


@LOSSES.register("channel_ce", "cwc")
class ChannelCrossEntropy(FFLoss):
    """Cross-entropy over class-group goodnesses (channel-wise competition): needs no negative data.

    ``g_pos`` is the true group's goodness ``[B]``; ``g_neg`` the other groups' ``[B, C-1]`` (or ``[B]``
    for one). ``temperature`` divides the goodnesses before the softmax (mean activities are O(1) after a
    normalisation; a lower temperature sharpens the competition).
    """

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"channel_ce temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)

    def forward(self, g_pos: torch.Tensor, g_neg: torch.Tensor) -> torch.Tensor:
        """The mean cross-entropy of picking the true group (``g_pos``) among all (``g_neg`` the others).

        Raises:
            ValueError: ``g_pos`` and ``g_neg`` have different numbers of rows.
        """
        neg = g_neg.unsqueeze(1) if g_neg.dim() == 1 else g_neg
        if neg.shape[0] != g_pos.shape[0]:
            raise ValueError(
                f"channel_ce needs the other groups' goodness for each sample: g_pos has {g_pos.shape[0]} "
                f"rows, g_neg {neg.shape[0]}"
            )
        logits = torch.cat([g_pos.unsqueeze(1), neg], 1) / self.temperature
        return (torch.logsumexp(logits, 1) - logits[:, 0]).mean()

    def extra_repr(self) -> str:
        """The temperature in the module's repr."""
        return f"temperature={self.temperature}"


@LOSSES.register("cwc_exp", "channel_exp")
class ChannelExponentialLoss(FFLoss):
    """Channel-wise competition's exponential loss, in the form the CwComp write-up describes:
    ``exp(1 + θ − g_true) + Σ_other exp(1 − θ + g_other)``, averaged over the batch.

    ``g_pos`` is the goodness of the label's channel group ``[B]`` (the mean square of that part of the
    layer's output), ``g_neg`` the other groups' ``[B, C-1]`` (or ``[B]``: one negative per sample, which
    makes it a pairwise loss usable with negative data too). Each term pushes its goodness one way with a
    force that grows exponentially with the error, and no term ever saturates. ``θ`` only weighs the two
    sides: the positive term is ``e^{1+θ} e^{−g_true}``, each negative ``e^{1−θ} e^{g_other}``.
    :class:`ChannelCrossEntropy` is our softmax alternative over the same group goodnesses.

    Args:
        threshold: ``θ``, a number or ``"width"``; the write-up gives none (our Fashion-MNIST config uses 3).
    """

    def __init__(self, threshold: Threshold = 1.0) -> None:
        super().__init__()
        self._set_threshold(threshold)

    def forward(self, g_pos: torch.Tensor, g_neg: torch.Tensor) -> torch.Tensor:
        neg = g_neg.unsqueeze(1) if g_neg.dim() == 1 else g_neg
        if neg.shape[0] != g_pos.shape[0]:
            raise ValueError(
                f"cwc_exp needs the other groups' goodness for each sample: g_pos has {g_pos.shape[0]} rows, "
                f"g_neg {neg.shape[0]}"
            )
        theta = self._theta()
        return (torch.exp(1.0 + theta - g_pos) + torch.exp(1.0 - theta + neg).sum(1)).mean()

    def one_sided(self, g: torch.Tensor, positive: bool) -> torch.Tensor:
        theta = self._theta()
        return torch.exp(1.0 + theta - g).mean() if positive else torch.exp(1.0 - theta + g).mean()

    def extra_repr(self) -> str:
        """The threshold, as given, in the module's repr."""
        return f"threshold={self._threshold_spec}"


def build_loss(spec: str | nn.Module, **kwargs: object) -> FFLoss:
    """A loss from ``spec``: a registered name (``"softplus"``, ``"symba"``...), built with ``kwargs``
    (``threshold=``, ``alpha=``...), or an instance, passed through unchanged."""
    return LOSSES.build(spec, **kwargs)  # type: ignore[return-value]
