"""toolkit.cli.argv: the `--flag=value` rewrite and the hoisting of global flags (Go's value
syntaxes themselves are tested in tests/unit/test_gocompat.py)."""

from __future__ import annotations

from typing import Annotated

import pytest
import typer

from toolkit.cli.argv import hoist_global_flags, rewrite_bool_flags
from toolkit.errors import InvalidInputError


def _tree() -> object:
    app = typer.Typer()

    @app.callback()
    def root(
        debug: Annotated[bool, typer.Option("--debug")] = False,
        policy: Annotated[str, typer.Option("--policy")] = "",
    ) -> None:
        pass

    @app.command()
    def copy(
        src: str,
        tls_verify: Annotated[bool | None, typer.Option("--tls-verify/--no-tls-verify")] = None,
        quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
        creds: Annotated[str, typer.Option("--creds")] = "",
    ) -> None:
        pass

    @app.command()
    def other() -> None:
        pass

    return typer.main.get_command(app)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--debug=true", "copy", "x"], ["--debug", "copy", "x"]),
        (["--debug=false", "copy", "x"], ["copy", "x"]),
        (["copy", "--tls-verify=false", "x"], ["copy", "--no-tls-verify", "x"]),
        (["copy", "--tls-verify=1", "x"], ["copy", "--tls-verify", "x"]),
        (["copy", "--tls-verify", "x"], ["copy", "--tls-verify", "x"]),
        (["copy", "--quiet=T", "x"], ["copy", "--quiet", "x"]),
        # A value that looks like a flag assignment is left alone.
        (["copy", "--creds", "--tls-verify=false", "x"], ["copy", "--creds", "--tls-verify=false", "x"]),
        # The global --policy value is not taken for the subcommand's name.
        (["--policy", "copy", "other"], ["--policy", "copy", "other"]),
        (["copy", "--", "--tls-verify=false"], ["copy", "--", "--tls-verify=false"]),
    ],
)
def test_rewrite(args: list[str], expected: list[str]) -> None:
    assert rewrite_bool_flags(_tree(), args) == expected


def test_rewrite_rejects_bad_bool() -> None:
    with pytest.raises(InvalidInputError, match='invalid argument "maybe" for "--tls-verify"'):
        rewrite_bool_flags(_tree(), ["copy", "--tls-verify=maybe", "x"])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["copy", "x", "--policy", "p", "--debug"], ["--policy", "p", "--debug", "copy", "x"]),
        (["--debug", "copy", "--policy=p", "x"], ["--debug", "--policy=p", "copy", "x"]),
        (["copy", "--creds", "--policy", "x"], ["copy", "--creds", "--policy", "x"]),
        (["copy", "x", "--", "--debug"], ["copy", "x", "--", "--debug"]),
        (["nosuch", "--debug"], ["nosuch", "--debug"]),
    ],
)
def test_hoist_global_flags(args: list[str], expected: list[str]) -> None:
    assert hoist_global_flags(_tree(), args) == expected
