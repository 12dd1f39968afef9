"""Converting a docker schema2 or OCI image to a docker schema1 manifest, as containers/image does.

c/image `manifestSchema2.convertToManifestSchema1` (an OCI image goes through its schema2
form first, so OCI layer types that schema2 cannot express are refused the same way):

- one schema1 layer per *history* entry of the config, top first (`fsLayers`/`history`
  reversed against the config's base-first order). An entry with `empty_layer` gets the
  gzipped empty tar `GZIPPED_EMPTY_LAYER` (which the destination must receive); the others
  take the manifest's layers in order.
- each entry's `v1Compatibility` is c/image's `Schema1V1Compatibility` struct: `id`,
  `parent` (omitempty), `comment` (omitempty), `created` (Go time, zero time if absent),
  `container_config` `{"Cmd":[created_by]}`, `author` (omitempty), `throwaway`
  (omitempty); the top entry is instead the whole config minus `rootfs` and `history`,
  plus `id`, `parent` (if any) and `throwaway` (if the top entry is empty), written as a Go
  map (keys sorted, values compacted).
- v1 IDs are chained as docker does: `sha256hex(layer_hex + " " + parent_id)` (the base's
  parent is "", leaving a trailing space), the top's with `" " + config` appended too. They
  are computed from the *source* layer digests even when the copy changed them: c/image
  replaces only `blobSum`s afterwards (docker pull ignores the IDs beyond their chaining).
- `name`/`tag` are the destination's docker reference path and tag ("" when it has none);
  `architecture` is the config's.

The result is the unsigned manifest (Go `json.Marshal` of c/image's `Schema1` struct); the
caller signs it (`toolkit.signature.libtrust`), since docker/distribution refuses an
unsigned one. Differences from c/image, on purpose: a config whose non-empty history
entries do not match the manifest's layer count is refused both ways (c/image silently drops
layers the history does not mention).

Raises `ManifestError` (c/image's messages where it has them) and `NotSupportedError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Final

from toolkit._record import record
from toolkit.digest import Digest
from toolkit.errors import ManifestError
from toolkit.manifest import mime
from toolkit.manifest.config import members_of_object, parse_config
from toolkit.manifest.gojson import GoStruct, GoTime, RawJSON, marshal
from toolkit.types import BlobInfo, Compression

__all__ = ["GZIPPED_EMPTY_LAYER", "GZIPPED_EMPTY_LAYER_DIGEST", "Schema1Conversion", "schema1_from_image"]

#: c/image `image.GzippedEmptyLayer`: a gzipped empty tar (1024 NUL bytes), from docker/distribution.
GZIPPED_EMPTY_LAYER: Final = bytes.fromhex("1f8b080000096e8800ff621805a360148c5800080000ffff2eafb5ef00040000")
GZIPPED_EMPTY_LAYER_DIGEST: Final = Digest("sha256", "a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4")
_EMPTY_INFO: Final = BlobInfo(
    digest=GZIPPED_EMPTY_LAYER_DIGEST, size=len(GZIPPED_EMPTY_LAYER), media_type=mime.DOCKER_LAYER_GZIP
)
_ZERO_TIME: Final = "0001-01-01T00:00:00Z"


@record(kw_only=True)
class Schema1Conversion:
    """The unsigned schema1 manifest, and whether the empty layer blob must be written."""

    unsigned: bytes
    uses_empty_layer: bool


def _v1_id(blob: Digest, *others: bytes) -> str:
    """c/image `v1IDFromBlobDigestAndComponents` (Go strings are bytes: the config as read)."""
    return hashlib.sha256(b" ".join([blob.hex.encode("ascii"), *others])).hexdigest()


def _top_v1_compat(config_bytes: bytes, v1_id: str, parent: str, throwaway: bool) -> bytes:
    """c/image `v1ConfigFromConfigJSON`: the config as a Go map of raw values, edited."""
    raw_map: dict[str, Any] = {}
    for key, value in members_of_object(config_bytes.decode("utf-8", errors="replace"), "image config"):
        raw_map[key] = RawJSON(value.encode("utf-8"))  # last duplicate wins, as in a Go map
    raw_map.pop("rootfs", None)
    raw_map.pop("history", None)
    raw_map["id"] = RawJSON(marshal(v1_id))
    if parent:
        raw_map["parent"] = RawJSON(marshal(parent))
    if throwaway:
        raw_map["throwaway"] = RawJSON(b"true")
    return marshal(raw_map)


def _check_layer_edit(info: BlobInfo) -> Digest:
    """c/image `Schema1.UpdateLayerInfos`: only gzip or no compression, no encryption change."""
    if info.digest is None:
        raise ManifestError("preparing updated manifest: a layer has no digest")
    if info.compression not in (None, Compression.NONE, Compression.GZIP):
        name = info.compression.value
        raise ManifestError(
            f'preparing updated manifest, layer "{info.digest}": {name} compression is not supported for type '
            f'"{mime.DOCKER_LAYER_GZIP}"'
        )
    if info.crypto_operation is not None:
        raise ManifestError(
            f'encryption change (for layer "{info.digest}") is not supported in schema1 manifests'
        )
    return info.digest


def schema1_from_image(
    config_bytes: bytes,
    layer_digests: Sequence[Digest],
    *,
    layer_infos: Sequence[BlobInfo] | None = None,
    name: str = "",
    tag: str = "",
) -> Schema1Conversion:
    """Build the unsigned schema1 manifest of an image (see the module docstring).

    `config_bytes` is the image's verified config; `layer_digests` its manifest's layers,
    base first; `layer_infos`, when given, the layers as copied (same count), whose digests
    become the `blobSum`s.
    """
    config = parse_config(config_bytes)
    history = config.history
    if not history:
        raise ManifestError(f"Cannot convert an image with 0 history entries to {mime.DOCKER_V2S1_SIGNED}")
    if layer_infos is not None and len(layer_infos) != len(layer_digests):
        raise ManifestError(
            f"Error converting image: layer edits for {len(layer_infos)} layers vs {len(layer_digests)} existing layers"
        )
    non_empty = sum(1 for h in history if not h.empty_layer)
    if non_empty > len(layer_digests):
        raise ManifestError(
            f"Invalid image configuration, needs more than the {len(layer_digests)} distributed layers"
        )
    if non_empty < len(layer_digests):
        raise ManifestError(
            f"converting to schema1: the image config's history names {non_empty} layers, "
            f"the manifest has {len(layer_digests)}"
        )
    count = len(history)
    blob_sums: list[Digest] = [GZIPPED_EMPTY_LAYER_DIGEST] * count
    compat: list[bytes] = [b""] * count
    id_digests: list[Digest] = [GZIPPED_EMPTY_LAYER_DIGEST] * count
    next_layer = 0
    parent = ""
    v1_id = ""
    for v2_index, entry in enumerate(history):
        parent = v1_id
        v1_index = count - 1 - v2_index
        if entry.empty_layer:
            blob = blob_for_id = GZIPPED_EMPTY_LAYER_DIGEST
        else:
            blob_for_id = layer_digests[next_layer]
            blob = blob_for_id if layer_infos is None else _check_layer_edit(layer_infos[next_layer])
            next_layer += 1
        v1_id = _v1_id(blob_for_id, parent.encode("ascii"))
        fake = GoStruct([("id", v1_id)])
        fake.add("parent", parent, omitempty=True)
        fake.add("comment", entry.comment, omitempty=True)
        created = GoTime.parse(entry.created, what="image config history").format() if entry.created else _ZERO_TIME
        fake.add("created", created)
        fake.add("container_config", GoStruct([("Cmd", [entry.created_by])]))
        fake.add("author", entry.author, omitempty=True)
        fake.add("throwaway", entry.empty_layer, omitempty=True)
        blob_sums[v1_index] = blob
        id_digests[v1_index] = blob_for_id
        compat[v1_index] = marshal(fake)
    top_id = _v1_id(id_digests[0], parent.encode("ascii"), bytes(config_bytes))
    compat[0] = _top_v1_compat(config_bytes, top_id, parent, history[-1].empty_layer)
    unsigned = marshal(
        GoStruct(
            [
                ("name", name),
                ("tag", tag),
                ("architecture", config.architecture),
                ("fsLayers", [GoStruct([("blobSum", str(d))]) for d in blob_sums]),
                ("history", [GoStruct([("v1Compatibility", c.decode("utf-8"))]) for c in compat]),
                ("schemaVersion", 1),
            ]
        )
    )
    return Schema1Conversion(unsigned=unsigned, uses_empty_layer=any(h.empty_layer for h in history))


def empty_layer_info() -> BlobInfo:
    """The `BlobInfo` of `GZIPPED_EMPTY_LAYER` (a gzip docker layer)."""
    return _EMPTY_INFO
