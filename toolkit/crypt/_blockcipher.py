"""The layer cipher AES_256_CTR_HMAC_SHA256 (ocicrypt `blockcipher/blockcipher_aes_ctr.go`).

A layer is encrypted with AES-256 in CTR mode (a 128-bit big-endian counter over the whole
16-byte nonce) under a random 32-byte key; an HMAC-SHA256 under the same key covers the
ciphertext (encrypt-then-MAC). The ciphertext is as long as the plaintext. The key and the
nonce travel in the *private* options (wrapped for each recipient), the HMAC in the
*public* options (the `org.opencontainers.image.enc.pubopts` annotation).

- `EncryptingReader(plain, key)`: ciphertext of `plain`; after EOF, `public_options()` is
  the pubopts JSON with the HMAC.
- `DecryptingReader(cipher, key, expected_hmac)`: plaintext of `cipher`. The HMAC is
  compared when `cipher` ends, *before* this reader reports EOF: on a mismatch it raises
  `LayerDecryptionError` instead of returning `b""`, so no consumer ever sees the end of a
  stream whose HMAC did not verify (see `toolkit.ops.copy.blob` for why that is enough for
  every atomic destination).
- `private_options(key, digest)` / `parse_private_options(data)`,
  `parse_public_options(data)`: the two JSON documents, byte for byte as ocicrypt writes
  them (Go `encoding/json` of its structs: compact, `[]byte` as padded base64).

Everything parsed here is untrusted: wrong types, lengths or ciphers raise
`LayerDecryptionError` with ocicrypt's words where it has them.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
from dataclasses import dataclass
from typing import Any, Final

from toolkit.crypt.errors import LayerDecryptionError
from toolkit.streams import Readable, read_to_end

__all__ = [
    "CIPHER",
    "LayerKey",
    "new_layer_key",
    "private_options",
    "parse_private_options",
    "public_options",
    "parse_public_options",
    "EncryptingReader",
    "DecryptingReader",
]

CIPHER: Final = "AES_256_CTR_HMAC_SHA256"
_KEY_SIZE: Final = 32
_NONCE_SIZE: Final = 16
_HMAC_SIZE: Final = 32


@dataclass(frozen=True, slots=True, repr=False)
class LayerKey:
    """The symmetric key and nonce of one layer (never printed)."""

    key: bytes
    nonce: bytes

    def __repr__(self) -> str:
        return "LayerKey(***)"


def new_layer_key() -> LayerKey:
    """A fresh random key and nonce."""
    return LayerKey(os.urandom(_KEY_SIZE), os.urandom(_NONCE_SIZE))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def private_options(key: LayerKey, digest: str) -> bytes:
    """ocicrypt's `PrivateLayerBlockCipherOptions` JSON: what is wrapped for each recipient.
    `digest` is the source blob's digest (c/image passes it; it is never trusted on reading)."""
    return (
        f'{{"symkey":"{_b64(key.key)}","digest":{json.dumps(digest)},'
        f'"cipheroptions":{{"nonce":"{_b64(key.nonce)}"}}}}'
    ).encode("ascii")


def public_options(mac: bytes) -> bytes:
    """ocicrypt's `PublicLayerBlockCipherOptions` JSON, with the ciphertext's HMAC."""
    return f'{{"cipher":"{CIPHER}","hmac":"{_b64(mac)}","cipheroptions":{{}}}}'.encode("ascii")


def _object(data: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise LayerDecryptionError(f"could not JSON unmarshal {what}") from exc
    if not isinstance(doc, dict):
        raise LayerDecryptionError(f"could not JSON unmarshal {what}")
    # Go's encoding/json matches field names case-insensitively.
    return {str(k).lower(): v for k, v in doc.items()}


def _bytes_field(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise LayerDecryptionError(f"invalid {what}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise LayerDecryptionError(f"invalid {what}: not base64") from exc


def _options_map(value: object, what: str) -> dict[str, bytes]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise LayerDecryptionError(f"invalid {what}")
    return {str(k): _bytes_field(v, what) for k, v in value.items()}


def parse_private_options(data: bytes) -> LayerKey:
    """The key and nonce from unwrapped private options (untrusted JSON)."""
    doc = _object(data, "privOptsData")
    key = _bytes_field(doc.get("symkey"), "symmetric key")
    if len(key) != _KEY_SIZE:
        raise LayerDecryptionError(f"invalid key length of {len(key)} bytes; need {_KEY_SIZE} bytes")
    nonce = _options_map(doc.get("cipheroptions"), "cipher options").get("nonce")
    if nonce is None or len(nonce) != _NONCE_SIZE:
        raise LayerDecryptionError(f"invalid nonce: need {_NONCE_SIZE} bytes")
    return LayerKey(key, nonce)


def parse_public_options(data: bytes, key: LayerKey) -> bytes:
    """The expected HMAC from the pubopts JSON (untrusted), for a layer opened with `key`.

    ocicrypt would take a nonce from the public options over the private one; a public
    nonce is not covered by anything, so one that differs from the wrapped nonce is refused.
    """
    doc = _object(data, "pubOptsData")
    cipher = doc.get("cipher")
    if cipher in (None, ""):
        raise LayerDecryptionError("no cipher type provided")
    if cipher != CIPHER:
        raise LayerDecryptionError(f"unsupported cipher type: {str(cipher)[:80]}")
    if doc.get("hmac") in (None, ""):
        raise LayerDecryptionError("HMAC is not provided for decryption process")
    mac = _bytes_field(doc.get("hmac"), "HMAC")
    if len(mac) != _HMAC_SIZE:
        raise LayerDecryptionError(f"invalid HMAC: {len(mac)} bytes, need {_HMAC_SIZE}")
    public_nonce = _options_map(doc.get("cipheroptions"), "public cipher options").get("nonce")
    if public_nonce is not None and public_nonce != key.nonce:
        raise LayerDecryptionError("the public cipher options carry a different nonce")
    return mac


class _CipherReader:
    def __init__(self, inner: Readable, key: LayerKey) -> None:
        self._inner = inner
        # Imported here, not at the top: `toolkit.crypt` is imported by every copy.
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        self._ctr = Cipher(algorithms.AES(key.key), modes.CTR(key.nonce)).encryptor()
        self._mac = hmac.new(key.key, digestmod="sha256")
        self._done = False

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if callable(close):
            close()


class EncryptingReader(_CipherReader):
    """The ciphertext of `plain` (see the module docstring); errors of `plain` propagate."""

    def __init__(self, plain: Readable, key: LayerKey) -> None:
        super().__init__(plain, key)
        self._public: bytes | None = None

    def read(self, n: int = -1, /) -> bytes:
        """Up to `n` bytes of ciphertext; `b""` at the end."""
        if n is None or n < 0:
            return read_to_end(self)
        if self._done:
            return b""
        data = self._inner.read(n)
        if not data:
            self._done = True
            self._public = public_options(self._mac.digest())
            return b""
        out = self._ctr.update(data)
        self._mac.update(out)
        return out

    def public_options(self) -> bytes:
        """The pubopts JSON; raises `LayerEncryptionError` before the end was read."""
        if self._public is None:
            from toolkit.crypt.errors import LayerEncryptionError

            raise LayerEncryptionError("Read()ing not complete, unable to finalize")
        return self._public


class DecryptingReader(_CipherReader):
    """The plaintext of `cipher`; at its end the HMAC is checked before EOF is reported.

    Raises `LayerDecryptionError` (ocicrypt's message) instead of EOF on a mismatch, and on
    every read after it. Errors of `cipher` (a digest mismatch of the source) propagate.
    """

    def __init__(self, cipher: Readable, key: LayerKey, expected_hmac: bytes) -> None:
        super().__init__(cipher, key)
        self._expected = expected_hmac
        self._failed: LayerDecryptionError | None = None

    def read(self, n: int = -1, /) -> bytes:
        """Up to `n` bytes of plaintext; `b""` only once the HMAC verified."""
        if n is None or n < 0:
            return read_to_end(self)
        if self._failed is not None:
            raise self._failed
        if self._done:
            return b""
        data = self._inner.read(n)
        if not data:
            actual = self._mac.digest()
            if not hmac.compare_digest(actual, self._expected):
                self._failed = LayerDecryptionError(
                    f"could not properly decrypt byte stream; exp hmac: '{self._expected.hex()}', "
                    f"actual hmac: '{actual.hex()}'"
                )
                raise self._failed
            self._done = True
            return b""
        self._mac.update(data)
        return self._ctr.update(data)
