"""The tar header format: parsing untrusted headers, and the format's constants and limits.

Part of `toolkit.transports._tar` (see the package docstring for the whole contract). The
rules enforced here, on **untrusted** archives (Python's `tarfile` member parsing is not
used: Python 3.11.7 lacks the 2025 fixes, CVE-2025-8194 infinite loop on negative
offsets among them):

- `_Parser` understands ustar, GNU (`L` long name, `K` long link, base-256 numbers, old
  sparse `S` skipped), PAX (`path`, `linkpath`, `size`; global headers validated and
  ignored) and v7 headers;
- every header checksum (`_check_checksum`, unsigned or signed sums) and numeric field
  (`_parse_number`) is validated: a negative or overflowing size is an error;
- PAX and long-name records are capped at `MAX_EXTENSION_SIZE` (1 MiB), at most
  `_MAX_EXTENSIONS_IN_ROW` extension headers may precede an entry and `_MAX_SPARSE_BLOCKS`
  sparse blocks follow one; zero-length or malformed PAX records are refused
  (`_parse_pax` checks every length), so every archive is parsed in linear time;
- the archive ends at one or two zero blocks, or at EOF on a block boundary; a truncated
  header raises `ArchiveError`;
- `clean_member_name` is the lookup key of a name (Go's `path.Clean`, as containers/image
  docker/internal/tarfile/reader.go compares names); names that clean to an absolute path,
  `.` or a `..` escape, and names holding NUL, can never be found.

The limits used by the readers (`MAX_ENTRIES`, `MAX_SPOOL_RATIO`, `SPOOL_RATIO_FLOOR`) live
here too, beside the format's own, so that `reader` imports this module and not the reverse.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final, Protocol

from toolkit.errors import ArchiveError, safe_text
from toolkit.gocompat import INT64_MAX, path_clean

__all__ = [
    "BLOCK_SIZE",
    "MAX_EXTENSION_SIZE",
    "MAX_ENTRIES",
    "MAX_SPOOL_RATIO",
    "SPOOL_RATIO_FLOOR",
    "MemberType",
    "MemberNotFoundError",
    "TarHeader",
    "clean_member_name",
]

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
