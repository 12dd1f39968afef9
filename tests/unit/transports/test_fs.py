"""`transports/_fs.py`: failures while writing must be one-line errors and leave nothing."""

from __future__ import annotations

import errno
import io
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import toolkit.transports._fs as fs
from toolkit.digest import Digest, VerifyingReader, verified_digest
from toolkit.errors import DigestMismatchError, ToolkitError
from toolkit.streams import PrefixedReader, ReadAheadReader
from toolkit.types import BlobInfo

#: Large enough for several writeback steps; random so that nothing compresses or repeats.
_DATA = os.urandom(300_000) * 7


class _DiskFull(io.FileIO):
    def write(self, data: Any, /) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


class _FullWritebackFileIO(fs._WritebackFileIO, _DiskFull):
    """`_WritebackFileIO` over a file system that is full (its `super().write` fails)."""


_WRITE_SIZES: list[int] = []


class _ShortWritesFileIO(io.FileIO):
    """Records every write(2) size; writes at most 100 000 bytes per call, as a raw file may."""

    def write(self, data: Any, /) -> int:
        _WRITE_SIZES.append(memoryview(data).nbytes)
        return super().write(memoryview(data)[:100_000])


class _RecordingWritebackFileIO(fs._WritebackFileIO, _ShortWritesFileIO):
    pass


def test_large_writes_go_out_in_pieces_and_completely(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fs, "_WritebackFileIO", _RecordingWritebackFileIO)
    _WRITE_SIZES.clear()
    data = os.urandom((3 << 20) + 3)
    target = tmp_path / "blob"
    with fs.AtomicFile(target) as f:
        f.write(b"head")
        f.write(memoryview(data))
    assert target.read_bytes() == b"head" + data
    assert max(_WRITE_SIZES) <= fs.WRITE_PIECE
    assert len(_WRITE_SIZES) > len(data) // 100_000  # short writes were continued


@pytest.mark.parametrize("size", [10, 5 << 20])  # buffered until commit; written at once
def test_atomic_file_disk_full_is_a_toolkit_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    monkeypatch.setattr(fs, "_WritebackFileIO", _FullWritebackFileIO)
    target = tmp_path / "blob"
    with pytest.raises(ToolkitError, match="No space left on device") as info, fs.AtomicFile(target) as f:
        f.write(b"x" * size)
    assert not isinstance(info.value, OSError)
    assert str(target) in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_atomic_file_discard_after_failed_write_never_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fs, "_WritebackFileIO", _FullWritebackFileIO)
    atomic = fs.AtomicFile(tmp_path / "out")
    f = atomic.__enter__()
    f.write(b"buffered, flushed by close()")
    atomic.discard()  # close() fails to flush: still no exception, no temp file
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------ copy_hashing and verified streams


class _CountingHash:
    """Stands in for a hasher and counts the bytes it was given."""

    fed = 0

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def update(self, data: bytes) -> None:
        _CountingHash.fed += len(data)
        self._inner.update(data)

    def hexdigest(self) -> str:
        return str(self._inner.hexdigest())


class _Unregistered:
    """Claims to pass a verifying stream through, but is not a registered wrapper."""

    def __init__(self, inner: Any) -> None:
        self.passes_through = inner

    def read(self, n: int = -1) -> bytes:
        return bytes(self.passes_through.read(n))


def _blob(data: bytes) -> tuple[Digest, BlobInfo]:
    digest = Digest.from_bytes(data)
    return digest, BlobInfo(digest=digest, size=len(data))


def test_verified_digest_follows_only_registered_wrappers() -> None:
    digest, _ = _blob(b"layer")
    checked = VerifyingReader(io.BytesIO(b"layer"), digest, 5)
    assert verified_digest(checked) == digest
    assert verified_digest(ReadAheadReader(PrefixedReader(b"", checked))) == digest
    assert verified_digest(_Unregistered(checked)) is None
    assert verified_digest(io.BytesIO(b"layer")) is None


@pytest.mark.parametrize("verifying", [True, False])
def test_copy_hashing_hashes_unless_the_stream_checks_the_digest(
    monkeypatch: pytest.MonkeyPatch, verifying: bool
) -> None:
    data = b"x" * (3 << 20)
    digest, info = _blob(data)
    original = Digest.hasher
    monkeypatch.setattr(Digest, "hasher", lambda self: _CountingHash(original(self)))
    _CountingHash.fed = 0
    stream: Any = io.BytesIO(data)
    if verifying:
        stream = VerifyingReader(stream, digest, len(data))
    out = io.BytesIO()
    assert fs.copy_hashing(stream, out.write, info) == (digest, len(data))
    assert out.getvalue() == data
    # The verifying stream hashes once itself; copy_hashing adds nothing. A plain stream is
    # hashed by copy_hashing.
    assert _CountingHash.fed == len(data)


@pytest.mark.parametrize("verifying", [True, False])
def test_copy_hashing_refuses_tampered_bytes_either_way(verifying: bool) -> None:
    digest, info = _blob(b"the real layer")
    stream: Any = io.BytesIO(b"the fake layer")  # same size
    if verifying:
        stream = ReadAheadReader(VerifyingReader(stream, digest, info.size))
    with pytest.raises(DigestMismatchError):
        fs.copy_hashing(stream, lambda _chunk: None, info)


# ------------------------------------------------------------ stale temp files of killed writers


def test_remove_stale_temps_removes_only_old_unlocked_temps_of_that_name(tmp_path: Path) -> None:
    target = tmp_path / "image.tar"
    old = time.time() - 3600

    def temp(name: str, *, age: float = old) -> Path:
        path = tmp_path / name
        path.write_bytes(b"partial")
        os.utime(path, (age, age))
        return path

    stale = temp(".image.tar.tmp-0123456789ab")
    young = temp(".image.tar.tmp-bbbbbbbbbbbb", age=time.time())
    other_name = temp(".other.tar.tmp-0123456789ab")
    odd_suffix = temp(".image.tar.tmp-not-hex-at-all")
    live_file = fs.AtomicFile(target)
    live_writer = live_file.__enter__()  # a writer in another process would hold the same lock
    live = next(p for p in tmp_path.iterdir() if p.name.startswith(".image.tar.tmp-") and p not in (stale, young))
    os.utime(live, (old, old))
    try:
        fs.remove_stale_temps(target)
        assert not stale.exists()
        assert young.exists() and other_name.exists() and odd_suffix.exists()
        assert live.exists(), "a temp file whose writer is alive must stay"
    finally:
        live_file.discard()
    assert live_writer.closed


def test_atomic_file_with_clean_stale_cleans_before_writing(tmp_path: Path) -> None:
    target = tmp_path / "image.tar"
    stale = tmp_path / ".image.tar.tmp-ffffffffffff"
    stale.write_bytes(b"left by a killed copy")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    with fs.AtomicFile(target, clean_stale=True) as f:
        f.write(b"archive")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["image.tar"]



def test_atomic_file_large_write_with_writeback_hints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Writeback hints are advice only: content is exact, and a failing hint changes nothing."""
    calls: list[tuple[int, int]] = []

    def start_writeback(fd: int, offset: int, length: int, flags: int) -> int:
        calls.append((offset, length))
        return -1  # a failing hint

    monkeypatch.setattr(fs, "WRITEBACK_STEP", 100_000)
    monkeypatch.setattr(fs, "_START_WRITEBACK", start_writeback)
    target = tmp_path / "big"
    with fs.AtomicFile(target) as f:
        for i in range(0, len(_DATA), 70_000):
            f.write(_DATA[i : i + 70_000])
        f.seek(0)
        f.write(b"X")
    assert target.read_bytes() == b"X" + _DATA[1:]
    assert calls and calls[0][0] == 0
    assert all(length >= 100_000 for _, length in calls)


def test_sync_file_range_works_on_linux(tmp_path: Path) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("Linux only")
    start = fs.start_writeback()
    assert start is not None
    with (tmp_path / "f").open("wb") as f:
        f.write(b"x" * 100_000)
        f.flush()
        assert start(f.fileno(), 0, 100_000, 2) == 0
