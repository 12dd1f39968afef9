"""`signedIdentity` matching (containers/image `signature/policy_reference_match.go`).

Each matcher answers: may a signature that names `signed` (an untrusted docker reference
string from the payload) vouch for an image known as `image_ref` (the image's own docker
reference, None when it has none, e.g. `dir:`)? Invalid references never match; a matcher
that needs the image's identity never matches an image without one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from toolkit.errors import InvalidDigestError, InvalidReferenceError, PolicyError, safe_text
from toolkit.reference import NamedReference, is_valid_domain, is_valid_name, parse_named, parse_normalized_named

__all__ = [
    "PolicyReferenceMatch",
    "MatchExact",
    "MatchRepoDigestOrExact",
    "MatchRepository",
    "ExactReference",
    "ExactRepository",
    "RemapIdentity",
    "validate_remap_prefix",
    "match_repo_digest_or_exact",
]


def _parse(text: str) -> NamedReference | None:
    try:
        return parse_normalized_named(text)
    except (InvalidReferenceError, InvalidDigestError):
        return None


def match_repo_digest_or_exact(intended: NamedReference, signature: NamedReference) -> bool:
    """A tagged image needs exactly its reference signed; a digest-only image accepts any
    signature for the same repository; a name-only signature never matches."""
    if signature.is_name_only():
        return False
    if intended.tag is not None:
        return str(signature) == str(intended)
    if intended.digest is not None:
        return signature.name == intended.name
    return False


@dataclass(frozen=True, slots=True)
class MatchExact:
    """`matchExact`: both references carry a tag or digest and are equal."""

    type_name: ClassVar[str] = "matchExact"
    needs_image_identity: ClassVar[bool] = True

    def matches(self, image_ref: NamedReference | None, signed: str) -> bool:
        sig = _parse(signed)
        if image_ref is None or sig is None or image_ref.is_name_only() or sig.is_name_only():
            return False
        return str(sig) == str(image_ref)


@dataclass(frozen=True, slots=True)
class MatchRepoDigestOrExact:
    """`matchRepoDigestOrExact` (the default): see `match_repo_digest_or_exact`."""

    type_name: ClassVar[str] = "matchRepoDigestOrExact"
    needs_image_identity: ClassVar[bool] = True

    def matches(self, image_ref: NamedReference | None, signed: str) -> bool:
        sig = _parse(signed)
        if image_ref is None or sig is None:
            return False
        return match_repo_digest_or_exact(image_ref, sig)


@dataclass(frozen=True, slots=True)
class MatchRepository:
    """`matchRepository`: same repository, tags and digests ignored."""

    type_name: ClassVar[str] = "matchRepository"
    needs_image_identity: ClassVar[bool] = True

    def matches(self, image_ref: NamedReference | None, signed: str) -> bool:
        sig = _parse(signed)
        if image_ref is None or sig is None:
            return False
        return sig.name == image_ref.name


@dataclass(frozen=True, slots=True)
class ExactReference:
    """`exactReference`: the signature must name exactly `docker_reference` (tag or digest)."""

    docker_reference: str
    type_name: ClassVar[str] = "exactReference"
    needs_image_identity: ClassVar[bool] = False

    def __post_init__(self) -> None:
        try:
            ref = parse_normalized_named(self.docker_reference)
        except (InvalidReferenceError, InvalidDigestError) as exc:
            raise PolicyError(
                f'Invalid format of dockerReference "{safe_text(self.docker_reference)}": {exc}'
            ) from exc
        if ref.is_name_only():
            raise PolicyError(f'dockerReference "{safe_text(self.docker_reference)}" contains neither a tag nor digest')

    def matches(self, image_ref: NamedReference | None, signed: str) -> bool:
        intended, sig = _parse(self.docker_reference), _parse(signed)
        if intended is None or sig is None or intended.is_name_only() or sig.is_name_only():
            return False
        return str(sig) == str(intended)


@dataclass(frozen=True, slots=True)
class ExactRepository:
    """`exactRepository`: the signature must be for repository `docker_repository`."""

    docker_repository: str
    type_name: ClassVar[str] = "exactRepository"
    needs_image_identity: ClassVar[bool] = False

    def __post_init__(self) -> None:
        try:
            parse_normalized_named(self.docker_repository)
        except (InvalidReferenceError, InvalidDigestError) as exc:
            raise PolicyError(
                f'Invalid format of dockerRepository "{safe_text(self.docker_repository)}": {exc}'
            ) from exc

    def matches(self, image_ref: NamedReference | None, signed: str) -> bool:
        intended, sig = _parse(self.docker_repository), _parse(signed)
        if intended is None or sig is None:
            return False
        return sig.name == intended.name


_DOMAIN_THEN_SLASH = re.compile(r"([^/]+)/")


def validate_remap_prefix(prefix: str) -> None:
    """A `remapIdentity` prefix is a host[:port], or a name starting with a host.

    Raises `PolicyError("prefix ... is not valid")` otherwise (as containers/image: short
    names like `busybox` pass here and simply never match).
    """
    if is_valid_domain(prefix):
        return
    head = _DOMAIN_THEN_SLASH.match(prefix)
    if is_valid_name(prefix) and head is not None and is_valid_domain(head.group(1)):
        return
    raise PolicyError(f'prefix "{safe_text(prefix)}" is not valid')


@dataclass(frozen=True, slots=True)
class RemapIdentity:
    """`remapIdentity`: rewrite the image's name prefix `prefix` to `signed_prefix`, then
    apply `matchRepoDigestOrExact`."""

    prefix: str
    signed_prefix: str
    type_name: ClassVar[str] = "remapIdentity"
    needs_image_identity: ClassVar[bool] = True

    def __post_init__(self) -> None:
        validate_remap_prefix(self.prefix)
        validate_remap_prefix(self.signed_prefix)

    def ref_matches_prefix(self, ref: NamedReference) -> bool:
        """Is `ref`'s name `prefix` itself or inside it (`prefix/...`)?"""
        name = ref.name
        if len(name) < len(self.prefix):
            return False
        if len(name) == len(self.prefix):
            return name == self.prefix
        return name.startswith(self.prefix) and name[len(self.prefix)] == "/"

    def remap(self, ref: NamedReference) -> NamedReference:
        """`ref` with its prefix replaced; raises `InvalidReferenceError` if the result is not
        a canonical reference."""
        if not self.ref_matches_prefix(ref):
            return ref
        rewritten = str(ref).replace(self.prefix, self.signed_prefix, 1)
        return parse_named(rewritten)

    def matches(self, image_ref: NamedReference | None, signed: str) -> bool:
        sig = _parse(signed)
        if image_ref is None or sig is None:
            return False
        try:
            intended = self.remap(image_ref)
        except (InvalidReferenceError, InvalidDigestError):
            return False
        return match_repo_digest_or_exact(intended, sig)


PolicyReferenceMatch = (
    MatchExact | MatchRepoDigestOrExact | MatchRepository | ExactReference | ExactRepository | RemapIdentity
)
