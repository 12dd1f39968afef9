"""`skopo copy` between the local transports, checked against skopeo 1.9.3 both ways.

skopo writes -> skopeo reads it (`inspect --raw`, `copy ... dir:`, which verifies every
blob), and where the copy needs no recompression the manifest skopo writes is byte-identical
to the one skopeo writes for the same copy (same digest, so same config and layer blobs).
skopeo writes -> skopo reads it, and the `dir:` copy skopo makes of it holds the same bytes
as the one skopeo makes. Every skopo copy keeps stdout empty (progress goes to stderr).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from subprocess import CompletedProcess

import pytest
import zstandard

from helpers import Skopeo, SkopoRunner, assert_clean_error, describe_result
from helpers.images import (
    OCI_REF_NAME,
    BuiltImage,
    build_image,
    build_multiarch,
    random_layer_tar,
    write_dir,
    write_oci_layout,
)
from helpers.trees import leftovers, snapshot

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

# ---------------------------------------------------------------- helpers


def copy_ok(run_skopo: SkopoRunner, *args: str | Path) -> CompletedProcess[bytes]:
    """`skopo --insecure-policy copy ARGS`; must succeed and print nothing on stdout."""
    result = run_skopo("--insecure-policy", "copy", *args)
    assert result.returncode == 0, describe_result(result)
    assert result.stdout == b"", f"stdout must stay empty\n{describe_result(result)}"
    return result


def copy_fails(run_skopo: SkopoRunner, *args: str | Path, match: str | None = None) -> str:
    """`skopo copy -q ARGS` must fail with one clean line on stderr (`-q`: no progress lines)."""
    result = run_skopo("--insecure-policy", "copy", "-q", *args)
    assert result.stdout == b"", describe_result(result)
    return assert_clean_error(result, match=match)


def raw(skopeo: Skopeo, ref: str) -> bytes:
    """The top-level manifest as skopeo reads it."""
    return skopeo.run("inspect", "--raw", ref).stdout


def skopeo_digest(skopeo: Skopeo, tmp_path: Path, manifest: bytes) -> str:
    """`skopeo manifest-digest` of `manifest` bytes."""
    path = tmp_path / f"m-{hashlib.sha256(manifest).hexdigest()[:12]}.json"
    path.write_bytes(manifest)
    return skopeo.run("manifest-digest", path).stdout.decode().strip()


def dir_files(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())}


def layers_of(manifest: bytes) -> list[dict[str, object]]:
    layers = json.loads(manifest)["layers"]
    assert isinstance(layers, list)
    return layers


def check_diff_ids(dir_path: Path) -> None:
    """Every layer in the `dir:` image at `dir_path` decompresses to its config diffID."""
    manifest = json.loads((dir_path / "manifest.json").read_bytes())
    config = json.loads((dir_path / manifest["config"]["digest"].split(":")[1]).read_bytes())
    diff_ids = config["rootfs"]["diff_ids"]
    assert len(diff_ids) == len(manifest["layers"])
    for layer, diff_id in zip(manifest["layers"], diff_ids, strict=True):
        data = (dir_path / layer["digest"].split(":")[1]).read_bytes()
        if data.startswith(GZIP_MAGIC):
            data = gzip.decompress(data)
        elif data.startswith(ZSTD_MAGIC):
            data = zstandard.ZstdDecompressor().decompressobj().decompress(data)
        assert "sha256:" + hashlib.sha256(data).hexdigest() == diff_id


def skopeo_reads(skopeo: Skopeo, ref: str, out: Path, *flags: str) -> Path:
    """skopeo copies `ref` to `dir:out` (verifying every blob it reads)."""
    skopeo.run("copy", *flags, ref, f"dir:{out}")
    return out


# ---------------------------------------------------------------- sources

KINDS = ("dir", "oci", "oci-archive", "docker-archive")


def dest_ref(kind: str, base: Path) -> str:
    """A destination of `kind` at `base` (plus a suffix for files)."""
    return {
        "dir": f"dir:{base}",
        "oci": f"oci:{base}:dest",
        "oci-archive": f"oci-archive:{base}.tar:dest",
        "docker-archive": f"docker-archive:{base}.tar:example.com/dest/img:v1",
    }[kind]


def make_source(kind: str, tmp_path: Path, skopeo: Skopeo, *, compression: str = "gzip", fmt: str = "docker") -> str:
    """A source of `kind` holding a small image (archives are written by skopeo)."""
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    if kind == "tarball":
        layer = random_layer_tar(11, 3000)
        path = src / "layer.tar.gz"
        path.write_bytes(gzip.compress(layer, mtime=0) if compression == "gzip" else layer)
        return f"tarball:{path}"
    image = build_image(fmt="oci" if kind in ("oci", "oci-archive") else fmt, layer_count=2,
                        compression=compression, seed=7)  # type: ignore[arg-type]
    if kind == "dir":
        return f"dir:{write_dir(image, src / 'dir')}"
    if kind == "oci":
        return f"oci:{write_oci_layout(image, src / 'oci', 'latest')}:latest"
    if kind == "oci-archive":
        write_oci_layout(image, src / "oci-for-archive", "latest")
        skopeo.run("copy", f"oci:{src / 'oci-for-archive'}:latest", f"oci-archive:{src / 'oa.tar'}:latest")
        return f"oci-archive:{src / 'oa.tar'}:latest"
    assert kind == "docker-archive"
    write_dir(image, src / "dir-for-archive")
    skopeo.run("copy", f"dir:{src / 'dir-for-archive'}", f"docker-archive:{src / 'da.tar'}:example.com/src/img:v1")
    return f"docker-archive:{src / 'da.tar'}"


def _recompresses(src_kind: str, dst_kind: str, compression: str) -> bool:
    """True if the copy compresses layers (gzip output differs between the tools)."""
    if dst_kind not in ("oci", "oci-archive"):
        return False
    # docker-archive sources serve uncompressed layers; oci-archive sources here were
    # written by skopeo (already compressed).
    return src_kind == "docker-archive" or (compression == "none" and src_kind in ("dir", "oci"))


# ---------------------------------------------------------------- skopo writes, both read


MATRIX = [(s, d, "gzip") for s in (*KINDS, "tarball") for d in KINDS] + [
    (s, d, "none") for s in ("dir",) for d in KINDS
]


@pytest.mark.parametrize(("src_kind", "dst_kind", "compression"), MATRIX,
                         ids=[f"{s}-to-{d}-{c}" for s, d, c in MATRIX])
def test_local_pair_matches_skopeo(
    run_skopo: SkopoRunner, skopeo: Skopeo, tmp_path: Path, src_kind: str, dst_kind: str, compression: str
) -> None:
    src = make_source(src_kind, tmp_path, skopeo, compression=compression)
    ours, theirs = dest_ref(dst_kind, tmp_path / "ours"), dest_ref(dst_kind, tmp_path / "theirs")
    result = copy_ok(run_skopo, src, ours)
    assert b"Writing manifest to image destination" in result.stderr
    skopeo.run("copy", src, theirs)

    our_raw, their_raw = raw(skopeo, ours), raw(skopeo, theirs)
    check_ours = skopeo_reads(skopeo, ours, tmp_path / "check-ours")
    check_theirs = skopeo_reads(skopeo, theirs, tmp_path / "check-theirs")
    assert (check_ours / "manifest.json").read_bytes() == our_raw
    check_diff_ids(check_ours)
    if not _recompresses(src_kind, dst_kind, compression):
        assert skopeo_digest(skopeo, tmp_path, our_raw) == skopeo_digest(skopeo, tmp_path, their_raw)
        assert our_raw == their_raw
        assert dir_files(check_ours) == dir_files(check_theirs)
    else:
        ours_doc, theirs_doc = json.loads(our_raw), json.loads(their_raw)
        assert ours_doc["mediaType"] == theirs_doc["mediaType"]
        assert ours_doc["config"] == theirs_doc["config"]
        assert [x["mediaType"] for x in ours_doc["layers"]] == [x["mediaType"] for x in theirs_doc["layers"]]
        for layer in ours_doc["layers"]:
            assert (check_ours / layer["digest"].split(":")[1]).read_bytes().startswith(GZIP_MAGIC)


@pytest.mark.parametrize("fmt", ["docker", "oci"])
@pytest.mark.parametrize("kind", KINDS)
def test_skopo_reads_what_skopeo_writes(
    run_skopo: SkopoRunner, skopeo: Skopeo, tmp_path: Path, kind: str, fmt: str
) -> None:
    image = build_image(fmt=fmt, layer_count=2, seed=21)  # type: ignore[arg-type]
    origin = write_dir(image, tmp_path / "origin")
    written = dest_ref(kind, tmp_path / "by-skopeo")
    skopeo.run("copy", f"dir:{origin}", written)
    copy_ok(run_skopo, written, f"dir:{tmp_path / 'ours'}")
    skopeo.run("copy", written, f"dir:{tmp_path / 'theirs'}")
    assert dir_files(tmp_path / "ours") == dir_files(tmp_path / "theirs")


# ---------------------------------------------------------------- multi-arch


@pytest.mark.parametrize("fmt", ["oci", "docker"])
@pytest.mark.parametrize("dst_kind", ["dir", "oci", "oci-archive"])
def test_all_instances_match_skopeo(
    run_skopo: SkopoRunner, skopeo: Skopeo, tmp_path: Path, fmt: str, dst_kind: str
) -> None:
    index = build_multiarch(fmt=fmt)  # type: ignore[arg-type]
    src = f"dir:{write_dir(index, tmp_path / 'src')}"
    ours, theirs = dest_ref(dst_kind, tmp_path / "ours"), dest_ref(dst_kind, tmp_path / "theirs")
    copy_ok(run_skopo, "--all", src, ours)
    skopeo.run("copy", "--all", src, theirs)
    our_raw = raw(skopeo, ours)
    assert our_raw == raw(skopeo, theirs)
    if fmt == "oci" or dst_kind == "dir":
        assert our_raw == index.manifest  # nothing to convert
    skopeo_reads(skopeo, ours, tmp_path / "check-ours", "--all")
    skopeo_reads(skopeo, theirs, tmp_path / "check-theirs", "--all")
    assert dir_files(tmp_path / "check-ours") == dir_files(tmp_path / "check-theirs")


@pytest.mark.parametrize("dst_kind", ["dir", "oci", "docker-archive"])
def test_default_copies_the_system_instance(
    run_skopo: SkopoRunner, skopeo: Skopeo, tmp_path: Path, dst_kind: str
) -> None:
    index = build_multiarch(fmt="docker")
    src = f"dir:{write_dir(index, tmp_path / 'srcdir')}"
    ours, theirs = dest_ref(dst_kind, tmp_path / "ours"), dest_ref(dst_kind, tmp_path / "theirs")
    copy_ok(run_skopo, src, ours)
    skopeo.run("copy", src, theirs)
    our_raw = raw(skopeo, ours)
    assert our_raw == raw(skopeo, theirs)
    if dst_kind == "dir":
        assert our_raw == index.image_for("amd64").manifest


def test_override_arch_picks_that_instance(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    index = build_multiarch(fmt="oci")
    src = f"oci:{write_oci_layout(index, tmp_path / 'src', 'ml')}:ml"
    result = run_skopo("--insecure-policy", "--override-arch", "arm64", "copy", src, f"dir:{tmp_path / 'out'}")
    assert result.returncode == 0, describe_result(result)
    assert (tmp_path / "out" / "manifest.json").read_bytes() == index.image_for("arm64").manifest


def test_index_only_into_layout_holding_the_instances(
    run_skopo: SkopoRunner, skopeo: Skopeo, tmp_path: Path
) -> None:
    index = build_multiarch(fmt="oci")
    src = f"oci:{write_oci_layout(index, tmp_path / 'src', 'ml')}:ml"
    layout = tmp_path / "layout"
    copy_ok(run_skopo, "--all", src, f"oci:{layout}:first")
    blobs_before = sorted(p.name for p in (layout / "blobs" / "sha256").iterdir())
    copy_ok(run_skopo, "--multi-arch", "index-only", src, f"oci:{layout}:second")
    assert sorted(p.name for p in (layout / "blobs" / "sha256").iterdir()) == blobs_before
    entries = {
        m["annotations"][OCI_REF_NAME]: m for m in json.loads((layout / "index.json").read_bytes())["manifests"]
    }
    assert entries["second"]["digest"] == index.manifest_digest
    assert raw(skopeo, f"oci:{layout}:second") == index.manifest
    skopeo_reads(skopeo, f"oci:{layout}:second", tmp_path / "check", "--all")


def test_all_to_docker_archive_is_refused(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    index = build_multiarch(fmt="docker")
    src = f"dir:{write_dir(index, tmp_path / 'src')}"
    copy_fails(run_skopo, "--all", src, f"docker-archive:{tmp_path / 'out.tar'}", match="multiple images")
    assert not (tmp_path / "out.tar").exists()
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------- conversions and compression


@pytest.mark.parametrize(("fmt", "flag", "dst_kind"), [("docker", "oci", "dir"), ("oci", "v2s2", "dir"),
                                                      ("docker", "oci", "oci")])
def test_format_conversion_matches_skopeo(
    run_skopo: SkopoRunner, skopeo: Skopeo, tmp_path: Path, fmt: str, flag: str, dst_kind: str
) -> None:
    image = build_image(fmt=fmt, layer_count=2, seed=31)  # type: ignore[arg-type]
    src = f"dir:{write_dir(image, tmp_path / 'src')}"
    ours, theirs = dest_ref(dst_kind, tmp_path / "ours"), dest_ref(dst_kind, tmp_path / "theirs")
    copy_ok(run_skopo, "--format", flag, src, ours)
    skopeo.run("copy", "--format", flag, src, theirs)
    our_raw = raw(skopeo, ours)
    assert our_raw != image.manifest
    assert our_raw == raw(skopeo, theirs)
    check = skopeo_reads(skopeo, ours, tmp_path / "check")
    assert dir_files(check) == dir_files(skopeo_reads(skopeo, theirs, tmp_path / "check2"))


def test_format_v2s2_to_oci_is_refused(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    image = build_image(fmt="oci", seed=32)
    src = f"dir:{write_dir(image, tmp_path / 'src')}"
    copy_fails(run_skopo, "--format", "v2s2", src, f"oci:{tmp_path / 'out'}:x")
    assert not (tmp_path / "out" / "index.json").exists()


def test_dest_compress_to_dir(run_skopo: SkopoRunner, skopeo: Skopeo, tmp_path: Path) -> None:
    image = build_image(fmt="docker", compression="none", layer_count=2, seed=41)
    src = f"dir:{write_dir(image, tmp_path / 'src')}"
    out = tmp_path / "out"
    copy_ok(run_skopo, "--dest-compress", src, f"dir:{out}")
    manifest = (out / "manifest.json").read_bytes()
    for layer in layers_of(manifest):
        assert layer["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar.gzip"
        assert (out / str(layer["digest"]).split(":")[1]).read_bytes().startswith(GZIP_MAGIC)
    check_diff_ids(skopeo_reads(skopeo, f"dir:{out}", tmp_path / "check"))


def test_dest_decompress_to_dir_matches_skopeo(run_skopo: SkopoRunner, skopeo: Skopeo, tmp_path: Path) -> None:
    image = build_image(fmt="oci", compression="gzip", layer_count=2, seed=42)
    src = f"dir:{write_dir(image, tmp_path / 'src')}"
    copy_ok(run_skopo, "--dest-decompress", src, f"dir:{tmp_path / 'ours'}")
    skopeo.run("copy", "--dest-decompress", src, f"dir:{tmp_path / 'theirs'}")
    assert dir_files(tmp_path / "ours") == dir_files(tmp_path / "theirs")
    for layer in layers_of((tmp_path / "ours" / "manifest.json").read_bytes()):
        assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar"
    check_diff_ids(tmp_path / "ours")


def test_zstd_to_oci(run_skopo: SkopoRunner, skopeo: Skopeo, tmp_path: Path) -> None:
    image = build_image(fmt="oci", compression="gzip", layer_count=2, seed=43)
    src = f"oci:{write_oci_layout(image, tmp_path / 'src', 'latest')}:latest"
    out = tmp_path / "out"
    copy_ok(run_skopo, "--dest-compress-format", "zstd", src, f"oci:{out}:z")
    manifest = raw(skopeo, f"oci:{out}:z")
    for layer in layers_of(manifest):
        assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd"
        assert (out / "blobs" / "sha256" / str(layer["digest"]).split(":")[1]).read_bytes().startswith(ZSTD_MAGIC)
    check_diff_ids(skopeo_reads(skopeo, f"oci:{out}:z", tmp_path / "check"))


def test_oci_accept_uncompressed_layers(run_skopo: SkopoRunner, skopeo: Skopeo, tmp_path: Path) -> None:
    image = build_image(fmt="oci", compression="none", layer_count=2, seed=44)
    src = f"oci:{write_oci_layout(image, tmp_path / 'src', 'latest')}:latest"
    copy_ok(run_skopo, "--dest-oci-accept-uncompressed-layers", src, f"oci:{tmp_path / 'ours'}:u")
    skopeo.run("copy", "--dest-oci-accept-uncompressed-layers", src, f"oci:{tmp_path / 'theirs'}:u")
    our_raw = raw(skopeo, f"oci:{tmp_path / 'ours'}:u")
    assert our_raw == image.manifest
    assert our_raw == raw(skopeo, f"oci:{tmp_path / 'theirs'}:u")
    # Without the flag, layers are compressed for an OCI destination.
    copy_ok(run_skopo, src, f"oci:{tmp_path / 'gz'}:g")
    for layer in layers_of(raw(skopeo, f"oci:{tmp_path / 'gz'}:g")):
        assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"


def test_preserve_digests_refuses_a_conversion(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    image = build_image(fmt="oci", seed=45)
    src = f"dir:{write_dir(image, tmp_path / 'src')}"
    copy_fails(run_skopo, "--preserve-digests", "--format", "v2s2", src, f"dir:{tmp_path / 'out'}",
               match="(?i)preserve digests|cannot")
    assert not (tmp_path / "out").exists()
    assert leftovers(tmp_path) == []
    # Without a conversion it is fine, and the digest is kept.
    copy_ok(run_skopo, "--preserve-digests", src, f"dir:{tmp_path / 'ok'}")
    assert (tmp_path / "ok" / "manifest.json").read_bytes() == image.manifest


@pytest.mark.parametrize("dst_kind", KINDS)
def test_digestfile(run_skopo: SkopoRunner, skopeo: Skopeo, tmp_path: Path, dst_kind: str) -> None:
    image = build_image(fmt="docker", seed=46)
    src = f"dir:{write_dir(image, tmp_path / 'src')}"
    dest = dest_ref(dst_kind, tmp_path / "out")
    digestfile = tmp_path / "digest"
    copy_ok(run_skopo, "--digestfile", digestfile, src, dest)
    content = digestfile.read_bytes()
    assert not content.endswith(b"\n")
    theirs = tmp_path / "their-digest"
    skopeo.run("copy", "--digestfile", theirs, src, dest_ref(dst_kind, tmp_path / "theirs"))
    assert content == theirs.read_bytes()
    if dst_kind != "docker-archive":  # an archive's manifest is regenerated when read back
        assert content.decode() == skopeo_digest(skopeo, tmp_path, raw(skopeo, dest))


# ---------------------------------------------------------------- signatures


def _signed_dir(tmp_path: Path, image: BuiltImage) -> Path:
    src = write_dir(image, tmp_path / "signed")
    (src / "signature-1").write_bytes(b"\x89any signature bytes\x00\xff")
    (src / "signature-2").write_bytes(b"\xa3second")
    return src


def test_dir_signatures_are_copied(run_skopo: SkopoRunner, skopeo: Skopeo, tmp_path: Path) -> None:
    src = _signed_dir(tmp_path, build_image(seed=51))
    copy_ok(run_skopo, f"dir:{src}", f"dir:{tmp_path / 'out'}")
    assert (tmp_path / "out" / "signature-1").read_bytes() == (src / "signature-1").read_bytes()
    assert (tmp_path / "out" / "signature-2").read_bytes() == b"\xa3second"
    skopeo.run("copy", f"dir:{tmp_path / 'out'}", f"dir:{tmp_path / 'theirs'}")
    assert (tmp_path / "theirs" / "signature-1").read_bytes() == (src / "signature-1").read_bytes()


def test_remove_signatures(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    src = _signed_dir(tmp_path, build_image(seed=52))
    copy_ok(run_skopo, "--remove-signatures", f"dir:{src}", f"dir:{tmp_path / 'out'}")
    assert not list((tmp_path / "out").glob("signature-*"))
    copy_ok(run_skopo, "--remove-signatures", f"dir:{src}", f"oci:{tmp_path / 'oci'}:x")


@pytest.mark.parametrize("dst_kind", ["oci", "oci-archive", "docker-archive"])
def test_signatures_to_unsupporting_destination_fail_cleanly(
    run_skopo: SkopoRunner, tmp_path: Path, dst_kind: str
) -> None:
    src = _signed_dir(tmp_path, build_image(seed=53))
    base = tmp_path / "dest"
    if dst_kind == "oci":
        write_oci_layout(build_image(fmt="oci", seed=54), base, "other")
    before = snapshot(tmp_path / "dest") if dst_kind == "oci" else {}
    line = copy_fails(run_skopo, f"dir:{src}", dest_ref(dst_kind, base), match="(?i)signature")
    assert "signature" in line.lower()
    after = snapshot(base) if dst_kind == "oci" else snapshot(Path(f"{base}.tar"))
    assert after == before
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------- docker-archive specifics


def test_additional_tags(run_skopo: SkopoRunner, skopeo: Skopeo, tmp_path: Path) -> None:
    src = f"dir:{write_dir(build_image(seed=61), tmp_path / 'src')}"
    archive = tmp_path / "tags.tar"
    copy_ok(run_skopo, "--additional-tag", "example.com/extra:one", "--additional-tag", "busybox:two",
            src, f"docker-archive:{archive}:example.com/main:v1")
    tags = json.loads(skopeo.run("list-tags", f"docker-archive:{archive}").stdout)["Tags"]
    assert tags == ["example.com/main:v1", "example.com/extra:one", "docker.io/library/busybox:two"]
    with tarfile.open(archive) as tar:
        repositories = json.loads(tar.extractfile("repositories").read())  # type: ignore[union-attr]
    assert set(repositories) == {"example.com/main", "example.com/extra", "docker.io/library/busybox"}


def _two_image_archive(tmp_path: Path, skopeo: Skopeo) -> tuple[Path, list[BuiltImage]]:
    """An archive holding two images (skopeo writes one per archive; merge two)."""
    images = [build_image(seed=71), build_image(seed=72, layer_count=1)]
    members: dict[str, tuple[tarfile.TarInfo, bytes | None]] = {}
    manifest: list[object] = []
    repositories: dict[str, object] = {}
    for i, image in enumerate(images):
        src = write_dir(image, tmp_path / f"img{i}")
        part = tmp_path / f"part{i}.tar"
        skopeo.run("copy", f"dir:{src}", f"docker-archive:{part}:example.com/multi/img{i}:t{i}")
        with tarfile.open(part) as tar:
            for info in tar.getmembers():
                if info.name == "manifest.json":
                    manifest.extend(json.loads(tar.extractfile(info).read()))  # type: ignore[union-attr]
                elif info.name == "repositories":
                    repositories.update(json.loads(tar.extractfile(info).read()))  # type: ignore[union-attr]
                else:
                    f = tar.extractfile(info) if info.isfile() else None
                    members[info.name] = (info, f.read() if f else None)
    out = tmp_path / "two.tar"
    with tarfile.open(out, "w") as tar:
        for info, data in members.values():
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
        for name, doc in (("manifest.json", manifest), ("repositories", repositories)):
            blob = json.dumps(doc).encode()
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return out, images


def test_docker_archive_image_selection(run_skopo: SkopoRunner, skopeo: Skopeo, tmp_path: Path) -> None:
    archive, images = _two_image_archive(tmp_path, skopeo)
    selections = [
        (f"docker-archive:{archive}:@1", 1),
        (f"docker-archive:{archive}:@0", 0),
        (f"docker-archive:{archive}:example.com/multi/img1:t1", 1),
        (f"docker-archive:{archive}:example.com/multi/img0:t0", 0),
    ]
    for n, (src, index) in enumerate(selections):
        ours, theirs = tmp_path / f"ours{n}", tmp_path / f"theirs{n}"
        copy_ok(run_skopo, src, f"dir:{ours}")
        skopeo.run("copy", src, f"dir:{theirs}")
        assert dir_files(ours) == dir_files(theirs)
        config = json.loads((ours / images[index].config_digest.split(":")[1]).read_bytes())
        assert config["rootfs"]["diff_ids"] == images[index].diff_ids
    # Neither a reference nor @N: ambiguous.
    copy_fails(run_skopo, f"docker-archive:{archive}", f"dir:{tmp_path / 'none'}")
    copy_fails(run_skopo, f"docker-archive:{archive}:@2", f"dir:{tmp_path / 'none'}")
    assert not (tmp_path / "none").exists()


# ---------------------------------------------------------------- output


@pytest.mark.parametrize("dst_kind", ["oci", "docker-archive"])
def test_quiet_prints_nothing(run_skopo: SkopoRunner, tmp_path: Path, dst_kind: str) -> None:
    src = f"dir:{write_dir(build_image(seed=81), tmp_path / 'src')}"
    result = run_skopo("--insecure-policy", "copy", "-q", src, dest_ref(dst_kind, tmp_path / "out"))
    assert result.returncode == 0, describe_result(result)
    assert result.stdout == b"" and result.stderr == b"", describe_result(result)

