"""Lexer for Go's text/template syntax, following Go 1.19's ``text/template/parse/lex.go``.

It turns a template into tokens: text between actions, and inside ``{{ }}`` the words,
literals, variables, fields and punctuation of actions. Trim markers (``{{-`` and
``-}}``) and comments are resolved here, exactly as Go does, so whitespace in rendered
annotations matches Prometheus.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from promalert.rules.gotemplate.values import go_quote


class T(enum.Enum):
    """Token types."""

    ERROR = "error"
    BOOL = "bool"
    CHAR = "char"  # printable ASCII punctuation such as ','
    CHAR_CONSTANT = "char constant"
    ASSIGN = "="
    DECLARE = ":="
    EOF = "EOF"
    FIELD = "field"
    IDENTIFIER = "identifier"
    LEFT_DELIM = "{{"
    LEFT_PAREN = "("
    NUMBER = "number"
    PIPE = "|"
    RAW_STRING = "raw string"
    RIGHT_DELIM = "}}"
    RIGHT_PAREN = ")"
    SPACE = "space"
    STRING = "string"
    TEXT = "text"
    VARIABLE = "variable"
    # Keywords.
    BLOCK = "block"
    BREAK = "break"
    CONTINUE = "continue"
    DOT = "."
    DEFINE = "define"
    ELSE = "else"
    END = "end"
    IF = "if"
    NIL = "nil"
    RANGE = "range"
    TEMPLATE = "template"
    WITH = "with"


KEYWORDS = {
    ".": T.DOT,
    "block": T.BLOCK,
    "break": T.BREAK,
    "continue": T.CONTINUE,
    "define": T.DEFINE,
    "else": T.ELSE,
    "end": T.END,
    "if": T.IF,
    "nil": T.NIL,
    "range": T.RANGE,
    "template": T.TEMPLATE,
    "with": T.WITH,
}
_KEYWORD_TYPES = frozenset(KEYWORDS.values())
_SPACE = " \t\r\n"
_LEFT, _RIGHT = "{{", "}}"


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its type, text, offset in the template and 1-based line."""

    typ: T
    val: str
    pos: int
    line: int

    def __str__(self) -> str:
        # Go's item.String(), used in "unexpected ..." parse errors.
        if self.typ is T.EOF:
            return "EOF"
        if self.typ is T.ERROR:
            return self.val
        if self.typ in _KEYWORD_TYPES:
            return f"<{self.val}>"
        if len(self.val) > 10:
            return go_quote(self.val[:10]) + "..."
        return go_quote(self.val)


def _is_alnum(ch: str) -> bool:
    return ch == "_" or ch.isalpha() or ch.isdecimal()


def _left_trim_marker(text: str, pos: int) -> bool:
    return text[pos : pos + 1] == "-" and text[pos + 1 : pos + 2] in tuple(_SPACE)


def _right_trim_marker(text: str, pos: int) -> bool:
    return text[pos : pos + 1] in tuple(_SPACE) and text[pos + 1 : pos + 2] == "-"


def _go_char(ch: str) -> str:
    """Go's ``%#U`` of a rune, as in ``bad character U+0023 '#'``."""
    code = ord(ch)
    return f"U+{code:04X} '{ch}'" if ch.isprintable() else f"U+{code:04X}"


class _LexError(Exception):
    pass


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.start = 0
        self.paren_depth = 0
        self.items: list[Token] = []

    def line_at(self, pos: int) -> int:
        return 1 + self.text.count("\n", 0, pos)

    def emit(self, typ: T, val: str | None = None) -> None:
        value = self.text[self.start : self.pos] if val is None else val
        self.items.append(Token(typ, value, self.start, self.line_at(self.start)))
        self.start = self.pos

    def error(self, message: str) -> _LexError:
        self.items.append(Token(T.ERROR, message, self.start, self.line_at(self.start)))
        return _LexError(message)

    def peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def at_right_delim(self) -> tuple[bool, bool]:
        if _right_trim_marker(self.text, self.pos) and self.text.startswith(_RIGHT, self.pos + 2):
            return True, True
        return self.text.startswith(_RIGHT, self.pos), False

    def at_terminator(self) -> bool:
        ch = self.peek()
        if ch == "" or ch in _SPACE or ch in ".,|:()":
            return True
        return self.text.startswith(_RIGHT, self.pos)

    def run(self) -> list[Token]:
        try:
            while self.lex_text():
                self.lex_action()
        except _LexError:
            pass
        return self.items

    def lex_text(self) -> bool:
        """Emit the text up to the next ``{{``; return False at the end of input."""
        text = self.text
        x = text.find(_LEFT, self.pos)
        if x < 0:
            self.pos = len(text)
            if self.pos > self.start:
                self.emit(T.TEXT)
            self.emit(T.EOF, "")
            return False
        end = x
        if _left_trim_marker(text, x + 2):
            while end > self.start and text[end - 1] in _SPACE:
                end -= 1
        self.pos = end
        if self.pos > self.start:
            self.emit(T.TEXT)
        self.pos = self.start = x
        return True

    def skip_left_trim(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _SPACE:
            self.pos += 1
        self.start = self.pos

    def lex_action(self) -> None:
        """Lex one ``{{ ... }}`` (or a comment) starting at the left delimiter."""
        text = self.text
        self.pos += 2
        trim = _left_trim_marker(text, self.pos)
        after = 2 if trim else 0
        if text.startswith("/*", self.pos + after):
            self.pos += after
            self.start = self.pos
            self.lex_comment()
            return
        self.emit(T.LEFT_DELIM)
        self.pos += after
        self.start = self.pos
        self.paren_depth = 0
        while True:
            delim, _ = self.at_right_delim()
            if delim:
                if self.paren_depth:
                    raise self.error("unclosed left paren")
                self.lex_right_delim()
                return
            self.lex_inside_action()

    def lex_comment(self) -> None:
        x = self.text.find("*/", self.pos + 2)
        if x < 0:
            raise self.error("unclosed comment")
        self.pos = x + 2
        delim, trim = self.at_right_delim()
        if not delim:
            raise self.error("comment ends before closing delimiter")
        self.pos += 4 if trim else 2
        self.start = self.pos
        if trim:
            self.skip_left_trim()

    def lex_right_delim(self) -> None:
        trim = _right_trim_marker(self.text, self.pos)
        if trim:
            self.pos += 2
            self.start = self.pos
        self.pos += 2
        self.emit(T.RIGHT_DELIM)
        if trim:
            self.skip_left_trim()

    def lex_inside_action(self) -> None:
        text = self.text
        if self.pos >= len(text):
            raise self.error("unclosed action")
        ch = text[self.pos]
        self.pos += 1
        if ch in _SPACE:
            self.pos -= 1
            self.lex_space()
        elif ch == "=":
            self.emit(T.ASSIGN)
        elif ch == ":":
            if self.peek() != "=":
                raise self.error("expected :=")
            self.pos += 1
            self.emit(T.DECLARE)
        elif ch == "|":
            self.emit(T.PIPE)
        elif ch == '"':
            self.lex_quote()
        elif ch == "`":
            end = text.find("`", self.pos)
            if end < 0:
                raise self.error("unterminated raw quoted string")
            self.pos = end + 1
            self.emit(T.RAW_STRING)
        elif ch == "$":
            self.lex_field_or_variable(T.VARIABLE)
        elif ch == "'":
            self.lex_char()
        elif ch == "." and not ("0" <= self.peek() <= "9" and self.peek() != ""):
            self.lex_field_or_variable(T.FIELD)
        elif ch in "+-." or ch.isdigit() and ch.isascii():
            self.pos -= 1
            self.lex_number()
        elif _is_alnum(ch):
            self.pos -= 1
            self.lex_identifier()
        elif ch == "(":
            self.emit(T.LEFT_PAREN)
            self.paren_depth += 1
        elif ch == ")":
            self.emit(T.RIGHT_PAREN)  # emitted first: the parser reports it before the lexer
            self.paren_depth -= 1
            if self.paren_depth < 0:
                raise self.error(f"unexpected right paren {_go_char(ch)}")
        elif ch.isascii() and ch.isprintable():
            self.emit(T.CHAR)
        else:
            raise self.error(f"unrecognized character in action: {_go_char(ch)}")

    def lex_space(self) -> None:
        text = self.text
        count = 0
        while self.pos < len(text) and text[self.pos] in _SPACE:
            self.pos += 1
            count += 1
        # A space followed by "-}}" belongs to the trim-marked right delimiter.
        if _right_trim_marker(text, self.pos - 1) and text.startswith(_RIGHT, self.pos + 1):
            self.pos -= 1
            if count == 1:
                return
        self.emit(T.SPACE)

    def lex_quote(self) -> None:
        text = self.text
        while True:
            ch = text[self.pos : self.pos + 1]
            self.pos += 1
            if ch == "\\":
                nxt = text[self.pos : self.pos + 1]
                self.pos += 1
                if nxt not in ("", "\n"):
                    continue
                raise self.error("unterminated quoted string")
            if ch in ("", "\n"):
                raise self.error("unterminated quoted string")
            if ch == '"':
                break
        self.emit(T.STRING)

    def lex_char(self) -> None:
        text = self.text
        while True:
            ch = text[self.pos : self.pos + 1]
            self.pos += 1
            if ch == "\\":
                nxt = text[self.pos : self.pos + 1]
                self.pos += 1
                if nxt not in ("", "\n"):
                    continue
                raise self.error("unterminated character constant")
            if ch in ("", "\n"):
                raise self.error("unterminated character constant")
            if ch == "'":
                break
        self.emit(T.CHAR_CONSTANT)

    def lex_field_or_variable(self, typ: T) -> None:
        if self.at_terminator():
            self.emit(T.VARIABLE if typ is T.VARIABLE else T.DOT)
            return
        while self.pos < len(self.text) and _is_alnum(self.text[self.pos]):
            self.pos += 1
        if not self.at_terminator():
            raise self.error(f"bad character {_go_char(self.peek())}")
        self.emit(typ)

    def lex_identifier(self) -> None:
        while self.pos < len(self.text) and _is_alnum(self.text[self.pos]):
            self.pos += 1
        word = self.text[self.start : self.pos]
        if not self.at_terminator():
            raise self.error(f"bad character {_go_char(self.peek())}")
        if word in KEYWORDS:
            self.emit(KEYWORDS[word])
        elif word in ("true", "false"):
            self.emit(T.BOOL)
        else:
            self.emit(T.IDENTIFIER)

    def accept(self, chars: str) -> bool:
        if self.pos < len(self.text) and self.text[self.pos] in chars:
            self.pos += 1
            return True
        return False

    def accept_run(self, chars: str) -> None:
        while self.accept(chars):
            pass

    def lex_number(self) -> None:
        if not self.scan_number():
            raise self.error(f"bad number syntax: {go_quote(self.text[self.start : self.pos])}")
        if self.peek() in ("+", "-"):
            # A complex constant such as 1+2i: no spaces, must end in 'i'.
            if not self.scan_number() or self.text[self.pos - 1] != "i":
                bad = go_quote(self.text[self.start : self.pos])
                raise self.error(f"bad number syntax: {bad}")
        self.emit(T.NUMBER)

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
        if len(digits) == 11 and self.accept("eE"):
            self.accept("+-")
            self.accept_run("0123456789_")
        if len(digits) == 23 and self.accept("pP"):
            self.accept("+-")
            self.accept_run("0123456789_")
        self.accept("i")
        if self.pos < len(self.text) and _is_alnum(self.text[self.pos]):
            self.pos += 1
            return False
        return True


def lex(text: str) -> list[Token]:
    """Tokenize ``text``; a lexical error ends the list with an ERROR token."""
    return _Lexer(text).run()
