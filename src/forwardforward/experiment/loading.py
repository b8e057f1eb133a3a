"""A trained network from any checkpoint the library writes, ready to predict.

``ff train`` records its config (and, since the network records it, the data's shape); a Python
``Trainer`` records the arguments of :meth:`FFNetwork.mlp`. :func:`load` rebuilds from whichever the
checkpoint holds, so ``forwardforward.load(path)`` is one call for both. Either names the user's own
pieces by name only; the checkpoint records the modules that registered them (``imports``), and
:func:`import_recorded` imports those first, so a fresh process finds them. It lives in the experiment layer
because rebuilding from a config needs the model-kind registry, which sits above the network (so there
is no ``FFNetwork.load``: the network's module cannot import what builds it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import torch
from omegaconf import DictConfig

from ..network import FFNetwork
from ..registry import PieceImportError, import_module, load_plugins, registry_of
from ..training.checkpoint import load_checkpoint
from .build import build_network, load_data, sample_shape
from .config import ConfigError, apply_overrides, from_dict, import_config_modules
from .rundir import latest_version, versions

__all__ = ["hint_unknown_names", "import_recorded", "load", "load_weights", "rebuild"]

R = TypeVar("R")


def _shape(value: Any) -> str:
    return "[" + ", ".join(str(int(s)) for s in value) + "]"


def load_weights(net: torch.nn.Module, state: dict[str, Any], where: str) -> None:
    """``net.load_state_dict(state)``, with a mismatch as one line naming the first differing tensor's shape
    in the checkpoint and in the network (torch's own error lists every tensor across many lines); the
    message starts with ``where`` the weights come from."""
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    if missing or extra:
        raise ValueError(
            f"{where} does not fit the network the config builds: the checkpoint "
            + (f"lacks {missing[0]} {_shape(own[missing[0]].shape)}" if missing else "")
            + (" and " if missing and extra else "")
            + (f"has {extra[0]} {_shape(state[extra[0]].shape)} that the network lacks" if extra else "")
            + f" ({len(missing)} missing, {len(extra)} extra tensors); use the config it was trained with"
        )
    for key, value in own.items():
        if tuple(value.shape) != tuple(state[key].shape):
            raise ValueError(
                f"{where} does not fit the network the config builds: {key} is {_shape(state[key].shape)} in "
                f"the checkpoint but {_shape(value.shape)} in the network; use the config it was trained with"
            )
    net.load_state_dict(state)


def _registered(kind: str, name: str) -> bool:
    registry = registry_of(kind)
    return registry is not None and name in registry


def import_recorded(ckpt: dict[str, Any], where: str = "the checkpoint") -> None:
    """Import what the loaded checkpoint ``ckpt`` needs before its network can be rebuilt: the installed
    plugins, the modules its ``imports`` record says registered the pieces it names (skipped when those
    names are known already), then the modules its config lists under ``imports``. Errors name the
    checkpoint as ``where``.

    Raises:
        PieceImportError: one line naming the module, the pieces it registers, why it cannot be imported
            and how to fix that; for a piece a script (``__main__``) registered, that it must move into a
            module.
    """
    listed = [str(m) for m in (ckpt.get("config") or {}).get("imports") or []]
    # A module the config lists by its file's path is imported from there (its pieces record its stem).
    by_name = {Path(m).stem if m.endswith(".py") or "/" in m or os.sep in m else m: m for m in listed}
    load_plugins()
    for module, kinds in (ckpt.get("imports") or {}).items():
        pieces = [(kind, name) for kind, names in kinds.items() for name in names]
        if all(_registered(kind, name) for kind, name in pieces):
            continue
        named = ", ".join(f"{kind} {name!r}" for kind, name in pieces)
        if module == "__main__":
            raise PieceImportError(
                f"{where} uses {named}, registered by a script (__main__), which no other process can "
                "import: move the class into a module (e.g. my_pieces.py), register it there, import that "
                "module before loading (ff: --import my_pieces), and save again"
            )
        try:
            import_module(by_name.get(module, module))
        except PieceImportError as err:
            raise PieceImportError(
                f"{where} uses {named} registered by module {module!r}, which cannot be imported "
                f"({err.reason}): run from the folder that holds it, add that folder to PYTHONPATH, or "
                f"import it before loading (ff: --import {module})",
                err.reason,
            ) from err
    import_config_modules(ckpt.get("config") or {}, f"{where}'s config's imports")


def hint_unknown_names(where: str, build: Callable[[], R]) -> R:
    """``build()``, with an unknown piece name (a checkpoint from before checkpoints recorded their
    modules, or a module that no longer registers it) told as the checkpoint ``where``'s, with how to make
    it known: import the module that registers it."""
    try:
        return build()
    except (KeyError, ConfigError) as err:
        message = str(err.args[0] if err.args else err)
        if not message.startswith("unknown ") or message.startswith("unknown config key"):
            raise
        raise type(err)(
            f"{where}: {message} If a module of yours registers it, import that module first (ff: --import "
            "MODULE, or imports=[MODULE] in the config)"
        ) from None


def _from_config(ckpt: dict[str, Any], cfg: DictConfig) -> FFNetwork:
    """The config's network for the shape the checkpoint records (older ones: the shape of the data)."""
    spec = ckpt.get("network") or {}
    if spec.get("builder") == "config":
        return build_network(cfg, tuple(spec["shape"]), spec["num_classes"])
    test = load_data(cfg).test
    return build_network(cfg, sample_shape(test), test.num_classes)


def rebuild(ckpt: dict[str, Any], overrides: Sequence[str] = (), where: str = "the checkpoint") -> FFNetwork:
    """The untrained network the loaded checkpoint ``ckpt`` describes (its weights are
    :func:`load_weights`' job): from its recorded config, changed by ``overrides`` (``"key=value"``), or
    from :meth:`FFNetwork.mlp`'s recorded arguments. Errors name the checkpoint as ``where``."""
    spec = ckpt.get("network") or {}
    if ckpt.get("config"):
        return hint_unknown_names(
            where, lambda: _from_config(ckpt, apply_overrides(from_dict(ckpt["config"]), list(overrides)))
        )
    if spec.get("builder") == "mlp":
        return hint_unknown_names(where, lambda: FFNetwork.mlp(**spec["kwargs"]))
    raise ValueError(
        f"{where} records neither a config nor the network's constructor (a network built from objects, "
        "e.g. with between= boxes, or a checkpoint from an older version): build the same network and call "
        "net.load_state_dict(forwardforward.load_checkpoint(path)['model'])"
    )


def load(
    path: str | os.PathLike[str], overrides: Sequence[str] = (), map_location: str | torch.device = "cpu"
) -> FFNetwork:
    """The trained network in a checkpoint, in eval mode, ready for ``predict``/``evaluate``.

    ``path`` is a ``checkpoint.pt`` (from ``ff train`` or ``Trainer.save_checkpoint``), a run directory
    holding one, or ``runs/<name>`` (its newest ``version_N``). ``overrides`` (``"key=value"``) change a
    recorded config as on the command line; a change the weights do not fit (``model.hidden=[100,100]``)
    is a one-line ValueError naming both shapes. Tensors are loaded onto ``map_location``, and the network
    is returned there. The modules of the user's own pieces the checkpoint records are imported first
    (:func:`import_recorded`); one that cannot be is a one-line
    :class:`~forwardforward.registry.PieceImportError` naming it and the pieces it registers.
    """
    path = Path(path)
    if path.is_dir() and not (path / "checkpoint.pt").exists() and versions(path):
        path = latest_version(path)  # runs/<name>: its newest version, as `ff train --resume` would pick
    ckpt = load_checkpoint(path, map_location=map_location)
    where = str(path / "checkpoint.pt" if path.is_dir() else path)
    if overrides and not ckpt.get("config"):
        raise ValueError(f"{where} records no config (a Python Trainer wrote it), so overrides cannot apply")
    import_recorded(ckpt, where)
    net = rebuild(ckpt, overrides, where)
    load_weights(net, ckpt["model"], where)
    return net.to(map_location).eval()
