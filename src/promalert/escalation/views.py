"""Incidents and on-call schedules as the API shows them (SPEC §6)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from promalert.escalation.schedule import Schedule
from promalert.notify.delivery_api import notification_json
from promalert.notify.payload import format_time
from promalert.store.deliveries import NotificationRecord
from promalert.store.incidents import IncidentEvent, IncidentRecord


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else format_time(moment)


def _iso(text: Any) -> str | None:
    """A stored ISO time re-rendered like every other time in the API."""
    return None if not text else format_time(datetime.fromisoformat(str(text)))


def _sla(record: IncidentRecord, esc: dict[str, Any]) -> dict[str, Any]:
    """Each SLA target with its due time and whether it was met (None: still running)."""
    out: dict[str, Any] = {}
    targets = record.state.get("sla") or {}
    ends = {"ack": record.first_ack_at, "resolve": record.resolved_at}
    sent = set(esc.get("sla_sent") or ())
    for kind in ("ack", "resolve"):
        target = targets.get(kind)
        if not target:
            continue
        due = record.created_at + timedelta(seconds=float(target))
        end = ends[kind]
        met = (
            None if end is None and f"{kind}_breach" not in sent else end is not None and end <= due
        )
        out[kind] = {"target_seconds": float(target), "due": format_time(due), "met": met}
    return out


def event_json(event: IncidentEvent) -> dict[str, Any]:
    """One timeline entry."""
    out: dict[str, Any] = {"at": format_time(event.at), "kind": event.kind}
    if event.by is not None:
        out["by"] = event.by
    if event.via is not None:
        out["via"] = event.via
    out.update(event.detail)
    return out


def incident_json(
    record: IncidentRecord,
    events: Sequence[IncidentEvent] | None = None,
    notifications: Sequence[NotificationRecord] | None = None,
) -> dict[str, Any]:
    """An incident; with ``events``/``notifications`` also its timeline and deliveries."""
    esc = dict(record.state.get("escalation") or {})
    out: dict[str, Any] = {
        "id": record.id,
        "state": record.status,
        "priority": record.priority,
        "policy": record.policy,
        "level": int(esc.get("level", 1)),
        "passes": int(esc.get("passes", 0)),
        "group_key": record.group_key,
        "group_labels": dict(record.group_labels),
        "alerts": [dict(a) for a in record.alerts],
        "created_at": format_time(record.created_at),
        "updated_at": format_time(record.updated_at),
        "acknowledged_by": esc.get("acked_by"),
        "acknowledged_at": _iso(esc.get("acked_at")),
        "first_acknowledged_at": _time(record.first_ack_at),
        "resolved_by": esc.get("resolved_by"),
        "resolved_at": _time(record.resolved_at),
        "next_step_at": _time(record.next_due),
        "sla": _sla(record, esc),
    }
    if events is not None:
        out["timeline"] = [event_json(e) for e in events]
    if notifications is not None:
        out["notifications"] = [notification_json(n) for n in reversed(notifications)]
    return out


def oncall_json(schedule: Schedule, now: datetime, days: int) -> dict[str, Any]:
    """Who is on call in ``schedule`` at ``now``, until when, and the next ``days`` days."""
    shift = schedule.shift_at(now)
    out: dict[str, Any] = {
        "schedule": schedule.name,
        "timezone": str(schedule.timezone),
        "user": shift.user,
        "since": format_time(shift.start),
        "until": format_time(shift.end),
    }
    if days > 0:
        out["shifts"] = [
            {
                "start": format_time(s.start),
                "end": format_time(s.end),
                "user": s.user,
                "override": s.override,
            }
            for s in schedule.shifts(now, now + timedelta(days=days))
        ]
    return out
