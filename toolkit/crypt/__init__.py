"""OCI image layer encryption, the ocicrypt way (layer 3).

A layer is encrypted with `AES_256_CTR_HMAC_SHA256` (`_blockcipher`) under a fresh key;
that key (in ocicrypt's private options JSON) is wrapped once per scheme for all its
recipients and stored in the layer descriptor's annotations, beside the public options
that carry the HMAC:

| annotation | value (standard base64, comma-separated when several) |
| --- | --- |
| `org.opencontainers.image.enc.keys.jwe` | JWE JSON serialization (`_jwe`) |
| `org.opencontainers.image.enc.keys.pkcs7` | DER PKCS#7 EnvelopedData (`_pkcs7`) |
| `org.opencontainers.image.enc.keys.pgp` | binary OpenPGP message (`_pgp`, through GnuPG) |
| `org.opencontainers.image.enc.pubopts` | `{"cipher":"AES_256_CTR_HMAC_SHA256","hmac":...,"cipheroptions":{}}` |

Main entry points:
- `parse_encryption_keys` / `parse_decryption_keys` (`_keys`): `--encryption-key` and
  `--decryption-key` values -> `EncryptConfig` / `DecryptConfig`.
- `prepare_encryption(config, source_digest)` -> `LayerEncryption`: the key, wrapped for
  every recipient before a byte is copied; `.reader(plain)` encrypts a stream and
  `.annotations(reader)` gives the descriptor's annotations once it was read to its end.
- `open_layer(annotations, config)` -> `LayerDecryption`: unwraps the key with the first
  private key that opens one of the wrapped keys and reads the public options;
  `.reader(ciphertext)` decrypts a stream, raising instead of EOF when the HMAC does not
  verify. Raises `LayerDecryptionError` (ocicrypt's messages) when no key opens the layer or
  the annotations are malformed.
- `is_encryption_annotation(key)`: the annotations decryption removes.

Everything in annotations is untrusted. `cryptography` is used here and in `signature/`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from toolkit.crypt._blockcipher import (
    DecryptingReader,
    EncryptingReader,
    LayerKey,
    new_layer_key,
    parse_private_options,
    parse_public_options,
    private_options,
)
from toolkit.crypt._config import DecryptConfig, EncryptConfig, GPGSecretKey, JWERecipient
from toolkit.crypt.errors import CryptError, InvalidKeyError, LayerDecryptionError, LayerEncryptionError
from toolkit.streams import Readable

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

# `cryptography` and python-gnupg (`_keys`, `_jwe`, `_pkcs7`, `_pgp`) are imported by the
# functions that use them: every copy imports this package, few encrypt or decrypt.

__all__ = [
    "ANNOTATION_PREFIX",
    "JWE_ANNOTATION",
    "PKCS7_ANNOTATION",
    "PGP_ANNOTATION",
    "PUBOPTS_ANNOTATION",
    "EncryptConfig",
    "DecryptConfig",
    "GPGSecretKey",
    "JWERecipient",
    "LayerEncryption",
    "LayerDecryption",
    "EncryptingReader",
    "DecryptingReader",
    "CryptError",
    "InvalidKeyError",
    "LayerEncryptionError",
    "LayerDecryptionError",
    "parse_encryption_keys",
    "parse_decryption_keys",
    "prepare_encryption",
    "open_layer",
    "is_encryption_annotation",
]

#: What c/image removes from a decrypted layer's annotations (every key with this prefix).
ANNOTATION_PREFIX: Final = "org.opencontainers.image.enc"
JWE_ANNOTATION: Final = "org.opencontainers.image.enc.keys.jwe"
PKCS7_ANNOTATION: Final = "org.opencontainers.image.enc.keys.pkcs7"
PGP_ANNOTATION: Final = "org.opencontainers.image.enc.keys.pgp"
PUBOPTS_ANNOTATION: Final = "org.opencontainers.image.enc.pubopts"
_KEY_ANNOTATIONS: Final = (JWE_ANNOTATION, PKCS7_ANNOTATION, PGP_ANNOTATION)
#: Largest annotation value read (a wrapped key is a few KiB).
_MAX_ANNOTATION: Final = 1 << 20


def is_encryption_annotation(key: str) -> bool:
    """True for the annotations of an encrypted layer (c/image's prefix test)."""
    return key.startswith(ANNOTATION_PREFIX)


def parse_encryption_keys(specs: Sequence[str], *, gpg_homedir: Path | None = None) -> EncryptConfig:
    """`--encryption-key` values -> `EncryptConfig` (`toolkit.crypt._keys.parse_encryption_keys`)."""
    from toolkit.crypt import _keys

    return _keys.parse_encryption_keys(specs, gpg_homedir=gpg_homedir)


def parse_decryption_keys(specs: Sequence[str]) -> DecryptConfig:
    """`--decryption-key` values -> `DecryptConfig` (`toolkit.crypt._keys.parse_decryption_keys`)."""
    from toolkit.crypt import _keys

    return _keys.parse_decryption_keys(specs)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True, slots=True)
class LayerEncryption:
    """One layer's encryption: its key and the annotations carrying it wrapped."""

    key: LayerKey
    wrapped: Mapping[str, str]

    def reader(self, plain: Readable) -> EncryptingReader:
        """The ciphertext of `plain`."""
        return EncryptingReader(plain, self.key)

    def annotations(self, reader: EncryptingReader) -> dict[str, str]:
        """The descriptor annotations once `reader` was read to its end."""
        return {**self.wrapped, PUBOPTS_ANNOTATION: _b64(reader.public_options())}


def prepare_encryption(config: EncryptConfig, source_digest: str) -> LayerEncryption:
    """A fresh key for one layer, wrapped for every recipient of `config` (one annotation
    per scheme). `source_digest` goes into the private options, as c/image writes it.
    Raises `LayerEncryptionError` when no recipient produced a wrapped key."""
    from toolkit.crypt import _jwe, _pgp, _pkcs7

    key = new_layer_key()
    data = private_options(key, source_digest)
    wrapped: dict[str, str] = {}
    if config.jwe:
        wrapped[JWE_ANNOTATION] = _b64(_jwe.wrap(config.jwe, data))
    if config.pkcs7:
        wrapped[PKCS7_ANNOTATION] = _b64(_pkcs7.wrap(config.pkcs7, data))
    if config.pgp:
        wrapped[PGP_ANNOTATION] = _b64(_pgp.wrap(config.pgp, data, homedir=config.gpg_homedir))
    if not wrapped:
        raise LayerEncryptionError("no wrapped keys produced by encryption")
    return LayerEncryption(key, wrapped)


@dataclass(frozen=True, slots=True)
class LayerDecryption:
    """One layer's key, unwrapped, and the HMAC its ciphertext must have."""

    key: LayerKey
    expected_hmac: bytes

    def reader(self, ciphertext: Readable) -> DecryptingReader:
        """The plaintext of `ciphertext` (raises instead of EOF on an HMAC mismatch)."""
        return DecryptingReader(ciphertext, self.key, self.expected_hmac)


def _items(annotation: str, value: str) -> list[bytes]:
    if len(value) > _MAX_ANNOTATION:
        raise LayerDecryptionError(f"malformed annotation {annotation}: too long")
    out = []
    for item in value.split(","):
        try:
            out.append(base64.b64decode(item, validate=True))
        except (binascii.Error, ValueError) as exc:
            raise LayerDecryptionError(
                f"malformed annotation {annotation}: could not base64 decode the annotation"
            ) from exc
    return out


def _unwrap(annotation: str, item: bytes, config: DecryptConfig) -> bytes | None:
    from toolkit.crypt import _jwe, _pgp, _pkcs7

    if annotation == JWE_ANNOTATION:
        return _jwe.unwrap(item, config.private_keys)
    if annotation == PKCS7_ANNOTATION:
        return _pkcs7.unwrap(item, config.private_keys, config.certificates)
    return _pgp.unwrap(item, config.gpg_secret_keys)


def _has_keys_for(annotation: str, config: DecryptConfig) -> bool:
    if annotation == PGP_ANNOTATION:
        return bool(config.gpg_secret_keys)
    return bool(config.private_keys)


def open_layer(annotations: Mapping[str, str], config: DecryptConfig) -> LayerDecryption:
    """Unwrap an encrypted layer's key with `config` (see the module docstring).

    Raises `LayerDecryptionError`: "missing private key needed for decryption" (no key of a
    scheme the layer uses), "no suitable key unwrapper found or none of the private keys
    could be used for decryption" (keys given, none fits), or a malformed-annotation reason.
    """
    present = [a for a in _KEY_ANNOTATIONS if annotations.get(a)]
    if not present:
        raise LayerDecryptionError("the layer carries no wrapped key (org.opencontainers.image.enc.keys.*)")
    usable = [a for a in present if _has_keys_for(a, config)]
    if not usable:
        raise LayerDecryptionError("missing private key needed for decryption")
    private: bytes | None = None
    for annotation in usable:
        for item in _items(annotation, annotations[annotation]):
            private = _unwrap(annotation, item, config)
            if private is not None:
                break
        if private is not None:
            break
    if private is None:
        raise LayerDecryptionError(
            "no suitable key unwrapper found or none of the private keys could be used for decryption"
        )
    key = parse_private_options(private)
    pubopts = annotations.get(PUBOPTS_ANNOTATION)
    if not pubopts:
        raise LayerDecryptionError("no cipher type provided")
    try:
        public = base64.b64decode(pubopts, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise LayerDecryptionError(f"malformed annotation {PUBOPTS_ANNOTATION}: not base64") from exc
    return LayerDecryption(key, parse_public_options(public, key))
