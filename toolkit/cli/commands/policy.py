"""`skopo policy check IMAGE-NAME`: the trust policy's verdict for an image, without copying it."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from toolkit.cli.common import base_context, log_line, policy_context, with_retries
from toolkit.cli.completion import image_argument
from toolkit.cli.context import global_options
from toolkit.cli.flags import Flag, FlagValues, command_with_flags, image_flags, retry_flags, system_context
from toolkit.cli.helpformat import HelpGroup
from toolkit.errors import InvalidInputError, safe_text
from toolkit.ops.policy_check import PolicyCheckResult, check_policy
from toolkit.transports import parse_image_name

#: For `man skopo-policy-check` (toolkit/cli/manpages.py): a description, then `$ ` command lines.
EXAMPLES = [
    "Check an image in a registry against the default policy.json before pulling it:\n"
    "$ skopo policy check docker://registry.example.com/app:1.4",
    "Check the signed demo image against the demo policy, as a script would (exit status 0: accepted):\n"
    "$ skopo --policy examples/demo-policy.json policy check --format json dir:examples/image-signed",
]
SEE_ALSO = ["skopo-policy.json(5)", "skopo-registries.d(5)", "skopo-copy(1)"]

CHECK_FLAGS: list[Flag] = [
    Flag("format", str, "text", "Output format: text (for people) or json (for scripts)", metavar="FORMAT"),
]

app = typer.Typer(
    help="Evaluate the trust policy (policy.json) without copying anything.",
    no_args_is_help=True,
    rich_markup_mode=None,
    cls=HelpGroup,
)


@app.command("check")
@command_with_flags(CHECK_FLAGS, image_flags(""), retry_flags())
def check(
    ctx: typer.Context,
    image_name: Annotated[str, image_argument("IMAGE-NAME")],
    flags: FlagValues,
) -> None:
    """Evaluate the trust policy for IMAGE-NAME without copying it.

    Reads only the image's manifest and signatures, finds the policy scope that applies
    (as `copy` does) and prints, for each requirement of that scope, `accepted` or the
    reason it refuses the image, then the verdict. A multi-architecture image is checked
    at the list level, as every copy of it is first.

    Exit status: 0 if the policy accepts the image, 1 if it rejects it (or on any other
    error), 2 if the image does not exist. Honours `--policy`, `--insecure-policy` and
    `--registries.d` (where signatures are looked up).

    `--format json` prints one object: `image`, `policy` (the file used, or
    `--insecure-policy`), `scope`, `digest` (of the manifest checked), `accepted`
    (true or false) and `requirements`, a list of objects with `type`, `accepted` and
    `reason` (null when accepted).
    """
    fmt: str = flags.get("format")
    if fmt not in {"text", "json"}:
        raise InvalidInputError(f'unknown format "{safe_text(fmt)}": use text or json')
    options = global_options(ctx)
    policy = policy_context(ctx)
    sys_ctx = system_context(flags, "", base=base_context(options))
    ref = parse_image_name(image_name)
    result = with_retries(flags, lambda: check_policy(policy, ref, sys_ctx), log_line)
    out = json.dumps(result.to_json(), indent=4) if fmt == "json" else render_text(result)
    sys.stdout.write(out + "\n")
    sys.stdout.flush()
    if not result.accepted:
        raise typer.Exit(1)


def render_text(result: PolicyCheckResult) -> str:
    """The text report: the image, the policy and scope used, one line per requirement, the verdict."""
    lines = [
        f"Image:   {result.image}",
        f"Digest:  {result.digest}",
        f"Policy:  {safe_text(result.policy)}",
        f"Scope:   {result.scope}",
    ]
    for number, req in enumerate(result.requirements, start=1):
        lines.append(f"  {number}. {req.type}: " + ("accepted" if req.accepted else f"rejected: {req.reason}"))
    lines.append("Verdict: " + ("accepted" if result.accepted else "rejected"))
    return "\n".join(lines)
