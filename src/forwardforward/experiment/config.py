"""Strict, structured experiment configs (OmegaConf) with dotted ``key=value`` overrides.

The schema is the dataclasses of :mod:`forwardforward.defaults`: a YAML file or an override naming a key that
is not in the schema is an error naming the nearest keys (``ff config`` lists them all, with their meanings),
never silently ignored. Values are type-checked
by OmegaConf (``trainer.epochs=ten`` fails).
"""

from __future__ import annotations

import difflib
import os
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from ..defaults import Config
from ..registry import import_modules, load_plugins, suggest
from ..training.devices import check_device_name
from .checks import ConfigError, check_capabilities, check_names


def _valid_keys(schema: Any, prefix: str = "") -> list[str]:
    keys = []
    for f in fields(schema):
        value = getattr(schema, f.name)
        if is_dataclass(value):
            keys += _valid_keys(value, f"{prefix}{f.name}.")
        else:
            keys.append(f"{prefix}{f.name}")
    return keys


def nearest_keys(key: str, valid: list[str]) -> list[str]:
    """The valid keys nearest to a misspelt one, best first: its section (or the nearest section), then the
    names in that section nearest to its own. Comparing names within a section keeps the shared
    ``trainer.`` prefix from making every trainer key look close."""
    section, _, name = key.partition(".")
    if not name:  # a top-level key (imports), not a section's
        return difflib.get_close_matches(key, [k for k in valid if "." not in k], n=3, cutoff=0.6)
    sections = sorted({k.split(".")[0] for k in valid if "." in k})
    if section not in sections:
        near = difflib.get_close_matches(section, sections, n=1, cutoff=0.6)
        section = near[0] if near else section
    names = [k.split(".", 1)[1] for k in valid if "." in k and k.split(".")[0] == section]
    return [f"{section}.{n}" for n in difflib.get_close_matches(name, names, n=3, cutoff=0.7)]


def _unknown_key_error(key: str, where: str) -> ConfigError:
    """One line naming the nearest key(s) and where to see them all, never the whole list of ~100 keys."""
    close = nearest_keys(key, _valid_keys(Config()))
    hint = ""
    if close:
        rest = f" (or {', '.join(repr(k) for k in close[1:])})" if close[1:] else ""
        hint = f" Did you mean {close[0]!r}?{rest}"
    return ConfigError(f"unknown config key {key!r} ({where}).{hint} `ff config` lists every key and meaning")


def _check_keys(node: Any, prefix: str, where: str) -> None:
    """Check a plain dict's shape and keys; fail on the first key the schema lacks, naming it in full."""
    valid = set(_valid_keys(Config()))
    sections = sorted({k.split(".")[0] for k in valid})
    top_keys = {k for k in valid if "." not in k}  # keys of their own (imports), not sections
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
        if prefix == "" and k in top_keys:
            _check_imports(v, where)
        elif prefix == "":
            if not isinstance(v, dict) and v is not None:
                raise ConfigError(
                    f"config section {k!r} must be a mapping of keys, got {v!r} ({where}); e.g. "
                    f"{k}:\n  <key>: <value>"
                )
            _check_keys(v or {}, f"{k}.", where)


def _check_imports(value: Any, where: str) -> None:
    """``imports`` must be a list of module names or ``.py`` paths (a lone name is a common slip)."""
    if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise ConfigError(
            f"imports must be a list of module names or .py paths, e.g. imports: [my_pieces], got {value!r} "
            f"({where})"
        )


def import_config_modules(cfg: Any, where: str = "the config's imports") -> None:
    """Import the modules the config ``cfg`` (a DictConfig or its plain dict) lists under ``imports``, after
    the installed plugins, so every piece it names is registered before its names are checked or built;
    ``where`` names the list in the error.

    Raises:
        PieceImportError: a module that cannot be imported, in one line saying which, why and how to fix.
    """
    load_plugins()
    import_modules([str(m) for m in (cfg.get("imports") or [])], where)


def load_config(path: str | os.PathLike[str] | None = None, overrides: list[str] | None = None) -> DictConfig:
    """The schema's defaults, merged with the YAML file at ``path`` (``None``: none), then with the
    ``key=value`` ``overrides``, then validated.

    Raises:
        ConfigError: a missing or invalid file, an unknown key, a bad value or a refused combination.
    """
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
    """Apply dotted ``key=value`` ``overrides`` to the config ``cfg`` (strictly: unknown keys are errors),
    then validate; returns the merged config."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key=value, e.g. trainer.epochs=5")
        key, value = (part.strip() for part in item.split("=", 1))
        if key not in _valid_keys(Config()):
            raise _unknown_key_error(key, f"override {item!r}")
        if key == "imports" and not value.startswith("["):  # imports=my_pieces: one module
            item = f"imports=[{value}]" if value else "imports=[]"
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
    """Check the config ``cfg`` (in place): its ``imports`` imported (so the user's pieces are registered),
    names against the registries (aliases become canonical names), then the checks the types alone cannot
    express, then what the model kind supports. Raises :class:`ConfigError` at the first problem
    (:class:`~forwardforward.registry.PieceImportError` for a module that cannot be imported)."""
    import_config_modules(cfg)
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
    if t.eval_every < 0:
        raise ConfigError(f"trainer.eval_every must be >= 0 (0: no scoring), got {t.eval_every}")
    if t.eval_samples is not None and t.eval_samples < 1:
        raise ConfigError(f"trainer.eval_samples must be >= 1 or null (all), got {t.eval_samples}")
    try:
        check_device_name(t.device)
    except ValueError as err:
        raise ConfigError(str(err)) from None
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
    if m.peer_norm < 0:
        raise ConfigError(f"model.peer_norm is a penalty weight (Hinton's 0.03), >= 0; got {m.peer_norm}")
    if m.floor <= 0:
        raise ConfigError(f"model.floor must be > 0 (it keeps log_margin's logarithm finite), got {m.floor}")
    if t.head_weight_decay is not None and t.head_weight_decay < 0:
        raise ConfigError(f"trainer.head_weight_decay must be >= 0, got {t.head_weight_decay}")


#: ``model.labels`` a CNN takes: a label channel, learned planes, channel groups, the overlay, or none.
CNN_LABELS = ("spatial", "spatial_overlay", "planes", "channels", "overlay", "none")


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
    """The config ``cfg`` as a plain dict, interpolations resolved (for checkpoints: loadable with
    ``weights_only=True``)."""
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def from_dict(d: dict[str, Any]) -> DictConfig:
    """Rebuild a config from ``d``, the plain dict recorded in a checkpoint, checked against today's schema
    (keys and types; keys added since take their defaults), after importing the modules it lists under
    ``imports``, so the names of the user's pieces it holds resolve."""
    _check_keys(d, "", "in the checkpoint's config")
    import_config_modules(d, "the checkpoint's config's imports")
    return _merge(OmegaConf.structured(Config), OmegaConf.create(d), "in the checkpoint's config")
