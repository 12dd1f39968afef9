"""skopeo-style flag syntax: Go booleans, Go durations, and the `--flag=value` rewrite."""

from __future__ import annotations

from typing import Annotated

import pytest
import typer

from toolkit.cli.options import parse_go_bool, parse_go_duration, rewrite_bool_flags
from toolkit.errors import InvalidInputError


@pytest.mark.parametrize("text", ["1", "t", "T", "TRUE", "true", "True"])
def test_go_true(text: str) -> None:
    assert parse_go_bool("--x", text) is True


@pytest.mark.parametrize("text", ["0", "f", "F", "FALSE", "false", "False"])
def test_go_false(text: str) -> None:
    assert parse_go_bool("--x", text) is False


@pytest.mark.parametrize("text", ["", "yes", "no", "tRue", "2"])
def test_go_bool_rejects(text: str) -> None:
    with pytest.raises(InvalidInputError, match="strconv.ParseBool"):
        parse_go_bool("--tls-verify", text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0.0), ("30s", 30.0), ("5m", 300.0), ("1h30m", 5400.0), ("250ms", 0.25), ("1.5s", 1.5), ("2h", 7200.0)],
)
def test_go_duration(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "-1s", "1x", "s", "1s2"])
def test_go_duration_rejects(text: str) -> None:
    with pytest.raises(InvalidInputError, match="invalid duration"):
        parse_go_duration(text)


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
    from toolkit.cli.options import hoist_global_flags

    assert hoist_global_flags(_tree(), args) == expected
