"""Payload times: Go's RFC 3339 form for every kind of datetime, and regexp quoting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from promalert.notify.payload import ZERO_TIME, format_time, quote_meta

IST = timezone(timedelta(hours=5, minutes=30))


def go_time(moment: datetime) -> str:
    """Go's ``time.Time`` JSON in UTC, spelled out field by field."""
    utc = moment.astimezone(UTC)
    fraction = f".{utc.microsecond:06d}".rstrip("0") if utc.microsecond else ""
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T"
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}{fraction}Z"
    )


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 1, 5, 7, 0, 0, 123456, tzinfo=UTC), "2026-01-05T07:00:00.123456Z"),
        (datetime(2026, 1, 5, 7, 0, 0, 120000, tzinfo=UTC), "2026-01-05T07:00:00.12Z"),
        (datetime(2026, 1, 5, 7, 0, 0, 1, tzinfo=UTC), "2026-01-05T07:00:00.000001Z"),
        (datetime(2026, 1, 5, 7, 0, 0, tzinfo=UTC), "2026-01-05T07:00:00Z"),
        (datetime(2026, 1, 5, 7, 0, 0, 500000, tzinfo=IST), "2026-01-05T01:30:00.5Z"),
        (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "9999-12-31T23:59:59.999999Z"),
    ],
)
def test_format_time(moment: datetime, expected: str) -> None:
    assert format_time(moment) == expected
    assert format_time(moment) == expected  # the remembered last result
    assert go_time(moment) == expected


def test_format_time_of_none_is_gos_zero_time() -> None:
    assert format_time(None) == ZERO_TIME == "0001-01-01T00:00:00Z"


def test_format_time_keeps_the_unpadded_year_below_1000() -> None:
    # As it always printed them (strftime); such times only come from broken senders.
    assert format_time(datetime(999, 3, 4, 1, 2, 3, 10, tzinfo=UTC)) == (
        datetime(999, 3, 4, 1, 2, 3, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%S") + ".00001Z"
    )


def test_format_time_distinguishes_equal_times_in_turn() -> None:
    first = datetime(2026, 1, 5, 7, 0, 0, 250000, tzinfo=UTC)
    second = first + timedelta(seconds=1)
    for moment in (first, second, first, first.astimezone(IST), second):
        assert format_time(moment) == go_time(moment)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sink", "sink"),
        ("team-ops", "team-ops"),
        ("", ""),
        ("a.b$", "a\\.b\\$"),
        ("(x)", "\\(x\\)"),
    ],
)
def test_quote_meta(text: str, expected: str) -> None:
    assert quote_meta(text) == expected
