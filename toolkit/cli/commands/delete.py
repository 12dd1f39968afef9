"""`skopo delete IMAGE-NAME`: delete an image from a registry (or an oci: layout).

For `docker://`, a tag is first resolved to its manifest digest and the manifest is then
deleted by digest, which removes every tag pointing at it (skopeo's behaviour).
"""

from __future__ import annotations

from typing import Annotated

import typer

from toolkit.cli.common import base_context, log_line, with_retries
from toolkit.cli.context import global_options
from toolkit.cli.flags import FlagValues, command_with_flags, image_argument, image_flags, retry_flags, system_context
from toolkit.transports import parse_image_name


@command_with_flags(image_flags(""), retry_flags())
def delete(
    ctx: typer.Context,
    image_name: Annotated[str, image_argument("IMAGE-NAME")],
    flags: FlagValues,
) -> None:
    """Delete IMAGE-NAME (a manifest and, in a registry, every tag pointing at it)."""
    sys_ctx = system_context(flags, "", base=base_context(global_options(ctx)))
    ref = parse_image_name(image_name)
    with_retries(flags, lambda: ref.delete_image(sys_ctx), log_line)
