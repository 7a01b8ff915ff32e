"""WeCom and DingTalk group robots against local servers speaking their documented contracts."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from provider_server import T0, Request, alert, context, json_response, message, serve

from promalert.clock import FakeClock
from promalert.config.receivers import DingTalkConfig, WeComConfig
from promalert.errors import NotifyError
from promalert.notify.dingtalk import DingTalkNotifier, sign
from promalert.notify.wecom import WeComNotifier

WECOM_KEY = "693a91f6-7xxx-4bc4-97a0-s3cr3tw3c0m"
DING_TOKEN = "d1ngt0k3ns3cr3t"
DING_SECRET = "SECs3cr3td1ngs1gn1ngk3y"
TITLE = "[FIRING:1] HighCPU instance=web-1 severity=critical — CPU at 97%"


def wecom(state: dict[str, Any]) -> Any:
    """WeCom's robot: POST /cgi-bin/webhook/send?key=KEY; always HTTP 200 with errcode."""

    async def handle(request: Request) -> web.StreamResponse:
        if request.path != "/cgi-bin/webhook/send" or request.query.get("key") != WECOM_KEY:
            return json_response({"errcode": 93000, "errmsg": "invalid webhook url"})
        if state.get("answers"):
            return json_response(state["answers"].pop(0))
        body = request.json
        if body.get("msgtype") != "markdown":
            return json_response({"errcode": 40008, "errmsg": "invalid message type"})
        if len(body["markdown"]["content"].encode()) > 4096:
            return json_response({"errcode": 40058, "errmsg": "markdown.content exceed max length"})
        return json_response({"errcode": 0, "errmsg": "ok"})

    return handle


def dingtalk(clock: FakeClock, state: dict[str, Any]) -> Any:
    """DingTalk's robot: POST /robot/send?access_token=..&timestamp=..&sign=..; errcode."""

    async def handle(request: Request) -> web.StreamResponse:
        q = request.query
        if request.path != "/robot/send" or q.get("access_token") != DING_TOKEN:
            return json_response({"errcode": 300001, "errmsg": "token is not exist"})
        timestamp = int(q.get("timestamp", "0"))
        if abs(timestamp - clock.now().timestamp() * 1000) > 3600_000:
            return json_response({"errcode": 310000, "errmsg": "invalid timestamp"})
        digest = hmac.new(
            DING_SECRET.encode(), f"{timestamp}\n{DING_SECRET}".encode(), hashlib.sha256
        ).digest()
        if q.get("sign") != base64.b64encode(digest).decode():
            return json_response({"errcode": 310000, "errmsg": "sign not match"})
        if state.get("answers"):
            return json_response(state["answers"].pop(0))
        body = request.json
        if body.get("msgtype") != "markdown" or not body["markdown"].get("title"):
            return json_response({"errcode": 400105, "errmsg": "invalid msgtype"})
        return json_response({"errcode": 0, "errmsg": "ok"})

    return handle


async def test_wecom_sends_markdown_with_mentions() -> None:
    async with serve(wecom({})) as server, aiohttp.ClientSession() as session:
        config = WeComConfig.model_validate(
            {"url": server.url(f"/cgi-bin/webhook/send?key={WECOM_KEY}"), "mentions": ["alice"]}
        )
        await WeComNotifier(config, context(session), "team", 0).notify(message())
    (request,) = server.requests
    assert request.method == "POST" and request.headers["Content-Type"] == "application/json"
    assert request.json == {
        "msgtype": "markdown",
        "markdown": {
            "content": f"### {TITLE}\n"
            '> <font color="warning">FIRING</font> **HighCPU**: CPU at 97%\n'
            '> <font color="comment">alertname=HighCPU, instance=web-1, severity=critical</font>\n'
            "\n<@alice>"
        },
    }


async def test_wecom_key_and_global_api_url_build_the_webhook() -> None:
    async with serve(wecom({})) as server, aiohttp.ClientSession() as session:
        config = WeComConfig.model_validate({"key": WECOM_KEY, "api_url": server.url("/cgi-bin/")})
        await WeComNotifier(config, context(session), "team", 0).notify(message())
    assert server.requests[0].query == {"key": WECOM_KEY}


async def test_wecom_content_is_cut_to_4096_bytes() -> None:
    msg = message(*(alert(instance=f"web-{i}", note="漢字" * 40) for i in range(40)))
    async with serve(wecom({})) as server, aiohttp.ClientSession() as session:
        config = WeComConfig.model_validate({"key": WECOM_KEY, "api_url": server.url("/cgi-bin/")})
        await WeComNotifier(config, context(session), "team", 0).notify(msg)
    content = server.requests[0].json["markdown"]["content"]
    assert len(content.encode()) <= 4096 and content.endswith("...")


@pytest.mark.parametrize(
    ("answer", "retryable", "reason"),
    [
        ({"errcode": 45009, "errmsg": "api freq out of limit"}, True, "rate_limited"),
        ({"errcode": -1, "errmsg": "system busy"}, True, "provider_error"),
        ({"errcode": 93000, "errmsg": "invalid webhook url"}, False, "auth"),
        ({"errcode": 40058, "errmsg": "content exceed max length"}, False, "provider_error"),
    ],
)
async def test_wecom_errcodes(answer: dict[str, Any], retryable: bool, reason: str) -> None:
    async with serve(wecom({"answers": [answer]})) as server, aiohttp.ClientSession() as session:
        config = WeComConfig.model_validate({"key": WECOM_KEY, "api_url": server.url("/cgi-bin/")})
        with pytest.raises(NotifyError) as info:
            await WeComNotifier(config, context(session), "team", 0).notify(message())
    assert (info.value.retryable, info.value.reason) == (retryable, reason)
    assert str(info.value) == (
        f"wecom[0] of receiver 'team': errcode {answer['errcode']}: {answer['errmsg']}"
    )


async def test_wecom_wrong_key_fails_as_auth() -> None:
    async with serve(wecom({})) as server, aiohttp.ClientSession() as session:
        config = WeComConfig.model_validate({"key": "wrong", "api_url": server.url("/cgi-bin/")})
        with pytest.raises(NotifyError) as info:
            await WeComNotifier(config, context(session), "team", 0).notify(message())
    assert (info.value.retryable, info.value.reason) == (False, "auth")


def dingtalk_notifier(
    session: aiohttp.ClientSession, clock: FakeClock, url: str, **extra: Any
) -> DingTalkNotifier:
    config = DingTalkConfig.model_validate(
        {"url": f"{url}?access_token={DING_TOKEN}", "secret": DING_SECRET, **extra}
    )
    return DingTalkNotifier(config, context(session, clock=clock), "team", 0)


async def test_dingtalk_signs_the_request_and_mentions_people() -> None:
    clock = FakeClock(T0)
    async with serve(dingtalk(clock, {})) as server, aiohttp.ClientSession() as session:
        n = dingtalk_notifier(session, clock, server.url("/robot/send"), at_mobiles=["13800000000"])
        await n.notify(message())
    (request,) = server.requests
    timestamp = int(T0.timestamp() * 1000)
    assert request.query["timestamp"] == str(timestamp)
    assert request.query["sign"] == sign(DING_SECRET, timestamp)
    assert request.json == {
        "msgtype": "markdown",
        "markdown": {
            "title": TITLE,
            "text": f"### {TITLE}\n\n- **FIRING** HighCPU: CPU at 97%\n"
            "  alertname=HighCPU, instance=web-1, severity=critical\n\n@13800000000",
        },
        "at": {"atMobiles": ["13800000000"], "atUserIds": [], "isAtAll": False},
    }


async def test_dingtalk_resolved_mentions_nobody() -> None:
    clock = FakeClock(T0)
    async with serve(dingtalk(clock, {})) as server, aiohttp.ClientSession() as session:
        n = dingtalk_notifier(session, clock, server.url("/robot/send"), at_all=True)
        await n.notify(message(alert(status="resolved")))
    body = server.requests[0].json
    assert body["at"] == {"atMobiles": [], "atUserIds": [], "isAtAll": False}
    assert "@" not in body["markdown"]["text"]


async def test_dingtalk_rejects_a_stale_signature() -> None:
    provider_clock, our_clock = FakeClock(T0), FakeClock(T0)
    our_clock.advance(-7200)  # our clock two hours behind DingTalk's
    async with serve(dingtalk(provider_clock, {})) as server, aiohttp.ClientSession() as session:
        with pytest.raises(NotifyError) as info:
            await dingtalk_notifier(session, our_clock, server.url("/robot/send")).notify(message())
    assert (info.value.retryable, info.value.reason) == (False, "auth")
    assert str(info.value) == "dingtalk[0] of receiver 'team': errcode 310000: invalid timestamp"


@pytest.mark.parametrize(
    ("answer", "retryable", "reason"),
    [
        (
            {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"},
            True,
            "rate_limited",
        ),
        ({"errcode": 310000, "errmsg": "keywords not in content"}, False, "auth"),
        ({"errcode": 400105, "errmsg": "invalid msgtype"}, False, "provider_error"),
    ],
)
async def test_dingtalk_errcodes(answer: dict[str, Any], retryable: bool, reason: str) -> None:
    clock = FakeClock(T0)
    state = {"answers": [answer]}
    async with serve(dingtalk(clock, state)) as server, aiohttp.ClientSession() as session:
        with pytest.raises(NotifyError) as info:
            await dingtalk_notifier(session, clock, server.url("/robot/send")).notify(message())
    assert (info.value.retryable, info.value.reason) == (retryable, reason)


async def test_robot_http_errors_still_classify() -> None:
    async def down(request: Request) -> web.StreamResponse:
        return json_response({"errcode": -1, "errmsg": "system busy"}, 502)

    async with serve(down) as server, aiohttp.ClientSession() as session:
        config = WeComConfig.model_validate({"key": WECOM_KEY, "api_url": server.url("/cgi-bin/")})
        with pytest.raises(NotifyError) as info:
            await WeComNotifier(config, context(session), "team", 0).notify(message())
    assert (info.value.retryable, info.value.reason) == (True, "http_5xx")
