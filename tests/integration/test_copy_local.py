"""`skopo copy` to docker-archive streams, and concurrent copies into one OCI layout.

- `docker-archive:/dev/stdout`, `docker-archive:-` and a pipe into skopeo reading
  `docker-archive:/dev/stdin` give a valid archive, and nothing but the archive goes to
  stdout (progress is on stderr). With `--dest-compress` the layers stay gzip in the
  archive and the archive is about the compressed size.
- 8 processes copying into one `oci:` layout at once: no tag is lost, index.json stays
  valid, every blob file hashes to its name (security.md §3, concurrent writers).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from helpers import Skopeo, SkopoRunner, describe_result
from helpers.images import (
    OCI_REF_NAME,
    BuiltImage,
    build_image,
    make_layer,
    tar_bytes,
    write_dir,
)
from helpers.trees import leftovers

# ---------------------------------------------------------------- helpers


def _compressible_image(seed: int = 0) -> BuiltImage:
    """A docker image whose layers compress well (text), so sizes tell gzip from plain."""
    tars = [
        tar_bytes({"etc/": None, f"etc/text-{i}": (f"line {seed} {i} of a very compressible file\n" * 40000).encode()})
        for i in range(3)
    ]
    return build_image(fmt="docker", layer_tars=tars, seed=seed)


def _members(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def _check_archive(archive: bytes, image: BuiltImage, tag: str) -> dict[str, bytes]:
    """`archive` is a complete docker-archive of `image` tagged `tag` (and nothing else)."""
    assert len(archive) % 512 == 0
    members = _members(archive)
    manifest = json.loads(members["manifest.json"])
    assert len(manifest) == 1
    assert manifest[0]["RepoTags"] == [tag]
    assert members[manifest[0]["Config"]] == image.config
    diff_ids = []
    for name in manifest[0]["Layers"]:
        data = members[name]
        if data.startswith(b"\x1f\x8b"):
            data = gzip.decompress(data)
        diff_ids.append("sha256:" + hashlib.sha256(data).hexdigest())
    assert diff_ids == image.diff_ids
    return members


def _skopo_argv(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "toolkit", "--insecure-policy", *(str(a) for a in args)]


# ---------------------------------------------------------------- streams


@pytest.mark.parametrize("target", ["/dev/stdout", "-"])
def test_docker_archive_to_stdout(run_skopo: SkopoRunner, skopeo: Skopeo, tmp_path: Path, target: str) -> None:
    image = _compressible_image(1)
    src = f"dir:{write_dir(image, tmp_path / 'src')}"
    result = run_skopo("--insecure-policy", "copy", src, f"docker-archive:{target}:example.com/stream/img:v1")
    assert result.returncode == 0, describe_result(result)
    assert b"Writing manifest" in result.stderr  # progress on stderr, not in the archive
    members = _check_archive(result.stdout, image, "example.com/stream/img:v1")
    # Default: layers uncompressed in the archive.
    assert all(not data.startswith(b"\x1f\x8b") for name, data in members.items() if name.endswith(".tar"))
    archive = tmp_path / "out.tar"
    archive.write_bytes(result.stdout)
    skopeo.run("copy", f"docker-archive:{archive}", f"dir:{tmp_path / 'ours'}")
    skopeo.run("copy", src, f"docker-archive:{tmp_path / 'theirs.tar'}:example.com/stream/img:v1")
    skopeo.run("copy", f"docker-archive:{tmp_path / 'theirs.tar'}", f"dir:{tmp_path / 'theirs'}")
    assert {p.name: p.read_bytes() for p in (tmp_path / "ours").iterdir()} == {
        p.name: p.read_bytes() for p in (tmp_path / "theirs").iterdir()
    }


def test_docker_archive_compressed_stream(run_skopo: SkopoRunner, skopeo: Skopeo, tmp_path: Path) -> None:
    image = _compressible_image(2)
    src = f"dir:{write_dir(image, tmp_path / 'src')}"
    result = run_skopo("--insecure-policy", "copy", "--dest-compress", src, "docker-archive:-:example.com/gz/img:v1")
    assert result.returncode == 0, describe_result(result)
    members = _check_archive(result.stdout, image, "example.com/gz/img:v1")
    layer_members = [data for name, data in members.items() if name.endswith(".tar") and "/" not in name]
    assert len(layer_members) == len(image.layers)
    assert all(data.startswith(b"\x1f\x8b") for data in layer_members)
    compressed = sum(layer.size for layer in image.layers) + len(image.config)
    uncompressed = sum(len(gzip.decompress(layer.data)) for layer in image.layers)
    # Tar headers, legacy layer directories, manifest.json: a few KiB of overhead.
    assert len(result.stdout) < compressed + 32 * 1024, (len(result.stdout), compressed)
    assert len(result.stdout) * 10 < uncompressed
    archive = tmp_path / "gz.tar"
    archive.write_bytes(result.stdout)
    skopeo.run("copy", f"docker-archive:{archive}", f"dir:{tmp_path / 'check'}")


def test_docker_archive_through_a_pipe(run_skopo: SkopoRunner, skopeo: Skopeo, tmp_path: Path) -> None:
    """skopo | cat > file (skopeo reads the file) and skopo | skopo (reading /dev/stdin).

    skopeo 1.9.3 itself cannot read `docker-archive:/dev/stdin` from a pipe: for an
    uncompressed stream it reopens /dev/stdin after sniffing the first bytes ("invalid tar
    header"), even for archives skopeo wrote; so skopeo reads the piped archive from a file.
    """
    image = _compressible_image(3)
    src = f"dir:{write_dir(image, tmp_path / 'src')}"
    env = dict(run_skopo.env)
    piped = tmp_path / "piped.tar"
    with open(piped, "wb") as sink:
        producer = subprocess.Popen(
            _skopo_argv("copy", src, "docker-archive:/dev/stdout:example.com/pipe/img:v1"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env,
        )
        assert producer.stdout is not None
        cat = subprocess.run(["cat"], stdin=producer.stdout, stdout=sink, timeout=120, check=False)
        producer.stdout.close()
        _, err = producer.communicate(timeout=60)
    assert producer.returncode == 0 and cat.returncode == 0, err.decode()
    _check_archive(piped.read_bytes(), image, "example.com/pipe/img:v1")
    skopeo.run("copy", f"docker-archive:{piped}", f"dir:{tmp_path / 'by-skopeo'}")

    producer = subprocess.Popen(
        _skopo_argv("copy", "-q", src, "docker-archive:-:example.com/pipe/img:v1"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env,
    )
    consumer = subprocess.run(
        _skopo_argv("copy", "-q", "docker-archive:/dev/stdin", f"dir:{tmp_path / 'out'}"),
        stdin=producer.stdout, capture_output=True, env=env, timeout=120, check=False,
    )
    assert producer.stdout is not None
    producer.stdout.close()
    _, err = producer.communicate(timeout=60)
    assert producer.returncode == 0, err.decode()
    assert consumer.returncode == 0, describe_result(consumer)
    assert consumer.stdout == b""
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_bytes())
    assert (tmp_path / "out" / manifest["config"]["digest"].split(":")[1]).read_bytes() == image.config
    for name in ("by-skopeo", "out"):
        assert {p.name for p in (tmp_path / name).iterdir()} >= {"manifest.json", "version"}


def test_skopo_reads_a_compressed_archive_from_stdin(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    image = _compressible_image(4)
    src = f"dir:{write_dir(image, tmp_path / 'src')}"
    made = run_skopo("--insecure-policy", "copy", "-q", src, "docker-archive:-:example.com/in/img:v1")
    assert made.returncode == 0, describe_result(made)
    result = run_skopo("--insecure-policy", "copy", "-q", "docker-archive:/dev/stdin", f"dir:{tmp_path / 'out'}",
                       input=gzip.compress(made.stdout, compresslevel=1))
    assert result.returncode == 0, describe_result(result)
    assert (tmp_path / "out" / image.config_digest.split(":")[1]).read_bytes() == image.config


# ---------------------------------------------------------------- round trip without peers


def test_round_trip_through_every_local_kind(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    image = build_image(fmt="oci", layer_count=3, seed=5)
    chain = [
        f"dir:{write_dir(image, tmp_path / 'src')}",
        f"oci:{tmp_path / 'oci'}:a",
        f"oci-archive:{tmp_path / 'oa.tar'}:b",
        f"dir:{tmp_path / 'mid'}",
        f"oci:{tmp_path / 'oci'}:c",
        f"dir:{tmp_path / 'end'}",
    ]
    for src, dst in itertools.pairwise(chain):
        result = run_skopo("--insecure-policy", "copy", "-q", src, dst)
        assert result.returncode == 0, describe_result(result)
        assert result.stdout == b""
    assert (tmp_path / "end" / "manifest.json").read_bytes() == image.manifest
    for digest, data in image.blobs().items():
        assert (tmp_path / "end" / digest.split(":")[1]).read_bytes() == data


# ---------------------------------------------------------------- concurrency


def _check_layout(layout: Path) -> dict[str, dict[str, object]]:
    """index.json is valid; every blob hashes to its name; returns entries by ref name."""
    index = json.loads((layout / "index.json").read_bytes())
    assert index["schemaVersion"] == 2
    for blob in (layout / "blobs" / "sha256").iterdir():
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name, blob
    named: dict[str, dict[str, object]] = {}
    for entry in index["manifests"]:
        name = (entry.get("annotations") or {}).get(OCI_REF_NAME)
        if name is not None:
            assert name not in named, f"two entries named {name}"
            named[name] = entry
        assert (layout / "blobs" / "sha256" / entry["digest"].split(":")[1]).is_file()
    assert leftovers(layout) == []
    return named


def _run_all(argvs: list[list[str]], env: dict[str, str]) -> None:
    procs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
        for argv in argvs
    ]
    for argv, proc in zip(argvs, procs, strict=True):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{argv}\n{err.decode()}"
        assert out == b""


def test_concurrent_copies_of_different_tags(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    shared = make_layer(tar_bytes({"shared/": None, "shared/f": b"common base layer\n" * 1000}), fmt="oci")
    images = []
    for i in range(8):
        own = tar_bytes({f"own{i}/": None, f"own{i}/f": f"image {i}\n".encode() * 500})
        images.append(build_image(fmt="oci", layer_tars=[gzip.decompress(shared.data), own], seed=200 + i))
    layout = tmp_path / "layout"
    argvs = [
        _skopo_argv("copy", "-q", f"dir:{write_dir(image, tmp_path / f'src{i}')}", f"oci:{layout}:tag{i}")
        for i, image in enumerate(images)
    ]
    _run_all(argvs, dict(run_skopo.env))
    named = _check_layout(layout)
    assert sorted(named) == sorted(f"tag{i}" for i in range(8))
    for i, image in enumerate(images):
        assert named[f"tag{i}"]["digest"] == image.manifest_digest
        for digest, data in image.blobs().items():
            assert (layout / "blobs" / "sha256" / digest.split(":")[1]).read_bytes() == data


def test_concurrent_copies_of_one_tag(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    images = [build_image(fmt="oci", layer_count=2, layer_size=8192, seed=300 + i) for i in range(8)]
    layout = tmp_path / "layout"
    argvs = [
        _skopo_argv("copy", "-q", f"dir:{write_dir(image, tmp_path / f'src{i}')}", f"oci:{layout}:same")
        for i, image in enumerate(images)
    ]
    _run_all(argvs, dict(run_skopo.env))
    named = _check_layout(layout)
    assert list(named) == ["same"]
    assert named["same"]["digest"] in {image.manifest_digest for image in images}
    # The other seven stay in the index, unnamed (c/image's addManifest), so nothing dangles.
    index = json.loads((layout / "index.json").read_bytes())
    assert {m["digest"] for m in index["manifests"]} == {image.manifest_digest for image in images}
    result = run_skopo("--insecure-policy", "copy", "-q", f"oci:{layout}:same", f"dir:{tmp_path / 'out'}")
    assert result.returncode == 0, describe_result(result)
