"""`toolkit.deadline`: one deadline for the whole command, seen by every thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from toolkit import deadline
from toolkit.errors import CommandTimeoutError, RegistryError, RetryableError


@pytest.fixture(autouse=True)
def _disarmed() -> Iterator[None]:
    deadline.disarm()
    yield
    deadline.disarm()


def test_without_a_deadline_nothing_is_capped_or_raised() -> None:
    assert deadline.remaining() is None and not deadline.expired()
    assert deadline.cap(30.0) == 30.0
    deadline.check("host")
    deadline.sleep(0.0)


def test_cap_shortens_timeouts_to_the_time_left_and_never_to_zero() -> None:
    deadline.arm(1.0, "1s")
    assert 0.5 < deadline.cap(30.0) <= 1.0
    assert deadline.cap(0.1) == 0.1
    deadline.arm(0.0, "0s")
    assert deadline.cap(30.0) == 0.001


def test_sleep_past_the_deadline_stops_at_it_and_says_so() -> None:
    deadline.arm(0.2, "200ms")
    started = time.monotonic()
    with pytest.raises(CommandTimeoutError, match=r"^timed out after 200ms waiting for registry.example:5000$"):
        deadline.sleep(5.0, "registry.example:5000")
    assert time.monotonic() - started < 1.0


def test_the_deadline_is_seen_by_other_threads_and_is_not_a_retryable_error() -> None:
    deadline.arm(0.0, "1s")
    seen: list[BaseException] = []

    def worker() -> None:
        try:
            deadline.check("h")
        except CommandTimeoutError as exc:
            seen.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert len(seen) == 1
    assert not isinstance(seen[0], RetryableError | RegistryError)
