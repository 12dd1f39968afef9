"""Global command-line options, shared by every subcommand through the Typer context.

Part of the plugin API (re-exported as `toolkit.global_options`): a plugin command calls
`toolkit.global_options(ctx)` and gets the `SystemContext` (`.system_context()`) and the
trust policy (`.policy_context()`) exactly as the built-in commands do.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from toolkit._record import record

if TYPE_CHECKING:
    from toolkit.policy import PolicyContext
    from toolkit.types import SystemContext, TLSDetails

__all__ = ["GlobalOptions", "global_options"]


@record(kw_only=True)
class GlobalOptions:
    """Values of skopo's global flags (those given before the subcommand)."""

    policy_path: Path | None = None
    insecure_policy: bool = False
    registries_d: Path | None = None
    registries_conf: Path | None = None
    override_arch: str = ""
    override_os: str = ""
    override_variant: str = ""
    tmpdir: Path | None = None
    command_timeout: float = 0.0
    debug: bool = False
    user_agent_prefix: str = ""
    require_signed: bool = False
    tls_details_path: Path | None = None
    #: The deprecated root-level `--tls-verify` (None: not given).
    tls_verify: bool | None = None

    def system_context(self) -> SystemContext:
        """The `SystemContext` fields that come from global flags (`--override-*`,
        `--tmpdir`, `--registries.d`, `--user-agent-prefix`, `--tls-details`, the deprecated
        `--tls-verify`; the User-Agent is `[PREFIX ]skopo/VERSION`, as skopeo's
        `[PREFIX ]skopeo/VERSION`). Raises `ConfigError`/`NotSupportedError` for a bad
        `--tls-details` file."""
        from toolkit import __version__
        from toolkit.types import OptionalBool, SystemContext  # not at import: `--version` needs none of it

        return SystemContext(
            tls_details=_tls_details(self.tls_details_path) if self.tls_details_path is not None else None,
            deprecated_tls_verify=OptionalBool.of(self.tls_verify),
            override_os=self.override_os,
            override_arch=self.override_arch,
            override_variant=self.override_variant,
            tmpdir=self.tmpdir,
            registries_d_path=self.registries_d,
            registries_conf_path=self.registries_conf,
            user_agent=(f"{self.user_agent_prefix} " if self.user_agent_prefix else "") + f"skopo/{__version__}",
        )

    def policy_context(self) -> PolicyContext:
        """The trust policy of `--policy`/`--insecure-policy` (`toolkit.policy.policy_context`)."""
        from toolkit.policy import policy_context

        return policy_context(self.policy_path, insecure=self.insecure_policy, require_signed=self.require_signed)


@functools.lru_cache(maxsize=4)
def _tls_details(path: Path) -> TLSDetails:
    """The `--tls-details` file, read once per command (every image's context shares it)."""
    from toolkit.config.tls_details import load_tls_details

    return load_tls_details(path)


def global_options(ctx: typer.Context) -> GlobalOptions:
    """The `GlobalOptions` stored by the root callback (defaults if it never ran)."""
    root = ctx.find_root()
    obj = root.obj
    return obj if isinstance(obj, GlobalOptions) else GlobalOptions()
