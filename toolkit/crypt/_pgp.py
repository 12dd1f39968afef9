"""OpenPGP key wrapping (ocicrypt `keywrap/pgp`), through GnuPG.

Every use of gpg goes through the three small functions of `toolkit.signature.gpg`
(`list_public_keys`, `encrypt`, `decrypt_with_secret_key`), so this module does not care
how gpg is run.

- `resolve_recipients(names)`: ocicrypt matches a `pgp:` value against each user ID's
  display name or e-mail address, exactly; every name must match a key that can encrypt,
  else `InvalidKeyError("PGP: No key found for the following recipients: a, b")` (ocicrypt
  raises it only after the layer was written; here it comes before anything is copied).
- `wrap(recipients, data)`: one binary OpenPGP message for all of them (a PKESK per key).
- `unwrap(message, secret_keys)`: the plaintext for the first secret keyring that opens it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from toolkit.crypt._keys import GPGSecretKey
from toolkit.crypt.errors import InvalidKeyError, LayerEncryptionError
from toolkit.errors import SignatureError, safe_text
from toolkit.signature import gpg

__all__ = ["resolve_recipients", "wrap", "unwrap"]

_ADDRESS = re.compile(r"^(?P<name>.*?)\s*(?:\((?P<comment>[^)]*)\))?\s*<(?P<address>[^<>]*)>\s*$")


def _name_and_address(uid: str) -> tuple[str, str]:
    match = _ADDRESS.match(uid)
    if match is None:
        return uid.strip(), uid.strip()
    return match.group("name").strip().strip('"'), match.group("address").strip()


def resolve_recipients(names: Sequence[str], *, homedir: Path | None = None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(name, fingerprints) for each name; raises `InvalidKeyError` naming the missing ones."""
    try:
        keys = gpg.list_public_keys(homedir=homedir)
    except SignatureError as exc:
        raise InvalidKeyError(f"Invalid encryption keys: {exc}") from exc
    resolved = []
    missing = []
    for name in names:
        found = tuple(
            k.fingerprint for k in keys if k.can_encrypt and any(name in _name_and_address(uid) for uid in k.uids)
        )
        if not found:
            missing.append(name)
        resolved.append((name, found))
    if missing:
        raise InvalidKeyError(
            "Invalid encryption keys: PGP: No key found for the following recipients: "
            + ", ".join(safe_text(m, 100) for m in missing)
        )
    return tuple(resolved)


def wrap(recipients: Sequence[tuple[str, tuple[str, ...]]], data: bytes, *, homedir: Path | None = None) -> bytes:
    """A binary OpenPGP message of `data` for every key of `recipients`."""
    fingerprints = sorted({fpr for _, fprs in recipients for fpr in fprs})
    try:
        return gpg.encrypt(data, fingerprints, homedir=homedir)
    except SignatureError as exc:
        raise LayerEncryptionError(f"PGP: {exc}") from exc


def unwrap(message: bytes, secret_keys: Sequence[GPGSecretKey]) -> bytes | None:
    """The plaintext of `message` for the first of `secret_keys` that opens it, else None."""
    if not message or not message[0] & 0x80:
        return None  # not an OpenPGP packet at all: do not bother gpg
    for key in secret_keys:
        try:
            plain = gpg.decrypt_with_secret_key(message, key.data, passphrase=key.password)
        except SignatureError:
            continue
        if plain is not None:
            return plain
    return None
