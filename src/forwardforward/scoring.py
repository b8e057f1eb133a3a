"""How an FF network scores labels: all labels in batched passes, candidate pruning, and the evaluation.

Functions of a network (:class:`~forwardforward.network.FFNetwork` calls them from its methods, which are
the API). Hot paths are batched: with an additive label code and a linear first layer,
``W (base + code_c) = W base + W code_c``, so every label's first-layer input costs one matrix product for
the batch plus a ``[C, units]`` product, broadcast-added; a normalised input keeps that exact, because
each label's normalisation factor follows from squared lengths alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .data.convert import as_dataset, as_inputs
from .normalize import NoNormalize, RowScaling


class LabelScoring:
    """The prediction half of :class:`~forwardforward.network.FFNetwork`: scoring labels by goodness, the
    linear head, prediction and evaluation (a mixin, so the network's class stays about the layers)."""

    @torch.no_grad()
    def label_goodness(self, x: torch.Tensor, chunk_size: int = 1024) -> torch.Tensor:
        """Goodness of every layer for every label of the raw samples ``x``: ``[B, C, L]``.

        All labels are scored in batched tensor operations. With an additive label code and a linear
        first layer, ``W (base + code_c) = W base + W code_c``: the first layer costs one matrix product
        for the batch plus a ``[C, units]`` product, broadcast-added. ``chunk_size`` bounds the (sample,
        label) rows of one pass (at least one sample per pass), which bounds the memory.
        """
        return label_goodness(self, x, chunk_size)

    @torch.no_grad()
    def label_goodness_naive(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, L]`` for the raw samples ``x`` like :meth:`label_goodness`, the slow obvious way: one
        full forward per label.

        Kept as the reference that the batched and pruned paths are tested and benchmarked against.
        """
        return label_goodness_naive(self, x)

    @torch.no_grad()
    def scores(
        self,
        x: torch.Tensor,
        layers: Sequence[int] | None = None,
        keep: int | None = None,
        prune_after: int | None = None,
        chunk_size: int = 1024,
    ) -> torch.Tensor:
        """``[B, C]`` label scores of the raw samples ``x``: goodness summed over ``layers`` (default
        ``score_layers``).

        With ``keep=k``, candidate pruning: every label goes through the first ``prune_after`` layers
        (default: up to and including the first scoring layer), only the ``k`` labels with the highest
        goodness so far go deeper, and the pruned labels score ``-inf``. Deep layers cost a ``k / C``
        fraction of full scoring; the argmax is unchanged whenever the winner survives the early cut.
        ``chunk_size`` bounds the (sample, label) rows of one pass, as in :meth:`label_goodness`.
        """
        chosen = self.score_layers if layers is None else self._check_indices(layers, "layers")
        if keep is None or self.one_pass:
            # One-pass nets score every class at once: pruning would save nothing.
            return self.label_goodness(x, chunk_size)[:, :, chosen].sum(2)
        return pruned_scores(self, x, chosen, keep, prune_after, chunk_size)

    @torch.no_grad()
    def candidate_scores(
        self, x: torch.Tensor, candidates: torch.Tensor, layers: Sequence[int] | None = None
    ) -> torch.Tensor:
        """``[B, K]`` scores of sample ``x[i]`` with label ``candidates[i, j]`` only (goodness summed over
        ``layers``, default ``score_layers``). The first layer's product with the image is shared by the
        ``K`` labels, as in :meth:`label_goodness`; the deeper layers cost ``K / C`` of full scoring."""
        return candidate_scores(self, x, candidates, layers)

    @torch.no_grad()
    def head_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The linear head's logits ``[B, C]`` for the raw samples ``x`` (from their neutral-label
        :meth:`features`).

        Raises:
            ValueError: the network has no head.
        """
        if self.head is None:
            raise ValueError("this network has no linear head (built with head=False)")
        return self.head(self.features(x))

    def as_inputs(self, x: Any) -> torch.Tensor:
        """Samples ``x`` in any numeric dtype and layout (NumPy or torch; one sample or a batch) as the float
        batch ``[N, *input_shape]`` on the network's device: see
        :func:`forwardforward.data.convert.as_inputs`."""
        device = next(self.parameters()).device
        return as_inputs(x, getattr(self, "input_shape", None), device)

    @torch.no_grad()
    def predict(
        self,
        x: Any,
        mode: str = "goodness",
        keep: int | None = None,
        prune_after: int | None = None,
        views: Callable[[torch.Tensor], list[torch.Tensor]] | None = None,
    ) -> torch.Tensor:
        """Predicted classes: ``mode="goodness"`` (all-label goodness argmax, optionally with candidate
        pruning: ``keep`` and ``prune_after`` as in :meth:`scores`) or ``"head"``. With ``views`` (e.g.
        :attr:`test_views`, a :class:`~forwardforward.data.augment.ShiftViews`), the scores (head: the
        softmax) are averaged over the views of each input: test-time augmentation.

        ``x`` may be a tensor or a NumPy array of any numeric dtype (uint8 is read as pixels in [0, 255]),
        one sample or a batch, in any shape that flattens to the input size per sample."""
        if mode not in ("goodness", "head"):
            raise ValueError(f"unknown prediction mode {mode!r}; valid: 'goodness', 'head'")
        x = self.as_inputs(x)

        def score(v: torch.Tensor) -> torch.Tensor:
            if mode == "goodness":
                return self.scores(v, keep=keep, prune_after=prune_after)
            return self.head_logits(v).softmax(1)

        if views is None:
            return score(x).argmax(1)
        return torch.stack([score(v) for v in views(x)]).mean(0).argmax(1)

    def evaluate(
        self,
        data: Any,
        batch_size: int = 1000,
        views: Callable[[torch.Tensor], list[torch.Tensor]] | None = None,
    ) -> dict[str, Any]:
        """Accuracy by goodness (summed over ``score_layers``; also over every layer, the first included),
        per layer, by the head, and the mean goodness of the true label vs the wrong ones per layer.
        ``data`` has ``.x`` and ``.y``.

        With ``views`` (a callable returning views of a batch, the unchanged batch first, such as
        :attr:`test_views`), also the test-time-augmented accuracies: goodness (head: softmax) averaged over
        the views, as ``accuracy_views``, ``layer_accuracy_views`` and ``head_accuracy_views``; the one-view
        figures are read off the first view, so they stay comparable with an evaluation without views.
        ``batch_size`` is the samples per pass (times the number of labels for all-label scoring).

        ``data`` may also be an ``(x, y)`` tuple, a torch ``Dataset`` of ``(x, y)`` or a ``DataLoader``
        (:func:`~forwardforward.data.convert.as_dataset`)."""
        return evaluate(self, as_dataset(data, getattr(self, "num_classes", None), "data"), batch_size, views)


def group_goodness(net: Any, x: torch.Tensor) -> torch.Tensor:
    """Channel-wise competition: ``[B, C, L]`` for the raw samples ``x`` from one forward pass of ``net``
    (each layer's group goodness)."""
    acts = net.activities(net.embed_neutral(x))
    return torch.stack([layer.goodness(h) for layer, h in zip(net.layers, acts)], 2)


def first_layer_all_labels(
    net: Any, x: torch.Tensor, c: int, candidates: torch.Tensor | None = None
) -> torch.Tensor:
    """The first layer of ``net``: its activity for every (sample of ``x``, label) pair, ``[B * C, ...]``
    with the label fastest and ``c`` the number of labels; with ``candidates [B, K]``, only for those
    pairs: ``[B * K, ...]``. Where the first block allows it (a linear block whose input is unnormalised or
    scaled per row, or a conv block whose input is unnormalised), the image's product is computed once and
    shared by every label's additive code."""
    b = x.shape[0]
    first = net.layers[0]
    assert net.labels is not None
    plain = isinstance(net.input_norm, NoNormalize)
    if isinstance(first.block, nn.Linear) and (plain or isinstance(net.input_norm, RowScaling)):
        base = net.labels.base(x)
        codes = net.labels.codes(x[0].numel(), x.device, x.dtype)
        per_label = F.linear(codes, first.block.weight)  # [C, units]: each code's share of the product
        shares = per_label.unsqueeze(0) if candidates is None else per_label[candidates]
        if plain:
            pre = first.block(base).unsqueeze(1) + shares
        else:  # W (s_c (base + code_c)) + b = s_c (W base + W code_c) + b, s_c from squared lengths
            pre = (F.linear(base, first.block.weight).unsqueeze(1) + shares) * input_scales(
                net, base, codes, candidates
            ).unsqueeze(2)
            if first.block.bias is not None:
                pre = pre + first.block.bias
        return first.activation(pre).reshape(-1, pre.shape[-1])
    if candidates is not None:
        k = candidates.shape[1]
        return first(net.embed(x.repeat_interleave(k, 0), candidates.reshape(-1)))
    if plain and hasattr(first.block, "forward_additive"):  # a conv block: the batch and C codes once
        codes = net.labels.codes(x[0].numel(), x.device, x.dtype)
        return first.activation(first.block.forward_additive(net.labels.base(x), codes))
    return first(net.input_norm(net.labels.all_labels(x).reshape(b * c, -1)))


def input_scales(
    net: Any, base: torch.Tensor, codes: torch.Tensor, candidates: torch.Tensor | None
) -> torch.Tensor:
    """The factor of ``net``'s input normaliser for every (sample, label) input ``base + code_c``, where
    ``base`` ``[B, D]`` is the samples' label-free input and ``codes`` ``[C, D]`` the label codes: ``[B, C]``,
    or ``[B, K]`` for ``candidates``, from ``|base|^2 + 2 base.code_c + |code_c|^2`` alone."""
    assert isinstance(net.input_norm, RowScaling)
    sq = base.pow(2).sum(1, keepdim=True) + 2 * base @ codes.T + codes.pow(2).sum(1)
    if candidates is not None:
        sq = sq.gather(1, candidates)
    return net.input_norm.scale(sq, base.shape[1])


def label_goodness_chunk(net: Any, x: torch.Tensor, c: int) -> torch.Tensor:
    """:func:`label_goodness` of ``net`` for one chunk of raw samples ``x`` and its ``c`` labels, in one
    pass: ``[B, C, L]``."""
    b = x.shape[0]
    first = net.layers[0]
    h = first_layer_all_labels(net, x, c)
    goods = [first.goodness(h)]
    for i, layer in enumerate(net.layers[1:], start=1):
        h = layer(net.hand_over(i - 1, h))
        goods.append(layer.goodness(h))
    return torch.stack(goods, 1).reshape(b, c, len(net.layers))


def pruned_scores_chunk(
    net: Any, x: torch.Tensor, c: int, chosen: list[int], keep: int, cut: int
) -> torch.Tensor:
    """:func:`pruned_scores` of ``net`` for one chunk of raw samples ``x``: all ``c`` labels through the
    first ``cut`` layers, then only the ``keep`` best labels (ranked by the ``chosen`` layers seen so far,
    or by every early layer when none of them is chosen); ``[B, C]`` with ``-inf`` for pruned labels."""
    b = x.shape[0]
    total = x.new_zeros(b, c)  # goodness summed over the chosen layers seen so far
    early = x.new_zeros(b, c)  # all early layers' goodness: the ranking when none of them is chosen
    h = first_layer_all_labels(net, x, c)
    for i in range(cut):
        if i > 0:
            h = net.layers[i](net.hand_over(i - 1, h))
        g = net.layers[i].goodness(h).reshape(b, c)
        early += g
        if i in chosen:
            total += g
    last = max(chosen)
    if last < cut:
        return total
    rank = total if min(chosen) < cut else early
    top = rank.topk(keep, dim=1).indices  # [b, k]
    rows = torch.arange(b, device=x.device).unsqueeze(1)
    h = h.reshape(b, c, *h.shape[1:])[rows, top].reshape(b * keep, *h.shape[1:])
    part = total.gather(1, top)
    for i in range(cut, last + 1):
        h = net.layers[i](net.hand_over(i - 1, h))
        if i in chosen:
            part += net.layers[i].goodness(h).reshape(b, keep)
    return torch.full_like(total, float("-inf")).scatter(1, top, part)


@torch.no_grad()
def label_goodness(net: Any, x: torch.Tensor, chunk_size: int = 1024) -> torch.Tensor:
    """Goodness of every layer of ``net`` for every label of the raw samples ``x``, ``[B, C, L]``, in
    batched passes of about ``chunk_size`` (sample, label) rows (:meth:`FFNetwork.label_goodness`)."""
    if net.one_pass:
        return torch.cat([group_goodness(net, xb) for xb in x.split(max(1, chunk_size))], 0)
    if net.labels is None or net.num_classes is None:
        raise ValueError("label_goodness needs a supervised network (labels=...)")
    c = net.num_classes
    out = []
    for xb in x.split(max(1, chunk_size // c) if chunk_size >= c else 1):
        out.append(label_goodness_chunk(net, xb, c))
    return torch.cat(out, 0)


@torch.no_grad()
def label_goodness_naive(net: Any, x: torch.Tensor) -> torch.Tensor:
    """``[B, C, L]`` for ``net`` and the raw samples ``x`` the slow obvious way, one full forward per
    label: the reference the batched and pruned paths are tested and benchmarked against."""
    if net.labels is None or net.num_classes is None:
        raise ValueError("label_goodness_naive needs a supervised network (labels=...)")
    per_label = []
    for c in range(net.num_classes):
        y = torch.full((x.shape[0],), c, dtype=torch.long, device=x.device)
        acts = net.activities(net.embed(x, y))
        per_label.append(torch.stack([layer.goodness(h) for layer, h in zip(net.layers, acts)], 1))
    return torch.stack(per_label, 1)


@torch.no_grad()
def candidate_scores(
    net: Any, x: torch.Tensor, candidates: torch.Tensor, layers: Sequence[int] | None = None
) -> torch.Tensor:
    """``[B, K]`` scores by ``net`` of sample ``x[i]`` with label ``candidates[i, j]`` only, goodness
    summed over ``layers`` (default ``score_layers``; see :meth:`FFNetwork.candidate_scores`)."""
    chosen = net.score_layers if layers is None else net._check_indices(layers, "layers")
    if net.labels is None or net.num_classes is None or net.one_pass:
        raise ValueError("candidate_scores needs a supervised network that scores one label per pass")
    if candidates.dim() != 2 or candidates.shape[0] != x.shape[0]:
        raise ValueError(
            f"candidates must be [B, K] for B={x.shape[0]} samples, got shape {tuple(candidates.shape)}"
        )
    if candidates.numel() and not 0 <= int(candidates.min()) <= int(candidates.max()) < net.num_classes:
        raise ValueError(f"candidate labels must be in [0, {net.num_classes - 1}]")
    b, k = candidates.shape
    h = first_layer_all_labels(net, x, net.num_classes, candidates)
    total = x.new_zeros(b * k)
    for i, layer in enumerate(net.layers[: max(chosen) + 1]):
        if i > 0:
            h = layer(net.hand_over(i - 1, h))
        if i in chosen:
            total += layer.goodness(h)
    return total.reshape(b, k)


@torch.no_grad()
def pruned_scores(
    net: Any, x: torch.Tensor, chosen: list[int], keep: int, prune_after: int | None, chunk_size: int
) -> torch.Tensor:
    """``[B, C]`` label scores by ``net`` of the raw samples ``x`` with candidate pruning: goodness summed
    over the ``chosen`` layers, only the ``keep`` best labels after the first ``prune_after`` layers
    (``None``: through the first chosen layer) going deeper, ``chunk_size`` (sample, label) rows per pass
    (see :meth:`FFNetwork.scores`)."""
    c = net.num_classes
    if net.labels is None or c is None:
        raise ValueError("scores needs a supervised network (labels=...)")
    if not 1 <= keep <= c:
        raise ValueError(f"keep must be in [1, {c}] (the number of classes), got {keep}")
    cut = min(chosen) + 1 if prune_after is None else int(prune_after)
    if not 1 <= cut <= len(net.layers):
        raise ValueError(f"prune_after must be in [1, {len(net.layers)}] (layers), got {prune_after}")
    rows = max(1, chunk_size // c)
    return torch.cat([pruned_scores_chunk(net, xb, c, chosen, keep, cut) for xb in x.split(rows)], 0)


class _Tally:
    """Running counts of an evaluation: correct by goodness (score layers, all layers, per layer), by
    the head, the true and wrong labels' mean goodness, and the same over test-time views."""

    def __init__(self, layers: int) -> None:
        self.correct = self.correct_all = self.head = self.views_correct = self.views_head = self.n_views = 0
        self.per_layer, self.views_per_layer = torch.zeros(layers), torch.zeros(layers)
        self.g_true, self.g_wrong = torch.zeros(layers), torch.zeros(layers)

    def add(
        self, net: Any, gs: list[torch.Tensor], probs: list[torch.Tensor], y: torch.Tensor, views: bool
    ) -> None:
        c, g = net.num_classes, gs[0]
        self.n_views = len(gs)
        self.correct += int((g[:, :, net.score_layers].sum(2).argmax(1) == y).sum())
        self.correct_all += int((g.sum(2).argmax(1) == y).sum())
        self.per_layer += (g.argmax(1) == y.unsqueeze(1)).sum(0).cpu().float()
        truth = F.one_hot(y, c).bool().unsqueeze(2)
        self.g_true += (g * truth).sum((0, 1)).cpu()
        self.g_wrong += (g * ~truth).sum((0, 1)).cpu() / (c - 1)
        if probs:
            self.head += int((probs[0].argmax(1) == y).sum())
        if views:
            gv = torch.stack(gs).mean(0)
            self.views_correct += int((gv[:, :, net.score_layers].sum(2).argmax(1) == y).sum())
            self.views_per_layer += (gv.argmax(1) == y.unsqueeze(1)).sum(0).cpu().float()
            if probs:
                self.views_head += int((torch.stack(probs).mean(0).argmax(1) == y).sum())

    def result(self, n: int, head: bool, views: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "accuracy": self.correct / n,
            "accuracy_all_layers": self.correct_all / n,
            "layer_accuracy": (self.per_layer / n).tolist(),
            "goodness_true": (self.g_true / n).tolist(),
            "goodness_wrong": (self.g_wrong / n).tolist(),
        }
        if head:
            out["head_accuracy"] = self.head / n
        if views:
            out.update(views=self.n_views, accuracy_views=self.views_correct / n)
            out["layer_accuracy_views"] = (self.views_per_layer / n).tolist()
            if head:
                out["head_accuracy_views"] = self.views_head / n
        return out


@torch.no_grad()
def evaluate(
    net: Any,
    data: Any,
    batch_size: int = 1000,
    views: Callable[[torch.Tensor], list[torch.Tensor]] | None = None,
) -> dict[str, Any]:
    """Accuracy of ``net`` by goodness (summed over ``score_layers``; also over every layer), per layer, by
    the head, and the mean goodness of the true label vs the wrong ones per layer, on ``data`` (``.x``,
    ``.y``) in batches of ``batch_size`` samples; with ``views``, also the test-time-augmented accuracies
    (see :meth:`FFNetwork.evaluate`)."""
    was_training = net.training
    net.eval()
    device = next(net.parameters()).device
    tally = _Tally(len(net.layers))
    for s in range(0, len(data.y), batch_size):
        xb, yb = data.x[s : s + batch_size].to(device), data.y[s : s + batch_size].to(device)
        batches = [xb] if views is None else views(xb)
        gs = [net.label_goodness(v) for v in batches]  # each [B, C, L]
        probs = [net.head(net.features(v)).softmax(1) for v in batches] if net.head is not None else []
        tally.add(net, gs, probs, yb, views is not None)
    net.train(was_training)
    return tally.result(len(data.y), net.head is not None, views is not None)


__all__ = [
    "LabelScoring",
    "candidate_scores",
    "evaluate",
    "first_layer_all_labels",
    "group_goodness",
    "input_scales",
    "label_goodness",
    "label_goodness_chunk",
    "label_goodness_naive",
    "pruned_scores",
    "pruned_scores_chunk",
]
