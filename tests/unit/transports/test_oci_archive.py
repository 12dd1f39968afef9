"""Tests for the `oci-archive:` transport (toolkit/transports/oci_archive).

The source never extracts (security.md row 6, corpus 16-20); the destination streams a tar
into a temp file and replaces the target atomically. Peer tests check skopeo 1.9.3 reads
what we write and vice versa.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest

from helpers.images import BuiltImage, BuiltIndex, build_image, build_multiarch, write_dir, write_oci_layout
from helpers.transfer import BlobInfos, blob_info, exploding, put_image, read_image
from toolkit.digest import Digest
from toolkit.errors import (
    ArchiveError,
    DigestMismatchError,
    ImageNotFoundError,
    InvalidImageNameError,
    NotSupportedError,
    SizeLimitError,
    ToolkitError,
)
from toolkit.transports import parse_image_name
from toolkit.transports.oci_archive import TRANSPORT, OciArchiveReference
from toolkit.types import BlobInfo, LayerCompression, SystemContext

CTX = SystemContext()
REF_NAME = "org.opencontainers.image.ref.name"


def ref(text: str) -> OciArchiveReference:
    return TRANSPORT.parse_reference(text)


def write_archive(
    path: Path,
    image: BuiltImage | BuiltIndex,
    name: str = "",
    *,
    mode: BlobInfos = "known",
    ctx: SystemContext = CTX,
) -> None:
    """Write through the destination API, telling it each blob's digest and size, only its
    digest, or nothing (`mode`)."""
    put_image(ref(f"{path}:{name}"), image, ctx=ctx, infos=mode)


def read_archive(reference: str) -> tuple[bytes, str, dict[str, bytes]]:
    return read_image(ref(reference), CTX)


def tar_of_layout(layout: Path, out: Path, *, extra: list[tarfile.TarInfo] | None = None) -> Path:
    with tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as tar:
        for path in sorted(layout.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(layout)), recursive=False)
        for info in extra or []:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isreg() else None)
    return out


def members(path: Path) -> list[str]:
    with tarfile.open(path) as tar:
        return tar.getnames()


def hidden_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


@pytest.fixture
def image() -> BuiltImage:
    return build_image(fmt="oci", layer_count=2, layer_size=1024, seed=31)


# ---------------------------------------------------------------- references


@pytest.mark.parametrize(
    ("suffix", "image_name"),
    [("", ""), (":", ""), (":tag", "tag"), (":a:b", "a:b"), (":tag/with/slash", "tag/with/slash")],
)
def test_parse_reference(tmp_path: Path, suffix: str, image_name: str) -> None:
    r = ref(f"{tmp_path}/x.tar{suffix}")
    assert (r.path, r.image, r.source_index) == (f"{tmp_path}/x.tar", image_name, None)
    assert ref(r.string_within_transport()) == r
    assert r.docker_reference() is None
    assert r.policy_configuration_identity() == os.path.realpath(tmp_path) + "/x.tar"
    assert parse_image_name(f"oci-archive:{tmp_path}/x.tar{suffix}") == r


@pytest.mark.parametrize("suffix", [":@0", ":@1", ":bad!name", ":tag//x", ":/x"])
def test_parse_reference_invalid(tmp_path: Path, suffix: str) -> None:
    # c/image: oci-archive has no @N syntax; "@0" fails the ref-name grammar.
    with pytest.raises(InvalidImageNameError):
        ref(f"{tmp_path}/x.tar{suffix}")
    with pytest.raises(InvalidImageNameError):
        ref("")


def test_delete_is_not_supported(tmp_path: Path) -> None:
    with pytest.raises(ToolkitError, match="Deleting images not implemented"):
        ref(f"{tmp_path}/x.tar").delete_image(CTX)


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("mode", ["known", "no-size", "no-digest"])
def test_round_trip(tmp_path: Path, image: BuiltImage, mode: BlobInfos) -> None:
    archive = tmp_path / "img.tar"
    write_archive(archive, image, "v1", mode=mode)
    raw, mime_type, blobs = read_archive(f"{archive}:v1")
    assert (raw, mime_type, blobs) == (image.manifest, image.media_type, image.blobs())
    assert read_archive(str(archive))[0] == image.manifest
    names = members(archive)
    assert names[:2] == ["blobs", "blobs/sha256"]
    assert names[-2:] == ["index.json", "oci-layout"]
    assert len(names) == len(set(names)) == 2 + 3 + 1 + 2
    with tarfile.open(archive) as tar:
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
        assert json.loads(tar.extractfile("oci-layout").read()) == {"imageLayoutVersion": "1.0.0"}  # type: ignore[union-attr]
        for member in tar.getmembers():
            if member.isfile() and member.name.startswith("blobs/"):
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                assert hashlib.sha256(data).hexdigest() == member.name.rsplit("/", 1)[1]
    assert index["manifests"] == [
        {
            "mediaType": image.media_type,
            "digest": image.manifest_digest,
            "size": len(image.manifest),
            "annotations": {REF_NAME: "v1"},
        }
    ]
    assert hidden_files(tmp_path) == []


def test_round_trip_index(tmp_path: Path) -> None:
    multi = build_multiarch(fmt="oci", seed=32)
    write_archive(tmp_path / "m.tar", multi)
    with ref(str(tmp_path / "m.tar")).new_image_source(CTX) as src:
        assert src.get_manifest() == (multi.manifest, multi.media_type)
        for instance in multi.images:
            assert src.get_manifest(Digest.parse(instance.manifest_digest)) == (
                instance.manifest,
                instance.media_type,
            )


def test_duplicate_blobs_are_written_once(tmp_path: Path, image: BuiltImage) -> None:
    archive = tmp_path / "d.tar"
    layer = image.layers[0]
    with ref(f"{archive}:x").new_image_destination(CTX) as dest:
        assert dest.try_reusing_blob(blob_info(layer.digest, layer.size)) is None
        dest.put_blob(io.BytesIO(layer.data), blob_info(layer.digest, layer.size))
        reused = dest.try_reusing_blob(blob_info(layer.digest, layer.size))
        assert reused is not None and reused.size == layer.size
        dest.put_blob(io.BytesIO(layer.data), blob_info(layer.digest, layer.size))
        dest.put_blob(io.BytesIO(layer.data), BlobInfo(digest=None))
        with pytest.raises(DigestMismatchError):  # a duplicate is still verified
            dest.put_blob(io.BytesIO(layer.data + b"!"), blob_info(layer.digest, -1))
        for digest, data in image.blobs().items():
            dest.put_blob(io.BytesIO(data), blob_info(digest, len(data)))
        dest.put_manifest(image.manifest, image.media_type)
        dest.commit()
    names = members(archive)
    assert names.count("blobs/sha256/" + layer.digest.split(":")[1]) == 1
    assert read_archive(f"{archive}:x")[2] == image.blobs()


def test_failed_blob_is_cut_out_and_the_copy_can_go_on(tmp_path: Path, image: BuiltImage) -> None:
    archive = tmp_path / "f.tar"
    other = build_image(fmt="oci", layer_count=1, layer_size=4096, seed=33).layers[0]
    with ref(f"{archive}:x").new_image_destination(CTX) as dest:
        with pytest.raises(ToolkitError, match="source died"):
            dest.put_blob(exploding(other.data[:1000]), blob_info(other.digest, other.size))
        with pytest.raises(ToolkitError, match="source died"):
            dest.put_blob(exploding(other.data[:1000]), BlobInfo(digest=Digest.parse(other.digest)))
        with pytest.raises(DigestMismatchError):
            dest.put_blob(io.BytesIO(other.data[:-1] + b"?"), blob_info(other.digest, other.size))
        assert dest.try_reusing_blob(blob_info(other.digest, other.size)) is None
        for digest, data in image.blobs().items():
            dest.put_blob(io.BytesIO(data), blob_info(digest, len(data)))
        dest.put_manifest(image.manifest, image.media_type)
        dest.commit()
    assert "blobs/sha256/" + other.digest.split(":")[1] not in members(archive)
    assert read_archive(f"{archive}:x")[2] == image.blobs()


def test_abort_leaves_existing_file_and_no_temp(tmp_path: Path, image: BuiltImage) -> None:
    archive = tmp_path / "a.tar"
    archive.write_bytes(b"old content")
    with ref(f"{archive}:x").new_image_destination(CTX) as dest:
        for digest, data in image.blobs().items():
            dest.put_blob(io.BytesIO(data), blob_info(digest, len(data)))
        dest.put_manifest(image.manifest, image.media_type)
    assert archive.read_bytes() == b"old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar"]
    # Abort before any write: nothing is created.
    with ref(f"{tmp_path / 'new.tar'}:x").new_image_destination(CTX):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar"]
    # Commit replaces the whole file (c/image does too).
    write_archive(archive, image, "x")
    assert read_archive(f"{archive}:x")[0] == image.manifest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar"]


def test_destination_capabilities(tmp_path: Path) -> None:
    with ref(f"{tmp_path}/c.tar").new_image_destination(CTX) as dest:
        caps = dest.capabilities
        assert caps.supported_manifest_mime_types == (
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.oci.image.index.v1+json",
        )
        assert caps.desired_layer_compression is LayerCompression.COMPRESS
        assert not caps.has_thread_safe_put_blob
        assert not caps.supports_signatures
        with pytest.raises(NotSupportedError, match="Pushing signatures for OCI images is not supported"):
            dest.put_signatures([b"x"])
    ctx = SystemContext(oci_accept_uncompressed_layers=True)
    with ref(f"{tmp_path}/c.tar").new_image_destination(ctx) as dest:
        assert dest.capabilities.desired_layer_compression is LayerCompression.PRESERVE
    (tmp_path / "dir").mkdir()
    with pytest.raises(ToolkitError, match="is a directory"):
        ref(f"{tmp_path}/dir").new_image_destination(CTX)


# ---------------------------------------------------------------- reading foreign archives


def test_reads_compressed_and_dot_slash_archives(tmp_path: Path, image: BuiltImage) -> None:
    layout = write_oci_layout(image, tmp_path / "layout", "v1")
    plain = tar_of_layout(layout, tmp_path / "plain.tar")
    (tmp_path / "c.tar.gz").write_bytes(gzip.compress(plain.read_bytes()))
    assert read_archive(f"{tmp_path / 'c.tar.gz'}:v1")[2] == image.blobs()
    with tarfile.open(tmp_path / "dot.tar", "w") as tar:
        tar.add(layout, arcname=".")
    assert read_archive(f"{tmp_path / 'dot.tar'}:v1")[0] == image.manifest
    with pytest.raises(SizeLimitError):
        ref(f"{tmp_path / 'c.tar.gz'}:v1").new_image_source(SystemContext(max_decompressed_size=1000))


def _layout_tar_with(tmp_path: Path, image: BuiltImage, edit: Any) -> Path:
    layout = write_oci_layout(image, tmp_path / "layout", "v1")
    extra = edit(layout)
    return tar_of_layout(layout, tmp_path / "h.tar", extra=extra)


def _replace_blob_with(kind: str, digest: str) -> Any:
    def edit(layout: Path) -> list[tarfile.TarInfo]:
        name = "blobs/sha256/" + digest.split(":")[1]
        (layout / name).unlink()
        info = tarfile.TarInfo(name)
        if kind == "symlink-dev-zero":
            info.type, info.linkname = tarfile.SYMTYPE, "/dev/zero"
        elif kind == "symlink-escape":
            info.type, info.linkname = tarfile.SYMTYPE, "../../../../etc/passwd"
        elif kind == "fifo":
            info.type = tarfile.FIFOTYPE
        elif kind == "hardlink-shadow":
            info.type, info.linkname = tarfile.LNKTYPE, "/etc/shadow"
        else:
            info.type = tarfile.DIRTYPE
        return [info]

    return edit


@pytest.mark.timeout(10)
@pytest.mark.parametrize("kind", ["symlink-dev-zero", "symlink-escape", "fifo", "hardlink-shadow", "dir"])
def test_hostile_blob_members(tmp_path: Path, image: BuiltImage, kind: str) -> None:
    layer = image.layers[0]
    archive = _layout_tar_with(tmp_path, image, _replace_blob_with(kind, layer.digest))
    with ref(f"{archive}:v1").new_image_source(CTX) as src, pytest.raises(ArchiveError):
        src.get_blob(blob_info(layer.digest, layer.size))


def test_traversal_names_are_never_written_or_used(tmp_path: Path, image: BuiltImage) -> None:
    outside = tmp_path / "outside"

    def edit(layout: Path) -> list[tarfile.TarInfo]:
        evil = tarfile.TarInfo(f"../../..{outside}/evil")
        evil.size = 1
        absolute = tarfile.TarInfo(f"{outside}/abs")
        absolute.size = 1
        return [evil, absolute]

    archive = _layout_tar_with(tmp_path, image, edit)
    assert read_archive(f"{archive}:v1")[2] == image.blobs()
    assert not outside.exists()


@pytest.mark.parametrize(
    ("edit", "error", "match"),
    [
        (lambda lay: (lay / "oci-layout").unlink(), ArchiveError, "oci-layout does not exist"),
        (
            lambda lay: (lay / "oci-layout").write_text('{"imageLayoutVersion":"9"}'),
            ArchiveError,
            "imageLayoutVersion",
        ),
        (lambda lay: (lay / "index.json").write_bytes(b"[" * 10), ArchiveError, "invalid JSON"),
        (
            lambda lay: (lay / "index.json").write_bytes(b" " * (4 * 1024 * 1024 + 1)),
            SizeLimitError,
            "exceeded maximum allowed size",
        ),
        (lambda lay: (lay / "index.json").unlink(), ImageNotFoundError, "index.json does not exist"),
    ],
)
def test_hostile_layout_files(
    tmp_path: Path, image: BuiltImage, edit: Any, error: type[Exception], match: str
) -> None:
    archive = _layout_tar_with(tmp_path, image, lambda lay: edit(lay) and [])
    with pytest.raises(error, match=match):
        ref(f"{archive}:v1").new_image_source(CTX)


def test_duplicate_index_member_is_ambiguous(tmp_path: Path, image: BuiltImage) -> None:
    layout = write_oci_layout(image, tmp_path / "layout", "v1")
    archive = tar_of_layout(layout, tmp_path / "dup.tar")
    with tarfile.open(archive, "a") as tar:
        tar.add(layout / "index.json", arcname="./index.json")
    with pytest.raises(ArchiveError, match="ambiguous"):
        ref(f"{archive}:v1").new_image_source(CTX)


def test_manifest_not_matching_descriptor(tmp_path: Path, image: BuiltImage) -> None:
    def edit(layout: Path) -> None:
        path = layout / "blobs" / "sha256" / image.manifest_digest.split(":")[1]
        path.write_bytes(image.manifest.replace(b"schemaVersion", b"schemaVersioN"))

    def edit_and_add_nothing(layout: Path) -> list[tarfile.TarInfo]:
        edit(layout)
        return []

    archive = _layout_tar_with(tmp_path, image, edit_and_add_nothing)
    with ref(f"{archive}:v1").new_image_source(CTX) as src, pytest.raises(DigestMismatchError):
        src.get_manifest()


def test_missing_bad_and_directory_archives(tmp_path: Path) -> None:
    with pytest.raises(ImageNotFoundError, match="archive file not found"):
        ref(f"{tmp_path}/missing.tar:x").new_image_source(CTX)
    (tmp_path / "junk.tar").write_bytes(b"this is not a tar file at all" * 40)
    with pytest.raises(ArchiveError):
        ref(f"{tmp_path}/junk.tar").new_image_source(CTX)
    (tmp_path / "d").mkdir()
    with pytest.raises(ArchiveError, match=r"(?i)is a directory"):
        ref(f"{tmp_path}/d").new_image_source(CTX)


# ---------------------------------------------------------------- interop with skopeo


def test_reads_archives_written_by_skopeo(skopeo: Any, tmp_path: Path) -> None:
    img = build_image(fmt="oci", layer_count=2, layer_size=1024, seed=34)
    src = write_dir(img, tmp_path / "dirsrc")
    skopeo.run("copy", f"dir:{src}", f"oci-archive:{tmp_path / 'sk.tar'}:name/one")
    raw, mime_type, blobs = read_archive(f"{tmp_path / 'sk.tar'}:name/one")
    assert (raw, mime_type, blobs) == (img.manifest, img.media_type, img.blobs())


def test_skopeo_reads_archives_we_write(skopeo: Any, tmp_path: Path) -> None:
    img = build_image(fmt="oci", layer_count=2, layer_size=1024, seed=35)
    for mode in ("known", "no-digest"):
        archive = tmp_path / f"{mode}.tar"
        write_archive(archive, img, "t", mode=mode)
        assert skopeo.run("inspect", "--raw", f"oci-archive:{archive}:t").stdout == img.manifest
        out = tmp_path / f"copied-{mode}"
        skopeo.run("copy", f"oci-archive:{archive}", f"dir:{out}")
        assert (out / "manifest.json").read_bytes() == img.manifest
        for digest, data in img.blobs().items():
            assert (out / digest.split(":")[1]).read_bytes() == data
    multi = build_multiarch(fmt="oci", seed=35)
    write_archive(tmp_path / "multi.tar", multi, "m")
    assert skopeo.run("inspect", "--raw", f"oci-archive:{tmp_path / 'multi.tar'}:m").stdout == multi.manifest
