"""`typer.Option` and `typer.Argument`, made by copying: the same objects for less work.

`typer.Option(DEFAULT, *DECLS, **SETTINGS)` passes its ~45 arguments through two functions
into an `OptionInfo` that stores each of them as an attribute: ~77 k instructions an option,
~1.7 M for the flags of `skopo inspect`, ~1 M for the root's global flags on every run.
`option()` makes the same object by copying the attributes of one `typer.Option()` made on
first use and setting those it is given. And Typer copies each parameter's info when it
reads a command's parameters (twice per conversion): `copy.copy` of a plain object goes
through `__reduce_ex__`, while a `CheapCopyOption` or `CheapCopyArgument` copies its
`__dict__`.

Contract: `option(default, *param_decls, **settings)` has the attributes (`vars`) that
`typer.Option(default, *param_decls, **settings)` has, and so does `argument(default,
**settings)` against `typer.Argument`; the object is an instance of a subclass of Typer's
`OptionInfo` (`ArgumentInfo`) that only adds `__copy__`. Settings that Typer does not store
as attributes of the same name (`is_flag`, `flag_value`: a deprecation warning), or both
`parser` and `click_type` (an error), are passed to Typer itself, which then warns or
raises as it does.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.models import ArgumentInfo, OptionInfo, ParameterInfo

__all__ = ["CheapCopyArgument", "CheapCopyOption", "argument", "option"]


class CheapCopyOption(OptionInfo):
    """typer's `OptionInfo` with a `__copy__` that copies its `__dict__` (a new object, the
    same attributes), instead of `copy.copy`'s `__reduce_ex__` path."""

    def __copy__(self) -> CheapCopyOption:
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new


class CheapCopyArgument(ArgumentInfo):
    """typer's `ArgumentInfo` with the same cheap `__copy__` as `CheapCopyOption`."""

    def __copy__(self) -> CheapCopyArgument:
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new


#: One `typer.Option()` and one `typer.Argument()` with no arguments, made on first use:
#: the attributes every copy starts from.
_TEMPLATES: dict[type, dict[str, Any]] = {}


def _made(kind: type[ParameterInfo], default: Any, param_decls: tuple[str, ...] | None,
          settings: dict[str, Any]) -> Any:
    """The copy, or None where Typer itself must make the object."""
    template = _TEMPLATES.get(kind)
    if template is None:
        made = typer.Option() if kind is CheapCopyOption else typer.Argument()
        template = _TEMPLATES[kind] = dict(vars(made))
    if not settings.keys() <= template.keys() or ("parser" in settings and "click_type" in settings):
        return None
    new = object.__new__(kind)
    attributes = new.__dict__
    attributes.update(template)
    attributes.update(settings)
    attributes["default"] = default
    if param_decls is not None:  # (an argument has none: Typer leaves them None)
        attributes["param_decls"] = param_decls
    return new


def option(default: Any = ..., *param_decls: str, **settings: Any) -> Any:
    """`typer.Option(default, *param_decls, **settings)`, as a `CheapCopyOption`."""
    made = _made(CheapCopyOption, default, param_decls, settings)
    if made is None:  # what Typer warns about or refuses: Typer's own
        made = typer.Option(default, *param_decls, **settings)
        made.__class__ = CheapCopyOption
    return made


def argument(default: Any = ..., **settings: Any) -> Any:
    """`typer.Argument(default, **settings)`, as a `CheapCopyArgument`."""
    made = _made(CheapCopyArgument, default, None, settings)
    if made is None:
        made = typer.Argument(default, **settings)
        made.__class__ = CheapCopyArgument
    return made
