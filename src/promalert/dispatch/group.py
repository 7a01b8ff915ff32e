"""Routing and aggregation groups with Alertmanager 0.25's timing, flushing into the outbox.

Timing of one group (``aggrGroup.run`` in Alertmanager):

- a new group first flushes ``group_wait`` after it was created;
- every flush re-arms the timer to ``group_interval`` after that flush;
- an alert joining a group that has already flushed waits for the next tick;
- an alert joining a group that has not flushed yet, and that started more than
  ``group_wait`` ago, makes the group flush at once (so restarts and reloads do not
  hold old alerts back for another group_wait);
- a group left empty keeps ticking until the next maintenance sweep (every 30 s), so an
  alert arriving meanwhile joins it and waits for its next tick, as in Alertmanager.

Timers live in a heap, so a tick costs only the groups that are due. The flush plans of
one tick (:mod:`promalert.dispatch.flush`) are written to the store in one transaction,
then applied, and the delivery worker is woken.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from promalert.clock import Clock, sleep_or_wake
from promalert.config.matchers import go_quote
from promalert.config.routing import RouteConfig
from promalert.dispatch.flush import EscalationUpdate, Flusher, FlushPlan, Group, Policy
from promalert.dispatch.inhibit import Inhibitor
from promalert.dispatch.nflog import NotificationLog
from promalert.dispatch.noise import FlapDetector, StormWindow
from promalert.dispatch.route import Route
from promalert.dispatch.silence import Silences
from promalert.errors import StoreError
from promalert.metrics import Metrics
from promalert.model import Alert, Labels
from promalert.notify.base import Notifier
from promalert.notify.payload import sort_alerts
from promalert.store import Store

__all__ = ["AlertGroup", "Dispatcher", "Route", "go_quote", "group_key", "labelset_string"]

log = logging.getLogger(__name__)

# Upper bound on one idle sleep of the loop; it wakes early when an alert arrives.
_MAX_SLEEP = 60.0
# Lower bound, so a zero group_interval cannot spin the loop.
_MIN_SLEEP = 0.01
_GC_INTERVAL = timedelta(hours=1)
# Alertmanager's dispatcher removes empty groups on this period.
_MAINTENANCE_INTERVAL = timedelta(seconds=30)


def labelset_string(labels: Mapping[str, str]) -> str:
    """A label set as prometheus/common prints it: ``{a="1", b="2"}``.

    The ``name="value"`` strings themselves are sorted (not the names), which is what
    the version Alertmanager 0.25 uses does; it matters for names like ``a`` and ``a1``.
    """
    return "{" + ", ".join(sorted([f"{k}={go_quote(v)}" for k, v in labels.items()])) + "}"


def group_key(route_key: str, labels: Mapping[str, str]) -> str:
    """Alertmanager's group key: ``{}:{alertname="X"}`` for the root route."""
    return f"{route_key}:{labelset_string(labels)}"


@dataclass(frozen=True, slots=True)
class AlertGroup:
    """A snapshot of one aggregation group (for the API)."""

    labels: Labels
    receiver: str
    group_key: str
    alerts: tuple[Alert, ...]


@dataclass(frozen=True, slots=True)
class AlertStatus:
    """Why an alert would be left out of notifications now (for the API)."""

    silenced_by: tuple[str, ...]
    inhibited_by: tuple[str, ...]

    @property
    def state(self) -> str:
        """Alertmanager's alert state: ``suppressed`` or ``active``."""
        return "suppressed" if self.silenced_by or self.inhibited_by else "active"


def _noop() -> None:
    return None


class Dispatcher:
    """Routes alerts into groups and flushes the groups into the outbox on time."""

    def __init__(
        self,
        route: RouteConfig | Route,
        notifiers: Mapping[tuple[str, int], Notifier],
        store: Store,
        clock: Clock,
        metrics: Metrics,
        *,
        external_url: str,
        on_outbox: Callable[[], None] = _noop,
        policy: Policy | None = None,
        silences: Silences | None = None,
        on_escalation: Callable[[list[EscalationUpdate]], None] | None = None,
    ) -> None:
        """``notifiers`` maps (receiver name, integration index) to its notifier.

        ``on_escalation`` hears, after each committed tick, the flushed groups of routes
        with an ``escalation`` policy (the incident manager opens and updates incidents).
        """
        self._store = store
        self._on_escalation = on_escalation
        self._clock = clock
        self._metrics = metrics
        self._on_outbox = on_outbox
        self.silences = silences
        self._groups: dict[tuple[str, Labels], Group] = {}
        # How many groups hold each fingerprint, so ingest can ask cheaply.
        self._held: Counter[str] = Counter()
        self._timers: list[tuple[datetime, int, Group]] = []
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        now = clock.now()
        self._next_gc = now + _GC_INTERVAL
        self._next_maintenance = now + _MAINTENANCE_INTERVAL
        self._nflog = NotificationLog(store, now)
        self._configure(route, notifiers, external_url, policy or Policy())

    def _configure(
        self,
        route: RouteConfig | Route,
        notifiers: Mapping[tuple[str, int], Notifier],
        external_url: str,
        policy: Policy,
    ) -> None:
        self.route = route if isinstance(route, Route) else Route.from_config(route)
        by_receiver: dict[str, list[tuple[int, Notifier]]] = {}
        for (name, index), notifier in sorted(notifiers.items(), key=lambda kv: kv[0]):
            by_receiver.setdefault(name, []).append((index, notifier))
        # Each route's group_wait and group_interval as timedeltas, made once, not per alert.
        self._waits = {
            r.id: (timedelta(seconds=r.group_wait), timedelta(seconds=r.group_interval))
            for _, r in self.route.walk()
        }
        self.inhibitor = Inhibitor(policy.inhibit_rules)
        flapping = {r.id: FlapDetector(r.flapping) for _, r in self.route.walk() if r.flapping}
        self._flusher = Flusher(
            policy,
            self.inhibitor,
            self.silences,
            self._nflog,
            lambda receiver: by_receiver.get(receiver, []),
            flapping,
            external_url=external_url,
        )

    # -- alerts in ----------------------------------------------------------------------

    def insert(self, alert: Alert) -> None:
        """Put a new or updated alert into every group its routes give it."""
        self.insert_many((alert,))

    def insert_many(self, alerts: Iterable[Alert]) -> None:
        """Put several new or updated alerts into their groups, waking the loop once."""
        now = self._clock.now()
        observe = self.inhibitor.observe if self.inhibitor.rules else None
        for alert in alerts:
            if observe is not None:
                observe(alert)
            for route in self.route.match(alert.labels):
                self._insert(route, alert, now)
        self._wake.set()

    def _insert(self, route: Route, alert: Alert, now: datetime) -> None:
        labels = route.group_labels(alert.labels)
        group = self._groups.get((route.id, labels))
        wait = self._waits[route.id][0]
        if group is None:
            group = Group(
                route,
                labels,
                group_key(route.key, labels),
                next_flush=now + wait,
                storm=StormWindow(route.storm) if route.storm else None,
            )
            self._groups[(route.id, labels)] = group
            self._arm(group)
        fp = alert.fingerprint
        if fp not in group.alerts:
            self._held[fp] += 1
            if group.storm is not None:
                group.storm.arrived(now)
        group.alerts[fp] = alert
        detector = self._flusher.flapping.get(route.id)
        if detector is not None and detector.observe(fp, not alert.resolved(now), now):
            self._metrics.flapping_detected.inc()
        if (
            not group.has_flushed
            and group.next_flush > now
            and (alert.starts_at or now) + wait < now
        ):
            group.next_flush = now
            self._arm(group)

    def _arm(self, group: Group) -> None:
        heapq.heappush(self._timers, (group.next_flush, next(self._seq), group))

    def holds(self, fingerprint: str) -> bool:
        """True while some group still holds the alert (its resolve may be unsent)."""
        return self._held[fingerprint] > 0

    # -- views for the API --------------------------------------------------------------

    def groups(self) -> list[AlertGroup]:
        """Snapshots of every aggregation group that holds alerts."""
        return [
            AlertGroup(
                g.labels, g.route.receiver, g.key, tuple(sort_alerts(list(g.alerts.values())))
            )
            for g in self._groups.values()
            if g.alerts
        ]

    def receivers(self, labels: Mapping[str, str]) -> list[str]:
        """The receivers of the routes an alert with ``labels`` takes, in tree order."""
        return [r.receiver for r in self.route.match(labels)]

    def status(self, labels: Mapping[str, str], now: datetime) -> AlertStatus:
        """Which silences and which alert inhibit ``labels`` at ``now``."""
        inhibited = self.inhibitor.inhibited_by(labels, now) if self.inhibitor.rules else None
        silenced = self.silences.silenced_by(labels, now) if self.silences else []
        return AlertStatus(tuple(silenced), (inhibited,) if inhibited else ())

    # -- configuration -------------------------------------------------------------------

    def reload(
        self,
        route: RouteConfig | Route,
        notifiers: Mapping[tuple[str, int], Notifier],
        *,
        external_url: str,
        policy: Policy | None = None,
    ) -> None:
        """Switch to a new route, notifiers and policy, regrouping the alerts held now.

        A group whose route and labels are unchanged keeps its timer, so a reload does
        not re-flush it; alerts that land in new groups start those groups' timers.
        """
        old = self._groups
        self._configure(route, notifiers, external_url, policy or Policy())
        self._groups = {}
        self._held.clear()
        self._timers = []
        alerts = {fp: a for g in old.values() for fp, a in g.alerts.items()}
        now = self._clock.now()
        for alert in alerts.values():
            if self.inhibitor.rules:
                self.inhibitor.observe(alert)
            for new_route in self.route.match(alert.labels):
                self._insert(new_route, alert, now)
        for key, group in self._groups.items():
            previous = old.get(key)
            if previous is not None:
                group.has_flushed = previous.has_flushed
                group.next_flush = previous.next_flush
        self._timers = [(g.next_flush, next(self._seq), g) for g in self._groups.values()]
        heapq.heapify(self._timers)
        self._wake.set()

    # -- flushing ------------------------------------------------------------------------

    def _current(self, when: datetime, group: Group) -> bool:
        """Whether a heap entry is the group's live timer (older entries are skipped)."""
        return (
            group.next_flush == when and self._groups.get((group.route.id, group.labels)) is group
        )

    def next_due(self) -> datetime | None:
        """When the next group flushes, or None without groups."""
        while self._timers and not self._current(self._timers[0][0], self._timers[0][2]):
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    async def run_due(self) -> None:
        """Flush every group whose timer has expired at the clock's current time."""
        now = self._clock.now()
        due: list[Group] = []
        seen: set[int] = set()
        while self._timers and self._timers[0][0] <= now:
            when, _, group = heapq.heappop(self._timers)
            if self._current(when, group) and id(group) not in seen:
                seen.add(id(group))
                due.append(group)
        plans: list[tuple[Group, FlushPlan]] = []
        waits = self._waits
        for group in due:
            # Re-armed before notifying, as Alertmanager does: a failed flush retries next tick.
            group.next_flush = now + waits[group.route.id][1]
            group.has_flushed = True
            self._arm(group)
            if group.alerts:
                plans.append((group, self._flusher.plan(group, now)))
        if plans:
            self._commit(plans)
        self._maintain(now)

    def _commit(self, plans: list[tuple[Group, FlushPlan]]) -> None:
        """Write the plans in one transaction, then apply them; on failure change nothing."""
        entries = [e for _, p in plans for e in p.entries]
        queued = [q for _, p in plans for q in p.queued]
        ids: list[int] = []
        if entries or queued:
            try:
                ids = self._store.write_flushes(
                    entries, [(q.entry, q.notification) for q in queued]
                )
            except StoreError as exc:
                log.error("flush of %d groups failed, retried next tick: %s", len(plans), exc)
                return
        self._nflog.record(entries)
        self._nflog.record(q.entry for q in queued)
        for group, plan in plans:
            self._apply(group, plan)
        if log.isEnabledFor(logging.INFO):  # thousands of rows a second when it is not
            for row_id, q in zip(ids, queued, strict=True):
                n = q.notification
                log.info(
                    "queued notification %d for receiver %r %s[%d] (%s): group %s, "
                    "%d firing, %d resolved",
                    row_id,
                    n.receiver,
                    n.channel,
                    n.integration,
                    q.reason.value,
                    n.group_key,
                    q.firing,
                    q.resolved,
                )
        if queued:
            self._on_outbox()
        updates = [p.escalation for _, p in plans if p.escalation is not None]
        if updates and self._on_escalation is not None:
            self._on_escalation(updates)

    def _apply(self, group: Group, plan: FlushPlan) -> None:
        """What a committed flush changes: resolved alerts leave, noise state and metrics."""
        # No await since the plan was made, so these are the very alerts it handled.
        for fp in plan.drop:
            if group.alerts.pop(fp, None) is not None:
                self._held[fp] -= 1
                if self._held[fp] <= 0:
                    del self._held[fp]
        if plan.summarized is not None and group.storm is not None:
            group.storm.summarized = plan.summarized
            if plan.summarized:
                self._metrics.storm_summaries.inc()
        for reason, count in plan.suppressed.items():
            self._metrics.alerts_suppressed.labels(reason=reason).inc(count)
        if plan.newly_flapping:
            self._metrics.flapping_detected.inc(plan.newly_flapping)

    def _maintain(self, now: datetime) -> None:
        """Drop empty groups every 30 s; prune the log, inhibitor and silences hourly."""
        if now >= self._next_maintenance:
            self._next_maintenance = now + _MAINTENANCE_INTERVAL
            for key in [k for k, g in self._groups.items() if not g.alerts]:
                del self._groups[key]
            self._metrics.aggregation_groups.set(len(self._groups))
            self._metrics.alerts_flapping.set(
                sum(d.flapping() for d in self._flusher.flapping.values())
            )
            if self.silences is not None:
                for state, count in self.silences.counts(now).items():
                    self._metrics.silences.labels(state=state.value).set(count)
        if now < self._next_gc:
            return
        self._next_gc = now + _GC_INTERVAL
        self.inhibitor.gc(now)
        if self.silences is not None:
            self.silences.gc()
        try:
            self._nflog.prune(now)
        except StoreError as exc:
            log.error("could not prune the notification log: %s", exc)

    async def run(self) -> None:
        """Flush groups as they come due until cancelled; wakes early when alerts arrive."""
        while True:
            self._wake.clear()
            await self.run_due()
            due = self.next_due()
            delay = _MAX_SLEEP
            if due is not None:
                delay = min(delay, (due - self._clock.now()).total_seconds())
            await sleep_or_wake(self._clock, max(delay, _MIN_SLEEP), self._wake)
