"""A synthetic workload exporter whose metrics cross the example rules' thresholds.

Every ``CYCLE`` seconds the same story repeats, so alerts fire and resolve on schedule:
web-1's CPU runs hot, its error ratio climbs, the orders queue backs up, then all recover.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

from aiohttp import web

CYCLE = 120.0
HOT = (20.0, 70.0)  # CPU of web-1 above 90% in this part of the cycle
ERRORS = (30.0, 70.0)  # web-1 answers 10% of requests with 500 in this part
QUEUE_UP = (10.0, 40.0)  # orders queue grows from 0 to 150, holds, then drains
QUEUE_DOWN = (60.0, 80.0)

_REQUEST_RATE = 100.0
_ERROR_RATE = 10.0


def _overlap(elapsed: float, window: tuple[float, float]) -> float:
    """Seconds of ``window`` (repeating every CYCLE) that lie before ``elapsed``."""
    full, part = divmod(elapsed, CYCLE)
    width = window[1] - window[0]
    return full * width + min(max(part - window[0], 0.0), width)


def _in(part: float, window: tuple[float, float]) -> bool:
    return window[0] <= part < window[1]


@dataclass(frozen=True, slots=True)
class Workload:
    """The synthetic workload's metric values as a function of seconds since start."""

    def cpu(self, elapsed: float, instance: str) -> float:
        """CPU usage in percent; web-1 runs hot in the HOT window."""
        wobble = 3.0 * math.sin(elapsed / 7.0)
        if instance == "web-1" and _in(elapsed % CYCLE, HOT):
            return 95.0 + wobble / 3.0
        return 40.0 + wobble

    def queue_depth(self, elapsed: float) -> float:
        """Depth of the orders queue."""
        part = elapsed % CYCLE
        up0, up1 = QUEUE_UP
        down0, down1 = QUEUE_DOWN
        if part < up0:
            return 0.0
        if part < up1:
            return float(round(150.0 * (part - up0) / (up1 - up0)))
        if part < down0:
            return 150.0
        if part < down1:
            return float(round(150.0 - 130.0 * (part - down0) / (down1 - down0)))
        return 20.0

    def requests(self, elapsed: float, instance: str, code: str) -> float:
        """Counter of requests served by ``instance`` with status ``code``."""
        errors = _ERROR_RATE * _overlap(elapsed, ERRORS) if instance == "web-1" else 0.0
        if code == "500":
            return errors
        return _REQUEST_RATE * elapsed - errors

    def render(self, elapsed: float) -> str:
        """The exposition text at ``elapsed`` seconds."""
        lines = [
            "# HELP demo_cpu_usage_percent CPU usage of the instance.",
            "# TYPE demo_cpu_usage_percent gauge",
        ]
        instances = ("web-1", "web-2")
        for inst in instances:
            lines.append(f'demo_cpu_usage_percent{{instance="{inst}"}} {self.cpu(elapsed, inst)}')
        lines += [
            "# HELP demo_http_requests_total Requests served.",
            "# TYPE demo_http_requests_total counter",
        ]
        for inst in instances:
            for code in ("200", "500"):
                value = self.requests(elapsed, inst, code)
                lines.append(f'demo_http_requests_total{{instance="{inst}",code="{code}"}} {value}')
        lines += [
            "# HELP demo_queue_depth Messages waiting in the queue.",
            "# TYPE demo_queue_depth gauge",
            f'demo_queue_depth{{queue="orders"}} {self.queue_depth(elapsed)}',
        ]
        return "\n".join(lines) + "\n"


def workload_app(started: float) -> web.Application:
    """An aiohttp app serving the workload at ``/metrics``, timed from ``started`` (loop time)."""
    workload = Workload()
    app = web.Application()

    async def metrics(request: web.Request) -> web.Response:
        elapsed = asyncio.get_running_loop().time() - started
        return web.Response(text=workload.render(elapsed), content_type="text/plain")

    app.router.add_get("/metrics", metrics)
    return app
