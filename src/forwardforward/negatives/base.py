"""The one interface every source of negative data keeps, and the one registry they are all found in.

Supervised FF makes a negative from a real sample and a *wrong label*
(:mod:`forwardforward.negatives.labels`); unsupervised FF makes a different *input* (:mod:`.images`). The
Trainer sees neither difference: it asks a :class:`Negatives` for the embedded positive and negative inputs of
a batch (:meth:`Negatives.pair`), and, for the greedy schedule, for negatives of a whole dataset at once
(:meth:`Negatives.draw_all`, then :meth:`Negatives.embed_all` chunk by chunk). A new kind of negative data is
one subclass registered here.
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
        self,
        net: Any,
        x: torch.Tensor,
        y: torch.Tensor | None,
        scores: Scores | None,
        generator: torch.Generator,
        first_layer: bool = False,
    ) -> torch.Tensor:  # pragma: no cover - abstract
        """Negatives for every sample of a whole training set at once, for the greedy schedule: wrong labels
        ``[N]`` or negative inputs ``[N, ...]``, which :meth:`embed_all` turns into network inputs chunk by
        chunk. A source that implements only :meth:`pair` trains with the ``all`` schedule alone; the
        greedy schedule refuses it before training (:func:`check_schedule`).

        Args:
            net: the network being trained (e.g. for its number of classes).
            x: every sample ``[N, ...]``.
            y: their true labels ``[N]`` (``None`` where no label enters the network).
            scores: computes the class scores ``[N, C]`` of the frozen layers below on demand.
            generator: the seeded source of every random draw.
            first_layer: no layer below can score labels yet (hard negatives fall back to random ones).
        """
        raise NotImplementedError

    def embed_all(
        self, net: Any, x: torch.Tensor, y: torch.Tensor, drawn: torch.Tensor | None
    ) -> torch.Tensor:  # pragma: no cover - abstract
        """``net``'s embedded inputs for a chunk of samples ``x`` with true labels ``y``: the positives when
        ``drawn`` is ``None``, else the negatives :meth:`draw_all` drew for them."""
        raise NotImplementedError


def _defines(cls: type, method: str) -> bool:
    """Whether ``cls`` (a :class:`Negatives` subclass) overrides the base class's ``method``."""
    return getattr(cls, method, None) is not getattr(Negatives, method)


def check_schedule(negatives: Negatives | type, schedule: str, name: str | None = None) -> None:
    """Refuse, before any training, a source of negatives (an instance or its class) lacking a method the
    ``schedule`` (``"all"`` or ``"greedy"``) calls: a one-line error naming it and both ways out, instead of
    a bare ``NotImplementedError`` from deep inside the first epoch. ``name`` is how the user named it
    (default: its registered name, else its class's name).

    Raises:
        ValueError: the source cannot feed the schedule.
    """
    cls = negatives if isinstance(negatives, type) else type(negatives)
    label = name or NEGATIVES.name_of(cls) or cls.__name__
    if schedule == "all":
        # pair feeds every batch, unless the source makes data of its own (dreams) for its own passes
        if not (_defines(cls, "pair") or _defines(cls, "next_batch") or _defines(cls, "epoch_data")):
            raise ValueError(
                f"negatives {label!r} (class {cls.__qualname__}) defines no pair(net, x, y, scores, "
                "generator), which the 'all' schedule calls for every batch: implement it"
            )
        return
    missing = [m for m in ("draw_all", "embed_all") if not _defines(cls, m)]
    if schedule == "greedy" and missing:
        has = "it defines pair" if _defines(cls, "pair") else "it defines neither"
        raise ValueError(
            f"negatives {label!r} (class {cls.__qualname__}) draws per batch only ({has}, not "
            f"{' and '.join(missing)}): use schedule='all' (config: trainer.schedule=all), or implement "
            "draw_all(net, x, y, scores, generator, first_layer) and embed_all(net, x, y, drawn) to train "
            "with the greedy schedule"
        )


def build_negatives(spec: str | Negatives, **kwargs: Any) -> Negatives:
    """A source of negatives from ``spec``: a registered name, built with ``kwargs`` (its arguments), or
    an instance, passed through unchanged."""
    return NEGATIVES.build(spec, **kwargs)  # type: ignore[return-value]


__all__ = ["NEGATIVES", "Negatives", "Scores", "build_negatives", "check_schedule"]
