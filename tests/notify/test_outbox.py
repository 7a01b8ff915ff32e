"""The delivery worker: at-least-once delivery, retries with backoff, lanes, metrics, secrets."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from promalert.clock import FakeClock, SystemClock
from promalert.config.receivers import WebhookConfig
from promalert.errors import NotifyError
from promalert.metrics import Metrics
from promalert.notify.base import Message, Notifier
from promalert.notify.outbox import DeliveryWorker, retry_delay
from promalert.notify.webhook import WebhookNotifier
from promalert.store import NewNotification, NflogEntry, NflogKey, Store

TOKEN = "tok-9f8e7d"


def enqueue(store: Store, at: datetime, group: str = "{}:{}", integration: int = 0) -> int:
    key = NflogKey(group, "team", "webhook", integration)
    entry = NflogEntry(key, frozenset({"f"}), frozenset(), at, at + timedelta(days=5))
    payload = {"version": "4", "groupKey": group, "status": "firing", "alerts": []}
    note = NewNotification("team", "webhook", integration, group, payload, at, at)
    return store.enqueue(entry, note)


def webhook(session: aiohttp.ClientSession, url: str) -> WebhookNotifier:
    return WebhookNotifier(WebhookConfig.model_validate({"url": url}), session, "team", 0)


def value(metrics: Metrics, name: str, **labels: str) -> float:
    got = metrics.registry.get_sample_value(name, labels)
    return 0.0 if got is None else got


def worker(
    store: Store, clock: Any, metrics: Metrics, notifier: Notifier, **kw: Any
) -> DeliveryWorker:
    return DeliveryWorker(
        store, {("team", 0): notifier}, clock, metrics, rng=random.Random(3), **kw
    )


@dataclass
class FnNotifier:
    """A notifier whose outcome for each message is decided by ``fn``."""

    fn: Callable[[Message], None]
    channel: str = "webhook"
    send_resolved: bool = True
    seen: list[str] = field(default_factory=list)

    async def notify(self, message: Message) -> None:
        self.seen.append(message.group_key)
        self.fn(message)


def test_retry_delay_grows_exponentially_with_bounded_jitter() -> None:
    assert [retry_delay(n, 0.5) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert retry_delay(1, 0.0) == pytest.approx(0.8)
    assert retry_delay(1, 0.999) == pytest.approx(1.2, abs=1e-3)
    assert retry_delay(30, 0.999) == 300.0
    assert retry_delay(10_000, 0.5) == 300.0


async def test_retries_with_backoff_then_succeeds(
    store: Store, clock: FakeClock, metrics: Metrics, hook: Any, session: aiohttp.ClientSession
) -> None:
    hook.statuses.extend([500, 500])
    row = enqueue(store, clock.now() - timedelta(seconds=30))
    w = worker(store, clock, metrics, webhook(session, hook.url()))
    await w.run_due()
    (pending,) = store.outbox_rows("pending")
    assert pending.attempts == 1 and pending.last_error.endswith("HTTP 500 Internal Server Error")
    first_wait = (pending.next_attempt_at - clock.now()).total_seconds()
    assert 0.8 <= first_wait <= 1.2
    await w.run_due()  # not due yet: no request
    assert len(hook.requests) == 1
    clock.advance(first_wait)
    await w.run_due()
    (pending,) = store.outbox_rows("pending")
    second_wait = (pending.next_attempt_at - clock.now()).total_seconds()
    assert 1.6 <= second_wait <= 2.4
    clock.advance(second_wait)
    await w.run_due()
    (sent,) = store.outbox_rows("sent")
    assert (sent.id, sent.attempts, sent.sent_at) == (row, 3, clock.now())
    assert len(hook.requests) == 3
    assert value(metrics, "promalert_notifications_total", channel="webhook", receiver="team") == 1
    failed = {"channel": "webhook", "receiver": "team", "reason": "http_5xx"}
    assert value(metrics, "promalert_notifications_failed_total", **failed) == 2
    assert value(metrics, "promalert_notification_retries_total", channel="webhook") == 2
    assert value(metrics, "promalert_notification_latency_seconds_count", channel="webhook") == 3
    assert value(metrics, "promalert_notification_delay_seconds_count", channel="webhook") == 1
    delay = value(metrics, "promalert_notification_delay_seconds_sum", channel="webhook")
    assert delay == pytest.approx(30 + first_wait + second_wait)
    assert value(metrics, "promalert_outbox_pending") == 0


async def test_client_error_fails_at_once(
    store: Store, clock: FakeClock, metrics: Metrics, hook: Any, session: aiohttp.ClientSession
) -> None:
    hook.statuses.append(400)
    enqueue(store, clock.now())
    w = worker(store, clock, metrics, webhook(session, hook.url()))
    await w.run_due()
    (failed,) = store.outbox_rows("failed")
    assert failed.attempts == 1 and "HTTP 400" in failed.last_error
    labels = {"channel": "webhook", "receiver": "team", "reason": "http_4xx"}
    assert value(metrics, "promalert_notifications_failed_total", **labels) == 1
    clock.advance(3600)
    await w.run_due()
    assert len(hook.requests) == 1


async def test_gives_up_after_max_age(store: Store, clock: FakeClock, metrics: Metrics) -> None:
    def down(message: Message) -> None:
        raise NotifyError("webhook[0]: HTTP 503", retryable=True, reason="http_5xx")

    notifier = FnNotifier(down)
    enqueue(store, clock.now())
    w = worker(store, clock, metrics, notifier)
    while store.outbox_rows("pending"):
        await w.run_due()
        clock.advance(301)
    (failed,) = store.outbox_rows("failed")
    assert failed.next_attempt_at - failed.created_at < timedelta(hours=1, minutes=6)
    assert failed.attempts == len(notifier.seen)
    assert 10 <= failed.attempts <= 25


async def test_a_row_left_by_a_stopped_worker_is_delivered_once_by_the_next(
    tmp_path: Path, clock: FakeClock, hook: Any, session: aiohttp.ClientSession
) -> None:
    path = tmp_path / "p.db"
    store = Store.open(path)
    enqueue(store, clock.now())
    first = worker(store, clock, Metrics(), webhook(session, hook.url()))
    task = asyncio.create_task(first.run())
    task.cancel()  # killed before it could send anything
    with pytest.raises(asyncio.CancelledError):
        await task
    store.close()
    assert hook.requests == []

    store = Store.open(path)
    second = worker(store, clock, Metrics(), webhook(session, hook.url()))
    await second.run_due()
    await second.run_due()
    clock.advance(3600)
    await second.run_due()
    assert len(hook.requests) == 1
    assert [r.status for r in store.outbox_rows()] == ["sent"]
    store.close()


async def test_order_within_a_lane_parallel_across_lanes(
    store: Store, clock: FakeClock, metrics: Metrics
) -> None:
    failing = {"{}:{a}"}

    def fn(message: Message) -> None:
        if message.group_key in failing:
            raise NotifyError("HTTP 500", retryable=True, reason="http_5xx")

    notifier = FnNotifier(fn)
    a1 = enqueue(store, clock.now(), "{}:{a}")
    a2 = enqueue(store, clock.now(), "{}:{a}")
    b1 = enqueue(store, clock.now(), "{}:{b}")
    b2 = enqueue(store, clock.now(), "{}:{b}")
    w = worker(store, clock, metrics, notifier)
    await w.run_due()
    status = {r.id: r.status for r in store.outbox_rows()}
    assert status == {a1: "pending", a2: "pending", b1: "sent", b2: "sent"}
    assert notifier.seen.count("{}:{a}") == 1  # a2 waits behind a1
    failing.clear()
    clock.advance(5)
    await w.run_due()
    assert {r.status for r in store.outbox_rows()} == {"sent"}
    assert notifier.seen[-2:] == ["{}:{a}", "{}:{a}"]


async def test_rows_for_a_removed_integration_fail(
    store: Store, clock: FakeClock, metrics: Metrics
) -> None:
    enqueue(store, clock.now(), integration=5)
    w = worker(store, clock, metrics, FnNotifier(lambda m: None))
    await w.run_due()
    (failed,) = store.outbox_rows("failed")
    assert failed.last_error == "integration no longer configured"


async def test_a_notifier_bug_is_retried_and_logged_without_its_message(
    store: Store, clock: FakeClock, metrics: Metrics, caplog: pytest.LogCaptureFixture
) -> None:
    def buggy(message: Message) -> None:
        raise KeyError(f"http://x/{TOKEN}")

    enqueue(store, clock.now())
    with caplog.at_level(logging.DEBUG):
        await worker(store, clock, metrics, FnNotifier(buggy)).run_due()
    (pending,) = store.outbox_rows("pending")
    assert pending.last_error == "webhook notifier of receiver 'team': KeyError"
    assert TOKEN not in caplog.text


async def test_secrets_stay_out_of_logs_and_the_outbox(
    store: Store,
    clock: FakeClock,
    metrics: Metrics,
    hook: Any,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hook.statuses.extend([500, 400])
    secret_url = hook.url(f"/hooks/{TOKEN}?key={TOKEN}q")
    notifier = WebhookNotifier(
        WebhookConfig.model_validate({"url": secret_url, "hmac_secret": "hm-" + TOKEN}),
        session,
        "team",
        0,
    )
    enqueue(store, clock.now())
    w = worker(store, clock, metrics, notifier)
    with caplog.at_level(logging.DEBUG):
        await w.run_due()
        clock.advance(5)
        await w.run_due()
    assert len(hook.requests) == 2
    assert "HTTP 500" in caplog.text and "HTTP 400" in caplog.text
    assert TOKEN not in caplog.text
    assert all(TOKEN not in r.last_error for r in store.outbox_rows())


async def test_prune_keeps_a_week(store: Store, clock: FakeClock, metrics: Metrics) -> None:
    old = enqueue(store, clock.now() - timedelta(days=8))
    store.mark_sent(old, 1, clock.now())
    recent = enqueue(store, clock.now() - timedelta(days=6))
    store.mark_failed(recent, 1, "x")
    w = worker(store, clock, metrics, FnNotifier(lambda m: None))
    assert w.prune(clock.now()) == 1
    assert [r.id for r in store.outbox_rows()] == [recent]


async def test_run_loop_delivers_when_woken(
    store: Store, metrics: Metrics, hook: Any, session: aiohttp.ClientSession
) -> None:
    clock = SystemClock()
    w = worker(store, clock, metrics, webhook(session, hook.url()))
    task = asyncio.create_task(w.run())
    try:
        await asyncio.sleep(0.05)  # idle: nothing in the outbox
        enqueue(store, clock.now())
        w.wake()
        await asyncio.wait_for(hook.arrived.wait(), timeout=5)
        for _ in range(100):
            if store.outbox_rows("sent"):
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert len(store.outbox_rows("sent")) == 1
    assert value(metrics, "promalert_outbox_pending") == 0


@dataclass
class SlowNotifier:
    """Holds every send for a moment and records how many were in flight at once."""

    channel: str = "webhook"
    send_resolved: bool = True
    in_flight: int = 0
    most: int = 0
    seen: list[str] = field(default_factory=list)
    expected: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def notify(self, message: Message) -> None:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        await asyncio.sleep(0.001)
        self.seen.append(message.group_key)
        self.in_flight -= 1
        if len(self.seen) == self.expected:
            self.done.set()


async def test_many_lanes_are_drained_at_most_concurrency_at_a_time(
    store: Store, clock: FakeClock, metrics: Metrics
) -> None:
    groups = [f"{{}}:{{g{i}}}" for i in range(20)]
    for group in groups:
        enqueue(store, clock.now(), group)
        enqueue(store, clock.now(), group)
    notifier = SlowNotifier()
    await worker(store, clock, metrics, notifier, concurrency=3).run_due()
    assert notifier.most == 3
    assert sorted(notifier.seen) == sorted(groups * 2)
    assert {r.status for r in store.outbox_rows()} == {"sent"}
    assert value(metrics, "promalert_notifications_total", channel="webhook", receiver="team") == 40


async def test_rows_queued_while_runners_are_busy_are_delivered_by_the_running_loop(
    store: Store, metrics: Metrics
) -> None:
    notifier = SlowNotifier(expected=20)
    w = worker(store, SystemClock(), metrics, notifier, concurrency=2)
    task = asyncio.create_task(w.run())
    try:
        for wave in range(5):
            for i in range(4):
                enqueue(store, SystemClock().now(), f"{{}}:{{w{wave}-{i}}}")
            w.wake()
            await asyncio.sleep(0)
        async with asyncio.timeout(5):
            await notifier.done.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert notifier.most <= 2
    assert store.count_pending() == 0


@dataclass
class GatedNotifier:
    """A notifier whose sends wait for ``gate``; counts sends started and completed."""

    gate: asyncio.Event = field(default_factory=asyncio.Event)
    two_started: asyncio.Event = field(default_factory=asyncio.Event)
    channel: str = "webhook"
    send_resolved: bool = True
    started: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)

    async def notify(self, message: Message) -> None:
        self.started.append(message.group_key)
        if len(self.started) == 2:
            self.two_started.set()
        await self.gate.wait()
        self.done.append(message.group_key)


async def test_finish_lets_sends_under_way_complete_and_starts_no_more(
    store: Store, metrics: Metrics
) -> None:
    clock = SystemClock()
    for n in range(5):
        enqueue(store, clock.now() - timedelta(seconds=1), group=f"g{n}")
    notifier = GatedNotifier()
    w = worker(store, clock, metrics, notifier, concurrency=2)
    task = asyncio.create_task(w.run())
    await asyncio.wait_for(notifier.two_started.wait(), 5)
    finishing = asyncio.create_task(w.finish(5.0))
    await asyncio.sleep(0.05)
    assert not finishing.done()  # waits for the two sends under way
    notifier.gate.set()
    await finishing
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert notifier.done == notifier.started == ["g0", "g1"]  # completed, none started after
    assert store.count_pending() == 3  # the two completed are marked sent
