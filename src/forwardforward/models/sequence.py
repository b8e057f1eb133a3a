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

    Each step scores all 30 next characters by goodness (of ``net``) for the last ``context`` symbols and
    samples one from the softmax at ``temperature`` (0: the best-scoring one). Returns
    ``[S, context + length]``. Reproducible for a seeded ``generator``.
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
    """``prompt`` and ``length`` characters ``net`` samples after it (at ``temperature``; 0 is argmax),
    each from the ``context`` characters before it. The same ``seed`` gives the same text.

    The prompt is used as given: reduced to the alphabet like the corpus (lower case, other characters
    dropped) but never trimmed, so ``"a hungry fox saw "`` continues after its space; it is left-padded
    with spaces to ``context``."""
    if length < 0:
        raise ValueError(f"length must be >= 0, got {length}")
    reduced = reduce_to_alphabet(prompt, strip=False)
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
#: ``sequence.dreams``: when the model dreams (see :class:`DreamNegatives`).
DREAM_MODES = ("step", "epoch")


class DreamChains:
    """``n`` dreams that advance together, one generated character per :meth:`step`.

    Each chain holds the last ``context`` symbols of one dream. A dream starts from ``context`` real
    characters of a training string, just before a random position ``t`` in ``[context, L - length]``, and
    runs ``length`` characters; then that chain restarts from fresh real text. With
    ``length = L - context`` every dream starts from a string's first ``context`` characters and runs to
    its end, as in Hinton's sleep phase. The first dreams are cut short by different amounts, so that a
    step's ``n`` windows mix early and late characters of dreams from the start.

    Args:
        strings: the training strings ``[S, L]`` (symbol indices) dreams start from.
        context: characters of context.
        length: characters a dream runs, in ``1..L - context``.
        n: the number of chains (a batch's rows).
        generator: draws the starting points and samples the characters.
        state: a :meth:`state_dict` to resume from (the chains as a checkpoint left them; nothing is
            drawn).
    """

    def __init__(
        self,
        strings: torch.Tensor,
        context: int,
        length: int,
        n: int,
        generator: torch.Generator,
        state: dict[str, torch.Tensor] | None = None,
    ) -> None:
        size = strings.shape[1]
        if not 1 <= length <= size - context:
            raise ValueError(
                f"a dream runs 1..{size - context} characters (string length {size} - context {context}), "
                f"got {length}"
            )
        self.strings, self.context, self.length, self.generator = strings, context, length, generator
        if state is not None:  # resuming: the chains as the checkpoint left them, no random draws
            self.ctx, self.left = state["ctx"].clone(), state["left"].clone()
            return
        self.ctx = torch.empty(n, context, dtype=torch.long)
        self.left = torch.empty(n, dtype=torch.long)
        self._restart(torch.arange(n))
        self.left = 1 + torch.arange(n) * length // n

    def _restart(self, rows: torch.Tensor) -> None:
        num, size = self.strings.shape
        s = torch.randint(num, (len(rows),), generator=self.generator)
        t = torch.randint(self.context, size - self.length + 1, (len(rows),), generator=self.generator)
        cols = t.unsqueeze(1) - self.context + torch.arange(self.context)
        self.ctx[rows] = self.strings[s.unsqueeze(1), cols]
        self.left[rows] = self.length

    @torch.no_grad()
    def step(self, net: FFNetwork, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Every chain generates its next character with ``net`` (in eval mode) at ``temperature``; returns
        the windows ``(contexts [n, context], next characters [n])`` and moves on (restarting the chains
        whose dreams are complete)."""
        was = net.training
        net.eval()
        nxt = _next_symbols(net, self.ctx, temperature, self.generator)
        net.train(was)
        ctx = self.ctx
        self.ctx = torch.cat([ctx[:, 1:], nxt.unsqueeze(1)], 1)
        self.left -= 1
        done = (self.left <= 0).nonzero().flatten()
        if len(done):
            self._restart(done)
        return ctx, nxt

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The chains' contexts and remaining lengths (copies), what the ``state`` argument takes back."""
        return {"ctx": self.ctx.clone(), "left": self.left.clone()}


class DreamNegatives(Negatives):
    """The sleep phase's negatives: text the model itself dreams. The Trainer shows them in their own
    forward passes (``phases="halves"`` or ``"alternate"``): each layer's positive half of the loss is
    computed on real windows (wake), the negative half on dreamed ones (sleep).

    - ``dreams="step"``: :class:`DreamChains`, one per batch row, advance one character per step, so the
      negatives always come from the current model; a dream runs ``dream_length`` characters from real
      text, then restarts (``None``: from a string's first ``context`` characters to its end).
    - ``dreams="epoch"``: every training string is dreamed from its first ``context`` characters at the
      start of each epoch (Hinton's sleep phase; the negatives then lag the model by up to an epoch).

    ``temperature`` is the sampling temperature of the dreams (0: the best-scoring character).

    Raises:
        ValueError: a negative temperature, an unknown ``dreams``, a ``dream_length`` below 1, or a
            ``dream_length`` with ``dreams="epoch"`` (which always dreams whole strings).
    """

    def __init__(self, temperature: float = 1.0, dreams: str = "step", dream_length: int | None = 3) -> None:
        super().__init__()
        if temperature < 0:
            raise ValueError(f"dream temperature must be >= 0 (0 = argmax), got {temperature}")
        if dreams not in DREAM_MODES:
            raise ValueError(f"dreams must be one of {', '.join(DREAM_MODES)}, got {dreams!r}")
        if dream_length is not None and dream_length < 1:
            raise ValueError(f"dream_length must be >= 1 (None: to the string end), got {dream_length}")
        if dreams == "epoch" and dream_length is not None:
            raise ValueError(
                "dreams='epoch' dreams every string from its start to its end: pass dream_length=None "
                "(shorter dreams need dreams='step')"
            )
        self.temperature, self.dreams, self.dream_length = float(temperature), dreams, dream_length
        self.chains: DreamChains | None = None
        self._saved: dict[str, torch.Tensor] | None = None

    def start(self, trainer: Any, train: Any, batch_size: int) -> None:
        _check_text(train)
        if self.dreams == "step" and self.chains is None:
            length = self.dream_length or train.strings.shape[1] - train.context
            self.chains = DreamChains(
                train.strings, train.context, length, batch_size, trainer.generator, self._saved
            )
            self._saved = None

    def epoch_data(self, trainer: Any, train: Any) -> TextWindows | None:
        """``dreams="epoch"``: the epoch's dreams of ``trainer``'s model from ``train`` (:meth:`dream`);
        ``None`` for dreams made per step."""
        return self.dream(trainer, train) if self.dreams == "epoch" else None

    def dream(self, trainer: Any, train: Any) -> TextWindows:
        """The model's own strings, each started from the first ``context`` characters of a string of
        ``train`` and generated to the string's end by ``trainer``'s model, from its generator."""
        net, ctx = trainer.net, _check_text(train).context
        was = net.training
        net.eval()
        ids = generate_ids(
            net, train.strings[:, :ctx], train.strings.shape[1] - ctx, self.temperature, trainer.generator
        )
        net.train(was)
        return TextWindows.from_strings(ids, ctx, name="dreams")

    def next_batch(self, trainer: Any) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``dreams="step"``: every chain's next dreamed window, made by ``trainer``'s current model."""
        if self.chains is None:
            return None
        ctx, nxt = self.chains.step(trainer.net, self.temperature)
        return one_hot_context(ctx), nxt

    def pair(self, net: Any, x: Any, y: Any, scores: Any = None, generator: Any = None) -> Any:
        """Not available (always raises): dreams are not made from a batch's positives (``net``, ``x``,
        ``y``, ``scores``, ``generator`` are unused); they come in their own forward passes."""
        raise ValueError(
            "dreamed negatives come in their own forward passes: train with phases='halves' or 'alternate'"
        )

    def state(self) -> dict[str, Any] | None:
        return None if self.chains is None else self.chains.state_dict()

    def restore(self, state: dict[str, Any] | None) -> None:
        self.chains, self._saved = None, state

    def extra_repr(self) -> str:
        """The temperature, the dream mode and the dream length in the module's repr."""
        return f"temperature={self.temperature}, dreams={self.dreams}, dream_length={self.dream_length}"


def _check_text(train: Any) -> TextWindows:
    if not isinstance(train, TextWindows):
        raise ValueError("dreamed negatives need TextWindows training data (the strings dreams start from)")
    return train


__all__ = ["DREAM_MODES", "DreamChains", "DreamNegatives", "generate", "generate_ids"]
