"""How skopeo main runs a user's `--format` (containers/common `pkg/report`, used by
`skopeo inspect`'s `writeOutput`): `render_report(format, data)`.

- `is_json_format(format)`: `json`, `{{json}}`, `{{ json. }}` (and blanks around them) ask
  for the indented JSON output instead of a template (`{{json .}}` is a template).
- The format is normalised: the two-character sequences `\\t` and `\\n` become a TAB and a
  newline (also inside string literals), and a newline is appended unless the format
  already ends with one.
- Unless it already contains `{{range .}}...{{end}}`, it is wrapped as
  `{{range .}}FORMAT{{end -}}`; the data is the one-element list `[data]`, so `.` is the
  image inside the range and `$` the list.
- `table FORMAT`: every space becomes a TAB, `table ` is removed, the result goes through a
  tab writer (columns padded to at least 12 characters, 2 spaces apart).
- If the normalised text does not parse, the original (wrapped, not normalised) text is
  parsed instead, and its error is the one reported (so `{{printf "\\n"}}` works).
- The template is named `skopeo inspect`, as in the error texts skopeo prints.

skopeo 1.9.3 differs (no extra functions, no fallback parse, `{{range . }}` with a space,
an unflushed tab writer); skopo follows skopeo main.
"""

from __future__ import annotations

import re

from toolkit.cli.gotemplate import REPORT_NAME, is_json_format
from toolkit.cli.gotemplate.exec import ExecError, Template
from toolkit.cli.gotemplate.funcs import SKOPEO_FUNCS
from toolkit.cli.gotemplate.parse import ParseError
from toolkit.cli.gotemplate.tabwriter import tabwrite
from toolkit.cli.gotemplate.values import EMPTY_INTERFACE, Value, from_bytes, iface, slice_of, to_bytes

__all__ = ["REPORT_NAME", "is_json_format", "normalize_format", "enforce_range", "render_report"]

# Go regexp: \s is [\t\n\f\r ].
_S = r"[\t\n\f\r ]"
_RANGE = re.compile(rf"\{{\{{{_S}*range{_S}*\.{_S}*\}}\}}.*\{{\{{{_S}*end{_S}*-?{_S}*\}}\}}", re.DOTALL)
_TABLE_REPLACER = re.compile(r"table |\\t| |\\n")
_ESCAPED_REPLACER = re.compile(r"\\t|\\n")
_REPLACEMENTS = {"table ": "", "\\t": "\t", " ": "\t", "\\n": "\n"}


def normalize_format(text: str) -> str:
    """report.NormalizeFormat."""
    if text.startswith("table "):
        out = _TABLE_REPLACER.sub(lambda m: _REPLACEMENTS[m.group(0)], text)
    else:
        out = _ESCAPED_REPLACER.sub(lambda m: _REPLACEMENTS[m.group(0)], text)
    if not out.endswith("\n"):
        out += "\n"
    return out


def enforce_range(text: str) -> str:
    """report.EnforceRange."""
    if _RANGE.search(text) is None:
        return "{{range .}}" + text + "{{end -}}"
    return text


def parse_report(text: str, funcs: dict[str, object] | None = None) -> tuple[Template, bool]:
    """Parse a user format as report.Formatter.Parse(OriginUser, text) does: (template, is_table).

    Raises `ParseError` (the fallback parse's error).
    """
    without_table = text[len("table ") :] if text.startswith("table ") else None
    if without_table is not None:
        normalized = "{{range .}}" + normalize_format(text) + "{{end -}}"
        fallback = "{{range .}}" + without_table + "{{end -}}"
    else:
        normalized = enforce_range(normalize_format(text))
        fallback = enforce_range(text)
    try:
        return Template(REPORT_NAME, SKOPEO_FUNCS).parse(normalized), without_table is not None
    except ParseError:
        return Template(REPORT_NAME, SKOPEO_FUNCS).parse(fallback), without_table is not None


def render_report(text: str, data: Value) -> str:
    """Run `text` on `[data]` as skopeo main's `inspect --format` does; returns the output.

    Raises `ParseError`, or `ExecError` whose `partial` is what skopeo would have written
    to stdout before failing (through the tab writer for tables, which skopeo flushes).
    """
    template, is_table = parse_report(text)
    wrapped = Value(slice_of(EMPTY_INTERFACE), [iface(data)])
    try:
        out = template.execute(wrapped)
    except ExecError as exc:
        if is_table:
            exc.partial = from_bytes(tabwrite(to_bytes(exc.partial)))
        raise
    return from_bytes(tabwrite(to_bytes(out))) if is_table else out
