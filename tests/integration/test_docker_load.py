"""`docker load` accepts the archives `skopo copy ... docker-archive:` writes.

The engine is podman's Docker-compatible API (`podman_service`): `POST /images/load` with
the archive as the body, then `GET /images/NAME/json` must show the image with the tag we
asked for and the config's layers (RootFS diffIDs). Three archives: the default one
(uncompressed layers), `--dest-compress` (gzip layers inside the tar), and one produced
through a pipe (`docker-archive:-`, written as a stream).
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from helpers import PodmanService, SkopoRunner, describe_result
from helpers.images import build_image, write_dir


def _load_and_check(podman_service: PodmanService, archive: bytes, tag: str, diff_ids: list[str]) -> None:
    status, _, body = podman_service.api(
        "POST", "/images/load", body=archive, headers={"Content-Type": "application/x-tar"}, timeout=120
    )
    assert status == 200, body[-2000:]
    status, _, body = podman_service.api("GET", f"/images/{urllib.parse.quote(tag, safe='')}/json")
    assert status == 200, body[-2000:]
    info = json.loads(body)
    assert tag in info["RepoTags"], info["RepoTags"]
    assert info["RootFS"]["Layers"] == diff_ids
    status, _, body = podman_service.api("GET", "/images/json")
    assert status == 200
    assert any(tag in (image.get("RepoTags") or []) for image in json.loads(body))
    podman_service.api("DELETE", f"/images/{urllib.parse.quote(tag, safe='')}?force=true")


@pytest.mark.parametrize("variant", ["default", "dest-compress"])
def test_docker_load_accepts_archive(
    run_skopo: SkopoRunner, podman_service: PodmanService, tmp_path: Path, variant: str
) -> None:
    image = build_image(fmt="docker", layer_count=3, layer_size=20000, seed=400 if variant == "default" else 401)
    src = write_dir(image, tmp_path / "src")
    tag = f"example.com/load/{variant}:v1"
    archive = tmp_path / "image.tar"
    flags = ["--dest-compress"] if variant == "dest-compress" else []
    result = run_skopo("--insecure-policy", "copy", "-q", *flags, f"dir:{src}", f"docker-archive:{archive}:{tag}")
    assert result.returncode == 0, describe_result(result)
    _load_and_check(podman_service, archive.read_bytes(), tag, image.diff_ids)


def test_docker_load_accepts_piped_archive(
    run_skopo: SkopoRunner, podman_service: PodmanService, tmp_path: Path
) -> None:
    image = build_image(fmt="oci", layer_count=2, layer_size=30000, seed=402)
    src = write_dir(image, tmp_path / "src")
    tag = "example.com/load/piped:v2"
    producer = subprocess.Popen(
        [sys.executable, "-m", "toolkit", "--insecure-policy", "copy", f"dir:{src}", f"docker-archive:-:{tag}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=dict(run_skopo.env),
    )
    archive, err = producer.communicate(timeout=120)
    assert producer.returncode == 0, err.decode()
    _load_and_check(podman_service, archive, tag, image.diff_ids)
