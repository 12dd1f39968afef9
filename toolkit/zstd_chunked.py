"""zstd:chunked: writing it as a stream, and checking its table of contents (layer 1).

The format is containers/storage `pkg/chunked` as skopeo 1.9.3 writes it (c/storage 1.43):
a zstd stream in which every file's content starts a new frame and every content-defined
chunk of it is a frame of its own, followed by two skippable frames: the table of contents
(TOC, zstd-compressed JSON) and a 40-byte footer ending in `GnUlInUx`. A reader that knows
nothing of chunks decompresses it as plain zstd (skippable frames are ignored) and gets the
layer tar back byte for byte. The TOC's digest and position go into the layer descriptor's
annotations (`io.containers.zstd-chunked.manifest-checksum` / `-manifest-position`).

- `ZstdChunkedWriter(tar_stream, level=None)`: pull-based like `compression.CompressingReader`:
  `read(n)` returns the zstd:chunked bytes of the tar it reads; after EOF, `annotations()`
  gives the two annotations. Memory is bounded (at most one 256 KiB frame of input, one TOC
  entry per tar entry) whatever the layer size.
  Chunks follow c/storage's rolling checksum (bup rollsum, 64-byte window, split where the
  low 16 bits are all ones; runs of 1024 or more zero bytes are "zeros" chunks), so chunk
  digests match what c/storage computes for the same files; a chunk longer than 256 KiB is
  written as several frames (readers decode a chunk's byte range as concatenated frames).
  Unlike c/storage 1.43, the bytes after the tar's end-of-archive blocks are kept, so the
  decompressed layer still matches its diffID.
- `TOCVerifier(stream, annotations)`: passes a (zstd:chunked) blob through unchanged and,
  before it reports EOF, checks the TOC the annotations point at: a well-formed position
  inside the blob, the sha256 of the compressed TOC, its declared sizes (at most
  `MAX_TOC_SIZE`), valid JSON of the TOC format, every entry's offsets inside the data part
  of the blob, and the footer (when present) agreeing with the annotation. A failure raises
  `ChunkedTOCError`, never returns EOF, so a destination never commits the blob.
- `toc_annotations(annotations)`: the (checksum, position) pair of either annotation
  family (skopeo 1.9.3's `io.containers.*` or current c/storage's `io.github.containers.*`).

Everything read is untrusted: the tar stream (a malformed tar raises `ChunkedTOCError` with
the reason) and the TOC. This module and `compression.py` are the only users of `zstandard`;
`numpy` (for the rolling checksum, which must look at every byte) is used only here.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import struct
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from toolkit._lazy import lazy_pattern
from toolkit.compression import CompressionError
from toolkit.digest import ReadIntoFromRead, pass_through
from toolkit.streams import Readable, read_to_end

if TYPE_CHECKING:
    import numpy

__all__ = [
    "CHECKSUM_KEY",
    "POSITION_KEY",
    "CHECKSUM_KEYS",
    "POSITION_KEYS",
    "DEFAULT_LEVEL",
    "MAX_TOC_SIZE",
    "ChunkedTOCError",
    "ZstdChunkedWriter",
    "TOCVerifier",
    "toc_annotations",
    "is_chunked_annotation",
]

#: The annotations skopeo 1.9.3 (c/storage 1.43) writes, and skopo writes.
CHECKSUM_KEY: Final = "io.containers.zstd-chunked.manifest-checksum"
POSITION_KEY: Final = "io.containers.zstd-chunked.manifest-position"
#: Current c/storage's names for the same values (read, never written).
_NEW_CHECKSUM_KEY: Final = "io.github.containers.zstd-chunked.manifest-checksum"
_NEW_POSITION_KEY: Final = "io.github.containers.zstd-chunked.manifest-position"
CHECKSUM_KEYS: Final = (CHECKSUM_KEY, _NEW_CHECKSUM_KEY)
POSITION_KEYS: Final = (POSITION_KEY, _NEW_POSITION_KEY)
_ANNOTATION_PREFIXES: Final = ("io.containers.zstd-chunked.", "io.github.containers.zstd-chunked.")

#: c/storage's level when none is asked for.
DEFAULT_LEVEL: Final = 10
#: Largest compressed or uncompressed TOC accepted (c/storage 1.43's limit).
MAX_TOC_SIZE: Final = 50 << 20

_SKIPPABLE_MAGIC: Final = b"\x50\x2a\x4d\x18"
_FOOTER_MAGIC: Final = b"GnUlInUx"  # c/storage <= 1.46, 40-byte footer
_NEW_FOOTER_MAGIC: Final = b"GNUlInUx"  # c/storage >= 1.50, 64-byte footer
_MANIFEST_TYPE_CRFS: Final = 1
_ROLLSUM_MASK: Final = 0xFFFF
_WINDOW: Final = 64
_HOLE_THRESHOLD: Final = 1024
_ZERO_RUN: Final = b"\0" * _HOLE_THRESHOLD
#: Compression level of the TOC frame (at most the layer's).
_TOC_LEVEL: Final = 3
#: Largest input of one zstd frame (a longer chunk is written as consecutive frames).
_FRAME_INPUT: Final = 256 << 10  # a level-10 context for it costs ~3 MiB (~10 MiB for 1 MiB)
#: rollsum: s2 after byte i is 64*63*31 + sum_{k<64} (k+1)*b[i-k] (mod 2**32); a split is
#: where its low 16 bits are all ones, i.e. where that weighted sum hits this residue.
_SPLIT_RESIDUE: Final = (0xFFFF - _WINDOW * (_WINDOW - 1) * 31) & 0xFFFF

_TAR_TYPES: Final = {
    b"0": "reg",
    b"\0": "reg",
    b"1": "hardlink",
    b"2": "symlink",
    b"3": "char",
    b"4": "block",
    b"5": "dir",
    b"6": "fifo",
}
_HEADER_ONLY: Final = frozenset({"hardlink", "symlink", "char", "block", "dir", "fifo"})
_TOC_TYPES: Final = frozenset({*_TAR_TYPES.values(), "chunk"})
_DIGEST_RE: Final = lazy_pattern(r"sha256:[0-9a-f]{64}")  # zstd:chunked TOCs only


class ChunkedTOCError(CompressionError):
    """A zstd:chunked TOC (or the tar being made into one) is malformed or does not match."""


def is_chunked_annotation(key: str) -> bool:
    """True for an annotation key of either zstd:chunked family."""
    return key.startswith(_ANNOTATION_PREFIXES)


def toc_annotations(annotations: Mapping[str, str]) -> tuple[str, str] | None:
    """(checksum, position) from either annotation family, or None when the layer has no
    TOC annotation. Raises `ChunkedTOCError` when only one of the pair is there, or the two
    families disagree."""
    found: list[tuple[str, str]] = []
    for checksum_key, position_key in zip(CHECKSUM_KEYS, POSITION_KEYS, strict=True):
        checksum, position = annotations.get(checksum_key), annotations.get(position_key)
        if checksum is None and position is None:
            continue
        if checksum is None or position is None:
            missing = checksum_key if checksum is None else position_key
            raise ChunkedTOCError(f"invalid zstd:chunked annotations: {missing} is missing")
        found.append((checksum, position))
    if not found:
        return None
    if len(found) > 1 and found[0] != found[1]:
        raise ChunkedTOCError("invalid zstd:chunked annotations: the two annotation families disagree")
    return found[0]


# ------------------------------------------------------------------------------- tar input


class _Input:
    """Exact reads from the tar stream (one buffered chunk, read by offset: no copies)."""

    def __init__(self, stream: Readable) -> None:
        self._stream = stream
        self._buf = b""
        self._pos = 0

    def _fill(self) -> bool:
        self._buf, self._pos = self._stream.read(_FRAME_INPUT), 0
        return bool(self._buf)

    def read_exact(self, n: int, what: str) -> bytes:
        parts = []
        need = n
        while need:
            if self._pos >= len(self._buf) and not self._fill():
                raise ChunkedTOCError(f"invalid tar layer: unexpected end of data in {what}")
            part = self._buf[self._pos : self._pos + need]
            self._pos += len(part)
            need -= len(part)
            parts.append(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def read_some(self, n: int) -> bytes:
        """Up to `n` bytes (b"" at the end)."""
        if self._pos >= len(self._buf) and not self._fill():
            return b""
        part = self._buf[self._pos : self._pos + n]
        self._pos += len(part)
        return part


def _octal(field: bytes, what: str) -> int:
    if field and field[0] & 0x80:
        # base-256 (GNU): big-endian two's complement in the remaining bits
        value = int.from_bytes(field, "big") & ~(0x80 << (8 * (len(field) - 1)))
        if field[0] & 0x40:
            value -= 1 << (8 * len(field) - 1)
        return value
    text = field.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise ChunkedTOCError(f"invalid tar layer: bad number in the {what} field") from None


def _cstring(field: bytes) -> bytes:
    return field.split(b"\0", 1)[0]


def _parse_pax(data: bytes) -> dict[bytes, bytes]:
    records: dict[bytes, bytes] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:
            break
        space = data.find(b" ", pos)
        if space < 0:
            raise ChunkedTOCError("invalid tar layer: malformed PAX record")
        try:
            length = int(data[pos:space])
        except ValueError:
            raise ChunkedTOCError("invalid tar layer: malformed PAX record length") from None
        end = pos + length
        if length <= 0 or end > len(data) or data[end - 1 : end] != b"\n":
            raise ChunkedTOCError("invalid tar layer: malformed PAX record")
        key, sep, value = data[space + 1 : end - 1].partition(b"=")
        if not sep:
            raise ChunkedTOCError("invalid tar layer: malformed PAX record")
        records[key] = value
        pos = end
    return records


def _pax_int(pax: dict[bytes, bytes], key: bytes) -> int:
    value = pax[key]
    if not re.fullmatch(rb"-?[0-9]{1,19}", value):
        raise ChunkedTOCError(f"invalid tar layer: malformed PAX {key.decode()}")
    return int(value)


def _pax_time(value: bytes) -> tuple[int, int]:
    text = value.decode("ascii", "replace")
    if not re.fullmatch(r"-?[0-9]+(\.[0-9]*)?", text):
        raise ChunkedTOCError("invalid tar layer: malformed PAX time")
    whole, _, frac = text.partition(".")
    nanos = int((frac + "000000000")[:9]) if frac else 0
    seconds = int(whole)
    if text.startswith("-") and nanos:
        seconds, nanos = seconds - 1, 1_000_000_000 - nanos
    return seconds, nanos


class _Entry:
    """One tar entry as the TOC describes it."""

    __slots__ = ("atime", "ctime", "devmajor", "devminor", "gid", "linkname", "mode", "mtime", "name",
                 "payload", "size", "type", "uid", "xattrs")

    def __init__(self) -> None:
        self.type = ""
        self.name = b""
        self.linkname = b""
        self.mode = self.size = self.uid = self.gid = self.devmajor = self.devminor = 0
        self.mtime: tuple[int, int] = (0, 0)
        self.atime: tuple[int, int] | None = None
        self.ctime: tuple[int, int] | None = None
        self.xattrs: dict[str, bytes] = {}
        self.payload = 0


def _next_entry(source: _Input, raw: bytearray) -> _Entry | None:
    """Read the next entry's header blocks (appending every byte to `raw`); None at the
    end-of-archive marker (a zero block: its bytes are in `raw` too)."""
    pax: dict[bytes, bytes] = {}
    long_name: bytes | None = None
    long_link: bytes | None = None
    while True:
        block = source.read_exact(512, "a tar header")
        raw += block
        if block == b"\0" * 512:
            return None
        stored = _octal(block[148:156], "checksum")
        unsigned = sum(block[:148]) + 256 + sum(block[156:])
        signed = unsigned - 2 * sum(1 for b in (*block[:148], *block[156:]) if b & 0x80)
        if stored not in (unsigned, signed):
            raise ChunkedTOCError("invalid tar layer: header checksum mismatch")
        typeflag = block[156:157]
        size = _octal(block[124:136], "size")
        if size < 0:
            raise ChunkedTOCError("invalid tar layer: negative size")
        if typeflag in (b"x", b"g", b"L", b"K"):
            if size > 16 << 20:
                raise ChunkedTOCError("invalid tar layer: extended header too large")
            padded = (size + 511) & ~511
            data = source.read_exact(padded, "an extended header")
            raw += data
            body = data[:size]
            if typeflag == b"x":
                pax.update(_parse_pax(body))
            elif typeflag == b"L":
                long_name = _cstring(body)
            elif typeflag == b"K":
                long_link = _cstring(body)
            # "g" (global) records apply to no entry of the TOC; their bytes stay in the stream.
            continue
        kind = _TAR_TYPES.get(typeflag)
        if kind is None:
            raise ChunkedTOCError(f"invalid tar layer: unknown tarball type: {typeflag[0] if typeflag else 0}")
        if any(key.startswith(b"GNU.sparse.") for key in pax):
            raise ChunkedTOCError("invalid tar layer: sparse files are not supported")
        entry = _Entry()
        magic = block[257:265]
        name = _cstring(block[0:100])
        if magic == b"ustar\x0000":
            prefix = _cstring(block[345:500])
            if prefix:
                name = prefix + b"/" + name
        entry.name = pax.get(b"path", long_name if long_name is not None else name)
        entry.linkname = pax.get(b"linkpath", long_link if long_link is not None else _cstring(block[157:257]))
        if typeflag == b"\0" and entry.name.endswith(b"/"):
            kind = "dir"
        entry.type = kind
        entry.mode = _octal(block[100:108], "mode")
        entry.uid = _pax_int(pax, b"uid") if b"uid" in pax else _octal(block[108:116], "uid")
        entry.gid = _pax_int(pax, b"gid") if b"gid" in pax else _octal(block[116:124], "gid")
        if b"size" in pax:
            size = _pax_int(pax, b"size")
            if size < 0:
                raise ChunkedTOCError("invalid tar layer: negative size")
        entry.size = size
        entry.mtime = _pax_time(pax[b"mtime"]) if b"mtime" in pax else (_octal(block[136:148], "mtime"), 0)
        gnu = magic == b"ustar  \0"
        if b"atime" in pax:
            entry.atime = _pax_time(pax[b"atime"])
        elif gnu and _octal(block[345:357], "atime"):
            entry.atime = (_octal(block[345:357], "atime"), 0)
        if b"ctime" in pax:
            entry.ctime = _pax_time(pax[b"ctime"])
        elif gnu and _octal(block[357:369], "ctime"):
            entry.ctime = (_octal(block[357:369], "ctime"), 0)
        if magic[:5] == b"ustar":
            entry.devmajor = _octal(block[329:337], "devmajor")
            entry.devminor = _octal(block[337:345], "devminor")
        for key, value in pax.items():
            if key.startswith(b"SCHILY.xattr."):
                entry.xattrs[key[len(b"SCHILY.xattr.") :].decode("utf-8", "replace")] = value
        entry.payload = 0 if kind in _HEADER_ONLY else size
        return entry


# ------------------------------------------------------------------------------- TOC JSON


def _go_string(value: str) -> str:
    # encoding/json: HTML-safe escaping, U+2028/2029 escaped.
    text = json.dumps(value, ensure_ascii=False)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _go_time(value: tuple[int, int]) -> str:
    seconds, nanos = value
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if nanos:
        text += "." + f"{nanos:09d}".rstrip("0")
    return text + "Z"


def _text(value: bytes) -> str:
    return value.decode("utf-8", "replace")


def _entry_json(fields: list[tuple[str, Any]]) -> str:
    parts = []
    for key, value in fields:
        if isinstance(value, str):
            encoded = _go_string(value)
        elif isinstance(value, dict):
            encoded = "{" + ",".join(f"{_go_string(k)}:{_go_string(v)}" for k, v in sorted(value.items())) + "}"
        else:
            encoded = str(value)
        parts.append(f'"{key}":{encoded}')
    return "{" + ",".join(parts) + "}"


def _file_fields(entry: _Entry, digest: str, offset: int, end_offset: int) -> list[tuple[str, Any]]:
    fields: list[tuple[str, Any]] = [("type", entry.type), ("name", _text(entry.name))]
    optional: list[tuple[str, Any]] = [
        ("linkName", _text(entry.linkname)),
        ("mode", entry.mode),
        ("size", entry.size),
        ("uid", entry.uid),
        ("gid", entry.gid),
    ]
    fields += [(k, v) for k, v in optional if v]
    fields.append(("modtime", _go_time(entry.mtime)))
    if entry.atime is not None:
        fields.append(("accesstime", _go_time(entry.atime)))
    if entry.ctime is not None:
        fields.append(("changetime", _go_time(entry.ctime)))
    more: list[tuple[str, Any]] = [
        ("devMajor", entry.devmajor),
        ("devMinor", entry.devminor),
        ("xattrs", {k: base64.b64encode(v).decode("ascii") for k, v in entry.xattrs.items()}),
        ("digest", digest),
        ("offset", offset),
        ("endOffset", end_offset),
    ]
    return fields + [(k, v) for k, v in more if v]


def _chunk_fields(size: int, file_offset: int, digest: str, zeros: bool) -> list[tuple[str, Any]]:
    fields: list[tuple[str, Any]] = [("chunkSize", size)]
    if file_offset:
        fields.append(("chunkOffset", file_offset))
    fields.append(("chunkDigest", digest))
    if zeros:
        fields.append(("chunkType", "zeros"))
    return fields


# ------------------------------------------------------------------------- chunking


class _Roller:
    """c/storage's rollsum split points over one file's content, vectorised (see
    `_SPLIT_RESIDUE`); `splits(data, previous)` gives the indices i of `data` after which a
    chunk ends, `previous` being the (up to 64) file bytes before `data`."""

    def __init__(self) -> None:
        import numpy as np

        self._np = np
        size = _FRAME_INPUT + _WINDOW + 1
        self._index = np.arange(size, dtype=np.uint16)
        self._buf = np.zeros(size, dtype=np.uint16)
        self._p = np.empty(size, dtype=np.uint16)
        self._q = np.empty(size, dtype=np.uint16)
        self._t = np.empty(size, dtype=np.uint16)

    def splits(self, data: bytes, previous: bytes) -> list[int]:
        np = self._np
        found: list[int] = []
        for start in range(0, len(data), _FRAME_INPUT):
            piece = data[start : start + _FRAME_INPUT]
            before = (previous + data[:start])[-_WINDOW:] if start < _WINDOW else data[start - _WINDOW : start]
            found.extend(start + i for i in self._piece(np, piece, before).tolist())
        return found

    def _piece(self, np: Any, piece: bytes, before: bytes) -> numpy.ndarray[Any, Any]:
        n = len(piece)
        m = n + _WINDOW
        buf, p, q, t = self._buf[:m], self._p[:m], self._q[:m], self._t[:m]
        pad = _WINDOW - len(before)
        buf[:pad] = 0
        if before:
            buf[pad:_WINDOW] = np.frombuffer(before, dtype=np.uint8)
        buf[_WINDOW:] = np.frombuffer(piece, dtype=np.uint8)
        # All arithmetic mod 2**16 (uint16 wraps), which is all the split test looks at.
        np.cumsum(buf, dtype=np.uint16, out=p)
        np.multiply(buf, self._index[:m], out=t)
        np.cumsum(t, dtype=np.uint16, out=q)
        # weighted window sum at i: (i+1) * (P[i] - P[i-64]) - (Q[i] - Q[i-64])
        w = t[_WINDOW:]
        np.subtract(p[_WINDOW:], p[:-_WINDOW], out=w)
        w *= self._index[_WINDOW + 1 : m + 1]
        w -= q[_WINDOW:]
        w += q[:-_WINDOW]
        return np.flatnonzero(w == _SPLIT_RESIDUE)  # type: ignore[no-any-return]


def _segments(source: _Input, size: int) -> Iterator[tuple[bool, bytes | int]]:
    """The file content of `size` bytes as (False, data) and (True, hole_length) pieces,
    a hole being a run of at least 1024 zero bytes (c/storage's `holesFinder`)."""
    left = size
    pending = 0  # zeros at the end of the previous piece that may still grow into a hole
    while left:
        piece = source.read_some(min(left, _FRAME_INPUT))
        if not piece:
            raise ChunkedTOCError("invalid tar layer: unexpected end of data in a file")
        left -= len(piece)
        pos = 0
        if pending:
            lead = len(piece) - len(piece.lstrip(b"\0"))
            if lead == len(piece):
                pending += lead
                continue
            run = pending + lead
            pending = 0
            yield (True, run) if run >= _HOLE_THRESHOLD else (False, b"\0" * run)
            pos = lead
        while True:
            hit = piece.find(_ZERO_RUN, pos)
            if hit < 0:
                break
            end = len(piece) - len(piece[hit:].lstrip(b"\0")) if hit < len(piece) else hit
            if hit > pos:
                yield False, piece[pos:hit]
            if end == len(piece):
                pending = end - hit
                pos = end
                break
            yield True, end - hit
            pos = end
        if pos < len(piece):
            rest = piece[pos:]
            trail = len(rest) - len(rest.rstrip(b"\0"))
            if trail < len(rest):
                yield False, rest[: len(rest) - trail]
            pending = trail
    if pending:
        yield (True, pending) if pending >= _HOLE_THRESHOLD else (False, b"\0" * pending)


# ------------------------------------------------------------------------------- writer


def _close_source(self: ZstdChunkedWriter | TOCVerifier) -> None:
    """Close the stream read (`_src`), then the reader itself. Idempotent."""
    if not self.closed:
        close = getattr(self._src, "close", None)
        if close is not None:
            close()
    io.RawIOBase.close(self)


class ZstdChunkedWriter(ReadIntoFromRead, io.RawIOBase):
    """zstd:chunked bytes of the tar read from `stream` (see the module docstring).

    `read(n)` returns at most `n` bytes, `b""` once the footer was returned. Raises
    `ChunkedTOCError` for a malformed tar; errors of `stream` propagate unchanged.
    `annotations()` is valid after EOF. Closing closes `stream`.
    """

    def __init__(self, stream: Readable, *, level: int | None = None) -> None:
        super().__init__()
        self._src = stream
        self._input = _Input(stream)
        import zstandard  # imported by the copies that use it (memory, start-up)

        self._cctx = zstandard.ZstdCompressor(level=DEFAULT_LEVEL if level is None else level, write_checksum=True)
        self._level = DEFAULT_LEVEL if level is None else level
        self._gen = self._produce()
        self._out = b""
        self._pos = 0
        self._written = 0
        self._annotations: dict[str, str] | None = None

    def readable(self) -> bool:
        """Always True."""
        return True

    def annotations(self) -> dict[str, str]:
        """The TOC annotations; raises `ChunkedTOCError` before the stream was read to its end."""
        if self._annotations is None:
            raise ChunkedTOCError("zstd:chunked annotations are known only once the stream was read")
        return dict(self._annotations)

    def read(self, n: int | None = -1, /) -> bytes:
        """Up to `n` bytes of the output; `b""` at the end."""
        if n is None or n < 0:
            return read_to_end(self)
        while self._pos >= len(self._out):
            nxt = next(self._gen, None)
            if nxt is None:
                return b""
            self._out, self._pos = nxt, 0
        out = self._out[self._pos : self._pos + n]
        self._pos += len(out)
        return out

    close = _close_source

    # --- production

    def _frame(self, data: bytes | bytearray) -> bytes:
        out = self._cctx.compress(bytes(data)) if data else b""
        self._written += len(out)
        return out

    def _produce(self) -> Iterator[bytes]:
        roller = _Roller()
        entries: list[str] = []
        raw = bytearray()
        while True:
            entry = _next_entry(self._input, raw)
            if entry is None:
                break
            if not entry.payload:
                entries.append(_entry_json(_file_fields(entry, "", 0, 0)))
                if len(raw) >= _FRAME_INPUT:
                    yield self._frame(raw)
                    raw.clear()
                continue
            if raw:
                yield self._frame(raw)
                raw.clear()
            yield from self._payload(entry, roller, entries)
            pad = -entry.payload % 512
            if pad:
                raw += self._input.read_exact(pad, "the padding of a file")
        # The end-of-archive blocks and whatever follows them (record padding), kept whole.
        while True:
            if len(raw) >= _FRAME_INPUT:
                yield self._frame(raw[:_FRAME_INPUT])
                del raw[:_FRAME_INPUT]
            more = self._input.read_some(_FRAME_INPUT)
            if not more:
                break
            raw += more
        if raw:
            yield self._frame(raw)
        yield from self._trailer(entries)

    def _payload(self, entry: _Entry, roller: _Roller, entries: list[str]) -> Iterator[bytes]:
        file_hash = hashlib.sha256()
        chunks: list[tuple[int, int, int, str, bool]] = []  # offset, file offset, size, digest, zeros
        state = _ChunkState(self._written)
        tail = b""
        done = 0

        def close_chunk(zeros: bool) -> Iterator[bytes]:
            if state.size:
                if state.buffer:
                    yield self._frame(state.buffer)
                    state.buffer.clear()
                chunks.append((state.offset, state.file_offset, state.size, "sha256:" + state.hash.hexdigest(), zeros))
            state.reset(self._written, done)

        for is_hole, value in _segments(self._input, entry.payload):
            if is_hole:
                assert isinstance(value, int)
                yield from close_chunk(False)
                zero_bytes = b"\0" * min(value, _FRAME_INPUT)
                left = value
                while left:
                    part = zero_bytes[: min(left, _FRAME_INPUT)]
                    file_hash.update(part)
                    state.add(part)
                    done += len(part)
                    left -= len(part)
                    if len(state.buffer) >= _FRAME_INPUT:
                        yield self._frame(state.buffer)
                        state.buffer.clear()
                yield from close_chunk(True)
                tail = (tail + zero_bytes[-_WINDOW:])[-_WINDOW:]
                continue
            assert isinstance(value, bytes)
            data = value
            start = 0
            for split in roller.splits(data, tail):
                part = data[start : split + 1]
                file_hash.update(part)
                state.add(part)
                done += len(part)
                if len(state.buffer) >= _FRAME_INPUT:
                    yield self._frame(state.buffer)
                    state.buffer.clear()
                yield from close_chunk(False)
                start = split + 1
            while start < len(data):
                room = _FRAME_INPUT - len(state.buffer)
                part = data[start : start + room]
                file_hash.update(part)
                state.add(part)
                done += len(part)
                start += len(part)
                if len(state.buffer) >= _FRAME_INPUT:
                    yield self._frame(state.buffer)
                    state.buffer.clear()
            tail = (tail + data[-_WINDOW:])[-_WINDOW:]
        yield from close_chunk(False)
        digest = "sha256:" + file_hash.hexdigest()
        end = self._written
        first = chunks[0][0]
        if len(chunks) == 1:
            entries.append(_entry_json(_file_fields(entry, digest, first, end)))
            return
        _, _, size0, digest0, zeros0 = chunks[0]
        entries.append(_entry_json(_file_fields(entry, digest, first, end) + _chunk_fields(size0, 0, digest0, zeros0)))
        for offset, file_offset, size, chunk_digest, zeros in chunks[1:]:
            fields: list[tuple[str, Any]] = [("type", "chunk"), ("name", _text(entry.name)), ("offset", offset)]
            entries.append(_entry_json(fields + _chunk_fields(size, file_offset, chunk_digest, zeros)))

    def _trailer(self, entries: list[str]) -> Iterator[bytes]:
        toc = ('{"version":1,"entries":[' + ",".join(entries) + "]}").encode("utf-8")
        entries.clear()
        import zstandard

        # The TOC is one frame of a few MiB: at level 10 that frame alone costs ~4x its size
        # in encoder tables, at level 3 nothing extra, for about the same size.
        compressed = zstandard.ZstdCompressor(level=min(self._level, _TOC_LEVEL), write_checksum=True).compress(toc)
        offset = self._written + 8
        frame = _SKIPPABLE_MAGIC + struct.pack("<I", len(compressed)) + compressed
        footer = struct.pack("<QQQQ", offset, len(compressed), len(toc), _MANIFEST_TYPE_CRFS) + _FOOTER_MAGIC
        self._written += len(frame)
        yield frame
        yield _SKIPPABLE_MAGIC + struct.pack("<I", len(footer)) + footer
        self._annotations = {
            CHECKSUM_KEY: "sha256:" + hashlib.sha256(compressed).hexdigest(),
            POSITION_KEY: f"{offset}:{len(compressed)}:{len(toc)}:{_MANIFEST_TYPE_CRFS}",
        }


class _ChunkState:
    """The chunk being built: where it starts (compressed and in the file), its bytes not
    yet compressed, its size and hash."""

    def __init__(self, offset: int) -> None:
        self.buffer = bytearray()
        self.reset(offset, 0)

    def reset(self, offset: int, file_offset: int) -> None:
        self.offset = offset
        self.file_offset = file_offset
        self.size = 0
        self.hash = hashlib.sha256()

    def add(self, data: bytes) -> None:
        self.buffer += data
        self.size += len(data)
        self.hash.update(data)


# ----------------------------------------------------------------------------- verifier


def _parse_position(position: str) -> tuple[int, int, int, int]:
    if not re.fullmatch(r"[0-9]{1,19}:[0-9]{1,19}:[0-9]{1,19}:[0-9]{1,19}", position):
        raise ChunkedTOCError(f'invalid zstd:chunked manifest position "{position[:80]}"')
    offset, length, ulength, kind = (int(p) for p in position.split(":"))
    return offset, length, ulength, kind


@pass_through
class TOCVerifier(ReadIntoFromRead, io.RawIOBase):
    """Passes a zstd:chunked blob through and checks its TOC before reporting EOF.

    `annotations` are the layer descriptor's (untrusted). Raises `ChunkedTOCError` at once
    for malformed annotations, and at the end of the stream (instead of EOF) for a TOC that
    does not match; errors of `stream` propagate unchanged.
    """

    def __init__(self, stream: Readable, annotations: Mapping[str, str], *, what: str = "layer") -> None:
        super().__init__()
        self._src = stream
        self._what = what
        pair = toc_annotations(annotations)
        if pair is None:
            raise ChunkedTOCError(f"{what}: no zstd:chunked annotations")
        checksum, position = pair
        if not _DIGEST_RE().fullmatch(checksum):
            raise ChunkedTOCError(f'{what}: invalid zstd:chunked manifest checksum "{checksum[:80]}"')
        self._checksum = checksum
        self._offset, self._length, self._ulength, kind = _parse_position(position)
        if kind != _MANIFEST_TYPE_CRFS:
            raise ChunkedTOCError(f"{what}: invalid zstd:chunked manifest type {kind}")
        if self._length > MAX_TOC_SIZE or self._ulength > MAX_TOC_SIZE:
            raise ChunkedTOCError(f"{what}: zstd:chunked manifest too big")
        if self._offset < 8 or self._length == 0:
            raise ChunkedTOCError(f"{what}: invalid zstd:chunked manifest position")
        self._seen = 0
        self._toc = bytearray()
        self._tail = b""
        self._checked = False

    @property
    def passes_through(self) -> Readable:
        """The blob stream."""
        return self._src

    def readable(self) -> bool:
        """Always True."""
        return True

    def read(self, n: int | None = -1, /) -> bytes:
        """The blob's bytes; at its end, the TOC check (raising instead of returning EOF)."""
        if n is None or n < 0:
            return read_to_end(self)
        data = self._src.read(n)
        if not data:
            if not self._checked:
                self._check()
                self._checked = True
            return data
        start, end = self._seen, self._seen + len(data)
        lo, hi = max(start, self._offset), min(end, self._offset + self._length)
        if lo < hi:
            self._toc += data[lo - start : hi - start]
        self._tail = (self._tail + data[-72:])[-72:]
        self._seen = end
        return data

    close = _close_source

    def _fail(self, reason: str) -> ChunkedTOCError:
        return ChunkedTOCError(f"{self._what}: invalid zstd:chunked TOC: {reason}")

    def _check(self) -> None:
        if self._offset + self._length > self._seen:
            raise self._fail(f"its position {self._offset}+{self._length} is beyond the blob's {self._seen} bytes")
        if "sha256:" + hashlib.sha256(self._toc).hexdigest() != self._checksum:
            raise self._fail("checksum mismatch")
        self._check_footer()
        import zstandard

        try:
            reader = zstandard.ZstdDecompressor().stream_reader(bytes(self._toc))
            parts: list[bytes] = []
            have = 0
            while have <= self._ulength and (part := reader.read(self._ulength + 1 - have)):
                parts.append(part)
                have += len(part)
            plain = b"".join(parts)
        except zstandard.ZstdError as exc:
            raise self._fail(f"cannot decompress it: {exc}") from exc
        if len(plain) != self._ulength:
            raise self._fail(f"it decompresses to {len(plain)} bytes, not {self._ulength}")
        self._check_entries(plain)

    def _check_footer(self) -> None:
        tail = self._tail
        if len(tail) >= 48 and tail[-48:-44] == _SKIPPABLE_MAGIC and tail[-8:] == _FOOTER_MAGIC:
            values = struct.unpack("<QQQQ", tail[-40:-8])
        elif len(tail) >= 72 and tail[-72:-68] == _SKIPPABLE_MAGIC and tail[-8:] == _NEW_FOOTER_MAGIC:
            values = struct.unpack("<QQQQ", tail[-64:-32])
        else:
            return  # no footer: the annotation is what readers use
        if values != (self._offset, self._length, self._ulength, _MANIFEST_TYPE_CRFS):
            raise self._fail("the footer does not match the annotation")

    def _check_entries(self, plain: bytes) -> None:
        try:
            doc = json.loads(plain)
        except (ValueError, UnicodeDecodeError) as exc:
            raise self._fail(f"not valid JSON ({exc})") from exc
        if not isinstance(doc, dict):
            raise self._fail("not a JSON object")
        fields = {k.lower(): v for k, v in doc.items()}
        if fields.get("version") != 1:
            raise self._fail(f"unsupported version {str(fields.get('version'))[:20]}")
        entries = fields.get("entries")
        if not isinstance(entries, list):
            raise self._fail("no entries list")
        data_end = self._offset - 8
        for index, item in enumerate(entries):
            self._check_entry(index, item, data_end)

    def _check_entry(self, index: int, item: object, data_end: int) -> None:
        if not isinstance(item, dict):
            raise self._fail(f"entry {index} is not an object")
        e = {str(k).lower(): v for k, v in item.items()}
        kind, name = e.get("type"), e.get("name")
        if kind not in _TOC_TYPES or not isinstance(name, str):
            raise self._fail(f"entry {index} has an invalid type or name")
        for key in ("mode", "size", "uid", "gid", "devmajor", "devminor", "offset", "endoffset",
                    "chunksize", "chunkoffset"):
            value = e.get(key, 0)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise self._fail(f'entry {index} ("{name[:80]}") has an invalid {key}')
        for key in ("digest", "chunkdigest"):
            value = e.get(key, "")
            if value != "" and (not isinstance(value, str) or not _DIGEST_RE().fullmatch(value)):
                raise self._fail(f'entry {index} ("{name[:80]}") has an invalid {key}')
        offset, end = e.get("offset", 0), e.get("endoffset", 0)
        if offset > data_end or end > data_end or (end and offset > end):
            raise self._fail(f'entry {index} ("{name[:80]}") points outside the data of the blob')
        if kind == "reg" and e.get("size", 0) and not offset:
            raise self._fail(f'entry {index} ("{name[:80]}") has content but no offset')
