"""`record`: `dataclasses.dataclass(frozen=True, slots=True)` without its start-up cost.

`@dataclass` writes each class's `__init__`, `__repr__`, `__eq__`, `__hash__`,
`__setattr__` and `__delattr__` as source text and compiles it (`exec`), then, for
`slots=True`, builds the class a second time: about 4 M instructions per class on Python
3.11, a third of what a short command such as `skopo inspect oci:DIR` spends. `record`
builds the same class from a few shared functions (the same ones for every record class)
that read the class's field table, with no compilation and without importing
`dataclasses`: about a twentieth of that (~0.16 M instructions over a plain class), a
third of it the second class creation that `__slots__` forces. What only the
`dataclasses` functions read (`__dataclass_fields__`, `__dataclass_params__`) and
`__signature__` are made when first read.

Contract (`@record`, `@record(kw_only=True)`, `@record(order=True)`), the same as
`@dataclass(frozen=True, slots=True, ...)` with the same arguments, which is also how
type checkers see it (`typing.dataclass_transform`):
- fields are the class's annotations in order (`ClassVar` ones left out), after those of
  its `record`/dataclass bases; a default is the class attribute, or `field(...)` (this
  module's, which needs no `dataclasses` import) or `dataclasses.field(...)`, with the same
  arguments (`default`, `default_factory`, `init`, `repr`, `compare`, `kw_only`);
- `__init__` takes the non-keyword-only fields positionally or by name, the others by name
  only, fills in defaults (a factory is called per instance), then calls `__post_init__`
  if the class has one; wrong arguments raise `TypeError`;
- instances are frozen (`dataclasses.FrozenInstanceError` on assignment or deletion), have
  `__slots__` (no `__dict__`), compare equal when of the same class with equal compared
  fields (`NotImplemented` otherwise), hash as the tuple of those fields, and with
  `order=True` compare in that order too; `repr` is `Name(field=value, ...)`;
- as with `@dataclass`, an `__init__`, `__repr__`, `__eq__`, `__getstate__` or
  `__setstate__` the class body defines is kept, and so is a `__hash__` of its own; a
  body's `__setattr__` or `__delattr__` (or, with `order=True`, a comparison method) is a
  `TypeError`;
- `dataclasses.fields`, `replace`, `asdict`, `astuple` and `is_dataclass` work on them
  (`__dataclass_fields__`), as do `copy`, `pickle` and `match` (`__match_args__`).

What differs, deliberately: `__init__` reads its arguments generically, so the class
carries its signature as `__signature__` (made on first use: `inspect.signature(cls)`
and `help()` show what a dataclass's would), while `inspect.signature(cls.__init__)`
shows `(self, *args, **kwargs)`; wrong arguments raise `TypeError` with other words; a
class without a docstring gets none (not one made of its signature); and `repr` has no
guard against a record that contains itself (a frozen record cannot). Standard library only.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, dataclass_transform, get_origin, overload

if TYPE_CHECKING:
    import dataclasses

__all__ = ["field", "record"]

_T = TypeVar("_T", bound=type)
_V = TypeVar("_V")
_setattr = object.__setattr__


class _Missing:
    """No default, no factory (`dataclasses.MISSING` once `dataclasses` is loaded)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


_NO: Any = _Missing()


class _FieldArgs:
    """What `field(...)` was given, until the record's `__dataclass_fields__` is made."""

    __slots__ = ("kwargs",)

    def __init__(self, kwargs: dict[str, Any]) -> None:
        self.kwargs = kwargs


@overload
def field(*, default: _V, init: bool = ..., repr: bool = ..., hash: bool | None = ..., compare: bool = ...,
          metadata: Mapping[Any, Any] | None = ..., kw_only: bool = ...) -> _V: ...
@overload
def field(*, default_factory: Callable[[], _V], init: bool = ..., repr: bool = ..., hash: bool | None = ...,
          compare: bool = ..., metadata: Mapping[Any, Any] | None = ..., kw_only: bool = ...) -> _V: ...
@overload
def field(*, init: bool = ..., repr: bool = ..., hash: bool | None = ..., compare: bool = ...,
          metadata: Mapping[Any, Any] | None = ..., kw_only: bool = ...) -> Any: ...


def field(**kwargs: Any) -> Any:
    """`dataclasses.field` for a record's body, without importing `dataclasses`: the same
    arguments and meaning (a record class also takes `dataclasses.field(...)` itself).
    Raises `TypeError` for an argument `dataclasses.field` does not take, or for both a
    default and a factory."""
    unknown = kwargs.keys() - {"default", "default_factory", "init", "repr", "hash", "compare", "metadata",
                                "kw_only"}
    if unknown:
        raise TypeError(f"field() got an unexpected keyword argument '{min(unknown)}'")
    if "default" in kwargs and "default_factory" in kwargs:
        raise ValueError("cannot specify both default and default_factory")
    return _FieldArgs(kwargs)


@overload
def record(cls: _T, /) -> _T: ...
@overload
def record(*, kw_only: bool = False, order: bool = False) -> Callable[[_T], _T]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: _T | None = None, /, *, kw_only: bool = False, order: bool = False) -> _T | Callable[[_T], _T]:
    """Make `cls` a frozen, slotted record class (see the module's contract)."""

    def wrap(cls: _T) -> _T:
        made: _T = _build(cls, kw_only=kw_only, order=order)
        return made

    return wrap if cls is None else wrap(cls)


#: One field as the shared methods read it: name, annotation, default or _NO, factory or
#: _NO, init, repr, compare, kw_only, and what the class body gave (a `_FieldArgs`, a
#: `dataclasses.Field`, or the plain default) for `__dataclass_fields__`.
_Spec = tuple[str, Any, Any, Any, bool, bool, bool, bool, Any]


def _spec(name: str, annotation: Any, value: Any, kw_only: bool) -> _Spec:
    """The field `name` from its class-body `field(...)` or `dataclasses.Field`."""
    if type(value) is _FieldArgs:
        k = value.kwargs
        return (name, annotation, k.get("default", _NO), k.get("default_factory", _NO), k.get("init", True),
                k.get("repr", True), k.get("compare", True), k.get("kw_only", kw_only), value)
    return _spec_of_field(name, annotation, value, kw_only, value)


def _spec_of_field(name: str, annotation: Any, f: Any, kw_only: bool, source: Any) -> _Spec:
    missing = sys.modules["dataclasses"].MISSING
    return (name, annotation, _NO if f.default is missing else f.default,
            _NO if f.default_factory is missing else f.default_factory, f.init, f.repr, f.compare,
            kw_only if f.kw_only is missing else bool(f.kw_only), source)


def _inherited(cls: Any) -> dict[str, _Spec]:
    """The fields of `cls`'s record and dataclass bases, in dataclass order."""
    specs: dict[str, _Spec] = {}
    for base in reversed(cls.__mro__[1:]):
        table = base.__dict__.get("__record_table__")
        if table is not None:
            specs.update(table.specs)
        elif "__dataclass_fields__" in base.__dict__:  # a dataclass base
            kind = sys.modules["dataclasses"]._FIELD
            for name, f in base.__dict__["__dataclass_fields__"].items():
                if f._field_type is kind:
                    specs[name] = _spec_of_field(name, f.type, f, False, f)
    return specs


def _build(cls: Any, *, kw_only: bool, order: bool) -> Any:
    """The record class made from `cls` (a new class, as `__slots__` must be known when one is made)."""
    specs = _inherited(cls) if len(cls.__mro__) > 2 else {}
    inherited = set(specs)
    namespace = dict(cls.__dict__)
    own: list[str] = []
    declared: list[str] = []
    dc = sys.modules.get("dataclasses")  # no Field can exist before it is imported
    for name, annotation in namespace.get("__annotations__", {}).items():
        if (type(annotation) is not str or "ClassVar" in annotation) and _is_classvar(annotation):
            continue  # (most annotations are text without "ClassVar": no call for them)
        value = namespace.pop(name, _NO)
        if type(value) is _FieldArgs or (dc is not None and isinstance(value, dc.Field)):
            specs[name] = _spec(name, annotation, value, kw_only)
        else:  # a plain default, or none: the common case, made without a call
            specs[name] = (name, annotation, value, _NO, True, True, True, kw_only, value)
        declared.append(name)
        if name not in inherited:
            own.append(name)
    namespace.pop("__dict__", None)
    namespace.pop("__weakref__", None)
    table = _Table(cls.__qualname__, specs, declared, kw_only=kw_only, order=order,
                   post_init=hasattr(cls, "__post_init__"))
    namespace["__slots__"] = tuple(own)
    namespace["__record_table__"] = table
    namespace["__dataclass_fields__"] = _LazyFields(table)
    namespace["__dataclass_params__"] = _LazyParams(table)
    namespace["__match_args__"] = table.positional
    namespace["__qualname__"] = cls.__qualname__
    namespace["__signature__"] = _LazySignature(table)
    _add_methods(cls, namespace, order=order)
    table.cls = type(cls)(cls.__name__, cls.__bases__, namespace)
    return table.cls


def _add_methods(cls: Any, namespace: dict[str, Any], *, order: bool) -> None:
    """Put the shared methods in `namespace`, as `@dataclass(frozen=True, slots=True)` adds
    its own: `__init__`, `__repr__`, `__eq__` and the pickling pair only where the class
    body defines none, `__hash__` unless the body defines one (an `__eq__` of its own
    without a `__hash__` does not count); a body's `__setattr__`/`__delattr__`, or with
    `order=True` a comparison method, is a `TypeError`."""
    body = cls.__dict__
    for name, method in _METHODS.items():
        if name not in body:
            namespace[name] = method
        elif name in ("__setattr__", "__delattr__"):
            raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}")
    if "__hash__" in body and not (body["__hash__"] is None and "__eq__" in body):
        namespace["__hash__"] = body["__hash__"]  # a hash of its own is kept
    else:
        namespace["__hash__"] = _hash
    if order:
        for name, method in _ORDER.items():
            if name in body:
                raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}. "
                                "Consider using functools.total_ordering")
            namespace[name] = method


def _is_classvar(annotation: object) -> bool:
    """`ClassVar` or `ClassVar[...]`, as text (`from __future__ import annotations`) or not."""
    if isinstance(annotation, str):
        return annotation.partition("[")[0] in ("ClassVar", "typing.ClassVar")
    return annotation is ClassVar or get_origin(annotation) is ClassVar


class _Table:
    """What the shared methods of one record class read (its `__record_table__`)."""

    __slots__ = ("all", "cls", "compared", "declared", "fields", "keyword", "kw_only", "name", "order", "params",
                 "plan", "positional", "post_init", "shown", "signature", "specs")

    def __init__(self, name: str, specs: dict[str, _Spec], declared: list[str], *, kw_only: bool, order: bool,
                 post_init: bool) -> None:
        self.cls: type = object  # the class made, once made
        self.name = name
        self.specs = specs
        self.declared = declared  # the fields the class's own body declares
        self.kw_only = kw_only
        self.order = order
        self.post_init = post_init
        self.all = tuple(specs)
        positional: list[str] = []
        keyword: list[str] = []
        shown: list[str] = []
        compared: list[str] = []
        # Per field, in order: (name, default or _NO, factory or None, may be passed).
        plan: list[tuple[str, Any, Any, bool]] = []
        for field_name, _, default, factory, init, in_repr, in_eq, kw, _ in specs.values():
            if init:
                keyword.append(field_name)
                if not kw:
                    positional.append(field_name)
            if in_repr:
                shown.append(field_name)
            if in_eq:
                compared.append(field_name)
            plan.append((field_name, default, None if factory is _NO else factory, init))
        self.positional = tuple(positional)
        self.keyword = frozenset(keyword)
        self.shown = tuple(shown)
        self.compared = tuple(compared)
        self.plan = tuple(plan)
        self.fields: dict[str, dataclasses.Field[Any]] | None = None
        self.params: Any = None
        self.signature: Any = None

    def dataclass_fields(self) -> dict[str, dataclasses.Field[Any]]:
        """`__dataclass_fields__`, made on first use: the bases' `Field`s, then this class's own."""
        if self.fields is None:
            import dataclasses

            fields: dict[str, dataclasses.Field[Any]] = {}
            for base in reversed(self.cls.__mro__[1:]):
                fields.update(getattr(base, "__dataclass_fields__", {}))
            kind = getattr(dataclasses, "_FIELD")  # noqa: B009 (the marker `fields()` keeps; private)
            for name in self.declared:
                _, annotation, default, _, _, _, _, kw_only, source = self.specs[name]
                if type(source) is _FieldArgs:
                    made: Any = dataclasses.field(**source.kwargs)
                elif isinstance(source, dataclasses.Field):
                    made = source
                else:
                    made = dataclasses.field(default=dataclasses.MISSING if default is _NO else default)
                made.name = name
                made.type = annotation
                made._field_type = kind
                made.kw_only = kw_only
                fields[name] = made
            self.fields = fields
        return self.fields


class _LazyFields:
    """A record class's `__dataclass_fields__` (read by `dataclasses.fields`, `replace`,
    `asdict`, `is_dataclass` and by `@dataclass` on a subclass), made when first read."""

    __slots__ = ("table",)

    def __init__(self, table: _Table) -> None:
        self.table = table

    def __get__(self, obj: object, owner: type | None = None) -> dict[str, dataclasses.Field[Any]]:
        return self.table.dataclass_fields()


class _LazyParams:
    """`__dataclass_params__`, which `@dataclass` reads on a base class, made when first read
    (its arguments differ between Python versions: those this one takes are given)."""

    __slots__ = ("table",)

    def __init__(self, table: _Table) -> None:
        self.table = table

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        t = self.table
        if t.params is None:
            import dataclasses

            make: Any = getattr(dataclasses, "_DataclassParams")  # noqa: B009 (private name)
            code = make.__init__.__code__
            values = {"init": True, "repr": True, "eq": True, "order": t.order, "unsafe_hash": False,
                      "frozen": True, "match_args": True, "kw_only": t.kw_only, "slots": True,
                      "weakref_slot": False}
            names = code.co_varnames[1 : code.co_argcount + code.co_kwonlyargcount]
            t.params = make(**{name: values[name] for name in names})
        return t.params


class _LazySignature:
    """A record class's `__signature__`, the one its dataclass `__init__` would have (without
    `self`), made when first read: `inspect.signature(cls)` reads it before anything else."""

    __slots__ = ("table",)

    def __init__(self, table: _Table) -> None:
        self.table = table

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        t = self.table
        if owner is not None and owner is not t.cls:
            return None  # a subclass (a dataclass's own `__init__`): inspect looks further
        if t.signature is None:
            import dataclasses
            import inspect  # typer has imported it already; a library user may never ask

            empty = inspect.Parameter.empty
            factory = getattr(dataclasses, "_HAS_DEFAULT_FACTORY")  # noqa: B009 (dataclasses' own marker)
            kinds = {False: inspect.Parameter.POSITIONAL_OR_KEYWORD, True: inspect.Parameter.KEYWORD_ONLY}
            params = [
                inspect.Parameter(name, kinds[kw], annotation=annotation,
                                  default=default if default is not _NO else (factory if made is not _NO else empty))
                for want in (False, True)
                for name, annotation, default, made, init, _, _, kw, _ in t.specs.values()
                if init and kw is want
            ]
            t.signature = inspect.Signature(params, return_annotation=None)
        return t.signature


# The methods every record class shares: each reads the table of the record class it was
# found on (`type(self).__record_table__`: a subclass that is not a record inherits it).


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    t: _Table = type(self).__record_table__
    if args:
        if len(args) > len(t.positional):
            raise TypeError(
                f"{t.name}.__init__() takes {len(t.positional) + 1} positional arguments "
                f"but {len(args) + 1} were given"
            )
        for name, value in zip(t.positional, args, strict=False):
            if name in kwargs:
                raise TypeError(f"{t.name}.__init__() got multiple values for argument '{name}'")
            kwargs[name] = value  # a fresh dict of this call's own
    if not kwargs.keys() <= t.keyword:
        unexpected = next(name for name in kwargs if name not in t.keyword)
        raise TypeError(f"{t.name}.__init__() got an unexpected keyword argument '{unexpected}'")
    for name, default, factory, passable in t.plan:
        if passable and name in kwargs:
            value = kwargs[name]
        elif default is not _NO:
            value = default
        elif factory is not None:
            value = factory()
        elif passable:
            raise TypeError(f"{t.name}.__init__() missing required argument: '{name}'")
        else:
            continue  # init=False and no default: unset, as a dataclass leaves it
        _setattr(self, name, value)
    if t.post_init:
        self.__post_init__()


def _repr(self: Any) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in type(self).__record_table__.shown)
    return f"{type(self).__qualname__}({shown})"


def _values(self: Any, names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(getattr(self, name) for name in names)


def _compared(obj: Any) -> tuple[str, ...]:
    names: tuple[str, ...] = type(obj).__record_table__.compared
    return names


def _eq(self: Any, other: object) -> Any:
    if other.__class__ is self.__class__:
        names = _compared(self)
        return _values(self, names) == _values(other, names)
    return NotImplemented


def _hash(self: Any) -> int:
    return hash(_values(self, _compared(self)))


def _frozen(message: str) -> Exception:
    import dataclasses  # only when a frozen field is written to

    return dataclasses.FrozenInstanceError(message)


# As a frozen dataclass: a subclass that is not a record may set attributes of its own.
def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    t: _Table = type(self).__record_table__
    if type(self) is t.cls or name in t.specs:
        raise _frozen(f"cannot assign to field {name!r}")
    _setattr(self, name, value)


def _frozen_delattr(self: Any, name: str) -> None:
    t: _Table = type(self).__record_table__
    if type(self) is t.cls or name in t.specs:
        raise _frozen(f"cannot delete field {name!r}")
    object.__delattr__(self, name)


def _getstate(self: Any) -> list[Any]:
    return [getattr(self, name) for name in type(self).__record_table__.all]


def _setstate(self: Any, state: list[Any]) -> None:
    for name, value in zip(type(self).__record_table__.all, state, strict=True):
        _setattr(self, name, value)


def _compare(op: Callable[[tuple[Any, ...], tuple[Any, ...]], bool], name: str) -> Callable[[Any, object], Any]:
    def method(self: Any, other: object) -> Any:
        if other.__class__ is self.__class__:
            names = _compared(self)
            return op(_values(self, names), _values(other, names))
        return NotImplemented

    method.__name__ = method.__qualname__ = name
    return method


#: (`__hash__` apart: see `_add_methods`.)
_METHODS: dict[str, Callable[..., Any]] = {
    "__init__": _init, "__repr__": _repr, "__eq__": _eq, "__setattr__": _frozen_setattr,
    "__delattr__": _frozen_delattr, "__getstate__": _getstate, "__setstate__": _setstate,
}
_ORDER: dict[str, Callable[..., Any]] = {
    name: _compare(op, name) for name, op in
    (("__lt__", tuple.__lt__), ("__le__", tuple.__le__), ("__gt__", tuple.__gt__), ("__ge__", tuple.__ge__))
}
