"""Datasets by name: one registry of loaders (``DATASETS``, aliases included) and one :func:`load`.

Every loader returns :class:`~forwardforward.data.DataSplits` and takes the keyword arguments it needs
(``root``, ``download``, ``expected_shape``, a text corpus's string counts...); :func:`load` passes each the
ones it accepts, then carves the validation split. A new dataset is one registered function; the model
builders read the data's shape from the data, so nothing else has to know its name.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch

from ..registry import Registry, call_with_accepted
from .dataset import ArrayDataset, DataError, DataSplits
from .text import TextWindows, cut_strings, read_corpus
from .vision import load_images

DATASETS: Registry[DataSplits] = Registry("dataset")


@DATASETS.register("fashion-mnist", "fashion_mnist", "fmnist")
def fashion_mnist(
    root: str | None = None, download: bool = True, expected_shape: Sequence[int] | None = None
) -> DataSplits:
    """Zalando's Fashion-MNIST: 60k/10k grey 28x28 images of 10 kinds of clothing (IDX files).

    ``root`` is a folder holding the files (searched alone when given), ``download`` fetches them (with
    checksums) when they are found nowhere, and ``expected_shape`` changes the checked image size, (H, W)
    or (1, H, W): see :func:`~forwardforward.data.vision.load_images`.
    """
    return load_images("fashion-mnist", root, download, expected_shape)


@DATASETS.register("mnist")
def mnist(
    root: str | None = None, download: bool = True, expected_shape: Sequence[int] | None = None
) -> DataSplits:
    """MNIST digits: 60k/10k grey 28x28 images (IDX files; downloaded with checksums when online).

    ``root``, ``download`` and ``expected_shape`` as in :func:`fashion_mnist`.
    """
    return load_images("mnist", root, download, expected_shape)


@DATASETS.register("digits")
def digits(expected_shape: Sequence[int] | None = None) -> DataSplits:
    """scikit-learn's 8x8 digits, bundled with the package: 1,437/360 images, no download.
    ``expected_shape``, when given, must be (8, 8) or (1, 8, 8)."""
    return load_images("digits", None, False, expected_shape)


@DATASETS.register("cifar10", "cifar-10", "cifar_10")
def cifar10(root: str | None = None, download: bool = True) -> DataSplits:
    """CIFAR-10: 50k/10k colour 32x32 images (python pickle batches); ``root`` and ``download`` as in
    :func:`~forwardforward.data.cifar.load_cifar`."""
    return load_images("cifar10", root, download)


@DATASETS.register("cifar100", "cifar-100", "cifar_100")
def cifar100(root: str | None = None, download: bool = True) -> DataSplits:
    """CIFAR-100 (fine labels): 50k/10k colour 32x32 images; ``root`` and ``download`` as in
    :func:`~forwardforward.data.cifar.load_cifar`."""
    return load_images("cifar100", root, download)


@DATASETS.register("aesop", "text")
def text_corpus(
    root: str | None = None,
    name: str = "aesop",
    context: int = 10,
    num_strings: int = 248,
    string_length: int = 100,
    eval_strings: int = 62,
) -> DataSplits:
    """A text corpus as next-character windows: ``num_strings`` training and ``eval_strings`` held-out
    strings of ``string_length`` characters over a 30-symbol alphabet (Hinton's Aesop experiment), each
    example the ``context`` characters before a position, one-hot; ``root`` is the .txt file, or the
    folder holding ``<name>.txt`` (``aesop.txt``, ``text.txt``)."""
    text, where = read_corpus(root, name)
    train, held_out = cut_strings(text, num_strings, string_length, eval_strings, source=where)
    return DataSplits(  # type: ignore[arg-type]
        train=TextWindows.from_strings(train, context, name=name),
        test=TextWindows.from_strings(held_out, context, name=name),
    )


def load(
    name: str,
    root: str | os.PathLike[str] | None = None,
    *,
    val_fraction: float = 0.0,
    seed: int = 0,
    download: bool = True,
    **options: object,
) -> DataSplits:
    """A registered dataset by name (or alias) as train/test (and optional validation) splits.

    ``root`` points at the dataset's files (image datasets also look in ``$FF_DATA_DIR``, system folders
    and the download cache); ``val_fraction`` in [0, 1) carves a random validation set, seeded by
    ``seed``, out of train; ``download=False`` never touches the network. ``options`` go to the loaders
    that take them (``expected_shape``; a text corpus's ``context``, ``num_strings``...).
    """
    key = str(name).strip().lower()
    try:
        loader = DATASETS.get(key)
    except KeyError as err:
        raise DataError(err.args[0]) from None
    fraction = _check_fraction(val_fraction)
    splits = call_with_accepted(loader, {"root": root, "download": download, "name": key, **options})
    if fraction > 0:
        train, val = _split_val(splits.train, fraction, seed)
        splits = DataSplits(train=train, test=splits.test, val=val)
    return splits


def _check_fraction(val_fraction: float) -> float:
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, int | float):
        raise DataError(f"val_fraction must be a number in [0, 1), got {val_fraction!r}")
    if not 0.0 <= val_fraction < 1.0:  # also rejects NaN
        raise DataError(f"val_fraction must be in [0, 1), got {val_fraction}")
    return float(val_fraction)


def _split_val(train: ArrayDataset, val_fraction: float, seed: int) -> tuple[ArrayDataset, ArrayDataset]:
    """Split a random ``val_fraction`` off ``train``; seeded by ``seed`` through a private
    ``torch.Generator`` so it neither depends on nor disturbs the global RNG."""
    n = len(train)
    n_val = max(1, round(val_fraction * n))
    if n_val >= n:
        raise DataError(f"val_fraction={val_fraction} leaves no training samples out of {n}")
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=gen)
    val_idx, train_idx = perm[:n_val].sort().values, perm[n_val:].sort().values
    return train.subset(train_idx), train.subset(val_idx)


__all__ = ["DATASETS", "cifar10", "cifar100", "digits", "fashion_mnist", "load", "mnist", "text_corpus"]
