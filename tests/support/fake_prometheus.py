"""A scripted stand-in for the Prometheus HTTP API, for answers a real server won't give.

async with fake_api("/prometheus") as (api, url):
    api.handler = lambda request: ok({"resultType": "scalar", "result": [0, "1"]})
    ...  # point a client at url; api.requests records (method, path, form, headers)
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FakeApi:
    """Answers /prefix/api/v1/query(_range) with ``handler`` and records each request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], dict[str, str]]] = []
        self.handler: Handler = lambda request: ok(
            {"resultType": "matrix" if request.path.endswith("range") else "vector", "result": []}
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Record the request, then answer with ``handler``."""
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.requests.append((request.method, request.path, form, dict(request.headers)))
        return await self.handler(request)


async def ok(data: dict[str, Any], warnings: list[str] | None = None) -> web.Response:
    """A successful API answer with ``data`` (and optional warnings)."""
    body: dict[str, Any] = {"status": "success", "data": data}
    if warnings:
        body["warnings"] = warnings
    return web.json_response(body)


@asynccontextmanager
async def fake_api(
    prefix: str = "", ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[FakeApi, str]]:
    """Serve a :class:`FakeApi` under ``prefix`` on 127.0.0.1 (HTTPS with ``ssl_context``)."""
    api = FakeApi()
    app = web.Application()
    app.router.add_post(f"{prefix}/api/v1/query", api.handle)
    app.router.add_post(f"{prefix}/api/v1/query_range", api.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    scheme = "https" if ssl_context else "http"
    try:
        yield api, f"{scheme}://127.0.0.1:{runner.addresses[0][1]}{prefix}"
    finally:
        await runner.cleanup()
