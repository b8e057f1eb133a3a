"""Sequence FF: next-character prediction on a text corpus, with two kinds of negative data.

The network is an ordinary FF MLP whose input is the previous ``context`` characters one-hot
(``context * 30`` values) and whose "label" is the candidate next character, appended as a scaled one-hot.
A real (context, next character) pair is positive data. The prediction for a context is the character
whose pair has the highest goodness (all 30 scored in one batched pass), and generation samples from a
softmax over those goodness scores.

Two ways to make negatives (Hinton 2022, sequence experiment):

- **teacher forcing** (``sequence.negatives=teacher``): the real context with a wrong next character the
  model itself predicts, sampled in proportion to its belief (``HardLabel`` on all-label goodness). This
  is the plain :class:`~forwardforward.training.trainer.Trainer` with hard negatives on next-character
  windows.
- **sleep** (``sequence.negatives=sleep``): at the start of every epoch the model *dreams*: from the real
  first ``context`` characters of every training string it generates the rest of the string itself, one
  sampled character at a time (:class:`DreamNegatives`). Training then alternates a *wake* update (real
  windows, positive term of the loss only) with a *sleep* update (windows of the dreamed strings, negative
  term only): positives and negatives never share an update (``Trainer(phases="alternate")``).
"""

from __future__ import annotations

from typing import Any

import torch

from ..data.text import ALPHABET, TextWindows, decode, encode, one_hot_context
from ..data.text import reduce_to_alphabet as reduce_to_alphabet
from ..negatives.base import Negatives
from ..network import FFNetwork


# ---------------------------------------------------------------------- generation
def _next_symbols(
    net: FFNetwork, ctx: torch.Tensor, temperature: float, generator: torch.Generator | None
) -> torch.Tensor:
    """One next symbol per row of ``ctx [S, context]``: argmax (temperature 0) or a softmax sample."""
    device = next(net.parameters()).device
    scores = net.scores(one_hot_context(ctx).to(device)).float().cpu()
    if temperature == 0:
        return scores.argmax(1)
    probs = torch.softmax(scores / temperature, dim=1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


@torch.no_grad()
def generate_ids(
    net: FFNetwork,
    start: torch.Tensor,
    length: int,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Continue every row of ``start [S, context]`` (symbol indices) by ``length`` generated symbols.

    Each step scores all 30 next characters by goodness for the last ``context`` symbols and samples one.
    Returns ``[S, context + length]``. Reproducible for a seeded ``generator``.
    """
    if start.dim() != 2:
        raise ValueError(f"start must be [strings, context] symbol indices, got shape {tuple(start.shape)}")
    context = start.shape[1]
    out = start.clone()
    for _ in range(length):
        nxt = _next_symbols(net, out[:, -context:], temperature, generator)
        out = torch.cat([out, nxt.unsqueeze(1)], 1)
    return out


def generate(
    net: FFNetwork,
    prompt: str,
    length: int = 200,
    context: int = 10,
    seed: int = 0,
    temperature: float = 1.0,
) -> str:
    """``prompt`` (reduced to the alphabet; left-padded with spaces to ``context``) and ``length`` sampled
    characters after it. The same seed gives the same text."""
    if length < 0:
        raise ValueError(f"length must be >= 0, got {length}")
    reduced = reduce_to_alphabet(prompt)
    if not reduced:
        raise ValueError(
            f"the prompt {prompt!r} has no characters of the alphabet {ALPHABET!r} left after reduction; "
            f"give some English text, e.g. --prompt 'a fox saw '"
        )
    padded = reduced.rjust(context)
    start = encode(padded[-context:]).unsqueeze(0)
    ids = generate_ids(net, start, length, temperature, torch.Generator().manual_seed(seed))
    return reduced + decode(ids[0, context:])


# ---------------------------------------------------------------------- sleep phase
class DreamNegatives(Negatives):
    """The sleep phase's negatives: text the model itself dreams, regenerated at the start of every epoch.

    From the real first ``context`` characters of every training string the current model generates the
    rest of the string, one sampled character at a time (:func:`generate_ids`, ``temperature``); every
    window of the dreamed strings is a negative. The Trainer shows them in their own updates
    (``phases="alternate"``): positives and negatives never share an update.
    """

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__()
        if temperature < 0:
            raise ValueError(f"dream temperature must be >= 0 (0 = argmax), got {temperature}")
        self.temperature = float(temperature)

    def epoch_data(self, trainer: Any, train: Any) -> TextWindows:
        if not isinstance(train, TextWindows):
            raise ValueError(
                "dreamed negatives need TextWindows training data (the strings dreams start from)"
            )
        net, ctx = trainer.net, train.context
        was = net.training
        net.eval()
        ids = generate_ids(
            net, train.strings[:, :ctx], train.strings.shape[1] - ctx, self.temperature, trainer.generator
        )
        net.train(was)
        return TextWindows.from_strings(ids, ctx, name="dreams")

    def pair(self, net: Any, x: Any, y: Any, scores: Any = None, generator: Any = None) -> Any:
        raise ValueError("dreamed negatives come in their own phase: train with phases='alternate'")

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"


__all__ = ["DreamNegatives", "generate", "generate_ids"]
