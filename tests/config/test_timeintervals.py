"""Time intervals: Alertmanager 0.25's syntax, its checks, and which times they contain."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from promalert.config.timeintervals import NamedTimeInterval, TimeInterval
from promalert.config.yamlpos import load_yaml, validate


def interval(**spec: Any) -> TimeInterval:
    return TimeInterval.model_validate(spec)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_times_are_half_open_and_24_00_ends_the_day() -> None:
    office = interval(times=[{"start_time": "09:00", "end_time": "17:00"}])
    assert office.contains(at("2026-01-05T09:00"))
    assert office.contains(at("2026-01-05T16:59"))
    assert not office.contains(at("2026-01-05T17:00"))
    late = interval(times=[{"start_time": "22:00", "end_time": "24:00"}])
    assert late.contains(at("2026-01-05T23:59"))


def test_weekdays_count_from_sunday_and_accept_names_in_any_case() -> None:
    weekdays = interval(weekdays=["Monday:friday"])
    assert weekdays.contains(at("2026-01-05T12:00"))  # a Monday
    assert not weekdays.contains(at("2026-01-04T12:00"))  # a Sunday
    assert interval(weekdays=["sunday"]).contains(at("2026-01-04T12:00"))


def test_negative_days_of_month_count_from_the_end() -> None:
    last3 = interval(days_of_month=["-3:-1"])
    assert last3.contains(at("2026-02-26T00:00"))  # February 2026 has 28 days
    assert not last3.contains(at("2026-02-25T00:00"))
    assert last3.contains(at("2026-01-29T00:00"))
    fifth_to_last = interval(days_of_month=["5:-1"])
    assert fifth_to_last.contains(at("2026-03-31T00:00"))
    assert not fifth_to_last.contains(at("2026-03-04T00:00"))


def test_days_beyond_the_month_are_skipped_and_ranges_clamped() -> None:
    late = interval(days_of_month=["30:31"])
    assert not late.contains(at("2026-02-28T00:00"))
    assert late.contains(at("2026-03-31T00:00"))
    assert interval(days_of_month=["25:31"]).contains(at("2026-02-28T00:00"))


def test_months_years_and_every_field_must_hold() -> None:
    spec = interval(months=["january:march", "12"], years=["2026:2027"])
    assert spec.contains(at("2026-12-01T00:00"))
    assert not spec.contains(at("2026-04-01T00:00"))
    assert not spec.contains(at("2028-01-01T00:00"))


def test_location_shifts_the_clock() -> None:
    berlin = interval(
        times=[{"start_time": "09:00", "end_time": "10:00"}], location="Europe/Berlin"
    )
    assert berlin.contains(at("2026-01-05T08:30"))  # 09:30 in Berlin (UTC+1)
    assert not berlin.contains(at("2026-01-05T09:30"))


def test_named_interval_holds_when_any_of_its_intervals_does() -> None:
    named = NamedTimeInterval.model_validate(
        {
            "name": "off",
            "time_intervals": [{"weekdays": ["saturday", "sunday"]}, {"years": ["1999"]}],
        }
    )
    assert named.contains(at("2026-01-04T12:00"))
    assert not named.contains(at("2026-01-05T12:00"))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"times": [{"start_time": "17:00", "end_time": "09:00"}]}, "start time cannot be equal"),
        ({"times": [{"start_time": "9:00", "end_time": "17:00"}]}, "couldn't parse timestamp"),
        ({"times": [{"start_time": "00:00", "end_time": "24:01"}]}, "couldn't parse timestamp"),
        ({"weekdays": ["friday:monday"]}, "start day cannot be after end day"),
        ({"weekdays": ["funday"]}, "'funday' is not a valid weekday"),
        ({"days_of_month": ["0"]}, "0 is not a valid day of the month"),
        ({"days_of_month": ["-3:5"]}, "end day must be negative"),
        ({"days_of_month": ["30:-1"]}, "end day -1 is always before start day 30"),
        ({"months": ["13"]}, "13 is not a valid month"),
        ({"months": ["march:january"]}, "end month must be after start month"),
        ({"years": ["2027:2026"]}, "end year must be greater than start year"),
        ({"location": "Mars/Olympus"}, "unknown time zone"),
    ],
)
def test_invalid_intervals_are_rejected_with_the_reason(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TimeInterval.model_validate(spec)


def test_unquoted_yaml_ranges_are_read_as_written() -> None:
    # YAML 1.1 would make 1:5 the sexagesimal number 65 and 09:00 the number 540.
    text = "times: [{start_time: 09:00, end_time: 17:30}]\ndays_of_month: [1:5, 7]\n"
    doc = load_yaml(text, "t.yml")
    parsed, problems = validate(TimeInterval, doc.data, doc.locator)
    assert problems == []
    assert parsed is not None
    assert parsed.days_of_month == ((1, 5), (7, 7))
    assert parsed.times is not None and parsed.times[0].start_minute == 9 * 60
    assert parsed.model_dump(mode="json", exclude_none=True) == {
        "times": [{"start_time": "09:00", "end_time": "17:30"}],
        "days_of_month": ["1:5", "7"],
    }
