"""Size limits for untrusted documents and bounded readers (stdlib only, layer 1).

Contract: `read_limited` never returns more than `limit` bytes and raises
`SizeLimitError` ("exceeded maximum allowed size of N bytes") as soon as the input is
longer, after reading at most `limit + 1` bytes (CVE-2020-1702). `read_file_limited`
also refuses anything that is not a regular file (a FIFO or device could block forever
or never end). `read_named_input` is for files a user names on the command line
(`manifest-digest FILE`, `standalone-sign`/`-verify`): a regular file, a character device
(`/dev/null`, `/dev/stdin`) or a pipe (`<(...)`), with the same cap, and a pipe that no
writer opens is an error after `PIPE_WAIT` seconds, never a hang.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO, Final

from toolkit.errors import InvalidInputError, SizeLimitError, ToolkitError, safe_text

__all__ = [
    "MAX_MANIFEST_SIZE",
    "MAX_CONFIG_SIZE",
    "MAX_SIGNATURE_SIZE",
    "MAX_SIGNATURE_LIST_SIZE",
    "MAX_AUTH_TOKEN_SIZE",
    "MAX_ERROR_BODY_SIZE",
    "MAX_TAR_MANIFEST_SIZE",
    "MAX_INDEX_JSON_SIZE",
    "MAX_CONFIG_FILE_SIZE",
    "MAX_SIGNATURES",
    "read_limited",
    "read_file_limited",
    "read_named_input",
    "PIPE_WAIT",
]

MAX_MANIFEST_SIZE: Final = 4 << 20
MAX_CONFIG_SIZE: Final = 4 << 20
MAX_SIGNATURE_SIZE: Final = 4 << 20
MAX_SIGNATURE_LIST_SIZE: Final = 4 << 20
MAX_AUTH_TOKEN_SIZE: Final = 1 << 20
MAX_ERROR_BODY_SIZE: Final = 1 << 20
MAX_TAR_MANIFEST_SIZE: Final = 1 << 20
MAX_INDEX_JSON_SIZE: Final = 4 << 20
#: policy.json, registries.d files, auth.json, registries.conf, sync YAML.
MAX_CONFIG_FILE_SIZE: Final = 1 << 20
#: Signatures read for one image (lookaside, dir:, sigstore attachment layers).
MAX_SIGNATURES: Final = 128


def read_limited(stream: BinaryIO, limit: int, what: str) -> bytes:
    """Read all of `stream`, refusing more than `limit` bytes."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise SizeLimitError(f"reading {what}: exceeded maximum allowed size of {limit} bytes")
    return data


def _open_without_blocking(path: Path | str, what: str, *, follow_symlinks: bool = True) -> int:
    """A read-only descriptor of `path` opened with O_NONBLOCK (opening a FIFO never waits for
    its writer); `ToolkitError` naming the file if it cannot be opened."""
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
    if not follow_symlinks:
        flags |= os.O_NOFOLLOW
    try:
        return os.open(path, flags)
    except FileNotFoundError as exc:
        raise ToolkitError(f"{what} {safe_text(str(path))}: no such file") from exc
    except OSError as exc:
        raise ToolkitError(f"{what} {safe_text(str(path))}: {exc.strerror}") from exc


def read_file_limited(path: Path | str, limit: int, what: str, *, follow_symlinks: bool = True) -> bytes:
    """Read a regular file of at most `limit` bytes.

    Raises `ToolkitError` naming the file if it is missing, not a regular file (FIFO,
    device, directory; or a symlink when `follow_symlinks` is false) or too large.
    """
    fd = _open_without_blocking(path, what, follow_symlinks=follow_symlinks)
    # Check before fdopen: FileIO itself refuses a directory with a bare IsADirectoryError.
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ToolkitError(f"{what} {safe_text(str(path))}: not a regular file")
    with os.fdopen(fd, "rb") as f:
        # The file is regular: blocking reads are fine again.
        os.set_blocking(f.fileno(), True)
        try:
            return read_limited(f, limit, f"{what} {safe_text(str(path))}")
        except OSError as exc:
            raise ToolkitError(f"{what} {safe_text(str(path))}: {exc.strerror}") from exc


#: Seconds a named pipe may stay without a writer, or without data, before reading it fails.
PIPE_WAIT: Final = 10.0


def read_named_input(
    path: Path | str, limit: int, what: str, *, wait: float = PIPE_WAIT, first_line: bool = False
) -> bytes:
    """Read a file named on the command line: a regular file, a character device or a pipe,
    at most `limit` bytes (with `first_line`, only up to and including the first newline).

    Raises `ToolkitError` naming the file if it is missing, a directory, a socket or a block
    device, too large, or a pipe that stays silent (no writer, or no data) for `wait` seconds.
    """
    name = safe_text(str(path))
    fd = _open_without_blocking(path, what)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISREG(mode) or stat.S_ISCHR(mode):
            os.set_blocking(fd, True)
            with os.fdopen(os.dup(fd), "rb") as f:
                if first_line:
                    return f.readline(limit + 1)
                return read_limited(f, limit, f"{what} {name}")
        if stat.S_ISDIR(mode):
            raise ToolkitError(f"{what} {name}: is a directory")
        if not stat.S_ISFIFO(mode):
            raise ToolkitError(f"{what} {name}: not a regular file, a character device or a pipe")
        # A pipe: wait for its writer and its data with a deadline, never forever.
        import select  # pipes only (an extension module: a file need not load it)
        import time

        chunks: list[bytes] = []
        size = 0
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP)
        deadline = time.monotonic() + wait
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not poller.poll(left * 1000):
                raise ToolkitError(f"{what} {name}: nothing was written to the pipe within {wait:g} s")
            try:
                # One byte at a time for a first line: nothing after the newline is consumed.
                data = os.read(fd, 1 if first_line else min(1 << 20, limit + 1 - size))
            except BlockingIOError:
                continue
            if not data:
                return b"".join(chunks)
            chunks.append(data)
            size += len(data)
            if first_line and (data == b"\n" or size > limit):
                return b"".join(chunks)
            if size > limit:
                raise SizeLimitError(f"reading {what} {name}: exceeded maximum allowed size of {limit} bytes")
            deadline = time.monotonic() + wait
    except OSError as exc:
        raise ToolkitError(f"{what} {name}: {exc.strerror}") from exc
    finally:
        os.close(fd)


#: A passphrase file is read up to its first newline, and no further than this.
MAX_PASSPHRASE_LINE: Final = 64 * 1024


def read_first_line(path: str, what: str = "passphrase file") -> bytes:
    """The first line of `path` without its trailing newline (containers/image `ReadPassphraseFile`).

    Works with pipes (`--passphrase-file <(...)`; a FIFO nobody writes fails after
    `PIPE_WAIT` s); refuses a first line over `MAX_PASSPHRASE_LINE`.
    """
    try:
        line = read_named_input(path, MAX_PASSPHRASE_LINE, what, first_line=True)
    except ToolkitError as exc:
        cause = exc.__cause__
        if isinstance(cause, OSError) and cause.strerror:
            raise InvalidInputError(f"reading {what} {safe_text(path)}: {cause.strerror}") from exc
        raise InvalidInputError(str(exc)) from exc
    if len(line) > MAX_PASSPHRASE_LINE:
        raise InvalidInputError(f"reading {what} {safe_text(path)}: first line is too long")
    return line.removesuffix(b"\n")
