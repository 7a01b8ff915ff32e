"""Parser for Go's text/template, following Go 1.19's ``text/template/parse/parse.go``.

Errors read like Go's (``template: NAME:LINE: function "foo" not defined``), so a user
sees the same message from ``promalert check`` as from ``promtool check rules``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from promalert.rules.gotemplate.lexer import T, Token, lex
from promalert.rules.gotemplate.literals import number_value, unquote
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
from promalert.rules.gotemplate.values import go_quote


class GoTemplateError(Exception):
    """A template failed to parse or execute; the message is Go's, naming template and place."""


@dataclass(frozen=True, slots=True)
class Tree:
    """A parsed template.

    ``prefix_len`` is the length of text that Prometheus puts before the template on its
    first line (the variable preamble), so error columns match Prometheus's.
    """

    name: str
    text: str
    defines: Mapping[str, ListNode]  # the template itself and its {{define}}s, by name
    variables: tuple[str, ...]
    prefix_len: int = 0

    def location(self, pos: int) -> str:
        """``NAME:LINE:COLUMN`` of an offset, with Go's byte columns (0-based on line 1)."""
        before = self.text[:pos]
        line = 1 + before.count("\n")
        newline = before.rfind("\n")
        if newline < 0:
            column = len(before.encode()) + self.prefix_len
        else:
            column = len(before[newline + 1 :].encode())
        return f"{self.name}:{line}:{column}"


@dataclass(frozen=True, slots=True)
class _End:
    pos: int

    def __str__(self) -> str:
        return "{{end}}"


@dataclass(frozen=True, slots=True)
class _Else:
    pos: int

    def __str__(self) -> str:
        return "{{else}}"


_OPERAND_START = frozenset(
    {
        T.BOOL,
        T.CHAR_CONSTANT,
        T.DOT,
        T.FIELD,
        T.IDENTIFIER,
        T.NUMBER,
        T.NIL,
        T.RAW_STRING,
        T.STRING,
        T.VARIABLE,
        T.LEFT_PAREN,
    }
)
_NOT_EXECUTABLE = (BoolNode, DotNode, NilNode, NumberNode, StringNode)


class _Parser:
    """Builds a :class:`Tree` from tokens, checking functions and variables as Go does."""

    def __init__(
        self, name: str, text: str, functions: Collection[str], variables: Iterable[str]
    ) -> None:
        self.name = name
        self.text = text
        self.tokens = lex(text)
        self.i = 0
        self.furthest = 0
        self.functions = functions
        self.vars = ["$", *variables]
        self.range_depth = 0
        self.defines: dict[str, ListNode] = {}

    # Token access -------------------------------------------------------------------
    def _fetch(self, index: int) -> Token:
        token = self.tokens[min(index, len(self.tokens) - 1)]
        self.furthest = max(self.furthest, index)
        if token.typ is T.ERROR:
            raise self.error(token.val, token.line)
        return token

    def next(self) -> Token:
        token = self._fetch(self.i)
        self.i += 1
        return token

    def peek(self) -> Token:
        return self._fetch(self.i)

    def backup(self) -> None:
        self.i -= 1

    def next_non_space(self) -> Token:
        token = self.next()
        while token.typ is T.SPACE:
            token = self.next()
        return token

    def peek_non_space(self) -> Token:
        token = self.next_non_space()
        self.backup()
        return token

    def error(self, message: str, line: int | None = None) -> GoTemplateError:
        if line is None:
            line = self.tokens[min(self.furthest, len(self.tokens) - 1)].line
        return GoTemplateError(f"template: {self.name}:{line}: {message}")

    def unexpected(self, token: Token, context: str) -> GoTemplateError:
        return self.error(f"unexpected {token} in {context}")

    def expect(self, typ: T, context: str) -> Token:
        token = self.next_non_space()
        if token.typ is not typ:
            raise self.unexpected(token, context)
        return token

    # Structure ------------------------------------------------------------------------
    def parse(self) -> dict[str, ListNode]:
        nodes: list[Node] = []
        while self.peek().typ is not T.EOF:
            if self.peek().typ is T.LEFT_DELIM:
                mark = self.i
                self.next()
                if self.next_non_space().typ is T.DEFINE:
                    self.definition()
                    continue
                self.i = mark
            node = self.text_or_action()
            if isinstance(node, _End | _Else):
                raise self.error(f"unexpected {node}")
            nodes.append(node)
        self.add(self.name, ListNode(0, tuple(nodes)))
        return self.defines

    def add(self, name: str, body: ListNode) -> None:
        """Record a named template as Go's ``Tree.add`` does (empty ones may be redefined)."""
        existing = self.defines.get(name)
        if existing is None or _is_empty(existing):
            self.defines[name] = body
        elif not _is_empty(body):
            raise self.error(f"template: multiple definition of template {go_quote(name)}")

    def template_name(self, token: Token, context: str) -> str:
        if token.typ not in (T.STRING, T.RAW_STRING):
            raise self.unexpected(token, context)
        try:
            return unquote(token.val)
        except ValueError as exc:
            raise self.error(str(exc)) from None

    def sub_template(self, context: str) -> ListNode:
        """Parse a define or block body: a new scope where only ``$`` is declared."""
        saved = self.vars, self.range_depth
        self.vars, self.range_depth = ["$"], 0
        try:
            body, end = self.item_list()
        finally:
            self.vars, self.range_depth = saved
        if not isinstance(end, _End):
            raise self.error(f"unexpected {end} in {context}")
        return body

    def definition(self) -> None:
        name = self.template_name(self.next_non_space(), "define clause")
        self.expect(T.RIGHT_DELIM, "define clause")
        self.add(name, self.sub_template("define clause"))

    def text_or_action(self) -> Node | _End | _Else:
        token = self.next_non_space()
        if token.typ is T.TEXT:
            return TextNode(token.pos, token.val)
        if token.typ is T.LEFT_DELIM:
            return self.action()
        raise self.unexpected(token, "input")

    def item_list(self) -> tuple[ListNode, _End | _Else]:
        pos = self.peek_non_space().pos
        nodes: list[Node] = []
        while self.peek_non_space().typ is not T.EOF:
            node = self.text_or_action()
            if isinstance(node, _End | _Else):
                return ListNode(pos, tuple(nodes)), node
            nodes.append(node)
        raise self.error("unexpected EOF")

    def action(self) -> Node | _End | _Else:
        token = self.next_non_space()
        typ = token.typ
        if typ in (T.BLOCK, T.TEMPLATE):
            context = f"{token.val} clause"
            name_token = self.next_non_space()
            name = self.template_name(name_token, context)
            pipe = None
            if typ is T.BLOCK:
                pipe = self.pipeline(context, T.RIGHT_DELIM)
                self.add(name, self.sub_template(context))
            elif self.next_non_space().typ is not T.RIGHT_DELIM:
                self.backup()
                pipe = self.pipeline(context, T.RIGHT_DELIM)
            return TemplateNode(name_token.pos, name_token.line, name, pipe)
        if typ in (T.BREAK, T.CONTINUE):
            end = self.next_non_space()
            if end.typ is not T.RIGHT_DELIM:
                raise self.unexpected(end, "{{" + token.val + "}}")
            if self.range_depth == 0:
                raise self.error(f"{{{{{token.val}}}}} outside {{{{range}}}}")
            return LoopControlNode(token.pos, token.line, token.val)
        if typ is T.ELSE:
            peek = self.peek_non_space()
            if peek.typ is T.IF:
                return _Else(peek.pos)
            return _Else(self.expect(T.RIGHT_DELIM, "else").pos)
        if typ is T.END:
            return _End(self.expect(T.RIGHT_DELIM, "end").pos)
        if typ in (T.IF, T.RANGE, T.WITH):
            return self.control(token.val)
        self.backup()
        first = self.peek()
        return ActionNode(first.pos, first.line, self.pipeline("command", T.RIGHT_DELIM))

    def control(self, kind: str) -> BranchNode:
        saved = len(self.vars)
        try:
            pipe = self.pipeline(kind, T.RIGHT_DELIM)
            if kind == "range":
                self.range_depth += 1
            body, nxt = self.item_list()
            if kind == "range":
                self.range_depth -= 1
            else_body = None
            if isinstance(nxt, _Else):
                if kind == "if" and self.peek().typ is T.IF:
                    self.next()
                    else_body = ListNode(nxt.pos, (self.control("if"),))
                else:
                    else_body, end = self.item_list()
                    if not isinstance(end, _End):
                        raise self.error(f"expected end; found {end}")
            return BranchNode(kind, pipe.pos, pipe.line, pipe, body, else_body)
        finally:
            del self.vars[saved:]

    # Pipelines --------------------------------------------------------------------------
    def pipeline(self, context: str, end: T) -> PipeNode:
        start = self.peek_non_space()
        decl: list[VariableNode] = []
        is_assign = False
        while True:
            var = self.peek_non_space()
            if var.typ is not T.VARIABLE:
                break
            mark = self.i
            self.next()
            nxt = self.peek_non_space()
            if nxt.typ in (T.ASSIGN, T.DECLARE):
                is_assign = nxt.typ is T.ASSIGN
                self.next_non_space()
                decl.append(VariableNode(var.pos, (var.val,)))
                self.vars.append(var.val)
            elif nxt.typ is T.CHAR and nxt.val == ",":
                self.next_non_space()
                decl.append(VariableNode(var.pos, (var.val,)))
                self.vars.append(var.val)
                if context == "range" and len(decl) < 2:
                    following = self.peek_non_space().typ
                    if following in (T.VARIABLE, T.RIGHT_DELIM, T.RIGHT_PAREN):
                        continue
                    raise self.error("range can only initialize variables")
                raise self.error(f"too many declarations in {context}")
            else:
                self.i = mark
            break
        cmds: list[CommandNode] = []
        while True:
            token = self.next_non_space()
            if token.typ is end:
                if not cmds:
                    raise self.error(f"missing value for {context}")
                for stage, cmd in enumerate(cmds[1:], start=2):
                    if isinstance(cmd.args[0], _NOT_EXECUTABLE):
                        raise self.error(f"non executable command in pipeline stage {stage}")
                return PipeNode(start.pos, start.line, is_assign, tuple(decl), tuple(cmds))
            if token.typ not in _OPERAND_START:
                raise self.unexpected(token, context)
            self.backup()
            cmds.append(self.command())

    def command(self) -> CommandNode:
        pos = self.peek_non_space().pos
        args: list[Node] = []
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                args.append(operand)
            token = self.next()
            if token.typ is T.SPACE:
                continue
            if token.typ in (T.RIGHT_DELIM, T.RIGHT_PAREN):
                self.backup()
            elif token.typ is not T.PIPE:
                raise self.unexpected(token, "operand")
            break
        if not args:
            raise self.error("empty command")
        return CommandNode(pos, tuple(args))

    def operand(self) -> Node | None:
        node = self.term()
        if node is None or self.peek().typ is not T.FIELD:
            return node
        chain_pos = self.peek().pos
        fields: list[str] = []
        while self.peek().typ is T.FIELD:
            fields.append(self.next().val[1:])
        if isinstance(node, FieldNode):
            return FieldNode(chain_pos, node.ident + tuple(fields))
        if isinstance(node, VariableNode):
            return VariableNode(chain_pos, node.ident + tuple(fields))
        if isinstance(node, _NOT_EXECUTABLE):
            raise self.error(f"unexpected . after term {go_quote(str(node))}")
        return ChainNode(chain_pos, node, tuple(fields))

    def term(self) -> Node | None:
        token = self.next_non_space()
        typ = token.typ
        if typ is T.IDENTIFIER:
            if token.val not in self.functions:
                raise self.error(f"function {go_quote(token.val)} not defined")
            return IdentifierNode(token.pos, token.val)
        if typ is T.DOT:
            return DotNode(token.pos)
        if typ is T.NIL:
            return NilNode(token.pos)
        if typ is T.VARIABLE:
            name = token.val.split(".")[0]
            if name not in self.vars:
                raise self.error(f"undefined variable {go_quote(name)}")
            return VariableNode(token.pos, (token.val,))
        if typ is T.FIELD:
            return FieldNode(token.pos, (token.val[1:],))
        if typ is T.BOOL:
            return BoolNode(token.pos, token.val == "true")
        if typ in (T.NUMBER, T.CHAR_CONSTANT):
            try:
                return NumberNode(token.pos, token.val, number_value(token))
            except ValueError as exc:
                raise self.error(str(exc)) from None
        if typ is T.LEFT_PAREN:
            return self.pipeline("parenthesized pipeline", T.RIGHT_PAREN)
        if typ in (T.STRING, T.RAW_STRING):
            try:
                return StringNode(token.pos, token.val, unquote(token.val))
            except ValueError as exc:
                raise self.error(str(exc)) from None
        self.backup()
        return None


def parse(
    text: str,
    name: str,
    functions: Collection[str],
    variables: Iterable[str] = (),
    prefix_len: int = 0,
) -> Tree:
    """Parse ``text``; ``variables`` are declared before it (``$`` always is)."""
    declared = tuple(variables)
    defines = _Parser(name, text, functions, declared).parse()
    return Tree(name, text, defines, declared, prefix_len)


def _is_empty(node: Node) -> bool:
    """Go's ``IsEmptyTree``: only blank text."""
    if isinstance(node, ListNode):
        return all(_is_empty(n) for n in node.nodes)
    return isinstance(node, TextNode) and not node.text.strip(" \t\r\n\v\f")
