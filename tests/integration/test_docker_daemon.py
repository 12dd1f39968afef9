"""`docker-daemon:` both ways against a real Docker-compatible engine: podman's API service
(the session `podman_service` fixture, vfs storage in a temp folder), with the registry and
skopeo 1.9.3 as peers.

- registry -> daemon -> registry keeps the config (same digest) and the layers (same
  uncompressed content, i.e. diffIDs), whichever way the image enters and leaves the
  registry (skopo's `docker://` when available, else skopeo via `dir:`);
- daemon -> docker-archive: `skopeo inspect` of the archive agrees with `skopeo inspect
  docker-daemon:` and with `skopo inspect docker-daemon:`;
- loading under another name, by image ID, through `$DOCKER_HOST`;
- errors: no engine at the socket (named in the message), image not in the engine (exit
  2), the engine refusing an image (its message reported), a failed copy loads nothing.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import uuid
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import requests

from helpers import PodmanService, RegistryServer, Skopeo, SkopoRunner, assert_clean_error, describe_result
from helpers.images import BuiltImage, build_image, write_dir
from helpers.registry import get_manifest, push_image

# Fields of `inspect` output that both tools compute the same way for these images.
INSPECT_FIELDS = ("Digest", "Created", "DockerVersion", "Labels", "Architecture", "Os", "Layers", "Env")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def skopo_ok(
    run_skopo: SkopoRunner, *args: str | Path, env: dict[str, str | None] | None = None
) -> CompletedProcess[bytes]:
    result = run_skopo("--insecure-policy", *args, env={"DOCKER_HOST": None, **(env or {})}, timeout=300)
    assert result.returncode == 0, describe_result(result)
    return result


def skopo_fails(run_skopo: SkopoRunner, *args: str | Path, expected_exit: int | None = None,
                match: str | None = None) -> str:
    result = run_skopo("--insecure-policy", *args, env={"DOCKER_HOST": None}, timeout=300)
    return assert_clean_error(result, expected_exit=expected_exit, match=match)


def engine_image(podman: PodmanService, name: str) -> dict[str, Any] | None:
    """The engine's `GET /images/{name}/json`, or None if it has no such image."""
    status, _, body = podman.api("GET", f"/v1.41/images/{name}/json")
    if status == 404:
        return None
    assert status == 200, body
    doc: dict[str, Any] = json.loads(body)
    return doc


def uncompressed_sha256(blob: bytes) -> str:
    data = gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob
    return "sha256:" + hashlib.sha256(data).hexdigest()


def registry_blob(registry: RegistryServer, repo: str, digest: str) -> bytes:
    response = requests.get(f"{registry.url}/v2/{repo}/blobs/{digest}", timeout=60, **registry.requests_kwargs())
    assert response.status_code == 200, response.text
    return response.content


def load_with_skopeo(skopeo: Skopeo, podman: PodmanService, image: BuiltImage, tmp_path: Path, name: str) -> None:
    """Put `image` into the engine as `name` with skopeo (the independent peer)."""
    src = write_dir(image, tmp_path / unique("dir"))
    skopeo.run("copy", "--dest-daemon-host", podman.docker_host, f"dir:{src}", f"docker-daemon:{name}")


# ---------------------------------------------------------------- round trips


def test_registry_daemon_registry_round_trip(
    run_skopo: SkopoRunner, registry: RegistryServer, podman_service: PodmanService
) -> None:
    image = build_image(layer_count=3, layer_size=300_000, seed=81, labels={"round": "trip"})
    push_image(registry, "dd/source", "v1", image)
    daemon_name = f"{registry.host}/dd/{unique('rt')}:v1"
    host = podman_service.docker_host

    skopo_ok(run_skopo, "copy", "--src-tls-verify=false", "--dest-daemon-host", host,
             registry.docker_ref("dd/source:v1"), f"docker-daemon:{daemon_name}")
    skopo_ok(run_skopo, "copy", "--src-daemon-host", host, "--dest-tls-verify=false",
             f"docker-daemon:{daemon_name}", registry.docker_ref("dd/back:v1"))

    in_engine = engine_image(podman_service, daemon_name)
    assert in_engine is not None and in_engine["Id"] == image.config_digest

    manifest = json.loads(get_manifest(registry, "dd/back", "v1").content)
    assert manifest["config"]["digest"] == image.config_digest
    assert registry_blob(registry, "dd/back", image.config_digest) == image.config
    back_diff_ids = [
        uncompressed_sha256(registry_blob(registry, "dd/back", layer["digest"])) for layer in manifest["layers"]
    ]
    assert back_diff_ids == image.diff_ids


def test_daemon_to_docker_archive_agrees_with_skopeo(
    run_skopo: SkopoRunner, skopeo: Skopeo, podman_service: PodmanService, tmp_path: Path
) -> None:
    image = build_image(layer_count=2, layer_size=150_000, seed=82, labels={"a": "b"})
    name = f"localhost/dd/{unique('archive')}:v2"
    load_with_skopeo(skopeo, podman_service, image, tmp_path, name)
    host = podman_service.docker_host

    archive = tmp_path / "out.tar"
    skopo_ok(run_skopo, "copy", "--src-daemon-host", host, f"docker-daemon:{name}", f"docker-archive:{archive}")

    from_daemon = json.loads(skopeo.run("inspect", "--daemon-host", host, f"docker-daemon:{name}").stdout)
    from_archive = json.loads(skopeo.run("inspect", f"docker-archive:{archive}").stdout)
    ours = json.loads(skopo_ok(run_skopo, "inspect", "--daemon-host", host, f"docker-daemon:{name}").stdout)
    for field in INSPECT_FIELDS:
        assert from_archive.get(field) == from_daemon.get(field), field
        assert ours.get(field) == from_daemon.get(field), field
    assert from_daemon["Layers"] == image.diff_ids
    # The archive is tagged with the source's name, as c/image does.
    assert skopeo.run("list-tags", f"docker-archive:{archive}").returncode == 0


def test_load_under_another_name_and_back(
    run_skopo: SkopoRunner, skopeo: Skopeo, podman_service: PodmanService, tmp_path: Path
) -> None:
    image = build_image(layer_count=2, layer_size=100_000, seed=83)
    src = write_dir(image, tmp_path / "src")
    host = podman_service.docker_host
    first = f"{unique('first')}:one"
    second = f"quay.io/dd/{unique('second')}:two"

    skopo_ok(run_skopo, "copy", "--dest-daemon-host", host, f"dir:{src}", f"docker-daemon:{first}")
    loaded = engine_image(podman_service, f"docker.io/library/{first}")
    assert loaded is not None and loaded["Id"] == image.config_digest
    assert f"docker.io/library/{first}" in loaded["RepoTags"]

    # Engine -> engine under another name (save, then load).
    skopo_ok(run_skopo, "copy", "--src-daemon-host", host, "--dest-daemon-host", host,
             f"docker-daemon:{first}", f"docker-daemon:{second}")
    renamed = engine_image(podman_service, second)
    assert renamed is not None and renamed["Id"] == image.config_digest

    # skopeo reads what skopo loaded, and every blob verifies.
    out = tmp_path / "by-skopeo"
    skopeo.run("copy", "--src-daemon-host", host, f"docker-daemon:{second}", f"dir:{out}")
    assert (out / image.config_digest.split(":")[1]).read_bytes() == image.config


def test_source_by_image_id_and_docker_host_env(
    run_skopo: SkopoRunner, skopeo: Skopeo, podman_service: PodmanService, tmp_path: Path
) -> None:
    image = build_image(layer_count=1, layer_size=50_000, seed=84)
    load_with_skopeo(skopeo, podman_service, image, tmp_path, f"{unique('byid')}:x")
    env = {"DOCKER_HOST": podman_service.docker_host}
    result = run_skopo("inspect", f"docker-daemon:{image.config_digest}", env=env)
    assert result.returncode == 0, describe_result(result)
    assert json.loads(result.stdout)["Layers"] == image.diff_ids


# ---------------------------------------------------------------- errors


def test_missing_engine_names_the_socket(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    sock = tmp_path / "no-engine.sock"
    line = skopo_fails(run_skopo, "inspect", "--daemon-host", f"unix://{sock}", "docker-daemon:busybox:latest",
                       expected_exit=1)
    assert f"Cannot connect to the Docker daemon at unix://{sock}" in line
    assert "no such file or directory" in line

    src = write_dir(build_image(layer_count=1, layer_size=1000, seed=85), tmp_path / "src")
    line = skopo_fails(run_skopo, "copy", "-q", "--dest-daemon-host", f"unix://{sock}", f"dir:{src}",
                       "docker-daemon:busybox:latest", expected_exit=1)
    assert str(sock) in line


def test_image_not_in_engine_exits_2(run_skopo: SkopoRunner, podman_service: PodmanService, tmp_path: Path) -> None:
    name = f"{unique('absent')}:nope"
    line = skopo_fails(run_skopo, "inspect", "--daemon-host", podman_service.docker_host, f"docker-daemon:{name}",
                       expected_exit=2)
    assert "loading image from docker engine" in line and name in line
    skopo_fails(run_skopo, "copy", "-q", "--src-daemon-host", podman_service.docker_host, f"docker-daemon:{name}",
                f"dir:{tmp_path / 'x'}", expected_exit=2)
    assert not (tmp_path / "x").exists()


def test_reference_errors_are_skopeo_texts(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    skopo_fails(run_skopo, "inspect", "docker-daemon:busybox", match="reference busybox has neither a tag nor a digest")
    src = write_dir(build_image(layer_count=1, layer_size=1000, seed=86), tmp_path / "src")
    skopo_fails(run_skopo, "copy", "-q", f"dir:{src}", "docker-daemon:sha256:" + "a" * 64,
                match="a destination must be a name:tag")


def _image_with_wrong_diff_id(image: BuiltImage, tmp_path: Path) -> Path:
    """A `dir:` image whose config announces a diffID no layer has (the engine must refuse)."""
    config = json.loads(image.config)
    config["rootfs"]["diff_ids"][-1] = "sha256:" + "0" * 64
    config_bytes = json.dumps(config).encode()
    config_digest = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    manifest = json.loads(image.manifest)
    manifest["config"] = {**manifest["config"], "digest": config_digest, "size": len(config_bytes)}
    path = write_dir(image, tmp_path / "bad")
    (path / image.config_digest.split(":")[1]).unlink()
    (path / config_digest.split(":")[1]).write_bytes(config_bytes)
    (path / "manifest.json").write_bytes(json.dumps(manifest).encode())
    return path


def test_engine_refusal_is_reported(run_skopo: SkopoRunner, podman_service: PodmanService, tmp_path: Path) -> None:
    image = build_image(layer_count=2, layer_size=20_000, seed=87)
    bad = _image_with_wrong_diff_id(image, tmp_path)
    name = f"{unique('refused')}:v1"
    line = skopo_fails(run_skopo, "copy", "-q", "--dest-daemon-host", podman_service.docker_host, f"dir:{bad}",
                       f"docker-daemon:{name}", expected_exit=1)
    assert line.startswith("docker engine reported:") or "docker engine reported" in line, line
    assert engine_image(podman_service, f"docker.io/library/{name}") is None


def test_failed_copy_loads_nothing(run_skopo: SkopoRunner, podman_service: PodmanService, tmp_path: Path) -> None:
    image = build_image(layer_count=2, layer_size=200_000, seed=88)
    src = write_dir(image, tmp_path / "src")
    # Corrupt the last layer: its digest check fails mid-upload, after other blobs were sent.
    last = src / image.layers[-1].digest.split(":")[1]
    data = bytearray(last.read_bytes())
    data[len(data) // 2] ^= 0xFF
    last.write_bytes(bytes(data))
    name = f"{unique('aborted')}:v1"
    skopo_fails(run_skopo, "copy", "-q", "--dest-daemon-host", podman_service.docker_host, f"dir:{src}",
                f"docker-daemon:{name}", expected_exit=1)
    assert engine_image(podman_service, f"docker.io/library/{name}") is None
    assert os.path.exists(podman_service.socket_path)  # the engine survived the cut-off upload
    status, _, _ = podman_service.api("GET", "/_ping")
    assert status == 200
