"""The two loads: as fast as the server takes them, and a steady rate.

Every alert is unique (``seq`` label), so with ``group_by: ['...']`` each is its own
group and its own webhook notification. Send times and the sink's arrival times are
both ``time.monotonic()``, one clock for all processes of the host.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp


def alert(seq: int, run: str) -> dict[str, Any]:
    """One benchmark alert."""
    return {
        "labels": {
            "alertname": "BenchAlert",
            "run": run,
            "seq": str(seq),
            "instance": f"host-{seq % 500:03d}.example.org:9100",
            "job": "node",
            "severity": "warning",
        },
        "annotations": {
            "summary": f"Bench alert {seq} on host-{seq % 500:03d}",
            "description": "Synthetic alert from bench/ingest; nothing is wrong.",
        },
        "generatorURL": "http://prometheus.example.org/graph?g0.expr=up",
    }


@contextmanager
def quiet_collector() -> Iterator[None]:
    """No cyclic-GC pause in the load generator while it posts and stamps times.

    A pause here (15-20 ms for a whole-heap collection with the batches built) would be
    counted as latency of whichever server is being measured.
    """
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@dataclass
class LoadResult:
    """What one load measured."""

    sent: int
    post_seconds: float  # first post start to last post answered
    deliver_seconds: float  # first post start to last first-arrival at the sink
    delivered: int
    latencies: list[float]  # seconds, per alert: arrival - its batch's send time
    failed_posts: int


def sink_get(sink_url: str, path: str) -> Any:
    """GET a sink endpoint and decode its JSON."""
    with urllib.request.urlopen(sink_url + path, timeout=30) as resp:
        return json.loads(resp.read())


def sink_reset(sink_url: str) -> None:
    """Forget everything the sink has seen."""
    urllib.request.urlopen(urllib.request.Request(sink_url + "/reset", method="POST"), timeout=10)


async def _wait_delivered(sink_url: str, count: int, within: float) -> int:
    deadline = time.monotonic() + within
    seen = 0
    while time.monotonic() < deadline:
        seen = int((await asyncio.to_thread(sink_get, sink_url, "/count"))["seqs"])
        if seen >= count:
            return seen
        await asyncio.sleep(0.05)
    return seen


async def _post(session: aiohttp.ClientSession, url: str, batch: list[dict[str, Any]]) -> bool:
    async with session.post(
        url, data=json.dumps(batch), headers={"Content-Type": "application/json"}
    ) as resp:
        await resp.read()
        return resp.status == 200


def _result(
    sent: dict[int, float], arrivals: dict[str, float], start: float, posted: float, failed: int
) -> LoadResult:
    latencies = []
    last = start
    for seq, at in arrivals.items():
        sent_at = sent.get(int(seq))
        if sent_at is None:
            continue
        latencies.append(at - sent_at)
        last = max(last, at)
    return LoadResult(len(sent), posted - start, last - start, len(latencies), latencies, failed)


async def flood(
    url: str, sink_url: str, total: int, batch: int, concurrency: int, run: str, within: float
) -> LoadResult:
    """Post ``total`` alerts in batches, ``concurrency`` posts in flight, as fast as taken."""
    alerts = [alert(i, run) for i in range(total)]
    batches = [alerts[i : i + batch] for i in range(0, total, batch)]
    sent: dict[int, float] = {}
    failed = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(batches)):
        queue.put_nowait(i)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal failed
            while not queue.empty():
                i = queue.get_nowait()
                at = time.monotonic()
                for a in batches[i]:
                    sent[int(a["labels"]["seq"])] = at
                if not await _post(session, url + "/api/v2/alerts", batches[i]):
                    failed += 1

        with quiet_collector():
            start = time.monotonic()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            posted = time.monotonic()
    await _wait_delivered(sink_url, total, within)
    arrivals = await asyncio.to_thread(sink_get, sink_url, "/dump")
    return _result(sent, arrivals, start, posted, failed)


async def steady(
    url: str, sink_url: str, total: int, rate: float, batch: int, run: str, within: float
) -> LoadResult:
    """Offer ``total`` alerts at ``rate`` per second, a batch every ``batch / rate`` s."""
    alerts = [alert(i, run) for i in range(total)]
    period = batch / rate
    sent: dict[int, float] = {}
    failed = 0
    tasks: list[asyncio.Task[bool]] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        with quiet_collector():
            start = time.monotonic()
            for n, i in enumerate(range(0, total, batch)):
                # Absolute schedule: a slow post does not push the later ones back.
                delay = start + n * period - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                chunk = alerts[i : i + batch]
                at = time.monotonic()
                for a in chunk:
                    sent[int(a["labels"]["seq"])] = at
                tasks.append(asyncio.create_task(_post(session, url + "/api/v2/alerts", chunk)))
            results = await asyncio.gather(*tasks)
            posted = time.monotonic()
    failed = sum(1 for ok in results if not ok)
    await _wait_delivered(sink_url, total, within)
    arrivals = await asyncio.to_thread(sink_get, sink_url, "/dump")
    return _result(sent, arrivals, start, posted, failed)
