"""Where skopo's log lines and Python warnings go (imported only once `logging` is in use).

`configure(debug)`: skopo's loggers (`toolkit.*`) write to stderr, `debug: ...` lines with
`--debug`, warnings as skopeo's retry lines; Python warnings (a library's
`InsecureRequestWarning`, deprecations) become debug lines, so they never reach a user
without `--debug`.

`toolkit.cli.app` calls `configure` at once when `--debug` is given or `logging` is already
imported; otherwise it defers the call until `logging` is first imported (most short
commands never log anything, and `logging` with what it imports costs about 2 ms of every
start). `configure_on_import(debug)` installs that deferral: a `sys.meta_path` finder that,
the first time `logging` is imported, lets the other finders find it, runs the module,
then `configure(debug)`, and removes itself.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

from toolkit.errors import safe_text

__all__ = ["configure", "configure_on_import"]


def configure(debug: bool) -> None:
    """Send skopo's log lines and Python's warnings to stderr as described above."""
    import logging

    class LogFormatter(logging.Formatter):
        """`debug: ...` lines with `--debug`; warnings as the retry lines skopeo prints
        (`Failed, retrying in 1s ...`), other levels with their name."""

        def format(self, record: logging.LogRecord) -> str:
            text = safe_text(" ".join(record.getMessage().splitlines()), 4096)
            if record.levelno == logging.WARNING and text.startswith("Failed, retrying"):
                return text
            prefix = "debug" if record.levelno <= logging.DEBUG else record.levelname.lower()
            return f"{prefix}: {text}"

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LogFormatter())
    root = logging.getLogger("toolkit")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    root.propagate = False
    logging.captureWarnings(True)
    py_warnings = logging.getLogger("py.warnings")
    py_warnings.handlers[:] = [handler] if debug else [logging.NullHandler()]
    py_warnings.setLevel(logging.DEBUG if debug else logging.CRITICAL)
    py_warnings.propagate = False


class _ThenConfigure:
    """The loader of `logging`, followed by `configure(debug)` once the module has run."""

    def __init__(self, loader: object, debug: bool) -> None:
        self._loader = loader
        self._debug = debug

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)  # type: ignore[attr-defined,no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)  # type: ignore[attr-defined]
        configure(self._debug)

    def __getattr__(self, name: str) -> object:  # get_data, get_filename, ...: the real loader's
        return getattr(self._loader, name)


class _OnLoggingImport:
    """A `sys.meta_path` finder that only acts on the first import of `logging`."""

    def __init__(self, debug: bool) -> None:
        self.debug = debug

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name != "logging":
            return None
        remove_hooks()
        for finder in sys.meta_path:  # the finders that would have found it without us
            find_spec = getattr(finder, "find_spec", None)
            spec: ModuleSpec | None = find_spec(name, path, target) if find_spec is not None else None
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _ThenConfigure(spec.loader, self.debug)  # type: ignore[assignment]
                return spec
        return None


def remove_hooks() -> None:
    """Take out any finder `configure_on_import` installed (a later run configures anew)."""
    for finder in [f for f in sys.meta_path if isinstance(f, _OnLoggingImport)]:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(finder)


def configure_on_import(debug: bool) -> None:
    """`configure(debug)` now if `logging` is imported, else right after its first import;
    until then Python warnings are dropped without `--debug`, as `configure` has them."""
    remove_hooks()
    if "logging" in sys.modules:
        configure(debug)
        return
    sys.meta_path.insert(0, _OnLoggingImport(debug))
    if not debug:
        import warnings

        warnings.showwarning = _drop_warning  # configure's captureWarnings replaces it


def _drop_warning(*args: object, **kwargs: object) -> None:
    """A `warnings.showwarning` that shows nothing (a warning is a debug line: none without --debug)."""
