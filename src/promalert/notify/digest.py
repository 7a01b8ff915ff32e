"""Digests: low-priority notifications of one integration held and sent as one message.

Windows are aligned to multiples of the interval since the Unix epoch, so where a row
waits is a pure function of when it was queued and survives restarts: a digestible row
queued at ``t`` goes out at :func:`window_end` ``(t)`` together with every other
digestible row of the integration, or earlier once ``max_size`` rows are waiting.
Notifications that belong to an incident are never held.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from promalert.notify.payload import firing_count
from promalert.notify.template_data import default_priority
from promalert.store import OutboxRow

DIGEST_GROUP_KEY = "digest"


def digestible(payload: Mapping[str, Any], priorities: Collection[str]) -> bool:
    """True when every alert of the payload has one of ``priorities`` (and there is one)."""
    if "incident" in payload:
        return False
    alerts = payload.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        return False
    for alert in alerts:
        labels = alert.get("labels") if isinstance(alert, Mapping) else None
        if not isinstance(labels, Mapping) or default_priority(labels) not in priorities:
            return False
    return True


def window_end(queued_at: datetime, interval: float) -> datetime:
    """The end of the digest window ``queued_at`` falls in (windows start at the epoch)."""
    seconds = queued_at.timestamp()
    end = (math.floor(seconds / interval) + 1) * interval
    return datetime.fromtimestamp(end, UTC)


def merge(rows: Sequence[OutboxRow], external_url: str = "") -> dict[str, Any]:
    """One v4-shaped payload holding the alerts of every row, with a ``digest`` summary."""
    alerts: list[dict[str, Any]] = []
    truncated = 0
    for row in rows:
        alerts.extend(a for a in row.payload.get("alerts", []) if isinstance(a, dict))
        truncated += int(row.payload.get("truncatedAlerts", 0) or 0)
    first = rows[0].payload if rows else {}
    payload: dict[str, Any] = {
        "receiver": first.get("receiver", ""),
        "status": "firing" if any(a.get("status") == "firing" for a in alerts) else "resolved",
        "alerts": alerts,
        "groupLabels": {},
        "commonLabels": _common([a.get("labels", {}) for a in alerts]),
        "commonAnnotations": _common([a.get("annotations", {}) for a in alerts]),
        "externalURL": first.get("externalURL", external_url),
        "version": "4",
        "groupKey": DIGEST_GROUP_KEY,
        "truncatedAlerts": truncated,
        "digest": {
            "notifications": len(rows),
            "groups": [row.group_key for row in rows],
            "firing": sum(firing_count(row.payload) for row in rows),
        },
    }
    return payload


def _common(maps: Sequence[Any]) -> dict[str, str]:
    dicts = [m for m in maps if isinstance(m, dict)]
    if not dicts:
        return {}
    common = dict(dicts[0])
    for other in dicts[1:]:
        common = {k: v for k, v in common.items() if other.get(k) == v}
    return dict(sorted(common.items()))
