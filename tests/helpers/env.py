"""Throwaway environments for the programs the tests run (skopo, skopeo, gpg, podman).

A test must never read or write the user's real configuration: HOME and the XDG
folders point into a temp folder, and variables that redirect containers tools
(auth files, registries.conf, policy, Docker host, GnuPG home) are removed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SCRUBBED_VARIABLES", "IsolatedHome", "make_isolated_home", "merge_env"]

#: Variables that would let the outer environment leak into a test run.
SCRUBBED_VARIABLES = (
    "REGISTRY_AUTH_FILE",
    "DOCKER_CONFIG",
    "DOCKER_HOST",
    "DOCKER_CERT_PATH",
    "DOCKER_TLS_VERIFY",
    "CONTAINERS_CONF",
    "CONTAINERS_REGISTRIES_CONF",
    "CONTAINERS_STORAGE_CONF",
    "CONTAINERS_POLICY_JSON",
    "GNUPGHOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "XDG_STATE_HOME",
    "XDG_CONFIG_DIRS",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
)


@dataclass(frozen=True)
class IsolatedHome:
    """HOME and XDG folders under one temp root; `env` is the environment to run with."""

    root: Path
    home: Path
    config_home: Path
    runtime_dir: Path
    data_home: Path
    cache_home: Path
    env: Mapping[str, str]


def make_isolated_home(root: Path) -> IsolatedHome:
    """Create HOME, XDG_CONFIG_HOME, XDG_RUNTIME_DIR (0700), XDG_DATA_HOME, XDG_CACHE_HOME."""
    home = root / "home"
    config_home = root / "config"
    runtime_dir = root / "runtime"
    data_home = root / "data"
    cache_home = root / "cache"
    for d in (home, config_home, runtime_dir, data_home, cache_home):
        d.mkdir(parents=True, exist_ok=True)
        d.chmod(0o700)
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED_VARIABLES}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(config_home),
        XDG_RUNTIME_DIR=str(runtime_dir),
        XDG_DATA_HOME=str(data_home),
        XDG_CACHE_HOME=str(cache_home),
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    return IsolatedHome(
        root=root,
        home=home,
        config_home=config_home,
        runtime_dir=runtime_dir,
        data_home=data_home,
        cache_home=cache_home,
        env=env,
    )


def merge_env(base: Mapping[str, str], overrides: Mapping[str, str | None] | None) -> dict[str, str]:
    """`base` updated with `overrides`; an override of None removes that variable."""
    env = dict(base)
    for key, value in (overrides or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env
