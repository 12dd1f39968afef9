"""Reusable flag groups, as skopeo's `cmd/skopeo/utils.go` defines them.

skopeo repeats the same flags with a prefix (`--src-creds`, `--dest-creds`, `--creds`).
Here a group is declared once as a list of `Flag`s; `command_with_flags` gives a command
function the full Typer signature, and the command receives the values grouped:
`values.group("src-")` returns the values of that prefix by unprefixed name.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

from toolkit._record import record
from toolkit.cli._typerinfo import argument as cheap_argument
from toolkit.cli._typerinfo import option as cheap_option
from toolkit.compression_names import LEVELS
from toolkit.errors import InvalidInputError
from toolkit.types import Credentials, OptionalBool, SystemContext

__all__ = [
    "Flag",
    "FlagValues",
    "auth_flags",
    "image_flags",
    "dest_flags",
    "retry_flags",
    "copy_shared_flags",
    "command_with_flags",
    "image_argument",
    "system_context",
]

F = TypeVar("F", bound=Callable[..., Any])


@record
class Flag:
    """One command-line flag: `name` without dashes (`src-creds`), python type and default."""

    name: str
    type: Any
    default: Any
    help: str
    metavar: str | None = None
    hidden: bool = False
    short: str | None = None
    #: For optional booleans (absent / true / false): a `--no-` form for the parser.
    tristate: bool = False
    #: A (hidden) second spelling of the flag named here: its value is used when that
    #: flag is not given (skopeo's `--screds`/`--dcreds`).
    alias_of: str | None = None

    @property
    def param(self) -> str:
        return self.name.replace("-", "_").replace(".", "_")

    def parameter(self) -> inspect.Parameter:
        """The keyword parameter Typer reads this flag from, in Typer's default style
        (`name: TYPE = typer.Option(DEFAULT, *DECLS, ...)`): the same option as
        `Annotated[TYPE, typer.Option(*DECLS, ...)] = DEFAULT`, for less of Typer's work
        (an `Annotated` type made per flag, and one more copy of its `OptionInfo` per read).
        The option is made by copying (`cli/_typerinfo.py`), the same object for less work."""
        decls = [f"--{self.name}"]
        if self.tristate:
            decls = [f"--{self.name}/--no-{self.name}"]
        if self.short:
            decls.append(self.short)
        option = cheap_option(
            self.default, *decls, help=self.help, metavar=self.metavar, hidden=self.hidden, show_default=False
        )
        return inspect.Parameter(self.param, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=self.type)


class FlagValues:
    """The values of a command's flags, by flag name."""

    def __init__(self, values: dict[str, Any], flags: list[Flag]) -> None:
        self._values = values
        self._flags = {f.name: f for f in flags}

    def get(self, name: str) -> Any:
        flag = self._flags[name]
        value = self._values.get(flag.param, flag.default)
        if value == flag.default:
            for alias in self._flags.values():
                if alias.alias_of == name:
                    aliased = self._values.get(alias.param, alias.default)
                    if aliased != alias.default:
                        return aliased
        return value

    def has(self, name: str) -> bool:
        """Whether the command has the flag `name`."""
        return name in self._flags

    def group(self, prefix: str) -> dict[str, Any]:
        """Values of the flags named `prefix + x`, keyed by `x`."""
        return {
            name[len(prefix) :]: self.get(name)
            for name, flag in self._flags.items()
            if name.startswith(prefix) and flag.alias_of is None
        }

    def was_set(self, name: str) -> bool:
        return bool(self.get(name) != self._flags[name].default)


def auth_flags(prefix: str, *, with_shared_authfile: bool = False, creds_alias: str | None = None) -> list[Flag]:
    """AUTH group: credentials and TLS for one image (prefix "", "src-" or "dest-");
    `creds_alias` adds skopeo's hidden old spelling of `--PREFIXcreds` (`screds`, `dcreds`)."""
    flags: list[Flag] = []
    if with_shared_authfile or not prefix:
        flags.append(
            Flag("authfile", Path | None, None, "path of the authentication file (default: $REGISTRY_AUTH_FILE "
                 "or the standard auth.json locations)", metavar="PATH")
        )
    if prefix:
        flags.append(Flag(f"{prefix}authfile", Path | None, None, "path of the authentication file for this image",
                          metavar="PATH"))
    flags += [
        Flag(f"{prefix}creds", str | None, None, "Use USERNAME[:PASSWORD] for accessing the registry",
             metavar="USERNAME[:PASSWORD]"),
        Flag(f"{prefix}username", str | None, None, "The username to access the registry", metavar="USERNAME"),
        Flag(f"{prefix}password", str | None, None, "The password to access the registry", metavar="PASSWORD"),
        Flag(f"{prefix}registry-token", str | None, None, "Provide a Bearer token for accessing the registry",
             metavar="TOKEN"),
        Flag(f"{prefix}cert-dir", Path | None, None,
             "use certificates at PATH (*.crt, *.cert, *.key) to connect to the registry or daemon", metavar="PATH"),
        Flag(f"{prefix}tls-verify", bool | None, None,
             "require HTTPS and verify certificates when talking to the container registry or daemon",
             tristate=True),
        Flag(f"{prefix}no-creds", bool, False, "Access the registry anonymously"),
    ]
    if creds_alias is not None:
        flags.append(Flag(creds_alias, str | None, None, f"Same as --{prefix}creds", metavar="USERNAME[:PASSWORD]",
                          hidden=True, alias_of=f"{prefix}creds"))
    return flags


def deprecated_tls_verify_flag() -> list[Flag]:
    """copy's and sync's hidden, deprecated unprefixed `--tls-verify` (skopeo's
    `deprecatedTLSVerifyFlags`): it applies to the registries of both images, unless their
    own `--src-tls-verify`/`--dest-tls-verify` is given; `warn_deprecated_tls_verify` warns."""
    return [Flag("tls-verify", bool | None, None,
                 "require HTTPS and verify certificates when accessing the container registry (deprecated)",
                 hidden=True, tristate=True)]


def warn_deprecated_tls_verify(values: FlagValues, warn: Callable[[str], None]) -> None:
    """skopeo's `warnIfUsed`: one warning when copy's or sync's `--tls-verify` is given."""
    if values.has("tls-verify") and values.get("tls-verify") is not None:
        warn("'--tls-verify' is deprecated, instead use: --src-tls-verify, --dest-tls-verify")


def image_flags(prefix: str, *, with_shared_authfile: bool = False, creds_alias: str | None = None) -> list[Flag]:
    """IMG group: AUTH plus `shared-blob-dir` (oci:) and `daemon-host` (docker-daemon:)."""
    return [
        *auth_flags(prefix, with_shared_authfile=with_shared_authfile, creds_alias=creds_alias),
        Flag(f"{prefix}shared-blob-dir", Path | None, None,
             "DIRECTORY to use to share blobs across OCI repositories", metavar="DIRECTORY"),
        Flag(f"{prefix}daemon-host", str | None, None,
             "use docker daemon host at HOST (docker-daemon: only)", metavar="HOST"),
    ]


#: The compressions a copy can write and their levels, for the help texts (the names alone:
#: toolkit.compression, with its codecs, is imported only by commands that compress).
_WRITABLE: Final = {name: levels for name, levels in LEVELS.items() if levels}


def _levels(name: str) -> str:
    levels = _WRITABLE[name]
    return f"{name} {levels[0]}-{levels[-1]}"


def dest_flags() -> list[Flag]:
    """DEST group: IMG for `dest-` (with the hidden `--dcreds`) plus compression choices."""
    return [
        *image_flags("dest-", creds_alias="dcreds"),
        Flag("dest-compress", bool, False,
             "Compress layers when saving to the destination (dir:; docker-archive: keeps layers compressed)"),
        Flag("dest-decompress", bool, False, "Decompress layers when saving to the destination (dir: only)"),
        Flag("dest-oci-accept-uncompressed-layers", bool, False,
             "Allow uncompressed image layers when saving to an OCI image using oci transport"),
        Flag("dest-compress-format", str | None, None,
             f"FORMAT to use for the compression ({', '.join(_WRITABLE)})", metavar="FORMAT"),
        Flag("dest-compress-level", int | None, None,
             f"LEVEL to use for the compression ({', '.join(_levels(name) for name in _WRITABLE)})", metavar="LEVEL"),
        Flag("dest-precompute-digests", bool, False,
             "Precompute digests to prevent uploading layers already on the registry using the 'docker' transport"),
        Flag("dest-force-compress-format", bool, False,
             "Force exclusive use of the compression algorithm set in --dest-compress-format (no reuse of "
             "blobs the destination has in another format)"),
    ]


def retry_flags() -> list[Flag]:
    """RETRY group: whole-operation retries."""
    return [
        Flag("retry-times", int, 0, "the number of times to possibly retry", metavar="N"),
        Flag("retry-delay", str, "0", "Fixed delay between retries (default: exponential back-off)",
             metavar="DURATION"),
    ]


def copy_shared_flags() -> list[Flag]:
    """COPYSHARED group: signatures and manifest format."""
    return [
        Flag("remove-signatures", bool, False, "Do not copy signatures from SOURCE-IMAGE"),
        Flag("remove-list-signatures", bool, False,
             "Do not copy manifest list signatures (preserves per-instance signatures)"),
        Flag("sign-by", str | None, None, "Sign the image using a GPG key with the specified FINGERPRINT",
             metavar="FINGERPRINT"),
        Flag("sign-by-sq-fingerprint", str | None, None,
             "Sign the image using a Sequoia-PGP key with the specified FINGERPRINT (not supported by skopo)",
             metavar="FINGERPRINT"),
        Flag("sign-by-sigstore-private-key", Path | None, None,
             "Sign the image using a sigstore private key at PATH", metavar="PATH"),
        Flag("sign-by-sigstore", Path | None, None,
             "Sign the image using a sigstore parameter file at PATH (privateKeyFile; fulcio and rekorURL are "
             "refused)", metavar="PATH"),
        Flag("sign-passphrase-file", Path | None, None, "Read a passphrase for signing an image from PATH",
             metavar="PATH"),
        Flag("format", str | None, None, "MANIFEST TYPE (oci, v2s1, or v2s2) to use in the destination "
             "(default is manifest type of source, with fallbacks)",
             metavar="MANIFEST-TYPE", short="-f"),
        Flag("preserve-digests", bool, False, "Preserve digests of images and lists"),
    ]


def image_argument(metavar: str) -> Any:
    """The `typer.Argument` of an image name (`IMAGE-NAME`...), completed by
    `cli/completion.py`'s `complete_image_name`, which only a completion request loads."""
    return cheap_argument(metavar=metavar, show_default=False, autocompletion=_complete_image_name)


def _complete_image_name(incomplete: str) -> list[str]:
    """`complete_image_name`, its module loaded on first call."""
    from toolkit.cli.completion import complete_image_name

    return complete_image_name(incomplete)


# Typer reads a completion callback's signature and type hints when it converts the
# argument, on every run: evaluated annotations spare it compiling these strings each time.
_complete_image_name.__annotations__ = {"incomplete": str, "return": list[str]}


def command_with_flags(*flag_groups: list[Flag]) -> Callable[[F], F]:
    """Give a command function the Typer parameters of `flag_groups`.

    The function keeps its own leading parameters (context, arguments) and receives the
    flag values as a `FlagValues` in its keyword parameter `flags`.

    The returned function's parameters are its `__signature__` (annotations evaluated);
    its `__annotations__` is empty: Typer reads the signature, and the type hints it also
    asks for (`typing.get_type_hints`, twice per conversion, ~2 us per flag to evaluate)
    would only repeat them.
    """
    flags = [flag for group in flag_groups for flag in group]

    def decorate(func: F) -> F:
        own = [p for p in inspect.signature(func, eval_str=True).parameters.values() if p.name != "flags"]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            values = {f.param: kwargs.pop(f.param) for f in flags if f.param in kwargs}
            return func(*args, flags=FlagValues(values, flags), **kwargs)

        seen: set[str] = set()
        params = list(own)
        for flag in flags:
            if flag.param not in seen:
                seen.add(flag.param)
                params.append(flag.parameter())
        wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {}
        return wrapper  # type: ignore[return-value]

    return decorate


def parse_creds(text: str, flag: str) -> Credentials:
    """`USER[:PASSWORD]` as skopeo parses it (split at the first colon)."""
    if not text:
        raise InvalidInputError("credentials can't be empty")
    user, _, password = text.partition(":")
    if not user:
        raise InvalidInputError("username can't be empty")
    return Credentials(username=user, password=password)


def system_context(
    values: FlagValues,
    prefix: str,
    *,
    base: SystemContext,
) -> SystemContext:
    """Build the `SystemContext` for one image from its flag group (`prefix` "", "src-", "dest-").

    Applies skopeo's validation of credential flag combinations.
    """
    group = values.group(prefix)
    creds_text: str | None = group.get("creds")
    username: str | None = group.get("username")
    password: str | None = group.get("password")
    no_creds: bool = bool(group.get("no-creds"))
    if no_creds and creds_text is not None:
        raise InvalidInputError(f"--{prefix}creds and --{prefix}no-creds cannot be specified at the same time")
    if no_creds and username is not None:
        raise InvalidInputError(f"--{prefix}username and --{prefix}no-creds cannot be specified at the same time")
    if creds_text is not None and username is not None:
        raise InvalidInputError(f"--{prefix}creds and --{prefix}username cannot be specified at the same time")
    if username is not None and password is None:
        raise InvalidInputError(f"--{prefix}password must be specified when --{prefix}username is specified")
    if password is not None and username is None:
        raise InvalidInputError(f"--{prefix}username must be specified when --{prefix}password is specified")
    credentials: Credentials | None = None
    if creds_text is not None:
        credentials = parse_creds(creds_text, f"--{prefix}creds")
    elif username is not None:
        credentials = Credentials(username=username, password=password or "")
    authfile = group.get("authfile")
    if authfile is None and prefix:
        authfile = values.get("authfile") if "authfile" in values.group("") else None
    tls_verify = group.get("tls-verify")
    # copy's and sync's deprecated unprefixed --tls-verify, else the root-level one.
    deprecated = base.deprecated_tls_verify
    if prefix and values.has("tls-verify") and values.get("tls-verify") is not None:
        deprecated = OptionalBool.of(values.get("tls-verify"))
    shared_blob_dir = group.get("shared-blob-dir")
    daemon_host = group.get("daemon-host")
    return SystemContext(
        override_os=base.override_os,
        override_arch=base.override_arch,
        override_variant=base.override_variant,
        tmpdir=base.tmpdir,
        registries_d_path=base.registries_d_path,
        registries_conf_path=base.registries_conf_path,
        auth_file_path=authfile,
        credentials=credentials,
        no_credentials=no_creds,
        registry_token=group.get("registry-token") or "",
        cert_dir=group.get("cert-dir"),
        tls_verify=OptionalBool.of(tls_verify),
        user_agent=base.user_agent,
        oci_shared_blob_dir=shared_blob_dir,
        oci_accept_uncompressed_layers=bool(group.get("oci-accept-uncompressed-layers") or False),
        daemon_host=daemon_host or "",
        max_decompressed_size=base.max_decompressed_size,
        deprecated_tls_verify=deprecated,
        tls_details=base.tls_details,
    )
