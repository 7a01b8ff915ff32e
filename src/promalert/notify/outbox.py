"""The delivery worker: sends what the dispatcher wrote to the outbox, retrying with backoff.

Rows are delivered at least once: a row is marked sent only after its notifier returned,
so rows left pending by a crash or restart go out when the next worker starts. Each
lane (group key + integration) is delivered in order, one row at a time; different lanes
are delivered in parallel, at most ``concurrency`` sends at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Mapping
from datetime import datetime, timedelta

from promalert.clock import Clock
from promalert.errors import NotifyError, StoreError
from promalert.metrics import Metrics
from promalert.notify.base import FAILURE_REASONS, Message, Notifier
from promalert.store import Lane, OutboxRow, Store

log = logging.getLogger(__name__)

_MAX_SLEEP = 60.0
_MIN_SLEEP = 0.01
_PRUNE_INTERVAL = timedelta(hours=1)


def retry_delay(
    attempts: int, jitter: float, *, base: float = 1.0, factor: float = 2.0, cap: float = 300.0
) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt (exponential, ±20% jitter).

    ``jitter`` is a number in [0, 1); spreading retries keeps many failed deliveries to
    one endpoint from hammering it in lockstep.
    """
    raw = base * factor ** min(max(attempts - 1, 0), 64)
    return min(cap, raw * (0.8 + 0.4 * jitter))


class DeliveryWorker:
    """Delivers outbox rows through the configured notifiers."""

    def __init__(
        self,
        store: Store,
        notifiers: Mapping[tuple[str, int], Notifier],
        clock: Clock,
        metrics: Metrics,
        *,
        concurrency: int = 8,
        base_delay: float = 1.0,
        factor: float = 2.0,
        max_delay: float = 300.0,
        max_age: float = 3600.0,
        retention: float = 7 * 86400.0,
        rng: random.Random | None = None,
    ) -> None:
        """``notifiers`` maps (receiver name, integration index) to its notifier.

        A row still failing ``max_age`` seconds after it was queued is given up
        (status ``failed``); sent and failed rows are deleted after ``retention``.
        """
        self._store = store
        self._notifiers = dict(notifiers)
        self._clock = clock
        self._metrics = metrics
        self._slots = asyncio.Semaphore(concurrency)
        self._base, self._factor, self._cap = base_delay, factor, max_delay
        self._max_age = max_age
        self._retention = timedelta(seconds=retention)
        self._rng = rng or random.Random()
        self._lanes: dict[Lane, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._next_prune: datetime | None = None

    def wake(self) -> None:
        """Look at the outbox now (the dispatcher calls this after queueing)."""
        self._wake.set()

    def reload(self, notifiers: Mapping[tuple[str, int], Notifier]) -> None:
        """Use new notifiers from the next attempt on; sends in flight finish on the old."""
        self._notifiers = dict(notifiers)
        self._wake.set()

    async def run_due(self) -> None:
        """Attempt every row due at the clock's time, in lane order, and wait for them."""
        self._refresh_gauge()
        self._start_due_lanes()
        while self._lanes:
            await asyncio.wait(list(self._lanes.values()))

    async def run(self) -> None:
        """Deliver rows as they come due until cancelled."""
        self._refresh_gauge()
        try:
            while True:
                self._wake.clear()
                now = self._clock.now()
                next_due: datetime | None = None
                try:
                    next_due = self._start_due_lanes()
                    self._maybe_prune(now)
                    self._metrics.outbox_pending.set(self._store.count_pending())
                except StoreError as exc:
                    log.error("cannot read the outbox: %s", exc)
                delay = _MAX_SLEEP
                if next_due is not None:
                    delay = min(delay, (next_due - now).total_seconds())
                await self._sleep_or_wake(max(delay, _MIN_SLEEP))
        finally:
            lanes = list(self._lanes.values())
            for task in lanes:
                task.cancel()
            await asyncio.gather(*lanes, return_exceptions=True)

    def prune(self, now: datetime) -> int:
        """Delete sent and failed rows older than the retention; return how many."""
        return self._store.delete_finished_outbox(now - self._retention)

    def _maybe_prune(self, now: datetime) -> None:
        if self._next_prune is None or now >= self._next_prune:
            self._next_prune = now + _PRUNE_INTERVAL
            self.prune(now)

    async def _sleep_or_wake(self, seconds: float) -> None:
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()

    def _start_due_lanes(self) -> datetime | None:
        """Start a task for each idle lane whose head is due; return the next idle due time."""
        now = self._clock.now()
        next_due: datetime | None = None
        for row in self._store.outbox_heads():
            if row.lane in self._lanes:
                continue
            if row.next_attempt_at <= now:
                self._lanes[row.lane] = asyncio.create_task(self._drain(row.lane))
            elif next_due is None or row.next_attempt_at < next_due:
                next_due = row.next_attempt_at
        return next_due

    async def _drain(self, lane: Lane) -> None:
        """Deliver the lane's rows in order while the head is due."""
        try:
            while True:
                row = self._store.outbox_head(lane)
                if row is None or row.next_attempt_at > self._clock.now():
                    return
                async with self._slots:
                    await self._attempt(row)
                self._refresh_gauge()
        except StoreError as exc:
            # The row stays pending and is tried again: delivery is at least once.
            log.error("outbox lane of receiver %r stopped: %s", lane[1], exc)
        finally:
            self._lanes.pop(lane, None)
            self._wake.set()

    async def _attempt(self, row: OutboxRow) -> None:
        """Send one row once and record the outcome."""
        notifier = self._notifiers.get((row.receiver, row.integration))
        if notifier is None or notifier.channel != row.channel:
            log.error(
                "giving up notification %d: receiver %r has no %s integration %d any more",
                row.id,
                row.receiver,
                row.channel,
                row.integration,
            )
            self._store.mark_failed(row.id, row.attempts, "integration no longer configured")
            return
        channel, receiver = row.channel, row.receiver
        if row.attempts > 0:
            self._metrics.notification_retries.labels(channel=channel).inc()
        attempts = row.attempts + 1
        started = time.perf_counter()  # real elapsed time for the metric, not logic
        try:
            await notifier.notify(Message(receiver, row.group_key, row.payload, row.id))
        except NotifyError as exc:
            error, retryable, reason = str(exc), exc.retryable, exc.reason
        except Exception as exc:  # a notifier bug must not stop other deliveries
            # Only the type: the message of an unexpected error might quote a secret.
            error = f"{channel} notifier of receiver {receiver!r}: {type(exc).__name__}"
            retryable, reason = True, "other"
        else:
            self._metrics.notification_latency.labels(channel=channel).observe(
                time.perf_counter() - started
            )
            now = self._clock.now()
            self._store.mark_sent(row.id, attempts, now)
            self._metrics.notifications.labels(channel=channel, receiver=receiver).inc()
            if row.first_firing_at is not None:
                delay = (now - row.first_firing_at).total_seconds()
                self._metrics.notification_delay.labels(channel=channel).observe(max(delay, 0.0))
            log.info(
                "delivered notification %d to receiver %r %s[%d] (attempt %d)",
                row.id,
                receiver,
                channel,
                row.integration,
                attempts,
            )
            return
        self._metrics.notification_latency.labels(channel=channel).observe(
            time.perf_counter() - started
        )
        if reason not in FAILURE_REASONS:
            reason = "other"
        self._metrics.notifications_failed.labels(
            channel=channel, receiver=receiver, reason=reason
        ).inc()
        now = self._clock.now()
        age = (now - row.created_at).total_seconds()
        if retryable and age < self._max_age:
            wait = retry_delay(
                attempts, self._rng.random(), base=self._base, factor=self._factor, cap=self._cap
            )
            self._store.mark_retry(row.id, attempts, now + timedelta(seconds=wait), error)
            log.warning(
                "notification %d failed (attempt %d, retry in %.1fs): %s",
                row.id,
                attempts,
                wait,
                error,
            )
            return
        self._store.mark_failed(row.id, attempts, error)
        why = "not retryable" if not retryable else f"still failing after {age:.0f}s"
        log.error("gave up notification %d (%s): %s", row.id, why, error)

    def _refresh_gauge(self) -> None:
        try:
            self._metrics.outbox_pending.set(self._store.count_pending())
        except StoreError as exc:
            log.error("cannot count the outbox: %s", exc)
