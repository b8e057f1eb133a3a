"""``trainer.device`` made concrete: ``auto`` picks the best accelerator present, and a device that is not
here is a one-line error naming what is, instead of an ``AssertionError`` from deep inside torch.

Configs keep the name as written (``auto`` stays ``auto`` in a checkpoint), so a run recorded on a GPU
machine evaluates and resumes on a laptop; only the process that trains resolves it.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

#: What ``trainer.device`` accepts besides whatever ``torch.device`` parses.
AUTO = "auto"


def check_device_name(name: str) -> None:
    """A config's ``trainer.device`` must be ``auto`` or a device torch can name (checked when the config
    loads, before anyone asks whether the device is present)."""
    if name == AUTO:
        return
    try:
        torch.device(name)
    except (RuntimeError, ValueError):
        raise ValueError(f"trainer.device must be auto, cpu, cuda, cuda:N or mps, got {name!r}") from None


def _processes() -> tuple[int, int]:
    """``(local rank, processes on this machine)``: from the process group, or torchrun's environment."""
    joined = dist.is_available() and dist.is_initialized()
    rank = dist.get_rank() if joined else int(os.environ.get("RANK", "0"))
    world = dist.get_world_size() if joined else int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("LOCAL_RANK", rank)), int(os.environ.get("LOCAL_WORLD_SIZE", world))


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(name: str, local_rank: int | None = None, local_world: int | None = None) -> str:
    """The device this process trains on, from the configured ``name`` (``auto``, ``cpu``, ``cuda``,
    ``cuda:N``, ``mps``). ``local_rank`` and ``local_world`` (this process's index among the processes on
    this machine, and their number) default to the process group's or torchrun's.

    ``auto``: with one process, ``cuda`` if a GPU is visible, else ``mps``, else ``cpu``. With several
    processes on this machine, ``cuda:<local rank>`` when there is a GPU for each of them, else ``cpu`` (two
    processes sharing one GPU would break NCCL, and a mix of devices would break any backend). A bare
    ``cuda`` under several processes means one GPU each, too. A named device that is absent is an error.
    """
    if local_rank is None or local_world is None:
        local_rank, local_world = _processes()
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if name == AUTO:
        if local_world > 1:
            return f"cuda:{local_rank}" if gpus >= local_world else "cpu"
        return "cuda" if gpus else "mps" if _mps_available() else "cpu"
    check_device_name(name)
    device = torch.device(name)
    if device.type == "cuda":
        if not gpus:
            raise ValueError(
                f"trainer.device={name}, but torch sees no CUDA GPU (torch {torch.__version__}, CUDA build: "
                f"{torch.version.cuda or 'none'}); use trainer.device=auto or cpu"
            )
        index = device.index if device.index is not None else (local_rank if local_world > 1 else None)
        if index is not None and index >= gpus:
            raise ValueError(
                f"trainer.device={name} needs GPU {index} ({local_world} process(es) here), but torch sees "
                f"{gpus}; use trainer.device=auto, cpu or cuda:0"
            )
        return f"cuda:{index}" if index is not None else "cuda"
    if device.type == "mps" and not _mps_available():
        raise ValueError(f"trainer.device={name}, but MPS (Apple GPUs) is not available; use auto or cpu")
    return name


def backend_for(device: str) -> str:
    """The process-group backend for a resolved device: NCCL for CUDA, gloo otherwise (``FF_BACKEND``
    overrides both)."""
    return os.environ.get("FF_BACKEND") or ("nccl" if device.startswith("cuda") else "gloo")


__all__ = ["AUTO", "backend_for", "check_device_name", "resolve_device"]
