"""Entry-point discovery shared by the transport registry and the CLI (layer 1).

Two ways to find a named object of a group (`toolkit.commands`, `toolkit.transports`):
- `BuiltIn`: skopo's own commands and transports, from a table in the code that registers
  them (`toolkit.cli.commands.BUILTIN`, `toolkit.transports.BUILTIN`). The same names are
  declared as entry points in skopo's `pyproject.toml` (a test keeps both equal), but
  looking them up in the table costs nothing, where an entry-point scan reads every
  installed distribution's metadata (`importlib.metadata`, ~10 ms even before the scan).
- `entry_points_of(group)`: the entry points of one group, for names that are not built
  in (plugins) and for listings (`--help`, completion). The installed distributions are
  scanned once per process, and only when asked: plugins installed while a process runs
  are seen by the next process.

A built-in name always wins over a plugin's entry point of the same name, so a plugin can
neither replace nor shadow a built-in command or transport.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint, EntryPoints

__all__ = ["BuiltIn", "Loadable", "entry_points_of", "find", "registered"]


class Loadable(Protocol):
    """What `BuiltIn` and `importlib.metadata.EntryPoint` have in common."""

    @property
    def name(self) -> str: ...

    @property
    def value(self) -> str: ...

    def load(self) -> Any: ...


class BuiltIn:
    """A built-in object named `name`, found at `value` (`"package.module:attribute"`).

    `load()` imports the module and returns the attribute; it raises what the import
    raises (`ImportError`, ...) or `AttributeError`, as `EntryPoint.load` does.
    """

    __slots__ = ("name", "value")

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self.value = value

    def load(self) -> Any:
        module, _, attribute = self.value.partition(":")
        obj: Any = import_module(module)
        for part in attribute.split(".") if attribute else ():
            obj = getattr(obj, part)
        return obj

    def __repr__(self) -> str:
        return f"BuiltIn(name={self.name!r}, value={self.value!r})"


class _Selectable(Protocol):  # EntryPoints (3.12+) or SelectableGroups (3.11)
    def select(self, *, group: str) -> EntryPoints: ...


@cache
def _all_entry_points() -> _Selectable:
    from importlib.metadata import entry_points  # ~10 ms of imports: only when a scan is needed

    return entry_points()


def entry_points_of(group: str) -> tuple[EntryPoint, ...]:
    """The entry points registered under `group`, in discovery order (may repeat names)."""
    return tuple(_all_entry_points().select(group=group))


def find(group: str, builtins: Mapping[str, str], name: str) -> Loadable | None:
    """The object registered as `name`: the built-in one if `builtins` (name -> value) has
    it, without any scan; else the first entry point of `group` with that name; else None."""
    value = builtins.get(name)
    if value is not None:
        return BuiltIn(name, value)
    return next((ep for ep in entry_points_of(group) if ep.name == name), None)


def registered(group: str, builtins: Mapping[str, str]) -> dict[str, Loadable]:
    """Every name of `group` (scans the entry points): the built-ins, then each plugin
    name not already taken (the first registration of a name wins), in that order."""
    found: dict[str, Loadable] = {name: BuiltIn(name, value) for name, value in builtins.items()}
    for ep in entry_points_of(group):
        found.setdefault(ep.name, ep)
    return found
