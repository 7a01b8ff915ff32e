"""How Go values are modelled in Python for the template engine.

``str`` is a Go string, ``bool`` a bool, ``int`` an int, ``float`` a float64, ``None`` a
nil interface, ``dict`` a map, ``list`` a slice and :class:`GoStruct` a struct. Go type
names matter because they appear in error messages users compare with Prometheus's.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any


class HTML(str):
    """A string marked safe for HTML, Go's ``html/template.HTML`` (from ``safeHtml``)."""

    __slots__ = ()


class Byte(int):
    """A Go ``uint8``, what indexing a string yields."""

    __slots__ = ()


class GoMap(dict[str, Any]):
    """A map whose Go type is not ``map[string]string``; ``zero`` is its missing-key value."""

    __slots__ = ("type_name", "zero")

    def __init__(self, items: Mapping[str, Any], type_name: str, zero: Any) -> None:
        super().__init__(items)
        self.type_name = type_name
        self.zero = zero


class GoStruct:
    """A Go struct value: ordered exported fields and the struct's type name."""

    __slots__ = ("type_name", "_fields")

    def __init__(self, type_name: str, fields: Mapping[str, Any]) -> None:
        self.type_name = type_name
        self._fields = dict(fields)

    def field(self, name: str) -> tuple[bool, Any]:
        """Return (found, value) for the named field."""
        if name in self._fields:
            return True, self._fields[name]
        return False, None

    def items(self) -> Iterator[tuple[str, Any]]:
        """The fields in declaration order."""
        return iter(self._fields.items())


def go_type_name(value: object) -> str:
    """The Go type name of a modelled value, as ``reflect.Type.String`` prints it."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Byte):
        return "uint8"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, complex):
        return "complex128"
    if isinstance(value, HTML):
        return "template.HTML"
    if isinstance(value, str):
        return "string"
    if isinstance(value, GoMap):
        return value.type_name
    if isinstance(value, Mapping):
        return "map[string]string"
    if isinstance(value, GoStruct):
        return value.type_name
    if isinstance(value, list | tuple):
        return "[]interface {}"
    return type(value).__name__


def map_zero(value: Mapping[str, Any]) -> Any:
    """The value a missing key yields with Prometheus's ``missingkey=zero`` option."""
    return value.zero if isinstance(value, GoMap) else ""


def _key_order(key: Any) -> tuple[int, Any]:
    # Go's fmtsort: NaN sorts first among floats, false before true.
    if isinstance(key, float) and math.isnan(key):
        return (0, 0.0)
    if isinstance(key, bool):
        return (1, int(key))
    if isinstance(key, int | float):
        return (1, key)
    return (2, str(key))


def sorted_map_items(value: Mapping[Any, Any]) -> list[tuple[Any, Any]]:
    """Map entries in the order Go prints and ranges over them (sorted keys)."""
    return sorted(value.items(), key=lambda kv: _key_order(kv[0]))


_ESCAPES = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t"}
_ESCAPES["\v"] = r"\v"


def go_quote(text: str, quote: str = '"', *, ascii_only: bool = False) -> str:
    """Go's ``strconv.Quote`` (or ``QuoteRune`` with ``quote="'"``)."""
    out = [quote]
    for ch in text:
        code = ord(ch)
        if ch == quote or ch == "\\":
            out.append("\\" + ch)
        elif (code < 0x80 or not ascii_only) and ch.isprintable():
            out.append(ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append(quote)
    return "".join(out)
