"""Only blobs the written manifests reference land in a local destination.

A format conversion replaces the config (v2s2 -> OCI writes a new one; schema1 has none), so
the source's config must not be written beside the layers first: it would be an orphan
(skopeo's systemtest compares two layouts of the same image with `diff -r`). Checked for
every conversion path and every local destination, a shared blob directory included.
"""

from __future__ import annotations

import filecmp
import json
from pathlib import Path

import pytest

from helpers import SkopoRunner, describe_result
from helpers.images import build_image, build_multiarch, sha256_digest, write_dir, write_oci_layout


def copy(run_skopo: SkopoRunner, *args: str | Path) -> None:
    result = run_skopo("--insecure-policy", "copy", "-q", *args)
    assert result.returncode == 0, describe_result(result)


def _referenced(manifest: bytes, read: dict[str, bytes]) -> set[str]:
    """Digests a manifest (or list, recursively) references, itself excluded."""
    doc = json.loads(manifest)
    found: set[str] = set()
    if "manifests" in doc:
        for entry in doc["manifests"]:
            found.add(entry["digest"])
            found |= _referenced(read[entry["digest"]], read)
        return found
    if "config" in doc:
        found.add(doc["config"]["digest"])
    found |= {layer["digest"] for layer in doc.get("layers", [])}
    found |= {layer["blobSum"] for layer in doc.get("fsLayers", [])}
    return found


def layout_blobs_and_references(layout: Path, blob_dir: Path | None = None) -> tuple[set[str], set[str]]:
    root = blob_dir if blob_dir is not None else layout / "blobs"
    blobs = {f"{p.parent.name}:{p.name}" for p in root.glob("*/*") if p.is_file()}
    read = {b: (root / b.replace(":", "/")).read_bytes() for b in blobs}
    referenced: set[str] = set()
    for entry in json.loads((layout / "index.json").read_bytes())["manifests"]:
        referenced.add(entry["digest"])
        referenced |= _referenced(read[entry["digest"]], read)
    return blobs, referenced


def dir_blobs_and_references(path: Path) -> tuple[set[str], set[str]]:
    blobs = {"sha256:" + p.name for p in path.iterdir() if len(p.name) == 64}
    manifests = {p.name: p.read_bytes() for p in path.iterdir() if p.name.endswith("manifest.json")}
    read = {f"sha256:{name.split('.', 1)[0]}": data for name, data in manifests.items() if name != "manifest.json"}
    referenced = _referenced(manifests["manifest.json"], read)
    return blobs, referenced - set(read)


def schema1_dir(path: Path) -> Path:
    base, upper = b"base layer content", b"upper layer content"
    top = {"id": "b" * 64, "parent": "a" * 64, "created": "2023-05-06T07:08:09Z", "os": "linux",
           "config": {"Env": ["A=1"]}}
    bottom = {"id": "a" * 64, "created": "2023-01-01T00:00:00Z"}
    import gzip

    layers = [gzip.compress(b, mtime=0) for b in (base, upper)]
    manifest = json.dumps({
        "schemaVersion": 1, "name": "ns/app", "tag": "v1", "architecture": "amd64",
        "fsLayers": [{"blobSum": sha256_digest(layers[1])}, {"blobSum": sha256_digest(layers[0])}],
        "history": [{"v1Compatibility": json.dumps(top)}, {"v1Compatibility": json.dumps(bottom)}],
    }).encode()
    path.mkdir()
    (path / "version").write_bytes(b"Directory Transport Version: 1.1\n")
    (path / "manifest.json").write_bytes(manifest)
    for blob in layers:
        (path / sha256_digest(blob)[7:]).write_bytes(blob)
    return path


def _source(kind: str, tmp_path: Path) -> str:
    if kind == "v2s2":
        return f"dir:{write_dir(build_image(fmt='docker', layer_count=2, seed=61), tmp_path / 'src')}"
    if kind == "oci":
        return f"oci:{write_oci_layout(build_image(fmt='oci', layer_count=2, seed=62), tmp_path / 'src', 'v1')}:v1"
    if kind == "schema1":
        return f"dir:{schema1_dir(tmp_path / 'src')}"
    if kind == "docker-list":
        return f"dir:{write_dir(build_multiarch(fmt='docker', seed=63), tmp_path / 'src')}"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["v2s2", "schema1", "docker-list", "oci"])
@pytest.mark.parametrize("dest", ["oci", "oci-shared", "oci-archive"])
def test_a_layout_holds_only_referenced_blobs(run_skopo: SkopoRunner, tmp_path: Path, kind: str, dest: str) -> None:
    src = _source(kind, tmp_path)
    flags: list[str] = ["--all"] if kind == "docker-list" else []
    shared = tmp_path / "shared"
    if dest == "oci-shared":
        flags += ["--dest-shared-blob-dir", str(shared)]
    if dest == "oci-archive":
        copy(run_skopo, *flags, src, f"oci-archive:{tmp_path / 'out.tar'}:v1")
        import tarfile

        with tarfile.open(tmp_path / "out.tar") as tar:
            tar.extractall(tmp_path / "unpacked", filter="data")
        layout = tmp_path / "unpacked"
    else:
        layout = tmp_path / "layout"
        copy(run_skopo, *flags, src, f"oci:{layout}:v1")
    blobs, referenced = layout_blobs_and_references(layout, shared if dest == "oci-shared" else None)
    assert blobs == referenced, f"orphans: {sorted(blobs - referenced)}, missing: {sorted(referenced - blobs)}"


@pytest.mark.parametrize(("kind", "fmt"), [("v2s2", "oci"), ("oci", "v2s2"), ("schema1", "oci"), ("schema1", "v2s2")])
def test_a_dir_holds_only_referenced_blobs(run_skopo: SkopoRunner, tmp_path: Path, kind: str, fmt: str) -> None:
    src = _source(kind, tmp_path)
    out = tmp_path / "out"
    copy(run_skopo, "--format", fmt, src, f"dir:{out}")
    blobs, referenced = dir_blobs_and_references(out)
    assert blobs == referenced, f"orphans: {sorted(blobs - referenced)}"


def test_two_conversions_of_one_image_give_identical_layouts(run_skopo: SkopoRunner, tmp_path: Path) -> None:
    src = _source("v2s2", tmp_path)
    copy(run_skopo, src, f"oci:{tmp_path / 'a'}:v1")
    copy(run_skopo, src, f"oci:{tmp_path / 'b'}:v1")
    comparison = filecmp.dircmp(tmp_path / "a", tmp_path / "b")
    assert not comparison.left_only and not comparison.right_only and not comparison.diff_files
    a_blobs = sorted(p.name for p in (tmp_path / "a" / "blobs" / "sha256").iterdir())
    b_blobs = sorted(p.name for p in (tmp_path / "b" / "blobs" / "sha256").iterdir())
    assert a_blobs == b_blobs
