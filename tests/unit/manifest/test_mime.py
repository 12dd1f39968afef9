"""The one layer media type <-> compression table (`manifest.mime`) and who may change a layer."""

from __future__ import annotations

import json

import pytest

from toolkit.errors import ManifestError, NonImageArtifactError
from toolkit.manifest import mime, parse_manifest
from toolkit.manifest.edit import convert, updated_layer_media_type
from toolkit.types import Compression

D = "sha256:" + "c" * 64

OPAQUE = [
    "application/vnd.in-toto+json",
    "application/spdx+json",
    "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
    "application/vnd.dev.cosign.simplesigning.v1+json",
    "application/vnd.wasm.content.layer.v1+wasm",
    mime.OCI_LAYER_GZIP_ENC,
    "",
]


@pytest.mark.parametrize(
    ("media_type", "compression"),
    [
        (mime.DOCKER_LAYER_GZIP, Compression.GZIP),
        (mime.DOCKER_LAYER_UNCOMPRESSED, Compression.NONE),
        (mime.DOCKER_LAYER_FOREIGN, Compression.NONE),
        (mime.OCI_LAYER_ZSTD, Compression.ZSTD),
        (mime.OCI_LAYER_NONDIST_GZIP, Compression.GZIP),
        (mime.OCI_LAYER, Compression.NONE),
    ],
)
def test_known_layer_types_announce_their_compression(media_type: str, compression: Compression) -> None:
    assert mime.layer_compression(media_type) is compression


@pytest.mark.parametrize("media_type", OPAQUE)
def test_opaque_types_have_no_compression_and_no_variants(media_type: str) -> None:
    assert mime.layer_compression(media_type) is None
    for oci in (True, False):
        assert not mime.is_changeable_layer_type(media_type, oci=oci)
        assert mime.layer_variant(media_type, Compression.GZIP, oci=oci) is None
        with pytest.raises(ManifestError, match="unsupported MIME type for compression"):
            updated_layer_media_type(media_type, Compression.GZIP, oci=oci)
    # no change asked: the type is kept, whatever it is
    assert updated_layer_media_type(media_type, None, oci=True) == media_type


def test_variants_follow_the_format() -> None:
    assert mime.layer_variant(mime.OCI_LAYER, Compression.ZSTD, oci=True) == mime.OCI_LAYER_ZSTD
    assert mime.layer_variant(mime.OCI_LAYER_NONDIST_GZIP, Compression.NONE, oci=True) == mime.OCI_LAYER_NONDIST
    assert mime.layer_variant(mime.DOCKER_LAYER_FOREIGN, Compression.GZIP, oci=False) == mime.DOCKER_LAYER_FOREIGN_GZIP
    # v2s2 cannot express zstd
    assert mime.layer_variant(mime.DOCKER_LAYER_GZIP, Compression.ZSTD, oci=False) is None
    with pytest.raises(ManifestError, match='zstd compression is not supported for type'):
        updated_layer_media_type(mime.DOCKER_LAYER_GZIP, Compression.ZSTD, oci=False)
    # already what is asked: unchanged, even across formats (c/image updatedMIMEType)
    assert mime.layer_variant(mime.DOCKER_LAYER_GZIP, Compression.GZIP, oci=True) == mime.DOCKER_LAYER_GZIP


def oci_manifest(config_type: str, layer_type: str, **extra: object) -> bytes:
    doc: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": mime.OCI_MANIFEST,
        "config": {"mediaType": config_type, "digest": D, "size": 2},
        "layers": [{"mediaType": layer_type, "digest": D, "size": 3}],
        **extra,
    }
    return json.dumps(doc).encode()


def test_only_image_layers_under_an_image_config_may_change() -> None:
    image = parse_manifest(oci_manifest(mime.OCI_CONFIG, mime.OCI_LAYER), mime.OCI_MANIFEST)
    assert image.non_image_artifact_type is None
    assert image.can_change_layer_compression(mime.OCI_LAYER)
    assert not image.can_change_layer_compression("application/vnd.in-toto+json")
    assert not image.can_change_layer_compression(mime.DOCKER_LAYER_GZIP)  # not an OCI type
    helm = parse_manifest(
        oci_manifest("application/vnd.cncf.helm.config.v1+json", mime.OCI_LAYER_GZIP), mime.OCI_MANIFEST
    )
    assert helm.non_image_artifact_type == "application/vnd.cncf.helm.config.v1+json"
    # even an image layer type is opaque under an artifact's config
    assert not helm.can_change_layer_compression(mime.OCI_LAYER_GZIP)
    sbom = parse_manifest(
        oci_manifest(mime.OCI_EMPTY, "application/spdx+json", artifactType="application/spdx+json"),
        mime.OCI_MANIFEST,
    )
    assert sbom.non_image_artifact_type == "application/spdx+json"


def test_artifact_conversion_to_schema2_is_refused_with_its_type() -> None:
    sbom = parse_manifest(
        oci_manifest(mime.OCI_EMPTY, "application/spdx+json", artifactType="application/spdx+json"),
        mime.OCI_MANIFEST,
    )
    with pytest.raises(NonImageArtifactError) as info:
        convert(sbom, mime.DOCKER_V2S2)
    assert str(info.value) == 'unsupported image-specific operation on artifact with type "application/spdx+json"'
    mixed = parse_manifest(oci_manifest(mime.DOCKER_CONFIG, mime.OCI_LAYER), mime.OCI_MANIFEST)
    with pytest.raises(NonImageArtifactError, match="invalid mixed OCI image with Docker v2s2 config"):
        convert(mixed, mime.DOCKER_V2S2)
