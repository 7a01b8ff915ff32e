"""A fast exporter of 10,000 ``bench_value{grp, idx}`` series whose values change on every scrape.

Each series is either *hot* (value 91..100) or *cold* (0..90). On every scrape each series
re-draws its state with a small probability, becoming hot one time in ten, so about 10% of
the series are above 90 at any moment and each hot spell lasts about twenty scrapes: alerts
with a short ``for`` go pending, fire and resolve while the benchmark runs, which exercises
the whole rule state machine rather than only the query.

Run as ``python exporter.py [--port 0] [--seed N]``; it prints the bound port on the first
line of stdout and serves ``/metrics`` until it is terminated.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import sys

import numpy as np
from aiohttp import web

GROUPS = 100
PER_GROUP = 100
HOT_SHARE = 0.1  # chance that a re-drawn series becomes hot
REDRAW = 0.05  # chance per scrape that a series re-draws its state
_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class BenchSeries:
    """The series' labels pre-rendered once, and their hot/cold state advanced per scrape."""

    def __init__(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)
        self._prefixes = [
            f'bench_value{{grp="{g}",idx="{i}"}} '.encode()
            for g in range(GROUPS)
            for i in range(PER_GROUP)
        ]
        # Values are integers 0..100, so every possible "value\n" is rendered ahead of time.
        self._values = [f"{v}\n".encode() for v in range(101)]
        self._hot = self._rng.random(GROUPS * PER_GROUP) < HOT_SHARE
        self._header = (
            b"# HELP bench_value A benchmark value that changes on every scrape.\n"
            b"# TYPE bench_value gauge\n"
        )

    def render(self) -> bytes:
        """Advance every series by one scrape and return the exposition text."""
        n = len(self._prefixes)
        redraw = self._rng.random(n) < REDRAW
        self._hot = np.where(redraw, self._rng.random(n) < HOT_SHARE, self._hot)
        values = np.where(
            self._hot, self._rng.integers(91, 101, n), self._rng.integers(0, 91, n)
        ).tolist()
        vals = self._values
        parts = [self._header]
        parts.extend(p + vals[v] for p, v in zip(self._prefixes, values, strict=True))
        return b"".join(parts)


async def serve(port: int, seed: int) -> None:
    """Serve ``/metrics`` on 127.0.0.1 until SIGTERM or SIGINT."""
    series = BenchSeries(seed)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=series.render(), headers={"Content-Type": _CONTENT_TYPE})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    # Bind the socket ourselves so the port chosen for --port 0 is known before serving.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    await web.SockSite(runner, sock).start()
    print(sock.getsockname()[1], flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> int:
    """Parse the arguments and serve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
