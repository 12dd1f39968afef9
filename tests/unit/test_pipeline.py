"""The copy's data path under concurrency: `BufferPool` and the chunk buffers, `HashStage`
(a hash in a thread of its own), the verifying reader's `readinto`, the read-ahead's pooled
mode, and layers written in order to an archive while the next one is read ahead.

What must hold whatever the threads do: the bytes arrive in order, a digest mismatch is
still detected (mid-stream or at the end) and leaves the destination as it was, an error
raised in a helper thread reaches the caller, and no helper thread outlives a failure or a
KeyboardInterrupt.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import toolkit.digest
from helpers.images import build_image, corrupt_blob, random_layer_tar, write_oci_layout
from toolkit.compression import CompressionError, decompressing_reader
from toolkit.digest import Digest, HashingReader, HashStage, VerifyingReader, native_readinto
from toolkit.errors import DigestMismatchError, SizeMismatchError, ToolkitError
from toolkit.ops.copy import CopyOptions, copy_image
from toolkit.policy import InsecureAcceptAnything
from toolkit.streams import BufferPool, ChunkReader, ReadAheadReader, iter_chunks
from toolkit.transports import parse_image_name
from toolkit.transports._oci_layout import LayoutImageSource
from toolkit.types import Compression, LayerCompression

DATA = os.urandom(1 << 20) * 3 + os.urandom(12345)


def skopo_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("skopo-") and t.is_alive()]


def assert_no_helper_threads() -> None:
    """Every helper thread has ended (they are joined on close; allow a moment)."""
    deadline = time.monotonic() + 5
    while skopo_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert skopo_threads() == []


@pytest.fixture
def blob_file(tmp_path: Path) -> Path:
    path = tmp_path / "blob"
    path.write_bytes(DATA)
    return path


@pytest.fixture
def background_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hash every stream in a `HashStage`, however small (the tests' blobs are)."""
    monkeypatch.setattr(toolkit.digest, "BACKGROUND_HASH_MIN", 0)


def digest_of(data: bytes) -> Digest:
    return Digest("sha256", hashlib.sha256(data).hexdigest())


# ------------------------------------------------------------------------ buffer pool


def test_pool_lends_at_most_count_buffers_and_reuses_them() -> None:
    pool = BufferPool(3, 4096)
    lent = [pool.acquire() for _ in range(3)]
    assert all(view is not None and len(view) == 4096 for view in lent)
    assert pool.lent == 3
    owners = {id(view.obj) for view in lent if view is not None}
    assert len(owners) == 3
    stop = threading.Event()
    stop.set()
    assert pool.acquire(stop) is None  # exhausted and stopped: no fourth buffer
    first = lent[0]
    assert first is not None
    pool.release(first)
    again = pool.acquire()
    assert again is not None and id(again.obj) in owners  # the same memory, lent again
    pool.close()


def test_pool_acquire_waits_for_a_release() -> None:
    pool = BufferPool(1, 16)
    only = pool.acquire()
    assert only is not None
    got: list[memoryview | None] = []
    waiter = threading.Thread(target=lambda: got.append(pool.acquire()))
    waiter.start()
    time.sleep(0.1)
    assert got == []  # still waiting: the only buffer is lent
    pool.release(only)
    waiter.join(5)
    assert got and got[0] is not None and got[0].obj is only.obj
    pool.close()


def test_pool_acquire_returns_none_once_stopped_while_waiting() -> None:
    pool = BufferPool(1, 16)
    assert pool.acquire() is not None
    stop = threading.Event()
    got: list[memoryview | None] = [memoryview(b"x")]
    waiter = threading.Thread(target=lambda: got.__setitem__(0, pool.acquire(stop)))
    waiter.start()
    stop.set()
    waiter.join(5)
    assert not waiter.is_alive() and got[0] is None


@pytest.mark.parametrize(("count", "size"), [(0, 16), (1, 0)])
def test_pool_refuses_an_empty_pool(count: int, size: int) -> None:
    with pytest.raises(ValueError):
        BufferPool(count, size)


def test_chunk_reader_reads_a_file_into_two_reused_buffers(blob_file: Path) -> None:
    owners: set[int] = set()
    out = bytearray()
    with open(blob_file, "rb", buffering=0) as f:
        assert native_readinto(f)
        for chunk in iter_chunks(f, 65536):
            assert isinstance(chunk, memoryview)
            owners.add(id(chunk.obj))
            out += chunk
    assert bytes(out) == DATA
    assert len(owners) == 2


def test_chunk_reader_hands_a_decoders_bytes_on_without_copying() -> None:
    reader = decompressing_reader(io.BytesIO(gzip.compress(DATA)), Compression.GZIP, budget=None)
    assert not native_readinto(reader)  # its output is fresh bytes: passed on as they are
    with ChunkReader(reader) as chunks:
        parts = []
        while part := chunks.read():
            assert isinstance(part, bytes)
            parts.append(part)
    assert b"".join(parts) == DATA


# ------------------------------------------------------------------------- hash stage


def test_hash_stage_hashes_in_order() -> None:
    pieces = [os.urandom(n) for n in (1, 1000, 65536, 7, 300_000, 0, 42)]
    stage = HashStage(hashlib.sha256())
    for piece in pieces:
        stage.update(piece)
    assert stage.hexdigest() == hashlib.sha256(b"".join(pieces)).hexdigest()
    stage.close()
    assert stage.hexdigest() == hashlib.sha256(b"".join(pieces)).hexdigest()  # complete: still known
    assert_no_helper_threads()


class BrokenHasher:
    """A hasher that fails on its second chunk."""

    def __init__(self) -> None:
        self.calls = 0
        self.error = RuntimeError("hasher broke")

    def update(self, data: Any) -> None:
        self.calls += 1
        if self.calls == 2:
            raise self.error

    def hexdigest(self) -> str:
        return "0" * 64


def test_hash_stage_error_reaches_the_feeding_thread() -> None:
    hasher = BrokenHasher()
    stage = HashStage(hasher)
    with pytest.raises(RuntimeError) as caught:
        for _ in range(100):
            stage.update(b"x" * 10)
        stage.hexdigest()
    assert caught.value is hasher.error
    with pytest.raises(RuntimeError):
        stage.wait()  # and again on every later call
    stage.close()
    assert_no_helper_threads()


class SlowHasher:
    def __init__(self) -> None:
        self.inner = hashlib.sha256()
        self.done = 0

    def update(self, data: Any) -> None:
        time.sleep(0.1)
        self.inner.update(data)
        self.done += 1

    def hexdigest(self) -> str:
        return self.inner.hexdigest()


def test_hash_stage_release_waits_until_the_buffer_is_hashed() -> None:
    hasher = SlowHasher()
    stage = HashStage(hasher)
    first, second = bytearray(b"a" * 100), bytearray(b"b" * 100)
    stage.update(memoryview(first))
    stage.update(memoryview(second))
    stage.release(first)
    assert hasher.done >= 1  # `first` is hashed: the caller may overwrite it now
    first[:] = b"c" * 100  # must not change the digest
    assert stage.hexdigest() == hashlib.sha256(b"a" * 100 + b"b" * 100).hexdigest()
    stage.close()


def test_hash_stage_closed_midway_refuses_more_and_has_no_digest() -> None:
    stage = HashStage(SlowHasher())
    stage.update(b"x")
    stage.update(b"y")
    stage.close()
    assert_no_helper_threads()
    with pytest.raises(ValueError):
        stage.update(b"z")
    with pytest.raises(ValueError):
        stage.hexdigest()


# ------------------------------------------------------------------- verifying readers


@pytest.mark.usefixtures("background_hashing")
def test_verifying_readinto_alternating_buffers_gives_the_right_digest(blob_file: Path) -> None:
    with open(blob_file, "rb", buffering=0) as f:
        reader = VerifyingReader(f, digest_of(DATA), len(DATA))  # type: ignore[arg-type]
        out = bytearray()
        for chunk in iter_chunks(reader, 100_000):
            out += chunk
        assert reader.verified
        reader.close()
    assert bytes(out) == DATA
    assert_no_helper_threads()


@pytest.mark.usefixtures("background_hashing")
@pytest.mark.parametrize("size_known", [True, False])
def test_verifying_readinto_detects_a_corrupt_byte(tmp_path: Path, size_known: bool) -> None:
    bad = bytearray(DATA)
    bad[len(bad) // 2] ^= 1
    path = tmp_path / "bad"
    path.write_bytes(bytes(bad))
    with open(path, "rb", buffering=0) as f:
        reader = VerifyingReader(f, digest_of(DATA), len(DATA) if size_known else None)  # type: ignore[arg-type]
        with pytest.raises(DigestMismatchError):
            for _ in iter_chunks(reader):
                pass
        reader.close()
    assert_no_helper_threads()


@pytest.mark.usefixtures("background_hashing")
def test_verifying_readinto_stops_a_longer_stream_at_once(tmp_path: Path) -> None:
    path = tmp_path / "long"
    path.write_bytes(DATA + b"extra")
    with open(path, "rb", buffering=0) as f:
        reader = VerifyingReader(f, digest_of(DATA), len(DATA))  # type: ignore[arg-type]
        got = 0
        with pytest.raises(SizeMismatchError):
            for chunk in iter_chunks(reader):
                got += len(chunk)
        assert got == len(DATA)  # the extra bytes were never returned
        reader.close()
    assert_no_helper_threads()


@pytest.mark.usefixtures("background_hashing")
@pytest.mark.parametrize("corrupt", [False, True])
def test_verifying_readinto_switching_between_inline_and_thread_hashing(tmp_path: Path, corrupt: bool) -> None:
    """`inline` answered differently chunk by chunk: every byte is hashed once, in order
    (the digest matches, a corrupt byte is caught) wherever each chunk was hashed."""
    data = bytearray(DATA)
    if corrupt:
        data[len(data) // 3] ^= 1
    path = tmp_path / "blob"
    path.write_bytes(bytes(data))
    answers = iter([False, False, True, False, True, True] * 100)
    with open(path, "rb", buffering=0) as f:
        reader = VerifyingReader(f, digest_of(DATA), len(DATA), inline=lambda: next(answers))  # type: ignore[arg-type]
        out = bytearray()
        if corrupt:
            with pytest.raises(DigestMismatchError):
                for chunk in iter_chunks(reader, 100_000):
                    out += chunk
        else:
            for chunk in iter_chunks(reader, 100_000):
                out += chunk
            assert reader.verified and bytes(out) == DATA
        reader.close()
    assert_no_helper_threads()


@pytest.mark.usefixtures("background_hashing")
def test_verifying_reader_always_inline_starts_no_hash_thread(blob_file: Path) -> None:
    with open(blob_file, "rb", buffering=0) as f:
        reader = VerifyingReader(f, digest_of(DATA), len(DATA), inline=lambda: True)  # type: ignore[arg-type]
        for _ in iter_chunks(reader, 100_000):
            assert skopo_threads() == []
        assert reader.verified
        reader.close()


def test_background_hashing_reader_digest_and_stop(blob_file: Path) -> None:
    with open(blob_file, "rb", buffering=0) as f:
        hashing = HashingReader(f, background=True)  # type: ignore[arg-type]
        out = b"".join(bytes(chunk) for chunk in iter_chunks(hashing))
        assert hashing.digest() == digest_of(DATA)
        hashing.stop()
        assert hashing.digest() == digest_of(DATA)
    assert out == DATA
    assert_no_helper_threads()


# ------------------------------------------------------------------ pooled read-ahead


@pytest.mark.usefixtures("background_hashing")
def test_pooled_read_ahead_over_a_verified_file(blob_file: Path) -> None:
    with open(blob_file, "rb", buffering=0) as f:
        source = VerifyingReader(f, digest_of(DATA), len(DATA))  # type: ignore[arg-type]
        ahead = ReadAheadReader(source, chunk_size=65536, depth=2)
        pool = ahead._pool
        assert pool is not None and pool.count == 4  # depth + 2 buffers, whatever the blob size
        out = bytearray()
        while chunk := ahead.read(50_000):
            out += chunk
            assert pool.owned <= pool.count
        ahead.close()
    assert bytes(out) == DATA
    assert_no_helper_threads()


class Interrupting(io.RawIOBase):
    """Hands out `data`, then raises KeyboardInterrupt (a Ctrl-C seen by the reading thread)."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        got = self._data.readinto(buffer)
        if not got:
            raise KeyboardInterrupt
        return got


@pytest.mark.usefixtures("background_hashing")
def test_interrupt_in_the_read_ahead_thread_reaches_the_consumer_and_no_thread_survives() -> None:
    source = VerifyingReader(Interrupting(DATA), digest_of(DATA), None)  # type: ignore[arg-type]
    ahead = ReadAheadReader(source, chunk_size=65536)
    got = 0
    with pytest.raises(KeyboardInterrupt):
        while chunk := ahead.read(65536):
            got += len(chunk)
    assert got == len(DATA)
    ahead.close()
    assert_no_helper_threads()


@pytest.mark.usefixtures("background_hashing")
def test_mismatch_behind_a_read_ahead_is_raised_by_the_consumer(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(DATA[:-1] + b"?")
    with open(path, "rb", buffering=0) as f:
        ahead = ReadAheadReader(VerifyingReader(f, digest_of(DATA), len(DATA)))  # type: ignore[arg-type]
        with pytest.raises(DigestMismatchError):
            while ahead.read(1 << 20):
                pass
        ahead.close()
    assert_no_helper_threads()


# --------------------------------------------------------------- decoder readinto order


def test_decoder_readinto_delivers_the_bytes_before_an_error_then_raises() -> None:
    corrupt = gzip.compress(DATA) + b"garbage after the member"
    reader = decompressing_reader(io.BytesIO(corrupt), Compression.GZIP, budget=None)
    buffer = bytearray(len(DATA) + 100)
    got = reader.readinto(buffer)  # fills what it can, keeps the error for the next call
    assert bytes(buffer[:got]) == DATA[:got]
    total = got
    with pytest.raises(CompressionError):
        while n := reader.readinto(buffer):
            total += n
    assert total == len(DATA)


# -------------------------------------------------------------- layers into an archive


def layered_layout(tmp_path: Path, sizes: list[int]) -> tuple[Path, list[str], list[str]]:
    """An OCI layout of gzip layers of `sizes` random bytes (the second layer repeated at
    the end, so one layer occurs twice); returns it, the diffIDs and the blob digests."""
    tars = [random_layer_tar(100 + i, size, prefix=f"l{i}") for i, size in enumerate(sizes)]
    tars.append(tars[1])
    image = build_image(fmt="oci", layer_tars=tars)
    path = write_oci_layout(image, tmp_path / "src")
    return path, [layer.diff_id for layer in image.layers], [layer.digest for layer in image.layers]


def archive_layers(path: Path) -> tuple[list[str], list[str]]:
    """The digests of the archive's layer files in the order they were written, and the
    layer names its manifest.json lists."""
    with tarfile.open(path) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        listed: list[str] = manifest[0]["Layers"]
        written = [
            "sha256:" + hashlib.sha256(tar.extractfile(m).read()).hexdigest()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile() and m.name in listed
        ]
        return written, listed


SIZES = [300_000, 200_000, 700_000, 50_000]


@pytest.mark.usefixtures("background_hashing")
@pytest.mark.parametrize("compression", [None, LayerCompression.COMPRESS])
def test_layers_reach_the_archive_in_order(tmp_path: Path, compression: LayerCompression | None) -> None:
    src, diff_ids, blob_digests = layered_layout(tmp_path, SIZES)
    out = tmp_path / "out.tar"
    options = CopyOptions(layer_compression=compression, parallel_copies=6)
    copy_image(
        InsecureAcceptAnything(),
        parse_image_name(f"docker-archive:{out}:x/y:z"),
        parse_image_name(f"oci:{src}:latest"),
        options=options,
    )
    written, listed = archive_layers(out)
    assert len(listed) == len(diff_ids)
    # Written in layer order, each once (the repeated layer is reused, not written again).
    unique = list(dict.fromkeys(diff_ids if compression is None else blob_digests))
    assert written == unique
    assert_no_helper_threads()


@pytest.mark.usefixtures("background_hashing")
@pytest.mark.parametrize("compression", [None, LayerCompression.COMPRESS])
def test_corrupt_middle_layer_fails_the_copy_and_leaves_no_archive(
    tmp_path: Path, compression: LayerCompression | None
) -> None:
    src, _, blob_digests = layered_layout(tmp_path, SIZES)
    corrupt_blob(src, blob_digests[2])
    out = tmp_path / "dest" / "out.tar"
    out.parent.mkdir()
    with pytest.raises(ToolkitError) as caught:
        copy_image(
            InsecureAcceptAnything(),
            parse_image_name(f"docker-archive:{out}:x/y:z"),
            parse_image_name(f"oci:{src}:latest"),
            options=CopyOptions(layer_compression=compression, parallel_copies=6),
        )
    # The source's digest check speaks (or the decoder's, seeing the damage first).
    assert isinstance(caught.value, DigestMismatchError | CompressionError) or "Digest" in str(caught.value)
    assert list(out.parent.iterdir()) == []  # no archive, no temp file
    assert_no_helper_threads()


@pytest.mark.usefixtures("background_hashing")
def test_interrupt_during_a_layer_leaves_no_archive_and_no_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, _, _ = layered_layout(tmp_path, SIZES)
    original = LayoutImageSource.get_blob
    calls = {"n": 0}

    def get_blob(self: LayoutImageSource, info: Any) -> tuple[Any, int]:
        stream, size = original(self, info)
        calls["n"] += 1
        if calls["n"] != 2:
            return stream, size
        data = stream.read()
        stream.close()
        return Interrupting(data[: len(data) // 2]), size

    monkeypatch.setattr(LayoutImageSource, "get_blob", get_blob)
    out = tmp_path / "dest" / "out.tar"
    out.parent.mkdir()
    with pytest.raises(KeyboardInterrupt):
        copy_image(
            InsecureAcceptAnything(),
            parse_image_name(f"docker-archive:{out}:x/y:z"),
            parse_image_name(f"oci:{src}:latest"),
            options=CopyOptions(parallel_copies=6),
        )
    assert list(out.parent.iterdir()) == []
    assert_no_helper_threads()
