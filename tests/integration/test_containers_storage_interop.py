"""`containers-storage:` against the real peers of this Debian: podman 4.3.1, skopeo 1.9.3
and the containers-storage 1.43 command, on stores under tmp_path (vfs and overlay)."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from helpers import PeerCommandError, RegistryServer, Skopeo, SkopoRunner, assert_clean_error, describe_result
from helpers.images import (
    OCI_CONFIG,
    OCI_MANIFEST,
    BuiltImage,
    build_image,
    build_multiarch,
    sha256_digest,
    tar_bytes,
    write_dir,
    write_oci_layout,
)
from helpers.registry import push_image
from helpers.storage import StorageStore, runnable_layer

StoreFactory = Callable[..., StorageStore]
NAME = "example.com/skopo/app:1.0"
DRIVERS = ["vfs", "overlay"]


def copy(run_skopo: SkopoRunner, src: str, dest: str, *flags: str, env: dict[str, str] | None = None) -> None:
    result = run_skopo("--insecure-policy", "copy", "-q", *flags, src, dest, env=env, timeout=300)
    assert result.returncode == 0, describe_result(result)


def layout(tmp_path: Path, image: BuiltImage, name: str = "layout", tag: str = "v1") -> str:
    write_oci_layout(image, tmp_path / name, tag)
    return f"oci:{tmp_path / name}:{tag}"


def hexpart(digest: str) -> str:
    return digest.removeprefix("sha256:")


def with_file_layer(text: bytes, **kwargs: Any) -> BuiltImage:
    """An OCI image: a runnable /bin/sh layer, then a layer holding /etc/skopo.txt."""
    return build_image(
        fmt="oci", layer_tars=[runnable_layer(), tar_bytes({"etc/": None, "etc/skopo.txt": text})], **kwargs
    )


# ---------------------------------------------------------------------------------- podman


@pytest.mark.parametrize("driver", DRIVERS)
def test_podman_uses_what_skopo_wrote(
    tmp_path: Path, run_skopo: SkopoRunner, storage_factory: StoreFactory, driver: str
) -> None:
    image = with_file_layer(b"written by skopo\n")
    store = storage_factory(driver=driver)
    copy(run_skopo, layout(tmp_path, image), store.ref(NAME))

    info = store.podman_json("image", "inspect", NAME)[0]
    assert info["Id"] == hexpart(image.config_digest)
    assert info["Digest"] == image.manifest_digest
    assert info["RepoTags"] == [NAME]
    assert info["RepoDigests"] == [f"example.com/skopo/app@{image.manifest_digest}"]
    assert info["RootFS"]["Layers"] == [layer.diff_id for layer in image.layers]
    assert info["Created"].startswith(json.loads(image.config)["created"].removesuffix("Z"))
    listed = store.podman_json("images", "--format", "json")
    assert [i["Id"] for i in listed] == [hexpart(image.config_digest)]
    store.podman("image", "exists", NAME)

    run = store.podman("run", "--rm", "--network", "none", NAME, "/bin/sh", "-c", "cat /etc/skopo.txt", check=False)
    if run.returncode == 0:
        assert run.stdout == b"written by skopo\n"
    else:
        # This sandbox's OCI runtime cannot start containers (cgroups, rlimits); the image
        # itself must not be the reason.
        assert b"OCI runtime" in run.stderr or b"crun:" in run.stderr, describe_result(run)
    mount = Path(store.podman("image", "mount", NAME).stdout.decode().strip())
    try:
        assert (mount / "etc/skopo.txt").read_bytes() == b"written by skopo\n"
        assert (mount / "bin/sh").read_bytes() == Path("/bin/dash").read_bytes()
    finally:
        store.podman("image", "unmount", NAME)
    saved = tmp_path / "saved.tar"
    store.podman("save", "--format", "docker-archive", "-o", saved, NAME)
    with tarfile.open(saved) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        digests = [sha256_digest(tar.extractfile(p).read()) for p in manifest[0]["Layers"]]  # type: ignore[union-attr]
    assert digests == [layer.diff_id for layer in image.layers]


def _inspect_fields(store: StorageStore, name: str) -> dict[str, Any]:
    info = store.podman_json("image", "inspect", name)[0]
    return {k: info[k] for k in ("Id", "Digest", "RepoTags", "RepoDigests", "Created", "Size", "RootFS", "Config")}


@pytest.mark.parametrize("kind", ["docker", "oci", "oci-index"])
def test_same_store_contents_as_podman_pull(
    run_skopo: SkopoRunner, registry: RegistryServer, storage_factory: StoreFactory, kind: str
) -> None:
    if kind == "oci-index":
        pushed: Any = build_multiarch(fmt="oci", seed=11)
    else:
        pushed = build_image(fmt=kind, layer_count=2, seed=12)  # type: ignore[arg-type]
    push_image(registry, "skopo/pulled", "1", pushed)
    name = f"{registry.host}/skopo/pulled:1"
    pulled, copied = storage_factory("pulled"), storage_factory("copied")
    pulled.podman("pull", "-q", "--tls-verify=false", name)
    copy(run_skopo, f"docker://{name}", copied.ref(name), "--src-tls-verify=false")

    # Byte for byte the images.json podman writes (same ID, names, history, created,
    # big data and digests, metadata); the layers differ only in their creation time.
    assert (copied.graph / "vfs-images/images.json").read_bytes() == (
        pulled.graph / "vfs-images/images.json"
    ).read_bytes()
    assert copied.snapshot() == pulled.snapshot()
    image_id = pulled.images()[0]["id"]
    for key in pulled.images()[0]["big-data-names"]:
        assert copied.big_data(image_id, key) == pulled.big_data(image_id, key)
    assert _inspect_fields(copied, name) == _inspect_fields(pulled, name)
    if kind == "oci-index":
        # Found by the list's digest too, as podman pull's image is.
        assert any(d == pushed.manifest_digest for d in (r.split("@")[1] for r in _inspect_fields(copied, name)
                                                        ["RepoDigests"]))
        copied.podman("image", "exists", f"{name.rsplit(':', 1)[0]}@{pushed.manifest_digest}")


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_skopo_copies_out_what_podman_pulled(
    tmp_path: Path, run_skopo: SkopoRunner, storage_factory: StoreFactory, compression: str
) -> None:
    image = build_image(fmt="oci", layer_count=3, seed=21, compression=compression)  # type: ignore[arg-type]
    store = storage_factory()
    store.podman("pull", "-q", layout(tmp_path, image))
    src = store.ref(hexpart(image.config_digest))

    copy(run_skopo, src, f"oci:{tmp_path / 'plain'}:x", "--dest-oci-accept-uncompressed-layers")
    out = _read_layout(tmp_path / "plain")
    assert out["config"]["digest"] == image.config_digest
    assert [layer["digest"] for layer in out["layers"]] == [layer.diff_id for layer in image.layers]
    if compression == "none":
        # The stored manifest itself: same manifest, layer and config digests.
        assert out["raw"] == image.manifest

    copy(run_skopo, src, f"oci:{tmp_path / 'gz'}:x")
    out = _read_layout(tmp_path / "gz")
    assert out["config"]["digest"] == image.config_digest
    blobs = tmp_path / "gz/blobs/sha256"
    diff_ids = [sha256_digest(gzip.decompress((blobs / hexpart(layer["digest"])).read_bytes())) for layer in
                out["layers"]]
    assert diff_ids == [layer.diff_id for layer in image.layers]


def _read_layout(path: Path) -> dict[str, Any]:
    index = json.loads((path / "index.json").read_bytes())
    raw = (path / "blobs/sha256" / hexpart(index["manifests"][0]["digest"])).read_bytes()
    manifest: dict[str, Any] = json.loads(raw)
    manifest["raw"] = raw
    return manifest


def test_default_store_from_containers_storage_conf(
    tmp_path: Path, run_skopo: SkopoRunner, storage_factory: StoreFactory, skopeo: Skopeo
) -> None:
    store = storage_factory()
    conf = tmp_path / "storage.conf"
    conf.write_text(f'[storage]\ndriver = "vfs"\ngraphroot = "{store.graph}"\nrunroot = "{store.run}"\n')
    env = {"CONTAINERS_STORAGE_CONF": str(conf)}
    image = build_image(fmt="oci", layer_count=1, seed=31)
    copy(run_skopo, layout(tmp_path, image), "containers-storage:example.com/conf:1", env=env)
    assert [i["names"] for i in store.images()] == [["example.com/conf:1"]]
    result = subprocess.run(
        ["podman", "--cgroup-manager", "cgroupfs", "--events-backend", "file", "images", "--format", "json"],
        env={**store.env, **env},
        capture_output=True,
        check=True,
    )
    assert [i["Id"] for i in json.loads(result.stdout)] == [hexpart(image.config_digest)]
    inspected = json.loads(skopeo.run("inspect", "containers-storage:example.com/conf:1", env=env).stdout)
    assert inspected["Digest"] == image.manifest_digest


def test_delete_removes_the_image_and_its_layers(
    tmp_path: Path, run_skopo: SkopoRunner, storage_factory: StoreFactory
) -> None:
    store = storage_factory()
    copy(run_skopo, layout(tmp_path, build_image(fmt="oci", layer_count=2, seed=41)), store.ref(NAME))
    result = run_skopo("delete", store.ref(NAME))
    assert result.returncode == 0, describe_result(result)
    assert store.images() == [] and store.layers() == []
    assert store.podman("image", "exists", NAME, check=False).returncode == 1


# ---------------------------------------------------------------------------------- skopeo


def test_skopeo_interop_both_ways(
    tmp_path: Path, run_skopo: SkopoRunner, skopeo: Skopeo, storage_factory: StoreFactory
) -> None:
    store, twin = storage_factory("shared"), storage_factory("twin")
    base = runnable_layer()
    first = build_image(fmt="docker", layer_tars=[base, tar_bytes({"a.txt": b"one"})])
    second = build_image(fmt="oci", layer_tars=[base, tar_bytes({"b.txt": b"two"})])

    # skopeo writes, skopo reads.
    skopeo.run("copy", f"dir:{write_dir(first, tmp_path / 'first')}", store.ref("example.com/first:1"))
    raw = run_skopo("inspect", "--raw", store.ref("example.com/first:1"))
    assert raw.returncode == 0 and raw.stdout == first.manifest, describe_result(raw)
    copy(run_skopo, store.ref("example.com/first:1"), f"dir:{tmp_path / 'first-out'}")
    assert (tmp_path / "first-out" / hexpart(first.config_digest)).read_bytes() == first.config
    for layer in first.layers:
        assert (tmp_path / "first-out" / hexpart(layer.diff_id)).exists()

    # skopo writes beside it (reusing the shared base layer), skopeo reads.
    base_record = store.layers()[0]
    copy(run_skopo, layout(tmp_path, second, "second"), store.ref("example.com/second:1"))
    assert len(store.layers()) == 3
    assert store.layers()[0] == base_record
    inspected = json.loads(skopeo.run("inspect", store.ref("example.com/second:1")).stdout)
    assert inspected["Digest"] == second.manifest_digest
    skopeo.run("copy", store.ref("example.com/second:1"), f"dir:{tmp_path / 'second-out'}")
    assert (tmp_path / "second-out" / hexpart(second.config_digest)).read_bytes() == second.config

    # Same image IDs and records as skopeo's own write of the same image.
    skopeo.run("copy", layout(tmp_path, second, "second"), twin.ref("example.com/second:1"))
    assert [i["id"] for i in store.images()] == [hexpart(first.config_digest), hexpart(second.config_digest)]
    assert store.image(hexpart(second.config_digest)) == twin.image(hexpart(second.config_digest))
    assert {layer["id"] for layer in twin.layers()} <= {layer["id"] for layer in store.layers()}


def test_signatures_as_skopeo_stores_them(
    tmp_path: Path, run_skopo: SkopoRunner, skopeo: Skopeo, storage_factory: StoreFactory, gnupg_home: Any
) -> None:
    fpr = gnupg_home.make_key("Storage Test <storage@example.com>", algo="ed25519")
    image = build_image(fmt="oci", layer_count=2, seed=51, compression="none")
    signed = tmp_path / "signed"
    copy(run_skopo, layout(tmp_path, image), f"dir:{signed}", "--sign-by", fpr, "--sign-identity", NAME,
         env=gnupg_home.env)
    assert (signed / "signature-1").exists()
    mine, theirs = storage_factory("mine"), storage_factory("theirs")
    copy(run_skopo, f"dir:{signed}", mine.ref(NAME))
    skopeo.run("copy", f"dir:{signed}", theirs.ref(NAME))
    image_id = hexpart(image.config_digest)
    assert mine.image(image_id) == theirs.image(image_id)
    assert mine.big_data(image_id, "signatures") == (signed / "signature-1").read_bytes()
    # Read back, by skopeo and by skopo, with the signature.
    skopeo.run("copy", mine.ref(NAME), f"dir:{tmp_path / 'back-skopeo'}")
    copy(run_skopo, mine.ref(NAME), f"dir:{tmp_path / 'back-skopo'}")
    for out in ("back-skopeo", "back-skopo"):
        assert (tmp_path / out / "signature-1").read_bytes() == (signed / "signature-1").read_bytes()
        assert (tmp_path / out / "manifest.json").read_bytes() == image.manifest


# ---------------------------------------------------------------------------------- locks


LOCK_HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.lockf(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""


@pytest.mark.parametrize("direction", ["into", "out-of"])
def test_copy_waits_while_another_process_holds_the_lock(
    tmp_path: Path, run_skopo: SkopoRunner, storage_factory: StoreFactory, direction: str
) -> None:
    store = storage_factory()
    first = build_image(fmt="oci", layer_count=2, seed=61)
    copy(run_skopo, layout(tmp_path, first, "first"), store.ref("example.com/first:1"))
    if direction == "into":
        lock = store.graph / "vfs-layers/layers.lock"
        src, dest = layout(tmp_path, build_image(fmt="oci", layer_count=2, seed=62), "second"), store.ref(NAME)
    else:
        lock = store.graph / "vfs-images/images.lock"
        src, dest = store.ref("example.com/first:1"), f"oci:{tmp_path / 'out'}:x"
    before = store.snapshot()
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(lock)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        argv = [sys.executable, "-m", "toolkit", "--insecure-policy", "copy", "-q", src, dest]
        proc = subprocess.Popen(argv, env=dict(run_skopo.env), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"the copy did not wait for the lock: {proc.communicate()}"
            assert store.snapshot() == before
            time.sleep(0.2)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    store.podman("images")
    if direction == "into":
        store.podman("image", "exists", NAME)
    else:
        assert _read_layout(tmp_path / "out")["config"]["digest"] == first.config_digest


def test_concurrent_with_podman_pull(
    run_skopo: SkopoRunner, registry: RegistryServer, storage_factory: StoreFactory
) -> None:
    store = storage_factory()
    base = runnable_layer()
    names = []
    for i in range(3):
        for who in ("podman", "skopo"):
            image = build_image(fmt="docker", layer_tars=[base, tar_bytes({f"{who}-{i}.txt": os.urandom(4096)})])
            push_image(registry, f"skopo/{who}", str(i), image)
        names.append((f"{registry.host}/skopo/podman:{i}", f"{registry.host}/skopo/skopo:{i}"))
    for pull_name, copy_name in names:
        pull = subprocess.Popen(
            [*store.podman_argv(), "pull", "-q", "--tls-verify=false", pull_name],
            env=store.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        copy(run_skopo, f"docker://{copy_name}", store.ref(copy_name), "--src-tls-verify=false")
        _, err = pull.communicate(timeout=300)
        assert pull.returncode == 0, err.decode()
    for pull_name, copy_name in names:
        store.podman("image", "exists", pull_name)
        store.podman("image", "exists", copy_name)
        result = run_skopo("inspect", store.ref(pull_name))
        assert result.returncode == 0, describe_result(result)
    assert len(store.podman_json("images", "--format", "json")) == 6
    assert len({layer["id"] for layer in store.layers()}) == 7  # one shared base layer


def test_sigkill_at_random_points_leaves_a_consistent_store(
    tmp_path: Path, run_skopo: SkopoRunner, storage_factory: StoreFactory
) -> None:
    store = storage_factory()
    baseline = build_image(fmt="oci", layer_count=1, seed=70)
    copy(run_skopo, layout(tmp_path, baseline, "baseline"), store.ref("example.com/baseline:1"))
    images = [build_image(fmt="oci", layer_count=3, layer_size=2 << 20, seed=71 + i) for i in range(6)]
    sources = [layout(tmp_path, image, f"victim{i}") for i, image in enumerate(images)]
    # How long one such copy runs here (into a scratch store), to spread the kills over it.
    scratch = storage_factory("scratch")
    started = time.monotonic()
    copy(run_skopo, sources[0], scratch.ref(NAME))
    duration = time.monotonic() - started
    rng = random.Random(20)
    env = dict(run_skopo.env)
    for i, src in enumerate(sources):
        argv = [sys.executable, "-m", "toolkit", "--insecure-policy", "--tmpdir", str(tmp_path), "copy", "-q", src,
                store.ref(f"example.com/victim:{i}")]
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, duration))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        listed = store.podman_json("images", "--format", "json")
        store.podman("image", "exists", "example.com/baseline:1")
        for entry in listed:
            store.podman("image", "exists", entry["Id"])
            result = run_skopo("inspect", store.ref(entry["Id"]))
            assert result.returncode == 0, describe_result(result)
    # The store still takes a complete copy, and gives it back.
    copy(run_skopo, sources[-1], store.ref("example.com/victim:last"))
    copy(run_skopo, store.ref("example.com/victim:last"), f"oci:{tmp_path / 'final'}:x")
    assert _read_layout(tmp_path / "final")["config"]["digest"] == images[-1].config_digest


# ---------------------------------------------------------------------------------- failures


def test_a_failed_copy_leaves_no_layer_or_image(
    tmp_path: Path, run_skopo: SkopoRunner, storage_factory: StoreFactory
) -> None:
    store = storage_factory()
    copy(run_skopo, layout(tmp_path, build_image(fmt="oci", layer_count=1, seed=80), "kept"), store.ref("x.io/kept:1"))
    before = store.snapshot()
    dirs_before = sorted(os.listdir(store.graph / "vfs/dir"))

    # 1. A corrupt blob: refused while copying, before the store is touched.
    image = build_image(fmt="oci", layer_count=2, seed=81)
    bad = tmp_path / "corrupt"
    write_oci_layout(image, bad, "v1")
    victim = bad / "blobs/sha256" / hexpart(image.layers[1].digest)
    data = bytearray(victim.read_bytes())
    data[-20] ^= 0xFF
    victim.write_bytes(bytes(data))
    assert_clean_error(run_skopo("--insecure-policy", "copy", "-q", f"oci:{bad}:v1", store.ref(NAME)))
    assert store.snapshot() == before

    # 2. A config whose second diffID lies: the first layer is created, then removed again.
    tars = [tar_bytes({"one.txt": b"1"}), tar_bytes({"two.txt": b"2"})]
    good = build_image(fmt="oci", layer_tars=tars)
    config = json.loads(good.config)
    config["rootfs"]["diff_ids"][1] = sha256_digest(b"something else")
    lying = _with_config(good, json.dumps(config).encode())
    result = run_skopo("--insecure-policy", "copy", "-q", layout(tmp_path, lying, "lying"), store.ref(NAME))
    assert_clean_error(result, match="uncompressed digest")
    assert store.snapshot() == before
    assert sorted(os.listdir(store.graph / "vfs/dir")) == dirs_before


def _with_config(image: BuiltImage, config: bytes) -> BuiltImage:
    manifest = json.loads(image.manifest)
    manifest["config"] = {"mediaType": OCI_CONFIG, "size": len(config), "digest": sha256_digest(config)}
    raw = json.dumps(manifest).encode()
    assert manifest["mediaType"] == OCI_MANIFEST
    return dataclasses.replace(
        image, config=config, config_digest=sha256_digest(config), manifest=raw, manifest_digest=sha256_digest(raw)
    )


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("[vfs@relative+/tmp/r]x:y", "path name is not absolute"),
        ("[vfs@/tmp/g", "invalid reference"),
        ("[]x:y", "invalid reference"),
        ("[@/tmp/g]x:y", "invalid reference"),
        ("[vfs@/tmp/g+/tmp/r]", "is an empty reference"),
        ("[vfs@/tmp/g+/tmp/r]x:y@", "empty trailing digest or ID"),
        ("[vfs@/tmp/g+/tmp/r]Foo/Bar:1", "repository name must be lowercase"),
        ("[vfs@/tmp/g+/tmp/r]x@zz", "does not look like an image ID or digest"),
        ("[btrfs@/tmp/g+/tmp/r]x:y", 'storage driver is not supported'),
    ],
)
def test_bad_references_give_one_clear_line(run_skopo: SkopoRunner, name: str, match: str) -> None:
    assert_clean_error(run_skopo("inspect", f"containers-storage:{name}"), match=match)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"{", "not a JSON array"),
        (b"[{", "invalid JSON"),
        (b'[{"id": "../../etc"}]', "not a valid ID"),
        (b'[{"id": 7}]', '"id" is not a string'),
        (b'[{"id": "' + b"a" * 64 + b'", "names": "x"}]', '"names" is not a list of strings'),
        (b'[{"id": "' + b"a" * 64 + b'", "big-data-digests": {"manifest": "nope"}}]', "invalid digest"),
    ],
)
def test_hostile_store_json_gives_one_clear_line(
    tmp_path: Path, run_skopo: SkopoRunner, content: bytes, match: str
) -> None:
    images = tmp_path / "g/vfs-images"
    images.mkdir(parents=True)
    (images / "images.json").write_bytes(content)
    result = run_skopo("inspect", f"containers-storage:[vfs@{tmp_path}/g+{tmp_path}/r]x:y")
    assert_clean_error(result, match=match)


def test_missing_tar_split_gives_one_clear_line(
    tmp_path: Path, run_skopo: SkopoRunner, storage_factory: StoreFactory
) -> None:
    store = storage_factory()
    copy(run_skopo, layout(tmp_path, build_image(fmt="oci", layer_count=1, seed=90)), store.ref(NAME))
    for path in (store.graph / "vfs-layers").glob("*.tar-split.gz"):
        path.unlink()
    result = run_skopo("--insecure-policy", "copy", "-q", store.ref(NAME), f"oci:{tmp_path / 'out'}:x")
    assert_clean_error(result, match="no tar-split data")


def test_fuse_overlayfs_mount_program_from_options(
    tmp_path: Path, run_skopo: SkopoRunner, storage_factory: StoreFactory
) -> None:
    if not os.path.exists("/usr/bin/fuse-overlayfs"):
        pytest.skip("peer `fuse-overlayfs` is not installed; run `make peers` (tests/install-peers.sh)")
    store = storage_factory(driver="overlay", options=("overlay.mount_program=/usr/bin/fuse-overlayfs",))
    whiteout = tar_bytes({"etc/": None, "etc/.wh.gone": b""})
    image = build_image(fmt="oci", layer_tars=[tar_bytes({"etc/": None, "etc/gone": b"x"}), whiteout])
    copy(run_skopo, layout(tmp_path, image), store.ref(NAME))
    top = store.layers()[-1]["id"]
    # With a mount program, c/storage keeps AUFS whiteout files (no 0/0 character device).
    assert (store.graph / "overlay" / top / "diff/etc/.wh.gone").is_file()
    assert store.podman_json("image", "inspect", NAME)[0]["RootFS"]["Layers"] == [x.diff_id for x in image.layers]
    copy(run_skopo, store.ref(NAME), f"oci:{tmp_path / 'out'}:x", "--dest-oci-accept-uncompressed-layers")
    out = _read_layout(tmp_path / "out")
    assert [layer["digest"] for layer in out["layers"]] == [layer.diff_id for layer in image.layers]


def test_writing_without_the_command_is_refused_before_copying(
    tmp_path: Path, run_skopo: SkopoRunner
) -> None:
    src = layout(tmp_path, build_image(fmt="oci", layer_count=1, seed=95))
    result = run_skopo(
        "--insecure-policy", "copy", "-q", src, f"containers-storage:[vfs@{tmp_path}/g+{tmp_path}/r]x:y",
        env={"PATH": str(tmp_path / "empty-bin")},
    )
    assert_clean_error(result, match="needs the containers-storage command")
    assert not (tmp_path / "g").exists()


def test_reading_needs_no_command(tmp_path: Path, run_skopo: SkopoRunner, storage_factory: StoreFactory) -> None:
    store = storage_factory()
    image = build_image(fmt="oci", layer_count=2, seed=96, compression="none")
    copy(run_skopo, layout(tmp_path, image), store.ref(NAME))
    result = run_skopo(
        "--insecure-policy", "copy", "--dest-oci-accept-uncompressed-layers", store.ref(NAME),
        f"oci:{tmp_path / 'out'}:x", env={"PATH": str(tmp_path / "empty-bin")},
    )
    assert result.returncode == 0, describe_result(result)
    assert _read_layout(tmp_path / "out")["raw"] == image.manifest


def test_copy_to_a_digest_reference_checks_the_digest(
    tmp_path: Path, run_skopo: SkopoRunner, storage_factory: StoreFactory
) -> None:
    store = storage_factory()
    image = build_image(fmt="oci", layer_count=1, seed=97)
    src = layout(tmp_path, image)
    wrong = "sha256:" + hashlib.sha256(b"other").hexdigest()
    result = run_skopo("--insecure-policy", "copy", "-q", src, store.ref(f"example.com/d@{wrong}"))
    assert_clean_error(result, match="does not match expected digest")
    assert store.images() == []
    copy(run_skopo, src, store.ref(f"example.com/d@{image.manifest_digest}"))
    assert store.images()[0]["names"] == [f"example.com/d@{image.manifest_digest}"]


def test_image_id_and_prefix_references(
    tmp_path: Path, run_skopo: SkopoRunner, storage_factory: StoreFactory
) -> None:
    store = storage_factory()
    image = build_image(fmt="oci", layer_count=1, seed=98)
    copy(run_skopo, layout(tmp_path, image), store.ref(NAME))
    image_id = hexpart(image.config_digest)
    for name in (image_id, image_id[:6], f"@{image_id[:5]}", f"example.com/skopo/app@{image.manifest_digest}"):
        result = run_skopo("inspect", "--format", "{{.Digest}}", store.ref(name))
        assert result.returncode == 0 and result.stdout.strip() == image.manifest_digest.encode(), describe_result(
            result
        )
    result = run_skopo("inspect", store.ref("example.com/skopo/app:other"))
    assert_clean_error(result, expected_exit=2, match="does not resolve to an image ID")
    # A second name for the same image: c/storage's name order and names history.
    copy(run_skopo, layout(tmp_path, image), store.ref("example.com/skopo/app:second"))
    record = store.image(image_id)
    assert record["names"] == ["example.com/skopo/app:second", NAME]
    assert record["names-history"] == [NAME, "example.com/skopo/app:second"]
    with pytest.raises(PeerCommandError):
        store.podman("image", "exists", "example.com/skopo/app:third")


def test_schema1_images_as_skopeo_stores_them(
    tmp_path: Path, run_skopo: SkopoRunner, skopeo: Skopeo, storage_factory: StoreFactory
) -> None:
    image = build_image(fmt="docker", layer_count=2, seed=100)
    schema1 = tmp_path / "s1"
    skopeo.run("copy", "--format", "v2s1", f"dir:{write_dir(image, tmp_path / 'src')}", f"dir:{schema1}")
    mine, theirs = storage_factory("mine"), storage_factory("theirs")
    copy(run_skopo, f"dir:{schema1}", mine.ref(NAME))
    skopeo.run("copy", f"dir:{schema1}", theirs.ref(NAME))
    assert mine.images() == theirs.images()  # the ID of the config c/image synthesises
    assert [layer["id"] for layer in mine.layers()] == [layer["id"] for layer in theirs.layers()]
    # Out of the store a schema1 image can only be named by a conversion.
    copy(run_skopo, mine.ref(NAME), f"dir:{tmp_path / 'v2s2'}", "--format", "v2s2")
    manifest = json.loads((tmp_path / "v2s2/manifest.json").read_bytes())
    assert [layer["digest"] for layer in manifest["layers"]] == [layer.diff_id for layer in image.layers]
    assert {layer["mediaType"] for layer in manifest["layers"]} == {"application/vnd.docker.image.rootfs.diff.tar"}
    result = run_skopo("--insecure-policy", "copy", "-q", mine.ref(NAME), f"dir:{tmp_path / 'kept'}")
    assert_clean_error(result, match="schema1")
