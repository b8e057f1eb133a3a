"""In-memory labelled image datasets, validated once at construction.

Forward-Forward trains on whole tensors (positive and negative passes over the same batch), so the
datasets here are plain tensors held in memory rather than per-item file readers. Validation is
done once, up front, and every error says exactly what is wrong: a NaN pixel or an out-of-range
label otherwise surfaces much later as a NaN loss or a CUDA device-side assert with no hint of
where it came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["ArrayDataset", "DataError", "DataSplits"]


class DataError(ValueError):
    """Raised for any problem with a dataset: missing, corrupt or inconsistent files or arrays.

    A subclass of ``ValueError`` so that callers who only care about "bad input" can catch that,
    while the CLI can catch ``DataError`` and print its message without a traceback.
    """


def _list_values(values: Sequence[int], limit: int = 5) -> str:
    """``[11, -1]`` -> ``"-1 and 11"``; long lists are cut after ``limit`` values."""
    shown = [str(v) for v in values[:limit]]
    if len(values) > limit:
        return ", ".join(shown) + f", ... ({len(values) - limit} more)"
    if len(shown) == 1:
        return shown[0]
    return ", ".join(shown[:-1]) + " and " + shown[-1]


def _as_tensor(a: Any, what: str) -> torch.Tensor:
    """Accept numpy arrays and tensors alike, and say which argument was wrong otherwise."""
    if isinstance(a, torch.Tensor):
        return a
    if isinstance(a, np.ndarray):
        if a.dtype.byteorder == ">" or not a.flags.writeable:
            a = np.array(a, dtype=a.dtype.newbyteorder("="), copy=True)
        return torch.from_numpy(a)
    raise DataError(f"{what} must be a torch.Tensor or numpy.ndarray, got {type(a).__name__}")


class ArrayDataset:
    """Images ``x`` (float32 [N, C, H, W]) and integer labels ``y`` (int64 [N]) held in memory.

    The constructor validates shapes, dtypes, label range and finiteness, and raises
    :class:`DataError` naming the problem. Use :meth:`from_tensors` for flat [N, D] or
    single-channel [N, H, W] inputs, numpy arrays, uint8 pixels or to infer ``num_classes``.

    Pixel values of the built-in datasets are scaled to [0, 1]; custom data is not range-checked,
    so already standardised inputs are allowed.

    Args:
        x: the inputs, floating point ``[N, C, H, W]`` (numpy or torch; stored as float32).
        y: the labels, integers ``[N]`` in ``[0, num_classes)`` (stored as int64).
        num_classes: the number of classes, at least 1.
        name: the dataset's name, which every error message starts with.
        classes: optional class names, one per class.

    Raises:
        DataError: any of the above does not hold, or ``x`` has a NaN or infinite value.
    """

    x: torch.Tensor
    y: torch.Tensor
    num_classes: int
    name: str
    classes: list[str] | None

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        num_classes: int,
        name: str = "custom",
        classes: Sequence[str] | None = None,
    ) -> None:
        x = _as_tensor(x, "x")
        y = _as_tensor(y, "y")
        if x.ndim != 4:
            raise DataError(
                f"{name}: x must be 4-D [N, C, H, W]; got shape {tuple(x.shape)}. "
                "ArrayDataset.from_tensors accepts [N, D] and [N, H, W] too."
            )
        if not x.is_floating_point():
            raise DataError(
                f"{name}: x must be a floating-point tensor, got {x.dtype}. "
                "ArrayDataset.from_tensors converts uint8 pixels (dividing by 255)."
            )
        if y.ndim != 1:
            raise DataError(f"{name}: y must be 1-D [N]; got shape {tuple(y.shape)}")
        if y.dtype == torch.bool or y.is_floating_point() or y.is_complex():
            raise DataError(f"{name}: y must hold integer class labels, got {y.dtype}")
        if len(x) != len(y):
            raise DataError(f"{name}: x has {len(x)} samples but y has {len(y)} labels")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer):
            raise DataError(f"{name}: num_classes must be an int, got {num_classes!r}")
        num_classes = int(num_classes)
        if num_classes < 1:
            raise DataError(f"{name}: num_classes must be >= 1, got {num_classes}")
        if classes is not None and len(classes) != num_classes:
            raise DataError(f"{name}: {len(classes)} class names given for num_classes={num_classes}")
        x = x.to(torch.float32)
        y = y.to(torch.int64)

        bad = (y < 0) | (y >= num_classes)
        if bool(bad.any()):
            values = torch.unique(y[bad]).tolist()
            raise DataError(
                f"{name}: labels must be in [0, {num_classes}); found {_list_values(values)} "
                f"({int(bad.sum())} samples)"
            )
        # A sum is finite only if every element is, and costs ~3% of a full isfinite pass on
        # 60k images. A non-finite sum may still be an overflow of large finite values, so the
        # exact (slow) check decides only then.
        if not bool(torch.isfinite(x.sum())):
            bad_sample = ~torch.isfinite(x).flatten(1).all(dim=1)
            if bool(bad_sample.any()):
                n_nan = int(torch.isnan(x).sum())
                n_inf = int(torch.isinf(x).sum())
                first = int(torch.nonzero(bad_sample)[0, 0])
                raise DataError(
                    f"{name}: x contains {n_nan} NaN and {n_inf} inf values; the first is in sample {first}"
                )
        self._set(x, y, num_classes, name, classes)

    def _set(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        num_classes: int,
        name: str,
        classes: Sequence[str] | None,
    ) -> None:
        self.x = x
        self.y = y
        self.num_classes = num_classes
        self.name = name
        self.classes = list(classes) if classes is not None else None

    @classmethod
    def _trusted(
        cls,
        x: torch.Tensor,
        y: torch.Tensor,
        num_classes: int,
        name: str,
        classes: Sequence[str] | None,
    ) -> ArrayDataset:
        """Build from tensors derived from an already validated dataset, skipping the checks.

        Slicing or moving valid data cannot make it invalid, and re-checking finiteness on a GPU
        would force a host sync for nothing.
        """
        obj = cls.__new__(cls)
        obj._set(x, y, num_classes, name, classes)
        return obj

    @classmethod
    def from_tensors(
        cls,
        x: torch.Tensor | np.ndarray,
        y: torch.Tensor | np.ndarray,
        num_classes: int | None = None,
        name: str = "custom",
        classes: Sequence[str] | None = None,
    ) -> ArrayDataset:
        """Build from [N, D], [N, H, W] or [N, C, H, W] arrays (numpy or torch).

        ``x`` [N, D] becomes [N, 1, 1, D] and [N, H, W] becomes [N, 1, H, W], so every model sees the
        same 4-D layout. uint8 pixels are divided by 255; other dtypes are cast to float32 as-is.
        ``y`` holds the integer labels; ``num_classes`` defaults to ``max(y) + 1``; ``name`` and
        ``classes`` are as in the constructor, which validates the result.
        """
        xt = _as_tensor(x, "x")
        yt = _as_tensor(y, "y")
        if xt.ndim == 2:
            xt = xt.reshape(xt.shape[0], 1, 1, xt.shape[1])
        elif xt.ndim == 3:
            xt = xt.unsqueeze(1)
        elif xt.ndim != 4:
            raise DataError(
                f"{name}: x must be [N, D], [N, H, W] or [N, C, H, W]; got shape {tuple(xt.shape)}"
            )
        xt = xt.to(torch.float32) / 255.0 if xt.dtype == torch.uint8 else xt.to(torch.float32)
        if num_classes is None:
            if yt.numel() == 0:
                raise DataError(f"{name}: cannot infer num_classes from zero labels; pass it")
            if yt.is_floating_point() or yt.dtype == torch.bool:
                raise DataError(f"{name}: y must hold integer class labels, got {yt.dtype}")
            num_classes = max(int(yt.max()) + 1, 1)
        return cls(xt, yt, num_classes, name=name, classes=classes)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def __getitem__(self, index: Any) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[index], self.y[index]

    def __repr__(self) -> str:
        return (
            f"ArrayDataset(name={self.name!r}, n={len(self)}, image_shape={self.image_shape}, "
            f"num_classes={self.num_classes}, device={self.x.device})"
        )

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one sample."""
        c, h, w = self.x.shape[1:]
        return int(c), int(h), int(w)

    @property
    def input_dim(self) -> int:
        """C * H * W: the width of a flattened sample, i.e. a fully connected net's input size."""
        c, h, w = self.image_shape
        return c * h * w

    @property
    def device(self) -> torch.device:
        """The device the tensors are on."""
        return self.x.device

    def to(self, device: torch.device | str) -> ArrayDataset:
        """A copy on ``device`` (the same object's tensors are not moved in place)."""
        return self._trusted(self.x.to(device), self.y.to(device), self.num_classes, self.name, self.classes)

    def subset(self, indices: Sequence[int] | torch.Tensor | np.ndarray) -> ArrayDataset:
        """The samples at ``indices``, in that order (a copy, not a view)."""
        idx = indices if isinstance(indices, torch.Tensor) else torch.as_tensor(np.asarray(indices))
        if idx.dtype == torch.bool:
            if idx.shape != (len(self),):
                raise DataError(
                    f"{self.name}: a boolean subset mask must have shape ({len(self)},); "
                    f"got {tuple(idx.shape)}"
                )
            idx = torch.nonzero(idx.cpu()).flatten()
        if idx.numel() == 0:
            idx = idx.reshape(0)
        if idx.is_floating_point() and idx.numel():
            raise DataError(f"{self.name}: subset indices must be integers, got {idx.dtype}")
        idx = idx.to(torch.int64)
        if idx.ndim != 1:
            raise DataError(f"{self.name}: subset indices must be 1-D; got shape {tuple(idx.shape)}")
        n = len(self)
        if idx.numel() and (int(idx.min()) < -n or int(idx.max()) >= n):
            raise DataError(
                f"{self.name}: subset indices must be in [0, {n}); "
                f"got min {int(idx.min())}, max {int(idx.max())}"
            )
        idx_x = idx.to(self.x.device)
        return self._trusted(self.x[idx_x], self.y[idx_x], self.num_classes, self.name, self.classes)


@dataclass
class DataSplits:
    """The train and test sets of one dataset, and an optional validation set carved from train.

    Attributes:
        train: the training set.
        test: the test set.
        val: the validation set (the per-epoch evaluation set), or ``None``.
    """

    train: ArrayDataset
    test: ArrayDataset
    val: ArrayDataset | None = None
