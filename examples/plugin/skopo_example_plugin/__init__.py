"""An example skopo plugin: the `example-layers` command and the `example-dir:` transport.

Both are found by skopo through the entry points declared in this package's pyproject.toml;
nothing in skopo names them.
"""
