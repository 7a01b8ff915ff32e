"""Datasource outage keeps every state and raises a meta-alert; bad queries stay local."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from promalert.errors import QueryError
from promalert.rules.engine import DATASOURCE_DOWN

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
GROUP = {
    "name": "g",
    "rules": [
        {"alert": "Slow", "expr": "slow", "for": "20s"},
        {"alert": "Now", "expr": "now"},
    ],
}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def up(metrics) -> float | None:  # type: ignore[no-untyped-def]
    return metrics.registry.get_sample_value("promalert_datasource_up")  # type: ignore[no-any-return]


async def test_outage_keeps_state_then_meta_alert_fires_and_resolves(  # type: ignore[no-untyped-def]
    make_engine, ds, sink, metrics
):
    ds.set("slow", ({"i": "1"}, 1.0))
    ds.set("now", ({"i": "2"}, 1.0))
    engine = make_engine(GROUP, evaluation_interval=10.0)
    await engine.evaluate_group_once("g", at(0))
    [now_alert] = sink.take()
    assert up(metrics) == 1

    ds.down = True
    for second in (10, 20, 30):
        await engine.evaluate_group_once("g", at(second))
        assert sink.take() == [], "nothing resolves, nothing new fires"
        assert [s["state"] for s in engine.rule_status()] == ["pending", "firing"]
        assert all(s["health"] == "err" for s in engine.rule_status())
    assert up(metrics) == 0
    assert "connection refused" in engine.rule_status()[0]["last_error"]

    await engine.evaluate_group_once("g", at(40))  # 3 intervals after the first failure
    [meta] = sink.take()
    assert meta.labels.as_dict() == {"alertname": DATASOURCE_DOWN, "severity": "critical"}
    assert meta.starts_at == at(10) and meta.ends_at is None
    assert "connection refused" in meta.annotations["summary"]
    assert "hunter2" not in meta.annotations["summary"] + meta.annotations["description"]
    await engine.evaluate_group_once("g", at(50))
    assert sink.take() == [], "the meta-alert is sent once"

    ds.down = False
    await engine.evaluate_group_once("g", at(60))
    sent = {a.labels["alertname"]: a for a in sink.take()}
    assert sent[DATASOURCE_DOWN].ends_at == at(60)
    assert sent["Slow"].starts_at == at(0) and sent["Slow"].ends_at is None, "timer kept"
    assert "Now" not in sent, "still firing, unchanged"
    assert up(metrics) == 1
    assert now_alert.labels["alertname"] == "Now"


async def test_meta_alert_state_survives_restart(make_engine, ds, sink):  # type: ignore[no-untyped-def]
    ds.down = True
    first = make_engine(GROUP)
    for second in (0, 10, 20, 30):
        await first.evaluate_group_once("g", at(second))
    [meta] = sink.take()
    second_engine = make_engine(GROUP)
    await second_engine.restore()
    [again] = sink.take()
    assert again.labels == meta.labels and again.ends_at is None
    ds.down = False
    await second_engine.evaluate_group_once("g", at(40))
    assert [(a.labels["alertname"], a.ends_at) for a in sink.take()] == [(DATASOURCE_DOWN, at(40))]


async def test_short_outage_raises_no_meta_alert(make_engine, ds, sink):  # type: ignore[no-untyped-def]
    engine = make_engine(GROUP)
    ds.down = True
    await engine.evaluate_group_once("g", at(0))
    await engine.evaluate_group_once("g", at(20))
    ds.down = False
    await engine.evaluate_group_once("g", at(25))
    ds.down = True
    await engine.evaluate_group_once("g", at(30))
    await engine.evaluate_group_once("g", at(50))
    assert sink.take() == []


async def test_query_error_is_isolated_to_its_rule(make_engine, ds, sink, metrics):  # type: ignore[no-untyped-def]
    def answer(expr: str, at: datetime) -> list[tuple[dict[str, str], float]]:
        if expr == "slow":
            raise QueryError("bad_data: parse error at char 5: unexpected <EOF>")
        return [({"i": "2"}, 1.0)]

    ds.fn = answer
    engine = make_engine(GROUP)
    for second in range(0, 100, 10):
        await engine.evaluate_group_once("g", at(second))
    slow, now = engine.rule_status()
    assert slow["health"] == "err" and "parse error" in slow["last_error"]
    assert now["health"] == "ok" and now["state"] == "firing"
    assert [a.labels["alertname"] for a in sink.take()] == ["Now"], "no meta-alert"
    failures = metrics.registry.get_sample_value(
        "promalert_rule_evaluation_failures_total", {"group": "g", "rule": "Slow"}
    )
    assert failures == 10
    assert up(metrics) == 1


async def test_failing_sink_retries_next_cycle(make_engine, ds, sink):  # type: ignore[no-untyped-def]
    ds.set("now", ({"i": "2"}, 1.0))
    engine = make_engine(GROUP)
    sink.fail = True
    await engine.evaluate_group_once("g", at(0))
    sink.fail = False
    await engine.evaluate_group_once("g", at(10))
    assert [a.labels["alertname"] for a in sink.take()] == ["Now"]
