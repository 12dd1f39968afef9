"""The signature storage blob format (containers/image internal/signature/signature.go)."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.errors import SignatureError
from toolkit.signature import (
    Sigstore,
    SimpleSigning,
    UnknownSignature,
    parse_signature_blob,
    serialize_signature,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures/signature"


@pytest.mark.parametrize("first", [0xA0, 0xA1, 0xA2, 0xA3, 0xC8, 0x90, 0x91, 0x92, 0xC4, 0x88, 0x89, 0x8A, 0x8B, 0xC2])
def test_openpgp_first_bytes_are_simple_signing(first: int) -> None:
    blob = bytes([first]) + b"rest"
    parsed = parse_signature_blob(blob)
    assert parsed == SimpleSigning(blob)
    assert serialize_signature(parsed) == blob


def test_fixture_signature_is_simple_signing() -> None:
    blob = (FIXTURES / "image.signature").read_bytes()
    assert isinstance(parse_signature_blob(blob), SimpleSigning)


def test_prefixed_simple_signing() -> None:
    assert parse_signature_blob(b"\x00simple-signing\n\xa3data") == SimpleSigning(b"\xa3data")


def test_sigstore_round_trip() -> None:
    sig = Sigstore("application/vnd.dev.cosign.simplesigning.v1+json", b'{"a":1}', {"k": "v"})
    blob = serialize_signature(sig)
    assert blob.startswith(b"\x00sigstore-json\n")
    assert parse_signature_blob(blob) == sig


def test_sigstore_fixture() -> None:
    parsed = parse_signature_blob((FIXTURES / "dir-img-cosign-valid/signature-1").read_bytes())
    assert isinstance(parsed, Sigstore)
    assert parsed.untrusted_mime_type == "application/vnd.dev.cosign.simplesigning.v1+json"
    assert "dev.cosignproject.cosign/signature" in parsed.untrusted_annotations


def test_unknown_format_kept() -> None:
    parsed = parse_signature_blob(b"\x00future-format\nopaque")
    assert parsed == UnknownSignature("future-format", b"opaque")
    assert serialize_signature(parsed) == b"\x00future-format\nopaque"


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", "empty signature blob"),
        (b"\x84rest", "unrecognized signature format, starting with binary 0x84"),
        (b"{json}", "unrecognized signature format"),
        (b"\x00no-newline", "missing newline"),
        (b"\x00bad\x01name\n", "non-ASCII byte 0x1"),
        (b"\x00sigstore-json\n{", "invalid JSON"),
        (b'\x00sigstore-json\n{"payload":"!!"}', "not valid base64"),
        (b'\x00sigstore-json\n{"mimeType":1}', "must be a string"),
        (b'\x00sigstore-json\n{"mimeType":"a","mimeType":"b"}', "duplicate key"),
        (b"\xa3" + b"x" * (4 << 20), "exceeded maximum allowed size"),
        (b"\x00sigstore-json\n" + b" " * (8 << 20) + b"{}", "exceeded maximum allowed size"),
    ],
)
def test_malformed_blobs(blob: bytes, message: str) -> None:
    with pytest.raises(SignatureError, match=message):
        parse_signature_blob(blob)


def test_unsigned_encrypted_fixture_is_not_a_signature_blob() -> None:
    with pytest.raises(SignatureError, match="unrecognized signature format"):
        parse_signature_blob((FIXTURES / "unsigned-encrypted.signature").read_bytes())


def test_sigstore_unknown_fields_are_ignored() -> None:
    """containers/image ignores unknown JSON fields (forward compatibility)."""
    parsed = parse_signature_blob(b'\x00sigstore-json\n{"mimeType":"m","payload":"YQ==","extra":1}')
    assert parsed == Sigstore("m", b"a")


def test_sigstore_4mib_payload_is_allowed() -> None:
    """A 4 MiB payload is 5.3 MiB after base64: still a valid blob."""
    sig = Sigstore("application/vnd.dev.cosign.simplesigning.v1+json", b"p" * (4 << 20))
    blob = serialize_signature(sig)
    assert len(blob) > 4 << 20
    assert parse_signature_blob(blob) == sig


def test_sigstore_serialization_is_go_json() -> None:
    """Byte-identical to containers/image (Go json.Marshal: HTML escaping, sorted keys, null annotations)."""
    sig = Sigstore("application/vnd.dev.cosign.simplesigning.v1+json", b"<&>", {"b": "<x>", "a": "1"})
    assert serialize_signature(sig) == (
        b'\x00sigstore-json\n{"mimeType":"application/vnd.dev.cosign.simplesigning.v1+json",'
        b'"payload":"PCY+","annotations":{"a":"1","b":"\\u003cx\\u003e"}}'
    )
    assert serialize_signature(Sigstore("m", b"")).endswith(b'"payload":"","annotations":null}')


def test_sigstore_fixture_reserialized_identically() -> None:
    for blob_path in sorted((FIXTURES.parent / "sigstore").glob("dir-img-cosign-*/signature-*")):
        blob = blob_path.read_bytes()
        # Two of them were hand-made in containers/image and end with a newline json.Marshal does not write.
        assert serialize_signature(parse_signature_blob(blob)) == blob.removesuffix(b"\n"), blob_path
