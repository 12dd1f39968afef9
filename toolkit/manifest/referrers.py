"""Names and views for OCI 1.1 referrers (distribution-spec "Referrers Tag Schema"; cosign).

Pure functions, no I/O:
- `referrers_tag(digest)`: the tag under which a registry without the referrers API (or an
  OCI layout, as regctl writes it) keeps the referrers index of `digest`: the algorithm cut
  to 32 characters, `-`, the encoded part cut to 64, every character a tag may not hold
  replaced by `-` (`sha256:abc...` -> `sha256-abc...`).
- `cosign_tags(digest)`: cosign's signature, attestation and SBOM tags of `digest`
  (`sha256-<hex>.sig`, `.att`, `.sbom`).
- `referrer_descriptor(raw, mime_type, digest)`: the descriptor a referrers list holds for a
  manifest.
- `subject_of(raw, mime_type)`: the digest an OCI manifest or index names as its `subject`,
  None for anything else (parsed strictly; a malformed document raises `ManifestError`).
"""

from __future__ import annotations

from typing import Final

from toolkit._lazy import lazy_pattern
from toolkit.digest import Digest
from toolkit.manifest import mime
from toolkit.manifest.formats import OCI1, Descriptor, OCI1Index, parse_any

__all__ = [
    "referrers_tag",
    "cosign_tags",
    "COSIGN_SUFFIXES",
    "subject_of",
    "referrer_descriptor",
    "MAX_REFERRERS",
    "MAX_DEPTH",
]

#: Referrers followed for one image, at most (a hostile source may list any number).
MAX_REFERRERS: Final = 1000
#: Levels of referrers of referrers followed, at most.
MAX_DEPTH: Final = 8
#: cosign's tag suffixes: signatures, attestations, SBOMs.
COSIGN_SUFFIXES: Final = ("sig", "att", "sbom")
_NOT_IN_TAG: Final = lazy_pattern(r"[^a-zA-Z0-9._-]")


def referrers_tag(digest: Digest) -> str:
    """The referrers tag schema's tag for `digest`."""
    algorithm = _NOT_IN_TAG().sub("-", digest.algorithm)[:32]
    encoded = _NOT_IN_TAG().sub("-", digest.hex)[:64]
    return f"{algorithm}-{encoded}"


def cosign_tags(digest: Digest) -> tuple[str, ...]:
    """cosign's tags for `digest`: `<alg>-<hex>.sig`, `.att`, `.sbom`."""
    base = f"{digest.algorithm}-{digest.hex}"
    return tuple(f"{base}.{suffix}" for suffix in COSIGN_SUFFIXES)


def subject_of(raw: bytes, mime_type: str) -> Digest | None:
    """The `subject` digest of an OCI manifest or index (None if it has none, or for other
    manifest types)."""
    if mime_type not in (mime.OCI_MANIFEST, mime.OCI_INDEX):
        return None
    view = parse_any(raw, mime_type)
    if isinstance(view, OCI1 | OCI1Index) and view.subject is not None:
        return view.subject.digest
    return None


def referrer_descriptor(raw: bytes, mime_type: str, digest: Digest) -> Descriptor:
    """The descriptor a referrers list holds for a manifest (distribution-spec 1.1):
    `artifactType` is the manifest's, else its config media type (an index: its own, if
    any), with every annotation of the manifest."""
    view = parse_any(raw, mime_type)
    artifact_type = ""
    annotations = {}
    if isinstance(view, OCI1):
        artifact_type = view.artifact_type or view.config.media_type
        annotations = dict(view.annotations)
    elif isinstance(view, OCI1Index):
        artifact_type = view.artifact_type
        annotations = dict(view.annotations)
    return Descriptor(
        media_type=mime_type, digest=digest, size=len(raw), artifact_type=artifact_type, annotations=annotations
    )
