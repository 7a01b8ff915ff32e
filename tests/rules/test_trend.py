"""``trend`` rules: the robust fit, the crossing time, and the evaluator on a fake datasource."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest

from promalert.clock import FakeClock
from promalert.config.types import parse_condition
from promalert.rules.kinds.trend import rfc3339, seconds_until, theil_sen
from promalert.rules.spec import RuleGroup


def test_theil_sen_ignores_outliers() -> None:
    ts = 1_700_000_000.0 + 60.0 * np.arange(300)
    values = 10.0 + 0.5 * (ts - ts[0]) / 60.0
    values[::7] += 500.0  # one point in seven is wild
    values[50] = np.nan
    line = theil_sen(ts, values)
    assert line is not None
    assert line.slope == pytest.approx(0.5 / 60.0, rel=1e-9)
    assert line.value(ts[-1]) == pytest.approx(10.0 + 0.5 * 299, rel=1e-9)


def test_theil_sen_needs_two_points() -> None:
    assert theil_sen(np.array([1.0]), np.array([2.0])) is None
    assert theil_sen(np.array([1.0, 2.0]), np.array([np.nan, 2.0])) is None


@pytest.mark.parametrize(
    ("condition", "now", "slope", "expected"),
    [
        ("> 90", 50.0, 1.0, 40.0),
        ("> 90", 95.0, -1.0, 0.0),  # already there
        ("> 90", 50.0, -1.0, math.nan),  # moving away
        ("> 90", 50.0, 0.1, math.nan),  # 400 s: beyond `within`
        ("<= 10", 50.0, -2.0, 20.0),
        ("< 10", 50.0, 2.0, math.nan),
        ("== 0", 30.0, -1.0, 30.0),
        ("!= 5", 5.0, 1.0, 0.0),
        ("!= 5", 5.0, 0.0, math.nan),
    ],
)
def test_seconds_until(condition: str, now: float, slope: float, expected: float) -> None:
    got = seconds_until(parse_condition(condition), now, slope, 300.0)
    assert got == pytest.approx(expected, nan_ok=True)


def group(**rule: Any) -> dict[str, Any]:
    base = {
        "alert": "DiskFull",
        "kind": "trend",
        "query": "disk_used",
        "window": "30m",
        "step": "1m",
        "condition": "> 90",
        "within": "2h",
        "annotations": {
            "summary": "{{ $labels.device }} full in {{ $value | humanizeDuration }} "
            "at {{ $labels.__predicted_at }}"
        },
    }
    return {"name": "g", "interval": "1m", "rules": [{**base, **rule}]}


async def test_fires_before_the_limit_with_the_predicted_time(
    make_engine: Any, ds: Any, sink: Any, clock: FakeClock
) -> None:
    t0 = clock.now().timestamp()

    def fn(expr: str, at: datetime) -> list[tuple[dict[str, str], float]]:
        t = at.timestamp()
        return [
            ({"__name__": "disk_used", "device": "sda"}, 30.0 + (t - t0) / 120.0),  # 0.5/min
            ({"__name__": "disk_used", "device": "sdb"}, 80.0 - (t - t0) / 120.0),  # shrinking
            ({"__name__": "disk_used", "device": "sdc"}, 20.0 + (t - t0) / 1200.0),  # slow
        ]

    ds.fn = fn
    engine = make_engine(group())
    at = clock.now() + timedelta(minutes=20)
    await engine.evaluate_group_once("g", at)
    (alert,) = sink.take()
    # sda is at 40 now and grows 0.5 per minute: 90 in 100 minutes.
    assert dict(alert.labels) == {"alertname": "DiskFull", "device": "sda"}
    crossing = at + timedelta(minutes=100)
    assert alert.annotations["summary"] == (
        f"sda full in 1h 40m 0s at {crossing.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    )
    assert rfc3339(crossing.timestamp()).endswith("Z")
    (_, start, end, step) = ds.range_calls[0]
    assert (end - start, step) == (1800.0, 60.0)


async def test_too_few_points_do_not_fit(
    make_engine: Any, ds: Any, sink: Any, clock: FakeClock
) -> None:
    born = clock.now().timestamp() + 26 * 60

    def fn(expr: str, at: datetime) -> list[tuple[dict[str, str], float]]:
        if at.timestamp() < born:
            return []
        return [({"device": "sda"}, 80.0 + (at.timestamp() - born))]  # steep, but only 4 points

    ds.fn = fn
    engine = make_engine(group())
    await engine.evaluate_group_once("g", clock.now() + timedelta(minutes=29))
    assert sink.take() == []
    await engine.evaluate_group_once("g", clock.now() + timedelta(minutes=30))
    assert len(sink.take()) == 1


def test_trend_rule_validation() -> None:
    with pytest.raises(ValueError, match="window: must cover at least two steps"):
        RuleGroup.model_validate(group(window="1m"))
    with pytest.raises(ValueError, match="min_samples"):
        RuleGroup.model_validate(group(min_samples=2))
    with pytest.raises(ValueError, match="invalid condition"):
        RuleGroup.model_validate(group(condition="above 90"))
