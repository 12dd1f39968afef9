"""Stream plumbing shared by the blob readers (layer 1: stdlib only).

Contract of every reader here:
- The bytes, and the exceptions, are those of the wrapped stream, unchanged and in order
  (they are `digest.pass_through` wrappers, so `verified_digest` sees through them).
- `read(n)` returns at most `n` bytes (possibly fewer: loop) and `b""` only at the end;
  `read()` / `read(-1)` reads to the end in `CHUNK_SIZE` pieces (`read_to_end`).
- Closing a reader closes the wrapped stream. One consumer per reader (not thread-safe).

- `PrefixedReader` replays bytes already read (a peek), then reads on: undoing a sniff
  without seeking.
- `ReadAheadReader` runs a reader chain (decompression, compression, hashing of the source)
  in a background thread, a bounded number of chunks ahead of its consumer, so that the
  work overlaps the consumer's hashing and writing (two or more cores).
"""

from __future__ import annotations

import contextlib
import io
import queue
import threading
from typing import Final, Protocol

from toolkit.digest import CHUNK_SIZE, ReadIntoFromRead, pass_through

__all__ = ["Readable", "PrefixedReader", "ReadAheadReader", "READ_AHEAD_DEPTH", "read_to_end"]


class Readable(Protocol):
    """Anything with `read(n) -> bytes` (files, sockets' streams, our readers)."""

    def read(self, n: int = -1, /) -> bytes:
        """At most `n` bytes (all with -1); `b""` only at the end."""
        ...


def read_to_end(stream: Readable, chunk_size: int = CHUNK_SIZE) -> bytes:
    """Everything `stream` still holds, read `chunk_size` bytes at a time (the `read(-1)` of
    a bounded reader). Raises what `stream.read` raises."""
    parts: list[bytes] = []
    while chunk := stream.read(chunk_size):
        parts.append(chunk)
    return b"".join(parts)


def _close(stream: Readable) -> None:
    close = getattr(stream, "close", None)
    if close is not None:
        close()


@pass_through
class PrefixedReader(ReadIntoFromRead, io.RawIOBase):
    """Replays `prefix`, then reads from `stream`: undoes a peek without seeking."""

    def __init__(self, prefix: bytes, stream: Readable) -> None:
        super().__init__()
        self._prefix = memoryview(prefix)
        self._stream = stream

    @property
    def passes_through(self) -> Readable:
        """The stream read after the prefix."""
        return self._stream

    def readable(self) -> bool:
        """Always True."""
        return True

    def read(self, n: int | None = -1, /) -> bytes:
        """Up to `n` bytes: first from the prefix (never mixed with the stream in one call),
        then `stream.read(n)`. `n` None or negative: the rest of the prefix and the stream."""
        if n is None or n < 0:
            rest = bytes(self._prefix)
            self._prefix = memoryview(b"")
            return rest + read_to_end(self._stream)
        if n == 0:
            return b""
        if self._prefix:
            out = bytes(self._prefix[:n])
            self._prefix = self._prefix[n:]
            return out
        return self._stream.read(n)

    def close(self) -> None:
        """Close `stream` (if it can be closed), then this reader."""
        _close(self._stream)
        super().close()


#: Chunks a `ReadAheadReader` may hold (each at most its `chunk_size`).
READ_AHEAD_DEPTH: Final = 4


class _Failure:
    """An exception raised by the producer, handed to the consumer."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _produce(
    stream: Readable, chunk_size: int, out: queue.Queue[bytes | _Failure], stop: threading.Event
) -> None:
    """The read-ahead thread: `stream.read` until EOF, an error, or `stop`."""

    def put(item: bytes | _Failure) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    try:
        while not stop.is_set():
            data = stream.read(chunk_size)
            if not put(data) or not data:
                return
    except BaseException as exc:  # handed over to the consumer, re-raised there
        put(_Failure(exc))


@pass_through
class ReadAheadReader(ReadIntoFromRead, io.RawIOBase):
    """Reads `stream` in a background thread, at most `depth` chunks ahead.

    For a pipeline stage that costs CPU (decompression, compression, hashing) whose
    consumer also does work: both then run at once (these C routines release the GIL).

    Contract:
    - The bytes, and the exceptions, are those of `stream`: an exception raised by
      `stream.read` in the thread is raised (the same object) by the consumer's `read`
      at the position where it happened, and again on every later `read`.
    - Memory: at most `depth` + 1 chunks of `chunk_size` bytes are held.
    - `stream` is read only by the thread, which starts at the first `read` and ends at
      EOF, on an error or at `close()`. After `read` returned `b""` (EOF) or raised, the
      thread no longer touches `stream`, so the caller may use it again.
    - `close()` stops the thread (waiting for a `stream.read` in progress), then closes
      `stream`. Always close a reader that was not read to its end.
    - One consumer (not thread-safe itself).
    """

    def __init__(self, stream: Readable, *, chunk_size: int = CHUNK_SIZE, depth: int = READ_AHEAD_DEPTH) -> None:
        super().__init__()
        self._src = stream
        self._chunk_size = chunk_size
        self._queue: queue.Queue[bytes | _Failure] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._buf = b""
        self._pos = 0
        self._eof = False
        self._error: BaseException | None = None

    def readable(self) -> bool:
        """Always True."""
        return True

    @property
    def passes_through(self) -> Readable:
        """The stream the thread reads."""
        return self._src

    def _next_chunk(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=_produce,
                args=(self._src, self._chunk_size, self._queue, self._stop),
                name="skopo-read-ahead",
                daemon=True,
            )
            self._thread.start()
        item = self._queue.get()
        if isinstance(item, _Failure):
            self._error = item.exc
            raise item.exc
        if not item:
            self._eof = True
        self._buf, self._pos = item, 0

    def read(self, n: int | None = -1, /) -> bytes:
        """Up to `n` bytes (at most one chunk of the thread's); `b""` at EOF. Starts the
        thread on first use; re-raises the source's exception (see the class contract)."""
        if n is None or n < 0:
            return read_to_end(self, self._chunk_size)
        if self._error is not None:
            raise self._error
        if n == 0 or self._eof:
            return b""
        if self._pos >= len(self._buf):
            self._next_chunk()
            if self._eof:
                return b""
        buf, pos = self._buf, self._pos
        if pos == 0 and n >= len(buf):
            self._pos = len(buf)
            return buf
        out = buf[pos : pos + n]
        self._pos = pos + len(out)
        return out

    def close(self) -> None:
        """Stop the thread (waiting for a read in progress), then close `stream`. Idempotent."""
        if not self.closed:
            self._stop.set()
            thread, self._thread = self._thread, None
            if thread is not None:
                # Unblock a producer waiting for room, then wait for it to leave `stream`.
                while thread.is_alive():
                    with contextlib.suppress(queue.Empty):
                        self._queue.get_nowait()
                    thread.join(0.01)
            self._buf = b""
            _close(self._src)
        super().close()
