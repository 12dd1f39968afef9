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
- `BufferPool` / `ChunkBuffers` / `ChunkReader`: preallocated chunk buffers, lent and given back, so a
  long copy reuses the same few megabytes (`readinto`) instead of allocating a fresh
  `bytes` per chunk (whose freed memory glibc keeps: the process grows with the blob).
  `readinto` of these readers fills the caller's buffer; the caller leaves it unchanged
  until its next call on the reader (a `VerifyingReader` below may still be hashing it).
"""

from __future__ import annotations

import contextlib
import io
import mmap
import queue
import threading
from collections.abc import Iterator
from typing import Any, Final, Protocol

from toolkit.digest import CHUNK_SIZE, ReadIntoFromRead, has_readinto, native_readinto, pass_through, readinto_from

__all__ = [
    "Readable",
    "PrefixedReader",
    "ReadAheadReader",
    "READ_AHEAD_DEPTH",
    "BufferPool",
    "ChunkBuffers",
    "iter_chunks",
    "ChunkReader",
    "has_readinto",
    "native_readinto",
    "read_to_end",
    "readinto_from",
]


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


#: Spare chunk buffers kept for the next pool (at most `_MAX_SPARES`), so that buffers are
#: allocated once per process, not once per blob.
_MAX_SPARES: Final = 8
_spares: list[mmap.mmap] = []
_spares_lock = threading.Lock()


def _new_buffer(size: int) -> mmap.mmap:
    """A writable buffer of `size` bytes: anonymous memory, so that only the pages a blob
    really fills become resident (a `bytearray` is zeroed, touching all of them), and
    returned to the system when dropped."""
    with _spares_lock:
        for i, spare in enumerate(_spares):
            if len(spare) == size:
                return _spares.pop(i)
    return mmap.mmap(-1, size)


def _give_back(buffer: mmap.mmap) -> None:
    with _spares_lock:
        if len(_spares) < _MAX_SPARES:
            _spares.append(buffer)


class BufferPool:
    """At most `count` buffers of `size` bytes, lent one at a time and given back.

    Contract:
    - `acquire(stop)` lends a buffer (a writable `memoryview` of `size` bytes), waiting
      while all `count` are lent; it returns None once `stop` is set (checked every 50 ms).
    - `release(view)` gives a lent buffer back; its content is overwritten by the next user.
    - Buffers are allocated on first need (never more than `count`), and handed to the next
      pool at `close()` (a process keeps at most `_MAX_SPARES` of them).
    - The bytes in flight through a pool's user are therefore at most `count * size`.
    Thread-safe.
    """

    def __init__(self, count: int, size: int = CHUNK_SIZE) -> None:
        if count < 1 or size < 1:
            raise ValueError(f"invalid buffer pool {count} x {size}")
        self.count = count
        self.size = size
        self._cond = threading.Condition()
        self._free: list[memoryview] = []
        self._owned: list[mmap.mmap] = []
        self._lent = 0

    @property
    def lent(self) -> int:
        """How many buffers are lent right now."""
        with self._cond:
            return self._lent

    def acquire(self, stop: threading.Event | None = None) -> memoryview | None:
        """A free buffer (see the class contract), or None once `stop` is set."""
        with self._cond:
            while True:
                if stop is not None and stop.is_set():
                    return None
                if self._free:
                    self._lent += 1
                    return self._free.pop()
                if len(self._owned) < self.count:
                    buffer = _new_buffer(self.size)
                    self._owned.append(buffer)
                    self._lent += 1
                    return memoryview(buffer)
                self._cond.wait(0.05 if stop is not None else None)

    def release(self, view: memoryview) -> None:
        """Give back a buffer lent by `acquire`."""
        with self._cond:
            self._lent -= 1
            self._free.append(view)
            self._cond.notify()

    def close(self) -> None:
        """Hand the buffers to later pools; the pool must not be used afterwards."""
        with self._cond:
            owned, self._owned, self._free = self._owned, [], []
        for view_owner in owned:
            _give_back(view_owner)


class ChunkBuffers:
    """`count` chunk buffers used in turn (`next()`), for a loop that fills one with
    `readinto` while the previous one may still be hashed by a `VerifyingReader`'s thread
    (it waits only if the buffer it is given is still being hashed). `close()` gives them
    back for later use."""

    def __init__(self, count: int = 2, size: int = CHUNK_SIZE) -> None:
        self._buffers = [_new_buffer(size) for _ in range(count)]
        self._views = [memoryview(b) for b in self._buffers]
        self._turn = 0

    def next(self) -> memoryview:
        """The next buffer (a view of all of it)."""
        view = self._views[self._turn]
        self._turn = (self._turn + 1) % len(self._views)
        return view

    def close(self) -> None:
        """Give the buffers back; the object must not be used afterwards."""
        buffers, self._buffers, self._views = self._buffers, [], []
        for buffer in buffers:
            _give_back(buffer)


class ChunkReader:
    """Reads `stream` chunk by chunk: into reused `ChunkBuffers` when the stream fills buffers
    itself (`native_readinto`: no allocation per chunk), else through its `read` (whose
    `bytes` exist anyway: handing them on costs no copy). `read(n)` returns a view
    valid until the next call but one (write it, do not keep it) or `bytes`; empty at the
    end. Use as a context manager (gives the buffers back). Raises what the stream raises."""

    def __init__(self, stream: Readable, chunk_size: int = CHUNK_SIZE) -> None:
        self._stream = stream
        self._chunk_size = chunk_size
        self._buffers = ChunkBuffers(2, chunk_size) if native_readinto(stream) else None

    def read(self, n: int = CHUNK_SIZE) -> bytes | memoryview:
        """Up to `min(n, chunk_size)` bytes."""
        n = min(n, self._chunk_size)
        if self._buffers is None:
            return self._stream.read(n)
        view = self._buffers.next()
        return view[: readinto_from(self._stream, view[:n])]

    def __enter__(self) -> ChunkReader:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._buffers is not None:
            self._buffers.close()
            self._buffers = None


def iter_chunks(stream: Readable, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes | memoryview]:
    """The bytes of `stream` to its end, chunk by chunk (see `ChunkReader`: a view is valid
    until the next chunk but one is asked for). Raises what the stream raises."""
    with ChunkReader(stream, chunk_size) as reader:
        while chunk := reader.read(chunk_size):
            yield chunk


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

    @property
    def copies_on_readinto(self) -> bool:
        """As the stream (the prefix is a few bytes)."""
        return not native_readinto(self._stream)

    def readinto(self, buffer: Any) -> int:
        """Like `read(len(buffer))`, into `buffer` (the stream's own `readinto` after the prefix)."""
        view = memoryview(buffer).cast("B")
        if not view:
            return 0
        if self._prefix:
            k = min(len(view), len(self._prefix))
            view[:k] = self._prefix[:k]
            self._prefix = self._prefix[k:]
            return k
        return readinto_from(self._stream, view)

    def close(self) -> None:
        """Close `stream` (if it can be closed), then this reader."""
        _close(self._stream)
        super().close()


#: Chunks a `ReadAheadReader` may have queued (each at most its `chunk_size`).
READ_AHEAD_DEPTH: Final = 2


class _Failure:
    """An exception raised by the producer, handed to the consumer."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class _Lent:
    """`size` bytes at the start of a pooled buffer, filled by the producer."""

    __slots__ = ("buffer", "size")

    def __init__(self, buffer: memoryview, size: int) -> None:
        self.buffer = buffer
        self.size = size


_Item = bytes | _Lent | _Failure


def _produce(
    stream: Readable, chunk_size: int, out: queue.Queue[_Item], stop: threading.Event, pool: BufferPool | None
) -> None:
    """The read-ahead thread: read `stream` until EOF, an error, or `stop` (into `pool`'s
    buffers when it has one)."""

    def put(item: _Item) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    try:
        while not stop.is_set():
            item: _Item
            if pool is not None:
                buffer = pool.acquire(stop)
                if buffer is None:
                    return
                try:
                    got = readinto_from(stream, buffer[:chunk_size])
                except BaseException:
                    pool.release(buffer)
                    raise
                if got:
                    item = _Lent(buffer, got)
                else:
                    pool.release(buffer)
                    item = b""
            else:
                item = stream.read(chunk_size)
            if not put(item) or not item:
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
    - Memory: at most `depth` + 2 chunks of `chunk_size` bytes are held. A `stream` that
      fills buffers itself (`native_readinto`: a file through a verifying reader) is read
      into a `BufferPool` of that many buffers, reused for the whole stream (no allocation
      per chunk; `read` and `readinto` copy out of them). Another `stream` (a decoder,
      whose output is fresh `bytes` anyway) hands its `read`'s `bytes` on with no copy.
    - `stream` is read only by the thread, which starts at the first `read` (or `start()`)
      and ends at EOF, on an error or at `close()`. After `read` returned `b""` (EOF) or
      raised, the thread no longer touches `stream`, so the caller may use it again.
    - `close()` stops the thread (waiting for a `stream.read` in progress), then closes
      `stream`. Always close a reader that was not read to its end.
    - One consumer (not thread-safe itself).
    """

    def __init__(self, stream: Readable, *, chunk_size: int = CHUNK_SIZE, depth: int = READ_AHEAD_DEPTH) -> None:
        super().__init__()
        self._src = stream
        self._chunk_size = chunk_size
        depth = max(1, depth)
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=depth)
        self._pool = BufferPool(depth + 2, chunk_size) if native_readinto(stream) else None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._data: bytes | memoryview = b""
        self._lent: memoryview | None = None
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

    #: Its `readinto` copies out of a queued chunk: consumers do better with `read`.
    copies_on_readinto = True

    def start(self) -> None:
        """Start reading ahead now (before the first `read`); idempotent."""
        if self._thread is None and not self.closed:
            self._thread = threading.Thread(
                target=_produce,
                args=(self._src, self._chunk_size, self._queue, self._stop, self._pool),
                name="skopo-read-ahead",
                daemon=True,
            )
            self._thread.start()

    def _give_back(self) -> None:
        if self._lent is not None and self._pool is not None:
            self._pool.release(self._lent)
        self._lent = None
        self._data, self._pos = b"", 0

    def _next_chunk(self) -> None:
        self._give_back()
        self.start()
        item = self._queue.get()
        if isinstance(item, _Failure):
            self._error = item.exc
            raise item.exc
        if isinstance(item, _Lent):
            self._lent = item.buffer
            self._data = item.buffer[: item.size]
        else:
            self._data = item
            if not item:
                self._eof = True

    def _ready(self) -> bool:
        """Make sure a chunk with unread bytes is current; False at EOF."""
        if self._error is not None:
            raise self._error
        if self._eof:
            return False
        if self._pos >= len(self._data):
            self._next_chunk()
        return not self._eof

    def read(self, n: int | None = -1, /) -> bytes:
        """Up to `n` bytes (at most one chunk of the thread's); `b""` at EOF. Starts the
        thread on first use; re-raises the source's exception (see the class contract)."""
        if n is None or n < 0:
            return read_to_end(self, self._chunk_size)
        if n == 0 or not self._ready():
            return b""
        data, pos = self._data, self._pos
        if pos == 0 and n >= len(data) and isinstance(data, bytes):
            out = data
        else:
            out = bytes(data[pos : pos + n])
        self._pos = pos + len(out)
        if self._pos >= len(data):
            self._give_back()
        return out

    def readinto(self, buffer: Any) -> int:
        """Copy up to `len(buffer)` bytes (of one chunk) into `buffer`; 0 at EOF."""
        view = memoryview(buffer).cast("B")
        if not view or not self._ready():
            return 0
        pos = self._pos
        k = min(len(view), len(self._data) - pos)
        view[:k] = self._data[pos : pos + k]
        self._pos = pos + k
        if self._pos >= len(self._data):
            self._give_back()
        return k

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
            self._lent = None
            self._data = b""
            if self._pool is not None:
                self._pool.close()
            _close(self._src)
        super().close()
