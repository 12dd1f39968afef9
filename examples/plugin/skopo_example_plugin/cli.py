"""`skopo example-layers IMAGE-NAME`: the layers of any image, through skopo's library API."""

from __future__ import annotations

from typing import Annotated

import typer

from toolkit.cli.common import base_context
from toolkit.cli.context import global_options
from toolkit.ops.inspect import inspect_image
from toolkit.transports import parse_image_name


def example_layers(
    ctx: typer.Context,
    image_name: Annotated[str, typer.Argument(metavar="IMAGE-NAME", help="An image name, transport:details")],
) -> None:
    """List the layer digests and sizes of IMAGE-NAME (an example plugin command).

    Any transport works, built-in or from a plugin; `--override-arch`/`--override-os`
    choose the instance of a multi-architecture image. Prints one line per layer:
    DIGEST SIZE MEDIA-TYPE, then the total.
    """
    # Global flags (--override-arch, --registries.d, ...) as the built-in commands see them.
    sys_ctx = base_context(global_options(ctx))
    info = inspect_image(parse_image_name(image_name), sys_ctx, no_tags=True)
    total = 0
    for layer in info.layers_data:
        typer.echo(f"{layer.digest} {layer.size} {layer.mime_type}")
        total += max(layer.size, 0)
    typer.echo(f"{len(info.layers_data)} layers, {total} bytes")
