"""Reading tar archives without extracting them: random access (`TarIndex`) and a single
pass over a stream (`iter_tar_stream`).

Part of `toolkit.transports._tar` (see the package docstring for the whole contract). The
rules enforced here, on **untrusted** archives, on top of the header parser's:

- nothing is ever extracted to disk; a compressed archive (`TarIndex.from_stream`) is
  decompressed into an unnamed temporary file, capped by the decompression budget, by the
  free space of the temporary directory, and by `MAX_SPOOL_RATIO` decompressed bytes per
  compressed byte once past `SPOOL_RATIO_FLOOR` (a bomb fails after ~0.5 GiB);
- at most `MAX_ENTRIES` entries are indexed; a truncated member or padding raises
  `ArchiveError`;
- a lookup compares `path.Clean(name)` with `path.Clean(wanted)`; several entries with one
  cleaned name are an error when that name is looked up (`ambiguous`), not when indexing;
- `TarIndex.resolve` follows at most ONE symlink or hardlink hop, which must stay inside the
  archive (no absolute target, no `..` escape); the final entry must be a regular file,
  otherwise `ArchiveError("... not a regular file")` (devices, FIFOs, directories, links).
"""

from __future__ import annotations

import io
import logging
import os
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from toolkit.compression import (
    DEFAULT_DECOMPRESS_BUDGET,
    Readable,
    decompressing_reader,
    detect_compression,
    peek_compression,
)
from toolkit.digest import CHUNK_SIZE, ReadIntoFromRead
from toolkit.errors import ArchiveError, SizeLimitError, ToolkitError, safe_text
from toolkit.streams import read_to_end
from toolkit.transports._tar.headers import (
    BLOCK_SIZE,
    MAX_ENTRIES,
    MAX_SPOOL_RATIO,
    SPOOL_RATIO_FLOOR,
    MemberNotFoundError,
    MemberType,
    TarHeader,
    _dirname,
    _name_for_message,
    _Parser,
    _round_up,
    _truncated,
    clean_member_name,
)
from toolkit.types import Compression

__all__ = ["TarIndex", "TarMemberReader", "TarStreamMember", "iter_tar_stream", "spool_limit", "SPOOL_NOTICE_AFTER"]

logger = logging.getLogger(__name__)

#: Free space a spool leaves on its filesystem: 5 % of its size, at least 16 MiB, at most
#: 1 GiB. Filling the temporary directory's disk would make every other process on the
#: machine fail with ENOSPC; we stop first, with an error naming the limit.
SPOOL_MARGIN_FRACTION = 20
SPOOL_MARGIN_MIN = 16 << 20
SPOOL_MARGIN_MAX = 1 << 30
#: A spool that grows past this many bytes says so on stderr (once).
SPOOL_NOTICE_AFTER = 1 << 30


def spool_limit(directory: str | Path | None, budget: int | None) -> tuple[int, str]:
    """How many bytes may be spooled to `directory` (None: the system's temp directory),
    and the limit's description for an error: `budget` (None: `DEFAULT_DECOMPRESS_BUDGET`),
    and never more than the free space there minus the margin above."""
    where = str(directory) if directory is not None else tempfile.gettempdir()
    limit = DEFAULT_DECOMPRESS_BUDGET if budget is None else budget
    reason = f"the limit of {limit} bytes for temporary data"
    try:
        st = os.statvfs(where)
    except OSError:
        return limit, reason
    total = st.f_blocks * st.f_frsize
    margin = min(SPOOL_MARGIN_MAX, max(SPOOL_MARGIN_MIN, total // SPOOL_MARGIN_FRACTION))
    room = max(0, st.f_bavail * st.f_frsize - margin)
    if room < limit:
        limit = room
        reason = (
            f"the free space of {safe_text(where)} less a margin of {margin} bytes kept free; "
            "use --tmpdir elsewhere or a seekable file"
        )
    return limit, reason


class _SpoolNotice:
    """Says once on stderr (a log warning) that a large spool is under way."""

    def __init__(self, what: str, where: str) -> None:
        self._what = what
        self._where = where
        self._said = False

    def update(self, written: int) -> None:
        if not self._said and written > SPOOL_NOTICE_AFTER:
            self._said = True
            logger.warning("spooling %s to a temporary file in %s (%d bytes so far)", self._what, self._where, written)


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

    @property
    def fd(self) -> int | None:
        """The file's descriptor if it is read with `os.pread` (None: seek and read)."""
        return self._fd

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

    def file_range(self) -> tuple[int, int] | None:
        """(descriptor, offset) of the member's data in the archive file, when the archive
        is a regular file read with positional reads (else None); `size` bytes long. The
        descriptor belongs to the index: duplicate it to keep it."""
        fd = self._ra.fd
        if fd is None:
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
        except OSError:
            return None
        return fd, self._offset

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
        limit, reason = spool_limit(tmpdir, budget)
        where = safe_text(str(tmpdir) if tmpdir is not None else tempfile.gettempdir())
        notice = _SpoolNotice("the archive", where)
        logger.info("spooling the archive to a temporary file in %s (at most %d bytes)", where, limit)
        try:
            tmp = tempfile.TemporaryFile(dir=tmpdir)  # noqa: SIM115 - owned by the index
        except OSError as exc:
            raise ToolkitError(f"creating a temporary file in {safe_text(str(tmpdir))}: {exc.strerror}") from exc
        try:
            counted = _CountingReader(_NoClose(stream))
            algorithm, peeked = peek_compression(counted)
            # The reader's own budget is never reached first: the spool's check below names the limit.
            reader = decompressing_reader(peeked, algorithm, budget=limit + CHUNK_SIZE)
            if algorithm is not Compression.NONE:
                logger.debug("decompressing a %s-compressed archive to a temporary file", algorithm.value)
            written = 0
            try:
                while chunk := reader.read(CHUNK_SIZE):
                    written += len(chunk)
                    notice.update(written)
                    if written > limit:
                        raise SizeLimitError(
                            f"spooling the archive (it is not a seekable, uncompressed file) to a temporary file "
                            f"in {where}: exceeded maximum allowed size of {limit} bytes ({reason})"
                        )
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
            return read_to_end(self)
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
