"""Standard modules that typer imports at start but this program rarely uses: loaded on first use.

typer's modules import `platform` (to launch a browser on macOS/BSD) and `subprocess` (to
launch one, and to ask a shell about completion) at import time; together they cost ~23 M
instructions, a tenth of `skopo --version`. `defer()`, called before typer is imported,
puts a stand-in module under each such name in `sys.modules`; `import platform` anywhere
then binds the stand-in, and the first attribute read from it imports the real module and
copies its namespace into the stand-in (so later reads are plain attribute reads), and
leaves the real module in `sys.modules`.

`uuid`, which typer imports too, calls `platform.system()` at import time: the `platform`
stand-in answers that one call itself on Linux (the value is `os.uname().sysname` there,
exactly as `platform.system()` computes it), and loads `platform` for it anywhere else.

Contract:
- Only names not yet imported are deferred; `defer()` is idempotent and never imports.
- Reading any attribute that a module does not have in its stand-in (everything but
  `__name__`, `__doc__` and friends, and `platform.system`) loads it; the value is the real module's. Loading is
  serialised by a lock, so threads that touch a stand-in together load it once.
- `pending()` lists the names still deferred (for the start-up tests): reading it never
  loads anything.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import types
from collections.abc import Callable
from typing import Any, Final

__all__ = ["DEFERRED", "defer", "pending"]

#: Imported by typer at start, used by skopo only for a few commands (gpg, containers-storage,
#: the host's CPU variant), each of which loads the module when it first reads from it.
DEFERRED: Final = ("platform", "subprocess")

_LOCK = threading.Lock()


class _DeferredModule(types.ModuleType):
    """The stand-in: `__getattr__` runs only for attributes it does not hold yet."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_load(self), name)


def _load(stand_in: _DeferredModule) -> types.ModuleType:
    """The real module `stand_in` stands for, imported on first use."""
    with _LOCK:
        name = stand_in.__dict__["__name__"]
        if stand_in.__dict__.get("__deferred__"):
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
            real = importlib.import_module(name)
            stand_in.__dict__.update(real.__dict__)
            stand_in.__dict__["__deferred__"] = False
        return sys.modules[name]


def _platform_system(stand_in: _DeferredModule) -> Callable[[], str]:
    def system() -> str:
        """`platform.system()`: on Linux `os.uname().sysname` (what platform.uname() keeps
        of it there); elsewhere the real function, which maps some systems' names."""
        sysname = os.uname().sysname
        return sysname if sysname == "Linux" else str(_load(stand_in).system())

    return system


#: Attributes a stand-in provides without loading its module (replaced by the real ones
#: when it loads).
_ANSWERS: Final[dict[str, dict[str, Callable[[_DeferredModule], Any]]]] = {
    "platform": {"system": _platform_system},
}


def defer(names: tuple[str, ...] = DEFERRED) -> None:
    """Put a stand-in in `sys.modules` for each of `names` not imported yet."""
    for name in names:
        if name not in sys.modules:
            stand_in = _DeferredModule(name)
            stand_in.__dict__["__deferred__"] = True
            for attribute, make in _ANSWERS.get(name, {}).items():
                stand_in.__dict__[attribute] = make(stand_in)
            sys.modules[name] = stand_in


def pending() -> list[str]:
    """The names whose stand-in is still in `sys.modules` and not loaded."""
    return sorted(
        name for name, module in list(sys.modules.items())
        if isinstance(module, _DeferredModule) and module.__dict__.get("__deferred__")
    )
