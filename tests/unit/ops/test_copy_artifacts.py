"""The copy engine copies what it does not understand byte for byte (artifacts, attestations)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.artifacts import EMPTY_CONFIG, build_artifact, build_buildx_index, helm_chart
from helpers.images import write_dir, write_oci_layout
from toolkit.errors import NonImageArtifactError
from toolkit.ops.copy import CopyOptions, MultiArch, copy_image
from toolkit.ops.report import CallbackReporter, ProgressEvent
from toolkit.policy import InsecureAcceptAnything
from toolkit.transports import parse_image_name
from toolkit.types import Compression, LayerCompression


def copy(src: str, dest: str, **options: object) -> None:
    copy_image(InsecureAcceptAnything(), parse_image_name(dest), parse_image_name(src), options=CopyOptions(**options))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"layer_compression": LayerCompression.COMPRESS},
        {"layer_compression": LayerCompression.COMPRESS, "compression_format": Compression.ZSTD},
        {"layer_compression": LayerCompression.DECOMPRESS},
    ],
)
def test_artifact_with_opaque_config_is_copied_byte_for_byte(tmp_path: Path, options: dict[str, object]) -> None:
    # A config that is not JSON at all, an image layer type under it, and an unknown type.
    artifact = build_artifact(
        artifact_type="application/vnd.example.thing",
        config=b"\x00\x01 not json",
        config_media_type="application/octet-stream",
        blobs=[
            ("application/vnd.oci.image.layer.v1.tar", b"x" * 1024, None),
            ("application/vnd.example.blob", b"\x1f\x8b pretends to be gzip", {"k": "v"}),
        ],
    )
    src = write_oci_layout(artifact, tmp_path / "src", "v1")
    copy(f"oci:{src}:v1", f"dir:{tmp_path / 'dir'}", **options)
    assert (tmp_path / "dir" / "manifest.json").read_bytes() == artifact.manifest
    for digest, data in artifact.blobs().items():
        assert (tmp_path / "dir" / digest[7:]).read_bytes() == data
    copy(f"dir:{tmp_path / 'dir'}", f"oci:{tmp_path / 'oci'}:v1", **options)
    index = json.loads((tmp_path / "oci" / "index.json").read_bytes())
    assert index["manifests"][0]["digest"] == artifact.manifest_digest


def test_second_copy_of_an_artifact_reuses_its_blobs(tmp_path: Path) -> None:
    chart = helm_chart()
    src = write_oci_layout(chart, tmp_path / "src", "1")
    events: list[ProgressEvent] = []
    copy(f"oci:{src}:1", f"oci:{tmp_path / 'dest'}:1")
    copy(f"oci:{src}:1", f"oci:{tmp_path / 'dest'}:2", reporter=CallbackReporter(events.append))
    assert any(e.event == "finish" and e.blob == "blob" and e.text == "skipped: already exists" for e in events)


def test_artifact_refused_by_an_image_only_destination_before_any_write(tmp_path: Path) -> None:
    artifact = build_artifact(artifact_type="application/spdx+json", blobs=[("application/spdx+json", b"{}", None)])
    assert artifact.config == EMPTY_CONFIG
    src = write_oci_layout(artifact, tmp_path / "src", "v1")
    with pytest.raises(NonImageArtifactError, match='"docker-archive" transport can only store container images'):
        copy(f"oci:{src}:v1", f"docker-archive:{tmp_path / 'out.tar'}")
    assert not (tmp_path / "out.tar").exists()


def test_index_with_attestations_all_keeps_the_index_digest(tmp_path: Path) -> None:
    index = build_buildx_index()
    src = write_dir(index, tmp_path / "src")
    copy(f"dir:{src}", f"oci:{tmp_path / 'oci'}:v1", multi_arch=MultiArch.ALL,
         layer_compression=LayerCompression.COMPRESS, compression_format=Compression.ZSTD)
    entry = json.loads((tmp_path / "oci" / "index.json").read_bytes())["manifests"][0]
    # zstd was asked: the platform images change (and so the index), the attestations do not.
    blobs = tmp_path / "oci" / "blobs" / "sha256"
    for attestation in index.images[2:]:
        assert (blobs / attestation.manifest_hex).read_bytes() == attestation.manifest
    assert entry["digest"] != index.manifest_digest
    copy(f"dir:{src}", f"oci:{tmp_path / 'plain'}:v1", multi_arch=MultiArch.ALL)
    plain = json.loads((tmp_path / "plain" / "index.json").read_bytes())["manifests"][0]
    assert plain["digest"] == index.manifest_digest
