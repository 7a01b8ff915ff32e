"""Small validated value types shared by the config and rule-file models."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator, PlainSerializer

from promalert.durations import format_duration, parse_duration


def _duration(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}")
    if isinstance(value, int | float):
        # Bare numbers are not Prometheus durations; only 0 is unambiguous.
        if value == 0:
            return 0.0
        raise ValueError(f"invalid duration {value!r} (add a unit, e.g. {value}s)")
    return parse_duration(str(value))


Duration = Annotated[
    float,
    BeforeValidator(_duration),
    PlainSerializer(format_duration, return_type=str),
]
"""A Prometheus duration, held as seconds."""


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r} (expected an IANA name like Europe/Berlin or UTC)"
        ) from None
    return value


TimeZone = Annotated[str, AfterValidator(_time_zone)]
"""An IANA time zone name, checked at load time."""

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
_CONDITION = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


@dataclass(frozen=True, slots=True)
class Condition:
    """An operator and a number, like ``> 90``; NaN never satisfies one."""

    op: str
    threshold: float

    def holds(self, value: float) -> bool:
        """True when ``value op threshold`` holds (never for NaN)."""
        if math.isnan(value):
            return False
        return _OPS[self.op](value, self.threshold)

    def __str__(self) -> str:
        return f"{self.op} {self.threshold:g}"


def parse_condition(value: Any) -> Condition:
    """Parse ``> 90``-style text into a Condition; raise ValueError saying what is expected."""
    if isinstance(value, Condition):
        return value
    match = _CONDITION.match(str(value)) if isinstance(value, str) else None
    if not match:
        raise ValueError(
            f"invalid condition {value!r} (expected an operator and a number, "
            "e.g. '> 90', '<= 0.5'; operators: > >= < <= == !=)"
        )
    return Condition(match.group(1), float(match.group(2)))


ConditionField = Annotated[
    Condition,
    BeforeValidator(parse_condition),
    PlainSerializer(str, return_type=str),
]
"""A rule condition such as ``> 90``."""

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def _label_names(value: Any) -> Any:
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str) or not _LABEL_NAME.match(key):
                raise ValueError(f"invalid label name {key!r}")
    return value


LabelMap = Annotated[dict[str, str], BeforeValidator(_label_names)]
"""A label name → value map with names checked against Prometheus's grammar."""
