"""PagerDuty Events API v2: trigger, acknowledge and resolve one alert per group or incident.

``dedup_key`` is stable for the life of the problem, so PagerDuty folds every trigger
of a group into one alert and the resolve closes it: for escalations it names the
incident (``promalert-incident-<id>``), otherwise it is the SHA-256 of the group key,
as Alertmanager does. PagerDuty answers ``202`` with ``{"status": "success"}``, ``400``
with ``{"message": ..., "errors": [...]}`` (not retryable), ``429`` and ``5xx`` (retry).
"""

from __future__ import annotations

import hashlib
from typing import Any

from promalert.config.receivers import PagerDutyConfig
from promalert.notify.base import Message
from promalert.notify.channel import ChannelContext, TemplatedChannel, cut
from promalert.notify.http import Response
from promalert.notify.payload import format_time
from promalert.notify.template_data import TemplateData

SEVERITIES = {
    "critical": "critical",
    "high": "error",
    "error": "error",
    "warning": "warning",
    "medium": "warning",
    "low": "info",
    "info": "info",
}
"""Alert ``severity`` label -> PagerDuty severity; anything else is ``error``."""
_MAX_DETAILED_ALERTS = 20


def dedup_key(data: TemplateData) -> str:
    """The key that ties every event of one group (or incident) to one PagerDuty alert."""
    if data.incident is not None:
        return f"promalert-incident-{data.incident.id}"
    return hashlib.sha256(data.group_key.encode()).hexdigest()


def event_action(data: TemplateData) -> str:
    """``resolve`` when nothing fires, ``acknowledge`` for an acknowledged incident."""
    if data.status == "resolved":
        return "resolve"
    if data.incident is not None and data.incident.state == "acknowledged":
        return "acknowledge"
    return "trigger"


def _details(data: TemplateData) -> dict[str, Any]:
    shown = data.alerts[:_MAX_DETAILED_ALERTS]
    return {
        "firing": len(data.firing),
        "resolved": len(data.resolved),
        "group_labels": data.group_labels,
        "alerts": [
            {"status": a.status, "labels": a.labels, "annotations": a.annotations} for a in shown
        ],
        "truncated_alerts": data.truncated_alerts + len(data.alerts) - len(shown),
    }


def pagerduty_body(
    config: PagerDutyConfig, data: TemplateData, summary: str, external_url: str
) -> dict[str, Any]:
    """The event for one notification."""
    action = event_action(data)
    body: dict[str, Any] = {
        "routing_key": config.routing_key.get_secret_value(),
        "event_action": action,
        "dedup_key": dedup_key(data),
    }
    if action != "trigger":
        return body
    first = data.firing[0] if data.firing else None
    source = config.source or (first.labels.get("instance") if first else None) or config.client
    payload: dict[str, Any] = {
        "summary": cut(summary, 1024),
        "source": source,
        "severity": config.severity or SEVERITIES.get(data.severity.lower(), "error"),
        "custom_details": _details(data),
    }
    if first is not None and first.starts_at is not None:
        payload["timestamp"] = format_time(first.starts_at)
    for key, value in (
        ("component", config.component),
        ("group", config.group),
        ("class", config.class_),
    ):
        if value:
            payload[key] = value
    body["payload"] = payload
    body["client"] = config.client
    if external_url:
        body["client_url"] = external_url
    links = [
        {"href": a.generator_url, "text": f"{a.name} source"}
        for a in data.firing[:5]
        if a.generator_url.startswith(("http://", "https://"))
    ]
    if links:
        body["links"] = links
    return body


def _detail(response: Response) -> str:
    answer = response.json()
    if not isinstance(answer, dict):
        return ""
    message = str(answer.get("message", ""))
    errors = answer.get("errors")
    if isinstance(errors, list) and errors:
        message += " (" + "; ".join(str(e) for e in errors) + ")"
    return message


class PagerDutyNotifier(TemplatedChannel):
    """One ``pagerduty_configs`` entry of a receiver."""

    channel = "pagerduty"

    def __init__(
        self, config: PagerDutyConfig, context: ChannelContext, receiver: str, index: int
    ) -> None:
        """``index`` is the position among the receiver's pagerduty configs."""
        key = config.routing_key.get_secret_value()
        super().__init__(config, context, receiver, index, secrets=[key])
        self._config = config

    async def notify(self, message: Message) -> None:
        """Send the event once."""
        data, parts = self.render(message)
        body = pagerduty_body(self._config, data, parts["summary"], self._context.external_url)
        response = await self._http.post(self._config.url, json_body=body)
        self._http.check(response, "" if response.ok else _detail(response))
