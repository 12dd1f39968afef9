"""`skopo list-tags REPOSITORY-NAME`: the tags of a repository, as skopeo prints them."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from toolkit.cli.common import base_context, log_line, with_retries
from toolkit.cli.context import global_options
from toolkit.cli.flags import FlagValues, auth_flags, command_with_flags, image_argument, retry_flags, system_context
from toolkit.manifest.gojson import GoStruct, marshal_indent
from toolkit.ops.tags import list_tags as list_tags_op


@command_with_flags(auth_flags(""), retry_flags())
def list_tags(
    ctx: typer.Context,
    repository_name: Annotated[str, image_argument("REPOSITORY-NAME")],
    flags: FlagValues,
) -> None:
    """List the tags of REPOSITORY-NAME (`docker://NAME` without tag, or `docker-archive:PATH`).

    Prints `{"Repository": ..., "Tags": [...]}` (docker) or `{"Tags": [...]}` (archive).
    """
    sys_ctx = system_context(flags, "", base=base_context(global_options(ctx)))
    repository, tags = with_retries(flags, lambda: list_tags_op(repository_name, sys_ctx), log_line)
    out = GoStruct()
    out.add("Repository", repository or "", omitempty=True)
    out.add("Tags", list(tags))
    sys.stdout.buffer.write(marshal_indent(out) + b"\n")
    sys.stdout.buffer.flush()
