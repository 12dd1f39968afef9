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
from toolkit.manifest.gojson import indent, marshal_indent
from toolkit.ops.inspect import (
    image_config,
    inspect_image,
    list_platforms,
    platform_struct,
    raw_manifest,
    referrers_tree,
)
from toolkit.transports import parse_image_name

#: For `man skopo-inspect` (toolkit/cli/manpages.py): a description, then `$ ` command lines.
EXAMPLES = [
    "Show the digest, tags, layers, labels and environment of an image in a registry:\n"
    "$ skopo inspect docker://docker.io/library/alpine:3.20",
    "Print only the digest and platform, with a Go template:\n"
    "$ skopo inspect --format '{{.Digest}} {{.Os}}/{{.Architecture}}' oci:alpine-layout:3.20",
    "List every platform of a multi-architecture image with its digest and size:\n"
    "$ skopo inspect --platforms docker://docker.io/library/alpine:3.20",
    "Show the SBOMs, signatures and attestations attached to an image, as a tree:\n"
    "$ skopo inspect --referrers --tree docker://registry.example.com/app:1.0",
    "Print the manifest exactly as stored, then the image configuration:\n"
    "$ skopo inspect --raw docker-archive:alpine.tar\n"
    "$ skopo inspect --config docker-archive:alpine.tar",
]
SEE_ALSO = ["skopo-transports(5)", "skopo-registries.d(5)", "skopo-copy(1)"]

INSPECT_FLAGS: list[Flag] = [
    Flag("raw", bool, False, "output raw manifest or configuration"),
    Flag("config", bool, False, "output configuration"),
    Flag("format", str | None, None, "Format the output to a Go template", metavar="TEMPLATE", short="-f"),
    Flag("no-tags", bool, False, "Do not list the available tags from the repository in the output", short="-n"),
    Flag("platforms", bool, False, "List every platform of a multi-architecture image with its digest and size"),
    Flag("referrers", bool, False, "List what refers to the image (OCI 1.1 referrers, recursively, and cosign's "
         "tags) as JSON"),
    Flag("tree", bool, False, "With --referrers, print a readable tree instead of JSON"),
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

    For a multi-architecture image, the instance for this machine's platform (or the one
    chosen with `--override-os`, `--override-arch`, `--override-variant`) is inspected; a
    list without one is an error, as in skopeo, whose message names the platforms the list
    has. `--platforms` lists them with their digests and sizes.

    `--referrers` lists what refers to the image (skopo's addition): OCI 1.1 referrers
    (SBOMs, signatures, attestations whose `subject` names it, found through the
    registry's referrers API or the referrers tag schema, or an OCI layout's index),
    recursively, and cosign's `.sig`/`.att`/`.sbom` tags; for a list, each instance too.
    JSON objects carry `Digest`, `MediaType`, `Size`, `ArtifactType`, `Platform`, `Tag`,
    `Annotations`, `Referrers` (and `Manifests` for a list); `--tree` prints the same as a
    tree, one line per manifest.
    """
    raw: bool = flags.get("raw")
    config: bool = flags.get("config")
    template: str | None = flags.get("format")
    if raw and template is not None:
        raise InvalidInputError("raw output does not support format option")
    if config and template is not None and not flags.get("platforms"):
        raise InvalidInputError("--config does not support the format option")
    referrers: bool = flags.get("referrers")
    if referrers and (raw or config or flags.get("platforms")):
        raise InvalidInputError("--referrers cannot be combined with --raw, --config or --platforms")
    if flags.get("tree") and not referrers:
        raise InvalidInputError("--tree needs --referrers")
    sys_ctx = system_context(flags, "", base=base_context(global_options(ctx)))
    ref = parse_image_name(image_name)
    out = sys.stdout.buffer

    def run() -> bytes:
        if referrers:
            tree = referrers_tree(ref, sys_ctx)
            if flags.get("tree"):
                return ("\n".join(tree.tree_lines()) + "\n").encode()
            return _render(tree.go_struct(), template)
        if flags.get("platforms"):
            entries = list_platforms(ref, sys_ctx)
            value: Any = [platform_struct(entry) for entry in entries]
            return _render(value, template)
        if raw and not config:
            return raw_manifest(ref, sys_ctx)
        if config:
            blob = image_config(ref, sys_ctx, raw=raw)
            return blob if raw else indent(blob) + b"\n"
        info = inspect_image(ref, sys_ctx, no_tags=flags.get("no-tags"), warn=lambda m: log_line(f"Warning: {m}"))
        return _render(info.go_struct(), template)

    out.write(with_retries(flags, run, log_line))
    out.flush()


def _render(value: Any, template: str | None) -> bytes:
    if template is None or template.strip() in {"json", "{{json .}}"}:
        return marshal_indent(value) + b"\n"
    text = render_template(template, value)
    return (text if text.endswith("\n") else text + "\n").encode()
