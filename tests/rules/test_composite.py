"""``composite`` rules: all/any/expressions, ``on`` joins, and ``alert:`` references."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def composite(logic: str, on: list[str] | None = None, **conditions: Any) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "alert": "Both",
        "kind": "composite",
        "logic": logic,
        "conditions": conditions
        or {
            "a": {"query": "qa", "condition": "> 1"},
            "b": {"query": "qb", "condition": "> 1"},
        },
        "labels": {"severity": "high"},
        "annotations": {"summary": "{{ $labels.instance }} {{ $value }}"},
    }
    if on is not None:
        rule["on"] = on
    return rule


async def firing_labels(engine, group: str = "g") -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    await engine.evaluate_group_once(group, at(0))
    return sorted(
        (a["labels"] for s in engine.rule_status() if s["name"] == "Both" for a in s["alerts"]),
        key=lambda d: sorted(d.items()),
    )


async def test_all_and_any_without_on(make_engine, ds, sink):  # type: ignore[no-untyped-def]
    ds.set("qa", ({"instance": "x"}, 5.0))
    ds.set("qb", ({"instance": "y"}, 0.0))
    both = {"alertname": "Both", "severity": "high"}
    assert await firing_labels(make_engine({"name": "g", "rules": [composite("all")]})) == []
    assert await firing_labels(make_engine({"name": "g", "rules": [composite("any")]})) == [both]
    [alert] = sink.take()
    assert alert.annotations["summary"] == " 5", "no instance label; $value from condition a"
    ds.set("qb", ({"instance": "y"}, 7.0))
    assert await firing_labels(make_engine({"name": "g", "rules": [composite("all")]})) == [both]


async def test_expression_logic(make_engine, ds):  # type: ignore[no-untyped-def]
    ds.set("qa", ({}, 5.0))
    ds.set("qb", ({}, 0.0))
    rule = composite("a and not b")
    assert await firing_labels(make_engine({"name": "g", "rules": [rule]})) != []
    ds.set("qb", ({}, 5.0))
    assert await firing_labels(make_engine({"name": "g", "rules": [rule]})) == []


async def test_not_fires_on_empty_results_without_on(make_engine, ds):  # type: ignore[no-untyped-def]
    rule = composite("not a", a={"query": "qa", "condition": "> 1"})
    assert await firing_labels(make_engine({"name": "g", "rules": [rule]})) == [
        {"alertname": "Both", "severity": "high"}
    ]


async def test_on_join_per_key(make_engine, ds, sink):  # type: ignore[no-untyped-def]
    ds.set(
        "qa",
        ({"instance": "x", "job": "j"}, 5.0),
        ({"instance": "y", "job": "j"}, 5.0),
        ({"instance": "z", "job": "j"}, 0.0),
        ({"job": "j"}, 9.0),  # no instance label: ignored
    )
    ds.set(
        "qb",
        ({"instance": "x", "job": "k"}, 0.0),
        ({"instance": "x", "job": "l"}, 3.0),  # any true series of the key is enough
        ({"instance": "y", "job": "k"}, 0.0),
        ({"instance": "z", "job": "k"}, 8.0),
    )
    engine = make_engine({"name": "g", "rules": [composite("a and b", on=["instance"])]})
    assert await firing_labels(engine) == [
        {"alertname": "Both", "instance": "x", "severity": "high"}
    ]
    [alert] = sink.take()
    assert alert.annotations["summary"] == "x 5"
    engine = make_engine({"name": "g", "rules": [composite("b and not a", on=["instance"])]})
    [labels] = await firing_labels(engine)
    assert labels["instance"] == "z"
    [z] = [a for a in sink.take() if a.labels.get("instance") == "z"]
    assert z.annotations["summary"] == "z 8"


async def test_value_is_nan_when_only_negations_hold(make_engine, ds, sink):  # type: ignore[no-untyped-def]
    ds.set("qa", ({"instance": "x"}, 0.0))
    engine = make_engine({"name": "g", "rules": [composite("not a", on=["instance"])]})
    await engine.evaluate_group_once("g", at(0))
    [alert] = sink.take()
    assert alert.annotations["summary"] == "x NaN"
    assert engine.rule_status()[0]["alerts"][0]["value"] == "NaN"


async def test_alert_reference_across_groups(make_engine, ds, sink):  # type: ignore[no-untyped-def]
    ds.set("down", ({"instance": "x"}, 1.0), ({"instance": "y"}, 1.0))
    ds.set("qa", ({"instance": "x"}, 5.0), ({"instance": "y"}, 0.0))
    engine = make_engine(
        {"name": "base", "rules": [{"alert": "Down", "expr": "down", "for": "10s"}]},
        {
            "name": "g",
            "rules": [
                composite(
                    "a and d",
                    on=["instance"],
                    a={"query": "qa", "condition": "> 1"},
                    d={"alert": "Down"},
                )
            ],
        },
    )
    await engine.evaluate_group_once("base", at(0))
    assert await firing_labels(engine) == [], "Down is only pending"
    await engine.evaluate_group_once("base", at(10))
    assert await firing_labels(engine) == [
        {"alertname": "Both", "instance": "x", "severity": "high"}
    ]


async def test_alert_reference_in_same_group_sees_this_cycle(make_engine, ds, sink):  # type: ignore[no-untyped-def]
    ds.set("down", ({"instance": "x"}, 1.0))
    rules = [
        composite("d", on=["instance"], d={"alert": "Down"}),  # listed first, runs last
        {"alert": "Down", "expr": "down"},
    ]
    engine = make_engine({"name": "g", "rules": rules})
    await engine.evaluate_group_once("g", at(0))
    names = sorted(a.labels["alertname"] for a in sink.take())
    assert names == ["Both", "Down"]
    ds.set("down")
    await engine.evaluate_group_once("g", at(10))
    assert sorted((a.labels["alertname"], a.ends_at) for a in sink.take()) == [
        ("Both", at(10)),
        ("Down", at(10)),
    ]
    assert [s["name"] for s in engine.rule_status()] == ["Both", "Down"]


async def test_unknown_reference_is_false(make_engine, ds):  # type: ignore[no-untyped-def]
    rule = composite("d", d={"alert": "Nobody"})
    assert await firing_labels(make_engine({"name": "g", "rules": [rule]})) == []


async def test_bad_logic_fails_at_build_time(make_engine):  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="unknown condition 'c'"):
        make_engine({"name": "g", "rules": [composite("a and c")]})
