"""cli/_typerinfo.py: `option()` and `argument()` make what `typer.Option` and `typer.Argument` make."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.models import ArgumentInfo, OptionInfo

from toolkit.cli import _typerinfo
from toolkit.cli._typerinfo import CheapCopyArgument, CheapCopyOption, argument, option


def _callback(value: bool) -> None:
    pass


OPTIONS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((None, "--policy"), {"help": "Path", "metavar": "PATH"}),
    ((False, "--debug"), {"help": "Enable debug output"}),
    (("0", "--command-timeout"), {"help": "Timeout", "metavar": "DURATION", "show_default": False}),
    ((None, "--tls-verify/--no-tls-verify"), {"help": "TLS", "hidden": True}),
    ((False, "--version", "-v"), {"help": "Print", "callback": _callback, "is_eager": True}),
    ((None, "--authfile"), {"envvar": "REGISTRY_AUTH_FILE", "metavar": "PATH", "help": "auth"}),
    ((Path("x"),), {"exists": True, "dir_okay": False, "rich_help_panel": "P"}),
    ((), {}),
]


@pytest.mark.parametrize(("args", "settings"), OPTIONS)
def test_an_option_is_the_one_typer_makes(args: tuple[Any, ...], settings: dict[str, Any]) -> None:
    for _ in range(2):  # the first call makes the template, the second copies it
        made = option(*args, **settings)
        assert type(made) is CheapCopyOption and isinstance(made, OptionInfo)
        assert vars(made) == vars(typer.Option(*args, **settings))
        copied = copy.copy(made)
        assert copied is not made and vars(copied) == vars(made) and type(copied) is CheapCopyOption


def test_an_argument_is_the_one_typer_makes() -> None:
    for args, settings in [((), {"metavar": "IMAGE-NAME", "show_default": False, "autocompletion": _callback}),
                           (("x",), {"help": "h"}), ((), {})]:
        made = argument(*args, **settings)
        assert type(made) is CheapCopyArgument and isinstance(made, ArgumentInfo)
        assert vars(made) == vars(typer.Argument(*args, **settings))
        assert vars(copy.copy(made)) == vars(made)


def test_what_typer_warns_about_or_refuses_is_left_to_typer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_typerinfo, "_TEMPLATES", {})
    with pytest.raises(ValueError, match="Multiple custom type parsers"):
        option(None, "--x", parser=int, click_type=object())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        made = option(None, "--x", is_flag=True)
    assert [w.category for w in caught] == [DeprecationWarning]
    assert type(made) is CheapCopyOption and vars(made) == vars(typer.Option(None, "--x"))
    with pytest.raises(TypeError):
        option(None, "--x", no_such_setting=1)
