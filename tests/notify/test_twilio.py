"""Twilio SMS and voice against a local server speaking Twilio's REST contract."""

from __future__ import annotations

import base64
import itertools
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from provider_server import Request, alert, context, json_response, message, serve

from promalert.config.receivers import SMSConfig, VoiceConfig
from promalert.errors import NotifyError
from promalert.notify.base import Receipt
from promalert.notify.twilio import (
    SMSNotifier,
    VoiceNotifier,
    callback_status,
    signature,
    sms_parts,
    twiml,
    valid_signature,
)

SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "tw1l10-auth-t0ken-s3cr3t"


def twilio(state: dict[str, Any]) -> Any:
    """Twilio's REST API: basic auth, form bodies, 201 with a sid, JSON errors with codes."""
    sids = itertools.count(1)

    async def handle(request: Request) -> web.StreamResponse:
        expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return json_response(
                {"code": 20003, "message": "Authenticate", "more_info": "", "status": 401}, 401
            )
        resource = request.path.removeprefix(f"/2010-04-01/Accounts/{SID}/")
        if request.method != "POST" or resource not in ("Messages.json", "Calls.json"):
            return json_response({"code": 20404, "message": "Not found", "status": 404}, 404)
        if request.headers.get("Content-Type") != "application/x-www-form-urlencoded":
            return json_response({"code": 20001, "message": "bad content type", "status": 400}, 400)
        form = request.form
        script = state.get("answers", {})
        if form.get("To") in script and script[form["To"]]:
            data, status = script[form["To"]].pop(0)
            return json_response(data, status)
        if not form.get("To", "").startswith("+"):
            return json_response(
                {"code": 21211, "message": "The 'To' number is not valid.", "status": 400}, 400
            )
        if resource == "Messages.json" and not form.get("Body"):
            return json_response(
                {"code": 21602, "message": "Message body is required.", "status": 400}, 400
            )
        if resource == "Calls.json" and not (form.get("Twiml") or form.get("Url")):
            return json_response(
                {"code": 21205, "message": "Url or Twiml is required", "status": 400}, 400
            )
        prefix = "SM" if resource == "Messages.json" else "CA"
        return json_response({"sid": f"{prefix}{next(sids):032d}", "status": "queued"}, 201)

    return handle


def sms(session: aiohttp.ClientSession, base: str, **extra: Any) -> SMSNotifier:
    config = SMSConfig.model_validate(
        {
            "api_url": base,
            "account_sid": SID,
            "auth_token": TOKEN,
            "from": "+15550000",
            "to": ["+15550001"],
            **extra,
        }
    )
    return SMSNotifier(config, context(session), "team", 0)


async def test_sms_is_a_form_post_with_basic_auth_and_status_callback() -> None:
    async with serve(twilio({})) as server, aiohttp.ClientSession() as session:
        receipt = await sms(session, server.url(), to=["+15550001", "+15550002"]).notify(message())
    assert [r.path for r in server.requests] == [f"/2010-04-01/Accounts/{SID}/Messages.json"] * 2
    title = "[FIRING:1] HighCPU instance=web-1 severity=critical — CPU at 97%"
    assert [r.form for r in server.requests] == [
        {
            "To": to,
            "From": "+15550000",
            "Body": title,
            "StatusCallback": "http://promalert.example/api/v1/twilio/status",
        }
        for to in ("+15550001", "+15550002")
    ]
    assert receipt == Receipt(((f"SM{1:032d}", "+15550001"), (f"SM{2:032d}", "+15550002")))


async def test_long_sms_is_split_into_numbered_parts() -> None:
    msg = message(alert())
    msg.payload["alerts"][0]["annotations"]["summary"] = "word " * 100
    msg.payload["commonAnnotations"] = {}
    async with serve(twilio({})) as server, aiohttp.ClientSession() as session:
        await sms(session, server.url(), overflow="split", max_parts=3).notify(msg)
    bodies = [r.form["Body"] for r in server.requests]
    assert len(bodies) == 3
    assert [b[:6] for b in bodies] == ["(1/3) ", "(2/3) ", "(3/3) "]
    assert all(len(b) <= 160 for b in bodies)
    assert bodies[-1].endswith("...")


def test_sms_parts_truncate_or_split() -> None:
    text = "alpha beta gamma delta " * 10
    (cut,) = sms_parts(text, 50, "truncate", 4)
    assert len(cut) == 50 and cut.endswith("...")
    parts = sms_parts(text, 50, "split", 10)
    assert all(len(p) <= 50 for p in parts)
    assert " ".join(p.split(") ", 1)[1] for p in parts) == " ".join(text.split())
    assert sms_parts("short", 160, "split", 4) == ["short"]


async def test_a_retry_after_partial_failure_texts_only_the_rest() -> None:
    state = {
        "answers": {"+15550002": [({"code": 20500, "message": "Internal", "status": 500}, 500)]}
    }
    async with serve(twilio(state)) as server, aiohttp.ClientSession() as session:
        n = sms(session, server.url(), to=["+15550001", "+15550002"])
        with pytest.raises(NotifyError) as info:
            await n.notify(message())
        assert (info.value.retryable, info.value.reason) == (True, "http_5xx")
        receipt = await n.notify(message())
    assert [r.form["To"] for r in server.requests] == ["+15550001", "+15550002", "+15550002"]
    assert [to for _, to in receipt.provider_ids] == ["+15550001", "+15550002"]


@pytest.mark.parametrize(
    ("answer", "status", "retryable", "reason", "shown"),
    [
        (
            {"code": 21211, "message": "The 'To' number is not valid.", "status": 400},
            400,
            False,
            "provider_error",
            "Twilio error 21211: The 'To' number is not valid.",
        ),
        (
            {"code": 20003, "message": "Authenticate", "status": 401},
            401,
            False,
            "auth",
            "HTTP 401: Twilio error 20003: Authenticate",
        ),
        (
            {"code": 20429, "message": "Too Many Requests", "status": 429},
            429,
            True,
            "rate_limited",
            "HTTP 429 Too Many Requests: Twilio error 20429: Too Many Requests",
        ),
        (
            {"code": 20500, "message": "Internal Server Error", "status": 500},
            500,
            True,
            "http_5xx",
            "HTTP 500 Internal Server Error: Twilio error 20500: Internal Server Error",
        ),
    ],
)
async def test_twilio_errors(
    answer: dict[str, Any], status: int, retryable: bool, reason: str, shown: str
) -> None:
    state = {"answers": {"+15550001": [(answer, status)]}}
    async with serve(twilio(state)) as server, aiohttp.ClientSession() as session:
        with pytest.raises(NotifyError) as info:
            await sms(session, server.url()).notify(message())
    assert (info.value.retryable, info.value.reason) == (retryable, reason)
    assert str(info.value) == f"sms[0] of receiver 'team': {shown}"


async def test_wrong_token_is_an_auth_failure() -> None:
    async with serve(twilio({})) as server, aiohttp.ClientSession() as session:
        config = SMSConfig.model_validate(
            {
                "api_url": server.url(),
                "account_sid": SID,
                "auth_token": "wrong",
                "from": "+1",
                "to": "+15550001",
            }
        )
        with pytest.raises(NotifyError) as info:
            await SMSNotifier(config, context(session), "team", 0).notify(message())
    assert (info.value.retryable, info.value.reason) == (False, "auth")


async def test_voice_call_reads_the_message_repeatedly_in_the_language() -> None:
    async with serve(twilio({})) as server, aiohttp.ClientSession() as session:
        config = VoiceConfig.model_validate(
            {
                "api_url": server.url(),
                "account_sid": SID,
                "auth_token": TOKEN,
                "from": "+15550000",
                "to": ["+15550001"],
                "language": "de-DE",
                "voice": "Polly.Marlene",
                "repeat": 2,
                "status_callback": False,
            }
        )
        receipt = await VoiceNotifier(config, context(session), "team", 0).notify(message())
    (request,) = server.requests
    assert request.path == f"/2010-04-01/Accounts/{SID}/Calls.json"
    say = (
        '<Say language="de-DE" voice="Polly.Marlene">This is promalert. 1 alert is firing, '
        "priority P1. HighCPU: CPU at 97%.</Say>"
    )
    assert request.form == {
        "To": "+15550001",
        "From": "+15550000",
        "Twiml": f'<Response>{say}<Pause length="1"/>{say}</Response>',
    }
    assert receipt.provider_ids == ((f"CA{1:032d}", "+15550001"),)


async def test_no_status_callback_to_a_loopback_external_url() -> None:
    async with serve(twilio({})) as server, aiohttp.ClientSession() as session:
        config = SMSConfig.model_validate(
            {
                "api_url": server.url(),
                "account_sid": SID,
                "auth_token": TOKEN,
                "from": "+1",
                "to": "+2",
            }
        )
        ctx = context(session, external_url="http://127.0.0.1:9099")
        await SMSNotifier(config, ctx, "team", 0).notify(message())
    assert "StatusCallback" not in server.requests[0].form


def test_twiml_escapes_text() -> None:
    assert twiml("a < b & c", "en-US", None, 1) == (
        '<Response><Say language="en-US">a &lt; b &amp; c</Say></Response>'
    )


def test_signature_matches_twilios_published_example() -> None:
    # The example of Twilio's "Webhooks security" documentation.
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    assert signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert valid_signature("12345", url, params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert not valid_signature(
        "12345", url, {**params, "Digits": "9"}, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    )


def test_callback_status_maps_message_and_call_statuses() -> None:
    assert callback_status({"MessageSid": "SM1", "MessageStatus": "delivered"}) == (
        "SM1",
        "delivered",
    )
    assert callback_status({"MessageSid": "SM1", "MessageStatus": "undelivered"}) == (
        "SM1",
        "failed",
    )
    assert callback_status({"CallSid": "CA1", "CallStatus": "completed"}) == ("CA1", "delivered")
    assert callback_status({"CallSid": "CA1", "CallStatus": "no-answer"}) == ("CA1", "failed")
    assert callback_status({"CallSid": "CA1", "CallStatus": "weird"}) is None
    assert callback_status({}) is None


def test_incident_calls_gather_a_key_that_posts_back_to_promalert() -> None:
    from promalert.notify.twilio import gather_url, twiml

    url = gather_url("https://pa.example.com/", {"id": 7, "user": "alice", "level": 2})
    assert url == "https://pa.example.com/api/v1/twilio/voice?incident=7&user=alice"
    spoken = twiml("Disk full & rising", "en-US", None, 1, url)
    assert spoken == (
        '<Response><Gather numDigits="1" method="POST" '
        'action="https://pa.example.com/api/v1/twilio/voice?incident=7&amp;user=alice">'
        '<Say language="en-US">Disk full &amp; rising</Say>'
        '<Say language="en-US">Press 1 to acknowledge, or 2 to resolve.</Say>'
        "</Gather></Response>"
    )
    assert gather_url("https://pa.example.com", None) is None
    assert "<Gather" not in twiml("x", "en-US", None, 2)


def test_incident_sms_says_how_to_reply() -> None:
    from promalert.notify.template_data import template_data
    from promalert.notify.templates import Templates

    payload = {
        "version": "4",
        "status": "firing",
        "receiver": "user:alice",
        "alerts": [{"status": "firing", "labels": {"alertname": "DiskFull"}, "annotations": {}}],
        "groupLabels": {"alertname": "DiskFull"},
        "commonLabels": {"alertname": "DiskFull"},
        "commonAnnotations": {},
        "incident": {
            "id": 12,
            "state": "triggered",
            "level": 1,
            "priority": "P1",
            "ack_url": "https://pa.example.com/ack/abc",
        },
    }
    data = template_data("user:alice", payload)
    parts = Templates().render("sms", data, payload)
    text = " ".join(parts["text"].split())
    assert "Reply ACK 12 or RESOLVE 12." in text
    assert text.endswith("Ack: https://pa.example.com/ack/abc")
