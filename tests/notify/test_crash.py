"""Crash test: a real ``promalert run`` SIGKILLed twice while delivering 2,000 alerts.

One group per alert (``group_by: ['...']``), a webhook failing 30% of requests with 500s,
alerts POSTed to ``/api/v2/alerts`` (re-posted after each restart, as Prometheus keeps
sending them). Every alert must reach the webhook; duplicates (the same alert in the
same state delivered twice, which at-least-once delivery allows around a crash) are
counted and must stay at or below 1%.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from support.prometheus import free_port

ALERTS = 2000
BATCH = 100


class Sink:
    """A webhook failing 30% of requests with 500; counts what it accepted."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.accepted: Counter[tuple[str, str]] = Counter()
        self.requests = 0
        self.failed = 0

    async def handle(self, request: web.Request) -> web.Response:
        payload = await request.json()
        self.requests += 1
        if self.rng.random() < 0.3:
            self.failed += 1
            return web.Response(status=500, text="injected failure")
        for alert in payload["alerts"]:
            self.accepted[(alert["labels"]["n"], alert["status"])] += 1
        return web.Response(text="ok")

    def delivered(self) -> int:
        return sum(1 for (_, status) in self.accepted if status == "firing")

    def duplicates(self) -> int:
        return sum(count - 1 for count in self.accepted.values())


@asynccontextmanager
async def serve_sink(sink: Sink) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/hook", sink.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/hook"
    finally:
        await runner.cleanup()


class Promalert:
    """``promalert run`` as a child process."""

    def __init__(self, config: Path, port: int, log: Path) -> None:
        self.config, self.port, self.log = config, port, log
        self.process: asyncio.subprocess.Process | None = None
        self.url = f"http://127.0.0.1:{port}"

    async def start(self, http: aiohttp.ClientSession) -> None:
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "promalert",
                "--log-level",
                "warning",
                "run",
                "--config",
                str(self.config),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        for _ in range(300):
            try:
                async with http.get(f"{self.url}/-/ready") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            assert self.process.returncode is None, self.log.read_text()
            await asyncio.sleep(0.05)
        raise AssertionError("promalert did not become ready:\n" + self.log.read_text())

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await asyncio.wait_for(self.process.wait(), 30)


def alert(n: int) -> dict[str, Any]:
    return {
        "labels": {"alertname": "CrashTest", "n": str(n), "severity": "warning"},
        "annotations": {"summary": f"alert {n}"},
    }


async def post_alerts(http: aiohttp.ClientSession, url: str, numbers: range) -> None:
    for start in range(numbers.start, numbers.stop, BATCH):
        batch = [alert(n) for n in range(start, min(start + BATCH, numbers.stop))]
        async with http.post(f"{url}/api/v2/alerts", json=batch) as response:
            assert response.status == 200, await response.text()


async def wait_until(check: Any, within: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while not check():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


@pytest.mark.timeout(180)
async def test_every_alert_arrives_through_two_sigkills(tmp_path: Path) -> None:
    sink = Sink()
    port = free_port()
    async with serve_sink(sink) as hook, aiohttp.ClientSession() as http:
        config = tmp_path / "promalert.yml"
        config.write_text(
            json.dumps(
                {
                    "server": {"listen": f"127.0.0.1:{port}"},
                    "storage": {"url": "sqlite:///data/promalert.db"},
                    "route": {
                        "receiver": "hook",
                        "group_by": ["..."],
                        "group_wait": "0s",
                        "group_interval": "1s",
                        "repeat_interval": "1h",
                    },
                    "receivers": [
                        {
                            "name": "hook",
                            "webhook_configs": [
                                {
                                    "url": hook,
                                    "retry": {"base_delay": "50ms", "max_delay": "500ms"},
                                }
                            ],
                        }
                    ],
                }
            )
        )
        promalert = Promalert(config, port, tmp_path / "promalert.log")
        try:
            await promalert.start(http)
            await post_alerts(http, promalert.url, range(1000))
            await wait_until(lambda: sink.delivered() >= 300, 60, "300 deliveries")
            await promalert.kill()  # SIGKILL while deliveries are in flight
            first_kill = sink.delivered()

            await promalert.start(http)
            await post_alerts(http, promalert.url, range(ALERTS))  # re-sent, and the rest
            await wait_until(lambda: sink.delivered() >= 1200, 60, "1,200 deliveries")
            await promalert.kill()
            second_kill = sink.delivered()

            await promalert.start(http)
            await post_alerts(http, promalert.url, range(ALERTS))
            await wait_until(lambda: sink.delivered() >= ALERTS, 90, "every alert")
            await asyncio.sleep(1.5)  # a late duplicate would show up here
        finally:
            await promalert.stop()
    assert first_kill < 1000 and second_kill < ALERTS  # both kills hit a busy outbox
    assert {n for (n, status) in sink.accepted if status == "firing"} == {
        str(n) for n in range(ALERTS)
    }
    assert all(status == "firing" for (_, status) in sink.accepted)
    duplicates = sink.duplicates()
    print(
        f"\ncrash test: {ALERTS} alerts delivered, {sink.requests} requests, "
        f"{sink.failed} failed with 500, {duplicates} duplicates "
        f"({100 * duplicates / ALERTS:.2f}%), kills after {first_kill} and {second_kill}"
    )
    assert duplicates <= ALERTS // 100
