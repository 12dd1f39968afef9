"""`docker://` references and the transport object (containers/image `docker/docker_transport.go`).

References: `//name[:tag|@digest]`; the leading `//` is required; a name alone gets
`:latest`; a tag together with a digest is refused (as containers/image does). Names are
normalised (`busybox` -> `docker.io/library/busybox`).

Policy scopes (containers/image `docker/policyconfiguration`): the identity is
`host[:port]/path:tag` or `host[:port]/path@digest`; the namespaces are every parent of
the repository name up to the host, then wildcard domains (`*.example.com`, `*.com`) with
the port stripped. Pure: no I/O until a source, destination or delete is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

from toolkit.errors import InvalidImageNameError, InvalidReferenceError, PolicyError, safe_text
from toolkit.reference import NamedReference, parse_normalized_named, policy_namespaces, tag_name_only
from toolkit.transports.docker._destination import DockerImageDestination
from toolkit.transports.docker._repository import delete_image, list_repository_tags, list_tags
from toolkit.transports.docker._source import DockerImageSource, manifest_tail
from toolkit.types import SystemContext

__all__ = ["TRANSPORT", "DockerTransport", "DockerReference", "parse_repository"]


@dataclass(frozen=True, slots=True)
class DockerTransport:
    """The `docker` transport."""

    name: str = "docker"

    def parse_reference(self, reference: str) -> DockerReference:
        """Parse `//name[:tag|@digest]`; raises `InvalidImageNameError`/`InvalidReferenceError`."""
        if not reference.startswith("//"):
            raise InvalidImageNameError(
                f"docker: image reference {safe_text(reference)} does not start with //"
            )
        ref = tag_name_only(parse_normalized_named(reference[2:]))
        return DockerReference.of(ref)

    def list_tags_at(self, reference: str, ctx: SystemContext) -> tuple[str | None, list[str]]:
        """`list-tags docker://NAME`: every tag of a repository (a name without tag or digest)."""
        repository = parse_repository(f"docker:{reference}")
        return repository.name, list_repository_tags(ctx, repository)

    def validate_policy_configuration_scope(self, scope: str) -> None:
        """Any non-empty scope is accepted (as containers/image), except malformed wildcards."""
        if not isinstance(scope, str) or not scope:
            raise PolicyError("invalid docker policy scope")
        if "*" in scope and not (scope.startswith("*.") and "*" not in scope[2:] and "/" not in scope):
            raise PolicyError(f"invalid wildcard docker policy scope {safe_text(scope)!r}")


TRANSPORT = DockerTransport()


@dataclass(frozen=True, slots=True)
class DockerReference:
    """A registry image: a normalised reference with exactly one of tag and digest."""

    ref: NamedReference

    @classmethod
    def of(cls, ref: NamedReference) -> DockerReference:
        """Raises `InvalidReferenceError` unless `ref` has exactly one of tag and digest."""
        manifest_tail(ref)  # the check
        return cls(ref)

    @property
    def transport(self) -> DockerTransport:
        return TRANSPORT

    def string_within_transport(self) -> str:
        return "//" + self.ref.familiar_string()

    def docker_reference(self) -> NamedReference:
        return self.ref

    def policy_configuration_identity(self) -> str:
        return str(self.ref)

    def policy_configuration_namespaces(self) -> list[str]:
        return policy_namespaces(self.ref)

    def new_image_source(self, ctx: SystemContext) -> DockerImageSource:
        return DockerImageSource(self, ctx)

    def new_image_destination(self, ctx: SystemContext) -> DockerImageDestination:
        return DockerImageDestination(self, ctx)

    def delete_image(self, ctx: SystemContext) -> None:
        delete_image(ctx, self.ref)

    def list_tags(self, ctx: SystemContext) -> list[str]:
        """Every tag of this image's repository (for `inspect`'s RepoTags)."""
        return list_tags(ctx, self.ref.name_only())

    def __str__(self) -> str:
        return f"docker:{self.string_within_transport()}"


def parse_repository(text: str) -> NamedReference:
    """`docker://name` for `list-tags`: must be a name without tag or digest."""
    if not text.startswith("docker://"):
        raise InvalidImageNameError(f"docker: image reference {safe_text(text)} does not start with docker://")
    ref = parse_normalized_named(text[len("docker://") :])
    if not ref.is_name_only():
        raise InvalidReferenceError("No tag or digest allowed in reference")
    return ref
