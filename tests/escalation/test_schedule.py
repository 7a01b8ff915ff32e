"""Rotation arithmetic: slots, anchors, DST, restrictions, overrides, previews, handoffs."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from promalert.config.schedules import ScheduleConfig
from promalert.escalation.schedule import (
    HORIZON,
    Schedule,
    Shift,
    build_schedules,
    wall_at_or_after,
    wall_to_utc,
)

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def z(text: str) -> datetime:
    """A UTC instant from ``YYYY-MM-DDTHH:MM``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def make(
    layers: list[dict[str, Any]], zone: str = BERLIN, overrides: list[dict[str, Any]] | None = None
) -> Schedule:
    spec = {"timezone": zone, "layers": layers, "overrides": overrides or []}
    return Schedule("primary", ScheduleConfig.model_validate(spec))


def rota(rotation: Any, start: str, *members: str, **more: Any) -> dict[str, Any]:
    return {"rotation": rotation, "start": start, "members": list(members), **more}


def handoffs(schedule: Schedule, start: str, end: str) -> list[tuple[str, str | None]]:
    """(UTC start, user) of every shift in the window, for compact expectations."""
    return [(s.start.strftime("%m-%dT%H:%M"), s.user) for s in schedule.shifts(z(start), z(end))]


def hours(shift: Shift) -> float:
    return (shift.end - shift.start) / timedelta(hours=1)


WEEKLY = rota("weekly", "2026-01-05T09:00", "alice", "bob", "carol")  # a Monday, 08:00 UTC


def test_weekly_slots_take_members_in_turn_from_the_anchor() -> None:
    s = make([WEEKLY])
    assert s.oncall(z("2026-01-05T07:59")) is None  # before the anchor
    assert s.oncall(z("2026-01-05T08:00")) == "alice"
    assert s.oncall(z("2026-01-12T07:59")) == "alice"
    assert s.oncall(z("2026-01-12T08:00")) == "bob"
    assert s.oncall(z("2026-01-19T08:00")) == "carol"
    assert s.oncall(z("2026-01-26T08:00")) == "alice"
    assert s.oncall(z("2027-01-04T08:00")) == "bob"  # slot 52 of an anchor long past
    # Any aware datetime will do: 09:00 Berlin is the same moment.
    berlin = datetime(2026, 1, 12, 9, 0, tzinfo=s.timezone)
    assert s.oncall(berlin) == "bob"


def test_an_anchor_in_the_future_leaves_nobody_on_call_until_it() -> None:
    s = make([WEEKLY])
    assert handoffs(s, "2026-01-01T00:00", "2026-01-06T00:00") == [
        ("01-01T00:00", None),
        ("01-05T08:00", "alice"),
    ]
    assert s.next_handoff(z("2026-01-01T00:00")) == z("2026-01-05T08:00")
    before = s.shift_at(z("2026-01-01T00:00"))
    assert (before.user, before.layer, before.end) == (None, None, z("2026-01-05T08:00"))
    assert before.start == z("2026-01-01T00:00") - HORIZON


def test_daily_handoffs_keep_the_wall_clock_across_berlin_dst() -> None:
    spring = make([rota("daily", "2026-03-27T09:00", "a", "b")])
    first, second = spring.shifts(z("2026-03-28T08:00"), z("2026-03-30T07:00"))
    assert (first.user, first.start, first.end, hours(first)) == (
        "b",
        z("2026-03-28T08:00"),
        z("2026-03-29T07:00"),  # 09:00 CEST
        23.0,
    )
    assert (second.user, hours(second)) == ("a", 24.0)
    autumn = make([rota("daily", "2026-10-23T09:00", "a", "b")])
    shift = autumn.shift_at(z("2026-10-25T00:00"))
    assert (shift.user, shift.start, shift.end) == (
        "b",
        z("2026-10-24T07:00"),
        z("2026-10-25T08:00"),
    )
    assert hours(shift) == 25.0


def test_weekly_and_daily_handoffs_keep_the_wall_clock_across_new_york_dst() -> None:
    spring = make([rota("weekly", "2026-03-02T09:00", "a", "b")], NEW_YORK)
    shift = spring.shift_at(z("2026-03-05T00:00"))
    assert (shift.start, shift.end, hours(shift)) == (
        z("2026-03-02T14:00"),
        z("2026-03-09T13:00"),
        167.0,
    )
    autumn = make([rota("weekly", "2026-10-26T09:00", "a", "b")], NEW_YORK)
    shift = autumn.shift_at(z("2026-10-30T00:00"))
    assert (shift.start, shift.end, hours(shift)) == (
        z("2026-10-26T13:00"),
        z("2026-11-02T14:00"),
        169.0,
    )
    daily = make([rota("daily", "2026-03-07T09:00", "a", "b")], NEW_YORK)
    assert hours(daily.shift_at(z("2026-03-07T20:00"))) == 23.0
    daily = make([rota("daily", "2026-10-31T09:00", "a", "b")], NEW_YORK)
    assert hours(daily.shift_at(z("2026-10-31T20:00"))) == 25.0


def test_a_skipped_handoff_time_moves_forward_by_the_gap() -> None:
    s = make([rota("daily", "2026-03-06T02:30", "a", "b")], NEW_YORK)
    assert handoffs(s, "2026-03-07T07:30", "2026-03-09T12:00") == [
        ("03-07T07:30", "b"),
        ("03-08T07:30", "a"),  # 02:30 does not exist on the 8th: 03:30 EDT
        ("03-09T06:30", "b"),  # back to 02:30, now EDT
    ]


def test_an_ambiguous_handoff_time_is_its_first_occurrence() -> None:
    s = make([rota("daily", "2026-10-30T01:30", "a", "b")], NEW_YORK)
    assert handoffs(s, "2026-10-31T05:30", "2026-11-02T12:00") == [
        ("10-31T05:30", "b"),
        ("11-01T05:30", "a"),  # 01:30 EDT, the first of the two 01:30s
        ("11-02T06:30", "b"),
    ]


def test_hourly_rotations_count_elapsed_hours_through_dst() -> None:
    berlin = make([rota("hourly", "2026-03-29T00:00", "a", "b", "c")])
    assert handoffs(berlin, "2026-03-28T23:00", "2026-03-29T03:00") == [
        ("03-28T23:00", "a"),  # 00:00 CET
        ("03-29T00:00", "b"),  # 01:00 CET
        ("03-29T01:00", "c"),  # 03:00 CEST: the clock skipped an hour, the rotation did not
        ("03-29T02:00", "a"),
    ]
    ny = make([rota("hourly", "2026-11-01T00:00", "a", "b")], NEW_YORK)
    day = ny.shifts(z("2026-11-01T04:00"), z("2026-11-02T05:00"))  # local midnight to midnight
    assert len(day) == 25 and all(hours(s) == 1.0 for s in day)
    # The two 01:30s of the night belong to consecutive slots.
    assert ny.oncall(datetime(2026, 11, 1, 1, 30, tzinfo=ny.timezone, fold=0)) == "b"
    assert ny.oncall(datetime(2026, 11, 1, 1, 30, tzinfo=ny.timezone, fold=1)) == "a"


def test_custom_rotations_use_elapsed_time_unless_whole_days() -> None:
    twelve = make([rota({"every": "12h"}, "2026-03-28T09:00", "a", "b")])
    assert handoffs(twelve, "2026-03-28T08:00", "2026-03-29T09:00") == [
        ("03-28T08:00", "a"),
        ("03-28T20:00", "b"),
        ("03-29T08:00", "a"),  # 10:00 CEST: elapsed time, not wall time
    ]
    two_days = make([rota({"every": "2d"}, "2026-03-28T09:00", "a", "b")])
    assert two_days.next_handoff(z("2026-03-28T08:00")) == z("2026-03-30T07:00")  # 09:00 CEST
    ninety = make([rota({"every": "90m"}, "2026-01-05T09:00", "a", "b", "c")])
    assert ninety.oncall(z("2026-01-05T12:29")) == "c"
    assert ninety.oncall(z("2026-01-05T12:30")) == "a"


def test_an_anchor_with_an_offset_keeps_its_local_wall_time() -> None:
    s = make([rota("daily", "2026-03-28T08:00:00+00:00", "a", "b")])  # 09:00 CET
    assert s.oncall(z("2026-03-28T07:59")) is None
    assert s.next_handoff(z("2026-03-28T08:00")) == z("2026-03-29T07:00")  # 09:00 CEST


def test_office_hours_layer_shows_the_base_layer_outside_its_restriction() -> None:
    office = rota(
        "daily",
        "2026-01-05T09:00",
        "x",
        "y",
        restrictions=[{"weekdays": ["monday:friday"], "hours": "09:00-17:00"}],
    )
    s = make([rota("weekly", "2026-01-05T09:00", "alice", "bob"), office])
    assert s.shift_at(z("2026-01-05T09:00")) == Shift(
        z("2026-01-05T08:00"), z("2026-01-05T16:00"), "x", 1, False
    )
    assert s.shift_at(z("2026-01-05T16:00")) == Shift(
        z("2026-01-05T16:00"), z("2026-01-06T08:00"), "alice", 0, False
    )
    assert s.oncall(z("2026-01-06T09:00")) == "y"
    assert s.oncall(z("2026-01-10T09:00")) == "alice"  # Saturday: the base layer
    # The daily rotation kept counting over the weekend: Monday the 12th is slot 7.
    assert s.oncall(z("2026-01-12T09:00")) == "y"
    assert s.oncall(z("2026-01-12T16:00")) == "bob"


def test_a_wrapping_window_belongs_to_the_day_it_opens() -> None:
    nights = rota(
        "daily",
        "2026-01-01T00:00",
        "owl",
        restrictions=[{"weekdays": ["friday"], "hours": "22:00-06:00"}],
    )
    s = make([nights])
    assert handoffs(s, "2026-01-08T00:00", "2026-01-11T00:00") == [
        ("01-08T00:00", None),  # Friday 03:00 is Thursday's night: not covered
        ("01-09T21:00", "owl"),  # Friday 22:00 CET
        ("01-10T05:00", None),  # Saturday 06:00 CET
    ]


def test_a_window_may_end_at_24_00() -> None:
    late = rota(
        "daily",
        "2026-01-01T00:00",
        "owl",
        restrictions=[{"weekdays": ["monday"], "hours": "18:00-24:00"}],
    )
    s = make([late], "UTC")
    assert handoffs(s, "2026-01-05T12:00", "2026-01-06T12:00") == [
        ("01-05T12:00", None),
        ("01-05T18:00", "owl"),
        ("01-06T00:00", None),
    ]


def test_restriction_edges_follow_the_local_clock_through_dst() -> None:
    early = rota("daily", "2026-03-01T00:00", "a", restrictions=[{"hours": "02:30-05:00"}])
    berlin = make([early])
    assert handoffs(berlin, "2026-03-28T00:00", "2026-03-29T04:00") == [
        ("03-28T00:00", None),
        ("03-28T01:30", "a"),  # 02:30 CET
        ("03-28T04:00", None),
        ("03-29T01:00", "a"),  # 02:30 is skipped: the window opens when the gap ends, 03:00
        ("03-29T03:00", None),  # 05:00 CEST
    ]
    night = rota(
        "daily",
        "2026-03-01T00:00",
        "a",
        restrictions=[{"weekdays": ["saturday"], "hours": "22:00-02:30"}],
    )
    ny = make([night], NEW_YORK)
    assert handoffs(ny, "2026-03-08T00:00", "2026-03-08T12:00") == [
        ("03-08T00:00", None),
        ("03-08T03:00", "a"),  # Saturday 22:00 EST
        ("03-08T07:00", None),  # 02:30 is skipped: closes at 03:00 EDT
    ]
    fold = rota("daily", "2026-10-01T00:00", "a", restrictions=[{"hours": "00:00-01:30"}])
    ny = make([fold], NEW_YORK)
    assert handoffs(ny, "2026-11-01T03:00", "2026-11-01T12:00") == [
        ("11-01T03:00", None),
        ("11-01T04:00", "a"),  # 00:00 EDT
        ("11-01T05:30", None),  # the first 01:30; the repeated hour stays uncovered
    ]


def test_restricted_hourly_rotations_keep_counting_elapsed_hours_through_dst() -> None:
    nights = rota("hourly", "2026-03-29T00:00", "a", "b", restrictions=[{"hours": "00:00-06:00"}])
    s = make([nights])
    covered = [sh for sh in s.shifts(z("2026-03-28T22:00"), z("2026-03-29T06:00")) if sh.user]
    assert [(sh.start.hour, sh.user) for sh in covered] == [
        (23, "a"),
        (0, "b"),
        (1, "a"),  # 03:00 CEST
        (2, "b"),
        (3, "a"),
    ]
    assert covered[-1].end == z("2026-03-29T04:00")  # 06:00 CEST


def test_later_layers_win_and_nobody_is_on_call_where_no_layer_covers() -> None:
    weekend = {"weekdays": ["saturday", "sunday"]}
    s = make(
        [
            rota("weekly", "2026-01-05T09:00", "alice", restrictions=[{"weekdays": ["monday"]}]),
            rota("weekly", "2026-01-05T09:00", "bob", restrictions=[weekend]),
            rota("weekly", "2026-01-05T09:00", "carol", restrictions=[{"weekdays": ["sunday"]}]),
        ],
        "UTC",
    )
    assert s.shift_at(z("2026-01-12T12:00")).layer == 0
    assert s.oncall(z("2026-01-13T12:00")) is None  # Tuesday: no layer covers
    assert s.shift_at(z("2026-01-10T12:00")) == Shift(
        z("2026-01-10T00:00"), z("2026-01-11T00:00"), "bob", 1, False
    )
    assert s.shift_at(z("2026-01-11T12:00")).layer == 2


def test_overrides_win_and_later_overrides_win_over_earlier_ones() -> None:
    dave = {"user": "dave", "start": "2026-02-01T09:00", "end": "2026-02-02T09:00"}
    erin = {"user": "erin", "start": "2026-02-01T12:00", "end": "2026-02-01T13:00"}
    s = make([WEEKLY], overrides=[dave, erin])
    assert [
        (sh.start, sh.user, sh.layer, sh.override)
        for sh in s.shifts(z("2026-02-01T07:00"), z("2026-02-02T09:00"))
    ] == [
        (z("2026-02-01T07:00"), "alice", 0, False),
        (z("2026-02-01T08:00"), "dave", None, True),
        (z("2026-02-01T11:00"), "erin", None, True),
        (z("2026-02-01T12:00"), "dave", None, True),
        (z("2026-02-02T08:00"), "bob", 0, False),
    ]
    reversed_order = make([WEEKLY], overrides=[erin, dave])
    assert reversed_order.oncall(z("2026-02-01T11:30")) == "dave"


def test_an_override_covers_time_no_layer_does() -> None:
    early = {"user": "dave", "start": "2025-12-31T23:00:00Z", "end": "2026-01-01T01:00:00Z"}
    s = make([WEEKLY], overrides=[early])
    assert handoffs(s, "2025-12-31T22:00", "2026-01-01T02:00") == [
        ("12-31T22:00", None),
        ("12-31T23:00", "dave"),
        ("01-01T01:00", None),
    ]


def test_shifts_merge_runs_of_the_same_decision_and_cut_at_the_window() -> None:
    s = make([rota("daily", "2026-01-05T09:00", "alice", "alice", "bob")])
    assert handoffs(s, "2026-01-05T12:00", "2026-01-09T12:00") == [
        ("01-05T12:00", "alice"),  # two slots of alice in one shift
        ("01-07T08:00", "bob"),
        ("01-08T08:00", "alice"),
    ]
    shifts = s.shifts(z("2026-01-05T12:00"), z("2026-01-09T12:00"))
    assert shifts[0].start == z("2026-01-05T12:00") and shifts[-1].end == z("2026-01-09T12:00")
    assert all(a.end == b.start for a, b in zip(shifts, shifts[1:], strict=False))
    assert s.shifts(z("2026-01-05T12:00"), z("2026-01-05T12:00")) == []
    with pytest.raises(ValueError, match="before start"):
        s.shifts(z("2026-01-06T00:00"), z("2026-01-05T00:00"))


def test_naive_datetimes_are_refused() -> None:
    s = make([WEEKLY])
    with pytest.raises(ValueError, match="timezone-aware"):
        s.oncall(datetime(2026, 1, 5, 9))
    with pytest.raises(ValueError, match="timezone-aware"):
        s.shifts(datetime(2026, 1, 5), z("2026-01-06T00:00"))


def test_next_handoff_is_a_change_of_person_not_of_layer() -> None:
    backup = rota("daily", "2026-01-05T09:00", "alice", restrictions=[{"hours": "09:00-17:00"}])
    s = make([rota("weekly", "2026-01-05T09:00", "alice", "bob"), backup])
    assert len(s.shifts(z("2026-01-05T08:00"), z("2026-01-12T08:00"))) > 1  # layer changes
    # The weekly layer hands to bob at 09:00 CET on the 12th, but alice's office hours
    # cover until 17:00: the first change of person is then.
    assert s.next_handoff(z("2026-01-05T08:00")) == z("2026-01-12T16:00")
    assert s.next_handoff(z("2026-01-12T16:00")) == z("2026-01-13T08:00")  # alice's hours again


def test_next_handoff_is_strictly_after_and_searches_far_but_not_forever() -> None:
    s = make([WEEKLY])
    assert s.next_handoff(z("2026-01-12T08:00")) == z("2026-01-19T08:00")
    assert s.next_handoff(z("2026-01-12T07:59")) == z("2026-01-12T08:00")
    solo = make([rota("weekly", "2026-01-05T09:00", "alice")])
    assert solo.next_handoff(z("2026-02-01T00:00")) is None
    far = {"user": "dave", "start": "2026-11-01T00:00", "end": "2026-11-02T00:00"}
    solo = make([rota("weekly", "2026-01-05T09:00", "alice")], "UTC", overrides=[far])
    assert solo.next_handoff(z("2026-02-01T00:00")) == z("2026-11-01T00:00")
    assert solo.next_handoff(z("2025-09-01T00:00")) == z("2026-01-05T09:00")
    assert solo.next_handoff(z("2025-09-01T00:00") - HORIZON) is None


def test_shift_at_finds_the_whole_shift_and_cuts_endless_ones_at_the_horizon() -> None:
    s = make([WEEKLY])
    assert s.shift_at(z("2026-03-25T12:00")) == Shift(
        z("2026-03-23T08:00"), z("2026-03-30T07:00"), "carol", 0, False
    )
    solo = make([rota("weekly", "2026-01-05T09:00", "alice")])
    at = z("2027-06-01T00:00")
    assert solo.shift_at(at) == Shift(at - HORIZON, at + HORIZON, "alice", 0, False)
    assert solo.shift_at(z("2026-02-01T00:00")).start == z("2026-01-05T08:00")


MIXED = [
    rota("weekly", "2026-01-05T09:00", "alice", "bob", "carol"),
    rota(
        "daily",
        "2026-02-02T02:30",
        "dave",
        "erin",
        restrictions=[{"weekdays": ["saturday", "sunday"], "hours": "20:00-03:00"}],
    ),
    rota(
        "hourly",
        "2026-03-01T00:00",
        "x",
        "y",
        "z",
        restrictions=[{"weekdays": ["monday", "wednesday:thursday"], "hours": "01:00-02:45"}],
    ),
]


@pytest.mark.parametrize("zone", [BERLIN, NEW_YORK, "UTC"])
@pytest.mark.parametrize(
    "window", [("2026-03-01T00:00", "2026-04-05T00:00"), ("2026-10-20T00:00", "2026-11-10T00:00")]
)
def test_shifts_agree_with_oncall_at_every_moment(zone: str, window: tuple[str, str]) -> None:
    overrides = [
        {"user": "olga", "start": "2026-03-08T01:00", "end": "2026-03-08T04:00"},
        {"user": "olga", "start": "2026-10-25T01:00:00Z", "end": "2026-11-01T06:30:00Z"},
    ]
    s = make(MIXED, zone, overrides)
    start, end = z(window[0]), z(window[1])
    shifts = s.shifts(start, end)
    assert shifts[0].start == start and shifts[-1].end == end
    for before, after in zip(shifts, shifts[1:], strict=False):
        assert before.end == after.start
        assert (before.user, before.layer, before.override) != (
            after.user,
            after.layer,
            after.override,
        )
    moment, index = start, 0
    while moment < end:  # sample every 10 minutes against the point query
        while shifts[index].end <= moment:
            index += 1
        assert s.oncall(moment) == shifts[index].user, moment
        moment += timedelta(minutes=10)
    inner = [sh for sh in shifts if sh.start > start and sh.end < end]
    for shift in inner[:: max(1, len(inner) // 25)]:
        assert s.shift_at(shift.start + (shift.end - shift.start) / 2) == shift


def test_a_thirty_day_preview_of_weekly_and_hourly_layers_is_fast() -> None:
    hourly = rota(
        "hourly",
        "2026-01-05T09:00",
        "x",
        "y",
        restrictions=[{"weekdays": ["monday:friday"], "hours": "22:00-06:00"}],
    )
    s = make([WEEKLY, hourly])
    began = time.perf_counter()
    shifts = s.shifts(z("2026-03-15T00:00"), z("2026-04-14T00:00"))
    elapsed = time.perf_counter() - began
    assert len(shifts) > 150
    assert elapsed < 1.0  # typically about 10 ms; the bound only catches minute-sampling


def test_members_and_build_schedules() -> None:
    dave = {"user": "dave", "start": "2026-02-01T09:00", "end": "2026-02-02T09:00"}
    s = make([WEEKLY, rota("daily", "2026-01-05T09:00", "erin")], overrides=[dave])
    assert s.members() == frozenset({"alice", "bob", "carol", "erin", "dave"})
    configs = {
        "a": ScheduleConfig.model_validate({"layers": [WEEKLY]}),
        "b": ScheduleConfig.model_validate({"timezone": NEW_YORK, "layers": [WEEKLY]}),
    }
    built = build_schedules(configs)
    assert sorted(built) == ["a", "b"]
    assert built["b"].name == "b" and built["b"].timezone.key == NEW_YORK
    assert built["a"].oncall(z("2026-01-05T09:00")) == "alice"
    assert built["b"].oncall(z("2026-01-05T13:59")) is None  # 08:59 in New York


def test_wall_time_conversions() -> None:
    s = make([WEEKLY], NEW_YORK)
    gap = datetime(2026, 3, 8, 2, 30)
    assert wall_to_utc(gap, s.timezone) == z("2026-03-08T07:30")  # 03:30 EDT
    assert wall_at_or_after(gap, s.timezone) == z("2026-03-08T07:00")  # 03:00 EDT
    fold = datetime(2026, 11, 1, 1, 30)
    assert wall_to_utc(fold, s.timezone) == wall_at_or_after(fold, s.timezone)
    assert wall_to_utc(fold, s.timezone) == z("2026-11-01T05:30")
