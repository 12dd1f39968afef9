"""OCI 1.1 referrers on a registry (distribution-spec 1.1: "Listing Referrers", "Pushing
Manifests with Subject", "Unavailable Referrers API / Referrers Tag Schema"), and cosign's
digest tags.

Reading (`list_referrers`): `GET /v2/<name>/referrers/<digest>`; a 200 answer is an image
index (its descriptors carry `artifactType` and annotations), followed through `Link:
<...>; rel="next"` pages; a 404 means the registry has no referrers API (docker-registry 2.8
answers a plain `404 page not found`): the referrers tag schema is read instead, the image
index tagged `referrers_tag(digest)` (404 / MANIFEST_UNKNOWN, or a tag that holds something
else than an index: no referrers, as the spec says).

Writing (`record_referrer`): after the referrer's manifest is pushed by digest, a registry
with the API answers `OCI-Subject: <subject>` and nothing more is needed; otherwise the
client maintains the tag schema index: read it, add the descriptor unless listed, push it
back under the same tag. The spec leaves races to clients ("MAY use conditional HTTP
requests"): the PUT carries `If-Match` with the ETag read (a registry that honours it
answers 412 and the update is redone), and because docker-registry 2.8 ignores `If-Match`,
the index is read again after a short randomised pause and the update redone if a
concurrent writer's push lost our entry (at most `UPDATE_ATTEMPTS` rounds, then an error).
A tag that holds something other than an index is not overwritten: that is an error.

Untrusted input, bounded: every listing page or index is at most 4 MiB and must parse as an
OCI image index (strictly; at most `MAX_LIST_ENTRIES` entries each); at most `MAX_REFERRER_PAGES` pages, a
repeated page link ends the walk, and more than `MAX_REFERRERS` descriptors is an error.
Descriptors are only hints: the copy engine fetches each manifest by digest and verifies it.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from typing import Any, Final

from toolkit.digest import Digest
from toolkit.errors import ImageNotFoundError, RegistryError, ToolkitError, safe_text
from toolkit.limits import MAX_MANIFEST_SIZE
from toolkit.manifest import Descriptor, manifest_digest, mime
from toolkit.manifest.formats import parse_list
from toolkit.manifest.referrers import MAX_REFERRERS, cosign_tags, referrers_tag
from toolkit.manifest.strictjson import expect_object, loads_strict
from toolkit.reference import NamedReference
from toolkit.transports.docker._client import RegistryClient
from toolkit.transports.docker._errors import TransientRegistryError
from toolkit.transports.docker._repository import link_next
from toolkit.transports.docker._response import error_from_response, read_limited_body
from toolkit.transports.docker._source import MANIFEST_ACCEPT, fetch_manifest, manifest_path

__all__ = ["list_referrers", "list_digest_tags", "record_referrer", "MAX_REFERRER_PAGES", "UPDATE_ATTEMPTS"]

log = logging.getLogger(__name__)

MAX_REFERRER_PAGES: Final = 100
UPDATE_ATTEMPTS: Final = 6
#: Pause before checking that a tag schema update held (seconds; randomised up to twice).
SETTLE_DELAY: Final = 0.1


def list_referrers(client: RegistryClient, ref: NamedReference, subject: Digest) -> list[Descriptor]:
    """What refers to `subject` in `ref`'s repository (see the module docstring)."""
    path: str | None = f"/v2/{ref.path}/referrers/{subject}"
    found: list[Descriptor] = []
    seen_pages: set[str] = set()
    first = True
    while path is not None:
        if len(seen_pages) >= MAX_REFERRER_PAGES:
            raise RegistryError(f"listing the referrers of {subject}: more than {MAX_REFERRER_PAGES} pages")
        seen_pages.add(path)
        what = f"listing the referrers of {subject} in {ref.name}"
        resp = client.request("GET", path, headers={"Accept": mime.OCI_INDEX})
        if resp.status_code == 404 and first:
            resp.close()
            return _tag_schema_entries(client, ref, subject)
        if resp.status_code != 200:
            raise error_from_response(resp, what)
        raw = read_limited_body(resp, MAX_MANIFEST_SIZE, f"referrers of {subject}")
        found.extend(_index_entries(raw, what))
        if len(found) > MAX_REFERRERS:
            raise RegistryError(f"{what}: more than {MAX_REFERRERS} referrers")
        path = link_next(resp)
        if path in seen_pages:
            break
        first = False
    return found


def _index_entries(raw: bytes, what: str) -> list[Descriptor]:
    try:
        return list(parse_list(raw, mime.OCI_INDEX).manifests)
    except ToolkitError as exc:
        raise RegistryError(f"{what}: the answer is not a valid image index: {exc}") from None


def _tag_schema_entries(client: RegistryClient, ref: NamedReference, subject: Digest) -> list[Descriptor]:
    try:
        index = _read_tag_index(client, ref, subject)
    except NotAnIndexError as exc:
        # distribution-spec: a tag that does not hold a valid index means no referrers.
        log.debug("%s; assuming no referrers", exc)
        return []
    return [] if index is None else _index_entries(index[0], f"the referrers index of {subject}")


class NotAnIndexError(RegistryError):
    """The referrers tag holds something other than an OCI image index."""


def _read_tag_index(
    client: RegistryClient, ref: NamedReference, subject: Digest
) -> tuple[bytes, str | None] | None:
    """The referrers tag schema index of `subject`: (bytes, ETag), or None if there is none.

    Raises `NotAnIndexError` if the tag holds something other than an OCI image index.
    """
    tag = referrers_tag(subject)
    what = f"reading the referrers index {tag} of {ref.name}"
    # Every manifest type is accepted, so that a tag holding something else is seen as such.
    resp = client.request("GET", manifest_path(ref, tag), headers={"Accept": MANIFEST_ACCEPT})
    if resp.status_code == 404:
        resp.close()
        return None
    if resp.status_code != 200:
        err = error_from_response(resp, what)
        if "MANIFEST_UNKNOWN" in err.codes or "NAME_UNKNOWN" in err.codes:
            return None
        raise err
    raw = read_limited_body(resp, MAX_MANIFEST_SIZE, f"referrers index {tag}")
    content_type = resp.headers.get("Content-Type", "").split(";", 1)[0].strip()
    if content_type != mime.OCI_INDEX:
        raise NotAnIndexError(
            f"{what}: the tag holds a {safe_text(content_type or 'document of unknown type', 100)}, "
            "not an image index"
        )
    return raw, resp.headers.get("ETag")


def list_digest_tags(client: RegistryClient, ref: NamedReference, subject: Digest) -> list[tuple[str, Descriptor]]:
    """cosign's `.sig`/`.att`/`.sbom` tags of `subject` that exist in `ref`'s repository."""
    found: list[tuple[str, Descriptor]] = []
    for tag in cosign_tags(subject):
        try:
            raw, content_type = fetch_manifest(client, ref, tag)
        except ImageNotFoundError:
            continue
        found.append((tag, Descriptor(media_type=content_type, digest=manifest_digest(raw), size=len(raw))))
    return found


def record_referrer(
    client: RegistryClient,
    ref: NamedReference,
    subject: Digest,
    descriptor: Descriptor,
    *,
    put_index: Callable[[bytes, str, dict[str, str]], int],
    sleep: Callable[[float], None],
) -> None:
    """Add `descriptor` to the referrers tag schema index of `subject` (module docstring).

    `put_index(raw, tag, headers)` pushes the index under the tag and returns the HTTP
    status (201 or 412; anything else raises).
    """
    tag = referrers_tag(subject)
    for attempt in range(1, UPDATE_ATTEMPTS + 1):
        try:
            if _update_once(client, ref, subject, descriptor, tag, put_index, sleep):
                return
        except RegistryError as exc:
            if not _is_tag_race(exc) or attempt == UPDATE_ATTEMPTS:
                raise
            # distribution 2.x rewrites a tag's link file in place: a request racing a
            # concurrent push of the same tag gets a 500 ("unknown error").
            log.debug("updating %s raced a concurrent push (%s); trying again", tag, exc)
            sleep(SETTLE_DELAY * (1 + random.random()))
            continue
        log.debug("referrers index %s lost %s to a concurrent update (attempt %d)", tag, descriptor.digest, attempt)
    raise RegistryError(
        f"could not record {descriptor.digest} in the referrers index {tag} of {ref.name}: "
        f"concurrent writers kept replacing it ({UPDATE_ATTEMPTS} attempts)"
    )


def _update_once(
    client: RegistryClient,
    ref: NamedReference,
    subject: Digest,
    descriptor: Descriptor,
    tag: str,
    put_index: Callable[[bytes, str, dict[str, str]], int],
    sleep: Callable[[float], None],
) -> bool:
    """One read-extend-push-check round; True once the index is seen holding `descriptor`."""
    current = _read_tag_index(client, ref, subject)
    doc = _index_document(current[0] if current is not None else None, tag)
    entries: list[Any] = doc["manifests"]
    if not any(isinstance(e, dict) and e.get("digest") == str(descriptor.digest) for e in entries):
        entries.append(_descriptor_object(descriptor))
        raw = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {"If-Match": current[1]} if current is not None and current[1] else {}
        if put_index(raw, tag, headers) == 412:
            log.debug("referrers index %s changed while it was updated; reading it again", tag)
            return False
    # A registry that ignores If-Match may have let a concurrent writer's push, based on
    # what it read before ours, replace the index: look again once that push has landed.
    sleep(SETTLE_DELAY * (1 + random.random()))
    after = _read_tag_index(client, ref, subject)
    return after is not None and any(d.digest == descriptor.digest for d in _index_entries(after[0], tag))


def _is_tag_race(exc: RegistryError) -> bool:
    """A registry's own failure (5xx, `UNKNOWN`) while another client writes the same tag."""
    return isinstance(exc, TransientRegistryError) or "UNKNOWN" in exc.codes or "unknown error" in str(exc)


def _index_document(raw: bytes | None, tag: str) -> dict[str, Any]:
    """The index as a JSON object to extend (every field of what was read kept)."""
    if raw is None:
        return {"schemaVersion": 2, "mediaType": mime.OCI_INDEX, "manifests": []}
    _index_entries(raw, f"the referrers index {tag}")  # validated strictly first
    what = f"referrers index {tag}"
    doc = expect_object(loads_strict(raw, what=what, limit=MAX_MANIFEST_SIZE), what=what)
    if not isinstance(doc.get("manifests"), list):
        doc["manifests"] = []
    return doc


def _descriptor_object(d: Descriptor) -> dict[str, Any]:
    """A referrers-list descriptor in Go's `imgspecv1.Descriptor` field order."""
    out: dict[str, Any] = {"mediaType": d.media_type, "digest": str(d.digest), "size": d.size}
    if d.annotations:
        out["annotations"] = dict(d.annotations)
    if d.artifact_type:
        out["artifactType"] = d.artifact_type
    return out
