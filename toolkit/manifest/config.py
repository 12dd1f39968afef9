"""Image configs (docker `application/vnd.docker.container.image.v1+json` and OCI).

- `parse_config(raw)` -> `ImageConfig`: a strict, read-only view that keeps the raw bytes.
  Input is untrusted: `SizeLimitError` above `MAX_CONFIG_SIZE`, `ManifestError` /
  `InvalidDigestError` for anything malformed (every `rootfs.diff_ids` entry is a `Digest`).
- `docker_config_to_oci(raw)` -> bytes: what c/image writes as the OCI config when it converts
  a docker v2s2 image to OCI (`json.Unmarshal` into image-spec's `v1.Image`, then
  `json.Marshal`): unknown fields dropped, Go field order, Go escaping. The field order is
  image-spec v1.1.0-rc2's, as built into skopeo 1.9.3 (our interop peer).
- `schema1_to_schema2_config(view, diff_ids)` -> bytes: c/image `Schema1.ToSchema2Config`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from toolkit._record import field, record
from toolkit.digest import Digest
from toolkit.errors import ManifestError, NotSupportedError
from toolkit.manifest.gojson import GoPairs, GoStruct, GoTime, RawJSON, go_field, loads_go, marshal
from toolkit.manifest.strictjson import (
    expect_object,
    get_bool,
    get_dict,
    get_list,
    get_str,
    get_str_list,
    loads_strict,
)

if TYPE_CHECKING:
    from toolkit.manifest.formats import Schema1

__all__ = [
    "MAX_CONFIG_SIZE",
    "HistoryEntry",
    "ImageConfig",
    "parse_config",
    "docker_config_to_oci",
    "schema1_to_schema2_config",
    "members_of_object",
]

MAX_CONFIG_SIZE: Final = 4 << 20
_EMPTY: Final[Mapping[str, str]] = MappingProxyType({})


@record(kw_only=True)
class HistoryEntry:
    """One `history` item of an image config."""

    created: str | None
    created_by: str
    author: str
    comment: str
    empty_layer: bool


@record(kw_only=True)
class ImageConfig:
    """A parsed image config. `created` is the raw RFC 3339 text (validated) or None."""

    raw: bytes = field(repr=False)
    created: str | None
    architecture: str
    os: str
    variant: str
    os_version: str
    author: str
    docker_version: str
    env: tuple[str, ...]
    labels: Mapping[str, str]
    rootfs_type: str
    diff_ids: tuple[Digest, ...]
    history: tuple[HistoryEntry, ...]


def _opt_time(obj: Mapping[str, Any], key: str, what: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    GoTime.parse(value, what=f"{what} {key}")
    return str(value)


def parse_config(raw: bytes) -> ImageConfig:
    """Strictly parse an image config (docker or OCI); see the module docstring."""
    what = "image config"
    doc = expect_object(loads_strict(raw, what=what, limit=MAX_CONFIG_SIZE), what=what)
    inner = get_dict(doc, "config", what=what) or {}
    labels_raw = get_dict(inner, "Labels", what=f"{what} config") or {}
    labels: dict[str, str] = {}
    for key, value in labels_raw.items():
        if value is not None and not isinstance(value, str):
            raise ManifestError(f'{what}: label "{key[:60]}" must be a string')
        labels[key] = value or ""
    rootfs = get_dict(doc, "rootfs", what=what) or {}
    diff_ids = tuple(Digest.parse(d) for d in (get_list(rootfs, "diff_ids", what=f"{what} rootfs") or []))
    history = []
    for i, item in enumerate(get_list(doc, "history", what=what) or []):
        h_what = f"{what} history[{i}]"
        h = expect_object(item, what=h_what)
        history.append(
            HistoryEntry(
                created=_opt_time(h, "created", h_what),
                created_by=get_str(h, "created_by", what=h_what),
                author=get_str(h, "author", what=h_what),
                comment=get_str(h, "comment", what=h_what),
                empty_layer=get_bool(h, "empty_layer", what=h_what),
            )
        )
    return ImageConfig(
        raw=bytes(raw),
        created=_opt_time(doc, "created", what),
        architecture=get_str(doc, "architecture", what=what),
        os=get_str(doc, "os", what=what),
        variant=get_str(doc, "variant", what=what),
        os_version=get_str(doc, "os.version", what=what),
        author=get_str(doc, "author", what=what),
        docker_version=get_str(doc, "docker_version", what=what),
        env=get_str_list(inner, "Env", what=f"{what} config") or (),
        labels=MappingProxyType(labels) if labels else _EMPTY,
        rootfs_type=get_str(rootfs, "type", what=f"{what} rootfs"),
        diff_ids=diff_ids,
        history=tuple(history),
    )


# --- Go-faithful decoding helpers (json.Unmarshal into a typed struct) ------------------------------


def _bad(what: str, name: str, expected: str) -> ManifestError:
    return ManifestError(f'{what}: cannot decode field "{name}": expected {expected}')


def _g_str(obj: Any, name: str, what: str) -> str:
    value = go_field(obj, name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _bad(what, name, "a string")
    return value


def _g_bool(obj: Any, name: str, what: str) -> bool:
    value = go_field(obj, name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _bad(what, name, "a boolean")
    return value


def _g_obj(obj: Any, name: str, what: str) -> GoPairs | None:
    value = go_field(obj, name)
    if value is None:
        return None
    if not isinstance(value, GoPairs):
        raise _bad(what, name, "an object")
    return value


def _g_str_list(obj: Any, name: str, what: str) -> list[str] | None:
    value = go_field(obj, name)
    if value is None:
        return None
    if not isinstance(value, list) or isinstance(value, GoPairs):
        raise _bad(what, name, "an array")
    out = []
    for item in value:
        if item is None:
            out.append("")  # Go leaves the zero value for null
        elif isinstance(item, str):
            out.append(item)
        else:
            raise _bad(what, name, "an array of strings")
    return out


def _g_set_map(obj: Any, name: str, what: str) -> dict[str, Any] | None:
    """map[string]struct{}: keys kept, every value must be an object (or null)."""
    value = _g_obj(obj, name, what)
    if value is None:
        return None
    out: dict[str, Any] = {}
    for key, item in value:
        if item is not None and not isinstance(item, GoPairs):
            raise _bad(what, name, "an object of objects")
        out[key] = GoStruct()
    return out


def _g_str_map(obj: Any, name: str, what: str) -> dict[str, str] | None:
    value = _g_obj(obj, name, what)
    if value is None:
        return None
    out: dict[str, str] = {}
    for key, item in value:
        if item is not None and not isinstance(item, str):
            raise _bad(what, name, "an object of strings")
        out[key] = item or ""
    return out


def _g_time(obj: Any, name: str, what: str) -> GoTime | None:
    value = go_field(obj, name)
    if value is None:
        return None
    return GoTime.parse(value, what=f"{what} {name}")


def docker_config_to_oci(raw: bytes) -> bytes:
    """The OCI config c/image derives from a docker v2s2 config (see the module docstring).

    `raw` must already be verified against its digest by the caller. Raises `ManifestError`
    where Go's decoder would fail (type mismatch, bad time) and for invalid diff IDs.
    """
    what = "image config"
    # Strict first (size, duplicates, depth ...), then read it the way Go would.
    expect_object(loads_strict(raw, what=what, limit=MAX_CONFIG_SIZE), what=what)
    doc = loads_go(raw)
    out = GoStruct()
    created = _g_time(doc, "created", what)
    out.add("created", created, omitempty=True)
    out.add("author", _g_str(doc, "author", what), omitempty=True)
    out.add("architecture", _g_str(doc, "architecture", what))
    out.add("variant", _g_str(doc, "variant", what), omitempty=True)
    out.add("os", _g_str(doc, "os", what))
    out.add("os.version", _g_str(doc, "os.version", what), omitempty=True)
    out.add("os.features", _g_str_list(doc, "os.features", what), omitempty=True)

    cfg_what = f"{what} config"
    inner = _g_obj(doc, "config", what)
    cfg = GoStruct()
    cfg.add("User", _g_str(inner, "User", cfg_what), omitempty=True)
    cfg.add("ExposedPorts", _g_set_map(inner, "ExposedPorts", cfg_what), omitempty=True)
    cfg.add("Env", _g_str_list(inner, "Env", cfg_what), omitempty=True)
    cfg.add("Entrypoint", _g_str_list(inner, "Entrypoint", cfg_what), omitempty=True)
    cfg.add("Cmd", _g_str_list(inner, "Cmd", cfg_what), omitempty=True)
    cfg.add("Volumes", _g_set_map(inner, "Volumes", cfg_what), omitempty=True)
    cfg.add("WorkingDir", _g_str(inner, "WorkingDir", cfg_what), omitempty=True)
    cfg.add("Labels", _g_str_map(inner, "Labels", cfg_what), omitempty=True)
    cfg.add("StopSignal", _g_str(inner, "StopSignal", cfg_what), omitempty=True)
    cfg.add("ArgsEscaped", _g_bool(inner, "ArgsEscaped", cfg_what), omitempty=True)
    out.add("config", cfg)  # a struct: omitempty never drops it

    rootfs = _g_obj(doc, "rootfs", what)
    diff_ids = _g_str_list(rootfs, "diff_ids", f"{what} rootfs")
    for d in diff_ids or []:
        Digest.parse(d)
    out.add("rootfs", GoStruct([("type", _g_str(rootfs, "type", f"{what} rootfs")), ("diff_ids", diff_ids)]))

    history_value = go_field(doc, "history")
    if history_value is not None and (
        not isinstance(history_value, list) or isinstance(history_value, GoPairs)
    ):
        raise _bad(what, "history", "an array")
    history = []
    for i, item in enumerate(history_value or []):
        h_what = f"{what} history[{i}]"
        if item is not None and not isinstance(item, GoPairs):
            raise _bad(what, "history", "an array of objects")
        h = GoStruct()
        h.add("created", _g_time(item, "created", h_what), omitempty=True)
        h.add("created_by", _g_str(item, "created_by", h_what), omitempty=True)
        h.add("author", _g_str(item, "author", h_what), omitempty=True)
        h.add("comment", _g_str(item, "comment", h_what), omitempty=True)
        h.add("empty_layer", _g_bool(item, "empty_layer", h_what), omitempty=True)
        history.append(h)
    out.add("history", history, omitempty=True)
    return marshal(out)


# --- schema1 -> schema2 config ---------------------------------------------------------------------------


def members_of_object(text: str, what: str) -> list[tuple[str, str]]:
    """Top-level (key, raw value text) pairs of a JSON object, in order (like map[string]RawMessage)."""
    import json  # schema1 only: other documents are parsed by toolkit.manifest.jsonscan

    decoder = json.JSONDecoder()
    ws = re.compile(r"[ \t\n\r]*")

    def skip(pos: int) -> int:
        match = ws.match(text, pos)
        return match.end() if match else pos

    pos = skip(0)
    if text[pos : pos + 1] != "{":
        raise ManifestError(f"{what}: not a JSON object")
    pos = skip(pos + 1)
    out: list[tuple[str, str]] = []
    if text[pos : pos + 1] == "}":
        return out
    try:
        while True:
            key, pos = decoder.raw_decode(text, pos)
            if not isinstance(key, str):
                raise ManifestError(f"{what}: invalid JSON object key")
            pos = skip(pos)
            if text[pos : pos + 1] != ":":
                raise ManifestError(f"{what}: invalid JSON")
            pos = skip(pos + 1)
            _value, end = decoder.raw_decode(text, pos)
            out.append((key, text[pos:end]))
            pos = skip(end)
            if text[pos : pos + 1] == ",":
                pos = skip(pos + 1)
                continue
            if text[pos : pos + 1] == "}":
                return out
            raise ManifestError(f"{what}: invalid JSON")
    except (ValueError, RecursionError):
        raise ManifestError(f"{what}: invalid JSON") from None


def _version_less(a: str, b: str) -> bool:
    """docker `versions.LessThan`: dot-separated numeric compare (non-numbers count as 0)."""

    def parts(v: str) -> list[int]:
        return [int(p) if p.isdigit() else 0 for p in v.split(".")]

    pa, pb = parts(a), parts(b)
    n = max(len(pa), len(pb))
    pa += [0] * (n - len(pa))
    pb += [0] * (n - len(pb))
    return pa < pb


_DROPPED_V1_KEYS: Final = frozenset({"id", "parent", "parent_id", "layer_id", "throwaway", "Size"})


def schema1_to_schema2_config(view: Schema1, diff_ids: Sequence[Digest]) -> bytes:
    """c/image `Schema1.ToSchema2Config`: a v2s2 config built from the newest v1Compatibility
    entry plus `history` (from every entry, base first) and `rootfs` (`diff_ids`, one per
    non-throwaway layer, base first).

    Raises `NotSupportedError` for images built by docker < 1.8.3 (c/image re-encodes those
    through a struct skopo does not model) and `ManifestError` for malformed history.
    """
    what = "schema1 history entry 0"
    if not view.history:
        raise ManifestError("image has no layers")
    top = view.history[0]
    doc = loads_go(top.encode("utf-8"))
    docker_version = go_field(doc, "docker_version")
    if docker_version is not None and not isinstance(docker_version, str):
        raise _bad(what, "docker_version", "a string")
    if docker_version and _version_less(docker_version, "1.8.3"):
        raise NotSupportedError(
            f"converting a schema1 image built by docker {docker_version} (older than 1.8.3) is not supported"
        )
    history = []
    for compat in reversed(view.v1_compat):
        h = GoStruct()
        # c/image `Schema2History` field order: created, author, created_by, comment, empty_layer.
        h.add("created", compat.created)
        h.add("author", compat.author, omitempty=True)
        h.add("created_by", " ".join(compat.container_cmd), omitempty=True)
        h.add("comment", compat.comment, omitempty=True)
        h.add("empty_layer", compat.throwaway, omitempty=True)
        history.append(h)
    rootfs = GoStruct([("type", "layers")]).add("diff_ids", [str(d) for d in diff_ids], omitempty=True)
    raw_map: dict[str, Any] = {}
    for key, value in members_of_object(top, what):
        raw_map[key] = RawJSON(value.encode("utf-8"))  # last duplicate wins, as in a Go map
    for key in _DROPPED_V1_KEYS:
        raw_map.pop(key, None)
    raw_map["rootfs"] = RawJSON(marshal(rootfs))
    raw_map["history"] = RawJSON(marshal(history))
    return marshal(raw_map)
