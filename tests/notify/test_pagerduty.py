"""PagerDuty Events API v2 against a local server speaking its documented contract."""

from __future__ import annotations

import hashlib
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from provider_server import Request, alert, context, json_response, message, serve

from promalert.config.receivers import PagerDutyConfig
from promalert.errors import NotifyError
from promalert.notify.pagerduty import PagerDutyNotifier

ROUTING_KEY = "R0UT1NGKEYs3cr3t0000000000000000"
GROUP_KEY = '{}:{alertname="HighCPU"}'


def events_api(state: dict[str, Any]) -> Any:
    """POST /v2/enqueue: 202 success, 400 invalid event (with errors), 429, 5xx."""

    async def handle(request: Request) -> web.StreamResponse:
        if request.method != "POST" or request.path != "/v2/enqueue":
            return json_response({"status": "not found"}, 404)
        if "answer" in state:
            data, status = state["answer"]
            return json_response(data, status)
        event = request.json
        errors = []
        if len(event.get("routing_key", "")) != 32:
            errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
        if event.get("event_action") not in ("trigger", "acknowledge", "resolve"):
            errors.append("'event_action' is invalid")
        if event.get("event_action") == "trigger":
            payload = event.get("payload", {})
            for field in ("summary", "source", "severity"):
                if not payload.get(field):
                    errors.append(f"'payload.{field}' is missing or blank")
            if payload.get("severity") not in ("critical", "error", "warning", "info"):
                errors.append("'payload.severity' is invalid")
        if errors:
            return json_response(
                {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
                400,
            )
        return json_response(
            {"status": "success", "message": "Event processed", "dedup_key": event["dedup_key"]},
            202,
        )

    return handle


def notifier(session: aiohttp.ClientSession, url: str, **extra: Any) -> PagerDutyNotifier:
    config = PagerDutyConfig.model_validate({"url": url, "routing_key": ROUTING_KEY, **extra})
    return PagerDutyNotifier(config, context(session), "team", 0)


async def test_trigger_event() -> None:
    async with serve(events_api({})) as server, aiohttp.ClientSession() as session:
        await notifier(session, server.url("/v2/enqueue"), component="cpu").notify(message())
    (request,) = server.requests
    assert request.headers["Content-Type"] == "application/json"
    assert request.json == {
        "routing_key": ROUTING_KEY,
        "event_action": "trigger",
        "dedup_key": hashlib.sha256(GROUP_KEY.encode()).hexdigest(),
        "payload": {
            "summary": "[FIRING:1] HighCPU instance=web-1 severity=critical — CPU at 97%",
            "source": "web-1",
            "severity": "critical",
            "timestamp": "2026-01-05T09:00:00Z",
            "component": "cpu",
            "custom_details": {
                "firing": 1,
                "resolved": 0,
                "group_labels": {"alertname": "HighCPU"},
                "alerts": [
                    {
                        "status": "firing",
                        "labels": {
                            "alertname": "HighCPU",
                            "instance": "web-1",
                            "severity": "critical",
                        },
                        "annotations": {"summary": "CPU at 97%", "description": "web-1 is busy"},
                    }
                ],
                "truncated_alerts": 0,
            },
        },
        "client": "promalert",
        "client_url": "http://promalert.example",
        "links": [{"href": "http://prometheus:9090/graph?g0.expr=up", "text": "HighCPU source"}],
    }


async def test_resolve_and_acknowledge_use_the_same_stable_dedup_key() -> None:
    incident = {"id": 12, "state": "acknowledged", "level": 1, "priority": "P1", "ack_url": "x"}
    async with serve(events_api({})) as server, aiohttp.ClientSession() as session:
        n = notifier(session, server.url("/v2/enqueue"))
        await n.notify(message(alert()))
        await n.notify(message(alert(status="resolved")))
        await n.notify(message(alert(), incident=incident))
        await n.notify(message(alert(status="resolved"), incident=incident))
    bodies = [r.json for r in server.requests]
    key = hashlib.sha256(GROUP_KEY.encode()).hexdigest()
    assert [(b["event_action"], b["dedup_key"]) for b in bodies] == [
        ("trigger", key),
        ("resolve", key),
        ("acknowledge", "promalert-incident-12"),
        ("resolve", "promalert-incident-12"),
    ]
    assert bodies[1] == {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": key}


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        ("critical", "critical"),
        ("high", "error"),
        ("warning", "warning"),
        ("low", "info"),
        ("x", "error"),
    ],
)
async def test_severity_follows_the_label_unless_configured(severity: str, expected: str) -> None:
    async with serve(events_api({})) as server, aiohttp.ClientSession() as session:
        await notifier(session, server.url("/v2/enqueue")).notify(message(alert(severity=severity)))
        await notifier(session, server.url("/v2/enqueue"), severity="info").notify(message())
    assert server.requests[0].json["payload"]["severity"] == expected
    assert server.requests[1].json["payload"]["severity"] == "info"


async def test_invalid_event_is_not_retried_and_says_why() -> None:
    async with serve(events_api({})) as server, aiohttp.ClientSession() as session:
        config = PagerDutyConfig.model_validate(
            {"url": server.url("/v2/enqueue"), "routing_key": "short"}
        )
        with pytest.raises(NotifyError) as info:
            await PagerDutyNotifier(config, context(session), "team", 0).notify(message())
    assert (info.value.retryable, info.value.reason) == (False, "http_4xx")
    assert str(info.value) == (
        "pagerduty[0] of receiver 'team': HTTP 400 Bad Request: Event object is invalid "
        "(Length of 'routing_key' is incorrect (should be 32 characters))"
    )


@pytest.mark.parametrize(
    ("status", "retryable", "reason"),
    [(429, True, "rate_limited"), (500, True, "http_5xx"), (503, True, "http_5xx")],
)
async def test_throttling_and_server_errors_are_retried(
    status: int, retryable: bool, reason: str
) -> None:
    state = {"answer": ({"status": "error", "message": "try later"}, status)}
    async with serve(events_api(state)) as server, aiohttp.ClientSession() as session:
        with pytest.raises(NotifyError) as info:
            await notifier(session, server.url("/v2/enqueue")).notify(message())
    assert (info.value.retryable, info.value.reason) == (retryable, reason)
