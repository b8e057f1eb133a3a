"""Configs checked against the registries and the model kinds' capabilities when they load.

Everything here runs before any data are read: a typo in a piece name (``model.goodness=sumsqq``), a name a
registry does not hold, or a combination a model kind does not support is a one-line :class:`ConfigError`
that names the key, what it takes and the nearest valid name. Aliases are accepted and replaced by their
canonical names, so the rest of the library compares canonical names only.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from ..activations import ACTIVATIONS
from ..data.augment import AUGMENT, TEST_VIEWS
from ..data.datasets import DATASETS
from ..goodness import GOODNESS
from ..init import INITS
from ..labels.embeddings import LABELS
from ..losses import LOSSES, FFLoss
from ..models.kinds import MODEL_KINDS
from ..negatives import NEGATIVES, Negatives, check_schedule
from ..negatives.images import PAIR_MODES
from ..normalize import NORMALIZE
from ..optim import OPTIMIZERS, torch_optimizers
from ..registry import Registry, suggest


class ConfigError(ValueError):
    """A config file or override that does not fit the schema."""


#: Keys that name a registered piece, and their registry.
PIECES: tuple[tuple[str, Registry[Any]], ...] = (
    ("data.name", DATASETS),
    ("model.kind", MODEL_KINDS),
    ("model.goodness", GOODNESS),
    ("model.loss", LOSSES),
    ("model.activation", ACTIVATIONS),
    ("model.normalize", NORMALIZE),
    ("model.input_normalize", NORMALIZE),
    ("model.init", INITS),
    ("trainer.negatives", NEGATIVES),
)
#: ``model.labels`` beyond the label embeddings: no label at all, or a channel group per class.
LABEL_FREE_CHOICES = ("none", "channels")
#: Label embeddings that are an image channel (for CNNs), and the one-hot codes (for MLPs).
CHANNEL_LABELS = ("spatial", "planes")


def _unknown(key: str, value: str, valid: list[str], registry: Registry[Any] | None = None) -> ConfigError:
    hint = registry.suggest(value) if registry is not None else suggest(str(value), valid)
    return ConfigError(f"unknown {key} {value!r}; valid: {', '.join(valid)}.{hint}")


def check_names(cfg: DictConfig) -> None:
    """Every name in the config ``cfg`` that selects a piece is registered; aliases become canonical names
    (``cfg`` is changed in place).

    Raises:
        ConfigError: an unknown name, with the valid ones and the nearest.
    """
    for key, registry in PIECES:
        section, field = key.split(".")
        value = str(cfg[section][field])
        if value not in registry:
            raise _unknown(key, value, registry.names(), registry)
        cfg[section][field] = registry.canonical(value)
    m, t = cfg.model, cfg.trainer
    labels = [*LABELS.names(), *LABEL_FREE_CHOICES]
    if m.labels not in labels:
        raise _unknown("model.labels", m.labels, labels)
    if m.labels in LABELS:
        m.labels = LABELS.canonical(m.labels)
    augments = ["none", *AUGMENT.names()]
    if t.augment not in augments:
        raise _unknown("trainer.augment", t.augment, augments)
    optimizers = sorted([*torch_optimizers(), *OPTIMIZERS.names()])
    if t.optimizer not in OPTIMIZERS and t.optimizer.lower() not in optimizers:
        raise _unknown("trainer.optimizer", t.optimizer, optimizers)
    for key, value, valid in (
        ("trainer.schedule", t.schedule, ["all", "greedy"]),
        ("trainer.phases", t.phases, ["together", "halves", "alternate"]),
        ("trainer.cooldown_every", t.cooldown_every, ["step", "epoch"]),
        ("trainer.hard_source", t.hard_source, ["head", "goodness"]),
        ("model.test_views", m.test_views, list(TEST_VIEWS)),
        ("sequence.negatives", cfg.sequence.negatives, ["teacher", "sleep"]),
        ("unsup.pairs", cfg.unsup.pairs, list(PAIR_MODES)),
    ):
        if value not in valid:
            raise _unknown(key, value, valid)


def _check_negatives_methods(cfg: DictConfig) -> None:
    """A source of negatives (the user's own, most likely) lacking a method ``trainer.schedule`` calls,
    refused when the config ``cfg`` loads rather than when training starts."""
    factory = NEGATIVES.get(cfg.trainer.negatives)
    if cfg.trainer.schedule == "greedy" and isinstance(factory, type) and issubclass(factory, Negatives):
        try:
            check_schedule(factory, "greedy", cfg.trainer.negatives)
        except ValueError as err:
            raise ConfigError(str(err)) from None


def check_capabilities(cfg: DictConfig) -> None:
    """What the model kind of the config ``cfg`` declares it cannot do, and combinations no kind
    supports, refused now with a :class:`ConfigError`."""
    m, t = cfg.model, cfg.trainer
    caps = MODEL_KINDS.get(m.kind).capabilities
    label_free_negatives = bool(NEGATIVES.get(t.negatives).label_free)
    wanted = {
        "greedy": t.schedule == "greedy",
        "layerwise_step": t.layerwise_step,
        "label_free": label_free_negatives,
        "analog": bool(m.weight_noise or m.act_noise or m.weight_bits or m.act_bits),
    }
    for capability, asked in wanted.items():
        if asked and not getattr(caps, capability):
            raise ConfigError(f"model.kind={m.kind} does not support {_CAPABILITY_KEYS[capability]}")
    if label_free_negatives and m.labels != "none":
        raise ConfigError(
            f"trainer.negatives={t.negatives} is unsupervised (negative images, no labels), but "
            f"model.labels={m.labels} embeds a label; set model.labels=none"
        )
    if m.labels == "none" and not label_free_negatives:
        free = [n for n in NEGATIVES.names() if NEGATIVES.get(n).label_free]
        raise ConfigError(
            f"model.labels=none trains without labels, which needs negative images: set trainer.negatives "
            f"to one of {', '.join(free)} (got {t.negatives})"
        )
    if m.labels == "channels" and t.schedule == "greedy":
        raise ConfigError(
            "channel-wise competition trains with trainer.schedule=all; stagger with layer_windows"
        )
    if m.kind in ("mlp", "sequence") and m.labels in CHANNEL_LABELS:
        raise ConfigError(
            f"model.labels={m.labels} is an image channel for CNNs; an MLP takes overlay, append, channels "
            "or none"
        )
    if m.kind != "sequence" and cfg.sequence.negatives != "teacher":
        raise ConfigError(
            f"sequence.negatives={cfg.sequence.negatives} is for model.kind=sequence (got {m.kind}); "
            "other kinds take their negatives from trainer.negatives"
        )
    _check_phases(cfg)
    _check_negatives_methods(cfg)
    if cfg.unsup.pairs != "mean" and NEGATIVES.get(t.negatives) is not NEGATIVES.get("scff"):
        raise ConfigError(
            f"unsup.pairs={cfg.unsup.pairs} says how self-contrastive pairs enter the network: it needs "
            f"trainer.negatives=scff (got {t.negatives})"
        )


_CAPABILITY_KEYS = {
    "greedy": "trainer.schedule=greedy",
    "layerwise_step": "trainer.layerwise_step=true",
    "label_free": "unsupervised training (model.labels=none with negative images)",
    "analog": "the simulated analog chip (model.weight_noise, act_noise, weight_bits, act_bits)",
}


def _check_phases(cfg: DictConfig) -> None:
    """Separate positive and negative updates need losses with halves (and, for the sleep phase, no head)."""
    m, t = cfg.model, cfg.trainer
    sleep = m.kind == "sequence" and cfg.sequence.negatives == "sleep"
    if not (sleep or t.phases != "together"):
        return
    what = "sequence.negatives=sleep" if sleep else f"trainer.phases={t.phases}"
    if LOSSES.get(m.loss).one_sided is FFLoss.one_sided:
        raise ConfigError(
            f"{what} trains positives and negatives in separate forward passes, so each layer needs a loss "
            f"with a threshold (softplus or sigmoid_diff); model.loss={m.loss} compares pairs. "
            "Set model.loss=softplus"
        )
    if t.schedule != "all" or m.labels == "channels":
        raise ConfigError(
            f"{what} needs trainer.schedule=all and negative data (not channel-wise competition)"
        )
    if sleep and m.head:
        raise ConfigError("the sleep phase trains no linear head; set model.head=false")


def check_launch(cfg: DictConfig, nproc: int, pipeline: bool) -> None:
    """What several processes support, refused before they start: the config ``cfg`` run on ``nproc``
    data-parallel processes (``--nproc``, torchrun) or as a layer ``pipeline`` (``--pipeline``). Raises
    :class:`ConfigError`."""
    m, t = cfg.model, cfg.trainer
    caps = MODEL_KINDS.get(m.kind).capabilities
    if pipeline:
        if not caps.pipeline:
            raise ConfigError(
                f"--pipeline: model.kind={m.kind} does not support the layer pipeline (mlp does)"
            )
        needs = {
            "trainer.negatives=random": t.negatives == "random",
            "model.head=false": not m.head,
            "trainer.schedule=all": t.schedule == "all" and t.phases == "together",
            "trainer.layerwise_step=false": not t.layerwise_step,
        }
        missing = [k for k, ok in needs.items() if not ok]
        if missing:
            raise ConfigError(
                "--pipeline streams random-label negatives through layers on consecutive processes and "
                f"trains no head: set {' '.join(missing)}"
            )
    elif nproc > 1 and not caps.data_parallel:
        raise ConfigError(f"--nproc: model.kind={m.kind} does not support data parallel training")


__all__ = ["PIECES", "ConfigError", "check_capabilities", "check_launch", "check_names"]
