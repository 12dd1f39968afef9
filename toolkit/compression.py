"""Streaming compression and decompression of blobs (layer 1: stdlib, isal, zstandard).

This is the only module that imports `isal` and `zstandard` (tests/unit/test_layers.py).

Contract:
- All compressed input is **untrusted**. Every failure of a decoder (corrupt data,
  truncated input, trailing garbage, a checksum mismatch) raises `CompressionError`; a
  decompressed stream longer than its `budget` raises `SizeLimitError` ("decompressed data
  exceeds the limit of N bytes") as soon as byte N+1 is produced, so a gzip bomb stops early.
  Errors of the *input stream itself* (an `OSError` from a file, a `ToolkitError` from a
  verifying reader) propagate unchanged.
- Memory stays flat: a reader never holds more than one input chunk (`CHUNK_SIZE`) plus
  the output asked for by one `read(n)` call, whatever the data's compression ratio.
- `read(n)` returns at most `n` bytes (possibly fewer, like a raw stream: loop) and `b""`
  only at the end of the data. The readers are not thread-safe (one consumer per reader).
- `algorithm_by_name` / `algorithm_for` / `ALGORITHMS`: the one table of what each
  compression is called, how its streams start and which levels a writer accepts.
- `PrefixedReader`, `ReadAheadReader` and `Readable` live in `toolkit.streams` and are
  re-exported here.
- Output of `compressing_reader` is a standard single gzip member (RFC 1952) or a
  single zstd frame with a content checksum, readable by `gzip -d`, `zstd -d` and Go's
  `compress/gzip` / `klauspost/compress/zstd`.
"""

from __future__ import annotations

import io
import logging
import zlib
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import IO, TYPE_CHECKING, Any, Final, Protocol, cast

from toolkit._record import record
from toolkit.compression_names import LEVELS
from toolkit.digest import CHUNK_SIZE, ReadIntoFromRead
from toolkit.errors import InvalidInputError, NotSupportedError, SizeLimitError, ToolkitError, safe_text
from toolkit.streams import (
    READ_AHEAD_DEPTH,
    ChunkBuffers,
    PrefixedReader,
    Readable,
    ReadAheadReader,
    native_readinto,
    read_to_end,
    readinto_from,
)
from toolkit.types import Compression

if TYPE_CHECKING:
    import zstandard

# isal, zstandard, bz2 and lzma are imported by the first reader or writer that needs them:
# a copy that passes blobs through as they are (most copies) never loads them (~2 MiB of
# resident memory and their import time).

__all__ = [
    "Algorithm",
    "ALGORITHMS",
    "algorithm_by_name",
    "algorithm_for",
    "CompressionError",
    "DEFAULT_DECOMPRESS_BUDGET",
    "DEFAULT_GZIP_LEVEL",
    "DEFAULT_ZSTD_LEVEL",
    "Readable",
    "DecompressingReader",
    "CompressingReader",
    "PrefixedReader",
    "ReadAheadReader",
    "READ_AHEAD_DEPTH",
    "detect_compression",
    "peek_compression",
    "decompressing_reader",
    "compressing_reader",
]

logger = logging.getLogger(__name__)

#: Default cap on the bytes one decompressed stream may produce (64 GiB).
#:
#: Why this value: it is above the uncompressed size of any single layer or archive seen
#: in practice (the largest public images, CUDA/ML stacks, stay far below 64 GiB per
#: layer), so real images work with no flag; and it bounds the work a decompression bomb
#: can cause (~1 minute of CPU at isal speed, and for spooling, the temp file size, which
#: `TarIndex.from_stream` additionally caps at the free space of the temp directory).
#: Callers with a user setting (`SystemContext.max_decompressed_size`) pass it as `budget`;
#: tests pass small explicit budgets.
DEFAULT_DECOMPRESS_BUDGET: Final = 64 << 30

#: isal level used when no level is requested. Measured on a 170 MB tar of Python
#: packages: isal 1 and 2 both run at ~350-450 MB/s (stdlib zlib level 1: ~90 MB/s);
#: level 2 compresses slightly better (0.334 vs 0.339), level 3 is ~2x slower for 1%.
DEFAULT_GZIP_LEVEL: Final = 2
#: zstd's own default level (c/image's default too).
DEFAULT_ZSTD_LEVEL: Final = 3

_GZIP_MAGIC: Final = b"\x1f\x8b\x08"
_ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"
_BZIP2_MAGIC: Final = b"BZh"
_XZ_MAGIC: Final = b"\xfd7zXZ\x00"


@record
class Algorithm:
    """One compression algorithm by its name (c/image `pkg/compression` `Algorithm`).

    - `name`: as on the command line (`--dest-compress-format`) and in c/image.
    - `compression`: the `Compression` value of the bytes it produces.
    - `magic`: the bytes every stream of it starts with.
    - `levels`: the explicit levels a writer accepts (empty when it cannot write); without
      one, gzip is written at `DEFAULT_GZIP_LEVEL` and zstd at `DEFAULT_ZSTD_LEVEL`.
    - `unwritable`: why skopo cannot write it (the error's text), None when it can.
    """

    name: str
    compression: Compression
    magic: bytes
    levels: range = range(0)
    unwritable: str | None = None

    @property
    def writable(self) -> bool:
        """True if `compressing_reader` can produce it."""
        return self.unwritable is None

    def require_writable(self) -> None:
        """Raise `NotSupportedError` (with `unwritable` as the message) unless writable."""
        if self.unwritable is not None:
            raise NotSupportedError(self.unwritable)


def _not_in_manifests(name: str) -> str:
    # c/image's words when no manifest format can describe layers of this compression.
    return f"compression using {name} required, but none of the known manifest formats support it"


#: Every algorithm skopo knows by name, as c/image's `pkg/compression` registers them (names
#: and levels: `toolkit.compression_names.LEVELS`).
ALGORITHMS: Final[tuple[Algorithm, ...]] = (
    Algorithm("gzip", Compression.GZIP, _GZIP_MAGIC, LEVELS["gzip"]),
    Algorithm("zstd", Compression.ZSTD, _ZSTD_MAGIC, LEVELS["zstd"]),
    Algorithm("zstd:chunked", Compression.ZSTD, _ZSTD_MAGIC, LEVELS["zstd:chunked"]),
    Algorithm("bzip2", Compression.BZIP2, _BZIP2_MAGIC, LEVELS["bzip2"], unwritable=_not_in_manifests("bzip2")),
    Algorithm("xz", Compression.XZ, _XZ_MAGIC, LEVELS["xz"], unwritable=_not_in_manifests("xz")),
)
_BY_NAME: Final[Mapping[str, Algorithm]] = MappingProxyType({a.name: a for a in ALGORITHMS})
#: The base algorithm of each compressed `Compression` (the one named by its value).
_BY_COMPRESSION: Final[Mapping[Compression, Algorithm]] = MappingProxyType(
    {a.compression: a for a in ALGORITHMS if a.name == a.compression.value}
)


def algorithm_by_name(name: str) -> Algorithm:
    """The algorithm called `name` (c/image `AlgorithmByName`): gzip, zstd, zstd:chunked,
    bzip2 or xz. Raises `InvalidInputError('unknown compression algorithm "NAME"')` for any
    other name (`name` is untrusted; it is sanitised in the message)."""
    found = _BY_NAME.get(name)
    if found is None:
        raise InvalidInputError(f'unknown compression algorithm "{safe_text(name)}"')
    return found


def algorithm_for(compression: Compression) -> Algorithm | None:
    """The algorithm whose bytes `compression` names (None for `Compression.NONE`)."""
    return _BY_COMPRESSION.get(compression)


#: Largest output produced by one read() call (a caller asking for more gets less).
_MAX_READ: Final = 8 * CHUNK_SIZE
#: `readinto` fills the caller's buffer from decoder outputs of at most this size: small
#: transient allocations, which the allocator reuses (1 MiB ones it keeps growing).
_PIECE: Final = 256 << 10
#: Input chunk of a decoder reading into its own buffers (hashed by the source's thread
#: while the decoder works on it).
_IN_CHUNK: Final = 256 << 10
#: Bytes needed by `detect_compression` to decide.
SNIFF_SIZE: Final = 6


class CompressionError(ToolkitError):
    """Compressed data is corrupt, truncated or not in the announced format."""


def detect_compression(prefix: bytes) -> Compression:
    """The compression of data starting with `prefix` (by magic number), else NONE.

    Pass at least `SNIFF_SIZE` bytes when available; shorter prefixes only match the
    formats whose magic they contain completely. Never raises.
    """
    for algorithm in _BY_COMPRESSION.values():  # no magic is a prefix of another
        if prefix.startswith(algorithm.magic):
            return algorithm.compression
    return Compression.NONE


def _read_at_least(stream: Readable, n: int) -> bytes:
    """Read until `n` bytes or EOF (a stream may return short reads)."""
    parts: list[bytes] = []
    have = 0
    while have < n:
        chunk = stream.read(n - have)
        if not chunk:
            break
        parts.append(chunk)
        have += len(chunk)
    return b"".join(parts)


def peek_compression(stream: Readable) -> tuple[Compression, PrefixedReader]:
    """Sniff the compression of `stream` and return it with a reader that loses no bytes.

    Reads up to `SNIFF_SIZE` bytes; use the returned reader (not `stream`) afterwards.
    Closing the returned reader closes `stream`. Raises only what `stream.read` raises.
    """
    prefix = _read_at_least(stream, SNIFF_SIZE)
    return detect_compression(prefix), PrefixedReader(prefix, stream)


# --------------------------------------------------------------------------- decompression


class _Decompressor(Protocol):
    """The bz2/lzma/isal incremental decompressor API."""

    @property
    def eof(self) -> bool:
        """True once the end of the member (stream) was decoded."""
        ...

    @property
    def needs_input(self) -> bool:
        """True if `decompress` needs more input before it can produce output."""
        ...

    @property
    def unused_data(self) -> bytes:
        """Input given after the end of the member (the next member, padding or garbage)."""
        ...

    def decompress(self, data: bytes | memoryview, max_length: int = -1) -> bytes:
        """Decode `data` (plus what is buffered), returning at most `max_length` bytes;
        raises one of `_decoder_errors()` for bad data."""
        ...


def _new_gzip() -> _Decompressor:
    # isal checks the gzip header, CRC32 and ISIZE, ~2-3x faster than zlib.
    from isal import igzip_lib

    return igzip_lib.IgzipDecompressor(flag=igzip_lib.DECOMP_GZIP, hist_bits=igzip_lib.MAX_HIST_BITS)


def _new_bzip2() -> _Decompressor:
    import bz2

    return bz2.BZ2Decompressor()


def _new_xz() -> _Decompressor:
    import lzma

    return lzma.LZMADecompressor(format=lzma.FORMAT_XZ)


def _decoder_errors() -> tuple[type[BaseException], ...]:
    """Exceptions the decoders raise for bad data (wrapped into CompressionError). Called
    by `except` clauses only once an exception is raised (a decoder exists by then)."""
    import lzma

    from isal import igzip_lib, isal_zlib

    # (isal's stubs declare its exception classes as instances, hence the casts.)
    return (
        cast("type[BaseException]", igzip_lib.IsalError),
        cast("type[BaseException]", isal_zlib.error),
        zlib.error,
        lzma.LZMAError,
        EOFError,
        ValueError,
        OSError,  # bz2 reports "Invalid data stream" as OSError
    )


class DecompressingReader(ReadIntoFromRead, io.RawIOBase):
    """A readable stream of the decompressed bytes of `stream` (see the module contract).

    Concatenated members/streams (multi-member gzip as written by pigz, concatenated bzip2
    or xz streams, multiple zstd frames) are decompressed in sequence. After the last
    member only zero bytes may follow (tape padding; gzip and xz tools accept it), anything
    else raises `CompressionError`. Empty input raises `CompressionError` (no data at all
    is not a valid compressed stream). `Compression.NONE` passes bytes through, still
    under the budget.

    `produced` counts the bytes returned so far. Closing closes the source stream.
    """

    def __init__(self, stream: Readable, algorithm: Compression, *, budget: int | None) -> None:
        super().__init__()
        if budget is not None and budget < 0:
            raise InvalidInputError(f"invalid decompression budget {budget}")
        self._src = stream
        self._algorithm = algorithm
        self._budget = DEFAULT_DECOMPRESS_BUDGET if budget is None else budget
        self.produced = 0
        self._done = False
        self._what = algorithm.value
        self._factory: Callable[[], _Decompressor] | None = None
        self._zreader: zstandard.ZstdDecompressionReader | None = None
        self._walker: _ZstdFrameWalker | None = None
        if algorithm is Compression.GZIP:
            self._factory = _new_gzip
        elif algorithm is Compression.BZIP2:
            self._factory = _new_bzip2
        elif algorithm is Compression.XZ:
            self._factory = _new_xz
        elif algorithm is Compression.ZSTD:
            import zstandard

            self._walker = _ZstdFrameWalker()
            tee = _TeeReader(stream, self._walker)
            # read_across_frames: a blob may hold several frames (zstd:chunked, pzstd).
            self._zreader = zstandard.ZstdDecompressor().stream_reader(
                cast("IO[bytes]", tee), read_size=CHUNK_SIZE, read_across_frames=True, closefd=False
            )
        elif algorithm is not Compression.NONE:  # pragma: no cover - enum is closed
            raise NotSupportedError(f"decompressing {algorithm.value} is not supported")
        self._dec: _Decompressor | None = self._factory() if self._factory else None
        self._pending = b""  # input read from the source but not yet given to _dec
        self._started = False  # any input seen at all
        # Input read into two reused buffers when the source can fill them (the decoder
        # copies what it does not consume at once, so a buffer is free after `decompress`).
        self._inbufs = ChunkBuffers(2, _IN_CHUNK) if self._dec is not None and native_readinto(stream) else None
        self._deferred: Exception | None = None  # raised by the next call (see readinto)

    def readable(self) -> bool:
        """Always True."""
        return True

    def read(self, n: int | None = -1, /) -> bytes:
        """Up to `n` (at most `_MAX_READ`) decompressed bytes; `b""` at the clean end.

        `n` None or negative reads to the end. Raises `CompressionError` for bad, truncated
        or trailing data, `SizeLimitError` as soon as the budget is exceeded (the bytes
        over it are never returned); errors of the source propagate.
        """
        if n is None or n < 0:
            return read_to_end(self)
        if self._deferred is not None:
            raise self._deferred
        if n == 0 or self._done:
            return b""
        if self.produced > self._budget:
            self._over_budget()
        # Ask for one byte more than the budget allows so an overrun is seen, never returned;
        # and never more than _MAX_READ at once, whatever the caller asks (flat memory).
        want = min(n, _MAX_READ, self._budget - self.produced + 1)
        out = self._read_some(want)
        if not out:
            self._done = True
            return b""
        self.produced += len(out)
        if self.produced > self._budget:
            self._over_budget()
        return out

    #: The decoders produce fresh `bytes`: `readinto` is a copy (consumers do better with `read`).
    copies_on_readinto = True

    def readinto(self, buffer: Any) -> int:
        """Fill `buffer` with decompressed bytes (as far as the data goes); 0 at the clean
        end. An error after some bytes were filled is raised by the next call, so the bytes
        before it are delivered in order, as `read` would."""
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view):
            try:
                out = self.read(min(len(view) - filled, _PIECE))
            except Exception as exc:
                if not filled:
                    raise
                self._deferred = exc
                break
            if not out:
                break
            view[filled : filled + len(out)] = out
            filled += len(out)
        return filled

    def _fill(self) -> bytes | memoryview:
        """The next input chunk (empty at the end of the source)."""
        if self._inbufs is None:
            return self._src.read(CHUNK_SIZE)
        view = self._inbufs.next()
        return view[: readinto_from(self._src, view)]  # the source's hash thread may read it too

    def _over_budget(self) -> None:
        raise SizeLimitError(f"decompressed data exceeds the limit of {self._budget} bytes")

    def _read_some(self, n: int) -> bytes:
        if self._zreader is not None:
            return self._read_zstd(n)
        if self._dec is None:
            return self._src.read(n)
        return self._read_incremental(n)

    def _read_zstd(self, n: int) -> bytes:
        assert self._zreader is not None and self._walker is not None
        import zstandard

        try:
            out = self._zreader.read(n)
        except zstandard.ZstdError as exc:
            raise CompressionError(f"decompressing zstd data: {_describe(exc)}") from exc
        self._walker.check()
        if not out:
            # stream_reader ends silently on a truncated frame: the walker knows better.
            self._walker.check_complete()
        return out

    def _read_incremental(self, n: int) -> bytes:
        dec = self._dec
        assert dec is not None
        idle_rounds = 0
        while True:
            if dec.eof:
                nxt = self._next_member(dec.unused_data)
                if nxt is None:
                    return b""
                dec = self._dec = nxt
                continue
            if dec.needs_input:
                chunk = self._pending or self._fill()
                self._pending = b""
                if not chunk:
                    if not self._started:
                        raise CompressionError(f"decompressing {self._what} data: empty input")
                    raise CompressionError(f"decompressing {self._what} data: unexpected end of data")
                self._started = True
            else:
                chunk = b""
            try:
                out = dec.decompress(chunk, n)
            except _decoder_errors() as exc:
                # Only the decoder runs here, so even an OSError (bz2) means bad data.
                raise CompressionError(f"decompressing {self._what} data: {_describe(exc)}") from exc
            if out:
                return out
            idle_rounds += 1
            if idle_rounds > 1_000_000:  # pragma: no cover - defensive against a stuck decoder
                raise CompressionError(f"decompressing {self._what} data: decoder made no progress")

    def _next_member(self, leftover: bytes) -> _Decompressor | None:
        """After one member ended: start the next one, or return None at a clean end."""
        assert self._factory is not None
        data = leftover or self._src.read(CHUNK_SIZE)
        if not data:
            return None
        if data[0] != 0:
            # Right after a member: the next member (pigz, concatenated files) or garbage.
            magic = _BY_COMPRESSION[self._algorithm].magic
            if not data.startswith(magic[: len(data)]):
                raise CompressionError(f"decompressing {self._what} data: trailing garbage after compressed data")
            self._pending = data
            return self._factory()
        # Zero padding (tape blocking; gzip and xz tools accept it): only zeros may follow.
        while data:
            if data.strip(b"\0"):
                raise CompressionError(f"decompressing {self._what} data: trailing garbage after compressed data")
            data = self._src.read(CHUNK_SIZE)
        return None

    def close(self) -> None:
        """Release the decoder and close the source stream. Idempotent."""
        if not self.closed:
            self._dec = None
            if self._zreader is not None:
                self._zreader.close()  # type: ignore[no-untyped-call]
            close = getattr(self._src, "close", None)
            if close is not None:
                close()
            if self._inbufs is not None:
                self._inbufs.close()
                self._inbufs = None
        super().close()


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


class _TeeReader:
    """Passes reads through, showing every chunk to the zstd frame walker."""

    def __init__(self, stream: Readable, walker: _ZstdFrameWalker) -> None:
        self._stream = stream
        self._walker = walker

    def read(self, n: int = -1, /) -> bytes:
        """`stream.read(n)`, after showing the bytes to the walker."""
        data = self._stream.read(n)
        self._walker.feed(data)
        return data


class _ZstdFrameWalker:
    """Follows zstd framing (RFC 8878 §3.1) over the compressed bytes, skipping payloads.

    python-zstandard's `stream_reader` reports a truncated frame as a normal EOF; this
    walker tells whether the input ended on a frame boundary. It never raises from
    `feed` (which runs inside the decoder's read callback); errors surface in `check`.
    """

    _ZSTD = int.from_bytes(_ZSTD_MAGIC, "little")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._want = 4
        self._state = "magic"
        self._skip = 0
        self._after_skip = "magic"
        self._checksum = False
        self._last_block = False
        self._frames = 0
        self._seen = 0
        self._eof = False
        self._error: str | None = None

    def feed(self, data: bytes) -> None:
        """Follow the framing over the next compressed bytes (`b""`: the input ended).
        Never raises: a framing error is kept for `check`."""
        if self._error is not None:
            return
        if not data:
            self._eof = True
            return
        self._seen += len(data)
        view = memoryview(data)
        pos, end = 0, len(view)
        while pos < end:
            if self._skip:
                k = min(self._skip, end - pos)
                self._skip -= k
                pos += k
                if not self._skip:
                    self._finish_skip()
                continue
            k = min(self._want - len(self._buf), end - pos)
            self._buf += view[pos : pos + k]
            pos += k
            if len(self._buf) == self._want:
                field = bytes(self._buf)
                self._buf.clear()
                self._on_field(field)
                if self._error is not None:
                    return

    def _expect(self, state: str, want: int) -> None:
        self._state, self._want = state, want

    def _skip_then(self, count: int, after: str) -> None:
        self._after_skip = after
        if count:
            self._skip = count
        else:
            self._finish_skip()

    def _finish_skip(self) -> None:
        if self._after_skip == "block_end":
            self._block_done()
        else:  # end of a skippable frame
            self._frames += 1
            self._expect("magic", 4)

    def _block_done(self) -> None:
        if self._last_block:
            if self._checksum:
                self._expect("checksum", 4)
            else:
                self._frames += 1
                self._expect("magic", 4)
        else:
            self._expect("block", 3)

    def _on_field(self, field: bytes) -> None:
        state = self._state
        if state == "magic":
            magic = int.from_bytes(field, "little")
            if magic == self._ZSTD:
                self._expect("fhd", 1)
            elif magic & 0xFFFFFFF0 == 0x184D2A50:
                self._expect("skippable", 4)
            else:
                self._error = "unknown frame magic"
        elif state == "fhd":
            d = field[0]
            fcs_flag, single = d >> 6, (d >> 5) & 1
            if d & 0x08:
                self._error = "reserved frame header bit set"
                return
            self._checksum = bool(d & 0x04)
            rest = (0 if single else 1) + (0, 1, 2, 4)[d & 3] + ((1 if single else 0), 2, 4, 8)[fcs_flag]
            if rest:
                self._expect("header", rest)
            else:
                self._expect("block", 3)
        elif state == "header":
            self._expect("block", 3)
        elif state == "block":
            h = int.from_bytes(field, "little")
            self._last_block = bool(h & 1)
            block_type, size = (h >> 1) & 3, h >> 3
            if block_type == 3:
                self._error = "reserved block type"
                return
            self._skip_then(1 if block_type == 1 else size, "block_end")
        elif state == "checksum":
            self._frames += 1
            self._expect("magic", 4)
        elif state == "skippable":
            self._skip_then(int.from_bytes(field, "little"), "frame_end")

    def check(self) -> None:
        """Raise `CompressionError` if the bytes seen so far break the zstd framing."""
        if self._error is not None:
            raise CompressionError(f"decompressing zstd data: {self._error}")

    def check_complete(self) -> None:
        """At EOF of the decoded output: the input must have ended on a frame boundary."""
        self.check()
        if self._seen == 0:
            raise CompressionError("decompressing zstd data: empty input")
        if not (self._state == "magic" and not self._buf and not self._skip and self._frames):
            raise CompressionError("decompressing zstd data: unexpected end of data")


def decompressing_reader(stream: Readable, algorithm: Compression, *, budget: int | None) -> DecompressingReader:
    """Decompress `stream` (untrusted) as `algorithm`, producing at most `budget` bytes.

    `budget` None means `DEFAULT_DECOMPRESS_BUDGET`. See `DecompressingReader`.
    """
    return DecompressingReader(stream, algorithm, budget=budget)


# ----------------------------------------------------------------------------- compression


class _Compressor(Protocol):
    """The zlib/isal compressobj API (zstd through `_ZstdCompressor`)."""

    def compress(self, data: bytes, /) -> bytes:
        """Compressed bytes for `data` (possibly none yet: the encoder buffers)."""
        ...

    def flush(self) -> bytes:
        """The rest of the compressed stream, ending it."""
        ...


class CompressingReader(ReadIntoFromRead, io.RawIOBase):
    """Pull-based compression: `read(n)` returns compressed bytes of `stream`.

    Reads the uncompressed input in `CHUNK_SIZE` pieces; holds at most one compressed
    chunk of output. Errors of `stream` propagate unchanged. Closing closes `stream`.
    `consumed` counts the uncompressed bytes read from the source so far.
    """

    def __init__(self, stream: Readable, compressor: _Compressor | None) -> None:
        super().__init__()
        self._src = stream
        self._comp = compressor
        self._out = b""
        self._out_pos = 0
        self._src_done = False
        self.consumed = 0

    def readable(self) -> bool:
        """Always True."""
        return True

    def read(self, n: int | None = -1, /) -> bytes:
        """Up to `n` compressed bytes; `b""` once the stream is complete (after the
        compressor's final flush). `n` None or negative reads to the end. Errors of the
        source propagate unchanged."""
        if n is None or n < 0:
            return read_to_end(self)
        if n == 0:
            return b""
        while self._out_pos >= len(self._out):
            if self._src_done:
                return b""
            self._refill()
        out = self._out[self._out_pos : self._out_pos + n]
        self._out_pos += len(out)
        return out

    def _refill(self) -> None:
        data = self._src.read(CHUNK_SIZE)
        self._out_pos = 0
        if data:
            self.consumed += len(data)
            self._out = self._comp.compress(data) if self._comp else data
        else:
            self._src_done = True
            self._out = self._comp.flush() if self._comp else b""

    def close(self) -> None:
        """Close the source stream. Idempotent."""
        if not self.closed:
            close = getattr(self._src, "close", None)
            if close is not None:
                close()
        super().close()


def compressing_reader(stream: Readable, algorithm: Compression, *, level: int | None) -> CompressingReader:
    """Compress `stream` as `algorithm` on the fly (pull-based, flat memory).

    - GZIP: `level` None → isal at `DEFAULT_GZIP_LEVEL` (fast); an explicit level 1-9 →
      stdlib zlib with exactly that level (isal has only levels 0-3).
    - ZSTD: `level` None → `DEFAULT_ZSTD_LEVEL`; explicit 1-20. One frame, with checksum.
    - NONE: bytes pass through unchanged (`level` ignored).
    Raises `InvalidInputError` for a level out of range, `NotSupportedError` for
    bzip2/xz (containers/image cannot write those either).
    """
    if algorithm is Compression.NONE:
        return CompressingReader(stream, None)
    spec = algorithm_for(algorithm)
    if spec is None or not spec.writable:
        raise NotSupportedError(f"compressing with {algorithm.value} is not supported")
    if level is not None and level not in spec.levels:
        raise InvalidInputError(
            f"invalid {spec.name} compression level {level}: must be {spec.levels[0]} to {spec.levels[-1]}"
        )
    if algorithm is Compression.GZIP:
        if level is None:
            from isal import isal_zlib

            comp: _Compressor = isal_zlib.compressobj(DEFAULT_GZIP_LEVEL, isal_zlib.DEFLATED, 31)
        else:
            comp = zlib.compressobj(level, zlib.DEFLATED, 31)
        return CompressingReader(stream, comp)
    import zstandard

    cctx = zstandard.ZstdCompressor(level=DEFAULT_ZSTD_LEVEL if level is None else level, write_checksum=True)
    return CompressingReader(stream, _ZstdCompressor(cctx.compressobj()))


class _ZstdCompressor:
    """Adapts zstandard's compressobj (whose flush takes a mode) to `_Compressor`."""

    def __init__(self, obj: zstandard.ZstdCompressionObj) -> None:
        self._obj = obj

    def compress(self, data: bytes, /) -> bytes:
        """Compressed bytes for `data` (possibly none yet)."""
        return self._obj.compress(data)

    def flush(self) -> bytes:
        """End the frame (with its checksum) and return the rest."""
        import zstandard

        return self._obj.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)
