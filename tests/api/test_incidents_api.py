"""The incidents API, on-call and ack links over a real running :class:`Service`.

Alerts go in through ``POST /api/v2/alerts``; the route escalates to policy ``critical``,
whose level 1 pages receiver ``level1`` (a webhook) and user alice on Slack (both land
in a local sink, so the ack link alice got is read from her real notification). Every
request goes to the service's own HTTP server, behind its ``server.auth``.

Issue 4, acceptance 3: a valid link acknowledges (by POST only; GET changes nothing),
expired and tampered links are refused with 403, and the timeline records who
acknowledged and by which path.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from e2e.conftest import base_url, running_service, write_promalert
from e2e.hooks import HookSink, serve_hooks
from promalert.escalation.acklinks import make_token, read_token
from promalert.service import Service
from support.prometheus import free_port

ADMIN = "admin-token-0123456789"
ALICE = "alice-token-0123456789"
VIEWER = "viewer-token-012345678"


def write_config(folder: Path, hook_url: str) -> Path:
    """A promalert.yml with one escalation policy, two users, a schedule and API tokens."""
    port = free_port()
    config: dict[str, Any] = {
        "global": {
            "external_url": f"http://127.0.0.1:{port}",
            "secret_key": "a-test-secret-key-for-links",
        },
        "server": {
            "listen": f"127.0.0.1:{port}",
            "auth": {
                "read": "open",
                "tokens": [
                    {"name": "root", "token": ADMIN, "role": "admin"},
                    {"name": "alice", "token": ALICE, "role": "responder"},
                    {"name": "grafana", "token": VIEWER, "role": "viewer"},
                ],
            },
        },
        "storage": {"url": "sqlite:///promalert.db"},
        "route": {"escalation": "critical", "group_by": ["..."], "group_wait": "0s"},
        "receivers": [{"name": "level1", "webhook_configs": [{"url": hook_url}]}],
        "users": {
            "alice": {"phone": "+15550001", "slack": "@alice"},
            "bob": {"phone": "+15550002", "slack": "@bob"},
        },
        "contact_channels": {"slack": {"api_url": hook_url}},
        "schedules": {
            "primary": {
                "timezone": "Europe/Berlin",
                "layers": [
                    {"rotation": "daily", "start": "2026-01-05T09:00", "members": ["alice", "bob"]}
                ],
            }
        },  # fmt: skip
        "escalation_policies": {
            "critical": {
                "levels": [
                    {
                        "targets": [{"receiver": "level1"}, {"user": "alice"}],
                        "channels": ["slack"],
                        "timeout": "1h",
                    },
                    {"targets": [{"schedule": "primary"}], "channels": ["slack"]},
                ]
            }
        },
    }
    path = folder / "promalert.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@dataclass
class Env:
    """A running service, its hook sink, and a client of the incidents API over it."""

    service: Service
    hooks: HookSink
    api: aiohttp.ClientSession
    url: str

    async def open_incident(self, name: str) -> int:
        """Post a firing alert called ``name`` and return the id of the incident it opens."""
        alert = {"labels": {"alertname": name, "severity": "critical"}}
        status, body = await self.call("POST", "/api/v2/alerts", json=[alert])
        assert status == 200, body
        for _ in range(200):
            manager = self.service.incidents
            assert manager is not None
            for incident in manager.list():
                if incident["group_labels"].get("alertname") == name:
                    return int(incident["id"])
            await asyncio.sleep(0.02)
        raise AssertionError(f"no incident opened for {name}")

    async def ack_url_for(self, incident_id: int) -> str:
        """The ack link alice's Slack message for ``incident_id`` carried."""

        def found() -> str | None:
            for payload in self.hooks.payloads:
                for attachment in payload.get("attachments", []):
                    for block in attachment["blocks"]:
                        for element in block.get("elements", []):
                            url = element.get("url", "")
                            if url and self._incident_of(url) == incident_id:
                                return str(url)
            return None

        await self.hooks.wait_for(lambda: found() is not None, within=10)
        url = found()
        assert url is not None
        return url

    def _incident_of(self, url: str) -> int:
        manager = self.service.incidents
        assert manager is not None
        token = url.rsplit("/", 1)[1]
        return read_token(manager.ack_secret(), token, self.service.clock.now()).incident_id

    async def call(
        self, method: str, path: str, *, token: str | None = ADMIN, **kwargs: Any
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.api.request(method, path, headers=headers, **kwargs) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    async with serve_hooks() as hooks:
        config = write_config(tmp_path, hooks.url)
        async with running_service(config) as service:
            url = base_url(config)
            async with aiohttp.ClientSession(base_url=url) as api:
                yield Env(service, hooks, api, url)


# -- acceptance 3: ack links ------------------------------------------------------------


async def test_ack_link_get_confirms_post_acks_and_timeline_says_who_and_how(env: Env) -> None:
    incident_id = await env.open_incident("DiskFull")
    url = await env.ack_url_for(incident_id)
    assert url.startswith(f"{env.url}/ack/")
    path = url.removeprefix(env.url)

    # A link previewer fetching the page changes nothing.
    for _ in range(2):
        status, page = await env.call("GET", path, token=None)
        assert status == 200
        assert '<form method="post"' in page and "Acknowledge as alice" in page
    status, incident = await env.call("GET", f"/api/v1/incidents/{incident_id}")
    assert incident["state"] == "triggered"

    status, page = await env.call("POST", path, token=None)
    assert status == 200, page
    assert "Acknowledged by alice" in page
    status, incident = await env.call("GET", f"/api/v1/incidents/{incident_id}")
    assert incident["state"] == "acknowledged"
    assert incident["acknowledged_by"] == "alice"
    acks = [e for e in incident["timeline"] if e["kind"] == "acknowledged"]
    assert [(e["by"], e["via"]) for e in acks] == [("alice", "link")]

    # Used again: the incident is no longer triggered.
    status, page = await env.call("POST", path, token=None)
    assert status == 409 and "Cannot acknowledge an incident that is acknowledged" in page
    status, page = await env.call("GET", path, token=None)
    assert status == 200 and "<form" not in page and "acknowledged" in page


async def test_tampered_and_expired_links_are_refused_and_change_nothing(env: Env) -> None:
    incident_id = await env.open_incident("CpuHot")
    token = (await env.ack_url_for(incident_id)).rsplit("/", 1)[1]
    manager = env.service.incidents
    assert manager is not None
    body, mac = token.split(".")
    flipped = body[:-1] + ("A" if body[-1] != "A" else "B")
    expired = make_token(
        manager.ack_secret(), incident_id, "alice", env.service.clock.now() - timedelta(seconds=1)
    )
    forged = make_token("not-the-secret-key", incident_id, "mallory", env.service.clock.now())
    for bad, title in [
        (f"{flipped}.{mac}", "Link not valid"),
        (token[:-3], "Link not valid"),
        (forged, "Link not valid"),
        (expired, "Link expired"),
    ]:
        for method in ("GET", "POST"):
            status, page = await env.call(method, f"/ack/{bad}", token=None)
            assert status == 403, (bad, method, page)
            assert f"<h1>{title}</h1>" in page
            assert "a-test-secret-key" not in page
    status, incident = await env.call("GET", f"/api/v1/incidents/{incident_id}")
    assert incident["state"] == "triggered"
    assert not [e for e in incident["timeline"] if e["kind"] == "acknowledged"]


async def test_link_to_an_unknown_incident(env: Env) -> None:
    manager = env.service.incidents
    assert manager is not None
    future = env.service.clock.now() + timedelta(hours=1)
    token = make_token(manager.ack_secret(), 999, "alice", future)
    status, page = await env.call("POST", f"/ack/{token}", token=None)
    assert status == 404 and "no incident #999" in page


# -- the JSON API -----------------------------------------------------------------------


async def test_ack_unack_resolve_with_state_checks(env: Env) -> None:
    incident_id = await env.open_incident("MemoryLow")
    base = f"/api/v1/incidents/{incident_id}"
    status, got = await env.call("POST", f"{base}/ack", json={"by": "bob", "comment": "looking"})
    assert (status, got["state"], got["acknowledged_by"]) == (200, "acknowledged", "bob")
    status, got = await env.call("POST", f"{base}/ack")
    assert status == 409 and "acknowledged" in got["error"]
    status, got = await env.call("POST", f"{base}/unack", json={"by": "bob"})
    assert (status, got["state"]) == (200, "triggered")
    status, got = await env.call("POST", f"{base}/resolve", json={"by": "carol", "via": "cli"})
    assert (status, got["state"], got["resolved_by"]) == (200, "resolved", "carol")
    for action in ("ack", "unack", "resolve"):
        status, got = await env.call("POST", f"{base}/{action}")
        assert status == 409, action
        assert "resolved" in got["error"]
    status, got = await env.call("GET", base)
    moves = [(e["kind"], e.get("by"), e.get("via")) for e in got["timeline"]]
    assert [m for m in moves if m[0] in ("acknowledged", "unacknowledged", "resolved")] == [
        ("acknowledged", "bob", "api"),
        ("unacknowledged", "bob", "api"),
        ("resolved", "carol", "cli"),
    ]
    assert any(e.get("comment") == "looking" for e in got["timeline"])


async def test_by_defaults_to_the_token_holder_and_roles_apply(env: Env) -> None:
    incident_id = await env.open_incident("QueueStuck")
    path = f"/api/v1/incidents/{incident_id}/ack"
    assert (await env.call("POST", path, token=None))[0] == 401
    status, got = await env.call("POST", path, token=VIEWER)
    assert status == 403 and "responder" in got["error"]
    status, got = await env.call("POST", path, token=ALICE)
    assert (status, got["acknowledged_by"]) == (200, "alice")
    # Reads are open in this config.
    assert (await env.call("GET", "/api/v1/incidents", token=None))[0] == 200


async def test_list_filters_and_validates(env: Env) -> None:
    first = await env.open_incident("One")
    second = await env.open_incident("Two")
    await env.call("POST", f"/api/v1/incidents/{first}/ack")
    status, listed = await env.call("GET", "/api/v1/incidents")
    assert status == 200
    assert [i["id"] for i in listed] == [second, first]  # newest first
    for incident in listed:
        assert {"id", "state", "priority", "policy", "level", "group_labels", "alerts"} <= set(
            incident
        )
        assert incident["policy"] == "critical" and incident["level"] == 1
        assert incident["priority"] == "P1"
    _, acked = await env.call("GET", "/api/v1/incidents?state=acknowledged")
    assert [i["id"] for i in acked] == [first]
    _, older = await env.call("GET", f"/api/v1/incidents?before={second}&limit=1")
    assert [i["id"] for i in older] == [first]
    for query, message in [
        ("state=open", "state must be one of triggered, acknowledged, resolved"),
        ("limit=0", "limit must be between 1 and 1000"),
        ("limit=x", "limit and before must be integers"),
        ("before=x", "limit and before must be integers"),
    ]:
        status, got = await env.call("GET", f"/api/v1/incidents?{query}")
        assert (status, got) == (400, {"error": got["error"]}) and message in got["error"], query


async def test_bad_ids_and_bodies_get_4xx_json(env: Env) -> None:
    incident_id = await env.open_incident("Bodies")
    base = f"/api/v1/incidents/{incident_id}"
    cases: list[tuple[str, str, Any, int, str]] = [
        ("GET", "/api/v1/incidents/abc", None, 400, "positive integer"),
        ("GET", "/api/v1/incidents/0", None, 400, "positive integer"),
        ("GET", "/api/v1/incidents/424242", None, 404, "incident 424242 not found"),
        ("POST", "/api/v1/incidents/424242/ack", None, 404, "not found"),
        ("POST", "/api/v1/incidents/-1/resolve", None, 400, "positive integer"),
        ("POST", f"{base}/ack", b"{not json", 400, "not valid JSON"),
        ("POST", f"{base}/ack", b"[1]", 400, "JSON object"),
        ("POST", f"{base}/ack", b'{"who": "x"}', 400, "unknown field(s) who"),
        ("POST", f"{base}/ack", b'{"by": 3}', 400, "by must be a string"),
        ("POST", f"{base}/ack", b'{"via": "sms"}', 400, "via must be api or cli"),
    ]
    for method, path, data, status, message in cases:
        got_status, got = await env.call(method, path, data=data)
        assert got_status == status, (path, data, got)
        assert message in got["error"], (path, data, got)
    status, got = await env.call("GET", base)
    assert got["state"] == "triggered"  # nothing above changed it


async def test_oncall_now_and_preview(env: Env) -> None:
    status, got = await env.call("GET", "/api/v1/oncall")
    assert status == 200
    [primary] = got
    assert primary["schedule"] == "primary" and primary["timezone"] == "Europe/Berlin"
    assert primary["user"] in ("alice", "bob")
    # Daily rotation, 7 days by default: 7 or 8 shifts, alternating.
    users = [s["user"] for s in primary["shifts"]]
    assert 7 <= len(users) <= 8
    assert all(a != b for a, b in zip(users, users[1:], strict=False))
    _, now_only = await env.call("GET", "/api/v1/oncall?days=0")
    assert "shifts" not in now_only[0]
    for query in ("days=x", "days=-1", "days=91"):
        status, got = await env.call("GET", f"/api/v1/oncall?{query}")
        assert status == 400 and "days" in got["error"]


# -- no escalation configured -----------------------------------------------------------


async def test_without_escalation_policies_every_route_says_so(tmp_path: Path) -> None:
    config = write_promalert(tmp_path, hook_url="http://127.0.0.1:9/hook")
    async with running_service(config) as service, aiohttp.ClientSession() as session:
        assert service.incidents is None
        url = base_url(config)
        for method, path in [
            ("GET", "/api/v1/incidents"),
            ("GET", "/api/v1/incidents/1"),
            ("POST", "/api/v1/incidents/1/ack"),
            ("GET", "/api/v1/oncall"),
        ]:
            async with session.request(method, url + path) as response:
                assert response.status == 503
                assert await response.json() == {"error": "no escalation_policies configured"}
        async with session.get(f"{url}/ack/abc.def") as response:
            assert response.status == 503
            assert "no escalation_policies configured" in await response.text()


async def test_stats_count_the_window_and_validate_it(env: Env) -> None:
    first = await env.open_incident("StatsOne")
    await env.open_incident("StatsTwo")
    status, _ = await env.call("POST", f"/api/v1/incidents/{first}/ack", json={"by": "bob"})
    assert status == 200
    status, stats = await env.call("GET", "/api/v1/stats")
    assert status == 200, stats
    assert stats["incidents"] == 2
    assert stats["by_priority"]["P1"] == 2
    assert stats["mtta_seconds"]["count"] == 1
    rules = {r["alertname"] for r in stats["noisiest_rules"]["by_incidents"]}
    assert rules == {"StatsOne", "StatsTwo"}
    status, old = await env.call(
        "GET", "/api/v1/stats?start=2020-01-01T00:00:00Z&end=2020-01-02T00:00:00Z"
    )
    assert (status, old["incidents"]) == (200, 0)
    status, got = await env.call("GET", "/api/v1/stats?start=yesterday")
    assert status == 400 and "start must be an RFC 3339 time" in got["error"]
    status, got = await env.call("GET", "/api/v1/stats?start=1700000100&end=1700000000")
    assert status == 400 and "before end" in got["error"]
