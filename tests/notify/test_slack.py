"""Slack incoming webhooks against a local server speaking Slack's documented contract."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp import web
from provider_server import Request, alert, context, message, serve, text_response

from promalert.config.receivers import SlackConfig
from promalert.errors import NotifyError
from promalert.notify.slack import SlackNotifier

HOOK_PATH = "/services/T0001/B0001/s3cr3tSlackToken"


def slack(state: dict[str, Any]) -> Any:
    """Slack's incoming webhook: POST JSON to the hook path; 200 "ok" or a short error."""

    async def handle(request: Request) -> web.StreamResponse:
        if request.method != "POST" or request.path != HOOK_PATH:
            return text_response("no_service", 404)
        if request.headers.get("Content-Type") != "application/json":
            return text_response("invalid_payload", 400)
        try:
            body = request.json
        except ValueError:
            return text_response("invalid_payload", 400)
        if not body.get("text") and not body.get("blocks") and not body.get("attachments"):
            return text_response("no_text", 400)
        if state.get("answer"):
            status, text, headers = state["answer"]
            return text_response(text, status, **headers)
        return text_response("ok")

    return handle


def notifier(session: aiohttp.ClientSession, url: str, **extra: Any) -> SlackNotifier:
    config = SlackConfig.model_validate({"api_url": url, **extra})
    return SlackNotifier(config, context(session), "team", 0)


async def test_firing_message_is_block_kit_with_colour_mention_and_ack_button() -> None:
    incident = {
        "id": 7,
        "state": "triggered",
        "level": 1,
        "priority": "P1",
        "ack_url": "http://pa/ack/t",
    }
    async with serve(slack({})) as server, aiohttp.ClientSession() as session:
        n = notifier(
            session,
            server.url(HOOK_PATH),
            channel="#ops",
            username="promalert",
            icon_emoji=":rotating_light:",
            mention="@here",
        )
        await n.notify(message(alert(), incident=incident))
    (request,) = server.requests
    assert request.method == "POST" and request.path == HOOK_PATH
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"].startswith("promalert/")
    title = "[FIRING:1] HighCPU instance=web-1 severity=critical — CPU at 97%"
    assert request.json == {
        "text": f"<!here> {title}",
        "attachments": [
            {
                "color": "#d40e0d",
                "blocks": [
                    {
                        "type": "header",
                        "text": {"type": "plain_text", "text": title, "emoji": True},
                    },
                    {
                        "type": "section",
                        "text": {
                            "type": "mrkdwn",
                            "text": "*FIRING* `HighCPU` CPU at 97%\nweb-1 is busy\n"
                            "alertname=HighCPU, instance=web-1, severity=critical "
                            "<http://prometheus:9090/graph?g0.expr=up|source>",
                        },
                    },
                    {
                        "type": "actions",
                        "elements": [
                            {
                                "type": "button",
                                "text": {"type": "plain_text", "text": "Acknowledge"},
                                "url": "http://pa/ack/t",
                                "style": "primary",
                            }
                        ],
                    },
                ],
            }
        ],
        "channel": "#ops",
        "username": "promalert",
        "icon_emoji": ":rotating_light:",
    }


async def test_resolved_is_green_without_mention_or_button() -> None:
    async with serve(slack({})) as server, aiohttp.ClientSession() as session:
        n = notifier(session, server.url(HOOK_PATH), mention="<@U024BE7LH>")
        await n.notify(message(alert(status="resolved")))
    body = server.requests[0].json
    assert body["text"] == "[RESOLVED] HighCPU instance=web-1 severity=critical — CPU at 97%"
    (attachment,) = body["attachments"]
    assert attachment["color"] == "#2eb886"
    assert [b["type"] for b in attachment["blocks"]] == ["header", "section"]


async def test_label_values_cannot_inject_mentions() -> None:
    async with serve(slack({})) as server, aiohttp.ClientSession() as session:
        await notifier(session, server.url(HOOK_PATH)).notify(message(alert(team="<!channel>")))
    text = server.requests[0].json["attachments"][0]["blocks"][1]["text"]["text"]
    assert "<!channel>" not in text and "team=&lt;!channel&gt;" in text


@pytest.mark.parametrize(
    ("status", "text", "headers", "retryable", "reason", "shown", "retry_after"),
    [
        (
            400,
            "invalid_payload",
            {},
            False,
            "http_4xx",
            "HTTP 400 Bad Request: invalid_payload",
            None,
        ),
        (
            403,
            "action_prohibited",
            {},
            False,
            "auth",
            "HTTP 403 Forbidden: action_prohibited",
            None,
        ),
        (
            410,
            "channel_is_archived",
            {},
            False,
            "http_4xx",
            "HTTP 410 Gone: channel_is_archived",
            None,
        ),
        (
            429,
            "rate_limited",
            {"Retry-After": "30"},
            True,
            "rate_limited",
            "HTTP 429 Too Many Requests: rate_limited",
            30.0,
        ),
        (
            500,
            "rollup_error",
            {},
            True,
            "http_5xx",
            "HTTP 500 Internal Server Error: rollup_error",
            None,
        ),
    ],
)
async def test_slack_errors(
    status: int,
    text: str,
    headers: dict[str, str],
    retryable: bool,
    reason: str,
    shown: str,
    retry_after: float | None,
) -> None:
    async with serve(slack({"answer": (status, text, headers)})) as server:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(NotifyError) as info:
                await notifier(session, server.url(HOOK_PATH)).notify(message())
    err = info.value
    assert (err.retryable, err.reason, err.retry_after) == (retryable, reason, retry_after)
    assert str(err) == f"slack[0] of receiver 'team': {shown}"


async def test_unknown_hook_is_not_retried() -> None:
    async with serve(slack({})) as server, aiohttp.ClientSession() as session:
        with pytest.raises(NotifyError) as info:
            await notifier(session, server.url("/services/T0001/B0001/wrong")).notify(message())
    assert (info.value.retryable, info.value.reason) == (False, "http_4xx")
    assert "no_service" in str(info.value)
