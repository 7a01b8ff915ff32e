"""``server.auth``: bearer tokens, roles per endpoint, open paths, reloads taking effect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from promalert.api.auth import auth_middleware, caller, find_token, required_role
from promalert.config.auth import AuthConfig

VIEWER = "viewer-token-0123456789"
SENDER = "sender-token-0123456789"
RESPONDER = "responder-token-0123456"
ADMIN = "admin-token-0123456789ab"

ROUTES = [
    ("GET", "/-/healthy"),
    ("GET", "/-/ready"),
    ("GET", "/metrics"),
    ("POST", "/-/reload"),
    ("GET", "/api/v2/alerts"),
    ("POST", "/api/v2/alerts"),
    ("GET", "/api/v2/silences"),
    ("POST", "/api/v2/silences"),
    ("DELETE", "/api/v2/silence/{id}"),
    ("GET", "/api/v1/incidents"),
    ("POST", "/api/v1/incidents/{id}/ack"),
    ("POST", "/api/v1/incidents/{id}/resolve"),
    ("GET", "/ack/{token}"),
    ("POST", "/ack/{token}"),
    ("POST", "/api/v1/twilio/sms"),
    ("POST", "/api/v1/twilio/status"),
]


def auth_config(read: str = "open") -> AuthConfig:
    return AuthConfig.model_validate(
        {
            "read": read,
            "tokens": [
                {"name": "grafana", "token": VIEWER, "role": "viewer"},
                {"name": "prometheus", "token": SENDER, "role": "sender"},
                {"name": "alice", "token": RESPONDER, "role": "responder"},
                {"name": "root", "token": ADMIN, "role": "admin"},
            ],
        }
    )


class Holder:
    """The current auth config, swapped by tests the way a reload swaps it."""

    def __init__(self, auth: AuthConfig | None) -> None:
        self.auth = auth


async def echo(request: web.Request) -> web.Response:
    return web.json_response({"caller": caller(request)})


@pytest.fixture
def holder() -> Holder:
    return Holder(auth_config())


@pytest.fixture
async def client(holder: Holder) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application(middlewares=[auth_middleware(lambda: holder.auth)])
    for method, path in ROUTES:
        app.router.add_route(method, path, echo)
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        yield c


async def call(
    client: TestClient[web.Request, web.Application],
    method: str,
    path: str,
    token: str | None = None,
    header: str | None = None,
) -> tuple[int, Any]:
    headers = {"Authorization": header or f"Bearer {token}"} if header or token else {}
    async with client.request(method, path, headers=headers) as response:
        return response.status, await response.json()


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("GET", "/-/healthy", None),
        ("GET", "/metrics", None),
        ("POST", "/ack/{token}", None),
        ("POST", "/api/v1/twilio/voice", None),
        ("GET", "/api/v1/incidents", "viewer"),
        ("GET", "/api/v2/status", "viewer"),
        ("POST", "/api/v2/alerts", "sender"),
        ("POST", "/api/v1/incidents/{id}/unack", "responder"),
        ("POST", "/api/v2/silences", "responder"),
        ("DELETE", "/api/v2/silence/{id}", "responder"),
        ("POST", "/-/reload", "admin"),
        ("PUT", "/-/reload", "admin"),
        ("POST", "/api/v1/something-new", "admin"),
    ],
)
def test_required_role(method: str, path: str, role: str | None) -> None:
    assert required_role(method, path) == role


async def test_open_reads_need_no_token_but_writes_do(client: Any) -> None:
    assert await call(client, "GET", "/api/v1/incidents") == (200, {"caller": None})
    status, body = await call(client, "POST", "/api/v2/alerts")
    assert status == 401 and "sender" in body["error"]
    async with client.post("/api/v1/incidents/1/ack") as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_each_role_includes_the_ones_before(client: Any) -> None:
    cases = [
        ("POST", "/api/v2/alerts", {VIEWER: 403, SENDER: 200, RESPONDER: 200, ADMIN: 200}),
        ("POST", "/api/v1/incidents/3/ack", {VIEWER: 403, SENDER: 403, RESPONDER: 200}),
        ("POST", "/api/v2/silences", {SENDER: 403, RESPONDER: 200, ADMIN: 200}),
        ("DELETE", "/api/v2/silence/abc", {VIEWER: 403, RESPONDER: 200}),
        ("POST", "/-/reload", {VIEWER: 403, SENDER: 403, RESPONDER: 403, ADMIN: 200}),
    ]
    for method, path, expected in cases:
        for token, status in expected.items():
            got, body = await call(client, method, path, token)
            assert got == status, (method, path, token, body)
            if status == 403:
                assert "this needs" in body["error"]


async def test_the_token_holder_is_the_caller(client: Any) -> None:
    assert await call(client, "POST", "/api/v1/incidents/3/ack", RESPONDER) == (
        200,
        {"caller": "alice"},
    )
    assert await call(client, "GET", "/api/v1/incidents", VIEWER) == (200, {"caller": "grafana"})


async def test_unknown_or_malformed_tokens_are_refused(client: Any) -> None:
    for header in ("Bearer not-a-real-token-xxxxx", "Bearer ", f"Basic {ADMIN}", ADMIN):
        status, body = await call(client, "POST", "/-/reload", header=header)
        assert status == 401, header
        assert ADMIN not in body["error"]
    # Even where no token is needed, a wrong one is pointed out rather than ignored.
    status, _ = await call(client, "GET", "/api/v1/incidents", "wrong-token-xxxxxxxxxx")
    assert status == 401


async def test_read_token_mode_closes_reads(client: Any, holder: Holder) -> None:
    holder.auth = auth_config(read="token")
    assert (await call(client, "GET", "/api/v2/alerts"))[0] == 401
    assert (await call(client, "GET", "/api/v2/alerts", VIEWER))[0] == 200


async def test_health_metrics_ack_links_and_twilio_stay_open(client: Any, holder: Holder) -> None:
    holder.auth = auth_config(read="token")
    for method, path in [
        ("GET", "/-/healthy"),
        ("GET", "/-/ready"),
        ("GET", "/metrics"),
        ("GET", "/ack/some-token"),
        ("POST", "/ack/some-token"),
        ("POST", "/api/v1/twilio/sms"),
        ("POST", "/api/v1/twilio/status"),
    ]:
        assert await call(client, method, path) == (200, {"caller": None}), path


async def test_an_encoded_slash_cannot_borrow_the_ack_route(client: Any) -> None:
    # Routed to /ack/{token} (as a token), never to /-/reload; a dot-segment spelling is a 404.
    async with client.post("/ack/..%2F-%2Freload") as response:
        assert response.status == 200
    async with client.post("/ack/../-/reload") as response:
        assert response.status in (401, 404)


async def test_a_reload_changes_the_rules_at_once(client: Any, holder: Holder) -> None:
    holder.auth = None
    assert await call(client, "POST", "/-/reload") == (200, {"caller": None})
    holder.auth = auth_config()
    assert (await call(client, "POST", "/-/reload"))[0] == 401


def test_find_token_matches_exactly() -> None:
    auth = auth_config()
    assert find_token(auth, RESPONDER) is not None
    assert find_token(auth, RESPONDER).name == "alice"  # type: ignore[union-attr]
    assert find_token(auth, RESPONDER[:-1]) is None
    assert find_token(auth, RESPONDER + "x") is None
    assert find_token(auth, "") is None
