"""The parser of Go's `text/template`: nodes and `parse_trees`, as `text/template/parse`.

The grammar, the three-token look-ahead and every error text are Go's
(`template: NAME:LINE: MSG`), so a bad template fails here with the message skopeo prints.
Node `str()` gives Go's `Node.String()` (used in execution errors: `at <.Foo>`).

Beyond Go 1.19, two later additions that skopeo main (built with Go 1.25) accepts:
`{{else with PIPELINE}}` (Go 1.23) and ranging over an integer (Go 1.24, in `exec`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from toolkit.cli.gotemplate.lexer import Item, ItemType, lex

__all__ = [
    "ParseError",
    "Node",
    "ListNode",
    "TextNode",
    "CommentNode",
    "ActionNode",
    "PipeNode",
    "CommandNode",
    "IdentifierNode",
    "VariableNode",
    "DotNode",
    "NilNode",
    "FieldNode",
    "ChainNode",
    "BoolNode",
    "NumberNode",
    "StringNode",
    "IfNode",
    "RangeNode",
    "WithNode",
    "TemplateNode",
    "BreakNode",
    "ContinueNode",
    "Tree",
    "parse_trees",
]


class ParseError(Exception):
    """A template that does not parse; `str()` is Go's error text."""


@dataclass(eq=False)
class Node:
    pos: int
    tree: Tree | None = field(default=None, repr=False)

    def __str__(self) -> str:  # pragma: no cover - every node overrides
        raise NotImplementedError


@dataclass(eq=False)
class ListNode(Node):
    nodes: list[Node] = field(default_factory=list)

    def __str__(self) -> str:
        return "".join(str(n) for n in self.nodes)


@dataclass(eq=False)
class TextNode(Node):
    text: str = ""

    def __str__(self) -> str:
        return self.text


@dataclass(eq=False)
class CommentNode(Node):
    text: str = ""

    def __str__(self) -> str:
        return "{{" + self.text + "}}"


@dataclass(eq=False)
class VariableNode(Node):
    ident: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return ".".join(self.ident)


@dataclass(eq=False)
class CommandNode(Node):
    args: list[Node] = field(default_factory=list)

    def __str__(self) -> str:
        parts = []
        for arg in self.args:
            parts.append(f"({arg})" if isinstance(arg, PipeNode) else str(arg))
        return " ".join(parts)


@dataclass(eq=False)
class PipeNode(Node):
    line: int = 0
    is_assign: bool = False
    decl: list[VariableNode] = field(default_factory=list)
    cmds: list[CommandNode] = field(default_factory=list)

    def __str__(self) -> str:
        text = ""
        if self.decl:
            text = ", ".join(str(v) for v in self.decl) + " := "
        return text + " | ".join(str(c) for c in self.cmds)


@dataclass(eq=False)
class ActionNode(Node):
    line: int = 0
    pipe: PipeNode | None = None

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


@dataclass(eq=False)
class IdentifierNode(Node):
    ident: str = ""

    def __str__(self) -> str:
        return self.ident


@dataclass(eq=False)
class DotNode(Node):
    def __str__(self) -> str:
        return "."


@dataclass(eq=False)
class NilNode(Node):
    def __str__(self) -> str:
        return "nil"


@dataclass(eq=False)
class FieldNode(Node):
    ident: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "".join("." + i for i in self.ident)


@dataclass(eq=False)
class ChainNode(Node):
    node: Node | None = None
    field_names: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        head = f"({self.node})" if isinstance(self.node, PipeNode) else str(self.node)
        return head + "".join("." + f for f in self.field_names)


@dataclass(eq=False)
class BoolNode(Node):
    true: bool = False

    def __str__(self) -> str:
        return "true" if self.true else "false"


@dataclass(eq=False)
class NumberNode(Node):
    is_int: bool = False
    is_uint: bool = False
    is_float: bool = False
    is_complex: bool = False
    int64: int = 0
    uint64: int = 0
    float64: float = 0.0
    complex128: complex = 0j
    text: str = ""

    def __str__(self) -> str:
        return self.text


@dataclass(eq=False)
class StringNode(Node):
    quoted: str = ""
    text: str = ""

    def __str__(self) -> str:
        return self.quoted


@dataclass(eq=False)
class _EndNode(Node):
    def __str__(self) -> str:
        return "{{end}}"


@dataclass(eq=False)
class _ElseNode(Node):
    line: int = 0

    def __str__(self) -> str:
        return "{{else}}"


@dataclass(eq=False)
class BranchNode(Node):
    line: int = 0
    pipe: PipeNode | None = None
    list: ListNode | None = None
    else_list: ListNode | None = None
    keyword: str = ""

    def __str__(self) -> str:
        text = "{{" + self.keyword + " " + str(self.pipe) + "}}" + str(self.list)
        if self.else_list is not None:
            text += "{{else}}" + str(self.else_list)
        return text + "{{end}}"


@dataclass(eq=False)
class IfNode(BranchNode):
    keyword: str = "if"


@dataclass(eq=False)
class RangeNode(BranchNode):
    keyword: str = "range"


@dataclass(eq=False)
class WithNode(BranchNode):
    keyword: str = "with"


@dataclass(eq=False)
class TemplateNode(Node):
    line: int = 0
    name: str = ""
    pipe: PipeNode | None = None

    def __str__(self) -> str:
        from toolkit.cli.gotemplate.gofmt import quote

        text = "{{template " + quote(self.name)
        if self.pipe is not None:
            text += " " + str(self.pipe)
        return text + "}}"


@dataclass(eq=False)
class BreakNode(Node):
    line: int = 0

    def __str__(self) -> str:
        return "{{break}}"


@dataclass(eq=False)
class ContinueNode(Node):
    line: int = 0

    def __str__(self) -> str:
        return "{{continue}}"


def unquote(text: str) -> str:
    """Go's `strconv.Unquote` for "..." and `...` literals (the lexer made sure they close);
    raises ValueError on a bad escape (`invalid syntax`)."""
    if text.startswith("`"):
        if len(text) < 2 or not text.endswith("`"):
            raise ValueError("invalid syntax")
        return text[1:-1].replace("\r", "")
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise ValueError("invalid syntax")
    out: list[str] = []
    body = text[1:-1]
    i = 0
    while i < len(body):
        value, i = _unquote_char(body, i, '"')
        out.append(value)
    return "".join(out)


_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}


def _unquote_char(s: str, i: int, quote_char: str) -> tuple[str, int]:
    """One (possibly escaped) character of a quoted literal: (its Go string payload, next index)."""
    from toolkit.cli.gotemplate.values import from_bytes

    c = s[i]
    if c == quote_char and quote_char in "'\"":
        raise ValueError("invalid syntax")
    if c != "\\":
        return c, i + 1
    if i + 1 >= len(s):
        raise ValueError("invalid syntax")
    e = s[i + 1]
    if e in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[e], i + 2
    if e == quote_char or (e == "'" and quote_char == "'") or (e == '"' and quote_char == '"'):
        return e, i + 2
    if e in "xuU":
        n = {"x": 2, "u": 4, "U": 8}[e]
        digits = s[i + 2 : i + 2 + n]
        if len(digits) != n or any(d not in "0123456789abcdefABCDEF" for d in digits):
            raise ValueError("invalid syntax")
        v = int(digits, 16)
        if e == "x":
            if quote_char == "'":
                return chr(v), i + 2 + n
            return from_bytes(bytes([v])), i + 2 + n
        if v > 0x10FFFF or 0xD800 <= v <= 0xDFFF:
            raise ValueError("invalid syntax")
        return chr(v), i + 2 + n
    if e in "01234567":
        digits = s[i + 1 : i + 4]
        if len(digits) != 3 or any(d not in "01234567" for d in digits):
            raise ValueError("invalid syntax")
        v = int(digits, 8)
        if v > 255:
            raise ValueError("invalid syntax")
        if quote_char == "'":
            return chr(v), i + 4
        return from_bytes(bytes([v])), i + 4
    raise ValueError("invalid syntax")


def _parse_go_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 64) without the range check (None if not an integer literal)."""
    s = text
    neg = False
    if s[:1] in ("+", "-"):
        neg = s[0] == "-"
        s = s[1:]
    if len(s) > 1 and s[0] == "0" and s[1] not in "xXoObB":
        body = s[1:]  # legacy octal: 0 is the base prefix, "0_7" is allowed
        if not body or body.endswith("_") or "__" in body or any(c not in "01234567_" for c in body):
            return None
        value = int(body.replace("_", ""), 8)
    else:
        try:
            value = int(s, 0)
        except ValueError:
            return None
    return -value if neg else value


def _parse_go_float(text: str) -> float | None:
    s = text.replace("_", "") if "_" in text else text
    try:
        if s.lower().lstrip("+-").startswith("0x"):
            sign = -1.0 if s.startswith("-") else 1.0
            body = s.lstrip("+-")
            if "p" not in body.lower():
                return None
            return sign * float.fromhex(body)
        if s.lower().lstrip("+-") in ("inf", "infinity", "nan"):
            return None
        value = float(s)
    except ValueError:
        return None
    return value


def _make_number(pos: int, text: str, typ: ItemType, tree: Tree) -> NumberNode:
    n = NumberNode(pos, tree, text=text)
    if typ is ItemType.CHAR_CONSTANT:
        if len(text) < 3 or text[0] != "'":
            raise ParseError(f"malformed character constant: {text}")
        try:
            ch, j = _unquote_char(text[1:], 0, "'")
        except ValueError:
            raise ParseError("invalid syntax") from None
        if text[1 + j :] != "'":
            raise ParseError(f"malformed character constant: {text}")
        r = ord(ch) if len(ch) == 1 else 0xFFFD
        n.int64 = n.uint64 = r
        n.float64 = float(r)
        n.is_int = n.is_uint = n.is_float = True
        return n
    if typ is ItemType.COMPLEX:
        try:
            n.complex128 = complex(text.replace("i", "j"))
        except ValueError:
            raise ParseError(f"expected integer; found {text}") from None
        n.is_complex = True
        _simplify_complex(n)
        return n
    if text.endswith("i"):
        f = _parse_go_float(text[:-1])
        if f is not None:
            n.is_complex = True
            n.complex128 = complex(0, f)
            _simplify_complex(n)
            return n
    parsed = _parse_go_int(text)
    if parsed is not None:
        if 0 <= parsed < 2**64 and not text.startswith(("+", "-")):
            n.is_uint, n.uint64 = True, parsed
        if -(2**63) <= parsed < 2**63:
            n.is_int, n.int64 = True, parsed
            if parsed == 0:
                n.is_uint, n.uint64 = True, 0
    if n.is_int:
        n.is_float, n.float64 = True, float(n.int64)
    elif n.is_uint:
        n.is_float, n.float64 = True, float(n.uint64)
    else:
        f = _parse_go_float(text)
        if f is not None and f not in (float("inf"), float("-inf")):
            if not any(c in text for c in ".eEpP"):
                raise ParseError(f"integer overflow: {_go_q(text)}")
            n.is_float, n.float64 = True, f
            if not n.is_int and f == int(f) and -(2**63) <= int(f) < 2**63:
                n.is_int, n.int64 = True, int(f)
            if not n.is_uint and f == int(f) and 0 <= int(f) < 2**64:
                n.is_uint, n.uint64 = True, int(f)
    if not (n.is_int or n.is_uint or n.is_float):
        raise ParseError(f"illegal number syntax: {_go_q(text)}")
    return n


def _simplify_complex(n: NumberNode) -> None:
    n.is_float = n.complex128.imag == 0
    if n.is_float:
        n.float64 = n.complex128.real
        f = n.float64
        n.is_int = f == int(f) and -(2**63) <= int(f) < 2**63
        if n.is_int:
            n.int64 = int(f)
        n.is_uint = f == int(f) and 0 <= int(f) < 2**64
        if n.is_uint:
            n.uint64 = int(f)


def _go_q(text: str) -> str:
    from toolkit.cli.gotemplate.gofmt import quote

    return quote(text)


class Tree:
    """One parsed template (`define`d templates are Trees of their own)."""

    def __init__(self, name: str, *, parse_name: str = "", text: str = "") -> None:
        self.name = name
        self.parse_name = parse_name or name
        self.root: ListNode | None = None
        self.text = text
        # parsing state
        self._items: list[Item] = []
        self._next_index = 0
        self.token: list[Item] = [Item(ItemType.EOF, 0, "", 0)] * 3
        self.peek_count = 0
        self.vars: list[str] = []
        self.tree_set: dict[str, Tree] = {}
        self.has_function: Callable[[str], bool] = lambda name: False
        self.action_line = 0
        self.range_depth = 0

    # -- errors --

    def errorf(self, message: str) -> ParseError:
        self.root = None
        return ParseError(f"template: {self.parse_name}:{self.token[0].line}: {message}")

    def unexpected(self, token: Item, context: str) -> ParseError:
        if token.typ is ItemType.ERROR:
            extra = ""
            if self.action_line not in (0, token.line):
                extra = f" in action started at {self.parse_name}:{self.action_line}"
                if token.val.endswith(" action"):
                    extra = extra[len(" in action") :]
            return self.errorf(f"{token}{extra}")
        return self.errorf(f"unexpected {token} in {context}")

    # -- tokens --

    def _lex_next(self) -> Item:
        if self._next_index < len(self._items):
            item = self._items[self._next_index]
            self._next_index += 1
            return item
        return Item(ItemType.ERROR, 0, "", self.token[0].line)

    def next(self) -> Item:
        if self.peek_count > 0:
            self.peek_count -= 1
        else:
            self.token[0] = self._lex_next()
        return self.token[self.peek_count]

    def backup(self) -> None:
        self.peek_count += 1

    def backup2(self, t1: Item) -> None:
        self.token[1] = t1
        self.peek_count = 2

    def backup3(self, t2: Item, t1: Item) -> None:
        self.token[1] = t1
        self.token[2] = t2
        self.peek_count = 3

    def peek(self) -> Item:
        if self.peek_count > 0:
            return self.token[self.peek_count - 1]
        self.peek_count = 1
        self.token[0] = self._lex_next()
        return self.token[0]

    def next_non_space(self) -> Item:
        while True:
            token = self.next()
            if token.typ is not ItemType.SPACE:
                return token

    def peek_non_space(self) -> Item:
        token = self.next_non_space()
        self.backup()
        return token

    def expect(self, expected: ItemType, context: str) -> Item:
        token = self.next_non_space()
        if token.typ is not expected:
            raise self.unexpected(token, context)
        return token

    def expect_one_of(self, e1: ItemType, e2: ItemType, context: str) -> Item:
        token = self.next_non_space()
        if token.typ is not e1 and token.typ is not e2:
            raise self.unexpected(token, context)
        return token

    # -- parsing --

    def _start(self, other: Tree) -> None:
        """Share the token stream and parse state of `other` (for define/block)."""
        self._items = other._items
        self.vars = ["$"]
        self.tree_set = other.tree_set
        self.has_function = other.has_function

    def _sync_from(self, other: Tree) -> None:
        self._next_index = other._next_index
        self.token = other.token
        self.peek_count = other.peek_count

    def add(self) -> None:
        existing = self.tree_set.get(self.name)
        if existing is None or _is_empty_tree(existing.root):
            self.tree_set[self.name] = self
            return
        if not _is_empty_tree(self.root):
            raise self.errorf(f"template: multiple definition of template {_go_q(self.name)}")

    def parse(self) -> None:
        self.root = ListNode(self.peek().pos, self)
        while self.peek().typ is not ItemType.EOF:
            if self.peek().typ is ItemType.LEFT_DELIM:
                delim = self.next()
                if self.next_non_space().typ is ItemType.DEFINE:
                    new = Tree("definition", parse_name=self.parse_name, text=self.text)
                    new._start(self)
                    new._sync_from(self)
                    new.parse_definition()
                    self._sync_from(new)
                    continue
                self.backup2(delim)
            n = self.text_or_action()
            if isinstance(n, (_EndNode, _ElseNode)):
                raise self.errorf(f"unexpected {n}")
            self.root.nodes.append(n)

    def parse_definition(self) -> None:
        context = "define clause"
        name = self.expect_one_of(ItemType.STRING, ItemType.RAW_STRING, context)
        try:
            self.name = unquote(name.val)
        except ValueError as exc:
            raise self.errorf(str(exc)) from None
        self.expect(ItemType.RIGHT_DELIM, context)
        self.root, end = self.item_list()
        if not isinstance(end, _EndNode):
            raise self.errorf(f"unexpected {end} in {context}")
        self.add()

    def item_list(self) -> tuple[ListNode, Node]:
        lst = ListNode(self.peek_non_space().pos, self)
        while self.peek_non_space().typ is not ItemType.EOF:
            n = self.text_or_action()
            if isinstance(n, (_EndNode, _ElseNode)):
                return lst, n
            lst.nodes.append(n)
        raise self.errorf("unexpected EOF")

    def text_or_action(self) -> Node:
        token = self.next_non_space()
        if token.typ is ItemType.TEXT:
            return TextNode(token.pos, self, text=token.val)
        if token.typ is ItemType.LEFT_DELIM:
            self.action_line = token.line
            try:
                return self.action()
            finally:
                self.action_line = 0
        if token.typ is ItemType.COMMENT:
            return CommentNode(token.pos, self, text=token.val)
        raise self.unexpected(token, "input")

    def action(self) -> Node:
        token = self.next_non_space()
        t = token.typ
        if t is ItemType.BLOCK:
            return self.block_control()
        if t is ItemType.BREAK:
            return self.break_control(token.pos, token.line)
        if t is ItemType.CONTINUE:
            return self.continue_control(token.pos, token.line)
        if t is ItemType.ELSE:
            return self.else_control()
        if t is ItemType.END:
            return self.end_control()
        if t is ItemType.IF:
            return self.if_control()
        if t is ItemType.RANGE:
            return self.range_control()
        if t is ItemType.TEMPLATE:
            return self.template_control()
        if t is ItemType.WITH:
            return self.with_control()
        self.backup()
        token = self.peek()
        return ActionNode(token.pos, self, line=token.line, pipe=self.pipeline("command", ItemType.RIGHT_DELIM))

    def break_control(self, pos: int, line: int) -> Node:
        token = self.next_non_space()
        if token.typ is not ItemType.RIGHT_DELIM:
            raise self.unexpected(token, "{{break}}")
        if self.range_depth == 0:
            raise self.errorf("{{break}} outside {{range}}")
        return BreakNode(pos, self, line=line)

    def continue_control(self, pos: int, line: int) -> Node:
        token = self.next_non_space()
        if token.typ is not ItemType.RIGHT_DELIM:
            raise self.unexpected(token, "{{continue}}")
        if self.range_depth == 0:
            raise self.errorf("{{continue}} outside {{range}}")
        return ContinueNode(pos, self, line=line)

    def pipeline(self, context: str, end: ItemType) -> PipeNode:
        token = self.peek_non_space()
        pipe = PipeNode(token.pos, self, line=token.line)
        while True:  # declarations
            v = self.peek_non_space()
            if v.typ is not ItemType.VARIABLE:
                break
            self.next()
            token_after_variable = self.peek()
            nxt = self.peek_non_space()
            if nxt.typ in (ItemType.ASSIGN, ItemType.DECLARE):
                pipe.is_assign = nxt.typ is ItemType.ASSIGN
                self.next_non_space()
                pipe.decl.append(VariableNode(v.pos, self, ident=v.val.split(".")))
                self.vars.append(v.val)
            elif nxt.typ is ItemType.CHAR and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(VariableNode(v.pos, self, ident=v.val.split(".")))
                self.vars.append(v.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().typ in (ItemType.VARIABLE, ItemType.RIGHT_DELIM, ItemType.RIGHT_PAREN):
                        continue  # second initialized variable in a range pipeline
                    raise self.errorf("range can only initialize variables")
                raise self.errorf(f"too many declarations in {context}")
            elif token_after_variable.typ is ItemType.SPACE:
                self.backup3(v, token_after_variable)
            else:
                self.backup2(v)
            break
        while True:
            token = self.next_non_space()
            if token.typ is end:
                self.check_pipeline(pipe, context)
                return pipe
            if token.typ in (ItemType.BOOL, ItemType.CHAR_CONSTANT, ItemType.COMPLEX, ItemType.DOT, ItemType.FIELD,
                             ItemType.IDENTIFIER, ItemType.NUMBER, ItemType.NIL, ItemType.RAW_STRING,
                             ItemType.STRING, ItemType.VARIABLE, ItemType.LEFT_PAREN):
                self.backup()
                pipe.cmds.append(self.command())
            else:
                raise self.unexpected(token, context)

    def check_pipeline(self, pipe: PipeNode, context: str) -> None:
        if not pipe.cmds:
            raise self.errorf(f"missing value for {context}")
        for i, c in enumerate(pipe.cmds[1:]):
            if isinstance(c.args[0], (BoolNode, DotNode, NilNode, NumberNode, StringNode)):
                raise self.errorf(f"non executable command in pipeline stage {i + 2}")

    def parse_control(self, allow_else_if: bool, context: str) -> tuple[int, int, PipeNode, ListNode, ListNode | None]:
        mark = len(self.vars)
        try:
            pipe = self.pipeline(context, ItemType.RIGHT_DELIM)
            if context == "range":
                self.range_depth += 1
            lst, nxt = self.item_list()
            if context == "range":
                self.range_depth -= 1
            else_list: ListNode | None = None
            if isinstance(nxt, _ElseNode):
                if allow_else_if and context == "if" and self.peek().typ is ItemType.IF:
                    self.next()
                    else_list = ListNode(nxt.pos, self)
                    else_list.nodes.append(self.if_control())
                elif context == "with" and self.peek().typ is ItemType.WITH:
                    self.next()
                    else_list = ListNode(nxt.pos, self)
                    else_list.nodes.append(self.with_control())
                else:
                    else_list, nxt = self.item_list()
                    if not isinstance(nxt, _EndNode):
                        raise self.errorf(f"expected end; found {nxt}")
            return pipe.pos, pipe.line, pipe, lst, else_list
        finally:
            del self.vars[mark:]

    def if_control(self) -> Node:
        pos, line, pipe, lst, else_list = self.parse_control(True, "if")
        return IfNode(pos, self, line=line, pipe=pipe, list=lst, else_list=else_list)

    def range_control(self) -> Node:
        pos, line, pipe, lst, else_list = self.parse_control(False, "range")
        return RangeNode(pos, self, line=line, pipe=pipe, list=lst, else_list=else_list)

    def with_control(self) -> Node:
        pos, line, pipe, lst, else_list = self.parse_control(False, "with")
        return WithNode(pos, self, line=line, pipe=pipe, list=lst, else_list=else_list)

    def end_control(self) -> Node:
        return _EndNode(self.expect(ItemType.RIGHT_DELIM, "end").pos, self)

    def else_control(self) -> Node:
        peek = self.peek_non_space()
        if peek.typ in (ItemType.IF, ItemType.WITH):
            return _ElseNode(peek.pos, self, line=peek.line)
        token = self.expect(ItemType.RIGHT_DELIM, "else")
        return _ElseNode(token.pos, self, line=token.line)

    def block_control(self) -> Node:
        context = "block clause"
        token = self.next_non_space()
        name = self.parse_template_name(token, context)
        pipe = self.pipeline(context, ItemType.RIGHT_DELIM)
        block = Tree(name, parse_name=self.parse_name, text=self.text)
        block._start(self)
        block._sync_from(self)
        block.root, end = block.item_list()
        if not isinstance(end, _EndNode):
            raise self.errorf(f"unexpected {end} in {context}")
        block.add()
        self._sync_from(block)
        return TemplateNode(token.pos, self, line=token.line, name=name, pipe=pipe)

    def template_control(self) -> Node:
        context = "template clause"
        token = self.next_non_space()
        name = self.parse_template_name(token, context)
        pipe: PipeNode | None = None
        if self.next_non_space().typ is not ItemType.RIGHT_DELIM:
            self.backup()
            pipe = self.pipeline(context, ItemType.RIGHT_DELIM)
        return TemplateNode(token.pos, self, line=token.line, name=name, pipe=pipe)

    def parse_template_name(self, token: Item, context: str) -> str:
        if token.typ in (ItemType.STRING, ItemType.RAW_STRING):
            try:
                return unquote(token.val)
            except ValueError as exc:
                raise self.errorf(str(exc)) from None
        raise self.unexpected(token, context)

    def command(self) -> CommandNode:
        cmd = CommandNode(self.peek_non_space().pos, self)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            token = self.next()
            if token.typ is ItemType.SPACE:
                continue
            if token.typ in (ItemType.RIGHT_DELIM, ItemType.RIGHT_PAREN):
                self.backup()
            elif token.typ is ItemType.PIPE:
                pass
            else:
                raise self.unexpected(token, "operand")
            break
        if not cmd.args:
            raise self.errorf("empty command")
        return cmd

    def operand(self) -> Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().typ is ItemType.FIELD:
            chain = ChainNode(self.peek().pos, self, node=node)
            while self.peek().typ is ItemType.FIELD:
                chain.field_names.append(self.next().val[1:])
            if isinstance(node, FieldNode):
                return FieldNode(chain.pos, self, ident=str(chain)[1:].split("."))
            if isinstance(node, VariableNode):
                return VariableNode(chain.pos, self, ident=str(chain).split("."))
            if isinstance(node, (BoolNode, StringNode, NumberNode, NilNode, DotNode)):
                raise self.errorf(f"unexpected . after term {_go_q(str(node))}")
            return chain
        return node

    def term(self) -> Node | None:
        token = self.next_non_space()
        t = token.typ
        if t is ItemType.IDENTIFIER:
            if not self.has_function(token.val):
                raise self.errorf(f"function {_go_q(token.val)} not defined")
            return IdentifierNode(token.pos, self, ident=token.val)
        if t is ItemType.DOT:
            return DotNode(token.pos, self)
        if t is ItemType.NIL:
            return NilNode(token.pos, self)
        if t is ItemType.VARIABLE:
            return self.use_var(token.pos, token.val)
        if t is ItemType.FIELD:
            return FieldNode(token.pos, self, ident=token.val[1:].split("."))
        if t is ItemType.BOOL:
            return BoolNode(token.pos, self, true=token.val == "true")
        if t in (ItemType.CHAR_CONSTANT, ItemType.COMPLEX, ItemType.NUMBER):
            try:
                return _make_number(token.pos, token.val, t, self)
            except ParseError as exc:
                raise self.errorf(str(exc)) from None
        if t is ItemType.LEFT_PAREN:
            return self.pipeline("parenthesized pipeline", ItemType.RIGHT_PAREN)
        if t in (ItemType.STRING, ItemType.RAW_STRING):
            try:
                text = unquote(token.val)
            except ValueError as exc:
                raise self.errorf(str(exc)) from None
            return StringNode(token.pos, self, quoted=token.val, text=text)
        self.backup()
        return None

    def use_var(self, pos: int, name: str) -> Node:
        v = VariableNode(pos, self, ident=name.split("."))
        if v.ident[0] in self.vars:
            return v
        raise self.errorf(f"undefined variable {_go_q(v.ident[0])}")


def _is_empty_tree(n: Node | None) -> bool:
    if n is None:
        return True
    if isinstance(n, ListNode):
        return all(_is_empty_tree(x) for x in n.nodes)
    if isinstance(n, TextNode):
        return not n.text.strip(" \t\n\r\v\f")
    return isinstance(n, CommentNode)


def parse_trees(name: str, text: str, has_function: Callable[[str], bool]) -> dict[str, Tree]:
    """Parse `text` as template `name`; returns every tree by name (define/block add more).

    Raises `ParseError` with Go's message.
    """
    tree = Tree(name, text=text)
    tree._items = lex(text, break_ok=not has_function("break"), continue_ok=not has_function("continue"))
    tree.vars = ["$"]
    tree.tree_set = {}
    tree.has_function = has_function
    tree.parse()
    tree.add()
    return tree.tree_set
