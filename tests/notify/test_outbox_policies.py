"""The delivery worker with per-integration policies: retry limits, Retry-After, rate
limits, digests, provider receipts and failure reasons in the delivery log."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from promalert.clock import FakeClock
from promalert.errors import NotifyError
from promalert.metrics import Metrics
from promalert.notify.base import Message, Receipt
from promalert.notify.outbox import DeliveryWorker
from promalert.notify.policy import DeliveryPolicy, DigestPolicy, Limit, RetryPolicy
from promalert.store import NewNotification, NflogEntry, NflogKey, Store


@dataclass
class FnNotifier:
    """Answers each message with ``fn`` and records what it was given."""

    fn: Callable[[Message], Receipt | None] = lambda m: None
    channel: str = "sms"
    send_resolved: bool = True
    seen: list[Message] = field(default_factory=list)

    async def notify(self, message: Message) -> Receipt | None:
        self.seen.append(message)
        return self.fn(message)


def enqueue(
    store: Store,
    clock: FakeClock,
    group: str,
    severity: str = "critical",
    receiver: str = "team",
    channel: str = "sms",
) -> int:
    key = NflogKey(group, receiver, channel, 0)
    entry = NflogEntry(
        key, frozenset({"f"}), frozenset(), clock.now(), clock.now() + timedelta(days=1)
    )
    payload = {
        "groupKey": group,
        "status": "firing",
        "receiver": receiver,
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": group, "severity": severity},
                "annotations": {},
            }
        ],
    }
    note = NewNotification(receiver, channel, 0, group, payload, clock.now(), clock.now())
    return store.enqueue(entry, note)


def worker(
    store: Store,
    clock: FakeClock,
    metrics: Metrics,
    notifiers: dict[tuple[str, int], Any],
    policies: dict[tuple[str, int], DeliveryPolicy],
) -> DeliveryWorker:
    return DeliveryWorker(store, notifiers, clock, metrics, policies=policies, rng=random.Random(2))


def value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def fail(**kw: Any) -> Callable[[Message], None]:
    def raise_(message: Message) -> None:
        raise NotifyError("sms[0]: down", **kw)

    return raise_


async def test_attempts_limit_gives_up(store: Store, clock: FakeClock, metrics: Metrics) -> None:
    notifier = FnNotifier(fail(retryable=True, reason="http_5xx"))
    policy = DeliveryPolicy(retry=RetryPolicy(attempts=3, base_delay=1, max_age=3600))
    w = worker(store, clock, metrics, {("team", 0): notifier}, {("team", 0): policy})
    enqueue(store, clock, "g")
    for _ in range(10):
        await w.run_due()
        clock.advance(10)
    (row,) = store.outbox_rows()
    assert (row.status, row.attempts, len(notifier.seen)) == ("failed", 3, 3)
    (record,) = store.notification_log()
    assert (record.status, record.reason, record.last_error) == (
        "failed",
        "http_5xx",
        "sms[0]: down",
    )


async def test_retry_after_wins_over_backoff(
    store: Store, clock: FakeClock, metrics: Metrics
) -> None:
    notifier = FnNotifier(fail(retryable=True, reason="rate_limited", retry_after=42.0))
    w = worker(store, clock, metrics, {("team", 0): notifier}, {})
    enqueue(store, clock, "g")
    await w.run_due()
    (row,) = store.outbox_rows()
    assert row.next_attempt_at == clock.now() + timedelta(seconds=42)
    assert store.notification_log()[0].reason == "rate_limited"


async def test_non_retryable_fails_at_once_with_its_reason(
    store: Store, clock: FakeClock, metrics: Metrics
) -> None:
    notifier = FnNotifier(fail(retryable=False, reason="auth"))
    w = worker(store, clock, metrics, {("team", 0): notifier}, {})
    enqueue(store, clock, "g")
    await w.run_due()
    assert store.notification_log()[0].status == "failed"
    labels = {"channel": "sms", "receiver": "team", "reason": "auth"}
    assert value(metrics, "promalert_notifications_failed_total", **labels) == 1


async def test_integration_rate_limit_delays_but_never_drops(
    store: Store, clock: FakeClock, metrics: Metrics
) -> None:
    notifier = FnNotifier()
    policy = DeliveryPolicy(rate_limit=Limit(2, 60.0))
    w = worker(store, clock, metrics, {("team", 0): notifier}, {("team", 0): policy})
    for i in range(5):
        enqueue(store, clock, f"g{i}")
    await w.run_due()
    assert len(notifier.seen) == 2
    assert len(store.outbox_rows("pending")) == 3
    assert value(metrics, "promalert_notifications_rate_limited_total", channel="sms") == 3
    clock.advance(60)
    await w.run_due()
    assert len(notifier.seen) == 4
    clock.advance(60)
    await w.run_due()
    assert sorted(m.group_key for m in notifier.seen) == [f"g{i}" for i in range(5)]
    assert {r.attempts for r in store.outbox_rows()} == {1}  # waiting is not an attempt


async def test_recipient_limit_is_shared_across_receivers(
    store: Store, clock: FakeClock, metrics: Metrics
) -> None:
    a, b = FnNotifier(), FnNotifier()
    limit = Limit(1, 3600.0)
    policies = {
        ("ops", 0): DeliveryPolicy(recipient_limit=limit, recipients=("+15550001",)),
        ("dba", 0): DeliveryPolicy(recipient_limit=limit, recipients=("+15550001", "+2")),
    }
    w = worker(store, clock, metrics, {("ops", 0): a, ("dba", 0): b}, policies)
    enqueue(store, clock, "g1", receiver="ops")
    await w.run_due()
    enqueue(store, clock, "g2", receiver="dba")
    await w.run_due()
    assert (len(a.seen), len(b.seen)) == (1, 0)
    clock.advance(3600)
    await w.run_due()
    assert (len(a.seen), len(b.seen)) == (1, 1)


async def test_low_priority_rows_wait_for_their_digest(
    store: Store, clock: FakeClock, metrics: Metrics
) -> None:
    notifier = FnNotifier()
    digest = DigestPolicy(interval=900.0, max_size=10, priorities=frozenset({"P4", "P5"}))
    w = worker(
        store, clock, metrics, {("team", 0): notifier}, {("team", 0): DeliveryPolicy(digest=digest)}
    )
    for i in range(3):
        enqueue(store, clock, f"low{i}", severity="low")
        clock.advance(60)
    enqueue(store, clock, "urgent", severity="critical")
    await w.run_due()
    assert [m.group_key for m in notifier.seen] == ["urgent"]
    clock.advance(900 - 180)  # the end of the 15-minute window the low rows fell in
    await w.run_due()
    assert [m.group_key for m in notifier.seen] == ["urgent", "digest"]
    digest_message = notifier.seen[1]
    assert [a["labels"]["alertname"] for a in digest_message.payload["alerts"]] == [
        "low0",
        "low1",
        "low2",
    ]
    assert digest_message.payload["digest"]["notifications"] == 3
    assert {r.status for r in store.outbox_rows()} == {"sent"}
    assert value(metrics, "promalert_notifications_total", channel="sms", receiver="team") == 4


async def test_a_full_digest_goes_out_early_and_a_failed_one_is_retried_whole(
    store: Store, clock: FakeClock, metrics: Metrics
) -> None:
    calls = {"n": 0}

    def flaky(message: Message) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise NotifyError("sms[0]: HTTP 500", retryable=True, reason="http_5xx")

    notifier = FnNotifier(flaky)
    digest = DigestPolicy(interval=3600.0, max_size=2, priorities=frozenset({"P4"}))
    w = worker(
        store, clock, metrics, {("team", 0): notifier}, {("team", 0): DeliveryPolicy(digest=digest)}
    )
    enqueue(store, clock, "a", severity="low")
    await w.run_due()
    assert notifier.seen == []
    enqueue(store, clock, "b", severity="low")
    await w.run_due()
    assert len(notifier.seen) == 1  # two waiting = max_size: sent now, and failed
    assert {r.attempts for r in store.outbox_rows()} == {1}
    clock.advance(5)
    await w.run_due()
    assert len(notifier.seen) == 2
    assert len(notifier.seen[1].payload["alerts"]) == 2
    assert {r.status for r in store.outbox_rows()} == {"sent"}


async def test_receipts_become_delivery_statuses(
    store: Store, clock: FakeClock, metrics: Metrics
) -> None:
    notifier = FnNotifier(lambda m: Receipt((("SM1", "+1"), ("SM2", "+2"))))
    w = worker(store, clock, metrics, {("team", 0): notifier}, {})
    row_id = enqueue(store, clock, "g")
    await w.run_due()
    (record,) = store.notification_log()
    assert record.status == "sent" and [d.provider_id for d in record.deliveries] == ["SM1", "SM2"]
    assert store.update_delivery("SM1", "delivered", clock.now()) == row_id
    assert store.notification_log()[0].status == "sent"
    store.update_delivery("SM2", "delivered", clock.now())
    assert store.notification_log()[0].status == "delivered"
    store.update_delivery("SM2", "sent", clock.now())  # a late, older report changes nothing
    assert store.notification_log()[0].status == "delivered"
    store.update_delivery("SM1", "read", clock.now())
    assert store.notification_log()[0].status == "read"
    assert store.update_delivery("SMX", "delivered", clock.now()) is None
    with pytest.raises(ValueError, match="unknown delivery status"):
        store.update_delivery("SM1", "bogus", clock.now())


async def test_delivery_log_filters_and_pages(
    store: Store, clock: FakeClock, metrics: Metrics
) -> None:
    ids = [enqueue(store, clock, f"g{i}", receiver=r) for i, r in enumerate(["a", "b", "a"])]
    assert [r.id for r in store.notification_log()] == ids[::-1]
    assert [r.id for r in store.notification_log(receiver="a")] == [ids[2], ids[0]]
    assert [r.id for r in store.notification_log(limit=1, before_id=ids[2])] == [ids[1]]
    assert store.notification_log(channel="email") == []
    assert store.notification_log()[0].alerts == 1


async def test_prune_drops_provider_reports_with_their_rows(
    store: Store, clock: FakeClock, metrics: Metrics
) -> None:
    notifier = FnNotifier(lambda m: Receipt((("SM1", "+1"),)))
    w = worker(store, clock, metrics, {("team", 0): notifier}, {})
    enqueue(store, clock, "g")
    await w.run_due()
    clock.advance(8 * 86400)
    assert w.prune(clock.now()) == 1
    assert store.update_delivery("SM1", "delivered", clock.now()) is None
