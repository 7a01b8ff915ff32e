"""A tiny Prometheus exporter for tests: serve gauges on 127.0.0.1 and change them at will.

async with serve_exporter() as exp:
    exp.set("node_cpu", {"instance": "web-1"}, 97.0)
    ...  # scrape exp.target ("127.0.0.1:PORT") or fetch exp.url
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager

from aiohttp import web

LabelKey = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class Exporter:
    """Gauges served in the Prometheus text format; every change shows on the next scrape."""

    def __init__(self) -> None:
        self._metrics: dict[str, dict[LabelKey, float]] = {}
        self.scrapes = 0
        self.target = ""  # "127.0.0.1:PORT", set once serving
        self._scraped = asyncio.Event()

    @property
    def url(self) -> str:
        """The full URL of the metrics page."""
        return f"http://{self.target}/metrics"

    def set(self, name: str, labels: Mapping[str, str] | None = None, value: float = 0.0) -> None:
        """Set gauge ``name{labels}`` to ``value`` (NaN and infinities allowed)."""
        self._metrics.setdefault(name, {})[tuple(sorted((labels or {}).items()))] = value

    def set_many(self, name: str, rows: Iterable[tuple[Mapping[str, str], float]]) -> None:
        """Set many series of gauge ``name`` at once (fast for thousands of series)."""
        series = self._metrics.setdefault(name, {})
        for labels, value in rows:
            series[tuple(sorted(labels.items()))] = value

    def remove(self, name: str, labels: Mapping[str, str] | None = None) -> None:
        """Stop serving one series of ``name``, or the whole metric when ``labels`` is None."""
        if labels is None:
            self._metrics.pop(name, None)
        else:
            self._metrics.get(name, {}).pop(tuple(sorted(labels.items())), None)

    def clear(self) -> None:
        """Serve no metrics at all."""
        self._metrics.clear()

    def render(self) -> str:
        """The metrics page, in the Prometheus text exposition format."""
        lines: list[str] = []
        for name, series in sorted(self._metrics.items()):
            lines.append(f"# TYPE {name} gauge")
            for key, value in series.items():
                inner = ",".join(f'{k}="{_escape(v)}"' for k, v in key)
                lines.append(
                    f"{name}{{{inner}}} {_number(value)}" if inner else f"{name} {_number(value)}"
                )
        return "\n".join(lines) + "\n"

    async def wait_scraped(self, times: int = 1, within: float = 30.0) -> None:
        """Wait until the page has been fetched ``times`` more times, at most ``within`` s."""
        target = self.scrapes + times
        async with asyncio.timeout(within):
            while self.scrapes < target:
                self._scraped.clear()
                await self._scraped.wait()

    async def _handle(self, request: web.Request) -> web.Response:
        self.scrapes += 1
        self._scraped.set()
        return web.Response(text=self.render(), content_type="text/plain", charset="utf-8")


@asynccontextmanager
async def serve_exporter(host: str = "127.0.0.1") -> AsyncIterator[Exporter]:
    """Serve a new :class:`Exporter` on ``host`` and a free port until the block ends."""
    exporter = Exporter()
    app = web.Application()
    app.router.add_get("/metrics", exporter._handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        exporter.target = f"{host}:{port}"
        yield exporter
    finally:
        await runner.cleanup()
