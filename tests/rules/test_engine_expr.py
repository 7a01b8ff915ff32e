"""``expr`` rules through the engine: Prometheus's state machine, labels, errors, sink."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from promalert.metrics import Metrics
from promalert.model import Labels
from promalert.rules.engine import SOURCE

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
URL = "http://promalert.example:9099/graph?g0.expr=m+%3E+90&g0.tab=1"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)  # type: ignore[no-any-return]


RULE = {
    "alert": "High",
    "expr": "m > 90",
    "for": "20s",
    "labels": {"severity": "page", "team": "{{ $labels.job }}-team"},
    "annotations": {"summary": "{{ $labels.instance }} is {{ $value }}", "static": "read me"},
}


async def test_pending_firing_resolved_reach_the_sink(make_engine, ds, sink, metrics, store):  # type: ignore[no-untyped-def]
    engine = make_engine({"name": "g", "rules": [RULE]})
    ds.set("m > 90", ({"__name__": "m", "instance": "a", "job": "node"}, 97.0))

    await engine.evaluate_group_once("g", at(0))
    assert sink.take() == []
    status = engine.rule_status()[0]
    assert status["state"] == "pending" and status["health"] == "ok"
    assert status["alerts"][0]["active_at"] == "2026-01-05T09:00:00Z"
    assert sample(metrics, "promalert_alerts", state="pending") == 1

    await engine.evaluate_group_once("g", at(10))
    assert sink.take() == []
    await engine.evaluate_group_once("g", at(20))
    [alert] = sink.take()
    assert alert.labels == Labels(
        {
            "alertname": "High",
            "instance": "a",
            "job": "node",
            "severity": "page",
            "team": "node-team",
        }
    )
    assert alert.annotations == Labels({"summary": "a is 97", "static": "read me"})
    assert (alert.starts_at, alert.ends_at, alert.updated_at) == (at(0), None, at(20))
    assert alert.generator_url == URL
    assert sink.sources == {SOURCE}
    assert sample(metrics, "promalert_alerts", state="pending") == 0
    assert engine.rule_status()[0]["state"] == "firing"

    await engine.evaluate_group_once("g", at(30))
    assert sink.take() == [], "nothing changed"
    ds.set("m > 90", ({"__name__": "m", "instance": "a", "job": "node"}, 0.5))
    await engine.evaluate_group_once("g", at(40))
    [update] = sink.take()
    assert update.annotations["summary"] == "a is 0.5" and update.ends_at is None

    ds.set("m > 90")
    await engine.evaluate_group_once("g", at(50))
    [resolved] = sink.take()
    assert resolved.labels == alert.labels and resolved.ends_at == at(50)
    assert resolved.starts_at == at(0)
    assert engine.rule_status()[0]["state"] == "inactive"
    assert engine.rule_status()[0]["alerts"] == []
    assert sample(metrics, "promalert_rule_evaluations_total", group="g", rule="High") == 6
    assert sample(metrics, "promalert_rule_group_iterations_total", group="g") == 6
    assert sample(metrics, "promalert_rule_group_last_duration_seconds", group="g") is not None
    saved = store.data["rules/test.yml|g|High|0"]
    assert [a["state"] for a in saved["alerts"].values()] == ["inactive"]


async def test_rule_labels_override_and_name_is_dropped(make_engine, ds, sink):  # type: ignore[no-untyped-def]
    engine = make_engine(
        {
            "name": "g",
            "labels": {"team": "group-team", "tier": "1"},
            "rules": [{"alert": "A", "expr": "up == 0", "labels": {"tier": "2", "instance": ""}}],
        }
    )
    ds.set("up == 0", ({"__name__": "up", "instance": "x", "alertname": "other"}, 0.0))
    await engine.evaluate_group_once("g", at(0))
    [alert] = sink.take()
    assert alert.labels == Labels({"alertname": "A", "team": "group-team", "tier": "2"})


async def test_nan_sample_is_still_an_alert(make_engine, ds, sink):  # type: ignore[no-untyped-def]
    engine = make_engine({"name": "g", "rules": [{"alert": "A", "expr": "ratio"}]})
    ds.set("ratio", ({"instance": "x"}, math.nan))
    await engine.evaluate_group_once("g", at(0))
    assert len(sink.take()) == 1
    assert engine.rule_status()[0]["alerts"][0]["value"] == "NaN"


async def test_duplicate_labelset_is_an_error_and_keeps_state(make_engine, ds, sink, metrics):  # type: ignore[no-untyped-def]
    engine = make_engine({"name": "g", "rules": [{"alert": "A", "expr": "x", "for": "20s"}]})
    ds.set("x", ({"__name__": "a", "instance": "i"}, 1.0))
    await engine.evaluate_group_once("g", at(0))
    ds.set(
        "x", ({"__name__": "a", "instance": "i"}, 1.0), ({"__name__": "b", "instance": "i"}, 2.0)
    )
    await engine.evaluate_group_once("g", at(10))
    status = engine.rule_status()[0]
    assert status["health"] == "err"
    assert status["last_error"] == (
        "vector contains metrics with the same labelset after applying alert labels"
    )
    assert (
        status["state"] == "pending" and status["alerts"][0]["active_at"] == "2026-01-05T09:00:00Z"
    )
    assert sample(metrics, "promalert_rule_evaluation_failures_total", group="g", rule="A") == 1
    ds.set("x", ({"__name__": "a", "instance": "i"}, 1.0))
    await engine.evaluate_group_once("g", at(20))
    [alert] = sink.take()
    assert alert.starts_at == at(0)
    assert engine.rule_status()[0]["health"] == "ok"


async def test_group_limit_drops_all_alerts_of_the_rule(make_engine, ds, sink):  # type: ignore[no-untyped-def]
    engine = make_engine({"name": "g", "limit": 1, "rules": [{"alert": "A", "expr": "x"}]})
    ds.set("x", ({"i": "1"}, 1.0))
    await engine.evaluate_group_once("g", at(0))
    [firing] = sink.take()
    ds.set("x", ({"i": "1"}, 1.0), ({"i": "2"}, 1.0))
    await engine.evaluate_group_once("g", at(10))
    status = engine.rule_status()[0]
    assert status["health"] == "err" and status["last_error"] == "exceeded limit of 1 with 2 alerts"
    assert status["alerts"] == []
    [resolved] = sink.take()
    assert resolved.labels == firing.labels and resolved.ends_at == at(10)
    ds.set("x", ({"i": "1"}, 1.0))
    await engine.evaluate_group_once("g", at(20))
    [again] = sink.take()
    assert again.starts_at == at(20) and again.ends_at is None


async def test_template_error_gives_prometheus_error_text(make_engine, ds, sink):  # type: ignore[no-untyped-def]
    engine = make_engine(
        {
            "name": "g",
            "rules": [{"alert": "A", "expr": "x", "annotations": {"s": "{{ nosuchfunc 1 }}"}}],
        }
    )
    ds.set("x", ({"i": "1"}, 1.0))
    await engine.evaluate_group_once("g", at(0))
    [alert] = sink.take()
    assert alert.annotations["s"].startswith("<error expanding template: ")
    assert engine.rule_status()[0]["health"] == "ok"


async def test_unknown_group_name_is_a_key_error(make_engine):  # type: ignore[no-untyped-def]
    engine = make_engine({"name": "g", "rules": []})
    with pytest.raises(KeyError, match="nope"):
        await engine.evaluate_group_once("nope", at(0))


async def test_rule_status_shape(make_engine, ds):  # type: ignore[no-untyped-def]
    engine = make_engine(
        {
            "name": "g",
            "rules": [{"record": "r", "expr": "x"}, {"alert": "A", "expr": "x", "for": "1m"}],
        }
    )
    [status] = engine.rule_status()
    assert status["health"] == "unknown" and status["last_evaluation"] is None
    assert (status["group"], status["file"], status["name"], status["kind"]) == (
        "g",
        "rules/test.yml",
        "A",
        "expr",
    )
    assert (status["query"], status["for"], status["state"]) == ("x", 60.0, "inactive")
    await engine.evaluate_group_once("g", at(0))
    status = engine.rule_status()[0]
    assert status["last_evaluation"] == "2026-01-05T09:00:00Z"
    assert status["evaluation_time"] >= 0
