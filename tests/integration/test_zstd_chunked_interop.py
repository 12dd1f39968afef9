"""zstd:chunked against skopeo 1.9.3 and podman 4.3 (c/storage 1.43), both ways.

skopeo writes zstd:chunked and skopo reads it, checking its TOC on the way (and refusing
one that lies); skopo writes it and skopeo reads it back to the very tars the diffIDs name;
podman pulls skopo's layer from the registry *partially*, through the TOC (c/storage's
differ: range requests, per-file digests), and runs the image where the sandbox allows
(here `podman image mount` proves the files otherwise).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

from helpers import Skopeo, SkopoRunner, assert_clean_error, describe_result
from helpers.images import BuiltImage, build_image, read_oci_layout_manifest, write_oci_layout
from helpers.registry import RegistryServer
from helpers.trees import snapshot

CHECKSUM = "io.containers.zstd-chunked.manifest-checksum"
POSITION = "io.containers.zstd-chunked.manifest-position"
ZSTD_LAYER = "application/vnd.oci.image.layer.v1.tar+zstd"
BUSYBOX = Path("/bin/busybox")


def layer_tar(seed: int) -> bytes:
    """A tar with a big random file (several chunks), a zero-filled hole, small files, a dir."""
    rng = __import__("random").Random(seed)
    entries = [("usr/", None), ("usr/big.bin", rng.randbytes(400_000)), ("usr/holes.bin", bytes(5000) + b"x"),
               ("usr/etc/conf", b"key=value\n"), ("usr/empty", b"")]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            if content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(content), 0o644
                tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


@pytest.fixture
def image(tmp_path: Path) -> tuple[BuiltImage, Path]:
    built = build_image(fmt="oci", layer_tars=[layer_tar(1), layer_tar(2)])
    return built, write_oci_layout(built, tmp_path / "src", "latest")


def layout_manifest(layout: Path, ref: str = "latest") -> dict[str, object]:
    return read_oci_layout_manifest(layout, ref)


def layers_of(layout: Path) -> list[dict[str, object]]:
    layers = layout_manifest(layout)["layers"]
    assert isinstance(layers, list)
    return layers


def blob(layout: Path, digest: object) -> bytes:
    return (layout / "blobs" / "sha256" / str(digest).split(":")[1]).read_bytes()


def toc(data: bytes, annotations: dict[str, str]) -> dict[str, object]:
    offset, length, ulength, _ = (int(x) for x in annotations[POSITION].split(":"))
    assert annotations[CHECKSUM] == "sha256:" + hashlib.sha256(data[offset : offset + length]).hexdigest()
    return json.loads(zstandard.ZstdDecompressor().decompress(data[offset : offset + length], max_output_size=ulength))


def plain(data: bytes) -> bytes:
    return zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True).read()


def copy_ok(run_skopo: SkopoRunner, *args: str | Path) -> None:
    result = run_skopo("--insecure-policy", "copy", "-q", *args)
    assert result.returncode == 0, describe_result(result)


def test_skopeo_writes_skopo_reads_and_checks_the_toc(
    run_skopo: SkopoRunner, skopeo: Skopeo, image: tuple[BuiltImage, Path], tmp_path: Path
) -> None:
    original, src = image
    theirs = tmp_path / "theirs"
    skopeo.run("copy", "--dest-compress-format", "zstd:chunked", f"oci:{src}:latest", f"oci:{theirs}:latest")
    # Kept as it is (TOC checked on the way): same blobs, same annotations, same manifest.
    copy_ok(run_skopo, f"oci:{theirs}:latest", f"oci:{tmp_path / 'kept'}:latest")
    assert layout_manifest(tmp_path / "kept") == layout_manifest(theirs)
    # Asked for zstd:chunked again: nothing to do, the layers already are.
    copy_ok(run_skopo, "--dest-compress-format", "zstd:chunked", f"oci:{theirs}:latest",
            f"oci:{tmp_path / 'again'}:latest")
    assert layers_of(tmp_path / "again") == layers_of(theirs)
    # Decompressed: skopeo 1.9.3 drops the tar's record padding, so these are the tars up to
    # their end-of-archive blocks (a prefix of the originals).
    copy_ok(run_skopo, "--dest-decompress", f"oci:{theirs}:latest", f"dir:{tmp_path / 'plain'}")
    manifest = json.loads((tmp_path / "plain" / "manifest.json").read_bytes())
    for layer, built in zip(manifest["layers"], original.layers, strict=True):
        data = (tmp_path / "plain" / layer["digest"][7:]).read_bytes()
        assert gzip.decompress(built.data).startswith(data) and data.endswith(bytes(1024))


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda a: {**a, CHECKSUM: "sha256:" + "0" * 64}, "invalid zstd:chunked TOC: checksum mismatch"),
        (lambda a: {**a, POSITION: "999999999:100:200:1"}, "beyond the blob"),
        (lambda a: {**a, POSITION: "1:2:3"}, "invalid zstd:chunked manifest position"),
        (lambda a: {**a, POSITION: a[POSITION].rsplit(":", 1)[0] + ":7"}, "invalid zstd:chunked manifest type 7"),
        (lambda a: {k: v for k, v in a.items() if k != CHECKSUM}, "manifest-checksum is missing"),
    ],
)
def test_a_lying_toc_is_refused(
    run_skopo: SkopoRunner, skopeo: Skopeo, image: tuple[BuiltImage, Path], tmp_path: Path, edit, match: str
) -> None:
    _, src = image
    theirs = tmp_path / "theirs"
    skopeo.run("copy", "--dest-compress-format", "zstd:chunked", f"oci:{src}:latest", f"oci:{theirs}:latest")
    index = json.loads((theirs / "index.json").read_text())
    manifest = json.loads(blob(theirs, index["manifests"][0]["digest"]))
    manifest["layers"][1]["annotations"] = edit(manifest["layers"][1]["annotations"])
    raw = json.dumps(manifest).encode()
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    (theirs / "blobs" / "sha256" / digest[7:]).write_bytes(raw)
    index["manifests"][0].update(digest=digest, size=len(raw))
    (theirs / "index.json").write_text(json.dumps(index))
    for dest in (f"oci:{tmp_path / 'dest'}:latest", f"dir:{tmp_path / 'dest'}"):
        result = run_skopo("--insecure-policy", "copy", "-q", f"oci:{theirs}:latest", dest)
        assert_clean_error(result, match=match)
        assert snapshot(tmp_path / "dest") == {}


def test_skopo_writes_skopeo_reads(
    run_skopo: SkopoRunner, skopeo: Skopeo, image: tuple[BuiltImage, Path], tmp_path: Path,
    registry_server: RegistryServer,
) -> None:
    original, src = image
    ours = tmp_path / "ours"
    copy_ok(run_skopo, "--dest-compress-format", "zstd:chunked", f"oci:{src}:latest", f"oci:{ours}:latest")
    manifest = layout_manifest(ours)
    assert manifest["config"]["digest"] == original.config_digest  # type: ignore[index]
    for layer, built in zip(layers_of(ours), original.layers, strict=True):
        assert layer["mediaType"] == ZSTD_LAYER
        annotations = layer["annotations"]
        assert isinstance(annotations, dict) and set(annotations) == {CHECKSUM, POSITION}
        data = blob(ours, layer["digest"])
        assert plain(data) == gzip.decompress(built.data)  # a plain zstd reader sees the layer, padding and all
        names = [e["name"] for e in toc(data, annotations)["entries"] if e["type"] != "chunk"]  # type: ignore[union-attr]
        assert names == ["usr/", "usr/big.bin", "usr/holes.bin", "usr/etc/conf", "usr/empty"]
    skopeo.run("copy", "--dest-decompress", f"oci:{ours}:latest", f"dir:{tmp_path / 'plain'}")
    plain_manifest = json.loads((tmp_path / "plain" / "manifest.json").read_bytes())
    assert [layer["digest"] for layer in plain_manifest["layers"]] == original.diff_ids
    # Through the registry too.
    ref = registry_server.docker_ref("chunked/skopo:latest")
    copy_ok(run_skopo, "--dest-tls-verify=false", "--dest-compress-format", "zstd:chunked", f"oci:{src}:latest", ref)
    inspected = json.loads(skopeo.run("inspect", "--tls-verify=false", "--raw", ref).stdout)
    assert [set(layer["annotations"]) for layer in inspected["layers"]] == [{CHECKSUM, POSITION}] * 2
    skopeo.run("copy", "--src-tls-verify=false", "--dest-decompress", ref, f"dir:{tmp_path / 'plain2'}")
    plain2 = json.loads((tmp_path / "plain2" / "manifest.json").read_bytes())
    assert [layer["digest"] for layer in plain2["layers"]] == original.diff_ids


# ---------------------------------------------------------------------------- podman


class Podman:
    """podman with its own overlay storage under `root`, partial pulls enabled."""

    def __init__(self, root: Path) -> None:
        self.binary = shutil.which("podman") or pytest.skip("podman is not installed")
        self.root = root
        conf = root / "storage.conf"
        root.mkdir(parents=True, exist_ok=True)
        conf.write_text(
            f'[storage]\ndriver = "overlay"\nrunroot = "{root}/run"\ngraphroot = "{root}/graph"\n'
            '[storage.options]\npull_options = {enable_partial_images = "true", use_hard_links = "false", '
            'ostree_repos = ""}\n'
        )
        self.env = {**os.environ, "CONTAINERS_STORAGE_CONF": str(conf), "TMPDIR": str(root)}

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [self.binary, "--cgroup-manager", "cgroupfs", "--events-backend", "file", *args]
        result = subprocess.run(argv, env=self.env, capture_output=True, text=True, timeout=300, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"$ {' '.join(argv)}\nexit {result.returncode}\n{result.stdout}\n{result.stderr}")
        return result

    def close(self) -> None:
        self.run("image", "unmount", "--all", check=False)
        self.run("rmi", "--all", "--force", check=False)
        subprocess.run(["umount", "-R", str(self.root / "graph" / "overlay")], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def podman(tmp_path: Path) -> Iterator[Podman]:
    instance = Podman(tmp_path / "podman")
    try:
        yield instance
    finally:
        instance.close()


def busybox_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content, mode in (("bin/busybox", BUSYBOX.read_bytes(), 0o755), ("data/big.bin", os.urandom(300_000),
                                                                                  0o644)):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(content), mode, 1_700_000_000
            tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


@pytest.mark.skipif(not BUSYBOX.exists(), reason="busybox-static is not installed (tests/install-peers.sh)")
def test_podman_pulls_skopo_chunked_through_its_toc(
    run_skopo: SkopoRunner, podman: Podman, registry_server: RegistryServer, tmp_path: Path
) -> None:
    tar = busybox_tar()
    built = build_image(fmt="oci", layer_tars=[tar])
    src = write_oci_layout(built, tmp_path / "src", "latest")
    ref = registry_server.docker_ref("chunked/podman:latest")
    copy_ok(run_skopo, "--dest-tls-verify=false", "--dest-compress-format", "zstd:chunked", f"oci:{src}:latest", ref)
    pulled = podman.run("--log-level", "debug", "pull", "--tls-verify=false", ref.removeprefix("docker://"))
    # c/storage's differ read the TOC and fetched the files by range: a partial pull.
    assert "Retrieved partial blob" in pulled.stderr, pulled.stderr[-3000:]
    image_id = pulled.stdout.strip().splitlines()[-1]
    mounted = Path(podman.run("image", "mount", image_id).stdout.strip())
    with tarfile.open(fileobj=io.BytesIO(tar)) as expected:
        for member in expected.getmembers():
            content = expected.extractfile(member)
            assert content is not None
            assert (mounted / member.name).read_bytes() == content.read(), member.name
    assert os.access(mounted / "bin/busybox", os.X_OK)
    podman.run("image", "unmount", image_id)
    # From an oci: layout too (a full pull: c/image reads a layout's blobs whole).
    ours = tmp_path / "ours"
    copy_ok(run_skopo, "--dest-compress-format", "zstd:chunked", f"oci:{src}:latest", f"oci:{ours}:latest")
    assert podman.run("pull", "-q", f"oci:{ours}:latest").stdout.strip() == image_id
    ran = podman.run("run", "--rm", "--net=none", image_id, "/bin/busybox", "echo", "hello from zstd:chunked",
                     check=False)
    if ran.returncode != 0 and "setrlimit" in ran.stderr:
        # This sandbox forbids setrlimit(2) to the container runtime: the mounted files are the proof.
        return
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "hello from zstd:chunked"
