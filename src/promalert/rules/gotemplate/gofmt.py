"""Go's ``fmt`` printing of template values: ``%v``, ``Sprint`` and ``Sprintf``.

Templates hold Go values modelled as Python ones: ``str`` (string), ``bool``, ``int``
(int), ``float`` (float64), ``None`` (nil), ``dict`` (map), ``list`` (slice) and
:class:`GoStruct`. Output must match Go byte for byte, because annotations rendered by
promalert are compared with the ones Prometheus renders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from promalert.rules.gotemplate.gofloat import format_float, sharp_float
from promalert.rules.gotemplate.values import (
    GoStruct,
    go_quote,
    go_type_name,
    sorted_map_items,
)


def format_value(value: object) -> str:
    """Print ``value`` as Go's ``fmt.Sprint`` does with ``%v``."""
    return _Printer().value(value, "v")


def sprint(args: Sequence[object]) -> str:
    """Go's ``fmt.Sprint``: spaces between operands when neither is a string."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if i > 0 and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(format_value(arg))
    return "".join(out)


def sprintln(args: Sequence[object]) -> str:
    """Go's ``fmt.Sprintln``: operands separated by spaces, then a newline."""
    return " ".join(format_value(a) for a in args) + "\n"


def sprintf(fmt: str, args: Sequence[object]) -> str:
    """Go's ``fmt.Sprintf`` with its flags, width, precision, verbs and error notes."""
    return _Printf(fmt, list(args)).run()


class _Flags:
    """The flags of one verb, as Go's ``fmt.fmtFlags``."""

    __slots__ = ("plus", "minus", "sharp", "space", "zero", "wid", "prec", "sharp_v", "plus_v")

    def __init__(self) -> None:
        self.plus = self.minus = self.sharp = self.space = self.zero = False
        self.sharp_v = self.plus_v = False
        self.wid: int | None = None
        self.prec: int | None = None


class _Printer:
    """Formats one value for one verb, like Go's ``pp.printArg``."""

    def __init__(self, flags: _Flags | None = None) -> None:
        self.f = flags or _Flags()

    def pad(self, text: str) -> str:
        """Pad ``text`` to the width, on the left unless ``-`` was given."""
        wid = self.f.wid
        if wid is None or len(text) >= wid:
            return text
        fill = ("0" if self.f.zero else " ") * (wid - len(text))
        return text + " " * (wid - len(text)) if self.f.minus else fill + text

    def bad_verb(self, verb: str, value: object) -> str:
        """Go's ``%!verb(type=value)`` note for a verb that does not fit the value."""
        if value is None:
            return f"%!{verb}(<nil>)"
        return f"%!{verb}({go_type_name(value)}={self.value(value, 'v')})"

    def value(self, value: object, verb: str) -> str:
        """Format ``value`` for ``verb``."""
        if verb == "T":
            return self.pad(go_type_name(value))
        if value is None:
            return self.pad("<nil>") if verb == "v" else self.bad_verb(verb, value)
        if isinstance(value, bool):
            if verb in "tv":
                return self.pad("true" if value else "false")
            return self.bad_verb(verb, value)
        if isinstance(value, int):
            return self.integer(value, verb)
        if isinstance(value, float):
            return self.floating(value, verb)
        if isinstance(value, complex):
            if verb not in "vbgGxXfFeE":
                return self.bad_verb(verb, value)
            plus, self.f.plus = self.f.plus, True
            imag = self.floating(value.imag, verb)
            self.f.plus = plus
            return f"({self.floating(value.real, verb)}{imag}i)"
        if isinstance(value, str):
            return self.string(value, verb)
        if isinstance(value, Mapping):
            parts = [
                f"{self.value(k, verb)}:{self.value(v, verb)}" for k, v in sorted_map_items(value)
            ]
            return "map[" + " ".join(parts) + "]"
        if isinstance(value, list | tuple):
            return "[" + " ".join(self.value(v, verb) for v in value) + "]"
        if isinstance(value, GoStruct):
            if self.f.plus_v:
                return "{" + " ".join(f"{k}:{self.value(v, verb)}" for k, v in value.items()) + "}"
            return "{" + " ".join(self.value(v, verb) for _, v in value.items()) + "}"
        return self.pad(str(value))

    def integer(self, value: int, verb: str) -> str:
        """Go's ``fmtInteger`` and friends."""
        f = self.f
        if verb == "c":
            return self.pad(chr(value) if 0 <= value <= 0x10FFFF else "\ufffd")
        if verb == "q":
            return self.pad(go_quote(chr(value) if 0 <= value <= 0x10FFFF else "\ufffd", "'"))
        if verb == "U":
            text = f"U+{value:04X}"
            if f.sharp and 0 <= value <= 0x10FFFF and chr(value).isprintable():
                text += f" '{chr(value)}'"
            return self.pad(text)
        bases = {"v": 10, "d": 10, "b": 2, "o": 8, "O": 8, "x": 16, "X": 16}
        if verb not in bases:
            return self.bad_verb(verb, value)
        base = bases[verb]
        negative = value < 0
        digits = "" if (f.prec == 0 and value == 0) else _to_base(abs(value), base)
        if verb == "X":
            digits = digits.upper()
        if f.prec == 0 and value == 0:
            return " " * (f.wid or 0)
        prec = 0
        if f.prec is not None:
            prec = f.prec
        elif f.zero and f.wid is not None and not f.minus:
            prec = f.wid - (1 if negative or f.plus or f.space else 0)
        digits = digits.rjust(prec, "0")
        if f.sharp:
            if base == 2:
                digits = "0b" + digits
            elif base == 8 and not digits.startswith("0"):
                digits = "0" + digits
            elif base == 16:
                digits = ("0X" if verb == "X" else "0x") + digits
        if verb == "O":
            digits = "0o" + digits
        if negative:
            digits = "-" + digits
        elif f.plus:
            digits = "+" + digits
        elif f.space:
            digits = " " + digits
        zero, f.zero = f.zero, False
        try:
            return self.pad(digits)
        finally:
            f.zero = zero

    def floating(self, value: float, verb: str) -> str:
        """Go's ``fmtFloat``: sign, Inf/NaN, ``#`` and zero padding rules."""
        f = self.f
        defaults = {"v": ("g", -1), "b": ("b", -1), "g": ("g", -1), "G": ("G", -1)}
        defaults |= {"x": ("x", -1), "X": ("X", -1), "f": ("f", 6), "F": ("f", 6)}
        defaults |= {"e": ("e", 6), "E": ("E", 6)}
        if verb not in defaults:
            return self.bad_verb(verb, value)
        conv, prec = defaults[verb]
        if f.prec is not None:
            prec = f.prec
        num = format_float(value, conv, prec)
        num = num if num[0] in "+-" else "+" + num
        if f.space and num[0] == "+" and not f.plus:
            num = " " + num[1:]
        if num[1] in "IN":
            if num[1] == "N" and not f.space and not f.plus:
                num = num[1:]
            zero, f.zero = f.zero, False
            try:
                return self.pad(num)
            finally:
                f.zero = zero
        if f.sharp and conv != "b":
            num = sharp_float(num, conv, prec)
        if f.plus or num[0] != "+":
            if f.zero and f.wid is not None and f.wid > len(num) and not f.minus:
                return num[0] + "0" * (f.wid - len(num)) + num[1:]
            return self.pad(num)
        return self.pad(num[1:])

    def string(self, value: str, verb: str) -> str:
        """Go's ``fmtString``."""
        f = self.f
        if f.prec is not None:
            value = value[: f.prec]
        if verb == "v" and f.sharp_v:
            return self.pad(go_quote(value))
        if verb in "sv":
            return self.pad(value)
        if verb == "q":
            if f.sharp and "`" not in value and all(c == "\t" or c.isprintable() for c in value):
                return self.pad(f"`{value}`")
            return self.pad(go_quote(value, ascii_only=f.plus))
        if verb in "xX":
            data = value.encode()
            sep = " " if f.space else ""
            prefix = ("0X" if verb == "X" else "0x") if f.sharp else ""
            pieces = [f"{b:02X}" if verb == "X" else f"{b:02x}" for b in data]
            if f.space:
                text = sep.join(prefix + p for p in pieces)
            else:
                text = (prefix if pieces else "") + "".join(pieces)
            return self.pad(text)
        return self.bad_verb(verb, value)


def _to_base(value: int, base: int) -> str:
    """Digits of a non-negative int in ``base``."""
    if base == 10:
        return str(value)
    return {2: f"{value:b}", 8: f"{value:o}", 16: f"{value:x}"}[base]


class _Printf:
    """One run of Go's ``doPrintf``."""

    def __init__(self, fmt: str, args: list[object]) -> None:
        self.fmt = fmt
        self.args = args
        self.out: list[str] = []
        self.argnum = 0
        self.reordered = False

    def run(self) -> str:
        fmt, end, i = self.fmt, len(self.fmt), 0
        while i < end:
            j = fmt.find("%", i)
            if j < 0:
                self.out.append(fmt[i:])
                break
            self.out.append(fmt[i:j])
            i = self.verb(j + 1)
        if not self.reordered and self.argnum < len(self.args):
            extra = []
            for arg in self.args[self.argnum :]:
                if arg is None:
                    extra.append("<nil>")
                else:
                    extra.append(f"{go_type_name(arg)}={format_value(arg)}")
            self.out.append("%!(EXTRA " + ", ".join(extra) + ")")
        return "".join(self.out)

    def arg_index(self, i: int) -> tuple[int, bool, bool]:
        """Parse an explicit ``[n]`` argument index at ``i``: (new i, found, ok)."""
        fmt = self.fmt
        if i >= len(fmt) or fmt[i] != "[":
            return i, False, True
        self.reordered = True
        close = fmt.find("]", i)
        if close < 0 or not fmt[i + 1 : close].isdigit():
            return (close + 1 if close >= 0 else i + 1), True, False
        index = int(fmt[i + 1 : close]) - 1
        if not 0 <= index <= len(self.args):
            return close + 1, True, False
        self.argnum = index
        return close + 1, True, True

    def star(self) -> int | None:
        """Take an int argument for ``*`` width or precision."""
        if self.argnum < len(self.args):
            arg = self.args[self.argnum]
            self.argnum += 1
            if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) <= 1_000_000:
                return arg
        return None

    def verb(self, i: int) -> int:
        fmt, end = self.fmt, len(self.fmt)
        f = _Flags()
        while i < end and fmt[i] in "#0+- ":
            ch = fmt[i]
            if ch == "#":
                f.sharp = True
            elif ch == "0":
                f.zero = not f.minus
            elif ch == "+":
                f.plus = True
            elif ch == "-":
                f.minus, f.zero = True, False
            else:
                f.space = True
            i += 1
        good = True
        i, after_index, ok = self.arg_index(i)
        good = good and ok
        if i < end and fmt[i] == "*":
            i += 1
            wid = self.star()
            if wid is None:
                self.out.append("%!(BADWIDTH)")
            elif wid < 0:
                f.wid, f.minus, f.zero = -wid, True, False
            else:
                f.wid = wid
            after_index = False
        else:
            start = i
            while i < end and fmt[i].isdigit():
                i += 1
            if i > start:
                f.wid = int(fmt[start:i])
                if after_index:
                    good = False
        if i + 1 < end and fmt[i] == ".":
            i += 1
            if after_index:
                good = False
            i, after_index, ok = self.arg_index(i)
            good = good and ok
            if i < end and fmt[i] == "*":
                i += 1
                prec = self.star()
                if prec is None:
                    self.out.append("%!(BADPREC)")
                f.prec = prec if prec is not None and prec >= 0 else None
                after_index = False
            else:
                start = i
                while i < end and fmt[i].isdigit():
                    i += 1
                f.prec = int(fmt[start:i]) if i > start else 0
        if not after_index:
            i, after_index, ok = self.arg_index(i)
            good = good and ok
        if i >= end:
            self.out.append("%!(NOVERB)")
            return i
        verb = fmt[i]
        i += 1
        if verb == "%":
            self.out.append("%")
        elif not good:
            self.out.append(f"%!{verb}(BADINDEX)")
        elif self.argnum >= len(self.args):
            self.out.append(f"%!{verb}(MISSING)")
        else:
            if verb == "v":
                f.sharp_v, f.sharp = f.sharp, False
                f.plus_v, f.plus = f.plus, False
            self.out.append(_Printer(f).value(self.args[self.argnum], verb))
            self.argnum += 1
        return i
