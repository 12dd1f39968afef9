"""Pure parts of `docker://`: references, policy scopes, Content-Range, error bodies
(WWW-Authenticate parsing is in `test_docker_auth.py`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.errors import InvalidImageNameError, InvalidReferenceError, NotSupportedError, PolicyError
from toolkit.reference import parse_normalized_named
from toolkit.transports.docker import TRANSPORT, DockerReference, ManifestProbe, parse_repository
from toolkit.transports.docker._body import parse_content_range
from toolkit.transports.docker._errors import describe_errors, parse_error_body
from toolkit.types import SystemContext


@pytest.mark.parametrize(
    ("text", "identity", "within"),
    [
        ("//busybox", "docker.io/library/busybox:latest", "//busybox:latest"),
        ("//localhost:5000/a/b:v1", "localhost:5000/a/b:v1", "//localhost:5000/a/b:v1"),
        ("//quay.io/x@sha256:" + "a" * 64, "quay.io/x@sha256:" + "a" * 64, "//quay.io/x@sha256:" + "a" * 64),
    ],
)
def test_reference_round_trip(text: str, identity: str, within: str) -> None:
    ref = TRANSPORT.parse_reference(text)
    assert ref.policy_configuration_identity() == identity
    assert ref.string_within_transport() == within
    assert TRANSPORT.parse_reference(ref.string_within_transport()) == ref


def test_reference_errors() -> None:
    with pytest.raises(InvalidImageNameError, match="does not start with //"):
        TRANSPORT.parse_reference("busybox")
    with pytest.raises(InvalidReferenceError, match="both a tag and digest"):
        TRANSPORT.parse_reference("//busybox:1@sha256:" + "a" * 64)
    with pytest.raises(InvalidReferenceError, match="lowercase"):
        TRANSPORT.parse_reference("//Foo/bar")
    with pytest.raises(InvalidReferenceError, match="No tag or digest"):
        parse_repository("docker://busybox:1")
    assert parse_repository("docker://busybox").name == "docker.io/library/busybox"


def test_a_docker_image_reference_has_exactly_one_of_tag_and_digest(tmp_path: Path) -> None:
    """One rule (`_source.manifest_tail`) for references and for the manifest probe, which
    refuses before making any request (the registry below does not exist)."""
    both = parse_normalized_named("127.0.0.1:9/a/b:1@sha256:" + "a" * 64)
    name_only = parse_normalized_named("127.0.0.1:9/a/b")
    (tmp_path / "empty.conf").write_text("")
    probe = ManifestProbe(SystemContext(registries_conf_path=tmp_path / "empty.conf"))
    for ref, match in ((both, "both a tag and digest"), (name_only, "neither a tag nor a digest")):
        with pytest.raises(InvalidReferenceError, match=match):
            DockerReference.of(ref)
        with pytest.raises(InvalidReferenceError, match=match):
            probe.manifest(ref)
    probe.close()


def test_policy_namespaces() -> None:
    ref = TRANSPORT.parse_reference("//example.com:8443/ns/sub/repo:tag")
    assert ref.policy_configuration_namespaces() == [
        "example.com:8443/ns/sub/repo",
        "example.com:8443/ns/sub",
        "example.com:8443/ns",
        "example.com:8443",
        "*.com",
    ]
    ref = TRANSPORT.parse_reference("//a.b.example.com/x:1")
    assert ref.policy_configuration_namespaces()[-3:] == ["*.b.example.com", "*.example.com", "*.com"]
    TRANSPORT.validate_policy_configuration_scope("*.example.com")
    with pytest.raises(PolicyError):
        TRANSPORT.validate_policy_configuration_scope("example*.*.com")


def test_unknown_digest_destination_reference(tmp_path: Path) -> None:
    """containers/image `@@unknown-digest@@`: a bare name, its own identity and round trip,
    refused as a source and for delete before any request (no registry exists here)."""
    ref = TRANSPORT.parse_reference("//example.com:8443/ns/repo@@unknown-digest@@")
    assert ref.string_within_transport() == "//example.com:8443/ns/repo@@unknown-digest@@"
    assert TRANSPORT.parse_reference(ref.string_within_transport()) == ref
    assert ref.docker_reference().is_name_only()
    assert ref.policy_configuration_identity() == "example.com:8443/ns/repo"
    assert ref.policy_configuration_namespaces() == ["example.com:8443/ns", "example.com:8443", "*.com"]
    short = TRANSPORT.parse_reference("//busybox@@unknown-digest@@")
    assert short.string_within_transport() == "//busybox@@unknown-digest@@"
    assert short.policy_configuration_identity() == "docker.io/library/busybox"
    ctx = SystemContext(registries_conf_path=tmp_path / "none.conf")
    with pytest.raises(NotSupportedError) as info:
        ref.new_image_source(ctx)
    assert str(info.value) == (
        'reading images from docker: reference "//example.com:8443/ns/repo@@unknown-digest@@" '
        "without a tag or digest is not supported"
    )
    with pytest.raises(NotSupportedError, match="^Docker reference without a tag or digest cannot be deleted$"):
        ref.delete_image(ctx)
    for text, shown in (("busybox:1", "docker.io/library/busybox:1"),
                        ("x@sha256:" + "a" * 64, "docker.io/library/x@sha256:" + "a" * 64)):
        with pytest.raises(InvalidReferenceError) as bad:
            TRANSPORT.parse_reference(f"//{text}@@unknown-digest@@")
        assert str(bad.value) == (
            f'docker: image reference "{shown}@@unknown-digest@@" has unknown digest set '
            "but it contains either a tag or digest"
        )
    # The suffix only counts at the end; elsewhere it is a malformed name.
    with pytest.raises(InvalidReferenceError):
        TRANSPORT.parse_reference("//busybox@@unknown-digest@@:1")
    dest = ref.new_image_destination(ctx)
    caps = dest.capabilities
    dest.close()
    assert not caps.supports_signatures
    assert caps.signatures_unsupported_reason == "Unknown manifest digest, can't add signatures"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("bytes 10-19/20", (10, 19, 20)), ("bytes 0-0/*", (0, 0, -1))],
)
def test_content_range_ok(value: str, expected: tuple[int, int, int]) -> None:
    assert parse_content_range(value) == expected


@pytest.mark.parametrize("value", ["bytes 10-9/20", "bytes 0-20/20", "bytes=0-1/2", "bytes -1-2/3", "items 0-1/2", ""])
def test_content_range_bad(value: str) -> None:
    with pytest.raises(ValueError):
        parse_content_range(value)


def test_error_bodies() -> None:
    entries = parse_error_body(b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest \\u001b[2Junknown"}]}')
    text = describe_errors(entries, 404, "Not Found")
    assert text.startswith("manifest unknown: manifest ") and "\x1b" not in text
    assert parse_error_body(b"not json") == []
    assert describe_errors([], 401, "") == "unauthorized: authentication required"
