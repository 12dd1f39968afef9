"""A test plugin whose `broken` command points at a module that does not exist."""
