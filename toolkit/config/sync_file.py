"""The YAML source file of `sync --src yaml` (skopeo-sync(1), `cmd/skopeo/sync.go`).

```yaml
registry.example.com:             # a registry host[:port]
  images:                         # repository -> tags and/or digests; empty or null = all tags
    busybox: []
    redis: ["1.0", "sha256:0000..."]
  images-by-tag-regex:            # repository -> regular expression, searched in each tag
    nginx: ^1\\.13\\.[12]-alpine-perl$
  images-by-semver:               # repository -> Masterminds semver constraint
    alpine: ">= 3.12.0"
  credentials: {username: john, password: secret}
  tls-verify: false               # absent: the command line / registries.conf decide
  cert-dir: /home/john/certs
```

Contract:
- The file (a regular file) is read whole, at most `MAX_SYNC_FILE_SIZE` (1 MiB), and parsed with a safe
  loader; anchors and aliases are refused (no "billion laughs"), as are duplicate keys,
  unknown keys (skopeo ignores them silently; a typo here would otherwise sync nothing),
  explicit tags other than the core ones (`!!python/...`: nothing is ever constructed anyway)
  and values of the wrong type. Every error raises `ConfigError` naming the file and, when
  known, the line: `sync.yaml:7: images-by-semver.alpine: improper constraint: ...`.
- Tags are taken from the scalar text exactly as written (`1.10` stays `1.10`, not the
  float 1.1); a `sha256:`/`sha512:` value is a digest, anything else must be a valid tag.
- Regular expressions are Python `re` patterns applied with `search` (RE2's unanchored
  `MatchString`; anchor with `^...$`). A pattern Python cannot compile is refused here,
  where skopeo would log it and skip the registry's regex entries.
- Semver constraints are parsed by `toolkit.config.semver` (refused here if invalid).
- Repository names are checked later by the sync verb (it needs the reference grammar).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import yaml

from toolkit.config._yaml import refuse_anchors
from toolkit.config.semver import Constraint, parse_constraint
from toolkit.errors import ConfigError, ToolkitError, safe_text
from toolkit.limits import read_file_limited
from toolkit.types import Credentials

__all__ = ["MAX_SYNC_FILE_SIZE", "RegistrySync", "SyncFile", "load_sync_file", "parse_sync_file"]

MAX_SYNC_FILE_SIZE: Final = 1 << 20

_REGISTRY_KEYS: Final = frozenset(
    {"images", "images-by-tag-regex", "images-by-semver", "credentials", "tls-verify", "cert-dir"}
)
_STR_TAG: Final = "tag:yaml.org,2002:str"
_NULL_TAG: Final = "tag:yaml.org,2002:null"
_BOOL_TAG: Final = "tag:yaml.org,2002:bool"
_CORE_TAGS: Final = frozenset(
    {_STR_TAG, _NULL_TAG, _BOOL_TAG, "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
     "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"}
)
_TRUE: Final = frozenset({"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y"})
_FALSE: Final = frozenset({"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N"})


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrySync:
    """What to sync from one registry. Mappings keep the file's order."""

    registry: str
    #: repository -> tags/digests as written; an empty tuple means every tag.
    images: tuple[tuple[str, tuple[str, ...]], ...] = ()
    images_by_tag_regex: tuple[tuple[str, re.Pattern[str]], ...] = ()
    images_by_semver: tuple[tuple[str, Constraint], ...] = ()
    credentials: Credentials | None = None
    #: None: not in the file (the command line decides).
    tls_verify: bool | None = None
    cert_dir: Path | None = None
    #: 1-based line of the registry's key in the file, for messages.
    line: int = 0


@dataclass(frozen=True, slots=True)
class SyncFile:
    """A parsed sync file: registries in file order."""

    path: Path
    registries: tuple[RegistrySync, ...]


class _Loader(yaml.SafeLoader):
    """Composes nodes only; values are interpreted from the node tree (with line numbers)."""


def _where(name: str, node: yaml.Node | None) -> str:
    if node is None:
        return name
    return f"{name}:{node.start_mark.line + 1}"


def _fail(name: str, node: yaml.Node | None, message: str) -> ConfigError:
    return ConfigError(f"{_where(name, node)}: {message}")


def _scalar_text(name: str, node: yaml.Node, what: str) -> str:
    """The text of a scalar as written (str, int or float tags alike), refusing null and collections."""
    if not isinstance(node, yaml.ScalarNode) or node.tag == _NULL_TAG:
        raise _fail(name, node, f"{what}: expected a string")
    return str(node.value)


def _mapping(name: str, node: yaml.Node, what: str) -> list[tuple[yaml.Node, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        raise _fail(name, node, f"{what}: expected a mapping")
    seen: set[str] = set()
    pairs: list[tuple[yaml.Node, yaml.Node]] = []
    for key_node, value_node in node.value:
        key = _scalar_text(name, key_node, f"{what}: key")
        if key in seen:
            raise _fail(name, key_node, f"{what}: duplicate key {safe_text(key)!r}")
        seen.add(key)
        pairs.append((key_node, value_node))
    return pairs


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG


def _images(name: str, node: yaml.Node, what: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    out: list[tuple[str, tuple[str, ...]]] = []
    for key_node, value_node in _mapping(name, node, what):
        repo = str(key_node.value)
        if _is_null(value_node):
            out.append((repo, ()))
            continue
        if not isinstance(value_node, yaml.SequenceNode):
            raise _fail(name, value_node, f"{what}.{safe_text(repo)}: expected a list of tags or digests")
        refs = tuple(_scalar_text(name, item, f"{what}.{safe_text(repo)}") for item in value_node.value)
        out.append((repo, refs))
    return tuple(out)


def _regexes(name: str, node: yaml.Node, what: str) -> tuple[tuple[str, re.Pattern[str]], ...]:
    out: list[tuple[str, re.Pattern[str]]] = []
    for key_node, value_node in _mapping(name, node, what):
        repo = str(key_node.value)
        text = _scalar_text(name, value_node, f"{what}.{safe_text(repo)}")
        try:
            pattern = re.compile(text)
        except (re.error, RecursionError, OverflowError) as exc:
            raise _fail(
                name, value_node, f"{what}.{safe_text(repo)}: invalid regular expression {safe_text(text)!r}: {exc}"
            ) from exc
        out.append((repo, pattern))
    return tuple(out)


def _semvers(name: str, node: yaml.Node, what: str) -> tuple[tuple[str, Constraint], ...]:
    out: list[tuple[str, Constraint]] = []
    for key_node, value_node in _mapping(name, node, what):
        repo = str(key_node.value)
        text = _scalar_text(name, value_node, f"{what}.{safe_text(repo)}")
        try:
            constraint = parse_constraint(text)
        except ValueError as exc:
            raise _fail(name, value_node, f"{what}.{safe_text(repo)}: {safe_text(str(exc))}") from exc
        out.append((repo, constraint))
    return tuple(out)


def _credentials(name: str, node: yaml.Node, what: str) -> Credentials | None:
    values: dict[str, str] = {}
    for key_node, value_node in _mapping(name, node, what):
        key = str(key_node.value)
        if key not in ("username", "password"):
            raise _fail(name, key_node, f"{what}: unknown key {safe_text(key)!r} (expected username, password)")
        values[key] = "" if _is_null(value_node) else _scalar_text(name, value_node, f"{what}.{key}")
    if not values.get("username") and not values.get("password"):
        return None
    return Credentials(username=values.get("username", ""), password=values.get("password", ""))


def _bool(name: str, node: yaml.Node, what: str) -> bool:
    if isinstance(node, yaml.ScalarNode) and node.tag in (_BOOL_TAG, _STR_TAG):
        if node.value in _TRUE:
            return True
        if node.value in _FALSE:
            return False
    raise _fail(name, node, f"{what}: expected true or false")


def _registry(name: str, registry: str, key_node: yaml.Node, node: yaml.Node) -> RegistrySync:
    where = safe_text(registry)
    if _is_null(node):
        return RegistrySync(registry=registry, line=key_node.start_mark.line + 1)
    fields: dict[str, object] = {}
    for sub_key, value in _mapping(name, node, where):
        key = str(sub_key.value)
        what = f"{where}.{safe_text(key)}"
        if key not in _REGISTRY_KEYS:
            raise _fail(name, sub_key, f"{where}: unknown key {safe_text(key)!r} (expected one of "
                        f"{', '.join(sorted(_REGISTRY_KEYS))})")
        if key == "images":
            fields["images"] = () if _is_null(value) else _images(name, value, what)
        elif key == "images-by-tag-regex":
            fields["images_by_tag_regex"] = () if _is_null(value) else _regexes(name, value, what)
        elif key == "images-by-semver":
            fields["images_by_semver"] = () if _is_null(value) else _semvers(name, value, what)
        elif key == "credentials":
            fields["credentials"] = None if _is_null(value) else _credentials(name, value, what)
        elif key == "tls-verify":
            fields["tls_verify"] = _bool(name, value, what)
        elif key == "cert-dir":
            text = "" if _is_null(value) else _scalar_text(name, value, what)
            fields["cert_dir"] = Path(text) if text else None
    return RegistrySync(registry=registry, line=key_node.start_mark.line + 1, **fields)  # type: ignore[arg-type]


def parse_sync_file(data: bytes, name: str) -> tuple[RegistrySync, ...]:
    """Parse the bytes of a sync file; `name` is used in messages. Raises `ConfigError`."""
    if len(data) > MAX_SYNC_FILE_SIZE:
        raise ConfigError(f"{name}: the file is larger than {MAX_SYNC_FILE_SIZE} bytes")
    try:
        for event in yaml.parse(data, Loader=_Loader):
            refuse_anchors(event, name)
            tag = getattr(event, "tag", None)
            if tag is not None and tag not in _CORE_TAGS:
                line = f":{event.start_mark.line + 1}" if event.start_mark is not None else ""
                raise ConfigError(f"{name}{line}: YAML tag {safe_text(str(tag))!r} is not allowed")
        root = yaml.compose(data, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{name}{line}: invalid YAML: {safe_text(exc.problem or str(exc), 300)}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}: invalid YAML: {safe_text(' '.join(str(exc).split()), 300)}") from exc
    except RecursionError as exc:
        raise ConfigError(f"{name}: invalid YAML: nested too deeply") from exc
    if root is None or _is_null(root):
        return ()
    return tuple(
        _registry(name, str(key_node.value), key_node, value)
        for key_node, value in _mapping(name, root, "the top level")
    )


def load_sync_file(path: Path) -> SyncFile:
    """Read and parse the sync file at `path` (at most 1 MiB). Raises `ConfigError`."""
    try:
        data = read_file_limited(path, MAX_SYNC_FILE_SIZE, "sync file")
    except ToolkitError as exc:
        raise ConfigError(str(exc)) from exc
    return SyncFile(path, parse_sync_file(data, safe_text(str(path))))
