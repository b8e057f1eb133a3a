"""Model kinds by name (``model.kind``), each with its builder and what it supports, declared up front.

A builder takes the model section of a config (anything with the ``model.*`` attributes: an OmegaConf node
or the dataclass), the data's per-sample shape (an int for flat data, ``(C, H, W)`` for images), the number
of classes, and its own config section when it has one (``recurrent``). It never sees the rest of the
config. What a kind cannot do (the greedy schedule for a recurrent net, the layer pipeline for a CNN...) is
in its :class:`Capabilities`, which the config checks before any data are read: an unsupported combination
is a one-line error, never a failure mid-run.

Adding a model kind: write a builder returning an :class:`~forwardforward.network.FFNetwork` and register
it here with ``MODEL_KINDS.register("name")(ModelKind(builder, Capabilities(...)))``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from ..goodness import GOODNESS, ChannelGroupGoodness
from ..labels.embeddings import LABELS
from ..labels.spatial import image_shape
from ..network import FFNetwork
from ..registry import Registry, call_with_accepted
from .conv import ConvSpec, conv_layer
from .recurrent import RecurrentFFNetwork


@dataclass(frozen=True)
class Capabilities:
    """What a model kind supports; a config asking for anything else is refused before training.

    One flag per feature, true when the kind supports it: ``greedy``, ``pipeline``, ``data_parallel``,
    ``layerwise_step``, ``label_free``, ``pruning``, ``int8`` and ``analog`` (each described below).
    """

    greedy: bool = True  #: trainer.schedule=greedy (layer by layer, frozen layers' outputs cached)
    pipeline: bool = True  #: --pipeline: consecutive layers on consecutive processes
    data_parallel: bool = True  #: --nproc N / torchrun: each process a shard of every batch
    layerwise_step: bool = True  #: trainer.layerwise_step: memory flat in depth
    label_free: bool = True  #: unsupervised FF (negative images, model.labels=none)
    pruning: bool = True  #: candidate pruning when scoring labels (net.scores(keep=k))
    int8: bool = True  #: the int8 cascade for all-label prediction (ff eval --int8)
    analog: bool = True  #: the simulated noisy, low-precision chip (model.weight_noise...)

    def unsupported(self) -> list[str]:
        """The names of the capabilities this kind lacks, in field order."""
        return [f.name for f in fields(self) if not getattr(self, f.name)]


@dataclass(frozen=True)
class ModelKind:
    """A registered model kind: its builder, what it supports, and the config section it reads.

    Attributes:
        build: the builder, ``build(model, shape, num_classes, section)`` -> the network.
        capabilities: what the kind supports (:class:`Capabilities`).
        section: the name of the config section the builder also reads (``"recurrent"``), or ``None``.
    """

    build: Callable[..., FFNetwork]
    capabilities: Capabilities = Capabilities()
    section: str | None = None

    def __call__(
        self, model: Any, shape: int | Sequence[int], num_classes: int | None, section: Any = None
    ) -> Any:
        return self.build(model, shape, num_classes, section)


MODEL_KINDS: Registry[ModelKind] = Registry("model kind")


# ---------------------------------------------------------------------- from a model section to pieces
def _threshold(value: Any) -> float | str:
    return value if value == "width" else float(value)


def layer_pieces(m: Any) -> dict[str, Any]:
    """The per-layer pieces every FF model kind takes from the model section ``m``: activation, loss (and
    its arguments), normaliser, peer normalisation."""
    return {
        "activation": m.activation,
        "loss": m.loss,
        "loss_kwargs": {
            "threshold": _threshold(m.threshold),
            "alpha": m.alpha,
            "temperature": m.temperature,
            "floor": m.floor,
        },
        "normalize": m.normalize,
        "peer_norm": m.peer_norm,
        "peer_momentum": m.peer_momentum,
        "peer_gated": m.peer_gated,
    }


def goodness_kwargs(m: Any) -> dict[str, Any]:
    """The goodness's own arguments from the model section ``m`` (each goodness takes only those it
    accepts)."""
    return {"p": m.p, "k": m.topk}


def network_pieces(m: Any) -> dict[str, Any]:
    """The whole-network pieces every FF model kind takes from the model section ``m``: input
    normalisation, head bias."""
    return {
        "input_normalize": None if m.input_normalize == "none" else m.input_normalize,
        "head_bias": m.head_bias,
    }


def layer_kwargs(m: Any) -> dict[str, Any]:
    """:func:`layer_pieces` of the model section ``m`` plus goodness and the scoring/head layers, as the
    MLP-like builders take them."""
    return {
        **layer_pieces(m),
        "goodness": m.goodness,
        "goodness_kwargs": goodness_kwargs(m),
        "score_layers": list(m.score_layers) if m.score_layers is not None else None,
        "head_layers": list(m.head_layers) if m.head_layers is not None else None,
        "head": m.head,
    }


def flat_size(shape: int | Sequence[int]) -> int:
    """The number of values in one sample of that shape."""
    if isinstance(shape, int):
        return shape
    size = 1
    for s in shape:
        size *= int(s)
    return size


def as_image_shape(shape: int | Sequence[int]) -> tuple[int, int, int]:
    """``(C, H, W)`` of one sample of ``shape``: the data's own (``(C, H, W)`` or ``(H, W)``), or, for flat
    data, the most square single channel."""
    if not isinstance(shape, int) and len(shape) == 3:
        return (int(shape[0]), int(shape[1]), int(shape[2]))
    if not isinstance(shape, int) and len(shape) == 2:
        return (1, int(shape[0]), int(shape[1]))
    return image_shape(flat_size(shape), None)


# ---------------------------------------------------------------------- the builders
def build_mlp(
    m: Any, shape: int | Sequence[int], num_classes: int | None, section: Any = None, **extra: Any
) -> Any:
    """An FF MLP from the model section ``m`` for samples of ``shape`` (flattened) and ``num_classes``
    classes; ``model.labels: none`` builds it without a label embedding or head (unsupervised). The MLP
    reads no ``section`` of its own; ``extra`` goes to :meth:`FFNetwork.mlp` (``between``...)."""
    unsupervised = m.labels == "none"  # nothing label-dependent is built
    return FFNetwork.mlp(
        [flat_size(shape), *m.hidden],
        num_classes=None if unsupervised else num_classes,
        labels=None if unsupervised else m.labels,
        label_strength=m.label_strength,
        bias=m.bias,
        **layer_kwargs(m),
        **network_pieces(m),
        **extra,
    )


def build_recurrent(m: Any, shape: int | Sequence[int], num_classes: int | None, section: Any) -> Any:
    """Hinton's recurrent net with top-down connections, from the model section ``m`` and the
    ``recurrent`` ``section`` (damping, iterations, the steps scored and trained), for samples of
    ``shape`` (flattened) and ``num_classes`` classes. The label is always appended (it is the top layer's
    top-down input); ``model.labels`` is not used."""
    if num_classes is None:
        raise ValueError("a recurrent FF net needs labels (its top layer hears the label)")
    return RecurrentFFNetwork.build(
        flat_size(shape),
        list(m.hidden),
        num_classes,
        label_strength=m.label_strength,
        bias=m.bias,
        damping=section.damping,
        iterations=section.iterations,
        score_from=section.score_from,
        score_to=section.score_to,
        train_from=section.train_from,
        **layer_kwargs(m),
    )


def conv_specs(m: Any) -> list[ConvSpec]:
    """The ``conv`` layer specs of the model section ``m`` (OmegaConf nodes or dicts) as
    :class:`ConvSpec`."""
    return [ConvSpec(**{f.name: c[f.name] for f in fields(ConvSpec) if f.name in c}) for c in m.conv]


def build_cnn(m: Any, shape: int | Sequence[int], num_classes: int | None, section: Any = None) -> Any:
    """An FF CNN from the model section ``m``: ``model.conv`` blocks, the label as ``model.labels`` says
    (a channel, learned planes, or channel-wise competition: a channel group per class and no label in the
    input), for images of ``shape`` (flat data is made the most square single channel) and
    ``num_classes`` classes. It reads no ``section`` of its own."""
    image = as_image_shape(shape)
    emb = None
    if m.labels not in ("channels", "none"):
        factory = LABELS.get(m.labels)
        emb = call_with_accepted(
            factory,
            {"num_classes": num_classes, "strength": m.label_strength, "shape": image, "grid": m.label_grid},
        )
    in_shape = emb.output_shape(flat_size(image)) if hasattr(emb, "output_shape") else image
    layers = []
    for i, spec in enumerate(conv_specs(m)):
        goodness: Any = m.goodness
        if m.labels == "channels":
            if spec.channels % num_classes:  # type: ignore[operator]
                raise ValueError(
                    f"model.conv[{i}].channels={spec.channels}: channel-wise competition needs a multiple of "
                    f"the {num_classes} classes"
                )
            goodness = ChannelGroupGoodness(
                num_classes, call_with_accepted(GOODNESS.get(m.goodness), goodness_kwargs(m))
            )  # type: ignore[arg-type]
        layer = conv_layer(
            in_shape,
            spec,
            bias=m.bias,
            channels_last=m.channels_last,
            goodness=goodness,
            goodness_kwargs=goodness_kwargs(m),
            **layer_pieces(m),
        )
        layers.append(layer)
        in_shape = layer.block.out_shape
    return FFNetwork(
        layers,
        emb,
        score_layers=list(m.score_layers) if m.score_layers is not None else None,
        head_layers=list(m.head_layers) if m.head_layers is not None else [len(layers) - 1],
        head=m.head,
        num_classes=None if m.labels == "none" else num_classes,
        **network_pieces(m),
    )


MODEL_KINDS.register("mlp")(ModelKind(build_mlp))
MODEL_KINDS.register("cnn", "conv")(
    ModelKind(build_cnn, Capabilities(pipeline=False, pruning=False, int8=False, analog=False))
)
MODEL_KINDS.register("recurrent")(
    ModelKind(
        build_recurrent,
        Capabilities(greedy=False, pipeline=False, label_free=False, pruning=False, int8=False, analog=False),
        section="recurrent",
    )
)
MODEL_KINDS.register("sequence")(
    ModelKind(build_mlp, Capabilities(pipeline=False, label_free=False, int8=False, analog=False))
)


__all__ = [
    "MODEL_KINDS",
    "Capabilities",
    "ModelKind",
    "as_image_shape",
    "build_cnn",
    "build_mlp",
    "build_recurrent",
    "conv_specs",
    "flat_size",
    "goodness_kwargs",
    "layer_kwargs",
    "layer_pieces",
    "network_pieces",
]
