"""Prometheus durations: ``1h30m``, ``5m``, ``90s``, ``250ms``, ``1d``, ``1w``, ``1y``."""

from __future__ import annotations

import re

_UNITS = {
    "y": 365 * 86400.0,
    "w": 7 * 86400.0,
    "d": 86400.0,
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 0.001,
}
_PART = re.compile(r"(\d+)(ms|y|w|d|h|m|s)")
_WHOLE = re.compile(r"^(?:\d+(?:ms|y|w|d|h|m|s))+$")
_ORDER = ["y", "w", "d", "h", "m", "s", "ms"]


def parse_duration(text: str) -> float:
    """Parse a Prometheus duration into seconds; raise ValueError naming the text if bad.

    Units must appear from largest to smallest, each at most once, as Prometheus requires.
    """
    if text == "0":
        return 0.0
    if not isinstance(text, str) or not _WHOLE.match(text):
        raise ValueError(
            f"invalid duration {text!r} (expected a number and unit like 30s, 5m, 1h30m; "
            "units: ms, s, m, h, d, w, y)"
        )
    total = 0.0
    last = -1
    for number, unit in _PART.findall(text):
        pos = _ORDER.index(unit)
        if pos <= last:
            raise ValueError(f"invalid duration {text!r}: units must go from largest to smallest")
        last = pos
        total += int(number) * _UNITS[unit]
    return total


def format_duration(seconds: float) -> str:
    """Format seconds the way Prometheus prints durations (``1h30m``, ``0s``)."""
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    out = []
    for unit in _ORDER:
        size = round(_UNITS[unit] * 1000)
        if ms >= size:
            count, ms = divmod(ms, size)
            out.append(f"{count}{unit}")
    return "".join(out)
