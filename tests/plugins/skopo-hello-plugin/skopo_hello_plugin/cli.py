"""`skopo hello IMAGE-NAME`: parse an image name through the transport registry and greet it."""

from __future__ import annotations

from typing import Annotated

import typer

from toolkit.transports import parse_image_name


def hello(
    image_name: Annotated[str, typer.Argument(metavar="IMAGE-NAME", help="An image name, transport:details")],
) -> None:
    """Say hello to an image (a plugin command)."""
    reference = parse_image_name(image_name)
    typer.echo(f"hello {reference.string_within_transport()}")
