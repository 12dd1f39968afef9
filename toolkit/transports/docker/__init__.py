"""The `docker://` transport: images in a container registry (Docker Registry API v2 / OCI
distribution), after containers/image `docker/`.

References: `//name[:tag|@digest]`; the leading `//` is required; a name alone gets
`:latest`; a tag together with a digest is refused (as containers/image does). Names are
normalised (`busybox` -> `docker.io/library/busybox`).

Policy scopes (containers/image `docker/policyconfiguration`): the identity is
`host[:port]/path:tag` or `host[:port]/path@digest`; the namespaces are every parent of
the repository name up to the host, then wildcard domains (`*.example.com`, `*.com`) with
the port stripped.

This package is the only user of `requests` (layer rule). See `_reference` for the
reference and transport objects, `_client` for the HTTP safety rules (TLS, redirects,
retries), `_auth` for authentication and its safety rules, `_image` for the
source/destination contracts.
"""

from __future__ import annotations

import threading

from toolkit.config.registries_conf import load_registries_conf
from toolkit.digest import Digest
from toolkit.errors import ToolkitError
from toolkit.reference import NamedReference
from toolkit.transports.docker._client import RegistryClient, scope_for
from toolkit.transports.docker._errors import UnauthorizedError
from toolkit.transports.docker._image import head_manifest, list_tags
from toolkit.transports.docker._reference import TRANSPORT, DockerReference, DockerTransport, parse_repository
from toolkit.transports.docker._response import error_from_response
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
