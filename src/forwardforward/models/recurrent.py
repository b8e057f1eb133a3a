"""Recurrent Forward-Forward with top-down connections (Hinton 2022, "FF in a recurrent network").

Plain FF's weakness is that a lower layer never hears what the layers above it concluded. Here a static
image is treated as the frames of a video: at every time step each hidden layer computes its new activity
from the *normalised* activities of the layer below and the layer above at the previous step, with the
image as the input of the first layer and the (scaled one-hot) label as the "layer above" the top one.
States are damped, ``new = damping * computed + (1 - damping) * old`` (damping 0.7 as published: 0.3 of the
old state plus 0.7 of the computed one), and the network runs a few synchronous iterations (8 as published).

Training is local in space *and* time: every layer has its own goodness and loss at every step; its input
and its own previous state are detached, so a layer's gradient at step t reaches only its own weights
through the activity it computes at step t. Prediction runs every label and picks the one with the highest
goodness averaged over iterations ``score_from..score_to`` (3 to 5 as published), summed over the scoring
layers.

:class:`RecurrentFFNetwork` is an :class:`~forwardforward.network.FFNetwork` (its layers are
:class:`~forwardforward.layers.FFLayer` s around an :class:`UpDownBlock`, its label embedding the ``append``
code), so the :class:`~forwardforward.training.trainer.Trainer` trains it unchanged: same optimiser, hard
negatives from the linear head, NaN guard, checkpoints, resume; ``evaluate`` and ``predict`` are inherited.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

from ..labels.embeddings import LabelEmbedding, build_labels
from ..layers import FFLayer, LayerStats
from ..network import FFNetwork


class UpDownBlock(nn.Module):
    """``W_up · below + W_down · above``: one hidden layer's input map in the recurrent net.

    The input is the concatenation ``[below, above]`` (so :class:`FFLayer` can detach it as one tensor);
    the top-down weights are a separate ``nn.Linear`` so they can be inspected, frozen or zeroed (ablation).
    ``below`` and ``above`` are the widths of the two inputs, ``out_features`` the layer's width; ``bias``
    gives the bottom-up map a bias (the top-down one has none).
    """

    def __init__(self, below: int, above: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        self.below, self.above, self.out_features = int(below), int(above), int(out_features)
        self.up = nn.Linear(self.below, self.out_features, bias=bias)
        self.down = nn.Linear(self.above, self.out_features, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The layer's total input ``[B, out_features]`` from ``x = [below, above]``.

        Raises:
            ValueError: ``x`` does not have ``below + above`` columns.
        """
        if x.shape[1] != self.below + self.above:
            raise ValueError(
                f"UpDownBlock expects [below ({self.below}) + above ({self.above})] = "
                f"{self.below + self.above} inputs, got {x.shape[1]}"
            )
        return self.up(x[:, : self.below]) + self.down(x[:, self.below :])


class RecurrentFFNetwork(FFNetwork):
    """An FF network whose hidden layers talk both ways over ``iterations`` synchronous steps.

    Args:
        layers: FFLayers around :class:`UpDownBlock` s (see :meth:`build`).
        labels: an additive label code that *appends* the label (``Append``): the appended slots are cut
            off and become the top layer's top-down input.
        damping: weight of the newly computed activity (0.7 in Hinton's net; 1 means no memory).
        iterations: synchronous steps per example (8).
        score_from, score_to: the 1-based, inclusive window of steps whose goodness is averaged for
            prediction (3..5); the head's features are the normalised states at step ``score_to``.
        train_from: the first step whose goodness is trained (1: every step).
        score_layers, head_layers, head, num_classes: as in :class:`FFNetwork`; ``score_layers`` defaults
            to every layer, since with top-down input even the first layer's goodness depends on the label.
    """

    def __init__(
        self,
        layers: Sequence[FFLayer],
        labels: LabelEmbedding,
        damping: float = 0.7,
        iterations: int = 8,
        score_from: int = 3,
        score_to: int = 5,
        train_from: int = 1,
        score_layers: Sequence[int] | None = None,
        head_layers: Sequence[int] | None = None,
        head: bool = True,
        num_classes: int | None = None,
    ) -> None:
        n = len(layers)
        super().__init__(
            layers,
            labels,
            score_layers if score_layers is not None else list(range(n)),
            head_layers,
            head,
            num_classes,
        )
        if not 0.0 < damping <= 1.0:
            raise ValueError(f"damping is the weight of the new state, in (0, 1]; got {damping}")
        if iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations}")
        if not 1 <= score_from <= score_to <= iterations:
            raise ValueError(
                f"the scoring window must satisfy 1 <= score_from <= score_to <= iterations ({iterations}); "
                f"got {score_from}..{score_to}"
            )
        if not 1 <= train_from <= iterations:
            raise ValueError(f"train_from must be in [1, {iterations}], got {train_from}")
        for i, layer in enumerate(layers):
            if not isinstance(layer.block, UpDownBlock):
                raise ValueError(f"layer {i} of a recurrent FF net needs an UpDownBlock, got {layer.block}")
        self.damping = float(damping)
        self.iterations = int(iterations)
        self.score_from, self.score_to = int(score_from), int(score_to)
        self.train_from = int(train_from)

    @classmethod
    def build(
        cls,
        input_dim: int,
        hidden: Sequence[int],
        num_classes: int,
        label_strength: float = 1.0,
        bias: bool = True,
        damping: float = 0.7,
        iterations: int = 8,
        score_from: int = 3,
        score_to: int = 5,
        train_from: int = 1,
        score_layers: Sequence[int] | None = None,
        head_layers: Sequence[int] | None = None,
        head: bool = True,
        **layer_kwargs: Any,
    ) -> RecurrentFFNetwork:
        """A recurrent net with hidden layers of widths ``hidden``: layer i hears layer i-1 (the image
        for i=0) and layer i+1 (the label for the top one).

        Args:
            input_dim: the flattened image's size.
            hidden: the hidden layers' widths, bottom to top.
            num_classes: the number of labels (the top layer's top-down input width).
            label_strength: the scale of the appended one-hot label.
            bias: give the bottom-up maps biases.
            damping: as in the class.
            iterations: as in the class.
            score_from: as in the class.
            score_to: as in the class.
            train_from: as in the class.
            score_layers: as in the class (default every layer).
            head_layers: as in :class:`FFNetwork`.
            head: as in :class:`FFNetwork`.
            **layer_kwargs: go to every :class:`FFLayer` (activation, goodness, loss...).
        """
        if not hidden:
            raise ValueError("a recurrent FF net needs at least one hidden layer")
        below = [input_dim, *hidden[:-1]]
        above = [*hidden[1:], num_classes]
        layers = [
            FFLayer(UpDownBlock(b, a, h, bias=bias), num_units=h, **layer_kwargs)
            for b, a, h in zip(below, above, hidden)
        ]
        return cls(
            layers,
            build_labels("append", num_classes, label_strength),
            damping,
            iterations,
            score_from,
            score_to,
            train_from,
            score_layers,
            head_layers,
            head,
            num_classes,
        )

    # ------------------------------------------------------------------ dynamics
    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """An appended-label input ``[B, D + C]`` -> (image ``[B, D]``, label code ``[B, C]``)."""
        c = self.num_classes
        assert c is not None
        return x[:, :-c], x[:, -c:]

    def _initial_states(self, image: torch.Tensor, label: torch.Tensor) -> list[torch.Tensor]:
        """One bottom-up pass (no top-down input yet except the label at the top), without gradients."""
        states: list[torch.Tensor] = []
        below = image
        with torch.no_grad():
            for i, layer in enumerate(self.layers):
                last = i == len(self.layers) - 1
                above = label if last else image.new_zeros(image.shape[0], self._units(i + 1))
                h = layer(torch.cat([below, above], 1))
                states.append(h)
                below = layer.pass_on(h)
        return states

    def step(
        self, states: Sequence[torch.Tensor], image: torch.Tensor, label: torch.Tensor
    ) -> list[torch.Tensor]:
        """One synchronous iteration: every layer's new (damped) state from its neighbours' old
        ``states``, with ``image`` below the first layer and the ``label`` code above the top one.

        The neighbours' states enter normalised and detached (``pass_on``), the layer's own old state
        detached: the only gradient path of the result is this step's computation in this layer.
        """
        n = len(self.layers)
        passed = [layer.pass_on(s) for layer, s in zip(self.layers, states)]
        new = []
        for i, layer in enumerate(self.layers):
            below = image if i == 0 else passed[i - 1]
            above = label if i == n - 1 else passed[i + 1]
            computed = layer(torch.cat([below, above], 1))
            new.append(self.damping * computed + (1.0 - self.damping) * states[i].detach())
        return new

    def run(self, x: torch.Tensor, steps: int | None = None) -> Iterator[list[torch.Tensor]]:
        """Yield the states after each of ``steps`` iterations (default ``iterations``) for embedded ``x``."""
        image, label = self._split(x)
        states = self._initial_states(image, label)
        for _ in range(self.iterations if steps is None else steps):
            states = self.step(states, image, label)
            yield states

    # ------------------------------------------------------------------ FFNetwork interface
    def activities(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every layer's state at the last step of the scoring window, for the embedded input ``x``."""
        last: list[torch.Tensor] = []
        for states in self.run(x, self.score_to):
            last = states
        return last

    def iter_local_losses(
        self,
        x_pos: torch.Tensor,
        x_neg: torch.Tensor,
        layers: Sequence[int] | None = None,
        y: torch.Tensor | None = None,
    ) -> Iterator[tuple[int, torch.Tensor, LayerStats]]:
        """Per layer: its loss averaged over the trained steps ``train_from..iterations``, for the embedded
        positives ``x_pos`` and negatives ``x_neg``; only the indices in ``layers`` (default all) yield.

        All steps run first (the layers are synchronous, so no layer's losses are complete before the
        last step); each yielded loss still has only its own layer's gradient. ``y`` (channel-wise
        competition's labels) is not used: the recurrent net learns from positives and negatives.
        """
        n = x_pos.shape[0]
        chosen = list(range(len(self.layers))) if layers is None else list(layers)
        per_layer: dict[int, list[tuple[torch.Tensor, LayerStats]]] = {i: [] for i in chosen}
        for t, states in enumerate(self.run(torch.cat([x_pos, x_neg], 0)), start=1):
            if t < self.train_from:
                continue
            for i in chosen:
                per_layer[i].append(self.layers[i].local_loss(states[i][:n], states[i][n:]))
        for i in chosen:
            items = per_layer[i]
            loss = torch.stack([loss for loss, _ in items]).mean()
            stats = LayerStats(
                loss=float(loss.detach()),
                g_pos=sum(st.g_pos for _, st in items) / len(items),
                g_neg=sum(st.g_neg for _, st in items) / len(items),
                separation=sum(st.separation for _, st in items) / len(items),
            )
            yield i, loss, stats

    def features(self, x: torch.Tensor, layers: Sequence[int] | None = None) -> torch.Tensor:
        """Normalised states of the raw samples ``x`` with the neutral label at step ``score_to`` (the
        linear head's input), from ``layers`` (default ``head_layers``)."""
        chosen = self.head_layers if layers is None else self._check_indices(layers, "layers")
        states = self.activities(self.embed_neutral(x))
        return torch.cat([self.layers[i].pass_on(states[i]) for i in chosen], 1)

    @torch.no_grad()
    def label_goodness(self, x: torch.Tensor, chunk_size: int = 1024) -> torch.Tensor:
        """``[B, C, L]``: each layer's goodness for each label of the raw samples ``x``, averaged over steps
        score_from..score_to.

        All labels run at once as ``B * C`` stacked examples, in chunks of about ``chunk_size`` rows to
        bound memory.
        """
        if self.labels is None or self.num_classes is None:
            raise ValueError("label_goodness needs a supervised network (labels=...)")
        c = self.num_classes
        out = []
        for xb in x.split(max(1, chunk_size // c)):
            embedded = self.labels.all_labels(xb).reshape(xb.shape[0] * c, -1)
            total = embedded.new_zeros(embedded.shape[0], len(self.layers))
            for t, states in enumerate(self.run(embedded, self.score_to), start=1):
                if t >= self.score_from:
                    total += torch.stack([layer.goodness(s) for layer, s in zip(self.layers, states)], 1)
            out.append((total / (self.score_to - self.score_from + 1)).reshape(xb.shape[0], c, -1))
        return torch.cat(out, 0)

    def label_goodness_naive(self, x: torch.Tensor) -> torch.Tensor:
        """The same as :meth:`label_goodness` for ``x``: the recurrent net has no faster path to check."""
        return self.label_goodness(x)

    def scores(
        self,
        x: torch.Tensor,
        layers: Sequence[int] | None = None,
        keep: int | None = None,
        prune_after: int | None = None,
        chunk_size: int = 1024,
    ) -> torch.Tensor:
        """``[B, C]`` for the raw samples ``x``: window-averaged goodness summed over ``layers`` (default
        ``score_layers``), ``chunk_size`` as in :meth:`label_goodness`.

        Raises:
            ValueError: ``keep`` is given: candidate pruning (``keep``, ``prune_after``) does not apply.
        """
        if keep is not None:
            raise ValueError(
                "candidate pruning (keep=) is not defined for the recurrent net: every label "
                "runs through every layer at every step"
            )
        chosen = self.score_layers if layers is None else self._check_indices(layers, "layers")
        return self.label_goodness(x, chunk_size)[:, :, chosen].sum(2)

    def hand_over(self, i: int, h: torch.Tensor) -> torch.Tensor:
        """Not defined here (always raises): layer ``i``'s state ``h`` goes both up and down, so there is no
        one-way hand-over for the greedy schedule or the layer pipeline."""
        raise NotImplementedError(
            "a recurrent FF net has no one-way hand-over between layers; the greedy schedule and the "
            "layer pipeline do not apply (use trainer.schedule=all)"
        )

    def extra_repr(self) -> str:
        """The dynamics' settings in the module's repr."""
        return (
            f"damping={self.damping}, iterations={self.iterations}, "
            f"score_window={self.score_from}..{self.score_to}, train_from={self.train_from}"
        )


def zero_top_down(net: RecurrentFFNetwork, include_label: bool = False) -> None:
    """Ablation: zero the top-down weights of ``net`` between hidden layers in place; with
    ``include_label``, also the label's into the top layer."""
    with torch.no_grad():
        last = len(net.layers) - 1
        for i, layer in enumerate(net.layers):
            if i < last or include_label:
                layer.block.down.weight.zero_()


__all__ = ["RecurrentFFNetwork", "UpDownBlock", "zero_top_down"]
