"""Copying a blob from a local file range (`LocalBlobFile` -> `put_blob_from_file`).

The contract: the bytes written are the bytes hashed, a mismatch fails with the words of the
streaming path (`VerifyingReader`) and leaves nothing at the destination, progress sees every
chunk and may stop the copy.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from helpers.images import build_image, write_dir, write_oci_layout
from helpers.trees import leftovers
from toolkit.digest import Digest, VerifyingReader
from toolkit.errors import DigestMismatchError, SizeMismatchError, ToolkitError
from toolkit.streams import BUFFER_SIZE
from toolkit.transports import parse_image_name
from toolkit.transports._fs import copy_local_blob, local_blob_file
from toolkit.transports.base import FileBlobDestination, LocalBlobFile, LocalBlobSource
from toolkit.types import BlobInfo, SystemContext

#: Several chunks and a partial one.
DATA = os.urandom(3 * BUFFER_SIZE + 12345)


def _digest(data: bytes) -> Digest:
    return Digest("sha256", hashlib.sha256(data).hexdigest())


def _range_file(tmp_path: Path, data: bytes, *, before: bytes = b"", after: bytes = b"") -> LocalBlobFile:
    path = tmp_path / "source"
    path.write_bytes(before + data + after)
    return LocalBlobFile(open(path, "rb", buffering=0), len(before), len(data))


class Collector:
    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.progress: list[int] = []

    def write(self, chunk: object) -> int:
        data = bytes(chunk)  # type: ignore[call-overload]
        self.parts.append(data)
        return len(data)

    def advance(self, n: int) -> None:
        self.progress.append(n)


@pytest.mark.parametrize("background", [False, True])
def test_copies_exactly_the_range_and_counts_progress(tmp_path: Path, background: bool) -> None:
    blob = _range_file(tmp_path, DATA, before=b"x" * 1000, after=b"trailing junk")
    out = Collector()
    with blob.file:
        digest, size = copy_local_blob(
            blob, out.write, BlobInfo(digest=_digest(DATA), size=len(DATA)), progress=out.advance,
            background=background,
        )
    assert (digest, size) == (_digest(DATA), len(DATA))
    assert b"".join(out.parts) == DATA
    assert sum(out.progress) == len(DATA) and len(out.progress) == len(out.parts) > 1


@pytest.mark.parametrize("background", [False, True])
def test_corrupted_bytes_fail_with_the_streaming_words(tmp_path: Path, background: bool) -> None:
    corrupted = bytearray(DATA)
    corrupted[len(corrupted) // 2] ^= 0xFF
    blob = _range_file(tmp_path, bytes(corrupted))
    expected = _digest(DATA)
    with blob.file, pytest.raises(DigestMismatchError) as fast:
        copy_local_blob(blob, Collector().write, BlobInfo(digest=expected, size=len(DATA)),
                        progress=lambda n: None, background=background)
    with open(tmp_path / "source", "rb", buffering=0) as f, pytest.raises(DigestMismatchError) as streamed:
        VerifyingReader(f, expected, len(DATA)).drain()
    assert str(fast.value) == str(streamed.value)
    assert str(expected) in str(fast.value) and str(_digest(bytes(corrupted))) in str(fast.value)


def test_a_file_shorter_than_announced_is_a_size_mismatch(tmp_path: Path) -> None:
    blob = _range_file(tmp_path, DATA)
    longer = LocalBlobFile(blob.file, 0, len(DATA) + 10)
    with blob.file, pytest.raises(SizeMismatchError) as fast:
        copy_local_blob(longer, Collector().write, BlobInfo(digest=_digest(DATA), size=-1),
                        progress=lambda n: None, background=False)
    with open(tmp_path / "source", "rb", buffering=0) as f, pytest.raises(SizeMismatchError) as streamed:
        VerifyingReader(f, _digest(DATA), len(DATA) + 10).drain()
    assert str(fast.value) == str(streamed.value)


def test_a_range_that_differs_from_the_announced_size_is_refused(tmp_path: Path) -> None:
    blob = _range_file(tmp_path, DATA)
    out = Collector()
    with blob.file, pytest.raises(SizeMismatchError):
        copy_local_blob(blob, out.write, BlobInfo(digest=_digest(DATA), size=len(DATA) - 1),
                        progress=lambda n: None, background=False)
    assert out.parts == []


def test_a_digest_is_required(tmp_path: Path) -> None:
    blob = _range_file(tmp_path, DATA)
    with blob.file, pytest.raises(ToolkitError, match="digest"):
        copy_local_blob(blob, Collector().write, BlobInfo(digest=None, size=len(DATA)),
                        progress=lambda n: None, background=False)


def test_local_blob_file_takes_only_whole_regular_files(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(DATA)
    with open(path, "rb", buffering=0) as f:
        local = local_blob_file(f, len(DATA))
        assert local is not None and (local.offset, local.size) == (0, len(DATA))
        assert local.head(6) == DATA[:6]
        assert local_blob_file(f, len(DATA) + 1) is None  # not the size the caller checked
    with open(path, "rb") as buffered:  # a BufferedReader: not an unbuffered file
        assert local_blob_file(buffered, len(DATA)) is None
    assert local_blob_file(io.BytesIO(DATA), len(DATA)) is None  # type: ignore[arg-type]
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb", buffering=0) as pipe:
        assert local_blob_file(pipe, 0) is None


# --------------------------------------------------------------------- the destinations


def _destination(kind: str, tmp_path: Path) -> tuple[FileBlobDestination, Path]:
    tmp_path.mkdir()
    ref = parse_image_name(f"oci:{tmp_path / 'layout'}:x" if kind == "oci" else f"dir:{tmp_path / 'img'}")
    dest = ref.new_image_destination(SystemContext())
    assert isinstance(dest, FileBlobDestination)
    return dest, tmp_path


@pytest.mark.parametrize("kind", ["oci", "dir"])
@pytest.mark.parametrize("background", [False, True])
def test_destination_stores_the_blob(tmp_path: Path, kind: str, background: bool) -> None:
    dest, _ = _destination(kind, tmp_path / "dest")
    blob = _range_file(tmp_path, DATA, before=b"header")
    progress = Collector()
    info = BlobInfo(digest=_digest(DATA), size=len(DATA), media_type="application/octet-stream")
    with dest, blob.file:
        stored = dest.put_blob_from_file(blob, info, progress=progress.advance, background_hash=background)
        assert (stored.digest, stored.size) == (info.digest, len(DATA))
        assert sum(progress.progress) == len(DATA)
        found = [p for p in (tmp_path / "dest").rglob(_digest(DATA).hex)]
        assert len(found) == 1 and found[0].read_bytes() == DATA
        assert [p for p in (tmp_path / "dest").rglob("*.tmp-*")] == []
    assert leftovers(tmp_path / "dest") == []  # not committed: the staging area is gone too


@pytest.mark.parametrize("kind", ["oci", "dir"])
@pytest.mark.parametrize("failure", ["corrupt", "progress raises"])
def test_destination_leaves_no_trace_of_a_failed_blob(tmp_path: Path, kind: str, failure: str) -> None:
    dest, _ = _destination(kind, tmp_path / "dest")
    data = bytearray(DATA)
    if failure == "corrupt":
        data[-1] ^= 1

    class Stop(Exception):
        pass

    def advance(n: int) -> None:
        if failure == "progress raises":
            raise Stop

    blob = _range_file(tmp_path, bytes(data))
    info = BlobInfo(digest=_digest(DATA), size=len(DATA))
    with dest, blob.file:
        with pytest.raises(DigestMismatchError if failure == "corrupt" else Stop):
            dest.put_blob_from_file(blob, info, progress=advance, background_hash=True)
        files = [p for p in (tmp_path / "dest").rglob("*") if p.is_file()]
        assert [p for p in files if len(p.name) >= 64 or ".tmp-" in p.name] == []
    assert leftovers(tmp_path / "dest") == []


def test_sources_offer_their_files(tmp_path: Path) -> None:
    image = build_image(fmt="oci", layer_count=1, seed=5)
    layer = image.layers[0]
    info = BlobInfo(digest=Digest.parse(layer.digest), size=len(layer.data))
    write_oci_layout(image, tmp_path / "layout", "x")
    write_dir(image, tmp_path / "img")
    for name in (f"oci:{tmp_path / 'layout'}:x", f"dir:{tmp_path / 'img'}"):
        with parse_image_name(name).new_image_source(SystemContext()) as src:
            assert isinstance(src, LocalBlobSource)
            local = src.get_local_blob(info)
            assert local is not None
            with local.file:
                assert os.pread(local.file.fileno(), local.size, local.offset) == layer.data
            if name.startswith("oci:"):  # the size is checked as get_blob checks it
                with pytest.raises(SizeMismatchError):
                    src.get_local_blob(BlobInfo(digest=info.digest, size=info.size + 1))


# ------------------------------------------------------------- tar entries written in place


def test_a_reserved_tar_entry_gives_the_same_archive_as_a_streamed_one(tmp_path: Path) -> None:
    from toolkit.transports._fs import FileRegionWriter
    from toolkit.transports._tar import TarStreamWriter

    payload = DATA[:1000]  # not a multiple of the block size: padding follows
    with open(tmp_path / "streamed.tar", "w+b") as f:
        tar = TarStreamWriter(f)
        tar.add_bytes("a", b"x")
        tar.add_file("b", io.BytesIO(payload), len(payload))
        tar.add_bytes("c", b"yy")
        tar.close()
    with open(tmp_path / "reserved.tar", "w+b") as f:
        tar = TarStreamWriter(f)
        tar.add_bytes("a", b"x")
        offset = tar.reserve_file("b", len(payload))
        tar.add_bytes("c", b"yy")  # written before the reserved data, as a next layer is
        region = FileRegionWriter(f.fileno(), offset, len(payload), "b")
        region.write(payload[:300])
        region.write(payload[300:])
        with pytest.raises(ToolkitError, match="beyond"):
            region.write(b"z")
        tar.close()
    assert (tmp_path / "reserved.tar").read_bytes() == (tmp_path / "streamed.tar").read_bytes()


def test_a_tar_entry_cannot_be_reserved_in_a_pipe() -> None:
    from toolkit.errors import NotSupportedError
    from toolkit.transports._tar import TarStreamWriter

    class Pipe(io.BytesIO):
        def seekable(self) -> bool:
            return False

    with pytest.raises(NotSupportedError):
        TarStreamWriter(Pipe()).reserve_file("b", 10)
