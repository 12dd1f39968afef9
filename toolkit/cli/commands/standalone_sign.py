"""`skopo standalone-sign MANIFEST DOCKER-REFERENCE KEY-FINGERPRINT -o SIGNATURE`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from toolkit.errors import InvalidInputError
from toolkit.limits import MAX_MANIFEST_SIZE, read_named_input
from toolkit.ops.sign import read_passphrase_file
from toolkit.ops.sign import standalone_sign as sign_manifest
from toolkit.safefile import write_output


def standalone_sign(
    manifest: Annotated[Path, typer.Argument(metavar="MANIFEST", show_default=False)],
    docker_reference: Annotated[str, typer.Argument(metavar="DOCKER-REFERENCE", show_default=False)],
    fingerprint: Annotated[str, typer.Argument(metavar="KEY-FINGERPRINT", show_default=False)],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", metavar="SIGNATURE", help="output the signature to SIGNATURE")
    ] = None,
    passphrase_file: Annotated[
        Path | None,
        typer.Option("--passphrase-file", metavar="PATH", help="file that contains a passphrase for the --sign-by key"),
    ] = None,
) -> None:
    """Create a signature using local files.

    Signs the digest of MANIFEST for DOCKER-REFERENCE with the GPG key KEY-FINGERPRINT
    from the user's keyring (GNUPGHOME) and writes the signature to SIGNATURE (mode 0644).
    """
    if output is None:
        raise InvalidInputError("Usage: skopo standalone-sign manifest docker-reference key-fingerprint -o signature")
    raw = read_named_input(manifest, MAX_MANIFEST_SIZE, "manifest")
    passphrase = read_passphrase_file(passphrase_file) if passphrase_file is not None else None
    blob = sign_manifest(raw, docker_reference, fingerprint, passphrase=passphrase)
    write_output(output, blob, what="signature")
