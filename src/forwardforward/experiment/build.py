"""From a config to objects: the data, the network, the negatives, the trainer and the backprop twin.

Each builder reads its own part of the config and hands the pieces below it what they need (a model
kind's builder gets the model section and the data's shape, never the whole config). Names become objects
through the registries (``DATASETS``, ``MODEL_KINDS``, ``NEGATIVES``...), which the config was checked against
when it loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from .. import data as ffdata
from ..data.augment import build_augment, build_test_views
from ..evaluation.baselines import BackpropMLP, frozen_readout, train_backprop
from ..hardware.analog import make_analog
from ..init import initialize
from ..models.conv import BackpropCNN
from ..models.kinds import MODEL_KINDS, as_image_shape, conv_specs, flat_size
from ..models.sequence import DreamNegatives
from ..negatives import NEGATIVES, HardLabel, Negatives, RandomLabel, SelfContrastivePairs, build_negatives
from ..network import FFNetwork
from ..optim import optimizer_class
from ..training.callbacks import Callback
from ..training.devices import resolve_device
from ..training.optimization import accepted_arguments
from ..training.strategies import SingleProcess
from ..training.trainer import Trainer
from .config import to_dict
from .unsupervised import user_source


def load_data(cfg: DictConfig) -> Any:
    """The dataset of the config ``cfg`` as :class:`~forwardforward.data.DataSplits`, with
    ``data.train_subset`` and ``data.center`` applied (a sequence model's ``sequence.*`` settings go to the
    text loader).

    The subset is a seeded random draw (``trainer.seed``) of the training set, so quick studies on a
    fraction of the data are reproducible; validation and test sets are left whole.
    """
    d = cfg.data
    options = dict(cfg.sequence) if cfg.model.kind == "sequence" else {}
    splits = ffdata.load(
        d.name,
        root=d.root,
        val_fraction=d.val_fraction,
        seed=cfg.trainer.seed,
        download=d.download,
        **options,
    )
    n = d.train_subset
    if n is not None and n < len(splits.train):
        g = torch.Generator().manual_seed(int(cfg.trainer.seed))
        splits.train = splits.train.subset(torch.randperm(len(splits.train), generator=g)[: int(n)])
    if d.center:
        # Statistics of the (possibly subset) training images only, applied to every split alike. Centred
        # inputs keep a first FF layer from spending its units on the mean image (see docs/unsupervised.md).
        mean, std = splits.train.x.mean(0, keepdim=True), splits.train.x.std().clamp_min(1e-6)
        for part in (splits.train, splits.val, splits.test):
            if part is not None:
                part.x = (part.x - mean) / std
    return splits


def sample_shape(data: Any) -> tuple[int, ...]:
    """One sample's shape: ``(C, H, W)`` for images, ``(D,)`` for flat data."""
    return tuple(int(s) for s in data.x.shape[1:])


def build_network(
    cfg: DictConfig, shape: int | tuple[int, ...], num_classes: int | None, **extra: Any
) -> FFNetwork:
    """The FF network the config ``cfg`` describes, for samples of ``shape`` (an int for flat data) and
    ``num_classes`` classes (``None``: no labels), seeded by ``trainer.seed`` so every run starts the same.
    ``extra`` go to the MLP builder for what a config cannot hold (``between=`` black boxes)."""
    m = cfg.model
    torch.manual_seed(cfg.trainer.seed)
    kind = MODEL_KINDS.get(m.kind)
    section = cfg.get(kind.section) if kind.section else None
    pairs = concat_pairs(cfg)
    # Self-contrastive pairs side by side: the layers are built for two images (stacked as channels, so a
    # flat layer sees them side by side), and the network pairs a single image with itself.
    built_for = doubled(shape) if pairs else shape
    net = (
        kind.build(m, built_for, num_classes, section, **extra)
        if extra
        else kind(m, built_for, num_classes, section)
    )
    if pairs:
        net.pair_inputs = flat_size(shape)
    if kind.capabilities.analog:
        make_analog(net, m.weight_noise, m.act_noise, m.weight_bits, m.act_bits)  # no-op when all are off
    initialize(net, m.init)
    if m.test_views != "none":
        net.test_views = build_test_views(m.test_views, as_image_shape(shape))
    net.input_shape = (int(shape),) if isinstance(shape, int) else tuple(int(s) for s in shape)
    # With the config a checkpoint records, the data's shape is all ``forwardforward.load`` needs to rebuild
    # the network without reading the data; black boxes (``extra``) are objects no checkpoint can hold.
    net.spec = (
        None if extra else {"builder": "config", "shape": list(net.input_shape), "num_classes": num_classes}
    )
    return net


def concat_pairs(cfg: DictConfig) -> bool:
    """Whether the config ``cfg`` has self-contrastive pairs enter side by side (``trainer.negatives=scff``
    with ``unsup.pairs=concat``)."""
    return cfg.unsup.pairs == "concat" and NEGATIVES.get(cfg.trainer.negatives) is SelfContrastivePairs


def doubled(shape: int | tuple[int, ...]) -> int | tuple[int, ...]:
    """The shape of two samples of ``shape`` stacked: twice the values, twice the channels of an image."""
    if isinstance(shape, int):
        return 2 * shape
    return (2 * int(shape[0]), *(int(s) for s in shape[1:]))


def build_negatives_from(cfg: DictConfig, train: Any = None) -> Negatives:
    """The negatives ``trainer.negatives`` (and ``unsup.*``, ``sequence.*``) of the config ``cfg``
    describe; the user's bad data is shaped like the training images ``train``."""
    t = cfg.trainer
    if cfg.model.kind == "sequence" and cfg.sequence.negatives == "sleep":
        s = cfg.sequence
        return DreamNegatives(s.temperature, s.dreams, s.dream_length)
    if t.negatives == "hard":
        return HardLabel(temperature=t.hard_temperature, warmup_epochs=t.hard_warmup_epochs)
    if t.negatives == "random":
        return RandomLabel()
    if t.negatives == "hybrid":
        return build_negatives("hybrid", blur_steps=cfg.unsup.blur_steps)
    if NEGATIVES.get(t.negatives) is SelfContrastivePairs:
        return SelfContrastivePairs(pairs=cfg.unsup.pairs)
    if t.negatives == "user":
        if train is None:
            raise ValueError("trainer.negatives=user needs the training images to shape the bad data")
        name = f"unsup.user_source={cfg.unsup.user_source!r}"
        return build_negatives("user", source=user_source(cfg, train.x), name=name)
    return build_negatives(t.negatives)


def build_trainer(
    cfg: DictConfig,
    net: FFNetwork,
    out_dir: str | Path | None = None,
    strategy: SingleProcess | None = None,
    train: Any = None,
    callbacks: Sequence[Callback] | None = None,
) -> Trainer:
    """The Trainer of ``net`` the config ``cfg`` describes, recording the config for checkpoints and
    writing into ``out_dir`` (``None``: nothing is written); ``strategy`` spreads it over processes,
    ``train`` is needed only for negatives shaped by the data (``trainer.negatives=user``), ``callbacks``
    are added to the Trainer's own (a time budget, a custom logger). Sets ``trainer.threads`` for the
    process."""
    t = cfg.trainer
    if t.threads:
        torch.set_num_threads(t.threads)
    sleep = cfg.model.kind == "sequence" and cfg.sequence.negatives == "sleep"
    return Trainer(
        net,
        negatives=build_negatives_from(cfg, train),
        optimizer=t.optimizer,
        lr=t.lr,
        weight_decay=t.weight_decay,
        optimizer_kwargs=optimizer_kwargs(cfg),
        layer_lr=list(t.layer_lr) if t.layer_lr is not None else None,
        head_lr=t.head_lr,
        head_weight_decay=t.head_weight_decay,
        decay_biases=t.decay_biases,
        schedule=t.schedule,
        phases=("halves" if cfg.sequence.sleep_step == "paired" else "alternate") if sleep else t.phases,
        cooldown_start=t.cooldown_start,
        cooldown_every=t.cooldown_every,
        hard_source=t.hard_source,
        seed=t.seed,
        device=resolve_device(t.device),
        out_dir=out_dir,
        progress=t.progress,
        tensorboard=t.tensorboard,
        config=to_dict(cfg),
        negatives_refresh=t.negatives_refresh,
        layerwise_step=t.layerwise_step,
        compile=t.compile,
        autocast=t.autocast,
        augment=augmentation(cfg),
        layer_windows=[list(w) for w in t.layer_windows] if t.layer_windows is not None else None,
        strategy=strategy,
        callbacks=callbacks,
    )


def augmentation(cfg: DictConfig) -> Any:
    """The training augmentation of the config ``cfg`` (``trainer.augment``, ``trainer.augment_shift``),
    or ``None``."""
    return build_augment(cfg.trainer.augment, cfg.trainer.augment_shift)


def optimizer_kwargs(cfg: DictConfig) -> dict[str, Any]:
    """Extra optimiser arguments the config ``cfg`` sets: ``trainer.momentum`` (SGD, RMSprop),
    ``fused=True`` for ``trainer.fused`` when the optimiser has a fused kernel, and everything in
    ``trainer.optimizer_kwargs`` (which wins)."""
    t = cfg.trainer
    extra = dict(t.get("optimizer_kwargs") or {})
    fused = {"fused": True} if t.get("fused") and has_fused_kernel(t.optimizer) else {}
    return {**({"momentum": t.momentum} if t.momentum is not None else {}), **fused, **extra}


def has_fused_kernel(name: str) -> bool:
    """Whether the optimiser called ``name`` takes torch's ``fused=`` argument (Adam, AdamW, SGD,
    Adagrad in torch 2.x); ours and unknown names do not."""
    cls = optimizer_class(name)
    return cls is not None and "fused" in accepted_arguments(cls)


#: The config keys the backprop twin reads (``data.*`` too); the rest (goodness, loss, labels, negatives...)
#: are FF-only, so a sweep runs one twin per setting of these keys.
BACKPROP_TWIN_KEYS = (
    "model.hidden",
    "model.activation",
    "model.bias",
    "model.weight_noise",
    "model.act_noise",
    "model.weight_bits",
    "model.act_bits",
    "trainer.epochs",
    "trainer.batch_size",
    "trainer.optimizer",
    "trainer.lr",
    "trainer.weight_decay",
    "trainer.momentum",
    "trainer.fused",
    "trainer.cooldown_start",
    "trainer.seed",
    "trainer.device",
    "trainer.threads",
    "model.kind",
    "model.conv",
    "trainer.augment",
    "trainer.augment_shift",
)


def train_backprop_twin(cfg: DictConfig, splits: Any) -> list[dict[str, float]]:
    """Train the backprop twin the config ``cfg`` describes on ``splits`` (train; test evaluated each
    epoch); returns its per-epoch rows.

    Same hidden sizes (or conv blocks), activation, bias, optimiser, learning rate and schedule, batch
    size, epochs, seed, augmentation and simulated analog chip as the FF run, so a comparison differs in
    the learning rule alone.
    """
    m, train = cfg.model, splits.train
    torch.manual_seed(cfg.trainer.seed)
    if m.kind == "cnn":
        shape = as_image_shape(sample_shape(train))
        model: Any = BackpropCNN(
            shape, conv_specs(m), train.num_classes, m.activation, m.bias, m.channels_last
        )
    else:
        model = BackpropMLP(
            [flat_size(sample_shape(train)), *m.hidden], train.num_classes, m.activation, m.bias
        )
        make_analog(model, m.weight_noise, m.act_noise, m.weight_bits, m.act_bits)  # no-op when all are off
    return train_twin_model(cfg, model, splits, augment=augmentation(cfg) if m.kind == "cnn" else None)


def train_frozen_readout(cfg: DictConfig, splits: Any) -> list[dict[str, float]]:
    """The network of the config ``cfg`` left at its (seeded) random initialisation, with only a linear
    softmax readout trained on its normalised activities of ``splits.train`` (tested on ``splits.test``),
    on the FF run's budget: the baseline FF's features must beat."""
    net = build_network(cfg, sample_shape(splits.train), splits.train.num_classes)
    return frozen_readout(net, splits.train, splits.test, **training_budget(cfg))


def train_twin_model(cfg: DictConfig, model: Any, splits: Any, augment: Any = None) -> list[dict[str, float]]:
    """Train a backprop ``model`` end to end on ``splits.train`` (tested on ``splits.test`` each epoch) with
    the FF run's optimiser, schedule, batch, epochs and seed from ``cfg`` (the model is built, and seeded,
    by the caller); ``augment`` transforms each training batch (``None``: nothing)."""
    return train_backprop(model, splits.train, eval_data=splits.test, augment=augment, **training_budget(cfg))


def training_budget(cfg: DictConfig) -> dict[str, Any]:
    """What a comparison run shares with the FF run of the config ``cfg``: epochs, batch size, optimiser
    (and its arguments), learning rate and its schedule, weight decay, seed and device, as
    :func:`~forwardforward.evaluation.baselines.train_backprop`'s keyword arguments."""
    t = cfg.trainer
    return {
        "epochs": t.epochs,
        "batch_size": t.batch_size,
        "optimizer": t.optimizer,
        "lr": t.lr,
        "weight_decay": t.weight_decay,
        "optimizer_kwargs": optimizer_kwargs(cfg),
        "seed": t.seed,
        "device": resolve_device(t.device),
        "cooldown_start": t.cooldown_start,
    }


__all__ = [
    "BACKPROP_TWIN_KEYS",
    "augmentation",
    "build_negatives_from",
    "build_network",
    "build_trainer",
    "concat_pairs",
    "doubled",
    "load_data",
    "optimizer_kwargs",
    "sample_shape",
    "train_backprop_twin",
    "train_frozen_readout",
    "train_twin_model",
    "training_budget",
]
