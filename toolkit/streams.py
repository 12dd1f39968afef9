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
  long copy reuses the same few buffers (`readinto`) instead of allocating a fresh
  `bytes` per chunk (whose freed memory glibc keeps: the process grows with the blob).
  `readinto` of these readers fills the caller's buffer; the caller leaves it unchanged
  until its next call on the reader (a `VerifyingReader` below may still be hashing it).
- `BufferBudget` / `Lease`: one copy's bound on the bytes of those buffers, all its layer
  streams together; a stream's readers take their buffers from its layer's lease
  (`using_lease`), so memory stays flat whatever the parallelism and the layer sizes. A
  lease also tells whether the copy's layers keep every core busy (`Lease.crowded`): a
  stage then gains nothing from a thread of its own, only the cost of handing chunks over.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import mmap
import os
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, Final, Protocol

from toolkit import digest as _digest
from toolkit.digest import (
    CHUNK_SIZE,
    ReadIntoFromRead,
    has_readinto,
    native_readinto,
    pass_through,
    readinto_from,
)

__all__ = [
    "Readable",
    "PrefixedReader",
    "ReadAheadReader",
    "READ_AHEAD_DEPTH",
    "BufferPool",
    "BufferBudget",
    "Lease",
    "using_lease",
    "current_lease",
    "BUFFER_SIZE",
    "COPY_BUFFER_BUDGET",
    "LAYER_RESERVE",
    "TRANSFORM_RESERVE",
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


#: Size of the chunk buffers the copy's readers fill (`ChunkReader`, the decoders' input):
#: 256 KiB reads and writes cost no more CPU than 1 MiB ones (measured: `oci:` -> `oci:` of
#: 1 GiB, 0.44 s user either way) and pin a quarter of the memory per stream.
BUFFER_SIZE: Final = 256 << 10
#: Bytes reserved for a layer when it starts (`BufferBudget.admit`): the first buffers of
#: its readers, which never wait for the budget (so that they cannot deadlock), and enough
#: for its stages to overlap. A layer copied as it is: a read-ahead and its consumer of
#: `BUFFER_SIZE` chunks. A layer decompressed or compressed: the decoder's input buffers
#: and two of the read-ahead's `CHUNK_SIZE` chunks (the decoder fills one while the other
#: is written: measured, with room for one only, `oci:` -> `docker-archive:` took 8% longer).
LAYER_RESERVE: Final = 2 * BUFFER_SIZE
TRANSFORM_RESERVE: Final = 2 * BUFFER_SIZE + 2 * CHUNK_SIZE
#: Bytes of chunk buffers one copy may have lent at once, all its layer streams together
#: (`BufferBudget`); beyond it a stream works with the buffers it has. Room for two
#: transformed layers (the one written, the next one read ahead), or six layers copied as
#: they are and a few more chunks.
COPY_BUFFER_BUDGET: Final = 2 * TRANSFORM_RESERVE


class BufferBudget:
    """One copy's bound on the bytes of chunk buffers in flight, whatever its parallelism.

    Contract:
    - A layer stream calls `admit(index, stop)` before it opens anything, and gets a `Lease`
      of `reserve` bytes (or None once `stop` is set); a layer that needs none calls
      `skip(index)`. Every index from 0 on must do one of the two (or the copy is stopped).
      Admission is granted strictly in `index` order, so a layer never waits for a later
      one (a destination that takes layers in order cannot deadlock), and only while
      `reserve` fits in `limit` beside what is in use, except that a layer is always
      admitted when no other lease is open (a budget smaller than one layer's reserve
      still progresses, one layer at a time). Admitted layers never wait for each other's
      buffers, so each one finishes and gives its room back.
    - Buffers are taken from a lease (`Lease.take`), first from its reservation, then from
      the budget's free room, never waiting: a reader that gets nothing more works with
      the buffers it already has. A reader's first buffer is always granted (from the
      reservation, else from the free room, else beyond `limit`: counted in `overdraft`),
      so no reader ever waits for a buffer that another reader holds.
    - `Lease.close()` (the layer's `finally`) gives back the reservation and every byte
      taken under it, also when its readers failed without giving their buffers back.
    - `in_use` (bytes taken, reservations included) never exceeds `limit` while no lease
      overdraws; `peak` is the most it reached. Thread-safe.
    - `working()` counts the open leases whose layer is being copied now (not waiting for
      its turn at the destination: `Lease.extras` False); `Lease.crowded()` compares it
      with the CPUs this process may use. Both are hints for scheduling, never for bounds.
    """

    def __init__(self, limit: int = COPY_BUFFER_BUDGET, reserve: int = LAYER_RESERVE) -> None:
        if limit < 1 or reserve < 0:
            raise ValueError(f"invalid buffer budget {limit} (reserve {reserve})")
        self.limit = limit
        self.reserve = reserve
        self._cond = threading.Condition()
        self._next = 0  # the layer index whose admission is due
        self._waiting: set[int] = set()
        self._leases = 0
        self._open: list[Lease] = []
        self.in_use = 0
        self.peak = 0
        self.overdraft = 0

    def admit(self, index: int, stop: threading.Event | None = None, *, reserve: int | None = None) -> Lease | None:
        """Wait for layer `index`'s turn and room for its reserve (`reserve`, else the
        budget's; see the class contract); None once `stop` is set (checked every 50 ms)."""
        need = self.reserve if reserve is None else max(0, reserve)
        with self._cond:
            self._waiting.add(index)
            try:
                while True:
                    if stop is not None and stop.is_set():
                        return None
                    fits = self._leases == 0 or self.in_use + need <= self.limit
                    if index <= self._next and fits:
                        break
                    self._cond.wait(0.05)
            finally:
                self._waiting.discard(index)
            self._next = max(self._next, index + 1)
            self._leases += 1
            self._add(need)
            self._cond.notify_all()
            lease = Lease(self, need)
            self._open = [*self._open, lease]  # replaced, never changed in place: see `working`
            return lease

    def working(self) -> int:
        """How many open leases' layers are being copied now (see the class contract)."""
        # No lock: the list is replaced on every change, so this reads one consistent list.
        return sum(1 for lease in self._open if lease.extras)

    def skip(self, index: int) -> None:
        """Layer `index` needs no lease (reused, or failed before it started): the next
        layer's turn to be admitted may come."""
        with self._cond:
            if index >= self._next:
                self._next = index + 1
                self._cond.notify_all()

    def _add(self, size: int) -> None:
        self.in_use += size
        self.peak = max(self.peak, self.in_use)

    def _take_free(self, size: int) -> bool:
        with self._cond:
            # Room stays for the reserve of a layer waiting to start.
            held_back = self.reserve if self._waiting else 0
            if self.in_use + size + held_back > self.limit:
                return False
            self._add(size)
            return True

    def _overdraw(self, size: int) -> None:
        with self._cond:
            self.overdraft += max(0, min(size, self.in_use + size - self.limit))
            self._add(size)

    def _give(self, size: int, *, closing: Lease | None = None) -> None:
        with self._cond:
            self.in_use -= size
            if closing is not None:
                self._leases -= 1
                self._open = [lease for lease in self._open if lease is not closing]
            self._cond.notify_all()


class Lease:
    """A layer's share of a `BufferBudget` (see there); `take`/`give` are thread-safe."""

    def __init__(self, budget: BufferBudget, reserved: int) -> None:
        self._budget = budget
        self._lock = threading.Lock()
        self._reserved = reserved  # the reservation's size (in the budget's `in_use`)
        self._spare = reserved  # of the reservation, not lent now
        self._extra = 0  # taken beyond the reservation (in `in_use`), not given back yet
        self._closed = False
        #: False: nothing beyond the reservation (but a reader's first buffer), e.g. while
        #: the layer waits for its turn at the destination and others need the room.
        self.extras = True

    def take(self, size: int, *, first: bool) -> bool:
        """Room for one buffer of `size` bytes: True if granted (always for a reader's
        `first` buffer), False if the budget is spent (use the buffers you have)."""
        with self._lock:
            if self._closed:
                return first  # a reader outliving its layer keeps working, on one buffer
            if size <= self._spare:
                self._spare -= size
                return True
            if (self.extras or first) and self._budget._take_free(size):
                self._extra += size
                return True
            if first:
                self._budget._overdraw(size)
                self._extra += size
                return True
            return False

    def give(self, size: int) -> None:
        """Give back `size` bytes taken with `take` (a no-op once the lease is closed)."""
        with self._lock:
            if self._closed:
                return
            refill = min(size, self._reserved - self._spare)
            self._spare += refill
            rest = min(size - refill, self._extra)
            self._extra -= rest
        if rest:
            self._budget._give(rest)

    def close(self) -> None:
        """Give back the reservation and everything taken under this lease. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            total = self._reserved + self._extra
        self._budget._give(total, closing=self)

    def crowded(self) -> bool:
        """True while at least as many of the copy's layers are being copied as this process
        has CPUs (`BufferBudget.working`): their threads keep every core busy, so work that
        could go to a thread of its own (hashing) costs least done where it is."""
        return not self._closed and self._budget.working() >= _CPUS


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


#: CPUs this process may run on (fixed at start-up).
_CPUS: Final = _usable_cpus()

_LEASE: contextvars.ContextVar[Lease | None] = contextvars.ContextVar("skopo_buffer_lease", default=None)


@contextlib.contextmanager
def using_lease(lease: Lease | None) -> Iterator[None]:
    """Readers created inside the block (in this thread) take their buffers from `lease`."""
    token = _LEASE.set(lease)
    try:
        yield
    finally:
        _LEASE.reset(token)


def current_lease() -> Lease | None:
    """The lease readers created now take their buffers from (None: no bound)."""
    return _LEASE.get()


def _lease_inline_policy() -> Callable[[], bool] | None:
    """`digest.VerifyingReader`'s default hashing policy: its copy's `Lease.crowded`."""
    lease = _LEASE.get()
    return lease.crowded if lease is not None else None


_digest.default_inline = _lease_inline_policy


def _new_buffer(size: int) -> mmap.mmap:
    """A writable buffer of `size` bytes: anonymous memory, so that only the pages a blob
    really fills become resident (a `bytearray` is zeroed, touching all of them), and given
    back to the system once the last view of it is gone. Buffers are never handed from
    one reader to another: a hash thread of the first may still be reading one."""
    return mmap.mmap(-1, size)


class BufferPool:
    """At most `count` buffers of `size` bytes, lent one at a time and given back.

    Contract:
    - `acquire(stop)` lends a buffer (a writable `memoryview` of `size` bytes), waiting
      while all the pool's buffers are lent; it returns None once `stop` is set (checked
      every 50 ms).
    - `release(view)` gives a lent buffer back; its content is overwritten by the next user.
    - Buffers are allocated on first need, never more than `count`, and, when the pool was
      created under a `Lease` (`using_lease`), only while the lease grants room: the first
      always, the others while the copy's budget has some (else the pool waits for its
      own buffers to come back). `close()` gives the room back and drops the buffers.
    - The bytes in flight through a pool's user are therefore at most `count * size`.
    Thread-safe.
    """

    def __init__(self, count: int, size: int = BUFFER_SIZE) -> None:
        if count < 1 or size < 1:
            raise ValueError(f"invalid buffer pool {count} x {size}")
        self.count = count
        self.size = size
        self._cond = threading.Condition()
        self._free: list[memoryview] = []
        self._owned = 0
        self._lent = 0
        self._lease = current_lease()

    @property
    def lent(self) -> int:
        """How many buffers are lent right now."""
        with self._cond:
            return self._lent

    @property
    def owned(self) -> int:
        """How many buffers the pool has allocated (and not dropped)."""
        with self._cond:
            return self._owned

    def _grow(self) -> memoryview | None:
        if self._owned >= self.count:
            return None
        if self._lease is not None and not self._lease.take(self.size, first=self._owned == 0):
            return None
        self._owned += 1
        return memoryview(_new_buffer(self.size))

    def acquire(self, stop: threading.Event | None = None) -> memoryview | None:
        """A free buffer (see the class contract), or None once `stop` is set."""
        with self._cond:
            while True:
                if stop is not None and stop.is_set():
                    return None
                view = self._free.pop() if self._free else self._grow()
                if view is not None:
                    self._lent += 1
                    return view
                # Every buffer is lent: one comes back as the consumer moves on (the budget
                # may also have room again: retry every 50 ms).
                self._cond.wait(0.05)

    def release(self, view: memoryview) -> None:
        """Give back a buffer lent by `acquire`."""
        with self._cond:
            self._lent -= 1
            self._free.append(view)
            self._cond.notify()

    def close(self) -> None:
        """Drop the buffers and give their room back; the pool must not be used afterwards."""
        with self._cond:
            owned, self._owned, self._free = self._owned, 0, []
        if self._lease is not None and owned:
            self._lease.give(owned * self.size)


class ChunkBuffers:
    """Up to `count` chunk buffers used in turn (`next()`), for a loop that fills one with
    `readinto` while the previous one may still be hashed by a `VerifyingReader`'s thread
    (it waits only if the buffer it is given is still being hashed). Created under a
    `Lease`, the second and later buffers exist only while the copy's budget has room
    (else the loop reuses the ones it has) and while the copy is not crowded
    (`Lease.crowded`): then the readers below hash in the reading thread, so the one buffer
    is free again by the next call, and a second would only be memory (one per layer
    stream: 1.5 MiB of a 6-layer pull); once crowded, the spare buffers are dropped (a hash
    thread still reading one keeps it alive until done) and their room given back. A
    reader whose hash thread still holds the buffer makes the loop wait, never corrupts.
    `close()` drops them and gives the room back."""

    def __init__(self, count: int = 2, size: int = BUFFER_SIZE) -> None:
        if count < 1 or size < 1:
            raise ValueError(f"invalid chunk buffers {count} x {size}")
        self._count = count
        self._size = size
        self._lease = current_lease()
        self._views: list[memoryview] = []
        self._turn = 0

    def next(self) -> memoryview:
        """The next buffer (a view of all of it)."""
        views = self._views
        if len(views) > 1 and self._lease is not None and self._lease.crowded():
            self._drop_spares()
        if self._turn >= len(views):  # a new buffer's turn, if the budget has room
            if len(views) < self._count and (not views or self._lease is None or not self._lease.crowded()) and (
                self._lease is None or self._lease.take(self._size, first=not views)
            ):
                views.append(memoryview(_new_buffer(self._size)))
            else:
                self._turn = 0
        view = views[self._turn]
        self._turn = (self._turn + 1) % self._count
        return view

    def _drop_spares(self) -> None:
        spares = len(self._views) - 1
        del self._views[1:]
        self._turn = 0
        if self._lease is not None:
            self._lease.give(spares * self._size)

    def close(self) -> None:
        """Drop the buffers and give their room back; the object must not be used afterwards."""
        views, self._views = self._views, []
        if self._lease is not None and views:
            self._lease.give(len(views) * self._size)


class ChunkReader:
    """Reads `stream` chunk by chunk: into reused `ChunkBuffers` when the stream fills buffers
    itself (`native_readinto`: no allocation per chunk), else through its `read` (whose
    `bytes` exist anyway: handing them on costs no copy). `read(n)` returns a view
    valid until the next call (write it, do not keep it) or `bytes`; empty at the end.
    Use as a context manager (gives the buffers back). Raises what the stream raises."""

    def __init__(self, stream: Readable, chunk_size: int | None = None) -> None:
        self._stream = stream
        native = native_readinto(stream)
        # Default: `BUFFER_SIZE` buffers; a `read` stream's chunks are handed on whole up to
        # `CHUNK_SIZE` (a decoder's 1 MiB chunk read in 256 KiB pieces would be copied).
        self._chunk_size = chunk_size or (BUFFER_SIZE if native else CHUNK_SIZE)
        self._buffers = ChunkBuffers(2, self._chunk_size) if native else None

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


def iter_chunks(stream: Readable, chunk_size: int | None = None) -> Iterator[bytes | memoryview]:
    """The bytes of `stream` to its end, chunk by chunk (see `ChunkReader`: a view is valid
    until the next chunk is asked for). Raises what the stream raises."""
    with ChunkReader(stream, chunk_size) as reader:
        while chunk := reader.read():
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


class _Room:
    """A lease's room for the `bytes` chunks a read-ahead has made and its consumer not yet
    used up (`size` bytes each): the first always, more while the lease grants them (else
    `acquire` waits for the consumer to give one back). Thread-safe; after `close()`
    giving back does nothing."""

    def __init__(self, lease: Lease, size: int) -> None:
        self._lease = lease
        self._size = size
        self._cond = threading.Condition()
        self._held = 0

    def acquire(self, stop: threading.Event) -> bool:
        """Room for one more chunk; False once `stop` is set (checked every 50 ms)."""
        with self._cond:
            while not stop.is_set():
                if self._lease.take(self._size, first=self._held == 0):
                    self._held += 1
                    return True
                self._cond.wait(0.05)
            return False

    def release(self) -> None:
        """One chunk used up: give its room back."""
        with self._cond:
            if self._held > 0:
                self._held -= 1
                self._lease.give(self._size)
                self._cond.notify()

    def close(self) -> None:
        """Give back the room of every chunk still held (queued or dropped)."""
        with self._cond:
            held, self._held = self._held, 0
            if held:
                self._lease.give(held * self._size)


def _produce(
    stream: Readable,
    chunk_size: int,
    out: queue.Queue[_Item],
    stop: threading.Event,
    pool: BufferPool | None,
    room: _Room | None = None,
) -> None:
    """The read-ahead thread: read `stream` until EOF, an error, or `stop` (into `pool`'s
    buffers when it has one, else within `room` when given)."""

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
                if room is not None and not room.acquire(stop):
                    return
                try:
                    item = stream.read(chunk_size)
                except BaseException:
                    if room is not None:
                        room.release()
                    raise
                if not item and room is not None:
                    room.release()  # EOF: no chunk holds it
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
    - Memory: at most `depth` + 2 chunks of `chunk_size` bytes are held, and, created
      under a `Lease`, only while the copy's budget has room beyond the first (see
      `BufferPool`). A `stream` that fills buffers itself (`native_readinto`: a file
      through a verifying reader) is read into a `BufferPool` of that many buffers, reused
      for the whole stream (`readinto` copies out of them into the consumer's buffer),
      unless `by_read`. Another `stream` (a decoder, a socket: fresh `bytes` anyway), or
      any with `by_read`, hands its `read`'s `bytes` on with no copy.
    - `stream` is read only by the thread, which starts at the first `read` (or `start()`)
      and ends at EOF, on an error or at `close()`. After `read` returned `b""` (EOF) or
      raised, the thread no longer touches `stream`, so the caller may use it again.
    - `close()` stops the thread (waiting for a `stream.read` in progress), then closes
      `stream`. Always close a reader that was not read to its end.
    - One consumer (not thread-safe itself).
    """

    def __init__(
        self, stream: Readable, *, chunk_size: int = CHUNK_SIZE, depth: int = READ_AHEAD_DEPTH, by_read: bool = False
    ) -> None:
        super().__init__()
        self._src = stream
        self._chunk_size = chunk_size
        depth = max(1, depth)
        self._queue: queue.Queue[_Item] = queue.Queue(maxsize=depth)
        # A stream that fills buffers itself is read into pooled buffers; the `bytes` of
        # another one (a decoder's output, a socket's reads) are handed on as they are
        # (copying them into a pool costs a copy per chunk: measured +25% user CPU on a
        # registry -> oci: copy), within the copy's budget all the same (`_Room`).
        # `by_read`: `read`'s `bytes` even from a stream that could fill buffers (a socket
        # whose consumer, a decoder, takes `bytes` as they are: no copy out of a pool).
        self._pool = BufferPool(depth + 2, chunk_size) if native_readinto(stream) and not by_read else None
        lease = current_lease()
        self._room = _Room(lease, chunk_size) if self._pool is None and lease is not None else None
        self._roomed = False  # the current chunk holds room of `_room`
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

    @property
    def copies_on_readinto(self) -> bool:
        """True when the chunks are a decoder's `bytes` (`read` hands them on, no copy);
        False when they sit in pooled buffers (`read` would copy them into new `bytes`,
        `readinto` copies into the caller's reused buffer)."""
        return self._pool is None

    def start(self) -> None:
        """Start reading ahead now (before the first `read`); idempotent."""
        if self._thread is None and not self.closed:
            self._thread = threading.Thread(
                target=_produce,
                args=(self._src, self._chunk_size, self._queue, self._stop, self._pool, self._room),
                name="skopo-read-ahead",
                daemon=True,
            )
            self._thread.start()

    def _give_back(self) -> None:
        if self._lent is not None and self._pool is not None:
            self._pool.release(self._lent)
        if self._roomed and self._room is not None:
            self._room.release()
        self._roomed = False
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
            self._roomed = bool(item) and self._room is not None
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
            if self._room is not None:
                self._room.close()
            self._roomed = False
            _close(self._src)
        super().close()
