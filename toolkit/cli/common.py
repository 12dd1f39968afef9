"""Helpers shared by the CLI commands: contexts, policy, retries, output files."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer

from toolkit import deadline
from toolkit.cli.context import GlobalOptions, global_options
from toolkit.cli.flags import FlagValues
from toolkit.errors import InvalidInputError, RetryableError, safe_text
from toolkit.gocompat import parse_go_duration
from toolkit.safefile import write_output

if TYPE_CHECKING:  # annotations only: inspect, list-tags, ... never load the policy machinery
    from toolkit.policy import PolicyContext
    from toolkit.types import SystemContext

__all__ = ["base_context", "log_line", "policy_context", "with_retries", "write_digest_file",
           "check_digest_file"]

T = TypeVar("T")


def base_context(options: GlobalOptions) -> SystemContext:
    """The `SystemContext` fields that come from global flags (`GlobalOptions.system_context`)."""
    return options.system_context()


def policy_context(ctx: typer.Context) -> PolicyContext:
    """The trust policy for this command: `--insecure-policy`, or a policy.json.

    policy.json is `--policy`, else `$HOME/.config/containers/policy.json`, else
    `/etc/containers/policy.json`; none -> `PolicyError` listing the paths tried. The file
    is parsed strictly here, before any image is opened.
    """
    return global_options(ctx).policy_context()


def with_retries(flags: FlagValues, operation: Callable[[], T], log: Callable[[str], None]) -> T:
    """Run `operation`, re-running it on retryable errors per `--retry-times`/`--retry-delay`."""
    times: int = flags.get("retry-times")
    if times < 0:
        raise InvalidInputError("--retry-times must not be negative")
    fixed_delay = parse_go_duration(flags.get("retry-delay"))
    attempt = 0
    while True:
        try:
            return operation()
        except RetryableError as exc:
            if attempt >= times:
                raise
            import random  # only once a retry is due, not on every start

            delay = fixed_delay if fixed_delay > 0 else (2**attempt) * (1 + random.random() * 0.1)
            attempt += 1
            log(f"Failed, retrying in {delay:.1f}s ... ({attempt}/{times}). Error: {exc}")
            deadline.sleep(delay)  # --command-timeout covers the waits between attempts too


def log_line(line: str) -> None:
    """Print a progress or retry message on stderr."""
    sys.stderr.write(line + "\n")


def check_digest_file(path: Path) -> None:
    """Refuse, before any copying, a digest file path that `write_digest_file` could not write."""
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir() or not parent.is_dir():
        reason = "is a directory" if path.is_dir() else "directory does not exist"
        raise InvalidInputError(f"digest file {safe_text(str(path))}: {reason}")


def write_digest_file(path: Path, digest: str) -> None:
    """Write `digest` (no newline) to `path`: a new or regular file is replaced atomically
    (mode 0644), a device, pipe or `/dev/stdout` is written in place (`safefile.write_output`).
    Raises `ToolkitError` on any write error."""
    write_output(path, digest.encode("ascii"), what="digest file")
