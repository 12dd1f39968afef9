"""`skopo logout REGISTRY` / `skopo logout --all`: remove stored credentials."""

from __future__ import annotations

from typing import Annotated

import typer

from toolkit.cli.commands.login import AuthfileOption, CompatAuthFileOption, login_context, registry_key
from toolkit.config.auth import remove_all_credentials, remove_credentials
from toolkit.errors import InvalidInputError


def logout(
    ctx: typer.Context,
    registry: Annotated[str | None, typer.Argument(metavar="REGISTRY", show_default=False)] = None,
    authfile: AuthfileOption = None,
    compat_auth_file: CompatAuthFileOption = None,
    all_: Annotated[bool, typer.Option("--all", "-a", help="Remove the cached credentials for all registries")] = False,
    tls_verify: Annotated[bool | None, typer.Option("--tls-verify/--no-tls-verify",
                                                    help="require HTTPS and verify certificates")] = None,
) -> None:
    """Logout of a container registry."""
    sys_ctx = login_context(ctx, authfile, None, tls_verify, compat_auth_file)
    compat = compat_auth_file is not None
    if all_:
        if registry is not None:
            raise InvalidInputError("--all takes no arguments")
        remove_all_credentials(sys_ctx, docker_compat=compat)
        typer.echo("Removed login credentials for all registries")
        return
    if registry is None:
        raise InvalidInputError("please provide a registry to log out from")
    key, _ = registry_key(registry)
    remove_credentials(sys_ctx, key, docker_compat=compat)
    typer.echo(f"Removed login credentials for {key}")
