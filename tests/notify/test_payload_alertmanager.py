"""The payload against a live Alertmanager 0.25 (skipped where it is not installed)."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from promalert.dispatch.group import group_key
from promalert.model import Alert, Labels
from promalert.notify.payload import build_payload, sort_alerts

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
pytestmark = pytest.mark.skipif(BINARY is None, reason="Alertmanager is not installed")

GROUP = {"alertname": "Live", "zone": "eu"}
SENT: list[dict[str, Any]] = [
    {
        "labels": {**GROUP, "instance": "b", "job": "node"},
        "annotations": {"summary": "disk full", "runbook": "http://rb"},
        "startsAt": "2020-01-01T10:00:00.25Z",
        "generatorURL": "http://prom/graph?g0.expr=up",
    },
    {
        "labels": {**GROUP, "instance": "a", "job": "node", "extra": "x.y"},
        "annotations": {"summary": "disk full"},
        "startsAt": "2020-01-01T09:00:00Z",
        "endsAt": "2020-01-01T09:30:00Z",
    },
    {"labels": {**GROUP, "other": "1"}, "startsAt": "2020-01-01T08:00:00Z"},
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _alert(sent: dict[str, Any]) -> Alert:
    def parse(text: str | None) -> datetime | None:
        return None if text is None else datetime.fromisoformat(text).astimezone(UTC)

    return Alert(
        Labels(sent["labels"]),
        annotations=Labels(sent.get("annotations", {})),
        starts_at=parse(sent["startsAt"]),
        ends_at=parse(sent.get("endsAt")),
        generator_url=sent.get("generatorURL", ""),
    )


async def _wait_ready(session: aiohttp.ClientSession, url: str) -> None:
    for _ in range(200):
        try:
            async with session.get(url + "/-/ready") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError("Alertmanager did not become ready")


async def test_same_payload_as_a_live_alertmanager(
    tmp_path: Path, hook: Any, session: aiohttp.ClientSession
) -> None:
    assert BINARY is not None
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    config = {
        "route": {
            "receiver": "team.ops",
            "group_by": ["alertname", "zone"],
            "group_wait": "100ms",
            "group_interval": "1m",
        },
        "receivers": [{"name": "team.ops", "webhook_configs": [{"url": hook.url("/am")}]}],
    }
    (tmp_path / "am.yml").write_text(json.dumps(config))
    proc = await asyncio.create_subprocess_exec(
        BINARY,
        f"--config.file={tmp_path / 'am.yml'}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--web.external-url={url}",
        "--cluster.listen-address=",
        f"--storage.path={tmp_path / 'data'}",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await _wait_ready(session, url)
        async with session.post(url + "/api/v2/alerts", json=SENT) as response:
            assert response.status == 200
        await asyncio.wait_for(hook.arrived.wait(), timeout=15)
    finally:
        proc.terminate()
        await proc.wait()
    received = hook.requests[0].json
    ours = build_payload(
        receiver="team.ops",
        group_key=group_key("{}", GROUP),
        group_labels=GROUP,
        alerts=sort_alerts([_alert(s) for s in SENT]),
        external_url=url,
        now=datetime.now(UTC),
    )
    assert ours == received
