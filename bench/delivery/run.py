"""Delivery benchmark: 10,000 notifications through the webhook channel to a flaky sink.

The outbox is filled with N notifications (one group each, so each is its own lane),
then promalert's delivery worker sends them through the webhook notifier to a local
sink, in its own process, that answers 30% of requests with HTTP 500. Printed:
throughput, p50/p99 delivery delay (queued -> accepted by the sink), retries and
duplicates (a notification the sink accepted more than once).

    .venv/bin/python bench/delivery/run.py [--notifications 10000] [--fail 0.3]
        [--base-delay 1s] [--max-delay 5m] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from promalert.clock import SystemClock
from promalert.config.receivers import WebhookConfig
from promalert.durations import parse_duration
from promalert.metrics import Metrics
from promalert.notify.outbox import DeliveryWorker
from promalert.notify.webhook import WebhookNotifier
from promalert.store import NewNotification, NflogEntry, NflogKey, Store


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the sink (runs in its own process) -----------------------------------------------


def run_sink(port: int, fail: float, seed: int) -> None:
    """Serve the flaky webhook until killed; GET /stats returns what it saw."""
    rng = random.Random(seed)
    accepted: Counter[str] = Counter()
    first_ok: dict[str, float] = {}
    first_try: dict[str, float] = {}
    counts = {"requests": 0, "failed": 0}

    async def hook(request: web.Request) -> web.Response:
        payload = await request.json()
        counts["requests"] += 1
        first_try.setdefault(payload["groupKey"], time.time())
        if rng.random() < fail:
            counts["failed"] += 1
            return web.Response(status=500, text="injected failure")
        key = payload["groupKey"]
        accepted[key] += 1
        first_ok.setdefault(key, time.time())
        return web.Response(text="ok")

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(
            {**counts, "accepted": accepted, "first_ok": first_ok, "first_try": first_try}
        )

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_get("/stats", stats)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# -- the benchmark ---------------------------------------------------------------------


def fill(store: Store, count: int) -> dict[str, float]:
    """Queue ``count`` notifications; return each one's queue time (Unix seconds)."""
    queued: dict[str, float] = {}
    for i in range(count):
        now = datetime.now(UTC)
        group = f'{{}}:{{alertname="Bench", n="{i}"}}'
        key = NflogKey(group, "bench", "webhook", 0)
        entry = NflogEntry(key, frozenset({str(i)}), frozenset(), now, now + timedelta(days=1))
        payload = {
            "receiver": "bench",
            "status": "firing",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "Bench", "n": str(i)},
                    "annotations": {"summary": f"notification {i}"},
                    "startsAt": now.isoformat(),
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "",
                    "fingerprint": f"{i:016x}",
                }
            ],
            "groupLabels": {"n": str(i)},
            "commonLabels": {"alertname": "Bench", "n": str(i)},
            "commonAnnotations": {},
            "externalURL": "http://promalert",
            "version": "4",
            "groupKey": group,
            "truncatedAlerts": 0,
        }
        store.enqueue(entry, NewNotification("bench", "webhook", 0, group, payload, now, now))
        queued[group] = now.timestamp()
    return queued


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench(args: argparse.Namespace, sink_url: str) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="promalert-bench-"))
    store = Store.open(folder / "bench.db")
    metrics = Metrics()
    queued = fill(store, args.notifications)
    started = time.time()
    async with aiohttp.ClientSession() as session:
        config = WebhookConfig.model_validate({"url": f"{sink_url}/hook"})
        notifier = WebhookNotifier(config, session, "bench", 0)
        worker = DeliveryWorker(
            store,
            {("bench", 0): notifier},
            SystemClock(),
            metrics,
            concurrency=args.concurrency,
            base_delay=parse_duration(args.base_delay),
            max_delay=parse_duration(args.max_delay),
        )
        task = asyncio.create_task(worker.run())
        while True:  # polled: the bench measures the worker, it does not drive it
            if not store.count_pending():
                break
            await asyncio.sleep(0.05)
        finished = time.time()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        async with session.get(f"{sink_url}/stats") as response:
            stats = await response.json()
    failed_rows = len(store.outbox_rows("failed", limit=args.notifications))
    store.close()
    delays = [stats["first_ok"][g] - t for g, t in queued.items() if g in stats["first_ok"]]
    done_at = sorted(stats["first_ok"].values())
    first_pass = max(stats["first_try"].values()) - started
    retries = metrics.registry.get_sample_value(
        "promalert_notification_retries_total", {"channel": "webhook"}
    )
    return {
        "notifications": args.notifications,
        "delivered": len(stats["first_ok"]),
        "given_up": failed_rows,
        "seconds": finished - started,
        "seconds_to_99pct": done_at[int(0.99 * (len(done_at) - 1))] - started,
        "throughput": len(stats["first_ok"]) / (finished - started),
        # Every notification tried once: the send rate, before backoff waits dominate.
        "first_pass_seconds": first_pass,
        "first_pass_rate": len(stats["first_try"]) / first_pass,
        "p50": percentile(delays, 0.50),
        "p99": percentile(delays, 0.99),
        "max": max(delays),
        "requests": stats["requests"],
        "failed_requests": stats["failed"],
        "retries": int(retries or 0),
        "duplicates": sum(n - 1 for n in stats["accepted"].values()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notifications", type=int, default=10_000)
    parser.add_argument("--fail", type=float, default=0.3, help="share of requests failed")
    parser.add_argument("--base-delay", default="1s", help="first retry delay (default: 1s)")
    parser.add_argument("--max-delay", default="5m", help="longest retry delay")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sink", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sink is not None:
        run_sink(args.sink, args.fail, args.seed)
        return 0
    # Each failed attempt logs a warning; 4,000 of them would bury the figures.
    logging.basicConfig(level=logging.ERROR)
    port = free_port()
    sink = subprocess.Popen(
        [sys.executable, __file__, "--sink", str(port), "--fail", str(args.fail)]
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        result = asyncio.run(bench(args, url))
    finally:
        sink.terminate()
        sink.wait()
    print(json.dumps(result, indent=2))
    print(
        f"{result['delivered']}/{result['notifications']} delivered in {result['seconds']:.1f}s "
        f"({result['throughput']:.0f}/s overall; 99% by {result['seconds_to_99pct']:.1f}s; "
        f"first attempts at {result['first_pass_rate']:.0f}/s); delay p50 {result['p50']:.2f}s, "
        f"p99 {result['p99']:.2f}s, max {result['max']:.2f}s; {result['retries']} retries "
        f"({result['failed_requests']} requests failed with 500); "
        f"{result['duplicates']} duplicates; {result['given_up']} given up"
    )
    return 0 if result["delivered"] == result["notifications"] else 1


if __name__ == "__main__":
    sys.exit(main())
