"""Progress reporting for library operations: events through callbacks, never printing.

The CLI supplies a `Reporter` that draws bars on a TTY, prints plain lines otherwise, or
nothing with `-q`. Library users get `NullReporter` by default, or `CallbackReporter`,
which turns every event into one `ProgressEvent` for a plain function (what
`toolkit.copy(..., progress=...)` uses). Reporter methods may be called from worker
threads; implementations must be thread-safe.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

from toolkit._record import record
from toolkit.digest import Digest

__all__ = ["Reporter", "BlobProgress", "NullReporter", "ProgressEvent", "ProgressCallback", "CallbackReporter"]


class BlobProgress(Protocol):
    """Progress of one blob copy."""

    def advance(self, nbytes: int) -> None:
        """`nbytes` more bytes were copied."""
        ...

    def finish(self, status: str) -> None:
        """The copy ended: status is "done" or "skipped: already exists"."""
        ...


class Reporter(Protocol):
    """Receives copy events."""

    def message(self, text: str) -> None:
        """A step of the operation, worded as skopeo words it (e.g. "Writing manifest ...")."""
        ...

    def blob(self, kind: str, digest: Digest | None, size: int) -> BlobProgress:
        """A blob copy starts; `kind` is "blob" or "config"; `size` is -1 if unknown."""
        ...


class _NullBlob:
    def advance(self, nbytes: int) -> None:
        return None

    def finish(self, status: str) -> None:
        return None


class NullReporter:
    """A reporter that ignores everything."""

    def message(self, text: str) -> None:
        return None

    def blob(self, kind: str, digest: Digest | None, size: int) -> BlobProgress:
        return _NullBlob()


@record(kw_only=True)
class ProgressEvent:
    """One progress event, as a `progress` callback receives it.

    - `event="message"`: a step, worded as skopeo words it, in `text`
      ("Getting image source signatures", "Writing manifest to image destination", ...);
    - `event="start"`: a blob copy starts: `blob` is "blob" (a layer) or "config",
      `digest` its digest (None if not known yet), `size` its size (-1 if unknown);
    - `event="advance"`: `copied` bytes of that blob have been copied so far;
    - `event="finish"`: the blob is done; `text` is "done" or "skipped: already exists",
      `copied` the bytes copied.
    """

    event: Literal["message", "start", "advance", "finish"]
    text: str = ""
    blob: str = ""
    digest: Digest | None = None
    size: int = -1
    copied: int = 0


#: A progress callback: called with each event, possibly from several threads at once.
ProgressCallback = Callable[[ProgressEvent], None]


class _CallbackBlob:
    # One blob is copied by one thread at a time, so `copied` needs no lock.
    __slots__ = ("_callback", "_copied", "_digest", "_kind", "_size")

    def __init__(self, callback: ProgressCallback, kind: str, digest: Digest | None, size: int) -> None:
        self._callback, self._kind, self._digest, self._size, self._copied = callback, kind, digest, size, 0

    def advance(self, nbytes: int) -> None:
        self._copied += nbytes
        self._callback(ProgressEvent(event="advance", blob=self._kind, digest=self._digest, size=self._size,
                                     copied=self._copied))

    def finish(self, status: str) -> None:
        self._callback(ProgressEvent(event="finish", text=status, blob=self._kind, digest=self._digest,
                                     size=self._size, copied=self._copied))


class CallbackReporter:
    """A `Reporter` that calls `callback(ProgressEvent)` for every event.

    The callback runs on the copying threads (several at once when layers are copied in
    parallel), so it must be thread-safe and quick. An exception it raises aborts the
    operation, which then leaves its destination as it was.
    """

    def __init__(self, callback: ProgressCallback) -> None:
        self._callback = callback

    def message(self, text: str) -> None:
        self._callback(ProgressEvent(event="message", text=text))

    def blob(self, kind: str, digest: Digest | None, size: int) -> BlobProgress:
        self._callback(ProgressEvent(event="start", blob=kind, digest=digest, size=size))
        return _CallbackBlob(self._callback, kind, digest, size)
