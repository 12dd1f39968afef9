"""The `sif:` transport: references, and sources over SIF files built by `helpers.sif`.

The sources run the real `sqfs2tar`; the SIF files hold real squashfs images from
`mksquashfs` (fixture `sif_tools` skips without them).
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import struct
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.sif import (
    DEFFILE,
    FS_RAW,
    HDR_ARCH,
    HDR_MODIFIED,
    build_sif,
    deffile,
    mksquashfs,
    partition,
    patch,
    rename_entry,
    write_sif,
)
from toolkit.digest import Digest
from toolkit.errors import (
    ArchiveError,
    ImageNotFoundError,
    InvalidImageNameError,
    ManifestError,
    NotSupportedError,
    PolicyError,
    SizeLimitError,
    ToolkitError,
)
from toolkit.manifest import mime
from toolkit.transports import parse_image_name
from toolkit.transports.sif import TRANSPORT, SifImageSource, SifReference
from toolkit.types import BlobInfo, SystemContext

pytestmark = pytest.mark.usefixtures("sif_tools")

FILES: dict[str, bytes | str] = {
    "etc/hello": b"hello\n",
    "etc/link": "-> hello",
    "bin/tool": b"#!/bin/sh\necho tool\n",
    "var/empty/": b"",
}


def ref(path: Path) -> SifReference:
    return TRANSPORT.parse_reference(str(path))


def open_source(path: Path, ctx: SystemContext | None = None) -> SifImageSource:
    return ref(path).new_image_source(ctx or SystemContext())


def read_layer(src: SifImageSource) -> bytes:
    manifest = json.loads(src.get_manifest()[0])
    layer = manifest["layers"][0]
    stream, size = src.get_blob(BlobInfo(digest=Digest.parse(layer["digest"]), size=layer["size"]))
    with stream:
        data = stream.read(-1)
    assert len(data) == size
    return data


def entries(layer: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert len(names) == len(set(names)), f"duplicate entries: {names}"
    return {m.name.removeprefix("./").rstrip("/") or ".": m for m in members}


def member_data(layer: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        f = tar.extractfile(name)
        assert f is not None
        return f.read()


# ------------------------------------------------------------------ references


def test_reference_is_path_based(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    r = parse_image_name(f"sif:{tmp_path}/link/img.sif")
    assert isinstance(r, SifReference)
    assert r.string_within_transport() == f"{tmp_path}/link/img.sif"
    assert str(r) == f"sif:{tmp_path}/link/img.sif"
    assert r.docker_reference() is None
    assert r.policy_configuration_identity() == f"{tmp_path.resolve()}/real/img.sif"
    namespaces = r.policy_configuration_namespaces()
    assert namespaces[0] == f"{tmp_path.resolve()}/real" and "/" not in namespaces and namespaces[-1].count("/") == 1
    with pytest.raises(InvalidImageNameError, match="empty path"):
        TRANSPORT.parse_reference("")
    with pytest.raises(InvalidImageNameError, match="parent directory does not exist"):
        TRANSPORT.parse_reference(f"{tmp_path}/missing/img.sif")


def test_scopes_writes_and_deletes_are_refused(tmp_path: Path) -> None:
    TRANSPORT.validate_policy_configuration_scope("/srv/images")
    for scope, message in (("srv", "must be an absolute path"), ("/", "generic default scope"),
                           ("/srv//x", "non-canonical")):
        with pytest.raises(PolicyError, match=message):
            TRANSPORT.validate_policy_configuration_scope(scope)
    r = ref(tmp_path / "x.sif")
    with pytest.raises(NotSupportedError, match='^"sif:" locations can only be read from, not written to$'):
        r.new_image_destination(SystemContext())
    with pytest.raises(NotSupportedError, match="^Deleting images not implemented for sif: images$"):
        r.delete_image(SystemContext())


def test_missing_or_special_file(tmp_path: Path) -> None:
    with pytest.raises(ImageNotFoundError, match=r"^loading SIF file: open .*x\.sif: no such file or directory$"):
        open_source(tmp_path / "x.sif")
    os.mkfifo(tmp_path / "fifo.sif")
    with pytest.raises(ArchiveError, match="is not a regular file"):
        open_source(tmp_path / "fifo.sif")


# ------------------------------------------------------------------ the image


def test_image_as_c_image_builds_it(tmp_path: Path) -> None:
    path = build_sif(tmp_path, FILES, deffile_text=DEFFILE)
    with open_source(path) as src:
        raw, mime_type = src.get_manifest()
        manifest = json.loads(raw)
        assert mime_type == manifest["mediaType"] == mime.OCI_MANIFEST
        assert list(manifest) == ["schemaVersion", "mediaType", "config", "layers"]
        assert [layer["mediaType"] for layer in manifest["layers"]] == [mime.OCI_LAYER]
        config_info = manifest["config"]
        stream, _ = src.get_blob(BlobInfo(digest=Digest.parse(config_info["digest"]), size=-1))
        config_raw = stream.read(-1)
        assert hashlib.sha256(config_raw).hexdigest() == config_info["digest"].split(":")[1]
        layer = read_layer(src)
    layer_digest = "sha256:" + hashlib.sha256(layer).hexdigest()
    assert manifest["layers"][0]["digest"] == layer_digest and manifest["layers"][0]["size"] == len(layer)
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_700_000_000))
    assert json.loads(config_raw) == {
        "created": created,
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/podman/runscript"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        "history": [
            {"created": created, "created_by": f"/bin/sh -c #(nop) ADD file:{layer_digest[7:]} in /",
             "comment": "imported from SIF, uuid: 0c4e6a1e-3d2b-4f5a-9e8d-7c6b5a493827"},
            {"created": created, "created_by": '/bin/sh -c #(nop) CMD ["bash"]', "empty_layer": True},
        ],
    }
    # Go's compact encoding, in imgspecv1.Image field order.
    assert config_raw.startswith(b'{"created":"2023-11-14T22:13:20Z","architecture":"amd64","os":"linux",')
    found = entries(layer)
    assert set(found) == {".", "bin", "bin/tool", "etc", "etc/hello", "etc/link", "var", "var/empty",
                          "podman", "podman/runscript"}
    assert found["etc/link"].issym() and found["etc/link"].linkname == "hello"
    script = found["podman/runscript"]
    assert script.isfile() and script.mode == 0o755 and script.mtime == 1_700_000_000 and script.uid == 0
    assert found["podman"].isdir() and found["podman"].mode == 0o755
    assert member_data(layer, "./podman/runscript") == (
        b'#!/bin/bash\nexport GREETING=hello\nexport ANSWER=42\necho "$GREETING" "$@"\n\nexit 0\n'
    )
    assert member_data(layer, "./etc/hello") == b"hello\n"
    with pytest.raises(ImageNotFoundError, match="no blob with digest"):
        src.get_blob(BlobInfo(digest=Digest.from_bytes(b"x"), size=-1))
    with pytest.raises(ManifestError, match="manifest lists are not supported by the sif transport"):
        src.get_manifest(Digest.from_bytes(b"x"))


def test_without_definition_file_the_command_is_bash(tmp_path: Path) -> None:
    path = build_sif(tmp_path, FILES)
    with open_source(path) as src:
        manifest = json.loads(src.get_manifest()[0])
        config = json.loads(src.get_blob(BlobInfo(digest=Digest.parse(manifest["config"]["digest"]), size=-1))[0]
                            .read(-1))
        layer = read_layer(src)
    assert config["config"] == {"Cmd": ["bash"]}
    assert "podman" not in entries(layer)


def test_the_layer_is_the_same_every_time(tmp_path: Path) -> None:
    path = build_sif(tmp_path, FILES, deffile_text=DEFFILE)
    with open_source(path) as first, open_source(path) as second:
        assert first.get_manifest() == second.get_manifest()
        assert read_layer(first) == read_layer(first) == read_layer(second)


def test_the_squashfs_runscript_wins(tmp_path: Path) -> None:
    # As in c/image, where `unsquashfs -f` overwrites the injected script.
    path = build_sif(tmp_path, {**FILES, "podman/runscript": b"#!/bin/sh\necho mine\n"}, deffile_text=DEFFILE)
    with open_source(path) as src:
        layer = read_layer(src)
    assert member_data(layer, "./podman/runscript") == b"#!/bin/sh\necho mine\n"
    # Only the squashfs's podman/ directory, not a second one.
    assert entries(layer)["podman"].mtime == 0


def test_devices_and_fifos_are_kept_sockets_skipped(tmp_path: Path) -> None:
    pseudo = ["dev/null c 666 0 0 1 3", "dev/sda b 660 0 0 8 0", "dev/fifo i 644 0 0 f", "dev/sock i 644 0 0 s",
              "bin/su m 4755 0 0"]
    path = build_sif(tmp_path, {**FILES, "dev/": b"", "bin/su": b"su"}, pseudo=pseudo)
    with open_source(path) as src:
        found = entries(read_layer(src))
    assert found["dev/null"].ischr() and (found["dev/null"].devmajor, found["dev/null"].devminor) == (1, 3)
    assert found["dev/sda"].isblk() and found["dev/fifo"].isfifo()
    assert "dev/sock" not in found
    assert found["bin/su"].mode == 0o4755


def test_architecture_and_local_time_zone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = build_sif(tmp_path, FILES, arch=b"04")
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        with open_source(path) as src:
            manifest = json.loads(src.get_manifest()[0])
            config = json.loads(
                src.get_blob(BlobInfo(digest=Digest.parse(manifest["config"]["digest"]), size=-1))[0].read(-1)
            )
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert config["architecture"] == "arm64"
    assert config["created"] == "2023-11-15T03:43:20+05:30"  # Go's time.Unix: the local zone
    patch(path, HDR_ARCH, b"77")
    with open_source(path) as src:
        manifest = json.loads(src.get_manifest()[0])
        config = json.loads(
            src.get_blob(BlobInfo(digest=Digest.parse(manifest["config"]["digest"]), size=-1))[0].read(-1)
        )
    assert config["architecture"] == "unknown"


def test_no_temp_file_is_ever_visible(tmp_path: Path) -> None:
    path = build_sif(tmp_path, FILES, deffile_text=DEFFILE)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    with open_source(path, SystemContext(tmpdir=tmpdir)) as src:
        assert os.listdir(tmpdir) == []
        read_layer(src)
    assert os.listdir(tmpdir) == []
    with pytest.raises(ToolkitError, match="temporary directory"):
        open_source(path, SystemContext(tmpdir=tmp_path / "missing"))


def _children() -> set[int]:
    out: set[int] = set()
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as f:
            out.update(int(p) for p in f.read().split())
    return out


def test_closing_a_stream_early_stops_sqfs2tar(tmp_path: Path) -> None:
    path = build_sif(tmp_path, {**FILES, "big": os.urandom(4 << 20)})
    with open_source(path) as src:
        manifest = json.loads(src.get_manifest()[0])
        layer = manifest["layers"][0]
        before = _children()
        stream, _ = src.get_blob(BlobInfo(digest=Digest.parse(layer["digest"]), size=layer["size"]))
        assert stream.read(1024)
        started = _children() - before
        assert started, "sqfs2tar is running"
        stream.close()
        assert not any(os.path.exists(f"/proc/{pid}") for pid in started)


def test_partition_copy_without_copy_file_range(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Across file systems (EXDEV) or where the kernel lacks it, the copy is done by reads and writes.
    path = build_sif(tmp_path, {**FILES, "data": os.urandom(3 << 20)}, deffile_text=DEFFILE)
    with open_source(path) as src:
        expected = src.get_manifest()
    calls = []

    def refuse(*args: object) -> int:
        calls.append(args)
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "copy_file_range", refuse)
    with open_source(path) as src:
        assert src.get_manifest() == expected
    assert len(calls) == 1


def test_decompression_budget(tmp_path: Path) -> None:
    path = build_sif(tmp_path, {"zeros": bytes(1 << 20)})
    with pytest.raises(SizeLimitError, match="the layer exceeds the limit of 100000 bytes"):
        open_source(path, SystemContext(max_decompressed_size=100_000))


def test_without_sqfs2tar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = build_sif(tmp_path, FILES)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    with pytest.raises(NotSupportedError, match='"sqfs2tar" was not found in \\$PATH .*squashfs-tools-ng'):
        open_source(path)


# ------------------------------------------------------------------ hostile squashfs and SIF


def _hostile(tmp_path: Path, name: str, old: bytes, new: bytes) -> Path:
    root = tmp_path / f"{name}.root"
    (root / "zz").mkdir(parents=True)
    (root / "zz" / "QQ").write_bytes(b"evil\n")
    (root / "keep").write_bytes(b"fine\n")
    squashfs = mksquashfs(root, tmp_path / f"{name}.sqfs", uncompressed_metadata=True)
    return write_sif(tmp_path / f"{name}.sif", [partition(rename_entry(squashfs, old, new))]).path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        # sqfs2tar fails on some (exit status 1), warns and skips others: both are refusals.
        (b"QQ", b"..", "sqfs2tar failed"),
        (b"zz", b"..", "the squashfs filesystem holds an invalid file name .*'..'"),
        (b"QQ", b"q/", "sqfs2tar failed"),
        (b"zz", b"a/", "the squashfs filesystem holds an invalid file name .*'a/'"),
    ],
)
def test_names_that_climb_are_refused(tmp_path: Path, old: bytes, new: bytes, message: str) -> None:
    path = _hostile(tmp_path, "bad", old, new)
    with pytest.raises(ArchiveError, match=f"^converting rootfs from SquashFS to Tarball: {message}"):
        open_source(path)


def test_a_renamed_entry_is_otherwise_accepted(tmp_path: Path) -> None:
    # The same squashfs surgery with a harmless name works: the refusals above are about the names.
    path = _hostile(tmp_path, "ok", b"QQ", b"ok")
    with open_source(path) as src:
        assert member_data(read_layer(src), "./zz/ok") == b"evil\n"


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"podman": "-> /etc"}, "/podman in the image is a symlink, not a directory"),
        ({"podman": b"file"}, "/podman in the image is a regular file, not a directory"),
        ({"podman/runscript/": b""}, "/podman/runscript in the image is a directory"),
    ],
)
def test_podman_paths_that_cannot_take_the_script(
    tmp_path: Path, files: dict[str, bytes | str], message: str
) -> None:
    path = build_sif(tmp_path, files, deffile_text=DEFFILE)
    with pytest.raises(ArchiveError, match=message):
        open_source(path)
    # Without a definition file nothing is added, so the same image is fine.
    with open_source(build_sif(tmp_path, files, name="plain.sif")) as src:
        read_layer(src)


def test_filesystem_type_is_not_trusted_but_encryption_is_refused(tmp_path: Path) -> None:
    squashfs = mksquashfs(_root(tmp_path), tmp_path / "fs.sqfs")
    # c/image does not look at the filesystem type: squashfs data under "raw" is read.
    raw = write_sif(tmp_path / "raw.sif", [partition(squashfs, fs_type=FS_RAW)]).path
    with open_source(raw) as src:
        assert "etc/hello" in entries(read_layer(src))
    encrypted = write_sif(tmp_path / "enc.sif", [partition(squashfs, fs_type=5)]).path
    with pytest.raises(NotSupportedError, match="encrypted squashfs"):
        open_source(encrypted)


def test_modification_time_go_cannot_write(tmp_path: Path) -> None:
    path = build_sif(tmp_path, FILES)
    patch(path, HDR_MODIFIED, struct.pack("<q", 1 << 62))
    with pytest.raises(ManifestError, match=r"^generating configuration blob for .*year outside of range \[0,9999\]$"):
        open_source(path)


def _root(tmp_path: Path) -> Path:
    root = tmp_path / "plain-root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hello").write_bytes(b"hello\n")
    return root


def test_partition_that_is_not_squashfs(tmp_path: Path) -> None:
    path = write_sif(tmp_path / "raw.sif", [deffile(DEFFILE), partition(b"\x7fELF" + bytes(4092))]).path
    with pytest.raises(ArchiveError, match="^converting rootfs from SquashFS to Tarball: .*not a squashfs"):
        open_source(path)


def test_corrupt_squashfs(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "data").write_bytes(os.urandom(100_000))
    squashfs = bytearray(mksquashfs(root, tmp_path / "c.sqfs"))
    squashfs[40:96] = os.urandom(56)  # the superblock's table offsets
    path = write_sif(tmp_path / "c.sif", [partition(bytes(squashfs))]).path
    with pytest.raises(ArchiveError, match="^converting rootfs from SquashFS to Tarball: "):
        open_source(path)


def _layer_stream(src: SifImageSource) -> Iterator[bytes]:
    manifest = json.loads(src.get_manifest()[0])
    layer = manifest["layers"][0]
    stream, _ = src.get_blob(BlobInfo(digest=Digest.parse(layer["digest"]), size=layer["size"]))
    with stream:
        while chunk := stream.read(1 << 16):
            yield chunk


def test_layer_streams_in_small_reads(tmp_path: Path) -> None:
    path = build_sif(tmp_path, {**FILES, "data": os.urandom(3 << 20)}, deffile_text=DEFFILE)
    with open_source(path) as src:
        streamed = b"".join(_layer_stream(src))
        assert streamed == read_layer(src)
    assert member_data(streamed, "./data") == (tmp_path / "image.sif.root" / "data").read_bytes()
