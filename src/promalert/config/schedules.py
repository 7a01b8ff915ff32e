"""On-call schedules (SPEC §4 ``schedules:``): layers of rotations, restrictions, overrides.

Times in a schedule (a layer's ``start``, an override's ``start``/``end``) are written as
ISO 8601 local times in the schedule's ``timezone`` (``2026-01-05T09:00``); an explicit
offset (``2026-01-05T09:00+01:00``, ``...Z``) is also accepted. Naive values stay naive
here: :mod:`promalert.escalation.schedule` places them in the zone, because only it knows
the rule for wall times that DST skips or repeats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, PlainSerializer, PlainValidator, field_validator, model_validator

from promalert.config.base import Strict
from promalert.config.timeintervals import WeekdayRanges
from promalert.config.types import Duration, TimeZone

_DAY = 24 * 60
_HOURS = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
ROTATION_NAMES = ("hourly", "daily", "weekly")


@dataclass(frozen=True, slots=True)
class Hours:
    """A daily window of local minutes; ``end <= start`` means it wraps past midnight."""

    start: int
    end: int

    @property
    def wraps(self) -> bool:
        """Whether the window ends on the next day (``22:00-06:00``)."""
        return self.end <= self.start

    def __str__(self) -> str:
        return f"{_clock(self.start)}-{_clock(self.end)}"


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_hours(value: Any) -> Hours:
    """Parse ``"HH:MM-HH:MM"`` (end may be ``24:00``); raise ValueError saying what is expected."""
    if isinstance(value, Hours):
        return value
    match = _HOURS.match(value) if isinstance(value, str) else None
    expected = "expected HH:MM-HH:MM like 09:00-17:00 or 22:00-06:00"
    if match is None:
        raise ValueError(f"invalid hours {value!r} ({expected})")
    sh, sm, eh, em = (int(g) for g in match.groups())
    if sh > 23 or sm > 59 or em > 59 or eh > 24 or (eh == 24 and em != 0):
        raise ValueError(f"invalid hours {value!r}: a time is out of range ({expected})")
    start, end = sh * 60 + sm, eh * 60 + em
    if start == end:
        raise ValueError(f"invalid hours {value!r}: start and end are equal (use 00:00-24:00)")
    return Hours(start, end)


HoursField = Annotated[Hours, PlainValidator(parse_hours), PlainSerializer(str, return_type=str)]
"""A ``"HH:MM-HH:MM"`` window of the day."""


def parse_time(value: Any) -> datetime:
    """Parse an ISO 8601 time (naive = schedule-local, or with an offset); raise ValueError."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(
        f"invalid time {value!r} (expected an ISO 8601 local time like 2026-01-05T09:00, "
        "optionally with an offset like +01:00 or Z)"
    )


TimeField = Annotated[
    datetime, PlainValidator(parse_time), PlainSerializer(datetime.isoformat, return_type=str)
]
"""A schedule time: naive means local to the schedule's zone."""


class RestrictionConfig(Strict):
    """Local times a layer covers: on the given ``weekdays`` (all if unset), during ``hours``.

    A window that wraps past midnight belongs to the weekday it starts on, so
    ``{weekdays: [friday], hours: "22:00-06:00"}`` covers Friday 22:00 to Saturday 06:00.
    """

    weekdays: WeekdayRanges = None
    hours: HoursField | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> RestrictionConfig:
        if self.weekdays is None and self.hours is None:
            raise ValueError("a restriction needs weekdays, hours or both")
        if self.weekdays is not None and not self.weekdays:
            raise ValueError("weekdays: must not be empty (leave it out to mean every day)")
        return self

    def on_weekday(self, weekday: int) -> bool:
        """Whether the restriction applies to a day (``weekday``: Monday 0 .. Sunday 6)."""
        if self.weekdays is None:
            return True
        day = (weekday + 1) % 7  # the ranges count from Sunday = 0, as Alertmanager does
        return any(begin <= day <= end for begin, end in self.weekdays)

    @property
    def window(self) -> Hours:
        """The daily window (the whole day when ``hours`` is unset)."""
        return self.hours if self.hours is not None else Hours(0, _DAY)


class RotationEvery(Strict):
    """A custom rotation length: ``{every: 12h}``."""

    every: Duration = Field(gt=0)


Rotation = Literal["hourly", "daily", "weekly"] | RotationEvery
"""How often a layer hands off to its next member."""


class LayerConfig(Strict):
    """One rotation layer: members take turns from the ``start`` anchor, every ``rotation``."""

    rotation: Rotation
    start: TimeField
    members: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    restrictions: list[RestrictionConfig] = Field(default_factory=list)

    @field_validator("rotation", mode="before")
    @classmethod
    def _rotation(cls, value: Any) -> Any:
        # One message for a wrong value, instead of one per branch of the union.
        if isinstance(value, dict):
            return RotationEvery.model_validate(value)
        if isinstance(value, RotationEvery) or value in ROTATION_NAMES:
            return value
        raise ValueError(
            f"invalid rotation {value!r} (expected hourly, daily, weekly or {{every: DURATION}})"
        )


class OverrideConfig(Strict):
    """``user`` is on call from ``start`` to ``end`` whatever the layers say."""

    user: str = Field(min_length=1)
    start: TimeField
    end: TimeField

    @model_validator(mode="after")
    def _order(self) -> OverrideConfig:
        # A naive and an aware time can only be compared in the schedule's zone: see there.
        if _same_kind(self.start, self.end) and self.end <= self.start:
            raise ValueError(f"end: {self.end.isoformat()} must be after start")
        return self


def _same_kind(a: datetime, b: datetime) -> bool:
    return (a.tzinfo is None) == (b.tzinfo is None)


class ScheduleConfig(Strict):
    """A named on-call schedule: later layers win where they cover, overrides win over all."""

    timezone: TimeZone = "UTC"
    handoff_notifications: bool = False
    handoff_channels: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=lambda: ["email"], min_length=1
    )
    layers: list[LayerConfig] = Field(min_length=1)
    overrides: list[OverrideConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _override_order(self) -> ScheduleConfig:
        zone = self.zone
        for i, override in enumerate(self.overrides):
            if _same_kind(override.start, override.end):
                continue
            start, end = (
                t if t.tzinfo else t.replace(tzinfo=zone) for t in (override.start, override.end)
            )
            if end <= start:
                raise ValueError(
                    f"overrides.{i}.end: {override.end.isoformat()} must be after start"
                )
        return self

    @property
    def zone(self) -> ZoneInfo:
        """The schedule's time zone."""
        return ZoneInfo(self.timezone)
