"""Go's `json.Unmarshal` into a typed `Value` (for building template data from JSON).

Keys match struct fields by their `json` tag name (else the field name), exactly or
case-insensitively (the last matching key wins), through embedded structs too; unknown
keys are ignored; `null` leaves the zero value; `interface {}` gets `float64`, `string`,
`bool`, `[]interface {}` and `map[string]interface {}` as in Go. A value of the wrong JSON
type leaves the field at its zero value (Go reports an error; skopo's inputs are already
validated where this is used).
"""

from __future__ import annotations

from typing import Any

from toolkit.cli.gotemplate.stdtypes import TIME
from toolkit.cli.gotemplate.values import (
    BOOL,
    EMPTY_INTERFACE,
    FLOAT64,
    STRING,
    GoType,
    Kind,
    Value,
    iface,
    map_of,
    slice_of,
    zero_value,
)
from toolkit.errors import ToolkitError
from toolkit.manifest.gojson import GoTime, fold_equal

__all__ = ["unmarshal"]


def _generic(obj: Any) -> Value:
    if obj is None:
        return Value(EMPTY_INTERFACE, None)
    if isinstance(obj, bool):
        return iface(Value(BOOL, obj))
    if isinstance(obj, (int, float)):
        return iface(Value(FLOAT64, float(obj)))
    if isinstance(obj, str):
        return iface(Value(STRING, obj))
    if isinstance(obj, list):
        return iface(Value(slice_of(EMPTY_INTERFACE), [_generic(x) for x in obj]))
    if isinstance(obj, dict):
        return iface(Value(map_of(STRING, EMPTY_INTERFACE), {str(k): _generic(v) for k, v in obj.items()}))
    return Value(EMPTY_INTERFACE, None)


def _json_name(name: str, tag: str) -> str | None:
    tag_name = tag.partition(",")[0]
    if tag_name == "-" and "," not in tag:
        return None
    return tag_name or name


def _struct(typ: GoType, obj: dict[str, Any]) -> Value:
    values = list(zero_value(typ).v)
    for i, f in enumerate(typ.fields):
        if f.embedded and not f.json.partition(",")[0] and f.type.kind is Kind.STRUCT:
            values[i] = _struct(f.type, obj)
            continue
        if not f.exported:
            continue
        name = _json_name(f.name, f.json)
        if name is None:
            continue
        found: Any = None
        seen = False
        if name in obj:
            found, seen = obj[name], True
        else:
            for key, item in obj.items():
                if fold_equal(key, name):
                    found, seen = item, True
        if seen and found is not None:
            values[i] = _decode(f.type, found, values[i])
    return Value(typ, tuple(values))


def _decode(typ: GoType, obj: Any, current: Value) -> Value:
    k = typ.kind
    if obj is None:
        return current
    if typ is TIME:
        try:
            return Value(TIME, GoTime.parse(obj, what="time"))
        except ToolkitError:
            return current
    if k is Kind.POINTER:
        assert typ.elem is not None
        return Value(typ, _decode(typ.elem, obj, zero_value(typ.elem)))
    if k is Kind.INTERFACE:
        return _generic(obj) if typ is EMPTY_INTERFACE else current
    if k is Kind.STRING:
        return Value(typ, obj) if isinstance(obj, str) else current
    if k is Kind.BOOL:
        return Value(typ, obj) if isinstance(obj, bool) else current
    if k.is_int or k.is_uint:
        ok = isinstance(obj, int) and not isinstance(obj, bool)
        return Value(typ, obj) if ok else current
    if k.is_float:
        ok = isinstance(obj, (int, float)) and not isinstance(obj, bool)
        return Value(typ, float(obj)) if ok else current
    if k is Kind.SLICE:
        assert typ.elem is not None
        elem = typ.elem
        return Value(typ, [_decode(elem, x, zero_value(elem)) for x in obj]) if isinstance(obj, list) else current
    if k is Kind.MAP:
        assert typ.elem is not None and typ.key is not None
        if not isinstance(obj, dict) or typ.key.kind is not Kind.STRING:
            return current
        elem = typ.elem
        return Value(typ, {str(key): _decode(elem, v, zero_value(elem)) for key, v in obj.items()})
    if k is Kind.STRUCT:
        return _struct(typ, obj) if isinstance(obj, dict) else current
    return current


def unmarshal(typ: GoType, obj: Any) -> Value:
    """A Value of `typ` decoded from already-parsed JSON `obj` (dicts, lists, scalars)."""
    return _decode(typ, obj, zero_value(typ))
