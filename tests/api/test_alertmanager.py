"""The Alertmanager API v2: shapes, filters, silences, status codes and error texts."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient

Client = TestClient[web.Request, web.Application]

CRIT = {"alertname": "Disk", "severity": "critical", "team": "db"}
WARN = {"alertname": "Disk", "severity": "warning", "team": "db", "empty": ""}
WEB = {"alertname": "Http", "team": "web"}


async def post(api: Client, alerts: Any) -> tuple[int, Any]:
    async with api.post("/api/v2/alerts", json=alerts) as resp:
        text = await resp.text()
        return resp.status, json.loads(text) if text else None


async def get(api: Client, path: str, **params: Any) -> Any:
    async with api.get(path, params=params) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


def invalid(handle: Any) -> float:
    return handle.metrics.registry.get_sample_value("promalert_alerts_invalid_total") or 0.0


async def test_posted_alerts_are_listed_with_alertmanagers_shape(api: Client, handle: Any) -> None:
    code, _ = await post(
        api, [{"labels": CRIT, "annotations": {"summary": "full"}}, {"labels": WARN}]
    )
    assert code == 200
    alerts = await get(api, "/api/v2/alerts")
    crit = next(a for a in alerts if a["labels"]["severity"] == "critical")
    warn = next(a for a in alerts if a["labels"]["severity"] == "warning")
    assert list(crit) == [
        "annotations",
        "endsAt",
        "fingerprint",
        "receivers",
        "startsAt",
        "status",
        "updatedAt",
        "labels",
    ]
    assert crit["startsAt"] == "2026-01-05T09:00:00.000Z"
    assert crit["endsAt"] == "2026-01-05T09:05:00.000Z"  # resolve_timeout
    assert crit["receivers"] == [{"name": "db"}, {"name": "web"}]
    assert crit["status"] == {"inhibitedBy": [], "silencedBy": [], "state": "active"}
    assert "empty" not in warn["labels"]
    assert warn["status"] == {
        "inhibitedBy": [crit["fingerprint"]],
        "silencedBy": [],
        "state": "suppressed",
    }
    assert [a["fingerprint"] for a in alerts] == sorted(a["fingerprint"] for a in alerts)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([{"labels": {}}], "at least one label pair required"),
        ([{"labels": {"0bad": "x"}}], 'invalid label set: invalid name "0bad"'),
        ([{"labels": {"a": "b"}, "annotations": {"bad name": "x"}}], "invalid annotations"),
        (
            [
                {
                    "labels": {"a": "b"},
                    "startsAt": "2026-01-05T10:00:00Z",
                    "endsAt": "2026-01-05T09:30:00Z",
                }
            ],
            "start time must be before end time",
        ),
    ],
)
async def test_invalid_alerts_get_400_with_the_reason(
    api: Client, handle: Any, body: Any, reason: str
) -> None:
    code, answer = await post(api, body)
    assert code == 400 and reason in answer
    assert invalid(handle) == 1
    assert await get(api, "/api/v2/alerts") == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([{"labels": {"a": 1}}], "1.labels must be an object of strings"),
        ({"labels": {"a": "b"}}, "the body must be a JSON array of alerts"),
        ([{"annotations": {}}], "1.labels in body is required"),
        ([{"labels": {"a": "b"}, "startsAt": "yesterday"}], "is not an RFC 3339 date-time"),
        ("[{", "parsing alerts body"),
    ],
)
async def test_malformed_bodies_change_nothing(
    api: Client, handle: Any, body: Any, reason: str
) -> None:
    data = body if isinstance(body, str) else json.dumps([{"labels": {"ok": "1"}}, *body])
    if not isinstance(body, list):
        data = body if isinstance(body, str) else json.dumps(body)
    async with api.post("/api/v2/alerts", data=data) as resp:
        assert resp.status == 400
        assert reason in (await resp.json())["message"]
    assert invalid(handle) == 1
    assert await get(api, "/api/v2/alerts") == []


async def test_valid_alerts_of_a_partly_invalid_body_are_kept(api: Client, handle: Any) -> None:
    code, answer = await post(api, [{"labels": WEB}, {"labels": {}}, {"labels": {"1": "x"}}])
    assert code == 400
    assert answer == 'at least one label pair required; invalid label set: invalid name "1"'
    assert [a["labels"] for a in await get(api, "/api/v2/alerts")] == [WEB]
    assert invalid(handle) == 2


async def test_oversized_body_is_refused(api: Client, handle: Any) -> None:
    big = json.dumps([{"labels": {"a": "x" * (2 << 20)}}]).encode()
    async with api.post("/api/v2/alerts", data=io.BytesIO(big)) as resp:
        assert resp.status == 400
        assert "too large" in (await resp.json())["message"]
    assert invalid(handle) == 1


async def test_alert_filters(api: Client, handle: Any) -> None:
    await post(api, [{"labels": CRIT}, {"labels": WARN}, {"labels": WEB}])
    now = handle.clock.now()
    code, _ = await post_silence(api, [matcher("alertname", "Http")], now, now + timedelta(hours=1))
    assert code == 200, _

    async def names(**params: str) -> list[tuple[str, str]]:
        got = await get(api, "/api/v2/alerts", **params)
        return sorted((a["labels"]["alertname"], a["labels"].get("severity", "")) for a in got)

    everything = [("Disk", "critical"), ("Disk", "warning"), ("Http", "")]
    assert await names() == everything
    assert await names(silenced="false") == everything[:2]
    assert await names(inhibited="false") == [everything[0], everything[2]]
    assert await names(active="false") == everything[1:]
    assert await names(filter='severity=~"crit.*"') == everything[:1]
    assert await names(receiver="d.") == everything[:2]
    assert await names(filter="team=db", silenced="false", inhibited="no") == everything[:1]
    async with api.get("/api/v2/alerts", params={"filter": "severity"}) as resp:
        assert (resp.status, await resp.json()) == (400, "bad matcher format: severity")
    async with api.get("/api/v2/alerts", params={"receiver": "("}) as resp:
        assert resp.status == 400
        assert (await resp.json()).startswith("failed to parse receiver param")


async def test_resolved_alerts_are_not_listed(api: Client, handle: Any) -> None:
    ends = (handle.clock.now() + timedelta(seconds=30)).isoformat()
    await post(api, [{"labels": WEB, "endsAt": ends}])
    assert len(await get(api, "/api/v2/alerts")) == 1
    handle.clock.advance(31)
    assert await get(api, "/api/v2/alerts") == []


async def test_groups_per_route(api: Client, handle: Any) -> None:
    await post(api, [{"labels": CRIT}, {"labels": WARN}, {"labels": WEB}])
    groups = await get(api, "/api/v2/alerts/groups")
    assert [(g["labels"], g["receiver"]["name"], len(g["alerts"])) for g in groups] == [
        ({"alertname": "Disk"}, "db", 2),
        ({"alertname": "Disk"}, "web", 2),
        ({"alertname": "Http"}, "web", 1),
    ]
    only_web = await get(api, "/api/v2/alerts/groups", receiver="web", inhibited="false")
    assert [(g["labels"]["alertname"], len(g["alerts"])) for g in only_web] == [
        ("Disk", 1),
        ("Http", 1),
    ]


def matcher(name: str, value: str, regex: bool = False, equal: bool = True) -> dict[str, Any]:
    return {"name": name, "value": value, "isRegex": regex, "isEqual": equal}


async def post_silence(
    api: Client, matchers: list[dict[str, Any]], start: Any, end: Any, **kw: Any
) -> Any:
    body = {
        "matchers": matchers,
        "startsAt": start.isoformat(),
        "endsAt": end.isoformat(),
        "createdBy": "alice",
        "comment": "maintenance",
        **kw,
    }
    async with api.post("/api/v2/silences", json=body) as resp:
        return resp.status, await resp.json()


async def test_silence_lifecycle(api: Client, handle: Any) -> None:
    now = handle.clock.now()
    code, answer = await post_silence(
        api, [matcher("team", "d.", regex=True)], now, now + timedelta(hours=1)
    )
    assert code == 200
    sid = answer["silenceID"]
    got = await get(api, f"/api/v2/silence/{sid}")
    assert got == {
        "id": sid,
        "status": {"state": "active"},
        "updatedAt": "2026-01-05T09:00:00.000Z",
        "comment": "maintenance",
        "createdBy": "alice",
        "endsAt": "2026-01-05T10:00:00.000Z",
        "matchers": [{"isEqual": True, "isRegex": True, "name": "team", "value": "d."}],
        "startsAt": "2026-01-05T09:00:00.000Z",
    }
    pending = (
        await post_silence(
            api, [matcher("a", "b")], now + timedelta(hours=2), now + timedelta(hours=3)
        )
    )[1]
    async with api.delete(f"/api/v2/silence/{sid}") as resp:
        assert resp.status == 200
    listed = await get(api, "/api/v2/silences")
    assert [(s["id"], s["status"]["state"]) for s in listed] == [
        (pending["silenceID"], "pending"),
        (sid, "expired"),
    ]
    assert [s["id"] for s in await get(api, "/api/v2/silences", filter="a=b")] == [
        pending["silenceID"]
    ]
    async with api.delete(f"/api/v2/silence/{sid}") as resp:
        assert resp.status == 200  # again: nothing changes, as in Alertmanager 0.25
    async with api.delete("/api/v2/silence/5b4e7bd0-1a9e-4c4a-9a39-5a0c2f5b1b0d") as resp:
        assert (resp.status, await resp.json()) == (500, "silence not found")
    gauge = handle.metrics.registry.get_sample_value("promalert_silences", {"state": "expired"})
    assert gauge == 1


async def test_silence_update_keeps_the_id_while_allowed(api: Client, handle: Any) -> None:
    now = handle.clock.now()
    _, first = await post_silence(api, [matcher("a", "b")], now, now + timedelta(hours=1))
    sid = first["silenceID"]
    _, again = await post_silence(api, [matcher("a", "b")], now, now + timedelta(hours=2), id=sid)
    assert again["silenceID"] == sid
    _, changed = await post_silence(api, [matcher("a", "c")], now, now + timedelta(hours=2), id=sid)
    assert changed["silenceID"] != sid


@pytest.mark.parametrize(
    ("change", "code", "answer"),
    [
        (
            {"endsAt": "2026-01-05T08:00:00Z"},
            400,
            "Failed to create silence: start time must be before end time",
        ),
        (
            {"startsAt": "2026-01-05T07:00:00Z", "endsAt": "2026-01-05T08:00:00Z"},
            400,
            "Failed to create silence: end time can't be in the past",
        ),
        (
            {"matchers": [matcher("a", "")]},
            400,
            "silence invalid: at least one matcher must not match the empty string",
        ),
        (
            {"matchers": []},
            422,
            {"code": 612, "message": "matchers in body should have at least 1 items"},
        ),
        ({"createdBy": None}, 422, {"code": 602, "message": "createdBy in body is required"}),
        ({"id": "5b4e7bd0-1a9e-4c4a-9a39-5a0c2f5b1b0d"}, 404, "silence not found"),
    ],
)
async def test_bad_silences_get_alertmanagers_answers(
    api: Client, change: dict[str, Any], code: int, answer: Any
) -> None:
    body: dict[str, Any] = {
        "matchers": [matcher("a", "b")],
        "startsAt": "2026-01-05T09:00:00Z",
        "endsAt": "2026-01-05T10:00:00Z",
        "createdBy": "alice",
        "comment": "x",
        **change,
    }
    body = {k: v for k, v in body.items() if v is not None}
    async with api.post("/api/v2/silences", json=body) as resp:
        assert (resp.status, await resp.json()) == (code, answer)


async def test_silence_ids_must_be_uuids(api: Client) -> None:
    async with api.get("/api/v2/silence/nope") as resp:
        assert resp.status == 422
        assert await resp.json() == {
            "code": 601,
            "message": 'silenceID in path must be of type uuid: "nope"',
        }
    async with api.get("/api/v2/silence/5b4e7bd0-1a9e-4c4a-9a39-5a0c2f5b1b0d") as resp:
        assert resp.status == 404


async def test_status_and_receivers(api: Client, tmp_path: Path) -> None:
    status = await get(api, "/api/v2/status")
    assert status["cluster"] == {"peers": [], "status": "disabled"}
    assert status["versionInfo"]["version"] == "0.25.0"
    original = status["config"]["original"]
    assert "s3cret" not in original
    config = yaml.safe_load(original)
    assert config["route"]["routes"][0] == {
        "receiver": "db",
        "continue": True,
        "matchers": ['team="db"'],
    }
    assert config["receivers"][1]["webhook_configs"][0]["url"] == "http://127.0.0.1:1/<secret>"
    assert await get(api, "/api/v2/receivers") == [
        {"name": "default"},
        {"name": "db"},
        {"name": "web"},
    ]
    amtool = shutil.which("amtool")
    if amtool:  # Alertmanager's own parser accepts it
        (tmp_path / "original.yml").write_text(original)
        check = await asyncio.to_thread(
            subprocess.run,
            [amtool, "check-config", str(tmp_path / "original.yml")],
            capture_output=True,
            text=True,
        )
        assert check.returncode == 0, check.stdout + check.stderr
