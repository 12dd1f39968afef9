"""The `docker://` transport: images in a container registry (Docker Registry API v2 / OCI
distribution), after containers/image `docker/`.

References: `//name[:tag|@digest]`; the leading `//` is required; a name alone gets
`:latest`; a tag together with a digest is refused (as containers/image does). Names are
normalised (`busybox` -> `docker.io/library/busybox`).

Policy scopes (containers/image `docker/policyconfiguration`): the identity is
`host[:port]/path:tag` or `host[:port]/path@digest`; the namespaces are every parent of
the repository name up to the host, then wildcard domains (`*.example.com`, `*.com`) with
the port stripped.

This package is the only user of `requests` (layer rule). See `_client` for the HTTP
safety rules, `_image` for the source/destination contracts.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from toolkit.config.registries_conf import load_registries_conf
from toolkit.digest import Digest
from toolkit.errors import InvalidImageNameError, InvalidReferenceError, PolicyError, ToolkitError, safe_text
from toolkit.reference import NamedReference, parse_normalized_named, policy_namespaces, tag_name_only
from toolkit.transports.docker._client import RegistryClient, error_from_response, scope_for
from toolkit.transports.docker._errors import UnauthorizedError
from toolkit.transports.docker._image import (
    DockerImageDestination,
    DockerImageSource,
    delete_image,
    head_manifest,
    list_tags,
)
from toolkit.types import Credentials, SystemContext

__all__ = [
    "TRANSPORT",
    "DockerTransport",
    "DockerReference",
    "parse_repository",
    "list_repository_tags",
    "check_auth",
    "ManifestProbe",
    "UnauthorizedError",
]


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
        if ref.is_name_only():
            raise InvalidReferenceError(f"Docker reference {ref.familiar_string()} has neither a tag nor a digest")
        if ref.tag is not None and ref.digest is not None:
            raise InvalidReferenceError("Docker references with both a tag and digest are currently not supported")
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


def list_repository_tags(ctx: SystemContext, repository: NamedReference) -> list[str]:
    """Every tag of `repository` (a name-only reference), in registry order."""
    if not repository.is_name_only():
        raise ToolkitError("No tag or digest allowed in reference")
    return list_tags(ctx, repository)


def check_auth(ctx: SystemContext, registry: str, credentials: Credentials) -> None:
    """Check `credentials` against `registry` (`GET /v2/` authenticated, as `login` does).

    Raises `UnauthorizedError` for refused credentials, other `ToolkitError`s otherwise.
    """
    client = RegistryClient(ctx, registry, credentials=credentials)
    try:
        resp = client.request("GET", "/v2/")
        if resp.status_code == 401:
            raise error_from_response(resp, "checking credentials")
        if resp.status_code != 200:
            raise error_from_response(resp, f"pinging container registry {client.host}")
        resp.close()
    finally:
        client.close()


class ManifestProbe:
    """Cheap "which manifest is at this reference?" answers for many references: one
    `HEAD /v2/<name>/manifests/<tag|digest>` each, no manifest body transferred.

    One `RegistryClient` (connection pool, ping, bearer token) per repository is kept for
    the probe's lifetime, so N tags of a repository cost N HEADs plus one handshake.
    Thread-safe. Close it (or use it as a context manager) to release the connections.
    Contacts the primary location only (registries.conf mirrors are not consulted; a blocked
    registry raises as any access would).
    """

    def __init__(self, ctx: SystemContext) -> None:
        self._ctx = ctx
        self._conf = load_registries_conf(ctx)
        self._clients: dict[tuple[str, str], RegistryClient] = {}
        self._lock = threading.Lock()

    def _client(self, ref: NamedReference) -> RegistryClient:
        key = (ref.domain, ref.path)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                self._conf.check_not_blocked(ref)
                client = RegistryClient(
                    self._ctx,
                    ref.domain,
                    repo_name=ref.name,
                    scopes=[scope_for(ref.path, "pull")],
                    insecure=self._conf.is_insecure(ref.domain),
                )
                self._clients[key] = client
            return client

    def manifest(self, ref: NamedReference) -> tuple[Digest, str] | None:
        """`(digest, MIME type)` of the manifest `ref` (tagged or digested) points to; None
        if there is none or the registry does not say. Raises `ToolkitError` for other
        failures (auth, network, server errors)."""
        return head_manifest(self._client(ref), DockerReference.of(ref).ref)

    def close(self) -> None:
        with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
        for client in clients:
            client.close()

    def __enter__(self) -> ManifestProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
