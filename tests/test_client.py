"""The terminal client against a local HTTP server: requests sent, tables printed, exit codes."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer

from e2e.conftest import running_service
from promalert.client import CLIENT_COMMANDS, add_client_commands, run_client_command, table
from promalert.clock import FakeClock
from support.prometheus import free_port

TOKEN = "erin-token-0123456789"
INCIDENT = {
    "id": 12,
    "state": "triggered",
    "priority": "P1",
    "policy": "critical",
    "level": 2,
    "group_labels": {"alertname": "DiskFull", "instance": "db1"},
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "DiskFull", "instance": "db1"},
            "startsAt": "2026-01-05T09:00:00.000Z",
        }
    ],
    "created_at": "2026-01-05T09:00:00.000Z",
    "acknowledged_by": None,
    "timeline": [
        {"at": "2026-01-05T09:00:00.000Z", "kind": "opened"},
        {"at": "2026-01-05T09:05:00.000Z", "kind": "acknowledged", "by": "alice", "via": "link"},
    ],
}
SILENCES = [
    {
        "id": "s-active",
        "status": {"state": "active"},
        "comment": "maintenance",
        "createdBy": "bob",
        "endsAt": "2026-01-05T10:00:00.000Z",
        "startsAt": "2026-01-05T09:00:00.000Z",
        "matchers": [{"name": "job", "value": "db.*", "isRegex": True, "isEqual": False}],
    },
    {
        "id": "s-old",
        "status": {"state": "expired"},
        "comment": "old",
        "createdBy": "bob",
        "endsAt": "2026-01-04T10:00:00.000Z",
        "startsAt": "2026-01-04T09:00:00.000Z",
        "matchers": [{"name": "job", "value": "x", "isRegex": False, "isEqual": True}],
    },
]


@dataclass
class Seen:
    """Every request the fake server got: method, path with query, auth header, JSON body."""

    requests: list[tuple[str, str, str | None, Any]] = field(default_factory=list)


def fake_api(seen: Seen) -> web.Application:
    async def record(request: web.Request) -> Any:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        seen.requests.append(
            (request.method, request.path_qs, request.headers.get("Authorization"), body)
        )
        return body

    async def incidents(request: web.Request) -> web.Response:
        await record(request)
        return web.json_response([INCIDENT])

    async def incident(request: web.Request) -> web.Response:
        await record(request)
        if request.match_info["id"] != "12":
            return web.json_response({"error": "incident 99 not found"}, status=404)
        return web.json_response(INCIDENT)

    async def action(request: web.Request) -> web.Response:
        body = await record(request)
        if request.match_info["action"] == "resolve":
            return web.json_response({"error": "cannot resolve a resolved incident"}, status=409)
        return web.json_response(
            {**INCIDENT, "state": "acknowledged", "acknowledged_by": body["by"]}
        )

    async def oncall(request: web.Request) -> web.Response:
        await record(request)
        shifts = [
            {"start": "s1", "end": "e1", "user": "alice"},
            {"start": "e1", "end": "e2", "user": None},
        ]
        return web.json_response(
            [
                {
                    "schedule": "primary",
                    "timezone": "Europe/Berlin",
                    "user": "alice",
                    "until": "e1",
                    "shifts": shifts,
                }
            ]
        )

    async def alerts(request: web.Request) -> web.Response:
        await record(request)
        return web.json_response(
            [
                {
                    "labels": {"alertname": "Up", "job": "x"},
                    "status": {"state": "active"},
                    "startsAt": "t",
                }
            ]
        )

    async def silences(request: web.Request) -> web.Response:
        await record(request)
        if request.method == "POST":
            return web.json_response({"silenceID": "new-silence-id"})
        return web.json_response(SILENCES)

    async def expire(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(status=200)

    app = web.Application()
    app.router.add_get("/api/v1/incidents", incidents)
    app.router.add_get("/api/v1/incidents/{id}", incident)
    app.router.add_post("/api/v1/incidents/{id}/{action}", action)
    app.router.add_get("/api/v1/oncall", oncall)
    app.router.add_get("/api/v2/alerts", alerts)
    app.router.add_route("*", "/api/v2/silences", silences)
    app.router.add_delete("/api/v2/silence/{id}", expire)
    return app


@dataclass
class Run:
    code: int
    out: str
    err: str


class Client:
    """Runs client commands (in a thread: they block) against ``url``."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def __call__(self, *argv: str) -> Run:
        parser = argparse.ArgumentParser(prog="promalert")
        add_client_commands(parser.add_subparsers(dest="command", required=True))
        args = parser.parse_args([*argv, "--url", self.url])
        assert args.command in CLIENT_COMMANDS
        out, err = io.StringIO(), io.StringIO()
        code = await asyncio.to_thread(
            run_client_command, args, out=out, err=err, clock=FakeClock()
        )
        return Run(code, out.getvalue(), err.getvalue())


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
async def cli(seen: Seen) -> AsyncIterator[Client]:
    async with TestServer(fake_api(seen), host="127.0.0.1") as server:
        yield Client(str(server.make_url("")))


async def test_incidents_table_with_filter_and_token(cli: Client, seen: Seen) -> None:
    run = await cli("incidents", "--state", "triggered", "--token", "tok-0123456789abcdef")
    assert run.code == 0, run.err
    header, row = run.out.splitlines()
    assert header.split() == [
        "ID",
        "STATE",
        "PRIO",
        "POLICY",
        "LEVEL",
        "CREATED",
        "ACKED",
        "BY",
        "GROUP",
    ]
    assert row.split()[:5] == ["12", "triggered", "P1", "critical", "2"]
    assert "alertname=DiskFull,instance=db1" in row
    assert seen.requests == [
        ("GET", "/api/v1/incidents?limit=50&state=triggered", "Bearer tok-0123456789abcdef", None)
    ]


async def test_json_prints_the_answer_as_it_came(cli: Client) -> None:
    run = await cli("incidents", "--json")
    assert json.loads(run.out) == [INCIDENT]


async def test_incident_shows_alerts_and_timeline(cli: Client) -> None:
    run = await cli("incident", "12")
    assert run.code == 0
    assert "state: triggered" in run.out and "level: 2" in run.out
    assert "DiskFull" in run.out
    ack_line = next(line for line in run.out.splitlines() if "acknowledged" in line)
    assert ack_line.split()[1:] == ["acknowledged", "alice", "link"]


async def test_ack_posts_who_and_why_and_says_it_comes_from_the_cli(
    cli: Client, seen: Seen
) -> None:
    run = await cli("ack", "12", "--by", "carol", "--comment", "on it")
    assert run.code == 0, run.err
    assert "acknowledged" in run.out and "carol" in run.out
    assert seen.requests[-1] == (
        "POST",
        "/api/v1/incidents/12/ack",
        None,
        {"via": "cli", "by": "carol", "comment": "on it"},
    )
    await cli("unack", "12")
    assert seen.requests[-1][1:] == ("/api/v1/incidents/12/unack", None, {"via": "cli"})


async def test_server_refusals_exit_1_with_the_servers_message(cli: Client) -> None:
    run = await cli("resolve", "12")
    assert run.code == 1
    assert "HTTP 409: cannot resolve a resolved incident" in run.err
    run = await cli("incident", "99")
    assert (run.code, run.out) == (1, "")
    assert "HTTP 404: incident 99 not found" in run.err


async def test_no_server_exits_2_saying_so() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    run = await Client(url)("incidents")
    assert run.code == 2
    assert f"cannot reach promalert at {url}" in run.err


def test_incident_ids_are_checked_before_any_request() -> None:
    parser = argparse.ArgumentParser(prog="promalert")
    add_client_commands(parser.add_subparsers(dest="command", required=True))
    with pytest.raises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
        parser.parse_args(["ack", "abc"])


async def test_oncall_lists_now_and_shifts(cli: Client, seen: Seen) -> None:
    run = await cli("oncall", "--days", "3")
    assert run.code == 0
    lines = run.out.splitlines()
    assert lines[1].split() == ["primary", "alice", "e1", "Europe/Berlin"]
    assert any(line.split() == ["e1", "e2", "(nobody)"] for line in lines)
    assert seen.requests[-1][1] == "/api/v1/oncall?days=3"


async def test_alerts(cli: Client) -> None:
    run = await cli("alerts")
    assert run.out.splitlines()[1].split() == ["Up", "active", "t", "job=x"]


async def test_silence_add_posts_matchers_and_duration(cli: Client, seen: Seen) -> None:
    matchers = ['severity="warning"', "job=~db.*"]
    options = ["--duration", "2h", "--comment", "deploy", "--author", "dave"]
    run = await cli("silence", "add", *matchers, *options)
    assert (run.code, run.out.strip()) == (0, "new-silence-id")
    method, path, _, body = seen.requests[-1]
    assert (method, path) == ("POST", "/api/v2/silences")
    assert body == {
        "matchers": [
            {"name": "severity", "value": "warning", "isRegex": False, "isEqual": True},
            {"name": "job", "value": "db.*", "isRegex": True, "isEqual": True},
        ],
        "startsAt": "2026-01-05T09:00:00+00:00",
        "endsAt": "2026-01-05T11:00:00+00:00",
        "createdBy": "dave",
        "comment": "deploy",
    }


async def test_bad_silence_input_is_refused_locally(cli: Client, seen: Seen) -> None:
    run = await cli("silence", "add", "not a matcher", "--comment", "x")
    assert run.code == 1 and "bad matcher format" in run.err
    run = await cli("silence", "add", "a=b", "--duration", "soon", "--comment", "x")
    assert run.code == 1 and "invalid duration" in run.err
    assert seen.requests == []


async def test_silence_list_hides_expired_unless_all(cli: Client) -> None:
    run = await cli("silence", "list")
    assert "s-active" in run.out and "s-old" not in run.out
    assert 'job!~"db.*"' in run.out
    run = await cli("silence", "list", "--all")
    assert "s-old" in run.out and 'job="x"' in run.out


async def test_silence_expire(cli: Client, seen: Seen) -> None:
    run = await cli("silence", "expire", "abc/def")
    assert run.code == 0 and "expired abc/def" in run.out
    assert seen.requests[-1][:2] == ("DELETE", "/api/v2/silence/abc%2Fdef")


def test_table_aligns_columns() -> None:
    assert table(("A", "LONGER"), [("xyz", 1), (None, "")]) == "A    LONGER\nxyz  1\n"


async def test_against_a_real_service_ack_is_recorded_as_from_the_cli(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "promalert.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"external_url": f"http://127.0.0.1:{port}"},
                "server": {
                    "listen": f"127.0.0.1:{port}",
                    "auth": {"tokens": [{"name": "erin", "token": TOKEN, "role": "responder"}]},
                },
                "storage": {"url": "sqlite:///promalert.db"},
                "route": {"escalation": "p", "group_by": ["..."], "group_wait": "0s"},
                "receivers": [{"name": "none"}],
                "escalation_policies": {"p": {"levels": [{"targets": [{"receiver": "none"}]}]}},
            }
        )
    )
    async with running_service(config) as service:
        assert service.ingest is not None and service.incidents is not None
        cli = Client(f"http://127.0.0.1:{port}")
        run = await cli("silence", "list", "--token", TOKEN)
        assert (run.code, run.out.strip()) == (0, "no silences")
        run = await cli("alerts")
        assert (run.code, run.out.strip()) == (0, "no alerts")
        alert = '[{"labels": {"alertname": "FromCli"}}]'
        async with aiohttp.ClientSession() as session:
            headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
            url = f"http://127.0.0.1:{port}/api/v2/alerts"
            async with session.post(url, data=alert, headers=headers) as response:
                # A responder includes sender.
                assert response.status == 200
        for _ in range(200):
            if service.incidents.list():
                break
            await asyncio.sleep(0.02)
        [incident] = service.incidents.list()
        run = await cli("ack", str(incident["id"]), "--comment", "mine")
        assert run.code == 1 and "needs a token with role responder" in run.err
        run = await cli("ack", str(incident["id"]), "--comment", "mine", "--token", TOKEN)
        assert run.code == 0, run.err
        run = await cli("incident", str(incident["id"]), "--json")
        detail = json.loads(run.out)
        acks = [e for e in detail["timeline"] if e["kind"] == "acknowledged"]
        assert [(e["by"], e["via"], e.get("comment")) for e in acks] == [("erin", "cli", "mine")]
