"""Choosing the instance of a manifest list for a platform (c/image `ChooseInstance`).

Raises `NoMatchingPlatformError` with c/image's message when nothing matches (an empty list
too), followed by the platforms the list has.

An attestation manifest (buildx's `vnd.docker.reference.type: attestation-manifest` entries,
platform unknown/unknown) is never chosen, whatever platform is asked for: it describes an
image, it is not one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from toolkit._lazy import DebugLogger
from toolkit.digest import Digest
from toolkit.errors import NoMatchingPlatformError
from toolkit.manifest.platform import Host, matches, wanted_platforms
from toolkit.types import Platform, SystemContext

__all__ = [
    "Instance",
    "InstanceList",
    "choose_from_docker_list",
    "choose_from_oci_index",
    "is_attestation",
    "ZSTD_ANNOTATION",
    "REFERENCE_TYPE_ANNOTATION",
    "REFERENCE_DIGEST_ANNOTATION",
]

log = DebugLogger(__name__)  # debug lines only: logging is not imported for them

#: c/image OCI1InstanceAnnotationCompressionZSTD: the instance uses zstd layers.
ZSTD_ANNOTATION = "io.github.containers.compression.zstd"
#: buildx: the kind of an index entry (`attestation-manifest`) and the digest it describes.
REFERENCE_TYPE_ANNOTATION = "vnd.docker.reference.type"
REFERENCE_DIGEST_ANNOTATION = "vnd.docker.reference.digest"


class Instance(Protocol):
    """What choosing reads of one list entry (`formats.Descriptor` is one)."""

    @property
    def digest(self) -> Digest:
        """The instance's manifest digest."""
        ...

    @property
    def platform(self) -> Platform | None:
        """The platform the entry announces, if any."""
        ...

    @property
    def annotations(self) -> Mapping[str, str]:
        """The entry's annotations (empty if none)."""
        ...


class InstanceList(Protocol):
    """A manifest list or image index as choosing sees it (`formats.Schema2List` and
    `formats.OCI1Index` are ones). Typed here, not imported, so that this module does not
    depend on `formats`, which calls it."""

    @property
    def manifests(self) -> Sequence[Instance]:
        """The entries, in document order."""
        ...


def is_attestation(annotations: Mapping[str, str]) -> bool:
    """True for buildx's attestation manifests (an index entry's annotations)."""
    return annotations.get(REFERENCE_TYPE_ANNOTATION) == "attestation-manifest"


def _platform_text(platform: Platform | None) -> str:
    if platform is None:
        return "no platform"
    return "/".join(p for p in (platform.os, platform.architecture, platform.variant) if p)


def _log_choice(kind: str, entry: Instance, wanted: Platform, why: str = "") -> None:
    log.debug(
        "%s: chose instance %s (%s) for platform %s%s",
        kind,
        entry.digest,
        _platform_text(entry.platform),
        _platform_text(wanted),
        f", {why}" if why else "",
    )


def _not_found(
    kind: str, view: InstanceList, ctx: SystemContext | None, host: Host | None
) -> NoMatchingPlatformError:
    first = wanted_platforms(ctx, host)[0]
    available = sorted(
        {
            "/".join(p for p in (e.platform.os, e.platform.architecture, e.platform.variant) if p)
            for e in view.manifests
            if e.platform is not None and not is_attestation(e.annotations)
        }
    )
    return NoMatchingPlatformError(
        f'no image found in {kind} for architecture "{first.architecture}", '
        f'variant "{first.variant}", OS "{first.os}" (it has: {", ".join(available) or "no platforms"})'
    )


def choose_from_docker_list(view: InstanceList, ctx: SystemContext | None, host: Host | None = None) -> Digest:
    """For each wanted platform in order, the first entry that matches it."""
    wanted = wanted_platforms(ctx, host)
    for platform in wanted:
        for entry in view.manifests:
            if entry.platform is not None and matches(entry.platform, platform):
                _log_choice("manifest list", entry, platform, "the first entry matching it")
                return entry.digest
    raise _not_found("manifest list", view, ctx, host)


def choose_from_oci_index(
    view: InstanceList, ctx: SystemContext | None, host: Host | None = None, *, prefer_gzip: bool = False
) -> Digest:
    """Best (platform rank, zstd-or-gzip preference, position); no platform = lowest rank."""
    wanted = wanted_platforms(ctx, host)
    lowest = len(wanted)  # entries without a platform rank after every wanted platform
    best: tuple[int, int, int] | None = None
    best_digest: Digest | None = None
    best_entry: Instance | None = None
    for position, entry in enumerate(view.manifests):
        if is_attestation(entry.annotations):
            continue
        rank = lowest
        if entry.platform is not None:
            found = next((i for i, p in enumerate(wanted) if matches(entry.platform, p)), None)
            if found is None:
                continue
            rank = found
        is_zstd = entry.annotations.get(ZSTD_ANNOTATION) == "true"
        # Smaller tuples win: zstd preferred unless prefer_gzip.
        compression_rank = (1 if is_zstd else 0) if prefer_gzip else (0 if is_zstd else 1)
        key = (rank, compression_rank, position)
        if best is None or key < best:
            best, best_digest, best_entry = key, entry.digest, entry
    if best_digest is None or best is None or best_entry is None:
        raise _not_found("image index", view, ctx, host)
    compression = "zstd" if best_entry.annotations.get(ZSTD_ANNOTATION) == "true" else "gzip"
    _log_choice("image index", best_entry, wanted[min(best[0], lowest - 1)],
                f"the best platform match ({compression} layers)")
    return best_digest
