"""`list-tags`: the tags of a registry repository, or the images of a docker-archive.

`list_tags(image_name, ctx)` accepts only `docker://NAME` (a name without tag or digest)
and `docker-archive:PATH`, with skopeo's error texts for anything else. Returns
`(repository, tags)`; `repository` is None for docker-archive (skopeo omits the field).
"""

from __future__ import annotations

from toolkit.errors import InvalidInputError, safe_text
from toolkit.transports._docker_tar import archive_tags
from toolkit.transports.docker import list_repository_tags, parse_repository
from toolkit.types import SystemContext

__all__ = ["list_tags"]


def list_tags(image_name: str, ctx: SystemContext) -> tuple[str | None, list[str]]:
    """The tags at `image_name`; raises `InvalidInputError` for other transports."""
    transport, sep, rest = image_name.partition(":")
    if not sep:
        raise InvalidInputError(
            f'Invalid image name "{safe_text(image_name)}", expected colon-separated transport:reference'
        )
    if transport == "docker":
        repository = parse_repository(image_name)
        return repository.name, list_repository_tags(ctx, repository)
    if transport == "docker-archive":
        path = rest.split(":", 1)[0] if ":" in rest else rest
        return None, archive_tags(path, ctx)
    raise InvalidInputError(
        f"Unsupported transport '{safe_text(transport)}' for tag listing. Only supported: docker, docker-archive"
    )
