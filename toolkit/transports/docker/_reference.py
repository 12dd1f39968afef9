"""`docker://` references and the transport object (containers/image `docker/docker_transport.go`).

References: `//name[:tag|@digest]`; the leading `//` is required; a name alone gets
`:latest`; a tag together with a digest is refused (as containers/image does). Names are
normalised (`busybox` -> `docker.io/library/busybox`).

`//name@@unknown-digest@@` (containers/image `UnknownDigestSuffix`) is a destination only:
the image is pushed by its manifest's digest, with no tag. As in containers/image it cannot
be read (`reading images from docker: reference ... without a tag or digest is not
supported`) or deleted, its policy identity is the bare repository name (its namespaces
start at the parent) and the name must carry neither tag nor digest. The destination
declares no signature support: containers/image fails to store signatures for it *after*
pushing the manifest ("Unknown manifest digest, can't add signatures"); skopo refuses them
before anything is written.

Policy scopes (containers/image `docker/policyconfiguration`): the identity is
`host[:port]/path:tag` or `host[:port]/path@digest`; the namespaces are every parent of
the repository name up to the host, then wildcard domains (`*.example.com`, `*.com`) with
the port stripped. Pure: no I/O until a source, destination or delete is asked for, and
no HTTP stack either: the source, destination and repository modules (which bring in
`requests`) are imported by the methods that need them, so parsing a `docker://` name, or a
policy decision about one, costs no network imports.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from toolkit._record import record
from toolkit.errors import InvalidImageNameError, InvalidReferenceError, NotSupportedError, PolicyError, safe_text
from toolkit.reference import NamedReference, parse_normalized_named, policy_namespaces, tag_name_only
from toolkit.types import SystemContext

if TYPE_CHECKING:
    from toolkit.transports.docker._destination import DockerImageDestination
    from toolkit.transports.docker._source import DockerImageSource

__all__ = [
    "TRANSPORT",
    "UNKNOWN_DIGEST_SUFFIX",
    "DockerTransport",
    "DockerReference",
    "parse_repository",
    "manifest_tail",
]

#: containers/image `docker.UnknownDigestSuffix`.
UNKNOWN_DIGEST_SUFFIX = "@@unknown-digest@@"


@record
class DockerTransport:
    """The `docker` transport."""

    name: str = "docker"

    def parse_reference(self, reference: str) -> DockerReference:
        """Parse `//name[:tag|@digest]`; raises `InvalidImageNameError`/`InvalidReferenceError`."""
        if not reference.startswith("//"):
            raise InvalidImageNameError(
                f"docker: image reference {safe_text(reference)} does not start with //"
            )
        text = reference[2:]
        if text.endswith(UNKNOWN_DIGEST_SUFFIX):
            named = parse_normalized_named(text[: -len(UNKNOWN_DIGEST_SUFFIX)])
            if not named.is_name_only():
                raise InvalidReferenceError(
                    f"docker: image reference {_quote(str(named) + UNKNOWN_DIGEST_SUFFIX)} has unknown digest set "
                    "but it contains either a tag or digest"
                )
            return DockerReference(named, unknown_digest=True)
        ref = tag_name_only(parse_normalized_named(text))
        return DockerReference.of(ref)

    def list_tags_at(self, reference: str, ctx: SystemContext) -> tuple[str | None, list[str]]:
        """`list-tags docker://NAME`: every tag of a repository (a name without tag or digest)."""
        from toolkit.transports.docker._repository import list_repository_tags

        repository = parse_repository(f"docker:{reference}")
        return repository.name, list_repository_tags(ctx, repository)

    def validate_policy_configuration_scope(self, scope: str) -> None:
        """Any non-empty scope is accepted (as containers/image), except malformed wildcards."""
        if not isinstance(scope, str) or not scope:
            raise PolicyError("invalid docker policy scope")
        if "*" in scope and not (scope.startswith("*.") and "*" not in scope[2:] and "/" not in scope):
            raise PolicyError(f"invalid wildcard docker policy scope {safe_text(scope)!r}")


TRANSPORT = DockerTransport()


def manifest_tail(ref: NamedReference) -> str:
    """The digest or the tag `ref`'s manifest is addressed by.

    Raises `InvalidReferenceError` unless `ref` has exactly one of them: the rule of every
    `docker://` image reference (containers/image `newReference`).
    """
    if ref.is_name_only():
        raise InvalidReferenceError(f"Docker reference {ref.familiar_string()} has neither a tag nor a digest")
    if ref.tag is not None and ref.digest is not None:
        raise InvalidReferenceError("Docker references with both a tag and digest are currently not supported")
    if ref.digest is not None:
        return str(ref.digest)
    assert ref.tag is not None
    return ref.tag


def _quote(text: str) -> str:
    """Go's `%q` for a reference (ASCII without `<>&` by grammar: JSON quoting is the same)."""
    return json.dumps(text)


@record
class DockerReference:
    """A registry image: a normalised reference with exactly one of tag and digest, or
    (`unknown_digest`) a bare repository name to push to by digest."""

    ref: NamedReference
    unknown_digest: bool = False

    @classmethod
    def of(cls, ref: NamedReference) -> DockerReference:
        """Raises `InvalidReferenceError` unless `ref` has exactly one of tag and digest."""
        manifest_tail(ref)  # the check
        return cls(ref)

    @property
    def transport(self) -> DockerTransport:
        return TRANSPORT

    def string_within_transport(self) -> str:
        suffix = UNKNOWN_DIGEST_SUFFIX if self.unknown_digest else ""
        return "//" + self.ref.familiar_string() + suffix

    def docker_reference(self) -> NamedReference:
        return self.ref

    def policy_configuration_identity(self) -> str:
        return self.ref.name if self.unknown_digest else str(self.ref)

    def policy_configuration_namespaces(self) -> list[str]:
        namespaces = policy_namespaces(self.ref)
        if self.unknown_digest and namespaces and namespaces[0] == self.ref.name:
            return namespaces[1:]
        return namespaces

    def new_image_source(self, ctx: SystemContext) -> DockerImageSource:
        if self.unknown_digest:
            raise NotSupportedError(
                f"reading images from docker: reference {_quote(self.string_within_transport())} "
                "without a tag or digest is not supported"
            )
        from toolkit.transports.docker._source import DockerImageSource

        return DockerImageSource(self, ctx)

    def new_image_destination(self, ctx: SystemContext) -> DockerImageDestination:
        from toolkit.transports.docker._destination import DockerImageDestination

        return DockerImageDestination(self, ctx)

    def delete_image(self, ctx: SystemContext) -> None:
        if self.unknown_digest:
            raise NotSupportedError("Docker reference without a tag or digest cannot be deleted")
        from toolkit.transports.docker._repository import delete_image

        delete_image(ctx, self.ref)

    def list_tags(self, ctx: SystemContext) -> list[str]:
        """Every tag of this image's repository (for `inspect`'s RepoTags)."""
        from toolkit.transports.docker._repository import list_tags

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
