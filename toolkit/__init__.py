"""skopo: copy, inspect, sign and verify container images without a container engine."""

from typing import Any


def __getattr__(name: str) -> Any:
    # `__version__` is looked up in the installed metadata on first use only: that lookup
    # scans every installed distribution, which most commands never need.
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("skopo")
    except PackageNotFoundError:  # running from a source tree that is not installed
        found = "0.0.0+unknown"
    globals()["__version__"] = found
    return found
