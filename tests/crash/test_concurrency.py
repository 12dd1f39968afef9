"""Concurrency (issue 10, item 4): 8 processes copying different tags into one place at once.

- One `oci:` layout: `tests/integration/test_copy_local.py::test_concurrent_copies_of_different_tags`
  (and `::test_concurrent_copies_of_one_tag`), reused here by parametrizing over it so the
  suite lists both destinations together.
- One registry repository: below, against the real `docker-registry`.
"""

from __future__ import annotations

import gzip
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from helpers import RegistryServer, SkopoRunner, describe_result
from helpers.images import build_image, make_layer, tar_bytes, write_dir
from helpers.registry import get_manifest


def test_concurrent_tags_into_one_oci_layout(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    """The oci: case lives in test_copy_local.py; this runs the very same function."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "integration" / "test_copy_local.py"
    spec = importlib.util.spec_from_file_location("_reuse_test_copy_local", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.test_concurrent_copies_of_different_tags(run_skopo, tmp_path)


@pytest.mark.peer
def registry_log_tail(registry: RegistryServer, lines: int = 20) -> str:
    """The registry's last logged errors and warnings but HEAD misses (they explain a refusal)."""
    try:
        logged = registry.log_path.read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"(no log: {exc})"
    wanted = [line for line in logged if ("level=error" in line or "level=warn" in line) and "method=HEAD" not in line]
    return "\n".join(wanted[-lines:])


def test_concurrent_tags_into_one_registry_repository(run_skopo: SkopoRunner, tmp_path: Path,
                                                      registry: RegistryServer) -> None:
    shared = make_layer(tar_bytes({"shared/": None, "shared/f": b"common base layer\n" * 20000}), fmt="oci")
    images = []
    for i in range(8):
        own = tar_bytes({f"own{i}/": None, f"own{i}/f": f"image {i}\n".encode() * 5000})
        images.append(build_image(fmt="oci", layer_tars=[gzip.decompress(shared.data), own], seed=400 + i))
    procs = []
    for i, image in enumerate(images):
        src = write_dir(image, tmp_path / f"src{i}")
        argv = [sys.executable, "-m", "toolkit", "--insecure-policy", "copy", "-q", "--dest-tls-verify=false",
                f"dir:{src}", registry.docker_ref(f"conc/repo:tag{i}")]
        procs.append(subprocess.Popen(argv, env=dict(run_skopo.env), stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{err.decode()}\nregistry log:\n{registry_log_tail(registry)}"
    for i, image in enumerate(images):
        resp = get_manifest(registry, "conc/repo", f"tag{i}")
        assert resp.status_code == 200 and resp.content == image.manifest
        for digest, data in image.blobs().items():
            blob = requests.get(f"{registry.url}/v2/conc/repo/blobs/{digest}", timeout=30)
            assert blob.status_code == 200 and hashlib.sha256(blob.content).hexdigest() == digest.split(":")[1]
            assert blob.content == data
    tags = run_skopo("list-tags", "--tls-verify=false", f"docker://{registry.host}/conc/repo")
    assert tags.returncode == 0, describe_result(tags)
    assert all(f'"tag{i}"' in tags.stdout.decode() for i in range(8))
