"""Is the `toolkit` package on `sys.path` really skopo's? (checked once at CLI start-up)

The import name `toolkit` is generic: another distribution that ships a `toolkit/`
package installs its files over skopo's, and pip says nothing. Its `toolkit/__init__.py`
then replaces skopo's, and the imported package lacks skopo's `__skopo__` marker.
`check()`, called by `toolkit.cli.app.main` before anything else, is the cheap test that
runs on every start (one attribute read; this module is a few lines); only when it fails
is the installed metadata searched for the culprit (slow, but then skopo cannot run
anyway), so that the one-line error names it.

Not covered: a `toolkit` package of another distribution on an *earlier* `sys.path`
entry hides all of skopo's files, so the console script fails to import
`toolkit.cli.app` before any skopo code runs.
"""

from __future__ import annotations

import sys

__all__ = ["DISTRIBUTION", "check", "conflict_message"]

#: The distribution that owns the `toolkit` package.
DISTRIBUTION = "skopo"


def check() -> str | None:
    """None if `toolkit` is skopo's package; else the one-line message to print."""
    package = sys.modules.get("toolkit")
    if package is not None and getattr(package, "__skopo__", None) == DISTRIBUTION:
        return None
    return conflict_message()


def conflict_message() -> str:
    """Name the other distribution(s) that installed a `toolkit` package, and the fix."""
    from importlib.metadata import packages_distributions

    package = sys.modules.get("toolkit")
    where = getattr(package, "__file__", None) or "?"
    others = sorted({name for name in packages_distributions().get("toolkit", []) if name.lower() != DISTRIBUTION})
    if others:
        return (
            f'the Python package "toolkit" ({where}) is not skopo\'s: it was overwritten by the distribution '
            + ", ".join(f'"{name}"' for name in others)
            + f", which also installs a toolkit/ package; run pip uninstall {' '.join(others)}, then reinstall "
            "skopo (pip install --force-reinstall skopo)"
        )
    return (
        f'the Python package "toolkit" ({where}) is not skopo\'s (its __init__.py was replaced or removed); '
        "reinstall skopo (pip install --force-reinstall skopo)"
    )
