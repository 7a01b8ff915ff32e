"""Ingest: the one door alerts come in by, from rules and from ``/api/v2/alerts``.

Keeps the current alert of every fingerprint in memory, mirrored to the store, and
merges updates the way Alertmanager's alert provider does:

- an update whose activity overlaps the stored alert is merged: earliest ``startsAt``,
  the later update's annotations, and the later explicit ``endsAt`` (an ``endsAt`` that
  only came from ``resolve_timeout`` never beats a real one);
- an update that does not overlap (an alert firing again after it resolved) replaces
  the stored alert, so it starts afresh.

``ends_at=None`` means "firing until resolved": rule alerts keep it; alerts from other
sources get ``now + resolve_timeout`` as Alertmanager does.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from promalert.clock import Clock
from promalert.dispatch.group import Dispatcher
from promalert.errors import StoreError
from promalert.metrics import Metrics
from promalert.model import Alert
from promalert.store import Store, StoredAlert

log = logging.getLogger(__name__)

_GAUGE_INTERVAL = timedelta(seconds=1)

RULES_SOURCE = "rules"
"""The source name the rule engine uses; its alerts never get a resolve timeout."""


def _after(a: datetime | None, b: datetime | None) -> bool:
    """``a > b`` where None means "never ends" (later than any time)."""
    if a is None:
        return b is not None
    return b is not None and a > b


def overlaps(old: Alert, new: Alert) -> bool:
    """Alertmanager's test for merging: the new alert's activity overlaps the old one's."""
    return (_after(new.ends_at, old.starts_at) and _after(old.ends_at, new.ends_at)) or (
        _after(new.starts_at, old.starts_at) and _after(old.ends_at, new.starts_at)
    )


def merge(older: StoredAlert, younger: StoredAlert, now: datetime) -> StoredAlert:
    """Alertmanager's ``Alert.Merge``: ``younger`` wins except where the rules say not."""
    if _after(older.alert.updated_at, younger.alert.updated_at):
        older, younger = younger, older
    a, o = older.alert, younger.alert
    starts_at = o.starts_at
    if a.starts_at is not None and (starts_at is None or a.starts_at < starts_at):
        starts_at = a.starts_at
    ends_at = o.ends_at
    if o.resolved(now):
        # The latest explicit resolve time wins when both are resolved.
        if a.resolved(now) and _after(a.ends_at, o.ends_at):
            ends_at = a.ends_at
    elif _after(a.ends_at, o.ends_at) and not older.timeout:
        # A real end time beats a later-received but earlier one, a timeout never does.
        ends_at = a.ends_at
    return replace(younger, alert=replace(o, starts_at=starts_at, ends_at=ends_at))


def _same(a: StoredAlert, b: StoredAlert) -> bool:
    """Equal apart from when it was last received (which alone is not worth a write)."""
    return (
        a.source == b.source
        and a.timeout == b.timeout
        and a.alert == replace(b.alert, updated_at=a.alert.updated_at)
    )


class AlertIngest:
    """Current alerts by fingerprint, mirrored to the store and handed to the dispatcher."""

    def __init__(
        self,
        store: Store,
        dispatcher: Dispatcher,
        clock: Clock,
        metrics: Metrics,
        resolve_timeout: float,
        *,
        resolved_retention: float = 900.0,
        gc_interval: float = 60.0,
    ) -> None:
        """Load the stored alerts and hand them to ``dispatcher`` (which regroups them).

        Resolved alerts are forgotten ``resolved_retention`` seconds after they resolved,
        at the first garbage collection (every ``gc_interval``) once no group holds them
        any more, i.e. once their resolve has been handled.
        """
        self._store = store
        self._dispatcher = dispatcher
        self._clock = clock
        self._metrics = metrics
        self.resolve_timeout = resolve_timeout
        self._retention = timedelta(seconds=resolved_retention)
        self._gc_interval = gc_interval
        self._alerts: dict[str, StoredAlert] = {}
        self._gauge_due: datetime | None = None
        # Fingerprints whose latest state is not yet in the store (a write failed).
        self._dirty: set[str] = set()
        for stored in store.load_alerts():
            self._alerts[stored.alert.fingerprint] = stored
            dispatcher.insert(stored.alert)
        if self._alerts:
            log.info("restored %d alerts from the store", len(self._alerts))
        self._update_gauge(clock.now())
        self._gauge_due = None  # the first put refreshes it

    def alerts(self) -> list[Alert]:
        """Every alert known, firing or resolved (not yet garbage-collected)."""
        return [s.alert for s in self._alerts.values()]

    async def put(self, alerts: Sequence[Alert], source: str) -> None:
        """Merge new or updated alerts, persist the changed ones, and dispatch them all."""
        now = self._clock.now()
        # One datetime for every timeout end of the batch: less memory per alert, and the
        # store encodes a time it saw last without formatting it again.
        timeout_end = now + timedelta(seconds=self.resolve_timeout)
        self._metrics.alerts_received.labels(source=source).inc(len(alerts))
        routed: list[Alert] = []
        for incoming in alerts:
            if (
                incoming.starts_at is not None
                and incoming.ends_at is not None
                and incoming.ends_at < incoming.starts_at
            ):
                self._metrics.alerts_invalid.inc()
                log.warning(
                    "dropping alert %s from %s: ends before it starts", incoming.labels, source
                )
                continue
            stored = self._normalize(incoming, source, now, timeout_end)
            fp = stored.alert.fingerprint
            old = self._alerts.get(fp)
            if old is not None and overlaps(old.alert, stored.alert):
                stored = merge(old, stored, now)
            if old is None or not _same(old, stored):
                self._dirty.add(fp)
            self._alerts[fp] = stored
            # Like Alertmanager, every received alert reaches its groups, changed or not:
            # a group needs the newest copy to decide about it at its next flush.
            routed.append(stored.alert)
        self._dispatcher.insert_many(routed)
        # Groups due now (group_wait 0s, or a wait that just ended) flush here rather than
        # a loop turn later: one commit and no hop between a POST and its notification.
        await self._dispatcher.run_due()
        # Saved with the store's deferred writes (within 50 ms), not in a commit of their
        # own before the answer; after the flush, which is what the alerts wait for.
        self._persist(defer=True)
        if self._gauge_due is None or now >= self._gauge_due:
            # Counting every alert on every put would make bursts quadratic; once a
            # second is as fresh as any scrape needs.
            self._update_gauge(now)

    def _normalize(
        self, alert: Alert, source: str, now: datetime, timeout_end: datetime
    ) -> StoredAlert:
        """Fill in the times the way Alertmanager's API does (``timeout_end``: now + timeout)."""
        starts_at = alert.starts_at or alert.ends_at or now
        ends_at = alert.ends_at
        timeout = False
        if ends_at is None and source != RULES_SOURCE:
            ends_at = timeout_end
            timeout = True
        # Built directly: dataclasses.replace is several times slower, at every alert.
        normalized = Alert(
            alert.labels, alert.annotations, starts_at, ends_at, alert.generator_url, now
        )
        return StoredAlert(normalized, source, timeout)

    def _persist(self, *, defer: bool = False) -> None:
        if not self._dirty:
            return
        batch = [self._alerts[fp] for fp in self._dirty if fp in self._alerts]
        try:
            self._store.save_alerts(batch, defer=defer)
        except StoreError as exc:
            # Memory still has them; the next put or gc tries the write again.
            log.error("could not persist %d alerts (will retry): %s", len(batch), exc)
            return
        self._dirty.clear()

    def gc(self) -> int:
        """Forget resolved alerts whose resolve has been handled; return how many."""
        now = self._clock.now()
        cutoff = now - self._retention
        gone = [
            fp
            for fp, s in self._alerts.items()
            if s.alert.ends_at is not None
            and s.alert.ends_at <= cutoff
            and not self._dispatcher.holds(fp)
        ]
        if gone:
            try:
                self._store.delete_alerts(gone)
            except StoreError as exc:
                log.error("could not delete %d resolved alerts: %s", len(gone), exc)
                return 0
            for fp in gone:
                del self._alerts[fp]
                self._dirty.discard(fp)
        self._persist()
        self._update_gauge(now)
        return len(gone)

    async def run(self) -> None:
        """Garbage-collect resolved alerts and refresh the alert gauge until cancelled."""
        while True:
            await self._clock.sleep(self._gc_interval)
            self.gc()

    def _update_gauge(self, now: datetime) -> None:
        self._gauge_due = now + _GAUGE_INTERVAL
        resolved = sum(1 for s in self._alerts.values() if s.alert.resolved(now))
        self._metrics.alerts.labels(state="firing").set(len(self._alerts) - resolved)
        self._metrics.alerts.labels(state="resolved").set(resolved)
