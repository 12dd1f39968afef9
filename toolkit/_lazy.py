"""Module attributes loaded on first use (PEP 562), for package faces that keep start-up cheap.

`lazy_pattern(pattern)` is a regular expression compiled on first use (Python's `re`
parser costs ~0.5-1.5 M instructions per pattern, paid at import by a module-level
`re.compile` whether or not the command ever matches anything).

`lazy_getattr(package, table, namespace)` returns the `__getattr__` a package defines:
`table` maps a public name to the module defining it (absolute, or relative to `package`);
`submodules` are names that are themselves submodules of `package`. A name found is cached in
`namespace` (the package's `globals()`), so later lookups never come back here; an unknown
name raises `AttributeError` as Python's own lookup would. Standard library only.

(`toolkit/__init__.py` keeps its own four-line copy: the package face may import nothing but
the standard library at import time, which `tests/unit/test_layers.py` checks.)
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Collection, Mapping
from importlib import import_module
from typing import Any

__all__ = ["DebugLogger", "lazy_getattr", "lazy_pattern"]


def lazy_pattern(pattern: str, flags: int = 0) -> Callable[[], re.Pattern[str]]:
    """A function returning `re.compile(pattern, flags)`, compiled on its first call only."""
    compiled: list[re.Pattern[str]] = []

    def get() -> re.Pattern[str]:
        if not compiled:
            compiled.append(re.compile(pattern, flags))
        return compiled[0]

    return get


def lazy_getattr(
    package: str, table: Mapping[str, str], namespace: dict[str, Any], *, submodules: Collection[str] = ()
) -> Callable[[str], Any]:
    """The `__getattr__` of `package`, resolving `table`'s names and `submodules` on first use."""

    def __getattr__(name: str) -> Any:  # noqa: N807 (the PEP 562 hook's own name)
        if name in submodules:
            value: Any = import_module(f"{package}.{name}")
        else:
            module = table.get(name)
            if module is None:
                raise AttributeError(f"module {package!r} has no attribute {name!r}")
            value = getattr(import_module(module if module.startswith("toolkit.") else f"{package}.{module}"), name)
        namespace[name] = value  # later lookups skip __getattr__
        return value

    return __getattr__


class DebugLogger:
    """A module's logger for debug lines only, without importing `logging` at start-up.

    `debug(msg, *args)` is `logging.getLogger(name).debug(msg, *args)` once `logging` has
    been imported by anyone (skopo's `--debug` set-up, a library user's own configuration);
    before that, no handler that shows debug records can exist (Python's last-resort
    handler shows warnings and above only), so the line is dropped without importing it.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def debug(self, msg: str, *args: object) -> None:
        logging = sys.modules.get("logging")
        if logging is not None:
            logging.getLogger(self.name).debug(msg, *args, stacklevel=2)
