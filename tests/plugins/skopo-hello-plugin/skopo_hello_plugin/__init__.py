"""A test plugin for skopo: the `hello` command and the `hello:` transport."""
