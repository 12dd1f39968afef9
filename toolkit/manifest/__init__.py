"""Manifests: pure parsing, validation, digests, conversion and platform selection.

Layer 2 of skopo: stdlib plus `toolkit.errors`, `toolkit.digest`, `toolkit.types` only, and no
I/O (the one exception: `platform.current_host()` reads /proc/cpuinfo on Linux arm/arm64).
Every input is untrusted; every failure is a `ToolkitError` subclass.

Main entry points:
- `guess_mime_type(raw)`, `manifest_digest(raw)`, `matches_digest(raw, digest)`
- `parse_manifest(raw, mime)`, `parse_list(raw, mime)`, `parse_any(raw, mime)`
- `update_layer_infos`, `update_config`, `convert`, `convert_list`, `update_list_instances`
- `parse_config`, `docker_config_to_oci`
- `wanted_platforms`, and `choose_instance(ctx)` on list views
- `loads_strict` (strict JSON for any untrusted document) in `toolkit.manifest.strictjson`
"""

from toolkit.manifest import mime
from toolkit.manifest.config import ImageConfig, docker_config_to_oci, parse_config
from toolkit.manifest.digests import guess_mime_type, manifest_digest, matches_digest
from toolkit.manifest.edit import (
    Conversion,
    ListUpdate,
    convert,
    convert_list,
    edit_list_instances,
    reserialize_list,
    update_config,
    update_layer_infos,
    update_list_instances,
)
from toolkit.manifest.formats import (
    MAX_CONFIG_SIZE,
    MAX_LIST_ENTRIES,
    MAX_MANIFEST_SIZE,
    OCI1,
    Descriptor,
    ImageManifest,
    LayerInfo,
    ListEntry,
    ManifestListView,
    OCI1Index,
    Schema1,
    Schema2,
    Schema2List,
    check_list_nesting,
    parse_any,
    parse_list,
    parse_manifest,
)
from toolkit.manifest.platform import Host, host_from, wanted_platforms
from toolkit.manifest.strictjson import loads_strict

__all__ = [
    "mime",
    "ImageConfig",
    "parse_config",
    "docker_config_to_oci",
    "guess_mime_type",
    "manifest_digest",
    "matches_digest",
    "Conversion",
    "ListUpdate",
    "convert",
    "convert_list",
    "reserialize_list",
    "update_config",
    "update_layer_infos",
    "update_list_instances",
    "edit_list_instances",
    "MAX_CONFIG_SIZE",
    "MAX_LIST_ENTRIES",
    "MAX_MANIFEST_SIZE",
    "OCI1",
    "Descriptor",
    "ImageManifest",
    "LayerInfo",
    "ListEntry",
    "ManifestListView",
    "OCI1Index",
    "Schema1",
    "Schema2",
    "Schema2List",
    "check_list_nesting",
    "parse_any",
    "parse_list",
    "parse_manifest",
    "Host",
    "host_from",
    "wanted_platforms",
    "loads_strict",
]
