"""Smoke test against a real Prometheus: an ``expr`` rule with ``for: 2s`` fires and resolves."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import pytest

from promalert.clock import SystemClock
from promalert.config.models import DatasourceConfig
from promalert.datasource import PrometheusClient
from promalert.metrics import Metrics
from promalert.model import Alert
from promalert.rules.engine import RuleEngine
from promalert.rules.spec import RuleGroup
from support.exporter import serve_exporter
from support.prometheus import running_prometheus

pytestmark = pytest.mark.prometheus


class QueueSink:
    """Puts every alert on a queue the test awaits."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Alert] = asyncio.Queue()

    async def put(self, alerts: Sequence[Alert], source: str) -> None:
        for alert in alerts:
            self.queue.put_nowait(alert)


async def test_expr_rule_fires_and_resolves(tmp_path: Path, store) -> None:  # type: ignore[no-untyped-def]
    group = RuleGroup.model_validate(
        {
            "name": "smoke",
            "interval": "1s",
            "source": "smoke.yml",
            "rules": [
                {
                    "alert": "SmokeHigh",
                    "expr": "smoke_value > 90",
                    "for": "2s",
                    "annotations": {"summary": "{{ $labels.host }} at {{ $value }}"},
                }
            ],
        }
    )
    async with serve_exporter() as exporter:
        exporter.set("smoke_value", {"host": "web-1"}, 97.0)
        async with running_prometheus(tmp_path, scrape_targets=[exporter.target]) as prom:
            await prom.wait_for("smoke_value > 90")
            sink = QueueSink()
            metrics = Metrics()
            async with aiohttp.ClientSession() as session:
                client = PrometheusClient(DatasourceConfig(url=prom.url), session, metrics)
                engine = RuleEngine(
                    [group],
                    client,
                    store,
                    sink,
                    SystemClock(),
                    metrics,
                    evaluation_interval=1.0,
                    external_url="http://127.0.0.1:9099",
                )
                task = asyncio.create_task(engine.run())
                try:
                    fired = await asyncio.wait_for(sink.queue.get(), 15)
                    assert fired.ends_at is None and fired.starts_at is not None
                    assert fired.labels["alertname"] == "SmokeHigh"
                    assert fired.labels["host"] == "web-1"
                    assert fired.annotations["summary"] == "web-1 at 97"
                    # `for: 2s` held it pending for at least two evaluations.
                    assert fired.updated_at is not None
                    assert (fired.updated_at - fired.starts_at).total_seconds() >= 2

                    exporter.set("smoke_value", {"host": "web-1"}, 10.0)
                    resolved = await asyncio.wait_for(sink.queue.get(), 15)
                    assert resolved.labels == fired.labels
                    assert resolved.ends_at is not None
                    assert engine.rule_status()[0]["health"] == "ok"
                finally:
                    await engine.stop()
                    await task
