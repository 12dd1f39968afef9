"""containers-storage: references, the store's records, locks, tar-split reading, image records.

Stores here are written by hand from the format description (`helpers.storage`), so
nothing needs podman or the containers-storage command; the integration tests check the
same behaviour against the real peers.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from helpers.images import build_image, tar_bytes
from helpers.storage import hand_made_vfs_store, tar_split_lines
from toolkit.digest import Digest
from toolkit.errors import (
    ArchiveError,
    DigestMismatchError,
    ImageNotFoundError,
    InvalidImageNameError,
    PolicyError,
    ToolkitError,
)
from toolkit.transports import parse_image_name
from toolkit.transports.containers_storage import TRANSPORT, StorageReference
from toolkit.transports.containers_storage._destination import _update_images, layer_id_for
from toolkit.transports.containers_storage._layer_reader import TarSplitReader
from toolkit.transports.containers_storage._lockfile import LAST_WRITER_SIZE, LockFile
from toolkit.transports.containers_storage._reference import choose_driver
from toolkit.transports.containers_storage._store import (
    Store,
    StoreLocation,
    _go_float,
    big_data_file_name,
    encode_image_fields,
)
from toolkit.types import BlobInfo, SystemContext

CTX = SystemContext()
HEX = "a" * 64


def ref(text: str) -> StorageReference:
    parsed = TRANSPORT.parse_reference(text)
    assert isinstance(parsed, StorageReference)
    return parsed


# ---------------------------------------------------------------------------------- references


def test_names_are_normalised_and_round_trip(tmp_path: Path) -> None:
    r = ref(f"[vfs@{tmp_path}/g+{tmp_path}/r]busybox")
    assert str(r.named) == "docker.io/library/busybox:latest"
    assert r.string_within_transport() == f"[vfs@{tmp_path}/g+{tmp_path}/r]docker.io/library/busybox:latest"
    assert ref(r.string_within_transport()) == r
    assert str(parse_image_name(f"containers-storage:{r.string_within_transport()}")) == str(r)


def test_options_appear_in_the_reference(tmp_path: Path) -> None:
    r = ref(f"[overlay@{tmp_path}/g+{tmp_path}/r:overlay.mountopt=nodev,overlay.x=y]x/y:1")
    assert r.location.options == ("overlay.mountopt=nodev", "overlay.x=y")
    assert r.string_within_transport().startswith(f"[overlay@{tmp_path}/g+{tmp_path}/r:overlay.mountopt=nodev,")


def test_policy_identity_and_namespaces(tmp_path: Path) -> None:
    g = f"{tmp_path}/g"
    r = ref(f"[vfs@{g}+{tmp_path}/r]example.com/ns/repo:tag@sha256:{'b' * 64}@{HEX}")
    spec = f"[vfs@{g}]"
    assert r.id == HEX
    assert r.policy_configuration_identity() == f"{spec}example.com/ns/repo:tag@sha256:{'b' * 64}@{HEX}"
    assert r.policy_configuration_namespaces() == [
        f"{spec}example.com/ns/repo:tag@sha256:{'b' * 64}",
        f"{spec}example.com/ns/repo:tag",
        f"{spec}example.com/ns/repo",
        f"{spec}example.com/ns",
        f"{spec}example.com",
        spec,
        f"[{g}]",
    ]
    for scope in r.policy_configuration_namespaces():
        TRANSPORT.validate_policy_configuration_scope(scope)


@pytest.mark.parametrize(
    "scope", ["x", "[]", "[relative]", "[vfs@]", "[@/g]", "[vfs@relative]", "[vfs@/g]x@bad", "[/g]x@sha256:1@2"]
)
def test_invalid_policy_scopes(scope: str) -> None:
    with pytest.raises(PolicyError):
        TRANSPORT.validate_policy_configuration_scope(scope)


def test_image_ids_and_prefixes(tmp_path: Path) -> None:
    graph = tmp_path / "g"
    tar = tar_bytes({"f": b"x"})
    hand_made_vfs_store(graph, [tar], manifest=None, config=None, image_id=HEX, names=["example.com/a:1"])
    spec = f"[vfs@{graph}+{tmp_path}/r]"
    assert ref(f"{spec}{HEX}").id == HEX and ref(f"{spec}{HEX}").named is None
    assert ref(f"{spec}aaaa").id == HEX  # a prefix of a stored image's ID
    assert ref(f"{spec}@aaa").id == HEX
    assert ref(f"{spec}aa").id == ""  # too short: a name
    assert str(ref(f"{spec}aa").named) == "docker.io/library/aa:latest"
    assert ref(f"{spec}bbbb").id == ""  # no such image: a name
    with pytest.raises(InvalidImageNameError, match="does not look like an image ID or digest"):
        ref(f"{spec}x@bbbb")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[vfs@/g", "invalid reference"),
        ("[]x", "invalid reference"),
        ("[vfs@]x", "invalid reference"),
        ("[vfs@rel+/r]x", "path name is not absolute"),
        ("[vfs@/g+rel]x", "path name is not absolute"),
        ("[vfs@/g+/r]", "is an empty reference"),
        ("[vfs@/g+/r][x", "did not end"),
        ("[vfs@/g+/r]x:y@", "empty trailing digest or ID"),
        ("[vfs@/g+/r]UPPER:1", "repository name must be lowercase"),
    ],
)
def test_bad_references(text: str, match: str) -> None:
    with pytest.raises(InvalidImageNameError, match=match):
        ref(text)


def test_driver_choice_follows_c_storage(tmp_path: Path) -> None:
    (tmp_path / "vfs").mkdir()
    # vfs state never chooses vfs: the first usable priority driver wins instead.
    assert choose_driver(str(tmp_path)) in ("overlay", "vfs")
    (tmp_path / "btrfs").mkdir()
    assert choose_driver(str(tmp_path)) == "btrfs"
    (tmp_path / "overlay").mkdir()
    with pytest.raises(InvalidImageNameError, match="several valid graphdrivers"):
        choose_driver(str(tmp_path))


# ---------------------------------------------------------------------------------- records


def _store(tmp_path: Path) -> Store:
    return Store(StoreLocation("vfs", str(tmp_path / "g"), str(tmp_path / "r")))


@pytest.mark.parametrize(
    ("kind", "content", "match"),
    [
        ("images", b"{}", "not a JSON array"),
        ("images", b"[1,", "invalid JSON"),
        ("images", b"[1] x", "data after the array"),
        ("images", b"\xff", "not valid UTF-8"),
        ("images", b'[{"id": "a/b"}]', "not a valid ID"),
        ("images", b'[{"id": ".."}]', "not a valid ID"),
        ("images", b'[{"id": "x", "layer": "../y"}]', "top layer ID"),
        ("images", b'[{"id": "x", "big-data-sizes": {"k": -5}}]', "not a valid integer"),
        ("images", b'[{"id": "x", "big-data-digests": {"manifest-x": "sha256:zz"}}]', "invalid digest"),
        ("images", b'[{"id": "x", "created": 5}]', '"created" is not a string'),
        ("images", b'[{"id": "x"}, {"id": "x"}]', "appears twice"),
        ("images", b'[{"id": "x", "flags": []}]', '"flags" is not an object'),
        ("images", b"[NaN]", "invalid JSON"),
        ("layers", b'[{"id": "x", "parent": "/etc"}]', "parent layer ID"),
        ("layers", b'[{"id": "x", "diff-size": "big"}]', "not a valid integer"),
        ("layers", b'[{"id": "x", "uidset": {}}]', '"uidset" is not a list'),
    ],
)
def test_hostile_store_json(tmp_path: Path, kind: str, content: bytes, match: str) -> None:
    store = _store(tmp_path)
    directory = store.images_dir if kind == "images" else store.layers_dir
    directory.mkdir(parents=True)
    (directory / f"{kind}.json").write_bytes(content)
    reading = store.reading_images() if kind == "images" else store.reading_layers()
    with pytest.raises(ArchiveError, match=match), reading:
        pass


def test_a_fifo_is_not_read_as_images_json(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.images_dir.mkdir(parents=True)
    os.mkfifo(store.images_dir / "images.json")
    with pytest.raises(ToolkitError, match="not a regular file"), store.reading_images():
        pass


def test_empty_and_null_files_hold_no_images(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.images_dir.mkdir(parents=True)
    for content in (b"", b" null\n", b"[]"):
        (store.images_dir / "images.json").write_bytes(content)
        with store.reading_images() as table:
            assert table.records == []


def test_big_data_file_names() -> None:
    assert big_data_file_name("manifest") == "manifest"
    assert big_data_file_name("signatures") == "signatures"
    assert big_data_file_name("sha256:ab") == "=" + "c2hhMjU2OmFi"


def test_go_float_text() -> None:
    assert [_go_float(v) for v in (1.0, 1.5, 1e16, 1e21, 1.5e-7, 1e-6, 0.0, -2.5)] == [
        "1",
        "1.5",
        "10000000000000000",
        "1e+21",
        "1.5e-7",
        "0.000001",
        "0",
        "-2.5",
    ]


def test_encoded_image_record_follows_go_field_order() -> None:
    fields = {
        "created": "2024-01-01T00:00:00Z",
        "big-data-sizes": {"manifest": 3, "a": 1},
        "names": ["x/y:1"],
        "id": HEX,
        "metadata": '{"a":"<b>"}',
        "flags": {"f": 1.0},
        "digest": "",
    }
    assert encode_image_fields(fields) == (
        b'{"id":"' + HEX.encode() + b'","names":["x/y:1"],"metadata":"{\\"a\\":\\"\\u003cb\\u003e\\"}",'
        b'"big-data-sizes":{"a":1,"manifest":3},"created":"2024-01-01T00:00:00Z","flags":{"f":1}}'
    )


def test_untouched_records_keep_their_bytes(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.images_dir.mkdir(parents=True)
    odd = b'{"id":"' + b"b" * 64 + b'","names":["x/odd:1"],  "flags":{"n":1.50},"created":"2024-01-01T00:00:00+00:00"}'
    (store.images_dir / "images.json").write_bytes(b"[" + odd + b"]")
    with store.images_lock.exclusive():
        table = store.load_images()
        _update_images(store, table, HEX, "", "2025-01-01T00:00:00Z", [("manifest", b"{}", Digest.from_bytes(b"{}"))],
                       "{}", "x/new:1")
    data = (store.images_dir / "images.json").read_bytes()
    assert data.startswith(b"[" + odd + b",")
    assert json.loads(data)[1]["names"] == ["x/new:1"]


def test_names_move_and_history_as_c_storage_keeps_it(tmp_path: Path) -> None:
    store = _store(tmp_path)
    other = "c" * 64
    store.images_dir.mkdir(parents=True)
    (store.images_dir / "images.json").write_text(
        json.dumps([{"id": other, "names": ["x/a:bar", "x/a:keep"], "created": "2024-01-01T00:00:00Z"}])
    )
    item = [("manifest", b"{}", Digest.from_bytes(b"{}"))]
    with store.images_lock.exclusive():
        _update_images(store, store.load_images(), HEX, "", "2024-01-01T00:00:00Z", item, "{}", "x/a:bar")
    with store.images_lock.exclusive():
        _update_images(store, store.load_images(), HEX, "", "2024-01-01T00:00:00Z", item, "{}", "x/a:second")
    records = {r["id"]: r for r in json.loads((store.images_dir / "images.json").read_bytes())}
    assert records[other]["names"] == ["x/a:keep"]  # the name moved to the new image
    assert records[HEX]["names"] == ["x/a:second", "x/a:bar"]
    assert records[HEX]["names-history"] == ["x/a:bar", "x/a:second"]
    assert records[HEX]["digest"] == str(Digest.from_bytes(b"{}"))
    with store.images_lock.exclusive(), pytest.raises(ToolkitError, match="uses a different top layer"):
        _update_images(store, store.load_images(), HEX, "d" * 64, "2024-01-01T00:00:00Z", item, "{}", None)


def test_layer_ids_are_c_image_s() -> None:
    diff = Digest.from_bytes(b"layer")
    assert layer_id_for("", diff) == diff.hex
    assert layer_id_for("p" * 64, diff) == hashlib.sha256(("p" * 64 + "+" + diff.hex).encode()).hexdigest()


# ---------------------------------------------------------------------------------- locks


def test_touch_needs_the_exclusive_lock(tmp_path: Path) -> None:
    lock = LockFile.get(tmp_path / "x.lock")
    with lock.shared(), pytest.raises(ToolkitError, match="without the write lock"):
        lock.touch()
    seen = []
    for _ in range(2):
        with lock.exclusive():
            lock.touch()
        seen.append((tmp_path / "x.lock").read_bytes())
    assert all(len(s) == LAST_WRITER_SIZE for s in seen) and seen[0] != seen[1]
    assert oct((tmp_path / "x.lock").stat().st_mode & 0o777) == "0o644"


def test_threads_share_and_exclude_in_process(tmp_path: Path) -> None:
    lock = LockFile.get(tmp_path / "y.lock")
    order: list[str] = []
    with lock.shared():
        with lock.shared():  # a second reader does not wait
            order.append("two readers")
        writer = threading.Thread(target=lambda: (lock.exclusive().__enter__(), order.append("writer")))
        writer.start()
        writer.join(0.3)
        assert writer.is_alive(), "a writer must wait for the reader"
        order.append("reader done")
    writer.join(10)
    assert order == ["two readers", "reader done", "writer"]
    lock.release()  # the thread's exclusive hold


HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.lockf(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""


def test_another_process_s_fcntl_lock_excludes_us(tmp_path: Path) -> None:
    path = tmp_path / "z.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
    got = threading.Event()
    reader = threading.Thread(target=lambda: (LockFile.get(path).acquire_shared(), got.set()))
    reader.start()
    try:
        assert not got.wait(0.5), "took a shared lock while another process held it exclusively"
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(10)
    assert got.wait(10)
    LockFile.get(path).release()
    # And our exclusive lock keeps another process out.
    with LockFile.get(path).exclusive():
        probe = subprocess.run(
            [sys.executable, "-c", "import fcntl,os,sys; fd=os.open(sys.argv[1], os.O_RDWR);"
             "fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)", str(path)], capture_output=True, check=False
        )
        assert probe.returncode != 0
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released again
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------- tar-split


def _tar_split(tmp_path: Path, tar: bytes, lines: list[bytes] | None = None) -> tuple[Path, Path]:
    files = tmp_path / "files"
    files.mkdir()
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(files, filter="tar")
    split = tmp_path / "layer.tar-split.gz"
    split.write_bytes(gzip.compress(b"".join(lines if lines is not None else tar_split_lines(tar))))
    return split, files


def test_tar_split_rebuilds_the_layer_byte_for_byte(tmp_path: Path) -> None:
    tar = tar_bytes({"d/": None, "d/a.txt": b"hello\n" * 1000, "d/empty": b"", "long/" + "n" * 150: b"x"})
    split, files = _tar_split(tmp_path, tar)
    reader = TarSplitReader(split, files, diff_size=len(tar), what="layer")
    assert reader.read() == tar
    reader.close()


def test_tar_split_refuses_a_symlinked_directory(tmp_path: Path) -> None:
    tar = tar_bytes({"d/": None, "d/a.txt": b"secret"})
    split, files = _tar_split(tmp_path, tar)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a.txt").write_bytes(b"secret")
    (files / "d/a.txt").unlink()
    (files / "d").rmdir()
    (files / "d").symlink_to(outside)
    with TarSplitReader(split, files, diff_size=len(tar), what="layer") as reader, pytest.raises(
        ArchiveError, match="crosses a symlink"
    ):
        reader.read()


def test_tar_split_names_stay_beneath_the_layer(tmp_path: Path) -> None:
    (tmp_path / "passwd").write_bytes(b"root:x")
    # files/../passwd exists: a name that climbs out of the layer must not reach it.
    lines = [json.dumps({"type": 1, "name": "../passwd", "size": 6, "payload": None}).encode() + b"\n"]
    split, files = _tar_split(tmp_path, tar_bytes({}), lines)
    with TarSplitReader(split, files, diff_size=6, what="layer") as reader, pytest.raises(
        ToolkitError, match="No such file"
    ):
        reader.read()


@pytest.mark.parametrize(
    ("line", "match"),
    [
        (b"{not json}\n", "invalid tar-split entry"),
        (b'{"type": 9}\n', "unknown type"),
        (b'{"type": 2, "payload": "***"}\n', "not base64"),
        (b'{"type": 1, "name": "a", "size": -1}\n', "invalid size"),
        (b'{"type": 1, "name": "a\\u0000b", "size": 1}\n', "NUL"),
        (b'{"type": 2, "payload": "' + b"A" * (9 << 20) + b'"}\n', "longer than"),
    ],
)
def test_hostile_tar_split(tmp_path: Path, line: bytes, match: str) -> None:
    split, files = _tar_split(tmp_path, tar_bytes({}), [line])
    with TarSplitReader(split, files, diff_size=1 << 30, what="layer") as reader, pytest.raises(
        ArchiveError, match=match
    ):
        reader.read()


def test_tar_split_bomb_is_capped(tmp_path: Path) -> None:
    empty = b'{"type":2,"payload":""}\n'
    split, files = _tar_split(tmp_path, tar_bytes({}), [empty * 800_000])
    with TarSplitReader(split, files, diff_size=0, what="layer") as reader, pytest.raises(
        ArchiveError, match="larger than the layer allows"
    ):
        reader.read()


# ---------------------------------------------------------------------------------- reading a hand-made store


def _hand_made(tmp_path: Path, **kwargs: Any) -> tuple[StorageReference, Any, list[str]]:
    image = build_image(fmt="oci", layer_count=2, seed=4, compression="none")
    tars = [layer.data for layer in image.layers]
    args: dict[str, Any] = {"manifest": image.manifest, "config": image.config}
    args.update(kwargs)
    layer_ids = hand_made_vfs_store(
        tmp_path / "g", tars, image_id=image.config_digest[7:], names=["example.com/hand:1"], **args
    )
    return ref(f"[vfs@{tmp_path}/g+{tmp_path}/r]example.com/hand:1"), image, layer_ids


def test_source_gives_back_the_stored_image(tmp_path: Path) -> None:
    r, image, _ = _hand_made(tmp_path)
    with r.new_image_source(CTX) as src:
        raw, mime_type = src.get_manifest()
        assert raw == image.manifest and mime_type == "application/vnd.oci.image.manifest.v1+json"
        infos = src.layer_infos_for_copy()
        assert infos is not None
        assert [str(i.digest) for i in infos] == [layer.diff_id for layer in image.layers]
        for info, layer in zip(infos, image.layers, strict=True):
            stream, size = src.get_blob(info)
            assert stream.read() == layer.data and size == len(layer.data)
            stream.close()
        stream, _ = src.get_blob(BlobInfo(digest=Digest.parse(image.config_digest)))
        assert stream.read() == image.config
        stream.close()
        assert src.get_signatures() == []


def test_a_tampered_layer_file_fails_its_digest(tmp_path: Path) -> None:
    r, _, layer_ids = _hand_made(tmp_path)
    victim = next((tmp_path / "g/vfs/dir" / layer_ids[0]).rglob("file-0.bin"))
    victim.write_bytes(b"\0" * victim.stat().st_size)
    with r.new_image_source(CTX) as src:
        infos = src.layer_infos_for_copy()
        assert infos is not None
        stream, _ = src.get_blob(infos[0])
        with pytest.raises(DigestMismatchError):
            stream.read()
        stream.close()


def test_signatures_are_split_by_the_recorded_sizes(tmp_path: Path) -> None:
    r, image, _ = _hand_made(tmp_path, metadata=json.dumps({"signature-sizes": [3, 2]}))
    images_dir = tmp_path / "g/vfs-images"
    (images_dir / image.config_digest[7:] / "signatures").write_bytes(b"abcde")
    record = json.loads((images_dir / "images.json").read_bytes())
    record[0]["big-data-names"].append("signatures")
    (images_dir / "images.json").write_text(json.dumps(record))
    with r.new_image_source(CTX) as src:
        assert src.get_signatures() == [b"abc", b"de"]


def test_bad_metadata_is_one_clear_error(tmp_path: Path) -> None:
    r, _, _ = _hand_made(tmp_path, metadata="{not json")
    with pytest.raises(ArchiveError, match="decoding metadata"):
        r.new_image_source(CTX)


def test_an_image_without_a_manifest_reads_as_uncompressed_oci(tmp_path: Path) -> None:
    r, image, _ = _hand_made(tmp_path, manifest=None)
    with r.new_image_source(CTX) as src:
        raw, _ = src.get_manifest()
        manifest = json.loads(raw)
        assert manifest["config"]["digest"] == image.config_digest  # the stored config is found
        assert [layer["digest"] for layer in manifest["layers"]] == [layer.diff_id for layer in image.layers]
    r2, image2, _ = _hand_made(tmp_path / "bare", manifest=None, config=None)
    with r2.new_image_source(CTX) as src:
        raw, _ = src.get_manifest()
        config_info = json.loads(raw)["config"]
        stream, _ = src.get_blob(BlobInfo(digest=Digest.parse(config_info["digest"])))
        config = json.loads(stream.read())
        assert config["rootfs"]["diff_ids"] == [layer.diff_id for layer in image2.layers]
        assert config["os"] == "linux"


def test_missing_images_are_not_found(tmp_path: Path) -> None:
    r, _, _ = _hand_made(tmp_path)
    other = ref(f"[vfs@{tmp_path}/g+{tmp_path}/r]example.com/hand:2")
    with pytest.raises(ImageNotFoundError, match="does not resolve to an image ID"):
        other.new_image_source(CTX)
    wrong_repo = ref(f"[vfs@{tmp_path}/g+{tmp_path}/r]example.com/else:1@{r.named and HEX}")
    with pytest.raises(ImageNotFoundError):
        wrong_repo.new_image_source(CTX)
    nowhere = ref(f"[vfs@{tmp_path}/none+{tmp_path}/r]x:1")
    with pytest.raises(ImageNotFoundError):
        nowhere.new_image_source(CTX)
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize("where", ["layer", "image", "volatile"])
def test_a_newer_store_format_is_never_written(tmp_path: Path, where: str) -> None:
    r, _, _ = _hand_made(tmp_path)
    graph = tmp_path / "g"
    if where == "volatile":
        (tmp_path / "r/vfs-layers").mkdir(parents=True)
        (tmp_path / "r/vfs-layers/volatile-layers.json").write_text('[{"id": "x"}]')
    else:
        path = graph / ("vfs-layers/layers.json" if where == "layer" else "vfs-images/images.json")
        records = json.loads(path.read_bytes())
        records[0]["toc-digest"] = "sha256:" + "0" * 64
        path.write_text(json.dumps(records))
    def contents() -> dict[Path, bytes]:  # lock files are made by any reader, as c/storage does
        return {p: p.read_bytes() for p in graph.rglob("*") if p.is_file() and p.suffix != ".lock"}

    before = contents()
    with pytest.raises(ToolkitError, match="written by a newer containers/storage"):
        r.new_image_destination(CTX)
    with r.new_image_source(CTX) as src:  # still readable
        assert src.get_manifest()[0]
    assert contents() == before
