"""Writing tar archives as a stream (docker-archive, oci-archive): `TarStreamWriter`.

Part of `toolkit.transports._tar`. Headers are ustar like Go's archive/tar as used by
c/image docker/internal/tarfile/writer.go (uid/gid 0, empty uname/gname, mode 0444, mtime
0), with PAX records only for long or non-ASCII names and known sizes of 8 GiB or more.
See `TarStreamWriter.add_file_unknown_size` for the in-place size patch (GNU base-256).
Names are produced by skopo (trusted) but still checked: not empty, no NUL, valid UTF-8.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, Protocol, cast

from toolkit.compression import Readable
from toolkit.digest import CHUNK_SIZE
from toolkit.errors import ArchiveError, InvalidInputError, NotSupportedError, SizeMismatchError
from toolkit.gocompat import path_clean
from toolkit.streams import ChunkReader, iter_chunks
from toolkit.transports._tar.headers import (
    _MAX_OCTAL_SIZE,
    _USTAR_MAGIC,
    BLOCK_SIZE,
    _dirname,
    _name_for_message,
    _round_up,
)

__all__ = ["TarStreamWriter"]


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

    def add_file_written_by(
        self, name: str, size: int, copy: Callable[[Callable[[Any], object]], int], *, mode: int = 0o444, mtime: int = 0
    ) -> None:
        """Add a regular file of exactly `size` bytes that `copy(write)` writes (through
        `write`, in order; it returns how many bytes it wrote): for a copier that reads its
        source itself. Raises `SizeMismatchError` if it wrote another count, and what `copy`
        raises; either breaks the writer as a failed `add_file` does."""
        if size < 0:
            raise InvalidInputError(f"invalid size {size} for tar entry {_name_for_message(name)}")
        header = self._header(name, b"0", size, mode, mtime)
        with self._entry():
            self._write(header)
            written = copy(self._write)
            if written != size:
                raise SizeMismatchError(
                    f"writing {_name_for_message(name)} to the archive: got {written} bytes, expected {size}"
                )
            self._write(bytes(_round_up(size) - size))

    def reserve_file(
        self, name: str, size: int, *, mode: int = 0o444, mtime: int = 0, patchable: bool = False
    ) -> int:
        """Add a regular file of exactly `size` bytes whose data the caller writes itself,
        later and from any thread, at the returned offset of the output (positional writes,
        e.g. `os.pwrite`); the next entries follow its padding. Needs `can_patch_sizes`
        (else `NotSupportedError`). The padding is a hole, which reads as zeros. A caller that
        fails to write the data MUST discard the archive (the entry is incomplete), or
        `rewind` to before it. `patchable`: the header `add_file_unknown_size` writes for
        this size (byte for byte the entry that path would have produced)."""
        if not self.can_patch_sizes:
            raise NotSupportedError("reserving a tar entry needs a seekable output")
        if size < 0:
            raise InvalidInputError(f"invalid size {size} for tar entry {_name_for_message(name)}")
        seekable = cast(_SeekableWritable, self._f)
        header = self._header(name, b"0", size, mode, mtime, patchable=patchable)
        with self._entry():
            self._write(header)
            start = seekable.tell()
            seekable.seek(start + _round_up(size))  # a buffered writer flushes the header first
        return start

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
            for chunk in iter_chunks(stream):
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

    def position(self) -> int:
        """Where the next entry's header goes (needs `can_patch_sizes`)."""
        with self._lock:
            return cast(_SeekableWritable, self._f).tell()

    def rewind(self, offset: int) -> None:
        """Drop every entry from `offset` (a `position()`) on: the output is truncated there
        and the writer usable again, also after an error. Needs `can_patch_sizes` and
        `truncate()`; the caller makes sure nobody still writes a reserved entry."""
        seekable = cast(_SeekableWritable, self._f)
        truncate = getattr(self._f, "truncate", None)
        if truncate is None or not self.can_patch_sizes:
            raise NotSupportedError("rewinding a tar archive needs a seekable output")
        with self._lock:
            if self._closed:
                raise ArchiveError("tar writer is closed")
            try:
                seekable.seek(offset)
                truncate(offset)
            except OSError as exc:
                self._broken = True
                raise ArchiveError(f"writing tar archive: {exc.strerror or exc}") from exc
            self._broken = False

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
        with ChunkReader(stream) as reader:
            self._copy_chunks(name, reader, stream, size)

    def _copy_chunks(self, name: str, reader: ChunkReader, stream: Readable, size: int) -> None:
        remaining = size
        while remaining:
            chunk = reader.read(min(remaining, CHUNK_SIZE))
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
