"""`skopo inspect IMAGE-NAME`: low-level information about an image, as skopeo prints it."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from toolkit.cli.common import base_context, log_line, with_retries
from toolkit.cli.context import global_options
from toolkit.cli.flags import Flag, FlagValues, command_with_flags, image_flags, retry_flags, system_context
from toolkit.cli.gotemplate import render_template
from toolkit.errors import InvalidInputError
from toolkit.manifest.gojson import GoStruct, indent, marshal_indent
from toolkit.ops.inspect import image_config, inspect_image, list_platforms, raw_manifest
from toolkit.transports import parse_image_name

INSPECT_FLAGS: list[Flag] = [
    Flag("raw", bool, False, "output raw manifest or configuration"),
    Flag("config", bool, False, "output configuration"),
    Flag("format", str | None, None, "Format the output to a Go template", metavar="TEMPLATE", short="-f"),
    Flag("no-tags", bool, False, "Do not list the available tags from the repository in the output", short="-n"),
    Flag("platforms", bool, False, "List every platform of a multi-architecture image with its digest and size"),
]


@command_with_flags(INSPECT_FLAGS, image_flags(""), retry_flags())
def inspect(
    ctx: typer.Context,
    image_name: Annotated[str, typer.Argument(metavar="IMAGE-NAME", show_default=False)],
    flags: FlagValues,
) -> None:
    """Inspect image IMAGE-NAME: manifest digest, layers, platform, labels, environment.

    `--raw` prints the manifest exactly as stored (a list stays a list); `--config` the
    image configuration; `--platforms` every platform of a multi-architecture image.
    """
    raw: bool = flags.get("raw")
    config: bool = flags.get("config")
    template: str | None = flags.get("format")
    if raw and template is not None:
        raise InvalidInputError("raw output does not support format option")
    sys_ctx = system_context(flags, "", base=base_context(global_options(ctx)))
    ref = parse_image_name(image_name)
    out = sys.stdout.buffer

    def run() -> bytes:
        if flags.get("platforms"):
            entries = list_platforms(ref, sys_ctx)
            value: Any = [
                GoStruct(
                    [
                        ("Platform", str(entry.platform) if entry.platform is not None else ""),
                        ("Digest", str(entry.digest)),
                        ("Size", entry.size),
                        ("MIMEType", entry.media_type),
                    ]
                )
                for entry in entries
            ]
            return _render(value, template)
        if raw and not config:
            return raw_manifest(ref, sys_ctx)
        if config:
            blob = image_config(ref, sys_ctx, raw=raw)
            return blob if raw else indent(blob) + b"\n"
        info = inspect_image(ref, sys_ctx)
        return _render(info.go_struct(), template)

    out.write(with_retries(flags, run, log_line))
    out.flush()


def _render(value: Any, template: str | None) -> bytes:
    if template is None or template.strip() in {"json", "{{json .}}"}:
        return marshal_indent(value) + b"\n"
    text = render_template(template, value)
    return (text if text.endswith("\n") else text + "\n").encode()
