"""Secrets never reach logs, error messages, the outbox, metrics or API output.

Every channel is run through the delivery worker against a provider that echoes the
whole request (path, query, Authorization header, body) back in its error text, the
worst case: whatever the provider says is quoted in errors, so masking must hold.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import generate_latest
from provider_server import T0, Request, json_response, message, serve

from promalert.clock import FakeClock
from promalert.config.receivers import ReceiverConfig
from promalert.errors import NotifyError
from promalert.metrics import Metrics
from promalert.notify.base import Notifier
from promalert.notify.delivery_api import notification_json
from promalert.notify.dingtalk import sign
from promalert.notify.outbox import DeliveryWorker
from promalert.notify.registry import build_notifiers, delivery_policies
from promalert.store import NewNotification, NflogEntry, NflogKey, Store

TOKEN = "tok3n-0123456789abcdefXYZ"
SECRET = "s3cr3t-abcdefghijklmnopQRS"
SID = "AC0123456789abcdef0123456789abcdef"
B64_CREDENTIALS = __import__("base64").b64encode(f"{SID}:{SECRET}".encode()).decode()
DING_SIGN = sign(SECRET, int(T0.timestamp() * 1000))


def echo(statuses: list[int]) -> Callable[[Request], Any]:
    async def handle(request: Request) -> web.StreamResponse:
        query = "&".join(f"{k}={v}" for k, v in request.query.items())
        said = f"{request.path}?{query} {request.headers.get('Authorization', '')} " + (
            request.body.decode(errors="replace")
        )
        status = statuses.pop(0) if statuses else 400
        return json_response(
            {
                "message": said,
                "errmsg": said,
                "errcode": 12345,
                "description": said,
                "error": {"message": said},
                "code": 21211,
                "ok": False,
                "error_code": status,
            },
            status,
        )

    return handle


# channel -> (config given the server's base URL, secrets that must not leak, those of
# them the request itself carries: the rest are only used to derive what is sent).
CHANNELS: dict[str, tuple[Callable[[str], dict[str, Any]], list[str], list[str]]] = {
    "webhook": (
        lambda base: {
            "url": f"{base}/hooks/{TOKEN}?token={SECRET}",
            "hmac_secret": "hm4c-s3cr3t-value",
            "headers": {"Authorization": "Bearer h34der-s3cr3t"},
        },
        [TOKEN, SECRET, "hm4c-s3cr3t-value", "h34der-s3cr3t"],
        [TOKEN, SECRET, "h34der-s3cr3t"],
    ),
    "slack": (lambda base: {"api_url": f"{base}/services/T1/B1/{TOKEN}"}, [TOKEN], [TOKEN]),
    "pagerduty": (
        lambda base: {"url": f"{base}/v2/enqueue", "routing_key": SECRET},
        [SECRET],
        [SECRET],
    ),
    "sms": (
        lambda base: {
            "api_url": base,
            "account_sid": SID,
            "auth_token": SECRET,
            "from": "+1555",
            "to": ["+1556"],
        },
        [SECRET, B64_CREDENTIALS],
        [B64_CREDENTIALS],
    ),
    "voice": (
        lambda base: {
            "api_url": base,
            "account_sid": SID,
            "auth_token": SECRET,
            "from": "+1555",
            "to": ["+1556"],
        },
        [SECRET, B64_CREDENTIALS],
        [B64_CREDENTIALS],
    ),
    "wecom": (lambda base: {"key": SECRET, "api_url": f"{base}/cgi-bin/"}, [SECRET], [SECRET]),
    "dingtalk": (
        lambda base: {"url": f"{base}/robot/send?access_token={TOKEN}", "secret": SECRET},
        [TOKEN, SECRET, DING_SIGN],
        [TOKEN, DING_SIGN],
    ),
    "teams": (
        lambda base: {"url": f"{base}/workflows/x/invoke?sig={SECRET}"},
        [SECRET],
        [SECRET],
    ),
    "telegram": (
        lambda base: {"api_url": base, "bot_token": f"123:{TOKEN}", "chat_id": 5},
        [TOKEN],
        [TOKEN],
    ),
    "discord": (lambda base: {"url": f"{base}/api/webhooks/1/{TOKEN}"}, [TOKEN], [TOKEN]),
}


def enqueue(store: Store, channel: str) -> None:
    payload = message().payload
    key = NflogKey(payload["groupKey"], "team", channel, 0)
    entry = NflogEntry(key, frozenset({"f"}), frozenset(), T0, T0.replace(year=2027))
    store.enqueue(entry, NewNotification("team", channel, 0, key.group_key, payload, T0, T0))


@pytest.mark.parametrize("channel", sorted(CHANNELS))
async def test_no_secret_leaks(
    channel: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    build, secrets, sent = CHANNELS[channel]
    clock = FakeClock(T0)
    metrics = Metrics()
    store = Store.open(tmp_path / "promalert.db")
    errors: list[str] = []
    caplog.set_level(logging.DEBUG)
    async with serve(echo([500])) as server, aiohttp.ClientSession() as session:
        receiver = ReceiverConfig.model_validate(
            {"name": "team", f"{channel}_configs": [build(server.url(""))]}
        )
        built = build_notifiers(receiver, session, clock=clock, external_url="http://pa")
        notifiers: dict[tuple[str, int], Notifier] = {("team", 0): built[0]}
        policies = {("team", 0): delivery_policies(receiver)[0]}
        worker = DeliveryWorker(
            store, notifiers, clock, metrics, policies=policies, rng=random.Random(1)
        )
        enqueue(store, channel)
        for _ in range(3):
            await worker.run_due()
            clock.advance(60)
        with pytest.raises(NotifyError) as info:
            await built[0].notify(message())
        errors.append(str(info.value))
        echoed = " ".join(
            f"{r.path}?{r.query} {r.headers.get('Authorization', '')} {r.body.decode()}"
            for r in server.requests
        )
    (row,) = store.outbox_rows()
    assert row.status == "failed" and row.attempts == 2
    api = json.dumps([notification_json(r) for r in store.notification_log()])
    store.close()
    outputs = {
        "logs": caplog.text,
        "errors": " | ".join(errors),
        "outbox": row.last_error,
        "metrics": generate_latest(metrics.registry).decode(),
        "api": api,
        "config": repr(receiver) + str(receiver.model_dump()),
    }
    if channel != "webhook":  # the webhook quotes no provider text at all
        assert "<secret>" in row.last_error
    for secret in sent:
        # The provider really got (and echoed) it, so the masking was exercised.
        assert secret in echoed, f"{channel}: the test does not exercise {secret!r}"
    for secret in secrets:
        for where, text in outputs.items():
            assert secret not in text, f"{channel}: secret found in {where}"
