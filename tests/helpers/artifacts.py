"""OCI artifacts as real tools publish them, built in pure Python with exact bytes.

Nothing here imports `toolkit` (the same rule as `helpers.images`). Each builder returns a
`BuiltImage` (or `BuiltIndex`), so `write_oci_layout`, `write_dir` and
`registry.push_image` handle artifacts like images.

- `build_artifact(...)`: any OCI 1.1 artifact (artifactType, config, blobs, subject, annotations).
- `helm_chart()`: a Helm 3 chart (config `application/vnd.cncf.helm.config.v1+json`, one
  gzip chart layer under Helm's own media type).
- `sbom_for(image)`, `signature_for(image)`: artifacts with a `subject` (OCI 1.1 referrers).
- `cosign_signature(image)`: cosign's `sha256-<hex>.sig` tag and its manifest (OCI image
  config, one `application/vnd.dev.cosign.simplesigning.v1+json` layer per signature).
- `attestation_for(image)`: a buildx attestation manifest (platform unknown/unknown,
  in-toto layers), and `build_buildx_index(...)`: an index of platform images, each
  followed by buildx's attestation manifest for it, as `docker buildx build --push` makes.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping, Sequence
from typing import Any

from helpers.images import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    BuiltImage,
    BuiltIndex,
    Layer,
    Platform,
    build_image,
    sha256_digest,
    tar_bytes,
)

__all__ = [
    "EMPTY_CONFIG",
    "EMPTY_MEDIA_TYPE",
    "HELM_CONFIG",
    "HELM_CHART_LAYER",
    "IN_TOTO",
    "COSIGN_SIMPLESIGNING",
    "ATTESTATION_ANNOTATIONS",
    "UNKNOWN_PLATFORM",
    "descriptor_of",
    "build_artifact",
    "helm_chart",
    "sbom_for",
    "signature_for",
    "cosign_signature",
    "attestation_for",
    "build_buildx_index",
]

#: The OCI empty descriptor's blob and media type (image-spec manifest.md).
EMPTY_CONFIG = b"{}"
EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
IN_TOTO = "application/vnd.in-toto+json"
COSIGN_SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SPDX_JSON = "application/spdx+json"
EXAMPLE_SIGNATURE = "application/vnd.example.signature.v1+json"
#: buildx's annotation keys on an attestation manifest's index entry.
ATTESTATION_ANNOTATIONS = ("vnd.docker.reference.digest", "vnd.docker.reference.type")
UNKNOWN_PLATFORM = Platform("unknown", "unknown")


def descriptor_of(image: BuiltImage) -> dict[str, Any]:
    """A plain descriptor (mediaType, digest, size) of `image`'s manifest, e.g. a `subject`."""
    return {"mediaType": image.media_type, "digest": image.manifest_digest, "size": len(image.manifest)}


def _blob_layer(media_type: str, data: bytes, annotations: Mapping[str, str] | None) -> tuple[Layer, dict[str, Any]]:
    digest = sha256_digest(data)
    layer = Layer(data=data, digest=digest, diff_id=digest, media_type=media_type)
    descriptor = layer.descriptor()
    if annotations:
        descriptor["annotations"] = dict(annotations)
    return layer, descriptor


def build_artifact(
    *,
    blobs: Sequence[tuple[str, bytes, Mapping[str, str] | None]],
    artifact_type: str | None = None,
    config: bytes = EMPTY_CONFIG,
    config_media_type: str = EMPTY_MEDIA_TYPE,
    subject: BuiltImage | None = None,
    annotations: Mapping[str, str] | None = None,
    with_media_type: bool = True,
    indent: int | None = None,
) -> BuiltImage:
    """An OCI image manifest holding an artifact: `blobs` are (media type, bytes, annotations).

    The empty config gets the `data` field OCI 1.1 recommends (`e30=`); `subject` links the
    artifact to another manifest; `with_media_type=False` leaves out the optional top-level
    `mediaType`, as Helm does.
    """
    layers: list[Layer] = []
    descriptors: list[dict[str, Any]] = []
    for media_type, data, blob_annotations in blobs:
        layer, descriptor = _blob_layer(media_type, data, blob_annotations)
        layers.append(layer)
        descriptors.append(descriptor)
    config_descriptor: dict[str, Any] = {
        "mediaType": config_media_type,
        "digest": sha256_digest(config),
        "size": len(config),
    }
    if config == EMPTY_CONFIG and config_media_type == EMPTY_MEDIA_TYPE:
        config_descriptor["data"] = "e30="
    obj: dict[str, Any] = {"schemaVersion": 2}
    if with_media_type:
        obj["mediaType"] = OCI_MANIFEST
    if artifact_type:
        obj["artifactType"] = artifact_type
    obj["config"] = config_descriptor
    obj["layers"] = descriptors
    if subject is not None:
        obj["subject"] = descriptor_of(subject)
    if annotations:
        obj["annotations"] = dict(annotations)
    manifest = json.dumps(obj, indent=indent, separators=None if indent else (",", ":")).encode()
    return BuiltImage(
        format="oci",
        manifest=manifest,
        manifest_digest=sha256_digest(manifest),
        media_type=OCI_MANIFEST,
        config=config,
        config_digest=sha256_digest(config),
        config_media_type=config_media_type,
        layers=tuple(layers),
        platform=UNKNOWN_PLATFORM,
    )


def helm_chart(name: str = "mychart", version: str = "0.1.0") -> BuiltImage:
    """A Helm chart as `helm push` stores it (no top-level mediaType, gzip chart tar)."""
    chart_yaml = f"apiVersion: v2\nname: {name}\nversion: {version}\n".encode()
    content = gzip.compress(tar_bytes({f"{name}/Chart.yaml": chart_yaml, f"{name}/values.yaml": b"x: 1\n"}), mtime=0)
    config = json.dumps({"name": name, "version": version, "apiVersion": "v2"}, separators=(",", ":")).encode()
    return build_artifact(
        blobs=[(HELM_CHART_LAYER, content, None)],
        config=config,
        config_media_type=HELM_CONFIG,
        annotations={"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
        with_media_type=False,
    )


def sbom_for(subject: BuiltImage, *, seed: int = 0) -> BuiltImage:
    """An SPDX SBOM artifact (uncompressed JSON blob, empty config) referring to `subject`."""
    document = json.dumps({"spdxVersion": "SPDX-2.3", "name": f"sbom-{seed}", "subject": subject.manifest_digest})
    return build_artifact(
        artifact_type=SPDX_JSON,
        blobs=[(SPDX_JSON, document.encode(), {"org.opencontainers.image.title": "sbom.spdx.json"})],
        subject=subject,
        annotations={"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
    )


def signature_for(subject: BuiltImage, *, seed: int = 0) -> BuiltImage:
    """A signature artifact (an opaque blob, empty config) referring to `subject`."""
    payload = json.dumps({"signed": subject.manifest_digest, "seed": seed}).encode()
    return build_artifact(
        artifact_type=EXAMPLE_SIGNATURE,
        blobs=[(EXAMPLE_SIGNATURE, payload, None)],
        subject=subject,
    )


def cosign_signature(image: BuiltImage, *, identity: str = "registry.example/app") -> tuple[str, BuiltImage]:
    """cosign's signature tag for `image` and its manifest, as `cosign sign` writes them."""
    payload = json.dumps(
        {
            "critical": {
                "identity": {"docker-reference": identity},
                "image": {"docker-manifest-digest": image.manifest_digest},
                "type": "cosign container image signature",
            },
            "optional": None,
        },
        separators=(",", ":"),
    ).encode()
    payload_digest = sha256_digest(payload)
    config = json.dumps(
        {
            "architecture": "",
            "created": "0001-01-01T00:00:00Z",
            "history": [{"created": "0001-01-01T00:00:00Z"}],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": [payload_digest]},
            "config": {},
        },
        separators=(",", ":"),
    ).encode()
    signature = {"dev.cosignproject.cosign/signature": "MEUCIQDtest" + payload_digest[7:23]}
    artifact = build_artifact(
        blobs=[(COSIGN_SIMPLESIGNING, payload, signature)], config=config, config_media_type=OCI_CONFIG
    )
    return "sha256-" + image.manifest_hex + ".sig", artifact


def attestation_for(image: BuiltImage) -> BuiltImage:
    """buildx's attestation manifest for `image`: an OCI image config for unknown/unknown and
    two in-toto statements (SPDX SBOM and SLSA provenance) as uncompressed JSON layers."""
    statements = []
    for predicate in ("https://spdx.dev/Document", "https://slsa.dev/provenance/v0.2"):
        statement = json.dumps(
            {
                "_type": "https://in-toto.io/Statement/v0.1",
                "predicateType": predicate,
                "subject": [{"name": "pkg:docker/app", "digest": {"sha256": image.manifest_hex}}],
                "predicate": {},
            },
            separators=(",", ":"),
        ).encode()
        statements.append((IN_TOTO, statement, {"in-toto.io/predicate-type": predicate}))
    config = json.dumps(
        {
            "architecture": "unknown",
            "os": "unknown",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [sha256_digest(s[1]) for s in statements]},
        },
        separators=(",", ":"),
    ).encode()
    return build_artifact(blobs=statements, config=config, config_media_type=OCI_CONFIG)


def build_buildx_index(
    platforms: Sequence[Platform] = (Platform("linux", "amd64"), Platform("linux", "arm64", "v8")),
    *,
    seed: int = 0,
    layer_size: int = 2048,
) -> BuiltIndex:
    """An OCI index as `docker buildx build --push` makes it: the platform images first, then
    one attestation manifest per image (platform unknown/unknown, annotated with the digest
    of the image it describes)."""
    images = [
        build_image(fmt="oci", layer_count=1, layer_size=layer_size, seed=seed * 100 + i + 1, platform=p, indent=None)
        for i, p in enumerate(platforms)
    ]
    attestations = [attestation_for(image) for image in images]
    entries = [image.descriptor() for image in images]
    for image, attestation in zip(images, attestations, strict=True):
        entries.append(
            {
                **descriptor_of(attestation),
                "annotations": {
                    "vnd.docker.reference.digest": image.manifest_digest,
                    "vnd.docker.reference.type": "attestation-manifest",
                },
                "platform": {"architecture": "unknown", "os": "unknown"},
            }
        )
    manifest = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}, separators=(",", ":")
    ).encode()
    return BuiltIndex(
        format="oci",
        manifest=manifest,
        manifest_digest=sha256_digest(manifest),
        media_type=OCI_INDEX,
        images=(*images, *attestations),
    )
