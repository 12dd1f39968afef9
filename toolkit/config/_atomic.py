"""Atomic replacement of a small configuration file (auth.json).

The config layer cannot use `toolkit.transports._fs.AtomicFile` (transports sit above
it; lookaside signatures, written by the registry transport, use that one); this is the
config layer's one copy of the pattern: a unique temporary file in the
target's directory, written, chmod'ed, fsync'ed and renamed over the target, then the
directory fsync'ed. Any failure (or interruption) removes the temporary file and leaves
the target as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["write_file_atomic"]


def write_file_atomic(path: Path, data: bytes, *, mode: int, dir_mode: int) -> None:
    """Replace `path` with `data` (file `mode`; missing parents created `dir_mode`).

    Raises `OSError`; the caller names the file in its own error type.
    """
    path.parent.mkdir(mode=dir_mode, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
