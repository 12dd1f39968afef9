"""The sigstore payload: containers/image's bytes when writing, paranoid parsing when reading."""

from __future__ import annotations

import json
from typing import Any

import pytest

from toolkit.digest import Digest
from toolkit.errors import InvalidSignatureError
from toolkit.signature.sigstore_payload import SIGSTORE_SIGNATURE_TYPE, make_payload, parse_payload

DIGEST = Digest.parse("sha256:" + "a" * 64)


def test_payload_bytes_match_containers_image_layout() -> None:
    # sigstore_payload.go MarshalJSON: json.Marshal of maps -> keys sorted, compact.
    raw = make_payload(DIGEST, "example.com/ns/repo:tag", creator="containers/image 5.x", timestamp=1700000000)
    assert raw == (
        b'{"critical":{"identity":{"docker-reference":"example.com/ns/repo:tag"},'
        b'"image":{"docker-manifest-digest":"sha256:' + b"a" * 64 + b'"},'
        b'"type":"cosign container image signature"},'
        b'"optional":{"creator":"containers/image 5.x","timestamp":1700000000}}'
    )


def test_payload_uses_go_string_escaping() -> None:
    raw = make_payload(DIGEST, "x/y:t", creator="a<b>&c\u2028", timestamp=1)
    assert b'"creator":"a\\u003cb\\u003e\\u0026c\\u2028"' in raw


def test_payload_round_trip_and_default_timestamp() -> None:
    raw = make_payload(DIGEST, "x/y:t")
    parsed = parse_payload(raw)
    assert parsed.docker_manifest_digest == DIGEST
    assert parsed.docker_reference == "x/y:t"
    assert parsed.creator is not None and parsed.timestamp is not None and parsed.timestamp > 1_600_000_000


def test_empty_reference_is_refused() -> None:
    with pytest.raises(InvalidSignatureError, match="Unexpected empty signature content"):
        make_payload(DIGEST, "")


def _doc(**critical_overrides: Any) -> dict[str, Any]:
    critical: dict[str, Any] = {
        "identity": {"docker-reference": "x/y:t"},
        "image": {"docker-manifest-digest": str(DIGEST)},
        "type": SIGSTORE_SIGNATURE_TYPE,
    }
    critical.update(critical_overrides)
    return {"critical": critical, "optional": {"creator": "c", "timestamp": 5}}


def _raw(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def test_cosign_null_optional_is_accepted() -> None:
    doc = _doc()
    doc["optional"] = None
    parsed = parse_payload(_raw(doc))
    assert parsed.creator is None and parsed.timestamp is None


def test_unknown_optional_keys_are_accepted() -> None:
    doc = _doc()
    doc["optional"]["anything"] = {"nested": [1, 2]}
    assert parse_payload(_raw(doc)).timestamp == 5


def test_integral_float_timestamp_is_accepted_like_go() -> None:
    doc = _doc()
    doc["optional"]["timestamp"] = 1.7e9
    assert parse_payload(_raw(doc)).timestamp == 1_700_000_000


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "(?i)json"),
        (b"[]", "JSON object expected"),
        (b'{"critical":{}}', 'Key "optional" missing'),
        (_raw({**_doc(), "extra": 1}), 'Unknown key "extra"'),
        (_raw(_doc(extra=1)), 'Unknown key "extra"'),
        (_raw(_doc(type="atomic container signature")), "Unrecognized signature type"),
        (_raw(_doc(type=1)), "critical.type must be a string"),
        (_raw(_doc(image={"docker-manifest-digest": "sha256:../x"})), "invalid docker-manifest-digest"),
        (_raw(_doc(image={"docker-manifest-digest": "sha256:" + "A" * 64})), "invalid docker-manifest-digest"),
        (_raw(_doc(image={})), 'Key "docker-manifest-digest" missing'),
        (_raw(_doc(image={"docker-manifest-digest": str(DIGEST), "x": 1})), 'Unknown key "x"'),
        (_raw(_doc(identity={"docker-reference": 5})), "docker-reference must be a string"),
        (_raw(_doc(identity=[])), "JSON object expected"),
        (_raw({"critical": _doc()["critical"], "optional": {"timestamp": 1.5}}), "not an integer"),
        (_raw({"critical": _doc()["critical"], "optional": {"timestamp": "5"}}), "must be a number"),
        (_raw({"critical": _doc()["critical"], "optional": {"timestamp": True}}), "must be a number"),
        (_raw({"critical": _doc()["critical"], "optional": {"creator": 5}}), "creator must be a string"),
        (_raw({"critical": _doc()["critical"], "optional": []}), "JSON object expected"),
        (
            b'{"critical":{"identity":{"docker-reference":"a"},"identity":{"docker-reference":"b"},"image":'
            b'{"docker-manifest-digest":"sha256:' + b"a" * 64 + b'"},"type":"cosign container image signature"},'
            b'"optional":null}',
            "(?i)duplicate",
        ),
        (_raw(_doc()) + b"{}", "(?i)after|extra|trailing"),
        (b"\xef\xbb\xbf" + _raw(_doc()), "(?i)bom|utf-8|byte order"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_strict_parsing_refusals(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidSignatureError, match=message):
        parse_payload(raw)


def test_oversized_payload_is_refused() -> None:
    doc = _doc()
    doc["optional"]["pad"] = "x" * (4 << 20)
    with pytest.raises(InvalidSignatureError, match="exceeded maximum allowed size"):
        parse_payload(_raw(doc))
