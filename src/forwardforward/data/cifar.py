"""CIFAR-10 and CIFAR-100 from the standard python-pickle batches, read with a restricted unpickler.

The published archives hold pickled dicts: CIFAR-10 ``data_batch_1..5``, ``test_batch`` and
``batches.meta`` in ``cifar-10-batches-py/``; CIFAR-100 ``train``, ``test`` and ``meta`` in
``cifar-100-python/`` (fine labels are used). Each batch has ``data`` (uint8 ``[N, 3072]``, channel-major
32x32 images) and ``labels`` (or ``fine_labels``).

Pickle can run arbitrary code, so the files are loaded with an unpickler that only resolves the few
NumPy names an array needs; anything else, and any truncated or malformed file, is a :class:`DataError`
naming the file. An explicit ``root`` (and ``root/<archive dir>``) is searched alone, and missing files
there are an error naming it; without one: ``$FF_DATA_DIR`` (likewise), then the cache
``cache_dir()/<name>``; when neither has the files and ``download`` is on, the archive is downloaded
there, checked against its MD5 and unpacked.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import download as _download
from .dataset import ArrayDataset, DataError, DataSplits
from .download import cache_dir

#: Per dataset: the archive's folder, its files, the label key, the URL and the archive's MD5 (the
#: values on the dataset's page, https://www.cs.toronto.edu/~kriz/cifar.html, also listed by torchvision).
CIFAR: dict[str, dict[str, Any]] = {
    "cifar10": {
        "folder": "cifar-10-batches-py",
        "train": [f"data_batch_{i}" for i in range(1, 6)],
        "test": ["test_batch"],
        "meta": ("batches.meta", "label_names"),
        "labels": "labels",
        "classes": 10,
        "url": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "md5": "c58f30108f718f92721af3b95e74349a",
    },
    "cifar100": {
        "folder": "cifar-100-python",
        "train": ["train"],
        "test": ["test"],
        "meta": ("meta", "fine_label_names"),
        "labels": "fine_labels",
        "classes": 100,
        "url": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "md5": "eb9058c3a382ffc7106e4002c42a8d85",
    },
}

#: The only globals a CIFAR pickle may name: what NumPy needs to rebuild an array (both NumPy 1 and 2
#: module paths), and ``_codecs.encode``, which Python 2 pickles use for byte strings.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"forbidden global {module}.{name} (a CIFAR batch only holds arrays)")


def read_pickle(path: Path) -> dict[str, Any]:
    """A CIFAR pickle as a dict with ``str`` keys; every problem is a :class:`DataError` naming ``path``."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror or e}") from e
    try:
        obj = _RestrictedUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as e:  # truncated, garbage, or a forbidden global: all mean "not a CIFAR batch"
        raise DataError(
            f"{path}: not a valid CIFAR batch ({type(e).__name__}: {e}); "
            "delete it and download the archive again"
        ) from e
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a pickled dict, found {type(obj).__name__}")
    return {k.decode() if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def _read_batch(path: Path, label_key: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    d = read_pickle(path)
    missing = [k for k in ("data", label_key) if k not in d]
    if missing:
        raise DataError(f"{path}: missing {', '.join(missing)} (found keys: {', '.join(sorted(d))})")
    data, labels = d["data"], np.asarray(d[label_key])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", None)
        raise DataError(
            f"{path}: data must be uint8 [N, 3072] (32x32x3 images), "
            f"found {shape} {getattr(data, 'dtype', '')}"
        )
    if labels.ndim != 1 or len(labels) != len(data):
        raise DataError(f"{path}: {len(labels)} labels for {len(data)} images")
    if labels.dtype.kind not in "iu" or (len(labels) and (labels.min() < 0 or labels.max() >= num_classes)):
        raise DataError(f"{path}: labels must be integers in [0, {num_classes})")
    return data, labels.astype(np.int64)


def _has_files(directory: Path, spec: dict[str, Any]) -> bool:
    return all((directory / f).is_file() for f in spec["train"] + spec["test"])


def _candidates(name: str, root: str | os.PathLike[str] | None) -> list[Path]:
    folder = CIFAR[name]["folder"]
    out: list[Path] = []
    # An explicit root is authoritative; the environment and the cache are searched only without one.
    for base in (root,) if root is not None else (os.environ.get("FF_DATA_DIR") or None,):
        if base is not None:
            base = Path(base).expanduser()
            out += [base, base / folder, base / name, base / name / folder]
    out += [cache_dir() / name / folder] if root is None else []
    return list(dict.fromkeys(out))


def _download_and_extract(name: str) -> Path:
    spec = CIFAR[name]
    dest = cache_dir() / name
    archive = dest / Path(spec["url"]).name
    if not archive.is_file():
        _download.download(spec["url"], archive, md5=spec["md5"], timeout=60)
    else:
        _download.verify_checksum(archive, md5=spec["md5"])
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError) as e:
        raise DataError(f"{archive}: cannot unpack: {e}") from e
    return dest / spec["folder"]


def load_cifar(name: str, root: str | os.PathLike[str] | None = None, download: bool = True) -> DataSplits:
    """CIFAR-10 (``name="cifar10"``) or CIFAR-100 (``"cifar100"``, fine labels) as float32
    ``[N, 3, 32, 32]`` in [0, 1] with int64 labels.

    Args:
        name: ``"cifar10"`` or ``"cifar100"``.
        root: a folder holding the batches (or their archive folder); searched alone when given. ``None``
            searches ``$FF_DATA_DIR``, then the cache.
        download: when the files are found nowhere (and no ``root`` is given), download the archive into
            the cache, check its MD5 and unpack it.

    Raises:
        DataError: the files are missing (naming where it looked), the download failed, or a file is not a
            valid CIFAR batch.
    """
    spec = CIFAR[name]
    tried = _candidates(name, root)
    directory = next((d for d in tried if _has_files(d, spec)), None)
    if directory is None and root is not None:
        raise DataError(
            f"{name} not found in the given root {root}: expected {spec['train'][0]} (and the other batches) "
            f"in one of {', '.join(map(str, tried))}; an explicit root is used alone (leave it out to search "
            "FF_DATA_DIR and the cache)"
        )
    if directory is None and download:
        try:
            directory = _download_and_extract(name)
        except DataError as e:
            raise DataError(
                f"{name} not found in {', '.join(map(str, tried))}, and the download failed: {e}. "
                f"Fix: pass root=PATH (CLI: data.root=PATH) to a folder holding {spec['folder']}/"
            ) from e
    if directory is None or not _has_files(directory, spec):
        raise DataError(
            f"{name} not found. Looked in: {', '.join(map(str, tried))} (download disabled). Fix: pass "
            f"root=PATH (CLI: data.root=PATH) to a folder holding {', '.join(spec['train'] + spec['test'])}"
        )
    classes = None
    meta_file, meta_key = spec["meta"]
    if (directory / meta_file).is_file():
        names = read_pickle(directory / meta_file).get(meta_key)
        if isinstance(names, list) and len(names) == spec["classes"]:
            classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names]

    def split(files: list[str]) -> ArrayDataset:
        parts = [_read_batch(directory / f, spec["labels"], spec["classes"]) for f in files]
        data = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
        x = torch.from_numpy(data.reshape(-1, 3, 32, 32)).to(torch.float32).div_(255.0)
        return ArrayDataset(x, torch.from_numpy(labels), spec["classes"], name=name, classes=classes)

    return DataSplits(train=split(spec["train"]), test=split(spec["test"]))
