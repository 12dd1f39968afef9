"""Pushing layers that are transformed on the way (size unknown until the end) to a registry.

Pass-through pushes know every blob's size up front; layers compressed on the fly do not,
and take the chunked-upload path. skopeo pulls the result and every layer must decompress
to its diffID.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

from helpers.images import build_image, write_dir
from helpers.registry import get_manifest

TLS_OFF = "--dest-tls-verify=false"


def _diff_id(blob: bytes) -> str:
    data = gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_uncompressed_layers_are_compressed_and_pushed_whole(run_skopo, skopeo, registry, tmp_path: Path) -> None:
    image = build_image(layer_count=3, layer_size=200_000, seed=5, compression="none")
    src = write_dir(image, tmp_path / "src")
    result = run_skopo("--insecure-policy", "copy", TLS_OFF, f"dir:{src}", registry.docker_ref("push/xform:v1"))
    assert result.returncode == 0, result.stderr.decode()
    manifest = json.loads(get_manifest(registry, "push/xform", "v1").content)
    assert all(layer["mediaType"].endswith("gzip") for layer in manifest["layers"])
    assert all(layer["size"] > 1000 for layer in manifest["layers"])
    pulled = tmp_path / "pulled"
    skopeo.run("copy", "--src-tls-verify=false", registry.docker_ref("push/xform:v1"), f"dir:{pulled}")
    diff_ids = [_diff_id((pulled / layer["digest"].split(":")[1]).read_bytes()) for layer in manifest["layers"]]
    assert diff_ids == image.diff_ids
