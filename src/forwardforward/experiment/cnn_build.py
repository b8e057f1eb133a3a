"""From a ``model.kind=cnn`` config to an FF CNN, its augmentation and its backprop twin.

Kept apart from :mod:`forwardforward.build` so the MLP path there stays as it was; ``build_network``,
``build_trainer`` and ``train_backprop_twin`` hand CNN configs to the functions here.
"""

from __future__ import annotations

from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from ..data.augment import build_augment
from ..goodness import GOODNESS, ChannelGroupGoodness
from ..labels.embeddings import LABELS, LabelEmbedding
from ..labels.spatial import image_shape
from ..layers import call_with_accepted
from ..models.conv import BackpropCNN, ConvSpec, conv_layer
from ..network import FFNetwork
from .build import goodness_kwargs, layer_pieces, network_pieces

#: Image shapes of the built-in datasets ``(C, H, W)``; other data is assumed single-channel and square.
DATASET_SHAPES: dict[str, tuple[int, int, int]] = {
    "fashion-mnist": (1, 28, 28),
    "fmnist": (1, 28, 28),
    "mnist": (1, 28, 28),
    "digits": (1, 8, 8),
    "cifar10": (3, 32, 32),
    "cifar100": (3, 32, 32),
}


def data_shape(cfg: DictConfig, input_dim: int) -> tuple[int, int, int]:
    """The config's image shape: the dataset's own, else the most square single-channel one."""
    shape = DATASET_SHAPES.get(str(cfg.data.name).lower().replace("_", "-").replace("cifar-", "cifar"))
    if shape is not None and shape[0] * shape[1] * shape[2] == input_dim:
        return shape
    return image_shape(input_dim, None)


def conv_specs(cfg: DictConfig) -> list[ConvSpec]:
    return [ConvSpec(**OmegaConf.to_container(c)) for c in cfg.model.conv]  # type: ignore[arg-type]


def _label_embedding(cfg: DictConfig, num_classes: int, shape: tuple[int, int, int]) -> LabelEmbedding | None:
    m = cfg.model
    if m.labels in ("channels", "none"):  # competition needs no embedding; unsupervised has no label
        return None
    factory = LABELS.get(m.labels)
    kwargs = {"num_classes": num_classes, "strength": m.label_strength, "shape": shape, "grid": m.label_grid}
    return call_with_accepted(factory, kwargs)


def build_cnn(
    cfg: DictConfig, input_dim: int, num_classes: int, input_shape: tuple[int, ...] | None = None
) -> FFNetwork:
    """The FF CNN a config describes (``model.conv`` layers, ``model.labels`` strategy)."""
    m = cfg.model
    shape = tuple(input_shape) if input_shape is not None else data_shape(cfg, input_dim)
    specs = conv_specs(cfg)
    emb = _label_embedding(cfg, num_classes, shape)  # type: ignore[arg-type]
    in_shape = emb.output_shape(input_dim) if hasattr(emb, "output_shape") else shape  # type: ignore[union-attr]
    common = layer_pieces(m)
    layers = []
    for i, spec in enumerate(specs):
        if m.labels == "channels":
            if spec.channels % num_classes:
                raise ValueError(
                    f"model.conv[{i}].channels={spec.channels}: channel-wise competition needs a multiple of "
                    f"the {num_classes} classes"
                )
            base = call_with_accepted(GOODNESS.get(m.goodness), goodness_kwargs(m))
            goodness: Any = ChannelGroupGoodness(num_classes, base)
        else:
            goodness = m.goodness
        layer = conv_layer(
            in_shape,
            spec,
            bias=m.bias,
            channels_last=m.channels_last,
            goodness=goodness,
            goodness_kwargs=goodness_kwargs(m),
            **common,
        )
        layers.append(layer)
        in_shape = layer.block.out_shape  # type: ignore[assignment]
    return FFNetwork(
        layers,
        emb,
        score_layers=list(m.score_layers) if m.score_layers is not None else None,
        head_layers=list(m.head_layers) if m.head_layers is not None else [len(layers) - 1],
        head=m.head,
        num_classes=None if m.labels == "none" else num_classes,
        **network_pieces(m),
    )


def augmentation(cfg: DictConfig) -> nn.Module | None:
    """The config's training augmentation (``trainer.augment``), or ``None``."""
    return build_augment(cfg.trainer.augment, cfg.trainer.augment_shift)


def train_backprop_cnn(cfg: DictConfig, splits: Any) -> list[dict[str, float]]:
    """The backprop twin of a config's FF CNN: same conv blocks, activation, optimiser, lr schedule, batch
    size, epochs, seed and augmentation; a linear softmax layer on the last block; no label input."""
    from .build import train_twin_model

    torch.manual_seed(cfg.trainer.seed)
    shape = data_shape(cfg, splits.train.input_dim)
    m = cfg.model
    model = BackpropCNN(
        shape, conv_specs(cfg), splits.train.num_classes, m.activation, m.bias, m.channels_last
    )
    return train_twin_model(cfg, model, splits, augment=augmentation(cfg))
