"""The incident manager: groups become incidents, and incidents escalate on time.

The dispatcher hands over each flushed group of a route with ``escalation: POLICY``
(:class:`~promalert.dispatch.flush.EscalationUpdate`): a group with firing alerts and no
open incident opens one; new alerts join it; it resolves by itself once none of its
alerts fires. The decisions are the pure core's (:mod:`promalert.escalation.policy`);
this module executes them: it resolves targets to integrations at the moment of each
step (:mod:`promalert.escalation.targets`), writes the notifications to the outbox and
the step to the incident's timeline, in the same transaction as the new state
(:meth:`~promalert.store.incidents.IncidentStore.write_incidents`). So a step that is
written happened completely, and after a restart every due step still happens once.

Open incidents live in memory (and in the store); a heap of due times drives
:meth:`IncidentManager.run`, which sleeps until the next step or until woken.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import secrets
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from promalert.clock import Clock, sleep_or_wake
from promalert.config.escalation import EscalationPolicyConfig
from promalert.config.priorities import PrioritiesConfig
from promalert.dispatch.flush import EscalationUpdate
from promalert.dispatch.priority import most_urgent, priority_of
from promalert.errors import PromalertError, StoreError
from promalert.escalation import policy as core
from promalert.escalation.pager import Batch, Incident, Pager
from promalert.escalation.policy import EscalationState, TransitionError
from promalert.escalation.targets import Directory
from promalert.escalation.views import incident_json, oncall_json
from promalert.metrics import Metrics
from promalert.model import Labels
from promalert.notify.payload import alert_entry
from promalert.store import Store

__all__ = ["IncidentManager", "IncidentNotFound", "TransitionError"]

log = logging.getLogger(__name__)

_MAX_SLEEP = 60.0
_SECRET_KV = "ack_link_secret"


class IncidentNotFound(PromalertError):
    """No incident has the id asked for (the API answers 404)."""


class IncidentManager:
    """Opens, escalates, acknowledges and resolves incidents; owns their timers."""

    def __init__(
        self,
        policies: Mapping[str, EscalationPolicyConfig],
        directory: Directory,
        store: Store,
        clock: Clock,
        metrics: Metrics,
        *,
        external_url: str,
        secret_key: str | None = None,
        priorities: PrioritiesConfig | None = None,
        on_outbox: Callable[[], None] = lambda: None,
    ) -> None:
        """Load the open incidents from ``store``; ``secret_key`` signs ack links.

        Without a ``secret_key`` a random one is made once and kept in the store, so
        links stay valid across restarts.
        """
        self._store = store
        self._clock = clock
        self._metrics = metrics
        self.on_outbox = on_outbox
        self._wake = asyncio.Event()
        self._heap: list[tuple[datetime, int, int]] = []
        self._seq = itertools.count()
        self._open: dict[int, Incident] = {}
        self._by_group: dict[tuple[str, str], int] = {}
        # Alerts of incidents a person resolved while they still fired, by group: they
        # open no new incident until they resolve (or a new alert joins the group).
        self._dismissed: dict[tuple[str, str], frozenset[str]] = {}
        self._secret = secret_key or self._stored_secret()
        self._next_id = store.max_incident_id() + 1
        for record in store.open_incidents():
            try:
                incident = Incident.from_record(record)
            except (KeyError, TypeError, ValueError) as exc:
                log.error("incident %d cannot be read and is left as it is: %s", record.id, exc)
                continue
            self._open[incident.id] = incident
            self._by_group[(incident.route_policy, incident.group_key)] = incident.id
        self.configure(policies, directory, external_url=external_url, priorities=priorities)
        self._refresh_gauge()

    def configure(
        self,
        policies: Mapping[str, EscalationPolicyConfig],
        directory: Directory,
        *,
        external_url: str,
        priorities: PrioritiesConfig | None = None,
    ) -> None:
        """Use a new configuration (a reload) from the next step on."""
        self.policies = dict(policies)
        self.directory = directory
        self._pager = Pager(
            directory, self._metrics, external_url=external_url, secret=self._secret
        )
        self._priorities = priorities
        targets = [p.sla.ack for p in policies.values() if p.sla and p.sla.ack]
        targets += [p.sla.resolve for p in policies.values() if p.sla and p.sla.resolve]
        self._metrics.set_incident_buckets(targets)
        gone = [i for i in self._open.values() if i.policy not in self.policies]
        if gone:
            self._close_orphans(gone)
        for incident in self._open.values():
            self._schedule(incident)
        self._wake.set()

    def _close_orphans(self, incidents: Sequence[Incident]) -> None:
        """Resolve incidents whose policy the configuration no longer has.

        Their levels and clocks are gone with the policy, so nothing could escalate
        them; resolving says so on their timelines instead of leaving them stuck.
        """
        now = self._clock.now()
        batch = Batch()
        for incident in incidents:
            incident.esc = replace(
                incident.esc,
                status="resolved",
                level_due=None,
                retrigger_due=None,
                reminder_due=None,
                resolved_at=now,
            )
            incident.updated_at = now
            batch.incidents[incident.id] = incident
            batch.event(incident, now, "resolved", via="config", policy_removed=True)
            log.warning(
                "incident %d resolved: its escalation policy %r is no longer configured",
                incident.id,
                incident.policy,
            )
        self._commit(batch)

    def _stored_secret(self) -> str:
        secret = self._store.get_kv(_SECRET_KV)
        if secret is None:
            secret = secrets.token_urlsafe(32)
            self._store.set_kv(_SECRET_KV, secret)
        return secret

    # -- groups in ----------------------------------------------------------------------

    def observe(self, updates: Sequence[EscalationUpdate]) -> None:
        """Open, extend or auto-resolve incidents for the groups the dispatcher flushed."""
        now = self._clock.now()
        batch = Batch()
        for update in updates:
            if update.policy not in self.policies:
                continue  # the route's policy was removed by a reload
            key = (update.policy, update.group_key)
            incident = self._open.get(self._by_group.get(key, -1))
            firing = [a for a in update.alerts if not a.resolved(update.at)]
            if incident is None:
                dismissed = self._dismissed.pop(key, frozenset()) & update.firing
                if dismissed:
                    self._dismissed[key] = dismissed
                if any(a.fingerprint not in dismissed for a in firing):
                    self._open_incident(update, firing, now, batch)
                continue
            self._update_alerts(incident, update, now, batch)
        try:
            self._commit(batch)
        except StoreError as exc:
            # The group flushes again at its group_interval and brings the same news.
            log.error("incident changes not written, retried at the next flush: %s", exc)

    def _open_incident(
        self, update: EscalationUpdate, firing: Sequence[Any], now: datetime, batch: Batch
    ) -> None:
        priority = most_urgent(priority_of(a.labels, self._priorities) for a in firing)
        name = core.policy_for_priority(self.policies, update.policy, priority)
        policy = self.policies[name]
        esc, actions = core.open_incident(policy, now)
        incident = Incident(
            id=self._next_id,
            route_policy=update.policy,
            policy=name,
            group_key=update.group_key,
            group_labels=update.group_labels.as_dict(),
            priority=priority,
            alerts={a.fingerprint: alert_entry(a, update.at) for a in firing},
            esc=esc,
            updated_at=now,
            sla={"ack": policy.sla.ack, "resolve": policy.sla.resolve} if policy.sla else {},
        )
        self._next_id += 1
        batch.incidents[incident.id] = incident
        batch.event(incident, now, "opened", priority=priority, policy=name)
        for fp in incident.alerts:
            batch.event(incident, now, "alert_added", fingerprint=fp)
        self._pager.execute(incident, self._policy(incident), actions, now, batch)

    def _update_alerts(
        self, incident: Incident, update: EscalationUpdate, now: datetime, batch: Batch
    ) -> None:
        changed = False
        for alert in update.alerts:
            entry = alert_entry(alert, update.at)
            known = incident.alerts.get(alert.fingerprint)
            if known is None and entry["status"] == "firing":
                batch.event(incident, now, "alert_added", fingerprint=alert.fingerprint)
            if known != entry and (known is not None or entry["status"] == "firing"):
                incident.alerts[alert.fingerprint] = entry
                changed = True
        for fp, entry in incident.alerts.items():
            if entry["status"] == "firing" and fp not in update.firing:
                # Resolved while muted, or already gone from the group.
                incident.alerts[fp] = {**entry, "status": "resolved"}
                changed = True
        urgent = most_urgent(
            [incident.priority]
            + [
                priority_of(Labels(a["labels"]), self._priorities)
                for a in incident.alerts.values()
                if a["status"] == "firing"
            ]
        )
        if urgent != incident.priority:
            batch.event(incident, now, "priority", old=incident.priority, new=urgent)
            incident.priority, changed = urgent, True
        if not any(fp in update.firing for fp in incident.alerts):
            self._transition(incident, "resolve", None, "auto", None, now, batch)
        elif changed:
            incident.updated_at = now
            batch.incidents[incident.id] = incident

    # -- people in ----------------------------------------------------------------------

    def acknowledge(
        self, incident_id: int, *, by: str | None, via: str, comment: str | None = None
    ) -> dict[str, Any]:
        """Acknowledge a triggered incident; raise IncidentNotFound or TransitionError."""
        return self._person(incident_id, "acknowledge", by, via, comment)

    def unacknowledge(
        self, incident_id: int, *, by: str | None, via: str, comment: str | None = None
    ) -> dict[str, Any]:
        """Return an acknowledged incident to triggered; its current level is paged again."""
        return self._person(incident_id, "unacknowledge", by, via, comment)

    def resolve(
        self, incident_id: int, *, by: str | None, via: str, comment: str | None = None
    ) -> dict[str, Any]:
        """Resolve an incident by hand (its alerts may still fire)."""
        return self._person(incident_id, "resolve", by, via, comment)

    def _person(
        self, incident_id: int, action: str, by: str | None, via: str, comment: str | None
    ) -> dict[str, Any]:
        incident = self._open.get(incident_id)
        if incident is None:
            record = self._store.incident(incident_id)
            if record is None:
                raise IncidentNotFound(f"incident {incident_id} does not exist")
            raise TransitionError("resolved", action, _ALLOWED[action])
        now = self._clock.now()
        batch = Batch()
        self._transition(incident, action, by, via, comment, now, batch)
        self._commit(batch)
        return incident_json(incident.record(self._due(incident)))

    def _transition(
        self,
        incident: Incident,
        action: str,
        by: str | None,
        via: str,
        comment: str | None,
        now: datetime,
        batch: Batch,
    ) -> None:
        """Apply ack/unack/resolve (raising TransitionError) and what it sets off."""
        policy = self._policy(incident)
        who = by or via
        if action == "acknowledge":
            esc, actions = core.acknowledge(policy, incident.esc, who, now)
        elif action == "unacknowledge":
            esc, actions = core.unacknowledge(policy, incident.esc, now)
        else:
            esc, actions = core.resolve(policy, incident.esc, by, now)
        # Steps that fell due before the transition come first, then the transition.
        before = [
            a for a in actions if not (isinstance(a, core.NotifyLevel) and a.reason == "unack")
        ]
        self._pager.execute(incident, self._policy(incident), before, now, batch)
        old = incident.esc
        incident.esc, incident.updated_at = esc, now
        batch.incidents[incident.id] = incident
        kind = {"acknowledge": "acknowledged", "unacknowledge": "unacknowledged"}
        detail: dict[str, Any] = {"comment": comment} if comment else {}
        batch.event(incident, now, kind.get(action, "resolved"), by=by, via=via, **detail)
        self._observe_times(incident, old, esc)
        self._pager.execute(
            incident, self._policy(incident), [a for a in actions if a not in before], now, batch
        )
        if action == "resolve":
            self._pager.notify_resolved(incident, self._policy(incident), now, batch)
            if by is not None or via != "auto":
                still = frozenset(
                    fp for fp, a in incident.alerts.items() if a["status"] == "firing"
                )
                self._dismissed[(incident.route_policy, incident.group_key)] = still

    # -- time ---------------------------------------------------------------------------

    def wake(self) -> None:
        """Look at the due times again now."""
        self._wake.set()

    def next_due(self) -> datetime | None:
        """When the next step of any incident is due."""
        while self._heap:
            due, _, incident_id = self._heap[0]
            incident = self._open.get(incident_id)
            if incident is not None and self._due(incident) == due:
                return due
            heapq.heappop(self._heap)
        return None

    def run_due(self) -> int:
        """Apply every step due at the clock's time; return how many incidents moved."""
        now = self._clock.now()
        batch = Batch()
        moved = 0
        while (due := self.next_due()) is not None and due <= now:
            _, _, incident_id = heapq.heappop(self._heap)
            incident = self._open[incident_id]
            policy = self._policy(incident)
            old = incident.esc
            incident.esc, actions = core.advance(policy, incident.esc, now)
            incident.updated_at = now
            batch.incidents[incident.id] = incident
            self._observe_times(incident, old, incident.esc)
            self._pager.execute(incident, self._policy(incident), actions, now, batch)
            moved += 1
        self._commit(batch)
        return moved

    async def run(self) -> None:
        """Apply steps as they fall due, until cancelled."""
        while True:
            self._wake.clear()
            try:
                self.run_due()
            except StoreError as exc:
                # Nothing was applied (state is only kept after a write); try again soon.
                log.error("escalation step not written, retrying: %s", exc)
                await self._clock.sleep(1.0)
                continue
            due = self.next_due()
            delay = _MAX_SLEEP
            if due is not None:
                delay = min(delay, (due - self._clock.now()).total_seconds())
            if delay > 0:
                await sleep_or_wake(self._clock, delay, self._wake)

    def _policy(self, incident: Incident) -> EscalationPolicyConfig:
        # configure() resolves the incidents whose policy is gone, so it is always here.
        return self.policies[incident.policy]

    def _observe_times(
        self, incident: Incident, old: EscalationState, new: EscalationState
    ) -> None:
        labels = {"policy": incident.policy, "priority": incident.priority}
        if old.first_ack_at is None and new.first_ack_at is not None:
            seconds = (new.first_ack_at - new.created_at).total_seconds()
            self._metrics.incident_ack_seconds.labels(**labels).observe(max(seconds, 0.0))
        if old.resolved_at is None and new.resolved_at is not None:
            seconds = (new.resolved_at - new.created_at).total_seconds()
            self._metrics.incident_resolve_seconds.labels(**labels).observe(max(seconds, 0.0))

    def _due(self, incident: Incident) -> datetime | None:
        policy = self.policies.get(incident.policy)
        return None if policy is None else core.next_due(policy, incident.esc)

    def _schedule(self, incident: Incident) -> None:
        due = self._due(incident)
        if due is not None:
            heapq.heappush(self._heap, (due, next(self._seq), incident.id))

    def _commit(self, batch: Batch) -> None:
        """Write the batch in one transaction, then make it the in-memory truth."""
        if not batch.incidents and not batch.events:
            return
        records = [i.record(self._due(i)) for i in batch.incidents.values()]
        try:
            self._store.write_incidents(records, batch.events, batch.notifications)
        except StoreError:
            # Memory must not run ahead of the store: reload what was touched.
            for incident_id in batch.incidents:
                self._reload(incident_id)
            raise
        for incident in batch.incidents.values():
            key = (incident.route_policy, incident.group_key)
            if incident.esc.status == "resolved":
                self._open.pop(incident.id, None)
                if self._by_group.get(key) == incident.id:
                    del self._by_group[key]
            else:
                self._open[incident.id] = incident
                self._by_group[key] = incident.id
                self._schedule(incident)
        self._refresh_gauge()
        if batch.notifications:
            self.on_outbox()
        self._wake.set()

    def _reload(self, incident_id: int) -> None:
        record = self._store.incident(incident_id) if incident_id in self._open else None
        if record is None:
            self._open.pop(incident_id, None)
        else:
            self._open[incident_id] = Incident.from_record(record)

    def _refresh_gauge(self) -> None:
        counts = Counter((i.esc.status, i.priority) for i in self._open.values())
        for state in ("triggered", "acknowledged"):
            for priority in ("P1", "P2", "P3", "P4", "P5"):
                self._metrics.incidents.labels(state=state, priority=priority).set(
                    counts.get((state, priority), 0)
                )

    # -- reading ------------------------------------------------------------------------

    def get(self, incident_id: int, *, detail: bool = True) -> dict[str, Any] | None:
        """One incident as JSON; with ``detail``, its timeline and notifications too."""
        record = self._store.incident(incident_id)
        if record is None:
            return None
        if not detail:
            return incident_json(record)
        events = self._store.incident_events(incident_id)
        notifications = self._store.notification_log(
            limit=1000, group_key=f"incident/{incident_id}"
        )
        return incident_json(record, events, notifications)

    def oncall(self, *, days: int = 0) -> list[dict[str, Any]]:
        """Who is on call in each schedule now, and the shifts of the next ``days`` days."""
        now = self._clock.now()
        return [oncall_json(s, now, days) for s in self.directory.schedules.values()]

    def user_by_phone(self, phone: str) -> str | None:
        """The user with this phone number (inbound SMS and calls)."""
        return self.directory.user_by_phone(phone)

    def twilio_tokens(self) -> list[str]:
        """Auth tokens of the contact channels that text and call users."""
        return list(self.directory.twilio_tokens)

    def ack_secret(self) -> str:
        """The key ack links are signed with."""
        return self._secret

    def list(
        self, *, status: str | None = None, limit: int = 100, before: int | None = None
    ) -> list[dict[str, Any]]:
        """Incidents newest first as JSON, optionally only those in ``status``."""
        records = self._store.incidents(status=status, limit=limit, before_id=before)
        return [incident_json(r) for r in records]


_ALLOWED = {
    "acknowledge": "triggered",
    "unacknowledge": "acknowledged",
    "resolve": "triggered or acknowledged",
}
