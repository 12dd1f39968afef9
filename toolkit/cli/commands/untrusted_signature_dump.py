"""`skopo untrusted-signature-dump-without-verification SIGNATURE` (hidden, as in skopeo).

Prints what a simple-signing signature file claims (digest, identity, creator, time, key
ID) as JSON, WITHOUT VERIFYING it: nothing it prints may be trusted. skopeo has no man page
for it, so neither does skopo.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from toolkit.errors import InvalidInputError

_app = typer.Typer(rich_markup_mode=None, add_completion=False)  # plain help (cli/helpformat.py)


@_app.command(name="untrusted-signature-dump-without-verification", hidden=True)
def _untrusted_signature_dump(
    signature: Annotated[list[Path] | None, typer.Argument(metavar="SIGNATURE", show_default=False)] = None,
) -> None:
    """Dump contents of a signature WITHOUT VERIFYING IT."""
    from toolkit.ops.sign import read_signature_file, untrusted_signature_dump

    if signature is None or len(signature) != 1:
        raise InvalidInputError("Usage: skopo untrusted-signature-dump-without-verification signature")
    out = untrusted_signature_dump(read_signature_file(signature[0]))
    typer.echo(out.decode("utf-8", "surrogateescape"))


#: The entry point `toolkit.commands:untrusted-signature-dump-without-verification`.
untrusted_signature_dump_without_verification = typer.main.get_command(_app)
