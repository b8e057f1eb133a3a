"""Channel-wise competition: one group of channels per class, no negative data.

Each layer's channels (or units) are split into C equal groups; a group's goodness says how strongly the
layer votes for that class. The layer's loss is a cross-entropy over the C group goodnesses, so every
sample trains every group at once (the true class's up, the others down) and no negative data is needed.
Prediction is one forward pass: the argmax of the group goodness (summed over the scoring layers).

The cross-entropy keeps the library's loss interface ``(g_pos, g_neg)``: the true group's goodness is the
positive, the other groups' are the negatives (``[B, C-1]``), and ``CE = logsumexp([g_pos, g_neg]) - g_pos``.
With one negative per sample it is ``softplus(g_neg - g_pos)``.
"""

from __future__ import annotations

import torch
from torch import nn

from .goodness import GOODNESS, Goodness, build_goodness
from .losses import LOSSES, FFLoss


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
    group's channels and positions to one number.
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
        b, k, g = h.shape[0], h.shape[1], self.num_groups
        if k % g:
            raise ValueError(
                f"channel-wise competition splits {k} channels into {g} class groups; "
                f"use a multiple of {g} channels per layer"
            )
        return self.base(h.reshape(b * g, k // g, *h.shape[2:])).reshape(b, g)

    def extra_repr(self) -> str:
        return f"num_groups={self.num_groups}"


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
        neg = g_neg.unsqueeze(1) if g_neg.dim() == 1 else g_neg
        if neg.shape[0] != g_pos.shape[0]:
            raise ValueError(
                f"channel_ce needs the other groups' goodness for each sample: g_pos has {g_pos.shape[0]} "
                f"rows, g_neg {neg.shape[0]}"
            )
        logits = torch.cat([g_pos.unsqueeze(1), neg], 1) / self.temperature
        return (torch.logsumexp(logits, 1) - logits[:, 0]).mean()

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"


def split_true_group(g: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``[B, C]`` group goodness -> (true group's ``[B]``, the other groups' ``[B, C-1]``)."""
    if y.dim() != 1 or y.shape[0] != g.shape[0]:
        raise ValueError(f"group goodness needs one label per sample; got {tuple(y.shape)} for {g.shape[0]}")
    c = g.shape[1]
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= c):
        raise ValueError(f"labels must be in [0, {c}) for {c} channel groups; got max {int(y.max())}")
    mask = torch.nn.functional.one_hot(y, c).bool()
    return g[mask], g[~mask].reshape(g.shape[0], c - 1)
