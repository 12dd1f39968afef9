"""Media types of manifests, configs and layers (containers/image `manifest/manifest.go`).

Pure constants and small helpers; nothing here raises.

This is the one home of the layer media type <-> compression table (c/image
`schema2CompressionMIMETypeSets` / `oci1CompressionMIMETypeSets`): `layer_compression`
says what a known layer type announces, `layer_variant` gives the sibling type for another
compression, `is_changeable_layer_type` whether a layer of that type may be recompressed at
all (c/image `compressionVariantsRecognizeMIMEType`). Every other media type (in-toto,
SPDX, Helm chart content, cosign payloads, encrypted layers ...) is opaque: copied byte for
byte, never recompressed.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:  # toolkit.types (its dataclasses) is loaded by the one function that needs it
    from toolkit.types import Compression

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
    "ENCRYPTED_SUFFIX",
    "is_encrypted_layer_type",
    "encrypted_layer_type",
    "decrypted_layer_type",
    "IMAGE_CONFIG_TYPES",
    "layer_compression",
    "layer_variant",
    "is_changeable_layer_type",
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

ENCRYPTED_SUFFIX: Final = "+encrypted"
#: c/image `getEncryptedMediaType`: the types (before the first "+") that may be encrypted.
_ENCRYPTABLE_BASES: Final = frozenset({DOCKER_LAYER_GZIP, OCI_LAYER, OCI_LAYER_NONDIST})


def is_encrypted_layer_type(media_type: str) -> bool:
    """c/image `isOciEncrypted`: the type ends with "+encrypted"."""
    return media_type.endswith(ENCRYPTED_SUFFIX)


def encrypted_layer_type(media_type: str) -> str | None:
    """The "+encrypted" variant of `media_type`, or None when c/image would not encrypt that
    type (already encrypted, or not an image layer type)."""
    if is_encrypted_layer_type(media_type) or media_type.split("+", 1)[0] not in _ENCRYPTABLE_BASES:
        return None
    return media_type + ENCRYPTED_SUFFIX


def decrypted_layer_type(media_type: str) -> str | None:
    """`media_type` without its "+encrypted" suffix; None when it has none."""
    return media_type.removesuffix(ENCRYPTED_SUFFIX) if is_encrypted_layer_type(media_type) else None


#: Config media types of container images (everything else under an OCI manifest is an artifact).
IMAGE_CONFIG_TYPES: Final = frozenset({DOCKER_CONFIG, OCI_CONFIG})

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


# --- layer compression variants ----------------------------------------------------------------
#
# Each set lists the variants of one layer kind by compression name ("none", "gzip", "zstd");
# a missing name means the format cannot express that compression (v2s2 has no zstd).

_SCHEMA2_VARIANTS: Final = (
    {"none": DOCKER_LAYER_FOREIGN, "gzip": DOCKER_LAYER_FOREIGN_GZIP},
    {"none": DOCKER_LAYER_UNCOMPRESSED, "gzip": DOCKER_LAYER_GZIP},
)
_OCI_VARIANTS: Final = (
    {"none": OCI_LAYER_NONDIST, "gzip": OCI_LAYER_NONDIST_GZIP, "zstd": OCI_LAYER_NONDIST_ZSTD},
    {"none": OCI_LAYER, "gzip": OCI_LAYER_GZIP, "zstd": OCI_LAYER_ZSTD},
)
_COMPRESSION_NAME_OF: Final[Mapping[str, str]] = MappingProxyType(
    {mt: name for sets in (_SCHEMA2_VARIANTS, _OCI_VARIANTS) for s in sets for name, mt in s.items()}
)


def layer_compression(media_type: str) -> Compression | None:
    """The compression a known layer media type announces; None for any other type."""
    from toolkit.types import Compression

    name = _COMPRESSION_NAME_OF.get(media_type)
    return None if name is None else Compression(name)


def is_changeable_layer_type(media_type: str, *, oci: bool) -> bool:
    """c/image `compressionVariantsRecognizeMIMEType`: `media_type` is one of the image layer
    types of that format (OCI when `oci`, else Docker schema2), so it has compression variants."""
    return any(media_type in s.values() for s in (_OCI_VARIANTS if oci else _SCHEMA2_VARIANTS))


def layer_variant(original: str, compression: Compression, *, oci: bool) -> str | None:
    """c/image `updatedMIMEType`: the sibling of `original` compressed with `compression`.

    Returns `original` if it already announces `compression`; None if `original` is not an
    image layer type of that format, or the format cannot express `compression`
    (`is_changeable_layer_type` tells the two apart).
    """
    if _COMPRESSION_NAME_OF.get(original) == compression.value:
        return original
    for variants in _OCI_VARIANTS if oci else _SCHEMA2_VARIANTS:
        if original in variants.values():
            return variants.get(compression.value)
    return None
