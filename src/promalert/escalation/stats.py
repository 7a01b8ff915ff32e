"""Incident statistics (``GET /api/v1/stats`` and the reports): MTTA, MTTR, SLA
compliance, noisiest rules and who was paged how often.

:func:`compute_stats` is pure: incidents created in a window plus the timeline events of
that window in, one JSON-ready dict out.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from promalert.config.priorities import PRIORITIES
from promalert.notify.payload import format_time
from promalert.store.incidents import IncidentEvent, IncidentRecord

STATUSES = ("triggered", "acknowledged", "resolved")
SLA_KINDS = ("ack", "resolve")
TOP_RULES = 10


def _mean_median(samples: Sequence[float]) -> dict[str, Any]:
    if not samples:
        return {"mean": None, "median": None, "count": 0}
    mean = round(statistics.fmean(samples), 3)
    return {"mean": mean, "median": round(statistics.median(samples), 3), "count": len(samples)}


def _seconds(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds()


def _sla_outcome(
    incident: IncidentRecord, kind: str, breached: set[tuple[int, str]], now: datetime
) -> str | None:
    """``met``, ``breached``, ``pending`` (target not reached yet) or None (no target).

    A breach is an ``sla_breach`` event, or a record showing the target was passed (the
    event may fall outside the window). Resolving stops the ack clock, as in the policy.
    """
    targets = incident.state.get("sla") or {}
    target = targets.get(kind) if isinstance(targets, Mapping) else None
    if target is None:
        return None
    done = incident.resolved_at
    if kind == "ack" and incident.first_ack_at is not None:
        done = incident.first_ack_at
    # The policy's breach is due at created + target and fires when due <= now.
    if (incident.id, kind) in breached or _seconds(done or now, incident.created_at) >= target:
        return "breached"
    return "met" if done is not None else "pending"


def _sla(
    incidents: Sequence[IncidentRecord], breached: set[tuple[int, str]], now: datetime
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in SLA_KINDS:
        outcomes = Counter(_sla_outcome(i, kind, breached, now) for i in incidents)
        met, missed = outcomes["met"], outcomes["breached"]
        out[kind] = {
            "targeted": met + missed + outcomes["pending"],
            "met": met,
            "breached": missed,
            "pending": outcomes["pending"],
            # Pending incidents can still go either way, so they are left out of the share.
            "compliance": round(met / (met + missed), 4) if met + missed else None,
        }
    return out


def _block(
    incidents: Sequence[IncidentRecord], breached: set[tuple[int, str]], now: datetime
) -> dict[str, Any]:
    """Counts, MTTA, MTTR and SLA compliance of ``incidents``."""
    priorities = Counter(i.priority for i in incidents)
    statuses = Counter(i.status for i in incidents)
    return {
        "incidents": len(incidents),
        "by_priority": {p: priorities[p] for p in PRIORITIES},
        "by_status": {s: statuses[s] for s in STATUSES},
        "mtta_seconds": _mean_median(
            [_seconds(i.first_ack_at, i.created_at) for i in incidents if i.first_ack_at]
        ),
        "mttr_seconds": _mean_median(
            [_seconds(i.resolved_at, i.created_at) for i in incidents if i.resolved_at]
        ),
        "sla": _sla(incidents, breached, now),
    }


def _ranked(counts: Counter[str], key: str, value: str) -> list[dict[str, Any]]:
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_RULES]
    return [{key: name, value: count} for name, count in top]


def _noisiest(incidents: Sequence[IncidentRecord]) -> dict[str, Any]:
    by_incidents: Counter[str] = Counter()
    by_alerts: Counter[str] = Counter()
    for incident in incidents:
        names = [str((a.get("labels") or {}).get("alertname", "")) for a in incident.alerts]
        by_alerts.update(names)
        by_incidents.update(set(names))
    return {
        "by_incidents": _ranked(by_incidents, "alertname", "incidents"),
        "by_alerts": _ranked(by_alerts, "alertname", "alerts"),
    }


def _paged(events: Sequence[IncidentEvent]) -> dict[str, Any]:
    """Who was paged how often: one page per target of every ``notified`` event."""
    users: dict[str, Counter[str]] = defaultdict(Counter)
    receivers: Counter[str] = Counter()
    channels: Counter[str] = Counter()
    for event in events:
        if event.kind != "notified":
            continue
        for target in event.detail.get("targets") or ():
            channel = str(target.get("channel") or "")
            if target.get("user"):
                users[str(target["user"])][channel] += 1
            elif target.get("receiver"):
                receivers[str(target["receiver"])] += 1
            if channel:
                channels[channel] += 1
    ranked = sorted(users.items(), key=lambda kv: (-kv[1].total(), kv[0]))
    return {
        "users": [
            {"user": user, "pages": counts.total(), "channels": dict(sorted(counts.items()))}
            for user, counts in ranked
        ],
        "receivers": _ranked(receivers, "receiver", "pages"),
        "channels": dict(sorted(channels.items(), key=lambda kv: (-kv[1], kv[0]))),
    }


def compute_stats(
    incidents: Sequence[IncidentRecord],
    events: Iterable[IncidentEvent],
    start: datetime,
    end: datetime,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Statistics of the incidents created in [start, end) and the events of that window.

    Incidents still open are judged against their SLA targets at ``now`` (default ``end``).
    """
    as_of = end if now is None else now
    timeline = list(events)
    breached = {
        (e.incident_id, str(e.detail.get("sla"))) for e in timeline if e.kind == "sla_breach"
    }
    policies: dict[str, list[IncidentRecord]] = defaultdict(list)
    for incident in incidents:
        policies[incident.policy].append(incident)
    breach_events = Counter(str(e.detail.get("sla")) for e in timeline if e.kind == "sla_breach")
    return {
        "start": format_time(start),
        "end": format_time(end),
        **_block(incidents, breached, as_of),
        "sla_breach_events": {kind: breach_events[kind] for kind in SLA_KINDS},
        "noisiest_rules": _noisiest(incidents),
        "paged": _paged(timeline),
        "policies": {
            name: _block(members, breached, as_of) for name, members in sorted(policies.items())
        },
    }


# --- rendering --------------------------------------------------------------------------
