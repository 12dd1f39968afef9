"""`--debug` lines said once per process.

Configuration files and credentials are looked up once per image end (and per image in
`sync`), but `--debug` should explain each choice once, not repeat it for every lookup.
Only the message and its arguments are remembered, never anything else; arguments must be
hashable and already safe to print (callers pass `safe_text(...)` for untrusted text).
"""

from __future__ import annotations

import logging

__all__ = ["debug_once"]

#: What has been said; bounded so a long `sync` cannot grow it without end.
_SAID: set[tuple[object, ...]] = set()
_MAX_REMEMBERED = 4096


def debug_once(logger: logging.Logger, message: str, *args: object) -> None:
    """Log `message % args` at DEBUG on `logger` unless that exact line was already logged.

    Does nothing (and remembers nothing) when DEBUG is not enabled for `logger`.
    """
    if not logger.isEnabledFor(logging.DEBUG):
        return
    key = (logger.name, message, *args)
    if key in _SAID:
        return
    if len(_SAID) < _MAX_REMEMBERED:
        _SAID.add(key)
    logger.debug(message, *args)
