"""The one place where skopo creates files and directories (stdlib only, layer 1).

Every file, temporary file, staging directory and lock file skopo writes is made here, so
that one review covers them all (a test walks `toolkit/` and fails on any other
`open(..., "w")`, `write_text`, `os.open(..., O_CREAT)` or `mkdir`).

Contract:
- Nothing here follows a symbolic link planted at a name it creates: new files are made
  with `O_CREAT|O_EXCL|O_NOFOLLOW` (`create_new_file`), temporary names are random and
  retried on a clash (`create_temp_file`, `make_temp_dir`), directories with `mkdir`
  (which never follows a final link) and checked to be directories, not links
  (`make_dirs`). A clash or a link is an error, never a write through the link.
- `make_dirs` creates every missing directory of a path with the requested mode, not
  only the last one (`mkdir -p` gives the parents the umask's default).
- `write_atomic` replaces a regular file (or creates it): a temporary file in the same
  directory, fsync, `os.replace`, fsync of the directory; on any failure (including a
  signal) the temporary file is removed and the old content is intact.
- `write_output` is for a path a user names for output (`--digestfile`, `-o`): a path
  that exists and is not a regular file (a character device, a FIFO, `/dev/stdout`, a
  link to `/proc/self/fd/1`) is opened and written in place, since a rename would
  replace the device by a regular file; otherwise `write_atomic`. Write errors (ENOSPC
  on `/dev/full`, EPIPE) are raised, never ignored.
- Errors are `ToolkitError` naming the file; the untrusted path is passed through `safe_text`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time
from pathlib import Path
from typing import Final

from toolkit._lazy import lazy_pattern
from toolkit.errors import ToolkitError, safe_text

__all__ = [
    "OUTPUT_WAIT",
    "create_new_file",
    "create_temp_file",
    "make_dirs",
    "make_new_dir",
    "make_temp_dir",
    "open_lock_file",
    "open_special_for_writing",
    "refuse_dangling_link",
    "temp_sibling",
    "write_all",
    "write_atomic",
    "write_output",
    "os_error",
]

_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
#: Seconds to wait for a reader to open a FIFO named for output, before failing.
OUTPUT_WAIT: Final = 10.0
#: Names that stand for one of this process's open descriptors.
_DESCRIPTOR_NAME = lazy_pattern(
    r"^/(?:proc/(?P<pid>self|thread-self|\d+)/fd/(?P<fd>\d+)|dev/fd/(?P<devfd>\d+)|dev/(?P<std>stdout|stderr|stdin))$"
)


def os_error(exc: OSError, what: str) -> ToolkitError:
    """A one-line `ToolkitError` for an OSError while working on `what`."""
    return ToolkitError(f"{what}: {exc.strerror or exc}")


def temp_sibling(target: Path, kind: str = "tmp") -> Path:
    """A fresh hidden sibling name for `target`: `.<name>.<kind>-<12 hex>` (random, so a
    link planted in advance is unlikely to sit there; creation still refuses one)."""
    return target.with_name(f".{target.name}.{kind}-{_random_hex(6)}")


def _random_hex(nbytes: int) -> str:
    """`nbytes` random bytes from the OS, in hex: what `secrets.token_hex` returns, without
    importing `secrets` (and its random, hmac, base64) on every start."""
    return os.urandom(nbytes).hex()


def create_new_file(path: Path | str, mode: int = 0o644, *, what: str | None = None) -> int:
    """A write-only descriptor of a file that did not exist (`O_CREAT|O_EXCL|O_NOFOLLOW`).

    Raises `FileExistsError` (anything at the name, a dangling link included) and other
    `OSError`s unchanged when `what` is None, else a `ToolkitError` naming `what`.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
    try:
        fd = os.open(path, flags, mode)
    except OSError as exc:
        if what is None:
            raise
        raise os_error(exc, f"creating {what} {safe_text(str(path))}") from exc
    # The umask may have taken bits away that the caller asked for (0644 under umask 077):
    # set the exact mode, as the anchors do for keys and auth files.
    with contextlib.suppress(OSError):
        os.fchmod(fd, mode)
    return fd


def create_temp_file(target: Path, mode: int = 0o644, kind: str = "tmp") -> tuple[int, Path]:
    """Create `.<name>.<kind>-<hex>` beside `target` (a fresh random name on a clash).

    Returns the descriptor (write-only) and the path. Raises `OSError`.
    """
    for _ in range(100):
        path = temp_sibling(target, kind)
        try:
            return create_new_file(path, mode), path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(target))


def make_temp_dir(target: Path, kind: str = "partial", mode: int = 0o755) -> Path:
    """Create the directory `.<name>.<kind>-<hex>` beside `target`; returns its path.

    `mkdir` never follows a link at the final name; a clash picks another name. Raises `OSError`.
    """
    for _ in range(100):
        path = temp_sibling(target, kind)
        try:
            os.mkdir(path, mode)
        except FileExistsError:
            continue
        with contextlib.suppress(OSError):
            os.chmod(path, mode, follow_symlinks=False)
        return path
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(target))


def make_new_dir(path: Path | str, mode: int = 0o755) -> None:
    """Create the directory `path`, which must not exist (`FileExistsError`, also for a link
    planted there: `mkdir` never follows one); its parent must exist. Raises `OSError`."""
    os.mkdir(path, mode)
    with contextlib.suppress(OSError):
        os.chmod(path, mode, follow_symlinks=False)


def make_dirs(path: Path | str, mode: int = 0o755, *, parents: bool = True) -> None:
    """Create `path` and every missing parent, each with `mode` (the umask still applies);
    with `parents=False` the parent must exist (`FileNotFoundError`).

    An existing directory is kept as it is; an existing non-directory (a link included) at any
    component is `NotADirectoryError`. Raises `OSError`.
    """
    path = Path(os.path.abspath(path))
    missing: list[Path] = []
    current = path
    while not os.path.isdir(current):
        missing.append(current)
        if current.parent == current or not parents:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, mode)
        except FileExistsError:
            # A concurrent creator, or a link/file planted there: only a real directory will do.
            if not stat.S_ISDIR(os.lstat(directory).st_mode):
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(directory)) from None
            continue


def refuse_dangling_link(path: str, what: str) -> None:
    """Refuse a destination named through a link to nothing: writing there would create
    the link's target, anywhere (a link planted in a shared directory). `ToolkitError`."""
    if os.path.islink(path) and not os.path.exists(path):
        raise ToolkitError(
            f"{what} {safe_text(path)}: is a symbolic link to a missing file; refusing to create its target"
        )


def open_lock_file(path: Path, mode: int = 0o644, dir_mode: int = 0o700) -> int:
    """A read-write descriptor of a lock file shared with other processes (created if
    missing, parents `dir_mode`); a link at its name is refused (ELOOP). Raises `OSError`."""
    make_dirs(path.parent, dir_mode)
    return os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW | _CLOEXEC, mode)


def write_all(fd: int, data: bytes) -> None:
    """Write all of `data` to `fd` (a short write is continued). Raises `OSError`."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:  # never loop forever on a device that accepts nothing
            raise OSError(errno.EIO, "short write")
        view = view[written:]


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644, dir_mode: int | None = None) -> None:
    """Replace (or create) the file `path` with `data`, atomically (see the module docstring).

    `dir_mode`: create missing parents with this mode. A link at `path` is replaced, never
    followed. Raises `OSError`; the caller names the file in its own error.
    """
    if dir_mode is not None:
        make_dirs(path.parent, dir_mode)
    fd, tmp = create_temp_file(path, mode)
    try:
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _our_descriptor(path: str) -> int | None:
    """The descriptor number `path` (or a link on its way) names, if it is one of ours
    (`/dev/stdout`, `/dev/fd/N`, `/proc/self/fd/N`), else None."""
    current = os.path.abspath(path)
    for _ in range(40):
        match = _DESCRIPTOR_NAME().match(current)
        if match:
            pid = match.group("pid")
            if pid is None or pid in {"self", "thread-self", str(os.getpid())}:
                number = match.group("fd") or match.group("devfd")
                return int(number) if number else {"stdin": 0, "stdout": 1, "stderr": 2}[match.group("std")]
            return None
        try:
            link = os.readlink(current)
        except OSError:
            return None
        current = os.path.normpath(os.path.join(os.path.dirname(current), link))
    return None


def open_special_for_writing(path: str, what: str, *, wait: float = OUTPUT_WAIT) -> int | None:
    """A write descriptor for an output path that must be written in place, or None.

    In place: a path that exists and is a character device or a FIFO (also through links),
    or that names one of our descriptors (`/dev/stdout`, `/proc/self/fd/1`: a copy of that
    descriptor is returned, so a shell's `> file` keeps its offset and nothing is replaced). A FIFO
    without a reader fails after `wait` seconds instead of blocking. None: a regular file
    (or nothing) at `path`, to be replaced atomically. Raises `ToolkitError` naming `what`
    for a directory, a socket, a block device, or an open error.
    """
    name = safe_text(path)
    descriptor = _our_descriptor(path)
    if descriptor is not None:
        # Write to the descriptor itself (a copy), not a new open of the name: the shell's
        # `> file` keeps its offset, and nothing is truncated or replaced.
        try:
            return os.dup(descriptor)
        except OSError as exc:
            raise os_error(exc, f"opening {what} {name}") from exc
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise os_error(exc, f"{what} {name}") from exc
    if stat.S_ISREG(st.st_mode):
        return None
    if stat.S_ISDIR(st.st_mode):
        raise ToolkitError(f"{what} {name}: is a directory")
    if not (stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
        raise ToolkitError(f"{what} {name}: not a regular file, a character device or a pipe")
    flags = os.O_WRONLY | _CLOEXEC
    if not stat.S_ISFIFO(st.st_mode):
        try:
            return os.open(path, flags)
        except OSError as exc:
            raise os_error(exc, f"opening {what} {name}") from exc
    deadline = time.monotonic() + wait
    while True:
        try:
            fd = os.open(path, flags | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENXIO: no reader yet
                raise os_error(exc, f"opening {what} {name}") from exc
            if time.monotonic() >= deadline:
                raise ToolkitError(f"{what} {name}: no reader opened the pipe within {wait:g} s") from exc
            import select  # a pipe without a reader yet: seldom (a C module, ~0.5 M to load)

            select.select([], [], [], 0.05)
            continue
        os.set_blocking(fd, True)
        return fd


def write_output(path: Path, data: bytes, *, what: str, mode: int = 0o644) -> None:
    """Write `data` to an output file a user named (see the module docstring).

    Raises `ToolkitError` ("writing WHAT PATH: REASON") on any failure, the partial write
    to a device included; a regular file keeps its old content on failure.
    """
    name = safe_text(str(path))
    fd = open_special_for_writing(str(path), what)
    if fd is not None:
        try:
            write_all(fd, data)
        except OSError as exc:
            raise os_error(exc, f"writing {what} {name}") from exc
        finally:
            os.close(fd)
        return
    try:
        write_atomic(path, data, mode=mode)
    except OSError as exc:
        raise os_error(exc, f"writing {what} {name}") from exc
