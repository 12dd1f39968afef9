"""docker-archive: reference parsing, round trips, multi-image archives, hostile archives,
stream destinations, and interop with skopeo 1.9.3."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import threading
from pathlib import Path
from typing import Any

import pytest

from helpers import transfer
from helpers.images import tar_bytes
from toolkit.digest import Digest
from toolkit.errors import (
    ArchiveError,
    DestinationError,
    ImageNotFoundError,
    InvalidImageNameError,
    NotSupportedError,
    PolicyError,
    SizeLimitError,
    SizeMismatchError,
    ToolkitError,
)
from toolkit.manifest import mime
from toolkit.reference import parse_normalized_named
from toolkit.transports import parse_image_name
from toolkit.transports._docker_tar import ArchiveWriter, archive_tags
from toolkit.transports.docker_archive import TRANSPORT
from toolkit.types import BlobInfo, LayerCompression, SystemContext

# --------------------------------------------------------------------------- helpers


def make_config(layers: list[bytes], **extra: Any) -> bytes:
    doc = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2020-01-01T00:00:00Z",
        "config": {"Env": ["A=<b>"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(x).hexdigest() for x in layers]},
        **extra,
    }
    return json.dumps(doc, indent=1).encode()


def schema2(config: bytes, blobs: list[tuple[Digest, int, str]]) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mime.DOCKER_V2S2,
            "config": {"mediaType": mime.DOCKER_CONFIG, "size": len(config), "digest": str(Digest.from_bytes(config))},
            "layers": [{"mediaType": mt, "size": n, "digest": str(d)} for d, n, mt in blobs],
        }
    ).encode()


def expected_manifest(config: bytes, layers: list[bytes]) -> bytes:
    """What c/image generates for an archived image (compact, Go field order)."""
    layer_json = ",".join(
        f'{{"mediaType":"{mime.DOCKER_LAYER_GZIP}","size":{len(x)},"digest":"sha256:{hashlib.sha256(x).hexdigest()}"}}'
        for x in layers
    )
    return (
        f'{{"schemaVersion":2,"mediaType":"{mime.DOCKER_V2S2}","config":{{"mediaType":"{mime.DOCKER_CONFIG}",'
        f'"size":{len(config)},"digest":"{Digest.from_bytes(config)}"}},"layers":[{layer_json}]}}'
    ).encode()


def write_image(
    target: str,
    layers: list[bytes],
    *,
    ctx: SystemContext | None = None,
    compress: bool = False,
    unknown: bool = False,
    unknown_size: bool = False,
    config: bytes | None = None,
) -> bytes:
    """Write one image through the destination API; returns the config bytes."""
    ctx = ctx or SystemContext()
    config = config or make_config(layers)
    ref = TRANSPORT.parse_reference(target)
    with ref.new_image_destination(ctx) as dest:
        stored = []
        for layer in layers:
            data = gzip.compress(layer, mtime=0) if compress else layer
            info = BlobInfo(digest=None) if unknown else BlobInfo(digest=Digest.from_bytes(data), size=len(data))
            if unknown_size:
                info = BlobInfo(digest=Digest.from_bytes(data))
            got = dest.put_blob(io.BytesIO(data), info)
            assert got.digest == Digest.from_bytes(data)
            assert got.size == len(data)
            media_type = mime.DOCKER_LAYER_GZIP if compress else mime.DOCKER_LAYER_UNCOMPRESSED
            stored.append((got.digest, got.size, media_type))
        config_info = BlobInfo(digest=Digest.from_bytes(config), size=len(config))
        cinfo = dest.put_blob(io.BytesIO(config), config_info, is_config=True)
        assert cinfo.digest == Digest.from_bytes(config)
        dest.put_manifest(schema2(config, stored), mime.DOCKER_V2S2)
        dest.commit()
    return config


def read_image(name: str, ctx: SystemContext | None = None) -> tuple[bytes, dict[str, bytes]]:
    """Manifest bytes and every blob (by digest string) read back through the source API."""
    raw, mime_type, blobs = transfer.read_image(parse_image_name(name), ctx)
    assert mime_type == mime.DOCKER_V2S2
    return raw, blobs


def raw_archive(path: Path, entries: list[tuple[str, Any]], *, fmt: int = tarfile.USTAR_FORMAT) -> None:
    """A hand-made tar: values are bytes (file), ("sym", target), ("dev",), ("link", target)."""
    with tarfile.open(path, "w", format=fmt) as tar:
        for name, value in entries:
            info = tarfile.TarInfo(name)
            if isinstance(value, bytes):
                info.size = len(value)
                tar.addfile(info, io.BytesIO(value))
                continue
            if value[0] == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, value[1]
            elif value[0] == "link":
                info.type, info.linkname = tarfile.LNKTYPE, value[1]
            elif value[0] == "dev":
                info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 5
            tar.addfile(info)


LAYERS = [tar_bytes({"a.txt": b"hello\n"}), tar_bytes({"b.txt": b"world\n" * 1000})]


# --------------------------------------------------------------------------- references


@pytest.mark.parametrize(
    ("text", "path", "ref", "index", "within"),
    [
        ("/tmp/a.tar", "/tmp/a.tar", None, None, "/tmp/a.tar"),
        ("a.tar:busybox", "a.tar", "docker.io/library/busybox:latest", None, "a.tar:docker.io/library/busybox:latest"),
        ("a.tar:quay.io/x/y:1", "a.tar", "quay.io/x/y:1", None, "a.tar:quay.io/x/y:1"),
        ("a.tar:localhost:5000/x:2", "a.tar", "localhost:5000/x:2", None, "a.tar:localhost:5000/x:2"),
        ("a.tar:@0", "a.tar", None, 0, "a.tar:@0"),
        ("a.tar:@12", "a.tar", None, 12, "a.tar:@12"),
        ("a.tar:@+3", "a.tar", None, 3, "a.tar:@3"),
        ("/dev/stdin", "/dev/stdin", None, None, "/dev/stdin"),
    ],
)
def test_parse_reference(text: str, path: str, ref: str | None, index: int | None, within: str) -> None:
    parsed = TRANSPORT.parse_reference(text)
    assert parsed.path == path
    assert (str(parsed.ref) if parsed.ref else None) == ref
    assert parsed.source_index == index
    assert parsed.string_within_transport() == within
    assert TRANSPORT.parse_reference(within) == parsed
    assert (str(parsed.docker_reference()) if parsed.docker_reference() else None) == ref
    assert parsed.policy_configuration_identity() == ""
    assert parsed.policy_configuration_namespaces() == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "isn't of the form"),
        (":busybox", "isn't of the form"),
        ("a.tar:@-1", "must not be negative"),
        ("a.tar:@x", "invalid syntax"),
        ("a.tar:@", "invalid syntax"),
        ("a.tar:@ 1", "invalid syntax"),
        ("a.tar:@99999999999999999999", "out of range"),
        ("a.tar:@" + "1" * 5000, "out of range"),  # not Python's int() digit limit
        ("a.tar:@-" + "1" * 5000, "out of range"),
        ("a.tar:Busybox", "must be lowercase"),
        ("a.tar:busybox@sha256:" + "a" * 64, "reference does not include a tag"),
        ("a.tar:busybox:1@sha256:" + "a" * 64, "doesn't support digest references"),
        ("a.tar:busybox@sha256:../x", "docker-archive parsing reference"),
    ],
)
def test_parse_reference_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidImageNameError, match=message):
        TRANSPORT.parse_reference(text)


def test_source_index_message_is_c_image_s() -> None:
    # c/image docker/archive/transport.go: "Invalid source index %s: %w" with the "@" in %s.
    with pytest.raises(InvalidImageNameError) as info:
        TRANSPORT.parse_reference("a.tar:@x")
    assert str(info.value) == 'Invalid source index @x: strconv.Atoi: parsing "x": invalid syntax'


def test_source_index_leading_zeros_as_go_atoi() -> None:
    assert TRANSPORT.parse_reference("a.tar:@" + "0" * 5000 + "7").source_index == 7
    assert TRANSPORT.parse_reference("a.tar:@+0").source_index == 0


def test_policy_scope_and_registry() -> None:
    TRANSPORT.validate_policy_configuration_scope("")
    with pytest.raises(PolicyError, match='except the default ""'):
        TRANSPORT.validate_policy_configuration_scope("/tmp")
    ref = parse_image_name("docker-archive:x.tar:busybox")
    assert str(ref.docker_reference()) == "docker.io/library/busybox:latest"
    with pytest.raises(NotSupportedError):
        ref.delete_image(SystemContext())


def test_destination_capabilities(tmp_path: Path) -> None:
    with TRANSPORT.parse_reference(f"{tmp_path}/x.tar:a:b").new_image_destination(SystemContext()) as dest:
        caps = dest.capabilities
        assert caps.supported_manifest_mime_types == (mime.DOCKER_V2S2,)
        assert not caps.supports_signatures
        assert caps.signatures_unsupported_reason == "Storing signatures for docker tar files is not supported"
        assert caps.desired_layer_compression is LayerCompression.DECOMPRESS
        assert not caps.supports_manifest_lists
        assert not caps.has_thread_safe_put_blob
        dest.put_signatures([])
        with pytest.raises(NotSupportedError, match="Storing signatures"):
            dest.put_signatures([b"sig"])
        with pytest.raises(NotSupportedError, match="Manifest lists"):
            dest.put_manifest(b"{}", mime.DOCKER_V2S2, Digest.from_bytes(b"x"))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InvalidImageNameError, match="must not contain a manifest index @1"):
        TRANSPORT.parse_reference(f"{tmp_path}/x.tar:@1").new_image_destination(SystemContext())


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    ("unknown", "unknown_size"), [(False, False), (True, False), (False, True)],
    ids=["known", "unknown-digest-spooled", "unknown-size-patched"],
)
def test_round_trip(tmp_path: Path, unknown: bool, unknown_size: bool) -> None:
    target = tmp_path / "out.tar"
    config = write_image(f"{target}:busybox:v1", LAYERS, unknown=unknown, unknown_size=unknown_size)
    assert [p.name for p in tmp_path.iterdir()] == ["out.tar"]  # no temp file left
    raw, blobs = read_image(f"docker-archive:{target}")
    assert raw == expected_manifest(config, LAYERS)
    assert blobs[str(Digest.from_bytes(config))] == config
    for layer in LAYERS:
        assert blobs["sha256:" + hashlib.sha256(layer).hexdigest()] == layer
    with tarfile.open(target) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        for member in tar.getmembers():
            assert member.mtime == 0
            assert member.mode == (0 if member.issym() else 0o444)
    assert manifest == [
        {
            "Config": f"{Digest.from_bytes(config).hex}.json",
            "RepoTags": ["docker.io/library/busybox:v1"],
            "Layers": [hashlib.sha256(x).hexdigest() + ".tar" for x in LAYERS],
        }
    ]
    assert names[-2:] == ["manifest.json", "repositories"]
    assert sum(n.endswith("/layer.tar") for n in names) == 2
    assert archive_tags(str(target)) == ["docker.io/library/busybox:v1"]
    read_image(f"docker-archive:{target}:busybox:v1")
    read_image(f"docker-archive:{target}:@0")


def test_round_trip_keeps_compressed_layers(tmp_path: Path) -> None:
    target = tmp_path / "gz.tar"
    config = write_image(str(target), LAYERS, compress=True)
    with tarfile.open(target) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        first = tar.extractfile(manifest[0]["Layers"][0]).read()  # type: ignore[union-attr]
    assert manifest[0]["RepoTags"] == []
    # The file is the gzip stream as given, named after its own digest.
    assert first[:2] == b"\x1f\x8b"
    assert manifest[0]["Layers"][0] == hashlib.sha256(first).hexdigest() + ".tar"
    raw, blobs = read_image(f"docker-archive:{target}")
    # Read back as c/image does: decompressed, by diffID, with the uncompressed size.
    assert raw == expected_manifest(config, LAYERS)
    assert blobs["sha256:" + hashlib.sha256(LAYERS[0]).hexdigest()] == LAYERS[0]
    assert archive_tags(str(target)) == ["@0"]


def test_additional_tags_and_duplicate_blobs(tmp_path: Path) -> None:
    target = tmp_path / "t.tar"
    ctx = SystemContext(docker_archive_additional_tags=("quay.io/a/b:2", "busybox:v1"))
    layer = LAYERS[0]
    write_image(f"{target}:busybox:v1", [layer, layer], ctx=ctx, config=make_config([layer, layer]))
    with tarfile.open(target) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        repositories = json.loads(tar.extractfile("repositories").read())  # type: ignore[union-attr]
        layer_files = [n for n in tar.getnames() if n.endswith(".tar") and "/" not in n]
    assert manifest[0]["RepoTags"] == ["docker.io/library/busybox:v1", "quay.io/a/b:2"]
    assert sorted(repositories) == ["docker.io/library/busybox", "quay.io/a/b"]
    assert len(layer_files) == 1  # the same blob is stored once
    read_image(f"docker-archive:{target}:quay.io/a/b:2")
    with pytest.raises(InvalidImageNameError, match="must be a tagged reference"):
        TRANSPORT.parse_reference(f"{tmp_path}/u.tar").new_image_destination(
            SystemContext(docker_archive_additional_tags=("busybox",))
        )


def test_refuses_non_empty_target_and_accepts_empty(tmp_path: Path) -> None:
    existing = tmp_path / "existing.tar"
    existing.write_bytes(b"precious")
    with pytest.raises(DestinationError, match="docker-archive doesn't support modifying existing images"):
        TRANSPORT.parse_reference(str(existing)).new_image_destination(SystemContext())
    assert existing.read_bytes() == b"precious"
    empty = tmp_path / "empty.tar"
    empty.touch()
    write_image(str(empty), LAYERS)
    read_image(f"docker-archive:{empty}")
    with pytest.raises(DestinationError, match="is a directory"):
        TRANSPORT.parse_reference(str(tmp_path)).new_image_destination(SystemContext())


def test_abort_and_digest_mismatch_leave_nothing(tmp_path: Path) -> None:
    target = tmp_path / "x.tar"
    with TRANSPORT.parse_reference(str(target)).new_image_destination(SystemContext()) as dest:
        dest.put_blob(io.BytesIO(LAYERS[0]), BlobInfo(digest=Digest.from_bytes(LAYERS[0]), size=len(LAYERS[0])))
        with pytest.raises(ToolkitError, match="Digest did not match"):
            dest.put_blob(io.BytesIO(LAYERS[1]), BlobInfo(digest=Digest.from_bytes(b"other"), size=len(LAYERS[1])))
        # After a failed blob the archive is unusable; the copy must be abandoned.
        with pytest.raises(ToolkitError, match="unusable"):
            dest.put_manifest(schema2(make_config(LAYERS), []), mime.DOCKER_V2S2)
    assert list(tmp_path.iterdir()) == []
    with TRANSPORT.parse_reference(str(target)).new_image_destination(SystemContext()) as dest:
        with pytest.raises(ToolkitError, match="not written"):
            dest.put_manifest(schema2(make_config(LAYERS), []), mime.DOCKER_V2S2)
        with pytest.raises(ToolkitError, match="need a Docker schema 2 manifest"):
            dest.put_manifest(b'{"schemaVersion":2}', mime.DOCKER_V2S2)
        with pytest.raises(ToolkitError, match="commit without a manifest"):
            dest.commit()
    assert list(tmp_path.iterdir()) == []


def test_write_to_pipe(tmp_path: Path) -> None:
    """A FIFO target is written as a stream; unknown sizes are spooled to ctx.tmpdir."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    spool = tmp_path / "spool"
    spool.mkdir()
    received: list[bytes] = []

    def consume() -> None:
        with open(fifo, "rb") as f:
            received.append(f.read())

    reader = threading.Thread(target=consume)
    reader.start()
    config = write_image(f"{fifo}:busybox:p", LAYERS, ctx=SystemContext(tmpdir=spool), unknown_size=True, compress=True)
    reader.join(timeout=30)
    assert list(spool.iterdir()) == []
    out = tmp_path / "copy.tar"
    out.write_bytes(received[0])
    raw, _ = read_image(f"docker-archive:{out}")
    assert raw == expected_manifest(config, LAYERS)


def test_read_from_pipe_and_gzip(tmp_path: Path) -> None:
    target = tmp_path / "a.tar"
    config = write_image(str(target), LAYERS)
    gz = tmp_path / "a.tar.gz"
    gz.write_bytes(gzip.compress(target.read_bytes()))
    spool = tmp_path / "spool"
    spool.mkdir()
    raw, _ = read_image(f"docker-archive:{gz}", SystemContext(tmpdir=spool))
    assert raw == expected_manifest(config, LAYERS)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(gz.read_bytes()))
    writer.start()
    raw2, _ = read_image(f"docker-archive:{fifo}", SystemContext(tmpdir=spool))
    writer.join(timeout=30)
    assert raw2 == raw
    assert list(spool.iterdir()) == []  # the spooled copy was never visible


# --------------------------------------------------------------------------- multi-image


@pytest.fixture
def two_images(tmp_path: Path) -> tuple[Path, list[bytes]]:
    path = tmp_path / "multi.tar"
    configs = []
    with open(path, "wb") as f:
        writer = ArchiveWriter(f, seekable=True, ctx=SystemContext())
        for n, tags in enumerate([["busybox:1", "quay.io/x/y:2"], []]):
            layers = [tar_bytes({f"f{n}": b"x" * (n + 1)})]
            config = make_config(layers, n=n)
            configs.append(config)
            stored = []
            for layer in layers:
                info = writer.put_blob(io.BytesIO(layer), BlobInfo(digest=None))
                assert info.digest is not None
                stored.append((info.digest, info.size, mime.DOCKER_LAYER_UNCOMPRESSED))
            writer.put_blob(io.BytesIO(config), BlobInfo(digest=None), is_config=True)
            writer.add_image(schema2(config, stored), [parse_normalized_named(t) for t in tags])
        writer.finish()
    return path, configs


def test_multi_image_selection(two_images: tuple[Path, list[bytes]]) -> None:
    path, configs = two_images
    for name, config in [
        (f"{path}:@0", configs[0]),
        (f"{path}:@1", configs[1]),
        (f"{path}:busybox:1", configs[0]),
        (f"{path}:quay.io/x/y:2", configs[0]),
    ]:
        _raw, blobs = read_image(f"docker-archive:{name}")
        assert blobs[str(Digest.from_bytes(config))] == config
    with pytest.raises(ArchiveError, match="expected 1 item, got 2"):
        read_image(f"docker-archive:{path}")
    with pytest.raises(ImageNotFoundError, match=r"only 2 manifest items"):
        read_image(f"docker-archive:{path}:@2")
    with pytest.raises(ImageNotFoundError, match=r'Tag "docker\.io/library/busybox:2" not found'):
        read_image(f"docker-archive:{path}:busybox:2")
    assert archive_tags(str(path)) == ["docker.io/library/busybox:1", "quay.io/x/y:2", "@1"]


def test_ambiguous_tag_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "amb.tar"
    config = make_config([LAYERS[0]])
    cname = Digest.from_bytes(config).hex + ".json"
    lname = hashlib.sha256(LAYERS[0]).hexdigest() + ".tar"
    item = {"Config": cname, "RepoTags": ["busybox:1"], "Layers": [lname]}
    raw_archive(path, [(cname, config), (lname, LAYERS[0]), ("manifest.json", json.dumps([item, item]).encode())])
    with pytest.raises(ArchiveError, match="ambiguous"):
        read_image(f"docker-archive:{path}:busybox:1")


# --------------------------------------------------------------------------- hostile archives


def _simple_archive(path: Path, *, config_name: str | None = None, layer_names: list[str] | None = None,
                    extra: list[tuple[str, Any]] | None = None, manifest: Any = None) -> None:
    config = make_config([LAYERS[0]])
    cname = Digest.from_bytes(config).hex + ".json"
    lname = hashlib.sha256(LAYERS[0]).hexdigest() + ".tar"
    item = {"Config": config_name or cname, "RepoTags": None, "Layers": layer_names or [lname]}
    entries: list[tuple[str, Any]] = [(cname, config), (lname, LAYERS[0]), *(extra or [])]
    entries.append(("manifest.json", json.dumps(manifest if manifest is not None else [item]).encode()))
    raw_archive(path, entries)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"config_name": "../../etc/passwd"}, ArchiveError, "does not exist"),
        ({"config_name": "/etc/passwd"}, ArchiveError, "does not exist"),
        ({"layer_names": ["/etc/passwd"]}, ArchiveError, "does not exist"),
        ({"layer_names": ["../../../../etc/passwd"]}, ArchiveError, "does not exist"),
        ({"layer_names": ["evil/layer.tar"], "extra": [("evil/layer.tar", ("sym", "../../../../etc/passwd"))]},
         ArchiveError, "outside the archive"),
        ({"layer_names": ["evil/layer.tar"], "extra": [("evil/layer.tar", ("sym", "/etc/passwd"))]},
         ArchiveError, "absolute"),
        ({"layer_names": ["evil/layer.tar"], "extra": [("evil/layer.tar", ("sym", "../nothing.tar"))]},
         ArchiveError, "does not exist"),
        ({"layer_names": ["dev"], "extra": [("dev", ("dev",))]}, ArchiveError, "not a regular file"),
        ({"layer_names": ["hl"], "extra": [("hl", ("link", "/etc/shadow"))]}, ArchiveError, "absolute"),
        ({"extra": [("manifest.json", b"[]")]}, ArchiveError, "ambiguous"),
        ({"manifest": {"a": 1}}, ArchiveError, "expected a JSON array"),
        ({"manifest": [{"Config": 5, "Layers": []}]}, ArchiveError, '"Config" must be a string'),
        ({"manifest": [{"config": "x", "Config": "y"}]}, ArchiveError, "non-canonical"),
        ({"manifest": [{"Config": "x", "Layers": {}}]}, ArchiveError, "array of strings"),
        ({"layer_names": ["a", "b"]}, ArchiveError, "Inconsistent layer count"),
    ],
)
def test_hostile_archives(tmp_path: Path, kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    path = tmp_path / "bad.tar"
    _simple_archive(path, **kwargs)
    with pytest.raises(error, match=message):
        read_image(f"docker-archive:{path}")


def test_duplicate_manifest_keys_and_missing_manifest(tmp_path: Path) -> None:
    path = tmp_path / "dup.tar"
    raw_archive(path, [("manifest.json", b'[{"Config":"a","Config":"b","Layers":[]}]')])
    with pytest.raises(ArchiveError, match="duplicate key"):
        read_image(f"docker-archive:{path}")
    raw_archive(path, [("other", b"x")])
    with pytest.raises(ArchiveError, match=r'"manifest\.json" does not exist'):
        read_image(f"docker-archive:{path}")
    with pytest.raises(ImageNotFoundError):
        read_image(f"docker-archive:{tmp_path}/missing.tar")


def test_truncated_and_corrupt_layers(tmp_path: Path) -> None:
    path = tmp_path / "t.tar"
    write_image(str(path), LAYERS)
    data = path.read_bytes()
    truncated = tmp_path / "trunc.tar"
    truncated.write_bytes(data[: len(data) // 3])
    with pytest.raises(ArchiveError, match=r"truncated|unexpected end"):
        read_image(f"docker-archive:{truncated}")
    # Flip one byte inside the first layer: the diffID check catches it at EOF.
    lname = hashlib.sha256(LAYERS[0]).hexdigest() + ".tar"
    with tarfile.open(path) as tar:
        offset = tar.getmember(lname).offset_data
    corrupt = bytearray(data)
    corrupt[offset + 600] ^= 0xFF
    bad = tmp_path / "corrupt.tar"
    bad.write_bytes(bytes(corrupt))
    with pytest.raises(ToolkitError, match="Digest did not match"):
        read_image(f"docker-archive:{bad}")
    # Bad tar header checksum.
    corrupt = bytearray(data)
    corrupt[10] ^= 0xFF
    bad.write_bytes(bytes(corrupt))
    with pytest.raises(ArchiveError, match="checksum"):
        read_image(f"docker-archive:{bad}")


def test_gzip_bomb_archive(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.tar.gz"
    with gzip.open(bomb, "wb", compresslevel=1) as f:
        chunk = b"\0" * (1 << 20)
        for _ in range(64):
            f.write(chunk)
    spool = tmp_path / "spool"
    spool.mkdir()
    with pytest.raises(SizeLimitError):
        read_image(f"docker-archive:{bomb}", SystemContext(tmpdir=spool, max_decompressed_size=1 << 20))
    assert list(spool.iterdir()) == []


def test_compressed_layer_bomb(tmp_path: Path) -> None:
    """A gzip layer file inside the archive is decompressed under the budget too."""
    big = tar_bytes({"zeros": b"\0" * (4 << 20)})
    path = tmp_path / "l.tar"
    config = make_config([big])
    cname = Digest.from_bytes(config).hex + ".json"
    item = {"Config": cname, "RepoTags": [], "Layers": ["l.tar.gz"]}
    manifest = json.dumps([item]).encode()
    raw_archive(path, [(cname, config), ("l.tar.gz", gzip.compress(big)), ("manifest.json", manifest)])
    with pytest.raises(SizeLimitError):
        read_image(f"docker-archive:{path}", SystemContext(max_decompressed_size=1 << 20))
    _raw, blobs = read_image(f"docker-archive:{path}")
    assert blobs["sha256:" + hashlib.sha256(big).hexdigest()] == big


# --------------------------------------------------------------------------- interop (skopeo 1.9.3)


def make_dir_image(path: Path, layers: list[bytes], *, compress: bool = False) -> bytes:
    path.mkdir()
    config = make_config(layers)
    stored = []
    for layer in layers:
        data = gzip.compress(layer, mtime=0) if compress else layer
        (path / hashlib.sha256(data).hexdigest()).write_bytes(data)
        stored.append((Digest.from_bytes(data), len(data),
                       mime.DOCKER_LAYER_GZIP if compress else mime.DOCKER_LAYER_UNCOMPRESSED))
    (path / Digest.from_bytes(config).hex).write_bytes(config)
    (path / "manifest.json").write_bytes(schema2(config, stored))
    (path / "version").write_text("Directory Transport Version: 1.1\n")
    return config


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_peer_skopeo_writes_we_read(tmp_path: Path, skopeo: Any, compress: bool) -> None:
    make_dir_image(tmp_path / "src", LAYERS, compress=compress)
    archive = tmp_path / "s.tar"
    skopeo.run("copy", f"dir:{tmp_path / 'src'}", f"docker-archive:{archive}:busybox:v1")
    theirs = skopeo.run("inspect", "--raw", f"docker-archive:{archive}").stdout
    ours, _ = read_image(f"docker-archive:{archive}")
    assert ours == theirs
    assert hashlib.sha256(ours).hexdigest() == hashlib.sha256(theirs).hexdigest()
    listed = json.loads(skopeo.run("list-tags", f"docker-archive:{archive}").stdout)
    assert listed["Tags"] == archive_tags(str(archive))


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip-kept"])
def test_peer_skopeo_reads_what_we_write(tmp_path: Path, skopeo: Any, compress: bool) -> None:
    archive = tmp_path / "o.tar"
    config = write_image(f"{archive}:quay.io/ns/img:3", LAYERS, compress=compress,
                         ctx=SystemContext(docker_archive_additional_tags=("busybox:extra",)))
    theirs = skopeo.run("inspect", "--raw", f"docker-archive:{archive}:quay.io/ns/img:3").stdout
    ours, _ = read_image(f"docker-archive:{archive}")
    assert theirs == ours == expected_manifest(config, LAYERS)
    inspect = json.loads(skopeo.run("inspect", f"docker-archive:{archive}:busybox:extra").stdout)
    assert inspect["Layers"] == ["sha256:" + hashlib.sha256(x).hexdigest() for x in LAYERS]
    out = tmp_path / "dir-out"
    skopeo.run("copy", f"docker-archive:{archive}", f"dir:{out}")
    assert (out / Digest.from_bytes(config).hex).read_bytes() == config
    for layer in LAYERS:
        assert (out / hashlib.sha256(layer).hexdigest()).read_bytes() == layer
    listed = json.loads(skopeo.run("list-tags", f"docker-archive:{archive}").stdout)
    assert listed["Tags"] == archive_tags(str(archive)) == ["quay.io/ns/img:3", "docker.io/library/busybox:extra"]


def test_peer_multi_image_list_tags(two_images: tuple[Path, list[bytes]], skopeo: Any) -> None:
    path, _ = two_images
    listed = json.loads(skopeo.run("list-tags", f"docker-archive:{path}").stdout)
    assert listed["Tags"] == archive_tags(str(path))
    for sel in ("@0", "@1", "busybox:1"):
        theirs = skopeo.run("inspect", "--raw", f"docker-archive:{path}:{sel}").stdout
        ours, _ = read_image(f"docker-archive:{path}:{sel}")
        assert ours == theirs


def test_unknown_digest_on_a_seekable_output_uses_no_temp_space(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A layer compressed on the fly (digest unknown) is streamed, its name patched in place;
    the same bytes twice are stored once."""
    import toolkit.transports._docker_tar as docker_tar

    def no_spool(*_args: object) -> None:
        raise AssertionError("spooled to a temp file")

    monkeypatch.setattr(docker_tar, "spool_to_temp", no_spool)
    layer = gzip.compress(LAYERS[0], mtime=0)
    path = tmp_path / "c.tar"
    with open(path, "wb") as f:
        writer = ArchiveWriter(f, seekable=True, ctx=SystemContext())
        first = writer.put_blob(io.BytesIO(layer), BlobInfo(digest=None))
        again = writer.put_blob(io.BytesIO(layer), BlobInfo(digest=None))
        assert first.digest == again.digest == Digest.from_bytes(layer)
        assert first.size == again.size == len(layer)
        config = make_config([LAYERS[0]])
        writer.put_blob(io.BytesIO(config), BlobInfo(digest=None), is_config=True)
        assert first.digest is not None
        writer.add_image(schema2(config, [(first.digest, first.size, mime.DOCKER_LAYER_GZIP)]), [])
        writer.finish()
    with tarfile.open(path) as t:
        names = t.getnames()
        assert names.count(f"{first.digest.hex}.tar") == 1
        assert t.extractfile(f"{first.digest.hex}.tar").read() == layer  # type: ignore[union-attr]
    _raw, blobs = read_image(f"docker-archive:{path}")
    assert LAYERS[0] in blobs.values()


def test_unknown_digest_with_wrong_size_fails(tmp_path: Path) -> None:
    with open(tmp_path / "w.tar", "wb") as f:
        writer = ArchiveWriter(f, seekable=True, ctx=SystemContext())
        with pytest.raises(SizeMismatchError):
            writer.put_blob(io.BytesIO(b"abc"), BlobInfo(digest=None, size=4))
        with pytest.raises(ArchiveError, match="unusable"):
            writer.put_blob(io.BytesIO(b"abc"), BlobInfo(digest=None))
