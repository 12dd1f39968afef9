"""The copy engine's local-file step: a layer that flows unchanged between local files is
copied as a file range (`LocalBlobSource` -> `FileBlobDestination`), with the same result and
the same errors as through the stream pipeline, which every other case still takes."""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any

import pytest

from helpers.images import build_image, write_dir, write_oci_layout
from helpers.trees import leftovers, snapshot
from toolkit.errors import DigestMismatchError
from toolkit.ops.copy import CopyOptions, copy_image
from toolkit.ops.report import CallbackReporter, ProgressEvent
from toolkit.policy import InsecureAcceptAnything
from toolkit.transports import parse_image_name
from toolkit.transports._docker_tar import ArchiveImageDestination
from toolkit.transports._oci_layout import LayoutImageSource
from toolkit.transports.dir import DirImageDestination, DirImageSource
from toolkit.transports.oci import OciImageDestination
from toolkit.transports.oci_archive import OciArchiveDestination
from toolkit.types import LayerCompression


@pytest.fixture
def fast_calls(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Records `background_hash` of every `put_blob_from_file` call of oci: and dir:."""
    calls: list[bool] = []
    for cls in (OciImageDestination, DirImageDestination, ArchiveImageDestination, OciArchiveDestination):
        original = cls.put_blob_from_file

        def spy(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            calls.append(kwargs["background_hash"])
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "put_blob_from_file", spy)
    return calls


def no_local_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sources that never offer a file: every layer takes the stream pipeline."""
    for cls in (LayoutImageSource, DirImageSource):
        monkeypatch.setattr(cls, "get_local_blob", lambda self, info: None)


def _copy(src: str, dest: str, **options: Any) -> None:
    copy_image(InsecureAcceptAnything(), parse_image_name(dest), parse_image_name(src),
               options=CopyOptions(**options))


def _source(tmp_path: Path, kind: str, **image: Any) -> str:
    built = build_image(fmt="oci" if kind == "oci" else "docker", seed=31, **image)
    if kind == "oci":
        return f"oci:{write_oci_layout(built, tmp_path / 'src-layout', 'x')}:x"
    return f"dir:{write_dir(built, tmp_path / 'src-dir')}"


def _corrupted_dir_source(tmp_path: Path, at: int) -> tuple[str, Path]:
    """A `dir:` source of 3 layers whose largest layer has the byte at `at` flipped (same
    size): (its name, the corrupted blob)."""
    src = _source(tmp_path, "dir", layer_count=3, layer_size=300 << 10)
    src_dir = Path(src.removeprefix("dir:"))
    victim = max((p for p in src_dir.iterdir() if len(p.name) == 64), key=lambda p: p.stat().st_size)
    data = bytearray(victim.read_bytes())
    data[at] ^= 0xFF
    victim.write_bytes(bytes(data))
    return src, victim


@pytest.mark.parametrize(("src_kind", "dest_kind"), [("oci", "oci"), ("dir", "dir"), ("dir", "oci"), ("oci", "dir")])
def test_same_bytes_as_the_stream_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_calls: list[bool], src_kind: str, dest_kind: str
) -> None:
    src = _source(tmp_path, src_kind, layer_count=3, layer_size=300 << 10)
    dest = {"oci": "oci:{}:y", "dir": "dir:{}"}[dest_kind]
    _copy(src, dest.format(tmp_path / "fast"))
    assert len(fast_calls) == 3
    with monkeypatch.context() as m:
        no_local_files(m)
        _copy(src, dest.format(tmp_path / "streamed"))
    assert len(fast_calls) == 3
    assert snapshot(tmp_path / "fast") == snapshot(tmp_path / "streamed")
    assert leftovers(tmp_path) == []


def test_hashes_in_a_thread_only_with_fewer_layers_than_cores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_calls: list[bool]
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    src = _source(tmp_path, "oci", layer_count=3)
    _copy(src, f"oci:{tmp_path / 'a'}:y")
    assert fast_calls == [False] * 3
    fast_calls.clear()
    _copy(src, f"oci:{tmp_path / 'b'}:y", parallel_copies=1)
    assert fast_calls == [True] * 3


def test_a_layer_to_compress_takes_the_stream_pipeline(tmp_path: Path, fast_calls: list[bool]) -> None:
    # oci: wants compressed layers: an uncompressed one is gzipped on the way.
    src = _source(tmp_path, "dir", layer_count=2, compression="none")
    _copy(src, f"oci:{tmp_path / 'out'}:y")
    assert fast_calls == []
    blobs = [p for p in (tmp_path / "out" / "blobs" / "sha256").iterdir() if p.read_bytes()[:2] == b"\x1f\x8b"]
    assert len(blobs) == 2
    assert all(gzip.decompress(p.read_bytes()) for p in blobs)
    # Into dir: (which keeps layers as they are) the same layers are copied as files.
    _copy(src, f"dir:{tmp_path / 'kept'}")
    assert len(fast_calls) == 2


def test_an_archive_member_is_copied_from_the_archive_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_calls: list[bool]
) -> None:
    src = _source(tmp_path, "oci", layer_count=2, layer_size=300 << 10)
    with monkeypatch.context() as m:
        no_local_files(m)
        _copy(src, f"oci-archive:{tmp_path / 'a.tar'}:x")
    assert fast_calls == []
    _copy(f"oci-archive:{tmp_path / 'a.tar'}:x", f"oci:{tmp_path / 'fast'}:y")
    assert len(fast_calls) == 2  # the members' ranges of a.tar
    with monkeypatch.context() as m:
        no_local_files(m)
        _copy(f"oci-archive:{tmp_path / 'a.tar'}:x", f"oci:{tmp_path / 'streamed'}:y")
    assert snapshot(tmp_path / "fast") == snapshot(tmp_path / "streamed")
    # A member that does not match its digest fails as in the stream pipeline.
    data = bytearray((tmp_path / "a.tar").read_bytes())
    first_layer = data.find(b"\x1f\x8b", 2048)  # the first gzip member's data
    assert first_layer > 0
    data[first_layer + 1000] ^= 0xFF
    (tmp_path / "a.tar").write_bytes(bytes(data))
    with pytest.raises(DigestMismatchError) as fast:
        _copy(f"oci-archive:{tmp_path / 'a.tar'}:x", f"oci:{tmp_path / 'fast2'}:y")
    with monkeypatch.context() as m:
        no_local_files(m)
        with pytest.raises(DigestMismatchError) as streamed:
            _copy(f"oci-archive:{tmp_path / 'a.tar'}:x", f"oci:{tmp_path / 'streamed2'}:y")
    assert str(fast.value) == str(streamed.value)
    assert not (tmp_path / "fast2").exists() and not (tmp_path / "streamed2").exists()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("dest_kind", ["oci", "dir"])
def test_a_corrupted_layer_fails_as_in_the_stream_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_calls: list[bool], dest_kind: str
) -> None:
    src, victim = _corrupted_dir_source(tmp_path, 150 << 10)
    # An existing destination, which must stay as it is.
    existing = build_image(fmt="oci", layer_count=1, seed=32)
    if dest_kind == "oci":
        write_oci_layout(existing, tmp_path / "dest", "old")
        dest = f"oci:{tmp_path / 'dest'}:new"
    else:
        write_dir(existing, tmp_path / "dest")
        dest = f"dir:{tmp_path / 'dest'}"
    before = snapshot(tmp_path / "dest")
    with pytest.raises(DigestMismatchError) as fast:
        _copy(src, dest)
    assert fast_calls, "the corrupted layer must have been copied as a file"
    assert snapshot(tmp_path / "dest") == before
    with monkeypatch.context() as m:
        no_local_files(m)
        with pytest.raises(DigestMismatchError) as streamed:
            _copy(src, dest)
    assert str(fast.value) == str(streamed.value)
    assert f"expected sha256:{victim.name}" in str(fast.value)
    assert snapshot(tmp_path / "dest") == before
    assert leftovers(tmp_path) == []


def test_docker_archive_with_compressed_layers_writes_the_same_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_calls: list[bool]
) -> None:
    src = _source(tmp_path, "oci", layer_count=3, layer_size=300 << 10)
    compress = LayerCompression.COMPRESS
    _copy(src, f"docker-archive:{tmp_path / 'fast.tar'}:x/y:z", layer_compression=compress)
    assert fast_calls == [False, False, True]  # two at a time; the last one ends alone
    with monkeypatch.context() as m:
        no_local_files(m)
        _copy(src, f"docker-archive:{tmp_path / 'streamed.tar'}:x/y:z", layer_compression=compress)
    assert (tmp_path / "fast.tar").read_bytes() == (tmp_path / "streamed.tar").read_bytes()
    # Without --dest-compress the layers are decompressed: the stream pipeline.
    fast_calls.clear()
    _copy(src, f"docker-archive:{tmp_path / 'plain.tar'}:x/y:z")
    assert fast_calls == []


def test_a_corrupted_layer_breaks_the_archive_as_in_the_stream_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_calls: list[bool]
) -> None:
    src, _ = _corrupted_dir_source(tmp_path, -100)
    compress = LayerCompression.COMPRESS
    with pytest.raises(DigestMismatchError) as fast:
        _copy(src, f"docker-archive:{tmp_path / 'fast.tar'}:x/y:z", layer_compression=compress)
    assert fast_calls
    with monkeypatch.context() as m:
        no_local_files(m)
        with pytest.raises(DigestMismatchError) as streamed:
            _copy(src, f"docker-archive:{tmp_path / 'streamed.tar'}:x/y:z", layer_compression=compress)
    assert str(fast.value) == str(streamed.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src-dir"]
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("dest_kind", ["oci", "dir", "docker-archive"])
@pytest.mark.parametrize("parallel", [1, 6])
def test_an_interrupt_mid_layer_leaves_the_destination_as_it_was(
    tmp_path: Path, fast_calls: list[bool], dest_kind: str, parallel: int
) -> None:
    """Ctrl-C reaches a copy as KeyboardInterrupt (here raised by the progress callback in
    the middle of a layer copied as a file): nothing of the copy stays behind."""
    src = _source(tmp_path, "oci", layer_count=3, layer_size=1 << 20)
    existing = build_image(fmt="oci", layer_count=1, seed=33)
    write_oci_layout(existing, tmp_path / "dest", "old")
    write_dir(existing, tmp_path / "dest-dir")
    dest = {
        "oci": f"oci:{tmp_path / 'dest'}:new",
        "dir": f"dir:{tmp_path / 'dest-dir'}",
        "docker-archive": f"docker-archive:{tmp_path / 'new.tar'}:x/y:z",
    }[dest_kind]
    before = snapshot(tmp_path)

    def interrupt(event: ProgressEvent) -> None:
        if event.event == "advance" and event.blob == "blob" and event.copied > 0:
            raise KeyboardInterrupt

    options = CopyOptions(parallel_copies=parallel, reporter=CallbackReporter(interrupt),
                          layer_compression=LayerCompression.COMPRESS if dest_kind == "docker-archive" else None)
    with pytest.raises(KeyboardInterrupt):
        copy_image(InsecureAcceptAnything(), parse_image_name(dest), parse_image_name(src), options=options)
    assert fast_calls
    assert snapshot(tmp_path) == before
    assert leftovers(tmp_path) == []


def test_docker_archive_takes_the_next_layer_while_one_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_calls: list[bool]
) -> None:
    """Into a regular file, a layer's entry is reserved, then written while the next layer
    is copied (two at a time): the first layer's copy waits, mid-way, until the second
    one has written some; the archive is the one the stream pipeline writes."""
    import threading

    image = build_image(fmt="oci", seed=34, layer_count=3, layer_size=600 << 10)
    src = f"oci:{write_oci_layout(image, tmp_path / 'src', 'x')}:x"
    first, second = image.layers[0].digest, image.layers[1].digest
    second_started = threading.Event()
    overlapped: list[bool] = []

    def callback(event: ProgressEvent) -> None:
        if event.event == "advance" and str(event.digest) == second:
            second_started.set()  # its bytes are being written
        if event.event == "advance" and str(event.digest) == first and not overlapped:
            overlapped.append(second_started.wait(10))

    options = CopyOptions(reporter=CallbackReporter(callback), layer_compression=LayerCompression.COMPRESS)
    copy_image(InsecureAcceptAnything(), parse_image_name(f"docker-archive:{tmp_path / 'fast.tar'}:x/y:z"),
               parse_image_name(src), options=options)
    assert overlapped == [True]
    with monkeypatch.context() as m:
        no_local_files(m)
        _copy(src, f"docker-archive:{tmp_path / 'streamed.tar'}:x/y:z", layer_compression=LayerCompression.COMPRESS)
    assert (tmp_path / "fast.tar").read_bytes() == (tmp_path / "streamed.tar").read_bytes()


def test_oci_archive_from_files_is_the_same_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_calls: list[bool]
) -> None:
    src = _source(tmp_path, "oci", layer_count=3, layer_size=300 << 10)
    _copy(src, f"oci-archive:{tmp_path / 'fast.tar'}:x")
    assert len(fast_calls) == 3
    with monkeypatch.context() as m:
        no_local_files(m)
        _copy(src, f"oci-archive:{tmp_path / 'streamed.tar'}:x")
    assert (tmp_path / "fast.tar").read_bytes() == (tmp_path / "streamed.tar").read_bytes()


def test_a_corrupted_layer_into_oci_archive_fails_as_in_the_stream_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_calls: list[bool]
) -> None:
    src, _ = _corrupted_dir_source(tmp_path, 7)
    with pytest.raises(DigestMismatchError) as fast:
        _copy(src, f"oci-archive:{tmp_path / 'out.tar'}:x")
    assert fast_calls
    with monkeypatch.context() as m:
        no_local_files(m)
        with pytest.raises(DigestMismatchError) as streamed:
            _copy(src, f"oci-archive:{tmp_path / 'out.tar'}:x")
    assert str(fast.value) == str(streamed.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src-dir"]
    assert leftovers(tmp_path) == []
