"""Decoding a proxy request the way Go's `json.Unmarshal` into `{Method string; Args []any}` does.

The packet is untrusted. What Go accepts is accepted (unknown keys ignored, key names
matched case-insensitively, `null` for either field, invalid UTF-8 replaced by U+FFFD), and
what Go refuses is refused with Go's text, so clients see the error messages of skopeo's
proxy:

- syntax errors from Go's scanner: `invalid character 'o' in literal null (expecting 'u')`,
  `unexpected end of JSON input`, `invalid character '}' after array element`, ...;
- type errors: `json: cannot unmarshal number into Go struct field request.method of type
  string`, `json: cannot unmarshal string into Go value of type jsonproxy.request`.

Argument values come back as Python values standing for Go's: numbers as `float`, then
`str`, `bool`, `None`, `list`, `dict`; `go_type_name` gives their Go `%T`.
"""

from __future__ import annotations

import json
from typing import Any

from toolkit.manifest.gojson import fold_equal

__all__ = ["RequestError", "decode_request", "go_type_name"]


class RequestError(Exception):
    """The packet is not a request (Go's error text)."""


def _go_char(c: int) -> str:
    """The scanner's quoteChar: the byte as a quoted Go rune literal."""
    if c == 0x27:
        return "'\\''"
    if c == 0x22:
        return "'\"'"
    ch = chr(c)  # Go converts the byte to the rune of the same value
    if ch == "\\":
        body = "\\\\"
    elif 0x20 <= c < 0x7F or (c >= 0xA1 and c != 0xAD):
        body = ch
    else:
        short = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v"}.get(c)
        body = short if short is not None else f"\\x{c:02x}" if c < 0x80 else f"\\u{c:04x}"
    return "'" + body + "'"


_SPACE = b" \t\r\n"


class _Scanner:
    """Go's encoding/json scanner, reduced to what reports the first syntax error."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.i = 0

    def fail(self, context: str, *, space_is_error: bool = False) -> RequestError:
        """The error at the current byte. At the end of the input Go's scanner feeds a space:
        where a space is an error too, that space is what it reports."""
        if self.i >= len(self.data):
            if space_is_error:
                return RequestError(f"invalid character ' ' {context}")
            return RequestError("unexpected end of JSON input")
        return RequestError(f"invalid character {_go_char(self.data[self.i])} {context}")

    def skip_space(self) -> None:
        while self.i < len(self.data) and self.data[self.i] in _SPACE:
            self.i += 1

    def peek(self) -> int:
        return self.data[self.i] if self.i < len(self.data) else -1

    def value(self) -> None:
        self.skip_space()
        c = self.peek()
        if c == ord("{"):
            self.i += 1
            self.obj()
        elif c == ord("["):
            self.i += 1
            self.array()
        elif c == ord('"'):
            self.i += 1
            self.string()
        elif c == ord("-") or ord("0") <= c <= ord("9"):
            self.number()
        elif c in (ord("t"), ord("f"), ord("n")):
            self.literal()
        else:
            raise self.fail("looking for beginning of value")

    def obj(self) -> None:
        self.skip_space()
        if self.peek() == ord("}"):
            self.i += 1
            return
        while True:
            self.skip_space()
            if self.peek() != ord('"'):
                raise self.fail("looking for beginning of object key string")
            self.i += 1
            self.string()
            self.skip_space()
            if self.peek() != ord(":"):
                raise self.fail("after object key")
            self.i += 1
            self.value()
            if self.end_of_container(ord("}"), "after object key:value pair"):
                return

    def array(self) -> None:
        self.skip_space()
        if self.peek() == ord("]"):
            self.i += 1
            return
        while True:
            self.value()
            if self.end_of_container(ord("]"), "after array element"):
                return

    def end_of_container(self, closer: int, context: str) -> bool:
        """After a member: a comma (False: another one follows) or `closer` (True: done)."""
        self.skip_space()
        c = self.peek()
        self.i += 1
        if c == ord(","):
            return False
        if c == closer:
            return True
        self.i -= 1
        raise self.fail(context)

    def string(self) -> None:
        while True:
            c = self.peek()
            if c < 0:
                raise self.fail("")
            if c == ord('"'):
                self.i += 1
                return
            if c == ord("\\"):
                self.i += 1
                e = self.peek()
                if e < 0:
                    raise self.fail("in string escape code", space_is_error=True)
                if e in b'"\\/bfnrt':
                    self.i += 1
                elif e == ord("u"):
                    self.i += 1
                    for _ in range(4):
                        h = self.peek()
                        if h < 0:
                            raise self.fail("in \\u hexadecimal character escape", space_is_error=True)
                        if h not in b"0123456789abcdefABCDEF":
                            raise self.fail("in \\u hexadecimal character escape")
                        self.i += 1
                else:
                    raise self.fail("in string escape code")
                continue
            if c < 0x20:
                raise self.fail("in string literal")
            self.i += 1

    def digits(self) -> int:
        start = self.i
        while ord("0") <= self.peek() <= ord("9"):
            self.i += 1
        return self.i - start

    def number(self) -> None:
        if self.peek() == ord("-"):
            self.i += 1
            if not ord("0") <= self.peek() <= ord("9"):
                raise self.fail("in numeric literal", space_is_error=True)
        if self.peek() == ord("0"):
            self.i += 1
        else:
            self.digits()
        if self.peek() == ord("."):
            self.i += 1
            if not self.digits():
                raise self.fail("after decimal point in numeric literal", space_is_error=True)
        if self.peek() in (ord("e"), ord("E")):
            self.i += 1
            if self.peek() in (ord("+"), ord("-")):
                self.i += 1
            if not self.digits():
                raise self.fail("in exponent of numeric literal", space_is_error=True)

    def literal(self) -> None:
        word = {ord("t"): b"true", ord("f"): b"false", ord("n"): b"null"}[self.peek()]
        self.i += 1
        for expected in word[1:]:
            if self.peek() != expected:
                raise self.fail(f"in literal {word.decode()} (expecting {_go_char(expected)})", space_is_error=True)
            self.i += 1

    def check(self) -> None:
        self.value()
        self.skip_space()
        if self.i < len(self.data):
            raise self.fail("after top-level value")


def _clean(value: Any) -> Any:
    """Go's view of a decoded value: numbers as float, lone surrogates as U+FFFD."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8") if any(
            0xD800 <= ord(c) <= 0xDFFF for c in value) else value
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    return value


_JSON_KIND = {str: "string", bool: "bool", list: "array", dict: "object", float: "number", int: "number"}


def _kind(value: Any) -> str:
    return _JSON_KIND.get(type(value), "null")


class _OverflowError(Exception):
    def __init__(self, text: str) -> None:
        self.text = text


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _OverflowError(text)
    return value


def _parse_int(text: str) -> float:
    return _parse_float(text)


def decode_request(packet: bytes) -> tuple[str, list[Any]]:
    """(method, args) of one request packet; raises `RequestError` with Go's message."""
    _Scanner(packet).check()
    try:
        doc = json.loads(packet.decode("utf-8", "replace"), parse_float=_parse_float, parse_int=_parse_int)
    except _OverflowError as exc:
        raise RequestError(f"json: cannot unmarshal number {exc.text} into Go struct field request.args "
                           "of type float64") from None
    except (ValueError, RecursionError) as exc:
        raise RequestError(f"invalid request JSON: {exc}") from None
    if doc is None:
        return "", []
    if not isinstance(doc, dict):
        raise RequestError(f"json: cannot unmarshal {_kind(doc)} into Go value of type jsonproxy.request")
    method: Any = None
    args: Any = None
    method_seen = args_seen = False
    for key, value in doc.items():
        if fold_equal(key, "method"):
            method, method_seen = value, True
        elif fold_equal(key, "args"):
            args, args_seen = value, True
    error: str | None = None
    if method_seen and method is not None and not isinstance(method, str):
        error = (f"json: cannot unmarshal {_kind(method)} into Go struct field request.method of type string")
    if args_seen and args is not None and not isinstance(args, list):
        error = error or (f"json: cannot unmarshal {_kind(args)} into Go struct field request.args of type "
                          "[]interface {}")
    if error is not None:
        raise RequestError(error)
    return _clean(method) if isinstance(method, str) else "", _clean(args) if isinstance(args, list) else []


def go_type_name(value: Any) -> str:
    """Go's `%T` of a decoded JSON value."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "[]interface {}"
    return "map[string]interface {}"
