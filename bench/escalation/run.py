"""Escalation benchmark: many incidents escalating on a real clock, to a local webhook.

    .venv/bin/python bench/escalation/run.py [--incidents 10000] [--timeout 1m] [--spread 60s]
    .venv/bin/python bench/escalation/run.py --incidents 500 --timeout 10s   # quick

A real ``promalert run`` process gets one route (``group_by: ['...']``, ``group_wait: 0s``,
``escalation: bench``) and a policy of ``--levels`` levels, each ``{receiver: sink}`` with
``timeout: --timeout``; ``sink`` is a webhook to a raw asyncio HTTP server in its own
process (``sink.py``). ``--incidents`` unique alerts are POSTed to ``/api/v2/alerts``
evenly over ``--spread`` (a batch every few tens of milliseconds, on an absolute
schedule), so each alert opens its own incident. No alert resolves and nobody acks, so
every incident notifies level 1 at once and level k at ``created_at + (k-1) * timeout``.

Lateness of a step = its first arrival at the sink (wall clock) minus its due time,
with ``created_at`` read back from ``GET /api/v1/incidents``. Prints p50/p99/max per
level, level 1 measured from the alert's POST as well, promalert's CPU seconds and peak
resident memory. Target: p99 lateness under 1 s. Binds only 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ingest"))

from servers import Server, free_port  # noqa: E402

from promalert.durations import format_duration, parse_duration  # noqa: E402

_SINK = Path(__file__).resolve().parent / "sink.py"


def config(port: int, sink_url: str, store: Path, levels: int, timeout: str) -> dict[str, Any]:
    """The promalert.yml of the benchmark."""
    return {
        "global": {"resolve_timeout": "1h", "external_url": f"http://127.0.0.1:{port}"},
        "server": {"listen": f"127.0.0.1:{port}"},
        "storage": {"url": f"sqlite:///{store}"},
        "route": {
            "group_by": ["..."],
            "group_wait": "0s",
            "group_interval": "5m",
            "repeat_interval": "24h",
            "escalation": "bench",
        },
        "receivers": [
            {"name": "sink", "webhook_configs": [{"url": sink_url, "send_resolved": False}]}
        ],
        "escalation_policies": {
            "bench": {"levels": [{"targets": [{"receiver": "sink"}], "timeout": timeout}] * levels}
        },
    }


def start_promalert(workdir: Path, sink_url: str, levels: int, timeout: str) -> Server:
    """A fresh ``promalert run`` with the benchmark config, ready to take alerts."""
    port = free_port()
    path = workdir / "promalert.yml"
    path.write_text(
        yaml.safe_dump(config(port, sink_url, workdir / "data" / "pa.db", levels, timeout))
    )
    argv = [
        sys.executable,
        "-m",
        "promalert",
        "--log-level",
        "warning",
        "run",
        "--config",
        str(path),
    ]
    log_path = workdir / "promalert.log"
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            argv, cwd=workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
    server = Server("promalert", popen, f"http://127.0.0.1:{port}", log_path)
    try:
        server.wait_ready("/-/ready")
    except BaseException:
        server.stop()
        raise
    return server


def peak_rss(server: Server) -> int:
    """The process's peak resident memory (VmHWM) in bytes."""
    for line in Path(f"/proc/{server.popen.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc")


def get_json(url: str) -> Any:
    """GET ``url`` and decode its JSON."""
    with urllib.request.urlopen(url, timeout=60) as resp:
        return json.loads(resp.read())


def alert(seq: int) -> dict[str, Any]:
    """One benchmark alert: its unique ``seq`` makes it its own group and incident."""
    return {
        "labels": {
            "alertname": "BenchEscalation",
            "seq": str(seq),
            "instance": f"host-{seq % 500:03d}.example.org:9100",
            "job": "node",
            "severity": "critical",
        },
        "annotations": {"summary": f"Bench incident {seq}; nothing is wrong."},
    }


async def post_all(url: str, total: int, spread: float, batch: int) -> tuple[dict[int, float], int]:
    """POST ``total`` alerts in batches evenly over ``spread`` seconds; (post times, failures)."""
    posted: dict[int, float] = {}
    failed = 0
    batches = [list(range(i, min(i + batch, total))) for i in range(0, total, batch)]
    step = spread / max(1, len(batches))
    start = time.monotonic()

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=8)) as session:

        async def one(seqs: list[int]) -> None:
            nonlocal failed
            body = json.dumps([alert(s) for s in seqs])
            at = time.time()
            for s in seqs:
                posted[s] = at
            headers = {"Content-Type": "application/json"}
            async with session.post(url + "/api/v2/alerts", data=body, headers=headers) as resp:
                await resp.read()
                if resp.status != 200:
                    failed += 1

        tasks = []
        for i, seqs in enumerate(batches):
            delay = start + i * step - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(seqs)))
        await asyncio.gather(*tasks)
    return posted, failed


def wait_steps(sink_url: str, expected: int, within: float) -> dict[str, int]:
    """Poll the sink until ``expected`` distinct steps arrived or ``within`` s passed."""
    deadline = time.monotonic() + within
    counts: dict[str, int] = get_json(sink_url + "/count")
    while counts["steps"] < expected and time.monotonic() < deadline:
        time.sleep(0.5)
        counts = get_json(sink_url + "/count")
    return counts


def incidents(url: str) -> list[dict[str, Any]]:
    """Every incident, paging through ``GET /api/v1/incidents``."""
    out: list[dict[str, Any]] = []
    before: int | None = None
    while True:
        query = "limit=1000" + ("" if before is None else f"&before={before}")
        page: list[dict[str, Any]] = get_json(f"{url}/api/v1/incidents?{query}")
        if not page:
            return out
        out.extend(page)
        before = min(int(i["id"]) for i in page)


def quantile(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def lateness(
    found: list[dict[str, Any]],
    arrivals: dict[str, float],
    posted: dict[int, float],
    levels: int,
    timeout: float,
) -> tuple[dict[int, list[float]], list[float], int]:
    """Per level, arrival minus due time; level 1 arrival minus POST; steps never arrived."""
    per_level: dict[int, list[float]] = {k: [] for k in range(1, levels + 1)}
    from_post: list[float] = []
    missing = 0
    for incident in found:
        created = _epoch(incident["created_at"])
        for level in per_level:
            at = arrivals.get(f"{incident['id']}:{level}")
            if at is None:
                missing += 1
                continue
            per_level[level].append(at - (created + (level - 1) * timeout))
        seq = incident["group_labels"].get("seq")
        first = arrivals.get(f"{incident['id']}:1")
        if seq is not None and first is not None and int(seq) in posted:
            from_post.append(first - posted[int(seq)])
    return per_level, from_post, missing


def _row(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"{name:<26} {len(ms):>7} {quantile(ms, 0.5):>9.1f} {quantile(ms, 0.99):>9.1f} "
        f"{max(ms, default=float('nan')):>9.1f} {min(ms, default=float('nan')):>9.1f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--timeout", default="1m", help="every level's timeout (default 1m)")
    parser.add_argument("--spread", default="60s", help="open the incidents over this long")
    parser.add_argument("--levels", type=int, default=3)
    parser.add_argument("--batch", type=int, default=10, help="alerts per POST")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and log")
    args = parser.parse_args()
    timeout, spread = parse_duration(args.timeout), parse_duration(args.spread)
    expected = args.incidents * args.levels

    workdir = Path(tempfile.mkdtemp(prefix="bench-escalation-"))
    sink_port = free_port()
    sink = subprocess.Popen([sys.executable, str(_SINK), str(sink_port)])
    sink_url = f"http://127.0.0.1:{sink_port}"
    server: Server | None = None
    try:
        server = start_promalert(workdir, sink_url, args.levels, args.timeout)
        cpu0, rss0 = server.cpu(), server.rss()
        wall0 = time.monotonic()
        print(
            f"{args.incidents} incidents over {format_duration(spread)}, {args.levels} levels "
            f"of {format_duration(timeout)}; promalert pid {server.popen.pid}, work {workdir}",
            flush=True,
        )
        posted, failed = asyncio.run(post_all(server.url, args.incidents, spread, args.batch))
        print(f"posted {len(posted)} alerts ({failed} failed POSTs); waiting for steps", flush=True)
        within = (args.levels - 1) * timeout + 60
        counts = wait_steps(sink_url, expected, within)
        time.sleep(min(5.0, timeout / 2))  # late duplicates would show up here
        counts = get_json(sink_url + "/count")
        cpu, wall, peak = server.cpu() - cpu0, time.monotonic() - wall0, peak_rss(server)
        found = incidents(server.url)
        arrivals: dict[str, float] = get_json(sink_url + "/dump")
    finally:
        if server is not None:
            server.stop()
        sink.terminate()
        sink.wait()

    per_level, from_post, missing = lateness(found, arrivals, posted, args.levels, timeout)
    every = [v for values in per_level.values() for v in values]
    p99 = quantile(every, 0.99)
    print()
    print(
        f"incidents opened: {len(found)} of {args.incidents}; steps arrived: "
        f"{counts['steps']} of {expected} (missing {missing}); duplicates: "
        f"{counts['duplicates']}; plain (non-escalation) notifications: {counts['plain']}"
    )
    print(f"{'lateness (ms)':<26} {'steps':>7} {'p50':>9} {'p99':>9} {'max':>9} {'min':>9}")
    for level, values in per_level.items():
        print(_row(f"level {level} (due + {level - 1} x timeout)", values))
    print(_row("all levels", every))
    print(_row("level 1 from alert POST", from_post))
    print(
        f"promalert CPU: {cpu:.1f} s over {wall:.0f} s wall ({cpu / wall * 100:.0f}% of a core); "
        f"peak RSS {peak / 2**20:.0f} MiB (idle at start {rss0 / 2**20:.0f} MiB)"
    )
    verdict = "met" if p99 < 1.0 and missing == 0 else "NOT met"
    print(f"target p99 lateness < 1 s: {verdict} (p99 {p99 * 1000:.0f} ms)")
    if args.json is not None:
        figures = {
            "incidents": args.incidents,
            "levels": args.levels,
            "timeout_s": timeout,
            "spread_s": spread,
            "opened": len(found),
            "missing_steps": missing,
            "duplicates": counts["duplicates"],
            "cpu_s": cpu,
            "wall_s": wall,
            "peak_rss": peak,
            "idle_rss": rss0,
            "lateness_ms": {
                str(level): {q: quantile(v, p) * 1000 for q, p in (("p50", 0.5), ("p99", 0.99))}
                | {"max": max(v, default=float("nan")) * 1000}
                for level, v in [*per_level.items(), ("all", every), ("post", from_post)]
            },
        }
        args.json.write_text(json.dumps(figures, indent=2))
    if not args.keep:
        for path in sorted(workdir.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        workdir.rmdir()
    else:
        print(f"work folder kept: {workdir}")
    return 0 if verdict == "met" else 1


if __name__ == "__main__":
    sys.exit(main())
