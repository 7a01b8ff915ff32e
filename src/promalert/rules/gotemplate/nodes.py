"""The parse tree of a Go template, mirroring ``text/template/parse/node.go``.

``str(node)`` prints a node the way Go's ``Node.String`` does, because Go names the
failing node in execution errors (``executing "x" at <humanize $labels.x>: ...``).
"""

from __future__ import annotations

from dataclasses import dataclass

from promalert.rules.gotemplate.values import go_quote


@dataclass(frozen=True, slots=True)
class TextNode:
    """Plain text copied to the output."""

    pos: int
    text: str

    def __str__(self) -> str:
        return repr(self.text)


@dataclass(frozen=True, slots=True)
class DotNode:
    """The cursor, ``.``."""

    pos: int

    def __str__(self) -> str:
        return "."


@dataclass(frozen=True, slots=True)
class NilNode:
    """The untyped ``nil``."""

    pos: int

    def __str__(self) -> str:
        return "nil"


@dataclass(frozen=True, slots=True)
class BoolNode:
    """``true`` or ``false``."""

    pos: int
    value: bool

    def __str__(self) -> str:
        return "true" if self.value else "false"


@dataclass(frozen=True, slots=True)
class NumberNode:
    """A number or character constant; ``value`` is Go's ideal constant (int or float64)."""

    pos: int
    text: str
    value: int | float | complex

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class StringNode:
    """A quoted or raw string; ``quoted`` is the source text, ``text`` the value."""

    pos: int
    quoted: str
    text: str

    def __str__(self) -> str:
        return self.quoted


@dataclass(frozen=True, slots=True)
class IdentifierNode:
    """A function name."""

    pos: int
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class VariableNode:
    """A variable with optional fields: ``$labels.instance`` is ("$labels", "instance")."""

    pos: int
    ident: tuple[str, ...]

    def __str__(self) -> str:
        return ".".join(self.ident)


@dataclass(frozen=True, slots=True)
class FieldNode:
    """A field chain on the cursor: ``.Labels.instance`` is ("Labels", "instance")."""

    pos: int
    ident: tuple[str, ...]

    def __str__(self) -> str:
        return "".join("." + name for name in self.ident)


@dataclass(frozen=True, slots=True)
class ChainNode:
    """Fields applied to a term that is not a field or variable: ``(index $x 0).Name``."""

    pos: int
    node: Node
    fields: tuple[str, ...]

    def __str__(self) -> str:
        base = f"({self.node})" if isinstance(self.node, PipeNode) else str(self.node)
        return base + "".join("." + name for name in self.fields)


@dataclass(frozen=True, slots=True)
class CommandNode:
    """One command of a pipeline: a function call, a field, a variable or a literal."""

    pos: int
    args: tuple[Node, ...]

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, PipeNode) else str(a) for a in self.args)


@dataclass(frozen=True, slots=True)
class PipeNode:
    """Commands joined by ``|``, with optional variable declarations."""

    pos: int
    line: int
    is_assign: bool
    decl: tuple[VariableNode, ...]
    cmds: tuple[CommandNode, ...]

    def __str__(self) -> str:
        head = ""
        if self.decl:
            head = ", ".join(str(v) for v in self.decl) + (" = " if self.is_assign else " := ")
        return head + " | ".join(str(c) for c in self.cmds)


@dataclass(frozen=True, slots=True)
class ActionNode:
    """``{{ pipeline }}``: prints the value unless the pipeline declares variables."""

    pos: int
    line: int
    pipe: PipeNode

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


@dataclass(frozen=True, slots=True)
class ListNode:
    """A sequence of nodes."""

    pos: int
    nodes: tuple[Node, ...]

    def __str__(self) -> str:
        return "".join(str(n) for n in self.nodes)


@dataclass(frozen=True, slots=True)
class BranchNode:
    """``if``, ``range`` or ``with`` (named by ``kind``) with its optional else list."""

    kind: str
    pos: int
    line: int
    pipe: PipeNode
    body: ListNode
    else_body: ListNode | None

    def __str__(self) -> str:
        text = "{{" + self.kind + " " + str(self.pipe) + "}}" + str(self.body)
        if self.else_body is not None:
            text += "{{else}}" + str(self.else_body)
        return text + "{{end}}"


@dataclass(frozen=True, slots=True)
class LoopControlNode:
    """``{{break}}`` or ``{{continue}}`` inside a range."""

    pos: int
    line: int
    kind: str

    def __str__(self) -> str:
        return "{{" + self.kind + "}}"


@dataclass(frozen=True, slots=True)
class TemplateNode:
    """``{{template "name" pipeline}}``: runs a defined template with the pipeline as dot."""

    pos: int
    line: int
    name: str
    pipe: PipeNode | None

    def __str__(self) -> str:
        quoted = go_quote(self.name)
        if self.pipe is None:
            return "{{template " + quoted + "}}"
        return "{{template " + quoted + " " + str(self.pipe) + "}}"


Node = (
    TextNode
    | DotNode
    | NilNode
    | BoolNode
    | NumberNode
    | StringNode
    | IdentifierNode
    | VariableNode
    | FieldNode
    | ChainNode
    | CommandNode
    | PipeNode
    | ActionNode
    | ListNode
    | BranchNode
    | LoopControlNode
    | TemplateNode
)
"""Any node of the tree."""
