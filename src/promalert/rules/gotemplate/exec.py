"""Executes a parsed Go template, following Go 1.19's ``text/template/exec.go``.

Semantics that users can observe are kept: argument type checks, comparison errors,
map keys sorted in ``range``, ``missingkey=zero`` for absent labels, and Go's error text
(``template: NAME:1:12: executing "NAME" at <node>: message``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from promalert.rules.gotemplate.gofmt import format_value
from promalert.rules.gotemplate.nodes import (
    ActionNode,
    BoolNode,
    BranchNode,
    ChainNode,
    CommandNode,
    DotNode,
    FieldNode,
    IdentifierNode,
    ListNode,
    LoopControlNode,
    NilNode,
    Node,
    NumberNode,
    PipeNode,
    StringNode,
    TemplateNode,
    TextNode,
    VariableNode,
)
from promalert.rules.gotemplate.parser import GoTemplateError, Tree
from promalert.rules.gotemplate.values import (
    GoStruct,
    go_quote,
    go_type_name,
    map_zero,
    sorted_map_items,
)


class GoFuncError(Exception):
    """Raised by a template function; the engine reports it as ``error calling NAME: ...``."""


@dataclass(frozen=True, slots=True)
class Param:
    """What one parameter of a template function accepts, in Go's terms."""

    type_name: str
    accepts: Callable[[Any], bool] | None = None  # None: any value
    nillable: bool = True
    literal: str = "any"  # how literals convert: "any" (ideal constant), "string", "none"


ANY = Param("interface {}")
VALUE = Param("reflect.Value", nillable=False)
STRING = Param("string", lambda v: type(v) is str, nillable=False, literal="string")


@dataclass(frozen=True, slots=True)
class GoFunc:
    """A template function: fixed parameters, an optional variadic one, and its code."""

    fn: Callable[..., Any]
    params: tuple[Param, ...]
    variadic: Param | None = None
    short_circuit: bool = False  # Go's builtin ``and``/``or`` evaluate arguments lazily


MAX_TEMPLATE_DEPTH = 100  # Go allows 100000 nested {{template}} calls; Python's stack fewer
_MISSING: Any = object()  # Go's missingVal: no value piped into the command


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


def is_true(value: Any) -> bool:
    """Go's template truth: false, 0, nil and empty strings, maps and slices are false."""
    if value is None:
        return False
    if isinstance(value, bool | int | float | complex):
        return value != 0
    if isinstance(value, str | Mapping | list | tuple):
        return len(value) > 0
    return True


class _State:
    def __init__(self, tree: Tree, funcs: Mapping[str, GoFunc]) -> None:
        self.tree = tree
        self.funcs = funcs
        self.vars: list[list[Any]] = []  # [name, value] pairs, innermost last
        self.node: Node | None = None
        self.out: list[str] = []
        self.name = tree.name  # the template being executed, named in errors
        self.depth = 0

    # Errors and variables ---------------------------------------------------------------
    def fail(self, message: str) -> NoReturn:
        name = self.name
        if self.node is None:
            raise GoTemplateError(f"template: {self.tree.name}: {message}")
        where = self.tree.location(self.node.pos)
        raise GoTemplateError(
            f"template: {where}: executing {go_quote(name)} at <{self.node}>: {message}"
        )

    def push(self, name: str, value: Any) -> None:
        self.vars.append([name, value])

    def pop(self, mark: int) -> None:
        del self.vars[mark:]

    def var_value(self, name: str) -> Any:
        for entry in reversed(self.vars):
            if entry[0] == name:
                return entry[1]
        self.fail(f"undefined variable: {name}")

    def set_var(self, name: str, value: Any) -> None:
        for entry in reversed(self.vars):
            if entry[0] == name:
                entry[1] = value
                return
        self.fail(f"undefined variable: {name}")

    # Walking ------------------------------------------------------------------------------
    def walk(self, dot: Any, node: Node) -> None:
        self.node = node
        if isinstance(node, ActionNode):
            value = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.node = node
                self.out.append("<no value>" if value is None else format_value(value))
        elif isinstance(node, TextNode):
            self.out.append(node.text)
        elif isinstance(node, ListNode):
            for child in node.nodes:
                self.walk(dot, child)
        elif isinstance(node, BranchNode):
            if node.kind == "range":
                self.walk_range(dot, node)
            else:
                self.walk_if_or_with(dot, node)
        elif isinstance(node, LoopControlNode):
            raise _Break if node.kind == "break" else _Continue
        elif isinstance(node, TemplateNode):
            self.walk_template(dot, node)
        else:
            self.fail(f"unknown node: {node}")

    def walk_template(self, dot: Any, node: TemplateNode) -> None:
        body = self.tree.defines.get(node.name)
        if body is None:
            self.fail(f"template {go_quote(node.name)} not defined")
        if self.depth >= MAX_TEMPLATE_DEPTH:
            self.fail(f"exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})")
        value = None if node.pipe is None else self.eval_pipeline(dot, node.pipe)
        saved = self.vars, self.name
        # No dynamic scoping: an invoked template sees only $, set to its dot.
        self.vars, self.name = [["$", value]], node.name
        self.depth += 1
        try:
            self.walk(value, body)
        finally:
            self.vars, self.name = saved
            self.depth -= 1

    def walk_if_or_with(self, dot: Any, node: BranchNode) -> None:
        mark = len(self.vars)
        try:
            value = self.eval_pipeline(dot, node.pipe)
            if is_true(value):
                self.walk(value if node.kind == "with" else dot, node.body)
            elif node.else_body is not None:
                self.walk(dot, node.else_body)
        finally:
            self.pop(mark)

    def walk_range(self, dot: Any, node: BranchNode) -> None:
        self.node = node
        mark = len(self.vars)
        try:
            value = self.eval_pipeline(dot, node.pipe)
            if isinstance(value, Mapping):
                items: list[tuple[Any, Any]] = sorted_map_items(value)
            elif isinstance(value, list | tuple):
                items = list(enumerate(value))
            elif value is None:
                items = []
            else:
                self.fail(f"range can't iterate over {format_value(value)}")
            if items:
                self.range_items(node, items)
            elif node.else_body is not None:
                self.walk(dot, node.else_body)
        finally:
            self.pop(mark)

    def range_items(self, node: BranchNode, items: list[tuple[Any, Any]]) -> None:
        """Run the body for each (key, element) until the end or a ``{{break}}``."""
        inner = len(self.vars)
        decl = node.pipe.decl
        for key, elem in items:
            if decl:
                self.vars[inner - 1][1] = elem
            if len(decl) > 1:
                self.vars[inner - 2][1] = key
            try:
                self.walk(elem, node.body)
            except _Continue:
                pass
            except _Break:
                return
            finally:
                self.pop(inner)

    # Evaluation ----------------------------------------------------------------------------
    def eval_pipeline(self, dot: Any, pipe: PipeNode) -> Any:
        self.node = pipe
        value = _MISSING
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)
        for var in pipe.decl:
            if pipe.is_assign:
                self.set_var(var.ident[0], value)
            else:
                self.push(var.ident[0], value)
        return value

    def eval_command(self, dot: Any, cmd: CommandNode, final: Any) -> Any:
        first = cmd.args[0]
        if isinstance(first, FieldNode):
            self.node = first
            return self.eval_field_chain(dot, dot, first, first.ident, cmd.args, final)
        if isinstance(first, ChainNode):
            return self.eval_chain(dot, first, cmd.args, final)
        if isinstance(first, IdentifierNode):
            return self.eval_function(dot, first, cmd, cmd.args, final)
        if isinstance(first, PipeNode):
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, VariableNode):
            return self.eval_variable(dot, first, cmd.args, final)
        self.node = first
        self.not_a_function(cmd.args, final)
        if isinstance(first, BoolNode | NumberNode):
            return first.value
        if isinstance(first, StringNode):
            return first.text
        if isinstance(first, DotNode):
            return dot
        if isinstance(first, NilNode):
            self.fail("nil is not a command")
        self.fail(f"can't evaluate command {go_quote(str(first))}")

    def not_a_function(self, args: Sequence[Node], final: Any) -> None:
        if len(args) > 1 or final is not _MISSING:
            self.fail(f"can't give argument to non-function {args[0]}")

    def eval_chain(self, dot: Any, chain: ChainNode, args: Sequence[Node], final: Any) -> Any:
        self.node = chain
        if isinstance(chain.node, NilNode):
            self.fail(f"indirection through explicit nil in {chain}")
        receiver = self.eval_arg(dot, ANY, chain.node)
        return self.eval_field_chain(dot, receiver, chain, chain.fields, args, final)

    def eval_variable(self, dot: Any, var: VariableNode, args: Sequence[Node], final: Any) -> Any:
        self.node = var
        value = self.var_value(var.ident[0])
        if len(var.ident) == 1:
            self.not_a_function(args, final)
            return value
        return self.eval_field_chain(dot, value, var, var.ident[1:], args, final)

    def eval_field_chain(
        self,
        dot: Any,
        receiver: Any,
        node: Node,
        ident: Sequence[str],
        args: Sequence[Node],
        final: Any,
    ) -> Any:
        for name in ident[:-1]:
            receiver = self.eval_field(name, (), _MISSING, receiver)
        return self.eval_field(ident[-1], args, final, receiver)

    def eval_field(self, name: str, args: Sequence[Node], final: Any, receiver: Any) -> Any:
        if receiver is None:
            return None  # Go: a field of an invalid value is invalid, printed as <no value>
        has_args = len(args) > 1 or final is not _MISSING
        if isinstance(receiver, GoStruct):
            found, value = receiver.field(name)
            if found:
                if has_args:
                    self.fail(f"{name} has arguments but cannot be invoked as function")
                return value
        elif isinstance(receiver, Mapping):
            if has_args:
                self.fail(f"{name} is not a method but has arguments")
            return receiver[name] if name in receiver else map_zero(receiver)
        self.fail(f"can't evaluate field {name} in type {go_type_name(receiver)}")

    def eval_function(
        self, dot: Any, node: IdentifierNode, cmd: Node, args: Sequence[Node], final: Any
    ) -> Any:
        self.node = node
        func = self.funcs.get(node.name)
        if func is None:
            self.fail(f"{go_quote(node.name)} is not a defined function")
        return self.eval_call(dot, func, cmd, node.name, args[1:], final)

    def eval_call(
        self, dot: Any, func: GoFunc, node: Node, name: str, args: Sequence[Node], final: Any
    ) -> Any:
        num_in = len(args) + (final is not _MISSING)
        num_fixed = len(func.params)
        if func.variadic is not None:
            if num_in < num_fixed:
                self.fail(
                    f"wrong number of args for {name}: want at least {num_fixed} got {len(args)}"
                )
        elif num_in != num_fixed:
            self.fail(f"wrong number of args for {name}: want {num_fixed} got {num_in}")
        if func.short_circuit:
            value: Any = None
            for arg in args:
                value = self.eval_arg(dot, func.params[0], arg)
                if is_true(value) == (name == "or"):
                    return value
            if final is not _MISSING:
                value = self.validate(final, func.params[0])
            return value
        argv = [self.eval_arg(dot, func.params[i], arg) for i, arg in enumerate(args[:num_fixed])]
        if func.variadic is not None:
            argv += [self.eval_arg(dot, func.variadic, arg) for arg in args[num_fixed:]]
        if final is not _MISSING:
            param = func.params[num_in - 1] if num_in - 1 < num_fixed else func.variadic
            assert param is not None
            argv.append(self.validate(final, param))
        try:
            return func.fn(*argv)
        except GoFuncError as exc:
            self.node = node
            self.fail(f"error calling {name}: {exc}")
        except (ArithmeticError, ValueError, TypeError, LookupError, RecursionError) as exc:
            # Go's safeCall turns a panic inside a function into an error; do the same.
            self.node = node
            self.fail(f"error calling {name}: {exc}")

    def validate(self, value: Any, param: Param) -> Any:
        if value is None:
            if param.nillable:
                return None
            self.fail(f"invalid value; expected {param.type_name}")
        if param.accepts is not None and not param.accepts(value):
            self.fail(
                f"wrong type for value; expected {param.type_name}; got {go_type_name(value)}"
            )
        return value

    def eval_arg(self, dot: Any, param: Param, node: Node) -> Any:
        self.node = node
        if isinstance(node, DotNode):
            return self.validate(dot, param)
        if isinstance(node, NilNode):
            if param.nillable:
                return None
            self.fail(f"cannot assign nil to {param.type_name}")
        if isinstance(node, FieldNode):
            value = self.eval_field_chain(dot, dot, node, node.ident, (node,), _MISSING)
            return self.validate(value, param)
        if isinstance(node, VariableNode):
            return self.validate(self.eval_variable(dot, node, (), _MISSING), param)
        if isinstance(node, PipeNode):
            return self.validate(self.eval_pipeline(dot, node), param)
        if isinstance(node, IdentifierNode):
            return self.validate(self.eval_function(dot, node, node, (), _MISSING), param)
        if isinstance(node, ChainNode):
            return self.validate(self.eval_chain(dot, node, (), _MISSING), param)
        if param.literal == "string":
            if isinstance(node, StringNode):
                return node.text
            self.fail(f"expected string; found {node}")
        if param.literal == "any":
            if isinstance(node, BoolNode | NumberNode):
                return node.value
            if isinstance(node, StringNode):
                return node.text
        self.fail(f"can't handle {node} for arg of type {param.type_name}")


def execute(
    tree: Tree, data: Any, funcs: Mapping[str, GoFunc], variables: Mapping[str, Any]
) -> str:
    """Run ``tree`` with ``data`` as dot and ``variables`` declared; return the output."""
    state = _State(tree, funcs)
    state.push("$", data)
    for name in tree.variables:
        state.push(name, variables[name])
    try:
        state.walk(data, tree.defines[tree.name])
    except RecursionError:
        state.node = None
        state.fail("template nests too deeply")
    return "".join(state.out)
