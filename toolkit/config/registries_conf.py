"""registries.conf v2 (TOML), as containers/image `pkg/sysregistriesv2` reads it.

Only what skopeo uses: `[[registry]]` tables with `prefix`, `location`, `insecure`,
`blocked`, `mirror-by-digest-only` and `[[registry.mirror]]` (`location`, `insecure`,
`pull-from-mirror` = `all` | `digest-only` | `tag-only`). The file is the first existing of
`paths.registries_conf_candidates`; drop-ins are `*.conf` files in the sibling
`registries.conf.d/` directory, in lexical order, each replacing registries with the same
prefix. The longest matching prefix wins (`*.example.com` matches sub-domains).

Mirrors and `location` rewrites apply only when pulling one image
(`Registry.pull_sources`); pushes, tag listing and deletes use the reference as written.

Contract: files are untrusted: size-capped (1 MiB), parsed with `tomllib`; any error
raises `ConfigError` naming the file.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from toolkit._record import field, record
from toolkit.config.paths import registries_conf_candidates
from toolkit.debuglog import debug_once
from toolkit.errors import ConfigError, ToolkitError, safe_text
from toolkit.limits import MAX_CONFIG_FILE_SIZE, read_file_limited
from toolkit.reference import NamedReference, parse_normalized_named
from toolkit.types import SystemContext

__all__ = ["Endpoint", "Registry", "RegistriesConf", "PullSource", "load_registries_conf", "ref_matching_prefix"]

log = logging.getLogger(__name__)

_PULL_FROM_MIRROR = {"", "all", "digest-only", "tag-only"}


@record
class Endpoint:
    """A location serving a registry's content (the primary or a mirror)."""

    location: str
    insecure: bool = False
    pull_from_mirror: str = ""

    def rewrite(self, ref: NamedReference, prefix: str) -> NamedReference:
        """`ref` with `prefix` replaced by this location (unchanged for wildcard prefixes)."""
        if prefix.startswith("*.") or not self.location:
            return ref
        text = str(ref)
        rewritten = self.location + text[len(prefix) :]
        try:
            return parse_normalized_named(rewritten)
        except ToolkitError as exc:
            raise ConfigError(f"rewriting reference to {safe_text(rewritten)}: {exc}") from exc


@record
class PullSource:
    """One place to try when pulling: the rewritten reference and whether it is insecure."""

    reference: NamedReference
    insecure: bool
    is_mirror: bool


@record
class Registry:
    """A `[[registry]]` table."""

    prefix: str
    endpoint: Endpoint
    blocked: bool = False
    mirror_by_digest_only: bool = False
    mirrors: tuple[Endpoint, ...] = ()

    def pull_sources(self, ref: NamedReference) -> list[PullSource]:
        """Where to try pulling `ref` from, in order: eligible mirrors, then the primary."""
        digested = ref.digest is not None
        endpoints: list[Endpoint] = []
        if self.mirror_by_digest_only:
            if digested:
                endpoints.extend(self.mirrors)
        else:
            for mirror in self.mirrors:
                if not digested and mirror.pull_from_mirror == "digest-only":
                    continue
                if digested and mirror.pull_from_mirror == "tag-only":
                    continue
                endpoints.append(mirror)
        sources = [PullSource(m.rewrite(ref, self.prefix), m.insecure, True) for m in endpoints]
        sources.append(PullSource(self.endpoint.rewrite(ref, self.prefix), self.endpoint.insecure, False))
        if len(sources) > 1 or sources[0].reference != ref:
            log.debug(
                "registries.conf: %s matches prefix %s; pulling from %s",
                ref,
                safe_text(self.prefix),
                ", then ".join(f"{s.reference}{' (mirror)' if s.is_mirror else ''}" for s in sources),
            )
        return sources


def ref_matching_prefix(ref: str, prefix: str) -> int:
    """Length of the part of `ref` matched by `prefix`, or -1 (c/image `refMatchingPrefix`)."""
    if prefix.startswith("*."):
        index = ref.find(prefix[1:])
        if index == -1 or "/" in ref[:index]:
            return -1
        index += len(prefix) - 1
        if index == len(ref) or ref[index] in ":/@":
            return index
        return -1
    if len(ref) < len(prefix):
        return -1
    if len(ref) == len(prefix):
        return len(prefix) if ref == prefix else -1
    if not ref.startswith(prefix):
        return -1
    return len(prefix) if ref[len(prefix)] in ":/@" else -1


@record
class RegistriesConf:
    """The parsed configuration (possibly empty)."""

    registries: tuple[Registry, ...] = ()
    files: tuple[Path, ...] = field(default_factory=tuple)

    def find(self, ref: str) -> Registry | None:
        """The registry with the longest prefix matching `ref` (a reference string or a host)."""
        best: Registry | None = None
        best_len = -1
        for registry in self.registries:
            length = ref_matching_prefix(ref, registry.prefix)
            if length > best_len:
                best, best_len = registry, length
        return best

    def is_insecure(self, host: str) -> bool:
        """registries.conf `insecure` for a host (the primary endpoint or a mirror location)."""
        for registry in self.registries:
            for endpoint in (registry.endpoint, *registry.mirrors):
                if endpoint.insecure and host in (endpoint.location, endpoint.location.split("/", 1)[0]):
                    return True
        reg = self.find(host)
        return bool(reg is not None and reg.endpoint.insecure)

    def check_not_blocked(self, ref: NamedReference) -> Registry | None:
        """The matching registry; raises `ConfigError` ("registry X is blocked") when blocked."""
        reg = self.find(str(ref))
        if reg is not None and reg.blocked:
            name = safe_text(reg.endpoint.location or reg.prefix)
            raise ConfigError(f"registry {name} is blocked in registries.conf")
        return reg


def _str(table: Mapping[str, Any], key: str, where: str) -> str:
    value = table.get(key, "")
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {key} must be a string")
    return value


def _bool(table: Mapping[str, Any], key: str, where: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: {key} must be a boolean")
    return value


def _parse_registry(table: Any, where: str) -> Registry:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [[registry]] must be a table")
    location = _str(table, "location", where).rstrip("/")
    prefix = _str(table, "prefix", where) or location
    if not prefix:
        raise ConfigError(f"{where}: a [[registry]] needs a prefix or a location")
    if prefix.startswith("*.") and location:
        # c/image: a wildcard prefix cannot be rewritten.
        raise ConfigError(f"{where}: wildcarded prefix {safe_text(prefix)} should be used without a location")
    mirrors_raw = table.get("mirror", [])
    if not isinstance(mirrors_raw, list):
        raise ConfigError(f"{where}: mirror must be an array of tables")
    mirrors: list[Endpoint] = []
    digest_only = _bool(table, "mirror-by-digest-only", where)
    for mirror in mirrors_raw:
        if not isinstance(mirror, dict):
            raise ConfigError(f"{where}: mirror must be an array of tables")
        pull = _str(mirror, "pull-from-mirror", where)
        if pull not in _PULL_FROM_MIRROR:
            raise ConfigError(f"{where}: unsupported pull-from-mirror value {safe_text(pull)!r}")
        if pull and digest_only:
            raise ConfigError(f"{where}: pull-from-mirror cannot be used with mirror-by-digest-only")
        mirror_location = _str(mirror, "location", where).rstrip("/")
        if not mirror_location:
            raise ConfigError(f"{where}: a mirror needs a location")
        mirrors.append(Endpoint(mirror_location, _bool(mirror, "insecure", where), pull))
    return Registry(
        prefix=prefix,
        endpoint=Endpoint(location or (prefix if not prefix.startswith("*.") else ""), _bool(table, "insecure", where)),
        blocked=_bool(table, "blocked", where),
        mirror_by_digest_only=digest_only,
        mirrors=tuple(mirrors),
    )


#: The last parse of each file, keyed by its exact bytes: `sync` builds a source and a
#: destination for every image, and each reads registries.conf (reading is cheap, TOML
#: parsing is not).
_PARSED: dict[Path, tuple[bytes, tuple[Registry, ...]]] = {}


#: The control characters TOML allows nowhere (tab is allowed; newlines end lines).
_CONTROLS = dict.fromkeys((*range(0x09), *range(0x0B, 0x20), 0x7F))
_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def _simple_string(text: str) -> tuple[str, str] | None:
    """A TOML basic string without escapes at the start of `text`: (its value, the rest)."""
    if not text.startswith('"'):
        return None
    close = text.find('"', 1)
    if close < 0 or "\\" in text[1:close]:
        return None
    return text[1:close], text[close + 1 :]


def _key(text: str) -> str | None:
    """A bare key or a quoted key without escapes, the whole of `text`; None otherwise."""
    if text and _BARE.issuperset(text):
        return text
    quoted = _simple_string(text)
    return quoted[0] if quoted is not None and not quoted[1] else None


def _has_no_registries(text: str) -> bool:
    """True when `text` is a valid TOML document without a top-level `registry` key, made
    only of blank and comment lines, `[table]` headers and `key = "string"` lines (no
    escapes): the distributions' default files (comments only) and podman's
    shortnames.conf (`[aliases]`). False for anything else, which `tomllib` then reads or
    rejects; this never accepts a document `tomllib` rejects (tests compare the two)."""
    body = text.replace("\r\n", "\n")
    if len(body.translate(_CONTROLS)) != len(body):
        return False  # a lone CR or another control character: tomllib's error message
    tables: set[str] = set()
    top: set[str] = set()
    keys = top
    for line in body.split("\n"):
        stripped = line.strip(" \t")
        if not stripped or stripped[0] == "#":
            continue
        if stripped[0] == "[":
            name, close, rest = stripped[1:].partition("]")
            rest = rest.lstrip(" \t")
            if not (close and name and _BARE.issuperset(name)) or (rest and rest[0] != "#"):
                return False
            if name == "registry" or name in tables or name in top:
                return False  # registries, or a redefinition tomllib rejects
            tables.add(name)
            keys = set()
            continue
        left, equals, right = stripped.partition("=")
        key = _key(left.rstrip(" \t"))
        value = _simple_string(right.lstrip(" \t"))
        if not equals or key is None or value is None or key in keys or (keys is top and key == "registry"):
            return False
        rest = value[1].lstrip(" \t")
        if rest and rest[0] != "#":
            return False
        keys.add(key)
    return True


def _parse_file(path: Path) -> tuple[Registry, ...]:
    try:
        raw = read_file_limited(path, MAX_CONFIG_FILE_SIZE, "registries.conf")
    except ToolkitError as exc:
        raise ConfigError(str(exc)) from exc
    cached = _PARSED.get(path)
    if cached is not None and cached[0] == raw:
        return cached[1]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"loading registries configuration {safe_text(str(path))}: {safe_text(str(exc))}") from exc
    if _has_no_registries(text):
        return ()  # the usual files: no registries, and no TOML parser to import (~3 ms)
    import tomllib  # only for a file with settings

    try:
        doc = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as exc:
        raise ConfigError(f"loading registries configuration {safe_text(str(path))}: {safe_text(str(exc))}") from exc
    where = safe_text(str(path))
    regs = doc.get("registry", [])
    if not isinstance(regs, list):
        raise ConfigError(f"{where}: registry must be an array of tables")
    registries = tuple(_parse_registry(table, where) for table in regs)
    if len(_PARSED) >= 64:  # long-lived processes (tests) see many paths
        _PARSED.clear()
    _PARSED[path] = (raw, registries)
    return registries


def load_registries_conf(ctx: SystemContext, env: Mapping[str, str] | None = None) -> RegistriesConf:
    """Read registries.conf (and its drop-ins) for `ctx`; empty if none exists."""
    # The first existing candidate; else the last one (the system file), whose drop-ins
    # still apply. An explicit path is the only candidate.
    candidates = registries_conf_candidates(ctx.registries_conf_path, env)
    if ctx.registries_conf_path is not None and not ctx.registries_conf_path.exists():
        # As skopeo: a file named on the command line must exist.
        shown = safe_text(str(ctx.registries_conf_path))
        raise ConfigError(f'loading registries configuration "{shown}": open {shown}: no such file or directory')
    main = next((c for c in candidates if c.exists()), candidates[-1])
    files: list[Path] = []
    by_prefix: dict[str, Registry] = {}
    if main.exists():
        files.append(main)
    dropin = main.parent / (main.name + ".d")
    if dropin.is_dir():
        try:
            files.extend(sorted(p for p in dropin.iterdir() if p.name.endswith(".conf") and p.is_file()))
        except OSError as exc:
            raise ConfigError(f"reading {safe_text(str(dropin))}: {exc.strerror or exc}") from exc
    seen_in_file: set[str] = set()
    for path in files:
        seen_in_file.clear()
        for reg in _parse_file(path):
            if reg.prefix in seen_in_file:
                raise ConfigError(f"{safe_text(str(path))}: registry prefix {safe_text(reg.prefix)} is defined twice")
            seen_in_file.add(reg.prefix)
            by_prefix[reg.prefix] = reg
    if files:
        debug_once(log, "registries.conf: loaded %s (%d registries)",
                   ", ".join(safe_text(str(f)) for f in files), len(by_prefix))
    else:
        debug_once(log, "registries.conf: none found (tried %s)", ", ".join(safe_text(str(c)) for c in candidates))
    return RegistriesConf(tuple(by_prefix.values()), tuple(files))
