"""Artifacts and attestations copy untouched (issue: modern images), against the real registry.

What a mirror job meets on public registries: Helm charts and SBOMs (OCI artifacts with
custom config and layer types, `artifactType`, `subject`), cosign `.sig` tags, and buildx
indexes whose attestation manifests (platform unknown/unknown) carry in-toto layers. skopo
must copy each byte for byte, whatever the destination's preferred compression or the
`--dest-compress*` flags say, keep every digest, and refuse a destination that can only hold
images before writing anything. skopeo 1.9.3 reads back what skopo writes, and the reverse.
"""

from __future__ import annotations

import json
from pathlib import Path
from subprocess import CompletedProcess

import pytest
import requests

from helpers import Skopeo, SkopoRunner, assert_clean_error, describe_result
from helpers.artifacts import (
    COSIGN_SIMPLESIGNING,
    HELM_CHART_LAYER,
    IN_TOTO,
    build_buildx_index,
    cosign_signature,
    helm_chart,
    sbom_for,
)
from helpers.images import OCI_REF_NAME, BuiltImage, BuiltIndex, build_image, sha256_digest, write_dir, write_oci_layout
from helpers.registry import RegistryServer, get_manifest, push_image
from helpers.trees import leftovers, snapshot

PLAIN = ("--src-tls-verify=false", "--dest-tls-verify=false")


def copy_ok(run_skopo: SkopoRunner, *args: str | Path) -> CompletedProcess[bytes]:
    result = run_skopo("--insecure-policy", "copy", "-q", *args)
    assert result.returncode == 0, describe_result(result)
    return result


def registry_manifest(registry: RegistryServer, repo: str, ref: str) -> bytes:
    response = get_manifest(registry, repo, ref)
    assert response.status_code == 200, response.text
    return response.content


def registry_blob(registry: RegistryServer, repo: str, digest: str) -> bytes:
    response = requests.get(f"{registry.url}/v2/{repo}/blobs/{digest}", timeout=30)
    assert response.status_code == 200, response.text
    return response.content


def assert_in_registry(registry: RegistryServer, repo: str, image: BuiltImage | BuiltIndex, ref: str) -> None:
    """`image` is at `repo:ref` with its exact manifest bytes, every instance and every blob."""
    assert registry_manifest(registry, repo, ref) == image.manifest
    images = image.images if isinstance(image, BuiltIndex) else (image,)
    for instance in images:
        assert registry_manifest(registry, repo, instance.manifest_digest) == instance.manifest
        for digest, data in instance.blobs().items():
            assert registry_blob(registry, repo, digest) == data


def layout_blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()


def assert_in_layout(layout: Path, image: BuiltImage | BuiltIndex, ref: str) -> None:
    """`image` is in the OCI layout under `ref` with every byte as built."""
    index = json.loads((layout / "index.json").read_bytes())
    entries = [m for m in index["manifests"] if m.get("annotations", {}).get(OCI_REF_NAME) == ref]
    assert [e["digest"] for e in entries] == [image.manifest_digest]
    assert layout_blob(layout, image.manifest_digest) == image.manifest
    images = image.images if isinstance(image, BuiltIndex) else (image,)
    for instance in images:
        assert layout_blob(layout, instance.manifest_digest) == instance.manifest
        for digest, data in instance.blobs().items():
            assert layout_blob(layout, digest) == data


# ---------------------------------------------------------------- single artifacts


@pytest.mark.parametrize("compress_format", [None, "zstd", "gzip"])
def test_helm_chart_registry_round_trip_keeps_every_byte(
    run_skopo: SkopoRunner, registry: RegistryServer, tmp_path: Path, compress_format: str | None
) -> None:
    chart = helm_chart()
    layout = write_oci_layout(chart, tmp_path / "chart", "0.1.0")
    flags = ("--dest-compress-format", compress_format) if compress_format else ()
    copy_ok(run_skopo, *PLAIN, *flags, f"oci:{layout}:0.1.0", f"docker://{registry.host}/charts/mychart:0.1.0")
    assert_in_registry(registry, "charts/mychart", chart, "0.1.0")
    back = tmp_path / "back"
    copy_ok(run_skopo, *PLAIN, *flags, f"docker://{registry.host}/charts/mychart:0.1.0", f"oci:{back}:0.1.0")
    assert_in_layout(back, chart, "0.1.0")


@pytest.mark.parametrize(
    "flags", [(), ("--dest-compress",), ("--dest-compress", "--dest-compress-format", "zstd"), ("--dest-decompress",)]
)
def test_artifact_to_dir_is_byte_for_byte_whatever_the_compression_flags(
    run_skopo: SkopoRunner, tmp_path: Path, flags: tuple[str, ...]
) -> None:
    subject = build_image(fmt="oci", seed=3)
    sbom = sbom_for(subject)
    chart = helm_chart()
    for name, artifact in (("sbom", sbom), ("chart", chart)):
        layout = write_oci_layout(artifact, tmp_path / f"{name}-src", "v1")
        out = tmp_path / f"{name}-dir"
        copy_ok(run_skopo, *flags, f"oci:{layout}:v1", f"dir:{out}")
        assert (out / "manifest.json").read_bytes() == artifact.manifest
        for digest, data in artifact.blobs().items():
            assert (out / digest.split(":", 1)[1]).read_bytes() == data


def test_sbom_with_subject_registry_to_oci_and_dir(
    run_skopo: SkopoRunner, registry: RegistryServer, skopeo: Skopeo, tmp_path: Path
) -> None:
    subject = build_image(fmt="oci", seed=4, indent=None)
    sbom = sbom_for(subject)
    push_image(registry, "app/sbom", "v1", subject)
    push_image(registry, "app/sbom", "sbom", sbom)
    # registry -> another repository (the registry prefers compressed layers: the SPDX blob
    # is uncompressed and must stay so).
    copy_ok(run_skopo, *PLAIN, f"docker://{registry.host}/app/sbom:sbom", f"docker://{registry.host}/mirror/sbom:sbom")
    assert_in_registry(registry, "mirror/sbom", sbom, "sbom")
    layout = tmp_path / "layout"
    copy_ok(run_skopo, *PLAIN, f"docker://{registry.host}/app/sbom:sbom", f"oci:{layout}:sbom")
    assert_in_layout(layout, sbom, "sbom")
    # skopeo 1.9.3 reads back what skopo wrote, with the same digests.
    assert skopeo.run("inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/mirror/sbom:sbom").stdout \
        == sbom.manifest
    skopeo.run("copy", f"oci:{layout}:sbom", f"dir:{tmp_path / 'by-skopeo'}")
    assert (tmp_path / "by-skopeo" / "manifest.json").read_bytes() == sbom.manifest


def test_artifact_that_skopeo_copied_reads_back_in_skopo(
    run_skopo: SkopoRunner, registry: RegistryServer, skopeo: Skopeo, tmp_path: Path
) -> None:
    chart = helm_chart(name="fromskopeo")
    layout = write_oci_layout(chart, tmp_path / "chart", "1")
    skopeo.run("copy", "--dest-tls-verify=false", f"oci:{layout}:1", f"docker://{registry.host}/skopeo/chart:1")
    out = tmp_path / "dir"
    copy_ok(run_skopo, *PLAIN, f"docker://{registry.host}/skopeo/chart:1", f"dir:{out}")
    assert (out / "manifest.json").read_bytes() == chart.manifest
    digest = run_skopo("manifest-digest", out / "manifest.json").stdout.decode().strip()
    assert digest == chart.manifest_digest


def test_cosign_signature_tag_copies_unchanged(
    run_skopo: SkopoRunner, registry: RegistryServer, skopeo: Skopeo, tmp_path: Path
) -> None:
    image = build_image(fmt="oci", seed=5, indent=None)
    tag, signature = cosign_signature(image)
    assert signature.layers[0].media_type == COSIGN_SIMPLESIGNING
    push_image(registry, "signed/app", "v1", image)
    push_image(registry, "signed/app", tag, signature)
    copy_ok(run_skopo, *PLAIN, f"docker://{registry.host}/signed/app:{tag}", f"docker://{registry.host}/copy/app:{tag}")
    assert_in_registry(registry, "copy/app", signature, tag)
    layout = tmp_path / "sig"
    copy_ok(run_skopo, *PLAIN, f"docker://{registry.host}/signed/app:{tag}", f"oci:{layout}:{tag}")
    assert_in_layout(layout, signature, tag)
    # skopeo's copy of the same tag lands at the same digest.
    skopeo.run("copy", "--src-tls-verify=false", "--dest-tls-verify=false",
               f"docker://{registry.host}/signed/app:{tag}", f"docker://{registry.host}/skopeo/app:{tag}")
    assert registry_manifest(registry, "skopeo/app", tag) == signature.manifest


@pytest.mark.parametrize("dest", ["docker-archive", "format-v2s2"])
def test_image_only_destination_refuses_an_artifact_before_writing(
    run_skopo: SkopoRunner, registry: RegistryServer, tmp_path: Path, dest: str
) -> None:
    sbom = sbom_for(build_image(fmt="oci", seed=6))
    layout = write_oci_layout(sbom, tmp_path / "sbom", "v1")
    before = snapshot(tmp_path)
    if dest == "docker-archive":
        args: tuple[str, ...] = (f"oci:{layout}:v1", f"docker-archive:{tmp_path / 'out.tar'}")
    else:
        args = (*PLAIN, "--format", "v2s2", f"oci:{layout}:v1", f"docker://{registry.host}/nope/sbom:v1")
    result = run_skopo("--insecure-policy", "copy", "-q", *args)
    line = assert_clean_error(result, match="artifact")
    assert '"application/spdx+json"' in line, line
    assert snapshot(tmp_path) == before
    assert leftovers(tmp_path) == []
    if dest != "docker-archive":
        assert get_manifest(registry, "nope/sbom", "v1").status_code == 404
        # Not even a blob was uploaded before the refusal.
        for digest in sbom.blobs():
            assert requests.head(f"{registry.url}/v2/nope/sbom/blobs/{digest}", timeout=30).status_code == 404


# ---------------------------------------------------------------- indexes with attestations


def test_buildx_index_all_registry_to_registry_oci_dir_and_back(
    run_skopo: SkopoRunner, registry: RegistryServer, skopeo: Skopeo, tmp_path: Path
) -> None:
    index = build_buildx_index(seed=1)
    attestations = [i for i in index.images if i.layers[0].media_type == IN_TOTO]
    assert len(attestations) == 2
    push_image(registry, "buildx/app", "v1", index)
    src = f"docker://{registry.host}/buildx/app:v1"

    copy_ok(run_skopo, *PLAIN, "--all", src, f"docker://{registry.host}/mirror/app:v1")
    assert_in_registry(registry, "mirror/app", index, "v1")

    layout = tmp_path / "layout"
    copy_ok(run_skopo, *PLAIN, "--multi-arch", "all", src, f"oci:{layout}:v1")
    assert_in_layout(layout, index, "v1")

    out = tmp_path / "dir"
    copy_ok(run_skopo, "--all", f"oci:{layout}:v1", f"dir:{out}")
    assert (out / "manifest.json").read_bytes() == index.manifest
    for instance in index.images:
        assert (out / f"{instance.manifest_hex}.manifest.json").read_bytes() == instance.manifest

    # and back from dir: into the registry, still the same index
    copy_ok(run_skopo, *PLAIN, "--all", f"dir:{out}", f"docker://{registry.host}/again/app:v1")
    assert_in_registry(registry, "again/app", index, "v1")

    # skopeo 1.9.3 copies skopo's copy with the same digests, and skopo copies skopeo's.
    skopeo.run("copy", "--all", "--src-tls-verify=false", "--dest-tls-verify=false",
               f"docker://{registry.host}/mirror/app:v1", f"docker://{registry.host}/byskopeo/app:v1")
    assert registry_manifest(registry, "byskopeo/app", "v1") == index.manifest
    copy_ok(run_skopo, *PLAIN, "--all", f"docker://{registry.host}/byskopeo/app:v1", f"oci:{tmp_path / 'l2'}:v1")
    assert_in_layout(tmp_path / "l2", index, "v1")


def test_buildx_index_sync_all_keeps_digests(run_skopo: SkopoRunner, registry: RegistryServer, tmp_path: Path) -> None:
    index = build_buildx_index(seed=2)
    push_image(registry, "syncsrc/app", "v1", index)
    result = run_skopo("--insecure-policy", "sync", "-q", "--all", "--src", "docker", "--dest", "docker", *PLAIN,
                       f"{registry.host}/syncsrc/app:v1", f"{registry.host}/syncdst")
    assert result.returncode == 0, describe_result(result)
    assert_in_registry(registry, "syncdst/app", index, "v1")
    out = tmp_path / "dirs"
    result = run_skopo("--insecure-policy", "sync", "-q", "--all", "--src", "docker", "--dest", "dir", *PLAIN,
                       f"{registry.host}/syncsrc/app:v1", out)
    assert result.returncode == 0, describe_result(result)
    assert (out / "app:v1" / "manifest.json").read_bytes() == index.manifest


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_platform_selection_never_picks_an_attestation(
    run_skopo: SkopoRunner, registry: RegistryServer, tmp_path: Path, arch: str
) -> None:
    index = build_buildx_index(seed=3)
    push_image(registry, "select/app", "v1", index)
    out = tmp_path / "one"
    copy_ok(run_skopo, *PLAIN, "--override-arch", arch, "--override-os", "linux",
            f"docker://{registry.host}/select/app:v1", f"dir:{out}")
    chosen = next(i for i in index.images if i.platform.architecture == arch)
    assert (out / "manifest.json").read_bytes() == chosen.manifest
    # unknown/unknown is what the attestations say; asking for it still finds no image.
    result = run_skopo("--insecure-policy", "copy", "-q", *PLAIN, "--override-arch", "unknown", "--override-os",
                       "unknown", f"docker://{registry.host}/select/app:v1", f"dir:{tmp_path / 'att'}")
    assert_clean_error(result, expected_exit=1, match="no image found")


def test_attestation_layers_are_not_compressed_for_a_registry(
    run_skopo: SkopoRunner, registry: RegistryServer, tmp_path: Path
) -> None:
    index = build_buildx_index(seed=4)
    layout = write_oci_layout(index, tmp_path / "src", "v1")
    write_dir(index, tmp_path / "dirsrc")
    copy_ok(run_skopo, *PLAIN, "--all", f"oci:{layout}:v1", f"docker://{registry.host}/att/app:v1")
    assert_in_registry(registry, "att/app", index, "v1")
    for attestation in index.images[2:]:
        for layer in attestation.layers:
            assert registry_blob(registry, "att/app", layer.digest).startswith(b'{"_type"')
            assert sha256_digest(layer.data) == layer.digest
    assert HELM_CHART_LAYER not in json.dumps([i.media_type for i in index.images])
