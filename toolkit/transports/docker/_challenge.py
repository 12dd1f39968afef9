"""`WWW-Authenticate` parsing (RFC 7235), robust against hostile input.

`parse_challenges(values)` returns every challenge of every header value, scheme
lower-cased, parameter names lower-cased. Malformed parts are skipped, never raised on;
input is capped (8 KiB per header, 32 parameters per challenge) so a hostile registry
cannot make parsing slow. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["Challenge", "parse_challenges", "parse_one"]

_MAX_HEADER = 8192
_MAX_PARAMS = 32
_TCHAR = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass(frozen=True, slots=True)
class Challenge:
    """One auth challenge: `scheme` ("basic", "bearer", ...) and its parameters."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)


class _Lexer:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def skip_ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in " \t":
            self.i += 1

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def token(self) -> str:
        start = self.i
        while self.i < len(self.s) and self.s[self.i] in _TCHAR:
            self.i += 1
        return self.s[start : self.i]

    def token68(self) -> str:
        start = self.i
        while self.i < len(self.s) and (self.s[self.i] in _TCHAR or self.s[self.i] in "/="):
            self.i += 1
        return self.s[start : self.i]

    def quoted(self) -> str | None:
        # At an opening quote.
        self.i += 1
        out: list[str] = []
        while self.i < len(self.s):
            c = self.s[self.i]
            if c == "\\" and self.i + 1 < len(self.s):
                out.append(self.s[self.i + 1])
                self.i += 2
                continue
            if c == '"':
                self.i += 1
                return "".join(out)
            out.append(c)
            self.i += 1
        return None  # unterminated


def _is_param_ahead(lex: _Lexer) -> bool:
    """True if the lexer is at `token =` (a parameter, not a new challenge)."""
    save = lex.i
    name = lex.token()
    lex.skip_ws()
    ok = bool(name) and lex.peek() == "="
    lex.i = save
    return ok


def parse_one(value: str) -> list[Challenge]:
    """All challenges in one header value."""
    lex = _Lexer(value[:_MAX_HEADER])
    out: list[Challenge] = []
    while True:
        while lex.peek() in (" ", "\t", ","):
            lex.i += 1
        if not lex.peek():
            return out
        scheme = lex.token()
        if not scheme:
            # Garbage: skip to the next comma.
            while lex.peek() and lex.peek() != ",":
                lex.i += 1
            continue
        params: dict[str, str] = {}
        lex.skip_ws()
        # token68 form (e.g. "Negotiate abc=="): not used by registries; skip it.
        if lex.peek() and lex.peek() != "," and not _is_param_ahead(lex):
            lex.token68()
        while True:
            lex.skip_ws()
            while lex.peek() == ",":
                lex.i += 1
                lex.skip_ws()
            if not lex.peek() or not _is_param_ahead(lex):
                break
            name = lex.token().lower()
            lex.skip_ws()
            lex.i += 1  # "="
            lex.skip_ws()
            if lex.peek() == '"':
                val = lex.quoted()
                if val is None:
                    break
            else:
                val = lex.token()
            if len(params) < _MAX_PARAMS and name not in params:
                params[name] = val
        out.append(Challenge(scheme.lower(), params))


def parse_challenges(values: Iterable[str]) -> list[Challenge]:
    """Every challenge in every `WWW-Authenticate` header value."""
    out: list[Challenge] = []
    for value in values:
        out.extend(parse_one(value))
    return out
