"""The one stable data object every notification template sees, built from the v4 payload.

Templates get the fields of :class:`TemplateData` as top-level names::

    {{ status }}  {{ title }}  {{ receiver }}  {{ priority }}  {{ severity }}
    {% for alert in firing %}{{ alert.name }} {{ alert.labels.instance }}{% endfor %}
    {{ common_labels.job }}  {{ group_labels }}  {{ external_url }}  {{ ack_url }}

Fields are only ever added, never renamed or removed, so user templates keep working.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from promalert.config.priorities import DEFAULT_SEVERITIES, PRIORITIES
from promalert.notify.file import summary_line
from promalert.notify.payload import ZERO_TIME


def default_priority(labels: Mapping[str, str]) -> str:
    """The alert's priority: its ``priority`` label if it is P1..P5, else SPEC §5's default
    mapping of its ``severity`` label (critical P1, high P2, warning/medium P3, low P4, P5)."""
    given = labels.get("priority", "")
    if given in PRIORITIES:
        return given
    return DEFAULT_SEVERITIES.get(labels.get("severity", "").lower(), "P5")


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text or text == ZERO_TIME:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _strings(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in value.items()}


@dataclass(frozen=True, slots=True)
class AlertData:
    """One alert of the notification."""

    status: str
    name: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime | None
    ends_at: datetime | None
    generator_url: str
    fingerprint: str
    severity: str
    priority: str
    # The ``summary`` annotation, else ``description``, else "".
    summary: str
    description: str


@dataclass(frozen=True, slots=True)
class IncidentData:
    """The incident an escalation notification belongs to."""

    id: int
    state: str
    level: int
    priority: str
    ack_url: str


@dataclass(frozen=True, slots=True)
class TemplateData:
    """Everything a template may use; see the module docstring."""

    receiver: str
    status: str
    title: str
    alerts: tuple[AlertData, ...]
    firing: tuple[AlertData, ...]
    resolved: tuple[AlertData, ...]
    group_labels: dict[str, str]
    common_labels: dict[str, str]
    common_annotations: dict[str, str]
    external_url: str
    group_key: str
    truncated_alerts: int
    severity: str
    priority: str
    incident: IncidentData | None = None
    ack_url: str | None = None
    # How many notifications a digest combines (0: not a digest).
    digest: int = 0

    def variables(self) -> dict[str, Any]:
        """The top-level template variables (shallow: nested values stay objects)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _alert(raw: Mapping[str, Any]) -> AlertData:
    labels = _strings(raw.get("labels"))
    annotations = _strings(raw.get("annotations"))
    description = annotations.get("description", "")
    return AlertData(
        status=str(raw.get("status", "firing")),
        name=labels.get("alertname", ""),
        labels=labels,
        annotations=annotations,
        starts_at=_time(raw.get("startsAt")),
        ends_at=_time(raw.get("endsAt")),
        generator_url=str(raw.get("generatorURL", "")),
        fingerprint=str(raw.get("fingerprint", "")),
        severity=labels.get("severity", ""),
        priority=default_priority(labels),
        summary=annotations.get("summary") or description,
        description=description,
    )


def _incident(raw: Any) -> IncidentData | None:
    if not isinstance(raw, Mapping):
        return None
    try:
        return IncidentData(
            id=int(raw.get("id", 0)),
            state=str(raw.get("state", "")),
            level=int(raw.get("level", 0)),
            priority=str(raw.get("priority", "")),
            ack_url=str(raw.get("ack_url", "")),
        )
    except (TypeError, ValueError):
        return None


def template_data(receiver: str, payload: Mapping[str, Any]) -> TemplateData:
    """Build the template data of a v4 payload sent to ``receiver``."""
    raw_alerts = payload.get("alerts")
    alerts = (
        tuple(_alert(a) for a in raw_alerts if isinstance(a, Mapping))
        if isinstance(raw_alerts, list)
        else ()
    )
    firing = tuple(a for a in alerts if a.status == "firing")
    resolved = tuple(a for a in alerts if a.status != "firing")
    # The most urgent alert speaks for the notification: firing ones first.
    ranked = sorted(firing or alerts, key=lambda a: a.priority)
    top = ranked[0] if ranked else None
    incident = _incident(payload.get("incident"))
    digest = payload.get("digest")
    return TemplateData(
        receiver=receiver,
        status="firing" if firing else "resolved",
        title=summary_line(dict(payload)),
        alerts=alerts,
        firing=firing,
        resolved=resolved,
        group_labels=_strings(payload.get("groupLabels")),
        common_labels=_strings(payload.get("commonLabels")),
        common_annotations=_strings(payload.get("commonAnnotations")),
        external_url=str(payload.get("externalURL", "")),
        group_key=str(payload.get("groupKey", "")),
        truncated_alerts=int(payload.get("truncatedAlerts", 0) or 0),
        severity=top.severity if top else "",
        priority=incident.priority
        if incident and incident.priority
        else (top.priority if top else "P5"),
        incident=incident,
        ack_url=incident.ack_url if incident and incident.ack_url else None,
        digest=int(digest.get("notifications", 0)) if isinstance(digest, Mapping) else 0,
    )
