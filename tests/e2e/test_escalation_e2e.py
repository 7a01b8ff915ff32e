"""Issue 4, acceptance 2: a real-time escalation through the real ``promalert run``.

An alert posted to ``/api/v2/alerts`` opens an incident on a three-level policy with
4-second level timeouts; each level is a receiver with a webhook to a local sink. Level 1
arrives at once with ``incident.level`` 1; promalert is then killed (SIGKILL) and
started again; level 2 arrives once, at its due time, not early, not twice, and level 1
is not repeated. An ack through the API then stops the escalation: level 3 never comes,
and the timeline says who acknowledged and how.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from e2e.conftest import PromalertProcess, get_json
from e2e.hooks import HookSink, serve_hooks
from support.prometheus import free_port

TIMEOUT = 4.0


def _config(folder: Path, hook_url: str) -> Path:
    port = free_port()
    config: dict[str, Any] = {
        "global": {"external_url": f"http://127.0.0.1:{port}"},
        "server": {"listen": f"127.0.0.1:{port}"},
        "storage": {"url": "sqlite:///promalert.db"},
        # An escalation-only root route: no plain receiver at all.
        "route": {"escalation": "critical", "group_by": ["..."], "group_wait": "0s"},
        "receivers": [
            {"name": f"level{n}", "webhook_configs": [{"url": hook_url}]} for n in (1, 2, 3)
        ],
        "escalation_policies": {
            "critical": {
                "levels": [
                    {"targets": [{"receiver": f"level{n}"}], "timeout": f"{TIMEOUT:g}s"}
                    for n in (1, 2, 3)
                ]
            }
        },
    }
    path = folder / "promalert.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _levels(hooks: HookSink) -> list[int]:
    return [p["incident"]["level"] for p in hooks.payloads if "incident" in p]


async def _post(url: str, path: str, body: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.post(url + path, json=body) as response:
            return response.status, await response.json(content_type=None)


@pytest.mark.timeout(90)
async def test_levels_arrive_on_time_survive_a_crash_and_stop_at_ack(tmp_path: Path) -> None:
    async with serve_hooks() as hooks:
        process = PromalertProcess(_config(tmp_path, hooks.url))
        await process.start()
        try:
            loop = asyncio.get_running_loop()
            alert = {"labels": {"alertname": "DiskFull", "severity": "critical"}}
            status, _ = await _post(process.url, "/api/v2/alerts", [alert])
            assert status == 200
            posted = loop.time()

            await hooks.wait_for(lambda: _levels(hooks) == [1], within=5)
            first = hooks.payloads[0]
            assert first["receiver"] == "level1"
            assert first["incident"]["state"] == "triggered"
            assert first["incident"]["ack_url"].startswith(process.url + "/ack/")
            assert first["alerts"][0]["labels"]["alertname"] == "DiskFull"
            incident_id = first["incident"]["id"]

            # A crash between levels: the level-2 timer lives in the store.
            await asyncio.sleep(0.5)
            await process.stop(signal.SIGKILL)
            await process.start()

            await hooks.wait_for(lambda: len(_levels(hooks)) >= 2, within=TIMEOUT + 5)
            level2_at = hooks.received_at[-1]
            assert _levels(hooks) == [1, 2]
            assert hooks.payloads[-1]["receiver"] == "level2"
            # Due TIMEOUT after the incident opened: never early, late by well under a second.
            assert TIMEOUT - 0.2 <= level2_at - posted <= TIMEOUT + 1.5

            status, body = await _post(
                process.url, f"/api/v1/incidents/{incident_id}/ack", {"by": "alice"}
            )
            assert status == 200, body
            assert body["state"] == "acknowledged"
            assert body["acknowledged_by"] == "alice"
            # Level 3 would be due TIMEOUT after level 2: wait past it.
            await asyncio.sleep(TIMEOUT + 1.5)
            assert _levels(hooks) == [1, 2]

            detail = await get_json(f"{process.url}/api/v1/incidents/{incident_id}")
            kinds = [e["kind"] for e in detail["timeline"]]
            assert kinds.count("notified") == 2
            ack = next(e for e in detail["timeline"] if e["kind"] == "acknowledged")
            assert (ack["by"], ack["via"]) == ("alice", "api")
            assert detail["level"] == 2
            assert {n["receiver"] for n in detail["notifications"]} == {"level1", "level2"}
        finally:
            await process.stop()
