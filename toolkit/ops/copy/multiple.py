"""Copying a manifest list / image index as a group (c/image `copy/multiple.go`).

`copy_list(copier, top, signatures)`: `--all` / `--multi-arch all` copies every instance
(converted to what the list type needs), then writes the list, edited only where an
instance's digest or type changed (which needs a modifiable manifest); `index-only`
writes the list alone. The list type is converted (docker list <-> OCI index) when
`--format` or the destination requires it.

A platform subset (`MultiArch.PLATFORMS`, c/image `CopySpecificImages` with
`InstancePlatforms`) copies the instances each `PlatformFilter` selects (every filter must
select one), plus the buildx attestation manifests that describe a selected instance (they
name it in `vnd.docker.reference.digest`; c/image leaves them out). The entries not copied
stay in the list (a sparse list, as c/image's `KeepSparseManifestList`; registries that check
references refuse it) unless `strip_removed_platforms` deletes them
(`StripSparseManifestList`), which changes the list's digest and so needs a modifiable list.
"""

from __future__ import annotations

from toolkit.digest import Digest
from toolkit.errors import DestinationError, RegistryError, ToolkitError
from toolkit.image import UnparsedImage
from toolkit.manifest import ListUpdate, convert_list, edit_list_instances, mime, parse_list
from toolkit.manifest.formats import ListEntry
from toolkit.manifest.platform import PlatformFilter
from toolkit.manifest.select import REFERENCE_DIGEST_ANNOTATION, is_attestation
from toolkit.ops.copy.copier import Copier
from toolkit.ops.copy.options import CopyResult, MultiArch
from toolkit.ops.copy.sign import put_signatures
from toolkit.ops.copy.single import ManifestWriter, copy_single_image

__all__ = ["copy_list"]


def copy_list(
    copier: Copier,
    top: UnparsedImage,
    signatures: list[bytes],
    *,
    instance: Digest | None = None,
    writer: ManifestWriter | None = None,
) -> CopyResult:
    """`--all` / `--multi-arch all|index-only|LIST`: the list and the instances chosen.

    `instance` is set when the list is itself written as an instance (a referrer that is an
    index); `writer` replaces the destination's `put_manifest` for the list's own write.
    """
    options, reporter = copier.options, copier.reporter
    if not copier.caps.supports_manifest_lists:
        raise DestinationError(
            f'destination transport "{copier.dest.reference.transport.name}" does not support copying '
            "multiple images as a group"
        )
    raw, list_mime = top.manifest()
    listing = parse_list(raw, list_mime)
    not_modifiable = copier.why_not_modifiable_list(signatures, top.manifest_digest())
    target_list_mime = _choose_list_mime(copier, list_mime, can_modify=not not_modifiable)
    instances = listing.instances()
    selected = _selected_instances(instances, options.multi_arch, options.platforms)
    deleted = _deleted_instances(instances, selected, options.strip_removed_platforms, not_modifiable)
    updates: dict[Digest, tuple[Digest, int, str]] = {}
    to_copy = [entry for entry in instances if entry.digest in selected]
    if options.multi_arch is not MultiArch.INDEX_ONLY:
        reporter.message(f"Copying {len(to_copy)} images generated from {len(instances)} images in list")
    forced = _instance_mime_for_list(target_list_mime)
    for number, entry in enumerate(to_copy, start=1):
        reporter.message(f"Copying image {entry.digest} ({number}/{len(to_copy)})")
        image = UnparsedImage(copier.source, entry.digest)
        inst_sigs = [] if options.remove_signatures else image.signatures()
        result = copy_single_image(copier, image, inst_sigs, instance=entry.digest, forced_mime=forced)
        if result.manifest_digest != entry.digest or result.manifest_mime != entry.media_type:
            updates[entry.digest] = (result.manifest_digest, len(result.manifest), result.manifest_mime)
    new_raw = raw
    if updates or deleted or target_list_mime != list_mime:
        if not_modifiable:
            raise ToolkitError(
                "Copying this image would require changing the manifest list, which we cannot do: " + not_modifiable
            )
        if updates or deleted:
            new_raw = edit_list_instances(
                listing,
                [
                    None
                    if i in deleted
                    else ListUpdate(digest=u[0], size=u[1], media_type=u[2])
                    for i, u in enumerate(updates.get(e.digest, (e.digest, e.size, e.media_type)) for e in instances)
                ],
            )
            listing = parse_list(new_raw, list_mime)
        new_raw = convert_list(listing, target_list_mime)
    reporter.message("Writing manifest list to image destination")
    sparse = len(selected) < len(instances) and not deleted
    new_digest = Digest.from_bytes(new_raw)
    stored_as = None if instance is None else new_digest
    try:
        (writer or copier.dest.put_manifest)(new_raw, target_list_mime, stored_as)
    except RegistryError as exc:
        if sparse and "MANIFEST_BLOB_UNKNOWN" in exc.codes:
            raise RegistryError(
                f"{exc} (the destination refuses a list naming images it does not have: copy every platform, "
                "or pass --strip-removed-platforms)"
            ) from exc
        raise
    source_digest = top.manifest_digest()
    copier.mark_written(source_digest, new_digest)
    put_signatures(copier, new_raw, signatures, instance=stored_as, list_signatures=True, source_digest=source_digest)
    return CopyResult(new_raw, target_list_mime, new_digest)


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


def _selected_instances(
    instances: list[ListEntry], multi_arch: MultiArch, platforms: tuple[PlatformFilter, ...]
) -> set[Digest]:
    """The digests of the instances to copy (c/image `determineSpecificImages`)."""
    if multi_arch is MultiArch.ALL:
        return {entry.digest for entry in instances}
    if multi_arch is MultiArch.INDEX_ONLY:
        return set()
    if not platforms:
        raise ToolkitError("copying a platform subset needs at least one platform")
    selected: set[Digest] = set()
    for wanted in platforms:
        found = [entry.digest for entry in instances if wanted.matches(entry.platform)]
        if not found:
            available = ", ".join(sorted({str(e.platform) for e in instances if e.platform is not None})) or "none"
            raise ToolkitError(
                f"preparing instances for copy: no instances found for platform {wanted} (the list has: {available})"
            )
        selected.update(found)
    # The attestations of what is copied come with it (they name their image by digest).
    for entry in instances:
        if is_attestation(entry.annotations) and entry.annotations.get(REFERENCE_DIGEST_ANNOTATION) in {
            str(d) for d in selected
        }:
            selected.add(entry.digest)
    return selected


def _deleted_instances(
    instances: list[ListEntry], selected: set[Digest], strip: bool, not_modifiable: str
) -> set[int]:
    """Positions of the entries `--strip-removed-platforms` deletes (none without it)."""
    if not strip:
        return set()
    deleted = {i for i, entry in enumerate(instances) if entry.digest not in selected}
    if deleted and not_modifiable:
        first = instances[min(deleted)]
        raise ToolkitError(
            f"preparing instances for copy: we should delete instance {first.digest} from manifest list, "
            f"but we cannot: {not_modifiable}"
        )
    if instances and len(deleted) == len(instances):
        raise ToolkitError("requested operation filtered out all platforms and would create an empty image")
    return deleted
