"""Loaders for the image datasets: Fashion-MNIST, MNIST (IDX files) and scikit-learn's digits.

An explicit ``root`` is authoritative: the IDX files must be in ``root`` or ``root/<name>``, else the
error names the root and the file expected (nothing else is searched, nothing downloaded): a typo in a
path must not silently train on another copy found elsewhere. Without one, the IDX datasets are looked
for, in order, in: ``$FF_DATA_DIR`` (and ``$FF_DATA_DIR/<name>``), the system directories in
:data:`SYSTEM_DIRS` (Debian's ``dataset-fashion-mnist`` package installs to
``/usr/share/datasets/fashion-mnist``) and the user cache ``cache_dir()/<name>``, which is also where
downloads go. If none has the files and downloading is off or fails, the error lists every place tried
and how to point the loader at a copy.
"""

from __future__ import annotations

import contextlib
import difflib
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from . import download as _download
from .dataset import ArrayDataset, DataError, DataSplits
from .download import cache_dir
from .idx import read_idx

__all__ = [
    "ALIASES",
    "CHECKSUMS",
    "IDX_FILES",
    "IMAGE_DATASETS",
    "MIRRORS",
    "SYSTEM_DIRS",
    "cache_dir",
    "canonical_name",
    "find_root",
    "load_images",
]

#: Canonical names of the image datasets :func:`load_images` reads.
IMAGE_DATASETS: tuple[str, ...] = ("fashion-mnist", "mnist", "digits", "cifar10", "cifar100")

#: Other spellings accepted for the canonical names.
ALIASES: dict[str, str] = {
    "fashion_mnist": "fashion-mnist",
    "fmnist": "fashion-mnist",
    "cifar-10": "cifar10",
    "cifar_10": "cifar10",
    "cifar-100": "cifar100",
    "cifar_100": "cifar100",
}

#: The four files of an MNIST-style dataset, by split and kind; each may be raw or ``.gz``.
IDX_FILES: dict[str, dict[str, str]] = {
    "train": {"images": "train-images-idx3-ubyte", "labels": "train-labels-idx1-ubyte"},
    "test": {"images": "t10k-images-idx3-ubyte", "labels": "t10k-labels-idx1-ubyte"},
}
_STEMS: tuple[str, ...] = tuple(f for split in IDX_FILES.values() for f in split.values())

#: Base URLs to download the ``.gz`` files from, tried in order.
MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
}

#: MD5 of each published ``.gz`` file. MNIST: the values torchvision lists in
#: ``torchvision.datasets.MNIST.resources``. Fashion-MNIST: the values in Zalando Research's README
#: (github.com/zalandoresearch/fashion-mnist), also listed by ``torchvision.datasets.FashionMNIST``.
#: They identify the files as published; repackaged copies (e.g. Debian's, recompressed) differ,
#: so only downloads are checked against them, never files found locally.
CHECKSUMS: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}

#: System-wide locations searched after ``root`` and ``$FF_DATA_DIR``. Tests replace this.
SYSTEM_DIRS: dict[str, tuple[Path, ...]] = {
    "fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"),),
    "mnist": (Path("/usr/share/datasets/mnist"),),
}

FASHION_MNIST_CLASSES: list[str] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
DIGIT_CLASSES: list[str] = [str(d) for d in range(10)]

_FIX = "pass root=PATH (CLI: data.root=PATH) or set FF_DATA_DIR"
_DEFAULT_SHAPE: dict[str, tuple[int, int]] = {
    "fashion-mnist": (28, 28),
    "mnist": (28, 28),
    "digits": (8, 8),
}


def canonical_name(name: str) -> str:
    """The canonical dataset name for ``name`` or an alias; a typo gets the nearest valid name."""
    key = str(name).strip().lower()
    if key in IMAGE_DATASETS:
        return key
    if key in ALIASES:
        return ALIASES[key]
    known = list(IMAGE_DATASETS) + list(ALIASES)
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.5)
    hint = f" Did you mean {ALIASES.get(close[0], close[0])!r}?" if close else ""
    raise DataError(f"unknown dataset {name!r}; valid: {', '.join(IMAGE_DATASETS)}.{hint}")


def _idx_file(directory: Path, stem: str) -> Path | None:
    """``directory/stem`` or ``directory/stem.gz``, raw preferred (it reads faster)."""
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _candidates(name: str, root: str | os.PathLike[str] | None) -> list[Path]:
    """Every directory to look in, in order, without duplicates."""
    if root is not None:  # an explicit root is authoritative: the search order is for when none is given
        base = Path(root).expanduser()
        return [base, base / name]
    out: list[Path] = []
    env = os.environ.get("FF_DATA_DIR") or None
    if env is not None:
        out += [Path(env).expanduser(), Path(env).expanduser() / name]
    out += list(SYSTEM_DIRS.get(name, ()))
    out.append(cache_dir() / name)
    return list(dict.fromkeys(out))  # drop repeats, keep the first position


def _why_not(directory: Path) -> str:
    """A short reason a candidate directory does not hold the dataset."""
    if not directory.is_dir():
        return "no such directory"
    missing = [s for s in _STEMS if _idx_file(directory, s) is None]
    if len(missing) == len(_STEMS):
        return "no IDX files"
    return "missing " + ", ".join(f"{s}[.gz]" for s in missing)


def find_root(name: str, root: str | os.PathLike[str] | None = None) -> tuple[Path | None, list[Path]]:
    """The first directory holding all four IDX files of ``name``, and every directory tried: only
    ``root`` and ``root/<name>`` when ``root`` is given, else the search order of the module docstring."""
    name = canonical_name(name)
    tried: list[Path] = []
    for directory in _candidates(name, root):
        tried.append(directory)
        if all(_idx_file(directory, s) is not None for s in _STEMS):
            return directory, tried
    return None, tried


def _download_all(name: str, dest: Path) -> list[str]:
    """Fetch the four ``.gz`` files into ``dest``, each verified; return failure lines (or [])."""
    for fname, md5 in CHECKSUMS[name].items():
        target = dest / fname
        if target.is_file():
            try:
                _download.verify_checksum(target, md5=md5)
                continue
            except DataError:
                pass  # a stale or foreign file: download a verified copy over it
        errors: list[str] = []
        for base in MIRRORS[name]:
            url = base + fname
            try:
                _download.download(url, target, md5=md5)
                break
            except DataError as e:
                errors.append(f"  {e}")
        else:
            return errors  # this file came from no mirror: the dataset cannot be complete
    return []


def _load_idx_split(
    directory: Path, split: str, name: str, shape: tuple[int, int], classes: list[str]
) -> ArrayDataset:
    img_path = _idx_file(directory, IDX_FILES[split]["images"])
    lbl_path = _idx_file(directory, IDX_FILES[split]["labels"])
    assert img_path is not None and lbl_path is not None  # find_root checked both exist
    images = read_idx(img_path)
    labels = read_idx(lbl_path)
    if images.ndim != 3:
        raise DataError(f"{img_path}: expected 3-D images [N, H, W], found shape {images.shape}")
    if images.dtype != np.uint8:
        raise DataError(f"{img_path}: expected unsigned byte pixels, found {images.dtype}")
    if labels.ndim != 1:
        raise DataError(f"{lbl_path}: expected 1-D labels [N], found shape {labels.shape}")
    if labels.dtype.kind not in "iu":
        raise DataError(f"{lbl_path}: expected integer labels, found {labels.dtype}")
    if len(images) != len(labels):
        raise DataError(f"{lbl_path} has {len(labels)} labels but {img_path} has {len(images)} images")
    if tuple(images.shape[1:]) != shape:
        h, w = images.shape[1:]
        raise DataError(
            f"{img_path}: images are {h}x{w}, expected {shape[0]}x{shape[1]} "
            "(pass expected_shape=(H, W) for other sizes)"
        )
    x = torch.from_numpy(images).unsqueeze(1).to(torch.float32).div_(255.0)
    y = torch.from_numpy(labels.astype(np.int64))
    try:
        return ArrayDataset(x, y, num_classes=len(classes), name=name, classes=classes)
    except DataError as e:
        raise DataError(f"{lbl_path}: {e}") from e


def _load_idx(
    name: str, root: str | os.PathLike[str] | None, download: bool, shape: tuple[int, int]
) -> DataSplits:
    directory, tried = find_root(name, root)
    if directory is None and root is not None:
        raise DataError(
            f"{name} not found in the given root {root} ({_why_not(Path(root).expanduser())}): expected "
            f"{IDX_FILES['train']['images']}[.gz] and the other IDX files there or in {Path(root) / name}; "
            "an explicit root is used alone (leave it out to search FF_DATA_DIR and the cache)"
        )
    reasons = [f"  {p} ({_why_not(p)})" for p in tried]  # before a download changes the cache
    failures: list[str] = []
    if directory is None and download:
        dest = cache_dir() / name
        failures = _download_all(name, dest)
        if not failures:
            directory = dest
        else:
            with contextlib.suppress(OSError):
                dest.rmdir()  # only if empty: verified files from earlier attempts stay
    if directory is None:
        lines = [f"{name} not found. Looked in:", *reasons]
        if download:
            lines.append("Download failed:")
            lines += failures
        else:
            lines.append("Download disabled (download=False).")
        lines.append(f"Fix: {_FIX} to a directory holding {', '.join(_STEMS)} (each raw or .gz).")
        raise DataError("\n".join(lines))
    classes = FASHION_MNIST_CLASSES if name == "fashion-mnist" else DIGIT_CLASSES
    return DataSplits(
        train=_load_idx_split(directory, "train", name, shape, classes),
        test=_load_idx_split(directory, "test", name, shape, classes),
    )


def _splitmix64(seed: int) -> int:
    """One step of SplitMix64: a fixed integer hash, so the digits split can never drift with a
    numpy or torch RNG change between versions."""
    z = (seed + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return z ^ (z >> 31)


DIGITS_SPLIT_SEED = 20221227  # the date of Hinton's FF paper; fixed forever
DIGITS_TEST_FRACTION = 0.2


def digits_test_indices(n: int) -> list[int]:
    """The indices of the fixed digits test set: ceil(20%) of ``n``, in ascending order."""
    order = sorted(range(n), key=lambda i: _splitmix64(DIGITS_SPLIT_SEED * 1_000_003 + i))
    return sorted(order[: math.ceil(DIGITS_TEST_FRACTION * n)])


DIGITS_FILE = Path(__file__).with_name("digits.npz")


def _load_digits() -> DataSplits:
    """The 1,797 8x8 digits, bundled with the package so the first run needs no download or extra.

    The array is scikit-learn's copy (``sklearn.datasets.load_digits``, BSD-3) of the UCI "Optical
    Recognition of Handwritten Digits" test set (Alpaydin & Kaynak, CC BY 4.0), stored as uint8 (45 kB);
    a test checks it equals scikit-learn's when that is installed.
    """
    try:
        with np.load(DIGITS_FILE) as f:
            raw_images, raw_labels = f["images"], f["labels"]
    except (OSError, KeyError, ValueError) as e:
        raise DataError(f"the bundled digits file {DIGITS_FILE} is missing or corrupt: {e}") from e
    images = raw_images.astype(np.float32) / 16.0  # pixel values are 0..16
    labels = raw_labels.astype(np.int64)
    full = ArrayDataset.from_tensors(images, labels, 10, name="digits", classes=DIGIT_CLASSES)
    test_idx = digits_test_indices(len(full))
    is_test = np.zeros(len(full), dtype=bool)
    is_test[test_idx] = True
    return DataSplits(train=full.subset(np.flatnonzero(~is_test)), test=full.subset(np.flatnonzero(is_test)))


def _normalise_shape(expected_shape: Sequence[int] | None, name: str) -> tuple[int, int]:
    if expected_shape is None:
        return _DEFAULT_SHAPE[name]
    shape = tuple(int(s) for s in expected_shape)
    if len(shape) == 3 and shape[0] == 1:
        shape = shape[1:]
    if len(shape) != 2:
        raise DataError(f"expected_shape must be (H, W) or (1, H, W), got {tuple(expected_shape)}")
    return shape  # type: ignore[return-value]


def load_images(
    name: str,
    root: str | os.PathLike[str] | None = None,
    download: bool = True,
    expected_shape: Sequence[int] | None = None,
) -> DataSplits:
    """One of the image datasets by canonical name, as train/test splits.

    Images come out float32 ``[N, C, H, W]`` in [0, 1], labels int64. ``root`` points at a directory with
    the files (see the module docstring for where else is searched). ``download=False`` never touches the
    network. ``expected_shape`` overrides the image size checked against, (H, W) or (1, H, W).
    """
    name = canonical_name(name)
    if name in ("cifar10", "cifar100"):  # python-pickle batches, 3x32x32: see forwardforward.data.cifar
        from .cifar import load_cifar

        return load_cifar(name, root, download)
    shape = _normalise_shape(expected_shape, name)
    if name == "digits":
        splits = _load_digits()
        if splits.train.image_shape[1:] != shape:
            h, w = splits.train.image_shape[1:]
            raise DataError(f"digits: images are {h}x{w}, expected {shape[0]}x{shape[1]}")
        return splits
    return _load_idx(name, root, download, shape)
