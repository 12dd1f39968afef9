"""The template functions: Go's builtins (`text/template/funcs.go`) and skopeo's extras.

Builtins: `and or not len index slice call print printf println html js urlquery eq ne lt
le gt ge`, with Go's argument rules and error texts (`index out of range: 5`,
`incompatible types for comparison`, ...). skopeo main adds (containers/common
`pkg/report` `DefaultFuncs`): `join` (strings.Join), `json` (compact, no HTML escaping),
`lower`, `upper`, `title` (strings.Title), `pad SOURCE PREFIX SUFFIX`, `split`
(strings.Split), `truncate SOURCE LENGTH`. They take Go `string`s, so a `digest.Digest`
(`.Digest`) must go through `print` first (`{{lower (print .Digest)}}`), as in skopeo.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable

from toolkit.cli.gotemplate import gofmt
from toolkit.cli.gotemplate.encode import JSONError, marshal
from toolkit.cli.gotemplate.values import (
    BOOL,
    EMPTY_INTERFACE,
    ERROR,
    INT,
    REFLECT_VALUE,
    STRING,
    GoCallError,
    GoFunc,
    GoType,
    Kind,
    Value,
    assignable,
    from_bytes,
    func_type,
    slice_of,
    to_bytes,
    zero_value,
)

__all__ = ["BUILTINS", "SKOPEO_FUNCS", "is_true", "indirect", "indirect_interface", "printable_value"]


def indirect(v: Value) -> tuple[Value, bool]:
    """Follow pointers and interfaces; (the value, True if a nil pointer/interface stopped it)."""
    while v.kind in (Kind.POINTER, Kind.INTERFACE):
        if v.v is None:
            return v, True
        v = v.v
    return v, False


def indirect_interface(v: Value) -> Value:
    if v.kind is not Kind.INTERFACE:
        return v
    return v.elem()


def is_true(v: Value) -> tuple[bool, bool]:
    """text/template's truth: (truth, whether the value has one)."""
    k = v.kind
    if k is Kind.INVALID:
        return False, True
    if k in (Kind.ARRAY, Kind.MAP, Kind.SLICE, Kind.STRING):
        return v.length() > 0, True
    if k is Kind.BOOL:
        return bool(v.v), True
    if k.is_complex or k.is_float or k.is_int or k.is_uint:
        return v.v != 0, True
    if k in (Kind.CHAN, Kind.FUNC, Kind.POINTER, Kind.INTERFACE):
        return v.v is not None, True
    if k is Kind.STRUCT:
        return True, True
    return False, False


def _truth(v: Value) -> bool:
    return is_true(indirect_interface(v))[0]


def printable_value(v: Value) -> tuple[Value | str, bool]:
    """What `{{...}}` hands to fmt.Fprint: the (indirected) value, `"<no value>"`, or not printable."""
    if v.kind is Kind.POINTER:
        v, _ = indirect(v)
    if not v.valid:
        return "<no value>", True
    assert v.type is not None
    if not v.type.implements_error() and not v.type.implements_stringer() and v.kind in (Kind.CHAN, Kind.FUNC):
        return v, False
    return v, True


def _eval_args(args: list[Value]) -> str:
    if len(args) == 1 and args[0].type is STRING:
        return str(args[0].v)
    printable: list[Value] = []
    for arg in args:
        p, ok = printable_value(arg)
        if ok:
            printable.append(Value(STRING, p) if isinstance(p, str) else p)
        else:
            printable.append(arg)
    return gofmt.sprint(printable)


def _reflect_text(v: Value, verb: str = "v") -> str:
    """How fmt prints a reflect.Value argument (an invalid one is `<invalid reflect.Value>`)."""
    if not v.valid:
        return "<invalid reflect.Value>"
    return gofmt.sprintf("%" + verb, [v])


# --- index, slice, len, call --------------------------------------------------------------------


def _index_arg(index: Value, cap: int) -> int:
    k = index.kind
    if k.is_int or k.is_uint:
        x = int(index.v)
    elif k is Kind.INVALID:
        raise GoCallError("cannot index slice/array with nil")
    else:
        assert index.type is not None
        raise GoCallError(f"cannot index slice/array with type {index.type.name}")
    if x < 0 or x > cap:
        raise GoCallError(f"index out of range: {x}")
    return x


def _prepare_arg(value: Value, arg_type: GoType) -> Value:
    if not value.valid:
        if arg_type.kind not in (Kind.CHAN, Kind.FUNC, Kind.INTERFACE, Kind.MAP, Kind.POINTER, Kind.SLICE):
            raise GoCallError(f"value is nil; should be of type {arg_type.name}")
        return zero_value(arg_type)
    assert value.type is not None
    if assignable(value.type, arg_type):
        return value
    int_like = (value.kind.is_int or value.kind.is_uint) and (arg_type.kind.is_int or arg_type.kind.is_uint)
    if int_like:
        return Value(arg_type, _convert_int(int(value.v), arg_type))
    raise GoCallError(f"value has type {value.type.name}; should be {arg_type.name}")


def _convert_int(n: int, typ: GoType) -> int:
    bits = typ.int_bits
    n &= (1 << bits) - 1
    if typ.kind.is_int and n >= 1 << (bits - 1):
        n -= 1 << bits
    return n


def _index(args: list[Value]) -> Value:
    item = indirect_interface(args[0])
    if not item.valid:
        raise GoCallError("index of untyped nil")
    for index in args[1:]:
        index = indirect_interface(index)
        item, is_nil = indirect(item)
        if is_nil:
            raise GoCallError("index of nil pointer")
        k = item.kind
        itype = item.type
        assert itype is not None
        if k in (Kind.ARRAY, Kind.SLICE, Kind.STRING):
            n = item.length()
            x = _index_arg(index, n)
            if x >= n:
                raise GoCallError(f"reflect: {k.value} index out of range")
            item = item.index(x)
        elif k is Kind.MAP:
            assert itype.key is not None and itype.elem is not None
            key = _prepare_arg(index, itype.key)
            found = None if item.v is None else item.v.get(key.v)
            item = found if found is not None else zero_value(itype.elem)
        else:
            raise GoCallError(f"can't index item of type {itype.name}")
    return item


def _slice(args: list[Value]) -> Value:
    item = indirect_interface(args[0])
    if not item.valid:
        raise GoCallError("slice of untyped nil")
    indexes = args[1:]
    if len(indexes) > 3:
        raise GoCallError(f"too many slice indexes: {len(indexes)}")
    assert item.type is not None
    if item.kind is Kind.STRING:
        if len(indexes) == 3:
            raise GoCallError("cannot 3-index slice a string")
        cap = item.length()
    elif item.kind in (Kind.ARRAY, Kind.SLICE):
        cap = item.length()
    else:
        raise GoCallError(f"can't slice item of type {item.type.name}")
    idx = [0, item.length(), 0]
    for i, index in enumerate(indexes):
        idx[i] = _index_arg(index, cap)
    if idx[0] > idx[1]:
        raise GoCallError(f"invalid slice index: {idx[0]} > {idx[1]}")
    if len(indexes) == 3 and idx[1] > idx[2]:
        raise GoCallError(f"invalid slice index: {idx[1]} > {idx[2]}")
    if item.kind is Kind.STRING:
        return Value(item.type, from_bytes(to_bytes(str(item.v))[idx[0] : idx[1]]))
    items = item.v or []
    typ = item.type if item.kind is Kind.SLICE else slice_of(item.type.elem or EMPTY_INTERFACE)
    return Value(typ, list(items[idx[0] : idx[1]]))


def _len(args: list[Value]) -> Value:
    item, is_nil = indirect(args[0])
    if is_nil:
        raise GoCallError("len of nil pointer")
    if item.kind in (Kind.ARRAY, Kind.CHAN, Kind.MAP, Kind.SLICE, Kind.STRING):
        return Value(INT, item.length())
    if item.type is None:
        raise GoCallError("reflect: call of reflect.Value.Type on zero Value")
    raise GoCallError(f"len of type {item.type.name}")


def _call(args: list[Value]) -> Value:
    fn = indirect_interface(args[0])
    if not fn.valid:
        raise GoCallError("call of nil")
    typ = fn.type
    assert typ is not None
    if typ.kind is not Kind.FUNC or not isinstance(fn.v, GoFunc):
        raise GoCallError(f"non-function of type {typ.name}")
    if not (len(typ.results) == 1 or (len(typ.results) == 2 and typ.results[1] is ERROR)):
        raise GoCallError(f"function called with {len(typ.results)} args; should be 1 or 2")
    rest = args[1:]
    num_in = len(typ.params)
    if typ.variadic:
        if len(rest) < num_in - 1:
            raise GoCallError(f"wrong number of args: got {len(rest)} want at least {num_in - 1}")
        ddd = typ.params[-1].elem
    elif len(rest) != num_in:
        raise GoCallError(f"wrong number of args: got {len(rest)} want {num_in}")
    argv: list[Value] = []
    for i, arg in enumerate(rest):
        arg = indirect_interface(arg)
        arg_type = typ.params[i] if (not typ.variadic or i < num_in - 1) else ddd
        assert arg_type is not None
        try:
            argv.append(arg if arg_type is REFLECT_VALUE else _prepare_arg(arg, arg_type))
        except GoCallError as exc:
            raise GoCallError(f"arg {i}: {exc}") from None
    return fn.v.impl(argv)


# --- comparisons --------------------------------------------------------------------------------

_BAD_TYPE = "invalid type for comparison"
_BAD_COMPARISON = "incompatible types for comparison"


def _basic_kind(v: Value) -> str:
    k = v.kind
    if k is Kind.BOOL:
        return "bool"
    if k.is_int:
        return "int"
    if k.is_uint:
        return "uint"
    if k.is_float:
        return "float"
    if k.is_complex:
        return "complex"
    if k is Kind.STRING:
        return "string"
    return ""


def _is_nil(v: Value) -> bool:
    if not v.valid:
        return True
    return v.is_nil()


def _go_equal(a: Value, b: Value) -> bool:
    """Go's == on two comparable values (interfaces compare dynamic type and value)."""
    if a.kind is Kind.INTERFACE:
        a = a.elem()
    if b.kind is Kind.INTERFACE:
        b = b.elem()
    if not a.valid or not b.valid:
        return not a.valid and not b.valid
    if a.type is not b.type:
        return False
    k = a.kind
    if k is Kind.STRUCT:
        if isinstance(a.v, tuple) and isinstance(b.v, tuple):
            return all(_go_equal(x, y) for x, y in zip(a.v, b.v, strict=True))
        return bool(a.v == b.v)
    if k is Kind.POINTER:
        return a.v is b.v
    return bool(a.v == b.v)


def _eq(args: list[Value]) -> Value:
    arg1 = indirect_interface(args[0])
    if len(args) < 2:
        raise GoCallError("missing argument for comparison")
    k1 = _basic_kind(arg1)
    for arg in args[1:]:
        arg = indirect_interface(arg)
        k2 = _basic_kind(arg)
        truth = False
        if k1 != k2:
            if k1 == "int" and k2 == "uint":
                truth = arg1.v >= 0 and arg1.v == arg.v
            elif k1 == "uint" and k2 == "int":
                truth = arg.v >= 0 and arg1.v == arg.v
            elif arg1.valid and arg.valid:
                raise GoCallError(_BAD_COMPARISON)
        elif k1:
            truth = arg1.v == arg.v
        else:
            if not (arg1.kind is arg.kind or not arg1.valid or not arg.valid):
                t1 = arg1.type.name if arg1.type else "<nil>"
                t2 = arg.type.name if arg.type else "<nil>"
                raise GoCallError(f"non-comparable types {_reflect_text(arg1, 's')}: {t1}, {t2}: "
                                  f"{_reflect_text(arg)}")
            if _is_nil(arg1) or _is_nil(arg):
                truth = _is_nil(arg) == _is_nil(arg1)
            else:
                assert arg.type is not None
                if not arg.type.comparable:
                    raise GoCallError(f"non-comparable type {_reflect_text(arg, 's')}: {arg.type.name}")
                truth = _go_equal(arg1, arg)
        if truth:
            return Value(BOOL, True)
    return Value(BOOL, False)


def _ne(args: list[Value]) -> Value:
    return Value(BOOL, not _eq(args).v)


def _lt_bool(a: Value, b: Value) -> bool:
    a = indirect_interface(a)
    k1 = _basic_kind(a)
    if not k1:
        raise GoCallError(_BAD_TYPE)
    b = indirect_interface(b)
    k2 = _basic_kind(b)
    if not k2:
        raise GoCallError(_BAD_TYPE)
    if k1 != k2:
        if k1 == "int" and k2 == "uint":
            return bool(a.v < 0 or a.v < b.v)
        if k1 == "uint" and k2 == "int":
            return bool(b.v >= 0 and a.v < b.v)
        raise GoCallError(_BAD_COMPARISON)
    if k1 in ("bool", "complex"):
        raise GoCallError(_BAD_TYPE)
    if k1 == "string":
        return to_bytes(str(a.v)) < to_bytes(str(b.v))
    return bool(a.v < b.v)


def _lt(args: list[Value]) -> Value:
    return Value(BOOL, _lt_bool(args[0], args[1]))


def _le(args: list[Value]) -> Value:
    if _lt_bool(args[0], args[1]):
        return Value(BOOL, True)
    return _eq(args)


def _gt(args: list[Value]) -> Value:
    return Value(BOOL, not _le(args).v)


def _ge(args: list[Value]) -> Value:
    return Value(BOOL, not _lt_bool(args[0], args[1]))


# --- escapers -----------------------------------------------------------------------------------


def _html(args: list[Value]) -> Value:
    s = _eval_args(args)
    out = []
    for ch in s:
        out.append({"\0": "\ufffd", '"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;"}.get(ch, ch))
    return Value(STRING, "".join(out))


_JS_ESCAPES = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E", "&": "\\u0026",
               "=": "\\u003D"}


def _js(args: list[Value]) -> Value:
    s = _eval_args(args)
    out = []
    for ch in s:
        o = ord(ch)
        escaped = _JS_ESCAPES.get(ch)
        if escaped is not None:
            out.append(escaped)
        elif 0xDC80 <= o <= 0xDCFF:  # an invalid byte: Go decodes it as U+FFFD, which is printable
            out.append(ch)
        elif o < 0x20:
            out.append(f"\\u00{o:02X}")
        elif o < 0x80 or gofmt.is_print(o):
            out.append(ch)
        else:
            out.append(f"\\u{o:04X}")
    return Value(STRING, "".join(out))


def _urlquery(args: list[Value]) -> Value:
    return Value(STRING, urllib.parse.quote_plus(to_bytes(_eval_args(args)), safe=""))


# --- skopeo (containers/common pkg/report) ------------------------------------------------------


def _json(args: list[Value]) -> Value:
    try:
        text = marshal(args[0], escape_html=False)
    except JSONError:
        text = ""
    return Value(STRING, text.strip(" \t\n\r\v\f"))


def _map_runes(s: str, fn: Callable[[str], str]) -> str:
    out = []
    for ch in s:
        if 0xDC80 <= ord(ch) <= 0xDCFF:
            out.append("\ufffd")
            continue
        mapped = fn(ch)
        out.append(mapped if len(mapped) == 1 else ch)
    return "".join(out)


def _case(convert: Callable[[str], str]) -> Callable[[list[Value]], Value]:
    """strings.ToLower / ToUpper: ASCII directly, else rune by rune (simple case mapping)."""
    def impl(args: list[Value]) -> Value:
        s = str(args[0].v)
        return Value(STRING, convert(s) if s.isascii() else _map_runes(s, convert))

    return impl


_lower = _case(str.lower)
_upper = _case(str.upper)


def _is_separator(ch: str) -> bool:
    o = ord(ch)
    if o <= 0x7F:
        return not (ch.isalnum() or ch == "_")
    if ch.isalpha() or ch.isdigit():
        return False
    return ch.isspace()


def _title(args: list[Value]) -> Value:
    out = []
    prev = " "
    for ch in str(args[0].v):
        if _is_separator(prev) and not (0xDC80 <= ord(ch) <= 0xDCFF):
            t = ch.title()
            out.append(t if len(t) == 1 else ch)
        else:
            out.append(ch)
        prev = ch
    return Value(STRING, "".join(out))


def _join(args: list[Value]) -> Value:
    items = args[0].v or []
    return Value(STRING, str(args[1].v).join(str(i.v) for i in items))


def _split(args: list[Value]) -> Value:
    s, sep = str(args[0].v), str(args[1].v)
    parts = list(s) if sep == "" else s.split(sep)
    return Value(slice_of(STRING), [Value(STRING, p) for p in parts])


def _pad(args: list[Value]) -> Value:
    source, prefix, suffix = str(args[0].v), int(args[1].v), int(args[2].v)
    if source == "":
        return Value(STRING, "")
    if prefix < 0 or suffix < 0:
        raise GoCallError("strings: negative Repeat count")
    return Value(STRING, " " * prefix + source + " " * suffix)


def _truncate(args: list[Value]) -> Value:
    source, length = str(args[0].v), int(args[1].v)
    raw = to_bytes(source)
    if len(raw) < length:
        return Value(STRING, source)
    if length < 0:
        raise GoCallError(f"runtime error: slice bounds out of range [:{length}]")
    return Value(STRING, from_bytes(raw[:length]))


# --- printing -----------------------------------------------------------------------------------


def _print(args: list[Value]) -> Value:
    return Value(STRING, gofmt.sprint(args))


def _println(args: list[Value]) -> Value:
    return Value(STRING, gofmt.sprintln(args))


def _printf(args: list[Value]) -> Value:
    return Value(STRING, gofmt.sprintf(str(args[0].v), args[1:]))


def _unreachable(args: list[Value]) -> Value:  # and/or are evaluated by the executor
    raise GoCallError("unreachable")


_RV = REFLECT_VALUE
_RVS = slice_of(REFLECT_VALUE)
_ANYS = slice_of(EMPTY_INTERFACE)


def _f(name: str, params: list[GoType], results: list[GoType], impl: Callable[[list[Value]], Value],
       *, variadic: bool = False) -> GoFunc:
    return GoFunc(name, func_type(params, results, variadic=variadic), impl)


BUILTINS: dict[str, GoFunc] = {
    "and": _f("and", [_RV, _RVS], [_RV], _unreachable, variadic=True),
    "call": _f("call", [_RV, _RVS], [_RV, ERROR], _call, variadic=True),
    "html": _f("html", [_ANYS], [STRING], _html, variadic=True),
    "index": _f("index", [_RV, _RVS], [_RV, ERROR], _index, variadic=True),
    "slice": _f("slice", [_RV, _RVS], [_RV, ERROR], _slice, variadic=True),
    "js": _f("js", [_ANYS], [STRING], _js, variadic=True),
    "len": _f("len", [_RV], [INT, ERROR], _len),
    "not": _f("not", [_RV], [BOOL], lambda args: Value(BOOL, not _truth(args[0]))),
    "or": _f("or", [_RV, _RVS], [_RV], _unreachable, variadic=True),
    "print": _f("print", [_ANYS], [STRING], _print, variadic=True),
    "printf": _f("printf", [STRING, _ANYS], [STRING], _printf, variadic=True),
    "println": _f("println", [_ANYS], [STRING], _println, variadic=True),
    "urlquery": _f("urlquery", [_ANYS], [STRING], _urlquery, variadic=True),
    "eq": _f("eq", [_RV, _RVS], [BOOL, ERROR], _eq, variadic=True),
    "ge": _f("ge", [_RV, _RV], [BOOL, ERROR], _ge),
    "gt": _f("gt", [_RV, _RV], [BOOL, ERROR], _gt),
    "le": _f("le", [_RV, _RV], [BOOL, ERROR], _le),
    "lt": _f("lt", [_RV, _RV], [BOOL, ERROR], _lt),
    "ne": _f("ne", [_RV, _RV], [BOOL, ERROR], _ne),
}

SKOPEO_FUNCS: dict[str, GoFunc] = {
    "join": _f("join", [slice_of(STRING), STRING], [STRING], _join),
    "json": _f("json", [EMPTY_INTERFACE], [STRING], _json),
    "lower": _f("lower", [STRING], [STRING], _lower),
    "pad": _f("pad", [STRING, INT, INT], [STRING], _pad),
    "split": _f("split", [STRING, STRING], [slice_of(STRING)], _split),
    "title": _f("title", [STRING], [STRING], _title),
    "truncate": _f("truncate", [STRING, INT], [STRING], _truncate),
    "upper": _f("upper", [STRING], [STRING], _upper),
}
