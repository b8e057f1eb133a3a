"""Goodness: one number per sample (or per class group) saying how strongly a layer responds.

FF pushes goodness up for positive data and down for negative data. Every goodness here maps activities
``h`` of shape ``[batch, ...]`` to ``[batch]`` (all non-batch dimensions are reduced), is non-negative and
differentiable, so any loss in :mod:`forwardforward.losses` can sit on top of any of them.

Channel-wise competition (:class:`ChannelGroupGoodness`) splits a layer's channels (or units) into one group
per class and gives one goodness per group, ``[batch, classes]``: the layer's loss is then a cross-entropy
over the groups (``channel_ce``), every sample trains every group, and no negative data is needed.
"""

from __future__ import annotations

import torch
from torch import nn

from .registry import Registry

GOODNESS: Registry[nn.Module] = Registry("goodness")


class Goodness(nn.Module):
    """Base class. ``grows_with_width`` tells whether a threshold of ``"width"`` suits this goodness."""

    #: True when the goodness grows linearly with the number of units (so a sensible threshold does too).
    grows_with_width: bool = False

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """The goodness of each sample: activities ``h`` of shape ``[batch, ...]`` -> ``[batch]``."""
        raise NotImplementedError


@GOODNESS.register("sumsq", "sum_squares")
class SumSquares(Goodness):
    """Hinton's original: the sum of squared activities. Its scale grows with the layer's width."""

    grows_with_width = True

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h.pow(2).flatten(1).sum(1)


@GOODNESS.register("meansq", "mean_squares")
class MeanSquares(Goodness):
    """Mean of squared activities: width-independent, so one threshold fits every layer."""

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h.pow(2).flatten(1).mean(1)


@GOODNESS.register("lp", "lp_norm")
class LpNorm(Goodness):
    """The Lp norm ``(sum |h|^p)^(1/p)``; p=2 is the L2 norm (not squared) of Polar-FFA.

    ``p`` must be positive; ``eps`` is added inside the root so the gradient stays finite at ``h == 0``.
    """

    def __init__(self, p: float = 2.0, eps: float = 1e-12) -> None:
        super().__init__()
        if p <= 0:
            raise ValueError(f"Lp goodness needs p > 0, got p={p}")
        self.p = float(p)
        self.eps = eps

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        # eps inside the root keeps the gradient finite at h == 0 (the norm's kink).
        return (h.abs().pow(self.p).flatten(1).sum(1) + self.eps).pow(1.0 / self.p)

    def extra_repr(self) -> str:
        """``p`` in the module's repr."""
        return f"p={self.p}"


@GOODNESS.register("l2", "l2_norm")
class L2Norm(LpNorm):
    """The Euclidean length of the activity vector (``eps`` as in :class:`LpNorm`)."""

    def __init__(self, eps: float = 1e-12) -> None:
        super().__init__(p=2.0, eps=eps)


@GOODNESS.register("l1", "l1_norm")
class L1Norm(LpNorm):
    """The sum of absolute activities (``eps`` as in :class:`LpNorm`)."""

    def __init__(self, eps: float = 1e-12) -> None:
        super().__init__(p=1.0, eps=eps)


@GOODNESS.register("topk", "top_k")
class TopKMeanSquares(Goodness):
    """Mean of the ``k`` largest squared activities of each sample (a conv map counts every position).

    Why: with a dense goodness every unit is pushed up on every positive, so the units that separate
    positives from negatives best take over, and (we think) the layer's code narrows. Counting only the k
    strongest activities makes units compete: each sample trains just its k best-matching units, which
    become different prototypes, as in sparse coding or k-means features. On unsupervised hybrid
    negatives this turned training from harmful to neutral for a linear probe: it keeps the quality of
    the random features that a dense goodness destroyed (docs/unsupervised.md). Ties between equal
    activities are broken by ``torch.topk``.
    """

    def __init__(self, k: int = 20) -> None:
        super().__init__()
        if int(k) != k or k < 1:
            raise ValueError(f"topk goodness needs a positive integer k, got k={k!r}")
        self.k = int(k)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        flat = h.flatten(1)
        if flat.shape[1] < self.k:
            raise ValueError(
                f"topk goodness: k={self.k} but the layer has only {flat.shape[1]} activities per sample; "
                f"choose k <= {flat.shape[1]} (model.topk)"
            )
        return flat.pow(2).topk(self.k, dim=1, sorted=False).values.mean(1)

    def extra_repr(self) -> str:
        """``k`` in the module's repr."""
        return f"k={self.k}"


@GOODNESS.register("mean", "mean_activity")
class MeanActivity(Goodness):
    """The mean absolute activity: for non-negative activities (after ReLU) simply the mean activity,
    DeeperForward's "mean goodness". Linear in the activity, so its gradient does not vanish for small
    activities nor explode for large ones the way squares do."""

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h.abs().flatten(1).mean(1)


class ChannelGroupGoodness(nn.Module):
    """Goodness per class group: ``[B, K, ...] -> [B, G]`` with ``K = G * k`` channels (or units).

    Group ``g`` holds channels ``g*k .. (g+1)*k - 1``; ``base`` (any registered goodness) reduces each
    group's channels and positions to one number. ``num_groups`` is the number of classes (at least 2).
    """

    #: Tells FFLayer / FFNetwork that goodness is per class: a cross-entropy over groups, one-pass scoring.
    per_class = True

    def __init__(self, num_groups: int, base: str | nn.Module = "mean") -> None:
        super().__init__()
        if num_groups < 2:
            raise ValueError(f"channel groups need at least 2 groups (classes), got {num_groups}")
        self.num_groups = int(num_groups)
        self.base = build_goodness(base)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """One goodness per group: activities ``h`` ``[B, K, ...]`` -> ``[B, G]``.

        Raises:
            ValueError: ``K`` is not a multiple of the number of groups.
        """
        b, k, g = h.shape[0], h.shape[1], self.num_groups
        if k % g:
            raise ValueError(
                f"channel-wise competition splits {k} channels into {g} class groups; "
                f"use a multiple of {g} channels per layer"
            )
        return self.base(h.reshape(b * g, k // g, *h.shape[2:])).reshape(b, g)

    def extra_repr(self) -> str:
        """``num_groups`` in the module's repr."""
        return f"num_groups={self.num_groups}"


def split_true_group(g: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split the group goodness ``g`` ``[B, C]`` by the labels ``y`` ``[B]``.

    Returns the true group's ``[B]`` and the other groups' ``[B, C-1]`` (in group order): what
    :class:`~forwardforward.losses.ChannelCrossEntropy` takes as ``g_pos`` and ``g_neg``.

    Raises:
        ValueError: ``y`` is not one label per sample, or a label is outside ``[0, C)``.
    """
    if y.dim() != 1 or y.shape[0] != g.shape[0]:
        raise ValueError(f"group goodness needs one label per sample; got {tuple(y.shape)} for {g.shape[0]}")
    c = g.shape[1]
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= c):
        raise ValueError(f"labels must be in [0, {c}) for {c} channel groups; got max {int(y.max())}")
    mask = torch.nn.functional.one_hot(y, c).bool()
    return g[mask], g[~mask].reshape(g.shape[0], c - 1)


def build_goodness(spec: str | nn.Module, **kwargs: object) -> Goodness:
    """A goodness from ``spec``: a registered name (``"sumsq"``, ``"lp"``...), built with ``kwargs``
    (``p=3``), or an instance, passed through unchanged."""
    return GOODNESS.build(spec, **kwargs)  # type: ignore[return-value]
