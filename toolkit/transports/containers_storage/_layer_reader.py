"""A layer's original tar stream, rebuilt from its tar-split file and the layer's files.

c/storage keeps no layer tar: `DRIVER-layers/LAYERID.tar-split.gz` holds, gzip-compressed,
one JSON object per line (vbatts/tar-split `storage.Entry`): `{"type":2,"payload":B64}`
segments are raw tar bytes (headers, padding, end blocks) copied verbatim;
`{"type":1,"name":N,"size":S,...}` stands for the `S` content bytes of file `N`, read
from the layer's directory (`name_raw`, base64, replaces `name` for non-UTF-8 names).
Concatenated they give back the layer tar byte for byte, so its sha256 is the layer's
`diff-digest`.

Everything here is untrusted store content: lines are size-capped, the decompressed
tar-split is capped relative to the layer size (a gzip bomb of empty entries cannot spin
forever), names are resolved beneath the layer directory one component at a time without
following symlinks (c/storage would follow them; a layer whose path crosses a symlink is
refused), only regular files are read, and exactly `size` bytes of each. The caller wraps
the stream in a `VerifyingReader` against `diff-digest`/`diff-size`, which is the final
check (c/storage checks a CRC-64 per file instead).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import gzip
import io
import json
import os
import posixpath
import stat
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from toolkit.digest import CHUNK_SIZE, ReadIntoFromRead
from toolkit.errors import ArchiveError, ToolkitError, safe_text
from toolkit.transports._fs import open_regular_file

__all__ = ["TarSplitReader", "MAX_TAR_SPLIT_LINE"]

#: One tar-split line: a segment of tar headers (PAX records up to 1 MiB) in base64.
MAX_TAR_SPLIT_LINE: Final = 8 << 20
_SEGMENT: Final = 2
_FILE: Final = 1
_DIR_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS: Final = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


class _Bounded(io.RawIOBase):
    """Counts decompressed bytes and refuses more than `limit`."""

    def __init__(self, inner: gzip.GzipFile, limit: int, what: str) -> None:
        super().__init__()
        self._inner = inner
        self._left = limit
        self._what = what

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        try:
            n = self._inner.readinto(view[: max(1, min(len(view), self._left + 1))])
        except (OSError, EOFError, zlib.error) as exc:
            raise ArchiveError(f"{self._what}: corrupt tar-split data ({exc})") from exc
        self._left -= n
        if self._left < 0:
            raise ArchiveError(f"{self._what}: tar-split data is larger than the layer allows")
        return n


class TarSplitReader(ReadIntoFromRead, io.RawIOBase):
    """The layer tar as a stream. `on_close` (set by the caller) runs once, when the stream
    is closed; a constructor that raises leaves nothing open."""

    on_close: Callable[[], None] | None = None

    def __init__(self, tar_split: Path, files_dir: Path, *, diff_size: int, what: str) -> None:
        super().__init__()
        self._what = what
        self._dir_fd: int | None = None
        self._cached_dir: tuple[bytes, int] | None = None
        self._pending = memoryview(b"")
        self._file: io.FileIO | None = None
        self._file_left = 0
        self._file_name = ""
        self._done = False
        try:
            raw = open_regular_file(tar_split, "tar-split data")
        except ToolkitError as exc:
            self._done = True
            if not os.path.lexists(tar_split):
                raise ToolkitError(
                    f"{what}: the store has no tar-split data for it, so its original tar stream cannot be rebuilt"
                ) from exc
            raise
        # Segments are base64 (4/3) plus ~70 bytes of JSON per entry; a tar entry is at
        # least 512 bytes, so twice the layer plus a margin is far more than any real file.
        limit = 2 * max(diff_size, 0) + (16 << 20)
        self._raw = raw
        self._lines = io.BufferedReader(_Bounded(gzip.GzipFile(fileobj=raw, mode="rb"), limit, what), 1 << 20)
        try:
            self._dir_fd = os.open(files_dir, _DIR_FLAGS)
        except OSError as exc:
            raw.close()
            raise ToolkitError(f"{what}: layer directory {safe_text(str(files_dir))}: {exc.strerror}") from exc

    def readable(self) -> bool:
        return True

    # ------------------------------------------------------------------ reading

    def read(self, n: int | None = -1, /) -> bytes:
        if n is None or n < 0:
            parts = []
            while chunk := self.read(CHUNK_SIZE):
                parts.append(chunk)
            return b"".join(parts)
        while not self._done:
            if self._pending:
                chunk = bytes(self._pending[:n])
                self._pending = self._pending[len(chunk) :]
                return chunk
            if self._file is not None:
                return self._read_file(n)
            self._next_entry()
        return b""

    def _read_file(self, n: int) -> bytes:
        assert self._file is not None
        try:
            data = self._file.read(min(n, self._file_left, CHUNK_SIZE))
        except OSError as exc:
            raise ToolkitError(f"{self._what}: reading {self._file_name}: {exc.strerror}") from exc
        if not data:
            raise ArchiveError(f"{self._what}: file {self._file_name} is shorter than the layer recorded")
        self._file_left -= len(data)
        if self._file_left == 0:
            self._file.close()
            self._file = None
        return data

    def _next_entry(self) -> None:
        line = self._lines.readline(MAX_TAR_SPLIT_LINE + 1)
        if not line:
            self._done = True
            return
        if len(line) > MAX_TAR_SPLIT_LINE:
            raise ArchiveError(f"{self._what}: tar-split line longer than {MAX_TAR_SPLIT_LINE} bytes")
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError) as exc:
            raise ArchiveError(f"{self._what}: invalid tar-split entry ({safe_text(str(exc), 120)})") from exc
        if not isinstance(entry, dict):
            raise ArchiveError(f"{self._what}: invalid tar-split entry")
        kind = entry.get("type")
        if kind == _SEGMENT:
            self._pending = memoryview(_b64(entry.get("payload"), self._what))
        elif kind == _FILE:
            size = entry.get("size", 0)
            if size is None:
                size = 0
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise ArchiveError(f"{self._what}: tar-split entry with an invalid size")
            name = _entry_name(entry, self._what)
            if size:
                self._open_file(name, size)
        else:
            raise ArchiveError(f"{self._what}: tar-split entry of unknown type {safe_text(repr(kind), 40)}")

    def _open_file(self, name: bytes, size: int) -> None:
        shown = safe_text(os.fsdecode(name), 200)
        clean = posixpath.normpath(b"/" + name).lstrip(b"/")
        parent, _, base = clean.rpartition(b"/")
        if not base or base == b"..":
            raise ArchiveError(f"{self._what}: tar-split names an invalid file {shown!r}")
        dir_fd = self._open_dir(parent, shown)
        try:
            fd = os.open(base, _FILE_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno in (40, 20):  # ELOOP (a symlink), ENOTDIR
                raise ArchiveError(f"{self._what}: {shown!r} is not a regular file in the layer") from exc
            raise ToolkitError(f"{self._what}: opening {shown!r}: {exc.strerror}") from exc
        f = io.FileIO(fd, "rb")
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            f.close()
            raise ArchiveError(f"{self._what}: {shown!r} is not a regular file in the layer")
        os.set_blocking(fd, True)
        self._file, self._file_left, self._file_name = f, size, repr(shown)

    def _open_dir(self, parent: bytes, shown: str) -> int:
        """A descriptor of directory `parent` under the layer root, reached without symlinks."""
        assert self._dir_fd is not None
        if not parent:
            return self._dir_fd
        if self._cached_dir is not None and self._cached_dir[0] == parent:
            return self._cached_dir[1]
        fd = self._dir_fd
        opened: list[int] = []
        try:
            for component in parent.split(b"/"):
                fd = os.open(component, _DIR_FLAGS, dir_fd=fd)
                opened.append(fd)
        except OSError as exc:
            for d in opened:
                os.close(d)
            if exc.errno in (40, 20):
                raise ArchiveError(f"{self._what}: the path of {shown!r} crosses a symlink or a file") from exc
            raise ToolkitError(f"{self._what}: opening the directory of {shown!r}: {exc.strerror}") from exc
        for d in opened[:-1]:
            os.close(d)
        self._drop_cached_dir()
        self._cached_dir = (parent, fd)
        return fd

    def _drop_cached_dir(self) -> None:
        if self._cached_dir is not None:
            with contextlib.suppress(OSError):
                os.close(self._cached_dir[1])
            self._cached_dir = None

    # ------------------------------------------------------------------ closing

    def _run_on_close(self) -> None:
        callback, self.on_close = self.on_close, None
        if callback is not None:
            callback()

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self._file is not None:
                self._file.close()
                self._file = None
            self._drop_cached_dir()
            if self._dir_fd is not None:
                with contextlib.suppress(OSError):
                    os.close(self._dir_fd)
                self._dir_fd = None
            raw = getattr(self, "_raw", None)
            if raw is not None:
                raw.close()
        finally:
            super().close()
            self._run_on_close()


def _b64(value: Any, what: str) -> bytes:
    if value is None:
        return b""
    if not isinstance(value, str):
        raise ArchiveError(f"{what}: tar-split payload is not a string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ArchiveError(f"{what}: tar-split payload is not base64") from exc


def _entry_name(entry: dict[str, Any], what: str) -> bytes:
    raw = entry.get("name_raw")
    if raw:
        name = _b64(raw, what)
    else:
        text = entry.get("name", "")
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise ArchiveError(f"{what}: tar-split entry name is not a string")
        name = text.encode("utf-8", "surrogateescape")
    if b"\x00" in name:
        raise ArchiveError(f"{what}: tar-split entry name holds a NUL byte")
    return name
