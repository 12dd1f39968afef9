"""The `docker://` transport: images in a container registry (Docker Registry API v2 / OCI
distribution), after containers/image `docker/`. References are `docker://name[:tag|@digest]`;
their syntax, normalisation and policy scopes are `_reference`'s.

This package is the only user of `requests` (layer rule). Its rooms, by role (this
face only re-exports):
- `_reference`: the reference and the transport object (pure);
- `_source`, `_destination`: the image source and destination contracts;
- `_repository`: tag listing, delete, the manifest probe of `sync`;
- `_client`: the HTTP client and its safety rules (TLS, pooling, redirects, retries);
- `_auth`: authentication (challenges, Basic, Bearer tokens) and its safety rules;
- `_response`, `_errors`, `_body`: reading untrusted responses, errcodes, resumable blobs;
- `_lookaside`, `_attachments`: lookaside signature I/O and sigstore attachments.

The names below are resolved on first use (`toolkit._lazy`): the transport table imports
this package for `TRANSPORT` on every command naming a `docker://` image, and parsing one
needs no HTTP stack; `requests` is imported with the first source, destination, tag list
or login that talks to a registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolkit._lazy import lazy_getattr
from toolkit.transports.docker._reference import TRANSPORT, DockerReference, DockerTransport, parse_repository

if TYPE_CHECKING:
    from toolkit.transports.docker._client import check_auth
    from toolkit.transports.docker._errors import UnauthorizedError
    from toolkit.transports.docker._repository import ManifestProbe, list_repository_tags

__getattr__ = lazy_getattr(
    __name__,
    {
        "check_auth": "_client",
        "UnauthorizedError": "_errors",
        "ManifestProbe": "_repository",
        "list_repository_tags": "_repository",
    },
    globals(),
)

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
