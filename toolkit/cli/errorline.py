"""The one line a fatal error prints on stderr, in the form a reader of skopeo's output expects.

skopeo reports a fatal error through logrus's text formatter. When stderr is not a
terminal (a log, a pipe, a script capturing it) that is

    time="2026-12-02T16:40:00Z" level=fatal msg="Error parsing image name ..."

the time in RFC 3339 (local time, `Z` for UTC), the message quoted as Go's `%q` quotes it
whenever it holds anything besides `[A-Za-z0-9-._/@^+]`, and no `msg` field at all for an
empty message. Scripts that parse skopeo's stderr (`grep level=fatal`, a logfmt parser) keep
working with skopo. On a terminal skopo prints the friendlier `Error: MESSAGE` instead
(skopeo prints a coloured `FATA[0000] MESSAGE` there).

`fatal_line` builds the line, `print_fatal` writes it. `go_quote` and `unquote_go` are the
quoting and its inverse (the tests read the message back with the latter).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["fatal_line", "go_quote", "logfmt_time", "print_fatal", "unquote_go"]

_BARE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._/@^+")
_ESCAPES = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t", "\v": r"\v",
            "\\": "\\\\", '"': '\\"'}
_UNESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
              "\\": "\\", '"': '"', "'": "'"}


def go_quote(text: str) -> str:
    """`text` as Go's `strconv.Quote` writes it: in double quotes, `\\"` and `\\\\` escaped,
    the C escapes for control characters that have one, `\\xNN` for other ASCII controls,
    `\\uNNNN`/`\\UNNNNNNNN` for non-printable code points; printable Unicode as it is.
    Lone surrogates (undecodable bytes kept by `surrogateescape`) become `\\xNN` as Go
    writes an invalid UTF-8 byte."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch == " " or (ch.isprintable() and not 0xD800 <= code <= 0xDFFF):
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def unquote_go(quoted: str) -> str:
    """The inverse of `go_quote` for a complete quoted string (also a bare logfmt value,
    returned as it is). Raises `ValueError` on a malformed string."""
    if not quoted.startswith('"'):
        if any(ch not in _BARE for ch in quoted):
            raise ValueError(f"not a bare logfmt value: {quoted!r}")
        return quoted
    if len(quoted) < 2 or not quoted.endswith('"'):
        raise ValueError(f"unterminated quoted string: {quoted!r}")
    body, out, i = quoted[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch == '"':
            raise ValueError(f"unescaped quote in {quoted!r}")
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        kind = body[i + 1 : i + 2]
        if kind in _UNESCAPES:
            out.append(_UNESCAPES[kind])
            i += 2
            continue
        width = {"x": 2, "u": 4, "U": 8}.get(kind)
        digits = body[i + 2 : i + 2 + width] if width else ""
        if width is None or len(digits) != width:
            raise ValueError(f"bad escape at {i} in {quoted!r}")
        code = int(digits, 16)
        out.append(chr(0xDC00 + code) if kind == "x" and code >= 0x80 else chr(code))
        i += 2 + width
    return "".join(out)


def logfmt_time(now: float | None = None) -> str:
    """`now` (default: the current time) as Go's `time.RFC3339` in local time:
    `2026-12-02T16:40:00Z`, or `...T17:40:00+01:00` east of UTC."""
    stamp = time.localtime(time.time() if now is None else now)
    offset = stamp.tm_gmtoff or 0
    if offset == 0:
        zone = "Z"
    else:
        sign = "+" if offset > 0 else "-"
        minutes = abs(offset) // 60
        zone = f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    return time.strftime("%Y-%m-%dT%H:%M:%S", stamp) + zone


def fatal_line(message: str, *, terminal: bool, now: float | None = None) -> str:
    """The line (with its newline) that reports the fatal error `message`.

    `terminal`: `Error: MESSAGE`. Otherwise logrus's text form (see the module doc).
    `message` is expected to be one line already made safe (`safe_text`); a line break
    in it is quoted as `\\n` in the log form, so the result is always one line there.
    """
    if terminal:
        return f"Error: {message}\n"
    fields = [f"time={go_quote(logfmt_time(now))}", "level=fatal"]
    if message:
        bare = all(ch in _BARE for ch in message)
        fields.append(f"msg={message if bare else go_quote(message)}")
    return " ".join(fields) + "\n"


def print_fatal(message: str, stream: TextIO | None = None) -> None:
    """Write `fatal_line(message)` to `stream` (default stderr), in the form its kind calls for."""
    out = stream if stream is not None else sys.stderr
    try:
        terminal = out.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream: the log form
        terminal = False
    out.write(fatal_line(message, terminal=terminal))
