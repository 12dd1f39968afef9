"""Go values as `text/template` sees them through `reflect`: a type and a payload.

Go templates behave according to static Go types: `digest.Digest` is not assignable to a
`string` parameter, an `interface {}` element prints its dynamic value, a missing map key
is an invalid value (`<no value>`), a nil `*time.Time` prints `<nil>`. So every value the
engine handles is a `Value(type, payload)`:

| kind | payload |
| --- | --- |
| bool, ints, uints, floats, complex | `bool`, `int`, `float`, `complex` |
| string | `str`; Go strings are bytes, invalid UTF-8 is held as surrogate escapes (`to_bytes`) |
| slice | `list[Value]` (each of the element type) or `None` (nil slice) |
| map | `dict[key payload, Value]` or `None` (nil map); keys are of `type.key` |
| struct | `tuple[Value, ...]` in field order (opaque payloads for types with methods only) |
| pointer | the pointee `Value`, or `None` |
| interface | the dynamic `Value` (never itself an interface), or `None` (nil interface) |
| func | a `GoFunc` |

`INVALID` is reflect's zero `Value` (a missing map key, an untyped nil).

Types are made with the constructors below (`slice_of`, `map_of`, `ptr_to`, `named`,
`struct_type`, `func_type`); composite unnamed types are interned, so type identity is
object identity, as Go's assignability rules need.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Kind",
    "GoType",
    "StructField",
    "Method",
    "GoFunc",
    "Value",
    "INVALID",
    "BOOL",
    "INT",
    "INT64",
    "UINT8",
    "FLOAT64",
    "COMPLEX128",
    "STRING",
    "EMPTY_INTERFACE",
    "ERROR",
    "REFLECT_VALUE",
    "EMPTY_STRUCT",
    "slice_of",
    "map_of",
    "ptr_to",
    "named",
    "struct_type",
    "func_type",
    "assignable",
    "to_bytes",
    "from_bytes",
    "go_string",
    "iface",
    "from_python",
    "GoCallError",
    "zero_value",
    "register_zero",
]


class Kind(enum.Enum):
    """reflect.Kind (the subset a template can meet)."""

    INVALID = "invalid"
    BOOL = "bool"
    INT = "int"
    INT8 = "int8"
    INT16 = "int16"
    INT32 = "int32"
    INT64 = "int64"
    UINT = "uint"
    UINT8 = "uint8"
    UINT16 = "uint16"
    UINT32 = "uint32"
    UINT64 = "uint64"
    UINTPTR = "uintptr"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    COMPLEX64 = "complex64"
    COMPLEX128 = "complex128"
    ARRAY = "array"
    CHAN = "chan"
    FUNC = "func"
    INTERFACE = "interface"
    MAP = "map"
    POINTER = "ptr"
    SLICE = "slice"
    STRING = "string"
    STRUCT = "struct"

    @property
    def is_int(self) -> bool:
        return self in _INT_KINDS

    @property
    def is_uint(self) -> bool:
        return self in _UINT_KINDS

    @property
    def is_float(self) -> bool:
        return self in (Kind.FLOAT32, Kind.FLOAT64)

    @property
    def is_complex(self) -> bool:
        return self in (Kind.COMPLEX64, Kind.COMPLEX128)


_INT_KINDS = frozenset({Kind.INT, Kind.INT8, Kind.INT16, Kind.INT32, Kind.INT64})
_UINT_KINDS = frozenset({Kind.UINT, Kind.UINT8, Kind.UINT16, Kind.UINT32, Kind.UINT64, Kind.UINTPTR})
_INT_BITS = {Kind.INT: 64, Kind.INT8: 8, Kind.INT16: 16, Kind.INT32: 32, Kind.INT64: 64,
             Kind.UINT: 64, Kind.UINT8: 8, Kind.UINT16: 16, Kind.UINT32: 32, Kind.UINT64: 64, Kind.UINTPTR: 64}


class GoCallError(Exception):
    """A Go function returned a non-nil error, or panicked (text/template: `error calling F: MSG`)."""


@dataclass(frozen=True, slots=True)
class StructField:
    """One struct field. `json` is the `json:"..."` tag ("" = none); `embedded` an anonymous field."""

    name: str
    type: GoType
    json: str = ""
    embedded: bool = False

    @property
    def exported(self) -> bool:
        return self.name[:1].isupper()


@dataclass(frozen=True, slots=True)
class Method:
    """A method: its func type (without the receiver) and `impl(receiver, args) -> Value`."""

    type: GoType
    impl: Callable[[Value, list[Value]], Value]
    #: True for a pointer receiver (only in the method set of *T).
    pointer_receiver: bool = False


class GoType:
    """A Go type: kind, printed name (`%T`), and what the kind needs (elem, key, fields, signature)."""

    __slots__ = ("_methods", "elem", "fields", "is_named", "key", "kind", "name", "params", "results",
                 "underlying", "variadic")

    def __init__(
        self,
        kind: Kind,
        name: str,
        *,
        elem: GoType | None = None,
        key: GoType | None = None,
        fields: Sequence[StructField] = (),
        params: Sequence[GoType] = (),
        variadic: bool = False,
        results: Sequence[GoType] = (),
        is_named: bool = False,
        underlying: GoType | None = None,
    ) -> None:
        self.kind = kind
        self.name = name
        self.elem = elem
        self.key = key
        self.fields = tuple(fields)
        self.params = tuple(params)
        self.variadic = variadic
        self.results = tuple(results)
        self.is_named = is_named
        self.underlying: GoType = underlying if underlying is not None else self
        self._methods: dict[str, Method] = {}

    def __repr__(self) -> str:
        return f"GoType({self.name})"

    def __str__(self) -> str:
        return self.name

    def add_method(self, name: str, method: Method) -> None:
        self._methods[name] = method

    def method(self, name: str, *, via_pointer: bool) -> Method | None:
        """The method `name` in the method set of T (or of *T with `via_pointer`)."""
        if self.kind is Kind.POINTER and self.elem is not None:
            return self.elem.method(name, via_pointer=True)
        found = self._methods.get(name)
        if found is None or (found.pointer_receiver and not via_pointer):
            return None
        return found

    def implements_stringer(self) -> bool:
        m = self.method("String", via_pointer=self.kind is Kind.POINTER)
        return m is not None and not m.type.params and m.type.results == (STRING,)

    def implements_error(self) -> bool:
        if self is ERROR:
            return True
        m = self.method("Error", via_pointer=self.kind is Kind.POINTER)
        return m is not None and not m.type.params and m.type.results == (STRING,)

    @property
    def num_method(self) -> int:
        return len(self._methods) if self.kind is Kind.INTERFACE else 0

    def field_by_name(self, name: str) -> tuple[list[int], StructField] | None:
        """reflect's FieldByName: a direct field, else one promoted from embedded structs
        (breadth first); returns the index path and the field."""
        if self.kind is not Kind.STRUCT:
            return None
        level: list[tuple[list[int], GoType]] = [([], self)]
        seen: set[int] = set()
        while level:
            next_level: list[tuple[list[int], GoType]] = []
            for path, typ in level:
                if id(typ) in seen:
                    continue
                seen.add(id(typ))
                for i, f in enumerate(typ.fields):
                    if f.name == name:
                        return [*path, i], f
                for i, f in enumerate(typ.fields):
                    if f.embedded:
                        inner = f.type.elem if f.type.kind is Kind.POINTER else f.type
                        if inner is not None and inner.kind is Kind.STRUCT:
                            next_level.append(([*path, i], inner))
            level = next_level
        return None

    @property
    def comparable(self) -> bool:
        if self.kind in (Kind.SLICE, Kind.MAP, Kind.FUNC):
            return False
        if self.kind is Kind.STRUCT:
            return all(f.type.comparable for f in self.fields)
        return True

    @property
    def int_bits(self) -> int:
        return _INT_BITS.get(self.kind, 64)


def _basic(kind: Kind) -> GoType:
    return GoType(kind, kind.value, is_named=True)


BOOL = _basic(Kind.BOOL)
INT = _basic(Kind.INT)
INT8 = _basic(Kind.INT8)
INT16 = _basic(Kind.INT16)
INT32 = _basic(Kind.INT32)
INT64 = _basic(Kind.INT64)
UINT = _basic(Kind.UINT)
UINT8 = _basic(Kind.UINT8)
UINT16 = _basic(Kind.UINT16)
UINT32 = _basic(Kind.UINT32)
UINT64 = _basic(Kind.UINT64)
FLOAT32 = _basic(Kind.FLOAT32)
FLOAT64 = _basic(Kind.FLOAT64)
COMPLEX128 = _basic(Kind.COMPLEX128)
STRING = _basic(Kind.STRING)
EMPTY_INTERFACE = GoType(Kind.INTERFACE, "interface {}")
#: The `error` interface (one method, so it is not "dug into" like interface {}).
ERROR = GoType(Kind.INTERFACE, "error", is_named=True)
#: A `reflect.Value` parameter: the builtins that take it get the argument's `Value` as is.
REFLECT_VALUE = GoType(Kind.STRUCT, "reflect.Value", is_named=True)
EMPTY_STRUCT = GoType(Kind.STRUCT, "struct {}")

_INTERNED: dict[tuple[Any, ...], GoType] = {}


def slice_of(elem: GoType) -> GoType:
    key = ("slice", id(elem))
    found = _INTERNED.get(key)
    if found is None:
        found = _INTERNED[key] = GoType(Kind.SLICE, f"[]{elem.name}", elem=elem)
    return found


def map_of(key_type: GoType, elem: GoType) -> GoType:
    key = ("map", id(key_type), id(elem))
    found = _INTERNED.get(key)
    if found is None:
        found = _INTERNED[key] = GoType(Kind.MAP, f"map[{key_type.name}]{elem.name}", key=key_type, elem=elem)
    return found


def ptr_to(elem: GoType) -> GoType:
    key = ("ptr", id(elem))
    found = _INTERNED.get(key)
    if found is None:
        found = _INTERNED[key] = GoType(Kind.POINTER, f"*{elem.name}", elem=elem)
    return found


def func_type(params: Sequence[GoType], results: Sequence[GoType], *, variadic: bool = False) -> GoType:
    """`func(params) results`; with `variadic`, the last param is the `[]T` of `...T`."""
    key = ("func", tuple(id(p) for p in params), tuple(id(r) for r in results), variadic)
    found = _INTERNED.get(key)
    if found is None:
        shown = [p.name for p in params]
        if variadic and shown:
            shown[-1] = "..." + (params[-1].elem.name if params[-1].elem is not None else "")
        out = ", ".join(r.name for r in results)
        if len(results) > 1:
            out = f"({out})"
        name = f"func({', '.join(shown)})" + (f" {out}" if out else "")
        found = _INTERNED[key] = GoType(Kind.FUNC, name, params=params, results=results, variadic=variadic)
    return found


def named(name: str, underlying: GoType) -> GoType:
    """A defined type `type name underlying` (a new type: not assignable to or from others)."""
    return GoType(
        underlying.kind,
        name,
        elem=underlying.elem,
        key=underlying.key,
        fields=underlying.fields,
        params=underlying.params,
        variadic=underlying.variadic,
        results=underlying.results,
        is_named=True,
        underlying=underlying.underlying,
    )


def struct_type(name: str, fields: Sequence[StructField]) -> GoType:
    """A named struct type (`pkg.Name`)."""
    return GoType(Kind.STRUCT, name, fields=fields, is_named=True)


def assignable(value_type: GoType, target: GoType) -> bool:
    """Go's assignability, as far as templates need it."""
    if value_type is target:
        return True
    if target.kind is Kind.INTERFACE:
        if target is EMPTY_INTERFACE or (target.num_method == 0 and target is not ERROR):
            return True
        if target is ERROR:
            return value_type.implements_error()
        return False
    return (not value_type.is_named or not target.is_named) and value_type.underlying is target.underlying


@dataclass(frozen=True, slots=True)
class GoFunc:
    """A Go function value: its type and `impl(args) -> Value` (args already converted to the
    parameter types; for a `...T` parameter, the trailing args are passed one by one).
    `impl` raises `GoCallError` for a non-nil error result or a panic."""

    name: str
    type: GoType
    impl: Callable[[list[Value]], Value] = field(compare=False)


class Value:
    """A reflect.Value: `type` (None for the invalid value) and `v` (see the module table)."""

    __slots__ = ("type", "v")

    def __init__(self, typ: GoType | None, v: Any = None) -> None:
        self.type = typ
        self.v = v

    @property
    def kind(self) -> Kind:
        return Kind.INVALID if self.type is None else self.type.kind

    @property
    def valid(self) -> bool:
        return self.type is not None

    def is_nil(self) -> bool:
        """reflect's IsNil for nillable kinds (False for the others)."""
        return self.kind in _NILLABLE and self.v is None

    def length(self) -> int:
        if self.kind is Kind.STRING:
            return len(to_bytes(self.v))
        if self.kind in (Kind.SLICE, Kind.ARRAY, Kind.MAP):
            return 0 if self.v is None else len(self.v)
        raise GoCallError(f"reflect: call of reflect.Value.Len on {self.kind.value} Value")

    def elem(self) -> Value:
        """Pointer/interface target (INVALID for nil)."""
        if self.kind in (Kind.POINTER, Kind.INTERFACE):
            return INVALID if self.v is None else self.v
        raise GoCallError(f"reflect: call of reflect.Value.Elem on {self.kind.value} Value")

    def index(self, i: int) -> Value:
        if self.kind is Kind.STRING:
            return Value(UINT8, to_bytes(self.v)[i])
        return self.v[i]  # type: ignore[no-any-return]

    def field(self, i: int) -> Value:
        return self.v[i]  # type: ignore[no-any-return]

    def map_items(self) -> list[tuple[Value, Value]]:
        """The (key, value) pairs in fmtsort order."""
        if self.v is None or self.type is None or self.type.key is None:
            return []
        key_type = self.type.key
        pairs = [(Value(key_type, k), v) for k, v in self.v.items()]
        pairs.sort(key=lambda kv: _sort_key(kv[0]))
        return pairs

    def __repr__(self) -> str:
        return f"Value({self.type}, {self.v!r})"


_NILLABLE = frozenset({Kind.POINTER, Kind.INTERFACE, Kind.MAP, Kind.SLICE, Kind.FUNC, Kind.CHAN})

INVALID = Value(None, None)


def _sort_key(v: Value) -> Any:
    """internal/fmtsort order for keys of one type."""
    k = v.kind
    if k is Kind.STRING:
        return to_bytes(v.v)
    if k is Kind.BOOL:
        return int(v.v)
    if k.is_float:
        f = float(v.v)
        return (0, 0.0) if math.isnan(f) else (1, f)  # NaN first
    if k is Kind.INTERFACE:
        inner = v.v
        return ("", b"") if inner is None else (inner.type.name, _sort_key(inner))
    if k.is_complex:
        return (v.v.real, v.v.imag)
    return v.v


def to_bytes(s: str) -> bytes:
    """A Go string's bytes."""
    return s.encode("utf-8", "surrogateescape")


def from_bytes(b: bytes) -> str:
    """The payload for a Go string made of `b` (any bytes)."""
    return b.decode("utf-8", "surrogateescape")


def go_string(s: str, typ: GoType = STRING) -> Value:
    return Value(typ, s)


def iface(v: Value, typ: GoType = EMPTY_INTERFACE) -> Value:
    """`v` stored in an interface (a nil interface for INVALID; interfaces are not nested)."""
    if v.kind is Kind.INTERFACE:
        v = v.elem()
    return Value(typ, v if v.valid else None)


def from_python(obj: Any) -> Value:
    """Convenience: a Value for plain Python data (str, bool, int, float, None, list, dict).

    Lists become `[]interface {}`, dicts `map[string]interface {}` (keys as str), None the
    untyped nil. Values pass through unchanged.
    """
    if isinstance(obj, Value):
        return obj
    if obj is None:
        return INVALID
    if isinstance(obj, bool):
        return Value(BOOL, obj)
    if isinstance(obj, int):
        return Value(INT, obj)
    if isinstance(obj, float):
        return Value(FLOAT64, obj)
    if isinstance(obj, str):
        return Value(STRING, obj)
    if isinstance(obj, Mapping):
        return Value(map_of(STRING, EMPTY_INTERFACE), {str(k): iface(from_python(v)) for k, v in obj.items()})
    if isinstance(obj, (list, tuple)):
        return Value(slice_of(EMPTY_INTERFACE), [iface(from_python(v)) for v in obj])
    raise TypeError(f"no Go value for {type(obj).__name__}")


def zero_value(typ: GoType) -> Value:
    """reflect.Zero(typ)."""
    k = typ.kind
    if typ is REFLECT_VALUE:
        return INVALID
    if k is Kind.BOOL:
        return Value(typ, False)
    if k.is_int or k.is_uint:
        return Value(typ, 0)
    if k.is_float:
        return Value(typ, 0.0)
    if k.is_complex:
        return Value(typ, 0j)
    if k is Kind.STRING:
        return Value(typ, "")
    if id(typ) in _ZERO_PAYLOADS:
        return Value(typ, _ZERO_PAYLOADS[id(typ)])
    if k is Kind.STRUCT:
        return Value(typ, tuple(zero_value(f.type) for f in typ.fields))
    return Value(typ, None)


#: Zero payloads of types whose payload is not the field tuple (`time.Time`).
_ZERO_PAYLOADS: dict[int, Any] = {}


def register_zero(typ: GoType, payload: Any) -> None:
    """Declare the zero payload of an opaque struct type."""
    _ZERO_PAYLOADS[id(typ)] = payload
