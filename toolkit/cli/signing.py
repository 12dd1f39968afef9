"""Flags shared by `copy` and `sync`: manifest format and signing."""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

from toolkit.cli.flags import FlagValues
from toolkit.errors import InvalidInputError, NotSupportedError, safe_text
from toolkit.manifest import mime
from toolkit.ops.copy.options import Signer
from toolkit.reference import NamedReference
from toolkit.transports.base import ImageReference

__all__ = ["MANIFEST_FORMATS", "Signer", "manifest_format", "signers_from_flags"]

MANIFEST_FORMATS = {"oci": mime.OCI_MANIFEST, "v2s1": mime.DOCKER_V2S1_SIGNED, "v2s2": mime.DOCKER_V2S2}


def manifest_format(flags: FlagValues) -> str | None:
    """The manifest MIME type `--format` asks for (None: keep what the source has)."""
    fmt: str | None = flags.get("format")
    if fmt is None:
        return None
    if fmt not in MANIFEST_FORMATS:
        raise InvalidInputError(
            f'unknown format "{safe_text(fmt)}". Choose one of the supported formats: '
            "'oci', 'v2s1', or 'v2s2'"
        )
    return MANIFEST_FORMATS[fmt]


def signers_from_flags(
    flags: FlagValues, sign_identity: NamedReference | None, dest_ref: ImageReference
) -> tuple[Signer, ...]:
    """`--sign-by` (GPG), `--sign-by-sigstore-private-key`, `--sign-by-sigstore` (with
    `--sign-passphrase-file`, else a prompt for sigstore keys): the signers, each ready
    (keys decrypted) before anything is copied. A signature needs an identity
    (`--sign-identity` or the destination's reference)."""
    if flags.get("sign-by-sq-fingerprint"):
        raise NotSupportedError(
            "--sign-by-sq-fingerprint is not supported: skopo does not sign with Sequoia-PGP "
            "(use --sign-by with a GnuPG key)"
        )
    key: str | None = flags.get("sign-by")
    sigstore_key: Path | None = flags.get("sign-by-sigstore-private-key")
    sigstore_params: Path | None = flags.get("sign-by-sigstore")
    passphrase_file: Path | None = flags.get("sign-passphrase-file")
    if not key and sigstore_key is None and sigstore_params is None:
        if passphrase_file is not None:
            raise InvalidInputError(
                "--sign-passphrase-file can only be used with --sign-by or --sign-by-sigstore-private-key"
            )
        return ()
    if passphrase_file is not None and key and sigstore_key is not None:
        raise InvalidInputError(
            "Only one of --sign-by and sign-by-sigstore-private-key can be used with sign-passphrase-file"
        )
    # Imported here: signing pulls in gpg and `cryptography`, which most copies never need.
    from toolkit.ops.sign import gpg_signer, read_passphrase_file
    from toolkit.ops.sigstore_sign import read_first_line, sigstore_key_signer, sigstore_params_signer

    if sign_identity is None and dest_ref.docker_reference() is None:
        raise InvalidInputError(
            "Cannot determine canonical Docker reference for destination "
            f"{dest_ref.transport.name}:{safe_text(dest_ref.string_within_transport())}; use --sign-identity"
        )
    # containers/image order: GPG, then the sigstore private key, then the parameter file's signer.
    signers: list[Signer] = []
    if key:
        passphrase = read_passphrase_file(passphrase_file) if passphrase_file is not None else None
        signers.append(gpg_signer(key, passphrase))
    if sigstore_key is not None:
        if passphrase_file is not None:
            sigstore_passphrase = read_first_line(str(passphrase_file))
        else:
            sigstore_passphrase = _prompt_for_passphrase(str(sigstore_key))
        signers.append(sigstore_key_signer(str(sigstore_key), sigstore_passphrase))
    if sigstore_params is not None:
        signers.append(sigstore_params_signer(str(sigstore_params), _prompt_for_passphrase))
    return tuple(signers)


def _prompt_for_passphrase(key_file: str) -> bytes:
    """skopeo `promptForPassphrase`: ask on the terminal; refuse clearly without one."""
    if not sys.stdin.isatty():
        raise InvalidInputError(
            f"Cannot prompt for a passphrase for key {safe_text(key_file)}, standard input is not a TTY "
            "(use --sign-passphrase-file)"
        )
    try:
        return getpass.getpass(f"Passphrase for key {key_file}: ").encode("utf-8")
    except (EOFError, OSError) as exc:
        raise InvalidInputError(f"Error reading password: {exc}") from exc
