"""containers/storage lock files (c/storage 1.43 `pkg/lockfile`), interoperable with Go.

Protocol, as c/storage implements it and every podman/skopeo/buildah process honours:
- a POSIX record lock (`fcntl(F_SETLKW)`, whole file: CPython's `fcntl.lockf`) on the
  lock file, shared (`F_RDLCK`) for readers, exclusive (`F_WRLCK`) for writers; the file
  is opened `O_RDWR|O_CREAT|O_CLOEXEC`, mode 0644, parent directories 0700 (read-only
  stores: `O_RDONLY`, shared only). It is opened when the first user in the process takes
  it and closed (which releases the lock; c/storage never calls `F_UNLCK`) by the last;
- POSIX locks belong to the process, and closing *any* descriptor of the file drops them,
  so one `LockFile` object per path per process (`LockFile.get`) holds the only
  descriptor, and threads share it: any number of shared holders or one exclusive one;
- "last writer": a writer that changed the data the lock protects calls `touch()`
  (before releasing), which writes 64 fresh bytes at offset 0 (little-endian nanosecond
  time, a counter, the PID, 44 random bytes). Other processes compare those bytes with
  the ones they saw last to know they must reload the JSON files (`images.json` is only
  reloaded when `images.lock` changed).

Locks are taken in c/storage's order (layers before images before containers) and held
briefly. The lock is never held while running the `containers-storage` command, which
takes the same locks itself.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import itertools
import os
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar, Final

from toolkit.errors import ToolkitError, safe_text
from toolkit.safefile import open_lock_file

__all__ = ["LockFile", "LAST_WRITER_SIZE"]

#: c/storage `lastWriterIDSize`.
LAST_WRITER_SIZE: Final = 64
_COUNTER = itertools.count(1)


def _last_writer_id() -> bytes:
    """A fresh last-writer value in c/storage's layout (readers only compare it)."""
    head = struct.pack("<QQI", time.time_ns() & (2**64 - 1), next(_COUNTER) & (2**64 - 1), os.getpid() & 0xFFFFFFFF)
    return head + os.urandom(LAST_WRITER_SIZE - len(head))


class LockFile:
    """One store lock file of this process. Use `LockFile.get(path)`, then
    `with lock.shared():` / `with lock.exclusive(): ... lock.touch()`."""

    _registry: ClassVar[dict[str, LockFile]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cond = threading.Condition()
        self._users = 0  # > 0: shared holders; -1: one exclusive holder
        self._opening = False
        self._fd: int | None = None
        self._exclusive_owner: int | None = None

    @classmethod
    def get(cls, path: Path) -> LockFile:
        """The process-wide lock object for `path` (made absolute)."""
        key = os.path.abspath(path)
        with cls._registry_lock:
            lock = cls._registry.get(key)
            if lock is None:
                lock = cls._registry[key] = cls(Path(key))
            return lock

    # ------------------------------------------------------------------ acquiring

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        """Hold the lock shared (readers); blocks while another process writes."""
        self._acquire(exclusive=False)
        try:
            yield
        finally:
            self._release()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the lock exclusively (writers); blocks while anyone else holds it."""
        self._acquire(exclusive=True)
        try:
            yield
        finally:
            self._release()

    def acquire_shared(self) -> None:
        """Take the lock shared until `release()` (for a stream that outlives a `with`)."""
        self._acquire(exclusive=False)

    def release(self) -> None:
        """Undo one `acquire_shared()`."""
        self._release()

    def _acquire(self, *, exclusive: bool) -> None:
        with self._cond:
            if exclusive:
                if self._exclusive_owner == threading.get_ident():
                    raise ToolkitError(f"internal error: lock {safe_text(str(self.path))} taken twice")
                while self._users != 0 or self._opening:
                    self._cond.wait()
                self._users = -1
                self._exclusive_owner = threading.get_ident()
            else:
                while self._users < 0 or self._opening:
                    self._cond.wait()
                self._users += 1
                if self._users > 1:
                    return  # the process already holds the shared record lock
            self._opening = True
        try:
            fd = self._open_and_lock(exclusive=exclusive)
        except BaseException:
            with self._cond:
                self._opening = False
                self._users = 0 if exclusive else self._users - 1
                self._exclusive_owner = None
                self._cond.notify_all()
            raise
        with self._cond:
            self._fd = fd
            self._opening = False
            self._cond.notify_all()

    def _open_and_lock(self, *, exclusive: bool) -> int:
        what = safe_text(str(self.path))
        try:
            fd = open_lock_file(self.path, 0o644, dir_mode=0o700)
        except OSError as exc:
            if exclusive or exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise ToolkitError(f"opening lock file {what}: {exc.strerror}") from exc
            try:  # a store we may read but not write (c/storage's read-only lock files)
                fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as exc2:
                raise ToolkitError(f"opening lock file {what}: {exc2.strerror}") from exc2
        try:
            # F_SETLKW on the whole file, retried on EINTR by Python.
            fcntl.lockf(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        except OSError as exc:
            os.close(fd)
            raise ToolkitError(f"locking {what}: {exc.strerror}") from exc
        return fd

    def _release(self) -> None:
        with self._cond:
            if self._users < 0:
                self._users = 0
                self._exclusive_owner = None
            elif self._users > 0:
                self._users -= 1
            if self._users == 0 and self._fd is not None:
                fd, self._fd = self._fd, None
                with contextlib.suppress(OSError):
                    os.close(fd)  # releases the record lock
            self._cond.notify_all()

    # ------------------------------------------------------------------ last writer

    def touch(self) -> None:
        """Record a change (c/storage `Touch`): only while holding the lock exclusively."""
        with self._cond:
            if self._users != -1 or self._fd is None or self._exclusive_owner != threading.get_ident():
                raise ToolkitError("internal error: attempted to update last-writer in lockfile without the write lock")
            fd = self._fd
        try:
            written = os.pwrite(fd, _last_writer_id(), 0)
        except OSError as exc:
            raise ToolkitError(f"updating lock file {safe_text(str(self.path))}: {exc.strerror}") from exc
        if written != LAST_WRITER_SIZE:
            raise ToolkitError(f"updating lock file {safe_text(str(self.path))}: short write")
