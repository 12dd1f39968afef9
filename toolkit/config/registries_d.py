"""registries.d: where signatures of registry images live (containers-registries.d(5),
containers/image `docker/registries_d.go`, skopeo-reference.md §4).

Every `*.yaml` file of the directory (`--registries.d`, else
`$HOME/.config/containers/registries.d` if it exists, else `/etc/containers/registries.d`)
is read with `yaml.safe_load` semantics, at most 1 MiB each, anchors/aliases and duplicate
keys refused, and merged: `default-docker` or the same `docker` namespace defined in two
files is an error naming both files (security.md corpus 30).

Sections hold `lookaside` (read, and write when no staging is set), `lookaside-staging`
(write), the deprecated `sigstore` / `sigstore-staging` (same meaning, lower priority) and
`use-sigstore-attachments`. Lookup follows the image's policy identity, then its
namespaces (`host/ns/repo`, `host/ns`, `host`, `*.domain` wildcards), then
`default-docker`; a section without the wanted URL falls through to the next broader one.
With nothing configured anywhere, the built-in default is `file://` +
`toolkit.config.paths.default_lookaside_dir()`.

This module only parses and looks up: it answers where signatures live. Reading and
writing them (the signature URLs, `file://` storage, http(s) GETs) is the registry
transport's (`toolkit.transports.docker._lookaside`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from toolkit._record import record
from toolkit.config.paths import default_lookaside_dir, registries_d_dir
from toolkit.errors import ConfigError, ToolkitError, safe_text
from toolkit.limits import MAX_CONFIG_FILE_SIZE, read_file_limited
from toolkit.reference import NamedReference, policy_identity, policy_namespaces
from toolkit.types import SystemContext

__all__ = [
    "RegistriesD",
    "RegistryNamespace",
    "load_registries_d",
    "parse_registries_d_dir",
]

log = logging.getLogger(__name__)

_SECTION_KEYS: Final = ("lookaside", "lookaside-staging", "sigstore", "sigstore-staging", "use-sigstore-attachments")


@record
class RegistryNamespace:
    """One section (`default-docker` or a `docker` scope) of a registries.d file."""

    lookaside: str = ""
    lookaside_staging: str = ""
    sigstore: str = ""
    sigstore_staging: str = ""
    use_sigstore_attachments: bool | None = None

    def top_level(self, write: bool) -> str:
        """The URL for reading (or writing), "" if this section sets none."""
        if write:
            if self.lookaside_staging:
                return self.lookaside_staging
            if self.sigstore_staging:
                return self.sigstore_staging
        return self.lookaside or self.sigstore


@record
class RegistriesD:
    """A merged registries.d configuration.

    `docker` maps scopes to sections; `default_docker` is the fallback section (None if no
    file defines it); `directory` is where it was read from (for messages).
    """

    docker: Mapping[str, RegistryNamespace]
    default_docker: RegistryNamespace | None = None
    directory: str = ""
    env: Mapping[str, str] | None = None

    def _sections(self, ref: NamedReference) -> list[RegistryNamespace]:
        return [section for _, section in self._scoped_sections(ref)]

    def _scoped_sections(self, ref: NamedReference) -> list[tuple[str, RegistryNamespace]]:
        """The sections applying to `ref`, most specific first, with their scope names."""
        out: list[tuple[str, RegistryNamespace]] = []
        # The most specific scope is the full `name:tag` / `name@digest` (c/image uses the
        # policy identity only when exactly one of them is set).
        scopes = policy_namespaces(ref)
        if (ref.tag is None) != (ref.digest is None):
            scopes = [policy_identity(ref), *scopes]
        for scope in scopes:
            section = self.docker.get(scope)
            if section is not None:
                out.append((scope, section))
        if self.default_docker is not None:
            out.append(("default-docker", self.default_docker))
        return out

    def _top_level(self, ref: NamedReference, write: bool) -> str:
        for scope, section in self._scoped_sections(ref):
            url = section.top_level(write)
            if url:
                log.debug("registries.d: lookaside for %s: %s (%s, from %s)", ref, safe_text(url),
                          safe_text(scope), safe_text(self.directory))
                return url
        builtin = "file://" + str(default_lookaside_dir(self.env))
        log.debug("No signature storage configuration found for %s, using built-in default %s", ref, builtin)
        return builtin

    def lookaside_read_url(self, ref: NamedReference) -> str:
        """Base URL to read `ref`'s signatures from (`lookaside`, else the built-in default)."""
        return self._top_level(ref, write=False)

    def lookaside_write_url(self, ref: NamedReference) -> str:
        """Base URL to write `ref`'s signatures to (`lookaside-staging`, else `lookaside`, else
        the built-in default)."""
        return self._top_level(ref, write=True)

    def use_sigstore_attachments(self, ref: NamedReference) -> bool:
        """`use-sigstore-attachments` of the most specific section that sets it (default False)."""
        for section in self._sections(ref):
            if section.use_sigstore_attachments is not None:
                return section.use_sigstore_attachments
        return False


def _validate_url(url: str, where: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ConfigError(f'{where}: invalid signature storage URL "{safe_text(url)}": use file:///absolute/path')
    elif parts.scheme in ("http", "https"):
        if not parts.netloc:
            raise ConfigError(f'{where}: invalid signature storage URL "{safe_text(url)}": no host')
    else:
        raise ConfigError(
            f'{where}: invalid signature storage URL "{safe_text(url)}": the scheme must be file, http or https'
        )


def _parse_section(value: Any, where: str) -> RegistryNamespace:
    if value is None:
        return RegistryNamespace()
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping")
    fields: dict[str, Any] = {}
    for key, item in value.items():
        if key not in _SECTION_KEYS:
            log.warning("%s: ignoring unknown key %s", where, safe_text(str(key)))
            continue
        if key == "use-sigstore-attachments":
            if item is not None and not isinstance(item, bool):
                raise ConfigError(f'{where}: "use-sigstore-attachments" must be true or false')
            fields["use_sigstore_attachments"] = item
            continue
        if item is None:
            item = ""
        if not isinstance(item, str):
            raise ConfigError(f'{where}: "{key}" must be a URL string')
        if item:
            _validate_url(item, f'{where}: "{key}"')
        fields[key.replace("-", "_")] = item
    return RegistryNamespace(**fields)


def _parse_file(data: bytes, path: str) -> tuple[RegistryNamespace | None, dict[str, RegistryNamespace]]:
    what = f"registries.d file {safe_text(path)}"
    # Imported here: most systems have no registries.d file, and PyYAML costs ~10 ms to load.
    from toolkit.config._yaml import load_yaml

    doc = load_yaml(data, what)
    if doc is None:
        return None, {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{what}: expected a mapping at the top level")
    default: RegistryNamespace | None = None
    docker: dict[str, RegistryNamespace] = {}
    for key, value in doc.items():
        if key == "default-docker":
            # `default-docker:` with no value still counts as defined (skopeo's default.yaml).
            default = _parse_section(value, f'{what}: "default-docker"')
        elif key == "docker":
            if value is None:
                continue
            if not isinstance(value, dict):
                raise ConfigError(f'{what}: "docker" must be a mapping of scopes')
            for scope, section in value.items():
                if not isinstance(scope, str) or not scope:
                    raise ConfigError(f'{what}: "docker" scopes must be non-empty strings')
                docker[scope] = _parse_section(section, f'{what}: docker "{safe_text(scope)}"')
        else:
            log.warning("%s: ignoring unknown key %s", what, safe_text(str(key)))
    return default, docker


def parse_registries_d_dir(directory: Path, env: Mapping[str, str] | None = None) -> RegistriesD:
    """Read and merge every `*.yaml` file of `directory` (a missing directory is empty).

    Raises `ConfigError` naming the file for invalid content, and both files for a section
    defined twice.
    """
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        log.debug("registries.d: %s does not exist", safe_text(str(directory)))
        return RegistriesD(docker={}, directory=str(directory), env=env)
    except OSError as exc:
        raise ConfigError(f"reading registries.d directory {safe_text(str(directory))}: {exc.strerror}") from exc
    log.debug("registries.d: reading %s (%s)", safe_text(str(directory)),
              ", ".join(safe_text(n) for n in names if n.endswith(".yaml")) or "no .yaml files")
    default: RegistryNamespace | None = None
    default_from = ""
    docker: dict[str, RegistryNamespace] = {}
    docker_from: dict[str, str] = {}
    for name in names:
        if not name.endswith(".yaml"):
            continue
        path = str(directory / name)
        try:
            data = read_file_limited(path, MAX_CONFIG_FILE_SIZE, "registries.d file")
        except ToolkitError as exc:
            if not os.path.lexists(path):
                continue
            raise ConfigError(str(exc)) from exc
        file_default, file_docker = _parse_file(data, path)
        if file_default is not None:
            if default is not None:
                raise ConfigError(
                    'Error parsing signature storage configuration: "default-docker" defined both in '
                    f'"{safe_text(default_from)}" and "{safe_text(path)}"'
                )
            default, default_from = file_default, path
        for scope, section in file_docker.items():
            if scope in docker:
                raise ConfigError(
                    f'Error parsing signature storage configuration: "docker" namespace "{safe_text(scope)}" '
                    f'defined both in "{safe_text(docker_from[scope])}" and "{safe_text(path)}"'
                )
            docker[scope] = section
            docker_from[scope] = path
    return RegistriesD(docker=docker, default_docker=default, directory=str(directory), env=env)


_CACHE: dict[str, tuple[tuple[tuple[str, int, int], ...], RegistriesD]] = {}
_CACHE_LOCK = threading.Lock()


def _fingerprint(directory: Path) -> tuple[tuple[str, int, int], ...]:
    out: list[tuple[str, int, int]] = []
    with contextlib.suppress(OSError):
        for name in sorted(os.listdir(directory)):
            if name.endswith(".yaml"):
                with contextlib.suppress(OSError):
                    st = os.stat(directory / name)
                    out.append((name, st.st_mtime_ns, st.st_size))
    return tuple(out)


def load_registries_d(ctx: SystemContext, env: Mapping[str, str] | None = None) -> RegistriesD:
    """The registries.d configuration for `ctx` (`ctx.registries_d_path` overrides the search).

    Cached per directory (re-read when a file's size or mtime changes). Raises `ConfigError`.
    """
    directory = registries_d_dir(ctx.registries_d_path, env)
    key = str(directory)
    stamp = _fingerprint(directory)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None and cached[0] == stamp and cached[1].env is env:
            return cached[1]
    config = parse_registries_d_dir(directory, env)
    with _CACHE_LOCK:
        _CACHE[key] = (stamp, config)
    return config
