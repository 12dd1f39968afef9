"""Go's `encoding/json` Marshal of a `Value` (for the `json` template function).

Struct fields use their `json` tags (name, `omitempty`, `-`), embedded structs are inlined,
unexported fields are skipped, maps are written with sorted keys, nil slices/maps/pointers
are `null`, `[]byte` is base64, `time.Time` is RFC 3339 with nanoseconds. Strings are
escaped as Go 1.19 does (`\\n \\r \\t`, other controls as `\\u00xx`, U+2028/U+2029 always,
`<>&` only with `escape_html`, invalid UTF-8 as U+FFFD).
"""

from __future__ import annotations

import base64
import math

from toolkit.cli.gotemplate.gofmt import format_float
from toolkit.cli.gotemplate.stdtypes import TIME
from toolkit.cli.gotemplate.values import UINT8, GoType, Kind, Value, slice_of, to_bytes

__all__ = ["JSONError", "marshal"]


class JSONError(Exception):
    """A value Go's encoder refuses (`json: unsupported type: ...`)."""


_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _quote(s: str, escape_html: bool) -> str:
    out = ['"']
    for ch in to_bytes(s).decode("utf-8", "replace"):
        o = ord(ch)
        short = _SHORT_ESCAPES.get(ch)
        if short is not None:
            out.append(short)
        elif o < 0x20 or (escape_html and ch in "<>&") or o in (0x2028, 0x2029):
            out.append(f"\\u{o:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _float(f: float, bits: int) -> str:
    if math.isnan(f) or math.isinf(f):
        raise JSONError(f"json: unsupported value: {format_float(f, 'g', -1, bits)}")
    a = abs(f)
    fmt = "f"
    if a != 0 and (a < 1e-6 or a >= 1e21):
        fmt = "e"
    text = format_float(f, fmt, -1, bits)
    if fmt == "e":
        n = len(text)
        if n >= 4 and text[n - 4] == "e" and text[n - 3] == "-" and text[n - 2] == "0":
            text = text[: n - 2] + text[n - 1 :]
    return text


def _is_empty(v: Value) -> bool:
    k = v.kind
    if k in (Kind.ARRAY, Kind.MAP, Kind.SLICE, Kind.STRING):
        return v.length() == 0
    if k is Kind.BOOL:
        return not bool(v.v)
    if k.is_int or k.is_uint or k.is_float:
        return bool(v.v == 0)
    if k in (Kind.INTERFACE, Kind.POINTER):
        return v.v is None
    return False


def _is_zero(v: Value) -> bool:
    """`omitzero`: the value equals its type's zero value."""
    k = v.kind
    if k is Kind.STRUCT:
        return isinstance(v.v, tuple) and all(_is_zero(x) for x in v.v)
    if k in (Kind.SLICE, Kind.MAP, Kind.POINTER, Kind.INTERFACE, Kind.FUNC):
        return v.v is None
    return not bool(v.v)


def _fields(typ: GoType, v: Value) -> list[tuple[str, Value, bool]]:
    """(json name, value, omit) of the fields to write, embedded structs inlined; `omit`
    tells that the field is empty and tagged `omitempty` (or zero and tagged `omitzero`)."""
    out: list[tuple[str, Value, bool]] = []
    payload = v.v if isinstance(v.v, tuple) else ()
    for f, item in zip(typ.fields, payload, strict=False):
        name, _, opts = f.json.partition(",")
        if name == "-" and not opts:
            continue
        if f.embedded and not name:
            inner = item
            if inner.kind is Kind.POINTER:
                if inner.v is None:
                    continue
                inner = inner.v
            if inner.kind is Kind.STRUCT and inner.type is not None:
                out.extend(_fields(inner.type, inner))
                continue
        if not f.exported:
            continue
        flags = opts.split(",")
        omit = ("omitempty" in flags and _is_empty(item)) or ("omitzero" in flags and _is_zero(item))
        out.append((name or f.name, item, omit))
    return out


def _encode(v: Value, escape_html: bool, out: list[str]) -> None:
    k = v.kind
    typ = v.type
    if k is Kind.INVALID:
        out.append("null")
        return
    assert typ is not None
    if typ is TIME:
        out.append('"' + _time_text(v) + '"')
        return
    if k is Kind.INTERFACE or k is Kind.POINTER:
        if v.v is None:
            out.append("null")
        else:
            _encode(v.v, escape_html, out)
        return
    if k is Kind.BOOL:
        out.append("true" if v.v else "false")
    elif k.is_int or k.is_uint:
        out.append(str(int(v.v)))
    elif k.is_float:
        out.append(_float(float(v.v), 32 if k is Kind.FLOAT32 else 64))
    elif k is Kind.STRING:
        out.append(_quote(str(v.v), escape_html))
    elif k in (Kind.SLICE, Kind.ARRAY):
        if v.v is None and k is Kind.SLICE:
            out.append("null")
        elif typ.elem is UINT8 and typ.underlying is slice_of(UINT8):
            out.append('"' + base64.b64encode(bytes(int(x.v) for x in v.v)).decode() + '"')
        else:
            out.append("[")
            for i, item in enumerate(v.v):
                if i:
                    out.append(",")
                _encode(item, escape_html, out)
            out.append("]")
    elif k is Kind.MAP:
        if v.v is None:
            out.append("null")
            return
        key_type = typ.key
        if key_type is None or not (key_type.kind is Kind.STRING or key_type.kind.is_int or key_type.kind.is_uint):
            raise JSONError(f"json: unsupported type: {typ.name}")
        items = sorted(((to_bytes(str(key)), key, item) for key, item in v.v.items()), key=lambda t: t[0])
        out.append("{")
        for i, (_, key, item) in enumerate(items):
            if i:
                out.append(",")
            out.append(_quote(str(key), escape_html))
            out.append(":")
            _encode(item, escape_html, out)
        out.append("}")
    elif k is Kind.STRUCT:
        out.append("{")
        first = True
        for name, item, omit in _fields(typ, v):
            if omit:
                continue
            if not first:
                out.append(",")
            first = False
            out.append(_quote(name, escape_html))
            out.append(":")
            _encode(item, escape_html, out)
        out.append("}")
    else:
        raise JSONError(f"json: unsupported type: {typ.name}")


def _time_text(v: Value) -> str:
    return str(v.v.format())


def marshal(v: Value, *, escape_html: bool = True) -> str:
    """`json.Marshal(v)` (compact); raises `JSONError` where Go returns an error."""
    out: list[str] = []
    _encode(v, escape_html, out)
    return "".join(out)
