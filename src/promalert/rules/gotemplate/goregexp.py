"""Go's ``regexp`` (RE2 syntax) on top of Python's ``re``, for ``match`` and ``reReplaceAll``.

The syntaxes mostly agree; the differences users hit are translated: ``$`` and ``\\z``
anchor only at the very end, ``\\d \\w \\s`` are ASCII classes, POSIX classes like
``[[:alpha:]]`` and ``\\Q...\\E`` quoting exist. Replacement templates use Go's ``$1``,
``${1}`` and ``$name`` forms, and ``ReplaceAll`` skips an empty match right after a match
as Go does.
"""

from __future__ import annotations

import functools
import re
import warnings

_POSIX = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_ASCII_CLASSES = {"d": "0-9", "w": "0-9A-Za-z_", "s": "\\t\\n\\f\\r "}
_MULTILINE = re.compile(r"\(\?[a-zA-Z]*m")
_UNGREEDY = re.compile(r"\(\?[a-zA-Z-]*U")
# \pL and \pN (letters, digits) in Python terms: (positive, negated).
_UNICODE_CLASSES = {"L": ("[^\\W\\d_]", "[\\W\\d_]"), "N": ("\\d", "\\D")}


class RegexpError(ValueError):
    """The pattern is not valid Go regexp syntax (as far as Python can tell)."""


def _translate(pattern: str) -> str:
    if _UNGREEDY.search(pattern):
        raise RegexpError(
            f"error parsing regexp: the U (ungreedy) flag is not supported: `{pattern}`"
        )
    out: list[str] = []
    multiline = _MULTILINE.search(pattern) is not None
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if nxt == "Q":
                end = pattern.find("\\E", i + 2)
                literal = pattern[i + 2 :] if end < 0 else pattern[i + 2 : end]
                out.append(re.escape(literal))
                i = len(pattern) if end < 0 else end + 2
                continue
            if nxt.isdigit() and nxt.isascii():
                octal = re.match(r"[0-7]{1,3}", pattern[i + 1 : i + 4])
                # RE2 has no back-references: \1 is an error, \0 and \12 are octal codes.
                if nxt in "89" or octal is None or (nxt != "0" and len(octal.group()) < 2):
                    raise RegexpError(f"error parsing regexp: invalid escape sequence: `\\{nxt}`")
                out.append(f"\\u{int(octal.group(), 8):04x}")
                i += 1 + len(octal.group())
                continue
            if nxt == "x" and pattern.startswith("{", i + 2):
                end = pattern.find("}", i + 3)
                if end > 0 and re.fullmatch("[0-9a-fA-F]{1,6}", pattern[i + 3 : end]):
                    out.append(f"\\U{int(pattern[i + 3 : end], 16):08x}")
                    i = end + 1
                    continue
            if nxt in "pP" and not in_class:
                named = re.match(r"\\[pP](\w|\{\^?\w+\})", pattern[i:])
                name = named.group(1).strip("{}") if named else ""
                negate = (nxt == "P") != name.startswith("^")
                if name.lstrip("^") not in _UNICODE_CLASSES or named is None:
                    raise RegexpError(
                        f"error parsing regexp: Unicode class not supported: `{pattern[i : i + 2]}`"
                    )
                out.append(_UNICODE_CLASSES[name.lstrip("^")][negate])
                i += len(named.group())
                continue
            if nxt == "z":
                out.append("\\Z")
            elif nxt in _ASCII_CLASSES:
                out.append(_ASCII_CLASSES[nxt] if in_class else f"[{_ASCII_CLASSES[nxt]}]")
            elif nxt.lower() in _ASCII_CLASSES and not in_class:
                out.append(f"[^{_ASCII_CLASSES[nxt.lower()]}]")
            else:
                out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if pattern.startswith("[:", i):
                end = pattern.find(":]", i + 2)
                name = pattern[i + 2 : end] if end > 0 else ""
                if name in _POSIX:
                    out.append(_POSIX[name])
                    i = end + 2
                    continue
            if ch == "]" and not (out and out[-1] in ("[", "[^")):
                in_class = False
                out.append(ch)
            elif ch in "[&~|":
                out.append("\\" + ch)  # literal in RE2 classes; Python warns about them
            else:
                out.append(ch)
        elif ch == "[":
            in_class = True
            negated = pattern.startswith("[^", i)
            out.append("[^" if negated else "[")
            i += 2 if negated else 1
            if i < len(pattern) and pattern[i] == "]":
                out.append("\\]")  # a leading ']' is a literal in RE2
                i += 1
            continue
        elif ch == "$" and not multiline:
            out.append("\\Z")
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _go_error(exc: re.error, pattern: str, translated: str) -> str:
    """Word a Python regex error as Go's ``regexp/syntax`` does for the common cases."""
    msg, pos = exc.msg, exc.pos or 0
    if msg.startswith("missing ), unterminated subpattern"):
        return f"missing closing ): `{pattern}`"
    if msg.startswith("unbalanced parenthesis"):
        return f"unexpected ): `{pattern}`"
    if msg.startswith("unterminated character set"):
        return f"missing closing ]: `{translated[pos:]}`"
    if msg.startswith("nothing to repeat"):
        return f"missing argument to repetition operator: `{translated[pos : pos + 1]}`"
    if msg.startswith("multiple repeat"):
        return f"invalid nested repetition operator: `{translated[max(pos - 1, 0) : pos + 1]}`"
    if msg.startswith("bad escape"):
        return f"invalid escape sequence: `{msg.rpartition(' ')[2]}`"
    if msg.startswith("bad character range"):
        return f"invalid character class range: `{msg.rpartition(' ')[2]}`"
    if msg.startswith("unknown extension"):
        return f"invalid or unsupported Perl syntax: `{translated[pos : pos + 3]}`"
    return f"{msg}: `{pattern}`"


@functools.lru_cache(maxsize=512)
def compile_go(pattern: str) -> re.Pattern[str]:
    """Compile a Go regexp; raise :class:`RegexpError` with Go's wording when invalid."""
    translated = _translate(pattern)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return re.compile(translated)
    except re.error as exc:
        raise RegexpError(f"error parsing regexp: {_go_error(exc, pattern, translated)}") from None


def _extract(template: str) -> tuple[str, str] | None:
    """Go's ``extract``: the group name after a ``$`` and the rest, or None if malformed."""
    brace = template.startswith("{")
    body = template[1:] if brace else template
    i = 0
    while i < len(body) and (body[i] == "_" or body[i].isalpha() or body[i].isdecimal()):
        i += 1
    if i == 0:
        return None
    name = body[:i]
    if brace:
        if i >= len(body) or body[i] != "}":
            return None
        i += 1
    return name, body[i:]


def _group(match: re.Match[str], name: str) -> str:
    if name.isdigit() and name.isascii():
        if len(name) > 1 and name[0] == "0":
            return ""
        index = int(name)
        if index <= (match.re.groups or 0):
            return match.group(index) or ""
        return ""
    if name in match.re.groupindex:
        return match.group(name) or ""
    return ""


def expand(template: str, match: re.Match[str]) -> str:
    """Go's ``Regexp.Expand``: ``$1``, ``${1}``, ``$name``, ``${name}`` and ``$$``."""
    out: list[str] = []
    while True:
        before, sep, after = template.partition("$")
        out.append(before)
        if not sep:
            break
        template = after
        if template.startswith("$"):
            out.append("$")
            template = template[1:]
            continue
        extracted = _extract(template)
        if extracted is None:
            out.append("$")
            continue
        name, template = extracted
        out.append(_group(match, name))
    return "".join(out)


def replace_all(pattern: re.Pattern[str], text: str, repl: str) -> str:
    """Go's ``Regexp.ReplaceAllString``."""
    out: list[str] = []
    last_end = 0
    search = 0
    while search <= len(text):
        match = pattern.search(text, search)
        if match is None:
            break
        start, end = match.span()
        out.append(text[last_end:start])
        # Go inserts no replacement for an empty match right after the previous match.
        if end > last_end or start == 0:
            out.append(expand(repl, match))
        last_end = end
        search = search + 1 if search + 1 > end else end
    out.append(text[last_end:])
    return "".join(out)
