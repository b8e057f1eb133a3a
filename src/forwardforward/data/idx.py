"""Reader for the IDX format of MNIST and Fashion-MNIST, raw or gzip-compressed.

IDX layout: two zero bytes, a dtype code byte, a byte giving the number of dimensions, then one
big-endian uint32 size per dimension, then the data, big-endian, C order. The whole payload is
decoded with one ``numpy.frombuffer`` call, so 70,000 images load in a fraction of a second.

Every failure is a :class:`DataError` that starts with the file's path and says what was found
against what was expected, because a half-downloaded or mislabelled file is by far the most common
way these loaders fail.
"""

from __future__ import annotations

import math
import os
import zlib
from pathlib import Path

import numpy as np

from .dataset import DataError

__all__ = ["IDX_DTYPES", "read_idx"]

#: IDX dtype code -> (numpy dtype as stored, i.e. big-endian; name used in messages).
IDX_DTYPES: dict[int, tuple[np.dtype, str]] = {
    0x08: (np.dtype("u1"), "unsigned byte"),
    0x09: (np.dtype("i1"), "signed byte"),
    0x0B: (np.dtype(">i2"), "short"),
    0x0C: (np.dtype(">i4"), "int"),
    0x0D: (np.dtype(">f4"), "float"),
    0x0E: (np.dtype(">f8"), "double"),
}

_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    """The file's decoded bytes; gzip is detected by its magic, since names can lie."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror or e}") from e
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    # zlib directly rather than gzip.decompress: about 30% faster on the 26 MB training images.
    parts: list[bytes] = []
    rest = raw
    try:
        while rest.startswith(_GZIP_MAGIC):  # a .gz file may hold several concatenated members
            stream = zlib.decompressobj(wbits=31)
            parts.append(stream.decompress(rest))
            if not stream.eof:
                raise DataError(f"{path}: corrupt gzip stream: it ends early (truncated download?)")
            rest = stream.unused_data
    except zlib.error as e:
        raise DataError(f"{path}: corrupt gzip stream: {e}") from e
    if rest.strip(b"\0"):  # like gzip(1), tolerate zero padding after the last member
        raise DataError(f"{path}: corrupt gzip stream: {len(rest)} bytes of trailing garbage after it")
    return b"".join(parts) if len(parts) > 1 else parts[0]


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read the IDX file at ``path`` (raw or gzip) into a native-endian, writable numpy array.

    Raises :class:`DataError` naming the file for a bad magic number, an unknown dtype code, a
    truncated header or payload (with the expected and found byte counts), trailing bytes after
    the payload, or a corrupt gzip stream.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataError(f"{path}: truncated: an IDX header needs at least 4 bytes, found {len(data)}")
    if data[0] != 0 or data[1] != 0:
        raise DataError(
            f"{path}: bad magic: an IDX file starts with bytes 00 00, found "
            f"{data[0]:02x} {data[1]:02x} (not an IDX file?)"
        )
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        valid = ", ".join(f"0x{c:02X} ({n})" for c, (_, n) in IDX_DTYPES.items())
        raise DataError(f"{path}: unknown IDX dtype code 0x{code:02X}; valid codes: {valid}")
    dtype, dtype_name = IDX_DTYPES[code]

    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(
            f"{path}: truncated: the header of a {ndim}-D IDX file is {header} bytes, found {len(data)}"
        )
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = math.prod(shape) * dtype.itemsize
    found = len(data) - header
    what = f"shape {shape} of {dtype_name}"
    if found < expected:
        raise DataError(f"{path}: truncated: expected {expected} bytes of data for {what}, found {found}")
    if found > expected:
        raise DataError(
            f"{path}: trailing garbage: {found - expected} bytes after the {expected} bytes "
            f"of data for {what}"
        )
    count = math.prod(shape)
    array = np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(shape)
    # frombuffer over bytes is read-only and, for multi-byte types, big-endian; one copy fixes
    # both so that torch.from_numpy works without warnings and arithmetic runs at native speed.
    return array.astype(dtype.newbyteorder("="), copy=True)
