"""Editing and converting manifests: NEW bytes, byte-identical to what containers/image writes.

Every function here takes a parsed view (whose bytes stay untouched) and returns fresh bytes
produced by `gojson.marshal` in the Go struct layout c/image uses, so that a manifest
skopo converts or edits has the same digest as skopeo's for the same operation.

- `update_layer_infos(view, layers)`: c/image `UpdateLayerInfos` (digests, sizes, URLs,
  annotations replaced; media types follow `BlobInfo.compression`: None keeps the media type,
  `Compression.NONE`/`GZIP`/`ZSTD` switch between the uncompressed / gzip / zstd variants;
  and `BlobInfo.crypto_operation`: DECRYPT drops the "+encrypted" suffix first, ENCRYPT adds
  it last, OCI only).
- `update_config(view, info)`: new config digest/size (and media type if given).
- `convert(view, target_mime, ...)` -> `Conversion`: v2s2 <-> OCI, v2s1 -> v2s2 / OCI,
  v2s2 / OCI -> v2s1 (`to_schema1`, signed by the caller's `sign`).
- `convert_list`, `update_list_instances`, `reserialize_list`: docker list <-> OCI index.

Errors: `ManifestError` (c/image's messages where they exist), `NotSupportedError`,
`DigestMismatchError` / `SizeMismatchError` for a config blob that does not match.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Final

from toolkit._record import record
from toolkit.digest import Digest
from toolkit.errors import (
    DigestMismatchError,
    ManifestError,
    NonImageArtifactError,
    NotSupportedError,
    SizeMismatchError,
    safe_text,
)
from toolkit.manifest import mime
from toolkit.manifest.config import docker_config_to_oci, schema1_to_schema2_config
from toolkit.manifest.formats import (
    OCI1,
    Descriptor,
    ImageManifest,
    ManifestListView,
    OCI1Index,
    Schema1,
    Schema2,
    Schema2List,
)
from toolkit.manifest.gojson import GoStruct, marshal
from toolkit.manifest.platform import Host, current_host
from toolkit.manifest.to_schema1 import GZIPPED_EMPTY_LAYER, empty_layer_info, schema1_from_image
from toolkit.types import BlobInfo, Compression, LayerCrypto, Platform

__all__ = [
    "Conversion",
    "ListUpdate",
    "update_layer_infos",
    "update_config",
    "convert",
    "convert_list",
    "update_list_instances",
    "edit_list_instances",
    "reserialize_list",
    "updated_layer_media_type",
]

@record(kw_only=True)
class Conversion:
    """Result of `convert`: the new manifest and, when the config blob changed, its bytes.

    `blobs` are other blobs the new manifest references that the image did not have (the
    empty layer of a schema1 conversion): the destination must receive them first.
    """

    manifest: bytes
    mime_type: str
    config: bytes | None = None
    blobs: tuple[tuple[BlobInfo, bytes], ...] = ()


@record(kw_only=True)
class ListUpdate:
    """New digest/size/media type of one list instance (c/image `ListUpdate`)."""

    digest: Digest
    size: int
    media_type: str


# --- marshalling in c/image's struct layouts ------------------------------------------------------------


def _s2_descriptor(media_type: str, size: int, digest: Digest, urls: Sequence[str]) -> GoStruct:
    return GoStruct([("mediaType", media_type), ("size", size), ("digest", str(digest))]).add(
        "urls", list(urls), omitempty=True
    )


def _oci_platform(p: Platform) -> GoStruct:
    return (
        GoStruct([("architecture", p.architecture), ("os", p.os)])
        .add("os.version", p.os_version, omitempty=True)
        .add("os.features", list(p.os_features), omitempty=True)
        .add("variant", p.variant, omitempty=True)
    )


def _oci_descriptor(
    media_type: str,
    digest: Digest,
    size: int,
    *,
    urls: Sequence[str] = (),
    annotations: Mapping[str, str] | None = None,
    data: str | None = None,
    platform: Platform | None = None,
    artifact_type: str = "",
) -> GoStruct:
    out = GoStruct([("mediaType", media_type), ("digest", str(digest)), ("size", size)])
    out.add("urls", list(urls), omitempty=True)
    out.add("annotations", dict(annotations or {}), omitempty=True)
    if data:
        # []byte: Go decodes base64 and re-encodes it with padding.
        out.add("data", base64.b64encode(base64.b64decode(data.replace("\r", "").replace("\n", ""))).decode())
    if platform is not None:
        out.add("platform", _oci_platform(platform))
    out.add("artifactType", artifact_type, omitempty=True)
    return out


def _oci_from_descriptor(d: Descriptor) -> GoStruct:
    return _oci_descriptor(
        d.media_type,
        d.digest,
        d.size,
        urls=d.urls,
        annotations=d.annotations,
        data=d.data,
        platform=d.platform,
        artifact_type=d.artifact_type,
    )


def _schema2_bytes(schema_version: int, media_type: str, config: GoStruct, layers: list[GoStruct]) -> bytes:
    return marshal(
        GoStruct(
            [
                ("schemaVersion", schema_version),
                ("mediaType", media_type),
                ("config", config),
                ("layers", layers),
            ]
        )
    )


def _oci1_bytes(view_like: OCI1 | None, config: GoStruct, layers: list[GoStruct]) -> bytes:
    out = GoStruct([("schemaVersion", view_like.schema_version if view_like else 2)])
    out.add("mediaType", view_like.media_type_field if view_like else mime.OCI_MANIFEST, omitempty=True)
    out.add("artifactType", view_like.artifact_type if view_like else "", omitempty=True)
    out.add("config", config)
    out.add("layers", layers)
    if view_like is not None and view_like.subject is not None:
        out.add("subject", _oci_from_descriptor(view_like.subject))
    out.add("annotations", dict(view_like.annotations) if view_like else {}, omitempty=True)
    return marshal(out)


# --- layer and config edits ------------------------------------------------------------------------------

def updated_layer_media_type(
    original: str, compression: Compression | None, *, oci: bool, crypto: LayerCrypto | None = None
) -> str:
    """c/image `updatedMIMEType`: the layer media type after (re)compression, and after
    decryption (the "+encrypted" suffix dropped first) or encryption (added last).

    `compression` None (or equal to what `original` already says) keeps `original`.
    Raises `ManifestError` if `original` is not an image layer type of the format, or the
    new compression cannot be expressed in it (the table is `mime`'s), with c/image's words
    for a type that cannot be encrypted or decrypted.
    """
    if crypto is LayerCrypto.DECRYPT:
        plain = mime.decrypted_layer_type(original)
        if plain is None:
            raise ManifestError(f'unsupported mediaType to decrypt: "{safe_text(original, 100)}"')
        original = plain
    if crypto is LayerCrypto.ENCRYPT:
        if not oci:
            raise ManifestError("encryption is not supported for docker images")
        compressed = updated_layer_media_type(original, compression, oci=oci)
        encrypted = mime.encrypted_layer_type(compressed)
        if encrypted is None:
            if mime.is_encrypted_layer_type(compressed):
                raise ManifestError(f'unsupported mediaType: "{safe_text(compressed, 100)}" already encrypted')
            raise ManifestError(f'unsupported mediaType to encrypt: "{safe_text(compressed, 100)}"')
        return encrypted
    if compression is None:
        return original
    new = mime.layer_variant(original, compression, oci=oci)
    if new is not None:
        return new
    if not mime.is_changeable_layer_type(original, oci=oci):
        raise ManifestError(f'unsupported MIME type for compression: "{safe_text(original, 100)}"')
    raise ManifestError(
        f'{compression.value} compression is not supported for type "{safe_text(original, 100)}"'
    )


def _checked_info(info: BlobInfo, index: int) -> tuple[Digest, int]:
    if info.digest is None:
        raise ManifestError(f"preparing updated manifest: layer {index} has no digest")
    if info.size < 0:
        raise ManifestError(f"preparing updated manifest: layer {info.digest} has an unknown size")
    return info.digest, info.size


def _schema2_layers(originals: Sequence[str], infos: Sequence[BlobInfo]) -> list[GoStruct]:
    if len(originals) != len(infos):
        raise ManifestError(
            f"Error preparing updated manifest: layer count changed from {len(originals)} to {len(infos)}"
        )
    layers = []
    for i, (original, info) in enumerate(zip(originals, infos, strict=True)):
        if original not in mime.SCHEMA2_SUPPORTED_TYPES:
            raise ManifestError(
                "Error preparing updated manifest: unknown media type of original layer "
                f'{info.digest}: "{original}"'
            )
        digest, size = _checked_info(info, i)
        media_type = updated_layer_media_type(original, info.compression, oci=False, crypto=info.crypto_operation)
        layers.append(_s2_descriptor(media_type, size, digest, info.urls))
    return layers


def _oci_layers(originals: Sequence[str], infos: Sequence[BlobInfo]) -> list[GoStruct]:
    if len(originals) != len(infos):
        raise ManifestError(
            f"Error preparing updated manifest: layer count changed from {len(originals)} to {len(infos)}"
        )
    layers = []
    for i, (original, info) in enumerate(zip(originals, infos, strict=True)):
        digest, size = _checked_info(info, i)
        media_type = updated_layer_media_type(original, info.compression, oci=True, crypto=info.crypto_operation)
        layers.append(_oci_descriptor(media_type, digest, size, urls=info.urls, annotations=info.annotations))
    return layers


def update_layer_infos(view: ImageManifest, new_layers: Sequence[BlobInfo]) -> bytes:
    """New manifest bytes with the layers replaced by `new_layers` (base first, same count).

    Schema1 can only be "updated" to identical digests (returns the raw bytes); anything else
    raises `NotSupportedError` (c/image re-signs schema1 with a fresh key, which is never
    reproducible).
    """
    if isinstance(view, Schema2):
        config = _s2_descriptor(
            view.config.media_type, view.config.size, view.config.digest, view.config.urls
        )
        layers = _schema2_layers([d.media_type for d in view.layers], new_layers)
        return _schema2_bytes(view.schema_version, view.media_type_field, config, layers)
    if isinstance(view, OCI1):
        layers = _oci_layers([d.media_type for d in view.layers], new_layers)
        return _oci1_bytes(view, _oci_from_descriptor(view.config), layers)
    if isinstance(view, Schema1):
        current = [info.digest for info in view.layer_infos()]
        if [info.digest for info in new_layers] == current and all(i.compression is None for i in new_layers):
            return view.raw
        raise NotSupportedError("updating layers of a schema1 manifest is not supported")
    raise ManifestError(f"cannot update layers of {type(view).__name__}")


def update_config(view: ImageManifest, info: BlobInfo) -> bytes:
    """New manifest bytes pointing to config `info` (digest and size required; media type kept
    unless `info.media_type` is set)."""
    if info.digest is None or info.size < 0:
        raise ManifestError("updating the config: digest and size are required")
    if isinstance(view, Schema2):
        config = _s2_descriptor(
            info.media_type or view.config.media_type, info.size, info.digest, view.config.urls
        )
        layers = [_s2_descriptor(d.media_type, d.size, d.digest, d.urls) for d in view.layers]
        return _schema2_bytes(view.schema_version, view.media_type_field, config, layers)
    if isinstance(view, OCI1):
        c = view.config
        config = _oci_descriptor(
            info.media_type or c.media_type,
            info.digest,
            info.size,
            urls=c.urls,
            annotations=c.annotations,
            data=None,
            platform=c.platform,
            artifact_type=c.artifact_type,
        )
        return _oci1_bytes(view, config, [_oci_from_descriptor(d) for d in view.layers])
    raise NotSupportedError("schema1 manifests have no config to update")


# --- conversions -----------------------------------------------------------------------------------------

_S2_TO_OCI: Final = {
    mime.DOCKER_LAYER_FOREIGN: mime.OCI_LAYER_NONDIST,
    mime.DOCKER_LAYER_FOREIGN_GZIP: mime.OCI_LAYER_NONDIST_GZIP,
    mime.DOCKER_LAYER_UNCOMPRESSED: mime.OCI_LAYER,
    mime.DOCKER_LAYER_GZIP: mime.OCI_LAYER_GZIP,
}
_OCI_TO_S2: Final = {
    mime.OCI_LAYER_NONDIST: mime.DOCKER_LAYER_FOREIGN,
    mime.OCI_LAYER_NONDIST_GZIP: mime.DOCKER_LAYER_FOREIGN_GZIP,
    mime.OCI_LAYER: mime.DOCKER_LAYER_UNCOMPRESSED,
    mime.OCI_LAYER_GZIP: mime.DOCKER_LAYER_GZIP,
}


def _verify_config(config: Descriptor, config_bytes: bytes | None) -> bytes:
    if config_bytes is None:
        raise ManifestError("converting this manifest needs the config blob (config_bytes)")
    data = bytes(config_bytes)
    if len(data) != config.size:
        raise SizeMismatchError(f"config {config.digest}: got {len(data)} bytes, expected {config.size}")
    if not config.digest.matches(data):
        raise DigestMismatchError(f"Download config.json digest {config.digest} does not match expected")
    return data


def _schema2_to_oci(
    config_desc: Descriptor, layer_types: Sequence[tuple[str, Descriptor]], config_bytes: bytes
) -> Conversion:
    oci_config = docker_config_to_oci(config_bytes)
    config = _oci_descriptor(mime.OCI_CONFIG, Digest.from_bytes(oci_config), len(oci_config))
    layers = []
    for media_type, d in layer_types:
        new_type = _S2_TO_OCI.get(media_type)
        if new_type is None:
            raise ManifestError(
                f'Unknown media type during manifest conversion: "{safe_text(media_type, 100)}"'
            )
        layers.append(_oci_descriptor(new_type, d.digest, d.size, urls=d.urls))
    manifest = _oci1_bytes(None, config, layers)
    return Conversion(manifest=manifest, mime_type=mime.OCI_MANIFEST, config=oci_config)


def _oci_to_schema2(view: OCI1, decrypted: Sequence[bool] = ()) -> bytes:
    if view.non_image_artifact_type is not None:
        raise NonImageArtifactError(view.non_image_artifact_type)
    layers = []
    for i, d in enumerate(view.layers):
        mt = d.media_type
        if i < len(decrypted) and decrypted[i]:
            mt = mime.decrypted_layer_type(mt) or mt
        if mt in (mime.OCI_LAYER_ZSTD, mime.OCI_LAYER_NONDIST_ZSTD):
            raise ManifestError(
                f'Error during manifest conversion: "{mt}": '
                "zstd compression is not supported for docker images"
            )
        if mt in mime.ENCRYPTED_LAYER_TYPES:
            raise ManifestError(
                f'during manifest conversion: encrypted layers ("{mt}") are not supported in docker images'
            )
        new_type = _OCI_TO_S2.get(mt)
        if new_type is None:
            raise ManifestError(f'Unknown media type during manifest conversion: "{safe_text(mt, 100)}"')
        layers.append(_s2_descriptor(new_type, d.size, d.digest, d.urls))
    config = _s2_descriptor(mime.DOCKER_CONFIG, view.config.size, view.config.digest, view.config.urls)
    return _schema2_bytes(2, mime.DOCKER_V2S2, config, layers)


def _schema1_to_schema2(
    view: Schema1, diff_ids: Sequence[Digest] | None, layer_infos: Sequence[BlobInfo] | None
) -> tuple[Schema2, bytes, list[BlobInfo]]:
    n = len(view.fs_layers)
    if diff_ids is None or len(diff_ids) != n:
        raise ManifestError(
            f"converting schema1: need {n} layer DiffID values (base first), got "
            f"{'none' if diff_ids is None else len(diff_ids)}"
        )
    if layer_infos is None or len(layer_infos) != n:
        raise ManifestError(
            f"Error converting image: layer edits for {'no' if layer_infos is None else len(layer_infos)} "
            f"layers vs {n} existing layers"
        )
    kept_diff_ids: list[Digest] = []
    kept_infos: list[BlobInfo] = []
    layers: list[Descriptor] = []
    for v2_index, compat in enumerate(reversed(view.v1_compat)):
        if compat.throwaway:
            continue
        info = layer_infos[v2_index]
        _digest, size = _checked_info(info, v2_index)
        layers.append(
            Descriptor(media_type=mime.DOCKER_LAYER_GZIP, digest=view.fs_layers[n - 1 - v2_index], size=size)
        )
        kept_infos.append(info)
        kept_diff_ids.append(diff_ids[v2_index])
    config_bytes = schema1_to_schema2_config(view, kept_diff_ids)
    config = Descriptor(
        media_type=mime.DOCKER_CONFIG, digest=Digest.from_bytes(config_bytes), size=len(config_bytes)
    )
    s2 = Schema2(
        raw=b"", schema_version=2, media_type_field=mime.DOCKER_V2S2, config=config, layers=tuple(layers)
    )
    return s2, config_bytes, kept_infos


def _to_schema1(
    view: Schema2 | OCI1,
    config_bytes: bytes | None,
    layer_infos: Sequence[BlobInfo] | None,
    sign: Callable[[bytes], bytes] | None,
    docker_name: str,
    docker_tag: str,
) -> Conversion:
    if sign is None:
        raise ManifestError("converting to schema1 needs a signer (sign=)")
    if isinstance(view, OCI1):
        # c/image converts OCI through schema2: the same refusals (artifacts, zstd, encryption).
        _oci_to_schema2(view, [i.crypto_operation is LayerCrypto.DECRYPT for i in layer_infos or ()])
    data = _verify_config(view.config, config_bytes)
    built = schema1_from_image(
        data, [d.digest for d in view.layers], layer_infos=layer_infos, name=docker_name, tag=docker_tag
    )
    blobs = ((empty_layer_info(), GZIPPED_EMPTY_LAYER),) if built.uses_empty_layer else ()
    return Conversion(manifest=sign(built.unsigned), mime_type=mime.DOCKER_V2S1_SIGNED, blobs=blobs)


def convert(
    view: ImageManifest,
    target_mime: str,
    *,
    config_bytes: bytes | None = None,
    diff_ids: Sequence[Digest] | None = None,
    layer_infos: Sequence[BlobInfo] | None = None,
    sign: Callable[[bytes], bytes] | None = None,
    docker_name: str = "",
    docker_tag: str = "",
) -> Conversion:
    """Convert `view` to `target_mime` (c/image `UpdatedImage` with `ManifestMIMEType`).

    - v2s2 -> OCI: `config_bytes` (the verified v2s2 config) is required; the result carries
      the new OCI config (`Conversion.config`), whose digest the new manifest references.
    - OCI -> v2s2: refuses artifacts, zstd and encrypted layers (c/image's messages); the
      config blob is unchanged (`Conversion.config` None).
    - v2s1 -> v2s2 / OCI: `diff_ids` and `layer_infos` (one per fsLayer, base first, as
      copied) are required; throwaway layers are dropped; the new config is returned.
    - v2s2 / OCI -> v2s1: `config_bytes` (verified against the manifest) and `sign` (which
      turns the unsigned schema1 JSON into the signed document, see
      `toolkit.signature.libtrust`) are required; `docker_name`/`docker_tag` fill the
      manifest's `name`/`tag` (the destination's reference path and tag); `layer_infos`
      (base first, as copied) give the `blobSum`s. `Conversion.blobs` holds the empty layer
      when the config history has empty entries. The result's type is the signed one.
    - `layer_infos`, when given for the other conversions, is applied afterwards as
      `update_layer_infos` does (base first, all layers of the result).
    The same type (v2s1 signed/unsigned count as one) returns the raw bytes when
    `layer_infos` is None.
    """
    target = mime.normalize_mime(target_mime)
    if target in mime.LIST_TYPES:
        raise ManifestError(f'Can not convert image manifest to MIME type "{target}", which is a list type')
    if target in (mime.DOCKER_V2S1, mime.DOCKER_V2S1_SIGNED):
        if isinstance(view, Schema1) and layer_infos is None:
            return Conversion(manifest=view.raw, mime_type=view.mime_type)
        if isinstance(view, Schema1):
            return Conversion(manifest=update_layer_infos(view, layer_infos or []), mime_type=view.mime_type)
        if isinstance(view, (Schema2, OCI1)):
            return _to_schema1(view, config_bytes, layer_infos, sign, docker_name, docker_tag)
        raise NotSupportedError("conversion to v2s1 is not supported")

    if isinstance(view, Schema1):
        s2, s2_config, kept = _schema1_to_schema2(view, diff_ids, layer_infos)
        if target == mime.DOCKER_V2S2:
            return Conversion(
                manifest=update_layer_infos(s2, kept), mime_type=mime.DOCKER_V2S2, config=s2_config
            )
        result = _schema2_to_oci(s2.config, [(d.media_type, d) for d in s2.layers], s2_config)
        oci = _reparse_oci(result.manifest)
        return Conversion(
            manifest=update_layer_infos(oci, kept), mime_type=mime.OCI_MANIFEST, config=result.config
        )

    if isinstance(view, Schema2):
        if target == mime.DOCKER_V2S2:
            manifest = view.raw if layer_infos is None else update_layer_infos(view, layer_infos)
            return Conversion(manifest=manifest, mime_type=mime.DOCKER_V2S2)
        data = _verify_config(view.config, config_bytes)
        result = _schema2_to_oci(view.config, [(d.media_type, d) for d in view.layers], data)
        if layer_infos is None:
            return result
        oci = _reparse_oci(result.manifest)
        return Conversion(
            manifest=update_layer_infos(oci, layer_infos), mime_type=mime.OCI_MANIFEST, config=result.config
        )

    if isinstance(view, OCI1):
        if target == mime.OCI_MANIFEST:
            manifest = view.raw if layer_infos is None else update_layer_infos(view, layer_infos)
            return Conversion(manifest=manifest, mime_type=mime.OCI_MANIFEST)
        decrypted = [i.crypto_operation is LayerCrypto.DECRYPT for i in layer_infos or ()]
        manifest = _oci_to_schema2(view, decrypted)
        if layer_infos is not None:
            # The conversion already dropped the "+encrypted" of what was decrypted.
            plain = [replace(i, crypto_operation=None) if i.crypto_operation is LayerCrypto.DECRYPT else i
                     for i in layer_infos]
            manifest = update_layer_infos(_reparse_s2(manifest), plain)
        return Conversion(manifest=manifest, mime_type=mime.DOCKER_V2S2)
    raise ManifestError(f"cannot convert {type(view).__name__}")


def _reparse_oci(raw: bytes) -> OCI1:
    from toolkit.manifest.formats import parse_manifest

    view = parse_manifest(raw, mime.OCI_MANIFEST)
    assert isinstance(view, OCI1)
    return view


def _reparse_s2(raw: bytes) -> Schema2:
    from toolkit.manifest.formats import parse_manifest

    view = parse_manifest(raw, mime.DOCKER_V2S2)
    assert isinstance(view, Schema2)
    return view


# --- lists -----------------------------------------------------------------------------------------------


def _s2_list_bytes(schema_version: int, media_type: str, entries: Sequence[Descriptor]) -> bytes:
    manifests = []
    for d in entries:
        p = d.platform or Platform(os="", architecture="")
        plat = (
            GoStruct([("architecture", p.architecture), ("os", p.os)])
            .add("os.version", p.os_version, omitempty=True)
            .add("os.features", list(p.os_features), omitempty=True)
            .add("variant", p.variant, omitempty=True)
            .add("features", list(d.platform_features), omitempty=True)
        )
        entry = _s2_descriptor(d.media_type, d.size, d.digest, d.urls)
        entry.append(("platform", plat))
        manifests.append(entry)
    return marshal(
        GoStruct([("schemaVersion", schema_version), ("mediaType", media_type), ("manifests", manifests)])
    )


def _oci_index_bytes(view: OCI1Index | None, entries: Sequence[Descriptor]) -> bytes:
    out = GoStruct([("schemaVersion", view.schema_version if view else 2)])
    # c/image pre-fills MediaType before decoding an index, so it is always written.
    out.add("mediaType", (view.media_type_field if view else "") or mime.OCI_INDEX)
    out.add("artifactType", view.artifact_type if view else "", omitempty=True)
    out.add("manifests", [_oci_from_descriptor(d) for d in entries])
    if view is not None and view.subject is not None:
        out.add("subject", _oci_from_descriptor(view.subject))
    out.add("annotations", dict(view.annotations) if view else {}, omitempty=True)
    return marshal(out)


def reserialize_list(view: ManifestListView) -> bytes:
    """The list as c/image's `Serialize()` writes it after parsing (unknown fields dropped)."""
    if isinstance(view, Schema2List):
        return _s2_list_bytes(view.schema_version, view.media_type_field, view.manifests)
    return _oci_index_bytes(view, view.manifests)


def update_list_instances(view: ManifestListView, updates: Sequence[ListUpdate]) -> bytes:
    """c/image `UpdateInstances`: update i replaces the entry whose digest equals entry i's old
    digest (the first such entry). `updates` must have one item per entry; sizes >= 0; media
    types non-empty."""
    return edit_list_instances(view, updates)


def edit_list_instances(view: ManifestListView, edits: Sequence[ListUpdate | None]) -> bytes:
    """c/image `EditInstances` with `ListOpUpdate` and `ListOpDelete`: one edit per entry.

    A `ListUpdate` at position i updates the first entry whose digest equals entry i's old
    digest (c/image targets updates by old digest); None deletes entry i (by position, after
    every update, as c/image applies its delete operations last). Every other field of the
    entries and of the list itself is kept; the remaining entries keep their order.
    """
    entries = list(view.manifests)
    if len(edits) != len(entries):
        raise ManifestError(f"updating list instances: {len(edits)} updates for {len(entries)} instances")
    kind = "Schema2List" if isinstance(view, Schema2List) else "OCI1Index"
    old_digests = [d.digest for d in entries]
    for i, update in enumerate(edits):
        if update is None:
            continue
        target = next((j for j, d in enumerate(entries) if d.digest == old_digests[i]), -1)
        if target == -1:
            raise ManifestError(f"{kind}.EditInstances: digest {old_digests[i]} not found")
        if update.size < 0:
            raise ManifestError(
                f"update {i + 1} of {len(edits)} passed to {kind}.UpdateInstances "
                f"had an invalid size ({update.size})"
            )
        if not update.media_type:
            raise ManifestError(f"update {i + 1} of {len(edits)} passed to {kind}.UpdateInstances had no media type")
        d = entries[target]
        entries[target] = Descriptor(
            media_type=update.media_type,
            digest=update.digest,
            size=update.size,
            urls=d.urls,
            annotations=d.annotations,
            platform=d.platform,
            artifact_type=d.artifact_type,
            data=d.data,
            platform_features=d.platform_features,
        )
    kept = [d for d, edit in zip(entries, edits, strict=True) if edit is not None]
    if isinstance(view, Schema2List):
        return _s2_list_bytes(view.schema_version, view.media_type_field, kept)
    return _oci_index_bytes(view, kept)


def convert_list(view: ManifestListView, target_mime: str, *, host: Host | None = None) -> bytes:
    """c/image `ConvertToMIMEType` for lists. The same type returns the raw bytes.

    OCI index -> docker list: entries without a platform get the host's OS/architecture (as
    c/image uses runtime.GOOS/GOARCH); annotations, artifact types and `data` are dropped.
    docker list -> OCI index: `platform.features` is dropped.
    """
    target = mime.normalize_mime(target_mime)
    if target not in mime.LIST_TYPES:
        raise ManifestError(
            f'Can not convert manifest list to MIME type "{target_mime}", which is not a list type'
        )
    if target == view.mime_type:
        return view.raw
    if isinstance(view, Schema2List):
        entries = [
            Descriptor(
                media_type=d.media_type, digest=d.digest, size=d.size, urls=d.urls, platform=d.platform
            )
            for d in view.manifests
        ]
        return _oci_index_bytes(None, entries)
    h = host if host is not None else current_host()
    out: list[Descriptor] = []
    for d in view.manifests:
        plat = d.platform if d.platform is not None else Platform(os=h.goos, architecture=h.goarch)
        out.append(
            Descriptor(media_type=d.media_type, digest=d.digest, size=d.size, urls=d.urls, platform=plat)
        )
    return _s2_list_bytes(2, mime.DOCKER_V2LIST, out)
