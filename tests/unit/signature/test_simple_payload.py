"""Simple-signing payloads: exact output and strict parsing (security.md row 13, corpus 26)."""

from __future__ import annotations

import json

import pytest

from toolkit.digest import Digest
from toolkit.errors import InvalidSignatureError
from toolkit.signature.simple import (
    SIGNATURE_TYPE,
    default_creator,
    digest_validator,
    make_payload,
    parse_payload,
    verify_and_extract,
)

DIGEST = Digest.parse("sha256:20bf21ed457b390829cdbeec8795a7bea1626991fda603e0d01b4e7f60427e55")


def test_payload_bytes_as_containers_image_writes_them() -> None:
    raw = make_payload(DIGEST, "docker.io/library/busybox:latest", creator="atomic 5.23.1", timestamp=1700000000)
    assert raw == (
        b'{"critical":{"identity":{"docker-reference":"docker.io/library/busybox:latest"},'
        b'"image":{"docker-manifest-digest":"sha256:20bf21ed457b390829cdbeec8795a7bea1626991fda603e0d01b4e7f60427e55"},'
        b'"type":"atomic container signature"},"optional":{"creator":"atomic 5.23.1","timestamp":1700000000}}'
    )


def test_default_payload_fields() -> None:
    doc = json.loads(make_payload(DIGEST, "example.com/a:b"))
    assert doc["optional"]["creator"] == default_creator()
    assert default_creator().startswith("atomic skopo ")
    assert isinstance(doc["optional"]["timestamp"], int)


def test_round_trip() -> None:
    parsed = parse_payload(make_payload(DIGEST, "example.com/a:b", creator="c", timestamp=5))
    assert parsed.untrusted_docker_manifest_digest == DIGEST
    assert parsed.untrusted_docker_reference == "example.com/a:b"
    assert parsed.untrusted_creator == "c" and parsed.untrusted_timestamp == 5


def doc(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "critical": {
            "identity": {"docker-reference": "example.com/a:b"},
            "image": {"docker-manifest-digest": str(DIGEST)},
            "type": SIGNATURE_TYPE,
        },
        "optional": {"creator": "x", "timestamp": 1},
    }
    base.update(changes)
    return base


def crit(**changes: object) -> dict[str, object]:
    c: dict[str, object] = dict(doc()["critical"])  # type: ignore[call-overload]
    c.update(changes)
    return c


def test_optional_may_be_empty_or_carry_unknown_keys() -> None:
    assert parse_payload(json.dumps(doc(optional={})).encode()).untrusted_timestamp is None
    parse_payload(json.dumps(doc(optional={"unknown": [1, 2], "timestamp": 3})).encode())
    # Go decodes the timestamp as float64 and accepts integral values.
    assert parse_payload(json.dumps(doc(optional={"timestamp": 2.0})).encode()).untrusted_timestamp == 2


BAD = [
    ("not json", b"This is not JSON\n", "invalid JSON"),
    ("array", b"[]", "JSON object expected"),
    ("extra top key", json.dumps(doc(extra=1)).encode(), 'Unknown key "extra"'),
    ("missing optional", json.dumps({"critical": doc()["critical"]}).encode(), 'Key "optional" missing'),
    ("unknown critical key", json.dumps(doc(critical=crit(extra=1))).encode(), 'critical: Unknown key "extra"'),
    ("missing identity", json.dumps(doc(critical={k: v for k, v in crit().items() if k != "identity"})).encode(),
     'Key "identity" missing'),
    ("wrong type", json.dumps(doc(critical=crit(type="cosign container image signature"))).encode(),
     "Unrecognized signature type"),
    ("type not string", json.dumps(doc(critical=crit(type=1))).encode(), "not a string"),
    ("bad digest", json.dumps(doc(critical=crit(image={"docker-manifest-digest": "sha256:../x"}))).encode(),
     "invalid docker-manifest-digest"),
    ("extra image key", json.dumps(doc(critical=crit(image={"docker-manifest-digest": str(DIGEST), "x": 1}))).encode(),
     'critical.image: Unknown key "x"'),
    ("identity not string", json.dumps(doc(critical=crit(identity={"docker-reference": 5}))).encode(), "not a string"),
    ("float timestamp", json.dumps(doc(optional={"timestamp": 1.5})).encode(), "not an integer"),
    ("string timestamp", json.dumps(doc(optional={"timestamp": "1"})).encode(), "not a number"),
    ("creator not string", json.dumps(doc(optional={"creator": 1})).encode(), "creator is not a string"),
    ("duplicate critical", b'{"critical":{},"critical":{},"optional":{}}', "duplicate key"),
    ("optional not object", json.dumps(doc(optional=[])).encode(), "must be a JSON object"),
]


@pytest.mark.parametrize(("case", "raw", "message"), BAD, ids=[b[0] for b in BAD])
def test_malformed_payloads(case: str, raw: bytes, message: str) -> None:
    with pytest.raises(InvalidSignatureError, match=message):
        parse_payload(raw)


def test_verify_and_extract_order_and_keys() -> None:
    payload = make_payload(DIGEST, "example.com/a:b")
    manifest = b"not the manifest"

    def accept(_: str) -> None:
        return None

    with pytest.raises(InvalidSignatureError, match="signature by key AAAA is not accepted"):
        verify_and_extract(payload, "aaaa", accepted_fingerprints=["BBBB"], validate_digest=lambda d: None,
                           validate_identity=accept)
    with pytest.raises(InvalidSignatureError, match="of CCCC is not accepted"):
        verify_and_extract(payload, "AAAA", primary_fingerprint="CCCC", accepted_fingerprints=["BBBB"],
                           validate_digest=lambda d: None, validate_identity=accept)
    # A subkey signature is accepted through its primary key, and reported as the primary.
    ok = verify_and_extract(payload, "AAAA", primary_fingerprint="BBBB", accepted_fingerprints=["bbbb"],
                            validate_digest=lambda d: None, validate_identity=accept)
    assert ok.key_fingerprint == "BBBB" and ok.docker_reference == "example.com/a:b"
    with pytest.raises(InvalidSignatureError, match="does not match"):
        verify_and_extract(payload, "BBBB", accepted_fingerprints=["BBBB"], validate_digest=digest_validator(manifest),
                           validate_identity=accept)
