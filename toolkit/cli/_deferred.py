"""Modules that typer and requests import at start but this program rarely uses: loaded on first use.

typer's modules import, at import time, `platform` and `subprocess` (to launch a browser,
to ask a shell about completion), `shutil` (for `get_terminal_size`, when help is
formatted), `gettext` (its `gettext`, for help and error texts) and `difflib` (its
`get_close_matches`, for a mistyped command name); pathlib imports `urllib.parse` (for
`Path.as_uri`), which imports `ipaddress` (for URLs with a bracketed IPv6 host); inspect
and linecache import `tokenize` (to read source files), traceback imports `textwrap` (to
indent exception groups). That is ~55 M instructions, a fifth of `skopo --version`, which
uses none of them. `defer()`, called before typer is imported,
puts a stand-in module under each such name in `sys.modules`; `import shutil` anywhere then
binds the stand-in, and the first attribute read from it imports the real module and
copies its namespace into the stand-in (so later reads are plain attribute reads), and
leaves the real module in `sys.modules`.

A stand-in also holds, from the start, the few functions that typer takes out of these
modules at import time (`from shutil import get_terminal_size`): each is a forwarder that
loads the module when first called and then calls the real function with the same
arguments. And `uuid`, which typer imports too, calls `platform.system()` at import time:
the `platform` stand-in answers that call itself on Linux (the value is
`os.uname().sysname` there, exactly as `platform.system()` computes it) and loads
`platform` for it anywhere else. `inspect` reads `dis.COMPILER_FLAG_NAMES` at import
time: the `dis` stand-in holds a copy of that table. typer and click take the `datetime`
class out of `datetime`: its stand-in holds that class, from the C module `_datetime`
(the very class `datetime.datetime` is). `inspect` subclasses `ast.NodeVisitor` at import time:
the `ast` stand-in holds a class whose methods call the real `NodeVisitor`'s.

requests imports, at import time, `charset_normalizer` (reading only its `__version__`),
`idna` (aliased under `requests.packages`) and `zipfile`, none of which the registry
client uses: their stand-ins are the same kind (see `PACKAGES` for the two third-party ones,
deferred only when installed). Only the CLI process defers anything; the library imported
by other programs is untouched.

Contract:
- Only names not yet imported are deferred; `defer()` is idempotent and imports nothing
  but the package of a deferred submodule (`urllib`, an empty `__init__`), whose attribute
  is set to the stand-in as an import would set it to the module, and `_datetime`.
- Reading any attribute that a stand-in does not hold (everything but `__name__`,
  `__doc__` and friends and the forwarders) loads its module; the value is the real
  module's. Loading is serialised by a lock, so threads that touch a stand-in together
  load it once; a failed load (not expected of the standard library) propagates.
- `pending()` lists the names still deferred (for the start-up tests): reading it never
  loads anything.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import types
from collections.abc import Callable, Sequence
from typing import Any, Final

__all__ = ["DEFERRED", "defer", "pending"]

#: Module -> the functions its stand-in forwards (those typer binds at import time).
#: skopo's own code uses these modules in a few commands only (gpg, containers-storage, the
#: host's CPU variant, help, temporary trees), each of which loads one on first use.
DEFERRED: Final[dict[str, tuple[str, ...]]] = {
    "platform": (),
    "subprocess": (),
    "shutil": ("get_terminal_size",),
    "gettext": ("gettext",),
    "difflib": ("get_close_matches",),
    # urllib.parse (imported by pathlib) checks bracketed hosts with it: `docker://[::1]:5000/...`.
    "ipaddress": (),
    # inspect and linecache (imported by typer) read source files with it: tracebacks only.
    "tokenize": (),
    # pathlib takes quote_from_bytes (for Path.as_uri) out of it; URLs are the network's.
    "urllib.parse": ("quote_from_bytes",),
    # traceback (imported by typer) indents exception groups with it; help formats with it.
    # Its import compiles five regexes.
    "textwrap": (),
    # inspect (imported by typer and click) parses source with it: finding a class's source,
    # text signatures of builtins. Its import (the _ast types) is ~20 M instructions.
    "ast": (),
    # inspect (imported by typer) reads its CO_* flag names from dis at import time (the
    # stand-in holds that table) and uses dis for bytecode positions in tracebacks only;
    # dis and opcode cost ~5 M instructions to import.
    "dis": (),
    # typer and click take the `datetime` class out of it (for `DateTime` parameters), which
    # the stand-in holds (the C module `_datetime`'s class, the same object `datetime`
    # gives); the module itself (and `math`, which it imports) costs ~5 M instructions.
    "datetime": (),
    # urllib3 (under requests) takes `version` out of it at import time, for its opt-in
    # HTTP/2 support; its import (zipfile, csv, email) is ~5 ms of every registry command.
    # The command table reads entry points only for a name that is not built in.
    "importlib.metadata": ("version",),
    # requests.utils imports it for CA bundles inside zip archives (never skopo's case);
    # importlib.resources' zip reader too. With it come bz2 and lzma (their shared libraries).
    "zipfile": (),
    # Third-party packages (see PACKAGES): requests imports them at start, and
    # requests.packages aliases them, but the registry client never uses them.
    "charset_normalizer": (),
    "idna": (),
}

#: Third-party packages among DEFERRED -> the file in the package that holds its `__version__`
#: (None: nothing is read from the package at import time). A package is deferred only when
#: the import system finds it as a directory (`importlib.util.find_spec`, nothing imported);
#: otherwise `import` raises ImportError as before. Its stand-in holds the package's
#: `__path__`, so `import charset_normalizer.md` still imports that submodule (without the
#: package's `__init__` having run: nothing on skopo's path does it).
#: - charset_normalizer: requests reads `charset_normalizer.__version__` at import time (its
#:   compatibility check) and uses the package only to guess the encoding of a body read as
#:   text (`Response.apparent_encoding`, `.text`), which the registry client never does. The
#:   stand-in reads `__version__` from `version.py` alone; any other attribute, or a
#:   version.py that cannot be read, loads the package. ~2.6 MiB of peak RSS and ~4 ms.
#: - idna: for non-ASCII host names in `requests.models`, imported there when needed.
PACKAGES: Final[dict[str, str | None]] = {
    "charset_normalizer": "version.py",
    "idna": None,
}
#: Package -> its version file, for the stand-ins made by `defer()`.
_VERSION_FILES: dict[str, str] = {}
#: `dis.COMPILER_FLAG_NAMES` (the code object flags `inspect` names `CO_*`), as every Python
#: since 3.6 has it; tests/unit/cli compares it with the real table.
COMPILER_FLAG_NAMES: Final[dict[int, str]] = {
    1: "OPTIMIZED", 2: "NEWLOCALS", 4: "VARARGS", 8: "VARKEYWORDS", 16: "NESTED", 32: "GENERATOR",
    64: "NOFREE", 128: "COROUTINE", 256: "ITERABLE_COROUTINE", 512: "ASYNC_GENERATOR",
}

#: Re-entrant: loading one deferred module may load another (urllib.parse imports ipaddress).
_LOCK = threading.RLock()


class _DeferredModule(types.ModuleType):
    """The stand-in: `__getattr__` runs only for attributes it does not hold yet."""

    def __getattr__(self, name: str) -> Any:
        if name == "__path__":  # what `from X import y` asks first: its names are attributes
            raise AttributeError(name)
        if name == "__version__":
            version = _read_version(self)
            if version is not None:
                return version
        return getattr(_load(self), name)


def _load(stand_in: _DeferredModule) -> types.ModuleType:
    """The real module `stand_in` stands for, imported on first use."""
    name = stand_in.__dict__["__name__"]
    if not stand_in.__dict__["__deferred__"]:  # loaded: no lock needed
        return _real(name)
    with _LOCK:
        if stand_in.__dict__["__deferred__"]:
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
            real = importlib.import_module(name)
            stand_in.__dict__.update(real.__dict__)
            stand_in.__dict__["__deferred__"] = False
        return _real(name)


def _read_version(stand_in: _DeferredModule) -> str | None:
    """The `__version__` of a deferred package, from its version file alone (kept in the
    stand-in); None when it has none or the file does not give a string (then the caller
    loads the package, and the value is the package's)."""
    name = stand_in.__dict__["__name__"]
    path = _VERSION_FILES.get(name)
    if path is None:
        return None
    with _LOCK:
        if "__version__" in stand_in.__dict__:  # another thread read it, or the package loaded
            value = stand_in.__dict__["__version__"]
            return value if isinstance(value, str) else None
        import importlib.util

        try:
            spec = importlib.util.spec_from_file_location(f"{name}.version", path)
            if spec is None or spec.loader is None:
                return None
            module = importlib.util.module_from_spec(spec)  # not put in sys.modules
            spec.loader.exec_module(module)
        except Exception:  # any failure: the real package answers
            return None
        version = module.__dict__.get("__version__")
        if not isinstance(version, str):
            return None
        stand_in.__dict__["__version__"] = version
        return version


def _package_path(name: str) -> list[str] | None:
    """The `__path__` the import system would give package `name` (found, not imported);
    None when it is not found as a regular package (not installed, a namespace package).
    The finders are asked in order as `import` asks them (what `importlib.util.find_spec`
    does, without importing importlib.util: ~20 M instructions where nothing else does)."""
    spec = None
    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        if find_spec is None:
            continue
        try:
            spec = find_spec(name, None)
        except (ImportError, ValueError):
            return None
        if spec is not None:
            break
    if spec is None or spec.origin is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)


def _real(name: str) -> types.ModuleType:
    module = sys.modules.get(name)
    return module if module is not None else importlib.import_module(name)


def _forwarder(stand_in: _DeferredModule, attribute: str) -> Callable[..., Any]:
    def forward(*args: Any, **kwargs: Any) -> Any:
        return getattr(_load(stand_in), attribute)(*args, **kwargs)

    forward.__name__ = forward.__qualname__ = attribute
    forward.__doc__ = f"`{stand_in.__name__}.{attribute}`, its module loaded on first call."
    return forward


def _platform_system(stand_in: _DeferredModule) -> Callable[[], str]:
    def system() -> str:
        """`platform.system()`: on Linux `os.uname().sysname` (what platform.uname() keeps
        of it there); elsewhere the real function, which maps some systems' names."""
        sysname = os.uname().sysname
        return sysname if sysname == "Linux" else str(_load(stand_in).system())

    return system


def _node_visitor(stand_in: _DeferredModule) -> type:
    """`ast.NodeVisitor` for classes made before `ast` is loaded: inspect subclasses it at
    import time (`inspect._ClassFinder`, which finds a class's source). Its methods are
    the real class's, called on the same instance (so a subclass's `visit_X` methods are
    found as the real `visit` finds them)."""

    class NodeVisitor:
        def visit(self, node: Any) -> Any:
            return _load(stand_in).NodeVisitor.visit(self, node)

        def generic_visit(self, node: Any) -> Any:
            return _load(stand_in).NodeVisitor.generic_visit(self, node)

        def visit_Constant(self, node: Any) -> Any:  # noqa: N802 (ast's own name)
            return _load(stand_in).NodeVisitor.visit_Constant(self, node)

    NodeVisitor.__module__ = "ast"
    return NodeVisitor


def defer(names: Sequence[str] | None = None) -> None:
    """Put a stand-in in `sys.modules` for each of `names` (default: all of `DEFERRED`)
    not imported yet."""
    for name in DEFERRED if names is None else names:
        if name in sys.modules:
            continue
        stand_in = _DeferredModule(name)
        stand_in.__dict__["__deferred__"] = True
        if name in PACKAGES:
            path = _package_path(name)
            if path is None:
                continue
            stand_in.__dict__["__path__"] = path
            version_file = PACKAGES[name]
            if version_file is not None and os.path.isfile(os.path.join(path[0], version_file)):
                _VERSION_FILES[name] = os.path.join(path[0], version_file)
        for attribute in DEFERRED.get(name, ()):
            stand_in.__dict__[attribute] = _forwarder(stand_in, attribute)
        if name == "platform":
            stand_in.__dict__["system"] = _platform_system(stand_in)
        if name == "ast":
            stand_in.__dict__["NodeVisitor"] = _node_visitor(stand_in)
        if name == "dis":
            stand_in.__dict__["COMPILER_FLAG_NAMES"] = dict(COMPILER_FLAG_NAMES)
        if name == "datetime":
            try:
                stand_in.__dict__["datetime"] = importlib.import_module("_datetime").datetime
            except ImportError:  # an interpreter without the C module: not deferred
                continue
        sys.modules[name] = stand_in
        package, _, child = name.rpartition(".")
        if package:  # `import urllib.parse; urllib.parse.x`: the package's attribute too
            setattr(importlib.import_module(package), child, stand_in)


def pending() -> list[str]:
    """The names whose stand-in is still in `sys.modules` and not loaded."""
    return sorted(
        name for name, module in list(sys.modules.items())
        if isinstance(module, _DeferredModule) and module.__dict__.get("__deferred__")
    )
