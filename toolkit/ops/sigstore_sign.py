"""The sigstore signers of `copy` (`--sign-by-sigstore-private-key`, `--sign-by-sigstore`).

- `sigstore_key_signer(key_path, passphrase)`: decrypts the cosign-format private key now
  (a wrong passphrase or a bad key fails before anything is copied) and returns a
  `CopyOptions.signers` entry producing the sigstore storage blob (`sigstore_to_blob`) of
  a signature of the written manifest for the given identity (containers/image
  `signature/sigstore` `internalSigner`).
- `sigstore_params_signer(params_path, prompt)`: the same from a
  containers-sigstore-signing-params.yaml(5) file: `privateKeyFile`, with the passphrase
  from `privateKeyPassphraseFile` or `prompt(key_file)`. `fulcio` and `rekorURL` need the
  network and are refused with `NotSupportedError`.

Every failure is a `ToolkitError`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from toolkit.config.sigstore_params import load_signing_params
from toolkit.errors import InvalidInputError, NotSupportedError, SignatureError, ToolkitError, safe_text
from toolkit.limits import read_file_limited, read_first_line
from toolkit.reference import NamedReference
from toolkit.signature.sigstore import sign_image_manifest, sigstore_to_blob
from toolkit.signature.sigstore_keys import MAX_KEY_FILE_SIZE, SigstorePrivateKey, decrypt_private_key

if TYPE_CHECKING:
    from toolkit.ops.copy.options import Signer

__all__ = ["sigstore_key_signer", "sigstore_params_signer", "read_first_line"]


def _read_key(key_path: str) -> bytes:
    try:
        return read_file_limited(key_path, MAX_KEY_FILE_SIZE, "sigstore private key")
    except ToolkitError as exc:
        raise InvalidInputError(f"reading private key from {safe_text(key_path)}: {exc}") from exc


def _decrypt(raw: bytes, key_path: str, passphrase: bytes) -> SigstorePrivateKey:
    try:
        return decrypt_private_key(raw, passphrase, what=f"private key {safe_text(key_path)}")
    except ToolkitError as exc:
        raise InvalidInputError(f"initializing private key: {exc}") from exc


def _signer(key: SigstorePrivateKey) -> Signer:
    def sign(manifest: bytes, identity: NamedReference | None) -> bytes:
        if identity is None:
            raise SignatureError("Cannot determine canonical Docker reference for the destination; use --sign-identity")
        if identity.is_name_only():
            raise SignatureError(f"Sign identity must be a fully specified reference {identity}")
        return sigstore_to_blob(sign_image_manifest(key, manifest, identity))

    return sign


def sigstore_key_signer(key_path: str, passphrase: bytes) -> Signer:
    """A signer with the private key at `key_path` (decrypted now with `passphrase`)."""
    return _signer(_decrypt(_read_key(key_path), key_path, passphrase))


def sigstore_params_signer(params_path: str, prompt: Callable[[str], bytes] | None) -> Signer:
    """A signer from a parameter file; `prompt(key_file)` asks for a passphrase (None: cannot ask)."""
    params = load_signing_params(params_path)
    if params.fulcio is not None:
        raise NotSupportedError(
            f"{safe_text(params_path)}: fulcio (keyless) signing needs Fulcio and an OIDC provider over the network, "
            "which skopo does not support; use privateKeyFile"
        )
    if params.rekor_url:
        raise NotSupportedError(
            f"{safe_text(params_path)}: rekorURL: uploading signatures to Rekor needs the network, "
            "which skopo does not support"
        )
    if not params.private_key_file:
        raise InvalidInputError(
            f"{safe_text(params_path)}: no private key source provided (neither privateKeyFile nor fulcio)"
        )
    if not params.private_key_passphrase_file and prompt is None:
        raise InvalidInputError("private key file provided, but no passphrase source (file or prompt) available")
    raw = _read_key(params.private_key_file)
    if params.private_key_passphrase_file:
        passphrase = read_first_line(params.private_key_passphrase_file)
    else:
        assert prompt is not None
        passphrase = prompt(params.private_key_file)
    return _signer(_decrypt(raw, params.private_key_file, passphrase))
