"""The JWS ("prettyjws") signature a docker schema1 manifest carries, as libtrust writes it.

docker/distribution refuses a schema1 manifest without a valid JWS signature (even under the
nominally unsigned media type), so a manifest converted to schema1 is signed with a
throwaway key, as containers/image `manifest.AddDummyV2S1Signature` does: the signature
proves nothing about who made the image and nothing ever verifies it against a trusted key.

`add_dummy_schema1_signature(unsigned)` takes the compact JSON of an unsigned schema1
manifest (Go `json.Marshal` output, ending in `}`) and returns the signed document, byte for
byte in libtrust's layout (`JSONSignature.Sign` with a fresh ECDSA P-256 key, then
`PrettySignature("signatures")` with no indent):

    PAYLOAD[:formatLength] + ',"signatures":[{"header":{"jwk":JWK,"alg":"ES256"},
    "signature":B64URL(r||s),"protected":B64URL(PROTECTED)}]}'

where `formatLength` is the offset of the payload's last `}` (the payload minus its tail),
`PROTECTED` is `{"formatLength":N,"formatTail":B64URL(tail),"time":RFC3339 UTC}` and the
signed bytes are `B64URL(PROTECTED) + "." + B64URL(payload)`. The JWK is libtrust's map
(`crv`, `kid`, `kty`, `x`, `y`, sorted as Go sorts map keys); `kid` is libtrust's key ID
(SHA-256 of the PKIX DER, first 240 bits, base32 in 12 groups of 4).

The manifest's digest is that of the payload (the unsigned bytes), which
`toolkit.manifest.digests.schema1_payload` recovers from the signed document.

Raises `ManifestError` for an input that is not a JSON object ending in `}`.
`cryptography` is used only in `toolkit/signature/` and `toolkit/crypt/`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Final

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from toolkit.errors import ManifestError

__all__ = ["add_dummy_schema1_signature", "libtrust_key_id"]

_WHITESPACE: Final = b" \t\n\r\x0b\x0c"  # unicode.IsSpace over the ASCII range libtrust sees


def _b64url(data: bytes) -> str:
    """libtrust `joseBase64UrlEncode`: base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def libtrust_key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """libtrust `keyIDFromCryptoKey`: `ABCD:EFGH:...` (12 groups) from the key's PKIX DER."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    text = base64.b32encode(hashlib.sha256(der).digest()[:30]).rstrip(b"=").decode("ascii")
    return ":".join(text[i : i + 4] for i in range(0, len(text), 4))


def _format_length(payload: bytes) -> int:
    """libtrust `NewJSONSignature`: the length of `payload` without its closing `}` and the
    whitespace around it; refuses a document that does not end in `}` or has `,}`."""
    close = len(payload.rstrip(_WHITESPACE)) - 1
    if close < 0 or payload[close : close + 1] != b"}":
        raise ManifestError("signing a schema1 manifest: invalid json content")
    before = payload[:close].rstrip(_WHITESPACE)
    if not before or before.endswith(b","):
        raise ManifestError("signing a schema1 manifest: invalid json content")
    return len(before)


def add_dummy_schema1_signature(unsigned: bytes, *, now: float | None = None) -> bytes:
    """Sign `unsigned` (a compact schema1 manifest) with a fresh, discarded P-256 key.

    `now` (seconds since the epoch) fixes the protected header's time for tests.
    """
    try:
        doc = json.loads(unsigned)
    except (ValueError, UnicodeDecodeError):
        raise ManifestError("signing a schema1 manifest: not valid JSON") from None
    if not isinstance(doc, dict):
        raise ManifestError("signing a schema1 manifest: not a JSON object")
    length = _format_length(unsigned)
    tail = unsigned[length:]
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if now is None else now))
    protected = _b64url(
        json.dumps({"formatLength": length, "formatTail": _b64url(tail), "time": stamp}, separators=(",", ":")).encode()
    )
    key = ec.generate_private_key(ec.SECP256R1())
    signed_bytes = f"{protected}.{_b64url(unsigned)}".encode("ascii")
    r, s = decode_dss_signature(key.sign(signed_bytes, ec.ECDSA(hashes.SHA256())))
    public = key.public_key()
    numbers = public.public_numbers()
    jwk = {
        "crv": "P-256",
        "kid": libtrust_key_id(public),
        "kty": "EC",
        "x": _b64url(numbers.x.to_bytes(32, "big")),
        "y": _b64url(numbers.y.to_bytes(32, "big")),
    }
    signature = {
        "header": {"jwk": jwk, "alg": "ES256"},
        "signature": _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big")),
        "protected": protected,
    }
    # Every value above is ASCII without <, > or &: json.dumps writes what Go's Marshal does.
    block = json.dumps([signature], separators=(",", ":")).encode("ascii")
    return unsigned[:length] + b',"signatures":' + block + b"}"
