"""Ingest: Alertmanager's merge rules, resolve_timeout, persistence, restore, gc, metrics."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from promalert.clock import FakeClock
from promalert.config.routing import RouteConfig
from promalert.dispatch.group import Dispatcher
from promalert.dispatch.ingest import AlertIngest, merge, overlaps
from promalert.metrics import Metrics
from promalert.model import Alert, Labels
from promalert.store import Store, StoredAlert

LABELS = Labels({"alertname": "HighCPU", "instance": "web-1"})


def at(clock: FakeClock, seconds: float) -> datetime:
    return clock.now() + timedelta(seconds=seconds)


def make(
    starts: datetime | None,
    ends: datetime | None = None,
    updated: datetime | None = None,
    summary: str = "hot",
) -> Alert:
    return Alert(
        LABELS,
        annotations=Labels({"summary": summary}),
        starts_at=starts,
        ends_at=ends,
        updated_at=updated,
    )


def value(metrics: Metrics, name: str, **labels: str) -> float:
    got = metrics.registry.get_sample_value(name, labels)
    return 0.0 if got is None else got


class Pipeline:
    """Ingest in front of a dispatcher, both on one store."""

    def __init__(self, store: Store, clock: FakeClock, declared: type, **kw: Any) -> None:
        self.metrics = Metrics()
        route = RouteConfig(receiver="team", group_by=["alertname"], group_wait="30s")
        self.dispatcher = Dispatcher(
            route, {("team", 0): declared()}, store, clock, self.metrics, external_url="http://x"
        )
        self.ingest = AlertIngest(store, self.dispatcher, clock, self.metrics, 300.0, **kw)


@pytest.fixture
def p(store: Store, clock: FakeClock, declared: type) -> Pipeline:
    return Pipeline(store, clock, declared)


def test_overlap_and_merge_keep_earliest_start_and_latest_annotations(clock: FakeClock) -> None:
    old = make(at(clock, 0), None, at(clock, 0), summary="old")
    new = make(at(clock, 60), None, at(clock, 60), summary="new")
    assert overlaps(old, new)
    merged = merge(StoredAlert(old, "rules"), StoredAlert(new, "rules"), at(clock, 60)).alert
    assert (merged.starts_at, merged.annotations["summary"]) == (at(clock, 0), "new")


def test_explicit_end_beats_a_timeout_but_not_the_reverse(clock: FakeClock) -> None:
    now = at(clock, 10)
    real = StoredAlert(make(at(clock, 0), at(clock, 900), at(clock, 0)), "api", timeout=False)
    later = StoredAlert(make(at(clock, 5), at(clock, 600), at(clock, 5)), "api", timeout=False)
    # An older, later explicit end wins over a newer update's earlier end...
    assert merge(real, later, now).alert.ends_at == at(clock, 900)
    # ...but an end that only came from resolve_timeout does not.
    timed_out = StoredAlert(real.alert, "api", timeout=True)
    assert merge(timed_out, later, now).alert.ends_at == at(clock, 600)


def test_resolve_merges_and_a_later_firing_restarts(clock: FakeClock) -> None:
    firing = make(at(clock, 0), None, at(clock, 0))
    resolve = make(at(clock, 0), at(clock, 100), at(clock, 100))
    assert overlaps(firing, resolve)
    resolved = merge(StoredAlert(firing, "rules"), StoredAlert(resolve, "rules"), at(clock, 100))
    assert resolved.alert.ends_at == at(clock, 100)
    again = make(at(clock, 200), None, at(clock, 200))
    assert not overlaps(resolved.alert, again)


async def test_api_alerts_get_resolve_timeout_rule_alerts_do_not(
    p: Pipeline, clock: FakeClock
) -> None:
    await p.ingest.put([make(None)], "api")
    (api,) = p.ingest.alerts()
    assert api.starts_at == clock.now()
    assert api.ends_at == at(clock, 300)
    assert api.updated_at == clock.now()
    other = Alert(Labels({"alertname": "Rule"}), starts_at=at(clock, -5))
    await p.ingest.put([other], "rules")
    rule = next(a for a in p.ingest.alerts() if a.name == "Rule")
    assert rule.ends_at is None and rule.starts_at == at(clock, -5)


async def test_updates_merge_and_refiring_restarts(p: Pipeline, clock: FakeClock) -> None:
    await p.ingest.put([make(at(clock, 0))], "rules")
    clock.advance(60)
    await p.ingest.put([make(at(clock, 30), summary="hotter")], "rules")
    (a,) = p.ingest.alerts()
    assert (a.starts_at, a.annotations["summary"]) == (at(clock, -60), "hotter")
    await p.ingest.put([make(at(clock, -60), at(clock, 0))], "rules")
    assert p.ingest.alerts()[0].resolved(clock.now())
    clock.advance(100)
    await p.ingest.put([make(at(clock, 0))], "rules")
    (again,) = p.ingest.alerts()
    assert again.starts_at == clock.now() and again.ends_at is None


async def test_invalid_alert_is_dropped_and_counted(p: Pipeline, clock: FakeClock) -> None:
    await p.ingest.put([make(at(clock, 10), at(clock, 0))], "api")
    assert p.ingest.alerts() == []
    assert value(p.metrics, "promalert_alerts_invalid_total") == 1


async def test_metrics(p: Pipeline, clock: FakeClock) -> None:
    other = Alert(Labels({"alertname": "Disk"}), starts_at=at(clock, 0), ends_at=at(clock, 0))
    await p.ingest.put([make(at(clock, 0)), other], "api")
    await p.ingest.put([make(at(clock, 0))], "rules")
    assert value(p.metrics, "promalert_alerts_received_total", source="api") == 2
    assert value(p.metrics, "promalert_alerts_received_total", source="rules") == 1
    assert value(p.metrics, "promalert_alerts", state="firing") == 1
    assert value(p.metrics, "promalert_alerts", state="resolved") == 1


async def test_alerts_persist_and_restore_into_a_new_dispatcher(
    store: Store, clock: FakeClock, declared: type, tmp_path: Path
) -> None:
    first = Pipeline(store, clock, declared)
    await first.ingest.put([make(at(clock, 0))], "api")
    store.close()
    reopened = Store.open(store.path)
    second = Pipeline(reopened, clock, declared)
    (restored,) = second.ingest.alerts()
    assert restored == first.ingest.alerts()[0]
    assert second.dispatcher.holds(restored.fingerprint)
    reopened.close()


async def test_unchanged_alerts_are_not_rewritten(
    p: Pipeline, store: Store, clock: FakeClock
) -> None:
    await p.ingest.put([make(at(clock, 0))], "rules")
    first = store.load_alerts()[0].alert.updated_at
    clock.advance(10)
    await p.ingest.put([make(at(clock, -10))], "rules")
    assert store.load_alerts()[0].alert.updated_at == first
    clock.advance(10)
    await p.ingest.put([make(at(clock, -20), summary="changed")], "rules")
    assert store.load_alerts()[0].alert.updated_at == clock.now()


async def test_gc_waits_for_the_group_to_handle_the_resolve(
    store: Store, clock: FakeClock, declared: type
) -> None:
    pipe = Pipeline(store, clock, declared, resolved_retention=600.0)
    await pipe.ingest.put([make(at(clock, 0))], "rules")
    clock.advance(30)
    await pipe.dispatcher.run_due()
    await pipe.ingest.put([make(at(clock, -30), at(clock, 0))], "rules")
    clock.advance(900)
    # Resolved long enough, but its group has not flushed the resolve yet.
    assert pipe.ingest.gc() == 0
    await pipe.dispatcher.run_due()
    assert [r.payload["status"] for r in store.outbox_rows()] == ["resolved", "firing"]
    assert pipe.ingest.gc() == 1
    assert pipe.ingest.alerts() == [] and store.load_alerts() == []
    assert value(pipe.metrics, "promalert_alerts", state="resolved") == 0


async def test_recently_resolved_alerts_are_kept(
    store: Store, clock: FakeClock, declared: type
) -> None:
    pipe = Pipeline(store, clock, declared, resolved_retention=600.0)
    await pipe.ingest.put([make(at(clock, -100), at(clock, 0))], "api")
    clock.advance(30)
    await pipe.dispatcher.run_due()  # the group drops it: nothing was ever sent
    assert not pipe.dispatcher.holds(make(None).fingerprint)
    assert pipe.ingest.gc() == 0
    clock.advance(600)
    assert pipe.ingest.gc() == 1


async def test_run_loop_collects_garbage(store: Store, clock: FakeClock, declared: type) -> None:
    pipe = Pipeline(store, clock, declared, resolved_retention=60.0, gc_interval=30.0)
    await pipe.ingest.put([make(at(clock, -100), at(clock, -90))], "api")
    await pipe.dispatcher.run_due()  # old alert: its new group flushes (and drops it) at once
    task = asyncio.create_task(pipe.ingest.run())
    for _ in range(5):  # the fake clock's sleep moves time on by gc_interval each time
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert pipe.ingest.alerts() == [] and store.load_alerts() == []
