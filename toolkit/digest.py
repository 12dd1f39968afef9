"""Content digests: one validator for every digest string, and a verifying reader.

Contract:
- `Digest.parse(text)` is the only way an outside digest string becomes a `Digest`. It
  accepts exactly `sha256:<64 lowercase hex>` and `sha512:<128 lowercase hex>` and raises
  `InvalidDigestError` for anything else (CVE-2024-3727: digests reach paths and URLs).
- `Digest.hex` is therefore always safe to use as a file name or URL path element.
- `VerifyingReader` hashes a stream as it is read and raises `DigestMismatchError` or
  `SizeMismatchError` at EOF (or as soon as the stream is longer than announced). Bytes read
  before the error are unverified: callers must discard what they wrote.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, BinaryIO, Final, Protocol, TypeVar

from toolkit.errors import DigestMismatchError, InvalidDigestError, SizeMismatchError, safe_text

__all__ = [
    "Digest",
    "VerifyingReader",
    "HashingReader",
    "ReadIntoFromRead",
    "CHUNK_SIZE",
    "SUPPORTED_ALGORITHMS",
    "pass_through",
    "verified_digest",
]

#: Read/write chunk size for streaming blobs (design rule 2: 1 MiB or more).
CHUNK_SIZE: Final = 1 << 20

SUPPORTED_ALGORITHMS: Final = {"sha256": 64, "sha512": 128}
_DIGEST_RE: Final = re.compile(r"(sha256):([0-9a-f]{64})|(sha512):([0-9a-f]{128})")


@dataclass(frozen=True, slots=True, order=True)
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
        match = _DIGEST_RE.fullmatch(text)
        if match is None:
            if ":" in text and text.split(":", 1)[0] not in SUPPORTED_ALGORITHMS:
                raise InvalidDigestError(
                    f'invalid digest "{safe_text(text)}": unsupported algorithm (only sha256 and sha512)'
                )
            raise InvalidDigestError(f'invalid digest "{safe_text(text)}"')
        if match.group(1):
            return cls(match.group(1), match.group(2))
        return cls(match.group(3), match.group(4))

    @classmethod
    def from_bytes(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        """Digest of `data` with `algorithm` (sha256 or sha512)."""
        if algorithm not in SUPPORTED_ALGORITHMS:
            raise InvalidDigestError(f"unsupported digest algorithm {safe_text(algorithm)}")
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    def hasher(self) -> hashlib._Hash:
        """A fresh hash object of this digest's algorithm."""
        return hashlib.new(self.algorithm)

    def matches(self, data: bytes) -> bool:
        """True if `data` hashes to this digest."""
        return hashlib.new(self.algorithm, data).hexdigest() == self.hex

    @property
    def encoded(self) -> str:
        """The hex part (containers/image calls it Encoded())."""
        return self.hex

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


def _is_lower_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


class _Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class ReadIntoFromRead:
    """Mixin: `readinto` through the class's own `read(n)`, for readers that produce
    `bytes` chunks (so `io.BufferedReader` and `shutil.copyfileobj` can use them)."""

    def readinto(self: _Readable, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class HashingReader(ReadIntoFromRead):
    """Wraps a binary stream, counting and hashing every byte read through it.

    `digest()` and `size` describe what has been read so far. Never raises on its own.
    """

    def __init__(self, stream: BinaryIO, algorithm: str = "sha256") -> None:
        self._stream = stream
        self._hash = hashlib.new(algorithm)
        self.algorithm = algorithm
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        if data:
            self._hash.update(data)
            self.size += len(data)
        return data


    def digest(self) -> Digest:
        return Digest(self.algorithm, self._hash.hexdigest())

    def close(self) -> None:
        self._stream.close()


class VerifyingReader(ReadIntoFromRead):
    """A stream that checks size and digest of what it yields.

    - Reading past `expected_size` raises `SizeMismatchError` at once (the extra byte is
      never returned).
    - At EOF a short stream raises `SizeMismatchError`, a wrong hash `DigestMismatchError`.
    - `expected_size` may be None (unknown); then only the digest is checked.
    `what` names the blob in messages. The underlying stream is untrusted.
    """

    def __init__(
        self, stream: BinaryIO, expected_digest: Digest, expected_size: int | None, what: str = "blob"
    ) -> None:
        self._stream = stream
        self._expected_digest = expected_digest
        self._expected_size = expected_size if expected_size is not None and expected_size >= 0 else None
        self._hash = expected_digest.hasher()
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
        self._hash.update(data)
        self.bytes_read += len(data)
        return data


    def _finish(self) -> None:
        if self._expected_size is not None:
            if self.bytes_read != self._expected_size:
                raise SizeMismatchError(
                    f"{self._what} {self._expected_digest}: got {self.bytes_read} bytes, "
                    f"expected {self._expected_size}"
                )
            # The announced size is reached: make sure nothing follows.
            extra = self._stream.read(1)
            if extra:
                raise SizeMismatchError(
                    f"{self._what} {self._expected_digest}: more data than the expected size "
                    f"{self._expected_size}"
                )
        actual = self._hash.hexdigest()
        if actual != self._expected_digest.hex:
            raise DigestMismatchError(
                f"Digest did not match for {self._what}, expected {self._expected_digest}, "
                f"got {self._expected_digest.algorithm}:{actual}"
            )
        self._verified = True

    def drain(self) -> None:
        """Read to EOF (discarding data) so that verification happens."""
        while self.read(1 << 20):
            pass

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> VerifyingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
