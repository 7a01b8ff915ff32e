"""Go's ``strconv.FormatFloat``: shortest and fixed-precision float text, as Go prints it.

Go's shortest form (``%v``) switches to an exponent below 1e-4 and from 1e6 (``1e+06``);
infinities print as ``+Inf``/``-Inf`` and NaN as ``NaN``.
"""

from __future__ import annotations

import math
from decimal import Decimal


def _shortest_digits(value: float) -> tuple[str, int]:
    """Return the shortest round-trip digits of ``abs(value)`` and the decimal point position."""
    # Python's repr and Go's strconv both produce the shortest digit string that
    # round-trips, choosing the closest one; the digits are therefore identical.
    sign, digits, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    del sign
    assert isinstance(exponent, int)
    text = "".join(str(d) for d in digits)
    return text, len(text) + exponent


def _layout_e(digits: str, dp: int, prec: int, upper: bool) -> str:
    """Go's ``fmtE`` for a digit string: ``d.ddde±XX``."""
    frac = (digits[1:] + "0" * prec)[:prec] if prec > 0 else ""
    exp = dp - 1 if digits != "0" else 0
    mark = "E" if upper else "e"
    sign = "-" if exp < 0 else "+"
    return f"{digits[0]}{'.' + frac if frac else ''}{mark}{sign}{abs(exp):02d}"


def _layout_f(digits: str, dp: int, prec: int) -> str:
    """Go's ``fmtF`` for a digit string with ``prec`` fractional digits."""
    whole = (digits[:dp] + "0" * max(0, dp - len(digits))) if dp > 0 else "0"
    if prec <= 0:
        return whole
    frac = "".join(digits[dp + i] if 0 <= dp + i < len(digits) else "0" for i in range(prec))
    return f"{whole}.{frac}"


def format_float(value: float, verb: str = "g", prec: int = -1) -> str:
    """Go's ``strconv.FormatFloat(value, verb, prec, 64)`` for verbs e E f g G x b."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    neg = math.copysign(1.0, value) < 0
    sign = "-" if neg else ""
    if verb in "xX":
        return sign + _hex_float(abs(value), prec, verb == "X")
    if verb == "b":
        return sign + _binary_float(abs(value))
    if prec >= 0:
        if verb in "gG":
            text = f"{abs(value):.{max(prec, 1)}{verb}}"
        else:
            text = f"{abs(value):.{prec}{verb.lower() if verb == 'F' else verb}}"
        return sign + text
    # Shortest representation ('g' with precision -1, as %v uses).
    if value == 0:
        return sign + "0"
    digits, dp = _shortest_digits(value)
    exp = dp - 1
    if verb in "eE":
        return sign + _layout_e(digits, dp, len(digits) - 1, verb == "E")
    if verb == "f":
        return sign + _layout_f(digits, dp, max(len(digits) - dp, 0))
    # Go uses an exponent threshold of 6 for the shortest form (strconv ftoa.go).
    if exp < -4 or exp >= 6:
        return sign + _layout_e(digits, dp, len(digits) - 1, verb == "G")
    return sign + _layout_f(digits, dp, max(len(digits) - dp, 0))


def _hex_float(value: float, prec: int, upper: bool) -> str:
    """Go's ``%x`` for a non-negative finite float: ``0x1.8p+01``."""
    if value == 0:
        mant, exp = 0, 0
    else:
        frac, exp2 = math.frexp(value)
        mant = int(frac * (1 << 53))
        exp = exp2 - 1
        if mant < (1 << 52):  # subnormals: normalise like Go does
            while mant < (1 << 52):
                mant <<= 1
                exp -= 1
    fraction = mant & ((1 << 52) - 1)
    hexdigits = f"{fraction:013x}"
    if prec >= 0:
        shift = (13 - prec) * 4
        if shift > 0:
            full = (1 << 52) | fraction if mant else 0
            half = 1 << (shift - 1)
            rem = full & ((1 << shift) - 1)
            full >>= shift
            if rem > half or (rem == half and full & 1):
                full += 1
            lead = full >> (prec * 4)
            if lead > 1:
                full >>= 1
                exp += 1
            hexdigits = f"{full & ((1 << (prec * 4)) - 1):0{prec}x}" if prec else ""
        else:
            hexdigits = hexdigits + "0" * (prec - 13)
    else:
        hexdigits = hexdigits.rstrip("0")
    lead_digit = "1" if mant else "0"
    sign = "-" if exp < 0 else "+"
    text = f"0x{lead_digit}{'.' + hexdigits if hexdigits else ''}p{sign}{abs(exp):02d}"
    return text.upper() if upper else text


def _binary_float(value: float) -> str:
    """Go's ``%b`` for a non-negative finite float: ``4503599627370496p-52``."""
    if value == 0:
        return "0p-1074"
    frac, exp2 = math.frexp(value)
    mant = int(frac * (1 << 53))
    exp = exp2 - 53
    if exp < -1074:
        mant >>= -1074 - exp
        exp = -1074
    return f"{mant}p{'+' if exp >= 0 else '-'}{abs(exp)}"


def sharp_float(num: str, verb: str, prec: int) -> str:
    """Go's ``#`` flag for floats: keep the decimal point and trailing zeros."""
    digits = (6 if prec == -1 else prec) if verb in "gGx" else 0
    tail = ""
    body = num
    for i in range(1, len(num)):
        if num[i] in "pP" or (num[i] in "eE" and verb not in "xX"):
            tail, body = num[i:], num[:i]
            break
    has_point = "." in body
    seen_nonzero = False
    for ch in body[1:]:
        if ch == ".":
            continue
        if ch != "0":
            seen_nonzero = True
        if seen_nonzero:
            digits -= 1
    if not has_point:
        if len(body) == 2 and body[1] == "0":
            digits -= 1
        body += "."
    return body + "0" * max(digits, 0) + tail
