"""Aggregation groups: Alertmanager's timing, group_by, dedup through the log, the outbox."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest

from promalert.clock import FakeClock, SystemClock
from promalert.config.routing import RouteConfig
from promalert.dispatch.group import Dispatcher, group_key, labelset_string
from promalert.errors import StoreError
from promalert.metrics import Metrics
from promalert.model import Alert, Labels
from promalert.notify.base import Notifier
from promalert.store import NewNotification, NflogEntry, Store

WAIT, INTERVAL, REPEAT = 30.0, 300.0, 3600.0


def route(**kw: Any) -> RouteConfig:
    opts: dict[str, Any] = {
        "receiver": "team",
        "group_by": ["alertname"],
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "1h",
    }
    opts.update(kw)
    return RouteConfig.model_validate(opts)


def alert(name: str, at: datetime, ends: datetime | None = None, **labels: str) -> Alert:
    return Alert(
        Labels({"alertname": name, **labels}),
        annotations=Labels({"summary": f"{name} is bad"}),
        starts_at=at,
        ends_at=ends,
        updated_at=at,
    )


class Harness:
    """A dispatcher on a real store, driven by a fake clock."""

    def __init__(
        self, store: Store, clock: FakeClock, notifiers: dict[tuple[str, int], Notifier], **kw: Any
    ) -> None:
        self.store, self.clock, self.notifiers = store, clock, notifiers
        self.woken = 0
        self.dispatcher = Dispatcher(
            route(**kw),
            notifiers,
            store,
            clock,
            Metrics(),
            external_url="http://promalert:9099",
            on_outbox=self.wake,
        )
        self.seen = 0

    def wake(self) -> None:
        self.woken += 1

    async def at(self, seconds: float) -> list[dict[str, Any]]:
        """Move to ``seconds`` after the start, flush what is due, return new payloads."""
        self.clock.advance(seconds - self.elapsed)
        await self.dispatcher.run_due()
        rows = sorted(self.store.outbox_rows(), key=lambda r: r.id)
        new = rows[self.seen :]
        self.seen = len(rows)
        return [r.payload for r in new]

    @property
    def elapsed(self) -> float:
        return (self.clock.now() - START).total_seconds()


START = FakeClock().now()


@pytest.fixture
def h(store: Store, clock: FakeClock, declared: type) -> Harness:
    return Harness(store, clock, {("team", 0): declared()})


def statuses(payload: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["labels"].get("instance", ""), a["status"]) for a in payload["alerts"]]


async def test_first_flush_after_group_wait_then_group_interval(h: Harness) -> None:
    h.dispatcher.insert(alert("HighCPU", START, instance="a"))
    assert await h.at(29.9) == []
    (first,) = await h.at(30)
    assert statuses(first) == [("a", "firing")]
    assert first["groupKey"] == '{}:{alertname="HighCPU"}'
    assert h.woken == 1
    # Joins a group that already flushed: waits for the next group_interval tick.
    h.dispatcher.insert(alert("HighCPU", START + timedelta(seconds=40), instance="b"))
    assert await h.at(329) == []
    (second,) = await h.at(330)
    assert statuses(second) == [("a", "firing"), ("b", "firing")]


async def test_nothing_new_means_no_notification_until_repeat_interval(h: Harness) -> None:
    h.dispatcher.insert(alert("HighCPU", START))
    assert len(await h.at(30)) == 1
    for tick in range(1, 12):
        assert await h.at(30 + tick * INTERVAL) == []
    # Alertmanager repeats only when the last notification is strictly older than
    # repeat_interval at a flush: 3630 is exactly 1h after 30, so 3930 repeats.
    assert await h.at(30 + 12 * INTERVAL) == []
    (repeat,) = await h.at(30 + 13 * INTERVAL)
    assert repeat["status"] == "firing"


async def test_resolve_is_sent_at_next_tick_and_the_group_goes_away(h: Harness) -> None:
    h.dispatcher.insert(alert("HighCPU", START))
    await h.at(30)
    resolved_at = START + timedelta(seconds=100)
    h.dispatcher.insert(alert("HighCPU", START, ends=resolved_at))
    assert h.dispatcher.holds(alert("HighCPU", START).fingerprint)
    (resolve,) = await h.at(330)
    assert resolve["status"] == "resolved"
    assert resolve["alerts"][0]["endsAt"] == "2026-01-05T09:01:40Z"
    assert h.dispatcher.groups() == []
    assert not h.dispatcher.holds(alert("HighCPU", START).fingerprint)
    assert await h.at(3 * 3600) == []


async def test_alert_that_fires_and_resolves_between_flushes_is_never_sent(h: Harness) -> None:
    h.dispatcher.insert(alert("Blip", START, ends=START + timedelta(seconds=5)))
    assert await h.at(30) == []
    assert h.dispatcher.groups() == []


async def test_new_resolved_alert_in_a_firing_group(h: Harness) -> None:
    h.dispatcher.insert(alert("HighCPU", START, instance="a"))
    h.dispatcher.insert(alert("HighCPU", START, instance="b"))
    await h.at(30)
    h.dispatcher.insert(alert("HighCPU", START, ends=START + timedelta(seconds=60), instance="a"))
    (update,) = await h.at(330)
    assert statuses(update) == [("a", "resolved"), ("b", "firing")]
    assert update["status"] == "firing"
    # The resolved alert left the group; nothing else changes.
    assert await h.at(630) == []


async def test_send_resolved_false_drops_resolved_alerts(
    store: Store, clock: FakeClock, declared: type
) -> None:
    h = Harness(store, clock, {("team", 0): declared(send_resolved=False)})
    h.dispatcher.insert(alert("HighCPU", START, instance="a"))
    h.dispatcher.insert(alert("HighCPU", START, instance="b"))
    await h.at(30)
    h.dispatcher.insert(alert("HighCPU", START, ends=START + timedelta(seconds=60), instance="a"))
    assert await h.at(330) == []  # a resolved alert alone is no news here
    h.dispatcher.insert(alert("HighCPU", START, ends=START + timedelta(seconds=400), instance="b"))
    assert await h.at(630) == []  # all resolved: logged, not sent
    # Firing again is news again, because the log recorded the resolve.
    h.dispatcher.insert(alert("HighCPU", START + timedelta(seconds=700), instance="b"))
    (refire,) = await h.at(760)
    assert statuses(refire) == [("b", "firing")]


async def test_send_resolved_false_payload_has_only_firing_alerts(
    store: Store, clock: FakeClock, declared: type
) -> None:
    h = Harness(store, clock, {("team", 0): declared(send_resolved=False)})
    h.dispatcher.insert(alert("HighCPU", START, instance="a"))
    await h.at(30)
    h.dispatcher.insert(alert("HighCPU", START, ends=START + timedelta(seconds=60), instance="a"))
    h.dispatcher.insert(alert("HighCPU", START + timedelta(seconds=61), instance="b"))
    (update,) = await h.at(330)
    assert statuses(update) == [("b", "firing")]


@pytest.mark.parametrize(
    ("group_by", "keys"),
    [
        (["alertname"], ['{}:{alertname="A"}', '{}:{alertname="B"}']),
        ([], ["{}:{}"]),
        (
            ["..."],
            [
                '{}:{alertname="A", instance="1"}',
                '{}:{alertname="A", instance="2"}',
                '{}:{alertname="B", instance="1"}',
            ],
        ),
        (["instance", "missing"], ['{}:{instance="1"}', '{}:{instance="2"}']),
    ],
)
async def test_group_by(
    store: Store, clock: FakeClock, declared: type, group_by: list[str], keys: list[str]
) -> None:
    h = Harness(store, clock, {("team", 0): declared()}, group_by=group_by)
    for name, instance in [("A", "1"), ("A", "2"), ("B", "1")]:
        h.dispatcher.insert(alert(name, START, instance=instance))
    payloads = await h.at(30)
    assert sorted(p["groupKey"] for p in payloads) == keys
    assert sum(len(p["alerts"]) for p in payloads) == 3


async def test_old_alert_flushes_a_new_group_at_once(h: Harness, clock: FakeClock) -> None:
    clock.advance(600)
    h.dispatcher.insert(alert("HighCPU", START, instance="a"))
    assert len(await h.at(600)) == 1


async def test_old_alert_joining_an_unflushed_group_flushes_it_at_once(h: Harness) -> None:
    h.dispatcher.insert(alert("HighCPU", START + timedelta(seconds=10), instance="a"))
    await h.at(20)
    h.dispatcher.insert(alert("HighCPU", START - timedelta(seconds=60), instance="b"))
    (payload,) = await h.at(20)
    assert statuses(payload) == [("a", "firing"), ("b", "firing")]


async def test_alert_with_a_future_end_is_firing_and_then_times_out(h: Harness) -> None:
    h.dispatcher.insert(alert("Api", START, ends=START + timedelta(seconds=100)))
    (firing,) = await h.at(30)
    assert firing["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"
    (resolved,) = await h.at(330)
    assert resolved["alerts"][0]["status"] == "resolved"
    assert resolved["alerts"][0]["endsAt"] == "2026-01-05T09:01:40Z"


async def test_each_integration_has_its_own_log(
    store: Store, clock: FakeClock, declared: type
) -> None:
    notifiers = {("team", 0): declared(), ("team", 1): declared("file", send_resolved=False)}
    h = Harness(store, clock, notifiers)
    h.dispatcher.insert(alert("HighCPU", START))
    first = await h.at(30)
    assert len(first) == 2
    h.dispatcher.insert(alert("HighCPU", START, ends=START + timedelta(seconds=60)))
    await h.at(330)
    rows = sorted(store.outbox_rows(), key=lambda r: r.id)
    assert [(r.channel, r.integration, r.payload["status"]) for r in rows] == [
        ("webhook", 0, "firing"),
        ("file", 1, "firing"),
        ("webhook", 0, "resolved"),
    ]


async def test_first_firing_at_counts_only_newly_announced_alerts(h: Harness) -> None:
    h.dispatcher.insert(alert("HighCPU", START, instance="a"))
    await h.at(30)
    h.dispatcher.insert(alert("HighCPU", START + timedelta(seconds=200), instance="b"))
    await h.at(330)
    rows = sorted(h.store.outbox_rows(), key=lambda r: r.id)
    assert [r.first_firing_at for r in rows] == [START, START + timedelta(seconds=200)]


class FlakyStore(Store):
    """A real store whose outbox writes fail while ``broken`` is set."""

    broken = False

    def write_flushes(
        self, entries: Sequence[NflogEntry], queued: Sequence[tuple[NflogEntry, NewNotification]]
    ) -> list[int]:
        if self.broken:
            raise StoreError("store test.db: writing to the outbox failed: disk I/O error")
        return super().write_flushes(entries, queued)


async def test_store_failure_keeps_resolved_alerts_for_the_next_flush(
    tmp_path: Any, clock: FakeClock, declared: type
) -> None:
    store = FlakyStore.open(tmp_path / "f.db")
    assert isinstance(store, FlakyStore)
    h = Harness(store, clock, {("team", 0): declared()})
    h.dispatcher.insert(alert("HighCPU", START))
    await h.at(30)
    h.dispatcher.insert(alert("HighCPU", START, ends=START + timedelta(seconds=60)))
    store.broken = True
    assert await h.at(330) == []
    assert h.dispatcher.groups() != []
    store.broken = False
    (resolve,) = await h.at(630)
    assert resolve["status"] == "resolved"
    store.close()


async def test_reload_keeps_group_timers_when_grouping_is_unchanged(h: Harness) -> None:
    h.dispatcher.insert(alert("HighCPU", START))
    await h.at(30)
    h.dispatcher.insert(alert("HighCPU", START + timedelta(seconds=60), instance="b"))
    h.dispatcher.reload(route(group_interval="10m"), h.notifiers, external_url="http://new")
    assert await h.at(329) == []
    (payload,) = await h.at(330)
    assert payload["externalURL"] == "http://new"
    # The next tick uses the new group_interval.
    h.dispatcher.insert(alert("HighCPU", START + timedelta(seconds=400), instance="c"))
    assert await h.at(929) == []
    assert len(await h.at(930)) == 1


async def test_reload_with_new_grouping_regroups(h: Harness) -> None:
    h.dispatcher.insert(alert("HighCPU", START, instance="a"))
    h.dispatcher.insert(alert("HighCPU", START, instance="b"))
    await h.at(30)
    await h.at(100)
    h.dispatcher.reload(route(group_by=["instance"]), h.notifiers, external_url="http://x")
    payloads = await h.at(100)  # alerts older than group_wait in new groups: flushed at once
    assert sorted(p["groupKey"] for p in payloads) == ['{}:{instance="a"}', '{}:{instance="b"}']


def test_group_key_format_matches_alertmanager() -> None:
    # Alertmanager sorts the name="value" strings: a1=... comes before a=... ('1' < '=').
    labels = {"alertname": "X", "a": "1", "a1": 'q"uo\\te'}
    assert group_key("{}", labels) == '{}:{a1="q\\"uo\\\\te", a="1", alertname="X"}'
    assert labelset_string({"x": "tab\there\x01é\u00a0"}) == '{x="tab\\there\\x01é\\u00a0"}'
    assert labelset_string({}) == "{}"


async def test_run_loop_flushes_on_real_time(store: Store, declared: type) -> None:
    woken = asyncio.Event()
    dispatcher = Dispatcher(
        route(group_wait="50ms"),
        {("team", 0): declared()},
        store,
        SystemClock(),
        Metrics(),
        external_url="http://x",
        on_outbox=woken.set,
    )
    task = asyncio.create_task(dispatcher.run())
    try:
        await asyncio.sleep(0.05)  # the loop is asleep with no groups
        dispatcher.insert(alert("HighCPU", SystemClock().now()))
        await asyncio.wait_for(woken.wait(), timeout=5)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert len(store.outbox_rows()) == 1
