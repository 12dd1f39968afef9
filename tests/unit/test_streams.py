"""toolkit.streams: `ReadAheadReader` (same bytes and errors as its source, bounded memory,
clean shutdown), `PrefixedReader` (a peek undone) and `read_to_end`."""

from __future__ import annotations

import io
import os
import threading
import time

import pytest

import toolkit.compression
import toolkit.streams
from toolkit.compression import compressing_reader, decompressing_reader
from toolkit.digest import Digest, VerifyingReader, verified_digest
from toolkit.errors import DigestMismatchError, ToolkitError
from toolkit.streams import PrefixedReader, ReadAheadReader, read_to_end
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


# ------------------------------------------------------------------------- PrefixedReader


@pytest.mark.parametrize("read_size", [1, 2, 5, 7, 1000])
def test_prefixed_reader_replays_the_prefix_then_the_stream(read_size: int) -> None:
    reader = PrefixedReader(b"abcde", Counting(b"fghij", step=3))
    parts = []
    while chunk := reader.read(read_size):
        assert 0 < len(chunk) <= read_size
        parts.append(chunk)
    assert b"".join(parts) == b"abcdefghij"
    assert reader.read(read_size) == b""


def test_prefixed_reader_never_mixes_prefix_and_stream_in_one_read() -> None:
    # A caller sniffing again after a peek must see only the replayed bytes first.
    reader = PrefixedReader(b"ab", io.BytesIO(b"cd"))
    assert reader.read(10) == b"ab"
    assert reader.read(10) == b"cd"


@pytest.mark.parametrize("n", [None, -1])
def test_prefixed_reader_read_all(n: int | None) -> None:
    reader = PrefixedReader(b"head:", Counting(DATA))
    reader.read(2)
    assert reader.read(n) == b"ad:" + DATA
    assert reader.read() == b""


def test_prefixed_reader_passes_errors_and_verification_through() -> None:
    reader = PrefixedReader(b"x" * 10, Counting(DATA, fail_at=0))
    assert reader.read(10) == b"x" * 10
    with pytest.raises(ToolkitError, match="source broke"):
        reader.read(10)
    digest = Digest.from_bytes(DATA)
    checked = VerifyingReader(io.BytesIO(DATA), digest, len(DATA))  # type: ignore[arg-type]
    assert verified_digest(PrefixedReader(b"", checked)) == digest


def test_prefixed_reader_close_closes_the_stream() -> None:
    source = Counting(b"data")
    reader = PrefixedReader(b"", source)
    reader.close()
    assert source.closed and reader.closed


# ---------------------------------------------------------------------------- read_to_end


def test_read_to_end_reads_in_chunks_until_eof() -> None:
    sizes: list[int] = []

    class Recording(Counting):
        def read(self, n: int | None = -1, /) -> bytes:
            sizes.append(-1 if n is None else n)
            return super().read(n)

    assert read_to_end(Recording(DATA, step=70_000), 50_000) == DATA
    assert set(sizes) == {50_000}  # never an unbounded read
    assert read_to_end(io.BytesIO(b"")) == b""


def test_compression_re_exports_the_same_objects() -> None:
    for name in ("PrefixedReader", "ReadAheadReader", "Readable", "READ_AHEAD_DEPTH"):
        assert getattr(toolkit.compression, name) is getattr(toolkit.streams, name), name
