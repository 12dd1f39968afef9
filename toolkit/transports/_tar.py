"""Safe tar reading and streaming tar writing, shared by the archive transports.

Reading (`TarIndex`, `iter_tar_stream`): archives are **untrusted**. Nothing is ever
extracted to disk, and Python's `tarfile` member parsing is not used (Python 3.11.7 lacks
the 2025 fixes: CVE-2025-8194 infinite loop on negative offsets, the extraction-filter
bypasses). Our own header parser understands ustar, GNU (`L` long name, `K` long link,
base-256 numbers, old sparse `S` skipped), PAX (`path`, `linkpath`, `size`; global headers
validated and ignored) and v7, and it:

- validates every header checksum and numeric field (a negative or overflowing size is an
  error), caps PAX and long-name records at `MAX_EXTENSION_SIZE` (1 MiB) and rejects
  zero-length or malformed PAX records, so every archive is parsed in linear time;
- ends at one or two zero blocks, or at EOF on a block boundary; a truncated header,
  member or padding raises `ArchiveError`;
- matches names like containers/image docker/internal/tarfile/reader.go: a lookup compares
  `path.Clean(name)` with `path.Clean(wanted)`. Entries whose cleaned name is absolute, `.`
  or starts with `..` are kept but can never be found. Several entries with one cleaned
  name are an error when that name is looked up (`ambiguous`), not when indexing;
- follows at most ONE symlink or hardlink hop, which must stay inside the archive (no
  absolute target, no `..` escape); the final entry must be a regular file, otherwise
  `ArchiveError("... not a regular file")` (devices, FIFOs, directories, links).

Every error is a `ToolkitError` subclass (`ArchiveError`, `MemberNotFoundError`,
`SizeLimitError` for the decompression budget, `CompressionError`); member names in
messages pass through `safe_text`.

Writing (`TarStreamWriter`): ustar headers like Go's archive/tar as used by
c/image docker/internal/tarfile/writer.go (uid/gid 0, empty uname/gname, mode 0444, mtime 0),
PAX records only for long or non-ASCII names and known sizes of 8 GiB or more. See
`TarStreamWriter.add_file_unknown_size` for the in-place size patch (GNU base-256).
"""

from __future__ import annotations

import enum
import io
import logging
import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol, cast

from toolkit.compression import (
    DEFAULT_DECOMPRESS_BUDGET,
    Readable,
    decompressing_reader,
    detect_compression,
    peek_compression,
)
from toolkit.digest import CHUNK_SIZE, ReadIntoFromRead
from toolkit.errors import (
    ArchiveError,
    InvalidInputError,
    NotSupportedError,
    SizeLimitError,
    SizeMismatchError,
    ToolkitError,
    safe_text,
)
from toolkit.gocompat import INT64_MAX, path_clean
from toolkit.types import Compression

__all__ = [
    "BLOCK_SIZE",
    "MAX_EXTENSION_SIZE",
    "MAX_ENTRIES",
    "MAX_SPOOL_RATIO",
    "SPOOL_RATIO_FLOOR",
    "MemberType",
    "MemberNotFoundError",
    "TarHeader",
    "TarIndex",
    "TarMemberReader",
    "TarStreamMember",
    "TarStreamWriter",
    "clean_member_name",
    "iter_tar_stream",
]

logger = logging.getLogger(__name__)

BLOCK_SIZE: Final = 512
#: Largest PAX extended header or GNU long name/link record accepted (Go uses 1 MiB too).
MAX_EXTENSION_SIZE: Final = 1 << 20
#: Default cap on the entries of an indexed archive (image archives hold a few hundred).
MAX_ENTRIES: Final = 100_000
#: Decompression-bomb guard for spooled compressed archives (`TarIndex.from_stream`): past
#: `SPOOL_RATIO_FLOOR` decompressed bytes, more than `MAX_SPOOL_RATIO` decompressed bytes per
#: compressed byte read is refused. gzip cannot exceed ~1032:1, so only a stream of almost
#: nothing but zeros trips it; real image archives stay far below (random or compressed
#: layer data is ~1:1, text ~3-10:1). The bomb fails after ~0.5 GiB, not after the budget.
MAX_SPOOL_RATIO: Final = 1000
SPOOL_RATIO_FLOOR: Final = 512 << 20
#: Extension headers (x, g, L, K) allowed in a row before a real entry; real writers use <= 3.
_MAX_EXTENSIONS_IN_ROW: Final = 8
#: Old GNU sparse extension blocks allowed for one entry.
_MAX_SPARSE_BLOCKS: Final = 1 << 16
_ZERO_BLOCK: Final = bytes(BLOCK_SIZE)
_OCTAL_DIGITS: Final = frozenset(b"01234567")
_USTAR_MAGIC: Final = b"ustar\x00"
_GNU_MAGIC: Final = b"ustar  \x00"
#: Largest size an 11-digit octal field holds (8 GiB - 1).
_MAX_OCTAL_SIZE: Final = 0o77777777777


class MemberType(enum.Enum):
    """What a tar entry is. OTHER: GNU sparse files, volume labels, unknown type flags."""

    REGULAR = "regular"
    HARDLINK = "hardlink"
    SYMLINK = "symlink"
    CHAR = "char device"
    BLOCK = "block device"
    DIRECTORY = "directory"
    FIFO = "fifo"
    OTHER = "other"


_TYPES: Final = {
    b"0": MemberType.REGULAR,
    b"\x00": MemberType.REGULAR,
    b"7": MemberType.REGULAR,  # contiguous file: a regular file everywhere that matters
    b"1": MemberType.HARDLINK,
    b"2": MemberType.SYMLINK,
    b"3": MemberType.CHAR,
    b"4": MemberType.BLOCK,
    b"5": MemberType.DIRECTORY,
    b"6": MemberType.FIFO,
}
#: Types whose header's size field does not announce data (as Go and Python tarfile).
_HEADER_ONLY: Final = frozenset(
    {
        MemberType.HARDLINK,
        MemberType.SYMLINK,
        MemberType.CHAR,
        MemberType.BLOCK,
        MemberType.DIRECTORY,
        MemberType.FIFO,
    }
)


class MemberNotFoundError(ArchiveError):
    """The archive has no usable entry with the wanted name."""


@dataclass(frozen=True, slots=True)
class TarHeader:
    """One entry of an archive, as parsed (all text untrusted).

    `name`/`linkname` are the recorded strings (UTF-8, undecodable bytes kept as
    surrogate escapes). `size` is the number of data bytes that follow the header (0 for
    header-only types). `data_offset` is where that data starts in the uncompressed
    archive.
    """

    name: str
    type: MemberType
    size: int
    mode: int
    mtime: int
    linkname: str
    data_offset: int

    @property
    def clean_name(self) -> str | None:
        """`path.Clean(name)`, or None if that is absolute, `.` or escapes with `..`."""
        return clean_member_name(self.name)


def clean_member_name(name: str) -> str | None:
    """The lookup key of a member name (untrusted), or None if it can never match.

    Unusable: names that clean to an absolute path, to `.` (the archive root) or to a
    path starting with `..`; and names holding NUL.
    """
    if "\x00" in name:
        return None
    cleaned = path_clean(name)
    if cleaned.startswith(("/", "../")) or cleaned in {".", ".."}:
        return None
    return cleaned


def _dirname(cleaned: str) -> str:
    i = cleaned.rfind("/")
    return cleaned[:i] if i > 0 else "."


def _name_for_message(name: str) -> str:
    return safe_text(name, limit=256)


# ------------------------------------------------------------------------------ parsing


def _round_up(size: int) -> int:
    return -(-size // BLOCK_SIZE) * BLOCK_SIZE


def _parse_number(field: bytes, what: str) -> int:
    """A numeric header field: octal text, or GNU base-256 (high bit set). May be negative."""
    if field and field[0] & 0x80:
        # Base-256, two's complement (Go's parseNumeric); bit 0x40 of byte 0 is the sign.
        inv = 0xFF if field[0] & 0x40 else 0
        raw = bytes([(field[0] ^ inv) & 0x7F]) + bytes(b ^ inv for b in field[1:])
        value = int.from_bytes(raw, "big")
        if value > INT64_MAX:
            raise ArchiveError(f"invalid tar header: {what} field overflows")
        return ~value if inv else value
    text = field.strip(b" \x00")
    if not text:
        return 0
    if not _OCTAL_DIGITS.issuperset(text):
        raise ArchiveError(f"invalid tar header: {what} field is not an octal number")
    value = int(text, 8)
    if value > INT64_MAX:  # pragma: no cover - 12 octal digits cannot overflow
        raise ArchiveError(f"invalid tar header: {what} field overflows")
    return value


def _check_checksum(block: bytes) -> None:
    try:
        recorded = _parse_number(block[148:156], "checksum")
    except ArchiveError:
        raise ArchiveError("invalid tar header: bad checksum field") from None
    unsigned = sum(block[:148]) + 8 * 0x20 + sum(block[156:])
    if recorded == unsigned:
        return
    # Some old tars summed signed chars; Go, GNU tar and Python accept both.
    high = sum(1 for b in block[:148] if b & 0x80) + sum(1 for b in block[156:] if b & 0x80)
    if recorded == unsigned - 256 * high:
        return
    raise ArchiveError("invalid tar header: checksum mismatch (not a tar archive, or corrupt)")


def _cstring(field: bytes) -> bytes:
    i = field.find(b"\x00")
    return field if i < 0 else field[:i]


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _parse_pax(data: bytes) -> dict[str, bytes]:
    """PAX records `"%d %s=%s\\n"`; every length is checked, so this always terminates."""
    records: dict[str, bytes] = {}
    pos, end = 0, len(data)
    while pos < end:
        if not data[pos:].strip(b"\x00"):
            break  # NUL padding after the last record (some writers add it)
        space = data.find(b" ", pos, min(end, pos + 12))
        if space <= pos:
            raise ArchiveError("invalid PAX header: malformed record length")
        digits = data[pos:space]
        if not digits.isdigit() or not digits.isascii():
            raise ArchiveError("invalid PAX header: malformed record length")
        length = int(digits)
        # "N k=v\n": a record needs at least its length, a space, "=", "\n" and a key.
        if length < len(digits) + 4 or pos + length > end:
            raise ArchiveError("invalid PAX header: record length out of range")
        record = data[space + 1 : pos + length]
        if not record.endswith(b"\n"):
            raise ArchiveError("invalid PAX header: record does not end with a newline")
        key, eq, value = record[:-1].partition(b"=")
        if not eq or not key:
            raise ArchiveError("invalid PAX header: record without a key")
        skey = _decode(key)
        if skey in ("path", "linkpath", "uname", "gname") and b"\x00" in value:
            raise ArchiveError(f"invalid PAX header: NUL byte in {skey}")
        records[skey] = value
        pos += length
    return records


class _Source(Protocol):
    """Sequential access to the uncompressed archive bytes for the parser."""

    pos: int

    def read_block(self) -> bytes | None:
        """The next 512-byte block; None at EOF on a block boundary; raises if partial."""
        ...

    def read_exact(self, n: int) -> bytes: ...

    def skip(self, n: int) -> None: ...


def _truncated() -> ArchiveError:
    return ArchiveError("invalid tar archive: unexpected end of data (truncated archive)")


class _Parser:
    """Turns a `_Source` into `TarHeader`s. The caller must skip each entry's data."""

    def __init__(self, src: _Source) -> None:
        self._src = src
        self._ended = False

    def next(self) -> TarHeader | None:
        """The next real entry (extension headers applied), or None at the end."""
        if self._ended:
            return None
        src = self._src
        pax: dict[str, bytes] | None = None
        long_name: bytes | None = None
        long_link: bytes | None = None
        extensions = 0
        while True:
            block = src.read_block()
            pending = pax is not None or long_name is not None or long_link is not None
            if block is None:
                self._ended = True
                if pending:
                    raise _truncated()
                return None
            if block == _ZERO_BLOCK:
                self._ended = True
                if pending:
                    raise ArchiveError("invalid tar archive: extension header without an entry")
                # End of archive. A second block, if present, must be zero too (as Go).
                second = src.read_block()
                if second is not None and second != _ZERO_BLOCK:
                    raise ArchiveError("invalid tar archive: data after a zero block")
                return None
            _check_checksum(block)
            typeflag = block[156:157]
            size = _parse_number(block[124:136], "size")
            if size < 0:
                raise ArchiveError("invalid tar header: negative size")
            mode = _parse_number(block[100:108], "mode")
            _parse_number(block[108:116], "uid")
            _parse_number(block[116:124], "gid")
            mtime = _parse_number(block[136:148], "mtime")

            if typeflag in (b"x", b"g", b"L", b"K"):
                extensions += 1
                if extensions > _MAX_EXTENSIONS_IN_ROW:
                    raise ArchiveError("invalid tar archive: too many extension headers in a row")
                if size > MAX_EXTENSION_SIZE:
                    raise ArchiveError(
                        f"invalid tar archive: extension header of {size} bytes exceeds the limit "
                        f"of {MAX_EXTENSION_SIZE} bytes"
                    )
                data = src.read_exact(size)
                src.skip(_round_up(size) - size)
                if typeflag == b"x":
                    pax = _parse_pax(data)
                elif typeflag == b"g":
                    _parse_pax(data)  # validated, then ignored (as c/image's readers do)
                elif typeflag == b"L":
                    long_name = _cstring(data)
                else:
                    long_link = _cstring(data)
                continue

            magic = block[257:263]
            name_raw = _cstring(block[0:100])
            if magic == _USTAR_MAGIC and block[257:265] != _GNU_MAGIC:
                prefix = _cstring(block[345:500])
                if prefix:
                    name_raw = prefix + b"/" + name_raw
            name = _decode(name_raw)
            linkname = _decode(_cstring(block[157:257]))
            mtype = _TYPES.get(typeflag, MemberType.OTHER)
            if pax is not None:
                if pax.get("path"):
                    name = _decode(pax["path"])
                if pax.get("linkpath"):
                    linkname = _decode(pax["linkpath"])
                if "size" in pax:
                    text = pax["size"]
                    if not text.isdigit() or not text.isascii() or len(text) > 19:
                        raise ArchiveError("invalid PAX header: bad size")
                    size = int(text)
                    if size > INT64_MAX:
                        raise ArchiveError("invalid PAX header: bad size")
                if any(k.startswith("GNU.sparse.") for k in pax):
                    mtype = MemberType.OTHER  # PAX sparse file: data is not the file's bytes
            # GNU long names win over PAX, as in Go's reader.
            if long_name is not None:
                name = _decode(long_name)
            if long_link is not None:
                linkname = _decode(long_link)
            if typeflag == b"\x00" and name.endswith("/"):
                mtype = MemberType.DIRECTORY  # v7 directories
            if typeflag == b"S" and block[482]:
                self._skip_sparse_extensions()
            data_size = 0 if mtype in _HEADER_ONLY else size
            return TarHeader(
                name=name,
                type=mtype,
                size=data_size,
                mode=mode & 0o7777 if mode >= 0 else 0,
                mtime=mtime,
                linkname=linkname,
                data_offset=src.pos,
            )

    def _skip_sparse_extensions(self) -> None:
        for _ in range(_MAX_SPARSE_BLOCKS):
            block = self._src.read_block()
            if block is None:
                raise _truncated()
            if not block[504]:
                return
        raise ArchiveError("invalid tar archive: too many GNU sparse extension blocks")


# --------------------------------------------------------------------- random access index


class _RandomAccess:
    """Positional reads from one shared file; thread-safe (os.pread, or seek under a lock)."""

    def __init__(self, f: _SeekableReadable) -> None:
        self.file = f
        self._f = f
        self._lock = threading.Lock()
        self._fd: int | None
        try:
            fd = f.fileno()  # type: ignore[attr-defined]
            os.pread(fd, 0, 0)
            self._fd = fd
        except (AttributeError, OSError, ValueError):
            self._fd = None  # io.UnsupportedOperation is both OSError and ValueError

    def size(self) -> int:
        if self._fd is not None:
            return os.fstat(self._fd).st_size
        with self._lock:
            return self._f.seek(0, os.SEEK_END)

    def pread(self, offset: int, n: int) -> bytes:
        if self._fd is not None:
            data = os.pread(self._fd, n, offset)
            if len(data) == n or not data:
                return data
            parts = [data]
            have = len(data)
            while have < n:
                more = os.pread(self._fd, n - have, offset + have)
                if not more:
                    break
                parts.append(more)
                have += len(more)
            return b"".join(parts)
        with self._lock:
            self._f.seek(offset)
            parts = []
            have = 0
            while have < n:
                chunk = self._f.read(n - have)
                if not chunk:
                    break
                parts.append(chunk)
                have += len(chunk)
            return b"".join(parts)


class _SeekableReadable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...
    def seek(self, offset: int, whence: int = 0, /) -> int: ...
    def close(self) -> None: ...


class _FileSource:
    """Parser source over a `_RandomAccess`; skipping data is just arithmetic."""

    def __init__(self, ra: _RandomAccess) -> None:
        self._ra = ra
        self._size = ra.size()
        self.pos = 0

    def read_block(self) -> bytes | None:
        if self.pos >= self._size:
            return None
        block = self._ra.pread(self.pos, BLOCK_SIZE)
        if len(block) < BLOCK_SIZE:
            raise _truncated()
        self.pos += BLOCK_SIZE
        return block

    def read_exact(self, n: int) -> bytes:
        if self.pos + n > self._size:
            raise _truncated()
        data = self._ra.pread(self.pos, n)
        if len(data) < n:
            raise _truncated()
        self.pos += n
        return data

    def skip(self, n: int) -> None:
        if self.pos + n > self._size:
            raise _truncated()
        self.pos += n


class TarMemberReader(ReadIntoFromRead, io.RawIOBase):
    """A member's bytes, read with positional reads from the shared archive file.

    Thread-safe with respect to other readers of the same index. Raises `ArchiveError` if
    the archive file shrank or cannot be read. `size` is the member's size.
    """

    def __init__(self, ra: _RandomAccess, offset: int, size: int, name: str) -> None:
        super().__init__()
        self._ra = ra
        self._offset = offset
        self.size = size
        self._pos = 0
        self._name = name

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1, /) -> bytes:
        remaining = self.size - self._pos
        if n is None or n < 0:
            n = remaining
        n = min(n, remaining)
        if n <= 0:
            return b""
        try:
            data = self._ra.pread(self._offset + self._pos, n)
        except (OSError, ValueError) as exc:
            raise ArchiveError(f'reading "{_name_for_message(self._name)}" from the archive: {exc}') from exc
        if len(data) < n:
            raise ArchiveError(f'reading "{_name_for_message(self._name)}" from the archive: unexpected end of file')
        self._pos += len(data)
        return data



class TarIndex:
    """An index of an uncompressed tar file, for lookups by name (see the module contract).

    Build with `from_file` (seekable uncompressed file), `from_stream` (anything: sniffed,
    decompressed and spooled to an unnamed temp file) or `open` (a path). After building,
    the index is immutable; `open_member` may be called from several threads at once.
    `close()` closes the file if the index owns it (it does for `from_stream`/`open`).
    """

    def __init__(self, ra: _RandomAccess, entries: list[TarHeader], *, owns_file: bool) -> None:
        """Private: use `from_file`, `from_stream` or `open`."""
        self._f = ra.file
        self._ra = ra
        self._owns = owns_file
        self.entries: tuple[TarHeader, ...] = tuple(entries)
        self._by_name: dict[str, list[TarHeader]] = {}
        for entry in entries:
            key = entry.clean_name
            if key is not None:
                self._by_name.setdefault(key, []).append(entry)

    # -- construction

    @classmethod
    def from_file(cls, f: _SeekableReadable, *, max_entries: int = MAX_ENTRIES, owns_file: bool = False) -> TarIndex:
        """Index the seekable, uncompressed tar file `f` (untrusted content).

        Reads only headers. Raises `ArchiveError` for a malformed or truncated archive or
        more than `max_entries` entries. `f` stays open; with `owns_file`, `close()`
        closes it.
        """
        ra = _RandomAccess(f)
        src = _FileSource(ra)
        parser = _Parser(src)
        entries: list[TarHeader] = []
        try:
            while (hdr := parser.next()) is not None:
                entries.append(hdr)
                if len(entries) > max_entries:
                    raise ArchiveError(f"invalid tar archive: more than {max_entries} entries")
                src.skip(_round_up(hdr.size))
        except OSError as exc:
            raise ArchiveError(f"reading tar archive: {exc.strerror or exc}") from exc
        return cls(ra, entries, owns_file=owns_file)

    @classmethod
    def from_stream(
        cls,
        stream: Readable,
        *,
        tmpdir: str | Path | None,
        budget: int | None,
        max_entries: int = MAX_ENTRIES,
    ) -> TarIndex:
        """Index a tar read from `stream` (untrusted; may be gzip/zstd/xz/bzip2-compressed).

        The (decompressed) archive is spooled to an unnamed temporary file in `tmpdir`
        (None: the system default), deleted automatically on close or failure. At most
        `budget` bytes (None: `DEFAULT_DECOMPRESS_BUDGET`), and never more than the free
        space of `tmpdir`, are spooled; beyond that `SizeLimitError`. Does not close
        `stream`. Raises `ToolkitError` subclasses only (I/O errors wrapped).
        """
        limit = DEFAULT_DECOMPRESS_BUDGET if budget is None else budget
        by_space = False
        try:
            free = shutil.disk_usage(tmpdir if tmpdir is not None else tempfile.gettempdir()).free
        except OSError:
            free = None
        if free is not None and free < limit:
            limit, by_space = free, True
        try:
            tmp = tempfile.TemporaryFile(dir=tmpdir)  # noqa: SIM115 - owned by the index
        except OSError as exc:
            raise ToolkitError(f"creating a temporary file in {safe_text(str(tmpdir))}: {exc.strerror}") from exc
        try:
            counted = _CountingReader(_NoClose(stream))
            algorithm, peeked = peek_compression(counted)
            reader = decompressing_reader(peeked, algorithm, budget=limit)
            if algorithm is not Compression.NONE:
                logger.debug("decompressing a %s-compressed archive to a temporary file", algorithm.value)
            written = 0
            try:
                while chunk := reader.read(CHUNK_SIZE):
                    written += len(chunk)
                    if (
                        algorithm is not Compression.NONE
                        and written > SPOOL_RATIO_FLOOR
                        and written > MAX_SPOOL_RATIO * counted.count
                    ):
                        raise SizeLimitError(
                            f"refusing to decompress the archive: {written} bytes from {counted.count}"
                            f" compressed bytes exceeds the ratio limit of {MAX_SPOOL_RATIO}:1"
                            " (a decompression bomb?)"
                        )
                    try:
                        tmp.write(chunk)
                    except OSError as exc:
                        raise ToolkitError(f"writing a temporary copy of the archive: {exc.strerror}") from exc
            except SizeLimitError as exc:
                if by_space:
                    raise SizeLimitError(
                        f"{exc.message} (the free space in the temporary directory; use --tmpdir)"
                    ) from exc
                raise
            except OSError as exc:
                raise ArchiveError(f"reading the archive: {exc.strerror or exc}") from exc
            try:
                tmp.flush()
            except OSError as exc:
                raise ToolkitError(f"writing a temporary copy of the archive: {exc.strerror}") from exc
            return cls.from_file(tmp, max_entries=max_entries, owns_file=True)
        except BaseException:
            tmp.close()
            raise

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        tmpdir: str | Path | None,
        budget: int | None,
        max_entries: int = MAX_ENTRIES,
    ) -> TarIndex:
        """Index the archive at `path` (a user-given path; symlinks are followed).

        An uncompressed regular file is indexed in place; a compressed file, a FIFO or a
        character device (`/dev/stdin`) goes through `from_stream`. Raises
        `ToolkitError` subclasses only.
        """
        shown = safe_text(str(path))
        try:
            f = open(path, "rb")  # noqa: SIM115 - owned by the index or closed below
        except FileNotFoundError as exc:
            raise ArchiveError(f"opening archive {shown}: no such file") from exc
        except OSError as exc:
            raise ArchiveError(f"opening archive {shown}: {exc.strerror}") from exc
        try:
            st = os.fstat(f.fileno())
            if stat.S_ISDIR(st.st_mode):
                raise ArchiveError(f"opening archive {shown}: is a directory")
            if stat.S_ISREG(st.st_mode):
                prefix = os.pread(f.fileno(), 8, 0)
                if detect_compression(prefix) is Compression.NONE:
                    return cls.from_file(f, max_entries=max_entries, owns_file=True)
            with f:
                return cls.from_stream(f, tmpdir=tmpdir, budget=budget, max_entries=max_entries)
        except OSError as exc:
            f.close()
            raise ArchiveError(f"reading archive {shown}: {exc.strerror}") from exc
        except BaseException:
            f.close()
            raise

    # -- lookups

    def names(self) -> list[str]:
        """Cleaned names of the usable entries, in archive order, without repeats."""
        return list(self._by_name)

    def has(self, name: str) -> bool:
        """True if at least one usable entry is called `name` (after cleaning). No link is followed."""
        key = clean_member_name(name)
        return key is not None and key in self._by_name

    def _lookup(self, name: str) -> tuple[str, TarHeader]:
        key = clean_member_name(name)
        found = self._by_name.get(key) if key is not None else None
        if not found or key is None:
            raise MemberNotFoundError(f'file "{_name_for_message(name)}" does not exist in the archive')
        if len(found) > 1:
            raise ArchiveError(f'invalid tar archive: ambiguous: {len(found)} entries named "{_name_for_message(key)}"')
        return key, found[0]

    def resolve(self, name: str) -> TarHeader:
        """The regular-file entry for `name`, after at most one link hop inside the archive.

        Raises `MemberNotFoundError` (no such name, or a link to a missing name),
        `ArchiveError` (ambiguous name, link leaving the archive, not a regular file).
        """
        key, entry = self._lookup(name)
        if entry.type in (MemberType.SYMLINK, MemberType.HARDLINK):
            target = entry.linkname
            if not target or target.startswith("/"):
                raise ArchiveError(
                    f'refusing link "{_name_for_message(key)}" -> "{_name_for_message(target)}": '
                    "target is absolute or empty"
                )
            # Symlinks are relative to their directory; hardlink targets to the archive root.
            joined = f"{_dirname(key)}/{target}" if entry.type is MemberType.SYMLINK else target
            resolved = clean_member_name(joined)
            if resolved is None:
                raise ArchiveError(
                    f'refusing link "{_name_for_message(key)}" -> "{_name_for_message(target)}": '
                    "target is outside the archive"
                )
            key, entry = self._lookup(resolved)
        if entry.type is not MemberType.REGULAR:
            raise ArchiveError(
                f'reading tar archive component "{_name_for_message(key)}": not a regular file ({entry.type.value})'
            )
        return entry

    def member_size(self, name: str) -> int:
        """Size of the regular file `name` resolves to (see `resolve`)."""
        return self.resolve(name).size

    def open_member(self, name: str) -> TarMemberReader:
        """A reader of the regular file `name` resolves to (see `resolve`), bounded to its size."""
        entry = self.resolve(name)
        return TarMemberReader(self._ra, entry.data_offset, entry.size, entry.name)

    # -- lifetime

    def close(self) -> None:
        """Close the archive file if this index owns it (deleting a spooled temp file)."""
        if self._owns:
            self._f.close()

    def __enter__(self) -> TarIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _NoClose:
    """Shields a caller's stream from being closed by the readers wrapped around it."""

    def __init__(self, stream: Readable) -> None:
        self._stream = stream

    def read(self, n: int = -1, /) -> bytes:
        return self._stream.read(n)


# ------------------------------------------------------------------------ streaming reader


class _CountingReader:
    """Counts the bytes read from `stream` (the compressed input of a spooled archive)."""

    def __init__(self, stream: Readable) -> None:
        self._stream = stream
        self.count = 0

    def read(self, n: int = -1, /) -> bytes:
        data = self._stream.read(n)
        self.count += len(data)
        return data


class _StreamSource:
    """Parser source over a non-seekable stream; skipping reads and discards."""

    def __init__(self, stream: Readable) -> None:
        self._stream = stream
        self.pos = 0

    def _read_upto(self, n: int) -> bytes:
        parts: list[bytes] = []
        have = 0
        while have < n:
            chunk = self._stream.read(n - have)
            if not chunk:
                break
            parts.append(chunk)
            have += len(chunk)
        data = b"".join(parts)
        self.pos += len(data)
        return data

    def read_block(self) -> bytes | None:
        block = self._read_upto(BLOCK_SIZE)
        if not block:
            return None
        if len(block) < BLOCK_SIZE:
            raise _truncated()
        return block

    def read_exact(self, n: int) -> bytes:
        data = self._read_upto(n)
        if len(data) < n:
            raise _truncated()
        return data

    def read_some(self, n: int) -> bytes:
        data = self._stream.read(n)
        self.pos += len(data)
        return data

    def skip(self, n: int) -> None:
        while n > 0:
            chunk = self.read_some(min(n, CHUNK_SIZE))
            if not chunk:
                raise _truncated()
            n -= len(chunk)


class TarStreamMember(ReadIntoFromRead, io.RawIOBase):
    """The data of the current entry of `iter_tar_stream`, bounded to its size.

    Valid only until the iterator advances (then reads raise `ArchiveError`). A stream
    that ends before the member does raises `ArchiveError` (truncated archive).
    """

    def __init__(self, src: _StreamSource, size: int, name: str) -> None:
        super().__init__()
        self._src = src
        self.size = size
        self._remaining = size
        self._name = name
        self._valid = True

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1, /) -> bytes:
        if not self._valid:
            raise ArchiveError("tar member read after the archive iterator moved on")
        if n is None or n < 0:
            parts = []
            while chunk := self.read(CHUNK_SIZE):
                parts.append(chunk)
            return b"".join(parts)
        n = min(n, self._remaining)
        if n <= 0:
            return b""
        data = self._src.read_some(n)
        if not data:
            raise ArchiveError(
                f'reading "{_name_for_message(self._name)}" from the archive: unexpected end of data (truncated)'
            )
        self._remaining -= len(data)
        return data


    def _finish(self) -> None:
        """Skip what the consumer left unread, plus the padding; invalidate."""
        if self._valid:
            self._src.skip(self._remaining + _round_up(self.size) - self.size)
            self._remaining = 0
            self._valid = False


def iter_tar_stream(stream: Readable) -> Iterator[tuple[TarHeader, TarStreamMember]]:
    """Single pass over an uncompressed tar `stream` (untrusted): yields each entry.

    The member reader of each entry must be used before advancing; unread data is skipped.
    Header-only entries (links, devices, directories) have an empty reader. Raises
    `ArchiveError` for malformed or truncated input; errors of `stream` propagate.
    """
    src = _StreamSource(stream)
    parser = _Parser(src)
    current: TarStreamMember | None = None
    while True:
        if current is not None:
            current._finish()
        hdr = parser.next()
        if hdr is None:
            return
        current = TarStreamMember(src, hdr.size, hdr.name)
        yield hdr, current


# --------------------------------------------------------------------------------- writer


class _Writable(Protocol):
    def write(self, data: bytes, /) -> int | None: ...


class _SeekableWritable(_Writable, Protocol):
    def seek(self, offset: int, whence: int = 0, /) -> int: ...
    def tell(self) -> int: ...


def _is_ascii(text: str) -> bool:
    return text.isascii()


def _split_ustar_path(name: str) -> tuple[str, str] | None:
    """Go's splitUSTARPath: (prefix, name) fitting 155/100 bytes, or None."""
    length = len(name)
    if length <= 100 or not _is_ascii(name):
        return None
    if length > 156:
        length = 156
    elif name[length - 1] == "/":
        length -= 1
    i = name.rfind("/", 0, length)
    nlen = len(name) - i - 1
    if i <= 0 or nlen > 100 or nlen == 0 or i > 155:
        return None
    return name[:i], name[i + 1 :]


def _octal(value: int, width: int) -> bytes:
    """Zero-padded octal digits plus a NUL, filling `width` bytes (as Go formatOctal)."""
    return b"%0*o\x00" % (width - 1, value)


def _base256(value: int, width: int) -> bytes:
    return bytes([0x80]) + value.to_bytes(width - 1, "big")


def _pax_record(key: str, value: str) -> bytes:
    body = f" {key}={value}\n".encode("utf-8", "surrogateescape")
    size = len(body) + len(str(len(body)))
    record = str(size).encode() + body
    if len(record) != size:  # the length's own digit count grew
        size = len(record)
        record = str(size).encode() + body
    return record


def _ascii_fallback(text: str, limit: int) -> bytes:
    return text.encode("ascii", "replace")[:limit]


def _ustar_block(
    *,
    name: bytes,
    prefix: bytes,
    typeflag: bytes,
    size_field: bytes,
    mode: int,
    mtime: int,
    linkname: bytes,
) -> bytes:
    block = bytearray(BLOCK_SIZE)
    block[0 : len(name)] = name
    block[100:108] = _octal(mode, 8)
    block[108:116] = _octal(0, 8)  # uid: root, as Go's writer with a nil Sys()
    block[116:124] = _octal(0, 8)  # gid
    block[124:136] = size_field
    block[136:148] = _octal(mtime, 12)
    block[148:156] = b" " * 8
    block[156:157] = typeflag
    block[157 : 157 + len(linkname)] = linkname
    block[257:263] = _USTAR_MAGIC
    block[263:265] = b"00"
    # uname/gname stay empty; devmajor/devminor zero as Go writes them.
    block[329:337] = _octal(0, 8)
    block[337:345] = _octal(0, 8)
    block[345 : 345 + len(prefix)] = prefix
    block[148:156] = b"%06o\x00 " % sum(block)
    return bytes(block)


class TarStreamWriter:
    """Writes a tar archive to `fileobj` as a stream (docker-archive, oci-archive).

    Contract:
    - Entries are ustar (uid/gid 0, empty uname/gname, mtime 0 and mode 0444 by default,
      like c/image's writer). Names that are long (beyond the ustar name/prefix split) or
      non-ASCII get a PAX `path` record (`linkpath` likewise); a known size of 8 GiB or
      more gets a PAX `size` record, as Go's archive/tar does.
    - `add_file` copies exactly `size` bytes from the stream and raises
      `SizeMismatchError` if the stream is shorter or longer. After any error the archive
      is unusable: further calls raise `ArchiveError`, and `close()` writes nothing.
    - `close()` writes the end-of-archive marker (two zero blocks) and does not close
      `fileobj`. Names are trusted (produced by skopo) but still checked: not empty, no NUL.
    - Thread-safe: entries are written one at a time under a lock.
    """

    def __init__(self, fileobj: _Writable) -> None:
        self._f = fileobj
        self._lock = threading.Lock()
        self._broken = False
        self._closed = False

    @property
    def can_patch_sizes(self) -> bool:
        """True if `add_file_unknown_size` works: `fileobj` is seekable and not O_APPEND."""
        seekable = getattr(self._f, "seekable", None)
        try:
            if seekable is None or not seekable():
                return False
        except (OSError, ValueError):
            return False
        fileno = getattr(self._f, "fileno", None)
        if fileno is not None:
            try:
                import fcntl

                # Writes to an O_APPEND file ignore seek(): a patch would land at the end.
                if fcntl.fcntl(fileno(), fcntl.F_GETFL) & os.O_APPEND:
                    return False
            except (OSError, ValueError, ImportError):
                pass
        return True

    # -- entries

    def add_file(self, name: str, stream: Readable, size: int, *, mode: int = 0o444, mtime: int = 0) -> None:
        """Add a regular file of exactly `size` bytes read from `stream` (streamed in chunks)."""
        if size < 0:
            raise InvalidInputError(f"invalid size {size} for tar entry {_name_for_message(name)}")
        header = self._header(name, b"0", size, mode, mtime)
        with self._entry():
            self._write(header)
            self._copy_exact(name, stream, size)
            self._write(bytes(_round_up(size) - size))

    def add_bytes(self, name: str, data: bytes, *, mode: int = 0o444, mtime: int = 0) -> None:
        """Add a regular file holding `data`."""
        header = self._header(name, b"0", len(data), mode, mtime)
        with self._entry():
            self._write(header)
            self._write(data)
            self._write(bytes(_round_up(len(data)) - len(data)))

    def add_symlink(self, name: str, target: str, *, mode: int = 0o777, mtime: int = 0) -> None:
        """Add a symbolic link `name` -> `target`."""
        header = self._header(name, b"2", 0, mode, mtime, linkname=target)
        with self._entry():
            self._write(header)

    def add_dir(self, name: str, *, mode: int = 0o755, mtime: int = 0) -> None:
        """Add a directory entry (the name gets a trailing slash, as tar tools write it)."""
        if not name.endswith("/"):
            name += "/"
        header = self._header(name, b"5", 0, mode, mtime)
        with self._entry():
            self._write(header)

    def add_file_unknown_size(
        self,
        name: str,
        stream: Readable,
        *,
        mode: int = 0o444,
        mtime: int = 0,
        rename: Callable[[int], str | None] | None = None,
    ) -> int:
        """Add a regular file of unknown size: stream it, then patch the header in place.

        Needs `can_patch_sizes` (else `NotSupportedError`: the caller must spool the data
        to learn its size, then use `add_file`). No temporary disk space is used.

        Header format: a placeholder ustar header is written first; at the end it is
        rewritten in place with the real size, in octal when it fits (< 8 GiB: a plain
        ustar entry) or else as a GNU base-256 number in the same 12-byte field. PAX cannot
        be used here because a PAX record's length depends on the size. Base-256 size
        fields are read by GNU tar, bsdtar, Python's tarfile and Go's archive/tar (its
        `parseNumeric` accepts base-256 in any header format). Returns the size.

        `rename` (for names known only once the data is read, e.g. a digest): called with
        the size after the data is written; it returns the final name, whose header MUST
        have the same length as `name`'s (`InvalidInputError` otherwise; same-length ASCII
        names of at most 100 bytes always do), or None to drop the entry: the output is
        then truncated back to where the entry began (needs `truncate()`). An exception
        from `rename` breaks the writer like any other failure.
        """
        if not self.can_patch_sizes:
            raise NotSupportedError("writing a tar entry of unknown size needs a seekable output; spool the data first")
        seekable = cast(_SeekableWritable, self._f)  # checked by can_patch_sizes
        placeholder = self._header(name, b"0", 0, mode, mtime, patchable=True)
        with self._entry():
            start = seekable.tell()
            self._write(placeholder)
            size = 0
            while chunk := stream.read(CHUNK_SIZE):
                self._write(chunk)
                size += len(chunk)
            final_name = name if rename is None else rename(size)
            if final_name is None:
                seekable.seek(start)
                truncate = getattr(self._f, "truncate", None)
                if truncate is None:
                    raise NotSupportedError("dropping a tar entry needs an output that can be truncated")
                truncate(start)
                return size
            self._write(bytes(_round_up(size) - size))
            end = seekable.tell()
            final = self._header(final_name, b"0", size, mode, mtime, patchable=True)
            if len(final) != len(placeholder):
                raise InvalidInputError("internal error: tar header length changed while patching")
            # The name may have changed: rewrite every block of the header (PAX included).
            seekable.seek(start)
            self._write(final)
            seekable.seek(end)
            return size

    def close(self) -> None:
        """Write the end-of-archive marker (once). Does nothing after an earlier error."""
        with self._lock:
            if self._closed or self._broken:
                self._closed = True
                return
            self._closed = True
            try:
                self._write(bytes(2 * BLOCK_SIZE))
                flush = getattr(self._f, "flush", None)
                if flush is not None:
                    flush()
            except OSError as exc:
                self._broken = True
                raise ArchiveError(f"writing tar archive: {exc.strerror or exc}") from exc

    # -- internals

    def _entry(self) -> _EntryGuard:
        return _EntryGuard(self)

    def _write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            written = self._f.write(view)  # type: ignore[arg-type]
            if written is None or written >= len(view):
                return
            view = view[written:]

    def _copy_exact(self, name: str, stream: Readable, size: int) -> None:
        remaining = size
        while remaining:
            chunk = stream.read(min(remaining, CHUNK_SIZE))
            if not chunk:
                raise SizeMismatchError(
                    f"writing {_name_for_message(name)} to the archive: got {size - remaining} bytes, expected {size}"
                )
            if len(chunk) > remaining:  # a stream that ignores n
                raise SizeMismatchError(
                    f"writing {_name_for_message(name)} to the archive: more data than the expected size {size}"
                )
            self._write(chunk)
            remaining -= len(chunk)
        if stream.read(1):
            raise SizeMismatchError(
                f"writing {_name_for_message(name)} to the archive: more data than the expected size {size}"
            )

    def _header(
        self,
        name: str,
        typeflag: bytes,
        size: int,
        mode: int,
        mtime: int,
        *,
        linkname: str = "",
        patchable: bool = False,
    ) -> bytes:
        """PAX header (if needed) + ustar header for one entry."""
        for text, what in ((name, "name"), (linkname, "link target")):
            if "\x00" in text:
                raise InvalidInputError(f"tar entry {what} contains a NUL byte")
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise InvalidInputError(f"tar entry {what} is not valid UTF-8") from exc
        if not name:
            raise InvalidInputError("tar entry name is empty")
        if not 0 <= mode <= 0o7777777 or not 0 <= mtime <= 0o77777777777:
            raise InvalidInputError(f"invalid mode or mtime for tar entry {_name_for_message(name)}")
        pax: list[bytes] = []
        prefix_b = b""
        if _is_ascii(name) and len(name) <= 100:
            name_b = name.encode()
        elif (split := _split_ustar_path(name)) is not None:
            prefix_b, name_b = split[0].encode(), split[1].encode()
        else:
            pax.append(_pax_record("path", name))
            name_b = _ascii_fallback(name, 100)
        if _is_ascii(linkname) and len(linkname) <= 100:
            link_b = linkname.encode()
        else:
            pax.append(_pax_record("linkpath", linkname))
            link_b = _ascii_fallback(linkname, 100)
        if size <= _MAX_OCTAL_SIZE:
            size_field = _octal(size, 12)
        elif patchable:
            size_field = _base256(size, 12)
        else:
            pax.append(_pax_record("size", str(size)))
            size_field = _octal(0, 12)
        main = _ustar_block(
            name=name_b,
            prefix=prefix_b,
            typeflag=typeflag,
            size_field=size_field,
            mode=mode,
            mtime=mtime,
            linkname=link_b,
        )
        if not pax:
            return main
        data = b"".join(pax)
        # Name the PAX header like Go: <dir>/PaxHeaders.0/<base>, ASCII, cut to 100 bytes.
        cleaned = path_clean(name)
        base = cleaned.rsplit("/", 1)[-1]
        pax_name = _ascii_fallback(f"{_dirname(cleaned)}/PaxHeaders.0/{base}".removeprefix("./"), 100)
        pax_header = _ustar_block(
            name=pax_name,
            prefix=b"",
            typeflag=b"x",
            size_field=_octal(len(data), 12),
            mode=0o644,
            mtime=mtime,
            linkname=b"",
        )
        return pax_header + data + bytes(_round_up(len(data)) - len(data)) + main


class _EntryGuard:
    """Serializes one entry and marks the writer broken if the entry fails midway."""

    def __init__(self, writer: TarStreamWriter) -> None:
        self._w = writer

    def __enter__(self) -> None:
        w = self._w
        w._lock.acquire()
        if w._broken or w._closed:
            w._lock.release()
            raise ArchiveError("tar writer is closed or unusable after an earlier error")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        w = self._w
        try:
            if exc is not None:
                w._broken = True
                if isinstance(exc, OSError):
                    raise ArchiveError(f"writing tar archive: {exc.strerror or exc}") from exc
        finally:
            w._lock.release()
