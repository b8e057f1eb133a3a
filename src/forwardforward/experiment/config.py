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

from ..registry import suggest
from .checks import ConfigError, check_capabilities, check_names


@dataclass
class DataConfig:
    name: str = "digits"  # digits | fashion-mnist | mnist
    root: str | None = None  # directory with the dataset files; else FF_DATA_DIR, then system paths
    val_fraction: float = 0.0  # fraction of train held out for validation
    download: bool = True  # download (with checksum) when the files are not found locally
    train_subset: int | None = None  # train on a seeded random subset of this many examples (quick studies)
    center: bool = False  # subtract the training set's mean image, divide by its overall std (every split)


@dataclass
class ConvLayerConfig:
    """One conv FF layer of ``model.kind=cnn`` (forwardforward.conv.ConvBlock)."""

    channels: int = 32
    kernel: int = 3
    stride: int = 1
    padding: int | None = None  # default kernel // 2 (same size)
    pool: str = "none"  # none | max | avg
    pool_size: int = 2
    norm: str = "none"  # none | batch | layer (inside the block, before the activation)
    local: bool = False  # locally connected: weights not shared across positions
    groups: int = 1  # grouped convolution; one group per class keeps class groups apart (CwComp)


@dataclass
class ModelConfig:
    # mlp | recurrent (top-down FF, section `recurrent`) | sequence (next char, `sequence`) | cnn (model.conv)
    kind: str = "mlp"
    hidden: list[int] = field(default_factory=lambda: [500, 500])
    activation: str = "relu"
    goodness: str = "meansq"  # sumsq | meansq | l2 | l1 | lp | topk
    p: float = 2.0  # for goodness=lp
    topk: int = 20  # for goodness=topk: how many of each sample's strongest activities count
    loss: str = "symba"  # symba | softplus | sigmoid_diff
    threshold: Any = 2.0  # softplus / sigmoid_diff: a number or "width"
    alpha: float = 4.0  # symba's scale
    temperature: float = 1.0  # softplus's margin scale (channel_ce's softmax temperature)
    floor: float = 0.05  # log_margin: the smallest argument of its logarithms
    normalize: str = "rms"  # rms | length | none: what each layer passes on
    labels: str = "append"  # overlay | append | none (unsupervised: no label enters the network)
    # cnn: spatial (class gratings as a label channel) | planes (learned label channel) | channels
    # (channel-wise competition: a channel group per class, goodness per group, cross-entropy, no negatives)
    # | overlay
    label_strength: float = 1.0
    bias: bool = True
    peer_norm: float = 0.0  # Hinton's lambda (0.03); 0 disables
    peer_momentum: float = 0.9  # decay of each unit's running mean activity for peer normalisation
    # false: the peer term reaches each unit's total input even while the unit is off (Hinton's code);
    # true: only through the activation, so a dead ReLU gets none of it
    peer_gated: bool = True
    input_normalize: str = "none"  # none | rms | length: normalise the embedded input, label included
    init: str = "torch"  # torch (PyTorch's own) | hinton (N(0, 1/fan_in) weights, zero biases and head)
    head_bias: bool = True  # the linear head's bias (Hinton's code has none that learns)
    score_layers: list[int] | None = None  # default: all but the first
    head: bool = True  # linear softmax head on neutral-label features
    head_layers: list[int] | None = None  # default: all layers
    # Simulated analog hardware (forwardforward.analog), at training and test time, for FF and `ff compare`'s
    # backprop twin alike: relative Gaussian noise on weights / activations, k-bit weights / activations.
    weight_noise: float = 0.0
    act_noise: float = 0.0
    weight_bits: int | None = None
    act_bits: int | None = None
    conv: list[ConvLayerConfig] = field(default_factory=list)  # model.kind=cnn: the conv FF layers, in order
    label_grid: int = 7  # labels=planes: learned planes are label_grid^2 parameters per class, resized
    channels_last: bool = False  # model.kind=cnn: NHWC memory layout, same numbers, ~14% faster on CPU
    # Test-time views for `ff eval` and the benchmarks (never for training): none | shift (the image and its
    # 8 one-pixel shifts, goodness averaged over the 9) | cross (the 4 axis shifts, 5 views)
    test_views: str = "none"


@dataclass
class TrainerConfig:
    schedule: str = "all"  # all | greedy
    # together (one loss on positives and negatives) | halves (each its own forward pass and half of the
    # loss, one update) | alternate (an update per half: positives and negatives never share one)
    phases: str = "together"
    epochs: int = 20  # per layer for the greedy schedule
    batch_size: int = 64
    optimizer: str = "adam"  # any torch.optim class name
    lr: float = 0.01
    weight_decay: float = 0.0
    decay_biases: bool = True  # false: weight_decay on weights only (Hinton's code)
    momentum: float | None = None  # passed to optimisers that take it (SGD, RMSprop)
    # any further optimiser arguments, e.g. {dampening: 0.9} for sgd or {delay: 0.9} for smoothed_sgd
    optimizer_kwargs: dict[str, Any] = field(default_factory=dict)
    layer_lr: list[float] | None = None  # one learning rate per layer
    head_lr: float | None = None
    head_weight_decay: float | None = None  # default: weight_decay
    cooldown_start: float = 1.0  # fraction of training after which lr decays linearly to 0
    cooldown_every: str = "step"  # step | epoch (the rate changes once per epoch, as in Hinton's code)
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
    augment: str = "none"  # none | shift (random translations) | shift_flip (and left-right flips: CIFAR)
    augment_shift: int = 2  # the largest translation in pixels
    layer_windows: list[list[int]] | None = None  # per layer [start, end) epochs it learns in (staggered)


@dataclass
class RecurrentConfig:
    """model.kind=recurrent (forwardforward.recurrent): Hinton's recurrent net with top-down input."""

    damping: float = 0.3  # new state = damping * computed + (1 - damping) * old
    iterations: int = 8  # synchronous steps per example
    score_from: int = 3  # prediction averages goodness over steps score_from..score_to (1-based)
    score_to: int = 5
    train_from: int = 1  # first step whose goodness is trained


@dataclass
class SequenceConfig:
    """model.kind=sequence (forwardforward.sequence): next-character FF on a text corpus (data.root)."""

    negatives: str = "teacher"  # teacher (real context + predicted wrong char) | sleep (generated text)
    context: int = 10  # characters of context, one-hot: context * 30 inputs
    num_strings: int = 248  # training strings cut from the corpus
    string_length: int = 100
    eval_strings: int = 62  # held-out strings for per-character accuracy
    temperature: float = 1.0  # sampling temperature of generation (sleep phase, ff generate); 0 = argmax
    # The sleep phase (negatives=sleep), see forwardforward.models.sequence.DreamNegatives:
    dreams: str = "step"  # step (chains advance one character per sleep update) | epoch (all at epoch start)
    dream_length: int | None = 3  # characters a dream runs from real text, then restarts; null: to string end
    sleep_step: str = "paired"  # paired (wake + sleep gradients, one optimiser step) | separate (a step each)


@dataclass
class UnsupConfig:
    """Negative images for unsupervised FF (``trainer.negatives=hybrid | scff | user``)."""

    blur_steps: int = 6  # hybrid: blurs of the random bits before thresholding (more: larger blobs)
    user_source: str = "noise"  # user: noise | a dataset name (digits, mnist...) | a .pt/.npy file of images
    user_root: str | None = None  # user: that dataset's directory
    user_resize: bool = False  # user: resize the bad images to the data's height and width


@dataclass
class ProbeConfig:
    """The linear probe (``ff probe``, and the end of unsupervised ``ff train``)."""

    layers: list[int] | None = None  # default: the last three hidden layers (all when fewer)
    epochs: int = 20
    lr: float = 0.001
    batch_size: int = 256
    weight_decay: float = 0.0
    raw: bool = False  # also probe raw pixels, the same way: the baseline features must beat
    # How many labelled training images the probe learns from (a seeded draw, trainer.seed; None: all).
    # The network still trains on every image; this measures how label-efficient its features are.
    labels: int | None = None


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    unsup: UnsupConfig = field(default_factory=UnsupConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    recurrent: RecurrentConfig = field(default_factory=RecurrentConfig)
    sequence: SequenceConfig = field(default_factory=SequenceConfig)


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
    """Names against the registries (aliases become canonical names), then the checks the types alone
    cannot express, then what the model kind supports."""
    check_names(cfg)
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
    _validate_model_numbers(cfg)
    _validate_unsupervised(cfg)
    if not 0 <= cfg.data.val_fraction < 1:
        raise ConfigError(f"data.val_fraction must be in [0, 1), got {cfg.data.val_fraction}")
    if m.test_views != "none" and m.kind == "sequence":
        raise ConfigError("model.test_views shifts images; a sequence model has none: use test_views=none")
    _validate_kinds(cfg)
    check_capabilities(cfg)


def _validate_model_numbers(cfg: DictConfig) -> None:
    m, t = cfg.model, cfg.trainer
    for key in ("weight_noise", "act_noise"):
        if m[key] < 0:
            raise ConfigError(f"model.{key} is a relative noise sigma >= 0, got {m[key]}")
    for key in ("weight_bits", "act_bits"):
        if m[key] is not None and not 1 <= m[key] <= 16:
            raise ConfigError(f"model.{key} must be in 1..16 (or null for full precision), got {m[key]}")
    if m.topk < 1:
        raise ConfigError(f"model.topk is how many activities the topk goodness counts: >= 1, got {m.topk}")
    if not 0 <= m.peer_momentum < 1:
        raise ConfigError(f"model.peer_momentum must be in [0, 1), got {m.peer_momentum}")
    if m.floor <= 0:
        raise ConfigError(f"model.floor must be > 0 (it keeps log_margin's logarithm finite), got {m.floor}")
    if t.head_weight_decay is not None and t.head_weight_decay < 0:
        raise ConfigError(f"trainer.head_weight_decay must be >= 0, got {t.head_weight_decay}")


#: ``model.labels`` a CNN takes: a label channel, learned planes, channel groups, the overlay, or none.
CNN_LABELS = ("spatial", "planes", "channels", "overlay", "none")


def _validate_kinds(cfg: DictConfig) -> None:
    """The recurrent and sequence sections' own checks (they only matter for their model.kind)."""
    kind = cfg.model.kind
    r, s = cfg.recurrent, cfg.sequence
    if kind == "cnn":
        _validate_cnn(cfg)
    elif cfg.model.labels == "channels" and kind != "mlp":
        raise ConfigError(
            f"model.labels=channels (channel-wise competition) needs model.kind cnn or mlp, got {kind}"
        )
    if kind == "recurrent":
        if not 0 < r.damping <= 1:
            raise ConfigError(f"recurrent.damping is the new state's weight, in (0, 1]; got {r.damping}")
        if not 1 <= r.score_from <= r.score_to <= r.iterations:
            raise ConfigError(
                f"need 1 <= recurrent.score_from <= recurrent.score_to <= recurrent.iterations; got "
                f"{r.score_from}, {r.score_to}, {r.iterations}"
            )
        if not 1 <= r.train_from <= r.iterations:
            raise ConfigError(
                f"recurrent.train_from must be in [1, iterations={r.iterations}], got {r.train_from}"
            )
        if cfg.model.input_normalize != "none" or not cfg.model.peer_gated:
            raise ConfigError(
                "model.kind=recurrent supports neither model.input_normalize nor ungated peer normalisation "
                "(model.peer_gated=false): its layers see the layer above too; leave them at none / true"
            )
    if kind == "sequence":
        if not 1 <= s.context < s.string_length:
            raise ConfigError(
                f"sequence.context must be in [1, string_length={s.string_length}), got {s.context}"
            )
        if s.num_strings < 1 or s.eval_strings < 1:
            raise ConfigError(
                f"sequence.num_strings and sequence.eval_strings must be >= 1, got {s.num_strings}, "
                f"{s.eval_strings}"
            )
        if s.temperature < 0:
            raise ConfigError(f"sequence.temperature must be >= 0 (0 = argmax), got {s.temperature}")
        _validate_sleep(s)


def _validate_sleep(s: DictConfig) -> None:
    """sequence.dreams / dream_length / sleep_step (only read by the sleep phase, checked whatever the
    negatives, so a config that switches to sleep later cannot hold a bad value)."""
    if s.dreams not in ("step", "epoch"):
        raise ConfigError(f"sequence.dreams must be 'step' or 'epoch', got {s.dreams!r}")
    if s.sleep_step not in ("paired", "separate"):
        raise ConfigError(f"sequence.sleep_step must be 'paired' or 'separate', got {s.sleep_step!r}")
    longest = s.string_length - s.context
    if s.dream_length is not None and not 1 <= s.dream_length <= longest:
        raise ConfigError(
            f"sequence.dream_length must be in [1, string_length - context = {longest}] or null (each dream "
            f"runs from a string's first {s.context} characters to its end), got {s.dream_length}"
        )
    if s.dreams == "epoch" and s.dream_length is not None:
        raise ConfigError(
            "sequence.dreams=epoch dreams every string from its start to its end: set "
            "sequence.dream_length=null (or use sequence.dreams=step for shorter dreams)"
        )


def _validate_cnn(cfg: DictConfig) -> None:
    m = cfg.model
    if not m.conv:
        raise ConfigError(
            "model.kind=cnn needs model.conv: a list of layers, e.g. [{channels: 32, pool: max}]"
        )
    if m.labels not in CNN_LABELS:
        raise ConfigError(
            f"model.labels={m.labels} does not suit a CNN (convolutions wash a one-hot out); valid: "
            f"{', '.join(CNN_LABELS)}.{suggest(m.labels, list(CNN_LABELS))}"
        )
    for i, layer in enumerate(m.conv):
        if layer.channels < 1 or layer.kernel < 1 or layer.stride < 1 or layer.pool_size < 1:
            raise ConfigError(f"model.conv[{i}]: channels, kernel, stride and pool_size must be >= 1")
        if layer.pool not in ("none", "max", "avg"):
            raise ConfigError(f"model.conv[{i}].pool must be none, max or avg, got {layer.pool!r}")
        if layer.norm not in ("none", "batch", "layer"):
            raise ConfigError(f"model.conv[{i}].norm must be none, batch or layer, got {layer.norm!r}")
    if cfg.trainer.layer_windows is not None and len(cfg.trainer.layer_windows) != len(m.conv):
        raise ConfigError(
            f"trainer.layer_windows needs one [start, end) pair per conv layer ({len(m.conv)}), "
            f"got {len(cfg.trainer.layer_windows)}"
        )


def _validate_unsupervised(cfg: DictConfig) -> None:
    """The negative images' and the linear probe's own settings."""
    if cfg.unsup.blur_steps < 0:
        raise ConfigError(f"unsup.blur_steps must be >= 0, got {cfg.unsup.blur_steps}")
    p = cfg.probe
    if p.epochs < 1 or p.batch_size < 1 or p.lr <= 0:
        raise ConfigError(
            f"probe needs epochs >= 1, batch_size >= 1 and lr > 0; got {p.epochs}, {p.batch_size}, {p.lr}"
        )
    if p.labels is not None and p.labels < 1:
        raise ConfigError(
            f"probe.labels is how many labelled images the probe learns from: >= 1 or null, got {p.labels}"
        )


def to_dict(cfg: DictConfig) -> dict[str, Any]:
    """A plain dict (for checkpoints: loadable with ``weights_only=True``)."""
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def from_dict(d: dict[str, Any]) -> DictConfig:
    """Rebuild a config recorded in a checkpoint, checked against today's schema."""
    _check_keys(d, "", "in the checkpoint's config")
    return _merge(OmegaConf.structured(Config), OmegaConf.create(d), "in the checkpoint's config")
