"""signedIdentity matchers, ported from containers/image signature/policy_reference_match_test.go."""

from __future__ import annotations

import pytest

from toolkit.errors import InvalidReferenceError, PolicyError
from toolkit.policy.match import (
    ExactReference,
    ExactRepository,
    MatchExact,
    MatchRepoDigestOrExact,
    MatchRepository,
    RemapIdentity,
    match_repo_digest_or_exact,
)
from toolkit.reference import parse_normalized_named

FULL_RHEL = "registry.access.redhat.com/rhel7/rhel:7.2.3"
UNTAGGED_RHEL = "registry.access.redhat.com/rhel7/rhel"
D = "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
D_OTHER = "@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

EXACT_TABLE = [
    ("busybox:latest", "busybox:latest", True),
    (FULL_RHEL, FULL_RHEL, True),
    ("busybox" + D, "busybox" + D, True),
    ("library/busybox:latest", "busybox:latest", True),
    ("docker.io/library/busybox:latest", "busybox:latest", True),
    ("library/busybox" + D, "busybox" + D, True),
    ("busybox:latest", "busybox:notlatest", False),
    ("busybox:latest", "notbusybox:latest", False),
    ("busybox:latest", "hostname/library/busybox:notlatest", False),
    ("hostname/library/busybox:latest", "busybox:notlatest", False),
    ("busybox:latest", FULL_RHEL, False),
    ("busybox" + D, "notbusybox" + D, False),
    ("busybox:latest", "busybox" + D, False),
    ("busybox" + D, "busybox" + D_OTHER, False),
    ("busybox", "busybox:latest", False),
    ("busybox", "busybox" + D, False),
    ("busybox", "busybox", False),
    ("busybox:latest" + D, "busybox:latest" + D, True),
    ("busybox:latest" + D, "busybox:latest" + D_OTHER, False),
    ("busybox:latest" + D, "busybox:notlatest" + D, False),
    ("busybox:latest" + D, "busybox" + D, False),
    ("busybox:latest" + D, "busybox:latest", False),
    ("UPPERCASE_IS_INVALID_IN_DOCKER_REFERENCES", "busybox:latest", False),
    ("", "UPPERCASE_IS_INVALID_IN_DOCKER_REFERENCES", False),
    ("INVALID", "INVALID", False),
]

REPOSITORY_TABLE = [
    ("busybox:latest", "busybox:latest", True),
    (FULL_RHEL, FULL_RHEL, True),
    ("busybox" + D, "busybox" + D, True),
    ("library/busybox:latest", "busybox:latest", True),
    ("docker.io/library/busybox:latest", "busybox:latest", True),
    ("library/busybox" + D, "busybox" + D, True),
    ("busybox:latest", "busybox:notlatest", True),
    (FULL_RHEL + "tagsuffix", FULL_RHEL, True),
    ("library/busybox:latest", "busybox:notlatest", True),
    ("busybox:latest", "library/busybox:notlatest", True),
    ("docker.io/library/busybox:notlatest", "busybox:latest", True),
    ("busybox:notlatest", "docker.io/library/busybox:latest", True),
    ("busybox:latest", "busybox" + D, True),
    ("busybox" + D, "busybox" + D_OTHER, True),
    ("busybox", "busybox:notlatest", True),
    (FULL_RHEL, UNTAGGED_RHEL, True),
    ("busybox", "busybox" + D, True),
    ("library/busybox", "busybox", True),
    ("docker.io/library/busybox", "busybox", True),
    ("busybox:latest", "notbusybox:latest", False),
    ("hostname/library/busybox:latest", "busybox:notlatest", False),
    ("busybox:latest", FULL_RHEL, False),
    ("busybox" + D, "notbusybox" + D, False),
    ("busybox:latest" + D, "busybox:latest" + D, True),
    ("busybox:latest" + D, "busybox:latest" + D_OTHER, True),
    ("busybox:latest" + D, "busybox:notlatest" + D, True),
    ("busybox:latest" + D, "busybox" + D, True),
    ("busybox:latest" + D, "busybox:latest", True),
    ("UPPERCASE_IS_INVALID_IN_DOCKER_REFERENCES", "busybox:latest", False),
    ("", "UPPERCASE_IS_INVALID_IN_DOCKER_REFERENCES", False),
    ("INVALID", "INVALID", False),
]

REPO_DIGEST_OR_EXACT_TABLE = [
    ("busybox:latest", "busybox:notlatest", False),
    (FULL_RHEL + "tagsuffix", FULL_RHEL, False),
    ("library/busybox:latest", "busybox:notlatest", False),
    ("busybox:latest", "library/busybox:notlatest", False),
    ("docker.io/library/busybox:notlatest", "busybox:latest", False),
    ("busybox:notlatest", "docker.io/library/busybox:latest", False),
    ("busybox", "busybox:latest", False),
    ("busybox:latest", "busybox", False),
    ("busybox", "busybox" + D, False),
    ("busybox" + D, "busybox", False),
    (FULL_RHEL, UNTAGGED_RHEL, False),
    ("busybox", "busybox", False),
    ("busybox:latest", "busybox" + D, False),
    ("busybox" + D, "busybox:latest", True),
    ("busybox" + D, "busybox" + D_OTHER, True),
    ("busybox:latest" + D, "busybox:latest", False),
    ("busybox:latest" + D, "busybox:notlatest", False),
    ("busybox:latest", "busybox:latest" + D, False),
    ("busybox:latest" + D, "busybox:latest" + D_OTHER, False),
    ("busybox:latest" + D, "busybox:notlatest" + D_OTHER, False),
]


def _ref(text: str):  # type: ignore[no-untyped-def]
    try:
        return parse_normalized_named(text)
    except InvalidReferenceError:
        return None


def _both_ways(table):  # type: ignore[no-untyped-def]
    for a, b, result in table:
        yield a, b, result
        yield b, a, result


@pytest.mark.parametrize(("image", "signed", "result"), list(_both_ways(EXACT_TABLE)))
def test_match_exact(image: str, signed: str, result: bool) -> None:
    ref = _ref(image)
    if ref is None:
        return  # an image always has a valid reference
    assert MatchExact().matches(ref, signed) is result


@pytest.mark.parametrize(("image", "signed", "result"), list(_both_ways(REPOSITORY_TABLE)))
def test_match_repository(image: str, signed: str, result: bool) -> None:
    ref = _ref(image)
    if ref is None:
        return
    assert MatchRepository().matches(ref, signed) is result


def test_match_repo_digest_or_exact() -> None:
    prm = MatchRepoDigestOrExact()
    # Accepts everything matchExact accepts ...
    for a, b, result in _both_ways(EXACT_TABLE):
        if result and _ref(a) is not None:
            assert prm.matches(_ref(a), b), (a, b)
    # ... rejects everything matchRepository rejects ...
    for a, b, result in _both_ways(REPOSITORY_TABLE):
        if not result and _ref(a) is not None:
            assert not prm.matches(_ref(a), b), (a, b)
    # ... and the asymmetric cases.
    for image, signed, result in REPO_DIGEST_OR_EXACT_TABLE:
        assert prm.matches(_ref(image), signed) is result, (image, signed)
        assert match_repo_digest_or_exact(_ref(image), _ref(signed)) is result


@pytest.mark.parametrize("prm", [MatchExact(), MatchRepoDigestOrExact(), MatchRepository(),
                                 RemapIdentity("example.com", "example.org")])
def test_images_without_identity_never_match(prm) -> None:  # type: ignore[no-untyped-def]
    assert prm.matches(None, "") is False
    assert prm.matches(None, "busybox:latest") is False
    assert prm.needs_image_identity


@pytest.mark.parametrize(("intended", "signed", "result"), list(_both_ways(EXACT_TABLE)))
def test_exact_reference(intended: str, signed: str, result: bool) -> None:
    # Construct without validation to also cover invalid values, as c/image's test does.
    prm = object.__new__(ExactReference)
    object.__setattr__(prm, "docker_reference", intended)
    assert prm.matches(None, signed) is result
    assert not prm.needs_image_identity


@pytest.mark.parametrize(("intended", "signed", "result"), list(_both_ways(REPOSITORY_TABLE)))
def test_exact_repository(intended: str, signed: str, result: bool) -> None:
    prm = object.__new__(ExactRepository)
    object.__setattr__(prm, "docker_repository", intended)
    assert prm.matches(None, signed) is result


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
