"""From a config to objects: the one place where names become networks and trainers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from ..hardware.analog import make_analog
from ..init import initialize
from ..negatives.labels import HardLabel, RandomLabel
from ..network import FFNetwork
from ..training.trainer import Trainer
from .config import to_dict


def load_data(cfg: DictConfig) -> Any:
    """The config's dataset as :class:`~forwardforward.data.DataSplits`, with ``data.train_subset`` applied.

    The subset is a seeded random draw (``trainer.seed``) of the training set, so quick studies on a
    fraction of the data are reproducible; validation and test sets are left whole.
    """
    from .. import data as ffdata

    if cfg.model.get("kind", "mlp") == "sequence":
        from ..models.sequence import load_text_splits

        return load_text_splits(cfg)
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
    if cfg.data.get("center"):
        # Statistics of the (possibly subset) training images only, applied to every split alike. Centred
        # inputs keep a first FF layer from spending its units on the mean image (see docs/unsupervised.md).
        mean, std = splits.train.x.mean(0, keepdim=True), splits.train.x.std().clamp_min(1e-6)
        for part in (splits.train, splits.val, splits.test):
            if part is not None:
                part.x = (part.x - mean) / std
    return splits


def fit_from_config(
    cfg: DictConfig, out: Path | None, resume: bool = False, splits: Any = None
) -> dict[str, Any]:
    """Train the FF network a config describes and test it: what ``ff train`` and ``ff sweep`` run.

    Evaluates on the validation split each epoch when there is one (else on test). With ``out``, writes
    ``config.yaml`` and, last and atomically, ``results.json`` (the returned dict plus the per-epoch
    history): a run directory holding ``results.json`` is a finished run. ``splits`` skips loading the data.
    """
    import json
    import time

    from omegaconf import OmegaConf

    from ..training.checkpoint import write_text_atomic
    from .unsupervised import fit_unsupervised, is_unsupervised

    if is_unsupervised(cfg):  # negative images, no labels: trained, then measured by a linear probe
        return fit_unsupervised(cfg, out, resume=resume, splits=splits)
    splits = load_data(cfg) if splits is None else splits
    train, eval_data = splits.train, (splits.val if splits.val is not None else splits.test)
    net = build_network(cfg, train.input_dim, train.num_classes)
    trainer = build_trainer(cfg, net, out)
    ckpt = resume_checkpoint(out, resume)
    t0 = time.perf_counter()
    history = trainer.fit(train, cfg.trainer.epochs, cfg.trainer.batch_size, eval_data, resume=ckpt)
    seconds = time.perf_counter() - t0
    test = net.evaluate(splits.test, views=net.test_views)
    result: dict[str, Any] = {
        "dataset": cfg.data.name,
        "test_accuracy_goodness": test["accuracy"],
        "test_accuracy_head": test.get("head_accuracy"),
        "test_accuracy_all_layers": test["accuracy_all_layers"],
        "layer_accuracy": test["layer_accuracy"],
        "epochs": cfg.trainer.epochs,
        "train_seconds": round(seconds, 2),
        "train_wall_total": round(history[-1]["wall"], 2) if history else None,
    }
    if net.test_views is not None:  # model.test_views: goodness averaged over shifted copies as well
        result["test_views"] = test["views"]
        result["test_accuracy_views"] = test["accuracy_views"]
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
        write_text_atomic(out / "results.json", json.dumps({**result, "history": history}, indent=2))
    return result


def resume_checkpoint(out: Path | None, resume: bool) -> Path | None:
    """The checkpoint ``--resume`` continues from (``None`` without it); an error when there is none."""
    ckpt = out / "checkpoint.pt" if (resume and out is not None) else None
    if resume and (ckpt is None or not ckpt.exists()):
        raise FileNotFoundError(f"--resume: no checkpoint at {ckpt}; train without --resume first")
    return ckpt


def _threshold(value: Any) -> float | str:
    return value if value == "width" else float(value)


def layer_pieces(m: DictConfig) -> dict[str, Any]:
    """The per-layer pieces every FF model kind takes from ``model``: activation, loss, normaliser."""
    return {
        "activation": m.activation,
        "loss": m.loss,
        "loss_kwargs": {"threshold": _threshold(m.threshold), "alpha": m.alpha, "temperature": m.temperature},
        "normalize": m.normalize,
        "peer_norm": m.peer_norm,
        "peer_momentum": m.peer_momentum,
        "peer_gated": m.peer_gated,
    }


def network_pieces(m: DictConfig) -> dict[str, Any]:
    """The whole-network pieces every FF model kind takes from ``model``: input normalisation, head bias."""
    return {
        "input_normalize": None if m.input_normalize == "none" else m.input_normalize,
        "head_bias": m.head_bias,
    }


def goodness_kwargs(m: DictConfig) -> dict[str, Any]:
    """The goodness's own arguments from ``model`` (each goodness takes only those it accepts)."""
    return {"p": m.p, "k": m.topk}


def layer_kwargs(m: DictConfig) -> dict[str, Any]:
    """:func:`layer_pieces` plus goodness and the scoring/head layers, as the MLP-like builders take them."""
    return {
        **layer_pieces(m),
        "goodness": m.goodness,
        "goodness_kwargs": goodness_kwargs(m),
        "score_layers": list(m.score_layers) if m.score_layers is not None else None,
        "head_layers": list(m.head_layers) if m.head_layers is not None else None,
        "head": m.head,
    }


def build_network(cfg: DictConfig, input_dim: int, num_classes: int, **mlp_kwargs: Any) -> FFNetwork:
    """The FF MLP a config describes, seeded by ``trainer.seed`` so every run starts the same.

    ``mlp_kwargs`` go to :meth:`FFNetwork.mlp` for what a config cannot hold (e.g. ``between=`` boxes).
    """
    m = cfg.model
    torch.manual_seed(cfg.trainer.seed)
    if m.get("kind", "mlp") == "recurrent":
        net = _build_recurrent(cfg, input_dim, num_classes)
    elif m.get("kind", "mlp") == "cnn":
        from .cnn_build import build_cnn

        net = build_cnn(cfg, input_dim, num_classes, **mlp_kwargs)
    else:
        net = _build_mlp(cfg, input_dim, num_classes, **mlp_kwargs)
    initialize(net, m.init)
    if m.test_views != "none":
        from ..data.augment import build_test_views
        from .cnn_build import data_shape

        net.test_views = build_test_views(m.test_views, data_shape(cfg, input_dim))
    return net


def _build_mlp(cfg: DictConfig, input_dim: int, num_classes: int, **mlp_kwargs: Any) -> FFNetwork:
    m = cfg.model
    unsupervised = m.labels == "none"  # no label embedding, no head: nothing label-dependent is built
    net = FFNetwork.mlp(
        [input_dim, *m.hidden],
        num_classes=None if unsupervised else num_classes,
        labels=None if unsupervised else m.labels,
        label_strength=m.label_strength,
        bias=m.bias,
        **layer_kwargs(m),
        **network_pieces(m),
        **mlp_kwargs,
    )
    return make_analog(net, m.weight_noise, m.act_noise, m.weight_bits, m.act_bits)  # type: ignore[return-value]


def _build_recurrent(cfg: DictConfig, input_dim: int, num_classes: int) -> FFNetwork:
    """model.kind=recurrent: Hinton's recurrent net with top-down connections (section ``recurrent``).

    The label is always appended (it is the top layer's top-down input); ``model.labels`` is not used.
    """
    from ..models.recurrent import RecurrentFFNetwork

    m, r = cfg.model, cfg.recurrent
    if m.weight_noise or m.act_noise or m.weight_bits or m.act_bits:
        raise ValueError("the simulated analog chip (model.weight_noise...) is not supported by recurrent FF")
    return RecurrentFFNetwork.build(
        input_dim,
        list(m.hidden),
        num_classes,
        label_strength=m.label_strength,
        bias=m.bias,
        damping=r.damping,
        iterations=r.iterations,
        score_from=r.score_from,
        score_to=r.score_to,
        train_from=r.train_from,
        **layer_kwargs(m),
    )


def build_trainer(
    cfg: DictConfig,
    net: FFNetwork,
    out_dir: str | Path | None = None,
    trainer_cls: type[Trainer] = Trainer,
    **extra: Any,
) -> Trainer:
    """The Trainer a config describes, recording the config for checkpoints.

    ``trainer_cls`` and ``extra`` let a subclass (the data-parallel trainer) reuse the same mapping.
    An unsupervised config (``trainer.negatives`` naming negative images) gets the UnsupervisedTrainer.
    """
    from .unsupervised import UnsupervisedTrainer, is_unsupervised, source_options

    if is_unsupervised(cfg) and trainer_cls is Trainer:
        trainer_cls, extra = UnsupervisedTrainer, {**source_options(cfg), **extra}
    t = cfg.trainer
    if t.threads:
        torch.set_num_threads(t.threads)
    if t.negatives == "hard":
        negatives: Any = HardLabel(temperature=t.hard_temperature, warmup_epochs=t.hard_warmup_epochs)
    elif t.negatives == "random":
        negatives = RandomLabel()
    else:
        negatives = t.negatives  # a registered name; the registry reports unknown ones
    if trainer_cls is Trainer and cfg.model.get("kind") == "sequence" and cfg.sequence.negatives == "sleep":
        from ..models.sequence import SleepTrainer

        trainer_cls = SleepTrainer
        extra = {"temperature": cfg.sequence.temperature, **extra}
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
        cooldown_every=t.cooldown_every,
        decay_biases=t.decay_biases,
        head_weight_decay=t.head_weight_decay,
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
        **_image_training(cfg, net),
        **extra,
    )


def _image_training(cfg: DictConfig, net: FFNetwork) -> dict[str, Any]:
    """Trainer arguments only set when a config asks for them: augmentation and staggered layer windows."""
    t, out = cfg.trainer, {}
    if t.get("augment", "none") != "none":  # the data are images [N, C, H, W]: no shape needed
        from ..data.augment import build_augment

        out["augment"] = build_augment(t.augment, t.augment_shift)
    if t.get("layer_windows") is not None:
        out["layer_windows"] = [list(w) for w in t.layer_windows]
    return out


def optimizer_kwargs(cfg: DictConfig) -> dict[str, Any]:
    """Extra optimiser arguments a config sets: ``trainer.momentum`` (SGD, RMSprop) and everything in
    ``trainer.optimizer_kwargs``."""
    t = cfg.trainer
    extra = dict(t.get("optimizer_kwargs") or {})
    return {**({"momentum": t.momentum} if t.momentum is not None else {}), **extra}


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
    """Train the backprop twin a config describes; returns its per-epoch rows (test accuracy each epoch).

    Same hidden sizes, activation, bias, optimiser, learning rate and schedule, batch size, epochs, seed
    and simulated analog chip as the FF run, so a comparison differs in the learning rule alone.
    """
    from ..evaluation.baselines import BackpropMLP
    from ..hardware.analog import make_analog

    if cfg.model.get("kind", "mlp") == "cnn":
        from .cnn_build import train_backprop_cnn

        return train_backprop_cnn(cfg, splits)
    m = cfg.model
    torch.manual_seed(cfg.trainer.seed)
    model = BackpropMLP([splits.train.input_dim, *m.hidden], splits.train.num_classes, m.activation, m.bias)
    make_analog(model, m.weight_noise, m.act_noise, m.weight_bits, m.act_bits)  # no-op when all are off
    return train_twin_model(cfg, model, splits)


def train_twin_model(cfg: DictConfig, model: Any, splits: Any, augment: Any = None) -> list[dict[str, float]]:
    """Train a backprop model end to end with the FF run's optimiser, schedule, batch, epochs and seed
    (the model is built, and seeded, by the caller)."""
    from ..evaluation.baselines import train_backprop

    t = cfg.trainer
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
        augment=augment,
    )
