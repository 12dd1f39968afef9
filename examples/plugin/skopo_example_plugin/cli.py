"""`skopo example-layers IMAGE-NAME`: the layers of any image, through skopo's public API (`toolkit`)."""

from __future__ import annotations

from typing import Annotated

import typer

import toolkit


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
    sys_ctx = toolkit.global_options(ctx).system_context()
    info = toolkit.inspect(image_name, ctx=sys_ctx, no_tags=True)
    total = 0
    for layer in info.layers_data:
        typer.echo(f"{layer.digest} {layer.size} {layer.mime_type}")
        total += max(layer.size, 0)
    typer.echo(f"{len(info.layers_data)} layers, {total} bytes")
