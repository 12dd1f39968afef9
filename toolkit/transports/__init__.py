"""Transport registry: `parse_image_name("transport:rest")` over entry points.

Every transport, built-in or plugin, is an object registered in the entry-point group
`toolkit.transports` under its name. skopo's own transports are also listed in `BUILTIN`,
so that naming one costs no entry-point scan (`toolkit.plugins`); only a name that is not
built in makes the registry scan the installed distributions. Transports are loaded
lazily, one at a time, so a broken plugin only affects names that use it, and a command
imports only the transports it names (no `requests` for `oci:`).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from toolkit import plugins
from toolkit.errors import InvalidImageNameError, ToolkitError, safe_text

if TYPE_CHECKING:
    from toolkit.transports.base import ImageReference, Transport

__all__ = ["BUILTIN", "ENTRY_POINT_GROUP", "parse_image_name", "get_transport", "transport_names"]

ENTRY_POINT_GROUP = "toolkit.transports"

#: skopo's transports: name -> "module:attribute", as in `[project.entry-points."toolkit.transports"]`.
BUILTIN: dict[str, str] = {
    "docker": "toolkit.transports.docker:TRANSPORT",
    "docker-archive": "toolkit.transports.docker_archive:TRANSPORT",
    "oci": "toolkit.transports.oci:TRANSPORT",
    "oci-archive": "toolkit.transports.oci_archive:TRANSPORT",
    "dir": "toolkit.transports.dir:TRANSPORT",
    "docker-daemon": "toolkit.transports.docker_daemon:TRANSPORT",
    "tarball": "toolkit.transports.tarball:TRANSPORT",
    "containers-storage": "toolkit.transports.containers_storage:TRANSPORT",
    "sif": "toolkit.transports.sif:TRANSPORT",
    "atomic": "toolkit.transports.unsupported:ATOMIC",
    "ostree": "toolkit.transports.unsupported:OSTREE",
}


@cache
def _lookup(name: str) -> plugins.Loadable | None:
    return plugins.find(ENTRY_POINT_GROUP, BUILTIN, name)


def transport_names() -> list[str]:
    """Names of every registered transport, sorted."""
    return sorted(plugins.registered(ENTRY_POINT_GROUP, BUILTIN))


@cache
def get_transport(name: str) -> Transport:
    """The transport registered as `name`.

    Raises `InvalidImageNameError` if no such transport is registered and `ToolkitError`
    if its plugin fails to load.
    """
    ep = _lookup(name)
    if ep is None:
        raise InvalidImageNameError(f'unknown transport "{safe_text(name)}"', hint=_known_transports_hint(name))
    try:
        transport: Transport = ep.load()
    except Exception as exc:  # a plugin may fail in any way; report it, never crash
        raise ToolkitError(f'transport "{name}" could not be loaded from {ep.value}: {exc}') from exc
    return transport


def _known_transports_hint(name: str) -> str:
    """`did you mean "docker"? known transports: dir, docker, ...` for an unknown `name`."""
    import difflib  # only on this error path

    names = transport_names()
    close = difflib.get_close_matches(name.lower(), names, n=1, cutoff=0.6)
    guess = f'did you mean "{close[0]}"? ' if close else ""
    return f"{guess}known transports: {', '.join(names)}"


def parse_image_name(image_name: str) -> ImageReference:
    """Parse `transport:details` (split at the first colon) into an `ImageReference`.

    Raises `InvalidImageNameError` with skopeo's wording for a missing colon or an unknown
    transport; the transport's own parser raises for bad details.
    """
    transport_name, sep, within = image_name.partition(":")
    if not sep:
        raise InvalidImageNameError(
            f'Invalid image name "{safe_text(image_name)}", expected colon-separated transport:reference'
        )
    if _lookup(transport_name) is None:
        raise InvalidImageNameError(
            f'Invalid image name "{safe_text(image_name)}", unknown transport "{safe_text(transport_name)}"',
            hint=_known_transports_hint(transport_name),
        )
    return get_transport(transport_name).parse_reference(within)
