"""Executing escalation steps: the core's actions become notifications and timeline events.

An :class:`Incident` is the manager's in-memory view of one open incident; a
:class:`Batch` collects what one change writes. The :class:`Pager` resolves each step's
targets at the moment it runs (:mod:`promalert.escalation.targets`) and builds one
notification per recipient: the Alertmanager v4 payload of the incident's alerts plus
the ``incident`` object (SPEC §7) with a personal, signed ack link.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from promalert.config.escalation import EscalationPolicyConfig, TargetConfig
from promalert.config.priorities import Priority
from promalert.escalation import policy as core
from promalert.escalation.acklinks import ack_url, make_token
from promalert.escalation.policy import EscalationState
from promalert.escalation.targets import Directory, Recipient
from promalert.metrics import Metrics
from promalert.notify.payload import entries_payload, format_time
from promalert.store import NewNotification
from promalert.store.incidents import IncidentEvent, IncidentRecord

ACK_LINK_LIFETIME = timedelta(hours=24)
"""How long the ack link in a notification stays valid."""


@dataclass(slots=True)
class Incident:
    """An open incident in memory: identity, alerts and escalation state."""

    id: int
    route_policy: str  # the route's ``escalation``: with group_key, what the incident is for
    policy: str  # the policy it follows (``by_priority`` may have chosen another)
    group_key: str
    group_labels: dict[str, str]
    priority: Priority
    alerts: dict[str, dict[str, Any]]
    esc: EscalationState
    updated_at: datetime
    sla: dict[str, float | None] = field(default_factory=dict)

    def record(self, due: datetime | None) -> IncidentRecord:
        """The row to store."""
        state = {"escalation": self.esc.to_dict(), "route_policy": self.route_policy}
        state["sla"] = self.sla
        return IncidentRecord(
            id=self.id,
            policy=self.policy,
            group_key=self.group_key,
            group_labels=self.group_labels,
            priority=self.priority,
            status=self.esc.status,
            state=state,
            alerts=list(self.alerts.values()),
            created_at=self.esc.created_at,
            updated_at=self.updated_at,
            first_ack_at=self.esc.first_ack_at,
            resolved_at=self.esc.resolved_at,
            next_due=due,
        )

    @classmethod
    def from_record(cls, r: IncidentRecord) -> Incident:
        """The incident a stored row describes (raises ValueError if it is malformed)."""
        return cls(
            id=r.id,
            route_policy=str(r.state.get("route_policy", r.policy)),
            policy=r.policy,
            group_key=r.group_key,
            group_labels=dict(r.group_labels),
            priority=r.priority,  # type: ignore[arg-type]
            alerts={str(a["fingerprint"]): dict(a) for a in r.alerts},
            esc=EscalationState.from_dict(r.state["escalation"]),
            updated_at=r.updated_at,
            sla=dict(r.state.get("sla") or {}),
        )


@dataclass(slots=True)
class Batch:
    """What one change writes: incidents, timeline events and notifications."""

    incidents: dict[int, Incident] = field(default_factory=dict)
    events: list[IncidentEvent] = field(default_factory=list)
    notifications: list[NewNotification] = field(default_factory=list)

    def event(
        self,
        incident: Incident,
        at: datetime,
        kind: str,
        *,
        by: str | None = None,
        via: str | None = None,
        **detail: Any,
    ) -> None:
        """Add a timeline event of ``incident``."""
        self.events.append(IncidentEvent(incident.id, at, kind, by, via, detail))


class Pager:
    """Executes escalation actions for incidents against a directory of people."""

    def __init__(
        self, directory: Directory, metrics: Metrics, *, external_url: str, secret: str
    ) -> None:
        """``secret`` signs the ack links; ``external_url`` is where they point."""
        self.directory = directory
        self._metrics = metrics
        self._external_url = external_url.rstrip("/")
        self._secret = secret

    def execute(
        self,
        incident: Incident,
        policy: EscalationPolicyConfig,
        actions: Sequence[core.Action],
        now: datetime,
        batch: Batch,
    ) -> None:
        """Turn the core's actions into notifications, timeline events and metrics."""
        for action in actions:
            if isinstance(action, core.NotifyLevel):
                level = policy.level(action.level)
                self._page(
                    incident,
                    level.targets,
                    level.channels,
                    now,
                    batch,
                    "notified",
                    level=action.level,
                    passes=action.passes,
                    reason=action.reason,
                    due=format_time(action.at),
                )
                self._metrics.escalation_steps.labels(
                    policy=incident.policy, level=str(action.level)
                ).inc()
            elif isinstance(action, core.Remind):
                level = policy.level(incident.esc.level)
                target = (
                    TargetConfig(user=action.user) if action.user in self.directory.users else None
                )
                self._page(
                    incident,
                    [target] if target else [],
                    level.channels,
                    now,
                    batch,
                    "reminder",
                    user=action.user,
                    count=action.count,
                    due=format_time(action.at),
                )
            elif isinstance(action, core.SlaEvent):
                counter = (
                    self._metrics.sla_breaches
                    if action.stage == "breach"
                    else self._metrics.sla_warnings
                )
                counter.labels(policy=incident.policy, kind=action.kind).inc()
                targets = policy.sla.notify if policy.sla else []
                self._page(
                    incident,
                    targets,
                    ["email"],
                    now,
                    batch,
                    f"sla_{action.stage}",
                    sla=action.kind,
                    target_seconds=action.target_seconds,
                    due=format_time(action.at),
                )
            elif isinstance(action, core.Retriggered):
                batch.event(incident, now, "retriggered", due=format_time(action.at))
            elif isinstance(action, core.Exhausted):
                batch.event(incident, now, "exhausted", due=format_time(action.at))

    def _page(
        self,
        incident: Incident,
        targets: Sequence[TargetConfig],
        kinds: Sequence[Any],
        now: datetime,
        batch: Batch,
        event: str,
        **detail: Any,
    ) -> None:
        """Queue one notification per recipient of ``targets`` and log the step."""
        resolved = self.directory.resolve(targets, kinds, now)
        for recipient in resolved.recipients:
            batch.notifications.append(self._notification(incident, recipient, now))
        listed = [_who(r) for r in resolved.recipients]
        batch.event(incident, now, event, targets=listed, **detail)
        for problem in resolved.problems:
            batch.event(incident, now, "unreachable", problem=problem)

    def notify_resolved(
        self, incident: Incident, policy: EscalationPolicyConfig, now: datetime, batch: Batch
    ) -> None:
        """Tell the current level's recipients (where they want resolves) it is over."""
        level = policy.level(incident.esc.level)
        found = self.directory.resolve(level.targets, level.channels, now).recipients
        recipients = [r for r in found if r.send_resolved]
        for recipient in recipients:
            batch.notifications.append(self._notification(incident, recipient, now))

    def _notification(
        self, incident: Incident, recipient: Recipient, now: datetime
    ) -> NewNotification:
        entries = sorted(
            incident.alerts.values(), key=lambda a: (a["status"] != "firing", a["fingerprint"])
        )
        payload = entries_payload(
            receiver=recipient.receiver,
            group_key=incident.group_key,
            group_labels=incident.group_labels,
            entries=entries,
            external_url=self._external_url,
        )
        if incident.esc.status == "resolved":
            payload["status"] = "resolved"
        token = make_token(self._secret, incident.id, recipient.user, now + ACK_LINK_LIFETIME)
        payload["incident"] = {
            "id": incident.id,
            "state": incident.esc.status,
            "level": incident.esc.level,
            "priority": incident.priority,
            "policy": incident.policy,
            "ack_url": ack_url(self._external_url, token),
            "user": recipient.user,
        }
        return NewNotification(
            receiver=recipient.receiver,
            channel=recipient.channel,
            integration=recipient.integration,
            group_key=f"incident/{incident.id}",
            payload=payload,
            created_at=now,
        )

    # -- bookkeeping --------------------------------------------------------------------


def _who(recipient: Recipient) -> dict[str, Any]:
    if recipient.user is not None:
        return {"user": recipient.user, "channel": recipient.channel}
    return {"receiver": recipient.receiver, "channel": recipient.channel}
