"""The webhook notifier against a real local server: request, signature, errors, secrets."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
from typing import Any

import aiohttp
import pytest

from promalert.config.receivers import WebhookConfig
from promalert.errors import NotifyError
from promalert.notify.base import Message
from promalert.notify.webhook import SIGNATURE_HEADER, WebhookNotifier

PAYLOAD: dict[str, Any] = {
    "receiver": "team",
    "status": "firing",
    "alerts": [
        {"status": "firing", "labels": {"alertname": "A", "i": str(i)}, "annotations": {}}
        for i in range(3)
    ],
    "groupLabels": {},
    "commonLabels": {"alertname": "A"},
    "commonAnnotations": {},
    "externalURL": "http://x",
    "version": "4",
    "groupKey": "{}:{}",
    "truncatedAlerts": 0,
}
MESSAGE = Message("team", "{}:{}", PAYLOAD, 7)
TOKEN = "s3cr3t-path-token"
QUERY_TOKEN = "s3cr3t-query-token"
HMAC_SECRET = "hmac-s3cr3t"


def notifier(session: aiohttp.ClientSession, url: str, **kw: Any) -> WebhookNotifier:
    config = WebhookConfig.model_validate({"url": url, **kw})
    return WebhookNotifier(config, session, "team", 0)


async def test_posts_json_with_headers(hook: Any, session: aiohttp.ClientSession) -> None:
    n = notifier(session, hook.url(), headers={"X-Team": "ops"})
    await n.notify(MESSAGE)
    (request,) = hook.requests
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Team"] == "ops"
    assert SIGNATURE_HEADER not in request.headers
    assert request.json == PAYLOAD


async def test_hmac_signature_is_sha256_of_the_exact_body(
    hook: Any, session: aiohttp.ClientSession
) -> None:
    await notifier(session, hook.url(), hmac_secret=HMAC_SECRET).notify(MESSAGE)
    (request,) = hook.requests
    digest = hmac.new(HMAC_SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers[SIGNATURE_HEADER] == f"sha256={digest}"


async def test_max_alerts_truncates(hook: Any, session: aiohttp.ClientSession) -> None:
    await notifier(session, hook.url(), max_alerts=2).notify(MESSAGE)
    sent = hook.requests[0].json
    assert [a["labels"]["i"] for a in sent["alerts"]] == ["0", "1"]
    assert sent["truncatedAlerts"] == 1


@pytest.mark.parametrize(
    ("status", "retryable", "reason", "text"),
    [
        (500, True, "http_5xx", "HTTP 500 Internal Server Error"),
        (503, True, "http_5xx", "HTTP 503 Service Unavailable"),
        (429, True, "rate_limited", "HTTP 429 Too Many Requests"),
        (400, False, "http_4xx", "HTTP 400 Bad Request"),
        (404, False, "http_4xx", "HTTP 404 Not Found"),
    ],
)
async def test_http_errors(
    hook: Any,
    session: aiohttp.ClientSession,
    status: int,
    retryable: bool,
    reason: str,
    text: str,
) -> None:
    hook.statuses.append(status)
    url = hook.url(f"/hooks/{TOKEN}?token={QUERY_TOKEN}")
    with pytest.raises(NotifyError) as info:
        await notifier(session, url).notify(MESSAGE)
    err = info.value
    assert (err.retryable, err.reason) == (retryable, reason)
    assert str(err) == f"webhook[0] of receiver 'team': {text}"
    assert hook.requests[0].path == f"/hooks/{TOKEN}"


async def test_timeout(hook: Any, session: aiohttp.ClientSession) -> None:
    hook.delay = 0.4
    with pytest.raises(NotifyError) as info:
        await notifier(session, hook.url(f"/{TOKEN}"), timeout="100ms").notify(MESSAGE)
    assert (info.value.retryable, info.value.reason) == (True, "timeout")
    assert str(info.value) == "webhook[0] of receiver 'team': no answer within 0.1s"


async def test_connection_refused_says_so_without_the_url(session: aiohttp.ClientSession) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/hooks/{TOKEN}?token={QUERY_TOKEN}"
    with pytest.raises(NotifyError) as info:
        await notifier(session, url).notify(MESSAGE)
    assert (info.value.retryable, info.value.reason) == (True, "connection")
    assert "cannot connect" in str(info.value)
    assert TOKEN not in str(info.value) and str(port) not in str(info.value)


async def test_body_is_compact_json_with_a_newline(session: aiohttp.ClientSession) -> None:
    body = notifier(session, "http://127.0.0.1:1/").body(MESSAGE)
    assert body.endswith(b"}\n") and b": " not in body
    assert json.loads(body) == PAYLOAD


async def test_secrets_never_reach_logs_or_errors(
    hook: Any, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    hook.statuses.extend([500, 400])
    url = hook.url(f"/hooks/{TOKEN}?token={QUERY_TOKEN}")
    n = notifier(session, url, hmac_secret=HMAC_SECRET, headers={"Authorization": "Bearer b"})
    errors = []
    with caplog.at_level(logging.DEBUG):
        for _ in range(2):
            with pytest.raises(NotifyError) as info:
                await n.notify(MESSAGE)
            errors.append(str(info.value))
            logging.getLogger("test").error("%s", info.value)
    for secret in (TOKEN, QUERY_TOKEN, HMAC_SECRET, "/hooks/"):
        assert secret not in caplog.text
        assert all(secret not in e for e in errors)


async def test_template_replaces_the_body_and_is_signed(
    hook: Any, session: aiohttp.ClientSession, tmp_path: Any
) -> None:
    template = tmp_path / "body.j2"
    template.write_text(
        '{% block body %}{"text": "{{ status }}: {{ alerts|length }} alerts"}{% endblock %}'
    )
    n = notifier(session, hook.url(), template=str(template), hmac_secret=HMAC_SECRET, max_alerts=2)
    await n.notify(MESSAGE)
    (request,) = hook.requests
    assert request.json == {"text": "firing: 2 alerts"}
    digest = hmac.new(HMAC_SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers[SIGNATURE_HEADER] == f"sha256={digest}"


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_credentials_are_an_auth_failure(
    hook: Any, session: aiohttp.ClientSession, status: int
) -> None:
    hook.statuses.append(status)
    with pytest.raises(NotifyError) as info:
        await notifier(session, hook.url()).notify(MESSAGE)
    assert (info.value.retryable, info.value.reason) == (False, "auth")
