"""Go's `text/template` language, for `inspect --format` (skopeo main's behaviour).

Entry points:
- `render_report(format, data)`: what `skopeo inspect --format FORMAT` prints for `data`
  (normalisation, `{{range .}}` wrapping, `table`, fallback parse: see `report`).
- `render_template(text, data, name="template")`: plain text/template execution with
  skopeo's extra functions.
- `is_json_format(format)`: the formats that select the JSON output instead.

Data are `values.Value`s (Go types and values; `from_python` converts plain dicts/lists).
Errors are `TemplateError` (does not parse) and `TemplateExecError` (failed while running;
`partial` holds the output written before the failure), both `ToolkitError`s whose text
is Go's.

The language (Go 1.19's, plus `{{else with}}` and `{{range N}}` from later Go):
text and actions, `{{/* comments */}}`, trim markers `{{- ` / ` -}}`, `if`/`else if`/
`else`, `with`/`else with`, `range` (slices, maps in key order, integers) with `$i, $v :=`,
`else`, `break` and `continue`, `define`/`template`/`block`, variables (`$x := ...`,
`$x = ...`, `$`), pipelines (`a | b`), parenthesised calls, fields, map keys and methods
(`.Created.Year`, `.Digest.Encoded`), literals (strings, raw strings, runes, numbers,
`true`, `false`, `nil`), the builtins `and or not len index slice call print printf println
html js urlquery eq ne lt le gt ge`, and skopeo's `json join lower upper title split pad
truncate`.
"""

from __future__ import annotations

from typing import Any

from toolkit._lazy import lazy_pattern
from toolkit.errors import InvalidInputError, ToolkitError

# The engine is imported on first use: `inspect` without `--format` does not need it.

__all__ = [
    "TemplateError",
    "TemplateExecError",
    "REPORT_NAME",
    "is_json_format",
    "render_report",
    "render_template",
]

#: The template name skopeo's `inspect --format` errors carry.
REPORT_NAME = "skopeo inspect"

# containers/common report.IsJSON; Go regexp: \s is [\t\n\f\r ], $ is the end of the text.
_S = r"[\t\n\f\r ]"
_JSON = lazy_pattern(rf"{_S}*(?:json|\{{\{{{_S}*json\.?{_S}*\}}\}}){_S}*\Z")


def is_json_format(text: str) -> bool:
    """report.IsJSON: `json`, `{{json}}`, `{{ json. }}` (blanks around allowed) select the
    JSON output; `{{json .}}` is a template."""
    return _JSON().match(text) is not None


class TemplateError(InvalidInputError):
    """The template does not parse (Go's message)."""


class TemplateExecError(ToolkitError):
    """The template failed while running (Go's message); `partial` is the output before it."""

    def __init__(self, message: str, partial: str = "") -> None:
        super().__init__(message)
        self.partial = partial


def _run(action: Any) -> str:
    from toolkit.cli.gotemplate.exec import ExecError
    from toolkit.cli.gotemplate.parse import ParseError

    try:
        return str(action())
    except ParseError as exc:
        raise TemplateError(str(exc)) from None
    except ExecError as exc:
        raise TemplateExecError(str(exc), exc.partial) from None
    except RecursionError:
        raise TemplateError("template: too deeply nested") from None


def render_report(text: str, data: Any) -> str:
    """`skopeo inspect --format TEXT` on `data` (a `values.Value`, or plain data for
    `values.from_python`)."""
    from toolkit.cli.gotemplate import report
    from toolkit.cli.gotemplate.values import from_python

    value = from_python(data)
    return _run(lambda: report.render_report(text, value))


def render_template(text: str, data: Any, *, name: str = "template") -> str:
    """Execute `text` as a Go template named `name` on `data`, with skopeo's functions."""
    from toolkit.cli.gotemplate.exec import Template
    from toolkit.cli.gotemplate.funcs import SKOPEO_FUNCS
    from toolkit.cli.gotemplate.values import from_python

    value = from_python(data)
    return _run(lambda: Template(name, SKOPEO_FUNCS).parse(text).execute(value))
