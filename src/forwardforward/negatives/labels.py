"""Label negatives for supervised FF: which wrong label does each negative carry?

A sampler maps true labels ``y`` (and, for hard negatives, the model's current class scores) to wrong
labels; the negative input is the real sample embedded with that label. The contract every sampler keeps,
and the tests check: a negative label is never the true one.
"""

from __future__ import annotations

from typing import Any

import torch

from .base import NEGATIVES, Negatives, Scores


class LabelNegatives(Negatives):
    """Base class for samplers of wrong labels: ``forward(y, num_classes, scores, generator)``.

    Subclasses implement :meth:`forward`; the rest embeds what it draws.
    """

    def pair(
        self,
        net: Any,
        x: torch.Tensor,
        y: torch.Tensor | None,
        scores: Scores | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``net``'s inputs for the samples ``x`` with their true labels ``y``, and for the same samples
        with wrong labels drawn with ``generator`` (``scores`` is called only by samplers that need it).

        Raises:
            ValueError: no labels, or a network without a label embedding.
        """
        if y is None or net.num_classes is None:
            raise ValueError("label negatives need a supervised network (labels=...) and the true labels")
        wrong = self(y, net.num_classes, scores() if self.needs_scores and scores else None, generator)
        return net.embed(x, y), net.embed(x, wrong)

    def draw_all(
        self,
        net: Any,
        x: torch.Tensor,
        y: torch.Tensor,
        scores: Scores | None,
        generator: torch.Generator,
        first_layer: bool = False,
    ) -> torch.Tensor:
        """Wrong labels for the whole set ``x`` with true labels ``y`` (``net`` tells the number of
        classes), drawn with ``generator``; random ones when ``first_layer``, which nothing below can
        score, else this sampler's, from ``scores`` if it needs them."""
        if first_layer:
            return RandomLabel()(y, net.num_classes, None, generator)
        return self(y, net.num_classes, scores() if self.needs_scores and scores else None, generator)

    def embed_all(
        self, net: Any, x: torch.Tensor, y: torch.Tensor, drawn: torch.Tensor | None
    ) -> torch.Tensor:
        """``net``'s inputs for the samples ``x`` with their true labels ``y``, or with the wrong labels
        ``drawn`` by :meth:`draw_all` when given."""
        return net.embed(x, y if drawn is None else drawn)

    def forward(
        self,
        y: torch.Tensor,
        num_classes: int,
        scores: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:  # pragma: no cover - abstract
        """One wrong label per true label in ``y``, in ``[0, num_classes)``, drawn with ``generator``;
        ``scores`` ``[B, C]`` are the model's class scores, for the samplers that need them."""
        raise NotImplementedError


@NEGATIVES.register("random")
class RandomLabel(LabelNegatives):
    """A uniformly random wrong label: ``(y + k) mod C`` with ``k`` uniform in ``1..C-1``."""

    def forward(self, y, num_classes, scores=None, generator=None):  # type: ignore[override]
        shift = torch.randint(1, num_classes, y.shape, generator=generator, device="cpu")
        return (y + shift.to(y.device)) % num_classes


@NEGATIVES.register("hard")
class HardLabel(LabelNegatives):
    """A wrong label sampled in proportion to the model's belief in it (Hinton's recipe).

    ``scores`` are logits ``[B, C]`` (a linear head's outputs or all-label goodness); the true class is masked
    out and a wrong class is drawn from the softmax over the rest, so the labels the model confuses with the
    truth are the ones it is shown most. ``temperature`` flattens (>1) or sharpens (<1) that distribution;
    ``warmup_epochs`` uses random wrong labels until the scores mean something.
    """

    needs_scores = True

    def __init__(self, temperature: float = 1.0, warmup_epochs: int = 0) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"hard-negative temperature must be > 0, got {temperature}")
        self.temperature = float(temperature)
        self.warmup_epochs = int(warmup_epochs)

    def forward(self, y, num_classes, scores=None, generator=None):  # type: ignore[override]
        if scores is None:
            raise ValueError("HardLabel needs the model's class scores [batch, classes]")
        if scores.shape != (y.shape[0], num_classes):
            raise ValueError(
                f"scores must have shape [batch, classes] = [{y.shape[0]}, {num_classes}], "
                f"got {tuple(scores.shape)}"
            )
        # Clamp first: a +inf score would make the softmax NaN instead of picking that class.
        logits = scores.detach().float().cpu().clamp(-1e4, 1e4) / self.temperature
        truth = torch.nn.functional.one_hot(y.cpu(), num_classes).bool()
        logits = logits.masked_fill(truth, float("-inf"))
        probs = torch.softmax(logits, dim=1)
        # Guard against NaN/underflow rows: fall back to uniform over the wrong classes.
        bad = ~torch.isfinite(probs).all(1) | (probs.sum(1) <= 0)
        if bad.any():
            probs[bad] = (~truth[bad]).float() / (num_classes - 1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(1).to(y.device)

    def extra_repr(self) -> str:
        """The temperature and the warm-up epochs in the module's repr."""
        return f"temperature={self.temperature}, warmup_epochs={self.warmup_epochs}"


__all__ = ["HardLabel", "LabelNegatives", "RandomLabel"]
