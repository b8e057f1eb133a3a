"""FFNetwork: a stack of FFLayers, its local losses, and prediction.

Usable without the Trainer: ``local_losses`` returns one scalar per layer (sum them and call
``backward()`` once, under any optimiser), ``predict`` scores every label in batched tensor operations, and
``features`` gives the normalised activities for a linear head.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from . import scoring
from .boxes import call_box
from .defaults import MODEL
from .init import initialize
from .labels.embeddings import LabelEmbedding, build_labels
from .layers import FFLayer, LayerStats, linear_layer
from .normalize import build_normalize
from .registry import registered_as


class FFNetwork(scoring.LabelScoring, nn.Module):
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
        num_classes: the number of classes, for the head; default the label embedding's. Channel-wise
            competition has no embedding and needs it given.
        head_bias: give the linear head a bias (Hinton's softmax has none that learns).
        pair_inputs: for self-contrastive pairs entering side by side (``unsup.pairs=concat``): the size
            ``D`` of one flattened image, the layers being built for ``2 * D`` input values. A pair
            ``[x_a, x_b]`` passes as it is; a single image is paired with itself, ``[x, x]`` (a positive,
            and how the network sees an image at test time). ``None``: inputs enter as they are.
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
        pair_inputs: int | None = None,
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
        if pair_inputs is not None and (labels is not None or pair_inputs < 1):
            raise ValueError(
                f"pair_inputs={pair_inputs}: pairs of images are for a label-free network (labels=None) and "
                "need the size of one flattened image (>= 1)"
            )
        self.pair_inputs = None if pair_inputs is None else int(pair_inputs)
        _check_structure(self.layers, labels, self.between)
        if labels is not None and any(p.requires_grad for p in labels.parameters()):
            # A learned label embedding (label planes) is the first layer's to train: let its gradient in.
            self.layers[0].detach_input = False
        #: Test-time views (:class:`~forwardforward.data.augment.ShiftViews`, set from ``model.test_views``)
        #: that ``ff eval`` and the benchmarks hand to :meth:`evaluate` / :meth:`predict`; ``None``: one view.
        self.test_views: Callable[[torch.Tensor], list[torch.Tensor]] | None = None
        #: One sample's shape as ``predict`` takes it (``(D,)`` for an MLP, ``(C, H, W)`` for images), so a
        #: single image or a batch in any layout of that size is reshaped to it; ``None``: not known, and
        #: inputs are only converted to float.
        self.input_shape: tuple[int, ...] | None = None
        #: How to build this network again (plain values only, so a checkpoint can hold it and
        #: ``forwardforward.load`` can rebuild it): ``{"builder": "mlp", "kwargs": {...}}`` from
        #: :meth:`mlp`, ``{"builder": "config", ...}`` from a config; ``None`` when built from objects.
        self.spec: dict[str, Any] | None = None
        #: Why :attr:`spec` is ``None`` when :meth:`mlp` got a layer piece as an object: the line saving
        #: refuses with (``None`` otherwise: black boxes between layers save their weights only).
        self.unrecorded: str | None = None
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
        labels: str | LabelEmbedding | None = MODEL.labels,
        label_strength: float = MODEL.label_strength,
        bias: bool = MODEL.bias,
        score_layers: Sequence[int] | None = None,
        head_layers: Sequence[int] | None = None,
        head: bool = MODEL.head,
        between: dict[int, Any] | None = None,
        input_normalize: str | nn.Module | None = None,
        head_bias: bool = MODEL.head_bias,
        init: str = MODEL.init,
        **layer_kwargs: Any,
    ) -> FFNetwork:
        """An FF MLP, its layers ``nn.Linear`` blocks.

        Args:
            dims: ``[input_dim, hidden_1, ..., hidden_n]``; ``input_dim`` is the raw input size (the label
                embedding may add to it).
            num_classes: the number of classes; ``None`` (with ``labels=None``) for a network without
                labels or head.
            labels: the label embedding by name (``"append"``, ``"overlay"``), an embedding, or ``None``
                (unsupervised).
            label_strength: the scale of the label code (the one-hot's value).
            bias: whether the layers' ``nn.Linear`` blocks have biases.
            score_layers: as in :class:`FFNetwork`.
            head_layers: as in :class:`FFNetwork`.
            head: as in :class:`FFNetwork`.
            between: black boxes between layers, as in :class:`FFNetwork`; a box with ``out_features``
                sets the next layer's input width.
            input_normalize: as in :class:`FFNetwork`.
            head_bias: as in :class:`FFNetwork`.
            init: a weight initialisation by name (:mod:`forwardforward.init`).
            **layer_kwargs: go to every :class:`FFLayer` (``activation``, ``goodness``, ``loss``,
                ``normalize``, ``peer_norm``, ``loss_kwargs``...).

        Returns:
            The network, with ``input_shape`` and (when every argument is a plain value) the ``spec`` a
            checkpoint rebuilds it from.
        """
        arguments = {k: v for k, v in locals().items() if k not in ("cls", "between", "layer_kwargs")}
        arguments.update(layer_kwargs)
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
        net = initialize(net, init)
        net.input_shape = (int(dims[0]),)
        net.spec = _mlp_spec(arguments, between)
        net.unrecorded = None if between else _object_argument(arguments)
        return net

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
            return self.input_norm(self.paired(x.flatten(1)))
        if y is None:
            raise ValueError("this network embeds a label in its input: pass the labels y")
        return self.input_norm(self.labels(x, y))

    def embed_neutral(self, x: torch.Tensor) -> torch.Tensor:
        """The network input for samples ``x`` with the neutral label (or no label when there is none)."""
        if self.labels is None:
            return self.input_norm(self.paired(x.flatten(1)))
        return self.input_norm(self.labels.neutral(x))

    def paired(self, flat: torch.Tensor) -> torch.Tensor:
        """``flat`` ``[B, D]`` as the layers take it: unchanged, or, for a network built for pairs
        (``pair_inputs``), a single image ``[x]`` as the pair ``[x, x]`` and a pair as it is."""
        d = self.pair_inputs
        if d is None or flat.shape[1] == 2 * d:
            return flat
        if flat.shape[1] == d:
            return torch.cat([flat, flat], 1)
        raise ValueError(
            f"this network takes pairs of images of {d} values each: give it {d} values per sample (one "
            f"image, paired with itself) or {2 * d} (two images side by side), not {flat.shape[1]}"
        )

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
        """Every layer's raw activity for ``x``, an already-embedded input; inputs are detached per layer."""
        out = []
        for i, layer in enumerate(self.layers):
            h = layer(x)
            out.append(h)
            if i < len(self.layers) - 1:
                x = self.hand_over(i, h)
        return out

    def forward(self, x: Any) -> torch.Tensor:
        """``net(x)``: class scores ``[B, C]`` for raw samples (what :meth:`predict` takes the argmax of),
        so a trained network behaves like any classifier module; a network without labels (unsupervised)
        returns its :meth:`features` instead. The per-layer activities of an embedded input, which
        ``forward`` returned before, are :meth:`activities`."""
        x = self.as_inputs(x)
        if self.labels is None and not self.one_pass:
            with torch.no_grad():
                return self.features(x)
        return self.scores(x)

    def local_losses(
        self,
        x_pos: torch.Tensor,
        x_neg: torch.Tensor,
        layers: Sequence[int] | None = None,
        y: torch.Tensor | None = None,
        capture: dict[int, torch.Tensor] | None = None,
    ) -> tuple[list[torch.Tensor], list[LayerStats]]:
        """One loss per layer (or per chosen layer) for embedded positive and negative inputs.

        Positives ``x_pos`` and negatives ``x_neg`` go through in one concatenated forward. Summing the
        returned losses and calling ``backward()`` gives every layer exactly its own local gradient. Only
        the indices in ``layers`` (default all) get a loss; the forward stops at the last of them.
        Channel-wise competition takes the labels ``y`` instead of negatives (``x_neg`` may be an empty
        batch). ``capture``: see :meth:`iter_local_losses`.
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
        """Lazily yield ``(layer index, loss, stats)`` for the embedded positives ``x_pos`` and negatives
        ``x_neg``, computing layer ``i + 1`` only when asked. Only the layers in ``layers`` (default all)
        yield; ``y`` is the labels that channel-wise competition needs instead of negatives.

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
        """Concatenated normalised activities of the raw samples ``x`` with the neutral label (the linear
        head's input), from the chosen ``layers`` (default ``head_layers``), in that order."""
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


def _mlp_spec(arguments: dict[str, Any], between: dict[int, Any] | None) -> dict[str, Any] | None:
    """:meth:`FFNetwork.mlp`'s arguments as a checkpoint can hold them, or ``None`` when one is an object (a
    black box, an embedding or a module given instead of its name), which no checkpoint can record."""
    kwargs = {k: list(v) if isinstance(v, tuple) else v for k, v in arguments.items()}
    kwargs["dims"] = [int(d) for d in kwargs["dims"]]
    return {"builder": "mlp", "kwargs": kwargs} if not between and _plain(kwargs) else None


#: Where each piece :meth:`FFNetwork.mlp` takes by name is registered, and the argument that takes its
#: constructor's arguments, for the message that refuses to save a network built from an object of one.
_PIECE_ARGUMENTS = {
    "activation": ("forwardforward.activations.ACTIVATIONS", None),
    "goodness": ("forwardforward.goodness.GOODNESS", "goodness_kwargs"),
    "loss": ("forwardforward.losses.LOSSES", "loss_kwargs"),
    "normalize": ("forwardforward.normalize.NORMALIZE", None),
    "input_normalize": ("forwardforward.normalize.NORMALIZE", None),
    "labels": ("forwardforward.labels.LABELS", None),
}


def _object_argument(arguments: dict[str, Any]) -> str | None:
    """Why :meth:`FFNetwork.mlp`'s ``arguments`` cannot be recorded: the first one that is an object, named
    with its class and how to pass it by name instead; ``None`` when every argument is a plain value."""
    for key, value in arguments.items():
        if _plain(value):
            continue
        cls = type(value)
        what = (
            f"FFNetwork.mlp got {key}={cls.__name__}(...) (class {cls.__module__}.{cls.__qualname__}), an "
            "object a checkpoint cannot record"
        )
        found = registered_as(cls)
        registry, kwargs = _PIECE_ARGUMENTS.get(key, (None, None))
        args = f" (its arguments in {kwargs}=)" if kwargs else ""
        if found is not None:
            return f"{what}: pass its registered name, {key}={found[1]!r}{args}"
        if registry is None:
            return f"{what}: pass plain values (numbers, strings, lists)"
        name = cls.__name__.lower()
        return (
            f"{what}: register the class in a module of yours with @{registry}.register({name!r}) and pass "
            f"{key}={name!r}{args}"
        )
    return None


def _plain(value: Any) -> bool:
    """True for what a weights-only checkpoint holds: numbers, strings, None, and lists or dicts of them."""
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def _check_structure(
    layers: Sequence[FFLayer], labels: LabelEmbedding | None, between: dict[int, Any]
) -> None:
    """The network's shape rules, each a one-line error: black boxes sit between layers, and channel-wise
    competition is every layer's goodness or none's, with no label in the input."""
    n = len(layers)
    bad = [i for i in between if not 0 <= i < n - 1]
    if bad:
        raise ValueError(f"between: transforms sit after layers 0..{n - 2}; got indices {bad}")
    per_class = [layer.per_class for layer in layers]
    if any(per_class) and not all(per_class):
        raise ValueError(
            "channel-wise competition (per-class group goodness) must be used by every layer or by none; "
            f"layers with it: {[i for i, p in enumerate(per_class) if p]}"
        )
    if all(per_class) and labels is not None:
        raise ValueError("channel-wise competition needs no label in the input: build it with labels=None")
