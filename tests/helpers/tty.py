"""Run skopo on a pseudo-terminal and answer its prompts (passphrase prompts need a TTY)."""

from __future__ import annotations

import os
import pty
import select
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["ANSWERED", "run_on_pty"]

ANSWERED = b"\n<answered>\n"  # appended to the transcript after each answer


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
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
            if pending and output.rstrip().endswith(b":"):
                os.write(fd, pending.pop(0))
                output += ANSWERED
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), output
