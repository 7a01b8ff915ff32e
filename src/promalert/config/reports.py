"""``reports`` (SPEC §4): daily and weekly incident summaries sent to a receiver."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from promalert.config.base import Strict
from promalert.config.types import TimeZone

_AT = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class ReportConfig(Strict):
    """One summary: how often, when (local time in ``timezone``) and to which receiver."""

    name: str = Field(min_length=1)
    every: Literal["daily", "weekly"] = "daily"
    at: str = "09:00"
    weekday: Weekday = "monday"
    timezone: TimeZone = "UTC"
    receiver: str

    @field_validator("at")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        if not _AT.match(value):
            raise ValueError(f"at must be HH:MM in 24-hour time (got {value!r})")
        return value
