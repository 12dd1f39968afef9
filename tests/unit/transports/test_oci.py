"""Tests for the `oci:` transport (toolkit/transports/oci, _oci_layout.py).

Reference syntax and index rules follow containers/image (oci/internal/oci_util.go,
oci/layout/oci_dest.go addManifest, oci_delete.go); the hostile-layout cases are
security.md rows 1, 5, 6, 21 and corpus 20-21; the concurrency test is security.md §3
"Concurrent writers to one OCI layout". Peer tests read and write layouts with skopeo 1.9.3.
"""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import transfer
from helpers.images import BuiltImage, BuiltIndex, build_image, build_multiarch, write_dir, write_oci_layout
from helpers.transfer import blob_info, exploding, put_image
from toolkit.digest import Digest
from toolkit.errors import (
    ArchiveError,
    DestinationError,
    DigestMismatchError,
    ImageNotFoundError,
    InvalidImageNameError,
    NotSupportedError,
    PolicyError,
    SizeLimitError,
    SizeMismatchError,
    ToolkitError,
)
from toolkit.transports import parse_image_name
from toolkit.transports.oci import TRANSPORT, OciReference
from toolkit.types import BlobInfo, LayerCompression, SystemContext

CTX = SystemContext()
REF_NAME = "org.opencontainers.image.ref.name"


# ---------------------------------------------------------------- helpers


def ref(text: str) -> OciReference:
    return TRANSPORT.parse_reference(text)


def write_image(
    layout: Path | str,
    image: BuiltImage | BuiltIndex,
    name: str = "",
    *,
    ctx: SystemContext = CTX,
    known_digests: bool = True,
) -> None:
    """Write `image` through the destination API, as the copy engine would, and commit."""
    put_image(ref(f"{layout}:{name}"), image, ctx=ctx, infos="known" if known_digests else "no-digest")


def read_image(reference: str, ctx: SystemContext = CTX) -> tuple[bytes, str, dict[str, bytes]]:
    """Read the top manifest and every config/layer blob of a single image, via the source."""
    return transfer.read_image(ref(reference), ctx)


def index_of(layout: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((layout / "index.json").read_bytes())
    return result


def names_of(layout: Path) -> list[str]:
    return [(m.get("annotations") or {}).get(REF_NAME, "") for m in index_of(layout)["manifests"]]


def tree_digest(root: Path) -> dict[str, str]:
    """Every path under `root` with a content hash (files), 'dir' or 'link'."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = "link"
            elif path.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def temp_files(root: Path) -> list[str]:
    return [p.name for p in root.rglob(".*")]


@pytest.fixture
def image() -> BuiltImage:
    return build_image(fmt="oci", layer_count=2, layer_size=1024, seed=1)


@pytest.fixture
def layout(tmp_path: Path, image: BuiltImage) -> Path:
    path = tmp_path / "layout"
    write_image(path, image, "v1")
    return path


# ---------------------------------------------------------------- references


@pytest.mark.parametrize(
    ("suffix", "image_name", "index"),
    [
        ("", "", None),
        (":", "", None),
        (":latestimage", "latestimage", None),
        (":notlatest:image", "notlatest:image", None),  # the path ends at the FIRST colon
        (":tag/with/slash", "tag/with/slash", None),  # refRegexp allows component/component
        (":a--b.c_d@e+f:g", "a--b.c_d@e+f:g", None),
        (":@0", "", 0),
        (":@10", "", 10),
        (":@999999", "", 999999),
        (":@+7", "", 7),  # strconv.Atoi accepts a sign
        (":@007", "", 7),
    ],
)
def test_parse_reference_valid(tmp_path: Path, suffix: str, image_name: str, index: int | None) -> None:
    for path in ("/", "/etc", str(tmp_path), "relativepath", str(tmp_path / "thisdoesnotexist")):
        r = ref(path + suffix)
        assert (r.path, r.image, r.source_index) == (path, image_name, index)
        again = ref(r.string_within_transport())
        assert again == r
        assert again.string_within_transport() == r.string_within_transport()


@pytest.mark.parametrize(
    "suffix",
    [
        ":invalid'image!value@",
        ":@-3",
        ":@",
        ":@x",
        ":@1.5",
        ":@ 1",
        ":@1_0",
        ":@99999999999999999999999",
        ":@" + "9" * 5000,
        ":tag//x",
        ":/tag",
        ":tag/",
        ":-tag",
        ":tag-",
        ":ta g",
        ":tág",
        ":@0:x",
    ],
)
def test_parse_reference_invalid(tmp_path: Path, suffix: str) -> None:
    with pytest.raises(InvalidImageNameError):
        ref(str(tmp_path) + suffix)


@pytest.mark.parametrize(
    ("index", "message"),
    [
        # c/image oci/internal/oci_util.go wording (docker-archive: has no "not an integer: ").
        ("x", 'Invalid source index @x: not an integer: strconv.Atoi: parsing "x": invalid syntax'),
        ("", 'Invalid source index @: not an integer: strconv.Atoi: parsing "": invalid syntax'),
        ("99999999999999999999", 'Invalid source index @99999999999999999999: not an integer: '
         'strconv.Atoi: parsing "99999999999999999999": value out of range'),
        ("-3", "Invalid source index @-3: must not be negative"),
    ],
)
def test_source_index_messages(tmp_path: Path, index: str, message: str) -> None:
    with pytest.raises(InvalidImageNameError) as info:
        ref(f"{tmp_path}:@{index}")
    assert str(info.value) == message


def test_source_index_with_many_leading_zeros_is_a_number(tmp_path: Path) -> None:
    assert ref(f"{tmp_path}:@+0000000000000000000000002").source_index == 2  # as Go's Atoi


def test_parse_reference_invalid_paths(tmp_path: Path) -> None:
    with pytest.raises(InvalidImageNameError, match="empty path"):
        ref("")
    with pytest.raises(InvalidImageNameError, match="empty path"):
        ref(":tag")
    with pytest.raises(InvalidImageNameError, match="parent directory does not exist"):
        ref(str(tmp_path / "missing" / "layout") + ":tag")


def test_path_with_colon_is_split_at_the_first_colon(tmp_path: Path) -> None:
    # c/image: "path ends at the first ':'"; the rest is a (valid) image name here.
    r = ref(f"{tmp_path}/a:b:c")
    assert (r.path, r.image) == (f"{tmp_path}/a", "b:c")


def test_reference_properties(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    r = parse_image_name(f"oci:{tmp_path}/link/./x:name")
    assert isinstance(r, OciReference)
    assert r.transport is TRANSPORT
    assert r.docker_reference() is None
    resolved = os.path.realpath(tmp_path / "real") + "/x"
    # The image name is not part of the identity (c/image).
    assert r.policy_configuration_identity() == resolved
    assert ref(f"{tmp_path}/real/x:other").policy_configuration_identity() == resolved
    assert ref(f"{tmp_path}/real/x:@1").policy_configuration_identity() == resolved
    namespaces = r.policy_configuration_namespaces()
    assert namespaces[0] == os.path.dirname(resolved)
    assert "/" not in namespaces
    assert str(r) == f"oci:{tmp_path}/link/./x:name"


def test_validate_policy_scope() -> None:
    # c/image directory_transport_test.go TestTransportValidatePolicyConfigurationScope.
    for good in ("/a/b", "/etc", "/this/does/not/exist"):
        TRANSPORT.validate_policy_configuration_scope(good)
    for bad in ("a/b", "/", "/a/../b", "/a/", "relative/path", "/double//slashes", "/has/./dot"):
        with pytest.raises(PolicyError):
            TRANSPORT.validate_policy_configuration_scope(bad)
    # Go's filepath.Clean makes "//x" "/x"; POSIX normpath would have kept it.
    with pytest.raises(PolicyError, match="perhaps try /x$"):
        TRANSPORT.validate_policy_configuration_scope("//x")


# ---------------------------------------------------------------- round trips


def test_round_trip_bytes_identical(layout: Path, image: BuiltImage) -> None:
    raw, mime_type, blobs = read_image(f"{layout}:v1")
    assert raw == image.manifest
    assert mime_type == image.media_type
    assert blobs == image.blobs()
    assert json.loads((layout / "oci-layout").read_bytes()) == {"imageLayoutVersion": "1.0.0"}
    (entry,) = index_of(layout)["manifests"]
    assert entry == {
        "mediaType": image.media_type,
        "digest": image.manifest_digest,
        "size": len(image.manifest),
        "annotations": {REF_NAME: "v1"},
    }
    for digest, data in {**image.blobs(), image.manifest_digest: image.manifest}.items():
        path = layout / "blobs" / "sha256" / digest.split(":")[1]
        assert path.read_bytes() == data
        assert path.stat().st_mode & 0o777 == 0o644
    assert temp_files(layout) == []
    # The only entry is found without a name, and by position.
    assert read_image(str(layout))[0] == image.manifest
    assert read_image(f"{layout}:@0")[0] == image.manifest


def test_round_trip_unknown_digests(tmp_path: Path, image: BuiltImage) -> None:
    # put_blob with info.digest None hashes while writing and names the file by sha256.
    write_image(tmp_path / "l", image, "x", known_digests=False)
    assert read_image(f"{tmp_path / 'l'}:x")[2] == image.blobs()


def test_round_trip_index(tmp_path: Path) -> None:
    multi = build_multiarch(fmt="oci", seed=3)
    write_image(tmp_path / "l", multi, "multi")
    (entry,) = index_of(tmp_path / "l")["manifests"]
    assert entry["mediaType"] == multi.media_type
    with ref(f"{tmp_path / 'l'}:multi").new_image_source(CTX) as src:
        raw, mime_type = src.get_manifest()
        assert (raw, mime_type) == (multi.manifest, multi.media_type)
        for instance in multi.images:
            raw, mime_type = src.get_manifest(Digest.parse(instance.manifest_digest))
            assert (raw, mime_type) == (instance.manifest, instance.media_type)


def test_several_tags_in_one_layout(tmp_path: Path) -> None:
    images = [build_image(fmt="oci", layer_count=1, layer_size=256, seed=s) for s in range(3)]
    for i, img in enumerate(images):
        write_image(tmp_path / "l", img, f"t{i}")
    assert names_of(tmp_path / "l") == ["t0", "t1", "t2"]
    for i, img in enumerate(images):
        assert read_image(f"{tmp_path / 'l'}:t{i}")[0] == img.manifest
        assert read_image(f"{tmp_path / 'l'}:@{i}")[0] == img.manifest
    with pytest.raises(ToolkitError, match="more than one image in oci, choose an image"):
        ref(str(tmp_path / "l")).new_image_source(CTX)
    with pytest.raises(ImageNotFoundError, match='no descriptor found for reference "nope"'):
        ref(f"{tmp_path / 'l'}:nope").new_image_source(CTX)
    with pytest.raises(ImageNotFoundError, match="index 3 is too large, only 3 entries available"):
        ref(f"{tmp_path / 'l'}:@3").new_image_source(CTX)


def test_retagging_matches_containers_image(tmp_path: Path) -> None:
    lay = tmp_path / "l"
    a = build_image(fmt="oci", layer_count=1, layer_size=128, seed=10)
    b = build_image(fmt="oci", layer_count=1, layer_size=128, seed=11)
    write_image(lay, a, "t")
    write_image(lay, b, "t")
    # The older entry stays, unnamed (and without an empty annotations map).
    assert index_of(lay)["manifests"][0] == {
        "mediaType": a.media_type,
        "digest": a.manifest_digest,
        "size": len(a.manifest),
    }
    assert names_of(lay) == ["", "t"]
    assert read_image(f"{lay}:t")[0] == b.manifest
    # Re-tagging a (unnamed now) with "t": t is taken from b, and a's unnamed entry replaced.
    write_image(lay, a, "t")
    assert [m["digest"] for m in index_of(lay)["manifests"]] == [a.manifest_digest, b.manifest_digest]
    assert names_of(lay) == ["t", ""]
    # The same image under the same name again: still one entry per digest.
    write_image(lay, a, "t")
    assert names_of(lay) == ["t", ""]
    # Unnamed writes of an existing unnamed digest replace it; named entries are not touched.
    write_image(lay, b)
    assert names_of(lay) == ["t", ""]
    write_image(lay, a)
    assert names_of(lay) == ["t", "", ""]
    # A second name for the same digest adds an entry.
    write_image(lay, b, "u")
    assert names_of(lay) == ["t", "u", ""]


def test_existing_entries_are_preserved(tmp_path: Path) -> None:
    lay = tmp_path / "l"
    a = build_image(fmt="oci", layer_count=1, layer_size=128, seed=12)
    write_oci_layout(a, lay, "keep")
    doc = index_of(lay)
    doc["annotations"] = {"top": "level"}
    doc["manifests"][0]["annotations"]["other"] = "x"
    doc["manifests"][0]["platform"] = {"architecture": "amd64", "os": "linux"}
    (lay / "index.json").write_text(json.dumps(doc))
    b = build_image(fmt="oci", layer_count=1, layer_size=128, seed=13)
    write_image(lay, b, "keep")
    new = index_of(lay)
    assert new["annotations"] == {"top": "level"}
    assert new["manifests"][0]["annotations"] == {"other": "x"}
    assert new["manifests"][0]["platform"] == {"architecture": "amd64", "os": "linux"}
    assert names_of(lay) == ["", "keep"]


def test_destination_capabilities_and_signatures(tmp_path: Path) -> None:
    with ref(f"{tmp_path / 'l'}:x").new_image_destination(CTX) as dest:
        caps = dest.capabilities
        assert caps.supported_manifest_mime_types == (
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.oci.image.index.v1+json",
        )
        assert caps.desired_layer_compression is LayerCompression.COMPRESS
        assert caps.has_thread_safe_put_blob
        assert caps.supports_manifest_lists
        assert not caps.supports_signatures
        assert caps.signatures_unsupported_reason == "Pushing signatures for OCI images is not supported"
        dest.put_signatures([])
        with pytest.raises(NotSupportedError, match="Pushing signatures for OCI images is not supported"):
            dest.put_signatures([b"sig"])
    ctx = SystemContext(oci_accept_uncompressed_layers=True)
    with ref(f"{tmp_path / 'l'}:x").new_image_destination(ctx) as dest:
        assert dest.capabilities.desired_layer_compression is LayerCompression.PRESERVE
    # Opening and closing a destination without writing leaves nothing behind.
    assert not (tmp_path / "l").exists()


def test_instance_manifest_must_match_its_digest(tmp_path: Path, image: BuiltImage) -> None:
    with ref(f"{tmp_path / 'l'}:x").new_image_destination(CTX) as dest, pytest.raises(DigestMismatchError):
        dest.put_manifest(image.manifest, image.media_type, Digest.from_bytes(b"something else"))
    assert not (tmp_path / "l" / "blobs" / "sha256" / Digest.from_bytes(b"something else").hex).exists()


def test_source_index_is_invalid_for_a_destination(layout: Path) -> None:
    with pytest.raises(InvalidImageNameError, match="must not contain a manifest index @0"):
        ref(f"{layout}:@0").new_image_destination(CTX)


def test_try_reusing_blob(layout: Path, image: BuiltImage) -> None:
    layer = image.layers[0]
    with ref(f"{layout}:v2").new_image_destination(CTX) as dest:
        reused = dest.try_reusing_blob(blob_info(layer.digest, layer.size))
        assert reused is not None and reused.size == layer.size
        assert dest.try_reusing_blob(BlobInfo(digest=Digest.parse(layer.digest))) is not None
        assert dest.try_reusing_blob(blob_info(layer.digest, layer.size + 1)) is None
        assert dest.try_reusing_blob(blob_info("sha256:" + "0" * 64, 1)) is None
        assert dest.try_reusing_blob(BlobInfo(digest=None)) is None


def test_shared_blob_dir(tmp_path: Path, image: BuiltImage) -> None:
    shared = tmp_path / "shared"
    ctx = SystemContext(oci_shared_blob_dir=shared)
    write_image(tmp_path / "l", image, "v1", ctx=ctx)
    assert (shared / "sha256" / image.manifest_digest.split(":")[1]).read_bytes() == image.manifest
    assert list((tmp_path / "l" / "blobs").iterdir()) == []  # blobs/ exists but stays empty
    assert read_image(f"{tmp_path / 'l'}:v1", ctx)[2] == image.blobs()
    with pytest.raises(ToolkitError, match="does not exist"):
        read_image(f"{tmp_path / 'l'}:v1")


# ---------------------------------------------------------------- failures leave no trace


def test_failing_blob_stream_leaves_layout_unchanged(layout: Path) -> None:
    before = tree_digest(layout)
    other = build_image(fmt="oci", layer_count=1, layer_size=512, seed=99)
    (digest, data), *_ = other.blobs().items()
    with (
        pytest.raises(ToolkitError, match="source died"),
        ref(f"{layout}:v2").new_image_destination(CTX) as dest,
    ):
        dest.put_blob(exploding(data[:100]), blob_info(digest, len(data)))
    assert tree_digest(layout) == before


def test_blob_digest_or_size_mismatch_leaves_no_file(layout: Path) -> None:
    before = tree_digest(layout)
    data = b"hello world"
    wrong = "sha256:" + hashlib.sha256(b"other").hexdigest()
    with ref(f"{layout}:v2").new_image_destination(CTX) as dest:
        with pytest.raises(DigestMismatchError):
            dest.put_blob(io.BytesIO(data), blob_info(wrong, len(data)))
        right = "sha256:" + hashlib.sha256(data).hexdigest()
        with pytest.raises(SizeMismatchError):
            dest.put_blob(io.BytesIO(data), blob_info(right, len(data) + 1))
    assert tree_digest(layout) == before


def test_abort_before_commit_keeps_index(layout: Path) -> None:
    index_before = (layout / "index.json").read_bytes()
    other = build_image(fmt="oci", layer_count=2, layer_size=512, seed=98)
    with ref(f"{layout}:v1").new_image_destination(CTX) as dest:
        for digest, data in other.blobs().items():
            dest.put_blob(io.BytesIO(data), blob_info(digest, len(data)))
        dest.put_manifest(other.manifest, other.media_type)
        # no commit
    assert (layout / "index.json").read_bytes() == index_before
    assert temp_files(layout) == []


def test_abort_into_a_new_layout_before_writing_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), ref(f"{tmp_path / 'new'}:x").new_image_destination(CTX):
        raise RuntimeError("policy said no")
    assert list(tmp_path.iterdir()) == []


def test_commit_refuses_when_a_blob_vanished(layout: Path, image: BuiltImage) -> None:
    index_before = (layout / "index.json").read_bytes()
    other = build_image(fmt="oci", layer_count=1, layer_size=512, seed=97)
    with ref(f"{layout}:v9").new_image_destination(CTX) as dest:
        for digest, data in other.blobs().items():
            dest.put_blob(io.BytesIO(data), blob_info(digest, len(data)))
        dest.put_manifest(other.manifest, other.media_type)
        (layout / "blobs" / "sha256" / other.layers[0].digest.split(":")[1]).unlink()
        with pytest.raises(DestinationError, match="disappeared before commit"):
            dest.commit()
    assert (layout / "index.json").read_bytes() == index_before


def test_destination_refuses_foreign_content(tmp_path: Path, image: BuiltImage) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(DestinationError, match="not a directory"):
        ref(f"{tmp_path / 'file'}:x").new_image_destination(CTX)
    bad = tmp_path / "bad"
    write_oci_layout(image, bad)
    (bad / "oci-layout").write_text('{"imageLayoutVersion":"2.0.0"}')
    with pytest.raises(DestinationError, match="imageLayoutVersion"):
        ref(f"{bad}:x").new_image_destination(CTX)
    (bad / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (bad / "index.json").write_text("{not json")
    with pytest.raises(DestinationError, match=r"index\.json"):
        ref(f"{bad}:x").new_image_destination(CTX)


# ---------------------------------------------------------------- hostile layouts


def _blob_path(layout: Path, digest: str) -> Path:
    return layout / "blobs" / "sha256" / digest.split(":")[1]


@pytest.mark.timeout(10)
@pytest.mark.parametrize("kind", ["dev-zero-symlink", "fifo", "directory", "host-file-symlink"])
def test_hostile_blob_files(layout: Path, image: BuiltImage, kind: str) -> None:
    layer = image.layers[0]
    path = _blob_path(layout, layer.digest)
    path.unlink()
    if kind == "dev-zero-symlink":
        path.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    else:
        path.symlink_to("/etc/passwd")
    with (
        ref(f"{layout}:v1").new_image_source(CTX) as src,
        pytest.raises(ArchiveError, match="not a regular file"),
    ):
        src.get_blob(blob_info(layer.digest, layer.size))


@pytest.mark.timeout(10)
def test_hostile_manifest_blob_fifo(layout: Path, image: BuiltImage) -> None:
    path = _blob_path(layout, image.manifest_digest)
    path.unlink()
    os.mkfifo(path)
    with (
        ref(f"{layout}:v1").new_image_source(CTX) as src,
        pytest.raises(ArchiveError, match="not a regular file"),
    ):
        src.get_manifest()


def test_blobs_directory_symlink_is_refused(layout: Path, image: BuiltImage, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    shutil.move(layout / "blobs", outside)
    (layout / "blobs").symlink_to(outside)
    with (
        ref(f"{layout}:v1").new_image_source(CTX) as src,
        pytest.raises(ArchiveError, match="not a regular file"),
    ):
        src.get_manifest()


def test_corrupted_blob_fails_verification(layout: Path, image: BuiltImage) -> None:
    layer = image.layers[0]
    path = _blob_path(layout, layer.digest)
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))
    with ref(f"{layout}:v1").new_image_source(CTX) as src:
        stream, _ = src.get_blob(blob_info(layer.digest, layer.size))
        with pytest.raises(DigestMismatchError):
            stream.read()
        with pytest.raises(SizeMismatchError):
            src.get_blob(blob_info(layer.digest, layer.size + 5))


@pytest.mark.parametrize(
    ("mutate", "error", "match"),
    [
        (
            lambda lay: (lay / "index.json").write_bytes(b" " * (4 * 1024 * 1024 + 1)),
            SizeLimitError,
            "exceeded maximum allowed size",
        ),
        (lambda lay: (lay / "index.json").write_bytes(b"not json"), ArchiveError, "invalid JSON"),
        (
            lambda lay: (lay / "index.json").write_bytes(b'{"schemaVersion":2,"manifests":{}}'),
            ArchiveError,
            "must be an array",
        ),
        (
            lambda lay: (lay / "index.json").write_bytes(
                b'{"schemaVersion":2,"schemaVersion":2,"manifests":[]}'
            ),
            ArchiveError,
            "duplicate key",
        ),
        (
            lambda lay: (lay / "index.json").write_bytes(b'{"schemaVersion":2,"Manifests":[]}'),
            ArchiveError,
            "non-canonical",
        ),
        (
            lambda lay: (lay / "index.json").write_bytes(b'{"schemaVersion":3,"manifests":[]}'),
            ArchiveError,
            "schemaVersion",
        ),
        (
            lambda lay: (lay / "index.json").write_bytes(
                b'{"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"sha256:../../etc/passwd","size":1}]}'
            ),
            ArchiveError,
            "invalid digest",
        ),
        (
            lambda lay: (lay / "index.json").write_bytes(
                b'{"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"sha256:'
                + b"a" * 64
                + b'","size":-1}]}'
            ),
            ArchiveError,
            "size",
        ),
        (lambda lay: (lay / "oci-layout").unlink(), ArchiveError, "oci-layout does not exist"),
        (
            lambda lay: (lay / "oci-layout").write_bytes(b'{"imageLayoutVersion":"1.1.0"}'),
            ArchiveError,
            "imageLayoutVersion",
        ),
        (lambda lay: (lay / "oci-layout").write_bytes(b"[]"), ArchiveError, "expected a JSON object"),
        (lambda lay: (lay / "index.json").unlink(), ImageNotFoundError, "index.json does not exist"),
        (shutil.rmtree, ImageNotFoundError, "index.json does not exist"),
    ],
)
def test_hostile_index_and_layout_files(
    layout: Path, mutate: Any, error: type[Exception], match: str
) -> None:
    mutate(layout)
    with pytest.raises(error, match=match):
        ref(f"{layout}:v1").new_image_source(CTX)


def test_index_json_symlink_is_refused(layout: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere.json").write_bytes((layout / "index.json").read_bytes())
    (layout / "index.json").unlink()
    (layout / "index.json").symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(ArchiveError, match="not a regular file"):
        ref(f"{layout}:v1").new_image_source(CTX)


def test_manifest_not_matching_descriptor(layout: Path, image: BuiltImage) -> None:
    path = _blob_path(layout, image.manifest_digest)
    path.write_bytes(image.manifest + b" ")
    with ref(f"{layout}:v1").new_image_source(CTX) as src, pytest.raises(SizeMismatchError):
        src.get_manifest()
    tampered = image.manifest.replace(b"schemaVersion", b"schemaVersioN")
    assert len(tampered) == len(image.manifest)
    path.write_bytes(tampered)
    with ref(f"{layout}:v1").new_image_source(CTX) as src, pytest.raises(DigestMismatchError):
        src.get_manifest()
    doc = index_of(layout)
    doc["manifests"][0]["size"] = 5 * 1024 * 1024
    (layout / "index.json").write_text(json.dumps(doc))
    with ref(f"{layout}:v1").new_image_source(CTX) as src, pytest.raises(SizeLimitError):
        src.get_manifest()


def test_unsupported_media_type_for_a_name(layout: Path) -> None:
    doc = index_of(layout)
    doc["manifests"][0]["mediaType"] = "application/x-something"
    (layout / "index.json").write_text(json.dumps(doc))
    with pytest.raises(ToolkitError, match="matches unsupported manifest MIME types"):
        ref(f"{layout}:v1").new_image_source(CTX)


def test_empty_index(tmp_path: Path) -> None:
    lay = tmp_path / "l"
    lay.mkdir()
    (lay / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (lay / "index.json").write_text('{"schemaVersion":2,"manifests":[]}')
    with pytest.raises(ImageNotFoundError):
        ref(str(lay)).new_image_source(CTX)


# ---------------------------------------------------------------- concurrency


def _commit_tag(layout: str, seed: int, tag: str) -> None:
    img = build_image(fmt="oci", layer_count=2, layer_size=2048, seed=seed)
    write_image(Path(layout), img, tag)


def _check_concurrent_result(lay: Path, tags: list[str]) -> None:
    doc = index_of(lay)  # valid JSON
    assert sorted(names_of(lay)) == sorted(tags)
    for blob in (lay / "blobs" / "sha256").iterdir():
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name
    for entry in doc["manifests"]:
        tag = entry["annotations"][REF_NAME]
        raw = read_image(f"{lay}:{tag}")[0]
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == entry["digest"]
    assert temp_files(lay) == []


@pytest.mark.timeout(60)
def test_eight_threads_commit_into_one_layout(tmp_path: Path) -> None:
    lay = tmp_path / "l"
    # A shared layer for everyone: same-blob races must be harmless.
    tags = [f"t{i}" for i in range(8)]
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait()
            _commit_tag(str(lay), i % 4, tags[i])
        except BaseException as exc:  # report in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    _check_concurrent_result(lay, tags)


@pytest.mark.timeout(120)
def test_eight_processes_commit_into_one_layout(tmp_path: Path) -> None:
    lay = tmp_path / "l"
    tags = [f"p{i}" for i in range(8)]
    mp = multiprocessing.get_context("fork")
    procs = [mp.Process(target=_commit_tag, args=(str(lay), i % 4, tags[i])) for i in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 8
    _check_concurrent_result(lay, tags)


# ---------------------------------------------------------------- delete


def test_delete_image(tmp_path: Path) -> None:
    lay = tmp_path / "l"
    base = build_image(fmt="oci", layer_count=1, layer_size=256, seed=20)
    a = build_image(fmt="oci", layer_tars=[random_tar(1), random_tar(2)])
    b = build_image(fmt="oci", layer_tars=[random_tar(1), random_tar(3)])  # shares a's first layer
    write_image(lay, base, "base")
    write_image(lay, a, "a")
    write_image(lay, b, "b")
    ref(f"{lay}:a").delete_image(CTX)
    assert names_of(lay) == ["base", "b"]
    assert not _blob_path(lay, a.manifest_digest).exists()
    assert not _blob_path(lay, a.layers[1].digest).exists()
    assert not _blob_path(lay, a.config_digest).exists()
    assert _blob_path(lay, a.layers[0].digest).exists()  # still used by b
    assert read_image(f"{lay}:b")[2] == b.blobs()
    ref(f"{lay}:@0").delete_image(CTX)
    assert names_of(lay) == ["b"]
    with pytest.raises(ImageNotFoundError):
        ref(f"{lay}:a").delete_image(CTX)
    ref(str(lay)).delete_image(CTX)  # the only image
    assert index_of(lay)["manifests"] == []
    assert list((lay / "blobs" / "sha256").iterdir()) == []


def test_delete_index_image(tmp_path: Path) -> None:
    lay = tmp_path / "l"
    multi = build_multiarch(fmt="oci", seed=5)
    single = build_image(fmt="oci", layer_count=1, layer_size=256, seed=21)
    write_image(lay, multi, "multi")
    write_image(lay, single, "single")
    ref(f"{lay}:multi").delete_image(CTX)
    left = sorted(p.name for p in (lay / "blobs" / "sha256").iterdir())
    expected = sorted(d.split(":")[1] for d in [*single.blobs(), single.manifest_digest])
    assert left == expected


def test_delete_refuses_unknown_media_types(layout: Path) -> None:
    doc = index_of(layout)
    doc["manifests"].append({"mediaType": "application/x-other", "digest": "sha256:" + "1" * 64, "size": 1})
    (layout / "index.json").write_text(json.dumps(doc))
    before = tree_digest(layout)
    with pytest.raises(ToolkitError, match="unsupported mediaType in index"):
        ref(f"{layout}:v1").delete_image(CTX)
    assert tree_digest(layout) == before


def random_tar(seed: int) -> bytes:
    from helpers.images import random_layer_tar

    return random_layer_tar(seed, 256, prefix=f"s{seed}")


# ---------------------------------------------------------------- interop with skopeo


@pytest.fixture
def dir_image(tmp_path: Path) -> Iterator[tuple[Path, BuiltImage]]:
    img = build_image(fmt="oci", layer_count=2, layer_size=1024, seed=7)
    yield write_dir(img, tmp_path / "dirsrc"), img


def test_reads_layouts_written_by_skopeo(
    skopeo: Any, tmp_path: Path, dir_image: tuple[Path, BuiltImage]
) -> None:
    src, img = dir_image
    lay = tmp_path / "sk"
    skopeo.run("copy", f"dir:{src}", f"oci:{lay}:one")
    skopeo.run("copy", f"dir:{src}", f"oci:{lay}:two/with/slash")
    for name in ("one", "two/with/slash"):
        raw, mime_type, blobs = read_image(f"{lay}:{name}")
        assert raw == img.manifest
        assert mime_type == img.media_type
        assert blobs == img.blobs()
    # And skopeo reads what we add to its layout.
    other = build_image(fmt="oci", layer_count=1, layer_size=512, seed=8)
    write_image(lay, other, "ours")
    out = skopeo.run("inspect", "--raw", f"oci:{lay}:ours").stdout
    assert out == other.manifest
    assert skopeo.run("inspect", "--raw", f"oci:{lay}:one").stdout == img.manifest


def test_skopeo_reads_layouts_we_write(skopeo: Any, tmp_path: Path) -> None:
    lay = tmp_path / "ours"
    img = build_image(fmt="oci", layer_count=2, layer_size=1024, seed=9)
    multi = build_multiarch(fmt="oci", seed=9)
    write_image(lay, img, "img")
    write_image(lay, multi, "multi")
    assert skopeo.run("inspect", "--raw", f"oci:{lay}:img").stdout == img.manifest
    assert skopeo.run("inspect", "--raw", f"oci:{lay}:multi").stdout == multi.manifest
    out = tmp_path / "copied"
    skopeo.run("copy", f"oci:{lay}:img", f"dir:{out}")
    assert (out / "manifest.json").read_bytes() == img.manifest
    # skopeo adds a tag to our layout; we still read both.
    skopeo.run("copy", f"oci:{lay}:img", f"oci:{lay}:again")
    assert read_image(f"{lay}:again")[0] == img.manifest
    assert read_image(f"{lay}:img")[0] == img.manifest


def test_opening_a_destination_waits_for_a_commit_in_progress(tmp_path: Path) -> None:
    """A commit writes oci-layout, then index.json, under the layout lock: a destination
    opened meanwhile must not see index.json without oci-layout (seen with 8 parallel copies)."""
    from toolkit.transports.oci import _index_lock

    layout = tmp_path / "l"
    layout.mkdir()
    opened: list[BaseException | None] = []

    def open_destination() -> None:
        try:
            with ref(f"{layout}:x").new_image_destination(CTX):
                opened.append(None)
        except BaseException as exc:  # reported by the assertion below
            opened.append(exc)

    with _index_lock(layout):
        (layout / "index.json").write_text('{"schemaVersion": 2, "manifests": []}')
        thread = threading.Thread(target=open_destination)
        thread.start()
        thread.join(0.3)
        assert thread.is_alive(), "the destination did not wait for the layout lock"
        (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    thread.join(10)
    assert opened == [None]
