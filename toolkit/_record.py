"""`record`: `dataclasses.dataclass(frozen=True, slots=True)` without its start-up cost.

`@dataclass` writes each class's `__init__`, `__repr__`, `__eq__`, `__hash__`,
`__setattr__` and `__delattr__` as source text and compiles it (`exec`), then, for
`slots=True`, builds the class a second time: about 4 M instructions per class on Python
3.11, a third of what a short command such as `skopo inspect oci:DIR` spends. `record`
builds the same class from a few shared functions that read the field table, with no
compilation: about a thirtieth of that.

Contract (`@record`, `@record(kw_only=True)`, `@record(order=True)`), the same as
`@dataclass(frozen=True, slots=True, ...)` with the same arguments, which is also how
type checkers see it (`typing.dataclass_transform`):
- fields are the class's annotations in order (`ClassVar` ones left out), after those of
  its `record`/dataclass bases; a default is the class attribute, or `dataclasses.field(...)`
  (`default`, `default_factory`, `init`, `repr`, `compare`, `kw_only`);
- `__init__` takes the non-keyword-only fields positionally or by name, the others by name
  only, fills in defaults (a factory is called per instance), then calls `__post_init__`
  if the class has one; wrong arguments raise `TypeError`;
- instances are frozen (`dataclasses.FrozenInstanceError` on assignment or deletion), have
  `__slots__` (no `__dict__`), compare equal when of the same class with equal compared
  fields (`NotImplemented` otherwise), hash as the tuple of those fields, and with
  `order=True` compare in that order too; `repr` is `Name(field=value, ...)`;
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

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar, dataclass_transform, get_origin, overload

__all__ = ["record"]

_T = TypeVar("_T", bound=type)
_MISSING: Any = dataclasses.MISSING
#: The marker `dataclasses.fields()` keeps (its other kinds are ClassVar and InitVar).
_FIELD_KIND: Any = getattr(dataclasses, "_FIELD")  # noqa: B009 (private name, read once)
_setattr = object.__setattr__


def _params(*, kw_only: bool, order: bool) -> Any:
    """`__dataclass_params__`, which `@dataclass` reads on a base class (its arguments differ
    between Python versions: those this one takes are given)."""
    make: Any = getattr(dataclasses, "_DataclassParams")  # noqa: B009 (private name)
    code = make.__init__.__code__
    values = {"init": True, "repr": True, "eq": True, "order": order, "unsafe_hash": False, "frozen": True,
              "match_args": True, "kw_only": kw_only, "slots": True, "weakref_slot": False}
    return make(**{name: values[name] for name in code.co_varnames[1 : code.co_argcount + code.co_kwonlyargcount]})


@overload
def record(cls: _T, /) -> _T: ...
@overload
def record(*, kw_only: bool = False, order: bool = False) -> Callable[[_T], _T]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
def record(cls: _T | None = None, /, *, kw_only: bool = False, order: bool = False) -> _T | Callable[[_T], _T]:
    """Make `cls` a frozen, slotted record class (see the module's contract)."""

    def wrap(cls: _T) -> _T:
        made: _T = _build(cls, kw_only=kw_only, order=order)
        return made

    return wrap if cls is None else wrap(cls)


def _build(cls: Any, *, kw_only: bool, order: bool) -> Any:
    """The record class made from `cls` (a new class, as `__slots__` must be known when one is made)."""
    fields: dict[str, dataclasses.Field[Any]] = {}
    for base in reversed(cls.__mro__[1:]):
        fields.update(getattr(base, "__dataclass_fields__", {}))  # a record or dataclass base
    namespace = dict(cls.__dict__)
    own: list[str] = []
    for name, annotation in namespace.get("__annotations__", {}).items():
        if _is_classvar(annotation):
            continue
        value = namespace.pop(name, _MISSING)
        spec: Any = value if isinstance(value, dataclasses.Field) else dataclasses.field(default=value)
        spec.name = name
        spec.type = annotation
        spec._field_type = _FIELD_KIND
        if spec.kw_only is _MISSING:
            spec.kw_only = kw_only
        fields[name] = spec
        if name not in getattr(cls, "__dataclass_fields__", {}):
            own.append(name)
    namespace.pop("__dict__", None)
    namespace.pop("__weakref__", None)
    namespace["__slots__"] = tuple(own)
    namespace["__dataclass_fields__"] = fields
    namespace["__dataclass_params__"] = _params(kw_only=kw_only, order=order)
    namespace["__match_args__"] = tuple(n for n, f in fields.items() if f.init and not f.kw_only)
    namespace["__qualname__"] = cls.__qualname__
    table = _Table(cls.__qualname__, fields)
    namespace["__init__"] = _init_for(table, post_init=hasattr(cls, "__post_init__"))
    namespace["__signature__"] = _LazySignature(table, fields)
    namespace["__repr__"] = _repr_for(table)
    namespace["__eq__"], namespace["__hash__"] = _eq_hash_for(table)
    namespace["__setattr__"], namespace["__delattr__"] = _frozen_for(table)
    namespace["__getstate__"], namespace["__setstate__"] = _state_for(table)
    if order:
        namespace.update(_order_for(table))
    table.cls = type(cls)(cls.__name__, cls.__bases__, namespace)
    return table.cls


def _is_classvar(annotation: object) -> bool:
    """`ClassVar` or `ClassVar[...]`, as text (`from __future__ import annotations`) or not."""
    if isinstance(annotation, str):
        return annotation.partition("[")[0] in ("ClassVar", "typing.ClassVar")
    return annotation is ClassVar or get_origin(annotation) is ClassVar


class _Table:
    """What the shared methods of one record class read."""

    __slots__ = ("all", "cls", "compared", "defaults", "factories", "keyword", "name", "positional", "shown")

    def __init__(self, name: str, fields: dict[str, dataclasses.Field[Any]]) -> None:
        self.cls: type = object  # the class made, once made
        self.name = name
        init = [f for f in fields.values() if f.init]
        self.positional = tuple(f.name for f in init if not f.kw_only)
        self.keyword = frozenset(f.name for f in init)
        self.all = tuple(fields)
        self.defaults = {f.name: f.default for f in fields.values() if f.default is not _MISSING}
        self.factories: dict[str, Callable[[], Any]] = {
            f.name: f.default_factory for f in fields.values() if f.default_factory is not _MISSING  # type: ignore[misc]
        }
        self.shown = tuple(f.name for f in fields.values() if f.repr)
        self.compared = tuple(f.name for f in fields.values() if f.compare)


def _init_for(t: _Table, *, post_init: bool) -> Callable[..., None]:
    # Per field, in order: (name, default or _MISSING, factory or None, may be passed).
    plan = tuple((name, t.defaults.get(name, _MISSING), t.factories.get(name), name in t.keyword) for name in t.all)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:  # noqa: N807
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
        for name, default, factory, passable in plan:
            if passable and name in kwargs:
                value = kwargs[name]
            elif default is not _MISSING:
                value = default
            elif factory is not None:
                value = factory()
            elif passable:
                raise TypeError(f"{t.name}.__init__() missing required argument: '{name}'")
            else:
                continue  # init=False and no default: unset, as a dataclass leaves it
            _setattr(self, name, value)
        if post_init:
            self.__post_init__()

    return __init__


class _LazySignature:
    """A record class's `__signature__`, the one its dataclass `__init__` would have (without
    `self`), made when first read: `inspect.signature(cls)` reads it before anything else."""

    __slots__ = ("fields", "made", "table")

    def __init__(self, table: _Table, fields: dict[str, dataclasses.Field[Any]]) -> None:
        self.table = table
        self.fields = fields
        self.made: Any = None

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        if owner is not None and owner is not self.table.cls:
            return None  # a subclass (a dataclass's own `__init__`): inspect looks further
        if self.made is None:
            import inspect  # typer has imported it already; a library user may never ask

            factory = getattr(dataclasses, "_HAS_DEFAULT_FACTORY")  # noqa: B009 (dataclasses' own marker)
            kinds = {False: inspect.Parameter.POSITIONAL_OR_KEYWORD, True: inspect.Parameter.KEYWORD_ONLY}
            params = [
                inspect.Parameter(
                    f.name, kinds[bool(f.kw_only)], annotation=f.type,
                    default=f.default if f.default is not _MISSING else (
                        factory if f.default_factory is not _MISSING else inspect.Parameter.empty),
                )
                for kw_only in (False, True)
                for f in self.fields.values() if f.init and bool(f.kw_only) is kw_only
            ]
            self.made = inspect.Signature(params, return_annotation=None)
        return self.made


def _repr_for(t: _Table) -> Callable[[Any], str]:
    def __repr__(self: Any) -> str:  # noqa: N807
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in t.shown)
        return f"{type(self).__qualname__}({shown})"

    return __repr__


def _values(self: Any, names: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(getattr(self, name) for name in names)


def _eq_hash_for(t: _Table) -> tuple[Callable[[Any, object], Any], Callable[[Any], int]]:
    def __eq__(self: Any, other: object) -> Any:  # noqa: N807
        if other.__class__ is self.__class__:
            return _values(self, t.compared) == _values(other, t.compared)
        return NotImplemented

    def __hash__(self: Any) -> int:  # noqa: N807
        return hash(_values(self, t.compared))

    return __eq__, __hash__


def _order_for(t: _Table) -> dict[str, Callable[[Any, object], Any]]:
    def compare(op: Callable[[tuple[Any, ...], tuple[Any, ...]], bool]) -> Callable[[Any, object], Any]:
        def method(self: Any, other: object) -> Any:
            if other.__class__ is self.__class__:
                return op(_values(self, t.compared), _values(other, t.compared))
            return NotImplemented

        return method

    return {
        "__lt__": compare(tuple.__lt__),
        "__le__": compare(tuple.__le__),
        "__gt__": compare(tuple.__gt__),
        "__ge__": compare(tuple.__ge__),
    }


def _frozen_for(t: _Table) -> tuple[Callable[[Any, str, Any], None], Callable[[Any, str], None]]:
    # As a frozen dataclass: a subclass that is not a record may set attributes of its own.
    def __setattr__(self: Any, name: str, value: Any) -> None:  # noqa: N807
        if type(self) is t.cls or name in t.all:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        _setattr(self, name, value)

    def __delattr__(self: Any, name: str) -> None:  # noqa: N807
        if type(self) is t.cls or name in t.all:
            raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
        object.__delattr__(self, name)

    return __setattr__, __delattr__


def _state_for(t: _Table) -> tuple[Callable[[Any], list[Any]], Callable[[Any, list[Any]], None]]:
    def __getstate__(self: Any) -> list[Any]:  # noqa: N807
        return [getattr(self, name) for name in t.all]

    def __setstate__(self: Any, state: list[Any]) -> None:  # noqa: N807
        for name, value in zip(t.all, state, strict=True):
            _setattr(self, name, value)

    return __getstate__, __setstate__
