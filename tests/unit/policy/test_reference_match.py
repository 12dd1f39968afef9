"""signedIdentity matchers, ported from containers/image signature/policy_reference_match_test.go."""

from __future__ import annotations

from typing import Any

import pytest

from toolkit.errors import InvalidReferenceError, PolicyError
from toolkit.policy.match import (
    ExactReference,
    ExactRepository,
    MatchExact,
    MatchRepoDigestOrExact,
    MatchRepository,
    PolicyReferenceMatch,
    RemapIdentity,
    match_repo_digest_or_exact,
)
from toolkit.reference import NamedReference, parse_normalized_named

FULL_RHEL = "registry.access.redhat.com/rhel7/rhel:7.2.3"
UNTAGGED_RHEL = "registry.access.redhat.com/rhel7/rhel"
D = "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
D_OTHER = "@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

# The tables of c/image signature/policy_reference_match_test.go. Matching is symmetric, so
# every row is also checked with its two references swapped.
#
# Rows that prmExactMatchTestTable and prmRepositoryMatchTestTable share, with one result.
SHARED_MATCHES = [
    # Success, simple matches
    ("busybox:latest", "busybox:latest", True),
    (FULL_RHEL, FULL_RHEL, True),
    ("busybox" + D, "busybox" + D, True),
    # Non-canonical reference format is canonicalized
    ("library/busybox:latest", "busybox:latest", True),
    ("docker.io/library/busybox:latest", "busybox:latest", True),
    ("library/busybox" + D, "busybox" + D, True),
]
SHARED_INVALID = [
    # Invalid format; even if they are exactly equal, invalid values are rejected.
    ("UPPERCASE_IS_INVALID_IN_DOCKER_REFERENCES", "busybox:latest", False),
    ("", "UPPERCASE_IS_INVALID_IN_DOCKER_REFERENCES", False),
    ("INVALID", "INVALID", False),
]

EXACT_TABLE = [
    *SHARED_MATCHES,
    # Mismatch
    ("busybox:latest", "busybox:notlatest", False),
    ("busybox:latest", "notbusybox:latest", False),
    ("busybox:latest", "hostname/library/busybox:notlatest", False),
    ("hostname/library/busybox:latest", "busybox:notlatest", False),
    ("busybox:latest", FULL_RHEL, False),
    ("busybox" + D, "notbusybox" + D, False),
    ("busybox:latest", "busybox" + D, False),
    ("busybox" + D, "busybox" + D_OTHER, False),
    # NameOnly references
    ("busybox", "busybox:latest", False),
    ("busybox", "busybox" + D, False),
    ("busybox", "busybox", False),
    # References with both tags and digests: both must match
    ("busybox:latest" + D, "busybox:latest" + D, True),
    ("busybox:latest" + D, "busybox:latest" + D_OTHER, False),
    ("busybox:latest" + D, "busybox:notlatest" + D, False),
    ("busybox:latest" + D, "busybox" + D, False),
    ("busybox:latest" + D, "busybox:latest", False),
    *SHARED_INVALID,
]

REPOSITORY_TABLE = [
    *SHARED_MATCHES,
    # The same as above, but with mismatching tags
    ("busybox:latest", "busybox:notlatest", True),
    (FULL_RHEL + "tagsuffix", FULL_RHEL, True),
    ("library/busybox:latest", "busybox:notlatest", True),
    ("busybox:latest", "library/busybox:notlatest", True),
    ("docker.io/library/busybox:notlatest", "busybox:latest", True),
    ("busybox:notlatest", "docker.io/library/busybox:latest", True),
    ("busybox:latest", "busybox" + D, True),
    ("busybox" + D, "busybox" + D_OTHER, True),
    # The same as above, but with defaulted tags (which can happen with /usr/bin/cosign)
    ("busybox", "busybox:notlatest", True),
    (FULL_RHEL, UNTAGGED_RHEL, True),
    ("busybox", "busybox" + D, True),
    ("library/busybox", "busybox", True),
    ("docker.io/library/busybox", "busybox", True),
    # Mismatch
    ("busybox:latest", "notbusybox:latest", False),
    ("hostname/library/busybox:latest", "busybox:notlatest", False),
    ("busybox:latest", FULL_RHEL, False),
    ("busybox" + D, "notbusybox" + D, False),
    # References with both tags and digests: both are ignored
    ("busybox:latest" + D, "busybox:latest" + D, True),
    ("busybox:latest" + D, "busybox:latest" + D_OTHER, True),
    ("busybox:latest" + D, "busybox:notlatest" + D, True),
    ("busybox:latest" + D, "busybox" + D, True),
    ("busybox:latest" + D, "busybox:latest", True),
    *SHARED_INVALID,
]

REPO_DIGEST_OR_EXACT_TABLE = [
    # Tag mismatch
    ("busybox:latest", "busybox:notlatest", False),
    (FULL_RHEL + "tagsuffix", FULL_RHEL, False),
    ("library/busybox:latest", "busybox:notlatest", False),
    ("busybox:latest", "library/busybox:notlatest", False),
    ("docker.io/library/busybox:notlatest", "busybox:latest", False),
    ("busybox:notlatest", "docker.io/library/busybox:latest", False),
    # NameOnly references
    ("busybox", "busybox:latest", False),
    ("busybox:latest", "busybox", False),
    ("busybox", "busybox" + D, False),
    ("busybox" + D, "busybox", False),
    (FULL_RHEL, UNTAGGED_RHEL, False),
    ("busybox", "busybox", False),
    # Tag references only accept signatures with matching tags.
    ("busybox:latest", "busybox" + D, False),
    # Digest references accept any signature with matching repository.
    ("busybox" + D, "busybox:latest", True),
    ("busybox" + D, "busybox" + D_OTHER, True),
    # References with both tags and digests: both must match.
    ("busybox:latest" + D, "busybox:latest", False),
    ("busybox:latest" + D, "busybox:notlatest", False),
    ("busybox:latest", "busybox:latest" + D, False),
    ("busybox:latest" + D, "busybox:latest" + D_OTHER, False),
    ("busybox:latest" + D, "busybox:notlatest" + D_OTHER, False),
]


def _ref(text: str) -> NamedReference | None:
    try:
        return parse_normalized_named(text)
    except InvalidReferenceError:
        return None


def _both_ways(table: list[tuple[str, str, bool]]) -> list[tuple[str, str, bool]]:
    return [row for a, b, result in table for row in ((a, b, result), (b, a, result))]


def _image_cases(prm: PolicyReferenceMatch, table: list[tuple[str, str, bool]]) -> list[Any]:
    """(prm, image, signed, result) for each row whose image reference is valid (an image
    always has a valid reference: the invalid ones only ever appear as signed identities)."""
    return [
        pytest.param(prm, image, signed, result, id=f"{type(prm).__name__}:{image}~{signed}")
        for image, signed, result in _both_ways(table)
        if _ref(image) is not None
    ]


@pytest.mark.parametrize(
    ("prm", "image", "signed", "result"),
    [*_image_cases(MatchExact(), EXACT_TABLE), *_image_cases(MatchRepository(), REPOSITORY_TABLE)],
)
def test_image_identity_matchers(prm: PolicyReferenceMatch, image: str, signed: str, result: bool) -> None:
    assert prm.matches(_ref(image), signed) is result


@pytest.mark.parametrize(
    ("prm", "image", "signed", "result"),
    [
        # matchRepoDigestOrExact accepts everything matchExact accepts ...
        *_image_cases(MatchRepoDigestOrExact(), [row for row in EXACT_TABLE if row[2]]),
        # ... and rejects everything matchRepository rejects,
        *_image_cases(MatchRepoDigestOrExact(), [row for row in REPOSITORY_TABLE if not row[2]]),
    ],
)
def test_match_repo_digest_or_exact_between_exact_and_repository(
    prm: PolicyReferenceMatch, image: str, signed: str, result: bool
) -> None:
    assert prm.matches(_ref(image), signed) is result


@pytest.mark.parametrize(("image", "signed", "result"), REPO_DIGEST_OR_EXACT_TABLE)
def test_match_repo_digest_or_exact(image: str, signed: str, result: bool) -> None:
    # ... and decides the asymmetric cases (so no swapping here).
    image_ref, signed_ref = _ref(image), _ref(signed)
    assert image_ref is not None and signed_ref is not None
    assert MatchRepoDigestOrExact().matches(image_ref, signed) is result
    assert match_repo_digest_or_exact(image_ref, signed_ref) is result


@pytest.mark.parametrize("prm", [MatchExact(), MatchRepoDigestOrExact(), MatchRepository(),
                                 RemapIdentity("example.com", "example.org")])
def test_images_without_identity_never_match(prm) -> None:  # type: ignore[no-untyped-def]
    assert prm.matches(None, "") is False
    assert prm.matches(None, "busybox:latest") is False
    assert prm.needs_image_identity


def _identity_cases(cls: type[ExactReference] | type[ExactRepository], field_name: str,
                    table: list[tuple[str, str, bool]]) -> list[Any]:
    return [
        pytest.param(cls, field_name, intended, signed, result, id=f"{cls.__name__}:{intended}~{signed}")
        for intended, signed, result in _both_ways(table)
    ]


@pytest.mark.parametrize(
    ("cls", "field_name", "intended", "signed", "result"),
    [
        *_identity_cases(ExactReference, "docker_reference", EXACT_TABLE),
        *_identity_cases(ExactRepository, "docker_repository", REPOSITORY_TABLE),
    ],
)
def test_fixed_identity_matchers(
    cls: type[ExactReference] | type[ExactRepository], field_name: str, intended: str, signed: str, result: bool
) -> None:
    # Construct without validation to also cover invalid values, as c/image's test does.
    prm = object.__new__(cls)
    object.__setattr__(prm, field_name, intended)
    assert prm.matches(None, signed) is result
    assert not prm.needs_image_identity


def test_exact_reference_and_repository_validation() -> None:
    ExactReference("busybox:latest")
    with pytest.raises(PolicyError, match="contains neither a tag nor digest"):
        ExactReference("busybox")
    with pytest.raises(PolicyError, match="Invalid format of dockerReference"):
        ExactReference("UPPERCASE")
    ExactRepository("busybox")
    with pytest.raises(PolicyError, match="Invalid format of dockerRepository"):
        ExactRepository("")


@pytest.mark.parametrize(
    ("ref", "prefix", "expected"),
    [
        ("docker.io/image", "docker.io", True),
        ("docker.io/image", "example.com", False),
        ("example.com:5000/image", "example.com:5000", True),
        ("example.com:50000/image", "example.com:5000", False),
        ("example.com:5000/image", "example.com", False),
        ("example.com/foo", "example.com", True),
        ("example.com/foo/bar", "example.com", True),
        ("example.com/foo/bar:baz", "example.com", True),
        ("example.com/foo/bar" + D, "example.com", True),
        ("docker.io/ns/image", "docker.io/library", False),
        ("example.com/library", "docker.io/library", False),
        ("docker.io/libraryy/image", "docker.io/library", False),
        ("docker.io/library/busybox", "docker.io/library", True),
        ("example.com/ns/image", "example.com/ns", True),
        ("example.com/ns2/image", "example.com/ns", False),
        ("example.com/n2/image", "example.com/ns", False),
        ("example.com", "example.com/library/busybox", False),
        ("example.com:5000/ns/image", "example.com/ns", False),
        ("example.com/ns/image", "example.com:5000/ns", False),
        ("docker.io/library/busybox", "docker.io/library/busybox", True),
        ("example.com/library/busybox", "docker.io/library/busybox", False),
        ("docker.io/library/busybox2", "docker.io/library/busybox", False),
        ("example.com/ns/image", "example.com/ns/image", True),
        ("example.com/ns/imag2", "example.com/ns/image", False),
        ("example.com/ns/imagee", "example.com/ns/image", False),
        ("example.com:5000/ns/image", "example.com/ns/image", False),
        ("example.com/ns/image", "example.com:5000/ns/image", False),
        ("example.com/ns/image:tag", "example.com/ns/image", True),
        ("example.com/ns/image" + D, "example.com/ns/image", True),
        ("example.com/ns/image:tag" + D, "example.com/ns/image", True),
    ],
)
def test_remap_ref_matches_prefix(ref: str, prefix: str, expected: bool) -> None:
    prm = RemapIdentity(prefix, "docker.io/library/signed-prefix")
    assert prm.ref_matches_prefix(parse_normalized_named(ref)) is expected


@pytest.mark.parametrize(
    ("prefix", "signed_prefix", "ref", "expected"),
    [
        ("mirror.example", "vendor.example", "mirror.example/ns/image:tag", "vendor.example/ns/image:tag"),
        ("mirror.example", "vendor.example", "different.com/ns/image:tag", "different.com/ns/image:tag"),
        ("mirror.example/ns", "vendor.example/vendor-ns", "mirror.example/different-ns/image:tag",
         "mirror.example/different-ns/image:tag"),
        ("docker.io", "not-docker-signed.example/ns", "busybox", "not-docker-signed.example/ns/library/busybox"),
        ("example.com/mirror", "example.com/vendor", "example.com/mirror/image:tag", "example.com/vendor/image:tag"),
        ("example.com/ns/mirror", "example.com/ns/vendor", "example.com/ns/mirror:tag", "example.com/ns/vendor:tag"),
        ("mirror.example", "vendor.example", "prefixmirror.example/ns/image:tag", "prefixmirror.example/ns/image:tag"),
        ("docker.io", "not-docker-signed.example", "busybox", "not-docker-signed.example/library/busybox"),
        ("docker.io/library", "not-docker-signed.example/ns", "busybox", "not-docker-signed.example/ns/busybox"),
        ("docker.io/library/busybox", "not-docker-signed.example/ns/notbusybox", "busybox",
         "not-docker-signed.example/ns/notbusybox"),
        ("mirror.example", "vendor.example", "mirror.example/image", "vendor.example/image"),
        ("mirror.example", "vendor.example", "mirror.example/image" + D, "vendor.example/image" + D),
        ("mirror.example", "vendor.example", "mirror.example/image:tag" + D, "vendor.example/image:tag" + D),
        ("mirror.example/ns/image", "vendor.example:5000", "mirror.example/ns/image:tag", ""),
        ("mirror.example/ns/image", "vendor.example:5000", "mirror.example/ns/image" + D, ""),
        ("mirror.example/ns/image", "notlocalhost", "mirror.example/ns/image:tag", ""),
    ],
)
def test_remap_reference_prefix(prefix: str, signed_prefix: str, ref: str, expected: str) -> None:
    prm = RemapIdentity(prefix, signed_prefix)
    if expected:
        assert str(prm.remap(parse_normalized_named(ref))) == expected
    else:
        with pytest.raises(InvalidReferenceError):
            prm.remap(parse_normalized_named(ref))


@pytest.mark.parametrize(
    ("prefix", "signed_prefix", "image", "signed", "result"),
    [
        ("does-not-match.com", "does-not-match.rewritten", "busybox:latest", "busybox:latest", True),
        ("does-not-match.com", "does-not-match.rewritten", "busybox:latest", "notbusybox:latest", False),
        ("mirror.example", "public.com", "mirror.example/busybox:1", "public.com/busybox:1", True),
        ("mirror.example", "public.com", "mirror.example/busybox:1", "public.com/busybox:not1", False),
        ("mirror.example", "docker.io/library", "mirror.example/busybox:latest", "busybox:latest", True),
        ("mirror.example", "docker.io/library", "mirror.example/alpine:latest", "busybox:latest", False),
        ("docker.io/library", "original.com", "copied:latest", "original.com/copied:latest", True),
        ("docker.io/library", "original.com", "copied:latest", "original.com/ns/copied:latest", False),
        ("busybox", "example.com/busybox", "busybox:latest", "example.com/busybox:latest", False),
        ("docker.io/library/busybox", "busybox", "docker.io/library/busybox:latest", "busybox:latest", False),
    ],
)
def test_remap_identity_matches(prefix: str, signed_prefix: str, image: str, signed: str, result: bool) -> None:
    prm = RemapIdentity(prefix, signed_prefix)
    assert prm.matches(parse_normalized_named(image), signed) is result


@pytest.mark.parametrize("prefix", ["", "/", "example.com/", "example.com//x", "Example.com/UPPER", "a b"])
def test_remap_prefix_validation(prefix: str) -> None:
    with pytest.raises(PolicyError, match="is not valid"):
        RemapIdentity(prefix, "example.com")
    with pytest.raises(PolicyError, match="is not valid"):
        RemapIdentity("example.com", prefix)


@pytest.mark.parametrize("prefix", ["example.com", "example.com:5000", "localhost", "example.com/ns/repo", "busybox"])
def test_remap_prefix_valid(prefix: str) -> None:
    RemapIdentity(prefix, prefix)
