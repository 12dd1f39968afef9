"""`skopo manifest-digest FILE`: print the digest of a manifest file as skopeo does."""

# No `from __future__ import annotations`: Typer evaluates string annotations on every run.
from pathlib import Path
from typing import Annotated

import typer

from toolkit.limits import MAX_MANIFEST_SIZE, read_named_input
from toolkit.manifest import manifest_digest as compute_manifest_digest

#: For `man skopo-manifest-digest` (toolkit/cli/manpages.py): a description, then `$ ` command lines.
EXAMPLES = [
    "Check that the manifest of a dir: image has the digest a registry reported:\n"
    "$ skopo manifest-digest alpine-dir/manifest.json",
]


def manifest_digest(
    manifest: Annotated[Path, typer.Argument(help="Manifest file", metavar="MANIFEST")],
) -> None:
    """Compute a manifest digest for a manifest file (schema1 signatures are stripped)."""
    raw = read_named_input(manifest, MAX_MANIFEST_SIZE, "manifest")
    typer.echo(str(compute_manifest_digest(raw)))
