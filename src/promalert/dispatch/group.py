"""Routing and aggregation groups with Alertmanager 0.25's timing, flushing into the outbox.

Timing of one group (``aggrGroup.run`` in Alertmanager):

- a new group first flushes ``group_wait`` after it was created;
- every flush re-arms the timer to ``group_interval`` after that flush;
- an alert joining a group that has already flushed waits for the next tick;
- an alert joining a group that has not flushed yet, and that started more than
  ``group_wait`` ago, makes the group flush at once (so restarts and reloads do not
  hold old alerts back for another group_wait).

At a flush each integration of the receiver asks the notification log whether it needs
telling (:func:`promalert.dispatch.nflog.needs_update`); if so the payload and the new
log entry are written to the store in one transaction and the delivery worker is woken.
Resolved alerts leave the group after a flush that handled them; empty groups go away.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from promalert.clock import Clock
from promalert.config.routing import RouteConfig
from promalert.dispatch.nflog import NotifyReason, log_entry, needs_update
from promalert.errors import StoreError
from promalert.metrics import Metrics
from promalert.model import Alert, Labels
from promalert.notify.base import Notifier
from promalert.notify.payload import build_payload, sort_alerts
from promalert.store import NewNotification, NflogKey, Store

log = logging.getLogger(__name__)

# Upper bound on one idle sleep of the loop; it wakes early when an alert arrives.
_MAX_SLEEP = 60.0
# Lower bound, so a zero group_interval cannot spin the loop.
_MIN_SLEEP = 0.01
_NFLOG_GC_INTERVAL = timedelta(hours=1)
_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def go_quote(text: str) -> str:
    """Quote a string like Go's ``strconv.Quote`` (``%q``), used in group keys."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def labelset_string(labels: Mapping[str, str]) -> str:
    """A label set as prometheus/common prints it: ``{a="1", b="2"}``.

    The ``name="value"`` strings themselves are sorted (not the names), which is what
    the version Alertmanager 0.25 uses does; it matters for names like ``a`` and ``a1``.
    """
    return "{" + ", ".join(sorted(f"{k}={go_quote(v)}" for k, v in labels.items())) + "}"


def group_key(route_key: str, labels: Mapping[str, str]) -> str:
    """Alertmanager's group key: ``{}:{alertname="X"}`` for the root route."""
    return f"{route_key}:{labelset_string(labels)}"


@dataclass(frozen=True, slots=True)
class Route:
    """A node of the routing tree and its grouping options; the root matches every alert.

    The routing tree will add matchers and children; the dispatcher only relies on
    :meth:`match` (which routes take an alert), :attr:`id`, :attr:`key` and the options.
    """

    receiver: str
    group_by: frozenset[str] = frozenset()
    group_by_all: bool = False
    group_wait: float = 30.0
    group_interval: float = 300.0
    repeat_interval: float = 4 * 3600.0
    # Alertmanager's Route.Key(): parent keys and matchers; "{}" for the root.
    key: str = "{}"
    # Unique per route even where keys repeat; groups are kept per route id.
    id: str = "{}"

    @classmethod
    def from_config(cls, config: RouteConfig) -> Route:
        """The root route of ``config``."""
        return cls(
            receiver=config.receiver,
            group_by=frozenset(n for n in config.group_by if n != "..."),
            group_by_all=config.group_by_all,
            group_wait=config.group_wait,
            group_interval=config.group_interval,
            repeat_interval=config.repeat_interval,
        )

    def match(self, labels: Labels) -> list[Route]:
        """The routes that take an alert with ``labels``: the root takes every alert."""
        return [self]

    def group_labels(self, labels: Labels) -> Labels:
        """The labels that name the alert's group on this route."""
        if self.group_by_all:
            return labels
        return Labels({k: v for k, v in labels.items() if k in self.group_by})


@dataclass(frozen=True, slots=True)
class AlertGroup:
    """A snapshot of one aggregation group (for the API)."""

    labels: Labels
    receiver: str
    group_key: str
    alerts: tuple[Alert, ...]


@dataclass(eq=False, slots=True)
class _Group:
    """One aggregation group: its alerts and its flush timer."""

    route: Route
    labels: Labels
    key: str
    next_flush: datetime
    has_flushed: bool = False
    alerts: dict[str, Alert] = field(default_factory=dict)


def _noop() -> None:
    return None


class Dispatcher:
    """Groups alerts per route and flushes the groups into the outbox on time."""

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
    ) -> None:
        """``notifiers`` maps (receiver name, integration index) to its notifier."""
        self._route = route if isinstance(route, Route) else Route.from_config(route)
        self._notifiers = dict(notifiers)
        self._store = store
        self._clock = clock
        self._metrics = metrics  # the routing tree's group metrics will use it
        self._external_url = external_url
        self._on_outbox = on_outbox
        self._groups: dict[tuple[str, Labels], _Group] = {}
        # How many groups hold each fingerprint, so ingest can ask cheaply.
        self._held: Counter[str] = Counter()
        self._wake = asyncio.Event()
        self._next_gc: datetime | None = None

    # -- alerts in ----------------------------------------------------------------------

    def insert(self, alert: Alert) -> None:
        """Put a new or updated alert into every group its routes give it."""
        now = self._clock.now()
        for route in self._route.match(alert.labels):
            self._insert(route, alert, now)
        self._wake.set()

    def _insert(self, route: Route, alert: Alert, now: datetime) -> None:
        labels = route.group_labels(alert.labels)
        group = self._groups.get((route.id, labels))
        if group is None:
            group = _Group(
                route,
                labels,
                group_key(route.key, labels),
                next_flush=now + timedelta(seconds=route.group_wait),
            )
            self._groups[(route.id, labels)] = group
        fp = alert.fingerprint
        if fp not in group.alerts:
            self._held[fp] += 1
        group.alerts[fp] = alert
        started = alert.starts_at or now
        if not group.has_flushed and started + timedelta(seconds=route.group_wait) < now:
            group.next_flush = min(group.next_flush, now)

    def holds(self, fingerprint: str) -> bool:
        """True while some group still holds the alert (its resolve may be unsent)."""
        return self._held[fingerprint] > 0

    def groups(self) -> list[AlertGroup]:
        """Snapshots of every aggregation group."""
        return [
            AlertGroup(
                g.labels, g.route.receiver, g.key, tuple(sort_alerts(list(g.alerts.values())))
            )
            for g in self._groups.values()
        ]

    # -- configuration -------------------------------------------------------------------

    def reload(
        self,
        route: RouteConfig | Route,
        notifiers: Mapping[tuple[str, int], Notifier],
        *,
        external_url: str,
    ) -> None:
        """Switch to a new route and notifiers, regrouping the alerts held now.

        A group whose route and labels are unchanged keeps its timer, so a reload does
        not re-flush it; alerts that land in new groups start those groups' timers.
        """
        old = self._groups
        self._route = route if isinstance(route, Route) else Route.from_config(route)
        self._notifiers = dict(notifiers)
        self._external_url = external_url
        self._groups = {}
        self._held.clear()
        now = self._clock.now()
        for group in old.values():
            for alert in group.alerts.values():
                for new_route in self._route.match(alert.labels):
                    self._insert(new_route, alert, now)
        for key, group in self._groups.items():
            previous = old.get(key)
            if previous is not None:
                group.has_flushed = previous.has_flushed
                group.next_flush = previous.next_flush
        self._wake.set()

    # -- flushing ------------------------------------------------------------------------

    def next_due(self) -> datetime | None:
        """When the next group flushes, or None without groups."""
        return min((g.next_flush for g in self._groups.values()), default=None)

    async def run_due(self) -> None:
        """Flush every group whose timer has expired at the clock's current time."""
        now = self._clock.now()
        due = sorted(
            (g for g in self._groups.values() if g.next_flush <= now), key=lambda g: g.next_flush
        )
        queued = 0
        for group in due:
            queued += self._flush(group, now)
        if queued:
            self._on_outbox()
        self._prune_nflog(now)

    async def run(self) -> None:
        """Flush groups as they come due until cancelled; wakes early when alerts arrive."""
        while True:
            self._wake.clear()
            await self.run_due()
            due = self.next_due()
            delay = _MAX_SLEEP
            if due is not None:
                delay = min(delay, (due - self._clock.now()).total_seconds())
            await self._sleep_or_wake(max(delay, _MIN_SLEEP))

    async def _sleep_or_wake(self, seconds: float) -> None:
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()

    def _integrations(self, receiver: str) -> list[tuple[int, Notifier]]:
        return sorted(
            ((index, n) for (name, index), n in self._notifiers.items() if name == receiver),
            key=lambda pair: pair[0],
        )

    def _flush(self, group: _Group, now: datetime) -> int:
        """Notify what needs notifying about ``group``; return how many rows were queued."""
        route = group.route
        # Re-armed before notifying, as Alertmanager does: a failed flush retries next tick.
        group.next_flush = now + timedelta(seconds=route.group_interval)
        group.has_flushed = True
        alerts = sort_alerts(list(group.alerts.values()))
        resolved_alerts = [a for a in alerts if a.resolved(now)]
        firing_alerts = [a for a in alerts if not a.resolved(now)]
        firing = frozenset(a.fingerprint for a in firing_alerts)
        resolved = frozenset(a.fingerprint for a in resolved_alerts)
        queued = 0
        ok = True
        for index, notifier in self._integrations(route.receiver):
            key = NflogKey(group.key, route.receiver, notifier.channel, index)
            try:
                entry = self._store.nflog_entry(key, now)
                reason = needs_update(
                    entry, firing, resolved, now, route.repeat_interval, notifier.send_resolved
                )
                if reason is NotifyReason.NONE:
                    continue
                new_entry = log_entry(key, firing, resolved, now, route.repeat_interval)
                if not notifier.send_resolved and not firing:
                    # Nothing to send, but the log must stop listing the alerts as firing.
                    self._store.save_nflog(new_entry)
                    continue
                sent = alerts if notifier.send_resolved else firing_alerts
                known = entry.firing if entry is not None else frozenset()
                new_starts = [
                    a.starts_at
                    for a in firing_alerts
                    if a.fingerprint not in known and a.starts_at is not None
                ]
                payload = build_payload(
                    receiver=route.receiver,
                    group_key=group.key,
                    group_labels=group.labels,
                    alerts=sent,
                    external_url=self._external_url,
                    now=now,
                )
                row_id = self._store.enqueue(
                    new_entry,
                    NewNotification(
                        receiver=route.receiver,
                        channel=notifier.channel,
                        integration=index,
                        group_key=group.key,
                        payload=payload,
                        created_at=now,
                        first_firing_at=min(new_starts, default=None),
                    ),
                )
            except StoreError as exc:
                ok = False
                log.error("flush of group %s for %s failed: %s", group.key, notifier.channel, exc)
                continue
            queued += 1
            log.info(
                "queued notification %d for receiver %r %s[%d] (%s): group %s, "
                "%d firing, %d resolved",
                row_id,
                route.receiver,
                notifier.channel,
                index,
                reason.value,
                group.key,
                len(firing),
                len(resolved) if notifier.send_resolved else 0,
            )
        if ok:
            # No await since the snapshot, so these are the very alerts just handled.
            for alert in resolved_alerts:
                del group.alerts[alert.fingerprint]
                self._held[alert.fingerprint] -= 1
                if self._held[alert.fingerprint] <= 0:
                    del self._held[alert.fingerprint]
            if not group.alerts:
                del self._groups[(route.id, group.labels)]
        return queued

    def _prune_nflog(self, now: datetime) -> None:
        if self._next_gc is not None and now < self._next_gc:
            return
        self._next_gc = now + _NFLOG_GC_INTERVAL
        try:
            self._store.delete_expired_nflog(now)
        except StoreError as exc:
            log.error("could not prune the notification log: %s", exc)
