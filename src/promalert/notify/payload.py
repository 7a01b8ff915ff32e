"""Alertmanager's webhook payload, version 4, built the way Alertmanager 0.25 builds it.

One function builds the payload for every channel. Details that matter to receivers
written against Alertmanager, and that this module reproduces:

- ``receiver`` is the receiver name passed through Go's ``regexp.QuoteMeta`` (so
  ``team.ops`` is sent as ``team\\.ops``);
- alerts are ordered by ``job``, then ``instance`` (alerts with the label first), then
  by label set (fewer labels first, then by sorted names and values);
- a firing alert's ``endsAt`` is ``0001-01-01T00:00:00Z`` (the group flush clears it
  so that alerts never resolve "in flight");
- ``commonLabels``/``commonAnnotations`` are the pairs every alert sent has;
- times are RFC 3339 with trailing zeros of the fraction dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import cmp_to_key
from typing import Any

from promalert.model import Alert

ZERO_TIME = "0001-01-01T00:00:00Z"
"""How Go prints an unset ``time.Time``; Alertmanager sends it as a firing alert's endsAt."""

_REGEXP_META = frozenset("\\.+*?()|[]{}^$")


# The last time formatted and its text: the alerts of one POST often share a start time.
_last_formatted: tuple[datetime | None, str] = (None, ZERO_TIME)


def format_time(moment: datetime | None) -> str:
    """RFC 3339 in UTC the way Go's ``time.Time`` marshals it; None is Go's zero time."""
    global _last_formatted
    if moment is None:
        return ZERO_TIME
    last, text = _last_formatted
    if last is moment:
        return text
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    if utc.year < 1000:
        # strftime does not pad such years (isoformat does); kept as it always was.
        fraction = f".{utc.microsecond:06d}".rstrip("0") if utc.microsecond else ""
        return utc.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"
    # isoformat is several times faster than strftime: "YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00".
    iso = utc.isoformat()
    text = iso[:19] + iso[19:26].rstrip("0") + "Z" if utc.microsecond else iso[:19] + "Z"
    _last_formatted = (moment, text)
    return text


def quote_meta(text: str) -> str:
    """Escape regular-expression metacharacters exactly like Go's ``regexp.QuoteMeta``."""
    if _REGEXP_META.isdisjoint(text):
        return text  # the usual receiver name: nothing to escape
    return "".join("\\" + c if c in _REGEXP_META else c for c in text)


def _before(a: Mapping[str, str], b: Mapping[str, str]) -> bool:
    """prometheus/common ``LabelSet.Before``: fewer labels first, then by names and values."""
    if len(a) != len(b):
        return len(a) < len(b)
    for name in sorted([*a, *b]):
        if name not in a:
            return True
        if name not in b:
            return False
        if a[name] != b[name]:
            return a[name] < b[name]
    return False


def _compare(x: Alert, y: Alert) -> int:
    """Alertmanager's ``AlertSlice.Less`` as a three-way comparison."""
    for key in ("job", "instance"):
        xv, yv = x.labels.get(key), y.labels.get(key)
        if xv is None and yv is None:
            continue
        if xv is None:
            return 1
        if yv is None:
            return -1
        if xv != yv:
            return -1 if xv < yv else 1
    if _before(x.labels, y.labels):
        return -1
    return 1 if _before(y.labels, x.labels) else 0


def sort_alerts(alerts: Sequence[Alert]) -> list[Alert]:
    """Alerts in the order Alertmanager notifies them (a stable sort)."""
    if len(alerts) < 2:
        return list(alerts)  # most groups hold one alert: no comparisons to make
    return sorted(alerts, key=cmp_to_key(_compare))


def alert_entry(alert: Alert, now: datetime) -> dict[str, Any]:
    """One element of ``alerts[]``; status is judged at ``now``, the time of the flush."""
    resolved = alert.resolved(now)
    return {
        "status": "resolved" if resolved else "firing",
        "labels": alert.labels.as_dict(),
        "annotations": alert.annotations.as_dict(),
        "startsAt": format_time(alert.starts_at),
        "endsAt": format_time(alert.ends_at if resolved else None),
        "generatorURL": alert.generator_url,
        "fingerprint": alert.fingerprint,
    }


def _common(maps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    common = maps[0]  # never changed: each step below and the result are new dicts
    for other in maps[1:]:
        if not common:
            break
        # Go reads a missing key as "", so an empty value also counts as "absent".
        common = {k: v for k, v in common.items() if other.get(k, "") == v}
    return dict(sorted(common.items()))


def _assemble(
    receiver: str,
    group_key: str,
    group_labels: Mapping[str, str],
    entries: list[dict[str, Any]],
    external_url: str,
    truncated: int,
) -> dict[str, Any]:
    firing = "firing" in [e["status"] for e in entries]
    return {
        "receiver": receiver,
        "status": "firing" if firing else "resolved",
        "alerts": entries,
        "groupLabels": dict(sorted(group_labels.items())),
        "commonLabels": _common([e["labels"] for e in entries]),
        "commonAnnotations": _common([e["annotations"] for e in entries]),
        "externalURL": external_url,
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": truncated,
    }


def build_payload(
    *,
    receiver: str,
    group_key: str,
    group_labels: Mapping[str, str],
    alerts: Sequence[Alert],
    external_url: str,
    now: datetime,
) -> dict[str, Any]:
    """The version 4 payload for ``alerts`` (already in notification order) flushed at ``now``."""
    entries = [alert_entry(a, now) for a in alerts]
    return _assemble(quote_meta(receiver), group_key, group_labels, entries, external_url, 0)


def entries_payload(
    *,
    receiver: str,
    group_key: str,
    group_labels: Mapping[str, str],
    entries: Sequence[Mapping[str, Any]],
    external_url: str,
) -> dict[str, Any]:
    """The version 4 payload for alert entries already judged (see :func:`alert_entry`)."""
    listed = [dict(e) for e in entries]
    return _assemble(quote_meta(receiver), group_key, group_labels, listed, external_url, 0)


def truncate_payload(payload: dict[str, Any], max_alerts: int) -> dict[str, Any]:
    """Keep the first ``max_alerts`` alerts (0 = all), recomputing what depends on them.

    Alertmanager truncates before building the payload, so status and the common labels
    describe only the alerts sent; ``truncatedAlerts`` counts the ones left out.
    """
    alerts: list[dict[str, Any]] = list(payload["alerts"])
    if max_alerts <= 0 or len(alerts) <= max_alerts:
        return payload
    return _assemble(
        payload["receiver"],
        payload["groupKey"],
        payload["groupLabels"],
        alerts[:max_alerts],
        payload["externalURL"],
        len(alerts) - max_alerts,
    )


def firing_count(payload: Mapping[str, Any]) -> int:
    """How many alerts of the payload are firing."""
    return sum(1 for a in payload.get("alerts", []) if a.get("status") == "firing")
