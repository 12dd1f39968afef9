"""`loads`: `json.loads(text, **hooks)` through the C scanner, without importing `json`.

Importing the `json` package compiles six regular expressions and builds its default
encoder and decoder (~5 M instructions, a tenth of `skopo manifest-digest`), while parsing
a document needs only the C scanner of `_json` that `json.decoder` itself drives. `loads`
drives it the same way (the same context attributes, leading and trailing JSON
whitespace skipped, nothing else allowed after the value) and returns the same value.

Whenever the fast path does not produce a value (no `_json`, a document that starts with a
BOM, invalid JSON, extra data, an exception from a hook, a nesting too deep), the
document is parsed again by `json.loads` with the same hooks, which raises exactly the
exception `json.loads` raises (`JSONDecodeError` with its message and position, the
hook's own exception, `RecursionError`): the error path is the standard one, and only it
imports `json`. The hooks must therefore be pure functions of their arguments (run twice
on a failing document), as every caller's are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: `_json.make_scanner(context)` (typeshed types its argument as the scanner itself), or None
#: on an interpreter without the C accelerator, where json.loads does it all.
_c_make_scanner: Any
try:
    from _json import make_scanner as _c_make_scanner
except ImportError:
    _c_make_scanner = None

__all__ = ["loads"]

#: JSON's whitespace (RFC 8259), what `json.decoder` skips around the value.
_WS = " \t\n\r"


class _Context:
    """The attributes the C scanner reads from its `JSONDecoder` (strict, as `json.loads`)."""

    __slots__ = ("object_hook", "object_pairs_hook", "parse_constant", "parse_float", "parse_int", "strict")

    def __init__(
        self,
        object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None,
        parse_constant: Callable[[str], Any],
        parse_float: Callable[[str], Any],
        parse_int: Callable[[str], Any],
    ) -> None:
        self.strict = True
        self.object_hook = None
        self.object_pairs_hook = object_pairs_hook
        self.parse_constant = parse_constant
        self.parse_float = parse_float
        self.parse_int = parse_int


def loads(
    text: str,
    *,
    object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None,
    parse_constant: Callable[[str], Any],
    parse_float: Callable[[str], Any] | None = None,
    parse_int: Callable[[str], Any] | None = None,
) -> Any:
    """`json.loads(text, object_pairs_hook=..., parse_constant=..., parse_float=...,
    parse_int=...)`: the same value, or the same exception (see the module docstring).
    `parse_constant` is required: it decides what `NaN` and `Infinity` mean."""
    if _c_make_scanner is not None and not text.startswith("\ufeff"):
        context = _Context(object_pairs_hook, parse_constant, parse_float or float, parse_int or int)
        start = len(text) - len(text.lstrip(_WS))
        try:
            value, end = _c_make_scanner(context)(text, start)
        except Exception:  # the standard path below raises the exact error
            pass
        else:
            # The value cannot end in whitespace: everything after `end` must be whitespace.
            if len(text.rstrip(_WS)) == end:
                return value
    import json

    return json.loads(
        text, object_pairs_hook=object_pairs_hook, parse_constant=parse_constant, parse_float=parse_float,
        parse_int=parse_int,
    )
