"""Local stand-ins for notification providers, and the messages the channel tests send.

A test writes the provider's documented contract as a handler (method, path, auth,
body checks, the provider's error shapes) and serves it on 127.0.0.1:

    async with serve(handler) as server:
        ...  # point the channel at server.url("/path"); server.requests records each call
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web

from promalert.clock import FakeClock
from promalert.model import Alert, Labels
from promalert.notify.base import Message
from promalert.notify.channel import ChannelContext
from promalert.notify.payload import build_payload
from promalert.notify.templates import Templates

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@dataclass
class Request:
    """One request the provider got."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


Handler = Callable[[Request], Awaitable[web.StreamResponse]]


@dataclass
class ProviderServer:
    """A provider on a free port of 127.0.0.1; ``handler`` answers, ``requests`` records."""

    handler: Handler
    base: str = ""
    requests: list[Request] = field(default_factory=list)

    def url(self, path: str = "/") -> str:
        return self.base + path

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        got = Request(
            request.method,
            request.path,
            dict(request.query),
            dict(request.headers),
            await request.read(),
        )
        self.requests.append(got)
        return await self.handler(got)


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[ProviderServer]:
    """Serve ``handler`` until the block ends."""
    server = ProviderServer(handler)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server._handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    server.base = f"http://{host}:{port}"
    try:
        yield server
    finally:
        await runner.cleanup()


def json_response(data: Any, status: int = 200, **headers: str) -> web.Response:
    """A JSON answer."""
    return web.json_response(data, status=status, headers=headers or None)


def text_response(text: str, status: int = 200, **headers: str) -> web.Response:
    """A plain-text answer."""
    return web.Response(text=text, status=status, headers=headers or None)


def alert(name: str = "HighCPU", status: str = "firing", **labels: str) -> Alert:
    """An alert started at T0 (resolved at T0 + 5m when ``status`` is resolved)."""
    all_labels = {"alertname": name, "instance": "web-1", "severity": "critical", **labels}
    ends = T0 + timedelta(minutes=5) if status == "resolved" else None
    return Alert(
        Labels(all_labels),
        annotations=Labels({"summary": "CPU at 97%", "description": "web-1 is busy"}),
        starts_at=T0,
        ends_at=ends,
        generator_url="http://prometheus:9090/graph?g0.expr=up",
    )


def message(
    *alerts: Alert, receiver: str = "team", incident: dict[str, Any] | None = None
) -> Message:
    """The message a group flush at T0 + 10m would queue for ``alerts``."""
    chosen = alerts or (alert(),)
    payload = build_payload(
        receiver=receiver,
        group_key='{}:{alertname="HighCPU"}',
        group_labels={"alertname": "HighCPU"},
        alerts=list(chosen),
        external_url="http://promalert.example",
        now=T0 + timedelta(minutes=10),
    )
    if incident is not None:
        payload["incident"] = incident
    return Message(receiver, payload["groupKey"], payload, 41)


def context(
    session: aiohttp.ClientSession,
    *,
    clock: FakeClock | None = None,
    templates: Templates | None = None,
    external_url: str = "http://promalert.example",
) -> ChannelContext:
    """A channel context with a fake clock."""
    return ChannelContext(
        session, templates or Templates(), clock or FakeClock(T0), external_url=external_url
    )
