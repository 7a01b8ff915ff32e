"""Teams workflows, Telegram and Discord against local servers speaking their contracts."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp import web
from provider_server import Request, alert, context, json_response, message, serve

from promalert.config.receivers import DiscordConfig, TeamsConfig, TelegramConfig
from promalert.errors import NotifyError
from promalert.notify.discord import DiscordNotifier
from promalert.notify.teams import TeamsNotifier
from promalert.notify.telegram import TelegramNotifier, fit

TITLE = "[FIRING:1] HighCPU instance=web-1 severity=critical — CPU at 97%"
TEAMS_PATH = "/workflows/abc/triggers/manual/paths/invoke"
TEAMS_SIG = "sig=s3cr3tTeamsSignature"
BOT_TOKEN = "123456:ABC-s3cr3tTelegramToken"
DISCORD_PATH = "/api/webhooks/1234/s3cr3tDiscordToken"
INCIDENT = {
    "id": 3,
    "state": "triggered",
    "level": 1,
    "priority": "P1",
    "ack_url": "http://pa/ack/t",
}


def teams(state: dict[str, Any]) -> Any:
    """A Power Automate workflow trigger: POST with sig; 202 for a message with a card."""

    async def handle(request: Request) -> web.StreamResponse:
        if request.path != TEAMS_PATH or request.query.get("sig") != "s3cr3tTeamsSignature":
            return json_response(
                {"error": {"code": "DirectApiAuthorizationRequired", "message": "bad signature"}},
                401,
            )
        if state.get("answers"):
            data, status = state["answers"].pop(0)
            return json_response(data, status)
        body = request.json
        attachments = body.get("attachments")
        if body.get("type") != "message" or not isinstance(attachments, list):
            return json_response(
                {"error": {"code": "InvalidRequestContent", "message": "bad"}}, 400
            )
        if attachments[0].get("contentType") != "application/vnd.microsoft.card.adaptive":
            return json_response(
                {"error": {"code": "InvalidRequestContent", "message": "bad"}}, 400
            )
        return web.Response(status=202)

    return handle


async def test_teams_posts_an_adaptive_card() -> None:
    async with serve(teams({})) as server, aiohttp.ClientSession() as session:
        config = TeamsConfig.model_validate({"url": server.url(f"{TEAMS_PATH}?{TEAMS_SIG}")})
        await TeamsNotifier(config, context(session), "team", 0).notify(message(incident=INCIDENT))
    (request,) = server.requests
    assert request.headers["Content-Type"] == "application/json"
    assert request.json == {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "msteams": {"width": "Full"},
                    "body": [
                        {
                            "type": "TextBlock",
                            "text": TITLE,
                            "weight": "Bolder",
                            "size": "Medium",
                            "wrap": True,
                            "color": "Attention",
                        },
                        {
                            "type": "TextBlock",
                            "text": "- **FIRING** HighCPU: CPU at 97% "
                            "(alertname=HighCPU, instance=web-1, severity=critical)",
                            "wrap": True,
                        },
                        {
                            "type": "FactSet",
                            "facts": [
                                {"title": "alertname", "value": "HighCPU"},
                                {"title": "instance", "value": "web-1"},
                                {"title": "severity", "value": "critical"},
                            ],
                        },
                    ],
                    "actions": [
                        {"type": "Action.OpenUrl", "title": "Acknowledge", "url": "http://pa/ack/t"}
                    ],
                },
            }
        ],
    }


@pytest.mark.parametrize(
    ("url_path", "answers", "retryable", "reason", "shown"),
    [
        (f"{TEAMS_PATH}?sig=wrong", [], False, "auth", "HTTP 401 Unauthorized: bad signature"),
        (
            f"{TEAMS_PATH}?{TEAMS_SIG}",
            [({"error": {"code": "WorkflowTriggerIsNotEnabled", "message": "disabled"}}, 400)],
            False,
            "http_4xx",
            "HTTP 400 Bad Request: disabled",
        ),
        (
            f"{TEAMS_PATH}?{TEAMS_SIG}",
            [({}, 429)],
            True,
            "rate_limited",
            "HTTP 429 Too Many Requests",
        ),
        (f"{TEAMS_PATH}?{TEAMS_SIG}", [({}, 502)], True, "http_5xx", "HTTP 502 Bad Gateway"),
    ],
)
async def test_teams_errors(
    url_path: str, answers: list[Any], retryable: bool, reason: str, shown: str
) -> None:
    async with serve(teams({"answers": answers})) as server, aiohttp.ClientSession() as session:
        config = TeamsConfig.model_validate({"url": server.url(url_path)})
        with pytest.raises(NotifyError) as info:
            await TeamsNotifier(config, context(session), "team", 0).notify(message())
    assert (info.value.retryable, info.value.reason) == (retryable, reason)
    assert str(info.value) == f"teams[0] of receiver 'team': {shown}"


def telegram(state: dict[str, Any]) -> Any:
    """The Bot API: POST /bot<token>/sendMessage; {"ok": ...} with error_code/description."""

    async def handle(request: Request) -> web.StreamResponse:
        if request.path != f"/bot{BOT_TOKEN}/sendMessage":
            return json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, 401
            )
        if state.get("answers"):
            data = state["answers"].pop(0)
            return json_response(data, data["error_code"])
        body = request.json
        if body.get("chat_id") != -100123:
            return json_response(
                {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}, 400
            )
        if "<" in body["text"].replace("<b>", "").replace("</b>", "").replace("<code>", "").replace(
            "</code>", ""
        ).replace('<a href="http://pa/ack/t">', "").replace("</a>", ""):
            return json_response(
                {
                    "ok": False,
                    "error_code": 400,
                    "description": "Bad Request: can't parse entities",
                },
                400,
            )
        return json_response({"ok": True, "result": {"message_id": 5, "chat": {"id": -100123}}})

    return handle


def telegram_notifier(session: aiohttp.ClientSession, base: str, **extra: Any) -> TelegramNotifier:
    config = TelegramConfig.model_validate(
        {"api_url": base, "bot_token": BOT_TOKEN, "chat_id": -100123, **extra}
    )
    return TelegramNotifier(config, context(session), "team", 0)


async def test_telegram_send_message_html_escaped() -> None:
    msg = message(alert(note="x"))
    msg.payload["alerts"][0]["annotations"]["summary"] = "load <5 & rising"
    msg.payload["commonAnnotations"] = {}
    async with serve(telegram({})) as server, aiohttp.ClientSession() as session:
        await telegram_notifier(session, server.url(), message_thread_id=9).notify(msg)
    (request,) = server.requests
    title = "[FIRING:1] HighCPU instance=web-1 note=x severity=critical — load &lt;5 &amp; rising"
    assert request.json == {
        "chat_id": -100123,
        "text": f"<b>{title}</b>\n<b>FIRING</b> HighCPU: load &lt;5 &amp; rising\n"
        "<code>alertname=HighCPU, instance=web-1, note=x, severity=critical</code>",
        "parse_mode": "HTML",
        "disable_notification": False,
        "link_preview_options": {"is_disabled": True},
        "message_thread_id": 9,
    }


@pytest.mark.parametrize(
    ("answer", "retryable", "reason", "retry_after"),
    [
        (
            {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"},
            False,
            "http_4xx",
            None,
        ),
        (
            {
                "ok": False,
                "error_code": 403,
                "description": "Forbidden: bot was blocked by the user",
            },
            False,
            "auth",
            None,
        ),
        (
            {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 7",
                "parameters": {"retry_after": 7},
            },
            True,
            "rate_limited",
            7.0,
        ),
        ({"ok": False, "error_code": 502, "description": "Bad Gateway"}, True, "http_5xx", None),
    ],
)
async def test_telegram_errors(
    answer: dict[str, Any], retryable: bool, reason: str, retry_after: float | None
) -> None:
    async with serve(telegram({"answers": [answer]})) as server, aiohttp.ClientSession() as session:
        with pytest.raises(NotifyError) as info:
            await telegram_notifier(session, server.url()).notify(message())
    err = info.value
    assert (err.retryable, err.reason, err.retry_after) == (retryable, reason, retry_after)
    assert answer["description"] in str(err)


def test_telegram_text_is_cut_at_a_line() -> None:
    text = "\n".join(f"<b>line {i}</b>" for i in range(1000))
    cut = fit(text)
    assert len(cut) <= 4096 and cut.endswith("</b>\n...")


def discord(state: dict[str, Any]) -> Any:
    """Discord's execute-webhook: 204 No Content, or {code, message}; 429 with retry_after."""

    async def handle(request: Request) -> web.StreamResponse:
        if request.path != DISCORD_PATH:
            return json_response({"message": "Unknown Webhook", "code": 10015}, 404)
        if state.get("answers"):
            data, status, headers = state["answers"].pop(0)
            return json_response(data, status, **headers)
        body = request.json
        if not body.get("content") and not body.get("embeds"):
            return json_response({"message": "Cannot send an empty message", "code": 50006}, 400)
        return web.Response(status=204)

    return handle


async def test_discord_sends_one_embed_without_mentions() -> None:
    async with serve(discord({})) as server, aiohttp.ClientSession() as session:
        config = DiscordConfig.model_validate(
            {"url": server.url(DISCORD_PATH), "username": "promalert"}
        )
        await DiscordNotifier(config, context(session), "team", 0).notify(
            message(incident=INCIDENT)
        )
    (request,) = server.requests
    assert request.json == {
        "embeds": [
            {
                "title": TITLE,
                "description": "**FIRING** HighCPU: CPU at 97%\n"
                "`alertname=HighCPU, instance=web-1, severity=critical`\n"
                "[Acknowledge](http://pa/ack/t)",
                "color": 0xD40E0D,
                "fields": [
                    {"name": "alertname", "value": "HighCPU", "inline": True},
                    {"name": "instance", "value": "web-1", "inline": True},
                    {"name": "severity", "value": "critical", "inline": True},
                ],
                "footer": {"text": "promalert"},
                "url": "http://pa/ack/t",
                "timestamp": "2026-01-05T09:00:00Z",
            }
        ],
        "allowed_mentions": {"parse": []},
        "username": "promalert",
    }


@pytest.mark.parametrize(
    ("path", "answers", "retryable", "reason", "retry_after"),
    [
        ("/api/webhooks/1234/wrong", [], False, "http_4xx", None),
        (
            DISCORD_PATH,
            [
                (
                    {"message": "You are being rate limited.", "retry_after": 0.5, "global": False},
                    429,
                    {"Retry-After": "1"},
                )
            ],
            True,
            "rate_limited",
            0.5,
        ),
        (DISCORD_PATH, [({"message": "Internal", "code": 0}, 500, {})], True, "http_5xx", None),
    ],
)
async def test_discord_errors(
    path: str, answers: list[Any], retryable: bool, reason: str, retry_after: float | None
) -> None:
    async with serve(discord({"answers": answers})) as server, aiohttp.ClientSession() as session:
        config = DiscordConfig.model_validate({"url": server.url(path)})
        with pytest.raises(NotifyError) as info:
            await DiscordNotifier(config, context(session), "team", 0).notify(message())
    err = info.value
    assert (err.retryable, err.reason, err.retry_after) == (retryable, reason, retry_after)
