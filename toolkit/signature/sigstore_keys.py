"""Sigstore (cosign) key files: generation, the encrypted private-key envelope, public keys.

Formats, as containers/image `signature/sigstore` and cosign read and write them:

- Public key: PEM `PUBLIC KEY` (PKIX SubjectPublicKeyInfo DER). Reading also accepts
  `RSA PUBLIC KEY` (PKCS#1), like sigstore's `cryptoutils.UnmarshalPEMToPublicKey`; only
  the first PEM block counts. Accepted key types: ECDSA P-256/P-384/P-521, RSA (at least
  2048 bits) and Ed25519.
- Private key: PEM `ENCRYPTED COSIGN PRIVATE KEY` (written; also read:
  `ENCRYPTED SIGSTORE PRIVATE KEY`) whose body is go-securesystemslib `encrypted.Encrypt`
  JSON: `{"kdf":{"name":"scrypt","params":{"N":..,"r":8,"p":1},"salt":B64},
  "cipher":{"name":"nacl/secretbox","nonce":B64},"ciphertext":B64}` (Go field order,
  standard base64 with padding) encrypting the PKCS#8 DER of the key. The key is
  scrypt(passphrase, salt, N, r, p, 32 bytes); the cipher is NaCl secretbox
  (XSalsa20-Poly1305) with a 24-byte nonce. An empty passphrase is allowed.

  We write N=32768 (go-securesystemslib's "legacy" strength, the value older cosign and
  containers/image versions both write and the only one their readers accept); current
  go-securesystemslib writes N=65536 by default and accepts N in {32768, 65536, 131072},
  and so do we when reading. Any other parameters are refused before any work is done,
  so a hostile file cannot make us burn memory or time (go-securesystemslib `CheckParams`).

Contract: every input (file bytes, passphrases) is untrusted. Failures raise
`InvalidInputError` (unusable key file, wrong passphrase) or `SignatureError` (signing
failed); nothing else escapes. Layer 3: `cryptography` and PyNaCl are used only in
`toolkit/signature/`.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass
from typing import Any, Final

import nacl.exceptions
import nacl.secret
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from toolkit.errors import InvalidInputError, InvalidSignatureError, SignatureError, safe_text
from toolkit.manifest.gojson import GoStruct, marshal
from toolkit.manifest.strictjson import loads_strict
from toolkit.signature._pem import go_b64decode, pem_decode, pem_encode

__all__ = [
    "COSIGN_PRIVATE_KEY_PEM_TYPE",
    "SIGSTORE_PRIVATE_KEY_PEM_TYPE",
    "PublicKey",
    "PrivateKey",
    "SigstorePrivateKey",
    "GeneratedKeyPair",
    "generate_key_pair",
    "encrypt_private_key",
    "decrypt_private_key",
    "load_public_key",
    "marshal_public_key",
    "public_key_der",
    "verify_signature",
    "check_public_key",
]

COSIGN_PRIVATE_KEY_PEM_TYPE: Final = "ENCRYPTED COSIGN PRIVATE KEY"
SIGSTORE_PRIVATE_KEY_PEM_TYPE: Final = "ENCRYPTED SIGSTORE PRIVATE KEY"

PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

_SALT_SIZE: Final = 32
_NONCE_SIZE: Final = 24
_KEY_SIZE: Final = 32
#: go-securesystemslib legacy / standard / OWASP scrypt parameters (N, r, p).
_ACCEPTED_SCRYPT_PARAMS: Final = frozenset({(32768, 8, 1), (65536, 8, 1), (131072, 8, 1)})
_WRITE_SCRYPT_PARAMS: Final = (32768, 8, 1)
_ACCEPTED_CURVES: Final = (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
_MIN_RSA_BITS: Final = 2048
#: Key files are tiny; anything larger is not a key.
MAX_KEY_FILE_SIZE: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class GeneratedKeyPair:
    """The two files of a new key pair, ready to write (`PREFIX.pub`, `PREFIX.private`)."""

    public_key_pem: bytes
    private_key_pem: bytes


# --- public keys --------------------------------------------------------------------------------------------


def check_public_key(key: object, what: str) -> PublicKey:
    """`key` if it is an accepted public key type and size, else `InvalidInputError` naming `what`."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, _ACCEPTED_CURVES):
            raise InvalidInputError(f"{what}: unsupported ECDSA curve {key.curve.name}")
        return key
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < _MIN_RSA_BITS:
            raise InvalidInputError(f"{what}: RSA key of {key.key_size} bits is too small")
        return key
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key
    raise InvalidInputError(f"{what}: unsupported public key type {type(key).__name__}")


def load_public_key(pem_bytes: bytes, *, what: str = "public key") -> PublicKey:
    """Parse an untrusted PEM public key (first block: `PUBLIC KEY` or `RSA PUBLIC KEY`).

    Raises `InvalidInputError` naming `what` if there is no PEM block, the block type is
    another one, the DER is invalid, or the key type/size is not accepted (module docstring).
    """
    if len(pem_bytes) > MAX_KEY_FILE_SIZE:
        raise InvalidInputError(f"{what}: too large to be a public key")
    block, _rest = pem_decode(pem_bytes)
    if block is None:
        raise InvalidInputError(f"{what}: PEM decoding failed")
    try:
        if block.type == "PUBLIC KEY":
            key: object = serialization.load_der_public_key(block.data)
        elif block.type == "RSA PUBLIC KEY":
            key = serialization.load_pem_public_key(pem_encode("RSA PUBLIC KEY", block.data))
        else:
            raise InvalidInputError(f'{what}: unknown public key PEM block type "{safe_text(block.type, 80)}"')
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InvalidInputError(f"{what}: invalid public key: {safe_text(str(exc), 200)}") from exc
    return check_public_key(key, what)


def public_key_der(key: PublicKey) -> bytes:
    """The PKIX (SubjectPublicKeyInfo) DER of `key`, as Go's `x509.MarshalPKIXPublicKey`."""
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def marshal_public_key(key: PublicKey) -> bytes:
    """`key` as a PEM `PUBLIC KEY` file (sigstore `cryptoutils.MarshalPublicKeyToPEM`)."""
    return pem_encode("PUBLIC KEY", public_key_der(key))


def verify_signature(key: PublicKey, signature: bytes, payload: bytes) -> None:
    """Check `signature` over `payload` as sigstore's `LoadVerifier(key, SHA256)` does.

    ECDSA (any accepted curve) with SHA-256 and an ASN.1 DER signature; RSA PKCS#1 v1.5 with
    SHA-256; Ed25519 (pure). Both inputs are untrusted. Raises `InvalidSignatureError` with a
    short reason if the signature does not verify or is malformed.
    """
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
        else:
            key.verify(signature, payload)
    except InvalidSignature:
        raise InvalidSignatureError(_invalid_reason(key)) from None
    except ValueError as exc:  # malformed DER and the like
        raise InvalidSignatureError(f"{_invalid_reason(key)}: {safe_text(str(exc), 200)}") from exc


def _invalid_reason(key: PublicKey) -> str:
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "invalid signature when validating ASN.1 encoded signature"
    if isinstance(key, rsa.RSAPublicKey):
        return "crypto/rsa: verification error"
    return "failed to verify signature"


# --- private keys --------------------------------------------------------------------------------------------


class SigstorePrivateKey:
    """A decrypted private key able to make sigstore signatures.

    `sign(payload)` returns the raw signature bytes (ECDSA: ASN.1 DER over SHA-256; RSA:
    PKCS#1 v1.5 SHA-256; Ed25519: pure), as sigstore's `LoadSignerVerifier` would.
    """

    __slots__ = ("_key",)

    def __init__(self, key: PrivateKey) -> None:
        self._key = key

    @property
    def public_key(self) -> PublicKey:
        """The matching public key."""
        return self._key.public_key()

    def public_key_pem(self) -> bytes:
        """The public key as a PEM `PUBLIC KEY` file."""
        return marshal_public_key(self.public_key)

    def sign(self, payload: bytes) -> bytes:
        """Sign `payload`; raises `SignatureError` if the crypto backend fails."""
        try:
            key = self._key
            if isinstance(key, ec.EllipticCurvePrivateKey):
                return key.sign(payload, ec.ECDSA(hashes.SHA256()))
            if isinstance(key, rsa.RSAPrivateKey):
                return key.sign(payload, padding.PKCS1v15(), hashes.SHA256())
            return key.sign(payload)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise SignatureError(f"creating signature: {exc}") from exc

    def __repr__(self) -> str:  # never print key material
        return f"<SigstorePrivateKey {type(self._key).__name__}>"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt_key(passphrase: bytes, salt: bytes, params: tuple[int, int, int]) -> bytes:
    n, r, p = params
    return Scrypt(salt=salt, length=_KEY_SIZE, n=n, r=r, p=p).derive(passphrase)


def encrypt_private_key(key: PrivateKey, passphrase: bytes) -> bytes:
    """The PEM `ENCRYPTED COSIGN PRIVATE KEY` file for `key` (module docstring).

    `passphrase` may be empty. Salt and nonce are fresh random values each call.
    """
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    salt = secrets.token_bytes(_SALT_SIZE)
    nonce = secrets.token_bytes(_NONCE_SIZE)
    box_key = _scrypt_key(passphrase, salt, _WRITE_SCRYPT_PARAMS)
    ciphertext = nacl.secret.SecretBox(box_key).encrypt(der, nonce).ciphertext
    n, r, p = _WRITE_SCRYPT_PARAMS
    envelope = GoStruct(
        [
            (
                "kdf",
                GoStruct(
                    [
                        ("name", "scrypt"),
                        ("params", GoStruct([("N", n), ("r", r), ("p", p)])),
                        ("salt", _b64(salt)),
                    ]
                ),
            ),
            ("cipher", GoStruct([("name", "nacl/secretbox"), ("nonce", _b64(nonce))])),
            ("ciphertext", _b64(ciphertext)),
        ]
    )
    return pem_encode(COSIGN_PRIVATE_KEY_PEM_TYPE, marshal(envelope))


def _field(obj: Any, key: str, kind: type, what: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise InvalidInputError(f'{what}: missing field "{key}" in the encrypted key')
    value = obj[key]
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInputError(f'{what}: field "{key}" of the encrypted key must be an integer')
    elif not isinstance(value, kind):
        raise InvalidInputError(f'{what}: field "{key}" of the encrypted key has the wrong type')
    return value


def _b64_field(obj: Any, key: str, what: str) -> bytes:
    text = _field(obj, key, str, what)
    try:
        # Go's []byte decoding: standard alphabet with padding; CR/LF are ignored.
        return go_b64decode(text)
    except (binascii.Error, ValueError):
        raise InvalidInputError(f'{what}: field "{key}" of the encrypted key is not valid base64') from None


def decrypt_private_key(pem_bytes: bytes, passphrase: bytes, *, what: str = "private key") -> SigstorePrivateKey:
    """Decrypt an untrusted cosign/sigstore encrypted private key file.

    Raises `InvalidInputError` naming `what` for: no PEM block, another PEM type, a
    malformed envelope, unknown KDF/cipher names or scrypt parameters, a wrong
    passphrase ("decryption failed: wrong passphrase or corrupted key"), a payload that is
    not PKCS#8, or an unsupported key type.
    """
    if len(pem_bytes) > MAX_KEY_FILE_SIZE:
        raise InvalidInputError(f"{what}: too large to be a private key")
    block, _rest = pem_decode(pem_bytes)
    if block is None:
        raise InvalidInputError(f"{what}: invalid pem block")
    if block.type not in (SIGSTORE_PRIVATE_KEY_PEM_TYPE, COSIGN_PRIVATE_KEY_PEM_TYPE):
        raise InvalidInputError(f"{what}: unsupported pem type: {safe_text(block.type, 80)}")
    doc = loads_strict(block.data, what=f"{what} envelope", limit=MAX_KEY_FILE_SIZE, error_cls=InvalidInputError)
    kdf = _field(doc, "kdf", dict, what)
    cipher = _field(doc, "cipher", dict, what)
    if _field(kdf, "name", str, what) != "scrypt":
        raise InvalidInputError(f'{what}: unknown kdf name "{safe_text(str(kdf["name"]), 80)}"')
    if _field(cipher, "name", str, what) != "nacl/secretbox":
        raise InvalidInputError(f'{what}: unknown cipher name "{safe_text(str(cipher["name"]), 80)}"')
    params_obj = _field(kdf, "params", dict, what)
    params = (
        _field(params_obj, "N", int, what),
        _field(params_obj, "r", int, what),
        _field(params_obj, "p", int, what),
    )
    if params not in _ACCEPTED_SCRYPT_PARAMS:
        raise InvalidInputError(f"{what}: unsupported scrypt parameters N={params[0]} r={params[1]} p={params[2]}")
    salt = _b64_field(kdf, "salt", what)
    nonce = _b64_field(cipher, "nonce", what)
    ciphertext = _b64_field(doc, "ciphertext", what)
    if len(nonce) != _NONCE_SIZE:
        raise InvalidInputError(f"{what}: incorrect nonce size")
    box_key = _scrypt_key(passphrase, salt, params)
    try:
        der = nacl.secret.SecretBox(box_key).decrypt(ciphertext, nonce)
    except nacl.exceptions.CryptoError:
        raise InvalidInputError(f"{what}: decryption failed: wrong passphrase or corrupted key") from None
    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise InvalidInputError(f"{what}: parsing private key: {safe_text(str(exc), 200)}") from exc
    if isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        check_public_key(key.public_key(), what)
        return SigstorePrivateKey(key)
    raise InvalidInputError(f"{what}: unsupported key type")


def generate_key_pair(passphrase: bytes) -> GeneratedKeyPair:
    """A new ECDSA P-256 key pair (the only scheme cosign requires), private key encrypted.

    Matches containers/image `sigstore.GenerateKeyPair`; `passphrase` may be empty.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    return GeneratedKeyPair(
        public_key_pem=marshal_public_key(key.public_key()),
        private_key_pem=encrypt_private_key(key, passphrase),
    )
