"""FFNetwork: a stack of FFLayers, its local losses, and prediction.

Usable without the Trainer: ``local_losses`` returns one scalar per layer (sum them and call
``backward()`` once, under any optimiser), ``predict`` scores every label in batched tensor operations, and
``features`` gives the normalised activities for a linear head.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .hardware.blackbox import call_box
from .init import initialize
from .labels.embeddings import LabelEmbedding, build_labels
from .layers import FFLayer, LayerStats, linear_layer
from .normalize import NoNormalize, RowScaling, build_normalize


class FFNetwork(nn.Module):
    """Ordered FF layers with an optional label embedding and an optional linear softmax head.

    Args:
        layers: the FFLayers, first to last.
        labels: the label embedding (supervised FF); ``None`` for unsupervised use.
        score_layers: which layers' goodness is summed to score a label; default all but the first when
            there are two or more layers (Hinton: the first layer's goodness mostly reflects the input).
        head_layers: which layers' normalised activities feed the linear head; default all.
        head: add a linear softmax head trained on detached features of a neutral-label input.
        between: optional ``{i: transform}``: a callable applied, without gradients, to what layer ``i``
            passes on before layer ``i + 1`` sees it. FF never differentiates through it, so it may be
            anything that maps a batch to a batch (rounding, a lookup, NumPy code...).
        input_normalize: a normaliser (``"rms"``, ``"length"``...) applied to the embedded input before the
            first layer, label included, as Hinton's code does (``ffnormrows`` of the image with its label
            pixels); ``None`` feeds the embedded input as it is.
        head_bias: give the linear head a bias (Hinton's softmax has none that learns).
    """

    def __init__(
        self,
        layers: Sequence[FFLayer],
        labels: LabelEmbedding | None = None,
        score_layers: Sequence[int] | None = None,
        head_layers: Sequence[int] | None = None,
        head: bool = True,
        num_classes: int | None = None,
        between: dict[int, Any] | None = None,
        input_normalize: str | nn.Module | None = None,
        head_bias: bool = True,
    ) -> None:
        super().__init__()
        if not layers:
            raise ValueError("an FFNetwork needs at least one layer")
        self.layers = nn.ModuleList(layers)
        self.labels = labels
        self.input_norm = build_normalize(input_normalize)
        self.num_classes = (
            num_classes if num_classes is not None else (labels.num_classes if labels is not None else None)
        )
        n = len(self.layers)
        self.score_layers = self._check_indices(
            score_layers if score_layers is not None else (list(range(1, n)) if n > 1 else [0]),
            "score_layers",
        )
        self.head_layers = self._check_indices(
            head_layers if head_layers is not None else list(range(n)), "head_layers"
        )
        self.between: dict[int, Any] = dict(between or {})
        bad = [i for i in self.between if not 0 <= i < n - 1]
        if bad:
            raise ValueError(f"between: transforms sit after layers 0..{n - 2}; got indices {bad}")
        per_class = [layer.per_class for layer in self.layers]
        if any(per_class) and not all(per_class):
            raise ValueError(
                "channel-wise competition (per-class group goodness) must be used by every layer or by none; "
                f"layers with it: {[i for i, p in enumerate(per_class) if p]}"
            )
        if all(per_class) and labels is not None:
            raise ValueError(
                "channel-wise competition needs no label in the input: build it with labels=None"
            )
        if labels is not None and any(p.requires_grad for p in labels.parameters()):
            # A learned label embedding (label planes) is the first layer's to train: let its gradient in.
            self.layers[0].detach_input = False
        #: Test-time views (:class:`~forwardforward.augment.ShiftViews`, set from ``model.test_views``)
        #: that ``ff eval`` and the benchmarks hand to :meth:`evaluate` / :meth:`predict`; ``None``: one view.
        self.test_views: Callable[[torch.Tensor], list[torch.Tensor]] | None = None
        self.head: nn.Linear | None = None
        if head and self.num_classes is not None:
            dim = sum(self._units(i) for i in self.head_layers)
            self.head = nn.Linear(dim, self.num_classes, bias=head_bias)

    # ------------------------------------------------------------------ construction
    @classmethod
    def mlp(
        cls,
        dims: Sequence[int],
        num_classes: int | None = 10,
        labels: str | LabelEmbedding | None = "overlay",
        label_strength: float = 1.0,
        bias: bool = True,
        score_layers: Sequence[int] | None = None,
        head_layers: Sequence[int] | None = None,
        head: bool = True,
        between: dict[int, Any] | None = None,
        input_normalize: str | nn.Module | None = None,
        head_bias: bool = True,
        init: str = "torch",
        **layer_kwargs: Any,
    ) -> FFNetwork:
        """An FF MLP. ``dims = [input_dim, hidden_1, ..., hidden_n]``; ``input_dim`` is the raw input size
        (the label embedding may add to it). ``layer_kwargs`` go to every :class:`FFLayer`
        (``activation``, ``goodness``, ``loss``, ``normalize``, ``peer_norm``, ``loss_kwargs``...);
        ``between`` places black boxes between layers, ``input_normalize`` and ``head_bias`` are as in
        :class:`FFNetwork`, and ``init`` names a weight initialisation (:mod:`forwardforward.init`).
        """
        if len(dims) < 2:
            raise ValueError(f"dims needs the input size and at least one hidden size, got {list(dims)}")
        emb = None
        if labels is not None:
            if num_classes is None:
                raise ValueError("a label embedding needs num_classes")
            emb = build_labels(labels, num_classes, label_strength)
        in_dim = emb.output_dim(dims[0]) if emb is not None else dims[0]
        sizes = [in_dim, *dims[1:]]
        # A box that promises a width (``BlackBox(out_features=...)``) sets the next layer's input size.
        boxes = between or {}
        ins = [getattr(boxes.get(k - 1), "out_features", None) or a for k, a in enumerate(sizes[:-1])]
        layers = [linear_layer(a, b, bias=bias, **layer_kwargs) for a, b in zip(ins, sizes[1:])]
        net = cls(
            layers,
            emb,
            score_layers,
            head_layers,
            head,
            num_classes,
            between=between,
            input_normalize=input_normalize,
            head_bias=head_bias,
        )
        return initialize(net, init)

    @property
    def one_pass(self) -> bool:
        """True for channel-wise competition: every layer scores every class in one forward pass."""
        return all(layer.per_class for layer in self.layers)

    @property
    def needs_negatives(self) -> bool:
        """False when the layers' losses are cross-entropies over class groups (no negative data)."""
        return not self.one_pass

    def _check_indices(self, idx: Sequence[int], what: str) -> list[int]:
        n = len(self.layers)
        out = [int(i) for i in idx]
        bad = [i for i in out if not -n <= i < n]
        if bad or not out:
            raise ValueError(f"{what} must be non-empty layer indices in [0, {n}); got {list(idx)}")
        return [i % n for i in out]

    def _units(self, i: int) -> int:
        units = self.layers[i].num_units
        if units is None:
            raise ValueError(f"layer {i} does not report num_units; pass head=False or num_units=")
        return units

    # ------------------------------------------------------------------ forward passes
    def embed(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """The network input for samples ``x`` carrying labels ``y`` (normalised by ``input_normalize``).

        A network without a label embedding (unsupervised, channel-wise competition) takes ``x`` alone.
        """
        if self.labels is None:
            return self.input_norm(x.flatten(1))
        if y is None:
            raise ValueError("this network embeds a label in its input: pass the labels y")
        return self.input_norm(self.labels(x, y))

    def embed_neutral(self, x: torch.Tensor) -> torch.Tensor:
        """The network input for samples ``x`` with the neutral label (or no label when there is none)."""
        return self.input_norm(self.labels.neutral(x) if self.labels is not None else x.flatten(1))

    def hand_over(self, i: int, h: torch.Tensor) -> torch.Tensor:
        """What layer ``i + 1`` receives from layer ``i``'s activity ``h``: normalised, detached, and
        through the transform registered ``between`` them, if any."""
        x = self.layers[i].pass_on(h)
        transform = self.between.get(i)
        if transform is not None:
            # Validated on every call (cheap): a wrong shape fails at the first batch, naming the box.
            width = getattr(self.layers[i + 1].block, "in_features", None)
            x = call_box(transform, x, width, where=f"between layer {i} and layer {i + 1}")
        return x

    def activities(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every layer's raw activity for an already-embedded input; inputs are detached per layer."""
        out = []
        for i, layer in enumerate(self.layers):
            h = layer(x)
            out.append(h)
            if i < len(self.layers) - 1:
                x = self.hand_over(i, h)
        return out

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.activities(x)

    def local_losses(
        self,
        x_pos: torch.Tensor,
        x_neg: torch.Tensor,
        layers: Sequence[int] | None = None,
        y: torch.Tensor | None = None,
        capture: dict[int, torch.Tensor] | None = None,
    ) -> tuple[list[torch.Tensor], list[LayerStats]]:
        """One loss per layer (or per chosen layer) for embedded positive and negative inputs.

        Positives and negatives go through in one concatenated forward. Summing the returned losses and
        calling ``backward()`` gives every layer exactly its own local gradient. Channel-wise competition
        takes the labels ``y`` instead of negatives (``x_neg`` may be an empty batch). ``capture``: see
        :meth:`iter_local_losses`.
        """
        losses, stats = [], []
        extra = {} if capture is None else {"capture": capture}  # subclasses need not know about capture
        for _, loss, st in self.iter_local_losses(x_pos, x_neg, layers, y=y, **extra):
            losses.append(loss)
            stats.append(st)
        return losses, stats

    def iter_local_losses(
        self,
        x_pos: torch.Tensor,
        x_neg: torch.Tensor,
        layers: Sequence[int] | None = None,
        y: torch.Tensor | None = None,
        capture: dict[int, torch.Tensor] | None = None,
    ) -> Iterator[tuple[int, torch.Tensor, LayerStats]]:
        """Lazily yield ``(layer index, loss, stats)``, computing layer ``i + 1`` only when asked.

        The consumer may call ``loss.backward()`` and step the optimiser before asking for the next layer;
        that layer's graph is then freed before the next forward, so at most one layer's activations are
        alive at a time and training memory stays flat in depth (``Trainer(layerwise_step=True)``). The
        next layer's input is handed over before the yield, from activities computed with the weights as
        they were, so the result equals the one-backward path.

        ``capture``: a dict whose keys are layer indices; each computed one gets the positives' detached,
        flattened normalised activity (what :meth:`features` gives the head). When the input carries no
        label (channel-wise competition), that *is* the head's input, so the Trainer reads it here instead
        of a second forward pass.
        """
        n = x_pos.shape[0]
        x = torch.cat([x_pos, x_neg], 0)
        chosen = set(range(len(self.layers)) if layers is None else layers)
        last = max(chosen)
        for i, layer in enumerate(self.layers[: last + 1]):
            h = layer(x)
            if capture is not None and i in capture:
                capture[i] = layer.pass_on(h[:n].detach()).flatten(1)
            x = self.hand_over(i, h) if i < last else x
            if i in chosen:
                loss, st = layer.local_loss(h[:n], h[n:], y=y)
                del h
                yield i, loss, st

    def features(self, x: torch.Tensor, layers: Sequence[int] | None = None) -> torch.Tensor:
        """Concatenated normalised activities of a neutral-label input (the linear head's input)."""
        chosen = self.head_layers if layers is None else self._check_indices(layers, "layers")
        # Keep only the chosen layers' outputs, not every activity: memory stays flat in depth.
        kept: dict[int, torch.Tensor] = {}
        h = self.embed_neutral(x)
        for i, layer in enumerate(self.layers[: max(chosen) + 1]):
            h = layer(h if i == 0 else self.hand_over(i - 1, h))
            if i in chosen:
                kept[i] = layer.pass_on(h).flatten(1)
        return torch.cat([kept[i] for i in chosen], 1)

    # ------------------------------------------------------------------ prediction
    @torch.no_grad()
    def label_goodness(self, x: torch.Tensor, chunk_size: int = 1024) -> torch.Tensor:
        """Goodness of every layer for every label: ``[B, C, L]``.

        All labels are scored in batched tensor operations. With an additive label code and a linear
        first layer, ``W (base + code_c) = W base + W code_c``: the first layer costs one matrix product
        for the batch plus a ``[C, units]`` product, broadcast-added.
        """
        if self.one_pass:
            return torch.cat([self._group_goodness(xb) for xb in x.split(max(1, chunk_size))], 0)
        if self.labels is None or self.num_classes is None:
            raise ValueError("label_goodness needs a supervised network (labels=...)")
        c = self.num_classes
        out = []
        for xb in x.split(max(1, chunk_size // c) if chunk_size >= c else 1):
            out.append(self._label_goodness_chunk(xb, c))
        return torch.cat(out, 0)

    def _group_goodness(self, x: torch.Tensor) -> torch.Tensor:
        """Channel-wise competition: ``[B, C, L]`` from one forward pass (each layer's group goodness)."""
        acts = self.activities(self.embed_neutral(x))
        return torch.stack([layer.goodness(h) for layer, h in zip(self.layers, acts)], 2)

    def _first_layer_all_labels(
        self, x: torch.Tensor, c: int, candidates: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The first layer's activity for every (sample, label) pair: ``[B * C, ...]``, label fastest; with
        ``candidates [B, K]``, only for those pairs: ``[B * K, ...]``."""
        b = x.shape[0]
        first = self.layers[0]
        assert self.labels is not None
        plain = isinstance(self.input_norm, NoNormalize)
        if isinstance(first.block, nn.Linear) and (plain or isinstance(self.input_norm, RowScaling)):
            base = self.labels.base(x)
            codes = self.labels.codes(x[0].numel(), x.device, x.dtype)
            per_label = F.linear(codes, first.block.weight)  # [C, units]: each code's share of the product
            shares = per_label.unsqueeze(0) if candidates is None else per_label[candidates]
            if plain:
                pre = first.block(base).unsqueeze(1) + shares
            else:  # W (s_c (base + code_c)) + b = s_c (W base + W code_c) + b, s_c from squared lengths
                pre = (F.linear(base, first.block.weight).unsqueeze(1) + shares) * self._input_scales(
                    base, codes, candidates
                ).unsqueeze(2)
                if first.block.bias is not None:
                    pre = pre + first.block.bias
            return first.activation(pre).reshape(-1, pre.shape[-1])
        if candidates is not None:
            k = candidates.shape[1]
            return first(self.embed(x.repeat_interleave(k, 0), candidates.reshape(-1)))
        if plain and hasattr(first.block, "forward_additive"):  # a conv block: the batch and C codes once
            codes = self.labels.codes(x[0].numel(), x.device, x.dtype)
            return first.activation(first.block.forward_additive(self.labels.base(x), codes))
        return first(self.input_norm(self.labels.all_labels(x).reshape(b * c, -1)))

    def _input_scales(
        self, base: torch.Tensor, codes: torch.Tensor, candidates: torch.Tensor | None
    ) -> torch.Tensor:
        """The input normaliser's factor for every (sample, label) input ``base + code_c``: ``[B, C]``, or
        ``[B, K]`` for ``candidates``, from ``|base|^2 + 2 base.code_c + |code_c|^2`` alone."""
        assert isinstance(self.input_norm, RowScaling)
        sq = base.pow(2).sum(1, keepdim=True) + 2 * base @ codes.T + codes.pow(2).sum(1)
        if candidates is not None:
            sq = sq.gather(1, candidates)
        return self.input_norm.scale(sq, base.shape[1])

    def _label_goodness_chunk(self, x: torch.Tensor, c: int) -> torch.Tensor:
        b = x.shape[0]
        first = self.layers[0]
        h = self._first_layer_all_labels(x, c)
        goods = [first.goodness(h)]
        for i, layer in enumerate(self.layers[1:], start=1):
            h = layer(self.hand_over(i - 1, h))
            goods.append(layer.goodness(h))
        return torch.stack(goods, 1).reshape(b, c, len(self.layers))

    @torch.no_grad()
    def label_goodness_naive(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, L]`` like :meth:`label_goodness`, the slow obvious way: one full forward per label.

        Kept as the reference that the batched and pruned paths are tested and benchmarked against.
        """
        if self.labels is None or self.num_classes is None:
            raise ValueError("label_goodness_naive needs a supervised network (labels=...)")
        per_label = []
        for c in range(self.num_classes):
            y = torch.full((x.shape[0],), c, dtype=torch.long, device=x.device)
            acts = self.activities(self.embed(x, y))
            per_label.append(torch.stack([layer.goodness(h) for layer, h in zip(self.layers, acts)], 1))
        return torch.stack(per_label, 1)

    @torch.no_grad()
    def scores(
        self,
        x: torch.Tensor,
        layers: Sequence[int] | None = None,
        keep: int | None = None,
        prune_after: int | None = None,
        chunk_size: int = 1024,
    ) -> torch.Tensor:
        """``[B, C]`` label scores: goodness summed over ``layers`` (default ``score_layers``).

        With ``keep=k``, candidate pruning: every label goes through the first ``prune_after`` layers
        (default: up to and including the first scoring layer), only the ``k`` labels with the highest
        goodness so far go deeper, and the pruned labels score ``-inf``. Deep layers cost a ``C / k``
        fraction of full scoring; the argmax is unchanged whenever the winner survives the early cut.
        """
        chosen = self.score_layers if layers is None else self._check_indices(layers, "layers")
        if keep is None or self.one_pass:
            # One-pass nets score every class at once: pruning would save nothing.
            return self.label_goodness(x, chunk_size)[:, :, chosen].sum(2)
        c = self.num_classes
        if self.labels is None or c is None:
            raise ValueError("scores needs a supervised network (labels=...)")
        if not 1 <= keep <= c:
            raise ValueError(f"keep must be in [1, {c}] (the number of classes), got {keep}")
        cut = min(chosen) + 1 if prune_after is None else int(prune_after)
        if not 1 <= cut <= len(self.layers):
            raise ValueError(f"prune_after must be in [1, {len(self.layers)}] (layers), got {prune_after}")
        rows = max(1, chunk_size // c)
        return torch.cat([self._pruned_scores_chunk(xb, c, chosen, keep, cut) for xb in x.split(rows)], 0)

    def _pruned_scores_chunk(
        self, x: torch.Tensor, c: int, chosen: list[int], keep: int, cut: int
    ) -> torch.Tensor:
        b = x.shape[0]
        total = x.new_zeros(b, c)  # goodness summed over the chosen layers seen so far
        early = x.new_zeros(b, c)  # all early layers' goodness: the ranking when none of them is chosen
        h = self._first_layer_all_labels(x, c)
        for i in range(cut):
            if i > 0:
                h = self.layers[i](self.hand_over(i - 1, h))
            g = self.layers[i].goodness(h).reshape(b, c)
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
            h = self.layers[i](self.hand_over(i - 1, h))
            if i in chosen:
                part += self.layers[i].goodness(h).reshape(b, keep)
        return torch.full_like(total, float("-inf")).scatter(1, top, part)

    @torch.no_grad()
    def candidate_scores(
        self, x: torch.Tensor, candidates: torch.Tensor, layers: Sequence[int] | None = None
    ) -> torch.Tensor:
        """``[B, K]`` scores of sample ``i`` with label ``candidates[i, j]`` only (goodness summed over
        ``layers``, default ``score_layers``). The first layer's product with the image is shared by the
        ``K`` labels, as in :meth:`label_goodness`; the deeper layers cost ``K / C`` of full scoring."""
        chosen = self.score_layers if layers is None else self._check_indices(layers, "layers")
        if self.labels is None or self.num_classes is None or self.one_pass:
            raise ValueError("candidate_scores needs a supervised network that scores one label per pass")
        if candidates.dim() != 2 or candidates.shape[0] != x.shape[0]:
            raise ValueError(
                f"candidates must be [B, K] for B={x.shape[0]} samples, got shape {tuple(candidates.shape)}"
            )
        if candidates.numel() and not 0 <= int(candidates.min()) <= int(candidates.max()) < self.num_classes:
            raise ValueError(f"candidate labels must be in [0, {self.num_classes - 1}]")
        b, k = candidates.shape
        h = self._first_layer_all_labels(x, self.num_classes, candidates)
        total = x.new_zeros(b * k)
        for i, layer in enumerate(self.layers[: max(chosen) + 1]):
            if i > 0:
                h = layer(self.hand_over(i - 1, h))
            if i in chosen:
                total += layer.goodness(h)
        return total.reshape(b, k)

    @torch.no_grad()
    def head_logits(self, x: torch.Tensor) -> torch.Tensor:
        if self.head is None:
            raise ValueError("this network has no linear head (built with head=False)")
        return self.head(self.features(x))

    @torch.no_grad()
    def predict(
        self,
        x: torch.Tensor,
        mode: str = "goodness",
        keep: int | None = None,
        prune_after: int | None = None,
        views: Callable[[torch.Tensor], list[torch.Tensor]] | None = None,
    ) -> torch.Tensor:
        """Predicted classes: ``mode="goodness"`` (all-label goodness argmax, optionally with candidate
        pruning: see :meth:`scores`) or ``"head"``. With ``views`` (e.g. :attr:`test_views`, an
        :class:`~forwardforward.augment.ShiftViews`), the scores (head: the softmax) are averaged over the
        views of each input: test-time augmentation."""
        if mode not in ("goodness", "head"):
            raise ValueError(f"unknown prediction mode {mode!r}; valid: 'goodness', 'head'")

        def score(v: torch.Tensor) -> torch.Tensor:
            if mode == "goodness":
                return self.scores(v, keep=keep, prune_after=prune_after)
            return self.head_logits(v).softmax(1)

        if views is None:
            return score(x).argmax(1)
        return torch.stack([score(v) for v in views(x)]).mean(0).argmax(1)

    @torch.no_grad()
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
        figures are read off the first view, so they stay comparable with an evaluation without views."""
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        n = len(data.y)
        correct = 0
        correct_all = 0  # goodness summed over every layer, the first included
        per_layer = torch.zeros(len(self.layers))
        head_correct = 0
        g_true = torch.zeros(len(self.layers))
        g_wrong = torch.zeros(len(self.layers))
        c = self.num_classes
        assert c is not None
        views_correct = views_head_correct = n_views = 0
        views_per_layer = torch.zeros(len(self.layers))
        for s in range(0, n, batch_size):
            xb = data.x[s : s + batch_size].to(device)
            yb = data.y[s : s + batch_size].to(device)
            batches = [xb] if views is None else views(xb)
            n_views = len(batches)
            gs = [self.label_goodness(v) for v in batches]  # each [B, C, L]
            g = gs[0]
            correct += int((g[:, :, self.score_layers].sum(2).argmax(1) == yb).sum())
            correct_all += int((g.sum(2).argmax(1) == yb).sum())
            per_layer += (g.argmax(1) == yb.unsqueeze(1)).sum(0).cpu().float()
            truth = F.one_hot(yb, c).bool().unsqueeze(2)
            g_true += (g * truth).sum((0, 1)).cpu()
            g_wrong += (g * ~truth).sum((0, 1)).cpu() / (c - 1)
            probs = [self.head(self.features(v)).softmax(1) for v in batches] if self.head is not None else []
            if probs:
                head_correct += int((probs[0].argmax(1) == yb).sum())
            if views is not None:
                gv = torch.stack(gs).mean(0)
                views_correct += int((gv[:, :, self.score_layers].sum(2).argmax(1) == yb).sum())
                views_per_layer += (gv.argmax(1) == yb.unsqueeze(1)).sum(0).cpu().float()
                if probs:
                    views_head_correct += int((torch.stack(probs).mean(0).argmax(1) == yb).sum())
        self.train(was_training)
        result: dict[str, Any] = {
            "accuracy": correct / n,
            "accuracy_all_layers": correct_all / n,
            "layer_accuracy": (per_layer / n).tolist(),
            "goodness_true": (g_true / n).tolist(),
            "goodness_wrong": (g_wrong / n).tolist(),
        }
        if self.head is not None:
            result["head_accuracy"] = head_correct / n
        if views is not None:
            result["views"] = n_views
            result["accuracy_views"] = views_correct / n
            result["layer_accuracy_views"] = (views_per_layer / n).tolist()
            if self.head is not None:
                result["head_accuracy_views"] = views_head_correct / n
        return result
