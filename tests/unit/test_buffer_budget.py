"""The copy-wide buffer budget (`toolkit.streams.BufferBudget`): a whole copy's chunk buffers
stay within one bound whatever its parallelism, layers are admitted in order, a failed
stream gives its room back, and a budget smaller than one chunk still gets the copy done.

No timing: the bounds checked are byte counts the budget keeps (`in_use`, `peak`,
`overdraft`) and what reached the destination.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from pathlib import Path
from typing import Any

import pytest

import toolkit.digest
import toolkit.ops.copy.blob as blob_module
import toolkit.streams as streams
from helpers.images import build_image, corrupt_blob, random_layer_tar, write_oci_layout
from toolkit.digest import Digest, VerifyingReader
from toolkit.errors import DigestMismatchError
from toolkit.ops.copy import CopyOptions, copy_image
from toolkit.policy import InsecureAcceptAnything
from toolkit.streams import BufferBudget, BufferPool, ChunkBuffers, ReadAheadReader, iter_chunks, using_lease
from toolkit.transports import parse_image_name
from toolkit.types import LayerCompression

CHUNK = 4096


def verifying(data: bytes) -> VerifyingReader:
    digest = Digest("sha256", hashlib.sha256(data).hexdigest())
    return VerifyingReader(io.BytesIO(data), digest, len(data))


class FileLike(io.RawIOBase):
    """A stream that fills buffers itself (as a file does), from memory."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._data = memoryview(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        k = min(len(view), len(self._data))
        view[:k] = self._data[:k]
        self._data = self._data[k:]
        return k


# ------------------------------------------------------------------------- the budget itself


def test_layers_are_admitted_in_index_order_and_within_the_limit() -> None:
    budget = BufferBudget(limit=3 * CHUNK, reserve=CHUNK)
    leases = [budget.admit(i) for i in range(3)]
    assert all(lease is not None for lease in leases)
    assert budget.in_use == 3 * CHUNK
    admitted: list[int] = []
    stop = threading.Event()

    def later(index: int) -> None:
        if budget.admit(index, stop) is not None:
            admitted.append(index)

    # Layer 4 waits for layer 3 (order), layer 3 for room.
    waiters = [threading.Thread(target=later, args=(i,)) for i in (4, 3)]
    for waiter in waiters:
        waiter.start()
    waiters[0].join(0.2)
    assert admitted == []
    first = leases[0]
    assert first is not None
    first.close()
    waiters[1].join(5)
    assert admitted == [3]
    second = leases[1]
    assert second is not None
    second.close()
    waiters[0].join(5)
    assert admitted == [3, 4]
    assert budget.peak <= budget.limit and budget.overdraft == 0


def test_a_skipped_layer_lets_the_next_one_in_and_stop_ends_a_wait() -> None:
    budget = BufferBudget(limit=4 * CHUNK, reserve=CHUNK)
    stop = threading.Event()
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(budget.admit(1, stop)))
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive()  # layer 0 has not started nor been skipped
    budget.skip(0)
    waiter.join(5)
    assert got and got[0] is not None
    stop.set()
    assert budget.admit(5, stop) is None  # layers 2-4 never came: stopped, not stuck


def test_a_lease_without_extras_keeps_to_its_reserve() -> None:
    """A layer read ahead while it waits for its turn leaves the free room to the layer
    being written; a reader's first buffer is still granted."""
    budget = BufferBudget(limit=16 * CHUNK, reserve=2 * CHUNK)
    lease = budget.admit(0)
    assert lease is not None
    lease.extras = False
    assert lease.take(CHUNK, first=False) and lease.take(CHUNK, first=False)  # the reserve
    assert not lease.take(CHUNK, first=False)  # free room, but not for this lease now
    assert lease.take(CHUNK, first=True)  # a new reader's first buffer
    lease.extras = True
    assert lease.take(CHUNK, first=False)
    lease.close()
    assert budget.in_use == 0


def test_working_counts_the_layers_under_way_and_crowded_compares_them_with_the_cpus(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A layer waiting for its turn (no extras) is not under way; a closed lease no longer
    counts, and a closed lease is never crowded."""
    monkeypatch.setattr(streams, "_CPUS", 2)
    budget = BufferBudget(limit=16 * CHUNK, reserve=CHUNK)
    first = budget.admit(0)
    assert first is not None
    assert budget.working() == 1 and not first.crowded()
    second = budget.admit(1)
    assert second is not None
    assert budget.working() == 2 and first.crowded() and second.crowded()
    second.extras = False  # waiting for its turn at the destination
    assert budget.working() == 1 and not first.crowded()
    second.extras = True
    first.close()
    assert budget.working() == 1 and not second.crowded() and not first.crowded()
    second.close()
    assert budget.working() == 0


def test_a_verifying_reader_made_under_a_crowded_lease_hashes_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Created under a copy's lease (and no `inline` of its own), a large stream is hashed
    in its reader's thread while the copy's layers keep every core busy, in a thread of its
    own once they do not; outside a copy, always in its own thread."""
    monkeypatch.setattr(streams, "_CPUS", 2)
    monkeypatch.setattr(toolkit.digest, "BACKGROUND_HASH_MIN", 0)
    data = os.urandom(64 * CHUNK)

    def hashed_in_a_thread(crowd: int) -> bool:
        budget = BufferBudget(limit=64 * CHUNK, reserve=CHUNK)
        leases = [budget.admit(i) for i in range(crowd)]
        with using_lease(leases[0]):
            reader = verifying(data)
        seen = False
        for _ in iter_chunks(reader, CHUNK):
            seen = seen or any(t.name == "skopo-hash" for t in threading.enumerate())
        assert reader.verified
        reader.close()
        for lease in leases:
            assert lease is not None
            lease.close()
        return seen

    assert not hashed_in_a_thread(2)
    assert hashed_in_a_thread(1)
    reader = verifying(data)
    assert reader._inline is None  # no copy: no policy, the hash thread as before
    reader.close()


def test_chunk_buffers_keep_a_single_buffer_while_the_copy_is_crowded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two buffers in turn while one layer is under way; one (the spare dropped, its room
    given back) while the copy's layers keep every core busy; two again afterwards."""
    monkeypatch.setattr(streams, "_CPUS", 2)
    budget = BufferBudget(limit=64 * CHUNK, reserve=0)
    first = budget.admit(0)
    assert first is not None
    with using_lease(first):
        buffers = ChunkBuffers(2, CHUNK)
    a, b = buffers.next(), buffers.next()
    assert a is not b and budget.in_use == 2 * CHUNK
    second = budget.admit(1)
    assert second is not None and first.crowded()
    assert [buffers.next() for _ in range(3)] == [a, a, a] and budget.in_use == CHUNK
    second.close()
    c, d = buffers.next(), buffers.next()
    assert c is not a and d is a and budget.in_use == 2 * CHUNK
    buffers.close()
    assert budget.in_use == 0
    first.close()


def test_a_crowded_copy_reads_every_layer_right_through_one_buffer_each(monkeypatch: pytest.MonkeyPatch) -> None:
    """Readers hashing in a thread (made before the copy got crowded) with the buffers
    reduced to one underneath: each chunk waits for its hash, and every byte is right."""
    monkeypatch.setattr(streams, "_CPUS", 2)
    monkeypatch.setattr(toolkit.digest, "BACKGROUND_HASH_MIN", 0)
    budget = BufferBudget(limit=64 * CHUNK, reserve=0)
    first = budget.admit(0)
    assert first is not None
    data = os.urandom(64 * CHUNK + 17)
    digest = Digest("sha256", hashlib.sha256(data).hexdigest())
    with using_lease(first):
        reader = VerifyingReader(FileLike(data), digest, len(data), inline=lambda: False)
        out = bytearray()
        second = None
        for chunk in iter_chunks(reader, CHUNK):
            out += chunk
            if second is None:
                second = budget.admit(1)  # crowded from the second chunk on
    assert reader.verified and bytes(out) == data
    reader.close()
    assert second is not None
    second.close()
    first.close()
    assert budget.in_use == 0


def test_readers_never_hold_more_than_the_budget_with_many_parallel_layers() -> None:
    """Eight layers at once, each a read-ahead over a file-like source and a consumer with
    two chunk buffers: everything lent stays within the budget, and every byte arrives."""
    layers = 8
    budget = BufferBudget(limit=24 * CHUNK, reserve=2 * CHUNK)
    blobs = [os.urandom(50 * CHUNK + i) for i in range(layers)]
    results: dict[int, bytes] = {}
    errors: list[BaseException] = []

    def copy(index: int) -> None:
        lease = budget.admit(index)
        assert lease is not None
        try:
            with using_lease(lease):
                ahead = ReadAheadReader(verifying_file(blobs[index]), chunk_size=CHUNK, depth=4)
                out = bytearray()
                try:
                    for chunk in iter_chunks(ahead, CHUNK):
                        out += chunk
                        assert budget.in_use <= budget.limit
                finally:
                    ahead.close()
                results[index] = bytes(out)
        except BaseException as exc:
            errors.append(exc)
        finally:
            lease.close()

    threads = [threading.Thread(target=copy, args=(i,)) for i in range(layers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert [results[i] for i in range(layers)] == blobs
    assert budget.overdraft == 0
    assert budget.peak <= budget.limit
    assert budget.in_use == 0


def verifying_file(data: bytes) -> VerifyingReader:
    digest = Digest("sha256", hashlib.sha256(data).hexdigest())
    return VerifyingReader(FileLike(data), digest, len(data))  # type: ignore[arg-type]


def test_bytes_chunks_of_a_decoder_read_ahead_count_against_the_budget() -> None:
    """A read-ahead over a stream of fresh `bytes` (a decoder, a socket) keeps at most the
    room its lease grants: with no room beyond the reservation it works one chunk at a time."""
    budget = BufferBudget(limit=2 * CHUNK, reserve=2 * CHUNK)
    data = os.urandom(40 * CHUNK)
    lease = budget.admit(0)
    assert lease is not None
    with using_lease(lease):
        ahead = ReadAheadReader(io.BytesIO(data), chunk_size=CHUNK, depth=8)
    out = bytearray()
    while chunk := ahead.read(CHUNK):
        out += chunk
        assert budget.in_use <= budget.limit
    ahead.close()
    lease.close()
    assert bytes(out) == data
    assert budget.overdraft == 0 and budget.in_use == 0


def test_a_budget_smaller_than_one_chunk_still_progresses() -> None:
    budget = BufferBudget(limit=100, reserve=50)
    data = os.urandom(20 * CHUNK + 7)
    lease = budget.admit(0)
    assert lease is not None
    with using_lease(lease):
        ahead = ReadAheadReader(verifying_file(data), chunk_size=CHUNK, depth=4)
        out = b"".join(bytes(chunk) for chunk in iter_chunks(ahead, CHUNK))
        ahead.close()
    lease.close()
    assert out == data
    assert budget.overdraft > 0  # each reader's first buffer, beyond the tiny budget
    assert budget.in_use == 0


def test_a_failed_stream_gives_its_buffers_back(tmp_path: Path) -> None:
    """A reader that raised and was never closed: closing its lease still frees its room."""
    budget = BufferBudget(limit=8 * CHUNK, reserve=2 * CHUNK)
    data = bytearray(os.urandom(30 * CHUNK))
    good = Digest("sha256", hashlib.sha256(bytes(data)).hexdigest())
    data[len(data) // 2] ^= 1
    lease = budget.admit(0)
    assert lease is not None
    with using_lease(lease):
        pool = BufferPool(4, CHUNK)
        buffers = ChunkBuffers(2, CHUNK)
        reader = VerifyingReader(FileLike(bytes(data)), good, len(data))  # type: ignore[arg-type]
        with pytest.raises(DigestMismatchError):
            while True:
                lent = pool.acquire()
                assert lent is not None
                if not reader.readinto(buffers.next()):
                    break
                pool.release(lent)
    assert budget.in_use > 2 * CHUNK  # the readers still hold buffers beyond the reserve
    lease.close()
    assert budget.in_use == 0
    # Later give-backs of the abandoned readers do not count twice.
    pool.close()
    buffers.close()
    assert budget.in_use == 0
    assert budget.admit(1) is not None


# --------------------------------------------------------------------------- through a copy


@pytest.fixture
def recorded_budgets(monkeypatch: pytest.MonkeyPatch) -> list[BufferBudget]:
    """Every copy uses a small budget (room for two transformed layers' reserves, where
    eight layers at once would want four times that), recorded for the test."""
    made: list[BufferBudget] = []

    class Small(BufferBudget):
        def __init__(self) -> None:
            super().__init__(limit=2 * streams.TRANSFORM_RESERVE, reserve=streams.LAYER_RESERVE)
            made.append(self)

    monkeypatch.setattr(blob_module, "BufferBudget", Small)
    return made


def many_layer_layout(tmp_path: Path, count: int = 8) -> tuple[Path, list[str]]:
    tars = [random_layer_tar(500 + i, 600_000 + i * 1000, prefix=f"l{i}") for i in range(count)]
    image = build_image(fmt="oci", layer_tars=tars)
    return write_oci_layout(image, tmp_path / "src"), [layer.digest for layer in image.layers]


@pytest.mark.parametrize(
    ("dest", "compression"),
    [("oci", None), ("docker-archive", None), ("docker-archive", LayerCompression.COMPRESS)],
)
def test_a_copy_of_many_parallel_layers_stays_within_its_budget(
    tmp_path: Path, recorded_budgets: list[BufferBudget], dest: str, compression: LayerCompression | None
) -> None:
    src, digests = many_layer_layout(tmp_path)
    target = f"oci:{tmp_path / 'out'}:latest" if dest == "oci" else f"docker-archive:{tmp_path / 'out.tar'}:x/y:z"
    copy_image(
        InsecureAcceptAnything(),
        parse_image_name(target),
        parse_image_name(f"oci:{src}:latest"),
        options=CopyOptions(parallel_copies=8, layer_compression=compression),
    )
    assert len(recorded_budgets) == 1
    budget = recorded_budgets[0]
    assert budget.in_use == 0  # every layer gave its room back
    assert budget.overdraft == 0
    assert budget.peak <= budget.limit
    if dest == "oci":
        for digest in digests:
            blob = tmp_path / "out" / "blobs" / "sha256" / digest.split(":")[1]
            assert "sha256:" + hashlib.sha256(blob.read_bytes()).hexdigest() == digest


def test_a_failed_layer_gives_the_copys_budget_back(tmp_path: Path, recorded_budgets: list[BufferBudget]) -> None:
    src, digests = many_layer_layout(tmp_path)
    corrupt_blob(src, digests[3])
    with pytest.raises(DigestMismatchError):
        copy_image(
            InsecureAcceptAnything(),
            parse_image_name(f"oci:{tmp_path / 'out'}:latest"),
            parse_image_name(f"oci:{src}:latest"),
            options=CopyOptions(parallel_copies=8),
        )
    budget = recorded_budgets[0]
    assert budget.in_use == 0
    assert budget.peak <= budget.limit
