"""Schedule config: the SPEC §4 example parses, and every mistake names its field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from promalert.config.base import Strict
from promalert.config.schedules import (
    Hours,
    LayerConfig,
    OverrideConfig,
    RestrictionConfig,
    RotationEvery,
    ScheduleConfig,
)
from promalert.config.yamlpos import load_yaml, validate


class _Doc(Strict):
    """The slice of promalert.yml these tests need: ``schedules:`` as Config holds it."""

    schedules: dict[str, ScheduleConfig]


EXAMPLE = """\
schedules:
  primary:
    timezone: Europe/Berlin
    handoff_notifications: true
    handoff_channels: [email, sms]
    layers:
      - rotation: weekly
        start: "2026-01-05T09:00"
        members: [alice, bob, carol]
      - rotation: {every: 12h}
        start: 2026-01-05T09:00:00+01:00
        members: [dave]
        restrictions:
          - {weekdays: [monday:friday], hours: 09:00-17:00}
          - weekdays: [saturday]
            hours: 22:00-06:00
    overrides:
      - {user: dave, start: "2026-02-01T09:00", end: "2026-02-02T09:00"}
  secondary:
    layers:
      - {rotation: daily, start: "2026-01-05T09:00", members: [dave, carol]}
"""


def schedule(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "timezone": "Europe/Berlin",
        "layers": [{"rotation": "weekly", "start": "2026-01-05T09:00", "members": ["alice"]}],
    }
    spec.update(changes)
    return spec


def layer(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"rotation": "daily", "start": "2026-01-05T09:00", "members": ["a"]}
    spec.update(changes)
    return spec


def errors(spec: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        ScheduleConfig.model_validate(spec)
    return [(tuple(e["loc"]), e["msg"]) for e in caught.value.errors()]


def test_the_spec_example_parses_with_its_times_and_rotations() -> None:
    doc = load_yaml(EXAMPLE, "promalert.yml")
    parsed, problems = validate(_Doc, doc.data, doc.locator)
    assert problems == []
    assert parsed is not None
    primary = parsed.schedules["primary"]
    assert primary.zone.key == "Europe/Berlin"
    assert primary.handoff_notifications and primary.handoff_channels == ["email", "sms"]
    weekly, custom = primary.layers
    assert weekly.rotation == "weekly"
    assert weekly.start == datetime(2026, 1, 5, 9, 0)  # naive: local to the schedule
    assert custom.rotation == RotationEvery.model_validate({"every": "12h"})
    assert custom.start.utcoffset() is not None  # an unquoted YAML timestamp keeps its offset
    office, night = custom.restrictions
    assert office.hours == Hours(9 * 60, 17 * 60) and not office.hours.wraps
    assert night.hours == Hours(22 * 60, 6 * 60) and night.hours.wraps
    assert primary.overrides[0] == OverrideConfig(
        user="dave", start=datetime(2026, 2, 1, 9), end=datetime(2026, 2, 2, 9)
    )


def test_defaults_are_utc_no_handoff_notice_and_email() -> None:
    doc = load_yaml(EXAMPLE, "promalert.yml")
    parsed, _ = validate(_Doc, doc.data, doc.locator)
    assert parsed is not None
    secondary = parsed.schedules["secondary"]
    assert secondary.timezone == "UTC"
    assert secondary.handoff_notifications is False
    assert secondary.handoff_channels == ["email"]
    assert secondary.overrides == []


def test_weekdays_take_names_and_ranges_and_count_from_monday() -> None:
    weekdays = RestrictionConfig.model_validate({"weekdays": ["monday:wednesday", "Saturday"]})
    assert [weekdays.on_weekday(d) for d in range(7)] == [1, 1, 1, 0, 0, 1, 0]
    everyday = RestrictionConfig.model_validate({"hours": "00:00-24:00"})
    assert all(everyday.on_weekday(d) for d in range(7))
    assert everyday.window == Hours(0, 24 * 60) and not everyday.window.wraps
    assert RestrictionConfig.model_validate({"weekdays": ["friday"]}).window == Hours(0, 1440)


def test_hours_serialise_back_to_text() -> None:
    restriction = RestrictionConfig.model_validate({"hours": "22:00-06:00"})
    assert restriction.model_dump()["hours"] == "22:00-06:00"
    assert str(Hours(0, 1440)) == "00:00-24:00"


def test_an_unknown_time_zone_is_named() -> None:
    (found,) = errors(schedule(timezone="Europe/Berlinn"))
    assert found[0] == ("timezone",)
    assert "unknown time zone 'Europe/Berlinn'" in found[1]


def test_a_layer_needs_members_and_a_schedule_needs_layers() -> None:
    (found,) = errors(schedule(layers=[layer(members=[])]))
    assert found[0] == ("layers", 0, "members")
    (found,) = errors(schedule(layers=[layer(members=["a", ""])]))
    assert found[0] == ("layers", 0, "members", 1)
    (found,) = errors(schedule(layers=[]))
    assert found[0] == ("layers",)


@pytest.mark.parametrize(
    ("hours", "why"),
    [
        ("9-17", "expected HH:MM-HH:MM"),
        ("09:00 - 17:00", "expected HH:MM-HH:MM"),
        ("25:00-26:00", "out of range"),
        ("09:60-17:00", "out of range"),
        ("24:00-06:00", "out of range"),
        ("10:00-24:30", "out of range"),
        ("10:00-10:00", "start and end are equal"),
    ],
)
def test_bad_hours_are_rejected_at_the_field(hours: str, why: str) -> None:
    spec = schedule(layers=[layer(restrictions=[{"hours": hours}])])
    (found,) = errors(spec)
    assert found[0] == ("layers", 0, "restrictions", 0, "hours")
    assert why in found[1] and repr(hours) in found[1]


def test_bad_weekdays_and_empty_restrictions_are_rejected() -> None:
    (found,) = errors(schedule(layers=[layer(restrictions=[{"weekdays": ["funday"]}])]))
    assert found[0] == ("layers", 0, "restrictions", 0, "weekdays")
    assert "'funday' is not a valid weekday" in found[1]
    (found,) = errors(schedule(layers=[layer(restrictions=[{}])]))
    assert "needs weekdays, hours or both" in found[1]
    (found,) = errors(schedule(layers=[layer(restrictions=[{"weekdays": []}])]))
    assert "weekdays: must not be empty" in found[1]


@pytest.mark.parametrize(
    ("rotation", "loc", "why"),
    [
        ("monthly", ("rotation",), "invalid rotation 'monthly'"),
        (7, ("rotation",), "expected hourly, daily, weekly or {every: DURATION}"),
        ({"every": "0s"}, ("rotation", "every"), "greater than 0"),
        ({"every": "12x"}, ("rotation", "every"), "invalid duration '12x'"),
        ({"every": "1h", "at": "x"}, ("rotation", "at"), "Extra inputs"),
    ],
)
def test_bad_rotations_name_the_field(rotation: Any, loc: tuple[str, ...], why: str) -> None:
    (found,) = errors(schedule(layers=[layer(rotation=rotation)]))
    assert found[0] == ("layers", 0, *loc)
    assert why in found[1]


def test_bad_times_are_rejected() -> None:
    (found,) = errors(schedule(layers=[layer(start="next monday")]))
    assert found[0] == ("layers", 0, "start")
    assert "expected an ISO 8601 local time" in found[1]
    (found,) = errors(schedule(layers=[layer(start=1767600000)]))
    assert found[0] == ("layers", 0, "start")


def test_an_override_must_end_after_it_starts() -> None:
    same = {"user": "dave", "start": "2026-02-01T09:00", "end": "2026-02-01T09:00"}
    (found,) = errors(schedule(overrides=[same]))
    assert found[0] == ("overrides", 0)
    assert found[1].endswith("end: 2026-02-01T09:00:00 must be after start")
    # Naive against offset: compared in the schedule's zone (Berlin is UTC+1 in February).
    mixed = {"user": "dave", "start": "2026-02-01T09:00", "end": "2026-02-01T08:00Z"}
    (found,) = errors(schedule(overrides=[{**mixed, "end": "2026-02-01T09:00Z"}, mixed]))
    assert found[0] == ()
    assert "overrides.1.end: 2026-02-01T08:00:00+00:00 must be after start" in found[1]
    fine = ScheduleConfig.model_validate(
        schedule(overrides=[{**mixed, "end": "2026-02-01T08:01Z"}])
    )
    assert fine.overrides[0].end == datetime(2026, 2, 1, 8, 1, tzinfo=UTC)


def test_unknown_keys_are_errors_everywhere() -> None:
    assert errors(schedule(timezon="UTC"))[0][0] == ("timezon",)
    assert errors(schedule(layers=[layer(member=["a"])]))[0][0] == ("layers", 0, "member")
    restricted = layer(restrictions=[{"hours": "09:00-17:00", "days": [1]}])
    assert errors(schedule(layers=[restricted]))[0][0] == ("layers", 0, "restrictions", 0, "days")
    with pytest.raises(ValidationError):
        OverrideConfig.model_validate(
            {"user": "d", "start": "2026-01-01T00:00", "end": "2026-01-02T00:00", "who": "x"}
        )
    with pytest.raises(ValidationError):
        LayerConfig.model_validate({**layer(), "handoff": "09:00"})


def test_yaml_problems_point_at_the_offending_node() -> None:
    text = """\
schedules:
  primary:
    timezone: Mars/Olympus
    layers:
      - rotation: weekly
        start: "2026-01-05T09:00"
        members: [alice]
        restrictions:
          - {weekdays: [monday], hours: "9-5"}
    overrides:
      - {user: dave, start: "2026-02-02T09:00", end: "2026-02-01T09:00"}
"""
    doc = load_yaml(text, "p.yml")
    _, problems = validate(_Doc, doc.data, doc.locator)
    shown = sorted((p.line, p.message) for p in problems)
    assert [line for line, _ in shown] == [3, 9, 11]
    assert "schedules.primary.timezone: unknown time zone 'Mars/Olympus'" in shown[0][1]
    assert shown[1][1].startswith("schedules.primary.layers.0.restrictions.0.hours: invalid")
    assert shown[2][1].startswith("schedules.primary.overrides.0.end: 2026-02-01T09:00:00 must")
