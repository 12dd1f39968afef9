"""The Go values `inspect --format` templates run on, typed as skopeo main types them.

- `output_value(info)`: skopeo's `inspect.Output` (`Name`, `Tag`, `Digest digest.Digest`,
  `RepoTags []string`, `Created *time.Time`, `DockerVersion`, `Labels map[string]string`,
  `Architecture`, `Os`, `Layers []string`, `LayersData []types.ImageInspectLayer`,
  `Env []string`). `Name` and `Tag` are always fields (empty for `oci:` and other
  references without a docker name), even though the JSON output omits them when empty.
- `config_value(oci_json)`: `*v1.Image` for `--config` (image-spec 1.1: `Platform` is
  embedded, so `.Architecture`, `.OS`, `.Variant` and `.Platform` all work).
- `platforms_value(entries)` / `referrers_value(node)`: skopo's
  own `--platforms` rows, the list printed when no instance matches and the `--referrers`
  tree (types `inspect.PlatformInfo`, `inspect.ListOutput`, `inspect.Referrer`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from toolkit.cli.gotemplate.decode import unmarshal
from toolkit.cli.gotemplate.stdtypes import DIGEST, TIME, time_ptr
from toolkit.cli.gotemplate.values import (
    BOOL,
    EMPTY_STRUCT,
    INT64,
    STRING,
    StructField,
    Value,
    map_of,
    ptr_to,
    slice_of,
    struct_type,
)
from toolkit.manifest.formats import ListEntry
from toolkit.ops.inspect import InspectInfo, ReferrerNode

__all__ = [
    "OUTPUT",
    "IMAGE_INSPECT_LAYER",
    "IMAGE",
    "output_value",
    "config_value",
    "platforms_value",
    "referrers_value",
]

_STRINGS = slice_of(STRING)
_STRING_MAP = map_of(STRING, STRING)
_SET = map_of(STRING, EMPTY_STRUCT)

IMAGE_INSPECT_LAYER = struct_type("types.ImageInspectLayer", [
    StructField("MIMEType", STRING),
    StructField("Digest", DIGEST),
    StructField("Size", INT64),
    StructField("Annotations", _STRING_MAP),
])

OUTPUT = struct_type("inspect.Output", [
    StructField("Name", STRING, json=",omitempty"),
    StructField("Tag", STRING, json=",omitempty"),
    StructField("Digest", DIGEST),
    StructField("RepoTags", _STRINGS),
    StructField("Created", ptr_to(TIME)),
    StructField("DockerVersion", STRING),
    StructField("Labels", _STRING_MAP),
    StructField("Architecture", STRING),
    StructField("Os", STRING),
    StructField("Layers", _STRINGS),
    StructField("LayersData", slice_of(IMAGE_INSPECT_LAYER)),
    StructField("Env", _STRINGS),
])

_PLATFORM = struct_type("v1.Platform", [
    StructField("Architecture", STRING, json="architecture"),
    StructField("OS", STRING, json="os"),
    StructField("OSVersion", STRING, json="os.version,omitempty"),
    StructField("OSFeatures", _STRINGS, json="os.features,omitempty"),
    StructField("Variant", STRING, json="variant,omitempty"),
])
_IMAGE_CONFIG = struct_type("v1.ImageConfig", [
    StructField("User", STRING, json="User,omitempty"),
    StructField("ExposedPorts", _SET, json="ExposedPorts,omitempty"),
    StructField("Env", _STRINGS, json="Env,omitempty"),
    StructField("Entrypoint", _STRINGS, json="Entrypoint,omitempty"),
    StructField("Cmd", _STRINGS, json="Cmd,omitempty"),
    StructField("Volumes", _SET, json="Volumes,omitempty"),
    StructField("WorkingDir", STRING, json="WorkingDir,omitempty"),
    StructField("Labels", _STRING_MAP, json="Labels,omitempty"),
    StructField("StopSignal", STRING, json="StopSignal,omitempty"),
    StructField("ArgsEscaped", BOOL, json="ArgsEscaped,omitempty"),
])
_ROOTFS = struct_type("v1.RootFS", [
    StructField("Type", STRING, json="type"),
    StructField("DiffIDs", slice_of(DIGEST), json="diff_ids"),
])
_HISTORY = struct_type("v1.History", [
    StructField("Created", ptr_to(TIME), json="created,omitempty"),
    StructField("CreatedBy", STRING, json="created_by,omitempty"),
    StructField("Author", STRING, json="author,omitempty"),
    StructField("Comment", STRING, json="comment,omitempty"),
    StructField("EmptyLayer", BOOL, json="empty_layer,omitempty"),
])
IMAGE = struct_type("v1.Image", [
    StructField("Created", ptr_to(TIME), json="created,omitempty"),
    StructField("Author", STRING, json="author,omitempty"),
    StructField("Platform", _PLATFORM, embedded=True),
    StructField("Config", _IMAGE_CONFIG, json="config,omitzero"),
    StructField("RootFS", _ROOTFS, json="rootfs"),
    StructField("History", slice_of(_HISTORY), json="history,omitempty"),
])

_PLATFORM_INFO = struct_type("inspect.PlatformInfo", [
    StructField("Platform", STRING),
    StructField("Digest", DIGEST),
    StructField("Size", INT64),
    StructField("MIMEType", STRING),
])


def _strings(items: Sequence[str] | None) -> Value:
    return Value(_STRINGS, None if items is None else [Value(STRING, s) for s in items])


def _string_map(items: Mapping[str, str] | None) -> Value:
    return Value(_STRING_MAP, None if items is None else {k: Value(STRING, v) for k, v in items.items()})


def output_value(info: InspectInfo) -> Value:
    """skopeo's `inspect.Output` for `info`."""
    layers = [
        Value(IMAGE_INSPECT_LAYER, (
            Value(STRING, layer.mime_type),
            Value(DIGEST, str(layer.digest)),
            Value(INT64, layer.size),
            _string_map(dict(layer.annotations) if layer.annotations else None),
        ))
        for layer in info.layers_data
    ]
    return Value(OUTPUT, (
        Value(STRING, info.name),
        Value(STRING, info.tag),
        Value(DIGEST, str(info.digest)),
        _strings(list(info.repo_tags)),
        time_ptr(info.created),
        Value(STRING, info.docker_version),
        _string_map(info.labels),
        Value(STRING, info.architecture),
        Value(STRING, info.os),
        _strings(list(info.layers)),
        Value(slice_of(IMAGE_INSPECT_LAYER), layers),
        _strings(info.env),
    ))


def config_value(oci_config: bytes) -> Value:
    """`*v1.Image` decoded (as Go would) from an OCI image config."""
    return Value(ptr_to(IMAGE), unmarshal(IMAGE, json.loads(oci_config)))


def _platform_info(entry: ListEntry) -> Value:
    return Value(_PLATFORM_INFO, (
        Value(STRING, str(entry.platform) if entry.platform is not None else ""),
        Value(DIGEST, str(entry.digest)),
        Value(INT64, entry.size),
        Value(STRING, entry.media_type),
    ))


def platforms_value(entries: Sequence[ListEntry]) -> Value:
    """`--platforms`: one `inspect.PlatformInfo` per list instance."""
    return Value(slice_of(_PLATFORM_INFO), [_platform_info(e) for e in entries])


_REFERRER = struct_type("inspect.Referrer", [])
_REFERRER.fields = (  # recursive: Referrers and Manifests are lists of the same struct
    StructField("Digest", DIGEST),
    StructField("MediaType", STRING),
    StructField("Size", INT64),
    StructField("ArtifactType", STRING, json=",omitempty"),
    StructField("Platform", STRING, json=",omitempty"),
    StructField("Tag", STRING, json=",omitempty"),
    StructField("Annotations", _STRING_MAP, json=",omitempty"),
    StructField("Referrers", slice_of(_REFERRER)),
    StructField("Manifests", slice_of(_REFERRER), json=",omitempty"),
)


def referrers_value(node: ReferrerNode) -> Value:
    """`--referrers`: the image and what refers to it, as `inspect.Referrer` structs."""
    return Value(_REFERRER, (
        Value(DIGEST, str(node.digest)),
        Value(STRING, node.media_type),
        Value(INT64, node.size),
        Value(STRING, node.artifact_type),
        Value(STRING, node.platform),
        Value(STRING, node.tag),
        _string_map(dict(node.annotations)),
        Value(slice_of(_REFERRER), [referrers_value(r) for r in node.referrers]),
        Value(slice_of(_REFERRER), [referrers_value(m) for m in node.manifests] or None),
    ))
