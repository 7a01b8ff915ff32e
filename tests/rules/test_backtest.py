"""Backtests on a function-backed datasource: they agree with live evaluation, and plot."""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from promalert.clock import FakeClock
from promalert.rules.backtest import (
    BacktestError,
    ProgressBar,
    backtest,
    find_rule,
    parse_time,
    report,
)
from promalert.rules.history import chunk_spans, fetch_history
from promalert.rules.plot import plot_backtest
from promalert.rules.spec import RuleGroup

Rows = list[tuple[dict[str, str], float]]


def level(t: float) -> float:
    return 100.0 + 3.0 * math.sin(t / 700.0) + ((int(t) * 7919) % 11 - 5) * 0.4


def workload(t0: float) -> Any:
    """req{a} spikes at minutes 30-32, req{b} drops at 50; b is absent at 40-44; disk grows."""

    def fn(expr: str, at: datetime) -> Rows:
        t = at.timestamp()
        minute = round((t - t0) / 60)
        if expr == "req":
            rows = [
                ({"__name__": "req", "instance": "a"}, 900.0 if 30 <= minute <= 32 else level(t))
            ]
            if not 40 <= minute <= 44:
                b = -300.0 if minute == 50 else level(t + 999)
                rows.append(({"__name__": "req", "instance": "b"}, b))
            return rows
        if expr == "disk":
            return [({"device": "sda"}, 10.0 + max(0.0, t - t0 - 1800) / 60.0)]
        return []

    return fn


def make_group(rule: dict[str, Any]) -> RuleGroup:
    return RuleGroup.model_validate(
        {"name": "g", "interval": "1m", "source": "test.yml", "rules": [rule]}
    )


ANOMALY = {
    "alert": "ReqAnomaly",
    "kind": "anomaly",
    "query": "req",
    "detector": "zscore",
    "params": {"window": 30},
    "history": "1h",
    "step": "1m",
    "refit": "20m",
    "min_samples": 20,
    "keep_firing_for": "2m",
}


async def test_anomaly_backtest_matches_live_evaluation(
    make_engine: Any, ds: Any, sink: Any, clock: FakeClock
) -> None:
    t0 = clock.now()
    ds.fn = workload(t0.timestamp())
    engine = make_engine({"name": "g", "interval": "1m", "rules": [ANOMALY]})
    live: list[tuple[int, str, bool]] = []
    for k in range(61):
        await engine.evaluate_group_once("g", t0 + timedelta(minutes=k, seconds=5))
        for alert in sink.take():
            live.append((k, alert.labels["instance"], alert.ends_at is not None))

    group = make_group(ANOMALY)
    result = await backtest(
        group, group.rules[0], ds.query_range, t0, t0 + timedelta(minutes=60), interval=60.0
    )
    replayed = []
    for span in result.spans:
        name = span.labels["instance"]
        replayed.append((round((span.fired_at - t0).total_seconds() / 60), name, False))
        if span.resolved_at is not None:
            replayed.append((round((span.resolved_at - t0).total_seconds() / 60), name, True))
    assert sorted(replayed) == sorted(live)
    assert (30, "a", False) in live and (50, "b", False) in live
    # Bands and scores come along for the plot.
    series = {r.replay.labels["instance"]: r.replay for r in result.series}
    assert np.isnan(series["b"].values[40:45]).all()
    assert series["a"].result[30] >= 0.25 and np.isfinite(series["a"].expected[29])

    text = report(result)
    assert "firing" in text and 'instance="a"' in text and text.endswith("alert(s)")


async def test_trend_and_frequency_backtests(ds: Any, clock: FakeClock, tmp_path: Path) -> None:
    t0 = clock.now()
    ds.fn = workload(t0.timestamp())
    trend = make_group(
        {
            "alert": "DiskFull",
            "kind": "trend",
            "query": "disk",
            "window": "10m",
            "condition": "> 100",
            "within": "1h",
        }
    )
    result = await backtest(
        trend, trend.rules[0], ds.query_range, t0, t0 + timedelta(minutes=90), interval=60.0
    )
    (span,) = result.spans
    # Growth starts at minute 30 (1/min from 10), so it reaches 100 at minute 120: the
    # forecast is within the hour from minute 60 on, and the fit is exact by then.
    assert span.fired_at - t0 == timedelta(minutes=60) and span.value == 3600.0
    assert span.resolved_at is None

    frequency = make_group(
        {
            "alert": "Spiky",
            "kind": "frequency",
            "query": "req",
            "condition": "> 500",
            "count": 2,
            "within": "5m",
        }
    )
    result = await backtest(
        frequency, frequency.rules[0], ds.query_range, t0, t0 + timedelta(minutes=60), interval=60.0
    )
    (span,) = result.spans
    assert (span.fired_at - t0, span.resolved_at and span.resolved_at - t0) == (
        timedelta(minutes=31),
        timedelta(minutes=36),  # (31, 36] holds only minute 32
    )
    out = tmp_path / "freq.png"
    plot_backtest(result, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


async def test_plot_writes_a_png(ds: Any, clock: FakeClock, tmp_path: Path) -> None:
    t0 = clock.now()
    ds.fn = workload(t0.timestamp())
    group = make_group(ANOMALY)
    result = await backtest(
        group, group.rules[0], ds.query_range, t0, t0 + timedelta(minutes=60), interval=60.0
    )
    out = tmp_path / "plot.png"
    plot_backtest(result, out)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


async def test_history_is_fetched_in_chunks(ds: Any, clock: FakeClock) -> None:
    t0 = clock.now().timestamp()
    ds.fn = workload(t0)
    assert chunk_spans(0, 990, 10, max_points=50) == [(0, 490), (500, 990)]
    assert chunk_spans(0, 1000, 10, max_points=50) == [(0, 490), (500, 990), (1000, 1000)]
    got = await fetch_history(ds.query_range, "req", t0, t0 + 3600, 60, max_points=25)
    assert len(ds.range_calls) == 3  # 61 points: 25 + 25 + 11
    a = next(h for lb, h in got.items() if lb["instance"] == "a")
    assert a.timestamps.size == 61 and np.all(np.diff(a.timestamps) == 60)


def test_parse_time() -> None:
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    assert parse_time("now", now) == now
    assert parse_time("-7d", now) == now - timedelta(days=7)
    assert parse_time("-1h30m", now) == now - timedelta(minutes=90)
    assert parse_time("2026-01-01T00:00:00Z", now) == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_time("1767225600", now) == datetime(2026, 1, 1, tzinfo=UTC)
    for bad in ("yesterday", "-7x", "2026-01-01T00:00:00"):
        with pytest.raises(BacktestError, match="bad time"):
            parse_time(bad, now)


def test_find_rule_names_the_choices() -> None:
    groups = [make_group(ANOMALY), make_group({**ANOMALY, "alert": "Other"})]
    assert find_rule(groups, "Other")[1].alert == "Other"
    with pytest.raises(BacktestError, match="rules: Other, ReqAnomaly"):
        find_rule(groups, "Nope")
    twice = [make_group(ANOMALY), make_group(ANOMALY)]
    with pytest.raises(BacktestError, match="pick one of: g/ReqAnomaly, g/ReqAnomaly"):
        find_rule(twice, "ReqAnomaly")


async def test_unsupported_kind_is_refused(ds: Any, clock: FakeClock) -> None:
    group = make_group({"alert": "X", "expr": "up == 0"})
    with pytest.raises(BacktestError, match="backtest replays anomaly, trend, frequency"):
        await backtest(
            group,
            group.rules[0],
            ds.query_range,
            clock.now(),
            clock.now() + timedelta(hours=1),
            interval=60.0,
        )


def test_progress_bar_without_a_terminal() -> None:
    stream = io.StringIO()
    bar = ProgressBar(stream, "fetching")
    for done in range(1, 21):
        bar(done, 20)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "fetching: 5%" and lines[-1] == "fetching: 100%" and len(lines) == 11
