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


def _threshold(value: Any) -> float | str:
    return value if value == "width" else float(value)


def build_network(cfg: DictConfig, input_dim: int, num_classes: int) -> FFNetwork:
    """The FF MLP a config describes, seeded by ``trainer.seed`` so every run starts the same."""
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
    kwargs: dict[str, Any] = {}
    if t.momentum is not None:
        kwargs["momentum"] = t.momentum
    return trainer_cls(
        net,
        negatives=negatives,
        optimizer=t.optimizer,
        lr=t.lr,
        weight_decay=t.weight_decay,
        optimizer_kwargs=kwargs,
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
