"""The lexer of Go's `text/template` (delimiters `{{` `}}`), token for token.

It follows the state machine of Go's `text/template/parse/lex.go`: trim markers
(`{{- ` and ` -}}`, the space is required), comments (`{{/* ... */}}`), numbers as Go
scans them (validated later by the parser), quoted, raw and character constants, and the
same error texts (`unclosed action`, `bad character U+007B '{'`, ...). Positions are
character offsets into the input; lines are counted as Go counts them.
"""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass
from typing import Any

__all__ = ["ItemType", "Item", "lex", "KEYWORDS"]


class ItemType(enum.IntEnum):
    ERROR = 0
    BOOL = 1
    CHAR = 2
    CHAR_CONSTANT = 3
    COMMENT = 4
    COMPLEX = 5
    ASSIGN = 6
    DECLARE = 7
    EOF = 8
    FIELD = 9
    IDENTIFIER = 10
    LEFT_DELIM = 11
    LEFT_PAREN = 12
    NUMBER = 13
    PIPE = 14
    RAW_STRING = 15
    RIGHT_DELIM = 16
    RIGHT_PAREN = 17
    SPACE = 18
    STRING = 19
    TEXT = 20
    VARIABLE = 21
    KEYWORD = 22  # only delimits the keywords below
    BLOCK = 23
    BREAK = 24
    CONTINUE = 25
    DOT = 26
    DEFINE = 27
    ELSE = 28
    END = 29
    IF = 30
    NIL = 31
    RANGE = 32
    TEMPLATE = 33
    WITH = 34


KEYWORDS = {
    ".": ItemType.DOT,
    "block": ItemType.BLOCK,
    "break": ItemType.BREAK,
    "continue": ItemType.CONTINUE,
    "define": ItemType.DEFINE,
    "else": ItemType.ELSE,
    "end": ItemType.END,
    "if": ItemType.IF,
    "range": ItemType.RANGE,
    "nil": ItemType.NIL,
    "template": ItemType.TEMPLATE,
    "with": ItemType.WITH,
}


def _go_quote_prefix(s: str, limit: int | None) -> str:
    from toolkit.cli.gotemplate.gofmt import quote

    return quote(s if limit is None else s[:limit])


@dataclass(frozen=True, slots=True)
class Item:
    typ: ItemType
    pos: int
    val: str
    line: int

    def __str__(self) -> str:
        if self.typ is ItemType.EOF:
            return "EOF"
        if self.typ is ItemType.ERROR:
            return self.val
        if self.typ > ItemType.KEYWORD:
            return f"<{self.val}>"
        if len(self.val.encode("utf-8", "surrogateescape")) > 10:
            return _go_quote_prefix(self.val, 10) + "..."
        return _go_quote_prefix(self.val, None)


_SPACE = " \t\r\n"
_EOF = ""
LEFT_DELIM = "{{"
RIGHT_DELIM = "}}"
_LEFT_COMMENT = "/*"
_RIGHT_COMMENT = "*/"


def _is_space(r: str) -> bool:
    return r != "" and r in _SPACE


def _is_alnum(r: str) -> bool:
    if r == "_":
        return True
    if r == "":
        return False
    cat = unicodedata.category(r)
    return cat[0] == "L" or cat == "Nd"


def _has_left_trim(s: str) -> bool:
    return len(s) >= 2 and s[0] == "-" and _is_space(s[1])


def _has_right_trim(s: str) -> bool:
    return len(s) >= 2 and _is_space(s[0]) and s[1] == "-"


def _unicode_name(r: str) -> str:
    """Go's `%#U`: `U+007B '{'`."""
    from toolkit.cli.gotemplate.gofmt import is_print

    o = ord(r)
    text = f"U+{o:04X}"
    if is_print(o):
        text += f" '{r}'"
    return text


class _Lexer:
    def __init__(self, text: str, break_ok: bool, continue_ok: bool) -> None:
        self.input = text
        self.pos = 0
        self.start = 0
        self.at_eof = False
        self.items: list[Item] = []
        self.paren_depth = 0
        self.line = 1
        self.start_line = 1
        self.break_ok = break_ok
        self.continue_ok = continue_ok

    def next(self) -> str:
        if self.pos >= len(self.input):
            self.at_eof = True
            return _EOF
        r = self.input[self.pos]
        self.pos += 1
        if r == "\n":
            self.line += 1
        return r

    def peek(self) -> str:
        r = self.next()
        self.backup()
        return r

    def backup(self) -> None:
        if not self.at_eof and self.pos > 0:
            self.pos -= 1
            if self.input[self.pos] == "\n":
                self.line -= 1

    def emit(self, t: ItemType) -> None:
        self.items.append(Item(t, self.start, self.input[self.start : self.pos], self.start_line))
        self.start = self.pos
        self.start_line = self.line

    def ignore(self) -> None:
        self.line += self.input.count("\n", self.start, self.pos)
        self.start = self.pos
        self.start_line = self.line

    def accept(self, valid: str) -> bool:
        r = self.next()
        if r != "" and r in valid:
            return True
        self.backup()
        return False

    def accept_run(self, valid: str) -> None:
        while True:
            r = self.next()
            if r == "" or r not in valid:
                break
        self.backup()

    def errorf(self, message: str) -> None:
        self.items.append(Item(ItemType.ERROR, self.start, message, self.start_line))

    def run(self) -> list[Item]:
        state: Any = self.lex_text
        while state is not None:
            state = state()
        return self.items

    # -- states (each returns the next state, or None to stop) --

    def lex_text(self):  # type: ignore[no-untyped-def]
        x = self.input.find(LEFT_DELIM, self.pos)
        if x >= 0:
            ldn = len(LEFT_DELIM)
            self.pos = x
            trim_length = 0
            if _has_left_trim(self.input[self.pos + ldn :]):
                segment = self.input[self.start : self.pos]
                trim_length = len(segment) - len(segment.rstrip(_SPACE))
            self.pos -= trim_length
            if self.pos > self.start:
                self.line += self.input.count("\n", self.start, self.pos)
                self.emit(ItemType.TEXT)
            self.pos += trim_length
            self.ignore()
            return self.lex_left_delim
        self.pos = len(self.input)
        if self.pos > self.start:
            self.line += self.input.count("\n", self.start, self.pos)
            self.emit(ItemType.TEXT)
        self.emit(ItemType.EOF)
        return None

    def at_right_delim(self) -> tuple[bool, bool]:
        rest = self.input[self.pos :]
        if _has_right_trim(rest) and rest[2:].startswith(RIGHT_DELIM):
            return True, True
        if rest.startswith(RIGHT_DELIM):
            return True, False
        return False, False

    def lex_left_delim(self):  # type: ignore[no-untyped-def]
        self.pos += len(LEFT_DELIM)
        trim = _has_left_trim(self.input[self.pos :])
        after_marker = 2 if trim else 0
        if self.input.startswith(_LEFT_COMMENT, self.pos + after_marker):
            self.pos += after_marker
            self.ignore()
            return self.lex_comment
        self.emit(ItemType.LEFT_DELIM)
        self.pos += after_marker
        self.ignore()
        self.paren_depth = 0
        return self.lex_inside_action

    def lex_comment(self):  # type: ignore[no-untyped-def]
        self.pos += len(_LEFT_COMMENT)
        i = self.input.find(_RIGHT_COMMENT, self.pos)
        if i < 0:
            self.errorf("unclosed comment")
            return None
        self.pos = i + len(_RIGHT_COMMENT)
        delim, trim = self.at_right_delim()
        if not delim:
            self.errorf("comment ends before closing delimiter")
            return None
        if trim:
            self.pos += 2
        self.pos += len(RIGHT_DELIM)
        if trim:
            rest = self.input[self.pos :]
            self.pos += len(rest) - len(rest.lstrip(_SPACE))
        self.ignore()
        return self.lex_text

    def lex_right_delim(self):  # type: ignore[no-untyped-def]
        trim = _has_right_trim(self.input[self.pos :])
        if trim:
            self.pos += 2
            self.ignore()
        self.pos += len(RIGHT_DELIM)
        self.emit(ItemType.RIGHT_DELIM)
        if trim:
            rest = self.input[self.pos :]
            self.pos += len(rest) - len(rest.lstrip(_SPACE))
            self.ignore()
        return self.lex_text

    def lex_inside_action(self):  # type: ignore[no-untyped-def]
        delim, _ = self.at_right_delim()
        if delim:
            if self.paren_depth == 0:
                return self.lex_right_delim
            self.errorf("unclosed left paren")
            return None
        r = self.next()
        if r == _EOF:
            self.errorf("unclosed action")
            return None
        if _is_space(r):
            self.backup()
            return self.lex_space
        if r == "=":
            self.emit(ItemType.ASSIGN)
        elif r == ":":
            if self.next() != "=":
                self.errorf("expected :=")
                return None
            self.emit(ItemType.DECLARE)
        elif r == "|":
            self.emit(ItemType.PIPE)
        elif r == '"':
            return self.lex_quote
        elif r == "`":
            return self.lex_raw_quote
        elif r == "$":
            return self.lex_variable
        elif r == "'":
            return self.lex_char
        elif r == "." and self.pos < len(self.input) and not ("0" <= self.input[self.pos] <= "9"):
            return self.lex_field
        elif r in ".+-" or "0" <= r <= "9":
            self.backup()
            return self.lex_number
        elif _is_alnum(r):
            self.backup()
            return self.lex_identifier
        elif r == "(":
            self.emit(ItemType.LEFT_PAREN)
            self.paren_depth += 1
        elif r == ")":
            self.emit(ItemType.RIGHT_PAREN)
            self.paren_depth -= 1
            if self.paren_depth < 0:
                self.errorf(f"unexpected right paren {_unicode_name(r)}")
                return None
        elif ord(r) <= 0x7F and r.isprintable():
            self.emit(ItemType.CHAR)
        else:
            self.errorf(f"unrecognized character in action: {_unicode_name(r)}")
            return None
        return self.lex_inside_action

    def lex_space(self):  # type: ignore[no-untyped-def]
        num_spaces = 0
        while True:
            r = self.peek()
            if not _is_space(r):
                break
            self.next()
            num_spaces += 1
        rest = self.input[self.pos - 1 :]
        if _has_right_trim(rest) and rest[2:].startswith(RIGHT_DELIM):
            self.backup()
            if num_spaces == 1:
                return self.lex_right_delim
        self.emit(ItemType.SPACE)
        return self.lex_inside_action

    def lex_identifier(self):  # type: ignore[no-untyped-def]
        while True:
            r = self.next()
            if _is_alnum(r):
                continue
            self.backup()
            word = self.input[self.start : self.pos]
            if not self.at_terminator():
                self.errorf(f"bad character {_unicode_name(r)}")
                return None
            item = KEYWORDS.get(word)
            if item is not None and item > ItemType.KEYWORD:
                if (item is ItemType.BREAK and not self.break_ok) or (
                    item is ItemType.CONTINUE and not self.continue_ok
                ):
                    self.emit(ItemType.IDENTIFIER)
                else:
                    self.emit(item)
            elif word[0] == ".":
                self.emit(ItemType.FIELD)
            elif word in ("true", "false"):
                self.emit(ItemType.BOOL)
            else:
                self.emit(ItemType.IDENTIFIER)
            return self.lex_inside_action

    def lex_field(self):  # type: ignore[no-untyped-def]
        return self.lex_field_or_variable(ItemType.FIELD)

    def lex_variable(self):  # type: ignore[no-untyped-def]
        if self.at_terminator():
            self.emit(ItemType.VARIABLE)
            return self.lex_inside_action
        return self.lex_field_or_variable(ItemType.VARIABLE)

    def lex_field_or_variable(self, typ: ItemType):  # type: ignore[no-untyped-def]
        if self.at_terminator():
            self.emit(ItemType.VARIABLE if typ is ItemType.VARIABLE else ItemType.DOT)
            return self.lex_inside_action
        while True:
            r = self.next()
            if not _is_alnum(r):
                self.backup()
                break
        if not self.at_terminator():
            self.errorf(f"bad character {_unicode_name(r)}")
            return None
        self.emit(typ)
        return self.lex_inside_action

    def at_terminator(self) -> bool:
        r = self.peek()
        if _is_space(r):
            return True
        if r == _EOF or r in ".,|:)(":
            return True
        return self.input.startswith(RIGHT_DELIM, self.pos)

    def lex_char(self):  # type: ignore[no-untyped-def]
        return self.lex_quoted("'", ItemType.CHAR_CONSTANT, "unterminated character constant")

    def lex_number(self):  # type: ignore[no-untyped-def]
        if not self.scan_number():
            self.errorf(f"bad number syntax: {_go_quote_prefix(self.input[self.start : self.pos], None)}")
            return None
        sign = self.peek()
        if sign in ("+", "-"):
            if not self.scan_number() or self.input[self.pos - 1] != "i":
                self.errorf(f"bad number syntax: {_go_quote_prefix(self.input[self.start : self.pos], None)}")
                return None
            self.emit(ItemType.COMPLEX)
        else:
            self.emit(ItemType.NUMBER)
        return self.lex_inside_action

    def scan_number(self) -> bool:
        self.accept("+-")
        digits = "0123456789_"
        if self.accept("0"):
            if self.accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self.accept("oO"):
                digits = "01234567_"
            elif self.accept("bB"):
                digits = "01_"
        self.accept_run(digits)
        if self.accept("."):
            self.accept_run(digits)
        if len(digits) == 10 + 1 and self.accept("eE"):
            self.accept("+-")
            self.accept_run("0123456789_")
        if len(digits) == 16 + 6 + 1 and self.accept("pP"):
            self.accept("+-")
            self.accept_run("0123456789_")
        self.accept("i")
        if _is_alnum(self.peek()):
            self.next()
            return False
        return True

    def lex_quote(self):  # type: ignore[no-untyped-def]
        return self.lex_quoted('"', ItemType.STRING, "unterminated quoted string")

    def lex_quoted(self, quote: str, item: ItemType, unterminated: str):  # type: ignore[no-untyped-def]
        """A quoted string or character constant (the opening quote is scanned); the parser
        checks the escapes."""
        while True:
            r = self.next()
            if r == "\\":
                if self.next() not in (_EOF, "\n"):
                    continue
                self.errorf(unterminated)
                return None
            if r in (_EOF, "\n"):
                self.errorf(unterminated)
                return None
            if r == quote:
                break
        self.emit(item)
        return self.lex_inside_action

    def lex_raw_quote(self):  # type: ignore[no-untyped-def]
        while True:
            r = self.next()
            if r == _EOF:
                self.errorf("unterminated raw quoted string")
                return None
            if r == "`":
                break
        self.emit(ItemType.RAW_STRING)
        return self.lex_inside_action


def lex(text: str, *, break_ok: bool = True, continue_ok: bool = True) -> list[Item]:
    """All items of `text`, ending with EOF or with the first ERROR item."""
    return _Lexer(text, break_ok, continue_ok).run()
