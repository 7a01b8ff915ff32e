"""``frequency`` rules: occurrences per evaluation, in a sliding window, kept on restart."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from promalert.clock import FakeClock
from promalert.rules.spec import RuleGroup

GROUP: dict[str, Any] = {
    "name": "g",
    "interval": "1m",
    "rules": [
        {
            "alert": "Flapping",
            "kind": "frequency",
            "query": "restarts",
            "condition": "> 0",
            "count": 3,
            "within": "10m",
            "annotations": {"summary": "{{ $labels.pod }} restarted {{ $value }} times"},
        }
    ],
}


def schedule(held: dict[str, set[int]], t0: datetime) -> Any:
    """``restarts{pod}`` is 1 at the listed minutes after t0 and 0 otherwise."""

    def fn(expr: str, at: datetime) -> list[tuple[dict[str, str], float]]:
        minute = round((at - t0).total_seconds() / 60)
        return [({"pod": pod}, 1.0 if minute in minutes else 0.0) for pod, minutes in held.items()]

    return fn


async def run(engine: Any, sink: Any, t0: datetime, minutes: range) -> list[tuple[int, str, bool]]:
    """Evaluate every minute; return (minute, pod, resolved) for each alert sent."""
    out = []
    for k in minutes:
        await engine.evaluate_group_once("g", t0 + timedelta(minutes=k))
        out += [(k, a.labels["pod"], a.ends_at is not None) for a in sink.take()]
    return out


async def test_fires_at_the_count_and_resolves_when_occurrences_age_out(
    make_engine: Any, ds: Any, clock: FakeClock, sink: Any
) -> None:
    t0 = clock.now()
    ds.fn = schedule({"a": {1, 4, 8}, "b": {1, 12, 30}}, t0)
    engine = make_engine(GROUP)
    sent = await run(engine, sink, t0, range(20))
    # a: occurrences at 1, 4, 8 -> fires at 8; minute 11 leaves only 4 and 8 in (1, 11].
    assert sent == [(8, "a", False), (11, "a", True)]


async def test_value_is_the_count(make_engine: Any, ds: Any, clock: FakeClock, sink: Any) -> None:
    t0 = clock.now()
    ds.fn = schedule({"a": {0, 1, 2, 3}}, t0)
    engine = make_engine(GROUP)
    for k in range(4):
        await engine.evaluate_group_once("g", t0 + timedelta(minutes=k))
    # Fired at the third occurrence, then updated (new annotation) at the fourth.
    summaries = [a.annotations["summary"] for a in sink.take() if a.ends_at is None]
    assert summaries == ["a restarted 3 times", "a restarted 4 times"]


async def test_counts_survive_a_restart(
    make_engine: Any, ds: Any, clock: FakeClock, store: Any, sink: Any
) -> None:
    t0 = clock.now()
    ds.fn = schedule({"a": {1, 2, 6}}, t0)
    first = make_engine(GROUP)
    assert await run(first, sink, t0, range(5)) == []
    second = make_engine(GROUP)
    await second.restore()
    assert await run(second, sink, t0, range(5, 7)) == [(6, "a", False)]


def test_frequency_validation() -> None:
    rule = dict(GROUP["rules"][0])
    for key, value, message in [
        ("count", 0, "greater than or equal to 1"),
        ("within", "0", "must be greater than 0"),
        ("within", 10, "add a unit"),
    ]:
        with pytest.raises(ValueError, match=message):
            RuleGroup.model_validate({**GROUP, "rules": [{**rule, key: value}]})
