"""Run skopo on a pseudo-terminal: answer its prompts (passphrase prompts need a TTY), or
drive it (`PtyProcess`: a window size, keys such as Ctrl-C) and read the screen it draws."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pyte

__all__ = ["ANSWERED", "PtyProcess", "read_chunk", "run_on_pty"]

ANSWERED = b"\n<answered>\n"  # appended to the transcript after each answer


def read_chunk(fd: int, timeout: float) -> bytes | None:
    """What the terminal `fd` has within `timeout` (b"" if nothing came), None at its end
    (EOF, or EIO once the other side closed it)."""
    if not select.select([fd], [], [], timeout)[0]:
        return b""
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        return None
    return chunk or None


def run_on_pty(
    args: Sequence[str | os.PathLike[str]],
    answers: Sequence[bytes],
    env: Mapping[str, str],
    *,
    cwd: Path | None = None,
    timeout: float = 60,
) -> tuple[int, bytes]:
    """Run `python -m toolkit *args` on a PTY; write the next of `answers` at each prompt (a line ending in ":").

    Returns the exit code and the transcript (what the terminal showed, with `ANSWERED`
    after each answer). The child is always reaped.
    """
    argv = [sys.executable, "-m", "toolkit", *map(os.fspath, args)]
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        if cwd is not None:
            os.chdir(cwd)
        os.execve(sys.executable, argv, dict(env))
    output = b""
    pending = list(answers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            chunk = read_chunk(fd, 0.5)
            if chunk is None:
                break
            output += chunk
            if pending and output.rstrip().endswith(b":"):
                os.write(fd, pending.pop(0))
                output += ANSWERED
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), output


class PtyProcess:
    """`python -m toolkit *args` on a PTY of `columns` x `rows`, its output fed to a VT100
    screen (pyte) as it comes. `read_until(predicate)` reads until the predicate holds on
    the screen's lines; `send(b"\\x03")` types a key (Ctrl-C makes the terminal send SIGINT
    to skopo, and echo `^C`, as for a user); `wait()` reads to the end and reaps the child.
    Always use it as a context manager: the child is killed and reaped on exit.
    """

    def __init__(self, args: Sequence[str | os.PathLike[str]], env: Mapping[str, str], *, columns: int,
                 rows: int = 30, cwd: Path | None = None) -> None:
        self.screen = pyte.Screen(columns, rows)
        self._stream = pyte.ByteStream(self.screen)
        self.raw = b""
        argv = [sys.executable, "-m", "toolkit", *map(os.fspath, args)]
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # pragma: no cover - the child
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
            # SIGINT may be inherited as ignored (tests in a background job); Ctrl-C must work.
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            if cwd is not None:
                os.chdir(cwd)
            os.execve(sys.executable, argv, {**env, "COLUMNS": str(columns), "LINES": str(rows)})
        self.status: int | None = None

    def __enter__(self) -> PtyProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.status is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)

    @property
    def lines(self) -> list[str]:
        """The screen, one string per row, trailing blanks removed."""
        return [line.rstrip() for line in self.screen.display]

    def _read(self, timeout: float) -> bool:
        """Feed what arrives within `timeout` to the screen; False at end of output."""
        chunk = read_chunk(self.fd, timeout)
        if chunk is None:
            return False
        self.raw += chunk
        self._stream.feed(chunk)
        return True

    def read_until(self, predicate: Callable[[list[str]], bool], timeout: float = 60) -> list[str]:
        deadline = time.monotonic() + timeout
        while not predicate(self.lines):
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting on the screen:\n" + "\n".join(self.lines))
            if not self._read(0.2) and not predicate(self.lines):
                raise AssertionError("skopo ended first; screen:\n" + "\n".join(self.lines))
        return self.lines

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def wait(self, timeout: float = 120) -> int:
        """Read everything to the end; return the exit status."""
        deadline = time.monotonic() + timeout
        while self._read(0.2):
            if time.monotonic() > deadline:
                raise AssertionError("skopo did not end; screen:\n" + "\n".join(self.lines))
        _, status = os.waitpid(self.pid, 0)
        self.status = os.waitstatus_to_exitcode(status)
        return self.status
