"""Transport registry: `parse_image_name("transport:rest")` over entry points.

Every transport, built-in or plugin, is an object registered in the entry-point group
`toolkit.transports` under its name. Entry points are loaded lazily, one at a time, so a
broken plugin only affects names that use it.
"""

from __future__ import annotations

import logging
from functools import cache
from importlib.metadata import EntryPoint

from toolkit.errors import InvalidImageNameError, ToolkitError, safe_text
from toolkit.plugins import entry_points_of
from toolkit.transports.base import ImageReference, Transport

__all__ = ["ENTRY_POINT_GROUP", "parse_image_name", "get_transport", "transport_names"]

ENTRY_POINT_GROUP = "toolkit.transports"
log = logging.getLogger(__name__)


@cache
def _entry_points() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points_of(ENTRY_POINT_GROUP):
        # First registration wins, so a plugin cannot silently replace a built-in.
        found.setdefault(ep.name, ep)
    return found


def transport_names() -> list[str]:
    """Names of every registered transport, sorted."""
    return sorted(_entry_points())


@cache
def get_transport(name: str) -> Transport:
    """The transport registered as `name`.

    Raises `InvalidImageNameError` if no such transport is registered and `ToolkitError`
    if its plugin fails to load.
    """
    ep = _entry_points().get(name)
    if ep is None:
        raise InvalidImageNameError(f'unknown transport "{safe_text(name)}"{_known_transports_hint(name)}')
    try:
        transport: Transport = ep.load()
    except Exception as exc:  # a plugin may fail in any way; report it, never crash
        raise ToolkitError(f'transport "{name}" could not be loaded from {ep.value}: {exc}') from exc
    return transport


def _known_transports_hint(name: str) -> str:
    """` (did you mean "docker"? known transports: dir, docker, ...)` for an unknown `name`."""
    import difflib  # only on this error path

    names = transport_names()
    close = difflib.get_close_matches(name.lower(), names, n=1, cutoff=0.6)
    guess = f'did you mean "{close[0]}"? ' if close else ""
    return f" ({guess}known transports: {', '.join(names)})"


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
    if transport_name not in _entry_points():
        raise InvalidImageNameError(
            f'Invalid image name "{safe_text(image_name)}", unknown transport "{safe_text(transport_name)}"'
            + _known_transports_hint(transport_name)
        )
    return get_transport(transport_name).parse_reference(within)
