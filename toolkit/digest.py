"""Content digests: one validator for every digest string, and a verifying reader.

Contract:
- `Digest.parse(text)` is the only way an outside digest string becomes a `Digest`. It
  accepts exactly `sha256:<64 lowercase hex>` and `sha512:<128 lowercase hex>` and raises
  `InvalidDigestError` for anything else (CVE-2024-3727: digests reach paths and URLs).
- `Digest.hex` is therefore always safe to use as a file name or URL path element.
- `VerifyingReader` hashes a stream as it is read and raises `DigestMismatchError` or
  `SizeMismatchError` at EOF (or as soon as the stream is longer than announced). Bytes read
  before the error are unverified: callers must discard what they wrote.
- `HashStage` runs one hash in a thread of its own (hashlib releases the GIL on large
  buffers), so that hashing a large blob overlaps reading, inflating and writing it; the
  verifying and hashing readers use it for large or unknown-size streams.
"""

from __future__ import annotations

import collections
import io
import sys
import threading
from typing import TYPE_CHECKING, Any, BinaryIO, Final, Protocol, TypeVar

from toolkit._record import record
from toolkit.errors import DigestMismatchError, InvalidDigestError, SizeMismatchError, safe_text

if TYPE_CHECKING:
    import hashlib
    from collections.abc import Callable

__all__ = [
    "Digest",
    "VerifyingReader",
    "HashingReader",
    "HashStage",
    "BACKGROUND_HASH_MIN",
    "ReadIntoFromRead",
    "readinto_from",
    "has_readinto",
    "native_readinto",
    "CHUNK_SIZE",
    "SUPPORTED_ALGORITHMS",
    "pass_through",
    "verified_digest",
    "short_blob_error",
    "blob_digest_error",
]

#: Read/write chunk size for streaming blobs (design rule 2: 1 MiB or more).
CHUNK_SIZE: Final = 1 << 20

SUPPORTED_ALGORITHMS: Final = {"sha256": 64, "sha512": 128}


@record(order=True)
class Digest:
    """A validated content digest. Construct with `Digest.parse` or `Digest.from_bytes`."""

    algorithm: str
    hex: str

    def __post_init__(self) -> None:
        expected = SUPPORTED_ALGORITHMS.get(self.algorithm)
        if expected is None or len(self.hex) != expected or not _is_lower_hex(self.hex):
            raise InvalidDigestError(f"invalid digest {safe_text(self.algorithm)}:{safe_text(self.hex)}")

    @classmethod
    def parse(cls, text: object) -> Digest:
        """Validate an untrusted digest string; raise `InvalidDigestError` if malformed."""
        if not isinstance(text, str):
            raise InvalidDigestError(f"invalid digest {safe_text(repr(text))}: not a string")
        # `ALGORITHM:HEX` with HEX lower-case and as long as ALGORITHM's digests, checked in C
        # (a regex would cost more to compile than the few digests a command parses).
        algorithm, colon, hex_ = text.partition(":")
        expected = SUPPORTED_ALGORITHMS.get(algorithm)
        if colon and expected is not None and len(hex_) == expected and _is_lower_hex(hex_):
            return cls(algorithm, hex_)
        if colon and expected is None:
            raise InvalidDigestError(
                f'invalid digest "{safe_text(text)}": unsupported algorithm (only sha256 and sha512)'
            )
        raise InvalidDigestError(f'invalid digest "{safe_text(text)}"')

    @classmethod
    def from_bytes(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        """Digest of `data` with `algorithm` (sha256 or sha512)."""
        if algorithm not in SUPPORTED_ALGORITHMS:
            raise InvalidDigestError(f"unsupported digest algorithm {safe_text(algorithm)}")
        return cls(algorithm, _hex_of(algorithm, data))

    def hasher(self) -> hashlib._Hash:
        """A fresh hash object of this digest's algorithm."""
        return new_hash(self.algorithm)

    def matches(self, data: bytes) -> bool:
        """True if `data` hashes to this digest."""
        return _hex_of(self.algorithm, data) == self.hex

    @property
    def encoded(self) -> str:
        """The hex part (containers/image calls it Encoded())."""
        return self.hex

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


_LOWER_HEX: Final = frozenset("0123456789abcdef")


def _is_lower_hex(text: str) -> bool:
    return _LOWER_HEX.issuperset(text)  # in C: every Digest made checks its 64 or 128 characters


def new_hash(algorithm: str, size: int | None = None) -> hashlib._Hash:
    """A fresh hash object for `algorithm`: `hashlib.new(algorithm)`, OpenSSL's
    implementation, the fastest on large data; for data known to be small (`size` bytes, at
    most `_SMALL`: a manifest or config read through a verifying reader) the interpreter's
    built-in one, as `_hex_of` does (same digests, no OpenSSL library to load)."""
    if size is not None and 0 <= size <= _SMALL:
        builtin = _builtin_hash(algorithm)
        if builtin is not None:
            small: hashlib._Hash = builtin()
            return small
    import hashlib  # loads OpenSSL: ~2 ms, which a command hashing only small documents never pays

    return hashlib.new(algorithm)


#: In-memory data up to this size is hashed by the interpreter's own sha256/sha512.
_SMALL: Final = 1 << 20


def _hex_of(algorithm: str, data: bytes) -> str:
    """The hex digest of `data` (`algorithm` already checked). Small data (manifests,
    configs) is hashed by the interpreter's built-in implementation (`_sha256`/`_sha512`,
    `_sha2` from Python 3.12), which needs no OpenSSL library loaded; the bytes are the
    same, only the code differs. Larger data, or a Python built without them: hashlib."""
    if len(data) <= _SMALL:
        builtin = _builtin_hash(algorithm)
        if builtin is not None:
            return str(builtin(data).hexdigest())
    hasher = new_hash(algorithm)
    hasher.update(data)
    return hasher.hexdigest()


_BUILTIN: dict[str, Any] = {}


def _builtin_hash(algorithm: str) -> Any:
    """The built-in constructor for sha256/sha512, or None where the interpreter lacks it
    (looked up once per algorithm)."""
    if algorithm not in _BUILTIN:
        _BUILTIN[algorithm] = None
        # Python 3.12 has `_sha2`, 3.11 `_sha256`/`_sha512`: the other name is a failed
        # import, a search of every path entry, so the running version's name comes first.
        names = ("_sha2", f"_{algorithm}") if sys.version_info >= (3, 12) else (f"_{algorithm}", "_sha2")
        for module in names:
            try:
                _BUILTIN[algorithm] = getattr(__import__(module), algorithm)
                break
            except (ImportError, AttributeError):
                continue
    return _BUILTIN[algorithm]


class _Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


#: Streams at least this long (or of unknown length) are hashed by a `HashStage`: below it,
#: starting a thread costs more than the overlap gains.
BACKGROUND_HASH_MIN: Final = 8 * CHUNK_SIZE
#: Chunks a `HashStage` may hold before `update` waits (the memory it pins is bounded).
_HASH_DEPTH: Final = 2


class HashStage:
    """One hash computed in a background thread, fed in order with `update`.

    Contract:
    - `update(data)` queues `data` (at most `_HASH_DEPTH` pending chunks: it waits for room).
      `data` must not change until it is hashed: pass `bytes`, or a view of a buffer the
      caller leaves alone until `release(buffer)` (or `wait()`) returned (the readers'
      `readinto` calls it before filling a buffer again).
    - `wait()` returns once every queued chunk is hashed; `hexdigest()` waits, then returns
      the digest of everything fed. An exception raised while hashing is re-raised (the same
      object) by the next `update`, `wait` or `hexdigest`.
    - The thread starts at the first `update` and ends at `close()` (idempotent; pending
      chunks are dropped), which every owner calls, also after a failure; it is a daemon
      thread, so an interrupted program never waits for it.
    """

    def __init__(self, hasher: Any, *, depth: int = _HASH_DEPTH) -> None:
        self._hasher = hasher
        self._depth = max(1, depth)
        self._cond = threading.Condition()
        self._pending: collections.deque[Any] = collections.deque()
        self._busy = False
        self._current: Any = None
        self._closed = False
        self._complete = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def update(self, data: Any) -> None:
        """Queue `data` for hashing (see the class contract); raises an earlier hash error."""
        with self._cond:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="skopo-hash", daemon=True)
                self._thread.start()
            while len(self._pending) >= self._depth and self._error is None and not self._closed:
                self._cond.wait()
            self._check()
            if self._closed:
                raise ValueError("hash stage is closed")
            self._pending.append(data)
            self._cond.notify_all()

    def wait(self) -> None:
        """Return once everything queued is hashed; raise the hash thread's error, if any."""
        with self._cond:
            while (self._pending or self._busy) and self._error is None and not self._closed:
                self._cond.wait()
            self._check()

    def release(self, buffer: Any) -> None:
        """Return once no chunk that lives in `buffer` (the object a view was taken of) is
        still queued or being hashed, so that the caller may overwrite it."""
        owner = _owner(buffer)
        with self._cond:
            while self._error is None and not self._closed and self._holds(owner):
                self._cond.wait()
            self._check()

    def _holds(self, owner: object) -> bool:
        if self._busy and _owner(self._current) is owner:
            return True
        return any(_owner(item) is owner for item in self._pending)

    def hexdigest(self) -> str:
        """The hex digest of everything fed so far (waits for the thread first)."""
        self.wait()
        return str(self._hasher.hexdigest())

    def close(self) -> None:
        """Stop the thread (after the chunk it is hashing) and wait for it. Idempotent. If
        everything fed was hashed by then, `hexdigest()` still answers."""
        with self._cond:
            if not self._closed:
                self._complete = not self._pending and not self._busy and self._error is None
            self._closed = True
            self._pending.clear()
            self._cond.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _check(self) -> None:
        if self._error is not None:
            raise self._error
        if self._closed and not self._complete:
            raise ValueError("hash stage was closed before its input was hashed")

    def _run(self) -> None:
        cond = self._cond
        while True:
            with cond:
                while not self._pending and not self._closed:
                    cond.wait()
                if self._closed:
                    return
                data = self._current = self._pending.popleft()
                self._busy = True
            try:
                self._hasher.update(data)
            except BaseException as exc:  # handed to the feeding thread, re-raised there
                with cond:
                    self._error = exc
                    self._busy = False
                    self._current = None
                    cond.notify_all()
                return
            del data
            with cond:
                self._busy = False
                self._current = None
                cond.notify_all()


def _owner(buffer: Any) -> object:
    """The object whose memory `buffer` shows (a view's exporter; None for immutable bytes)."""
    if isinstance(buffer, memoryview):
        return buffer.obj
    return None if isinstance(buffer, bytes) else buffer


def has_readinto(stream: object) -> bool:
    """True if `stream` fills a caller's buffer itself (not through `read` and a copy, nor
    `io.RawIOBase`'s unimplemented one)."""
    method = getattr(type(stream), "readinto", None)
    return method is not None and method not in (ReadIntoFromRead.readinto, io.RawIOBase.readinto)


def native_readinto(stream: object) -> bool:
    """True if `stream.readinto` fills a buffer with no copy of its own: a file, or readers
    that pass such a stream's `readinto` through. Readers whose data exists as `bytes`
    anyway (a decoder's output, a read-ahead queue) say `copies_on_readinto`; their
    consumers do better with `read` (the `bytes` are handed on, no copy under the GIL)."""
    return has_readinto(stream) and not getattr(stream, "copies_on_readinto", False)


def readinto_from(stream: Any, buffer: memoryview) -> int:
    """Fill (part of) `buffer` from `stream`: its own `readinto` when it has a real one, else
    `read` and a copy. Returns the byte count (0 only at the end)."""
    if has_readinto(stream):
        return int(stream.readinto(buffer) or 0)
    data = stream.read(len(buffer))
    buffer[: len(data)] = data
    return len(data)


class ReadIntoFromRead:
    """Mixin: `readinto` through the class's own `read(n)`, for readers that produce
    `bytes` chunks (so `io.BufferedReader` and `shutil.copyfileobj` can use them)."""

    def readinto(self: _Readable, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class HashingReader(ReadIntoFromRead):
    """Wraps a binary stream, counting and hashing every byte read through it.

    `digest()` and `size` describe what has been read so far. Never raises on its own
    (except a failure of the hash thread). `background=True` hashes in a `HashStage` (for
    large streams): a buffer given to `readinto` must then stay unchanged until it is given
    again; `close()` stops the thread.
    """

    def __init__(self, stream: BinaryIO, algorithm: str = "sha256", *, background: bool = False) -> None:
        self._stream = stream
        self._hash = new_hash(algorithm)
        self._stage = HashStage(self._hash) if background else None
        self.algorithm = algorithm
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        if data:
            self._update(data)
        return data

    @property
    def copies_on_readinto(self) -> bool:
        """True unless the stream fills buffers itself (see `native_readinto`)."""
        return not native_readinto(self._stream)

    def readinto(self, buffer: Any) -> int:
        """Fill `buffer` from the stream (no copy when the stream has `readinto`), hashing."""
        view = memoryview(buffer).cast("B")
        if self._stage is not None:
            self._stage.release(view)  # an earlier chunk, maybe not hashed yet, lives there
        got = readinto_from(self._stream, view)
        if got:
            self._update(view[:got])
        return got

    def _update(self, data: Any) -> None:
        self.size += len(data)
        if self._stage is not None:
            self._stage.update(data)
        else:
            self._hash.update(data)

    def digest(self) -> Digest:
        hexdigest = self._stage.hexdigest() if self._stage is not None else self._hash.hexdigest()
        return Digest(self.algorithm, hexdigest)

    def stop(self) -> None:
        """Stop the hash thread, if any, leaving the stream open (idempotent)."""
        if self._stage is not None:
            self._stage.close()

    def close(self) -> None:
        self.stop()
        self._stream.close()


def _no_inline_policy() -> Callable[[], bool] | None:
    return None


#: The `inline` policy of a `VerifyingReader` created without one. `toolkit.streams` sets
#: it when imported: the `crowded` of the copy lease current in the creating thread (None
#: outside a copy: hash large streams in a thread).
default_inline: Callable[[], Callable[[], bool] | None] = _no_inline_policy


class VerifyingReader(ReadIntoFromRead):
    """A stream that checks size and digest of what it yields.

    - Reading past `expected_size` raises `SizeMismatchError` at once (the extra byte is
      never returned).
    - At EOF a short stream raises `SizeMismatchError`, a wrong hash `DigestMismatchError`.
    - `expected_size` may be None (unknown); then only the digest is checked.
    `what` names the blob in messages. The underlying stream is untrusted.
    - A stream of `BACKGROUND_HASH_MIN` bytes or more (or of unknown size) is hashed in a
      `HashStage` thread, overlapping its consumer. `readinto(buffer)` fills the caller's
      buffer straight from the stream (no copy): the caller must not change it until it
      passes the same buffer to `readinto` again (which first waits for its hash) or closes.
    - `inline`, if given (else `default_inline()`: under a copy, its lease's `crowded`), is
      asked before each chunk of such a stream is hashed: True means hash it in the reading
      thread (the cores are busy anyway, a handover would only cost), after the chunks
      already queued; the thread starts only for a chunk it gets.
    - `close()` stops the hash thread (always close a reader, also after an error).
    """

    def __init__(
        self,
        stream: BinaryIO,
        expected_digest: Digest,
        expected_size: int | None,
        what: str = "blob",
        *,
        inline: Callable[[], bool] | None = None,
    ) -> None:
        self._stream = stream
        self._expected_digest = expected_digest
        self._expected_size = expected_size if expected_size is not None and expected_size >= 0 else None
        small = self._expected_size is not None and self._expected_size <= _SMALL
        # A small blob (a config) is hashed by the interpreter's own sha256: no OpenSSL to load.
        self._hash = new_hash(expected_digest.algorithm, self._expected_size) if small else expected_digest.hasher()
        large = self._expected_size is None or self._expected_size >= BACKGROUND_HASH_MIN
        self._stage: HashStage | None = HashStage(self._hash) if large else None
        self._inline = (inline if inline is not None else default_inline()) if large else None
        self._what = what
        self.bytes_read = 0
        self._verified = False

    @property
    def verified(self) -> bool:
        """True once EOF was reached and size and digest matched."""
        return self._verified

    @property
    def expected_digest(self) -> Digest:
        """The digest every byte read is checked against at EOF."""
        return self._expected_digest

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            parts = []
            while chunk := self.read(CHUNK_SIZE):
                parts.append(chunk)
            return b"".join(parts)
        if n == 0 or self._verified:
            return b""
        want = n
        if self._expected_size is not None:
            # Never read beyond the announced size; _finish probes for extra bytes.
            want = min(n, self._expected_size - self.bytes_read)
        data = self._stream.read(want) if want > 0 else b""
        if not data:
            self._finish()
            return b""
        self._update(data)
        return data

    @property
    def copies_on_readinto(self) -> bool:
        """True unless the stream fills buffers itself (see `native_readinto`)."""
        return not native_readinto(self._stream)

    def readinto(self, buffer: Any) -> int:
        """Fill `buffer` (at most its length) from the stream, hashing; 0 only at the verified
        end. Raises like `read`. See the class contract for the buffer's lifetime."""
        view = memoryview(buffer).cast("B")
        if not view or self._verified:
            return 0
        if self._stage is not None:
            self._stage.release(view)  # an earlier chunk, maybe not hashed yet, lives there
        want = len(view)
        if self._expected_size is not None:
            want = min(want, self._expected_size - self.bytes_read)
        got = readinto_from(self._stream, view[:want]) if want > 0 else 0
        if not got:
            self._finish()
            return 0
        self._update(view[:got])
        return got

    def _update(self, data: Any) -> None:
        stage = self._stage
        if stage is not None and (self._inline is None or not self._inline()):
            stage.update(data)
        else:
            if stage is not None:
                stage.wait()  # the chunks before this one first (the hash thread is then idle)
            self._hash.update(data)
        self.bytes_read += len(data)

    def _finish(self) -> None:
        if self._expected_size is not None:
            if self.bytes_read != self._expected_size:
                raise short_blob_error(self._what, self._expected_digest, self.bytes_read, self._expected_size)
            # The announced size is reached: make sure nothing follows.
            extra = self._stream.read(1)
            if extra:
                raise SizeMismatchError(
                    f"{self._what} {self._expected_digest}: more data than the expected size "
                    f"{self._expected_size}"
                )
        actual = self._stage.hexdigest() if self._stage is not None else self._hash.hexdigest()
        if actual != self._expected_digest.hex:
            raise blob_digest_error(self._what, self._expected_digest, actual)
        self._verified = True

    def drain(self) -> None:
        """Read to EOF (discarding data) so that verification happens."""
        while self.read(1 << 20):
            pass

    def stop(self) -> None:
        """Stop the hash thread, if any, leaving the stream open (idempotent; reading
        afterwards raises)."""
        if self._stage is not None:
            self._stage.close()

    def close(self) -> None:
        """Stop the hash thread, then close the stream."""
        self.stop()
        self._stream.close()

    def __enter__(self) -> VerifyingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def short_blob_error(what: str, expected: Digest, got: int, size: int) -> SizeMismatchError:
    """The error for a blob `expected` that ended after `got` of its `size` bytes (the words
    every local copy of a blob uses, streamed or not)."""
    return SizeMismatchError(f"{what} {expected}: got {got} bytes, expected {size}")


def blob_digest_error(what: str, expected: Digest, actual_hex: str) -> DigestMismatchError:
    """The error for a blob whose bytes hash to `actual_hex` instead of `expected`."""
    return DigestMismatchError(
        f"Digest did not match for {what}, expected {expected}, got {expected.algorithm}:{actual_hex}"
    )


_PASS_THROUGH: set[type] = set()

_T = TypeVar("_T", bound=type)


def pass_through(cls: _T) -> _T:
    """Class decorator: instances yield the bytes, and raise the exceptions, of the stream
    their `passes_through` attribute names, unchanged and in order (a peek replay, a
    read-ahead thread, a byte counter). `verified_digest` follows them."""
    _PASS_THROUGH.add(cls)
    return cls


def verified_digest(stream: object) -> Digest | None:
    """The digest `stream` is known to check: it raises instead of reaching EOF when its bytes
    do not hash to it. Only this package's own readers are believed: a `VerifyingReader`,
    possibly behind wrappers registered with `pass_through`. None when nothing is known; a
    consumer that needs the digest must then compute it."""
    for _ in range(32):
        if isinstance(stream, VerifyingReader):
            return stream.expected_digest
        if type(stream) not in _PASS_THROUGH:
            return None
        stream = getattr(stream, "passes_through", None)
    return None
