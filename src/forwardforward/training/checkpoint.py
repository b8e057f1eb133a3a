"""Checkpoints: plain state dicts (``state_dict()``) plus the config, written atomically.

A checkpoint is a dict of tensors, numbers, strings, lists and dicts only, so it loads with
``torch.load(weights_only=True)``: nothing in it can run code. It is written to a temporary file in the same
directory and moved into place with ``os.replace``, so a crash mid-write leaves the previous checkpoint
intact, never a half-written one. The file gets the mode any new file would (``0o666`` less the umask,
usually ``0o644``), not the ``0o600`` of :func:`tempfile.mkstemp`, so whoever may read the run's other
files may read its checkpoint and results too.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

from ..registry import registering_modules

FORMAT_VERSION = 1


def _umask() -> int:
    """The process's umask. Linux reports it in /proc (reading it there changes nothing); elsewhere the only
    way to read it is to set it and put it back."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_atomic(path: str | os.PathLike[str], write: Any) -> Path:
    """Call ``write(binary_file)`` on a temporary file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            if hasattr(os, "fchmod"):  # POSIX; Windows has no such modes
                os.fchmod(f.fileno(), 0o666 & ~_umask())
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def save_atomic(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save`` of ``obj`` to a temporary file beside ``path``, then rename it over ``path``; returns
    the path."""
    return _write_atomic(path, lambda f: torch.save(obj, f))


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to the file ``path`` (results, tables) so readers never see it half-written:
    a file that exists is complete, which is what lets an interrupted sweep tell finished runs from
    unfinished ones."""
    return _write_atomic(path, lambda f: f.write(text.encode("utf-8")))


def check_recordable(net: Any, config: dict[str, Any] | None) -> None:
    """Refuse to write a checkpoint of ``net`` that ``forwardforward.load`` could not rebuild because a
    layer piece was given to :meth:`FFNetwork.mlp` as an object (its ``unrecorded``), unless the recorded
    ``config`` rebuilds it instead: at save time, in the process that can still fix it, not at load time
    in another one. Networks of black boxes (``between=``) or of hand-built layers save their weights, as
    documented.

    Raises:
        ValueError: one line naming the argument, its class and how to register it and pass its name.
    """
    reason = getattr(net, "unrecorded", None)
    if reason and not config:
        raise ValueError(f"not saving a checkpoint forwardforward.load could not rebuild: {reason}")


def recorded_imports(config: dict[str, Any] | None, spec: dict[str, Any] | None) -> dict[str, Any]:
    """The modules outside the library that registered a piece the recorded ``config`` or the network's
    ``spec`` names, ``{module: {kind: [names]}}`` (a checkpoint's ``imports``): what loading it in a fresh
    process imports first. A piece registered by a script (``__main__``) cannot be imported again: a
    warning says so now, and loading elsewhere fails with a line saying to move it into a module."""
    found = registering_modules([config or {}, spec or {}])
    if "__main__" in found:
        pieces = ", ".join(f"{kind} {n!r}" for kind, names in found["__main__"].items() for n in names)
        warnings.warn(
            f"the checkpoint uses {pieces}, registered in a script (__main__), which another process cannot "
            "import: forwardforward.load will work in this process only; move the class into a module "
            "(e.g. my_pieces.py), register it there and import that module",
            stacklevel=4,  # the user's save_checkpoint call
        )
    return found


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint safely (``weights_only=True``) with a clear error for a wrong file.

    ``path`` is the file or a run folder holding ``checkpoint.pt``; tensors are loaded onto
    ``map_location``.

    Raises:
        FileNotFoundError: there is no checkpoint at ``path``.
        ValueError: the file is unreadable or not a forwardforward checkpoint of this format.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}; pass the file written by `ff train --out DIR`")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for a corrupt file
        raise ValueError(f"{path} is not a readable forwardforward checkpoint: {err}") from err
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT_VERSION or "model" not in ckpt:
        raise ValueError(
            f"{path} is not a forwardforward checkpoint (format {FORMAT_VERSION}); "
            "expected a dict with 'format', 'config' and 'model'"
        )
    return ckpt
