"""Media types of manifests, configs and layers (containers/image `manifest/manifest.go`).

Pure constants and two helpers; nothing here raises.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "DOCKER_V2S1",
    "DOCKER_V2S1_SIGNED",
    "DOCKER_V2S2",
    "DOCKER_V2LIST",
    "DOCKER_CONFIG",
    "DOCKER_LAYER_GZIP",
    "DOCKER_LAYER_UNCOMPRESSED",
    "DOCKER_LAYER_FOREIGN",
    "DOCKER_LAYER_FOREIGN_GZIP",
    "OCI_MANIFEST",
    "OCI_INDEX",
    "OCI_CONFIG",
    "OCI_EMPTY",
    "OCI_LAYER",
    "OCI_LAYER_GZIP",
    "OCI_LAYER_ZSTD",
    "OCI_LAYER_NONDIST",
    "OCI_LAYER_NONDIST_GZIP",
    "OCI_LAYER_NONDIST_ZSTD",
    "OCI_LAYER_ENC",
    "OCI_LAYER_GZIP_ENC",
    "OCI_LAYER_ZSTD_ENC",
    "OCI_LAYER_NONDIST_ENC",
    "OCI_LAYER_NONDIST_GZIP_ENC",
    "OCI_LAYER_NONDIST_ZSTD_ENC",
    "ENCRYPTED_LAYER_TYPES",
    "SCHEMA2_SUPPORTED_TYPES",
    "SINGLE_IMAGE_TYPES",
    "LIST_TYPES",
    "ALL_MANIFEST_TYPES",
    "DEFAULT_ACCEPT",
    "is_list_type",
    "normalize_mime",
]

# Docker
DOCKER_V2S1: Final = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_V2S1_SIGNED: Final = "application/vnd.docker.distribution.manifest.v1+prettyjws"
DOCKER_V2S2: Final = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_V2LIST: Final = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG: Final = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP: Final = "application/vnd.docker.image.rootfs.diff.tar.gzip"
#: docker's "uncompressed" layer type (c/image DockerV2SchemaLayerMediaTypeUncompressed).
DOCKER_LAYER_UNCOMPRESSED: Final = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_FOREIGN: Final = "application/vnd.docker.image.rootfs.foreign.diff.tar"
DOCKER_LAYER_FOREIGN_GZIP: Final = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

# OCI
OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG: Final = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY: Final = "application/vnd.oci.empty.v1+json"
OCI_LAYER: Final = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP: Final = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD: Final = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDIST: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDIST_GZIP: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_NONDIST_ZSTD: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
# ocicrypt (github.com/containers/ocicrypt/spec)
OCI_LAYER_ENC: Final = "application/vnd.oci.image.layer.v1.tar+encrypted"
OCI_LAYER_GZIP_ENC: Final = "application/vnd.oci.image.layer.v1.tar+gzip+encrypted"
OCI_LAYER_ZSTD_ENC: Final = "application/vnd.oci.image.layer.v1.tar+zstd+encrypted"
OCI_LAYER_NONDIST_ENC: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar+encrypted"
OCI_LAYER_NONDIST_GZIP_ENC: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip+encrypted"
OCI_LAYER_NONDIST_ZSTD_ENC: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd+encrypted"

ENCRYPTED_LAYER_TYPES: Final = frozenset(
    {
        OCI_LAYER_ENC,
        OCI_LAYER_GZIP_ENC,
        OCI_LAYER_ZSTD_ENC,
        OCI_LAYER_NONDIST_ENC,
        OCI_LAYER_NONDIST_GZIP_ENC,
        OCI_LAYER_NONDIST_ZSTD_ENC,
    }
)

#: c/image SupportedSchema2MediaType: what may appear as a media type in a v2s2 manifest.
SCHEMA2_SUPPORTED_TYPES: Final = frozenset(
    {
        DOCKER_V2LIST,
        DOCKER_V2S1,
        DOCKER_V2S1_SIGNED,
        DOCKER_CONFIG,
        DOCKER_LAYER_FOREIGN,
        DOCKER_LAYER_FOREIGN_GZIP,
        DOCKER_LAYER_GZIP,
        DOCKER_V2S2,
        DOCKER_LAYER_UNCOMPRESSED,
    }
)

SINGLE_IMAGE_TYPES: Final = frozenset({DOCKER_V2S1, DOCKER_V2S1_SIGNED, DOCKER_V2S2, OCI_MANIFEST})
LIST_TYPES: Final = frozenset({DOCKER_V2LIST, OCI_INDEX})
ALL_MANIFEST_TYPES: Final = SINGLE_IMAGE_TYPES | LIST_TYPES

#: The Accept list a registry GET sends, in c/image's order (DefaultRequestedManifestMIMETypes).
DEFAULT_ACCEPT: Final[tuple[str, ...]] = (
    OCI_MANIFEST,
    DOCKER_V2S2,
    DOCKER_V2S1_SIGNED,
    DOCKER_V2S1,
    DOCKER_V2LIST,
    OCI_INDEX,
)


def is_list_type(mime: str) -> bool:
    """True for a manifest list / image index MIME type (after normalisation)."""
    return normalize_mime(mime) in LIST_TYPES


def normalize_mime(mime: str) -> str:
    """c/image `NormalizedMIMEType`: map historical or unknown types to a known one.

    Known types are returned unchanged. `application/json` and `text/plain` (what old
    registries or plain file servers answer for schema1) and any unknown value become
    `DOCKER_V2S1_SIGNED`, as in c/image, so the caller then parses it as schema1 and fails
    cleanly if it is not.
    """
    if mime in ALL_MANIFEST_TYPES:
        return mime
    # c/image: "application/json", "text/plain" and everything unknown -> signed schema1.
    return DOCKER_V2S1_SIGNED
