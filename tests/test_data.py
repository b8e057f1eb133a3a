"""Behaviour of forwardforward.data on tiny IDX files written here; never touches the network."""

from __future__ import annotations

import gzip
import hashlib
import struct
import sys
import urllib.error
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from forwardforward import data
from forwardforward.data import ArrayDataset, DataError, DataSplits, load, read_idx, vision
from forwardforward.data import download as dl

# --- helpers ---

_CODES = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode ``array`` as IDX: 00 00 <code> <ndim>, big-endian uint32 sizes, big-endian data."""
    kind = array.dtype.kind + str(array.dtype.itemsize)
    header = bytes([0, 0, _CODES[kind], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, gz: bool | None = None) -> Path:
    """Write ``array`` to ``path``, gzip-compressed if ``gz`` (default: if the name ends .gz)."""
    payload = idx_bytes(array)
    if gz if gz is not None else path.suffix == ".gz":
        payload = gzip.compress(payload)
    path.write_bytes(payload)
    return path


def make_idx_dataset(
    directory: Path,
    n_train: int = 30,
    n_test: int = 10,
    size: tuple[int, int] = (28, 28),
    gz: bool = True,
    seed: int = 0,
) -> Path:
    """A fake MNIST-style directory: the four standard files, random pixels, labels 0..9."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, *size), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        write_idx(directory / f"{split}-images-idx3-ubyte{suffix}", images)
        write_idx(directory / f"{split}-labels-idx1-ubyte{suffix}", labels)
    return directory


@pytest.fixture(autouse=True)
def hermetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No system dirs, an empty cache under tmp_path, no FF_DATA_DIR, and no network."""
    system = tmp_path / "system"
    monkeypatch.setattr(
        vision,
        "SYSTEM_DIRS",
        {"fashion-mnist": (system / "fashion-mnist",), "mnist": (system / "mnist",)},
    )
    monkeypatch.setenv("FF_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("FF_DATA_DIR", raising=False)

    def no_network(url: str, timeout: float) -> Iterator[bytes]:
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(dl, "fetch", no_network)
    return tmp_path


# --- read_idx ---


@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", ">i4", ">f4", ">f8"])
@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4), (0, 28, 28)])
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trips(tmp_path: Path, dtype: str, shape: tuple[int, ...], gz: bool) -> None:
    rng = np.random.default_rng(1)
    array = (rng.standard_normal(shape) * 100).astype(np.dtype(dtype).newbyteorder("="))
    path = write_idx(tmp_path / "a.idx", array, gz=gz)
    out = read_idx(path)
    assert out.shape == shape
    assert out.dtype == array.dtype and out.dtype.isnative
    np.testing.assert_array_equal(out, array)
    assert out.flags.writeable  # so torch.from_numpy works without warnings


def test_gzip_is_detected_by_magic_not_name(tmp_path: Path) -> None:
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "plain", array, gz=True)), array)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "x.gz", array, gz=False)), array)


def test_concatenated_gzip_members_are_read(tmp_path: Path) -> None:
    payload = idx_bytes(np.arange(6, dtype=">i4"))
    path = tmp_path / "multi.gz"
    path.write_bytes(gzip.compress(payload[:10]) + gzip.compress(payload[10:]))
    np.testing.assert_array_equal(read_idx(path), np.arange(6))


def test_truncated_data_names_file_and_byte_counts(tmp_path: Path) -> None:
    path = tmp_path / "short-idx"
    path.write_bytes(idx_bytes(np.zeros((2, 3), dtype=">i4"))[:-4])
    with pytest.raises(DataError) as err:
        read_idx(path)
    msg = str(err.value)
    assert str(path) in msg and "truncated" in msg
    assert "expected 24 bytes" in msg and "found 20" in msg


def test_truncated_header(tmp_path: Path) -> None:
    path = tmp_path / "hdr"
    path.write_bytes(bytes([0, 0, 0x08, 3, 0, 0, 0, 5]))
    with pytest.raises(DataError, match=r"truncated: the header .* 16 bytes, found 8"):
        read_idx(path)


def test_trailing_garbage(tmp_path: Path) -> None:
    path = tmp_path / "long"
    path.write_bytes(idx_bytes(np.zeros(4, dtype=np.uint8)) + b"xyz")
    with pytest.raises(DataError, match="trailing garbage: 3 bytes") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_bad_magic(tmp_path: Path) -> None:
    path = tmp_path / "notidx.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(20))
    with pytest.raises(DataError, match="bad magic") as err:
        read_idx(path)
    assert str(path) in str(err.value) and "89 50" in str(err.value)


def test_unknown_dtype_code(tmp_path: Path) -> None:
    path = tmp_path / "code"
    path.write_bytes(bytes([0, 0, 0x0A, 1, 0, 0, 0, 1, 7]))
    with pytest.raises(DataError, match=r"unknown IDX dtype code 0x0A") as err:
        read_idx(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("damage", ["garbage", "cut", "trailing"])
def test_corrupt_gzip(tmp_path: Path, damage: str) -> None:
    good = gzip.compress(idx_bytes(np.arange(1000, dtype=">i4")))
    bad = {
        "garbage": b"\x1f\x8b" + b"not a deflate stream at all",
        "cut": good[: len(good) // 2],
        "trailing": good + b"junk",
    }[damage]
    path = tmp_path / "broken.gz"
    path.write_bytes(bad)
    with pytest.raises(DataError, match="corrupt gzip stream") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read"):
        read_idx(tmp_path / "absent")


# --- ArrayDataset ---


def test_dataset_basics() -> None:
    x = torch.rand(6, 1, 4, 5)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    ds = ArrayDataset(x, y, num_classes=3, name="toy", classes=["a", "b", "c"])
    assert len(ds) == 6 and ds.input_dim == 20 and ds.image_shape == (1, 4, 5)
    xi, yi = ds[4]
    assert torch.equal(xi, x[4]) and int(yi) == 1
    assert ds.y.dtype == torch.int64 and ds.x.dtype == torch.float32
    sub = ds.subset([5, 0])
    assert torch.equal(sub.x, x[[5, 0]]) and sub.y.tolist() == [2, 0]
    assert sub.classes == ["a", "b", "c"] and sub.num_classes == 3
    moved = ds.to("cpu")
    assert moved is not ds and torch.equal(moved.x, ds.x)
    mask = ds.subset(ds.y == 2)
    assert mask.y.tolist() == [2, 2]
    with pytest.raises(DataError, match=r"in \[0, 6\)"):
        ds.subset([6])


def test_x_must_be_4d() -> None:
    with pytest.raises(DataError, match=r"4-D \[N, C, H, W\]; got shape \(5, 28, 28\)"):
        ArrayDataset(torch.zeros(5, 28, 28), torch.zeros(5, dtype=torch.int64), 10)


def test_y_must_be_1d_and_match_x() -> None:
    with pytest.raises(DataError, match=r"y must be 1-D \[N\]; got shape \(4, 1\)"):
        ArrayDataset(torch.zeros(4, 1, 2, 2), torch.zeros(4, 1, dtype=torch.int64), 2)
    with pytest.raises(DataError, match="x has 4 samples but y has 3 labels"):
        ArrayDataset(torch.zeros(4, 1, 2, 2), torch.zeros(3, dtype=torch.int64), 2)
    with pytest.raises(DataError, match="integer class labels"):
        ArrayDataset(torch.zeros(4, 1, 2, 2), torch.zeros(4), 2)


def test_labels_out_of_range_are_named() -> None:
    y = torch.tensor([0, 11, 3, -1, 11, 9])
    with pytest.raises(DataError) as err:
        ArrayDataset(torch.zeros(6, 1, 2, 2), y, num_classes=10)
    assert "labels must be in [0, 10); found -1 and 11 (3 samples)" in str(err.value)


def test_non_finite_pixels_are_counted_and_located() -> None:
    x = torch.zeros(5, 1, 2, 2)
    x[3, 0, 1, 1] = float("nan")
    x[3, 0, 0, 0] = float("nan")
    x[4, 0, 0, 1] = float("inf")
    with pytest.raises(DataError, match="2 NaN and 1 inf values; the first is in sample 3"):
        ArrayDataset(x, torch.zeros(5, dtype=torch.int64), 1)


def test_large_finite_values_are_not_mistaken_for_inf() -> None:
    x = torch.full((4, 1, 2, 2), 3e38)  # their float32 sum overflows; the values are finite
    assert len(ArrayDataset(x, torch.zeros(4, dtype=torch.int64), 1)) == 4


def test_from_tensors_reshapes_scales_and_infers_classes() -> None:
    flat = ArrayDataset.from_tensors(np.ones((3, 7), dtype=np.float64), np.array([0, 4, 2]))
    assert flat.x.shape == (3, 1, 1, 7) and flat.num_classes == 5 and flat.input_dim == 7
    pix = np.full((2, 3, 3), 255, dtype=np.uint8)
    imgs = ArrayDataset.from_tensors(pix, torch.tensor([1, 0]), num_classes=3, name="u8")
    assert imgs.x.shape == (2, 1, 3, 3) and float(imgs.x.max()) == 1.0
    assert imgs.x.dtype == torch.float32 and imgs.num_classes == 3 and imgs.name == "u8"
    four = ArrayDataset.from_tensors(torch.zeros(2, 3, 4, 4), torch.tensor([0, 1]))
    assert four.image_shape == (3, 4, 4)
    with pytest.raises(DataError, match="got shape"):
        ArrayDataset.from_tensors(torch.zeros(2), torch.tensor([0, 1]))


# --- load: IDX datasets ---


@pytest.mark.parametrize("gz", [True, False])
def test_load_mnist_from_root(tmp_path: Path, gz: bool) -> None:
    root = make_idx_dataset(tmp_path / "mnist-files", gz=gz)
    splits = load("mnist", root, download=False)
    assert isinstance(splits, DataSplits) and splits.val is None
    assert splits.train.x.shape == (30, 1, 28, 28) and splits.test.x.shape == (10, 1, 28, 28)
    assert splits.train.x.dtype == torch.float32 and splits.train.y.dtype == torch.int64
    assert float(splits.train.x.min()) >= 0.0 and float(splits.train.x.max()) <= 1.0
    raw = read_idx(next(root.glob("train-images*")))
    assert torch.allclose(splits.train.x[:, 0], torch.from_numpy(raw).float() / 255)
    assert splits.train.classes == [str(d) for d in range(10)] and splits.train.num_classes == 10


def test_fashion_mnist_aliases_and_class_names(tmp_path: Path) -> None:
    root = make_idx_dataset(tmp_path / "fm")
    for alias in ("fashion-mnist", "fashion_mnist", "FMNIST"):
        splits = load(alias, root, download=False)
        assert splits.train.name == "fashion-mnist"
        assert splits.test.classes is not None and splits.test.classes[9] == "Ankle boot"


def test_mixed_raw_and_gz_files(tmp_path: Path) -> None:
    root = make_idx_dataset(tmp_path / "mix", gz=True)
    gz_file = root / "t10k-labels-idx1-ubyte.gz"
    (root / "t10k-labels-idx1-ubyte").write_bytes(gzip.decompress(gz_file.read_bytes()))
    gz_file.unlink()
    assert len(load("mnist", root, download=False).test) == 10


def test_label_and_image_counts_must_agree(tmp_path: Path) -> None:
    root = make_idx_dataset(tmp_path / "d")
    labels = root / "train-labels-idx1-ubyte.gz"
    write_idx(labels, np.zeros(29, dtype=np.uint8))
    with pytest.raises(DataError) as err:
        load("mnist", root, download=False)
    msg = str(err.value)
    assert str(labels) in msg and "29 labels" in msg and "30 images" in msg


def test_wrong_image_size_and_expected_shape(tmp_path: Path) -> None:
    root = make_idx_dataset(tmp_path / "d", size=(32, 32))
    with pytest.raises(DataError) as err:
        load("mnist", root, download=False)
    assert "train-images-idx3-ubyte.gz" in str(err.value)
    assert "images are 32x32, expected 28x28" in str(err.value)
    splits = load("mnist", root, download=False, expected_shape=(1, 32, 32))
    assert splits.train.image_shape == (1, 32, 32)


def test_labels_out_of_range_in_file_name_file_and_values(tmp_path: Path) -> None:
    root = make_idx_dataset(tmp_path / "d")
    labels = root / "t10k-labels-idx1-ubyte.gz"
    write_idx(labels, np.array([0, 1, 12, 3, 4, 5, 6, 7, 8, 10], dtype=np.uint8))
    with pytest.raises(DataError) as err:
        load("mnist", root, download=False)
    assert str(labels) in str(err.value)
    assert "found 10 and 12 (2 samples)" in str(err.value)


def test_missing_data_lists_every_path_and_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    partial = tmp_path / "env"
    monkeypatch.setenv("FF_DATA_DIR", str(partial))
    partial.mkdir()
    write_idx(partial / "train-images-idx3-ubyte.gz", np.zeros((1, 28, 28), dtype=np.uint8))
    with pytest.raises(DataError) as err:
        load("fashion-mnist", download=False)
    msg = str(err.value)
    expected_order = [
        tmp_path / "env",
        tmp_path / "env" / "fashion-mnist",
        tmp_path / "system" / "fashion-mnist",
        tmp_path / "cache" / "fashion-mnist",
    ]
    positions = [msg.index(f"  {p} (") for p in expected_order]
    assert positions == sorted(positions)
    assert "missing train-labels-idx1-ubyte[.gz]" in msg  # why the partial copy was rejected
    assert "download=False" in msg
    assert "root=PATH (CLI: data.root=PATH) or set FF_DATA_DIR" in msg


@pytest.mark.parametrize("nested", [False, True])
def test_ff_data_dir_is_searched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nested: bool) -> None:
    base = tmp_path / "shared"
    make_idx_dataset(base / "fashion-mnist" if nested else base, n_train=20)
    monkeypatch.setenv("FF_DATA_DIR", str(base))
    assert len(load("fashion-mnist", download=False).train) == 20


def test_root_wins_over_ff_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_idx_dataset(tmp_path / "env", n_train=20)
    make_idx_dataset(tmp_path / "arg", n_train=40)
    monkeypatch.setenv("FF_DATA_DIR", str(tmp_path / "env"))
    assert len(load("mnist", tmp_path / "arg", download=False).train) == 40


def test_an_explicit_root_is_authoritative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_idx_dataset(tmp_path / "env", n_train=20)
    monkeypatch.setenv("FF_DATA_DIR", str(tmp_path / "env"))
    nowhere = tmp_path / "nowhere"
    with pytest.raises(DataError) as err:
        load("mnist", nowhere)  # download on: a given root is still not a reason to fetch elsewhere
    (line,) = str(err.value).splitlines()
    assert f"mnist not found in the given root {nowhere} (no such directory)" in line
    assert "train-images-idx3-ubyte[.gz]" in line and str(nowhere / "mnist") in line
    assert len(load("mnist", download=False).train) == 20  # no root: FF_DATA_DIR is searched


def test_system_dir_is_searched(tmp_path: Path) -> None:
    make_idx_dataset(tmp_path / "system" / "mnist", n_train=12)
    assert len(load("mnist", download=False).train) == 12


@pytest.mark.parametrize(
    ("typo", "nearest"),
    [("fashion-mnst", "fashion-mnist"), ("mnsit", "mnist"), ("digit", "digits")],
)
def test_unknown_name_suggests_nearest(typo: str, nearest: str) -> None:
    with pytest.raises(DataError) as err:
        load(typo)
    msg = str(err.value)
    assert f"Did you mean {nearest!r}?" in msg
    assert all(name in msg for name in data.DATASETS)


# --- downloads ---


def _serve(monkeypatch: pytest.MonkeyPatch, files: dict[str, bytes], log: list[str]) -> None:
    """Replace the network with ``files`` (URL -> body); unknown URLs fail like a dead mirror."""

    def fake_fetch(url: str, timeout: float) -> Iterator[bytes]:
        log.append(url)
        if url not in files:
            raise urllib.error.URLError(f"no route to {url}")
        body = files[url]
        yield body[: len(body) // 2]
        yield body[len(body) // 2 :]

    monkeypatch.setattr(dl, "fetch", fake_fetch)


def _fake_mnist_gz(tmp_path: Path) -> dict[str, bytes]:
    source = make_idx_dataset(tmp_path / "source", n_train=20, n_test=10, gz=True)
    return {p.name: p.read_bytes() for p in source.iterdir()}


def test_download_installs_verified_files_falling_back_to_next_mirror(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bodies = _fake_mnist_gz(tmp_path)
    sums = {name: hashlib.md5(body).hexdigest() for name, body in bodies.items()}
    monkeypatch.setitem(vision.CHECKSUMS, "mnist", sums)
    second = vision.MIRRORS["mnist"][1]
    log: list[str] = []
    _serve(monkeypatch, {second + n: b for n, b in bodies.items()}, log)

    splits = load("mnist")  # download=True by default
    assert len(splits.train) == 20 and len(splits.test) == 10
    cache = tmp_path / "cache" / "mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(bodies)
    assert len(log) == 8 and log[0].startswith(vision.MIRRORS["mnist"][0])

    log.clear()
    load("mnist")  # now found in the cache: no network at all
    assert log == []


def test_download_checksum_mismatch_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bodies = _fake_mnist_gz(tmp_path)
    log: list[str] = []
    _serve(monkeypatch, {m + n: b for m in vision.MIRRORS["mnist"] for n, b in bodies.items()}, log)
    with pytest.raises(DataError) as err:
        load("mnist")  # the real MNIST md5s cannot match the fake bodies
    msg = str(err.value)
    first = "train-images-idx3-ubyte.gz"
    for mirror in vision.MIRRORS["mnist"]:
        assert mirror + first in msg
    assert vision.CHECKSUMS["mnist"][first] in msg
    assert hashlib.md5(bodies[first]).hexdigest() in msg
    assert "Looked in:" in msg and "data.root=PATH" in msg
    assert list((tmp_path / "cache").rglob("*")) == []  # no file, no .part, no empty dir


def test_download_function_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = b"hello, forward-forward"
    dest = tmp_path / "dl" / "file.bin"
    _serve(monkeypatch, {"https://x/file.bin": body}, [])
    digest = hashlib.sha256(body).hexdigest()

    with pytest.raises(DataError) as err:
        dl.download("https://x/file.bin", dest, sha256="0" * 64)
    assert "https://x/file.bin" in str(err.value) and digest in str(err.value)
    assert "0" * 64 in str(err.value)
    assert list(dest.parent.iterdir()) == []

    dest.write_bytes(b"old")
    with pytest.raises(DataError, match="failed"):
        dl.download("https://x/missing", dest, md5="0" * 32)
    assert dest.read_bytes() == b"old" and list(dest.parent.iterdir()) == [dest]

    assert dl.download("https://x/file.bin", dest, sha256=digest) == dest
    assert dest.read_bytes() == body and list(dest.parent.iterdir()) == [dest]
    dl.verify_checksum(dest, md5=hashlib.md5(body).hexdigest(), sha256=digest)
    with pytest.raises(DataError, match=r"checksum mismatch: md5 expected 0{32}, got"):
        dl.verify_checksum(dest, md5="0" * 32)


def test_download_interrupted_mid_stream_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def dies(url: str, timeout: float) -> Iterator[bytes]:
        yield b"partial"
        raise TimeoutError("timed out")

    monkeypatch.setattr(dl, "fetch", dies)
    with pytest.raises(DataError, match="timed out"):
        dl.download("https://x/f", tmp_path / "f", md5="0" * 32)
    assert list(tmp_path.iterdir()) == []


def test_download_failure_is_reported_with_urls(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        load("fashion-mnist")  # the hermetic fixture makes every fetch fail
    msg = str(err.value)
    assert "Download failed:" in msg and "network disabled in tests" in msg
    assert vision.MIRRORS["fashion-mnist"][0] + "train-images-idx3-ubyte.gz" in msg


# --- validation split and digits ---


def test_val_split_sizes_disjoint_and_seeded(tmp_path: Path) -> None:
    root = make_idx_dataset(tmp_path / "d", n_train=50, n_test=10, size=(4, 4))
    kwargs = {"download": False, "expected_shape": (4, 4)}
    full = load("mnist", root, **kwargs).train
    a = load("mnist", root, val_fraction=0.2, seed=3, **kwargs)
    b = load("mnist", root, val_fraction=0.2, seed=3, **kwargs)
    c = load("mnist", root, val_fraction=0.2, seed=4, **kwargs)
    assert a.val is not None and b.val is not None and c.val is not None
    assert len(a.train) == 40 and len(a.val) == 10 and len(a.test) == 10

    def rows(ds: ArrayDataset) -> set[bytes]:
        return {bytes(r.numpy().tobytes()) for r in ds.x.flatten(1)}

    assert rows(a.train).isdisjoint(rows(a.val))
    assert rows(a.train) | rows(a.val) == rows(full)
    assert torch.equal(a.val.x, b.val.x) and torch.equal(a.val.y, b.val.y)
    assert not torch.equal(a.val.x, c.val.x)


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5, float("nan"), "0.1", True])
def test_bad_val_fraction(fraction: object) -> None:
    with pytest.raises(DataError, match="val_fraction"):
        load("digits", val_fraction=fraction)  # type: ignore[arg-type]


def test_digits() -> None:
    splits = load("digits", val_fraction=0.1)
    assert splits.val is not None
    assert len(splits.train) + len(splits.val) == 1437 and len(splits.test) == 360
    for ds in (splits.train, splits.val, splits.test):
        assert ds.image_shape == (1, 8, 8) and ds.num_classes == 10 and ds.name == "digits"
        assert float(ds.x.min()) == 0.0 and float(ds.x.max()) == 1.0
    assert splits.test.classes == [str(d) for d in range(10)]
    assert set(splits.test.y.tolist()) == set(range(10))


def test_digits_split_is_pinned() -> None:
    """The digits test set must never change between versions: results stay comparable."""
    test_idx = vision.digits_test_indices(1797)
    assert len(test_idx) == 360 and test_idx == sorted(set(test_idx))
    assert test_idx[:8] == PINNED_DIGITS_TEST_HEAD


PINNED_DIGITS_TEST_HEAD = [0, 6, 20, 23, 26, 27, 32, 33]


def test_bundled_digits_equal_scikit_learns() -> None:
    """The bundled array is exactly scikit-learn's digits (same images, same order, same labels)."""
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    bunch = sklearn_datasets.load_digits()
    splits = load("digits")
    x = torch.cat([splits.train.x, splits.test.x]).reshape(-1, 64) * 16
    y = torch.cat([splits.train.y, splits.test.y])
    order = torch.cat(
        [
            torch.tensor(sorted(set(range(1797)) - set(vision.digits_test_indices(1797)))),
            torch.tensor(vision.digits_test_indices(1797)),
        ]
    )
    assert torch.equal(x.round().long(), torch.as_tensor(bunch.data, dtype=torch.long)[order])
    assert torch.equal(y, torch.as_tensor(bunch.target, dtype=torch.long)[order])


def test_digits_need_no_scikit_learn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    splits = load("digits")
    assert len(splits.train) + len(splits.test) == 1797
