"""The delivery worker's scans: a dispatcher wake-up looks only at new lanes, yet a lane
waiting for a retry is never forgotten."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from promalert.clock import SystemClock
from promalert.errors import NotifyError
from promalert.metrics import Metrics
from promalert.notify.base import Message
from promalert.notify.outbox import DeliveryWorker
from promalert.store import NewNotification, NflogEntry, NflogKey, Store


def enqueue(store: Store, at: datetime, group: str) -> int:
    key = NflogKey(group, "team", "webhook", 0)
    entry = NflogEntry(key, frozenset({"f"}), frozenset(), at, at + timedelta(days=1))
    note = NewNotification("team", "webhook", 0, group, {"groupKey": group}, at, at)
    return store.enqueue(entry, note)


@dataclass
class FailOnce:
    """Fails the first send of each group in ``fail`` (retryably), delivers the rest."""

    fail: set[str]
    channel: str = "webhook"
    send_resolved: bool = True
    sent: list[str] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def notify(self, message: Message) -> None:
        if message.group_key in self.fail:
            self.fail.discard(message.group_key)
            raise NotifyError("HTTP 500", retryable=True, reason="http_5xx")
        self.sent.append(message.group_key)
        self.arrived.set()


async def test_a_retry_comes_due_while_wake_ups_bring_only_new_lanes(
    store: Store, metrics: Metrics
) -> None:
    clock = SystemClock()
    notifier = FailOnce({"retried"})
    worker = DeliveryWorker(
        store, {("team", 0): notifier}, clock, metrics, base_delay=0.2, rng=random.Random(1)
    )
    task = asyncio.create_task(worker.run())
    try:
        enqueue(store, clock.now(), "retried")
        worker.wake()
        for _ in range(200):  # until the first attempt failed and was scheduled again
            if any(r.attempts for r in store.outbox_rows("pending")):
                break
            await asyncio.sleep(0.005)
        # Dispatcher wake-ups with new lanes while the retry waits (each an incremental scan).
        for i in range(3):
            enqueue(store, clock.now(), f"new{i}")
            worker.wake()
            await asyncio.sleep(0.02)
        async with asyncio.timeout(5):  # not the 60 s idle sleep
            while "retried" not in notifier.sent:
                notifier.arrived.clear()
                await notifier.arrived.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert sorted(notifier.sent) == ["new0", "new1", "new2", "retried"]
    assert store.count_pending() == 0


async def test_every_new_lane_of_many_wake_ups_is_delivered_in_lane_order(
    store: Store, metrics: Metrics
) -> None:
    clock = SystemClock()
    notifier = FailOnce(set())
    worker = DeliveryWorker(store, {("team", 0): notifier}, clock, metrics, concurrency=2)
    task = asyncio.create_task(worker.run())
    expected = []
    try:
        for _ in range(10):
            for lane in range(5):
                group = f"g{lane}"
                enqueue(store, clock.now(), group)
                expected.append(group)
            worker.wake()
            await asyncio.sleep(0)
        async with asyncio.timeout(5):
            while len(notifier.sent) < len(expected):
                notifier.arrived.clear()
                await notifier.arrived.wait()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert sorted(notifier.sent) == sorted(expected)
    assert store.count_pending() == 0
