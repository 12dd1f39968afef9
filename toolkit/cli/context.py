"""Global command-line options, shared by every subcommand through the Typer context."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import typer

__all__ = ["GlobalOptions", "global_options"]


@dataclass(frozen=True, slots=True, kw_only=True)
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


def global_options(ctx: typer.Context) -> GlobalOptions:
    """The `GlobalOptions` stored by the root callback (defaults if it never ran)."""
    root = ctx.find_root()
    obj = root.obj
    return obj if isinstance(obj, GlobalOptions) else GlobalOptions()
