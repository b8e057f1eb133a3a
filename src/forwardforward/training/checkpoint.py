"""Checkpoints: plain ``state_dict``s plus the config, written atomically.

A checkpoint is a dict of tensors, numbers, strings, lists and dicts only, so it loads with
``torch.load(weights_only=True)``: nothing in it can run code. It is written to a temporary file in the same
directory and moved into place with ``os.replace``, so a crash mid-write leaves the previous checkpoint
intact, never a half-written one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

FORMAT_VERSION = 1


def _write_atomic(path: str | os.PathLike[str], write: Any) -> Path:
    """Call ``write(binary_file)`` on a temporary file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
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
    """``torch.save`` to a temporary file beside ``path``, then rename it over ``path``."""
    return _write_atomic(path, lambda f: torch.save(obj, f))


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write a text file (results, tables) so readers never see it half-written: a file that exists is
    complete, which is what lets an interrupted sweep tell finished runs from unfinished ones."""
    return _write_atomic(path, lambda f: f.write(text.encode("utf-8")))


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint safely (``weights_only=True``) with a clear error for a wrong file."""
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
