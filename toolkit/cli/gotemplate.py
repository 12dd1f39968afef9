"""A small subset of Go's text/template for `inspect --format`.

Supported: literal text, `{{.}}`, `{{.Field.Sub}}`, `{{json .Field}}`,
`{{index .Map "key"}}`, `{{range .List}}...{{end}}` (with `{{.}}` the element inside),
`{{join .List ", "}}`. Values print as Go's `fmt.Print` prints them (`[a b]`,
`map[k:v]`, `<nil>`). Anything else raises `NotSupportedError` rather than guessing.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from toolkit.errors import InvalidInputError, NotSupportedError, safe_text
from toolkit.manifest.gojson import GoStruct, GoTime, marshal

__all__ = ["render_template"]

_ACTION = re.compile(r"{{-?\s*(.*?)\s*-?}}", re.DOTALL)
_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _lookup(value: Any, path: str) -> Any:
    if path == ".":
        return value
    if not path.startswith("."):
        raise NotSupportedError(f"template: unsupported expression {safe_text(path)!r}")
    current = value
    for name in path[1:].split("."):
        if isinstance(current, GoStruct):
            found = dict(current)
            if name not in found:
                raise InvalidInputError(f"template: can't evaluate field {safe_text(name)}")
            current = found[name]
        elif isinstance(current, dict):
            current = current.get(name)
        else:
            raise InvalidInputError(f"template: can't evaluate field {safe_text(name)}")
    return current


def _go_print(value: Any) -> str:
    if value is None:
        return "<nil>"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, GoTime):
        frac = f".{value.nanosecond:09d}".rstrip("0") if value.nanosecond else ""
        sign = "-" if value.offset_minutes < 0 else "+"
        off = abs(value.offset_minutes)
        zone = "UTC" if off == 0 else f"{sign}{off // 60:02d}{off % 60:02d}"
        return (
            f"{value.year:04d}-{value.month:02d}-{value.day:02d} {value.hour:02d}:{value.minute:02d}:"
            f"{value.second:02d}{frac} {sign}{off // 60:02d}{off % 60:02d} {zone}"
        )
    if isinstance(value, GoStruct):
        return "{" + " ".join(_go_print(v) for _, v in value) + "}"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go_print(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(_go_print(v) for v in value) + "]"
    return str(value)


def _evaluate(expression: str, dot: Any) -> Any:
    try:
        words = shlex.split(expression)
    except ValueError as exc:
        raise InvalidInputError(f"template: {exc}") from exc
    if not words:
        raise InvalidInputError("template: empty action")
    head = words[0]
    if head == "json" and len(words) == 2:
        return marshal(_lookup(dot, words[1])).decode()
    if head == "index" and len(words) == 3:
        container = _lookup(dot, words[1])
        if isinstance(container, dict):
            return container.get(words[2])
        if isinstance(container, list) and words[2].isdigit() and int(words[2]) < len(container):
            return container[int(words[2])]
        raise InvalidInputError(f"template: cannot index {safe_text(words[1])} with {safe_text(words[2])}")
    if head == "join" and len(words) == 3:
        items = _lookup(dot, words[1])
        if not isinstance(items, list):
            raise InvalidInputError(f"template: {safe_text(words[1])} is not a list")
        return words[2].join(_go_print(i) for i in items)
    if len(words) == 1:
        return _lookup(dot, head)
    raise NotSupportedError(f"template: unsupported action {{{{{safe_text(expression)}}}}}")


def _render(tokens: list[tuple[str, str]], start: int, dot: Any, out: list[str]) -> int:
    """Render tokens from `start` until a matching `end`; return the index after it."""
    i = start
    while i < len(tokens):
        kind, text = tokens[i]
        if kind == "text":
            out.append(text)
            i += 1
            continue
        if text == "end":
            return i + 1
        if text.startswith("range "):
            items = _lookup(dot, text[len("range ") :].strip())
            body_start = i + 1
            # Find the body's end by rendering it once per item (or skipping it when empty).
            end = _skip(tokens, body_start)
            for item in items if isinstance(items, (list, tuple)) else sorted(items or {}):
                _render(tokens, body_start, item, out)
            i = end
            continue
        out.append(_go_print(_evaluate(text, dot)) if not text.startswith("json ") else _evaluate(text, dot))
        i += 1
    if start != 0:
        raise InvalidInputError("template: unexpected EOF (missing {{end}})")
    return i


def _skip(tokens: list[tuple[str, str]], start: int) -> int:
    depth = 1
    i = start
    while i < len(tokens):
        kind, text = tokens[i]
        if kind == "action" and text.startswith("range "):
            depth += 1
        elif kind == "action" and text == "end":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise InvalidInputError("template: unexpected EOF (missing {{end}})")


def render_template(template: str, value: Any) -> str:
    """Render `template` against `value` (GoStruct / dict / list / scalars)."""
    # containers/common's report package unescapes these before parsing.
    template = template.replace("\\t", "\t").replace("\\n", "\n")
    tokens: list[tuple[str, str]] = []
    pos = 0
    for match in _ACTION.finditer(template):
        if match.start() > pos:
            tokens.append(("text", template[pos : match.start()]))
        tokens.append(("action", match.group(1)))
        pos = match.end()
    if pos < len(template):
        if "{{" in template[pos:]:
            raise InvalidInputError("template: unclosed action")
        tokens.append(("text", template[pos:]))
    out: list[str] = []
    end = _render(tokens, 0, value, out)
    if end < len(tokens):
        raise InvalidInputError("template: unexpected {{end}}")
    return "".join(out)
