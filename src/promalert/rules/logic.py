"""The ``logic`` of composite rules: ``all``, ``any``, or ``a and (b or not c)``.

Grammar (``not`` binds tightest, then ``and``, then ``or``)::

    expr := term ("or" term)*
    term := factor ("and" factor)*
    factor := "not" factor | "(" expr ")" | NAME

:func:`parse_logic` checks the text against the rule's condition names once, at load
time, and returns a compiled :class:`Logic` that evaluates without re-parsing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

_TOKEN = re.compile(r"\s*(?:(\()|(\))|([A-Za-z_][A-Za-z0-9_-]*)|(\S))")
_KEYWORDS = frozenset({"and", "or", "not"})

Truth = Mapping[str, bool]
_Node = Callable[[Truth], bool]


@dataclass(frozen=True, slots=True)
class Logic:
    """A compiled composite logic expression over named conditions."""

    text: str
    names: frozenset[str]
    _fn: _Node

    def evaluate(self, truth: Truth) -> bool:
        """Evaluate with each condition's truth; a name missing from ``truth`` is false."""
        return self._fn(truth)


def parse_logic(text: str, names: Collection[str]) -> Logic:
    """Compile ``text`` over the condition ``names``; raise ValueError naming the problem."""
    known = list(names)
    stripped = text.strip()
    if stripped == "all":
        return Logic(stripped, frozenset(known), lambda t: all(t.get(n, False) for n in known))
    if stripped == "any":
        return Logic(stripped, frozenset(known), lambda t: any(t.get(n, False) for n in known))
    parser = _Parser(text, frozenset(known))
    fn = parser.parse()
    return Logic(stripped, frozenset(parser.used), fn)


class _Parser:
    """Recursive-descent parser producing closures (no eval, no AST kept)."""

    def __init__(self, text: str, known: frozenset[str]) -> None:
        self.text = text
        self.known = known
        self.used: set[str] = set()
        self.tokens: list[tuple[str, int]] = []
        for match in _TOKEN.finditer(text):
            if match.group(4) is not None:
                raise ValueError(
                    f"logic {text!r}: unexpected {match.group(4)!r} at column {match.start(4) + 1}"
                    " (use condition names, 'and', 'or', 'not' and parentheses)"
                )
            token = match.group(1) or match.group(2) or match.group(3)
            self.tokens.append((token, match.start(match.lastindex or 0) + 1))
        self.pos = 0

    def parse(self) -> _Node:
        if not self.tokens:
            raise ValueError("logic is empty (use 'all', 'any' or an expression like 'a and b')")
        node = self._expr()
        if self.pos < len(self.tokens):
            token, column = self.tokens[self.pos]
            raise ValueError(f"logic {self.text!r}: unexpected {token!r} at column {column}")
        return node

    def _peek(self) -> str | None:
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else None

    def _expect_more(self, what: str) -> tuple[str, int]:
        if self.pos >= len(self.tokens):
            raise ValueError(f"logic {self.text!r}: expected {what} at the end")
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def _expr(self) -> _Node:
        parts = [self._term()]
        while self._peek() == "or":
            self.pos += 1
            parts.append(self._term())
        if len(parts) == 1:
            return parts[0]
        return lambda t: any(p(t) for p in parts)

    def _term(self) -> _Node:
        parts = [self._factor()]
        while self._peek() == "and":
            self.pos += 1
            parts.append(self._factor())
        if len(parts) == 1:
            return parts[0]
        return lambda t: all(p(t) for p in parts)

    def _factor(self) -> _Node:
        token, column = self._expect_more("a condition name, 'not' or '('")
        if token == "not":
            inner = self._factor()
            return lambda t: not inner(t)
        if token == "(":
            inner = self._expr()
            closing, col = self._expect_more("')'")
            if closing != ")":
                raise ValueError(f"logic {self.text!r}: expected ')' at column {col}")
            return inner
        if token == ")" or token in _KEYWORDS:
            raise ValueError(
                f"logic {self.text!r}: expected a condition name, 'not' or '(' "
                f"at column {column}, got {token!r}"
            )
        if token not in self.known:
            choices = ", ".join(sorted(self.known)) or "none"
            raise ValueError(
                f"logic {self.text!r}: unknown condition {token!r} (conditions: {choices})"
            )
        self.used.add(token)
        name = token
        return lambda t: t.get(name, False)
