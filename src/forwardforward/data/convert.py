"""Data in PyTorch's own forms, converted once at the boundary.

``Trainer.fit`` and ``FFNetwork.evaluate`` work on in-memory ``.x`` / ``.y`` tensors (the batched
all-label scoring and the cached greedy schedule index them directly). Users, though, hold their data as
a ``torch.utils.data.Dataset``, a ``DataLoader`` or a pair of arrays. :func:`as_dataset` turns each of
those into an :class:`ArrayDataset` in one place, so nothing downstream special-cases them.
:func:`as_inputs` does the same for the samples handed to ``predict``: any numeric dtype, NumPy or
torch, one sample or a batch, in whatever shape flattens to the network's input size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .dataset import ArrayDataset, DataError

__all__ = ["as_dataset", "as_inputs"]


def _stack(parts: list[Any], what: str) -> torch.Tensor:
    """Tensors, arrays or numbers from a dataset's items as one tensor."""
    try:
        return torch.stack(
            [p if isinstance(p, torch.Tensor) else torch.as_tensor(np.asarray(p)) for p in parts]
        )
    except (RuntimeError, TypeError, ValueError) as err:
        raise DataError(f"{what}: the items cannot be stacked into one tensor: {err}") from err


def _from_pairs(pairs: Any, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Every ``(x, y)`` of an iterable (a Dataset's items, or a DataLoader's batches) as two tensors."""
    xs: list[Any] = []
    ys: list[Any] = []
    batched = isinstance(pairs, DataLoader)
    for item in pairs:
        if not isinstance(item, Sequence | tuple) or len(item) != 2:
            raise DataError(f"{what} must yield (x, y) pairs; got {type(item).__name__}")
        xs.append(item[0])
        ys.append(item[1])
    if not xs:
        raise DataError(f"{what} is empty")
    if batched:  # a DataLoader already stacked each batch: join the batches
        x = torch.cat([torch.as_tensor(np.asarray(b)) if not isinstance(b, torch.Tensor) else b for b in xs])
        return x, torch.cat([torch.as_tensor(b).reshape(-1) for b in ys])
    return _stack(xs, f"{what} x"), _stack(ys, f"{what} y").reshape(-1)


def as_dataset(data: Any, num_classes: int | None = None, name: str = "custom") -> Any:
    """``data`` as something with ``.x`` and ``.y`` tensors (an :class:`ArrayDataset` unless it has them).

    Accepted: an object with ``.x`` and ``.y`` (returned as it is: an ``ArrayDataset``, text windows...);
    an ``(x, y)`` tuple of tensors or arrays; a ``torch.utils.data.Dataset`` whose items are ``(x, y)``;
    a ``DataLoader`` yielding ``(x, y)`` batches (read once, in its order: shuffling is the Trainer's job).
    Inputs go through :meth:`ArrayDataset.from_tensors`, so uint8 pixels are scaled to [0, 1] as the
    built-in loaders do and ``num_classes`` defaults to the largest label + 1. ``name`` names the data
    in errors and on the dataset.
    """
    if hasattr(data, "x") and hasattr(data, "y"):
        return data
    if isinstance(data, tuple | list) and len(data) == 2 and not isinstance(data[0], tuple | list):
        x, y = data
    elif isinstance(data, DataLoader | Dataset):
        x, y = _from_pairs(data, type(data).__name__)
    else:
        raise DataError(
            f"cannot train or evaluate on a {type(data).__name__}; pass an ArrayDataset, an (x, y) tuple of "
            "tensors or arrays, a torch Dataset of (x, y) items or a DataLoader of (x, y) batches"
        )
    x = x if isinstance(x, torch.Tensor | np.ndarray) else np.asarray(x)
    y = y if isinstance(y, torch.Tensor | np.ndarray) else np.asarray(y)
    if len(x) != len(y):
        raise DataError(f"{name}: {len(x)} inputs but {len(y)} labels")
    x = x if x.ndim > 1 else x.reshape(len(x), 1)
    if x.ndim > 4:
        raise DataError(f"{name}: inputs must be [N, D], [N, H, W] or [N, C, H, W]; got {tuple(x.shape)}")
    return ArrayDataset.from_tensors(x, y, num_classes, name=name)


def as_inputs(x: Any, shape: Sequence[int] | None, device: torch.device | str | None = None) -> torch.Tensor:
    """Samples for ``predict`` as a float32 batch ``[N, *shape]`` on ``device``.

    ``x`` is a tensor, a NumPy array or a nested list of any numeric dtype; uint8 is read as pixels and
    scaled to [0, 1] like the loaders' images, other dtypes are cast as they are. ``shape`` is one sample's
    shape (the network's ``input_shape``); ``x`` may be one sample in any shape of that many values (an
    ``[8, 8]`` image for ``(1, 8, 8)``) or a batch whose samples have that many values (``[N, 8, 8]``,
    ``[N, 1, 8, 8]``, ``[N, 64]``). With ``shape=None`` (a network that does not know its input) the batch
    is only converted. Anything else is a ValueError naming the expected size.
    """
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "biuf":
            raise ValueError(f"predict needs numeric inputs; got a NumPy array of {x.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=x.dtype.newbyteorder("=")))
    else:
        t = torch.as_tensor(x)
    if t.is_complex():
        raise ValueError(f"predict needs real-valued inputs; got {t.dtype}")
    t = t.to(torch.float32) / 255.0 if t.dtype == torch.uint8 else t.to(torch.float32)
    if shape is not None:
        size = math.prod(shape)
        if t.ndim >= 2 and math.prod(t.shape[1:]) == size:
            t = t.reshape(t.shape[0], *shape)  # a batch
        elif t.ndim >= 1 and t.numel() == size:
            t = t.reshape(1, *shape)  # one sample
        else:
            raise ValueError(
                f"this network takes samples of {size} values (shape {tuple(shape)}); got an input of shape "
                f"{tuple(t.shape)}: pass one sample, or a batch [N, ...] whose samples have {size} values"
            )
    return t if device is None else t.to(device)
