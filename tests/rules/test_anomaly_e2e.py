"""Acceptance 4 and 5: anomaly and trend rules against a real Prometheus with backfilled history.

Two hours of a request-rate series are written as OpenMetrics text and turned into TSDB
blocks with promtool before Prometheus starts; Prometheus then scrapes the live series
from the test exporter and promalert's own ``/metrics`` every second. promalert's real
``Service`` warms its anomaly model up from that history, stays quiet on ordinary
values, fires when the exporter injects a spike, fires its trend rule while a disk-fill
series is still below its limit, and exports the four anomaly gauges, which Prometheus
scrapes back. Finally ``promalert backtest`` replays the anomaly rule over the history
and draws it to a PNG.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from e2e.conftest import eventually, promalert_command, running_service, write_promalert
from e2e.hooks import serve_hooks
from promalert.service import Service
from support.exporter import Exporter, serve_exporter
from support.prometheus import free_port, running_prometheus

pytestmark = pytest.mark.prometheus

STEP = 5  # seconds between backfilled samples, and the anomaly rule's step
HISTORY = 2 * 3600  # seconds of backfilled history
LIMIT = 100.0  # the disk series' limit, in percent
GROWTH = 2.0  # percent per second once the disk starts filling

RULES: list[dict[str, Any]] = [
    {
        "alert": "E2EAnomaly",
        "kind": "anomaly",
        "query": "e2e_requests",
        "history": "1h",
        "step": f"{STEP}s",
        "threshold": 0.3,
        "direction": "up",
        "keep_firing_for": "1m",
        "annotations": {
            "summary": "{{ $labels.host }} at {{ $value }} (score {{ $labels.__score }})"
        },
    },
    {
        "alert": "E2EDiskFull",
        "kind": "trend",
        "query": "e2e_disk_used_percent",
        "window": "30s",
        "step": "1s",
        "condition": f"> {LIMIT:g}",
        "within": "3m",
        "annotations": {
            "eta": "{{ $value }}",
            "forecast": "{{ $labels.__forecast }}",
            "at": "{{ $labels.__predicted_at }}",
        },
    },
]


def write_history(path: Path, target: str, now: float) -> None:
    """Two hours of ordinary request rates (97..103) for web-1 and web-2, ending now."""
    rng = np.random.default_rng(11)
    start = now - HISTORY
    lines = ["# TYPE e2e_requests gauge"]
    for host in ("web-1", "web-2"):
        labels = f'host="{host}",instance="{target}",job="test"'
        for t in np.arange(start, now - STEP, STEP):
            lines.append(f"e2e_requests{{{labels}}} {rng.uniform(97, 103):.3f} {t:.3f}")
    lines.append("# EOF")
    path.write_text("\n".join(lines) + "\n")


@contextlib.asynccontextmanager
async def live_values(exporter: Exporter) -> AsyncIterator[dict[str, float]]:
    """Keep ordinary request rates coming; the yielded dict injects overrides by host."""
    rng = np.random.default_rng(12)
    override: dict[str, float] = {}

    async def loop() -> None:
        while True:
            for host in ("web-1", "web-2"):
                value = override.get(host, float(rng.uniform(97, 103)))
                exporter.set("e2e_requests", {"host": host}, value)
            await asyncio.sleep(0.5)

    task = asyncio.create_task(loop())
    try:
        yield override
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def evaluated(service: Service, times: int) -> None:
    """Wait until every rule has been evaluated ``times`` more times, all healthy."""
    seen = {r["name"]: r["last_evaluation"] for r in service.rule_status()}
    counts = dict.fromkeys(seen, 0)

    async def done() -> bool | None:
        for rule in service.rule_status():
            if rule["last_evaluation"] != seen[rule["name"]]:
                seen[rule["name"]] = rule["last_evaluation"]
                counts[rule["name"]] += 1
        return True if min(counts.values()) >= times else None

    await eventually(done, within=20, every=0.05)
    assert {r["health"] for r in service.rule_status()} == {"ok"}, service.rule_status()


async def test_anomaly_and_trend_rules_on_real_prometheus(tmp_path: Path) -> None:
    port = free_port()
    async with serve_exporter() as exporter, serve_hooks() as hooks:
        exporter.set("e2e_disk_used_percent", {"mount": "/data"}, 50.0)
        history = tmp_path / "history.om"
        write_history(history, exporter.target, time.time())
        async with (
            live_values(exporter) as inject,
            running_prometheus(
                tmp_path,
                scrape_targets=[exporter.target, f"127.0.0.1:{port}"],
                scrape_interval="1s",
                backfill=history,
            ) as prom,
        ):
            await prom.wait_for("e2e_requests", count=2)
            # The backfilled history is there: two hours of points at STEP seconds.
            old = await prom.query(f"count_over_time(e2e_requests[{HISTORY // 60 - 10}m])")
            assert old and all(float(r["value"][1]) > 1000 for r in old), old
            config = write_promalert(
                tmp_path / "promalert",
                hook_url=hooks.url,
                datasource=prom.url,
                rules=RULES,
                port=port,
            )
            async with running_service(config) as service:
                await evaluated(service, times=3)
                assert hooks.alerts("firing") == []  # ordinary values, warmed up from history

                # A disk starts filling: the trend fires long before it is full.
                loop = asyncio.get_running_loop()
                began = loop.time()
                filling = asyncio.create_task(fill_disk(exporter))
                try:
                    await hooks.wait_for(
                        lambda: bool(hooks.alerts("firing", "E2EDiskFull")),
                        within=(LIMIT - 50.0) / GROWTH,
                    )
                    level = 50.0 + GROWTH * (loop.time() - began)
                finally:
                    filling.cancel()
                assert level < LIMIT - 10, level
                (disk,) = hooks.alerts("firing", "E2EDiskFull")
                assert disk["labels"]["mount"] == "/data"
                eta, forecast = (
                    float(disk["annotations"]["eta"]),
                    float(disk["annotations"]["forecast"]),
                )
                assert forecast < LIMIT and eta > 0
                assert math.isclose(eta, (LIMIT - forecast) / GROWTH, rel_tol=0.25), disk
                assert disk["annotations"]["at"].endswith("Z")

                # A live spike on web-1 only.
                inject["web-1"] = 1000.0
                await hooks.wait_for(
                    lambda: bool(hooks.alerts("firing", "E2EAnomaly")), within=4 * STEP
                )
                (spike,) = hooks.alerts("firing", "E2EAnomaly")
                assert spike["labels"]["host"] == "web-1"
                assert spike["annotations"]["summary"].startswith("web-1 at 1000 (score ")

                # Prometheus scrapes the four gauges back from promalert's /metrics.
                for family in ("score", "expected", "lower", "upper"):
                    found = await prom.wait_for(
                        f'promalert_anomaly_{family}{{rule="E2EAnomaly",host="web-1"}}'
                    )
                    assert found[0]["metric"]["instance"] == "127.0.0.1:" + str(port)
                expected = await prom.query('promalert_anomaly_expected{host="web-2"}')
                assert 95 < float(expected[0]["value"][1]) < 105
                score = await prom.wait_for('promalert_anomaly_score{host="web-1"} >= 0.3')
                assert float(score[0]["value"][1]) <= 1.0

            await backtest_draws_the_history(config)


async def fill_disk(exporter: Exporter) -> None:
    """Grow the disk series by GROWTH percent per second from 50."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    while True:
        exporter.set(
            "e2e_disk_used_percent", {"mount": "/data"}, 50.0 + GROWTH * (loop.time() - began)
        )
        await asyncio.sleep(0.25)


async def backtest_draws_the_history(config: Path) -> None:
    """``promalert backtest`` over the backfilled history prints its firings and writes a PNG."""
    out = config.with_name("backtest.png")
    process = await asyncio.create_subprocess_exec(
        *promalert_command(),
        "backtest",
        "--config",
        str(config),
        "--rule",
        "E2EAnomaly",
        "--from",
        "-90m",
        "--to",
        "now",
        "--plot",
        str(out),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    text = stdout.decode()
    assert process.returncode == 0, stderr.decode()
    assert text.startswith("backtest of E2EAnomaly (anomaly)"), text
    assert "2 series" in text.splitlines()[0]
    assert 'host="web-1"' in text  # the injected spike, at the end of the range
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (1200, 620) and 20_000 < len(data) < 2_000_000
