"""Datasets for Forward-Forward training: loaders, an in-memory dataset type and an IDX reader.

``load("fashion-mnist", root=...)`` returns :class:`DataSplits` of :class:`ArrayDataset`; every
problem with the data (missing, corrupt, inconsistent) is a :class:`DataError` whose message says
what was expected, what was found and where.

The checksummed downloader is the submodule :mod:`forwardforward.data.download` (deliberately not
re-exported as a function, which would shadow the submodule's name on this package).
"""

from __future__ import annotations

from . import augment
from .dataset import ArrayDataset, DataError, DataSplits
from .datasets import DATASETS, load
from .idx import read_idx
from .vision import cache_dir

__all__ = [
    "DATASETS",
    "ArrayDataset",
    "DataError",
    "DataSplits",
    "augment",
    "cache_dir",
    "load",
    "read_idx",
]
