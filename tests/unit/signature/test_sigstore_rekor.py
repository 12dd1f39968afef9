"""Rekor SET verification (containers/image signature/internal/rekor_set.go and its test data,
made by real cosign against the public Rekor) and RFC 8785 canonical JSON."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from toolkit.errors import InvalidSignatureError
from toolkit.signature.rekor import canonical_json, verify_rekor_set
from toolkit.signature.sigstore_keys import load_public_key

F = Path(__file__).resolve().parents[2] / "fixtures/sigstore"


def rekor_key() -> ec.EllipticCurvePublicKey:
    key = load_public_key((F / "rekor.pub").read_bytes())
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


SET = (F / "rekor-set").read_bytes()
CERT = (F / "rekor-cert").read_bytes()
SIG = (F / "rekor-sig").read_text()
PAYLOAD = (F / "rekor-payload").read_bytes()


def test_cosign_set_verifies() -> None:
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    for keys in ([rekor_key()], [rekor_key(), other], [other, rekor_key()]):
        assert verify_rekor_set(keys, SET, CERT, SIG, PAYLOAD) == 1670870899


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"untrusted_set": b""}, "(?i)json"),
        ({"untrusted_set": b"invalid signature"}, "(?i)json"),
        ({"untrusted_set": b"{}"}, 'Key "SignedEntryTimestamp" missing'),
        ({"untrusted_set": b'{"SignedEntryTimestamp":"","Payload":{},"x":1}'}, 'Unknown key "x"'),
        ({"untrusted_payload": PAYLOAD + b" "}, "payload in Rekor SET does not match"),
        ({"untrusted_base64_signature": base64.b64encode(b"x").decode()}, "signature in Rekor SET does not match"),
        ({"untrusted_base64_signature": "!!"}, "decoding signature base64"),
        ({"untrusted_key_or_cert_pem": (F / "cosign.pub").read_bytes()}, "publicKey in Rekor SET does not match"),
        ({"untrusted_key_or_cert_pem": b"not PEM"}, "is not in PEM format"),
        ({"untrusted_key_or_cert_pem": CERT + CERT}, "has trailing data"),
    ],
)
def test_cosign_set_refusals(args: dict[str, object], message: str) -> None:
    call: dict[str, object] = {
        "untrusted_set": SET,
        "untrusted_key_or_cert_pem": CERT,
        "untrusted_base64_signature": SIG,
        "untrusted_payload": PAYLOAD,
    }
    call.update(args)
    with pytest.raises(InvalidSignatureError, match=message):
        verify_rekor_set([rekor_key()], **call)  # type: ignore[arg-type]


def test_wrong_rekor_key() -> None:
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(InvalidSignatureError, match="cryptographic signature verification of Rekor SET failed"):
        verify_rekor_set([other], SET, CERT, SIG, PAYLOAD)
    with pytest.raises(InvalidSignatureError, match="no Rekor public key"):
        verify_rekor_set([], SET, CERT, SIG, PAYLOAD)


def test_set_with_reformatted_payload_still_verifies() -> None:
    # The signature covers the canonical form, so whitespace and key order do not matter.
    doc = json.loads(SET)
    reformatted = json.dumps(
        {"Payload": dict(reversed(list(doc["Payload"].items()))), "SignedEntryTimestamp": doc["SignedEntryTimestamp"]},
        indent=2,
    ).encode()
    assert verify_rekor_set([rekor_key()], reformatted, CERT, SIG, PAYLOAD) == 1670870899


def _signed_set(key: ec.EllipticCurvePrivateKey, payload_json: bytes) -> bytes:
    canonical = canonical_json(json.loads(payload_json))
    signature = key.sign(hashlib.sha256(canonical).digest(), ec.ECDSA(Prehashed(hashes.SHA256())))
    return b'{"SignedEntryTimestamp":"' + base64.b64encode(signature) + b'","Payload":' + payload_json + b"}"


def test_duplicate_keys_in_set_payload_are_refused() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    payload = b'{"logIndex":1,"integratedTime":2,"body":"abc","logID":"def","body":"ABC"}'
    signature = key.sign(b"irrelevant", ec.ECDSA(hashes.SHA256()))
    bad = b'{"SignedEntryTimestamp":"' + base64.b64encode(signature) + b'","Payload":' + payload + b"}"
    with pytest.raises(InvalidSignatureError, match="(?i)duplicate"):
        verify_rekor_set([key.public_key()], bad, CERT, SIG, PAYLOAD)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"{}", 'Key "body" missing'),
        (b'{"body":"","integratedTime":1.5,"logIndex":1,"logID":"x"}', "integratedTime: integer expected"),
        (b'{"body":"","integratedTime":1,"logIndex":"1","logID":"x"}', "logIndex: integer expected"),
        (b'{"body":"","integratedTime":1,"logIndex":1,"logID":5}', "logID: string expected"),
        (b'{"body":"!","integratedTime":1,"logIndex":1,"logID":"x"}', "body: invalid base64"),
        (b'{"body":"e30=","integratedTime":1,"logIndex":1,"logID":"x"}', "invalid kind value"),
    ],
)
def test_correctly_signed_but_invalid_payloads(payload: bytes, message: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(InvalidSignatureError, match=message):
        verify_rekor_set([key.public_key()], _signed_set(key, payload), CERT, SIG, PAYLOAD)


# --- RFC 8785 ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bits", "expected"),
    [
        (0x0000000000000000, "0"),
        (0x8000000000000000, "0"),
        (0x0000000000000001, "5e-324"),
        (0x8000000000000001, "-5e-324"),
        (0x7FEFFFFFFFFFFFFF, "1.7976931348623157e+308"),
        (0xFFEFFFFFFFFFFFFF, "-1.7976931348623157e+308"),
        (0x4340000000000000, "9007199254740992"),
        (0xC340000000000000, "-9007199254740992"),
        (0x4430000000000000, "295147905179352830000"),
        (0x44B52D02C7E14AF5, "9.999999999999997e+22"),
        (0x44B52D02C7E14AF6, "1e+23"),
        (0x44B52D02C7E14AF7, "1.0000000000000001e+23"),
        (0x444B1AE4D6E2EF4E, "999999999999999700000"),
        (0x444B1AE4D6E2EF4F, "999999999999999900000"),
        (0x444B1AE4D6E2EF50, "1e+21"),
        (0x3EB0C6F7A0B5ED8C, "9.999999999999997e-7"),
        (0x3EB0C6F7A0B5ED8D, "0.000001"),
        (0x41B3DE4355555553, "333333333.3333332"),
        (0x41B3DE4355555554, "333333333.33333325"),
        (0x41B3DE4355555555, "333333333.3333333"),
        (0x41B3DE4355555556, "333333333.3333334"),
        (0x41B3DE4355555557, "333333333.33333343"),
        (0xBECBF647612F3696, "-0.0000033333333333333333"),
        (0x43143FF3C1CB0959, "1424953923781206.2"),
    ],
)
def test_rfc8785_numbers(bits: int, expected: str) -> None:
    value = struct.unpack(">d", bits.to_bytes(8, "big"))[0]
    assert canonical_json(value) == expected.encode()


def test_rfc8785_object_ordering_and_strings() -> None:
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    keys = list(json.loads(canonical_json(value)))
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]
    assert canonical_json({"a": '\u2028"\\\x01/é', "b": [True, None, 1, 2.5e-7]}) == (
        '{"a":"\u2028\\"\\\\\\u0001/é","b":[true,null,1,2.5e-7]}'.encode()
    )


# --- the Fulcio certificate of the same cosign signature (containers/image fulcio_cert_test.go) -----------------


def test_fulcio_certificate_pieces() -> None:
    from datetime import UTC, datetime

    from toolkit.signature.fulcio import FulcioTrustRoot
    from toolkit.signature.sigstore_keys import public_key_der

    cert, chain = (F / "fulcio-cert").read_bytes(), (F / "fulcio-chain").read_bytes()
    root = FulcioTrustRoot.from_pem(
        (F / "fulcio_v1.crt.pem").read_bytes(),
        oidc_issuer="https://github.com/login/oauth",
        subject_email="mitr@redhat.com",
    )
    at = datetime.fromtimestamp(1670870899, tz=UTC)
    key = root.verify_certificate(cert, chain, at=at)
    assert public_key_der(key) == public_key_der(load_public_key(_cert_key_pem(cert)))
    with pytest.raises(InvalidSignatureError, match="loading certificate chain"):
        root.verify_certificate(cert, b"not a certificate", at=at)
    with pytest.raises(InvalidSignatureError, match="no PEM certificate"):
        root.verify_certificate(b"not a certificate", chain, at=at)
    with pytest.raises(InvalidSignatureError, match="unknown authority"):
        root.verify_certificate(cert, b"", at=at)
    direct = FulcioTrustRoot.from_pem(
        chain, oidc_issuer="https://github.com/login/oauth", subject_email="mitr@redhat.com"
    )
    direct.verify_certificate(cert, b"", at=at)
    for moment in (datetime(2022, 12, 12, 18, 48, 17, tzinfo=UTC), datetime(2022, 12, 12, 18, 58, 19, tzinfo=UTC)):
        with pytest.raises(InvalidSignatureError, match="expired or is not yet valid"):
            root.verify_certificate(cert, chain, at=moment)


def _cert_key_pem(cert_pem: bytes) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    return (
        x509.load_pem_x509_certificate(cert_pem)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
