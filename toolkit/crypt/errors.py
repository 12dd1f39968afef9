"""Errors of layer encryption (stdlib only)."""

from __future__ import annotations

from toolkit.errors import InvalidInputError, ToolkitError

__all__ = ["CryptError", "LayerEncryptionError", "LayerDecryptionError", "InvalidKeyError"]


class CryptError(ToolkitError):
    """Layer encryption or decryption failed."""


class LayerEncryptionError(CryptError):
    """A layer could not be encrypted (no usable recipient, a wrapping failure ...)."""


class LayerDecryptionError(CryptError):
    """A layer could not be decrypted: no key opens it, its annotations are malformed, or
    its ciphertext does not verify (HMAC)."""


class InvalidKeyError(InvalidInputError):
    """A key given for encryption or decryption cannot be used (`--encryption-key`,
    `--decryption-key`)."""
