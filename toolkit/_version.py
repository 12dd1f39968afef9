"""skopo's version: the one place it is written (`pyproject.toml` reads it from here).

A constant, not a lookup in the installed metadata: `importlib.metadata` costs ~10 ms of
imports and a scan of every installed distribution, on every `--version` and every
registry request's User-Agent.
"""

__version__ = "0.1.0"
