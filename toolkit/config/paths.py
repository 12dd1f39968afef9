"""Where configuration files are looked for (the only module that knows default paths).

Every function takes the environment as a mapping (default `os.environ`) so tests point
everything at temporary directories. Search orders follow containers/image:

- policy.json: see `toolkit.config.policy_file` (`SYSTEM_POLICY_PATH` is its default).
- registries.d: `--registries.d`, else `$HOME/.config/containers/registries.d` if it
  exists, else `/etc/containers/registries.d`.
- registries.conf: `--registries-conf`, else `$HOME/.config/containers/registries.conf`
  if it exists, else `/etc/containers/registries.conf` (plus `.d/*.conf` drop-ins).
- auth files: see `auth_file_search` and `primary_auth_file`.
- certs.d: `--cert-dir`, else `$HOME/.config/containers/certs.d/HOST`,
  `/etc/containers/certs.d/HOST`, `/etc/docker/certs.d/HOST`.
- default lookaside (signature storage): `/var/lib/containers/sigstore` for root, else
  `$XDG_DATA_HOME/containers/sigstore` (`~/.local/share/...`).
- docker-daemon endpoint: `--daemon-host`, else `$DOCKER_HOST`, else
  `unix:///var/run/docker.sock` (see `docker_daemon_host`).
- examples shipped with skopo (package data, never read implicitly): `EXAMPLES_DIR` /
  `policies/` (policy.json files) and `registries.d/`.
- containers/storage: `storage.conf` in `SYSTEM_STORAGE_CONF` / `OVERRIDE_STORAGE_CONF` (or
  `$CONTAINERS_STORAGE_CONF`, the rootless user files), stores under `DEFAULT_GRAPH_ROOT` /
  `DEFAULT_RUN_ROOT`; the search itself is `toolkit.config.storage_conf`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "home_dir",
    "registries_d_dir",
    "registries_conf_candidates",
    "auth_file_search",
    "primary_auth_file",
    "certs_d_candidates",
    "default_lookaside_dir",
    "docker_daemon_host",
    "DEFAULT_DOCKER_HOST",
    "SYSTEM_POLICY_PATH",
    "SYSTEM_REGISTRIES_D",
    "SYSTEM_REGISTRIES_CONF",
    "EXAMPLES_DIR",
    "SYSTEM_STORAGE_CONF",
    "OVERRIDE_STORAGE_CONF",
    "DEFAULT_GRAPH_ROOT",
    "DEFAULT_RUN_ROOT",
]

SYSTEM_POLICY_PATH = Path("/etc/containers/policy.json")
SYSTEM_REGISTRIES_D = Path("/etc/containers/registries.d")
SYSTEM_REGISTRIES_CONF = Path("/etc/containers/registries.conf")
#: The example configuration installed with skopo (toolkit/data/: `policies/`, `registries.d/`).
EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "data"
#: containers/storage 1.43 (`types/options_linux.go`): the shipped and the admin's storage.conf.
SYSTEM_STORAGE_CONF = Path("/usr/share/containers/storage.conf")
OVERRIDE_STORAGE_CONF = Path("/etc/containers/storage.conf")
DEFAULT_GRAPH_ROOT = "/var/lib/containers/storage"
DEFAULT_RUN_ROOT = "/run/containers/storage"
#: The Docker engine's default endpoint (docker/client `DefaultDockerHost` on Linux).
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def home_dir(env: Mapping[str, str] | None = None) -> Path:
    """`$HOME`, else the password database's home directory."""
    home = _env(env).get("HOME")
    return Path(home) if home else Path.home()


def _user_config_dir(env: Mapping[str, str] | None) -> Path:
    """`$XDG_CONFIG_HOME` or `$HOME/.config` (platformdirs' rule, with our environment)."""
    xdg = _env(env).get("XDG_CONFIG_HOME")
    if xdg:
        return Path(xdg)
    if env is None:
        if sys.platform == "linux":
            # platformdirs' own answer on Linux, without importing it (and `tempfile`,
            # `random` behind it) on every registry command.
            return Path(os.path.expanduser("~/.config"))
        import platformdirs

        return Path(platformdirs.user_config_dir())
    return home_dir(env) / ".config"


def registries_d_dir(explicit: Path | None, env: Mapping[str, str] | None = None) -> Path:
    """The registries.d directory to read."""
    if explicit is not None:
        return explicit
    user = home_dir(env) / ".config/containers/registries.d"
    return user if user.is_dir() else SYSTEM_REGISTRIES_D


def registries_conf_candidates(explicit: Path | None, env: Mapping[str, str] | None = None) -> list[Path]:
    """registries.conf files to try, in order (the first existing one is used)."""
    if explicit is not None:
        return [explicit]
    return [home_dir(env) / ".config/containers/registries.conf", SYSTEM_REGISTRIES_CONF]


def primary_auth_file(env: Mapping[str, str] | None = None) -> Path:
    """The auth file `login` writes to: `$REGISTRY_AUTH_FILE`, else
    `$XDG_RUNTIME_DIR/containers/auth.json`, else `/run/containers/<uid>/auth.json`."""
    e = _env(env)
    if e.get("REGISTRY_AUTH_FILE"):
        return Path(e["REGISTRY_AUTH_FILE"])
    runtime = e.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "containers/auth.json"
    return Path(f"/run/containers/{os.getuid()}/auth.json")


def auth_file_search(explicit: Path | None, env: Mapping[str, str] | None = None) -> list[tuple[Path, bool]]:
    """Auth files to read, in order, each with `legacy` (True: the old `.dockercfg`
    format without the `auths` wrapper). An explicit file is the only one read."""
    if explicit is not None:
        return [(explicit, False)]
    e = _env(env)
    files: list[tuple[Path, bool]] = [(primary_auth_file(env), False)]
    files.append((_user_config_dir(env) / "containers/auth.json", False))
    docker_config = e.get("DOCKER_CONFIG")
    if docker_config:
        files.append((Path(docker_config) / "config.json", False))
    else:
        files.append((home_dir(env) / ".docker/config.json", False))
    files.append((home_dir(env) / ".dockercfg", True))
    return files


def certs_d_candidates(host: str, explicit: Path | None, env: Mapping[str, str] | None = None) -> list[Path]:
    """Directories holding `*.crt` / `*.cert` + `*.key` for `host` (`host[:port]`)."""
    if explicit is not None:
        return [explicit]
    return [
        home_dir(env) / ".config/containers/certs.d" / host,
        Path("/etc/containers/certs.d") / host,
        Path("/etc/docker/certs.d") / host,
    ]


def default_lookaside_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where signatures are stored when registries.d configures no lookaside."""
    if os.geteuid() == 0:
        return Path("/var/lib/containers/sigstore")
    e = _env(env)
    data = e.get("XDG_DATA_HOME")
    base = Path(data) if data else home_dir(env) / ".local/share"
    return base / "containers/sigstore"


def docker_daemon_host(explicit: str, env: Mapping[str, str] | None = None) -> str:
    """The Docker engine endpoint for `docker-daemon:`: `explicit` (`--daemon-host`) if
    set, else `$DOCKER_HOST` if set, else `DEFAULT_DOCKER_HOST`.

    skopeo itself ignores `$DOCKER_HOST` (containers/image only looks at the flag); skopo
    honours it, as the `docker` CLI does, because it is where users already point tools.
    """
    if explicit:
        return explicit
    return _env(env).get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
