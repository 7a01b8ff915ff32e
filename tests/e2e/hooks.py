"""A local webhook receiver that records Alertmanager v4 payloads, for end-to-end tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class HookSink:
    """Records every payload POSTed to ``url``."""

    url: str = ""
    payloads: list[dict[str, Any]] = field(default_factory=list)
    # Event-loop time (``loop.time()``) each payload arrived, parallel to ``payloads``.
    received_at: list[float] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def alerts(self, status: str, name: str | None = None) -> list[dict[str, Any]]:
        """Every alert notified with ``status`` (optionally only ``alertname == name``)."""
        return [
            alert
            for payload in self.payloads
            for alert in payload["alerts"]
            if alert["status"] == status and (name is None or alert["labels"]["alertname"] == name)
        ]

    def first_at(self, status: str, name: str) -> float | None:
        """Loop time the first ``status`` notification of alert ``name`` arrived, or None."""
        for payload, at in zip(self.payloads, self.received_at, strict=True):
            if any(
                a["status"] == status and a["labels"]["alertname"] == name
                for a in payload["alerts"]
            ):
                return at
        return None

    async def wait_for(self, check: Callable[[], bool], within: float) -> float:
        """Wait until ``check()`` holds; return the seconds it took; fail after ``within`` s."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        while not check():
            remaining = within - (loop.time() - start)
            if remaining <= 0:
                raise AssertionError(f"condition not met within {within}s; got {self.payloads}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))
            except TimeoutError:
                pass
        return loop.time() - start


@asynccontextmanager
async def serve_hooks() -> AsyncIterator[HookSink]:
    """Run a webhook receiver on 127.0.0.1 for the duration of the block."""
    sink = HookSink()

    async def receive(request: web.Request) -> web.Response:
        payload = await request.json()
        sink.received_at.append(asyncio.get_running_loop().time())
        sink.payloads.append(payload)
        sink._changed.set()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    sink.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield sink
    finally:
        await runner.cleanup()
