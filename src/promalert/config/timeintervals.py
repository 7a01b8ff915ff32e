"""Named time intervals (``time_intervals``) with Alertmanager 0.25's syntax and semantics.

An interval holds optional lists of ``times`` (``start_time``/``end_time`` as ``HH:MM``,
end exclusive, ``24:00`` allowed), ``weekdays`` (``monday:friday``), ``days_of_month``
(``1:5``, ``-3:-1`` counts from the month's end), ``months`` (``january:march`` or
``1:3``), ``years`` (``2024:2026``) and a ``location`` (IANA zone, ``UTC`` or ``Local``).
A time is in the interval when every list that is given has a range containing it;
a named entry holds several intervals and contains a time if any of them does.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, tzinfo
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, PlainSerializer, PlainValidator, model_validator
from pydantic_core import InitErrorDetails, ValidationError

from promalert.config.base import Strict

_TIME = re.compile(r"^((([01][0-9])|(2[0-3])):[0-5][0-9])$|(^24:00$)")
_WEEKDAYS = {
    name: i
    for i, name in enumerate(
        ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
    )
}
_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}


def _minutes(text: Any) -> int:
    if not isinstance(text, str) or not _TIME.match(text):
        raise ValueError(f"couldn't parse timestamp {text}, invalid format")
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


class TimeRange(Strict):
    """A range of minutes of the day, ``start_time`` inclusive, ``end_time`` exclusive."""

    start_time: str
    end_time: str

    @model_validator(mode="after")
    def _order(self) -> TimeRange:
        start, end = _minutes(self.start_time), _minutes(self.end_time)
        if start >= 24 * 60:
            raise ValueError("start time out of range")
        if start >= end:
            raise ValueError("start time cannot be equal or greater than end time")
        return self

    @property
    def start_minute(self) -> int:
        """Minutes after midnight where the range starts."""
        return _minutes(self.start_time)

    @property
    def end_minute(self) -> int:
        """Minutes after midnight where the range ends (exclusive)."""
        return _minutes(self.end_time)


def _split_range(text: str) -> tuple[str, str]:
    begin, sep, end = text.partition(":")
    if sep and (":" in end or not begin or not end):
        raise ValueError(f"invalid range {text!r}")
    return (begin, end) if sep else (begin, begin)


def _named(table: dict[str, int], what: str, text: str) -> int:
    found = table.get(text.lower())
    if found is None:
        raise ValueError(f"{text!r} is not a valid {what}")
    return found


def _weekdays(text: str) -> tuple[int, int]:
    begin, end = (_named(_WEEKDAYS, "weekday", p) for p in _split_range(text))
    if begin > end:
        raise ValueError("start day cannot be after end day")
    return begin, end


def _month(text: str) -> int:
    if text.isdigit():
        number = int(text)
        if not 1 <= number <= 12:
            raise ValueError(f"{number} is not a valid month")
        return number
    return _named(_MONTHS, "month", text)


def _months(text: str) -> tuple[int, int]:
    begin, end = (_month(p) for p in _split_range(text))
    if begin > end:
        raise ValueError("end month must be after start month")
    return begin, end


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"invalid {what} {text!r}") from None


def _days(text: str) -> tuple[int, int]:
    begin, end = (_int(p, "day of month") for p in _split_range(text))
    for day in (begin, end):
        if day == 0 or not -31 <= day <= 31:
            raise ValueError(f"{day} is not a valid day of the month: out of range")
    if begin < 0 < end:
        raise ValueError("end day must be negative if start day is negative")
    # Months differ in length; like Alertmanager, reject only ranges empty in every month
    # (judged on a 28-day month), so 5:-1 ("5th to last day") is valid.
    if (28 + begin if begin < 0 else begin) > (28 + end if end < 0 else end):
        raise ValueError(f"end day {end} is always before start day {begin}")
    return begin, end


def _years(text: str) -> tuple[int, int]:
    begin, end = (_int(p, "year") for p in _split_range(text))
    if begin > end:
        raise ValueError("end year must be greater than start year")
    return begin, end


def _range_list(parse: Any) -> Any:
    def validate(value: Any) -> tuple[tuple[int, int], ...] | None:
        if value is None:
            return None
        if not isinstance(value, list):
            raise ValueError("expected a list of ranges")
        # YAML 1.1 reads an unquoted 1:5 as the number 65: asking for a string makes the
        # loader retry with the text as written (Alertmanager's YAML reads it as text).
        numbers = [
            InitErrorDetails(type="string_type", loc=(i,), input=item)
            for i, item in enumerate(value)
            if isinstance(item, int | float) and not isinstance(item, bool)
        ]
        if numbers:
            raise ValidationError.from_exception_data("ranges", numbers)
        return tuple(parse(str(item)) for item in value)

    return validate


def _show(ranges: tuple[tuple[int, int], ...] | None, names: list[str] | None) -> list[str] | None:
    if ranges is None:
        return None
    out = []
    for begin, end in ranges:
        b, e = (names[begin], names[end]) if names else (str(begin), str(end))
        out.append(b if begin == end else f"{b}:{e}")
    return out


_WEEKDAY_NAMES = list(_WEEKDAYS)
_MONTH_NAMES = ["", *list(_MONTHS)]
Ranges = tuple[tuple[int, int], ...] | None
WeekdayRanges = Annotated[
    Ranges,
    PlainValidator(_range_list(_weekdays)),
    PlainSerializer(lambda r: _show(r, _WEEKDAY_NAMES)),
]
MonthRanges = Annotated[
    Ranges, PlainValidator(_range_list(_months)), PlainSerializer(lambda r: _show(r, _MONTH_NAMES))
]
DayRanges = Annotated[
    Ranges, PlainValidator(_range_list(_days)), PlainSerializer(lambda r: _show(r, None))
]
YearRanges = Annotated[
    Ranges, PlainValidator(_range_list(_years)), PlainSerializer(lambda r: _show(r, None))
]


def _location(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("location must be a time zone name like Europe/Berlin")
    zone_of(value)
    return value


def zone_of(name: str) -> tzinfo | None:
    """The zone called ``name``; ``Local`` is the machine's zone (None); raise ValueError."""
    if name == "Local":
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


Location = Annotated[str | None, PlainValidator(_location)]


def _days_in_month(moment: datetime) -> int:
    return calendar.monthrange(moment.year, moment.month)[1]


class TimeInterval(Strict):
    """One interval: each given list must have a range containing the time."""

    times: list[TimeRange] | None = None
    weekdays: WeekdayRanges = None
    days_of_month: DayRanges = None
    months: MonthRanges = None
    years: YearRanges = None
    location: Location = None

    def contains(self, moment: datetime) -> bool:
        """Whether ``moment`` (timezone-aware) falls in this interval."""
        if self.location is not None:
            moment = moment.astimezone(zone_of(self.location))
        if self.times is not None:
            minute = moment.hour * 60 + moment.minute
            if not any(r.start_minute <= minute < r.end_minute for r in self.times):
                return False
        if self.days_of_month is not None and not self._day_in_month(moment):
            return False
        if self.months is not None and not any(b <= moment.month <= e for b, e in self.months):
            return False
        if self.weekdays is not None:
            weekday = (moment.weekday() + 1) % 7  # Go counts from Sunday = 0
            if not any(b <= weekday <= e for b, e in self.weekdays):
                return False
        return self.years is None or any(b <= moment.year <= e for b, e in self.years)

    def _day_in_month(self, moment: datetime) -> bool:
        assert self.days_of_month is not None
        days = _days_in_month(moment)
        for begin, end in self.days_of_month:
            start = days + begin + 1 if begin < 0 else begin
            stop = days + end + 1 if end < 0 else end
            if start > days:
                continue  # e.g. 30 in February
            # Clamped like Alertmanager, so a range never spills into another month.
            start, stop = max(-days, min(start, days)), max(-days, min(stop, days))
            if start <= moment.day <= stop:
                return True
        return False


class NamedTimeInterval(Strict):
    """A ``time_intervals`` entry: a name routes refer to, and its intervals."""

    name: str = Field(min_length=1)
    time_intervals: list[TimeInterval] = Field(default_factory=list)

    def contains(self, moment: datetime) -> bool:
        """Whether any of the intervals contains ``moment``."""
        return any(i.contains(moment) for i in self.time_intervals)
