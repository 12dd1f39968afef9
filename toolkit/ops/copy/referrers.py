"""Referrers: copying what refers to an image (OCI 1.1 `subject`), where no skopeo release goes.

With `CopyOptions.copy_referrers`, after the image (or list) is written and before commit,
for every manifest the copy wrote under its source digest:
- each manifest whose `subject` names it (found through the source's `ReferrersSource`: a
  registry's referrers API or, without one, the referrers tag schema; an OCI layout's
  index.json) is copied byte for byte: its blobs first, then the manifest through the
  destination's `ReferrersDestination`, which makes it findable there as a referrer (the
  API when the registry has it, else the tag schema; an index.json entry in a layout);
- and, recursively, what refers to those (a signature on an SBOM);
- cosign's `sha256-<hex>.sig`, `.att` and `.sbom` tags come along under the same tags
  (`.sig` only when the copy did not already write the image's signatures there).

Bounds, for hostile sources: at most `MAX_REFERRERS` manifests in all and `MAX_DEPTH`
levels; a loop is cut (each digest is copied once); a listed referrer that does not exist
is skipped (a stale listing); one whose `subject` does not name the manifest it was listed
for is an error; every manifest is verified against its
digest (`UnparsedImage`). A referrer of a manifest the copy changed (recompressed,
converted) cannot be attached to anything: that is an error, not a silent drop.

The trust policy decided on the image itself before anything was copied; referrers are
data about it, are not evaluated, and change nothing in that decision.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import replace

from toolkit.digest import Digest
from toolkit.errors import ImageNotFoundError, NotSupportedError, ToolkitError
from toolkit.image import UnparsedImage
from toolkit.manifest import mime
from toolkit.manifest.formats import Descriptor
from toolkit.manifest.referrers import MAX_DEPTH, MAX_REFERRERS, referrer_descriptor, subject_of
from toolkit.ops.copy.copier import Copier
from toolkit.ops.copy.multiple import copy_list
from toolkit.ops.copy.options import MultiArch
from toolkit.ops.copy.single import ManifestWriter, copy_single_image
from toolkit.transports.base import ReferrersDestination, ReferrersSource

__all__ = ["check_referrers_support", "copy_referrers"]

log = logging.getLogger(__name__)




def check_referrers_support(copier: Copier) -> tuple[ReferrersSource, ReferrersDestination]:
    """Both ends as referrer capable, or `NotSupportedError` (before anything is written)."""
    source, dest = copier.source, copier.dest
    if not isinstance(source, ReferrersSource):
        raise NotSupportedError(
            f"--referrers: the {source.reference.transport.name} transport cannot list the referrers of an image"
        )
    if not isinstance(dest, ReferrersDestination):
        raise NotSupportedError(
            f"--referrers: the {dest.reference.transport.name} transport cannot store the referrers of an image"
        )
    return source, dest


def copy_referrers(copier: Copier) -> None:
    """Copy the referrers of every manifest `copier` wrote (see the module docstring)."""
    _source, dest = check_referrers_support(copier)
    referrer_copier = Copier(
        copier.source,
        copier.dest,
        replace(
            copier.options,
            # Byte for byte: a referrer names its subject by digest, and is named so in turn.
            preserve_digests=True,
            remove_signatures=True,
            remove_list_signatures=False,
            signers=(),
            forced_manifest_mime=None,
            multi_arch=MultiArch.ALL,
            platforms=(),
            strip_removed_platforms=False,
        ),
    )
    copied: set[Digest] = set(copier.written.values())
    queue: deque[tuple[Digest, int]] = deque()
    for source_digest, written_digest in copier.written.items():
        if source_digest != written_digest:
            # Not reached in practice: a referred manifest is not modifiable (`Copier`).
            _refuse_if_referred(copier, source_digest, written_digest)
            continue
        queue.append((source_digest, 0))
    total = 0
    while queue:
        subject, depth = queue.popleft()
        listed_referrers, listed_tags = copier.referrers_of(subject)
        for descriptor in listed_referrers:
            if descriptor.digest in copied:
                continue  # a loop, or listed twice
            total = _count(total, depth)
            try:
                raw, mime_type = _verified_referrer(copier, descriptor, subject)
            except ImageNotFoundError:
                # A stale listing (a referrer deleted, its tag schema index not updated).
                log.info("referrer %s listed for %s does not exist; skipped", descriptor.digest, subject)
                copied.add(descriptor.digest)
                continue
            listed = referrer_descriptor(raw, mime_type, descriptor.digest)
            copier.reporter.message(
                f"Copying referrer {descriptor.digest} of {subject} ({listed.artifact_type or mime_type})"
            )
            _copy_manifest(referrer_copier, descriptor.digest, _as_referrer(dest, subject, listed))
            copied.add(descriptor.digest)
            queue.append((descriptor.digest, depth + 1))
        for tag, descriptor in listed_tags:
            if tag.endswith(".sig") and subject in copier.signatures_written:
                continue  # the signature path already wrote this tag
            if descriptor.digest in copied:
                continue
            total = _count(total, depth)
            copier.reporter.message(f"Copying {tag} ({descriptor.digest})")
            _copy_manifest(referrer_copier, descriptor.digest, _as_tagged(dest, tag))
            copied.add(descriptor.digest)


def _as_referrer(dest: ReferrersDestination, subject: Digest, listed: Descriptor) -> ManifestWriter:
    def write(raw: bytes, mime_type: str, _stored_as: Digest | None) -> None:
        dest.put_referrer(raw, mime_type, subject, listed)

    return write


def _as_tagged(dest: ReferrersDestination, tag: str) -> ManifestWriter:
    def write(raw: bytes, mime_type: str, _stored_as: Digest | None) -> None:
        dest.put_tagged_manifest(raw, mime_type, tag)

    return write


def _count(total: int, depth: int) -> int:
    if depth >= MAX_DEPTH:
        raise ToolkitError(f"referrers nested more than {MAX_DEPTH} levels deep; refusing to follow them further")
    if total >= MAX_REFERRERS:
        raise ToolkitError(f"more than {MAX_REFERRERS} referrers; refusing to copy them all")
    return total + 1


def _refuse_if_referred(copier: Copier, source_digest: Digest, written_digest: Digest) -> None:
    if copier.referrers_of(source_digest) != ([], []):
        raise ToolkitError(
            f"cannot copy the referrers of {source_digest}: the copy wrote it as {written_digest}, which they do "
            "not name (copy with --preserve-digests, or without --referrers)"
        )


def _verified_referrer(copier: Copier, descriptor: Descriptor, subject: Digest) -> tuple[bytes, str]:
    """The referrer's manifest, verified against its digest and naming `subject`."""
    image = UnparsedImage(copier.source, descriptor.digest)
    raw, mime_type = image.manifest()
    if mime_type not in (mime.OCI_MANIFEST, mime.OCI_INDEX):
        raise ToolkitError(f"referrer {descriptor.digest} of {subject} is a {mime_type}, not an OCI manifest or index")
    named = subject_of(raw, mime_type)
    if named != subject:
        raise ToolkitError(
            f"referrer {descriptor.digest} listed for {subject} names "
            f"{'no subject' if named is None else f'another subject ({named})'}"
        )
    return raw, mime_type


def _copy_manifest(copier: Copier, digest: Digest, writer: ManifestWriter) -> None:
    """Copy the manifest `digest` (an image manifest or an index with its instances),
    unchanged, writing the top manifest through `writer`."""
    image = UnparsedImage(copier.source, digest)
    _raw, mime_type = image.manifest()
    if mime.is_list_type(mime_type):
        copy_list(copier, image, [], instance=digest, writer=writer)
    else:
        copy_single_image(copier, image, [], instance=digest, writer=writer)
    log.debug("copied referrer %s", digest)
