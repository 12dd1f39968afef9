"""Repository-level verbs of `docker://`: tag listing, delete, and a cheap manifest probe
(containers/image `docker_image.go` `GetRepositoryTags`, `docker_image_src.go`
`deleteImage`).

Untrusted input: tag lists are JSON of at most 8 MiB a page; invalid tags are skipped;
`Link` pagination is reduced to its path on the same registry; more than `MAX_TAG_PAGES`
pages, or a page link that repeats, is an error (never a silently truncated list). A delete resolves a tag to the digest
of the exact manifest bytes served, then deletes by that digest.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import urlsplit

from toolkit.config.registries_conf import load_registries_conf
from toolkit.digest import Digest
from toolkit.errors import RegistryError, ToolkitError, safe_text
from toolkit.limits import MAX_MANIFEST_SIZE
from toolkit.manifest import manifest_digest
from toolkit.reference import NamedReference, is_valid_tag
from toolkit.transports.docker._client import RegistryClient, scope_for
from toolkit.transports.docker._response import Response, error_from_response, read_limited_body
from toolkit.transports.docker._source import (
    MANIFEST_ACCEPT,
    client_for,
    head_manifest,
    manifest_path,
    manifest_tail,
)
from toolkit.types import SystemContext

__all__ = ["list_tags", "list_repository_tags", "delete_image", "link_next", "ManifestProbe", "MAX_TAG_PAGES"]

log = logging.getLogger(__name__)

MAX_TAG_PAGES = 1000
MAX_TAG_PAGE_SIZE = 8 << 20


def link_next(resp: Response) -> str | None:
    """The path (and query) of a `Link: <...>; rel="next"` header; only the path is used."""
    link = resp.headers.get("Link")
    if not link:
        return None
    target = link.split(";", 1)[0].strip().strip("<>")
    parts = urlsplit(target)
    if not parts.path.startswith("/v2/"):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def list_tags(ctx: SystemContext, ref: NamedReference) -> list[str]:
    """Every tag of repository `ref` (registry order), following `Link` pagination.

    Invalid tags (not matching the tag grammar) are skipped. More than `MAX_TAG_PAGES` pages,
    or a page link that repeats, raises `RegistryError` (the list would be incomplete).
    """
    conf = load_registries_conf(ctx)
    conf.check_not_blocked(ref)
    client = client_for(ctx, conf, ref, "pull")
    try:
        tags: list[str] = []
        path: str | None = f"/v2/{ref.path}/tags/list"
        seen: set[str] = set()
        pages = 0
        while path is not None:
            # A truncated list is an error, never a silent short answer (as the signature cap).
            if pages >= MAX_TAG_PAGES:
                raise RegistryError(
                    f"fetching tags list of {ref.name}: the registry returned more than {MAX_TAG_PAGES} pages "
                    f"(the limit); the list is incomplete"
                )
            if path in seen:
                raise RegistryError(
                    f"fetching tags list of {ref.name}: the registry's pagination loops (page {safe_text(path, 200)} "
                    "was already read)"
                )
            seen.add(path)
            pages += 1
            doc, resp = client.get_json(path, MAX_TAG_PAGE_SIZE, f"fetching tags list of {ref.name}")
            page = doc.get("tags") if isinstance(doc, dict) else None
            if isinstance(page, list):
                for tag in page:
                    if isinstance(tag, str) and is_valid_tag(tag):
                        tags.append(tag)
                    elif tag is not None:
                        log.debug("ignoring invalid tag %r from the registry", safe_text(str(tag), 80))
            path = link_next(resp)
        return tags
    finally:
        client.close()


def delete_image(ctx: SystemContext, ref: NamedReference) -> None:
    """Delete the manifest `ref` points to (a tag is resolved to its digest first).

    Deleting by digest removes every tag pointing at that manifest, as in skopeo.
    """
    conf = load_registries_conf(ctx)
    conf.check_not_blocked(ref)
    client = client_for(ctx, conf, ref, "*")
    try:
        tail = manifest_tail(ref)
        resp = client.request("GET", manifest_path(ref, tail), headers={"Accept": MANIFEST_ACCEPT})
        if resp.status_code == 404:
            resp.close()
            raise RegistryError(
                f"Unable to delete {ref}. Image may not exist or is not stored with a v2 Schema in a v2 registry"
            )
        if resp.status_code != 200:
            raise error_from_response(resp, f"deleting {ref}")
        raw = read_limited_body(resp, MAX_MANIFEST_SIZE, "manifest")
        digest = manifest_digest(raw)
        resp = client.request("DELETE", manifest_path(ref, str(digest)), headers={"Accept": MANIFEST_ACCEPT})
        if resp.status_code != 202:
            raise error_from_response(resp, f"deleting {ref}")
        resp.close()
    finally:
        client.close()


def list_repository_tags(ctx: SystemContext, repository: NamedReference) -> list[str]:
    """Every tag of `repository` (a name-only reference), in registry order."""
    if not repository.is_name_only():
        raise ToolkitError("No tag or digest allowed in reference")
    return list_tags(ctx, repository)


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
        if there is none or the registry does not say. Raises `InvalidReferenceError` for
        a `ref` without exactly one of tag and digest, `ToolkitError` for other failures
        (auth, network, server errors)."""
        return head_manifest(self._client(ref), ref)

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
