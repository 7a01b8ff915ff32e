"""State survives a restart: pending timers keep their start, firing alerts are not new."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from promalert.rules.engine import INDEX_STATE_KEY

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
GROUP = {"name": "g", "rules": [{"alert": "A", "expr": "x", "for": "60s"}]}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def test_pending_timer_survives_restart(make_engine, ds, sink, store, metrics):  # type: ignore[no-untyped-def]
    ds.set("x", ({"i": "1"}, 1.0))
    first = make_engine(GROUP)
    await first.evaluate_group_once("g", at(0))
    assert sink.take() == []

    second = make_engine(GROUP)
    await second.restore()
    assert sink.take() == [], "pending alerts are never sent"
    assert metrics.registry.get_sample_value("promalert_alerts", {"state": "pending"}) == 1
    await second.evaluate_group_once("g", at(30))
    assert sink.take() == []
    await second.evaluate_group_once("g", at(60))
    [alert] = sink.take()
    assert alert.starts_at == at(0), "fires at activeAt + for, as if never restarted"


async def test_firing_alert_is_resent_once_then_resolves(make_engine, ds, sink, store):  # type: ignore[no-untyped-def]
    ds.set("x", ({"i": "1"}, 1.0))
    first = make_engine(GROUP)
    await first.evaluate_group_once("g", at(0))
    await first.evaluate_group_once("g", at(60))
    [fired] = sink.take()

    second = make_engine(GROUP)
    await second.evaluate_group_once("g", at(70))  # restores on first use
    [resent] = sink.take()
    assert (resent.labels, resent.starts_at, resent.ends_at) == (fired.labels, at(0), None)
    await second.evaluate_group_once("g", at(80))
    assert sink.take() == []
    ds.set("x")
    await second.evaluate_group_once("g", at(90))
    [resolved] = sink.take()
    assert resolved.labels == fired.labels and resolved.ends_at == at(90)


async def test_resolved_alert_in_retention_is_resent_as_resolved(make_engine, ds, sink):  # type: ignore[no-untyped-def]
    ds.set("x", ({"i": "1"}, 1.0))
    first = make_engine({"name": "g", "rules": [{"alert": "A", "expr": "x"}]})
    await first.evaluate_group_once("g", at(0))
    ds.set("x")
    await first.evaluate_group_once("g", at(10))
    sink.take()
    second = make_engine({"name": "g", "rules": [{"alert": "A", "expr": "x"}]})
    await second.restore()
    [resent] = sink.take()
    assert resent.ends_at == at(10)


async def test_removed_rules_are_resolved_and_forgotten(make_engine, ds, store, sink):  # type: ignore[no-untyped-def]
    ds.set("x", ({"i": "1"}, 1.0))
    ds.set("y", ({"i": "1"}, 1.0))
    first = make_engine(
        {"name": "g", "rules": [{"alert": "A", "expr": "x"}, {"alert": "B", "expr": "y"}]}
    )
    await first.evaluate_group_once("g", at(0))
    sink.take()
    store.data["some|old|rule|0"] = {"version": 1, "alerts": {}}
    clock_now = first._clock.now()
    second = make_engine({"name": "g", "rules": [{"alert": "A", "expr": "x"}]})
    await second.restore()
    sent = {a.labels["alertname"]: a for a in sink.take()}
    assert sent["B"].ends_at == clock_now, "the removed rule's firing alert is resolved"
    assert sent["A"].ends_at is None
    assert sorted(store.data) == sorted([INDEX_STATE_KEY, "rules/test.yml|g|A|0"])


async def test_state_follows_a_rule_when_others_are_inserted(make_engine, ds, sink):  # type: ignore[no-untyped-def]
    ds.set("x", ({"i": "1"}, 1.0))
    first = make_engine(GROUP)
    await first.evaluate_group_once("g", at(0))
    rules = [{"alert": "New", "expr": "nothing"}, *GROUP["rules"]]  # type: ignore[misc]
    second = make_engine({"name": "g", "rules": rules})
    await second.evaluate_group_once("g", at(60))
    [alert] = sink.take()
    assert alert.starts_at == at(0)


async def test_unreadable_state_is_ignored(make_engine, ds, store, sink):  # type: ignore[no-untyped-def]
    store.data["rules/test.yml|g|A|0"] = {"version": 1, "alerts": {"x": {"labels": 3}}}
    engine = make_engine(GROUP)
    ds.set("x", ({"i": "1"}, 1.0))
    await engine.evaluate_group_once("g", at(0))
    assert engine.rule_status()[0]["state"] == "pending"


async def test_values_alone_do_not_rewrite_the_store(make_engine, ds, store):  # type: ignore[no-untyped-def]
    engine = make_engine({"name": "g", "rules": [{"alert": "A", "expr": "x"}]})
    await engine.restore()
    saves = store.saves
    for second, value in enumerate([1.0, 2.0, 3.0]):
        ds.set("x", ({"i": "1"}, value))
        await engine.evaluate_group_once("g", at(second * 10))
    assert store.saves == saves + 1, "only the first evaluation (new alert) is saved"


async def test_restart_through_the_sqlite_store(tmp_path, ds, sink, clock, metrics):  # type: ignore[no-untyped-def]
    from promalert.rules.engine import RuleEngine
    from promalert.rules.spec import RuleGroup
    from promalert.store import Store

    group = RuleGroup.model_validate({"source": "r.yml", **GROUP})
    ds.set("x", ({"i": "1"}, 1.0))
    store = Store.open(tmp_path / "state.db")
    options = {"evaluation_interval": 10.0, "external_url": "http://x"}
    first = RuleEngine([group], ds, store, sink, clock, metrics, **options)
    await first.evaluate_group_once("g", at(0))
    store.close()

    store = Store.open(tmp_path / "state.db")
    second = RuleEngine([group], ds, store, sink, clock, metrics, **options)
    await second.evaluate_group_once("g", at(60))
    [alert] = sink.take()
    assert alert.starts_at == at(0)
    store.close()
