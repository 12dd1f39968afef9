"""Standalone signing verbs and the `--sign-by` signer (skopeo `cmd/skopeo/signing.go`).

- `standalone_sign(manifest, docker_reference, key, passphrase=None) -> bytes`: a GPG
  simple-signing blob for the manifest's digest and `docker_reference` (written into the
  payload exactly as given, as skopeo does; it must parse as a docker reference).
- `standalone_verify(manifest, docker_reference, fingerprints, signature,
  public_keys=None) -> VerifiedSignature`: verifies with the keys in `public_keys` (in a
  temporary keyring), or with the user's keyring when None; the signing key must be one of
  `fingerprints` (`["any"]` means every key in `public_keys`); the signed reference must
  equal `docker_reference` after normalisation; the digest must match the manifest.
- `gpg_signer(key, passphrase)`: the signer `CopyOptions.signers` takes.
- `read_passphrase_file(path)`: the first line of a passphrase file, as skopeo reads it.

Every failure is a `ToolkitError` (`SignatureError` for signatures).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.errors import (
    InvalidDigestError,
    InvalidInputError,
    InvalidReferenceError,
    ManifestError,
    SignatureError,
    safe_text,
)
from toolkit.limits import MAX_SIGNATURE_SIZE, read_first_line, read_named_input
from toolkit.reference import NamedReference, parse_normalized_named
from toolkit.signature import SimpleSigning, parse_signature_blob
from toolkit.signature.gpg import GPGVerification, ephemeral_keyring, sign, verify_with_user_keyring
from toolkit.signature.simple import (
    InvalidSignatureError,
    VerifiedSignature,
    digest_validator,
    parse_payload,
    payload_for_manifest,
    verify_and_extract,
)

if TYPE_CHECKING:
    from toolkit.ops.copy.options import Signer

__all__ = [
    "standalone_sign",
    "standalone_verify",
    "gpg_signer",
    "read_passphrase_file",
    "untrusted_signature_dump",
]


def read_passphrase_file(path: Path) -> str | None:
    """The first line of `path` without its newline (None if empty), as skopeo reads it."""
    line = read_first_line(str(path))
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"passphrase file {safe_text(str(path))} is not valid UTF-8") from exc
    return text or None


def standalone_sign(manifest: bytes, docker_reference: str, key: str, *, passphrase: str | None = None) -> bytes:
    """Sign `manifest` for `docker_reference` with GPG key `key` (user keyring)."""
    try:
        parse_normalized_named(docker_reference)
    except (InvalidReferenceError, InvalidDigestError) as exc:
        raise InvalidInputError(f'invalid docker reference "{safe_text(docker_reference)}": {exc}') from exc
    payload = payload_for_manifest(manifest, docker_reference)
    return sign(payload, key, passphrase=passphrase)


def _identity_validator(expected: NamedReference, expected_text: str) -> Callable[[str], None]:
    def check(signed: str) -> None:
        try:
            signed_ref = parse_normalized_named(signed)
        except (InvalidReferenceError, InvalidDigestError) as exc:
            raise InvalidSignatureError(f'Invalid docker reference "{safe_text(signed)}" in signature') from exc
        if str(signed_ref) != str(expected):
            raise InvalidSignatureError(
                f'Docker reference "{safe_text(signed)}" does not match "{safe_text(expected_text)}"'
            )

    return check


def standalone_verify(
    manifest: bytes,
    docker_reference: str,
    fingerprints: Sequence[str],
    signature: bytes,
    *,
    public_keys: bytes | None = None,
) -> VerifiedSignature:
    """Verify a standalone simple-signing `signature` (see the module docstring)."""
    try:
        expected = parse_normalized_named(docker_reference)
    except (InvalidReferenceError, InvalidDigestError) as exc:
        raise InvalidInputError(f'invalid docker reference "{safe_text(docker_reference)}": {exc}') from exc
    wants_any = list(fingerprints) == ["any"]
    if wants_any and public_keys is None:
        raise InvalidInputError("Cannot use any fingerprint without a public key file")
    parsed = parse_signature_blob(signature)
    if not isinstance(parsed, SimpleSigning):
        raise SignatureError(f"unsupported signature format {safe_text(parsed.format_name)}")
    verified: GPGVerification
    if public_keys is not None:
        with ephemeral_keyring([(public_keys, "the public key file")]) as keyring:
            if not keyring.fingerprints:
                raise SignatureError("no public keys found in the public key file")
            accepted = list(keyring.fingerprints) if wants_any else list(fingerprints)
            verified = keyring.verify(parsed.untrusted_blob)
    else:
        accepted = list(fingerprints)
        verified = verify_with_user_keyring(parsed.untrusted_blob)
    return verify_and_extract(
        verified.payload,
        verified.signing_fingerprint,
        primary_fingerprint=verified.primary_fingerprint,
        accepted_fingerprints=accepted,
        validate_digest=digest_validator(manifest),
        validate_identity=_identity_validator(expected, docker_reference),
    )


def gpg_signer(key: str, passphrase: str | None = None) -> Signer:
    """A `CopyOptions.signers` entry: signs the written manifest for the given identity.

    The identity must be known and carry a tag or digest (`--sign-identity`, else the
    destination's docker reference); the CLI checks this before copying anything.
    """

    def signer(manifest: bytes, identity: NamedReference | None) -> bytes:
        if identity is None:
            raise SignatureError("Cannot determine canonical Docker reference for the destination")
        if identity.is_name_only():
            raise SignatureError(f"Sign identity must be a fully specified reference {identity}")
        return sign(payload_for_manifest(manifest, str(identity)), key, passphrase=passphrase)

    return signer


def read_signature_file(path: Path) -> bytes:
    """A signature file named on the command line (a regular file, a device or a pipe; at
    most 4 MiB)."""
    return read_named_input(path, MAX_SIGNATURE_SIZE, "signature")


def untrusted_signature_dump(untrusted_blob: bytes) -> bytes:
    """`untrusted-signature-dump-without-verification`: what a simple-signing signature
    claims, NOT VERIFIED, as skopeo prints it (c/image `UntrustedSignatureInformation`,
    `json.MarshalIndent` with 4 spaces, no trailing newline).

    Fields: `UntrustedDockerManifestDigest`, `UntrustedDockerReference`,
    `UntrustedCreatorID` (null if absent), `UntrustedTimestamp` (RFC 3339 in the local
    zone, null if absent) and `UntrustedShortKeyIdentifier` (the key ID the message names).
    Raises `InvalidSignatureError` ("Error decoding untrusted signature: ...") for anything
    that is not a readable signed message holding a valid payload.
    """
    from toolkit.manifest.gojson import GoStruct, GoTime, marshal_indent
    from toolkit.signature.openpgp import untrusted_signature_contents

    try:
        content, key_id = untrusted_signature_contents(untrusted_blob)
        payload = parse_payload(content)
        created = (
            None if payload.untrusted_timestamp is None else GoTime.from_unix(payload.untrusted_timestamp).format()
        )
    except (SignatureError, ManifestError) as exc:
        raise InvalidSignatureError(f"Error decoding untrusted signature: {exc}") from exc
    info = GoStruct(
        [
            ("UntrustedDockerManifestDigest", str(payload.untrusted_docker_manifest_digest)),
            ("UntrustedDockerReference", payload.untrusted_docker_reference),
            ("UntrustedCreatorID", payload.untrusted_creator),
            ("UntrustedTimestamp", created),
            ("UntrustedShortKeyIdentifier", key_id),
        ]
    )
    return marshal_indent(info, "    ")
