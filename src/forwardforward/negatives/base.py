"""The one interface every source of negative data keeps, and the one registry they are all found in.

Supervised FF makes a negative from a real sample and a *wrong label* (:mod:`.labels`); unsupervised FF
makes a different *input* (:mod:`.images`). The Trainer sees neither difference: it asks a
:class:`Negatives` for the embedded positive and negative inputs of a batch (:meth:`Negatives.pair`), and,
for the greedy schedule, for negatives of a whole dataset at once (:meth:`Negatives.draw_all`, then
:meth:`Negatives.embed_all` chunk by chunk). A new kind of negative data is one subclass registered here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..registry import Registry

#: Every source of negatives, label or image, by name (``trainer.negatives``).
NEGATIVES: Registry[nn.Module] = Registry("negatives")

Scores = Callable[[], torch.Tensor]


class Negatives(nn.Module):
    """Base class: where a batch's negative data comes from. A subclass sets the attributes below.

    Attributes:
        label_free: ``True`` when the negatives are other *inputs* and no label enters the network
            (unsupervised FF); ``False`` when they are the same inputs with wrong labels.
        needs_scores: ``True`` when drawing needs the model's class scores ``[B, C]`` (hard negatives);
            the Trainer computes them only then.
        warmup_epochs: epochs during which random wrong labels stand in (for scores that mean nothing yet).
    """

    label_free: bool = False
    needs_scores: bool = False
    warmup_epochs: int = 0

    def pair(
        self,
        net: Any,
        x: torch.Tensor,
        y: torch.Tensor | None,
        scores: Scores | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover - abstract
        """``(positive, negative)`` network inputs for a batch.

        Args:
            net: the network, which embeds the inputs (as its first layer takes them).
            x: the raw samples.
            y: their true labels (``None`` where no label enters the network).
            scores: computes the model's class scores ``[B, C]`` on demand, so they cost nothing unless
                :attr:`needs_scores`.
            generator: the seeded source of every random draw.
        """
        raise NotImplementedError

    def start(self, trainer: Any, train: Any, batch_size: int) -> None:
        """Called once by ``trainer`` when training on ``train`` starts (e.g. to set up dream chains of
        ``batch_size`` rows); nothing by default."""

    def epoch_data(self, trainer: Any, train: Any) -> Any:
        """Negative data of the source's own for the coming epoch of ``trainer`` on ``train`` (``.x``,
        ``.y``), made at its start, e.g. text the model dreams (the sleep phase); ``None`` (the default)
        when negatives come per batch."""
        return None

    def next_batch(self, trainer: Any) -> tuple[torch.Tensor, torch.Tensor] | None:
        """A batch of negative data of the source's own, ``(x, y)``, made now with ``trainer``'s current
        model (e.g. dreams advanced one character); ``None`` (the default) when negatives are drawn from
        each batch's positives."""
        return None

    def state(self) -> dict[str, Any] | None:
        """What a checkpoint must keep for a resumed run to draw what an uninterrupted one would."""
        return None

    def restore(self, state: dict[str, Any] | None) -> None:
        """Take back what :meth:`state` returned (``None``: nothing was saved)."""

    def draw_all(
        self, data: Any, scores: Scores | None, generator: torch.Generator, first_layer: bool
    ) -> torch.Tensor:  # pragma: no cover - abstract
        """Negatives for every sample of ``data`` (``.x``, ``.y``) at once, for the greedy schedule: wrong
        labels ``[N]`` or negative inputs ``[N, ...]``. ``scores`` computes the class scores on demand,
        ``generator`` makes the draws; ``first_layer``: no layer below can score labels yet.

        The concrete sources take the network and the samples instead of ``data``:
        ``draw_all(net, x, y, scores, generator, first_layer)``, which is how the greedy schedule calls it.
        """
        raise NotImplementedError

    def embed_all(
        self, net: Any, x: torch.Tensor, y: torch.Tensor, drawn: torch.Tensor | None
    ) -> torch.Tensor:  # pragma: no cover - abstract
        """``net``'s embedded inputs for a chunk of samples ``x`` with true labels ``y``: the positives when
        ``drawn`` is ``None``, else the negatives :meth:`draw_all` drew for them."""
        raise NotImplementedError


def build_negatives(spec: str | Negatives, **kwargs: Any) -> Negatives:
    """A source of negatives from ``spec``: a registered name, built with ``kwargs`` (its arguments), or
    an instance, passed through unchanged."""
    return NEGATIVES.build(spec, **kwargs)  # type: ignore[return-value]


__all__ = ["NEGATIVES", "Negatives", "Scores", "build_negatives"]
