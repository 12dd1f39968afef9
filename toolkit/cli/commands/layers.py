"""`skopo layers IMAGE-NAME [LAYER...]` (hidden and deprecated, as in skopeo).

Writes the image's layers and config (or only the blobs named) and its manifest into a new
`./layers-*` directory in the `dir:` layout; `copy IMAGE dir:PATH` does the same and more.
skopeo has no man page for it, so neither does skopo.
"""

from __future__ import annotations

from typing import Annotated

import typer

from toolkit.cli.common import base_context, log_line, with_retries
from toolkit.cli.context import global_options
from toolkit.cli.flags import FlagValues, command_with_flags, image_flags, retry_flags, system_context
from toolkit.errors import InvalidInputError

_app = typer.Typer(rich_markup_mode=None, add_completion=False)  # plain help (cli/helpformat.py)


@_app.command(name="layers", hidden=True)
@command_with_flags(image_flags(""), retry_flags())
def _layers(
    ctx: typer.Context,
    flags: FlagValues,
    args: Annotated[list[str] | None, typer.Argument(metavar="IMAGE-NAME [LAYER...]", show_default=False)] = None,
) -> None:
    """Get layers of IMAGE-NAME."""
    from toolkit.ops.layers import download_layers, parse_layer_digests
    from toolkit.transports import parse_image_name

    log_line("DEPRECATED: skopeo layers is deprecated in favor of skopeo copy")
    if not args:
        raise InvalidInputError("Usage: layers imageReference [layer...]")
    sys_ctx = system_context(flags, "", base=base_context(global_options(ctx)))
    ref = parse_image_name(args[0])
    digests = parse_layer_digests(args[1:])
    with_retries(flags, lambda: download_layers(ref, sys_ctx, digests), log_line)


#: The entry point `toolkit.commands:layers`: an already-built, hidden command.
layers = typer.main.get_command(_app)
