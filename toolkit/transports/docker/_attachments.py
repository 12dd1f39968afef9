"""Sigstore attachments of registry images: the `sha256-<hex>.sig` tag (containers/image
`docker_image_src.go` `getSignaturesFromSigstoreAttachments`, `docker_image_dest.go`
`putSignaturesToSigstoreAttachments`, `docker_client.go` `getSigstoreAttachmentManifest`).

The bytes are built and checked by `toolkit.signature.sigstore_attachments`; this module
does the order of I/O, through callables the docker source/destination provide:

- `fetch_manifest(tag) -> (bytes, MIME type)`, raising `ImageNotFoundError` when absent;
- `fetch_blob(descriptor, limit) -> bytes` (bounded read; the digest is checked here);
- `put_blob(AttachmentBlob)`, `put_manifest(raw, mime_type, tag)`.

Used only when registries.d says `use-sigstore-attachments: true` for the image
(`use_sigstore_attachments`). Reading: no attachment tag → no signatures; a manifest of
another MIME type, more than 128 layers, a layer over 4 MiB or not matching its digest →
`ToolkitError`. Writing: the existing attachment (if any) is read, new signatures appended
(identical ones skipped), new layer blobs and the config uploaded, then the manifest PUT
by tag.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from toolkit.digest import Digest
from toolkit.errors import ImageNotFoundError, InvalidSignatureError, ManifestError, ToolkitError
from toolkit.limits import MAX_CONFIG_SIZE, MAX_SIGNATURE_SIZE
from toolkit.manifest import Descriptor, mime
from toolkit.reference import NamedReference
from toolkit.types import SystemContext

if TYPE_CHECKING:
    from toolkit.signature import Sigstore
    from toolkit.signature.sigstore_attachments import AttachmentBlob, AttachmentManifest

# The signature modules (and `cryptography`) are imported only when attachments are used.

__all__ = [
    "ATTACHMENTS_DISABLED",
    "use_sigstore_attachments",
    "read_attachment_signatures",
    "write_attachment_signatures",
]

log = logging.getLogger(__name__)

ATTACHMENTS_DISABLED = "writing sigstore attachments is disabled by configuration"

FetchManifest = Callable[[str], tuple[bytes, str]]
FetchBlob = Callable[[Descriptor, int], bytes]


def use_sigstore_attachments(ctx: SystemContext, ref: NamedReference) -> bool:
    """registries.d's `use-sigstore-attachments` for `ref` (default False)."""
    from toolkit.config.registries_d import load_registries_d  # lazily: it loads the YAML parser

    return load_registries_d(ctx).use_sigstore_attachments(ref)


def _attachment(fetch_manifest: FetchManifest, digest: Digest, repo: str) -> tuple[bytes, AttachmentManifest] | None:
    from toolkit.signature.sigstore_attachments import attachment_tag, parse_attachment_manifest

    tag = attachment_tag(digest)
    log.debug("Looking for sigstore attachments in %s:%s", repo, tag)
    try:
        raw, mime_type = fetch_manifest(tag)
    except ImageNotFoundError as exc:
        log.debug("Fetching sigstore attachment manifest failed, assuming it does not exist: %s", exc)
        return None
    try:
        return raw, parse_attachment_manifest(raw, mime_type)
    except ToolkitError as exc:
        exc.message = f"sigstore attachment manifest {repo}:{tag}: {exc.message}"
        raise


def _checked_blob(fetch_blob: FetchBlob, desc: Descriptor, limit: int, what: str) -> bytes:
    data = fetch_blob(desc, limit)
    if len(data) > limit:
        raise InvalidSignatureError(f"reading {what} {desc.digest}: exceeded maximum allowed size of {limit} bytes")
    if not desc.digest.matches(data):
        raise InvalidSignatureError(f"{what} {desc.digest}: digest mismatch")
    return data


def read_attachment_signatures(
    fetch_manifest: FetchManifest, fetch_blob: FetchBlob, digest: Digest, repo: str
) -> list[bytes]:
    """The signatures (every layer, as sigstore storage blobs) attached to manifest `digest`."""
    from toolkit.signature.sigstore import sigstore_to_blob
    from toolkit.signature.sigstore_attachments import signatures_in_attachment

    found = _attachment(fetch_manifest, digest, repo)
    if found is None:
        return []
    _, attachment = found
    log.debug("Found a sigstore attachment manifest with %d layers", len(attachment.layers))
    signatures = signatures_in_attachment(
        attachment, lambda layer: _checked_blob(fetch_blob, layer, MAX_SIGNATURE_SIZE, "sigstore attachment")
    )
    return [sigstore_to_blob(sig) for sig in signatures]


def write_attachment_signatures(
    fetch_manifest: FetchManifest,
    fetch_blob: FetchBlob,
    put_blob: Callable[[AttachmentBlob], None],
    put_manifest: Callable[[bytes, str, str], None],
    digest: Digest,
    signatures: Sequence[Sigstore],
    repo: str,
) -> None:
    """Append `signatures` to the attachment of manifest `digest` (creating it if needed)."""
    from toolkit.signature.sigstore_attachments import attachment_tag, build_attachment

    found = _attachment(fetch_manifest, digest, repo)
    existing_manifest: bytes | None = None
    existing_config: bytes | None = None
    if found is not None:
        existing_manifest, attachment = found
        log.debug("Fetching sigstore attachment config %s", attachment.config.digest)
        existing_config = _checked_blob(fetch_blob, attachment.config, MAX_CONFIG_SIZE, "sigstore attachment config")
    try:
        update = build_attachment(existing_manifest, existing_config, signatures)
    except ManifestError as exc:
        exc.message = f"sigstore attachment {repo}:{attachment_tag(digest)}: {exc.message}"
        raise
    for blob in update.new_blobs:
        log.debug("Adding new signature, digest %s", blob.descriptor.digest)
        put_blob(blob)
    log.debug("Uploading updated sigstore attachment config")
    put_blob(update.config)
    log.debug("Uploading sigstore attachment manifest")
    put_manifest(update.manifest, mime.OCI_MANIFEST, attachment_tag(digest))
