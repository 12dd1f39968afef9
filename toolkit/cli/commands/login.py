"""`skopo login REGISTRY`: check credentials against a registry and store them (skopeo's
`login`, containers/common `pkg/auth`).

Credentials are written to the primary auth file (or `--authfile`) atomically, mode 0600.
Messages are skopeo's: `Login Succeeded!`, `logging into "X": invalid username/password`,
`Existing credentials are valid. Already logged in to X`.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer

from toolkit.cli.common import base_context
from toolkit.cli.context import global_options
from toolkit.config.auth import (
    NotLoggedInError,
    docker_compat_key,
    set_credentials,
    stored_credentials,
    validate_key,
)
from toolkit.errors import InvalidInputError, NotSupportedError, ToolkitError, safe_text
from toolkit.limits import read_limited
from toolkit.reference import parse_normalized_named
from toolkit.transports.docker import UnauthorizedError, check_auth
from toolkit.types import Credentials, OptionalBool, SystemContext


def registry_key(argument: str) -> tuple[str, str]:
    """`(key, registry host)` from a login/logout argument (`host[:port][/ns...]`, optional
    `http(s)://` prefix stripped). Tags and digests are refused."""
    key = argument.removeprefix("https://").removeprefix("http://").rstrip("/")
    if not key:
        raise InvalidInputError("please provide a registry to log in to")
    validate_key(key)
    if "/" in key:
        ref = parse_normalized_named(key)
        if not ref.is_name_only():
            raise InvalidInputError(f"{safe_text(argument)} must not contain a tag or digest")
    host = key.split("/", 1)[0]
    return key, host


def login_context(
    ctx: typer.Context,
    authfile: Path | None,
    cert_dir: Path | None,
    tls_verify: bool | None,
    compat_auth_file: Path | None = None,
) -> SystemContext:
    """The context of login/logout. `compat_auth_file` (`--compat-auth-file`, a Docker
    config.json) is then the one file read and written; it excludes `--authfile` (and
    `$REGISTRY_AUTH_FILE`, the default of `--authfile`), as in skopeo."""
    if compat_auth_file is not None:
        if authfile is not None:
            raise InvalidInputError(
                "options for paths to the credential file and to the Docker-compatible credential file "
                "can not be set simultaneously"
            )
        authfile = compat_auth_file
    base = base_context(global_options(ctx))
    return SystemContext(
        registries_conf_path=base.registries_conf_path,
        user_agent=base.user_agent,
        auth_file_path=authfile,
        cert_dir=cert_dir,
        tls_verify=OptionalBool.of(tls_verify),
        deprecated_tls_verify=base.deprecated_tls_verify,
        tls_details=base.tls_details,
    )


#: `--authfile` and `--compat-auth-file`, shared with `logout`.
AuthfileOption = Annotated[
    Path | None,
    typer.Option("--authfile", envvar="REGISTRY_AUTH_FILE", metavar="PATH", help="path of the authentication file"),
]
CompatAuthFileOption = Annotated[
    Path | None,
    typer.Option("--compat-auth-file", metavar="PATH",
                 help="path of a Docker-compatible config file to read and update instead of auth.json "
                 "(not with --authfile)"),
]


def login(
    ctx: typer.Context,
    registry: Annotated[str | None, typer.Argument(metavar="REGISTRY", show_default=False)] = None,
    authfile: AuthfileOption = None,
    compat_auth_file: CompatAuthFileOption = None,
    cert_dir: Annotated[
        Path | None, typer.Option("--cert-dir", metavar="PATH", help="use certificates at PATH")
    ] = None,
    username: Annotated[str | None, typer.Option("--username", "-u", metavar="USERNAME", help="Username")] = None,
    password: Annotated[str | None, typer.Option("--password", "-p", metavar="PASSWORD", help="Password")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Take the password from stdin")] = False,
    get_login: Annotated[
        bool, typer.Option("--get-login", help="Return the current login user for the registry")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Write more detailed information to stdout")] = False,
    tls_verify: Annotated[bool | None, typer.Option("--tls-verify/--no-tls-verify",
                                                    help="require HTTPS and verify certificates")] = None,
) -> None:
    """Login to a container registry (credentials are checked, then stored)."""
    if registry is None:
        raise InvalidInputError("please provide a registry to log in to")
    key, host = registry_key(registry)
    sys_ctx = login_context(ctx, authfile, cert_dir, tls_verify, compat_auth_file)
    compat = compat_auth_file is not None
    if compat:
        docker_compat_key(key)  # refuse a namespaced key before asking the registry
    if get_login:
        found = stored_credentials(sys_ctx, key)
        if found is None or not found.credentials.username:
            raise NotLoggedInError(f"not logged into {safe_text(key)}")
        typer.echo(found.credentials.username)
        return
    if password_stdin:
        if password is not None:
            raise InvalidInputError("--password and --password-stdin are mutually exclusive")
        if username is None:
            raise InvalidInputError("must provide --username with --password-stdin")
        password = _password_from_stdin()
    if username is None and password is None:
        existing = stored_credentials(sys_ctx, key)
        if existing is not None and existing.credentials.identity_token:
            raise NotSupportedError(f"{safe_text(key)} uses an identity token; log in again with --username")
        if existing is not None and existing.credentials.username:
            typer.echo(f"Authenticating with existing credentials for {key}")
            try:
                check_auth(sys_ctx, host, existing.credentials)
            except UnauthorizedError:
                pass
            else:
                if verbose:
                    typer.echo(f"Used:  {existing.source}")
                typer.echo(f"Existing credentials are valid. Already logged in to {key}")
                return
    if username is None:
        username = _prompt("Username: ")
    if password is None:
        password = getpass.getpass("Password: ")
    if not username:
        raise InvalidInputError("username can't be empty")
    try:
        check_auth(sys_ctx, host, Credentials(username=username, password=password))
    except UnauthorizedError as exc:
        raise ToolkitError(f'logging into "{safe_text(key)}": invalid username/password') from exc
    path = set_credentials(sys_ctx, key, username, password, docker_compat=compat)
    if verbose:
        typer.echo(f"Used:  {path}")
    typer.echo("Login Succeeded!")


#: Most bytes read from standard input for a password (Go's `bufio.Scanner` token limit).
MAX_PASSWORD_INPUT = 64 * 1024


def _password_from_stdin() -> str:
    """All lines of stdin joined, as podman's `--password-stdin`; at most
    `MAX_PASSWORD_INPUT` bytes are read (an endless stdin is an error, not 1 GiB of RSS)."""
    try:
        data = read_limited(sys.stdin.buffer, MAX_PASSWORD_INPUT, "the password from standard input")
    except OSError as exc:
        raise InvalidInputError(f"reading the password from standard input: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError("the password from standard input is not valid UTF-8") from exc
    # bufio.ScanLines: split at "\n", drop one "\r" before it.
    return "".join(line.removesuffix("\r") for line in text.split("\n"))


def _prompt(text: str) -> str:
    sys.stderr.write(text)
    sys.stderr.flush()
    line = sys.stdin.readline(MAX_PASSWORD_INPUT + 1)
    if len(line) > MAX_PASSWORD_INPUT:
        raise InvalidInputError(f"the answer is longer than {MAX_PASSWORD_INPUT} characters")
    return line.rstrip("\r\n")
