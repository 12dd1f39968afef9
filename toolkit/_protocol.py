"""`Protocol` and `runtime_checkable`: `typing`'s for type checkers, cheap classes at run time.

A `typing.Protocol` class costs at run time what an interface only needs at type-checking
time: it is an ABC (`ABCMeta` scans it, `Protocol.__init_subclass__` wraps `__init__`),
and `isinstance` against a `runtime_checkable` one goes through ABC subclass hooks and
caches. The transport interfaces (`toolkit.transports.base`) are fifteen such classes,
created by every command that opens an image. Modules that declare protocols import
these two names from here instead of `typing`:

- for mypy (`TYPE_CHECKING`) they *are* `typing.Protocol` and `typing.runtime_checkable`:
  everything is checked structurally as before;
- at run time `Protocol` is a plain base class whose metaclass answers `isinstance` the
  way `typing` does for a `runtime_checkable` protocol: an instance of a subclass, or
  an object that has every member the protocol (and its protocol bases) declares, the
  methods among them not set to None. `isinstance` against a protocol that is not
  `runtime_checkable` raises `TypeError`, as with `typing`.

A class that subclasses one of these protocols and `typing.Protocol` together is a
metaclass conflict: declare protocol subclasses with this module's `Protocol` too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Protocol", "runtime_checkable"]

if TYPE_CHECKING:
    from typing import Protocol, runtime_checkable
else:
    #: Names `typing` never counts as protocol members (its `EXCLUDED_ATTRIBUTES`), plus
    #: the attributes this module sets.
    _NOT_MEMBERS = frozenset({
        "__abstractmethods__", "__annotations__", "__dict__", "__doc__", "__init__", "__module__", "__new__",
        "__slots__", "__subclasshook__", "__weakref__", "__class_getitem__", "__parameters__", "__orig_bases__",
        "__orig_class__", "_is_protocol", "_is_runtime_protocol", "_MutableMapping__marker", "__qualname__",
        "_protocol_members",
    })

    class _ProtocolMeta(type):
        """`isinstance` for protocols (see the module docstring)."""

        def __instancecheck__(cls, instance: Any) -> bool:
            if Protocol not in cls.__bases__:  # a class implementing protocols, not one
                return type.__instancecheck__(cls, instance)
            members = cls.__dict__.get("_protocol_members")
            if members is None:
                raise TypeError("Instance and class checks can only be used with @runtime_checkable protocols")
            if type.__instancecheck__(cls, instance):
                return True
            return all(
                hasattr(instance, name) and not (is_method and getattr(instance, name) is None)
                for name, is_method in members
            )

    class Protocol(metaclass=_ProtocolMeta):
        """The run-time stand-in for `typing.Protocol`: a plain base class."""

        __slots__ = ()

    def runtime_checkable(cls: type) -> type:
        """Make `isinstance(obj, cls)` check `obj` against `cls`'s members, computed once
        here: every name its protocol classes define or annotate, and whether it is a
        method (a member whose value on the class is callable)."""
        names: set[str] = set()
        for base in cls.__mro__:
            if base is object or base is Protocol:
                continue
            for name in (*base.__dict__, *getattr(base, "__annotations__", {})):  # as typing reads them
                if name not in _NOT_MEMBERS and not name.startswith("_abc_"):
                    names.add(name)
        cls._protocol_members = tuple(sorted((name, callable(getattr(cls, name, None))) for name in names))
        return cls
