"""Parsed, read-only views of manifests and manifest lists.

Contract:
- Input bytes are untrusted. `parse_manifest`, `parse_list` and `parse_any` accept only
  documents that pass `loads_strict` (size cap `MAX_MANIFEST_SIZE`, no duplicate keys, no BOM,
  depth cap ...), have the expected structure and types, and are unambiguous
  (c/image `ValidateUnambiguousManifestFormat`, with case-insensitive key matching as Go does).
- Every digest goes through `Digest.parse`; every size is a non-negative int64.
- A view keeps the exact bytes (`raw`, `serialize()`); parsing never changes them.
- Errors: `SizeLimitError`, `AmbiguousManifestError`, `InvalidDigestError`, `ManifestError`
  (all `ToolkitError`); never `KeyError`/`TypeError`/`RecursionError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from toolkit._record import field, record
from toolkit.digest import Digest
from toolkit.errors import AmbiguousManifestError, ManifestError, safe_text
from toolkit.manifest import mime
from toolkit.manifest.gojson import GoTime, fold_equal
from toolkit.manifest.strictjson import (
    INT64_MAX,
    check_keys,
    expect_object,
    get_bool,
    get_dict,
    get_int,
    get_list,
    get_str,
    get_str_list,
    get_str_map,
    loads_strict,
)
from toolkit.types import BlobInfo, Platform, SystemContext

if TYPE_CHECKING:
    from toolkit.manifest.platform import Host

__all__ = [
    "MAX_MANIFEST_SIZE",
    "MAX_CONFIG_SIZE",
    "MAX_LIST_ENTRIES",
    "MAX_LAYERS",
    "Descriptor",
    "LayerInfo",
    "ListEntry",
    "Schema1",
    "Schema1V1Compat",
    "Schema2",
    "OCI1",
    "Schema2List",
    "OCI1Index",
    "ImageManifest",
    "ManifestListView",
    "parse_manifest",
    "parse_list",
    "parse_any",
    "check_list_nesting",
]

#: c/image iolimits.MaxManifestBodySize / MaxConfigBodySize.
MAX_MANIFEST_SIZE: Final = 4 << 20
MAX_CONFIG_SIZE: Final = 4 << 20
#: Cap on entries of a manifest list / index (security.md corpus 12; c/image has none).
MAX_LIST_ENTRIES: Final = 1000
#: Cap on layers of one image (far above docker's 127-layer limit).
MAX_LAYERS: Final = 10000

_EMPTY_MAP: Final[Mapping[str, str]] = MappingProxyType({})


def _frozen_map(value: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(value)) if value else _EMPTY_MAP


# --- building blocks -------------------------------------------------------------------------------


@record(kw_only=True)
class Descriptor:
    """An OCI / docker descriptor. `data` is the base64 text of an embedded blob (rare)."""

    media_type: str
    digest: Digest
    size: int
    urls: tuple[str, ...] = ()
    annotations: Mapping[str, str] = field(default_factory=lambda: _EMPTY_MAP)
    platform: Platform | None = None
    artifact_type: str = ""
    data: str | None = None
    #: docker list only: `platform.features` (dropped by OCI).
    platform_features: tuple[str, ...] = ()

    def blob_info(self) -> BlobInfo:
        """This descriptor as a `BlobInfo` (urls stay untrusted)."""
        return BlobInfo(
            digest=self.digest,
            size=self.size,
            media_type=self.media_type,
            urls=self.urls,
            annotations=self.annotations,
        )


@record(kw_only=True)
class LayerInfo(BlobInfo):
    """A layer of an image, base first. `empty_layer`: a schema1 "throwaway" layer."""

    empty_layer: bool = False


@record(kw_only=True)
class ListEntry:
    """One instance of a manifest list / image index."""

    digest: Digest
    size: int
    media_type: str
    platform: Platform | None
    annotations: Mapping[str, str] = field(default_factory=lambda: _EMPTY_MAP)
    urls: tuple[str, ...] = ()
    artifact_type: str = ""


_DESCRIPTOR_FIELDS: Final = frozenset(
    {"mediaType", "digest", "size", "urls", "annotations", "data", "platform", "artifactType"}
)
_PLATFORM_FIELDS: Final = frozenset(
    {"architecture", "os", "os.version", "os.features", "variant", "features"}
)
_S2_DESCRIPTOR_FIELDS: Final = frozenset({"mediaType", "size", "digest", "urls"})
_S2_LIST_ENTRY_FIELDS: Final = _S2_DESCRIPTOR_FIELDS | {"platform"}


def _parse_platform(obj: dict[str, Any] | None, what: str) -> tuple[Platform | None, tuple[str, ...]]:
    if obj is None:
        return None, ()
    check_keys(obj, _PLATFORM_FIELDS, what=what)
    plat = Platform(
        architecture=get_str(obj, "architecture", what=what),
        os=get_str(obj, "os", what=what),
        os_version=get_str(obj, "os.version", what=what),
        os_features=get_str_list(obj, "os.features", what=what) or (),
        variant=get_str(obj, "variant", what=what),
    )
    return plat, get_str_list(obj, "features", what=what) or ()


def _parse_descriptor(value: Any, what: str, *, fields: frozenset[str] = _DESCRIPTOR_FIELDS) -> Descriptor:
    obj = expect_object(value, what=what)
    check_keys(obj, fields, what=what)
    if "digest" not in obj or obj["digest"] is None:
        raise ManifestError(f'{what}: missing field "digest"')
    digest = Digest.parse(obj["digest"])
    size = get_int(obj, "size", what=what, maximum=INT64_MAX)
    platform, features = _parse_platform(get_dict(obj, "platform", what=what), f"{what} platform")
    data = get_str(obj, "data", what=what) if "data" in fields else ""
    if data:
        import base64  # embedded data is rare: base64 (with struct) is not imported by every command
        import binascii

        try:
            base64.b64decode(data.replace("\r", "").replace("\n", ""), validate=True)
        except (binascii.Error, ValueError):
            raise ManifestError(f'{what}: field "data" is not valid base64') from None
    return Descriptor(
        media_type=get_str(obj, "mediaType", what=what),
        digest=digest,
        size=size,
        urls=get_str_list(obj, "urls", what=what) or (),
        annotations=_frozen_map(get_str_map(obj, "annotations", what=what))
        if "annotations" in fields
        else _EMPTY_MAP,
        platform=platform,
        artifact_type=get_str(obj, "artifactType", what=what) if "artifactType" in fields else "",
        data=data or None,
        platform_features=features,
    )


_AMBIGUITY_FIELDS: Final = ("config", "fsLayers", "history", "layers", "manifests")


def _check_unambiguous(doc: dict[str, Any], expected_mime: str, allowed: frozenset[str]) -> None:
    """c/image `ValidateUnambiguousManifestFormat` (keys matched case-insensitively, as Go does)."""
    unexpected = []
    for name in _AMBIGUITY_FIELDS:
        if name in allowed:
            continue
        if any(fold_equal(key, name) and value is not None for key, value in doc.items()):
            unexpected.append(name)
    if unexpected:
        import json  # an error message only (documents are parsed by toolkit.manifest.jsonscan)

        listed = ", ".join(json.dumps(n) for n in unexpected)
        raise AmbiguousManifestError(
            f"rejecting ambiguous manifest, unexpected fields []string{{{listed}}} "
            f"in supposedly {expected_mime}"
        )


def _load(raw: bytes, what: str) -> dict[str, Any]:
    return expect_object(loads_strict(raw, what=what, limit=MAX_MANIFEST_SIZE), what=what)


def _schema_version(doc: dict[str, Any], what: str, expected: int) -> int:
    version = get_int(doc, "schemaVersion", what=what, minimum=None)
    if version != expected:
        raise ManifestError(f"{what}: unsupported schema version {version}")
    return version


def _body_media_type(doc: dict[str, Any], what: str, expected: str, *, required: bool) -> str:
    value = get_str(doc, "mediaType", what=what)
    if value != expected and (value or required):
        raise ManifestError(
            f'{what}: mediaType in manifest body is "{safe_text(value, 100)}", expected "{expected}"'
        )
    return value


# --- single images -------------------------------------------------------------------------------------


@record(kw_only=True)
class Schema2:
    """A docker v2 schema 2 manifest."""

    raw: bytes = field(repr=False)
    schema_version: int
    media_type_field: str
    config: Descriptor
    layers: tuple[Descriptor, ...]

    mime_type: str = mime.DOCKER_V2S2

    def config_info(self) -> BlobInfo:
        return self.config.blob_info()

    def layer_infos(self) -> list[LayerInfo]:
        return [_layer_info(d) for d in self.layers]

    def can_change_layer_compression(self, media_type: str) -> bool:
        """c/image `Schema2.CanChangeLayerCompression`: only the schema2 image layer types."""
        return mime.is_changeable_layer_type(media_type, oci=False)

    @property
    def non_image_artifact_type(self) -> str | None:
        """Always None: a schema2 manifest is an image."""
        return None

    def serialize(self) -> bytes:
        return self.raw


@record(kw_only=True)
class OCI1:
    """An OCI image manifest (or artifact manifest)."""

    raw: bytes = field(repr=False)
    schema_version: int
    media_type_field: str
    artifact_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    subject: Descriptor | None
    annotations: Mapping[str, str]

    mime_type: str = mime.OCI_MANIFEST

    def config_info(self) -> BlobInfo:
        return self.config.blob_info()

    def layer_infos(self) -> list[LayerInfo]:
        return [_layer_info(d) for d in self.layers]

    @property
    def non_image_artifact_type(self) -> str | None:
        """None for a container image (config `application/vnd.oci.image.config.v1+json`);
        for an artifact, its `artifactType`, else its config media type (c/image's choice in
        `NewNonImageArtifactError`)."""
        if self.config.media_type == mime.OCI_CONFIG:
            return None
        return self.artifact_type or self.config.media_type

    def can_change_layer_compression(self, media_type: str) -> bool:
        """c/image `OCI1.CanChangeLayerCompression`: an OCI image (not an artifact) and one of
        the OCI image layer types; every other layer is copied byte for byte."""
        return self.non_image_artifact_type is None and mime.is_changeable_layer_type(media_type, oci=True)

    def serialize(self) -> bytes:
        return self.raw


@record(kw_only=True)
class Schema1V1Compat:
    """The fields c/image reads from one schema1 `v1Compatibility` entry."""

    id: str
    parent: str
    comment: str
    created: GoTime
    container_cmd: tuple[str, ...]
    author: str
    throwaway: bool


@record(kw_only=True)
class Schema1:
    """A docker v2 schema 1 manifest (signed or not). Lists are top layer first, as stored,
    after c/image `fixManifestLayers` removed consecutive duplicate IDs."""

    raw: bytes = field(repr=False)
    mime_type: str
    name: str
    tag: str
    architecture: str
    fs_layers: tuple[Digest, ...]
    history: tuple[str, ...]
    v1_compat: tuple[Schema1V1Compat, ...]

    def config_info(self) -> BlobInfo:
        """Schema1 has no config blob: a BlobInfo with digest None."""
        return BlobInfo(digest=None, size=-1)

    def can_change_layer_compression(self, media_type: str) -> bool:
        """c/image: schema1 layers carry no media type; every one is a (gzip) image layer."""
        return True

    @property
    def non_image_artifact_type(self) -> str | None:
        """Always None: a schema1 manifest is an image."""
        return None

    def layer_infos(self) -> list[LayerInfo]:
        return [
            LayerInfo(digest=d, size=-1, empty_layer=c.throwaway)
            for d, c in zip(reversed(self.fs_layers), reversed(self.v1_compat), strict=True)
        ]

    def serialize(self) -> bytes:
        return self.raw


def _layer_info(d: Descriptor) -> LayerInfo:
    return LayerInfo(
        digest=d.digest, size=d.size, media_type=d.media_type, urls=d.urls, annotations=d.annotations
    )


ImageManifest: TypeAlias = Schema1 | Schema2 | OCI1


def _parse_schema2(raw: bytes) -> Schema2:
    what = "docker v2s2 manifest"
    doc = _load(raw, what)
    check_keys(doc, frozenset({"schemaVersion", "mediaType", "config", "layers"}), what=what)
    _check_unambiguous(doc, mime.DOCKER_V2S2, frozenset({"config", "layers"}))
    version = _schema_version(doc, what, 2)
    media_type = get_str(doc, "mediaType", what=what)
    if media_type not in mime.SCHEMA2_SUPPORTED_TYPES:
        raise ManifestError(f'unsupported docker v2s2 media type: "{safe_text(media_type, 100)}"')
    _body_media_type(doc, what, mime.DOCKER_V2S2, required=True)
    config = _parse_descriptor(
        get_dict(doc, "config", what=what, required=True), f"{what} config", fields=_S2_DESCRIPTOR_FIELDS
    )
    layers_raw = get_list(doc, "layers", what=what, max_items=MAX_LAYERS) or []
    layers = tuple(
        _parse_descriptor(item, f"{what} layer {i}", fields=_S2_DESCRIPTOR_FIELDS)
        for i, item in enumerate(layers_raw)
    )
    for layer in layers:
        if layer.media_type not in mime.SCHEMA2_SUPPORTED_TYPES:
            raise ManifestError(f'unsupported docker v2s2 media type: "{safe_text(layer.media_type, 100)}"')
    return Schema2(raw=raw, schema_version=version, media_type_field=media_type, config=config, layers=layers)


def _parse_oci1(raw: bytes) -> OCI1:
    what = "OCI manifest"
    doc = _load(raw, what)
    check_keys(
        doc,
        frozenset(
            {"schemaVersion", "mediaType", "artifactType", "config", "layers", "subject", "annotations"}
        ),
        what=what,
    )
    _check_unambiguous(doc, mime.OCI_MANIFEST, frozenset({"config", "layers"}))
    version = _schema_version(doc, what, 2)
    media_type = _body_media_type(doc, what, mime.OCI_MANIFEST, required=False)
    config = _parse_descriptor(get_dict(doc, "config", what=what, required=True), f"{what} config")
    layers_raw = get_list(doc, "layers", what=what, max_items=MAX_LAYERS) or []
    layers = tuple(_parse_descriptor(item, f"{what} layer {i}") for i, item in enumerate(layers_raw))
    subject_raw = get_dict(doc, "subject", what=what)
    subject = _parse_descriptor(subject_raw, f"{what} subject") if subject_raw is not None else None
    return OCI1(
        raw=raw,
        schema_version=version,
        media_type_field=media_type,
        artifact_type=get_str(doc, "artifactType", what=what),
        config=config,
        layers=layers,
        subject=subject,
        annotations=_frozen_map(get_str_map(doc, "annotations", what=what)),
    )


_V1_ID_CHARS: Final = frozenset("0123456789abcdef")


def _parse_v1_compat(text: str, index: int) -> Schema1V1Compat:
    what = f"schema1 history entry {index}"
    doc = expect_object(loads_strict(text.encode("utf-8"), what=what, limit=MAX_MANIFEST_SIZE), what=what)
    container_config = get_dict(doc, "container_config", what=what) or {}
    created_raw = doc.get("created")
    created = GoTime() if created_raw is None else GoTime.parse(created_raw, what=f"{what} created")
    return Schema1V1Compat(
        id=get_str(doc, "id", what=what),
        parent=get_str(doc, "parent", what=what),
        comment=get_str(doc, "comment", what=what),
        created=created,
        container_cmd=get_str_list(container_config, "Cmd", what=f"{what} container_config") or (),
        author=get_str(doc, "author", what=what),
        throwaway=get_bool(doc, "throwaway", what=what),
    )


def _parse_schema1(raw: bytes, mime_type: str) -> Schema1:
    what = "docker v2s1 manifest"
    doc = _load(raw, what)
    check_keys(
        doc,
        frozenset({"name", "tag", "architecture", "fsLayers", "history", "schemaVersion", "signatures"}),
        what=what,
    )
    version = get_int(doc, "schemaVersion", what=what, minimum=None)
    if version != 1:
        raise ManifestError(f"unsupported schema version {version}")
    _check_unambiguous(doc, mime.DOCKER_V2S1_SIGNED, frozenset({"fsLayers", "history"}))
    fs_raw = get_list(doc, "fsLayers", what=what, max_items=MAX_LAYERS) or []
    hist_raw = get_list(doc, "history", what=what, max_items=MAX_LAYERS) or []
    fs_layers: list[Digest] = []
    for i, item in enumerate(fs_raw):
        obj = expect_object(item, what=f"{what} fsLayers[{i}]")
        check_keys(obj, frozenset({"blobSum"}), what=f"{what} fsLayers[{i}]")
        fs_layers.append(Digest.parse(obj.get("blobSum")))
    history: list[str] = []
    for i, item in enumerate(hist_raw):
        obj = expect_object(item, what=f"{what} history[{i}]")
        check_keys(obj, frozenset({"v1Compatibility"}), what=f"{what} history[{i}]")
        history.append(get_str(obj, "v1Compatibility", what=f"{what} history[{i}]"))
    if len(fs_layers) != len(history):
        raise ManifestError("length of history not equal to number of layers")
    if not fs_layers:
        raise ManifestError("no FSLayers in manifest")
    compat = [_parse_v1_compat(h, i) for i, h in enumerate(history)]
    # c/image fixManifestLayers: validate IDs, then drop consecutive duplicates.
    for c in compat:
        if len(c.id) != 64 or not set(c.id) <= _V1_ID_CHARS:
            raise ManifestError(f'image ID "{safe_text(c.id, 80)}" is invalid')
    if compat[-1].parent:
        raise ManifestError("Invalid parent ID in the base layer of the image")
    seen: set[str] = set()
    last = ""
    for c in compat:
        if c.id != last and c.id in seen:
            raise ManifestError(f"ID {c.id} appears multiple times in manifest")
        last = c.id
        seen.add(c.id)
    for i in range(len(compat) - 2, -1, -1):
        if compat[i].id == compat[i + 1].id:
            del fs_layers[i], history[i], compat[i]
        elif compat[i].parent != compat[i + 1].id:
            raise ManifestError(
                f"Invalid parent ID. Expected {compat[i + 1].id}, got {safe_text(compat[i].parent, 80)}"
            )
    return Schema1(
        raw=raw,
        mime_type=mime_type,
        name=get_str(doc, "name", what=what),
        tag=get_str(doc, "tag", what=what),
        architecture=get_str(doc, "architecture", what=what),
        fs_layers=tuple(fs_layers),
        history=tuple(history),
        v1_compat=tuple(compat),
    )


# --- lists ----------------------------------------------------------------------------------------------


@record(kw_only=True)
class Schema2List:
    """A docker manifest list."""

    raw: bytes = field(repr=False)
    schema_version: int
    media_type_field: str
    manifests: tuple[Descriptor, ...]

    mime_type: str = mime.DOCKER_V2LIST

    def instances(self) -> list[ListEntry]:
        return [_entry(d, d.platform or Platform(os="", architecture="")) for d in self.manifests]

    def choose_instance(self, ctx: SystemContext | None, *, host: Host | None = None) -> Digest:
        """c/image `Schema2List.ChooseInstance`: first wanted platform with a match, first match.

        Raises `NoMatchingPlatformError` ("no image found in manifest list for architecture ...").
        """
        from toolkit.manifest.select import choose_from_docker_list  # lists only: not at import

        return choose_from_docker_list(self, ctx, host)

    def serialize(self) -> bytes:
        return self.raw


@record(kw_only=True)
class OCI1Index:
    """An OCI image index."""

    raw: bytes = field(repr=False)
    schema_version: int
    media_type_field: str
    artifact_type: str
    manifests: tuple[Descriptor, ...]
    subject: Descriptor | None
    annotations: Mapping[str, str]

    mime_type: str = mime.OCI_INDEX

    def instances(self) -> list[ListEntry]:
        return [_entry(d, d.platform) for d in self.manifests]

    def choose_instance(
        self, ctx: SystemContext | None, *, host: Host | None = None, prefer_gzip: bool = False
    ) -> Digest:
        """c/image `OCI1Index.chooseInstance`: best platform rank, then zstd (or gzip if
        `prefer_gzip`), then position; entries without a platform match at lowest priority.

        Raises `NoMatchingPlatformError` ("no image found in image index for architecture ...").
        """
        from toolkit.manifest.select import choose_from_oci_index  # lists only: not at import

        return choose_from_oci_index(self, ctx, host, prefer_gzip=prefer_gzip)

    def serialize(self) -> bytes:
        return self.raw


def _entry(d: Descriptor, platform: Platform | None) -> ListEntry:
    return ListEntry(
        digest=d.digest,
        size=d.size,
        media_type=d.media_type,
        platform=platform,
        annotations=d.annotations,
        urls=d.urls,
        artifact_type=d.artifact_type,
    )


ManifestListView: TypeAlias = Schema2List | OCI1Index


def _parse_schema2_list(raw: bytes) -> Schema2List:
    what = "docker manifest list"
    doc = _load(raw, what)
    check_keys(doc, frozenset({"schemaVersion", "mediaType", "manifests"}), what=what)
    _check_unambiguous(doc, mime.DOCKER_V2LIST, frozenset({"manifests"}))
    version = _schema_version(doc, what, 2)
    media_type = _body_media_type(doc, what, mime.DOCKER_V2LIST, required=True)
    items = get_list(doc, "manifests", what=what, max_items=MAX_LIST_ENTRIES) or []
    manifests = []
    for i, item in enumerate(items):
        d = _parse_descriptor(item, f"{what} entry {i}", fields=_S2_LIST_ENTRY_FIELDS)
        if d.platform is None:
            # Go decodes a missing platform as the zero struct.
            d = Descriptor(
                media_type=d.media_type,
                digest=d.digest,
                size=d.size,
                urls=d.urls,
                platform=Platform(os="", architecture=""),
            )
        manifests.append(d)
    return Schema2List(
        raw=raw, schema_version=version, media_type_field=media_type, manifests=tuple(manifests)
    )


def _parse_oci_index(raw: bytes) -> OCI1Index:
    what = "OCI image index"
    doc = _load(raw, what)
    check_keys(
        doc,
        frozenset({"schemaVersion", "mediaType", "artifactType", "manifests", "subject", "annotations"}),
        what=what,
    )
    _check_unambiguous(doc, mime.OCI_INDEX, frozenset({"manifests"}))
    version = _schema_version(doc, what, 2)
    media_type = _body_media_type(doc, what, mime.OCI_INDEX, required=False)
    items = get_list(doc, "manifests", what=what, max_items=MAX_LIST_ENTRIES) or []
    manifests = tuple(_parse_descriptor(item, f"{what} entry {i}") for i, item in enumerate(items))
    subject_raw = get_dict(doc, "subject", what=what)
    return OCI1Index(
        raw=raw,
        schema_version=version,
        media_type_field=media_type,
        artifact_type=get_str(doc, "artifactType", what=what),
        manifests=manifests,
        subject=_parse_descriptor(subject_raw, f"{what} subject") if subject_raw is not None else None,
        annotations=_frozen_map(get_str_map(doc, "annotations", what=what)),
    )


# --- entry points ---------------------------------------------------------------------------------------


def _as_bytes(raw: bytes) -> bytes:
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise ManifestError(f"manifest: expected bytes, got {type(raw).__name__}")
    return bytes(raw)


def parse_manifest(raw: bytes, mime_type: str) -> ImageManifest:
    """Parse a single-image manifest of (normalized) type `mime_type`.

    A list type raises `ManifestError` (use `parse_list`). Unknown types are treated as
    schema1, as c/image `NormalizedMIMEType` does.
    """
    raw = _as_bytes(raw)
    kind = mime.normalize_mime(mime_type)
    if kind == mime.DOCKER_V2S2:
        return _parse_schema2(raw)
    if kind == mime.OCI_MANIFEST:
        return _parse_oci1(raw)
    if kind in (mime.DOCKER_V2S1, mime.DOCKER_V2S1_SIGNED):
        if len(raw) > MAX_MANIFEST_SIZE:
            _load(raw, "docker v2s1 manifest")
        from toolkit.manifest.digests import guess_mime_type

        actual = guess_mime_type(raw)
        return _parse_schema1(raw, actual if actual in (mime.DOCKER_V2S1, mime.DOCKER_V2S1_SIGNED) else kind)
    raise ManifestError(f'"{safe_text(mime_type, 100)}" is a manifest list type, not a single image manifest')


def parse_list(raw: bytes, mime_type: str) -> ManifestListView:
    """Parse a docker manifest list or an OCI index; other types raise `ManifestError`."""
    raw = _as_bytes(raw)
    kind = mime.normalize_mime(mime_type)
    if kind == mime.DOCKER_V2LIST:
        return _parse_schema2_list(raw)
    if kind == mime.OCI_INDEX:
        return _parse_oci_index(raw)
    raise ManifestError(f'"{safe_text(mime_type, 100)}" is not a manifest list type')


def parse_any(raw: bytes, mime_type: str) -> ImageManifest | ManifestListView:
    """Parse a manifest or a list according to `mime_type` (see `parse_manifest`)."""
    if mime.is_list_type(mime_type):
        return parse_list(raw, mime_type)
    return parse_manifest(raw, mime_type)


def check_list_nesting(depth: int, *, limit: int = 2) -> None:
    """Callers that follow list entries which are lists again call this with the current
    depth (1 for the top list); deeper than `limit` (or a self-reference loop) is refused."""
    if depth > limit:
        raise ManifestError(f"manifest lists nested more than {limit} levels deep")
