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

Importing this package imports none of its modules: each name below loads its module on
first use (`toolkit.manifest.digests` alone for `manifest-digest`, not the conversion and
config machinery), and `from toolkit.manifest.X import Y` loads X only.
"""

from typing import TYPE_CHECKING

from toolkit._lazy import lazy_getattr

if TYPE_CHECKING:  # the names below, for type checkers; at run time they load on first use
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

#: Public name -> the module that defines it.
_LAZY: dict[str, str] = {
    "ImageConfig": "toolkit.manifest.config",
    "docker_config_to_oci": "toolkit.manifest.config",
    "parse_config": "toolkit.manifest.config",
    "guess_mime_type": "toolkit.manifest.digests",
    "manifest_digest": "toolkit.manifest.digests",
    "matches_digest": "toolkit.manifest.digests",
    "Conversion": "toolkit.manifest.edit",
    "ListUpdate": "toolkit.manifest.edit",
    "convert": "toolkit.manifest.edit",
    "convert_list": "toolkit.manifest.edit",
    "edit_list_instances": "toolkit.manifest.edit",
    "reserialize_list": "toolkit.manifest.edit",
    "update_config": "toolkit.manifest.edit",
    "update_layer_infos": "toolkit.manifest.edit",
    "update_list_instances": "toolkit.manifest.edit",
    "MAX_CONFIG_SIZE": "toolkit.manifest.formats",
    "MAX_LIST_ENTRIES": "toolkit.manifest.formats",
    "MAX_MANIFEST_SIZE": "toolkit.manifest.formats",
    "OCI1": "toolkit.manifest.formats",
    "Descriptor": "toolkit.manifest.formats",
    "ImageManifest": "toolkit.manifest.formats",
    "LayerInfo": "toolkit.manifest.formats",
    "ListEntry": "toolkit.manifest.formats",
    "ManifestListView": "toolkit.manifest.formats",
    "OCI1Index": "toolkit.manifest.formats",
    "Schema1": "toolkit.manifest.formats",
    "Schema2": "toolkit.manifest.formats",
    "Schema2List": "toolkit.manifest.formats",
    "check_list_nesting": "toolkit.manifest.formats",
    "parse_any": "toolkit.manifest.formats",
    "parse_list": "toolkit.manifest.formats",
    "parse_manifest": "toolkit.manifest.formats",
    "Host": "toolkit.manifest.platform",
    "host_from": "toolkit.manifest.platform",
    "wanted_platforms": "toolkit.manifest.platform",
    "loads_strict": "toolkit.manifest.strictjson",
}

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


__getattr__ = lazy_getattr(__name__, _LAZY, globals(), submodules=("mime",))


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
