"""`skopo standalone-verify MANIFEST DOCKER-REFERENCE KEY-FINGERPRINTS SIGNATURE`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from toolkit.limits import MAX_MANIFEST_SIZE, read_named_input
from toolkit.ops.sign import read_signature_file
from toolkit.ops.sign import standalone_verify as verify_signature
from toolkit.signature.gpg import MAX_KEYRING_SIZE


def standalone_verify(
    manifest: Annotated[Path, typer.Argument(metavar="MANIFEST", show_default=False)],
    docker_reference: Annotated[str, typer.Argument(metavar="DOCKER-REFERENCE", show_default=False)],
    fingerprints: Annotated[str, typer.Argument(metavar="KEY-FINGERPRINTS", show_default=False)],
    signature: Annotated[Path, typer.Argument(metavar="SIGNATURE", show_default=False)],
    public_key_file: Annotated[
        Path | None,
        typer.Option("--public-key-file", metavar="PATH",
                     help="File containing public keys. If not specified, will use local GPG keys."),
    ] = None,
) -> None:
    """Verify a signature using local files.

    KEY-FINGERPRINTS can be a comma separated list of fingerprints, or "any" if you trust
    all the keys in the public key file. Prints `Signature verified using fingerprint FPR,
    digest DIGEST` on success.
    """
    raw = read_named_input(manifest, MAX_MANIFEST_SIZE, "manifest")
    blob = read_signature_file(signature)
    keys = read_named_input(public_key_file, MAX_KEYRING_SIZE, "public key file") if public_key_file else None
    result = verify_signature(raw, docker_reference, fingerprints.split(","), blob, public_keys=keys)
    typer.echo(f"Signature verified using fingerprint {result.key_fingerprint}, digest {result.docker_manifest_digest}")
