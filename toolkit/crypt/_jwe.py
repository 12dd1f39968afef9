"""JWE key wrapping (ocicrypt `keywrap/jwe`, go-jose's JSON serialization).

`wrap(recipients, data)` encrypts `data` (the private options) with A256GCM under a random
key, wrapped for each recipient with RSA-OAEP (SHA-1), RSA-OAEP-256 or ECDH-ES+A128/192/
256KW (Concat KDF with SHA-256, no apu/apv, RFC 3394 key wrap), and serializes as go-jose's
`FullSerialize` does: the flattened form for one recipient (every header protected), the
general form with `recipients` for several (only `enc` protected; the top-level
`encrypted_key` repeats the first recipient's, as go-jose writes it).

`unwrap(message, keys)` accepts the compact or JSON serialization, any number of
recipients, the algorithms above (plus plain ECDH-ES) and the content encryptions of RFC
7518 §5.1 (A128/192/256GCM, A128CBC-HS256, A192CBC-HS384, A256CBC-HS512); returns the
plaintext for the first key that opens it, None when none does. The message is untrusted:
malformed input returns None (a reason goes to the debug log), it never raises.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import os
import struct
from collections.abc import Sequence
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from toolkit.crypt._keys import JWERecipient, PrivateKey
from toolkit.crypt._keys import b64url_decode as _unb64

__all__ = ["wrap", "unwrap"]

log = logging.getLogger(__name__)

_KW_BITS: Final = {"ECDH-ES+A128KW": 128, "ECDH-ES+A192KW": 192, "ECDH-ES+A256KW": 256}
_GCM_BITS: Final = {"A128GCM": 128, "A192GCM": 192, "A256GCM": 256}
_CBC: Final = {"A128CBC-HS256": (32, "sha256"), "A192CBC-HS384": (48, "sha384"), "A256CBC-HS512": (64, "sha512")}
_KEY_ALGORITHMS: Final = frozenset({"RSA-OAEP", "RSA-OAEP-256", "ECDH-ES", *_KW_BITS})
_CURVE_NAMES: Final = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_CURVES: Final[dict[str, ec.EllipticCurve]] = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(),
                                                "P-521": ec.SECP521R1()}
_MAX_MESSAGE: Final = 1 << 20


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _oaep(algorithm: str) -> asym_padding.OAEP:
    digest: hashes.HashAlgorithm = hashes.SHA256() if algorithm == "RSA-OAEP-256" else hashes.SHA1()
    return asym_padding.OAEP(mgf=asym_padding.MGF1(algorithm=digest), algorithm=digest, label=None)


def _concat_kdf(z: bytes, algorithm_id: str, bits: int) -> bytes:
    other = (struct.pack(">I", len(algorithm_id)) + algorithm_id.encode() + struct.pack(">I", 0)
             + struct.pack(">I", 0) + struct.pack(">I", bits))
    return ConcatKDFHash(algorithm=hashes.SHA256(), length=bits // 8, otherinfo=other).derive(z)


def _coordinate(value: int, curve: ec.EllipticCurve) -> str:
    return _b64(value.to_bytes((curve.key_size + 7) // 8, "big"))


def _epk(public: ec.EllipticCurvePublicKey) -> dict[str, str]:
    numbers = public.public_numbers()
    # go-jose's JSONWebKey field order: kty, crv, x, y.
    return {"kty": "EC", "crv": _CURVE_NAMES[public.curve.name], "x": _coordinate(numbers.x, public.curve),
            "y": _coordinate(numbers.y, public.curve)}


def _wrap_key(recipient: JWERecipient, cek: bytes) -> tuple[dict[str, Any], bytes]:
    """The per-recipient header and encrypted key."""
    alg = recipient.algorithm
    key = recipient.key
    if isinstance(key, rsa.RSAPublicKey):
        return {"alg": alg}, key.encrypt(cek, _oaep(alg))
    ephemeral = ec.generate_private_key(key.curve)
    z = ephemeral.exchange(ec.ECDH(), key)
    kek = _concat_kdf(z, alg, _KW_BITS[alg])
    return {"alg": alg, "epk": _epk(ephemeral.public_key())}, aes_key_wrap(kek, cek)


def wrap(recipients: Sequence[JWERecipient], data: bytes) -> bytes:
    """The JWE (go-jose FullSerialize bytes) of `data` for `recipients` (at least one)."""
    cek = os.urandom(32)
    iv = os.urandom(12)
    wrapped = [_wrap_key(r, cek) for r in recipients]
    if len(wrapped) == 1:
        header, encrypted_key = wrapped[0]
        protected = _b64(_json(dict(sorted({**header, "enc": "A256GCM"}.items()))).encode())
    else:
        protected = _b64(b'{"enc":"A256GCM"}')
    sealed = AESGCM(cek).encrypt(iv, data, protected.encode("ascii"))
    ciphertext, tag = sealed[:-16], sealed[-16:]
    out: dict[str, Any] = {"protected": protected}
    if len(wrapped) > 1:
        out["recipients"] = [{"header": h, "encrypted_key": _b64(k)} for h, k in wrapped]
        encrypted_key = wrapped[0][1]
    out.update(encrypted_key=_b64(encrypted_key), iv=_b64(iv), ciphertext=_b64(ciphertext), tag=_b64(tag))
    return _json(out).encode("ascii")


# ---------------------------------------------------------------------------- unwrapping


def _parse(message: bytes) -> tuple[dict[str, Any], str, list[dict[str, Any]], bytes, bytes, bytes, bytes]:
    """(protected header, its b64 text, recipients [{header, encrypted_key}], iv, ciphertext,
    tag, aad) of a compact or JSON JWE. Raises ValueError."""
    if len(message) > _MAX_MESSAGE:
        raise ValueError("too large")
    text = message.decode("ascii").strip()
    aad = b""
    if not text.startswith("{"):
        parts = text.split(".")
        if len(parts) != 5:
            raise ValueError("compact serialization needs 5 parts")
        protected_b64 = parts[0]
        recipients: list[dict[str, Any]] = [{"header": {}, "encrypted_key": _unb64(parts[1])}]
        iv, ciphertext, tag = _unb64(parts[2]), _unb64(parts[3]), _unb64(parts[4])
        unprotected: dict[str, Any] = {}
    else:
        doc = json.loads(text)
        if not isinstance(doc, dict):
            raise ValueError("not an object")
        protected_b64 = doc.get("protected", "")
        if not isinstance(protected_b64, str):
            raise ValueError("bad protected header")
        unprotected = doc.get("unprotected") or {}
        raw_recipients = doc.get("recipients")
        if raw_recipients is None:
            raw_recipients = [{"header": doc.get("header") or {}, "encrypted_key": doc.get("encrypted_key", "")}]
        if not isinstance(raw_recipients, list) or not isinstance(unprotected, dict):
            raise ValueError("bad recipients")
        recipients = []
        for r in raw_recipients:
            if not isinstance(r, dict) or not isinstance(r.get("header") or {}, dict):
                raise ValueError("bad recipient")
            recipients.append({"header": r.get("header") or {}, "encrypted_key": _unb64(r.get("encrypted_key", ""))})
        iv, ciphertext, tag = _unb64(doc.get("iv")), _unb64(doc.get("ciphertext")), _unb64(doc.get("tag"))
        if doc.get("aad") is not None:
            aad = b"." + str(doc["aad"]).encode("ascii")
    protected = json.loads(_unb64(protected_b64)) if protected_b64 else {}
    if not isinstance(protected, dict):
        raise ValueError("bad protected header")
    for r in recipients:
        r["header"] = {**unprotected, **r["header"], **protected}
    return protected, protected_b64, recipients, iv, ciphertext, tag, aad


def _unwrap_key(header: dict[str, Any], encrypted_key: bytes, key: PrivateKey, enc_bits: int) -> bytes | None:
    alg = header.get("alg")
    if alg not in _KEY_ALGORITHMS:
        return None
    if isinstance(key, rsa.RSAPrivateKey):
        if not str(alg).startswith("RSA"):
            return None
        try:
            return key.decrypt(encrypted_key, _oaep(str(alg)))
        except ValueError:
            return None
    if not str(alg).startswith("ECDH-ES"):
        return None
    epk = header.get("epk")
    if not isinstance(epk, dict) or epk.get("kty") != "EC" or epk.get("crv") not in _CURVES:
        return None
    curve = _CURVES[epk["crv"]]
    if curve.name != key.curve.name:
        return None
    try:
        public = ec.EllipticCurvePublicNumbers(
            int.from_bytes(_unb64(epk.get("x")), "big"), int.from_bytes(_unb64(epk.get("y")), "big"), curve
        ).public_key()
        z = key.exchange(ec.ECDH(), public)
    except ValueError:
        return None
    if alg == "ECDH-ES":
        return _concat_kdf(z, str(header.get("enc")), enc_bits)
    kek = _concat_kdf(z, str(alg), _KW_BITS[str(alg)])
    try:
        return aes_key_unwrap(kek, encrypted_key)
    except InvalidUnwrap:
        return None


def _decrypt_content(enc: str, cek: bytes, iv: bytes, ciphertext: bytes, tag: bytes, aad: bytes) -> bytes | None:
    if enc in _GCM_BITS:
        if len(cek) * 8 != _GCM_BITS[enc] or len(iv) != 12:
            return None
        try:
            return AESGCM(cek).decrypt(iv, ciphertext + tag, aad)
        except InvalidTag:
            return None
    size, digest = _CBC[enc]
    if len(cek) != size or len(iv) != 16 or len(ciphertext) % 16:
        return None
    mac_key, enc_key = cek[: size // 2], cek[size // 2 :]
    mac = hmac.new(mac_key, aad + iv + ciphertext + struct.pack(">Q", len(aad) * 8), digest).digest()[: size // 2]
    if not hmac.compare_digest(mac, tag):
        return None
    decryptor = Cipher(algorithms.AES(enc_key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        return None


def unwrap(message: bytes, keys: Sequence[PrivateKey]) -> bytes | None:
    """The plaintext of a JWE for the first of `keys` that opens it; None if none does."""
    try:
        protected, protected_b64, recipients, iv, ciphertext, tag, extra_aad = _parse(message)
    except (ValueError, UnicodeDecodeError) as exc:
        log.debug("JWE: jose.ParseEncrypted failed: %s", exc)
        return None
    aad = protected_b64.encode("ascii") + extra_aad
    for key in keys:
        for recipient in recipients:
            header = recipient["header"]
            enc = header.get("enc")
            if (enc not in _GCM_BITS and enc not in _CBC) or header.get("zip") is not None:
                continue
            bits = _GCM_BITS.get(str(enc)) or _CBC[str(enc)][0] * 8
            cek = _unwrap_key(header, recipient["encrypted_key"], key, bits)
            if cek is None:
                continue
            plain = _decrypt_content(str(enc), cek, iv, ciphertext, tag, aad)
            if plain is not None:
                return plain
    del protected
    return None
