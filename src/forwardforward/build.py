"""From a config to objects: the one place where names become networks and trainers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from .analog import make_analog
from .config import to_dict
from .negatives import HardLabel, RandomLabel
from .network import FFNetwork
from .train import Trainer


def load_data(cfg: DictConfig) -> Any:
    """The config's dataset as :class:`~forwardforward.data.DataSplits`, with ``data.train_subset`` applied.

    The subset is a seeded random draw (``trainer.seed``) of the training set, so quick studies on a
    fraction of the data are reproducible; validation and test sets are left whole.
    """
    from . import data as ffdata

    splits = ffdata.load(
        cfg.data.name,
        root=cfg.data.root,
        val_fraction=cfg.data.val_fraction,
        seed=cfg.trainer.seed,
        download=cfg.data.download,
    )
    n = cfg.data.get("train_subset")
    if n is not None and n < len(splits.train):
        g = torch.Generator().manual_seed(int(cfg.trainer.seed))
        splits.train = splits.train.subset(torch.randperm(len(splits.train), generator=g)[: int(n)])
    return splits


def _threshold(value: Any) -> float | str:
    return value if value == "width" else float(value)


def build_network(cfg: DictConfig, input_dim: int, num_classes: int, **mlp_kwargs: Any) -> FFNetwork:
    """The FF MLP a config describes, seeded by ``trainer.seed`` so every run starts the same.

    ``mlp_kwargs`` go to :meth:`FFNetwork.mlp` for what a config cannot hold (e.g. ``between=`` boxes).
    """
    m = cfg.model
    torch.manual_seed(cfg.trainer.seed)
    net = FFNetwork.mlp(
        [input_dim, *m.hidden],
        num_classes=num_classes,
        labels=m.labels,
        label_strength=m.label_strength,
        bias=m.bias,
        score_layers=list(m.score_layers) if m.score_layers is not None else None,
        head_layers=list(m.head_layers) if m.head_layers is not None else None,
        head=m.head,
        activation=m.activation,
        goodness=m.goodness,
        goodness_kwargs={"p": m.p},
        loss=m.loss,
        loss_kwargs={"threshold": _threshold(m.threshold), "alpha": m.alpha, "temperature": m.temperature},
        normalize=m.normalize,
        peer_norm=m.peer_norm,
        **mlp_kwargs,
    )
    return make_analog(net, m.weight_noise, m.act_noise, m.weight_bits, m.act_bits)  # type: ignore[return-value]


def build_trainer(
    cfg: DictConfig,
    net: FFNetwork,
    out_dir: str | Path | None = None,
    trainer_cls: type[Trainer] = Trainer,
    **extra: Any,
) -> Trainer:
    """The Trainer a config describes, recording the config for checkpoints.

    ``trainer_cls`` and ``extra`` let a subclass (the data-parallel trainer) reuse the same mapping.
    """
    t = cfg.trainer
    if t.threads:
        torch.set_num_threads(t.threads)
    if t.negatives == "hard":
        negatives: Any = HardLabel(temperature=t.hard_temperature, warmup_epochs=t.hard_warmup_epochs)
    elif t.negatives == "random":
        negatives = RandomLabel()
    else:
        negatives = t.negatives  # a registered name; the registry reports unknown ones
    return trainer_cls(
        net,
        negatives=negatives,
        optimizer=t.optimizer,
        lr=t.lr,
        weight_decay=t.weight_decay,
        optimizer_kwargs=optimizer_kwargs(cfg),
        layer_lr=list(t.layer_lr) if t.layer_lr is not None else None,
        head_lr=t.head_lr,
        schedule=t.schedule,
        cooldown_start=t.cooldown_start,
        hard_source=t.hard_source,
        seed=t.seed,
        device=t.device,
        out_dir=out_dir,
        progress=t.progress,
        tensorboard=t.tensorboard,
        config=to_dict(cfg),
        negatives_refresh=t.negatives_refresh,
        layerwise_step=t.layerwise_step,
        compile=t.compile,
        autocast=t.autocast,
        **extra,
    )


def optimizer_kwargs(cfg: DictConfig) -> dict[str, Any]:
    """Extra optimiser arguments a config sets (``trainer.momentum`` for SGD/RMSprop)."""
    return {"momentum": cfg.trainer.momentum} if cfg.trainer.momentum is not None else {}


def train_backprop_twin(cfg: DictConfig, splits: Any) -> list[dict[str, float]]:
    """Train the backprop twin a config describes; returns its per-epoch rows (test accuracy each epoch).

    Same hidden sizes, activation, bias, optimiser, learning rate and schedule, batch size, epochs, seed
    and simulated analog chip as the FF run, so a comparison differs in the learning rule alone.
    """
    from .analog import make_analog
    from .baselines import BackpropMLP, train_backprop

    t, m = cfg.trainer, cfg.model
    torch.manual_seed(t.seed)
    model = BackpropMLP([splits.train.input_dim, *m.hidden], splits.train.num_classes, m.activation, m.bias)
    make_analog(model, m.weight_noise, m.act_noise, m.weight_bits, m.act_bits)  # no-op when all are off
    return train_backprop(
        model,
        splits.train,
        t.epochs,
        t.batch_size,
        t.optimizer,
        t.lr,
        t.weight_decay,
        optimizer_kwargs(cfg),
        eval_data=splits.test,
        seed=t.seed,
        device=t.device,
        cooldown_start=t.cooldown_start,
    )
