"""One aggregation group's flush, planned in Alertmanager's pipeline order.

For the group's alerts at ``now``: flapping alerts are held (promalert, opt-in), then
inhibition, the route's active/mute time intervals and silences leave alerts out; the
rest go, per integration of the receiver, through priority channel selection (opt-in)
and the notification-log dedup decision (:func:`promalert.dispatch.nflog.needs_update`),
with a storm collapsed into one summary (opt-in). The result is a :class:`FlushPlan` of
store writes; the dispatcher commits the plans of one tick in a single transaction and
only then applies them (so a failed write changes nothing and the next tick retries).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from promalert.config.models import Config
from promalert.config.priorities import PrioritiesConfig, Priority
from promalert.config.timeintervals import NamedTimeInterval
from promalert.dispatch.inhibit import Inhibitor, InhibitRule
from promalert.dispatch.nflog import NotificationLog, NotifyReason, log_entry, needs_update
from promalert.dispatch.noise import FlapDetector, StormWindow
from promalert.dispatch.priority import ChannelSelector, most_urgent, priority_of
from promalert.dispatch.route import Route
from promalert.dispatch.silence import Silences
from promalert.model import Alert, Labels
from promalert.notify.base import Notifier
from promalert.notify.payload import build_payload, sort_alerts, truncate_payload
from promalert.store import NewNotification, NflogEntry, NflogKey


@dataclass(frozen=True, slots=True)
class Policy:
    """What a flush consults besides the route: inhibit rules, time intervals, priorities."""

    inhibit_rules: tuple[InhibitRule, ...] = ()
    time_intervals: Mapping[str, NamedTimeInterval] = field(default_factory=dict)
    priorities: PrioritiesConfig | None = None

    @classmethod
    def from_config(cls, config: Config) -> Policy:
        """The policy ``config`` describes."""
        return cls(
            tuple(InhibitRule.from_config(r) for r in config.inhibit_rules),
            {t.name: t for t in config.all_time_intervals()},
            config.priorities,
        )


@dataclass(eq=False, slots=True)
class Group:
    """One aggregation group: its alerts and its flush timer."""

    route: Route
    labels: Labels
    key: str
    next_flush: datetime
    has_flushed: bool = False
    alerts: dict[str, Alert] = field(default_factory=dict)
    storm: StormWindow | None = None


@dataclass(frozen=True, slots=True)
class Queued:
    """A notification to write to the outbox, with its log entry and why it is sent."""

    entry: NflogEntry
    notification: NewNotification
    reason: NotifyReason
    firing: int
    resolved: int


@dataclass(frozen=True, slots=True)
class EscalationUpdate:
    """A flushed group on a route with an escalation policy: what its incident must know."""

    policy: str
    group_key: str
    group_labels: Labels
    # The alerts no inhibition, time interval, silence or flap hold muted, firing or resolved.
    alerts: tuple[Alert, ...]
    # Fingerprints of every alert of the group still firing, muted or not: an incident
    # resolves only when none of its alerts is among them.
    firing: frozenset[str]
    at: datetime


@dataclass(slots=True)
class FlushPlan:
    """What one flush writes and, once written, changes in the group."""

    entries: list[NflogEntry] = field(default_factory=list)
    queued: list[Queued] = field(default_factory=list)
    # Resolved alerts to take out of the group once the writes are committed.
    drop: list[str] = field(default_factory=list)
    # Alerts left out, by reason (a defaultdict: a Counter costs more to make, per flush).
    suppressed: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    # True/False: set the group's storm "summarized" flag to this after the commit.
    summarized: bool | None = None
    newly_flapping: int = 0
    escalation: EscalationUpdate | None = None


def route_muted(route: Route, intervals: Mapping[str, NamedTimeInterval], now: datetime) -> bool:
    """True when the route's mute intervals hold ``now`` or its active intervals do not."""
    for name in route.mute_time_intervals:
        interval = intervals.get(name)
        if interval is not None and interval.contains(now):
            return True
    if route.active_time_intervals:
        return not any(
            name in intervals and intervals[name].contains(now)
            for name in route.active_time_intervals
        )
    return False


class Flusher:
    """Plans group flushes against the current policy, silences and notification log."""

    def __init__(
        self,
        policy: Policy,
        inhibitor: Inhibitor,
        silences: Silences | None,
        nflog: NotificationLog,
        integrations: Callable[[str], Sequence[tuple[int, Notifier]]],
        flapping: Mapping[str, FlapDetector],
        *,
        external_url: str,
    ) -> None:
        """``integrations(receiver)`` lists a receiver's (index, notifier) pairs in order."""
        self.policy = policy
        self.inhibitor = inhibitor
        self.silences = silences
        self.nflog = nflog
        self.integrations = integrations
        self.flapping = flapping
        self.channels = ChannelSelector(policy.priorities)
        self.external_url = external_url

    def plan(self, group: Group, now: datetime) -> FlushPlan:
        """Decide what flushing ``group`` at ``now`` writes; changes nothing but noise state."""
        plan = FlushPlan()
        route = group.route
        alerts = sort_alerts(list(group.alerts.values()))
        kept: set[str] = set()  # resolved alerts that must stay for a later flush
        detector = self.flapping.get(route.id)
        candidates: list[Alert] = []
        for alert in alerts:
            if detector is not None:
                fp = alert.fingerprint
                plan.newly_flapping += detector.observe(fp, not alert.resolved(now), now)
                if detector.held(fp, now):
                    plan.suppressed["flapping"] += 1
                    kept.add(fp)
                    continue
            candidates.append(alert)
        sent = self._unmuted(route, candidates, now, plan.suppressed)
        resolved_fps = [a.fingerprint for a in alerts if a.resolved(now)]
        if route.escalation:
            firing = frozenset(a.fingerprint for a in alerts if not a.resolved(now))
            plan.escalation = EscalationUpdate(
                route.escalation, group.key, group.labels, tuple(sent), firing, now
            )
        plan.drop = [fp for fp in resolved_fps if fp not in kept]
        if not sent:
            return plan
        summary = 0
        if group.storm is not None:
            if group.storm.storming(now):
                if group.storm.summarized:
                    # One summary per storm; keep resolves for the flush after it.
                    plan.suppressed["storm"] += len(sent)
                    plan.drop = []
                    return plan
                summary, plan.summarized = max(group.storm.config.sample, 1), True
            elif group.storm.summarized:
                plan.summarized = False
        self._notify(group, sent, now, plan, summary)
        return plan

    def _unmuted(
        self, route: Route, alerts: list[Alert], now: datetime, suppressed: defaultdict[str, int]
    ) -> list[Alert]:
        """The alerts no inhibition, time interval or silence mutes."""
        if not alerts:
            return alerts
        if route_muted(route, self.policy.time_intervals, now):
            suppressed["muted"] += len(alerts)
            return []
        out: list[Alert] = []
        check_inhibit = bool(self.inhibitor.rules)
        silences = self.silences
        for alert in alerts:
            if check_inhibit and self.inhibitor.inhibited_by(alert.labels, now) is not None:
                suppressed["inhibited"] += 1
            elif silences is not None and silences.silenced_by(alert.labels, now):
                suppressed["silenced"] += 1
            else:
                out.append(alert)
        return out

    def _notify(
        self, group: Group, alerts: list[Alert], now: datetime, plan: FlushPlan, summary: int
    ) -> None:
        """Add to ``plan`` what each integration of the receiver needs to hear."""
        receiver = group.route.receiver
        firing_alerts = [a for a in alerts if not a.resolved(now)]
        firing = frozenset(a.fingerprint for a in firing_alerts)
        resolved = frozenset(a.fingerprint for a in alerts if a.resolved(now))
        priority: Priority = "P5"
        if self.channels.enabled:
            priorities = self.policy.priorities
            priority = most_urgent(priority_of(a.labels, priorities) for a in alerts)
        for index, notifier in self.integrations(receiver):
            key = NflogKey(group.key, receiver, notifier.channel, index)
            entry = self.nflog.get(key, now)
            told_firing = entry is not None and bool(entry.firing)
            if not told_firing and not self.channels.selects(receiver, notifier.channel, priority):
                continue
            repeat = group.route.repeat_interval
            reason = needs_update(entry, firing, resolved, now, repeat, notifier.send_resolved)
            if reason is NotifyReason.NONE:
                continue
            new_entry = log_entry(key, firing, resolved, now, repeat)
            if not notifier.send_resolved and not firing:
                # Nothing to send, but the log must stop listing the alerts as firing.
                plan.entries.append(new_entry)
                continue
            payload = build_payload(
                receiver=receiver,
                group_key=group.key,
                group_labels=group.labels,
                alerts=alerts if notifier.send_resolved else firing_alerts,
                external_url=self.external_url,
                now=now,
            )
            if summary:
                payload = truncate_payload(payload, summary)
            known = entry.firing if entry is not None else frozenset()
            new_starts = [
                a.starts_at
                for a in firing_alerts
                if a.fingerprint not in known and a.starts_at is not None
            ]
            notification = NewNotification(
                receiver=receiver,
                channel=notifier.channel,
                integration=index,
                group_key=group.key,
                payload=payload,
                created_at=now,
                first_firing_at=min(new_starts, default=None),
            )
            shown_resolved = len(resolved) if notifier.send_resolved else 0
            plan.queued.append(Queued(new_entry, notification, reason, len(firing), shown_resolved))
