"""Process plumbing for the test servers: free ports, bounded polls, sure teardown.

Every server a test starts goes through `start_process` / `stop_process`:
- it runs in its own session (so a whole process group can be signalled),
- on Linux it gets `PR_SET_PDEATHSIG`, so it dies even if pytest itself is killed,
- stdout and stderr go to a log file the failing test can print.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

__all__ = ["free_port", "poll_until", "start_process", "stop_process", "log_tail", "PollTimeoutError"]

T = TypeVar("T")

_PR_SET_PDEATHSIG = 1
_libc: ctypes.CDLL | None = None
if sys.platform == "linux":  # loaded here, never in the forked child
    with contextlib.suppress(OSError):
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


class PollTimeoutError(AssertionError):
    """A bounded poll ran out of time."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (callers retry on a clash)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def poll_until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.02,
    what: str = "condition",
    alive: Callable[[], str | None] | None = None,
) -> T:
    """Call `probe` until it returns something other than None; return that.

    The loop is bounded by `timeout` seconds. `alive`, if given, is checked on each
    round and returns an error text when the thing being waited for has died (so a
    crashed server fails at once instead of after the whole timeout).
    Raises `PollTimeoutError` on timeout or death.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None:
            return result
        if alive is not None:
            dead = alive()
            if dead is not None:
                raise PollTimeoutError(f"waiting for {what}: {dead}")
        if time.monotonic() >= deadline:
            raise PollTimeoutError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)
        interval = min(interval * 1.5, 0.25)


def _child_setup() -> None:  # runs in the child between fork and exec: keep it tiny
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def start_process(
    argv: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a server process with its output appended to `log_path`."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_child_setup,  # noqa: PLW1509 - only a prctl call, libc loaded before fork
        )


def stop_process(proc: subprocess.Popen[bytes], *, grace: float = 5.0) -> None:
    """Stop `proc` (with its process group): SIGTERM, wait up to `grace` s, then SIGKILL.

    Never raises for a process that already exited.
    """

    def signal_group(sig: int) -> None:
        try:
            os.killpg(proc.pid, sig)  # the group we created with start_new_session
        except ProcessLookupError:
            pass
        except PermissionError:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)

    # The group is signalled only while its leader is alive and not yet reaped, so its
    # id cannot have been reused by an unrelated process.
    if proc.poll() is None:
        signal_group(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            signal_group(signal.SIGKILL)
            proc.wait(timeout=grace)


def log_tail(path: Path, limit: int = 4000) -> str:
    """The last `limit` characters of a log file, for failure messages."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"<no log: {exc}>"
    return data[-limit:].decode("utf-8", errors="replace")
