"""Go literals in templates: quoted strings, raw strings, numbers and characters.

Follows ``strconv.Unquote`` and ``text/template/parse.NumberNode``: a number literal is
an ideal constant that becomes an int (``90``), a float64 (``90.0``, ``1e3``) or a
complex128 (``1i``), which decides how comparisons with ``$value`` behave.
"""

from __future__ import annotations

import re

from promalert.rules.gotemplate.lexer import T, Token
from promalert.rules.gotemplate.values import go_quote

_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_SIMPLE_ESCAPES |= {"\\": "\\"}
_HEX_WIDTH = {"x": 2, "u": 4, "U": 8}


def unquote(text: str) -> str:
    """Go's ``strconv.Unquote`` for "double-quoted" and `raw` strings; ValueError if bad."""
    if text.startswith("`"):
        if len(text) < 2 or not text.endswith("`"):
            raise ValueError("invalid syntax")
        return text[1:-1].replace("\r", "")
    return _unescape(text, '"')


def _unescape(text: str, quote: str) -> str:
    if len(text) < 2 or text[0] != quote or text[-1] != quote:
        raise ValueError("invalid syntax")
    body, out, i = text[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch == quote or ch == "\n":
            raise ValueError("invalid syntax")
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        esc = body[i + 1 : i + 2]
        i += 2
        if esc in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[esc])
        elif esc in ("'", '"'):
            if esc != quote:
                raise ValueError("invalid syntax")
            out.append(esc)
        elif esc in _HEX_WIDTH:
            digits = body[i : i + _HEX_WIDTH[esc]]
            if len(digits) != _HEX_WIDTH[esc] or not re.fullmatch("[0-9a-fA-F]+", digits):
                raise ValueError("invalid syntax")
            code = int(digits, 16)
            if esc != "x" and (code > 0x10FFFF or 0xD800 <= code <= 0xDFFF):
                raise ValueError("invalid syntax")
            out.append(chr(code))
            i += len(digits)
        elif esc and esc in "01234567":
            digits = body[i - 1 : i + 2]
            if not re.fullmatch("[0-7]{3}", digits) or int(digits, 8) > 255:
                raise ValueError("invalid syntax")
            out.append(chr(int(digits, 8)))
            i += 2
        else:
            raise ValueError("invalid syntax")
    return "".join(out)


def _parse_int(text: str) -> int | None:
    body = text.lstrip("+-")
    sign = -1 if text.startswith("-") else 1
    try:
        if re.fullmatch(r"0[0-7_]+", body):  # Go's leading-zero octal
            return sign * int(body[1:].strip("_"), 8)
        return sign * int(body, 0)
    except ValueError:
        return None


def _parse_float(text: str) -> float | None:
    body = text.replace("_", "")
    try:
        if re.match(r"[+-]?0[xX]", body):
            return float.fromhex(body)
        return float(body)
    except (ValueError, OverflowError):
        return None


def number_value(token: Token) -> int | float | complex:
    """The ideal constant Go's ``idealConstant`` makes of a number or char literal."""
    text = token.val
    if text.endswith("i"):  # Go's complex and imaginary constants
        try:
            return complex(text[:-1].replace("_", "") + "j")
        except ValueError:
            raise ValueError(f"illegal number syntax: {go_quote(text)}") from None
    if token.typ is T.CHAR_CONSTANT:
        value = _unescape(text, "'")
        if len(value) != 1:
            raise ValueError(f"malformed character constant: {text}")
        return ord(value)
    as_int = _parse_int(text)
    if as_int is not None and not -(2**63) <= as_int < 2**64:
        as_int = None
    looks_float = any(c in text for c in ".eEpP")
    is_hex_int = re.match(r"0[xX]", text) is not None and not any(c in text for c in "pP")
    if as_int is not None and (not looks_float or is_hex_int):
        if as_int >= 2**63:
            raise ValueError(f"{text} overflows int")
        return as_int
    as_float = _parse_float(text)
    if as_float is None:
        raise ValueError(f"illegal number syntax: {go_quote(text)}")
    if not looks_float:
        raise ValueError(f"integer overflow: {go_quote(text)}")
    return as_float
