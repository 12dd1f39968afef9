"""One deadline for the whole command (`--command-timeout`), seen by every thread.

Contract:
- `arm(seconds, text)` sets the process-wide deadline (`text` is the duration as the user
  wrote it, for messages); `disarm()` clears it. Without one, every function here is a
  no-op that never raises.
- Network code caps each connect/read timeout with `cap()`, sleeps with `sleep()`, and, when
  a socket times out, asks `expired()` to tell the deadline from an idle connection: an
  expired deadline is reported as `CommandTimeoutError` (`timeout_error`), never as a
  network failure that a retry or the HTTP fallback would try to get past.
- The deadline is global, not per thread, because a copy's blobs move in worker threads
  that must stop at the same instant as the main thread.
"""

from __future__ import annotations

import threading
import time

from toolkit.errors import CommandTimeoutError

__all__ = ["arm", "disarm", "remaining", "expired", "cap", "sleep", "check", "timeout_error"]

_lock = threading.Lock()
_at: float | None = None
_text = ""
#: A socket timeout firing this close to the deadline is the deadline's.
_SLACK = 0.05


def arm(seconds: float, text: str) -> None:
    """Set the deadline to `seconds` from now (`text`: the duration as given, e.g. `2s`)."""
    global _at, _text
    with _lock:
        _at, _text = time.monotonic() + seconds, text


def disarm() -> None:
    """Clear the deadline."""
    global _at
    with _lock:
        _at = None


def remaining() -> float | None:
    """Seconds left (never negative), or None without a deadline."""
    at = _at
    return None if at is None else max(0.0, at - time.monotonic())


def expired() -> bool:
    """True if a deadline is set and (within `_SLACK`) passed."""
    at = _at
    return at is not None and time.monotonic() >= at - _SLACK


def cap(timeout: float) -> float:
    """`timeout`, shortened to the time left before the deadline (at least 1 ms, so that a
    socket call fails by timing out rather than being given a zero, i.e. non-blocking, timeout)."""
    left = remaining()
    return timeout if left is None else max(0.001, min(timeout, left))


def timeout_error(waiting_for: str = "") -> CommandTimeoutError:
    """The error to raise once the deadline passed: `timed out after 2s waiting for HOST`."""
    text = _text or f"{remaining() or 0:g}s"
    return CommandTimeoutError(f"timed out after {text}" + (f" waiting for {waiting_for}" if waiting_for else ""))


def check(waiting_for: str = "") -> None:
    """Raise `CommandTimeoutError` if the deadline passed."""
    if expired():
        raise timeout_error(waiting_for)


def sleep(seconds: float, waiting_for: str = "") -> None:
    """Sleep `seconds`, or until the deadline and then raise `CommandTimeoutError` (a retry
    that would start after the deadline is not waited for in vain beyond it)."""
    left = remaining()
    if left is not None and left <= seconds:
        time.sleep(left)
        raise timeout_error(waiting_for)
    time.sleep(seconds)
