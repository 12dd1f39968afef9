"""`ReadAheadReader`: same bytes and errors as its source, bounded memory, clean shutdown."""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path

import pytest

from toolkit.compression import ReadAheadReader, compressing_reader, decompressing_reader
from toolkit.digest import Digest, VerifyingReader
from toolkit.errors import DigestMismatchError, ToolkitError
from toolkit.transports._fs import AtomicFile
from toolkit.types import Compression

DATA = os.urandom(300_000) * 7


class Counting(io.RawIOBase):
    """Hands out `data` in `step`-byte reads; counts reads and notes the reading threads."""

    def __init__(self, data: bytes, step: int = 10_000, fail_at: int | None = None) -> None:
        super().__init__()
        self._data = data
        self._pos = 0
        self._step = step
        self._fail_at = fail_at
        self.threads: set[str] = set()
        self.closed_by: str | None = None

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1, /) -> bytes:
        self.threads.add(threading.current_thread().name)
        if self._fail_at is not None and self._pos >= self._fail_at:
            raise ToolkitError("source broke")
        size = self._step if n is None or n < 0 else min(n, self._step)
        out = self._data[self._pos : self._pos + size]
        self._pos += len(out)
        return out

    @property
    def position(self) -> int:
        return self._pos

    def close(self) -> None:
        self.closed_by = threading.current_thread().name
        super().close()


@pytest.mark.parametrize("read_size", [1, 999, 10_000, 65536, 1 << 20])
def test_same_bytes_whatever_the_read_size(read_size: int) -> None:
    source = Counting(DATA)
    reader = ReadAheadReader(source, chunk_size=4096 if read_size == 1 else 65536)
    parts = []
    limit = 50_000 if read_size == 1 else len(DATA)
    got = 0
    while got < limit and (chunk := reader.read(read_size)):
        assert 0 < len(chunk) <= read_size
        parts.append(chunk)
        got += len(chunk)
    if read_size != 1:
        assert reader.read(read_size) == b""
        assert reader.read(10) == b""
        assert b"".join(parts) == DATA
    else:
        assert b"".join(parts) == DATA[:got]
    reader.close()
    assert source.threads == {"skopo-read-ahead"}
    assert source.closed


def test_read_all_and_readinto() -> None:
    assert ReadAheadReader(io.BytesIO(DATA)).read() == DATA
    reader = ReadAheadReader(io.BytesIO(b"abcdef"))
    buf = bytearray(4)
    assert reader.readinto(buf) == 4 and bytes(buf) == b"abcd"
    assert reader.read(0) == b""
    assert reader.read(100) == b"ef"
    assert reader.read(100) == b""


def test_source_error_is_raised_at_its_place_and_again() -> None:
    source = Counting(DATA, fail_at=100_000)
    reader = ReadAheadReader(source, chunk_size=10_000)
    got = 0
    with pytest.raises(ToolkitError, match="source broke") as first:
        while chunk := reader.read(10_000):
            got += len(chunk)
    assert got == 100_000
    with pytest.raises(ToolkitError) as second:
        reader.read(1)
    assert second.value is first.value
    reader.close()


def test_verification_errors_pass_through() -> None:
    wrong = Digest.from_bytes(b"something else")
    reader = ReadAheadReader(VerifyingReader(io.BytesIO(DATA), wrong, len(DATA)))  # type: ignore[arg-type]
    with pytest.raises(DigestMismatchError):
        reader.read()


def test_reads_ahead_at_most_depth_chunks() -> None:
    source = Counting(DATA, step=1000)
    reader = ReadAheadReader(source, chunk_size=1000, depth=3)
    assert reader.read(1000) == DATA[:1000]
    time.sleep(0.2)
    # One chunk handed out, `depth` queued, one more read and waiting for room.
    assert source.position <= 5 * 1000
    reader.close()


def test_close_midway_stops_the_thread_and_closes_the_source() -> None:
    source = Counting(DATA, step=1000)
    reader = ReadAheadReader(source, chunk_size=1000, depth=2)
    reader.read(10)
    before = {t.name for t in threading.enumerate()}
    assert "skopo-read-ahead" in before
    reader.close()
    assert not any(t.name == "skopo-read-ahead" for t in threading.enumerate())
    assert source.closed_by == threading.current_thread().name
    reader.close()  # idempotent


def test_close_unread_reader_starts_no_thread() -> None:
    source = Counting(DATA)
    ReadAheadReader(source).close()
    assert source.threads == set() and source.closed


def test_round_trip_through_compression() -> None:
    packed = ReadAheadReader(compressing_reader(io.BytesIO(DATA), Compression.GZIP, level=None)).read()
    plain = ReadAheadReader(decompressing_reader(io.BytesIO(packed), Compression.GZIP, budget=None))
    assert plain.read() == DATA


def test_atomic_file_large_write_with_writeback_hints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Writeback hints are advice only: content is exact, and a failing hint changes nothing."""
    import toolkit.transports._fs as fs

    calls: list[tuple[int, int]] = []

    def start_writeback(fd: int, offset: int, length: int, flags: int) -> int:
        calls.append((offset, length))
        return -1  # a failing hint

    monkeypatch.setattr(fs, "WRITEBACK_STEP", 100_000)
    monkeypatch.setattr(fs, "_START_WRITEBACK", start_writeback)
    target = tmp_path / "big"
    with AtomicFile(target) as f:
        for i in range(0, len(DATA), 70_000):
            f.write(DATA[i : i + 70_000])
        f.seek(0)
        f.write(b"X")
    assert target.read_bytes() == b"X" + DATA[1:]
    assert calls and calls[0][0] == 0
    assert all(length >= 100_000 for _, length in calls)


def test_sync_file_range_works_on_linux(tmp_path: Path) -> None:
    import sys

    import toolkit.transports._fs as fs

    if not sys.platform.startswith("linux"):
        pytest.skip("Linux only")
    assert fs._START_WRITEBACK is not None
    with (tmp_path / "f").open("wb") as f:
        f.write(b"x" * 100_000)
        f.flush()
        assert fs._START_WRITEBACK(f.fileno(), 0, 100_000, 2) == 0
