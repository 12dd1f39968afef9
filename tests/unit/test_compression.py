"""toolkit.compression: sniffing, streaming (de)compression, budgets and hostile input."""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import os
import shutil
import subprocess
import time
import tracemalloc
import zlib
from collections.abc import Iterator

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolkit.compression import (
    ALGORITHMS,
    DEFAULT_DECOMPRESS_BUDGET,
    CompressionError,
    algorithm_by_name,
    algorithm_for,
    compressing_reader,
    decompressing_reader,
    detect_compression,
    peek_compression,
)
from toolkit.errors import InvalidInputError, NotSupportedError, SizeLimitError, ToolkitError
from toolkit.types import Compression

MiB = 1 << 20
# Mixed content: incompressible, text-like and long zero runs.
DATA = os.urandom(200_000) + b"layer data " * 50_000 + bytes(3 * MiB) + os.urandom(1000)

STDLIB_COMPRESS = {
    Compression.GZIP: gzip.compress,
    Compression.ZSTD: lambda b: zstandard.ZstdCompressor().compress(b),
    Compression.BZIP2: bz2.compress,
    Compression.XZ: lzma.compress,
}
COMPRESSED = [Compression.GZIP, Compression.ZSTD, Compression.BZIP2, Compression.XZ]


class Trickle(io.RawIOBase):
    """A stream that returns at most `step` bytes per read (short reads are legal)."""

    def __init__(self, data: bytes, step: int = 7) -> None:
        self._data = memoryview(data)
        self._step = step
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = len(self._data)
        take = min(n, self._step)
        out = bytes(self._data[self.consumed : self.consumed + take])
        self.consumed += len(out)
        return out


class GeneratedStream(io.RawIOBase):
    """A lazily produced stream from an iterator of chunks; counts bytes handed out."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        while not self._buf:
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                return b""
        if n is None or n < 0:
            n = len(self._buf)
        out, self._buf = self._buf[:n], self._buf[n:]
        self.consumed += len(out)
        return out


def decompress_all(data: bytes, algorithm: Compression, budget: int | None = None, n: int = 65536) -> bytes:
    reader = decompressing_reader(io.BytesIO(data), algorithm, budget=budget)
    parts = []
    while chunk := reader.read(n):
        assert len(chunk) <= n
        parts.append(chunk)
    return b"".join(parts)


def compress_all(data: bytes, algorithm: Compression, level: int | None = None) -> bytes:
    return compressing_reader(io.BytesIO(data), algorithm, level=level).read()


# ----------------------------------------------------------------------------- detection


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        (b"\x1f\x8b\x08\x00\x00\x00", Compression.GZIP),
        (b"\x28\xb5\x2f\xfd\x04\x00", Compression.ZSTD),
        (b"BZh91AY", Compression.BZIP2),
        (b"\xfd7zXZ\x00\x00", Compression.XZ),
        (b"\x1f\x8b\x07", Compression.NONE),  # gzip magic but not deflate
        (b"\x1f\x8b", Compression.NONE),  # too short to tell
        (b"ustar\x00", Compression.NONE),
        (b"", Compression.NONE),
        (b"{}", Compression.NONE),
    ],
)
def test_detect_compression(prefix: bytes, expected: Compression) -> None:
    assert detect_compression(prefix) is expected


@pytest.mark.parametrize("algorithm", COMPRESSED)
def test_detect_real_outputs(algorithm: Compression) -> None:
    assert detect_compression(STDLIB_COMPRESS[algorithm](b"x" * 100)) is algorithm


@pytest.mark.parametrize("step", [1, 2, 5, 100])
def test_peek_compression_loses_no_bytes(step: int) -> None:
    payload = gzip.compress(b"hello world")
    algorithm, stream = peek_compression(Trickle(payload, step))
    assert algorithm is Compression.GZIP
    assert stream.read() == payload


def test_peek_compression_short_and_empty_streams() -> None:
    algorithm, stream = peek_compression(io.BytesIO(b"ab"))
    assert algorithm is Compression.NONE
    assert stream.read(1) == b"a"
    assert stream.read(10) == b"b"
    assert stream.read(10) == b""
    algorithm, stream = peek_compression(io.BytesIO(b""))
    assert algorithm is Compression.NONE
    assert stream.read() == b""


def test_peek_then_decompress() -> None:
    algorithm, stream = peek_compression(io.BytesIO(lzma.compress(DATA)))
    assert decompressing_reader(stream, algorithm, budget=None).read() == DATA


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("algorithm", COMPRESSED)
@pytest.mark.parametrize("read_size", [1, 4096, MiB, 4 * MiB])
def test_decompress_stdlib_output(algorithm: Compression, read_size: int) -> None:
    data = DATA if read_size > 1 else DATA[:20_000]
    assert decompress_all(STDLIB_COMPRESS[algorithm](data), algorithm, n=read_size) == data


@pytest.mark.parametrize("algorithm", [Compression.GZIP, Compression.ZSTD, Compression.NONE])
@pytest.mark.parametrize("level", [None, 1, 3, 9])
def test_round_trip(algorithm: Compression, level: int | None) -> None:
    packed = compress_all(DATA, algorithm, level)
    if algorithm is not Compression.NONE:
        assert detect_compression(packed) is algorithm
        assert len(packed) < len(DATA)
    assert decompress_all(packed, algorithm) == DATA


def test_gzip_explicit_level_is_exactly_zlib() -> None:
    for level in (1, 6, 9):
        comp = zlib.compressobj(level, zlib.DEFLATED, 31)
        expected = b"".join(comp.compress(DATA[i : i + MiB]) for i in range(0, len(DATA), MiB)) + comp.flush()
        assert compress_all(DATA, Compression.GZIP, level) == expected


def test_outputs_are_standard_formats() -> None:
    assert gzip.decompress(compress_all(DATA, Compression.GZIP)) == DATA
    assert zstandard.ZstdDecompressor().decompressobj().decompress(compress_all(DATA, Compression.ZSTD)) == DATA
    # Our zstd frames carry a content checksum (as c/image's klauspost writer).
    params = zstandard.get_frame_parameters(compress_all(b"abc", Compression.ZSTD))
    assert params.has_checksum


@pytest.mark.skipif(shutil.which("gzip") is None or shutil.which("zstd") is None, reason="needs gzip and zstd")
def test_cli_tools_read_our_output_and_we_read_theirs(tmp_path: os.PathLike[str]) -> None:
    for algorithm, tool in ((Compression.GZIP, "gzip"), (Compression.ZSTD, "zstd")):
        for level in (None, 5):
            packed = compress_all(DATA, algorithm, level)
            out = subprocess.run([tool, "-d", "-c"], input=packed, capture_output=True, check=True).stdout
            assert out == DATA
        theirs = subprocess.run([tool, "-c"], input=DATA, capture_output=True, check=True).stdout
        assert decompress_all(theirs, algorithm) == DATA
    for algorithm, tool in ((Compression.XZ, "xz"), (Compression.BZIP2, "bzip2")):
        if shutil.which(tool):
            theirs = subprocess.run([tool, "-c"], input=DATA, capture_output=True, check=True).stdout
            assert decompress_all(theirs, algorithm) == DATA


def test_compress_reads_short_reads_source() -> None:
    data = DATA[:50_000]
    packed = compressing_reader(Trickle(data, 333), Compression.GZIP, level=None).read()
    assert gzip.decompress(packed) == data


def test_compressing_reader_read_sizes_and_consumed() -> None:
    reader = compressing_reader(io.BytesIO(DATA), Compression.ZSTD, level=None)
    assert reader.read(0) == b""
    parts = []
    while chunk := reader.read(1000):
        assert len(chunk) <= 1000
        parts.append(chunk)
    assert reader.read(10) == b""
    assert reader.consumed == len(DATA)
    assert decompress_all(b"".join(parts), Compression.ZSTD) == DATA


def test_empty_input_round_trip() -> None:
    for algorithm in (Compression.GZIP, Compression.ZSTD):
        packed = compress_all(b"", algorithm)
        assert packed  # a valid empty member/frame
        assert decompress_all(packed, algorithm) == b""


def test_readinto_and_read_all() -> None:
    packed = gzip.compress(b"abcdef")
    reader = decompressing_reader(io.BytesIO(packed), Compression.GZIP, budget=None)
    buf = bytearray(4)
    assert reader.readinto(buf) == 4
    assert bytes(buf) == b"abcd"
    assert reader.read() == b"ef"
    assert reader.read(1) == b""


def test_none_passes_through_under_budget() -> None:
    assert decompress_all(b"plain", Compression.NONE) == b"plain"
    with pytest.raises(SizeLimitError):
        decompress_all(b"plain", Compression.NONE, budget=4)


# ---------------------------------------------------------------------- levels & support


@pytest.mark.parametrize(
    ("algorithm", "level"),
    [(Compression.GZIP, 0), (Compression.GZIP, 10), (Compression.ZSTD, 0), (Compression.ZSTD, 21)],
)
def test_invalid_levels(algorithm: Compression, level: int) -> None:
    high = 9 if algorithm is Compression.GZIP else 20
    message = f"invalid {algorithm.value} compression level {level}: must be 1 to {high}"
    with pytest.raises(InvalidInputError) as info:
        compressing_reader(io.BytesIO(b""), algorithm, level=level)
    assert str(info.value) == message


@pytest.mark.parametrize("algorithm", [Compression.BZIP2, Compression.XZ])
def test_compressing_bzip2_xz_not_supported(algorithm: Compression) -> None:
    with pytest.raises(NotSupportedError, match=f"compressing with {algorithm.value} is not supported"):
        compressing_reader(io.BytesIO(b""), algorithm, level=None)
    with pytest.raises(NotSupportedError):
        compressing_reader(io.BytesIO(b""), algorithm, level=5)


@pytest.mark.parametrize(
    ("name", "compression", "levels", "writable"),
    [
        ("gzip", Compression.GZIP, (1, 9), True),
        ("zstd", Compression.ZSTD, (1, 20), True),
        ("zstd:chunked", Compression.ZSTD, (1, 20), True),
        ("bzip2", Compression.BZIP2, None, False),
        ("xz", Compression.XZ, None, False),
    ],
)
def test_algorithm_registry(
    name: str, compression: Compression, levels: tuple[int, int] | None, writable: bool
) -> None:
    algorithm = algorithm_by_name(name)
    assert (algorithm.name, algorithm.compression, algorithm.writable) == (name, compression, writable)
    if levels is None:
        assert list(algorithm.levels) == []
        with pytest.raises(NotSupportedError):
            algorithm.require_writable()
    else:
        assert list(algorithm.levels) == list(range(levels[0], levels[1] + 1))
        algorithm.require_writable()
        for level in algorithm.levels:  # every level the registry offers can really be written
            packed = compress_all(b"x" * 1000, compression, level)
            assert decompress_all(packed, compression) == b"x" * 1000
    # The magic is what real tools write (the stdlib or zstandard compressor's output).
    assert detect_compression(STDLIB_COMPRESS[compression](b"data")) is compression
    assert STDLIB_COMPRESS[compression](b"data").startswith(algorithm.magic)
    if name == compression.value:
        assert algorithm_for(compression) is algorithm


@pytest.mark.parametrize("name", ["", "none", "GZIP", "gzip ", "zstd:", "lz4"])
def test_unknown_algorithm_names(name: str) -> None:
    with pytest.raises(InvalidInputError, match="unknown compression algorithm"):
        algorithm_by_name(name)


def test_no_algorithm_for_uncompressed_data() -> None:
    assert algorithm_for(Compression.NONE) is None
    assert {a.compression for a in ALGORITHMS} == set(Compression) - {Compression.NONE}


def test_negative_budget_rejected() -> None:
    with pytest.raises(InvalidInputError):
        decompressing_reader(io.BytesIO(b""), Compression.GZIP, budget=-1)


# ------------------------------------------------------------------ concatenation, padding


@pytest.mark.parametrize("algorithm", COMPRESSED)
def test_multi_member(algorithm: Compression) -> None:
    comp = STDLIB_COMPRESS[algorithm]
    packed = comp(b"first ") + comp(b"") + comp(DATA) + comp(b" last")
    assert decompress_all(packed, algorithm) == b"first " + DATA + b" last"
    # The member boundary falling anywhere inside a read chunk must not matter.
    assert decompressing_reader(Trickle(comp(b"a") + comp(b"b"), 3), algorithm, budget=None).read() == b"ab"


def test_pigz_style_gzip_members() -> None:
    members = [gzip.compress(DATA[i : i + 128 * 1024]) for i in range(0, len(DATA), 128 * 1024)]
    assert decompress_all(b"".join(members), Compression.GZIP) == DATA


@pytest.mark.parametrize("algorithm", [Compression.GZIP, Compression.BZIP2, Compression.XZ])
def test_trailing_zero_padding_accepted(algorithm: Compression) -> None:
    packed = STDLIB_COMPRESS[algorithm](b"data") + bytes(10240)
    assert decompress_all(packed, algorithm) == b"data"


@pytest.mark.parametrize("algorithm", COMPRESSED)
@pytest.mark.parametrize("tail", [b"garbage!", b"\x00\x00junk", b"\x01"])
def test_trailing_garbage_rejected(algorithm: Compression, tail: bytes) -> None:
    with pytest.raises(CompressionError):
        decompress_all(STDLIB_COMPRESS[algorithm](b"data") + tail, algorithm)


def test_zstd_trailing_zeros_rejected_like_libzstd() -> None:
    with pytest.raises(CompressionError):
        decompress_all(zstandard.ZstdCompressor().compress(b"data") + bytes(16), Compression.ZSTD)


def test_zstd_skippable_frames_accepted() -> None:
    skippable = (0x184D2A50).to_bytes(4, "little") + (5).to_bytes(4, "little") + b"12345"
    packed = skippable + zstandard.ZstdCompressor().compress(b"data") + skippable
    assert decompress_all(packed, Compression.ZSTD) == b"data"


# ------------------------------------------------------------------- truncation & damage


@pytest.mark.timeout(30)
@pytest.mark.parametrize("algorithm", COMPRESSED)
def test_truncated_input(algorithm: Compression) -> None:
    packed = STDLIB_COMPRESS[algorithm](DATA)
    for cut in (1, 2, 4, 9, 100, len(packed) // 2, len(packed) - 3):
        with pytest.raises(CompressionError):
            decompress_all(packed[: len(packed) - cut], algorithm, n=MiB)


@pytest.mark.timeout(30)
def test_truncated_our_zstd_output() -> None:
    packed = compress_all(DATA, Compression.ZSTD)
    for cut in range(1, 12):
        with pytest.raises(CompressionError):
            decompress_all(packed[:-cut], Compression.ZSTD)


@pytest.mark.parametrize("algorithm", COMPRESSED)
def test_empty_input_is_an_error(algorithm: Compression) -> None:
    with pytest.raises(CompressionError, match="empty"):
        decompress_all(b"", algorithm)


@pytest.mark.parametrize("algorithm", [Compression.GZIP, Compression.ZSTD, Compression.BZIP2, Compression.XZ])
def test_corrupt_mid_stream(algorithm: Compression) -> None:
    data = os.urandom(64 * 1024) * 4  # repeated random data: damage must be detected, not skipped
    packed = bytearray(
        compress_all(data, algorithm)
        if algorithm in (Compression.GZIP, Compression.ZSTD)
        else STDLIB_COMPRESS[algorithm](data)
    )
    for i in (len(packed) // 3, len(packed) // 2):
        damaged = bytearray(packed)
        damaged[i] ^= 0x55
        with pytest.raises(CompressionError):
            decompress_all(bytes(damaged), algorithm)


def test_corrupt_gzip_error_comes_after_some_output_and_is_typed() -> None:
    packed = bytearray(gzip.compress(DATA))
    packed[-6] ^= 1  # CRC32
    reader = decompressing_reader(io.BytesIO(bytes(packed)), Compression.GZIP, budget=None)
    with pytest.raises(CompressionError, match="gzip"):
        while reader.read(MiB):
            pass


def test_source_errors_propagate_unchanged() -> None:
    class Failing(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            raise OSError(5, "Input/output error")

    with pytest.raises(OSError, match="Input/output"):
        decompressing_reader(Failing(), Compression.GZIP, budget=None).read(10)
    with pytest.raises(OSError, match="Input/output"):
        decompressing_reader(Failing(), Compression.ZSTD, budget=None).read(10)
    with pytest.raises(OSError, match="Input/output"):
        compressing_reader(Failing(), Compression.GZIP, level=None).read(10)


def test_close_closes_source() -> None:
    src = io.BytesIO(gzip.compress(b"x"))
    reader = decompressing_reader(src, Compression.GZIP, budget=None)
    reader.close()
    assert src.closed
    src = io.BytesIO(b"x")
    creader = compressing_reader(src, Compression.ZSTD, level=None)
    creader.close()
    assert src.closed


# ------------------------------------------------------------------------------- budgets


@pytest.mark.parametrize("algorithm", COMPRESSED)
def test_budget_exact_and_exceeded(algorithm: Compression) -> None:
    packed = STDLIB_COMPRESS[algorithm](DATA)
    assert decompress_all(packed, algorithm, budget=len(DATA)) == DATA
    reader = decompressing_reader(io.BytesIO(packed), algorithm, budget=len(DATA) - 1)
    returned = 0
    with pytest.raises(SizeLimitError, match=f"decompressed data exceeds the limit of {len(DATA) - 1} bytes"):
        while chunk := reader.read(MiB):
            returned += len(chunk)
    assert returned <= len(DATA) - 1  # never hands out bytes beyond the budget
    with pytest.raises(SizeLimitError):
        reader.read(1)  # stays failed


def test_default_budget() -> None:
    assert DEFAULT_DECOMPRESS_BUDGET == 64 << 30


def _gzip_bomb(total_mib: int) -> Iterator[bytes]:
    """A gzip stream of `total_mib` MiB of zeros, made from one repeated compressed block.

    Z_FULL_FLUSH byte-aligns the output and resets the history, so every 1 MiB of zeros
    compresses to the same ~1 KiB: a 10 MB stream that expands to 10 GB costs nothing to
    produce. (No trailer: the budget must stop the reader long before the end.)
    """
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    first = comp.compress(bytes(MiB)) + comp.flush(zlib.Z_FULL_FLUSH)
    block = comp.compress(bytes(MiB)) + comp.flush(zlib.Z_FULL_FLUSH)
    assert comp.compress(bytes(MiB)) + comp.flush(zlib.Z_FULL_FLUSH) == block
    yield first
    for _ in range(total_mib - 1):
        yield block


@pytest.mark.timeout(60)
def test_gzip_bomb_10mb_to_10gb_stops_at_budget_with_flat_memory() -> None:
    source = GeneratedStream(_gzip_bomb(10 * 1024))  # ~10 MB of gzip -> 10 GiB of zeros
    budget = 512 * MiB
    reader = decompressing_reader(source, Compression.GZIP, budget=budget)
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(SizeLimitError, match=f"limit of {budget} bytes"):
            while reader.read(MiB):
                pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reader.produced <= budget + 1
    # Stopped early: only the compressed bytes for ~budget were pulled from the source.
    assert source.consumed < 2 * MiB
    assert peak < 16 * MiB
    assert time.monotonic() - started < 30


@pytest.mark.timeout(60)
def test_zstd_bomb_stops_at_budget() -> None:
    frame = zstandard.ZstdCompressor(level=19).compress(bytes(64 * MiB))
    assert len(frame) < 64 * 1024
    source = GeneratedStream(iter([frame] * 1000))  # ~64 GiB of zeros
    reader = decompressing_reader(source, Compression.ZSTD, budget=256 * MiB)
    tracemalloc.start()
    try:
        with pytest.raises(SizeLimitError):
            while reader.read(MiB):
                pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert source.consumed < 4 * MiB
    assert peak < 16 * MiB


@pytest.mark.timeout(60)
def test_huge_read_requests_keep_memory_flat() -> None:
    for algorithm, chunks in (
        (Compression.GZIP, _gzip_bomb(1024)),
        (Compression.ZSTD, iter([zstandard.ZstdCompressor(level=19).compress(bytes(64 * MiB))] * 16)),
    ):
        reader = decompressing_reader(GeneratedStream(chunks), algorithm, budget=None)
        tracemalloc.start()
        try:
            for _ in range(20):
                chunk = reader.read(1 << 40)  # asks for 1 TiB in one call
                assert 0 < len(chunk) <= 8 * MiB
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 40 * MiB


@pytest.mark.timeout(60)
def test_compressing_reader_memory_is_flat() -> None:
    total = 128 * MiB
    source = GeneratedStream(iter([os.urandom(256) * 4096] * (total // MiB)))
    reader = compressing_reader(source, Compression.GZIP, level=None)
    tracemalloc.start()
    try:
        out = 0
        while chunk := reader.read(MiB):
            out += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reader.consumed == total
    assert peak < 16 * MiB


# ------------------------------------------------------------------------------ property


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.binary(max_size=20_000),
    algorithm=st.sampled_from([Compression.GZIP, Compression.ZSTD, Compression.NONE]),
    level=st.one_of(st.none(), st.integers(1, 9)),
    read_size=st.integers(1, 5000),
)
def test_property_round_trip(data: bytes, algorithm: Compression, level: int | None, read_size: int) -> None:
    packed = compress_all(data, algorithm, level)
    assert decompress_all(packed, algorithm, n=read_size) == data


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=4096), algorithm=st.sampled_from(COMPRESSED))
def test_property_arbitrary_bytes_only_toolkit_errors(data: bytes, algorithm: Compression) -> None:
    with contextlib.suppress(ToolkitError):
        decompress_all(data, algorithm, budget=MiB)


@settings(max_examples=200, deadline=None)
@given(
    algorithm=st.sampled_from(COMPRESSED),
    position=st.floats(0, 1, exclude_max=True),
    value=st.integers(1, 255),
)
def test_property_damaged_streams_only_toolkit_errors(algorithm: Compression, position: float, value: int) -> None:
    packed = bytearray(STDLIB_COMPRESS[algorithm](DATA[:30_000]))
    packed[int(position * len(packed))] ^= value
    with contextlib.suppress(ToolkitError):
        decompress_all(bytes(packed), algorithm, budget=MiB)


def test_the_names_table_is_the_algorithms_table() -> None:
    """toolkit.compression_names (what the CLI's help reads) and ALGORITHMS cannot drift apart."""
    from toolkit.compression_names import LEVELS

    assert {a.name: a.levels for a in ALGORITHMS} == dict(LEVELS)
    assert all(a.writable == bool(a.levels) for a in ALGORITHMS)
