"""Registry credentials: auth.json / Docker config files and credential helpers.

Read side (`get_credentials`), as containers/image `pkg/docker/config`:
- files in skopeo's search order (`paths.auth_file_search`); an explicit `--authfile` is
  the only file read;
- in each file, `credHelpers[registry]` first (runs `docker-credential-<name> get`), then
  (beyond skopeo) `credsStore`, then the `auths` keys from the most specific
  (`host/ns/repo`) to the least (`host`);
- Docker-config keys are normalised (`https://` and a legacy path stripped; `docker.io`,
  `registry-1.docker.io` and `index.docker.io` are one registry). No other host ever
  falls back to docker.io credentials.

Write side (`set_credentials`, `remove_credentials`, `remove_all_credentials`): the
primary auth file (or the explicit one), rewritten atomically (temp file + fsync +
rename) with mode 0600 in a directory created 0700.

Contract: every file and helper output is untrusted. Malformed input raises
`ConfigError` naming the file, never quoting a secret. `Credentials.__repr__` hides
the password.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from toolkit._lazy import lazy_pattern
from toolkit._record import record
from toolkit.config.paths import auth_file_search, primary_auth_file
from toolkit.debuglog import debug_once
from toolkit.errors import ConfigError, InvalidInputError, ToolkitError, safe_text
from toolkit.limits import MAX_CONFIG_FILE_SIZE, read_file_limited
from toolkit.safefile import write_atomic
from toolkit.types import Credentials, SystemContext

__all__ = [
    "get_credentials",
    "auth_keys_for",
    "normalize_registry",
    "normalize_auth_file_key",
    "validate_key",
    "set_credentials",
    "remove_credentials",
    "remove_all_credentials",
    "stored_credentials",
    "NotLoggedInError",
    "AuthLookup",
    "lookup_credentials",
    "describe_missing_credentials",
]

log = logging.getLogger(__name__)

_HELPER_NAME = lazy_pattern(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}")  # credential helpers only
_HELPER_TIMEOUT = 30.0
#: The username docker credential helpers use for an identity token.
_TOKEN_USERNAME = "<token>"


class NotLoggedInError(ToolkitError):
    """`logout` / `login --get-login` for a registry with no stored credentials."""


def normalize_registry(registry: str) -> str:
    """The canonical auth-file key of a registry host (Docker Hub's aliases are one)."""
    if registry in ("registry-1.docker.io", "docker.io"):
        return "index.docker.io"
    return registry


def normalize_auth_file_key(key: str, legacy: bool) -> str:
    """Normalise a key read from a file (c/image `normalizeAuthFileKey`)."""
    stripped = key.removeprefix("http://").removeprefix("https://")
    if legacy or stripped != key:
        stripped = stripped.split("/", 1)[0]
    return normalize_registry(stripped)


def auth_keys_for(name: str) -> list[str]:
    """Lookup keys for a repository name `host/ns/repo` (or a bare `host`), most specific first."""
    keys: list[str] = []
    key = name
    while True:
        keys.append(key)
        if "/" not in key:
            break
        key = key.rsplit("/", 1)[0]
    # The last key is the host; match Docker Hub's aliases.
    keys[-1] = normalize_registry(keys[-1])
    return keys


def validate_key(key: str) -> bool:
    """Check a key given to login/logout; True if it names a namespace/repo (not only a host).

    Raises `InvalidInputError` for `http(s)://` prefixes, `@`, or a `:` after `host[:port]/`.
    """
    if key.startswith(("http://", "https://")):
        raise InvalidInputError(f"key {safe_text(key)} contains http[s]:// prefix")
    if "@" in key:
        raise InvalidInputError(f"key {safe_text(key)} contains a '@' character")
    first_slash = key.find("/")
    if first_slash != -1 and key.rfind(":") > first_slash:
        raise InvalidInputError(f"key {safe_text(key)} contains a ':' character after host[:port]")
    if not key or any(c.isspace() for c in key):
        raise InvalidInputError(f"invalid registry key {safe_text(key)!r}")
    return first_slash != -1


@record
class AuthLookup:
    """Where credentials came from (for `login --verbose`)."""

    credentials: Credentials
    source: str


def _load_file(path: Path, *, legacy: bool) -> dict[str, Any] | None:
    """The parsed file, None if it does not exist. Raises `ConfigError` naming the file."""
    if not os.path.lexists(path):
        return None
    try:
        raw = read_file_limited(path, MAX_CONFIG_FILE_SIZE, "auth file")
    except ToolkitError as exc:
        raise ConfigError(str(exc)) from exc
    if not raw.strip():
        return {}
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        # Never quote the content: it holds secrets.
        raise ConfigError(f"auth file {safe_text(str(path))} is not valid JSON") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"auth file {safe_text(str(path))}: expected a JSON object")
    if legacy:
        return {"auths": doc}
    return doc


def _decode_entry(path: Path, key: str, entry: Any) -> Credentials | None:
    """Credentials from one `auths` entry; None if it holds none (e.g. `{}`)."""
    if not isinstance(entry, dict):
        raise ConfigError(f"auth file {safe_text(str(path))}: entry {safe_text(key)!r} is not an object")
    auth = entry.get("auth", "")
    token = entry.get("identitytoken", "")
    if not isinstance(auth, str) or not isinstance(token, str):
        raise ConfigError(f"auth file {safe_text(str(path))}: entry {safe_text(key)!r} has a non-string field")
    if not auth and not token:
        return None
    try:
        decoded = base64.b64decode(auth, validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(
            f'auth file {safe_text(str(path))}: the "auth" field of {safe_text(key)!r} is not valid base64'
        ) from exc
    user, sep, password = decoded.partition(":")
    if not sep:
        if decoded:
            log.warning(
                'Error parsing the "auth" field of a credential entry %r in %s, missing colon',
                safe_text(key),
                safe_text(str(path)),
            )
        if not token:
            return None
    return Credentials(username=user, password=password.strip("\x00"), identity_token=token)


def _run_helper(name: str, registry: str, path: Path) -> Credentials | None:
    """`docker-credential-<name> get` for `registry`; None if the helper knows nothing."""
    if not _HELPER_NAME().fullmatch(name):
        raise ConfigError(f"auth file {safe_text(str(path))}: invalid credential helper name {safe_text(name)!r}")
    binary = shutil.which(f"docker-credential-{name}")
    if binary is None:
        raise ConfigError(f"credential helper docker-credential-{safe_text(name)} (from {safe_text(str(path))}) "
                          "is not installed")
    try:
        proc = subprocess.run(
            [binary, "get"],
            input=registry.encode(),
            capture_output=True,
            timeout=_HELPER_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"running credential helper docker-credential-{safe_text(name)}: {exc}") from exc
    if proc.returncode != 0:
        text = proc.stdout.decode("utf-8", "replace").strip()
        if "credentials not found" in text.lower():
            return None
        raise ConfigError(
            f"credential helper docker-credential-{safe_text(name)} failed for {safe_text(registry)}: "
            f"{safe_text(text, 200)}"
        )
    try:
        doc = json.loads(proc.stdout[:MAX_CONFIG_FILE_SIZE])
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"credential helper docker-credential-{safe_text(name)} printed invalid JSON") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"credential helper docker-credential-{safe_text(name)} printed invalid JSON")
    user = doc.get("Username", "")
    secret = doc.get("Secret", "")
    if not isinstance(user, str) or not isinstance(secret, str):
        raise ConfigError(f"credential helper docker-credential-{safe_text(name)} printed invalid JSON")
    if not user and not secret:
        return None
    if user == _TOKEN_USERNAME:
        return Credentials(identity_token=secret)
    return Credentials(username=user, password=secret)


def _lookup_in_file(path: Path, doc: Mapping[str, Any], keys: list[str], legacy: bool) -> Credentials | None:
    host = keys[-1]
    helpers = doc.get("credHelpers") or {}
    if not isinstance(helpers, dict):
        raise ConfigError(f"auth file {safe_text(str(path))}: credHelpers is not an object")
    for helper_key, helper in helpers.items():
        if normalize_auth_file_key(str(helper_key), legacy) == host and isinstance(helper, str):
            found = _run_helper(helper, _helper_server(host), path)
            if found is not None:
                return found
    store = doc.get("credsStore")
    if isinstance(store, str) and store:
        found = _run_helper(store, _helper_server(host), path)
        if found is not None:
            return found
    auths = doc.get("auths") or {}
    if not isinstance(auths, dict):
        raise ConfigError(f"auth file {safe_text(str(path))}: auths is not an object")
    normalized: dict[str, tuple[str, Any]] = {}
    for key, entry in auths.items():
        normalized.setdefault(normalize_auth_file_key(str(key), legacy), (str(key), entry))
    for key in keys:
        if key in normalized:
            original, entry = normalized[key]
            creds = _decode_entry(path, original, entry)
            if creds is not None:
                return creds
    return None


def _helper_server(host: str) -> str:
    # Docker's helpers store Docker Hub under its v1 URL.
    return "https://index.docker.io/v1/" if host == "index.docker.io" else host


def stored_credentials(
    ctx: SystemContext, name: str, env: Mapping[str, str] | None = None
) -> AuthLookup | None:
    """Credentials stored for repository `name` (`host[/path]`), searching every auth file."""
    keys = auth_keys_for(name)
    for path, legacy in auth_file_search(ctx.auth_file_path, env):
        doc = _load_file(path, legacy=legacy)
        if doc is None:
            debug_once(log, "auth file %s: does not exist", safe_text(str(path)))
            continue
        found = _lookup_in_file(path, doc, keys, legacy)
        if found is not None:
            # Never the secret: the user name only (or that it is an identity token).
            who = f"user {safe_text(found.username, 100)!r}" if found.username else "an identity token"
            debug_once(log, "auth file %s: credentials for %s found (%s)", safe_text(str(path)), safe_text(name), who)
            return AuthLookup(found, str(path))
        debug_once(log, "auth file %s: no credentials for %s", safe_text(str(path)), safe_text(name))
    return None


def lookup_credentials(
    ctx: SystemContext, name: str, env: Mapping[str, str] | None = None
) -> tuple[Credentials | None, str]:
    """`get_credentials`, plus where they came from, in words for messages and `--debug`
    (`credentials from --creds`, `credentials from auth file PATH`; "" for none)."""
    if ctx.no_credentials:
        debug_once(log, "credentials for %s: none (--no-creds)", safe_text(name))
        return None, ""
    if ctx.credentials is not None:
        debug_once(log, "credentials for %s: from --creds / --username (user %r)", safe_text(name),
                    safe_text(ctx.credentials.username, 100))
        return ctx.credentials, "credentials from --creds"
    found = stored_credentials(ctx, name, env)
    if found is None:
        debug_once(log, "credentials for %s: none found, anonymous access", safe_text(name))
        return None, ""
    return found.credentials, f"credentials from auth file {safe_text(found.source)}"


def describe_missing_credentials(ctx: SystemContext, host: str, env: Mapping[str, str] | None = None) -> str:
    """`no credentials found for HOST in auth files A, B` (the files searched, in order)."""
    files = ", ".join(safe_text(str(path)) for path, _ in auth_file_search(ctx.auth_file_path, env))
    return f"no credentials found for {safe_text(host)} in auth files {files}"


def get_credentials(ctx: SystemContext, name: str, env: Mapping[str, str] | None = None) -> Credentials | None:
    """The credentials to use for repository `name` (`host/ns/repo`, or `host`).

    `--no-creds` gives None (anonymous); `--creds`/`--username` win over files.
    Raises `ConfigError` for malformed files or failing helpers.
    """
    return lookup_credentials(ctx, name, env)[0]


# ------------------------------------------------------------------ writing


def _write_file(path: Path, doc: Mapping[str, Any], *, sort_keys: bool = False) -> None:
    """Atomically replace `path` with `doc` (0600; every missing directory is made 0700)."""
    data = (json.dumps(doc, indent="\t", sort_keys=sort_keys) + "\n").encode("utf-8")
    try:
        write_atomic(path, data, mode=0o600, dir_mode=0o700)
    except OSError as exc:
        raise ConfigError(f"writing auth file {safe_text(str(path))}: {exc.strerror or exc}") from exc


def _write_target(ctx: SystemContext, env: Mapping[str, str] | None) -> Path:
    return ctx.auth_file_path if ctx.auth_file_path is not None else primary_auth_file(env)


def _auths_of(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    doc = _load_file(path, legacy=False) or {}
    auths = doc.get("auths")
    if auths is None:
        auths = {}
    if not isinstance(auths, dict):
        raise ConfigError(f"auth file {safe_text(str(path))}: auths is not an object")
    doc["auths"] = auths
    return doc, auths


def docker_compat_key(key: str) -> str:
    """The key under which Docker's config.json (`--compat-auth-file`) stores `key`
    (c/image `prepareForEdit`): hosts only, Docker Hub as `https://index.docker.io/v1/`.
    Raises `InvalidInputError` for a namespaced key, which Docker cannot read."""
    if validate_key(key):
        raise InvalidInputError(
            f'Credentials cannot be recorded in Docker-compatible format with namespaced key "{safe_text(key)}"'
        )
    return "https://index.docker.io/v1/" if key == "docker.io" else key


def set_credentials(
    ctx: SystemContext,
    key: str,
    username: str,
    password: str,
    env: Mapping[str, str] | None = None,
    *,
    docker_compat: bool = False,
) -> Path:
    """Store `username:password` under `key` (`host[:port][/ns/repo]`); returns the file written.

    With `docker_compat` (`--compat-auth-file`: `ctx.auth_file_path` is a Docker config.json),
    the key is `docker_compat_key(key)` and the file's other fields are kept, keys sorted as
    Docker's Go code writes them."""
    validate_key(key)
    if docker_compat:
        key = docker_compat_key(key)
    path = _write_target(ctx, env)
    doc, auths = _auths_of(path)
    auths[key] = {"auth": base64.b64encode(f"{username}:{password}".encode()).decode("ascii")}
    _write_file(path, doc, sort_keys=docker_compat)
    return path


def remove_credentials(
    ctx: SystemContext, key: str, env: Mapping[str, str] | None = None, *, docker_compat: bool = False
) -> Path:
    """Remove the entry `key`; raises `NotLoggedInError` ("not logged into KEY") if absent.
    `docker_compat`: as `set_credentials`."""
    validate_key(key)
    if docker_compat:
        docker_compat_key(key)
    path = _write_target(ctx, env)
    doc, auths = _auths_of(path)
    matches = [k for k in auths if k == key or normalize_auth_file_key(k, False) == normalize_registry(key)]
    if not matches:
        raise NotLoggedInError(f"not logged into {safe_text(key)}")
    for k in matches:
        del auths[k]
    _write_file(path, doc, sort_keys=docker_compat)
    return path


def remove_all_credentials(
    ctx: SystemContext, env: Mapping[str, str] | None = None, *, docker_compat: bool = False
) -> Path:
    """Remove every stored entry from the auth file (other keys are kept)."""
    path = _write_target(ctx, env)
    if not os.path.lexists(path):
        return path
    doc, _ = _auths_of(path)
    doc["auths"] = {}
    _write_file(path, doc, sort_keys=docker_compat)
    return path
