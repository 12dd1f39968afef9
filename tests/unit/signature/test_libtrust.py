"""`signature.libtrust`: the throwaway JWS of schema1 manifests, checked as libtrust verifies it."""

from __future__ import annotations

import base64
import json
import re

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from toolkit.errors import ManifestError
from toolkit.manifest.digests import schema1_payload
from toolkit.signature.libtrust import add_dummy_schema1_signature, libtrust_key_id

UNSIGNED = b'{"name":"a","tag":"b","schemaVersion":1}'


def b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_layout_and_signature_verify() -> None:
    signed = add_dummy_schema1_signature(UNSIGNED, now=0)
    assert signed.startswith(UNSIGNED[:-1] + b',"signatures":[{"header":{"jwk":{"crv":"P-256","kid":"')
    assert signed.endswith(b"}]}")
    (sig,) = json.loads(signed)["signatures"]
    assert list(sig) == ["header", "signature", "protected"]
    assert list(sig["header"]) == ["jwk", "alg"]
    protected = json.loads(b64(sig["protected"]))
    assert protected == {"formatLength": len(UNSIGNED) - 1, "formatTail": "fQ", "time": "1970-01-01T00:00:00Z"}
    assert schema1_payload(signed) == UNSIGNED
    jwk = sig["header"]["jwk"]
    key = ec.EllipticCurvePublicNumbers(
        int.from_bytes(b64(jwk["x"]), "big"), int.from_bytes(b64(jwk["y"]), "big"), ec.SECP256R1()
    ).public_key()
    assert jwk["kid"] == libtrust_key_id(key)
    assert re.fullmatch(r"([A-Z2-7]{4}:){11}[A-Z2-7]{4}", jwk["kid"])
    rs = b64(sig["signature"])
    assert len(rs) == 64
    signing_input = (sig["protected"] + "." + base64.urlsafe_b64encode(UNSIGNED).rstrip(b"=").decode()).encode()
    key.verify(encode_dss_signature(int.from_bytes(rs[:32], "big"), int.from_bytes(rs[32:], "big")),
               signing_input, ec.ECDSA(hashes.SHA256()))
    # A fresh key every time.
    assert json.loads(add_dummy_schema1_signature(UNSIGNED))["signatures"][0]["header"]["jwk"] != jwk


@pytest.mark.parametrize("bad", [b"[1]", b"not json", b'{"a":1,}', b'"x"'])
def test_refuses_what_libtrust_refuses(bad: bytes) -> None:
    with pytest.raises(ManifestError):
        add_dummy_schema1_signature(bad)
