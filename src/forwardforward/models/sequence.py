"""Sequence FF: next-character prediction on a text corpus, with two kinds of negative data.

The network is an ordinary FF MLP whose input is the previous ``context`` characters one-hot
(``context * 30`` values) and whose "label" is the candidate next character, appended as a scaled one-hot.
A real (context, next character) pair is positive data. The prediction for a context is the character
whose pair has the highest goodness (all 30 scored in one batched pass), and generation samples from a
softmax over those goodness scores.

Two ways to make negatives (Hinton 2022, sequence experiment):

- **teacher forcing** (``sequence.negatives=teacher``): the real context with a wrong next character the
  model itself predicts, sampled in proportion to its belief (``HardLabel`` on all-label goodness). This
  is the plain :class:`~forwardforward.train.Trainer` with hard negatives on next-character windows.
- **sleep** (``sequence.negatives=sleep``): at the start of every epoch the model *dreams*: from the real
  first ``context`` characters of every training string it generates the rest of the string itself, one
  sampled character at a time. Training then alternates a *wake* update (real windows, positive term of
  the loss only) with a *sleep* update (windows of the dreamed strings, negative term only): positives and
  negatives never share an update (:class:`SleepTrainer`).
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F

from ..data.text import ALPHABET, TextWindows, cut_strings, decode, encode, one_hot_context, read_corpus
from ..data.text import reduce_to_alphabet as reduce_to_alphabet
from ..losses import FFLoss, SigmoidDifferenceLoss, SoftplusLoss
from ..network import FFNetwork
from ..training.trainer import Trainer


def load_text_splits(cfg: Any) -> Any:
    """The config's corpus as ``DataSplits`` of :class:`TextWindows` (train strings, held-out strings)."""
    from ..data.dataset import DataSplits

    s = cfg.sequence
    text, where = read_corpus(cfg.data.root, cfg.data.name)
    train, held_out = cut_strings(text, s.num_strings, s.string_length, s.eval_strings, source=where)
    return DataSplits(  # type: ignore[arg-type]
        train=TextWindows.from_strings(train, s.context, name=cfg.data.name),
        test=TextWindows.from_strings(held_out, s.context, name=cfg.data.name),
    )


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
def one_sided_loss(loss: FFLoss, g: torch.Tensor, positive: bool) -> torch.Tensor:
    """The positive (or negative) half of a threshold loss, for updates that see only one kind of data.

    Only thresholded losses can score positives without negatives; a paired loss (SymBa) cannot.
    """
    if isinstance(loss, SoftplusLoss):
        margin = (g - loss._theta()) / loss.temperature
        return F.softplus(-margin).mean() if positive else F.softplus(margin).mean()
    if isinstance(loss, SigmoidDifferenceLoss):
        p = torch.sigmoid(g - loss._theta()).mean()
        return -p if positive else p
    raise ValueError(
        f"the sleep phase trains positives and negatives in separate updates, so each layer needs a loss "
        f"with a threshold (softplus or sigmoid_diff); {type(loss).__name__} compares pairs. "
        f"Set model.loss=softplus"
    )


class SleepTrainer(Trainer):
    """Wake/sleep FF for sequences: real windows (positive) and dreamed windows (negative) in separate
    updates; the dreams are regenerated by the current model at the start of every epoch.

    The training data must be :class:`TextWindows` (it carries the strings the dreams start from).
    Everything else (optimiser, learning-rate schedule, NaN guard, checkpoints, resume, callbacks) is the
    :class:`Trainer`'s.
    """

    def __init__(self, net: FFNetwork, *args: Any, temperature: float = 1.0, **kwargs: Any) -> None:
        kwargs["negatives"] = "random"  # unused: the sleep phase brings its own negatives
        super().__init__(net, *args, **kwargs)
        for layer in net.layers:
            one_sided_loss(layer.loss, torch.zeros(1), True)  # fail now, not mid-training
        if net.head is not None:
            raise ValueError("the sleep phase trains no linear head; build the network with head=False")
        self.temperature = float(temperature)

    def dream(self, train: TextWindows) -> TextWindows:
        """The model's own strings, each started from a real string's first ``context`` characters."""
        ctx = train.context
        was = self.net.training
        self.net.eval()
        ids = generate_ids(
            self.net, train.strings[:, :ctx], train.strings.shape[1] - ctx, self.temperature, self.generator
        )
        self.net.train(was)
        return TextWindows.from_strings(ids, ctx, name="dreams")

    def _fit_all(self, train: Any, epochs: int, batch_size: int, eval_data: Any) -> None:
        if not isinstance(train, TextWindows):
            raise ValueError(
                "SleepTrainer needs TextWindows training data (the strings its dreams start from)"
            )
        while self.epoch < epochs:
            t0 = time.perf_counter()
            dreams = self.dream(train)
            sums: dict[str, float] = {}
            pos_batches = self._batches(len(train.y), batch_size)
            neg_batches = self._batches(len(dreams.y), batch_size)
            bar = self._bar(len(pos_batches), f"epoch {self.epoch + 1}/{epochs} (wake/sleep)")
            for pos, neg in zip(pos_batches, neg_batches):
                row = self._phase_step(train, pos, positive=True)
                row.update(self._phase_step(dreams, neg, positive=False))
                for i in range(len(self.net.layers)):
                    row[f"loss/{i}"] = row.pop(f"wake/{i}") + row.pop(f"sleep/{i}")
                    row[f"sep/{i}"] = float(row[f"g_pos/{i}"] > row[f"g_neg/{i}"])
                self.step_count += 1
                _add(sums, row)
                if bar is not None:
                    bar.update()
            if bar is not None:
                bar.close()
            self.epoch += 1
            self._end_epoch(sums, len(pos_batches), time.perf_counter() - t0, eval_data)

    def _phase_step(self, data: TextWindows, idx: torch.Tensor, positive: bool) -> dict[str, float]:
        """One update on real (``positive``) or dreamed windows, with that half of every layer's loss."""
        self._set_lr()
        net = self.net
        x = net.embed(data.x[idx].to(self.device), data.y[idx].to(self.device))
        losses = []
        row: dict[str, float] = {}
        for i, h in enumerate(net.activities(x)):
            layer = net.layers[i]
            g = layer.goodness(h)
            losses.append(one_sided_loss(layer.loss, g, positive))
            row[f"{'wake' if positive else 'sleep'}/{i}"] = float(losses[-1].detach())
            row[f"{'g_pos' if positive else 'g_neg'}/{i}"] = float(g.detach().mean())
        self._check_finite(losses, None, None)
        self.optimizer.zero_grad(set_to_none=True)
        torch.stack(losses).sum().backward()
        self._before_step()
        self.optimizer.step()
        return row


def _add(sums: dict[str, float], row: dict[str, float]) -> None:
    for k, v in row.items():
        sums[k] = sums.get(k, 0.0) + v


__all__ = ["SleepTrainer", "generate", "generate_ids", "load_text_splits", "one_sided_loss"]
