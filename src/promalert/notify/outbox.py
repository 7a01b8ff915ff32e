"""The delivery worker: sends what the dispatcher wrote to the outbox, retrying with backoff.

Rows are delivered at least once: a row is marked sent only after its notifier returned,
so rows left pending by a crash or restart go out when the next worker starts. Each
lane (group key + integration) is delivered in order, one row at a time; different lanes
are delivered in parallel, at most ``concurrency`` sends at once.

Per integration (its :class:`~promalert.notify.policy.DeliveryPolicy`): retries back off
exponentially with jitter, a provider's ``Retry-After`` wins over the backoff, and
non-retryable errors fail at once; rate limits delay a send (never drop it); digests
hold low-priority rows and send them as one message (:mod:`promalert.notify.digest`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Container, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from prometheus_client import Counter, Histogram

from promalert.clock import Clock, sleep_or_wake
from promalert.errors import NotifyError, StoreError
from promalert.metrics import Metrics
from promalert.notify.base import FAILURE_REASONS, Message, Notifier, Receipt
from promalert.notify.digest import DIGEST_GROUP_KEY, digestible, merge, window_end
from promalert.notify.policy import DeliveryPolicy, Limit, RetryPolicy, retry_delay
from promalert.notify.ratelimit import RateLimiter
from promalert.store import Lane, OutboxRow

__all__ = ["DeliveryWorker", "Outbox", "retry_delay"]

log = logging.getLogger(__name__)

_MAX_SLEEP = 60.0
_MIN_SLEEP = 0.01
_COALESCE = 0.02
_PRUNE_INTERVAL = timedelta(hours=1)
Integration = tuple[str, int]
_NO_POLICY = DeliveryPolicy()


@dataclass(frozen=True, slots=True)
class _Counters:
    """The metric children one (channel, receiver) updates on every delivery."""

    delivered: Counter
    latency: Histogram
    delay: Histogram


class Outbox(Protocol):
    """What the worker reads and writes: the store, or the delivery process's copy of it."""

    def outbox_head(self, lane: Lane) -> OutboxRow | None: ...

    def outbox_heads(self, skip: Container[Lane] = ()) -> list[OutboxRow]: ...

    def new_outbox_heads(self) -> list[OutboxRow] | None: ...

    def count_pending(self) -> int: ...

    def mark_sent(self, row_id: int, attempts: int, at: datetime) -> None: ...

    def record_failure(
        self, row_id: int, attempts: int, error: str, reason: str, retry_at: datetime | None
    ) -> None: ...

    def defer(self, row_ids: Sequence[int], until: datetime) -> None: ...

    def record_receipt(
        self, outbox_id: int, channel: str, provider_ids: Sequence[tuple[str, str]], at: datetime
    ) -> None: ...

    def delete_finished_outbox(self, before: datetime) -> int: ...

    def delete_orphan_deliveries(self) -> int: ...


class DeliveryWorker:
    """Delivers outbox rows through the configured notifiers."""

    def __init__(
        self,
        store: Outbox,
        notifiers: Mapping[Integration, Notifier],
        clock: Clock,
        metrics: Metrics,
        *,
        policies: Mapping[Integration, DeliveryPolicy] | None = None,
        concurrency: int = 8,
        base_delay: float = 1.0,
        factor: float = 2.0,
        max_delay: float = 300.0,
        max_age: float = 3600.0,
        retention: float = 7 * 86400.0,
        rng: random.Random | None = None,
    ) -> None:
        """``notifiers`` and ``policies`` map (receiver name, integration index) to each.

        The retry keywords are the policy of integrations whose config sets no ``retry``.
        A row still failing ``max_age`` seconds after it was queued is given up (status
        ``failed``); sent and failed rows are deleted after ``retention`` seconds.
        """
        self._store = store
        self._notifiers = dict(notifiers)
        self._policies = dict(policies or {})
        self._clock = clock
        self._metrics = metrics
        self._concurrency = max(1, concurrency)
        self._default_retry = RetryPolicy(0, base_delay, factor, max_delay, max_age)
        self._retention = timedelta(seconds=retention)
        self._rng = rng or random.Random()
        self._limiter = RateLimiter()
        # Lanes waiting for a runner, and every lane queued or being drained. A fixed
        # number of runner tasks drain them: one task per lane cost more than the send.
        self._ready: deque[Lane] = deque()
        self._lanes: set[Lane] = set()
        self._runners: set[asyncio.Task[None]] = set()
        # Per-channel metric children: .labels() on every delivery was a visible cost.
        self._counters_by: dict[tuple[str, str], _Counters] = {}
        self._digest_locks: dict[Integration, asyncio.Lock] = {}
        self._wake = asyncio.Event()
        # When the run loop will look at the outbox again by itself (None: not sleeping).
        self._planned_wake: datetime | None = None
        self._next_prune: datetime | None = None
        # Whether the next scan must look at every lane; otherwise only at lanes new since
        # the last scan (what a dispatcher wake-up brings), with the due time found then.
        self._full_scan = True
        self._next_due: datetime | None = None
        # Set by finish(): no new attempt starts; those under way complete.
        self._finishing = False

    def wake(self) -> None:
        """Look at the outbox now (the dispatcher calls this after queueing)."""
        self._wake.set()

    def start_new(self) -> None:
        """Start the new lanes that are due at once, then let the loop look again.

        Saves the loop's turn between a wake-up and the first send: the delivery process
        calls it as soon as it has read new rows.
        """
        if not self._full_scan:
            try:
                self._start_due_lanes()
            except StoreError as exc:
                log.error("cannot read the outbox: %s", exc)
        self._wake.set()

    def reload(
        self,
        notifiers: Mapping[Integration, Notifier],
        policies: Mapping[Integration, DeliveryPolicy] | None = None,
        *,
        retention: float | None = None,
    ) -> None:
        """Use new notifiers from the next attempt on; sends in flight finish on the old."""
        self._notifiers = dict(notifiers)
        self._policies = dict(policies or {})
        if retention is not None:
            self._retention = timedelta(seconds=retention)
        self._full_scan = True
        self._wake.set()

    async def finish(self, within: float) -> None:
        """Start no more attempts and wait up to ``within`` seconds for those under way.

        A send already on the wire is better completed and recorded than cancelled and
        sent again after a restart.
        """
        self._finishing = True
        self._ready.clear()
        runners = list(self._runners)
        if runners:
            await asyncio.wait(runners, timeout=within)

    async def run_due(self) -> None:
        """Attempt every row due at the clock's time, in lane order, and wait for them."""
        self._refresh_gauge()
        self._full_scan = True
        self._start_due_lanes()
        while self._runners:
            await asyncio.wait(list(self._runners))

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
                    # A little slack lets one scan start the retries that fall due together.
                    delay = min(delay, (next_due - now).total_seconds() + _COALESCE)
                delay = max(delay, _MIN_SLEEP)
                self._planned_wake = now + timedelta(seconds=delay)
                await sleep_or_wake(self._clock, delay, self._wake)
                self._planned_wake = None
                if not self._wake.is_set():
                    self._full_scan = True  # a retry or deferral may have come due
        finally:
            runners = list(self._runners)
            for task in runners:
                task.cancel()
            await asyncio.gather(*runners, return_exceptions=True)
            self._ready.clear()
            self._lanes.clear()

    def prune(self, now: datetime) -> int:
        """Delete sent and failed rows older than the retention; return how many."""
        deleted = self._store.delete_finished_outbox(now - self._retention)
        self._store.delete_orphan_deliveries()
        return deleted

    def _maybe_prune(self, now: datetime) -> None:
        if self._next_prune is None or now >= self._next_prune:
            self._next_prune = now + _PRUNE_INTERVAL
            self.prune(now)

    def _start_due_lanes(self) -> datetime | None:
        """Queue each idle lane whose head is due; return the next idle due time.

        Looks at every lane after a timer wake-up, a reload or a lane drained with rows
        left; after a dispatcher wake-up only at the new lanes (a row added to a known
        lane waits behind its head). Scanning every lane of a backlog at every wake-up
        cost more than the sends.
        """
        now = self._clock.now()
        lanes, ready = self._lanes, self._ready
        heads = None if self._full_scan else self._store.new_outbox_heads()
        next_due = self._next_due
        if heads is None:
            self._full_scan = True  # until it succeeds
            self._store.new_outbox_heads()  # taken in by the full scan
            heads = self._store.outbox_heads(lanes)
            self._full_scan = False
            next_due = None
        for row in heads:
            lane = row.lane
            if lane in lanes:
                continue
            if row.next_attempt_at <= now:
                lanes.add(lane)
                ready.append(lane)
            elif next_due is None or row.next_attempt_at < next_due:
                next_due = row.next_attempt_at
        self._next_due = next_due
        if self._finishing:
            ready.clear()
        for _ in range(min(self._concurrency - len(self._runners), len(ready))):
            task = asyncio.create_task(self._runner())
            self._runners.add(task)
            task.add_done_callback(self._runners.discard)
        return next_due

    async def _runner(self) -> None:
        """Drain queued lanes one after another until none is left."""
        try:
            while self._ready:
                await self._drain(self._ready.popleft())
        finally:
            # Now, not in the done callback a loop turn later: a scan in between would
            # count this runner as busy and leave newly queued lanes without one.
            task = asyncio.current_task()
            if task is not None:
                self._runners.discard(task)

    async def _drain(self, lane: Lane) -> None:
        """Deliver the lane's rows in order while the head is due."""
        try:
            while not self._finishing:
                row = self._store.outbox_head(lane)
                if row is None or row.next_attempt_at > self._clock.now():
                    return
                await self._attempt(row)
                self._refresh_gauge()
        except StoreError as exc:
            # The row stays pending and is tried again: delivery is at least once.
            log.error("outbox lane of receiver %r stopped: %s", lane[1], exc)
        finally:
            self._lanes.discard(lane)
            # Only a lane left with a row due before the loop's planned wake-up needs the
            # loop to look again; waking after every drained lane (or every retry) made
            # delivery quadratic in the backlog.
            try:
                head = self._store.outbox_head(lane)
                waiting = head is not None and (
                    self._planned_wake is None or head.next_attempt_at < self._planned_wake
                )
            except StoreError:
                head, waiting = None, True
            if head is not None or waiting:
                # Only a full scan finds a known lane's head again.
                self._full_scan = True
            if waiting:
                self._wake.set()

    def _policy(self, row: OutboxRow) -> DeliveryPolicy:
        return self._policies.get((row.receiver, row.integration)) or _NO_POLICY

    def _counters(self, channel: str, receiver: str) -> _Counters:
        found = self._counters_by.get((channel, receiver))
        if found is None:
            m = self._metrics
            found = self._counters_by[(channel, receiver)] = _Counters(
                m.notifications.labels(channel=channel, receiver=receiver),
                m.notification_latency.labels(channel=channel),
                m.notification_delay.labels(channel=channel),
            )
        return found

    def _limits(self, row: OutboxRow, policy: DeliveryPolicy) -> list[tuple[Hashable, Limit]]:
        limits: list[tuple[Hashable, Limit]] = []
        if policy.rate_limit is not None:
            limits.append((("integration", row.receiver, row.integration), policy.rate_limit))
        if policy.recipient_limit is not None:
            limit = policy.recipient_limit
            limits += [(("recipient", row.channel, r), limit) for r in policy.recipients]
        return limits

    def _rate_limited(self, rows: Sequence[OutboxRow], policy: DeliveryPolicy) -> bool:
        """Defer ``rows`` and return True when a rate limit says the send must wait."""
        if policy.rate_limit is None and policy.recipient_limit is None:
            return False
        limits = self._limits(rows[0], policy)
        if not limits:
            return False
        now = self._clock.now()
        wait = self._limiter.wait(limits, now)
        if wait <= 0:
            self._limiter.record(limits, now)
            return False
        self._store.defer([r.id for r in rows], now + timedelta(seconds=wait))
        self._metrics.notifications_rate_limited.labels(channel=rows[0].channel).inc()
        log.info("notification %d waits %.1fs for its rate limit", rows[0].id, wait)
        return True

    async def _attempt(self, row: OutboxRow) -> None:
        """Send one row (or the digest it belongs to) once and record the outcome."""
        notifier = self._notifiers.get((row.receiver, row.integration))
        if notifier is None or notifier.channel != row.channel:
            log.error(
                "giving up notification %d: receiver %r has no %s integration %d any more",
                row.id,
                row.receiver,
                row.channel,
                row.integration,
            )
            self._store.record_failure(
                row.id, row.attempts, "integration no longer configured", "config", None
            )
            return
        policy = self._policy(row)
        if policy.digest is not None and digestible(row.payload, policy.digest.priorities):
            await self._attempt_digest(row, notifier, policy)
            return
        if self._rate_limited((row,), policy):
            return
        message = Message(row.receiver, row.group_key, row.payload, row.id)
        await self._send(notifier, policy, (row,), message)

    async def _attempt_digest(
        self, row: OutboxRow, notifier: Notifier, policy: DeliveryPolicy
    ) -> None:
        """Hold ``row`` until its digest window ends, then send every held row at once."""
        assert policy.digest is not None
        key = (row.receiver, row.integration)
        async with self._digest_locks.setdefault(key, asyncio.Lock()):
            head = self._store.outbox_head(row.lane)
            if head is None or head.id != row.id:
                return  # another lane's digest just sent it
            held = [
                r
                for r in self._store.outbox_heads()
                if (r.receiver, r.integration, r.channel)
                == (row.receiver, row.integration, row.channel)
                and digestible(r.payload, policy.digest.priorities)
            ]
            now = self._clock.now()
            end = window_end(row.created_at, policy.digest.interval)
            if now < end and len(held) < policy.digest.max_size:
                self._store.defer([row.id], end)
                return
            batch = [row, *(r for r in held if r.id != row.id)][: policy.digest.max_size]
            if self._rate_limited(batch, policy):
                return
            batch.sort(key=lambda r: r.id)
            message = Message(row.receiver, DIGEST_GROUP_KEY, merge(batch), row.id)
            await self._send(notifier, policy, batch, message)

    async def _send(
        self,
        notifier: Notifier,
        policy: DeliveryPolicy,
        rows: Sequence[OutboxRow],
        message: Message,
    ) -> None:
        """One attempt for ``message``, which delivers ``rows``; record it on every row."""
        first = rows[0]
        channel, receiver = first.channel, first.receiver
        if first.attempts > 0:
            self._metrics.notification_retries.labels(channel=channel).inc()
        started = time.perf_counter()  # real elapsed time for the metric, not logic
        receipt: Receipt | None = None
        try:
            receipt = await notifier.notify(message)
        except NotifyError as exc:
            error, retryable, reason, retry_after = (
                str(exc),
                exc.retryable,
                exc.reason,
                exc.retry_after,
            )
        except Exception as exc:  # a notifier bug must not stop other deliveries
            # Only the type: the message of an unexpected error might quote a secret.
            error = f"{channel} notifier of receiver {receiver!r}: {type(exc).__name__}"
            retryable, reason, retry_after = True, "other", None
        else:
            self._delivered(rows, receipt, time.perf_counter() - started)
            return
        self._counters(channel, receiver).latency.observe(time.perf_counter() - started)
        if reason not in FAILURE_REASONS:
            reason = "other"
        self._metrics.notifications_failed.labels(
            channel=channel, receiver=receiver, reason=reason
        ).inc()
        retry = policy.retry or self._default_retry
        now = self._clock.now()
        for row in rows:
            attempts = row.attempts + 1
            age = (now - row.created_at).total_seconds()
            if retryable and not retry.gives_up(attempts, age):
                wait = retry.delay(attempts, self._rng.random())
                if retry_after is not None:
                    wait = retry_after  # the provider said when; earlier would be refused
                self._store.record_failure(
                    row.id, attempts, error, reason, now + timedelta(seconds=wait)
                )
                log.warning(
                    "notification %d failed (attempt %d, retry in %.1fs): %s",
                    row.id,
                    attempts,
                    wait,
                    error,
                )
                continue
            self._store.record_failure(row.id, attempts, error, reason, None)
            why = "not retryable" if not retryable else f"still failing after {attempts} attempts"
            log.error("gave up notification %d (%s): %s", row.id, why, error)

    def _delivered(self, rows: Sequence[OutboxRow], receipt: Receipt | None, took: float) -> None:
        channel = rows[0].channel
        counters = self._counters(channel, rows[0].receiver)
        counters.latency.observe(took)
        now = self._clock.now()
        # One check, not a log call per row: at the default level these lines are off.
        verbose = log.isEnabledFor(logging.INFO)
        for row in rows:
            self._store.mark_sent(row.id, row.attempts + 1, now)
            counters.delivered.inc()
            if row.first_firing_at is not None:
                delay = (now - row.first_firing_at).total_seconds()
                counters.delay.observe(max(delay, 0.0))
            if verbose:
                log.info(
                    "delivered notification %d to receiver %r %s[%d] (attempt %d)",
                    row.id,
                    row.receiver,
                    channel,
                    row.integration,
                    row.attempts + 1,
                )
        if receipt is not None and receipt.provider_ids:
            self._store.record_receipt(rows[0].id, channel, receipt.provider_ids, now)

    def _refresh_gauge(self) -> None:
        try:
            self._metrics.outbox_pending.set(self._store.count_pending())
        except StoreError as exc:
            log.error("cannot count the outbox: %s", exc)
