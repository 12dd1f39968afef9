"""skopo: copy, inspect, sign and verify container images without a container engine."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("skopo")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
