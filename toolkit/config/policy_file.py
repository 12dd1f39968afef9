"""Finding and reading policy.json (containers/image `signature/policy_config.go`).

Search order: `--policy FILE`; else `$HOME/.config/containers/policy.json` if it exists;
else the system policy `/etc/containers/policy.json` if it exists; else a `PolicyError`
listing the paths tried (and where skopo's example policies are installed, to start from).
`$SKOPO_SYSTEM_POLICY_PATH` replaces the system path (what containers/image does at build
time with `systemDefaultPolicyPath`; packagers and tests use it). Reading is capped at
1 MiB and refuses anything but a regular file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from toolkit.config.paths import EXAMPLES_DIR, SYSTEM_POLICY_PATH, home_dir
from toolkit.errors import PolicyError, ToolkitError, safe_text
from toolkit.limits import MAX_CONFIG_FILE_SIZE, read_file_limited

__all__ = ["SYSTEM_POLICY_ENV", "system_policy_path", "policy_search_paths", "find_policy_file", "read_policy_file"]

SYSTEM_POLICY_ENV: Final = "SKOPO_SYSTEM_POLICY_PATH"

log = logging.getLogger(__name__)


def system_policy_path(env: Mapping[str, str] | None = None) -> Path:
    """`/etc/containers/policy.json`, or `$SKOPO_SYSTEM_POLICY_PATH` when set."""
    e = os.environ if env is None else env
    override = e.get(SYSTEM_POLICY_ENV)
    return Path(override) if override else SYSTEM_POLICY_PATH


def policy_search_paths(env: Mapping[str, str] | None = None) -> list[Path]:
    """The implicit policy.json locations, in order (user, then system)."""
    return [home_dir(env) / ".config/containers/policy.json", system_policy_path(env)]


def find_policy_file(explicit: Path | None, env: Mapping[str, str] | None = None) -> Path:
    """The policy.json to use. Raises `PolicyError` naming every path tried if none exists."""
    if explicit is not None:
        log.debug("policy: using %s (--policy)", safe_text(str(explicit)))
        return explicit
    candidates = policy_search_paths(env)
    for path in candidates:
        if os.path.lexists(path):
            log.debug("policy: using %s", safe_text(str(path)))
            return path
    listed = ", ".join(f'"{safe_text(str(p))}"' for p in candidates)
    raise PolicyError(
        f"no policy.json file found at any of the following: {listed} "
        f'(example policies to start from: "{safe_text(str(EXAMPLES_DIR / "policies"))}")'
    )


def read_policy_file(path: Path) -> bytes:
    """The bytes of `path` (regular file, at most 1 MiB); `PolicyError` naming it otherwise."""
    try:
        return read_file_limited(path, MAX_CONFIG_FILE_SIZE, "policy file")
    except ToolkitError as exc:
        raise PolicyError(str(exc)) from exc
