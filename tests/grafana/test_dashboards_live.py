"""Issue 7, acceptance 1: every panel query of every dashboard returns data from a real
Prometheus scraping a promalert driven through a scripted workload.

The workload: an ``expr`` rule and a ``threshold`` rule over a test exporter fire and
resolve; alerts are posted to ``/api/v2/alerts``; the main webhook fails every other
request, so deliveries fail, are retried and succeed; critical alerts open incidents on
an escalation policy that escalates, breaches its SLA, is acknowledged and resolved
through the API (twice, so the histograms move between scrapes); an anomaly rule runs
over backfilled history. Then each dashboard variable's ``label_values`` query is run
for its real values, and every target, with the variables and ``$__rate_interval``,
``$__interval`` and ``$__range`` filled in as Grafana fills them, is sent to Prometheus
(instant queries for stat and table panels, range queries over the workload for the
rest) and must return at least one finite value.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
import yaml
from aiohttp import web

from e2e.conftest import eventually, running_service
from e2e.hooks import HookSink, serve_hooks
from support.dashboards import Query, load_dashboards, queries, substitute
from support.exporter import Exporter, serve_exporter
from support.prometheus import RunningPrometheus, free_port, running_prometheus

pytestmark = [pytest.mark.prometheus, pytest.mark.timeout(150)]

STEP = 5  # seconds between backfilled samples and the anomaly rule's step
HISTORY = 3600  # seconds of backfilled history
POLICY = "dash"

RULES: list[dict[str, Any]] = [
    {
        "alert": "DashHighCPU",
        "expr": "dash_cpu_percent > 90",
        "for": "2s",
        "labels": {"severity": "warning"},
        "annotations": {"summary": "{{ $labels.host }} at {{ $value }}%"},
    },
    {
        "alert": "DashQueueBacklog",
        "kind": "threshold",
        "query": "dash_queue_depth",
        "condition": "> 100",
        "clear": "< 50",
        "labels": {"severity": "high"},
    },
    {
        "alert": "DashRequestsAnomaly",
        "kind": "anomaly",
        "query": "dash_requests",
        "history": "30m",
        "step": f"{STEP}s",
        "threshold": 0.3,
        "direction": "up",
    },
]


class FlakySink:
    """A webhook that answers 500 to every other request (the first included)."""

    def __init__(self) -> None:
        self.url = ""
        self.requests = 0
        self.delivered: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests += 1
        if self.requests % 2 == 1:
            return web.json_response({"error": "try again"}, status=500)
        self.delivered.append(body)
        return web.json_response({})


@contextlib.asynccontextmanager
async def serve_flaky() -> AsyncIterator[FlakySink]:
    """Run a :class:`FlakySink` on 127.0.0.1 until the block ends."""
    sink = FlakySink()
    app = web.Application()
    app.router.add_post("/hook", sink.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    sink.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        yield sink
    finally:
        await runner.cleanup()


def write_history(path: Path, target: str, now: float) -> None:
    """An hour of ordinary request rates for web-1 and web-2, ending now."""
    rng = np.random.default_rng(7)
    lines = ["# TYPE dash_requests gauge"]
    for host in ("web-1", "web-2"):
        labels = f'host="{host}",instance="{target}",job="workload"'
        for t in np.arange(now - HISTORY, now - STEP, STEP):
            lines.append(f"dash_requests{{{labels}}} {rng.uniform(97, 103):.3f} {t:.3f}")
    path.write_text("\n".join([*lines, "# EOF"]) + "\n")


def write_config(folder: Path, port: int, prom: str, flaky: str, pager: str) -> Path:
    """promalert.yml: rules, a flaky main webhook, and an escalation policy for critical."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rules.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "dash", "interval": "1s", "rules": RULES}]})
    )
    retry = {"base_delay": "200ms", "max_delay": "1s", "jitter": 0.0}
    config: dict[str, Any] = {
        "global": {"evaluation_interval": "1s", "external_url": f"http://127.0.0.1:{port}"},
        "datasource": {"url": prom, "timeout": "2s"},
        "server": {"listen": f"127.0.0.1:{port}"},
        "storage": {"url": "sqlite:///promalert.db"},
        "rule_files": ["rules.yml"],
        "route": {
            "receiver": "flaky",
            "group_by": ["alertname", "instance", "host"],
            "group_wait": "0s",
            "group_interval": "1s",
            "repeat_interval": "1h",
            "routes": [
                {"matchers": ['severity="critical"'], "receiver": "flaky", "escalation": POLICY}
            ],
        },
        "receivers": [
            {"name": "flaky", "webhook_configs": [{"url": flaky, "retry": retry}]},
            {"name": "pager", "webhook_configs": [{"url": pager}]},
        ],
        "users": {"alice": {"email": "alice@example.com"}, "bob": {"email": "bob@example.com"}},
        "schedules": {
            "primary": {
                "timezone": "UTC",
                "layers": [
                    {"rotation": "daily", "start": "2026-01-05T00:00", "members": ["alice", "bob"]}
                ],
            }
        },
        "escalation_policies": {
            POLICY: {
                "levels": [
                    {"targets": [{"receiver": "pager"}], "timeout": "2s"},
                    {"targets": [{"receiver": "pager"}], "timeout": "1m"},
                ],
                "sla": {"ack": "2s", "resolve": "6s"},
            }
        },
    }
    path = folder / "promalert.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


async def call(method: str, url: str, body: Any = None) -> Any:
    """One JSON request to promalert; fail on a non-2xx answer."""
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url, json=body) as response:
            text = await response.text()
            assert response.status < 300, f"{method} {url}: {response.status} {text}"
            return await response.json(content_type=None) if text else None


async def open_incident(base: str, name: str, prom: RunningPrometheus, seen: int) -> int:
    """Post a critical alert; return its incident's id once Prometheus counted the page."""
    await call(
        "POST", f"{base}/api/v2/alerts", [{"labels": {"alertname": name, "severity": "critical"}}]
    )

    async def found() -> int | None:
        for incident in await call("GET", f"{base}/api/v1/incidents"):
            if any(a["labels"]["alertname"] == name for a in incident["alerts"]):
                return int(incident["id"])
        return None

    incident = await eventually(found, within=10)
    await prom.wait_for(f'sum(promalert_escalation_steps_total{{level="1"}}) >= {seen}', within=10)
    return incident


async def scripted_workload(
    base: str, prom: RunningPrometheus, exporter: Exporter, flaky: FlakySink, pager: HookSink
) -> None:
    """Drive alerts, deliveries, escalation, acks and resolves, waiting on Prometheus."""
    # Rules fire: CPU runs hot (pending, then firing) and the queue backs up.
    exporter.set("dash_cpu_percent", {"host": "web-1"}, 97.0)
    exporter.set("dash_queue_depth", {"queue": "orders"}, 150.0)
    await call(
        "POST", f"{base}/api/v2/alerts", [{"labels": {"alertname": "DashApi", "instance": "api-1"}}]
    )
    await prom.wait_for('promalert_alerts{state="firing"} >= 3', within=15)

    # Incident 1 escalates to level 2 and breaches its 2 s ack target before the ack.
    first = await open_incident(base, "DashDiskFull", prom, 1)
    await prom.wait_for(
        f'promalert_escalation_steps_total{{policy="{POLICY}",level="2"}}', within=10
    )
    await prom.wait_for(f'promalert_sla_breaches_total{{policy="{POLICY}",kind="ack"}}', within=10)
    await call("POST", f"{base}/api/v1/incidents/{first}/ack", {"by": "alice"})
    await prom.wait_for("sum(promalert_incident_ack_seconds_count) >= 1", within=10)
    # Incident 2 is acknowledged at once; the second observation lands in a later scrape.
    second = await open_incident(base, "DashDiskSlow", prom, 2)
    await call("POST", f"{base}/api/v1/incidents/{second}/ack", {"by": "bob"})
    await prom.wait_for("sum(promalert_incident_ack_seconds_count) >= 2", within=10)
    await call("POST", f"{base}/api/v1/incidents/{first}/resolve", {"by": "alice"})
    await prom.wait_for("sum(promalert_incident_resolve_seconds_count) >= 1", within=10)
    await call("POST", f"{base}/api/v1/incidents/{second}/resolve", {"by": "bob"})
    await prom.wait_for("sum(promalert_incident_resolve_seconds_count) >= 2", within=10)
    assert pager.payloads, "the escalation policy notified nobody"

    # Everything recovers and resolves; a spike shows up in the anomaly score.
    exporter.set("dash_cpu_percent", {"host": "web-1"}, 40.0)
    exporter.set("dash_queue_depth", {"queue": "orders"}, 10.0)
    ended = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    posted = [
        {"labels": {"alertname": "DashApi", "instance": "api-1"}},
        {"labels": {"alertname": "DashDiskFull", "severity": "critical"}},
        {"labels": {"alertname": "DashDiskSlow", "severity": "critical"}},
    ]
    await call("POST", f"{base}/api/v2/alerts", [a | {"endsAt": ended} for a in posted])

    async def resolved() -> bool | None:
        firing = await call("GET", f"{base}/api/v2/alerts?active=true")
        notified = {
            a["labels"]["alertname"]
            for p in flaky.delivered
            for a in p["alerts"]
            if a["status"] == "resolved"
        }
        return True if not firing and {"DashHighCPU", "DashApi"} <= notified else None

    await eventually(resolved, within=15)
    await prom.wait_for("sum(promalert_notifications_failed_total) >= 4", within=15)
    await prom.wait_for("sum(promalert_notification_retries_total) >= 4", within=15)


async def keep_requests_ordinary(exporter: Exporter, target: str) -> None:
    """Serve ordinary request rates, as in the backfilled history, until cancelled."""
    rng = np.random.default_rng(8)
    while True:
        for host in ("web-1", "web-2"):
            exporter.set(
                "dash_requests",
                {"host": host, "instance": target, "job": "workload"},
                float(rng.uniform(97, 103)),
            )
        await asyncio.sleep(0.5)


def regex_alternation(values: list[str]) -> str:
    """Values joined as Grafana sends a multi-value variable to Prometheus (regex-escaped)."""
    escaped = [re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\\\1", v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


async def variable_values(
    prom: RunningPrometheus, dashboards: dict[str, Any], filled: dict[str, str], start: float
) -> dict[str, str]:
    """Run every ``label_values`` variable query in order; return the variables' values."""
    out = dict(filled)
    for dashboard in dashboards.values():
        for variable in dashboard["templating"]["list"]:
            if variable["type"] != "query":
                continue
            match = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["definition"])
            assert match, variable["definition"]
            selector = substitute(match.group(1), out)
            series = await prom.api("series", **{"match[]": selector, "start": str(start)})
            values = sorted({s[match.group(2)] for s in series if match.group(2) in s})
            assert values, f"variable {variable['name']}: no values for {selector}"
            out[variable["name"]] = regex_alternation(values)
    return out


def finite_values(data: dict[str, Any]) -> list[float]:
    """Every finite sample value in a query or query_range answer."""
    if data["resultType"] == "matrix":
        raw = [v for series in data["result"] for _, v in series["values"]]
    elif data["resultType"] == "vector":
        raw = [series["value"][1] for series in data["result"]]
    else:
        raw = [data["result"][1]]
    return [float(v) for v in raw if math.isfinite(float(v))]


async def run_query(
    prom: RunningPrometheus, query: Query, values: dict[str, str], start: float, end: float
) -> str | None:
    """Send one panel target as Grafana would; None when it returned data, else why not."""
    expr = substitute(query.expr, values)
    try:
        if query.instant:
            data = await prom.api("query", query=expr, time=f"{end:.3f}")
        else:
            data = await prom.api(
                "query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step="1"
            )
    except AssertionError as exc:
        return f"{query.name}: {expr}: {exc}"
    if not finite_values(data):
        return f"{query.name}: no finite values for {expr}: {data['result']}"
    return None


async def test_every_panel_query_returns_data(tmp_path: Path) -> None:
    port = free_port()
    dashboards = load_dashboards()
    async with serve_exporter() as exporter, serve_flaky() as flaky, serve_hooks() as pager:
        history = tmp_path / "history.om"
        write_history(history, exporter.target, time.time())
        ordinary = asyncio.create_task(keep_requests_ordinary(exporter, exporter.target))
        scrape_configs = [
            {
                "job_name": "workload",
                "honor_labels": True,
                "static_configs": [{"targets": [exporter.target]}],
            },
            # As deploy/prometheus/scrape-promalert.yml: anomaly gauges keep the series' labels.
            {
                "job_name": "promalert",
                "honor_labels": True,
                "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
            },
        ]
        try:
            async with running_prometheus(
                tmp_path,
                scrape_interval="1s",
                backfill=history,
                extra_config={"scrape_configs": scrape_configs},
            ) as prom:
                await prom.wait_for("dash_requests", count=2)
                config = write_config(tmp_path / "promalert", port, prom.url, flaky.url, pager.url)
                async with running_service(config):
                    start = time.time()
                    await prom.wait_for('promalert_build_info{job="promalert"}', within=15)
                    await scripted_workload(
                        f"http://127.0.0.1:{port}", prom, exporter, flaky, pager
                    )
                    await prom.wait_for("promalert_anomaly_score", count=2, within=20)
                    await asyncio.sleep(3)  # a few more scrapes after the last change
                    end = time.time()
                    filled = {
                        "datasource": "prometheus",
                        "__interval": "1s",  # one point per scrape over the workload
                        # Grafana: max($__interval + scrape interval, 4 * scrape interval)
                        "__rate_interval": "4s",
                        "__range": f"{math.ceil(end - start)}s",
                    }
                    values = await variable_values(prom, dashboards, filled, start)
                    problems = [
                        p
                        for q in queries(dashboards)
                        if (p := await run_query(prom, q, values, start, end)) is not None
                    ]
        finally:
            ordinary.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ordinary
    assert len(queries(dashboards)) > 40
    assert problems == [], "\n".join(problems)
