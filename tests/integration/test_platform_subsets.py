"""Platform subsets of multi-arch images (`--multi-arch LIST`, `--strip-removed-platforms`,
`--remove-list-signatures`), against the real registry and local layouts.

The source is a buildx-style index (three platform images, each followed by its attestation
manifest). A subset copies the chosen images with their attestations, byte for byte; the
destination list keeps every entry (a sparse list, which docker-registry refuses) unless
`--strip-removed-platforms` writes one holding only what was copied.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import Skopeo, SkopoRunner, assert_clean_error, describe_result
from helpers.artifacts import build_buildx_index
from helpers.images import BuiltIndex, Platform, write_dir, write_oci_layout
from helpers.registry import RegistryServer, get_manifest, push_image
from helpers.trees import leftovers, snapshot

PLAIN = ("--src-tls-verify=false", "--dest-tls-verify=false")
PLATFORMS = (Platform("linux", "amd64"), Platform("linux", "arm64", "v8"), Platform("linux", "arm", "v7"))


@pytest.fixture
def index() -> BuiltIndex:
    return build_buildx_index(PLATFORMS, seed=11)


def entries_for(index: BuiltIndex, *architectures: str) -> list[dict[str, object]]:
    """The source index entries of these platforms' images and of their attestations, in order."""
    chosen = {i.manifest_digest for i in index.images if i.platform.architecture in architectures}
    manifests: list[dict[str, object]] = json.loads(index.manifest)["manifests"]
    return [
        m for m in manifests
        if m["digest"] in chosen or (m.get("annotations") or {}).get("vnd.docker.reference.digest") in chosen
    ]


def run_copy(run_skopo: SkopoRunner, *args: str | Path) -> None:
    result = run_skopo("--insecure-policy", "copy", "-q", *args)
    assert result.returncode == 0, describe_result(result)


def test_strip_removed_platforms_registry_to_registry(
    run_skopo: SkopoRunner, registry: RegistryServer, skopeo: Skopeo, index: BuiltIndex
) -> None:
    push_image(registry, "subset/src", "v1", index)
    run_copy(run_skopo, *PLAIN, "--multi-arch", "linux/amd64,linux/arm64", "--strip-removed-platforms",
             f"docker://{registry.host}/subset/src:v1", f"docker://{registry.host}/subset/dst:v1")
    written = json.loads(get_manifest(registry, "subset/dst", "v1").content)
    assert written["manifests"] == entries_for(index, "amd64", "arm64")
    assert len(written["manifests"]) == 4  # two images, two attestations
    for entry in written["manifests"]:
        instance = next(i for i in index.images if i.manifest_digest == entry["digest"])
        assert get_manifest(registry, "subset/dst", str(entry["digest"])).content == instance.manifest
    arm = next(i for i in index.images if i.platform.architecture == "arm")
    assert get_manifest(registry, "subset/dst", arm.manifest_digest).status_code == 404
    # skopeo 1.9.3 reads the stripped list and copies it whole, with the same digests.
    stripped = get_manifest(registry, "subset/dst", "v1").content
    assert skopeo.run("inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/subset/dst:v1").stdout \
        == stripped
    skopeo.run("copy", "--all", "--src-tls-verify=false", "--dest-tls-verify=false",
               f"docker://{registry.host}/subset/dst:v1", f"docker://{registry.host}/subset/byskopeo:v1")
    assert get_manifest(registry, "subset/byskopeo", "v1").content == stripped


def test_sparse_list_is_refused_by_the_registry_but_kept_in_a_layout(
    run_skopo: SkopoRunner, registry: RegistryServer, index: BuiltIndex, tmp_path: Path
) -> None:
    push_image(registry, "sparse/src", "v1", index)
    src = f"docker://{registry.host}/sparse/src:v1"
    # docker-registry checks every entry of an index: a sparse one is refused, in one line.
    result = run_skopo("--insecure-policy", "copy", "-q", *PLAIN, "--multi-arch", "linux/amd64", src,
                       f"docker://{registry.host}/sparse/dst:v1")
    assert_clean_error(result, match="blob unknown to registry.*or pass --strip-removed-platforms")
    assert get_manifest(registry, "sparse/dst", "v1").status_code == 404
    # An OCI layout holds the sparse index as it is: same digest as the source.
    layout = tmp_path / "layout"
    run_copy(run_skopo, *PLAIN, "--multi-arch", "linux/amd64", src, f"oci:{layout}:v1")
    entry = json.loads((layout / "index.json").read_bytes())["manifests"][0]
    assert entry["digest"] == index.manifest_digest
    blobs = {p.name for p in (layout / "blobs" / "sha256").iterdir()}
    for instance in index.images:
        wanted = instance.platform.architecture == "amd64" or any(
            e["digest"] == instance.manifest_digest for e in entries_for(index, "amd64")
        )
        assert (instance.manifest_hex in blobs) == wanted, instance.platform


def test_a_variant_narrows_the_choice(run_skopo: SkopoRunner, index: BuiltIndex, tmp_path: Path) -> None:
    src = write_oci_layout(index, tmp_path / "src", "v1")
    out = tmp_path / "out"
    run_copy(run_skopo, "--multi-arch", "linux/arm/v7", "--strip-removed-platforms", f"oci:{src}:v1", f"dir:{out}")
    written = json.loads((out / "manifest.json").read_bytes())
    assert written["manifests"] == entries_for(index, "arm")
    # The same subset again is byte-identical (the list edit is deterministic).
    run_copy(run_skopo, "--multi-arch", "linux/arm/v7", "--strip-removed-platforms", f"oci:{src}:v1",
             f"dir:{tmp_path / 'again'}")
    assert (tmp_path / "again" / "manifest.json").read_bytes() == (out / "manifest.json").read_bytes()


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("linux/s390x", r"no instances found for platform linux/s390x \(the list has: "),
        ("linux", "unknown multi-arch option"),
        ("linux/amd64,", "invalid platform format"),
        ("linux/arm/v7/extra", "invalid platform format"),
    ],
)
def test_bad_platform_lists_fail_before_writing(
    run_skopo: SkopoRunner, index: BuiltIndex, tmp_path: Path, value: str, match: str
) -> None:
    src = write_oci_layout(index, tmp_path / "src", "v1")
    before = snapshot(tmp_path)
    result = run_skopo("--insecure-policy", "copy", "-q", "--multi-arch", value, f"oci:{src}:v1",
                       f"oci:{tmp_path / 'dest'}:v1")
    line = assert_clean_error(result, match=match)
    if "no instances" in match:
        assert "linux/amd64" in line and "linux/arm64/v8" in line
    assert snapshot(tmp_path) == before
    assert leftovers(tmp_path) == []


def test_list_signatures_block_stripping_unless_removed(
    run_skopo: SkopoRunner, index: BuiltIndex, tmp_path: Path
) -> None:
    src = write_dir(index, tmp_path / "src")
    (src / "signature-1").write_bytes(b"\xa3\x01list-signature")
    amd64 = next(i for i in index.images if i.platform.architecture == "amd64")
    (src / f"{amd64.manifest_hex}.signature-1").write_bytes(b"\xa3\x01instance-signature")
    args = ("--multi-arch", "linux/amd64", "--strip-removed-platforms", f"dir:{src}")
    result = run_skopo("--insecure-policy", "copy", "-q", *args, f"dir:{tmp_path / 'refused'}")
    assert_clean_error(result, match="we cannot: Would invalidate signatures; consider removing them")
    assert not (tmp_path / "refused").exists()
    out = tmp_path / "out"
    run_copy(run_skopo, "--remove-list-signatures", *args, f"dir:{out}")
    assert not (out / "signature-1").exists()
    # per-instance signatures are kept
    assert (out / f"{amd64.manifest_hex}.signature-1").read_bytes() == b"\xa3\x01instance-signature"
    # both removal flags at once, and list-signature removal for a single image, are refused
    result = run_skopo("--insecure-policy", "copy", "-q", "--remove-signatures", "--remove-list-signatures",
                       *args, f"dir:{tmp_path / 'x'}")
    assert_clean_error(result, match="Only one of --remove-signatures and --remove-list-signatures")
    result = run_skopo("--insecure-policy", "copy", "-q", "--remove-list-signatures", f"dir:{src}",
                       f"dir:{tmp_path / 'y'}")
    assert_clean_error(result, match="not applicable when copying a single instance")


def test_sync_with_a_platform_list(run_skopo: SkopoRunner, registry: RegistryServer, index: BuiltIndex) -> None:
    push_image(registry, "syncsub/app", "v1", index)
    result = run_skopo("--insecure-policy", "sync", "-q", "--src", "docker", "--dest", "docker", *PLAIN,
                       "--multi-arch", "linux/arm64", "--strip-removed-platforms",
                       f"{registry.host}/syncsub/app:v1", f"{registry.host}/syncsubdst")
    assert result.returncode == 0, describe_result(result)
    written = json.loads(get_manifest(registry, "syncsubdst/app", "v1").content)
    assert written["manifests"] == entries_for(index, "arm64")
