"""``threshold`` rules: condition, ``clear`` hysteresis, NaN, ``for`` and ``cooldown``."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
NODE = {"__name__": "cpu", "instance": "a"}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def threshold(**extra: Any) -> dict[str, Any]:
    rule = {
        "alert": "CpuHigh",
        "kind": "threshold",
        "query": "cpu",
        "condition": "> 90",
        "annotations": {"summary": "cpu {{ $value }}"},
    }
    rule.update(extra)
    return {"name": "g", "rules": [rule]}


async def run(engine, ds, sink, values: list[float], start: int = 0) -> list[str]:  # type: ignore[no-untyped-def]
    """Evaluate once per value (10 s apart); return the rule's state after each."""
    states = []
    for i, value in enumerate(values):
        ds.set("cpu", (NODE, value))
        await engine.evaluate_group_once("g", at(start + 10 * i))
        states.append(engine.rule_status()[0]["state"])
    return states


async def test_without_clear_follows_the_condition(make_engine, ds, sink):  # type: ignore[no-untyped-def]
    engine = make_engine(threshold())
    assert await run(engine, ds, sink, [50, 95, 91, 90, 95]) == [
        "inactive",
        "firing",
        "firing",
        "inactive",
        "firing",
    ]
    sent = sink.take()
    assert [(a.ends_at is None, a.annotations["summary"]) for a in sent] == [
        (True, "cpu 95"),
        (True, "cpu 91"),
        (False, "cpu 91"),
        (True, "cpu 95"),
    ]
    assert sent[0].labels.as_dict() == {"alertname": "CpuHigh", "instance": "a"}
    assert sent[0].generator_url.endswith("/graph?g0.expr=cpu&g0.tab=1")


async def test_clear_holds_the_alert_until_it_holds(make_engine, ds, sink):  # type: ignore[no-untyped-def]
    engine = make_engine(threshold(clear="< 80"))
    assert await run(engine, ds, sink, [85, 95, 85, 80, 79, 85, 95]) == [
        "inactive",
        "firing",
        "firing",
        "firing",
        "inactive",
        "inactive",
        "firing",
    ]


async def test_clear_with_for_keeps_the_pending_timer(make_engine, ds, sink):  # type: ignore[no-untyped-def]
    engine = make_engine(threshold(clear="< 80", **{"for": "20s"}))
    assert await run(engine, ds, sink, [95, 85, 85]) == ["pending", "pending", "firing"]
    assert sink.take()[0].starts_at == at(0)


async def test_nan_is_never_active(make_engine, ds, sink):  # type: ignore[no-untyped-def]
    engine = make_engine(threshold(clear="< 80", condition="!= 1"))
    assert await run(engine, ds, sink, [math.nan, 5, math.nan]) == [
        "inactive",
        "firing",
        "inactive",
    ]


async def test_vanished_series_resolves_even_with_clear(make_engine, ds, sink):  # type: ignore[no-untyped-def]
    engine = make_engine(threshold(clear="< 80"))
    await run(engine, ds, sink, [95])
    ds.set("cpu")
    await engine.evaluate_group_once("g", at(10))
    assert engine.rule_status()[0]["state"] == "inactive"


async def test_cooldown_suppresses_refiring(make_engine, ds, sink):  # type: ignore[no-untyped-def]
    engine = make_engine(threshold(cooldown="1m"))
    states = await run(engine, ds, sink, [95, 50, 95, 95, 95, 95, 95, 95])
    # resolved at 10 s; may fire again from 70 s on.
    assert states == [
        "firing",
        "inactive",
        "inactive",
        "inactive",
        "inactive",
        "inactive",
        "inactive",
        "firing",
    ]
    assert [a.ends_at for a in sink.take()] == [None, at(10), None]


async def test_cooldown_for_expr_rules_too(make_engine, ds, sink):  # type: ignore[no-untyped-def]
    engine = make_engine({"name": "g", "rules": [{"alert": "A", "expr": "x", "cooldown": "30s"}]})
    for second, present in [(0, True), (10, False), (20, True), (30, True), (40, True)]:
        ds.set("x", *([({"i": "1"}, 1.0)] if present else []))
        await engine.evaluate_group_once("g", at(second))
    assert [a.ends_at for a in sink.take()] == [None, at(10), None]
    assert engine.rule_status()[0]["alerts"][0]["active_at"] == "2026-01-05T09:00:40Z"
