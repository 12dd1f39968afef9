"""Offline verification of a Rekor SET (the `dev.sigstore.cosign/bundle` annotation).

As containers/image `signature/internal/rekor_set.go`:

1. The annotation is strict JSON with exactly `SignedEntryTimestamp` (base64) and
   `Payload` (any JSON value).
2. `Payload` is canonicalised with RFC 8785 (JCS, as cyberphone's jsoncanonicalizer does)
   and the SET must be an ECDSA ASN.1 signature over SHA-256 of those bytes by one of the
   trusted Rekor public keys.
3. The canonical payload must have exactly `body` (base64), `integratedTime`, `logIndex`
   (integers) and `logID` (string). `body` is a `hashedrekord` entry, `apiVersion` "0.0.1",
   whose `spec.signature.publicKey.content` (a PEM key or certificate) must carry the same
   DER as the signer's key/certificate, `spec.signature.content` must equal the image
   signature bytes, and `spec.data.hash` must be the SHA-256 of the signed payload.

The result is the entry's integrated time (Unix seconds), the moment at which Fulcio
certificates are judged. Every input is untrusted; every refusal is an
`InvalidSignatureError` with the reason.
"""

from __future__ import annotations

import binascii
import hashlib
import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from toolkit.errors import InvalidSignatureError, safe_text
from toolkit.gocompat import INT64_MAX, INT64_MIN
from toolkit.manifest.strictjson import MAX_DEPTH
from toolkit.signature._json import exact_object, loads_signature_json
from toolkit.signature._pem import go_b64decode, pem_decode

__all__ = ["HASHEDREKORD_V001_API_VERSION", "canonical_json", "verify_rekor_set"]

HASHEDREKORD_V001_API_VERSION: Final = "0.0.1"


# --- RFC 8785 JSON canonicalisation ----------------------------------------------------------------------------


def _es6_number(value: float) -> str:
    """ECMAScript `Number.prototype.toString` for a finite double (RFC 8785 §3.2.2.3)."""
    if value == 0:
        return "0"
    if not math.isfinite(value):
        raise InvalidSignatureError("canonicalizing JSON: NaN or Infinity is not allowed")
    sign = "-" if value < 0 else ""
    # repr() gives the shortest round-tripping digits, as ECMAScript requires.
    tup = Decimal(repr(abs(value))).as_tuple()
    digits = "".join(map(str, tup.digits)).lstrip("0")
    exponent = int(tup.exponent)
    stripped = digits.rstrip("0")
    exponent += len(digits) - len(stripped)
    digits = stripped
    k = len(digits)
    n = k + exponent  # value = 0.digits * 10^n
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + digits
    else:
        exp = n - 1
        exp_text = ("+" if exp >= 0 else "-") + str(abs(exp))
        text = (digits if k == 1 else digits[0] + "." + digits[1:]) + "e" + exp_text
    return sign + text


_ESCAPES: Final = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _string(text: str) -> str:
    out = ['"']
    for ch in text:
        esc = _ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be")


def _canonical(value: Any, out: list[str], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise InvalidSignatureError("canonicalizing JSON: nesting too deep")
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, int | float):
        out.append(_es6_number(float(value)))
    elif isinstance(value, list):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _canonical(item, out, depth + 1)
        out.append("]")
    elif isinstance(value, dict):
        out.append("{")
        for i, key in enumerate(sorted(value, key=_utf16_key)):
            if i:
                out.append(",")
            out.append(_string(key))
            out.append(":")
            _canonical(value[key], out, depth + 1)
        out.append("}")
    else:  # pragma: no cover - loads_strict only produces the types above
        raise InvalidSignatureError("canonicalizing JSON: unexpected value")


def canonical_json(value: Any) -> bytes:
    """RFC 8785 canonical bytes of a parsed JSON value (numbers are treated as IEEE doubles)."""
    out: list[str] = []
    try:
        _canonical(value, out, 0)
    except OverflowError as exc:
        raise InvalidSignatureError("canonicalizing JSON: number out of range") from exc
    return "".join(out).encode("utf-8")


# --- SET verification -------------------------------------------------------------------------------------------


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise InvalidSignatureError(f"{what}: base64 string expected")
    try:
        return go_b64decode(value)
    except (binascii.Error, ValueError):
        raise InvalidSignatureError(f"{what}: invalid base64") from None


def _int64(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not INT64_MIN <= value <= INT64_MAX:
        if isinstance(value, float) and value.is_integer() and abs(value) <= INT64_MAX:
            return int(value)  # JCS writes large integers as doubles; Go's int64 decoder takes 1e21-free forms
        raise InvalidSignatureError(f"{what}: integer expected")
    return value


def _single_pem_der(data: bytes, what: str) -> bytes:
    block, rest = pem_decode(data)
    if block is None:
        raise InvalidSignatureError(f"{what} is not in PEM format")
    if rest:
        raise InvalidSignatureError(f"{what} has trailing data")
    return block.data


def _hashedrekord_object(parent: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    """The object `parent[key]` of a hashedrekord entry; `path` names it in messages."""
    value = parent.get(key)
    if value is None:
        raise InvalidSignatureError(f'Missing "{path}" field in hashedrekord')
    if not isinstance(value, dict):
        raise InvalidSignatureError(f'decoding hashedrekord spec: "{path}" must be an object')
    return value


def _check_hashedrekord(body: bytes, key_or_cert_pem: bytes, signature_b64: str, payload: bytes) -> None:
    entry = loads_signature_json(body, "Rekor SET body")
    if not isinstance(entry, dict):
        raise InvalidSignatureError("decoding the body of a Rekor SET payload: JSON object expected")
    kind = entry.get("kind")
    if kind != "hashedrekord":
        raise InvalidSignatureError(
            f"decoding the body of a Rekor SET payload: invalid kind value: {safe_text(repr(kind), 100)}"
        )
    api_version = entry.get("apiVersion")
    if api_version is None:
        raise InvalidSignatureError("missing Rekor SET Payload API version")
    if api_version != HASHEDREKORD_V001_API_VERSION:
        raise InvalidSignatureError(
            f"unsupported Rekor SET Payload hashedrekord version {safe_text(repr(api_version), 100)}"
        )
    spec = entry.get("spec")
    if not isinstance(spec, dict):
        raise InvalidSignatureError("decoding hashedrekord spec: JSON object expected")
    signature = _hashedrekord_object(spec, "signature", "signature")
    public_key = _hashedrekord_object(signature, "publicKey", "signature.publicKey")
    rekor_key_pem = _b64(public_key.get("content", ""), '"signature.publicKey.content" in hashedrekord')
    rekor_der = _single_pem_der(rekor_key_pem, "publicKey in Rekor SET")
    ours_der = _single_pem_der(key_or_cert_pem, "public key or cert to be matched against publicKey in Rekor SET")
    if rekor_der != ours_der:
        raise InvalidSignatureError("publicKey in Rekor SET does not match")
    try:
        signature_bytes = go_b64decode(signature_b64)
    except (binascii.Error, ValueError):
        raise InvalidSignatureError("decoding signature base64: invalid base64") from None
    rekor_signature = _b64(signature.get("content", ""), '"signature.content" in hashedrekord')
    if rekor_signature != signature_bytes:
        raise InvalidSignatureError("signature in Rekor SET does not match")
    data = _hashedrekord_object(spec, "data", "data")
    hash_obj = _hashedrekord_object(data, "hash", "data.hash")
    algorithm = hash_obj.get("algorithm")
    if algorithm is None:
        raise InvalidSignatureError('Missing "data.hash.algorithm" field in hashedrekord')
    if algorithm != "sha256":
        raise InvalidSignatureError(f'Unexpected "data.hash.algorithm" value {safe_text(repr(algorithm), 100)}')
    value = hash_obj.get("value")
    if value is None:
        raise InvalidSignatureError('Missing "data.hash.value" field in hashedrekord')
    if not isinstance(value, str):
        raise InvalidSignatureError('Invalid "data.hash.value" field in hashedrekord: string expected')
    try:
        rekor_hash = bytes.fromhex(value)
    except ValueError:
        raise InvalidSignatureError('Invalid "data.hash.value" field in hashedrekord: not hex') from None
    if rekor_hash != hashlib.sha256(payload).digest():
        raise InvalidSignatureError("payload in Rekor SET does not match")


def verify_rekor_set(
    rekor_public_keys: Sequence[ec.EllipticCurvePublicKey],
    untrusted_set: bytes,
    untrusted_key_or_cert_pem: bytes,
    untrusted_base64_signature: str,
    untrusted_payload: bytes,
) -> int:
    """Verify a Rekor SET against the signature it vouches for; return its integrated time.

    `untrusted_key_or_cert_pem` is the signer's PEM public key (key+Rekor) or leaf
    certificate (Fulcio). Raises `InvalidSignatureError` for any mismatch or malformation
    (module docstring).
    """
    if not rekor_public_keys:
        raise InvalidSignatureError("no Rekor public key to verify the Rekor SET with")
    set_json = loads_signature_json(untrusted_set, "Rekor SET")
    set_doc = exact_object(set_json, ("SignedEntryTimestamp", "Payload"), "Rekor SET")
    set_signature = _b64(set_doc["SignedEntryTimestamp"], "Rekor SET SignedEntryTimestamp")
    canonical = canonical_json(set_doc["Payload"])
    digest = hashlib.sha256(canonical).digest()
    for key in rekor_public_keys:
        try:
            key.verify(set_signature, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        except (InvalidSignature, ValueError):
            continue
        break
    else:
        raise InvalidSignatureError("cryptographic signature verification of Rekor SET failed")

    # Parse the canonical bytes that were verified, not the original representation.
    payload_doc = exact_object(
        loads_signature_json(canonical, "Rekor SET payload"),
        ("body", "integratedTime", "logIndex", "logID"),
        "parsing Rekor SET payload",
    )
    body = _b64(payload_doc["body"], "parsing Rekor SET payload: body")
    integrated_time = _int64(payload_doc["integratedTime"], "parsing Rekor SET payload: integratedTime")
    _int64(payload_doc["logIndex"], "parsing Rekor SET payload: logIndex")
    if not isinstance(payload_doc["logID"], str):
        raise InvalidSignatureError("parsing Rekor SET payload: logID: string expected")
    _check_hashedrekord(body, untrusted_key_or_cert_pem, untrusted_base64_signature, untrusted_payload)
    return integrated_time
