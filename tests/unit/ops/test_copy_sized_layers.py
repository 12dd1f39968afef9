"""Layers inflated from local gzip files into a `docker-archive:` file: each goes into an
entry reserved from the size its gzip trailer announces, so that the next layer is inflated
and written while the current one still is. The archive is the one the stream pipeline
writes (layer order kept), a wrong size costs a second, in-order copy, never other bytes,
and every failure leaves nothing behind."""

from __future__ import annotations

import gzip
import threading
from pathlib import Path
from typing import Any

import pytest

from helpers.images import build_image, write_oci_layout
from helpers.trees import leftovers, snapshot
from toolkit.digest import Digest
from toolkit.errors import DigestMismatchError
from toolkit.ops.copy import CopyOptions, blob, copy_image
from toolkit.ops.report import CallbackReporter, ProgressEvent
from toolkit.policy import InsecureAcceptAnything
from toolkit.transports import parse_image_name
from toolkit.transports._docker_tar import ArchiveImageDestination, ArchiveWriter
from toolkit.transports._oci_layout import LayoutImageSource
from toolkit.transports.base import SizeHintMissedError
from toolkit.types import BlobInfo, SystemContext


def _copy(src: str, dest: str, **options: Any) -> None:
    copy_image(InsecureAcceptAnything(), parse_image_name(dest), parse_image_name(src),
               options=CopyOptions(**options))


def _source(tmp_path: Path, *, seed: int = 41, layer_count: int = 4, layer_size: int = 400 << 10) -> str:
    image = build_image(fmt="oci", seed=seed, layer_count=layer_count, layer_size=layer_size)
    return f"oci:{write_oci_layout(image, tmp_path / 'src', 'x')}:x"


@pytest.fixture
def sized_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every `put_layer_sized` call."""
    calls: list[int] = []
    original = ArchiveImageDestination.put_layer_sized

    def spy(self: Any, stream: Any, info: BlobInfo, size: int, **kwargs: Any) -> Any:
        calls.append(size)
        return original(self, stream, info, size, **kwargs)

    monkeypatch.setattr(ArchiveImageDestination, "put_layer_sized", spy)
    return calls


def _streamed(tmp_path: Path, src: str, monkeypatch: pytest.MonkeyPatch, name: str = "streamed.tar") -> bytes:
    """The archive the stream pipeline writes (no local files, so no size hints)."""
    with monkeypatch.context() as m:
        m.setattr(LayoutImageSource, "get_local_blob", lambda self, info: None)
        _copy(src, f"docker-archive:{tmp_path / name}:x/y:z")
    return (tmp_path / name).read_bytes()


def test_same_archive_as_the_stream_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sized_calls: list[int]
) -> None:
    src = _source(tmp_path)
    _copy(src, f"docker-archive:{tmp_path / 'sized.tar'}:x/y:z")
    assert len(sized_calls) == 4
    assert (tmp_path / "sized.tar").read_bytes() == _streamed(tmp_path, src, monkeypatch)


def test_the_next_layer_is_written_while_one_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sized_calls: list[int]
) -> None:
    """The first layer's copy waits, mid-way, until the second one has written some bytes
    (it could not if the layers took turns); never more than two layers at once."""
    image = build_image(fmt="oci", seed=42, layer_count=4, layer_size=600 << 10)
    src = f"oci:{write_oci_layout(image, tmp_path / 'src', 'x')}:x"
    first, second = image.layers[0].digest, image.layers[1].digest
    second_started = threading.Event()
    overlapped: list[bool] = []
    lock = threading.Lock()
    active: set[str] = set()
    most: list[int] = [0]

    def callback(event: ProgressEvent) -> None:
        with lock:
            if event.event == "advance" and event.blob == "blob":
                active.add(str(event.digest))
                most[0] = max(most[0], len(active))
            elif event.event == "finish":
                active.discard(str(event.digest))
        if event.event == "advance" and str(event.digest) == second:
            second_started.set()
        if event.event == "advance" and str(event.digest) == first and not overlapped:
            overlapped.append(second_started.wait(10))

    _copy(src, f"docker-archive:{tmp_path / 'sized.tar'}:x/y:z", reporter=CallbackReporter(callback))
    assert overlapped == [True]
    assert most[0] <= 2
    assert (tmp_path / "sized.tar").read_bytes() == _streamed(tmp_path, src, monkeypatch)


@pytest.mark.parametrize("delta", [-1, 1, 1 << 20])
@pytest.mark.parametrize("wrong", [0, 2])
def test_a_wrong_size_hint_copies_again_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sized_calls: list[int], delta: int, wrong: int
) -> None:
    """A trailer that lies (or a multi-member gzip) costs a second copy, never other bytes."""
    src = _source(tmp_path)
    real = blob._gzip_size_hint
    digests: list[str] = []

    def lying(source: Any, layer: BlobInfo) -> int | None:
        hint = real(source, layer)
        if hint is None:  # the stream pipeline's copy below
            return None
        digests.append(str(layer.digest))
        first_pass = digests.count(str(layer.digest)) == 1
        return hint + delta if first_pass and len(set(digests)) == wrong + 1 else hint

    rewinds: list[object] = []
    original_rewind = ArchiveImageDestination.layer_rewind

    def spy_rewind(self: Any, token: object) -> None:
        rewinds.append(token)
        original_rewind(self, token)

    monkeypatch.setattr(blob, "_gzip_size_hint", lying)
    monkeypatch.setattr(ArchiveImageDestination, "layer_rewind", spy_rewind)
    _copy(src, f"docker-archive:{tmp_path / 'sized.tar'}:x/y:z")
    assert len(rewinds) == 1
    assert (tmp_path / "sized.tar").read_bytes() == _streamed(tmp_path, src, monkeypatch)
    assert leftovers(tmp_path) == []


def test_a_multi_member_gzip_layer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sized_calls: list[int]) -> None:
    """Its trailer names the last member's size only: the copy still writes the same archive."""
    from helpers.images import random_layer_tar

    tars = [random_layer_tar(4300 + i, 300 << 10, prefix=f"l{i}") for i in range(3)]
    image = build_image(fmt="oci", layer_tars=tars)
    layout = write_oci_layout(image, tmp_path / "src", "x")
    # Replace the middle layer's blob by two gzip members of the same tar (same diffID).
    import hashlib
    import json

    tar = tars[1]
    multi = gzip.compress(tar[: len(tar) // 2], mtime=0) + gzip.compress(tar[len(tar) // 2 :], mtime=0)
    old = image.layers[1].digest.split(":")[1]
    new = hashlib.sha256(multi).hexdigest()
    blobs = Path(layout) / "blobs" / "sha256"
    (blobs / new).write_bytes(multi)
    manifest_name = json.loads((Path(layout) / "index.json").read_text())["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((blobs / manifest_name).read_bytes())
    for layer in manifest["layers"]:
        if layer["digest"] == f"sha256:{old}":
            layer["digest"], layer["size"] = f"sha256:{new}", len(multi)
    raw = json.dumps(manifest).encode()
    digest = hashlib.sha256(raw).hexdigest()
    (blobs / digest).write_bytes(raw)
    index = json.loads((Path(layout) / "index.json").read_text())
    index["manifests"][0].update(digest=f"sha256:{digest}", size=len(raw))
    (Path(layout) / "index.json").write_text(json.dumps(index))
    src = f"oci:{layout}:x"
    _copy(src, f"docker-archive:{tmp_path / 'sized.tar'}:x/y:z")
    assert (tmp_path / "sized.tar").read_bytes() == _streamed(tmp_path, src, monkeypatch)


def test_a_corrupted_layer_fails_as_in_the_stream_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sized_calls: list[int]
) -> None:
    """A layer whose bytes are wrong (same size) fails with the stream pipeline's error, in
    the middle of the archive, and leaves no archive and no temp file."""
    src = _source(tmp_path, layer_count=3)
    blobs = tmp_path / "src" / "blobs" / "sha256"
    victim = max(blobs.iterdir(), key=lambda p: p.stat().st_size)
    data = bytearray(victim.read_bytes())
    data[-100] ^= 0xFF  # in the deflate data: the inflated bytes (or the inflater) go wrong
    victim.write_bytes(bytes(data))
    with pytest.raises(DigestMismatchError) as sized:
        _copy(src, f"docker-archive:{tmp_path / 'sized.tar'}:x/y:z")
    assert sized_calls
    with monkeypatch.context() as m:
        m.setattr(LayoutImageSource, "get_local_blob", lambda self, info: None)
        with pytest.raises(DigestMismatchError) as streamed:
            _copy(src, f"docker-archive:{tmp_path / 'streamed.tar'}:x/y:z")
    assert str(sized.value) == str(streamed.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]
    assert leftovers(tmp_path) == []


def test_an_interrupt_mid_layer_leaves_nothing(tmp_path: Path, sized_calls: list[int]) -> None:
    src = _source(tmp_path, layer_count=3)
    before = snapshot(tmp_path)
    seen: list[str] = []

    def interrupt(event: ProgressEvent) -> None:
        if event.event == "advance" and event.blob == "blob":
            seen.append(str(event.digest))
            if len(set(seen)) == 3:  # the first layer is written, the second one maybe not
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _copy(src, f"docker-archive:{tmp_path / 'sized.tar'}:x/y:z", reporter=CallbackReporter(interrupt))
    assert sized_calls
    assert snapshot(tmp_path) == before
    assert leftovers(tmp_path) == []


def test_a_pipe_keeps_the_stream_path(tmp_path: Path, sized_calls: list[int]) -> None:
    """Into a pipe (`docker-archive:/dev/stdout | docker load`) no entry can be reserved:
    the layers stream one after the other, as before."""
    import os

    src = _source(tmp_path, layer_count=3)
    read_fd, write_fd = os.pipe()
    chunks: list[bytes] = []

    def drain() -> None:
        while data := os.read(read_fd, 1 << 16):
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        _copy(src, f"docker-archive:/dev/fd/{write_fd}:x/y:z")
    finally:
        os.close(write_fd)
        reader.join()
        os.close(read_fd)
    assert sized_calls == []
    _copy(src, f"docker-archive:{tmp_path / 'file.tar'}:x/y:z")
    assert b"".join(chunks) == (tmp_path / "file.tar").read_bytes()


def test_the_writer_counts_the_bytes_against_the_reserved_size(tmp_path: Path) -> None:
    """`put_layer_sized` never writes beyond the entry; after a miss the writer refuses
    more until it is rewound, and a rewound archive is the one written without the miss."""
    import io

    data = b"x" * 5000
    digest = Digest.from_bytes(data)
    after = b"entry after"  # the reserved entry's padding is a hole until something follows
    after_info = BlobInfo(digest=Digest.from_bytes(after), size=len(after))
    ctx = SystemContext()
    with open(tmp_path / "a.tar", "w+b", buffering=0) as out:
        writer = ArchiveWriter(out, seekable=True, ctx=ctx)
        assert writer.reserves_sized_layers
        token = writer.checkpoint()
        with pytest.raises(SizeHintMissedError):
            writer.put_layer_sized(io.BytesIO(data), BlobInfo(digest=digest, size=-1), 4096)
        with pytest.raises(SizeHintMissedError):
            writer.put_blob(io.BytesIO(data), BlobInfo(digest=digest, size=-1))
        assert out.seek(0, 2) <= 512 + 4096
        writer.rewind(token)
        with pytest.raises(SizeHintMissedError):
            writer.put_layer_sized(io.BytesIO(data), BlobInfo(digest=digest, size=-1), 6000)
        writer.rewind(token)
        writer.put_layer_sized(io.BytesIO(data), BlobInfo(digest=digest, size=-1), 5000)
        writer.put_blob(io.BytesIO(after), after_info)
    with open(tmp_path / "b.tar", "w+b", buffering=0) as out:
        writer = ArchiveWriter(out, seekable=True, ctx=ctx)
        writer.put_blob(io.BytesIO(data), BlobInfo(digest=digest, size=-1))
        writer.put_blob(io.BytesIO(after), after_info)
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    # A wrong digest of the right size is the error it always was.
    with open(tmp_path / "c.tar", "w+b", buffering=0) as out:
        writer = ArchiveWriter(out, seekable=True, ctx=ctx)
        with pytest.raises(DigestMismatchError):
            writer.put_layer_sized(io.BytesIO(b"y" * 5000), BlobInfo(digest=digest, size=-1), 5000)
