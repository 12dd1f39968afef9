"""`_HashingUpload`, the streamed PATCH body of `docker://` blob uploads.

With a known size it is sent with `Content-Length` (requests takes `len()`), so it must
never yield more or fewer bytes than announced; with a known digest and size it does not
hash (the registry checks `?digest=`), otherwise it hashes what it yields.
"""

from __future__ import annotations

import hashlib
import io

import pytest
import requests

from toolkit.digest import CHUNK_SIZE, Digest
from toolkit.errors import DigestMismatchError
from toolkit.transports.docker._destination import _HashingUpload
from toolkit.types import BlobInfo

DATA = bytes(range(256)) * (CHUNK_SIZE // 128 + 3)  # a bit over two chunks
DIGEST = Digest("sha256", hashlib.sha256(DATA).hexdigest())


def test_known_size_and_digest_gives_content_length_and_no_hashing() -> None:
    upload = _HashingUpload(io.BytesIO(DATA), "sha256", BlobInfo(digest=DIGEST, size=len(DATA)))
    assert upload.hasher is None
    prepared = requests.Request("PATCH", "http://registry.invalid/x", data=upload).prepare()
    assert prepared.headers["Content-Length"] == str(len(DATA))
    assert "Transfer-Encoding" not in prepared.headers
    assert b"".join(upload) == DATA
    assert upload.size == len(DATA)
    assert upload.digest() == DIGEST


@pytest.mark.parametrize("info", [BlobInfo(digest=None, size=-1), BlobInfo(digest=DIGEST, size=-1)])
def test_unknown_size_is_chunked_and_hashed(info: BlobInfo) -> None:
    upload = _HashingUpload(io.BytesIO(DATA), "sha256", info)
    prepared = requests.Request("PATCH", "http://registry.invalid/x", data=upload).prepare()
    assert prepared.headers.get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in prepared.headers
    assert b"".join(upload) == DATA
    assert upload.digest() == DIGEST


def test_known_size_without_digest_is_hashed() -> None:
    upload = _HashingUpload(io.BytesIO(DATA), "sha256", BlobInfo(digest=None, size=len(DATA)))
    assert b"".join(upload) == DATA
    assert upload.digest() == DIGEST


def test_longer_stream_raises_before_sending_extra_bytes() -> None:
    upload = _HashingUpload(io.BytesIO(DATA + b"x"), "sha256", BlobInfo(digest=DIGEST, size=len(DATA)))
    sent = 0
    with pytest.raises(DigestMismatchError, match="longer than its size"):
        for chunk in upload:
            sent += len(chunk)
    assert sent <= len(DATA)


def test_shorter_stream_raises() -> None:
    upload = _HashingUpload(io.BytesIO(DATA[:-1]), "sha256", BlobInfo(digest=DIGEST, size=len(DATA)))
    with pytest.raises(DigestMismatchError, match="ended after"):
        b"".join(upload)


def test_unknown_size_body_is_never_falsy() -> None:
    """requests does `data or {}`: a falsy body would be replaced by an empty one."""
    import io

    from toolkit.transports.docker._destination import _HashingUpload
    from toolkit.types import BlobInfo

    upload = _HashingUpload(io.BytesIO(b"layer bytes"), "sha256", BlobInfo(digest=None, size=-1))
    assert bool(upload)
    assert b"".join(upload) == b"layer bytes"
