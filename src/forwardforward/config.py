"""Strict, structured experiment configs (OmegaConf) with dotted ``key=value`` overrides.

The schema is the dataclasses below: a YAML file or an override naming a key that is not in the schema is
an error listing the valid keys and suggesting the nearest, never silently ignored. Values are type-checked
by OmegaConf (``trainer.epochs=ten`` fails).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from .registry import suggest


class ConfigError(ValueError):
    """A config file or override that does not fit the schema."""


@dataclass
class DataConfig:
    name: str = "digits"  # digits | fashion-mnist | mnist
    root: str | None = None  # directory with the dataset files; else FF_DATA_DIR, then system paths
    val_fraction: float = 0.0  # fraction of train held out for validation
    download: bool = True  # download (with checksum) when the files are not found locally
    train_subset: int | None = None  # train on a seeded random subset of this many examples (quick studies)


@dataclass
class ModelConfig:
    hidden: list[int] = field(default_factory=lambda: [500, 500])
    activation: str = "relu"
    goodness: str = "meansq"  # sumsq | meansq | l2 | l1 | lp
    p: float = 2.0  # for goodness=lp
    loss: str = "symba"  # symba | softplus | sigmoid_diff
    threshold: Any = 2.0  # softplus / sigmoid_diff: a number or "width"
    alpha: float = 4.0  # symba's scale
    temperature: float = 1.0  # softplus's margin scale
    normalize: str = "rms"  # rms | length | none: what each layer passes on
    labels: str = "append"  # overlay | append
    label_strength: float = 1.0
    bias: bool = True
    peer_norm: float = 0.0  # Hinton's lambda (0.03); 0 disables
    score_layers: list[int] | None = None  # default: all but the first
    head: bool = True  # linear softmax head on neutral-label features
    head_layers: list[int] | None = None  # default: all layers
    # Simulated analog hardware (forwardforward.analog), at training and test time, for FF and `ff compare`'s
    # backprop twin alike: relative Gaussian noise on weights / activations, k-bit weights / activations.
    weight_noise: float = 0.0
    act_noise: float = 0.0
    weight_bits: int | None = None
    act_bits: int | None = None


@dataclass
class TrainerConfig:
    schedule: str = "all"  # all | greedy
    epochs: int = 20  # per layer for the greedy schedule
    batch_size: int = 64
    optimizer: str = "adam"  # any torch.optim class name
    lr: float = 0.01
    weight_decay: float = 0.0
    momentum: float | None = None  # passed to optimisers that take it (SGD, RMSprop)
    layer_lr: list[float] | None = None  # one learning rate per layer
    head_lr: float | None = None
    cooldown_start: float = 1.0  # fraction of training after which lr decays linearly to 0
    negatives: str = "hard"  # hard | random
    hard_source: str = "head"  # head | goodness
    hard_temperature: float = 1.0
    hard_warmup_epochs: int = 0
    negatives_refresh: int = 1  # greedy: resample the whole set's negatives every N epochs
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None  # torch.set_num_threads
    progress: bool = True
    tensorboard: bool = False
    layerwise_step: bool = False  # backward + step each layer before the next forward: memory flat in depth
    compile: bool = False  # torch.compile each layer
    autocast: str | None = None  # bf16: bfloat16 autocast for training forwards; null: fp32


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)


def _valid_keys(schema: Any, prefix: str = "") -> list[str]:
    keys = []
    for f in fields(schema):
        value = getattr(schema, f.name)
        if is_dataclass(value):
            keys += _valid_keys(value, f"{prefix}{f.name}.")
        else:
            keys.append(f"{prefix}{f.name}")
    return keys


def _unknown_key_error(key: str, where: str) -> ConfigError:
    valid = _valid_keys(Config())
    return ConfigError(
        f"unknown config key {key!r} ({where}).{suggest(key, valid)} Valid keys: {', '.join(valid)}"
    )


def _check_keys(node: Any, prefix: str, where: str) -> None:
    """Check a plain dict's shape and keys; fail on the first key the schema lacks, naming it in full."""
    valid = set(_valid_keys(Config()))
    sections = sorted({k.split(".")[0] for k in valid})
    if node is None:
        return
    if not isinstance(node, dict):
        raise ConfigError(
            f"a config must be a mapping of sections ({', '.join(sections)}), got a "
            f"{type(node).__name__} {where}"
        )
    for k, v in node.items():
        full = f"{prefix}{k}"
        if prefix == "" and k not in sections:
            raise ConfigError(
                f"unknown config key {k!r} ({where}).{suggest(str(k), sections)} "
                f"Valid sections: {', '.join(sections)}"
            )
        if prefix and full not in valid:
            raise _unknown_key_error(full, where)
        if prefix == "":
            if not isinstance(v, dict) and v is not None:
                raise ConfigError(
                    f"config section {k!r} must be a mapping of keys, got {v!r} ({where}); e.g. "
                    f"{k}:\n  <key>: <value>"
                )
            _check_keys(v or {}, f"{k}.", where)


def load_config(path: str | os.PathLike[str] | None = None, overrides: list[str] | None = None) -> DictConfig:
    """The schema's defaults, merged with a YAML file, then with ``key=value`` overrides."""
    cfg = OmegaConf.structured(Config)
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {p} does not exist")
        try:
            raw = OmegaConf.to_container(OmegaConf.load(p))
        except Exception as err:
            raise ConfigError(f"{p} is not valid YAML: {err}") from err
        _check_keys(raw, "", f"in {p}")
        cfg = _merge(cfg, OmegaConf.create(raw), f"in {p}")
    return apply_overrides(cfg, overrides or [])


def apply_overrides(cfg: DictConfig, overrides: list[str]) -> DictConfig:
    """Apply dotted ``key=value`` overrides (strictly: unknown keys are errors), then validate."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value, e.g. trainer.epochs=5")
        key = item.split("=", 1)[0].strip()
        if key not in _valid_keys(Config()):
            raise _unknown_key_error(key, f"override {item!r}")
        cfg = _merge(cfg, OmegaConf.from_dotlist([item]), f"override {item!r}")
    validate(cfg)
    return cfg


def _merge(cfg: DictConfig, other: DictConfig, where: str) -> DictConfig:
    try:
        return OmegaConf.merge(cfg, other)  # type: ignore[return-value]
    except (ConfigKeyError, ConfigAttributeError) as err:
        raise _unknown_key_error(str(getattr(err, "full_key", err)), where) from None
    except OmegaConfBaseException as err:
        # OmegaConf appends full_key/object_type lines; keep the first line and name the key ourselves.
        first = str(getattr(err, "msg", err)).strip().splitlines()[0] if str(err).strip() else "invalid"
        key = getattr(err, "full_key", None)
        raise ConfigError(f"bad value {where}" + (f" for {key}" if key else "") + f": {first}") from None


def validate(cfg: DictConfig) -> None:
    """Checks the types alone cannot express."""
    t, m = cfg.trainer, cfg.model
    if t.epochs < 1:
        raise ConfigError(f"trainer.epochs must be >= 1, got {t.epochs}")
    if cfg.data.train_subset is not None and cfg.data.train_subset < 1:
        raise ConfigError(f"data.train_subset must be a positive count, got {cfg.data.train_subset}")
    if t.batch_size < 1:
        raise ConfigError(f"trainer.batch_size must be >= 1, got {t.batch_size}")
    if t.lr <= 0:
        raise ConfigError(f"trainer.lr must be > 0, got {t.lr}")
    if not m.hidden or any(h < 1 for h in m.hidden):
        raise ConfigError(f"model.hidden must be a non-empty list of positive sizes, got {list(m.hidden)}")
    if isinstance(m.threshold, str) and m.threshold != "width":
        try:
            float(m.threshold)
        except ValueError:
            raise ConfigError(f"model.threshold must be a number or 'width', got {m.threshold!r}") from None
    for key in ("weight_noise", "act_noise"):
        if m[key] < 0:
            raise ConfigError(f"model.{key} is a relative noise sigma >= 0, got {m[key]}")
    for key in ("weight_bits", "act_bits"):
        if m[key] is not None and not 1 <= m[key] <= 16:
            raise ConfigError(f"model.{key} must be in 1..16 (or null for full precision), got {m[key]}")
    if not 0 <= cfg.data.val_fraction < 1:
        raise ConfigError(f"data.val_fraction must be in [0, 1), got {cfg.data.val_fraction}")


def to_dict(cfg: DictConfig) -> dict[str, Any]:
    """A plain dict (for checkpoints: loadable with ``weights_only=True``)."""
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def from_dict(d: dict[str, Any]) -> DictConfig:
    """Rebuild a config recorded in a checkpoint, checked against today's schema."""
    _check_keys(d, "", "in the checkpoint's config")
    return _merge(OmegaConf.structured(Config), OmegaConf.create(d), "in the checkpoint's config")
