"""The test plumbing works against the real peers.

Images built by `helpers.images` are accepted by skopeo and the registry byte for byte,
the registry's digest agrees with skopo's and skopeo's `manifest-digest`, TLS and basic
auth registries behave like real ones, and the podman service answers the Docker API.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests

from helpers import PodmanService, RegistryFactory, RegistryServer, Skopeo, SkopoRunner, describe_result
from helpers.images import (
    BuiltImage,
    Compression,
    Format,
    build_image,
    build_multiarch,
    sha256_digest,
    write_dir,
    write_oci_layout,
)
from helpers.registry import get_manifest, push_image

pytestmark = pytest.mark.peer


def _assert_blobs_present(registry: RegistryServer, repo: str, image: BuiltImage) -> None:
    for digest, data in image.blobs().items():
        head = requests.head(
            f"{registry.url}/v2/{repo}/blobs/{digest}", timeout=30, **registry.requests_kwargs()
        )
        assert head.status_code == 200, f"{digest}: {head.status_code}"
        assert head.headers["Docker-Content-Digest"] == digest
        assert int(head.headers["Content-Length"]) == len(data)


@pytest.mark.parametrize("fmt", ["docker", "oci"])
def test_skopeo_push_and_manifest_digests_agree(
    fmt: Format, tmp_path: Path, registry_server: RegistryServer, skopeo: Skopeo, run_skopo: SkopoRunner
) -> None:
    image = build_image(fmt=fmt, layer_count=2, layer_size=8192, seed=7)
    source = write_dir(image, tmp_path / "src")
    repo = f"plumbing/test-{fmt}"

    skopeo.run("copy", "--dest-tls-verify=false", f"dir:{source}", registry_server.docker_ref(f"{repo}:v1"))

    response = get_manifest(registry_server, repo, "v1")
    assert response.status_code == 200, response.text
    body = response.content
    digest = response.headers["Docker-Content-Digest"]
    assert digest == sha256_digest(body)
    assert response.headers["Content-Type"] == image.media_type
    assert body == image.manifest, "skopeo should push the built manifest unchanged"
    assert digest == image.manifest_digest
    _assert_blobs_present(registry_server, repo, image)

    manifest_file = tmp_path / "manifest.json"
    manifest_file.write_bytes(body)
    ours = run_skopo("manifest-digest", manifest_file)
    assert ours.returncode == 0, describe_result(ours)
    assert ours.stdout.decode() == f"{digest}\n"
    assert ours.stderr == b""
    theirs = skopeo.run("manifest-digest", manifest_file)
    assert theirs.stdout.decode().strip() == digest


@pytest.mark.parametrize(("fmt", "layout"), [("docker", "dir"), ("oci", "oci"), ("oci", "dir")])
def test_multiarch_layouts_copy_whole(
    fmt: Format, layout: str, tmp_path: Path, registry_server: RegistryServer, skopeo: Skopeo
) -> None:
    index = build_multiarch(fmt=fmt, seed=3)
    if layout == "dir":
        source = f"dir:{write_dir(index, tmp_path / 'src')}"
    else:
        source = f"oci:{write_oci_layout(index, tmp_path / 'src', 'multi')}:multi"
    repo = f"plumbing/multi-{fmt}-{layout}"

    skopeo.run("copy", "--all", "--dest-tls-verify=false", source, registry_server.docker_ref(f"{repo}:v1"))

    response = get_manifest(registry_server, repo, "v1")
    assert response.status_code == 200, response.text
    assert response.content == index.manifest
    assert response.headers["Docker-Content-Digest"] == index.manifest_digest
    for instance in index.images:
        child = get_manifest(registry_server, repo, instance.manifest_digest)
        assert child.content == instance.manifest
        _assert_blobs_present(registry_server, repo, instance)


@pytest.mark.parametrize("fmt", ["docker", "oci"])
@pytest.mark.parametrize("layout", ["dir", "oci"])
@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_layouts_read_by_skopeo(
    fmt: Format, layout: str, compression: Compression, tmp_path: Path, skopeo: Skopeo
) -> None:
    image = build_image(fmt=fmt, seed=13, compression=compression, layer_count=3)
    if layout == "dir":
        name = f"dir:{write_dir(image, tmp_path / 'src')}"
    elif fmt == "docker":
        with pytest.raises(ValueError, match="OCI layout"):
            write_oci_layout(image, tmp_path / "src")
        return
    else:
        write_oci_layout(build_image(fmt=fmt, seed=14), tmp_path / "src", "other")
        name = f"oci:{write_oci_layout(image, tmp_path / 'src', 'v1')}:v1"
    assert skopeo.run("inspect", "--raw", name).stdout == image.manifest
    assert skopeo.run("inspect", "--config", "--raw", name).stdout == image.config
    copied = tmp_path / "copied"
    skopeo.run("copy", name, f"dir:{copied}")
    assert (copied / "manifest.json").read_bytes() == image.manifest
    for digest, data in image.blobs().items():
        assert (copied / digest.split(":", 1)[1]).read_bytes() == data


def test_push_helper_matches_skopeo_view(registry_server: RegistryServer, skopeo: Skopeo) -> None:
    image = build_image(fmt="oci", seed=11, labels={"org.example.test": "push"})
    digest = push_image(registry_server, "plumbing/pushed", "v1", image)
    raw = skopeo.run(
        "inspect", "--raw", "--tls-verify=false", registry_server.docker_ref("plumbing/pushed:v1")
    )
    assert raw.stdout == image.manifest
    inspected = json.loads(
        skopeo.run("inspect", "--tls-verify=false", registry_server.docker_ref("plumbing/pushed:v1")).stdout
    )
    assert inspected["Digest"] == digest
    assert inspected["Layers"] == image.layer_digests
    assert inspected["Labels"] == {"org.example.test": "push"}


def test_fresh_registry_is_empty_and_local(registry: RegistryServer) -> None:
    assert registry.host.startswith("127.0.0.1:")
    catalog = requests.get(f"{registry.url}/v2/_catalog", timeout=10)
    assert catalog.status_code == 200
    assert catalog.json() == {"repositories": []}
    assert registry.log_path.exists()
    assert registry.storage_dir.is_dir()


def test_tls_registry_needs_the_ca(tmp_path: Path, registry_factory: RegistryFactory, skopeo: Skopeo) -> None:
    registry: RegistryServer = registry_factory(tls=True)
    assert registry.url.startswith("https://127.0.0.1:")
    assert registry.cert_dir is not None and (registry.cert_dir / "ca.crt").is_file()
    source = f"dir:{write_dir(build_image(seed=5), tmp_path / 'src')}"
    destination = registry.docker_ref("plumbing/tls:v1")

    refused = skopeo.run("copy", source, destination, check=False)
    assert refused.returncode != 0, describe_result(refused)
    assert re.search(r"x509|certificate", refused.stderr.decode()), describe_result(refused)

    skopeo.run("copy", "--dest-cert-dir", registry.cert_dir, source, destination)
    assert get_manifest(registry, "plumbing/tls", "v1").status_code == 200
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{registry.url}/v2/", timeout=10)  # the system CAs do not know ours


def test_htpasswd_registry_needs_credentials(
    tmp_path: Path, registry_factory: RegistryFactory, skopeo: Skopeo
) -> None:
    registry: RegistryServer = registry_factory(tls=True, htpasswd=("alice", "s3cret"))
    assert registry.credentials == ("alice", "s3cret")
    source = f"dir:{write_dir(build_image(seed=6), tmp_path / 'src')}"
    destination = registry.docker_ref("plumbing/auth:v1")
    cert_dir = f"--dest-cert-dir={registry.cert_dir}"

    anonymous = requests.get(f"{registry.url}/v2/", timeout=10, verify=str(registry.ca_cert_path))
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic ")

    refused = skopeo.run("copy", cert_dir, source, destination, check=False)
    assert refused.returncode != 0
    assert re.search(r"unauthorized|authentication required", refused.stderr.decode()), describe_result(
        refused
    )
    wrong = skopeo.run("copy", cert_dir, "--dest-creds=alice:wrong", source, destination, check=False)
    assert wrong.returncode != 0

    skopeo.run("copy", cert_dir, "--dest-creds=alice:s3cret", source, destination)
    assert get_manifest(registry, "plumbing/auth", "v1").status_code == 200


def test_podman_service_answers(podman_service: PodmanService) -> None:
    assert podman_service.docker_host == f"unix://{podman_service.socket_path}"
    status, _, body = podman_service.api("GET", "/_ping")
    assert (status, body) == (200, b"OK")
    status, headers, body = podman_service.api("GET", "/version")
    assert status == 200
    assert headers.get("Content-Type", "").startswith("application/json")
    version = json.loads(body)
    assert version["Version"]
    assert version["ApiVersion"]


def test_podman_takes_an_image_from_skopeo(
    tmp_path: Path, podman_service: PodmanService, skopeo: Skopeo
) -> None:
    image = build_image(seed=9)
    source = f"dir:{write_dir(image, tmp_path / 'src')}"
    name = "plumbing/podman:v1"
    skopeo.run("copy", f"--dest-daemon-host={podman_service.docker_host}", source, f"docker-daemon:{name}")
    try:
        status, _, body = podman_service.api("GET", f"/images/{name}/json")
        assert status == 200, body
        info = json.loads(body)
        assert info["Id"] == image.config_digest
        assert info["RootFS"]["Layers"] == image.diff_ids
        back = tmp_path / "back"
        skopeo.run(
            "copy", f"--src-daemon-host={podman_service.docker_host}", f"docker-daemon:{name}", f"dir:{back}"
        )
        assert (back / image.config_digest.split(":", 1)[1]).read_bytes() == image.config
    finally:
        podman_service.api("DELETE", f"/images/{name}?force=true")
