"""Go text/template's predefined functions (Go 1.19 ``text/template/funcs.go``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote_plus

from promalert.rules.gotemplate.exec import ANY, STRING, VALUE, GoFunc, GoFuncError, is_true
from promalert.rules.gotemplate.gofmt import sprint, sprintf, sprintln
from promalert.rules.gotemplate.values import Byte, go_type_name, map_zero


def _kind(value: Any) -> str:
    """Go's ``basicKind`` plus "invalid" (nil) and "other" (maps, slices, structs)."""
    if value is None:
        return "invalid"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, complex):
        return "complex"
    if isinstance(value, str):
        return "string"
    return "other"


def _eq(arg1: Any, *args: Any) -> bool:
    if not args:
        raise GoFuncError("missing argument for comparison")
    k1 = _kind(arg1)
    for arg in args:
        k2 = _kind(arg)
        if k1 != k2:
            if arg1 is not None and arg is not None:
                raise GoFuncError("incompatible types for comparison")
            continue
        if k1 == "invalid":
            return True
        if k1 == "other":
            raise GoFuncError(sprintf("non-comparable type %s: %s", [arg, go_type_name(arg)]))
        if arg1 == arg:
            return True
    return False


def _ne(arg1: Any, arg2: Any) -> bool:
    return not _eq(arg1, arg2)


def _lt(arg1: Any, arg2: Any) -> bool:
    k1, k2 = _kind(arg1), _kind(arg2)
    if k1 in ("invalid", "other") or k2 in ("invalid", "other"):
        raise GoFuncError("invalid type for comparison")
    if k1 != k2:
        raise GoFuncError("incompatible types for comparison")
    if k1 in ("bool", "complex"):
        raise GoFuncError("invalid type for comparison")
    return bool(arg1 < arg2)


def _le(arg1: Any, arg2: Any) -> bool:
    return _lt(arg1, arg2) or _eq(arg1, arg2)


def _gt(arg1: Any, arg2: Any) -> bool:
    return not _le(arg1, arg2)


def _ge(arg1: Any, arg2: Any) -> bool:
    return not _lt(arg1, arg2)


def _not(arg: Any) -> bool:
    return not is_true(arg)


def _length(item: Any) -> int:
    if item is None:
        raise GoFuncError("len of nil pointer")
    if isinstance(item, str):
        return len(item.encode())  # Go strings are measured in bytes
    if isinstance(item, Mapping | list | tuple):
        return len(item)
    raise GoFuncError(f"len of type {go_type_name(item)}")


def _index_arg(index: Any, cap: int) -> int:
    if index is None:
        raise GoFuncError("cannot index slice/array with nil")
    if not isinstance(index, int) or isinstance(index, bool):
        raise GoFuncError(f"cannot index slice/array with type {go_type_name(index)}")
    if index < 0 or index > cap:
        raise GoFuncError(f"index out of range: {index}")
    return index


def _index(item: Any, *indexes: Any) -> Any:
    if item is None:
        raise GoFuncError("index of untyped nil")
    for index in indexes:
        if item is None:
            raise GoFuncError("index of nil pointer")
        if isinstance(item, str | list | tuple):
            seq: Any = item.encode() if isinstance(item, str) else item
            x = _index_arg(index, len(seq))
            if x == len(seq):
                kind = "string" if isinstance(item, str) else "slice"
                raise GoFuncError(f"reflect: {kind} index out of range")
            item = Byte(seq[x]) if isinstance(item, str) else seq[x]
        elif isinstance(item, Mapping):
            if index is None:
                index = ""
            if not isinstance(index, str):
                raise GoFuncError(f"value has type {go_type_name(index)}; should be string")
            item = item[index] if index in item else map_zero(item)
        else:
            raise GoFuncError(f"can't index item of type {go_type_name(item)}")
    return item


def _slice(item: Any, *indexes: Any) -> Any:
    if item is None:
        raise GoFuncError("slice of untyped nil")
    if len(indexes) > 3:
        raise GoFuncError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise GoFuncError("cannot 3-index slice a string")
        seq: Any = item.encode()
    elif isinstance(item, list | tuple):
        seq = item
    else:
        raise GoFuncError(f"can't slice item of type {go_type_name(item)}")
    idx = [0, len(seq), len(seq)]
    for i, index in enumerate(indexes):
        idx[i] = _index_arg(index, len(seq))
    if idx[0] > idx[1]:
        raise GoFuncError(f"invalid slice index: {idx[0]} > {idx[1]}")
    if len(indexes) == 3 and idx[1] > idx[2]:
        raise GoFuncError(f"invalid slice index: {idx[1]} > {idx[2]}")
    part = seq[idx[0] : idx[1]]
    return part.decode(errors="replace") if isinstance(part, bytes) else list(part)


def eval_args(args: tuple[Any, ...]) -> str:
    """Go's ``evalArgs``: a lone string as is, otherwise ``fmt.Sprint`` of the arguments."""
    if len(args) == 1 and type(args[0]) is str:
        return args[0]
    return sprint(["<no value>" if a is None else a for a in args])


_HTML_ESCAPES = {'"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;"}
_HTML_ESCAPES["\0"] = "\ufffd"
_JS_ESCAPES = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E"}
_JS_ESCAPES |= {"&": "\\u0026", "=": "\\u003D"}


def html_escape(text: str) -> str:
    """Go's ``template.HTMLEscapeString``."""
    return "".join(_HTML_ESCAPES.get(c, c) for c in text)


def js_escape(text: str) -> str:
    """Go's ``template.JSEscapeString``."""
    out = []
    for ch in text:
        if ch in _JS_ESCAPES:
            out.append(_JS_ESCAPES[ch])
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04X}")
        elif ord(ch) >= 0x80 and not ch.isprintable():
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def _printf(fmt: str, *args: Any) -> str:
    return sprintf(fmt, args)


BUILTINS: dict[str, GoFunc] = {
    "and": GoFunc(lambda *a: a[-1], (VALUE,), VALUE, short_circuit=True),
    "or": GoFunc(lambda *a: a[-1], (VALUE,), VALUE, short_circuit=True),
    "not": GoFunc(_not, (VALUE,)),
    "len": GoFunc(_length, (VALUE,)),
    "index": GoFunc(_index, (VALUE,), VALUE),
    "slice": GoFunc(_slice, (VALUE,), VALUE),
    "eq": GoFunc(_eq, (VALUE,), VALUE),
    "ne": GoFunc(_ne, (VALUE, VALUE)),
    "lt": GoFunc(_lt, (VALUE, VALUE)),
    "le": GoFunc(_le, (VALUE, VALUE)),
    "gt": GoFunc(_gt, (VALUE, VALUE)),
    "ge": GoFunc(_ge, (VALUE, VALUE)),
    "print": GoFunc(lambda *a: sprint(a), (), ANY),
    "printf": GoFunc(_printf, (STRING,), ANY),
    "println": GoFunc(lambda *a: sprintln(a), (), ANY),
    "html": GoFunc(lambda *a: html_escape(eval_args(a)), (), ANY),
    "js": GoFunc(lambda *a: js_escape(eval_args(a)), (), ANY),
    "urlquery": GoFunc(lambda *a: quote_plus(eval_args(a), safe=""), (), ANY),
}
"""The functions every Go template has."""
