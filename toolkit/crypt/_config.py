"""What `--encryption-key` and `--decryption-key` resolve to (`toolkit.crypt._keys` parses them).

Apart from `_keys` so that a copy that neither encrypts nor decrypts can name these types
(`CopyOptions`, the blob pipeline) without importing `cryptography` (~250 M instructions,
the largest part of a copy's start-up): its types appear in annotations only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509

    from toolkit.crypt._keys import PrivateKey, PublicKey

__all__ = ["JWERecipient", "EncryptConfig", "GPGSecretKey", "DecryptConfig"]


@dataclass(frozen=True, slots=True)
class JWERecipient:
    """A JWE recipient: its public key and the key-management algorithm used for it."""

    key: PublicKey
    algorithm: str


@dataclass(frozen=True, slots=True)
class EncryptConfig:
    """Who a layer is encrypted for: one wrapped key per scheme that has recipients."""

    jwe: tuple[JWERecipient, ...] = ()
    pkcs7: tuple[x509.Certificate, ...] = ()
    #: (name as given, fingerprints of the keys it matched in the GnuPG keyring).
    pgp: tuple[tuple[str, tuple[str, ...]], ...] = ()
    gpg_homedir: Path | None = None

    @property
    def empty(self) -> bool:
        return not (self.jwe or self.pkcs7 or self.pgp)


@dataclass(frozen=True, slots=True, repr=False)
class GPGSecretKey:
    """A GnuPG secret keyring given with `--decryption-key`, and its password."""

    data: bytes
    password: str | None
    path: str

    def __repr__(self) -> str:
        return f"GPGSecretKey({self.path!r})"


@dataclass(frozen=True, slots=True)
class DecryptConfig:
    """The keys a copy may open encrypted layers with."""

    private_keys: tuple[PrivateKey, ...] = ()
    certificates: tuple[x509.Certificate, ...] = ()
    gpg_secret_keys: tuple[GPGSecretKey, ...] = field(default=())

    @property
    def empty(self) -> bool:
        return not (self.private_keys or self.gpg_secret_keys)
