"""Checksummed, atomic downloads with the standard library only.

A download is streamed into a temporary file next to its destination, hashed on the way, and moved
into place with ``os.replace`` only once the checksum matches. So an interrupted or corrupted
download never leaves a file that a later run would mistake for the real one, and readers never see
a half-written file.

The network is reached only through :func:`fetch`, a module-level function that tests replace
(``monkeypatch.setattr(download, "fetch", ...)``) so they never touch the network.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import os
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from .dataset import DataError

__all__ = ["cache_dir", "download", "fetch", "file_digests", "verify_checksum"]

_CHUNK = 1 << 20


def fetch(url: str, timeout: float) -> Iterator[bytes]:
    """Yield the body of ``url`` in chunks, waiting at most ``timeout`` seconds for the server. The only
    function here that touches the network."""
    try:
        version = importlib.metadata.version("forwardforward")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree that was never installed
        version = "dev"
    request = urllib.request.Request(url, headers={"User-Agent": f"forwardforward/{version}"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        while chunk := response.read(_CHUNK):
            yield chunk


def _hashers(md5: str | None, sha256: str | None) -> dict[str, hashlib._Hash]:
    hashers: dict[str, hashlib._Hash] = {}
    if md5 is not None:
        # MD5 only identifies the published files (their authors list MD5s); it is not a defence.
        hashers["md5"] = hashlib.md5(usedforsecurity=False)
    if sha256 is not None:
        hashers["sha256"] = hashlib.sha256()
    return hashers


def _mismatches(hashers: dict[str, hashlib._Hash], md5: str | None, sha256: str | None) -> list[str]:
    expected = {"md5": md5, "sha256": sha256}
    out = []
    for algo, h in hashers.items():
        want = (expected[algo] or "").lower()
        got = h.hexdigest()
        if got != want:
            out.append(f"{algo} expected {want}, got {got}")
    return out


def file_digests(path: str | os.PathLike[str], *algorithms: str) -> dict[str, str]:
    """Hex digests of the file at ``path`` for the given hashlib ``algorithms`` (names such as ``"md5"``),
    reading it once."""
    hashers = {a: hashlib.new(a, usedforsecurity=False) for a in algorithms}
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            for h in hashers.values():
                h.update(chunk)
    return {a: h.hexdigest() for a, h in hashers.items()}


def verify_checksum(path: str | os.PathLike[str], md5: str | None = None, sha256: str | None = None) -> None:
    """Check the file at ``path`` against the expected hex digests ``md5`` and/or ``sha256``; raise
    :class:`DataError` naming ``path``, the expected and the actual digest on mismatch.

    With neither digest given there is nothing to check and the call returns.
    """
    expected = {algo: want.lower() for algo, want in (("md5", md5), ("sha256", sha256)) if want}
    if not expected:
        return
    try:
        actual = file_digests(path, *expected)
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror or e}") from e
    bad = [f"{a} expected {want}, got {actual[a]}" for a, want in expected.items() if actual[a] != want]
    if bad:
        raise DataError(f"{path}: checksum mismatch: {'; '.join(bad)}")


def download(
    url: str,
    dest: str | os.PathLike[str],
    md5: str | None = None,
    sha256: str | None = None,
    timeout: float = 30,
) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying ``md5`` and/or ``sha256`` if given.

    Returns ``dest``. On a network error or checksum mismatch raises :class:`DataError` naming the
    URL (and the expected and actual digests), and leaves neither ``dest`` nor a temporary file.
    An existing ``dest`` is replaced only by a verified download. ``timeout`` (seconds) bounds each wait
    for the server, not the whole download.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    hashers = _hashers(md5, sha256)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                for chunk in fetch(url, timeout):
                    out.write(chunk)
                    for h in hashers.values():
                        h.update(chunk)
            except OSError as e:  # urllib.error.URLError, timeouts and HTTP errors are OSErrors
                reason = getattr(e, "reason", None) or e
                raise DataError(f"download of {url} failed: {reason}") from e
            out.flush()
            os.fsync(out.fileno())
        bad = _mismatches(hashers, md5, sha256)
        if bad:
            raise DataError(f"download of {url}: checksum mismatch: {'; '.join(bad)}")
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return dest


def cache_dir() -> Path:
    """Where downloads go: ``$FF_CACHE_DIR``, else ``$XDG_CACHE_HOME/forwardforward``, else
    ``~/.cache/forwardforward``. Read at call time so that tests can redirect it."""
    if env := os.environ.get("FF_CACHE_DIR"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "forwardforward"
