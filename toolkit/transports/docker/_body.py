"""A blob body that resumes with `Range` after a broken connection (c/image `body_reader.go`).

Rules (security.md §3):
- on a connection error, an unexpected EOF before the announced length, or an idle-read
  timeout, reconnect if this is the first reconnection, or at least 1 MiB arrived since
  the last one, or 60 s passed since it; otherwise fail;
- wait 1 s (+ up to 100 ms jitter), then `GET` with `Range: bytes=<offset>-`;
- accept only `206` with exactly one `Content-Range: bytes <first>-<last>/<len|*>` where
  `first == offset` and `last + 1` equals the complete length (when known, and the blob
  size when known). A `200`, a second `Content-Range`, or any other mismatch aborts:
  bytes are never spliced from a response we cannot place exactly.
The reader does not verify content: the caller wraps it in a `VerifyingReader`, whose
digest covers the whole stream across reconnections.

`readinto(buffer)` receives straight into the caller's buffer (no `bytes` per chunk): for a
length-delimited, undecoded body it reads the connection's socket file (`readinto1`, one
receive at a time, until the buffer is full, the body ends, 50 ms passed or the command's
deadline did), keeping http.client's and urllib3's byte counts as their own reads would, so the
end of the body still returns the connection to the pool. Any other body (chunked framing,
TLS or not) goes through urllib3's `read1` and a copy. A failed resume raises
`TransientRegistryError`, so `--retry-times` can re-run the copy from the start (the
destination has not committed anything at that point). Past the command's deadline
(`toolkit.deadline`) a read raises `CommandTimeoutError` and never reconnects.
"""

from __future__ import annotations

import http.client
import logging
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from toolkit import deadline
from toolkit._lazy import lazy_pattern
from toolkit.errors import safe_text
from toolkit.transports.docker._errors import TransientRegistryError
from toolkit.transports.docker._neterr import network_error

__all__ = ["ResumableBody", "parse_content_range", "MIN_PROGRESS", "RETRY_AFTER_SECONDS"]

log = logging.getLogger(__name__)

MIN_PROGRESS = 1 << 20
RETRY_AFTER_SECONDS = 60.0
RECONNECT_DELAY = 1.0
_CONTENT_RANGE = lazy_pattern(r"bytes ([0-9]{1,19})-([0-9]{1,19})/([0-9]{1,19}|\*)")

_T = TypeVar("_T", bytes, int)
#: `readinto` keeps receiving into a buffer at most this long before returning what it has.
_FILL_SECONDS = 0.05

_READ_ERRORS: tuple[type[BaseException], ...] = (
    urllib3.exceptions.HTTPError,
    requests.RequestException,
    OSError,
)


def parse_content_range(value: str) -> tuple[int, int, int]:
    """`(first, last, complete_length)` of a Content-Range value (-1: `*`). Raises ValueError."""
    match = _CONTENT_RANGE().fullmatch(value.strip())
    if match is None:
        raise ValueError(f"invalid Content-Range {value!r}")
    first, last = int(match.group(1)), int(match.group(2))
    length = -1 if match.group(3) == "*" else int(match.group(3))
    if last < first or (length != -1 and last >= length):
        raise ValueError(f"invalid Content-Range {value!r}")
    return first, last, length


class ResumableBody:
    """A raw (undecoded) blob body that reconnects with `Range` when the connection breaks.

    `reopen(offset)` must issue the ranged GET and return the response (any status).
    `total` is the full blob size (-1 if unknown). `what` names the blob in messages.
    """

    def __init__(
        self,
        response: requests.Response,
        reopen: Callable[[int], requests.Response],
        *,
        total: int,
        what: str,
        sleep: Callable[[float], None] = time.sleep,
        read_timeout: float = 0.0,
    ) -> None:
        self._read_timeout = read_timeout
        self._resp = response
        self._reopen = reopen
        self._total = total
        self._what = what
        self._sleep = sleep
        self.offset = 0
        self._last_retry_offset = 0
        self._last_retry_time: float | None = None
        self.reconnections = 0

    def read(self, n: int = -1, /) -> bytes:
        """Up to `n` bytes (1 MiB for `n` < 0): what one receive brings; `b""` at the end."""
        if n is None or n < 0:
            n = 1 << 20
        return self._resuming(lambda at_end: self._read_raw(n, at_end=at_end), len)

    def readinto(self, buffer: Any) -> int:
        """Like `read(len(buffer))`, into `buffer` (see the module docstring); 0 at the end."""
        view = memoryview(buffer).cast("B")
        if not view:
            return 0

        def receive(at_end: bool) -> int:
            if at_end:  # the probe for bytes beyond the announced length
                data = self._read_raw(len(view), at_end=True)
                view[: len(data)] = data
                return len(data)
            return self._receive_into(view)

        return self._resuming(receive, int)

    def _resuming(self, receive: Callable[[bool], _T], count: Callable[[_T], int]) -> _T:
        """`receive(at_end)`, reconnecting on a broken connection or an early EOF (the rules
        of the module docstring); the offset advances by `count` of what it returned."""
        # A trickling server never trips the idle timeout: the command's deadline still holds.
        deadline.check(self._what)
        while True:
            if self._total >= 0 and self.offset >= self._total:
                # Everything announced has arrived: probe for extra bytes once.
                return receive(True)
            try:
                got = receive(False)
            except _READ_ERRORS as exc:
                if deadline.expired():
                    raise deadline.timeout_error(self._what) from exc
                self._reconnect(exc)
                continue
            size = count(got)
            if not size and self._total >= 0 and self.offset < self._total:
                self._reconnect(EOFError("unexpected EOF"))
                continue
            self.offset += size
            return got

    def _read_raw(self, n: int, *, at_end: bool) -> bytes:
        if at_end:
            try:
                return self._resp.raw.read(n, decode_content=False)
            except _READ_ERRORS:
                return b""
        # read1: what one receive brings (at most n), not "n bytes, however long that takes",
        # so that a trickling server meets the deadline check of every `read`.
        return self._resp.raw.read1(n, decode_content=False)

    def _receive_into(self, view: memoryview) -> int:
        """Receive into `view` (at least one byte unless the body ended): straight from the
        socket file of a plain length-delimited body, else `read1` and a copy."""
        raw = self._resp.raw
        inner = getattr(raw, "_original_response", None)  # urllib3's http.client response
        sockfile = getattr(inner, "fp", None)
        left = getattr(inner, "length", None)
        if (
            not isinstance(inner, http.client.HTTPResponse)
            or sockfile is None
            or inner.chunked
            or not isinstance(left, int)
            or not hasattr(sockfile, "readinto1")
            or getattr(raw, "length_remaining", None) != left
        ):
            data = self._read_raw(len(view), at_end=False)
            view[: len(data)] = data
            return len(data)
        want = min(len(view), left)
        got = 0
        started = time.monotonic()
        try:
            while got < want:
                # One receive each, more while they come fast (a TLS record is at most 16
                # KiB): never longer than `_FILL_SECONDS` (a slow link's progress still shows),
                # nor past the command's deadline (which the caller then raises).
                k = sockfile.readinto1(view[got:want])
                if not k:
                    break
                got += k
                if deadline.expired() or time.monotonic() - started > _FILL_SECONDS:
                    break
        finally:
            # The counts http.client and urllib3 keep, as their own reads would leave them:
            # at the end (length 0), their next read closes the response and urllib3 puts
            # the connection back in its pool.
            inner.length = left - got
            raw.length_remaining = left - got
        return got

    def _describe(self, exc: BaseException) -> str:
        """What broke, in words (`_neterr`), never the library's repr."""
        host = urlsplit(self._resp.url or "").netloc or "the registry"
        if isinstance(exc, EOFError):
            return f"connection to {safe_text(host, 300)} was cut (the response ended early)"
        return str(network_error(exc, host, read_timeout=self._read_timeout, connect_timeout=0))

    def _decide(self, exc: BaseException) -> None:
        progress = self.offset - self._last_retry_offset
        now = time.monotonic()
        if progress >= MIN_PROGRESS or self._last_retry_time is None:
            return
        if now - self._last_retry_time >= RETRY_AFTER_SECONDS:
            return
        raise TransientRegistryError(
            f"reading {self._what}: {self._describe(exc)} (after {self.offset} bytes; "
            "not reconnecting: no progress since the last attempt)"
        ) from exc

    def _reconnect(self, exc: BaseException) -> None:
        self._decide(exc)
        self._resp.close()
        delay = RECONNECT_DELAY + random.random() * 0.1
        log.warning(
            "Failed, retrying in %.1fs ... (resuming at byte %d). Error: reading %s: %s",
            delay,
            self.offset,
            self._what,
            self._describe(exc),
        )
        self._sleep(delay)
        self._last_retry_offset = self.offset
        self._last_retry_time = time.monotonic()
        self.reconnections += 1
        try:
            resp = self._reopen(self.offset)
        except TransientRegistryError as again:
            raise TransientRegistryError(f"reading {self._what}: reconnecting failed: {again}") from exc
        self._check_range(resp)
        self._resp = resp

    def _check_range(self, resp: requests.Response) -> None:
        def fail(reason: str) -> None:
            resp.close()
            raise TransientRegistryError(f"reading {self._what}: cannot resume at byte {self.offset}: {reason}")

        if resp.status_code == 200:
            fail("the server did not process a Range request")
        if resp.status_code != 206:
            fail(f"unexpected HTTP status {resp.status_code}")
        values = resp.raw.headers.getlist("Content-Range")
        if len(values) != 1:
            fail(f"expected exactly one Content-Range header, got {len(values)}")
        try:
            first, last, length = parse_content_range(values[0])
        except ValueError:
            fail(f"invalid Content-Range {safe_text(values[0], 80)!r}")
            return
        if first != self.offset:
            fail(f"the server sent bytes from {first}")
        if length != -1 and last + 1 != length:
            fail(f"the server sent an incomplete range {first}-{last}/{length}")
        if self._total >= 0 and (last + 1 != self._total or length not in (-1, self._total)):
            fail(f"the range {first}-{last}/{length} does not end at the blob size {self._total}")

    def close(self) -> None:
        self._resp.close()
