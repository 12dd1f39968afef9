"""`list-tags`: the tags at a tag source, through the transport registry.

`list_tags(image_name, ctx)` looks the transport up by name and asks it
(`TagListingTransport.list_tags_at`): the built-in ones are `docker://NAME` (a repository,
without tag or digest) and `docker-archive:PATH`; a plugin transport can be one too.
Returns `(repository, tags)`; `repository` is None where skopeo omits the field
(docker-archive). Other transports get skopeo's error text, naming those that can.
"""

from __future__ import annotations

from toolkit.errors import InvalidInputError, ToolkitError, safe_text
from toolkit.transports import get_transport, transport_names
from toolkit.transports.base import TagListingTransport
from toolkit.types import SystemContext

__all__ = ["list_tags"]


def list_tags(image_name: str, ctx: SystemContext) -> tuple[str | None, list[str]]:
    """The tags at `image_name`; raises `InvalidInputError` for other transports."""
    transport_name, sep, rest = image_name.partition(":")
    if not sep:
        raise InvalidInputError(
            f'Invalid image name "{safe_text(image_name)}", expected colon-separated transport:reference'
        )
    transport = get_transport(transport_name) if transport_name in transport_names() else None
    if not isinstance(transport, TagListingTransport):
        raise InvalidInputError(
            f"Unsupported transport '{safe_text(transport_name)}' for tag listing. "
            f"Only supported: {', '.join(_tag_listing_transports())}"
        )
    return transport.list_tags_at(rest, ctx)


def _tag_listing_transports() -> list[str]:
    names = []
    for name in transport_names():
        try:
            if isinstance(get_transport(name), TagListingTransport):
                names.append(name)
        except ToolkitError:  # a plugin that fails to load is not a tag source
            continue
    return names
