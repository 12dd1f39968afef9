"""Executing a parsed template, as Go's `text/template/exec.go` does.

`Template(name, funcs).parse(text)` then `.execute(data)`; an execution error is an
`ExecError` whose text is Go's (`template: NAME:LINE:COL: executing "NAME" at <NODE>: MSG`)
and which carries the output written before the failure (`partial`), as Go leaves it in
the writer. The current node, the variable stack, `break`/`continue`, the `and`/`or`
short-circuit, the interface{} "dig down" after each pipeline and the argument conversions
follow the Go code, so the same templates succeed and fail with the same messages.
"""

from __future__ import annotations

from collections.abc import Mapping

from toolkit.cli.gotemplate import gofmt
from toolkit.cli.gotemplate.funcs import BUILTINS, indirect, indirect_interface, is_true, printable_value
from toolkit.cli.gotemplate.parse import (
    ActionNode,
    BoolNode,
    BranchNode,
    BreakNode,
    ChainNode,
    CommandNode,
    CommentNode,
    ContinueNode,
    DotNode,
    FieldNode,
    IdentifierNode,
    IfNode,
    ListNode,
    NilNode,
    Node,
    NumberNode,
    PipeNode,
    RangeNode,
    StringNode,
    TemplateNode,
    TextNode,
    Tree,
    VariableNode,
    WithNode,
    parse_trees,
)
from toolkit.cli.gotemplate.values import (
    BOOL,
    COMPLEX128,
    EMPTY_INTERFACE,
    ERROR,
    FLOAT64,
    INT,
    INVALID,
    REFLECT_VALUE,
    STRING,
    GoCallError,
    GoFunc,
    GoType,
    Kind,
    Value,
    assignable,
    ptr_to,
    zero_value,
)

__all__ = ["ExecError", "Template", "MAX_EXEC_DEPTH"]

#: Go allows 100000 nested {{template}} calls; Python's stack does not.
MAX_EXEC_DEPTH = 100
_GO_MAX_EXEC_DEPTH = 100000


class ExecError(Exception):
    """Execution failed; `str()` is Go's message, `partial` what was written before."""

    def __init__(self, message: str, partial: str = "") -> None:
        super().__init__(message)
        self.partial = partial


class _BreakError(Exception):  # control flow, not an error
    pass


class _ContinueError(Exception):  # control flow, not an error
    pass


class _Missing:
    pass


_MISSING = Value(GoType(Kind.INVALID, "missing"), _Missing())


def _error_context(node: Node) -> tuple[str, str]:
    tree = node.tree
    assert tree is not None
    text = tree.text[: node.pos]
    nl = text.rfind("\n")
    column = text if nl < 0 else text[nl + 1 :]
    byte_num = len(column.encode("utf-8", "surrogateescape"))
    line = 1 + text.count("\n")
    return f"{tree.parse_name}:{line}:{byte_num}", str(node)


class Template:
    """A named template with its function map and its associated (defined) templates."""

    def __init__(self, name: str, funcs: Mapping[str, GoFunc] | None = None) -> None:
        self.name = name
        self.funcs: dict[str, GoFunc] = dict(funcs or {})
        self.trees: dict[str, Tree] = {}

    def has_function(self, name: str) -> bool:
        return name in self.funcs or name in BUILTINS

    def parse(self, text: str) -> Template:
        """Parse `text`; raises `ParseError` with Go's message."""
        self.trees = parse_trees(self.name, text, self.has_function)
        return self

    def execute(self, data: Value) -> str:
        """Run the template on `data`; returns the output or raises `ExecError`."""
        tree = self.trees.get(self.name)
        state = _State(self, self.name, [])
        if tree is None or tree.root is None:
            state.errorf(f"{gofmt.quote(self.name)} is an incomplete or empty template")
        assert tree is not None and tree.root is not None
        state.vars = [("$", data)]
        try:
            state.walk(data, tree.root)
        except ExecError as exc:
            exc.partial = "".join(state.out)
            raise
        except RecursionError:
            raise ExecError(f"template: {self.name}: exceeded maximum template depth ({_GO_MAX_EXEC_DEPTH})",
                            "".join(state.out)) from None
        return "".join(state.out)


class _State:
    def __init__(self, tmpl: Template, name: str, out: list[str], depth: int = 0) -> None:
        self.tmpl = tmpl
        self.name = name
        self.out = out
        self.node: Node | None = None
        self.vars: list[tuple[str, Value]] = []
        self.depth = depth

    # -- variables --

    def push(self, name: str, value: Value) -> None:
        self.vars.append((name, value))

    def mark(self) -> int:
        return len(self.vars)

    def pop(self, mark: int) -> None:
        del self.vars[mark:]

    def set_var(self, name: str, value: Value) -> None:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return
        self.errorf(f"undefined variable: {name}")

    def set_top_var(self, n: int, value: Value) -> None:
        name = self.vars[len(self.vars) - n][0]
        self.vars[len(self.vars) - n] = (name, value)

    def var_value(self, name: str) -> Value:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                return self.vars[i][1]
        self.errorf(f"undefined variable: {name}")
        raise AssertionError("not reached")

    # -- errors --

    def at(self, node: Node) -> None:
        self.node = node

    def errorf(self, message: str) -> None:
        if self.node is None:
            raise ExecError(f"template: {self.name}: {message}")
        location, context = _error_context(self.node)
        raise ExecError(f"template: {location}: executing {gofmt.quote(self.name)} at <{context}>: {message}")

    # -- walking --

    def walk(self, dot: Value, node: Node) -> None:
        self.at(node)
        if isinstance(node, ActionNode):
            assert node.pipe is not None
            val = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.print_value(node, val)
        elif isinstance(node, BreakNode):
            raise _BreakError
        elif isinstance(node, CommentNode):
            pass
        elif isinstance(node, ContinueNode):
            raise _ContinueError
        elif isinstance(node, IfNode):
            self.walk_if_or_with(False, dot, node)
        elif isinstance(node, ListNode):
            for n in node.nodes:
                self.walk(dot, n)
        elif isinstance(node, RangeNode):
            self.walk_range(dot, node)
        elif isinstance(node, TemplateNode):
            self.walk_template(dot, node)
        elif isinstance(node, TextNode):
            self.out.append(node.text)
        elif isinstance(node, WithNode):
            self.walk_if_or_with(True, dot, node)
        else:
            self.errorf(f"unknown node: {node}")

    def walk_if_or_with(self, is_with: bool, dot: Value, node: BranchNode) -> None:
        mark = self.mark()
        try:
            assert node.pipe is not None and node.list is not None
            val = self.eval_pipeline(dot, node.pipe)
            truth, ok = is_true(indirect_interface(val))
            if not ok:
                self.errorf(f"if/with can't use {_reflect_text(val)}")
            if truth:
                self.walk(val if is_with else dot, node.list)
            elif node.else_list is not None:
                self.walk(dot, node.else_list)
        finally:
            self.pop(mark)

    def walk_range(self, dot: Value, r: RangeNode) -> None:
        self.at(r)
        outer = self.mark()
        try:
            assert r.pipe is not None and r.list is not None
            val, _ = indirect(self.eval_pipeline(dot, r.pipe))
            mark = self.mark()
            body = r.list

            def one_iteration(index: Value, elem: Value) -> None:
                assert r.pipe is not None
                if r.pipe.decl:
                    self.set_top_var(1, elem)
                if len(r.pipe.decl) > 1:
                    self.set_top_var(2, index)
                try:
                    self.walk(elem, body)
                except _ContinueError:
                    pass
                finally:
                    self.pop(mark)

            k = val.kind
            try:
                if k in (Kind.ARRAY, Kind.SLICE):
                    if val.length() > 0:
                        for i in range(val.length()):
                            one_iteration(Value(INT, i), val.index(i))
                        return
                elif k is Kind.MAP:
                    if val.length() > 0:
                        for key, item in val.map_items():
                            one_iteration(key, item)
                        return
                elif k is Kind.INVALID:
                    pass
                elif k.is_int or k.is_uint:  # Go 1.24: range over an integer
                    if len(r.pipe.decl) > 1:
                        self.errorf(f"can't use {_reflect_text(val)} to iterate over more than one variable")
                    n = int(val.v)
                    if n > 0:
                        for i in range(n):
                            one_iteration(INVALID, Value(val.type, i))
                        return
                else:
                    self.errorf(f"range can't iterate over {_reflect_text(val)}")
            except _BreakError:
                return
            if r.else_list is not None:
                self.walk(dot, r.else_list)
        finally:
            self.pop(outer)

    def walk_template(self, dot: Value, t: TemplateNode) -> None:
        self.at(t)
        tree = self.tmpl.trees.get(t.name)
        if tree is None or tree.root is None:
            self.errorf(f"template {gofmt.quote(t.name)} not defined")
        assert tree is not None and tree.root is not None
        if self.depth >= MAX_EXEC_DEPTH:
            self.errorf(f"exceeded maximum template depth ({_GO_MAX_EXEC_DEPTH})")
        dot = self.eval_pipeline(dot, t.pipe)
        state = _State(self.tmpl, t.name, self.out, self.depth + 1)
        state.vars = [("$", dot)]
        state.walk(dot, tree.root)

    # -- evaluation --

    def eval_pipeline(self, dot: Value, pipe: PipeNode | None) -> Value:
        if pipe is None:
            return INVALID
        self.at(pipe)
        value = _MISSING
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)
            if value.kind is Kind.INTERFACE and value.type is not None and value.type.num_method == 0 \
                    and value.type is not ERROR:
                value = value.elem()
        for variable in pipe.decl:
            if pipe.is_assign:
                self.set_var(variable.ident[0], value)
            else:
                self.push(variable.ident[0], value)
        return value

    def not_a_function(self, args: list[Node], final: Value) -> None:
        if len(args) > 1 or final is not _MISSING:
            self.errorf(f"can't give argument to non-function {args[0]}")

    def eval_command(self, dot: Value, cmd: CommandNode, final: Value) -> Value:
        first = cmd.args[0]
        if isinstance(first, FieldNode):
            return self.eval_field_node(dot, first, cmd.args, final)
        if isinstance(first, ChainNode):
            return self.eval_chain_node(dot, first, cmd.args, final)
        if isinstance(first, IdentifierNode):
            return self.eval_function(dot, first, cmd, cmd.args, final)
        if isinstance(first, PipeNode):
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, VariableNode):
            return self.eval_variable_node(dot, first, cmd.args, final)
        self.at(first)
        self.not_a_function(cmd.args, final)
        if isinstance(first, BoolNode):
            return Value(BOOL, first.true)
        if isinstance(first, DotNode):
            return dot
        if isinstance(first, NilNode):
            self.errorf("nil is not a command")
        if isinstance(first, NumberNode):
            return self.ideal_constant(first)
        if isinstance(first, StringNode):
            return Value(STRING, first.text)
        self.errorf(f"can't evaluate command {gofmt.quote(str(first))}")
        raise AssertionError("not reached")

    def ideal_constant(self, constant: NumberNode) -> Value:
        self.at(constant)
        text = constant.text
        is_hex_int = len(text) > 2 and text[0] == "0" and text[1] in "xX" and not any(c in text for c in "pP")
        is_rune = text.startswith("'")
        if constant.is_complex:
            return Value(COMPLEX128, constant.complex128)
        if constant.is_float and not is_hex_int and not is_rune and any(c in text for c in ".eEpP"):
            return Value(FLOAT64, constant.float64)
        if constant.is_int:
            return Value(INT, constant.int64)
        if constant.is_uint:
            self.errorf(f"{text} overflows int")
        return INVALID

    def eval_field_node(self, dot: Value, field: FieldNode, args: list[Node] | None, final: Value) -> Value:
        self.at(field)
        return self.eval_field_chain(dot, dot, field, field.ident, args, final)

    def eval_chain_node(self, dot: Value, chain: ChainNode, args: list[Node] | None, final: Value) -> Value:
        self.at(chain)
        if not chain.field_names:
            self.errorf("internal error: no fields in evalChainNode")
        if isinstance(chain.node, NilNode):
            self.errorf(f"indirection through explicit nil in {chain}")
        assert chain.node is not None
        pipe = self.eval_arg(dot, None, chain.node)
        return self.eval_field_chain(dot, pipe, chain, chain.field_names, args, final)

    def eval_variable_node(self, dot: Value, variable: VariableNode, args: list[Node] | None,
                           final: Value) -> Value:
        self.at(variable)
        value = self.var_value(variable.ident[0])
        if len(variable.ident) == 1:
            self.not_a_function(args or [variable], final)
            return value
        return self.eval_field_chain(dot, value, variable, variable.ident[1:], args, final)

    def eval_field_chain(self, dot: Value, receiver: Value, node: Node, ident: list[str],
                         args: list[Node] | None, final: Value) -> Value:
        for name in ident[:-1]:
            receiver = self.eval_field(dot, name, node, None, _MISSING, receiver)
        return self.eval_field(dot, ident[-1], node, args, final, receiver)

    def eval_function(self, dot: Value, node: IdentifierNode, cmd: Node, args: list[Node] | None,
                      final: Value) -> Value:
        self.at(node)
        name = node.ident
        fn = self.tmpl.funcs.get(name)
        is_builtin = False
        if fn is None:
            fn = BUILTINS.get(name)
            is_builtin = fn is not None
        if fn is None:
            self.errorf(f"{gofmt.quote(name)} is not a defined function")
        assert fn is not None
        return self.eval_call(dot, fn, is_builtin, cmd, name, args, final)

    def eval_field(self, dot: Value, field_name: str, node: Node, args: list[Node] | None, final: Value,
                   receiver: Value) -> Value:
        if not receiver.valid:
            return INVALID
        typ = receiver.type
        assert typ is not None
        receiver, is_nil = indirect(receiver)
        if receiver.kind is Kind.INTERFACE and is_nil:
            self.errorf(f"nil pointer evaluating {typ.name}.{field_name}")
        rtype = receiver.type
        assert rtype is not None
        method = rtype.method(field_name, via_pointer=True)
        if method is not None:
            return self.eval_call(dot, _bound(receiver, field_name, method), False, node, field_name, args, final)
        has_args = (args is not None and len(args) > 1) or final is not _MISSING
        if receiver.kind is Kind.STRUCT:
            found = rtype.field_by_name(field_name)
            if found is not None:
                path, struct_field = found
                if not struct_field.exported:
                    self.errorf(f"{field_name} is an unexported field of struct type {typ.name}")
                value = receiver
                for i in path:
                    if value.kind is Kind.POINTER:
                        if value.v is None:
                            self.errorf("reflect: indirection through nil pointer to embedded struct")
                        value = value.v
                    value = value.field(i)
                if has_args:
                    self.errorf(f"{field_name} has arguments but cannot be invoked as function")
                return value
        elif receiver.kind is Kind.MAP:
            assert rtype.key is not None
            if assignable(STRING, rtype.key):
                if has_args:
                    self.errorf(f"{field_name} is not a method but has arguments")
                result = None if receiver.v is None else receiver.v.get(field_name)
                return INVALID if result is None else result
        elif receiver.kind is Kind.POINTER:
            etyp = rtype.elem
            if etyp is not None and etyp.kind is Kind.STRUCT and etyp.field_by_name(field_name) is None:
                pass
            elif is_nil:
                self.errorf(f"nil pointer evaluating {typ.name}.{field_name}")
        self.errorf(f"can't evaluate field {field_name} in type {typ.name}")
        raise AssertionError("not reached")

    def eval_call(self, dot: Value, fun: GoFunc, is_builtin: bool, node: Node, name: str,
                  args: list[Node] | None, final: Value) -> Value:
        call_args = args[1:] if args is not None else []
        typ = fun.type
        num_in = len(call_args) + (0 if final is _MISSING else 1)
        num_fixed = len(call_args)
        if typ.variadic:
            num_fixed = len(typ.params) - 1
            if num_in < num_fixed:
                self.errorf(f"wrong number of args for {name}: want at least {len(typ.params) - 1} "
                            f"got {len(call_args)}")
        elif num_in != len(typ.params):
            self.errorf(f"wrong number of args for {name}: want {len(typ.params)} got {num_in}")
        if not (len(typ.results) == 1 or (len(typ.results) == 2 and typ.results[1] is ERROR)):
            self.errorf(f"can't call method/function {gofmt.quote(name)} with {len(typ.results)} results")

        if is_builtin and name in ("and", "or"):
            v = INVALID
            for arg in call_args:
                v = self.eval_arg(dot, REFLECT_VALUE, arg)
                if _truth(v) == (name == "or"):
                    return v
            if final is not _MISSING:
                v = self.validate_type(final, REFLECT_VALUE)
            return v

        argv: list[Value] = []
        i = 0
        while i < num_fixed and i < len(call_args):
            argv.append(self.eval_arg(dot, typ.params[i], call_args[i]))
            i += 1
        if typ.variadic:
            elem = typ.params[-1].elem
            assert elem is not None
            while i < len(call_args):
                argv.append(self.eval_arg(dot, elem, call_args[i]))
                i += 1
        if final is not _MISSING:
            t = typ.params[-1]
            if typ.variadic:
                if num_in - 1 < num_fixed:
                    t = typ.params[num_in - 1]
                else:
                    assert t.elem is not None
                    t = t.elem
            argv.append(self.validate_type(final, t))
        try:
            return fun.impl(argv)
        except GoCallError as exc:
            self.at(node)
            self.errorf(f"error calling {name}: {exc}")
            raise AssertionError("not reached") from None

    def validate_type(self, value: Value, typ: GoType | None) -> Value:
        if not value.valid:
            if typ is None:
                return INVALID
            if _can_be_nil(typ):
                return zero_value(typ)
            self.errorf(f"invalid value; expected {typ.name}")
        if typ is REFLECT_VALUE:
            return value
        vtype = value.type
        assert vtype is not None
        if typ is not None and not assignable(vtype, typ):
            if value.kind is Kind.INTERFACE and value.v is not None:
                value = value.v
                assert value.type is not None
                vtype = value.type
                if assignable(vtype, typ):
                    return value
            if value.kind is Kind.POINTER and vtype.elem is not None and assignable(vtype.elem, typ):
                if value.v is None:
                    self.errorf(f"dereference of nil pointer of type {typ.name}")
                return value.elem()
            if assignable(ptr_to(vtype), typ):
                return Value(ptr_to(vtype), value)
            self.errorf(f"wrong type for value; expected {typ.name}; got {vtype.name}")
        return value

    def eval_arg(self, dot: Value, typ: GoType | None, n: Node) -> Value:
        self.at(n)
        if isinstance(n, DotNode):
            return self.validate_type(dot, typ)
        if isinstance(n, NilNode):
            if typ is not None and _can_be_nil(typ):
                return zero_value(typ)
            self.errorf(f"cannot assign nil to {typ.name if typ else '<nil>'}")
        if isinstance(n, FieldNode):
            return self.validate_type(self.eval_field_node(dot, n, [n], _MISSING), typ)
        if isinstance(n, VariableNode):
            return self.validate_type(self.eval_variable_node(dot, n, None, _MISSING), typ)
        if isinstance(n, PipeNode):
            return self.validate_type(self.eval_pipeline(dot, n), typ)
        if isinstance(n, IdentifierNode):
            return self.validate_type(self.eval_function(dot, n, n, None, _MISSING), typ)
        if isinstance(n, ChainNode):
            return self.validate_type(self.eval_chain_node(dot, n, None, _MISSING), typ)
        assert typ is not None
        k = typ.kind
        if k is Kind.BOOL:
            if isinstance(n, BoolNode):
                return Value(typ, n.true)
            self.errorf(f"expected bool; found {n}")
        if k.is_complex:
            if isinstance(n, NumberNode) and n.is_complex:
                return Value(typ, n.complex128)
            self.errorf(f"expected complex; found {n}")
        if k.is_float:
            if isinstance(n, NumberNode) and n.is_float:
                return Value(typ, n.float64)
            self.errorf(f"expected float; found {n}")
        if k.is_int:
            if isinstance(n, NumberNode) and n.is_int:
                return Value(typ, n.int64)
            self.errorf(f"expected integer; found {n}")
        if k is Kind.INTERFACE and typ.num_method == 0 and typ is not ERROR:
            return self.eval_empty_interface(dot, n)
        if typ is REFLECT_VALUE:
            return self.eval_empty_interface(dot, n)
        if k is Kind.STRING:
            if isinstance(n, StringNode):
                return Value(typ, n.text)
            self.errorf(f"expected string; found {n}")
        if k.is_uint:
            if isinstance(n, NumberNode) and n.is_uint:
                return Value(typ, n.uint64)
            self.errorf(f"expected unsigned integer; found {n}")
        self.errorf(f"can't handle {n} for arg of type {typ.name}")
        raise AssertionError("not reached")

    def eval_empty_interface(self, dot: Value, n: Node) -> Value:
        self.at(n)
        if isinstance(n, BoolNode):
            return Value(BOOL, n.true)
        if isinstance(n, DotNode):
            return dot
        if isinstance(n, FieldNode):
            return self.eval_field_node(dot, n, None, _MISSING)
        if isinstance(n, IdentifierNode):
            return self.eval_function(dot, n, n, None, _MISSING)
        if isinstance(n, NilNode):
            self.errorf("evalEmptyInterface: nil (can't happen)")
        if isinstance(n, NumberNode):
            return self.ideal_constant(n)
        if isinstance(n, StringNode):
            return Value(STRING, n.text)
        if isinstance(n, VariableNode):
            return self.eval_variable_node(dot, n, None, _MISSING)
        if isinstance(n, PipeNode):
            return self.eval_pipeline(dot, n)
        self.errorf(f"can't handle assignment of {n} to empty interface argument")
        raise AssertionError("not reached")

    def print_value(self, n: Node, v: Value) -> None:
        self.at(n)
        printable, ok = printable_value(v)
        if not ok:
            self.errorf(f"can't print {n} of type {v.type.name if v.type else '<nil>'}")
        if isinstance(printable, str):
            self.out.append(printable)
        else:
            self.out.append(gofmt.sprint([printable]))


def _can_be_nil(typ: GoType) -> bool:
    return typ.kind in (Kind.CHAN, Kind.FUNC, Kind.INTERFACE, Kind.MAP, Kind.POINTER, Kind.SLICE) \
        or typ is REFLECT_VALUE


def _truth(v: Value) -> bool:
    return is_true(indirect_interface(v))[0]


def _reflect_text(v: Value) -> str:
    if not v.valid:
        return "<invalid reflect.Value>"
    return gofmt.sprintf("%v", [v])


def _bound(receiver: Value, name: str, method: object) -> GoFunc:
    """A method value: the method with its receiver bound (a nil pointer receiver panics as Go's)."""
    from toolkit.cli.gotemplate.values import Method

    assert isinstance(method, Method)

    def impl(args: list[Value]) -> Value:
        recv = receiver
        if recv.kind is Kind.POINTER and not method.pointer_receiver:
            if recv.v is None:
                type_name = recv.type.elem.name if recv.type and recv.type.elem else "?"
                short = type_name.rpartition(".")[2]
                raise GoCallError(f"value method {type_name}.{name} called using nil *{short} pointer")
            recv = recv.v
        return method.impl(recv, args)

    return GoFunc(name, method.type, impl)


_ = EMPTY_INTERFACE  # re-exported names used by callers building data
