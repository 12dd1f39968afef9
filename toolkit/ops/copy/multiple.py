"""Copying a manifest list / image index as a group (c/image `copy/multiple.go`).

`copy_list(copier, top, signatures)`: `--all` / `--multi-arch all` copies every instance
(converted to what the list type needs), then writes the list, edited only where an
instance's digest or type changed (which needs a modifiable manifest); `index-only`
writes the list alone. The list type is converted (docker list <-> OCI index) when
`--format` or the destination requires it.
"""

from __future__ import annotations

from toolkit.digest import Digest
from toolkit.errors import DestinationError, ToolkitError
from toolkit.image import UnparsedImage
from toolkit.manifest import ListUpdate, convert_list, mime, parse_list, update_list_instances
from toolkit.ops.copy.copier import Copier
from toolkit.ops.copy.options import CopyResult, MultiArch
from toolkit.ops.copy.sign import put_signatures
from toolkit.ops.copy.single import copy_single_image

__all__ = ["copy_list"]


def copy_list(copier: Copier, top: UnparsedImage, signatures: list[bytes]) -> CopyResult:
    """`--all` / `--multi-arch all|index-only`: the list and (unless index-only) every instance."""
    options, reporter = copier.options, copier.reporter
    if not copier.caps.supports_manifest_lists:
        raise DestinationError(
            f'destination transport "{copier.dest.reference.transport.name}" does not support copying '
            "multiple images as a group"
        )
    raw, list_mime = top.manifest()
    listing = parse_list(raw, list_mime)
    not_modifiable = copier.why_not_modifiable(signatures)
    target_list_mime = _choose_list_mime(copier, list_mime, can_modify=not not_modifiable)
    instances = listing.instances()
    updates: dict[Digest, tuple[Digest, int, str]] = {}
    if options.multi_arch is MultiArch.ALL:
        reporter.message(f"Copying {len(instances)} images generated from {len(instances)} images in list")
        forced = _instance_mime_for_list(target_list_mime)
        for number, entry in enumerate(instances, start=1):
            reporter.message(f"Copying image {entry.digest} ({number}/{len(instances)})")
            image = UnparsedImage(copier.source, entry.digest)
            inst_sigs = [] if options.remove_signatures else image.signatures()
            result = copy_single_image(copier, image, inst_sigs, instance=entry.digest, forced_mime=forced)
            if result.manifest_digest != entry.digest or result.manifest_mime != entry.media_type:
                updates[entry.digest] = (result.manifest_digest, len(result.manifest), result.manifest_mime)
    new_raw = raw
    if updates or target_list_mime != list_mime:
        if not_modifiable:
            raise ToolkitError(
                "Copying this image would require changing the manifest list, which we cannot do: " + not_modifiable
            )
        if updates:
            new_raw = update_list_instances(
                listing,
                [
                    ListUpdate(digest=u[0], size=u[1], media_type=u[2])
                    for u in (updates.get(e.digest, (e.digest, e.size, e.media_type)) for e in instances)
                ],
            )
            listing = parse_list(new_raw, list_mime)
        new_raw = convert_list(listing, target_list_mime)
    reporter.message("Writing manifest list to image destination")
    copier.dest.put_manifest(new_raw, target_list_mime)
    put_signatures(copier, new_raw, signatures, instance=None, list_signatures=True)
    return CopyResult(new_raw, target_list_mime, Digest.from_bytes(new_raw))


def _choose_list_mime(copier: Copier, list_mime: str, *, can_modify: bool) -> str:
    forced = copier.options.forced_manifest_mime
    if forced is not None:
        wanted = mime.OCI_INDEX if forced == mime.OCI_MANIFEST else mime.DOCKER_V2LIST
        if wanted != list_mime and not can_modify:
            raise ToolkitError("Copying this image would require changing the manifest list format")
        return wanted
    supported = copier.caps.supported_manifest_mime_types
    if supported is None or list_mime in supported:
        return list_mime
    for candidate in (mime.OCI_INDEX, mime.DOCKER_V2LIST):
        if candidate in supported:
            return candidate
    raise DestinationError("the destination does not accept manifest lists")


def _instance_mime_for_list(list_mime: str) -> str | None:
    """An OCI index holds OCI manifests; a docker list keeps each instance's own type."""
    return None if list_mime == mime.DOCKER_V2LIST else mime.OCI_MANIFEST
