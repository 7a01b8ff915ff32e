"""Acceptance 3: rules against a real Prometheus, alerts to a real webhook.

A real Prometheus scrapes a test exporter every second; promalert's real ``Service``
evaluates rules every second and notifies a local webhook. Checked: an ``expr`` rule
with ``for: 2s`` and a ``threshold`` rule with ``clear`` fire and resolve within 10 s of
the exporter's value changing; annotations match what Prometheus renders from the same
rule file; stopping Prometheus resolves nothing, sets ``promalert_datasource_up`` to 0 and
raises ``PromalertDatasourceDown``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from e2e.conftest import (
    Samples,
    base_url,
    eventually,
    running_service,
    scrape,
    write_promalert,
    write_rules,
)
from e2e.hooks import serve_hooks
from promalert.service import Service
from support.exporter import Exporter, serve_exporter
from support.prometheus import RunningPrometheus, running_prometheus

pytestmark = [pytest.mark.prometheus, pytest.mark.asyncio(loop_scope="module")]

WITHIN = 10.0
"""Acceptance 3: fire and resolve within this many seconds of the metric changing."""

EXTERNAL_URL = "http://prometheus.e2e.invalid:9090"
"""Given to both Prometheus and promalert, so ``$externalURL`` renders the same."""

# Values whose `$value` text Prometheus prints like Go's %v (SPEC §5).
VALUES = {"int": 97.0, "half": 0.5, "million": 1e6, "big": 1.23456789012e11}
VALUE_TEXT = {"int": "97", "half": "0.5", "million": "1e+06", "big": "1.23456789012e+11"}

ANNOTATION_RULE: dict[str, Any] = {
    "alert": "E2EValue",
    "expr": "e2e_value",
    "labels": {"severity": "info", "series": "{{ $labels.case }}"},
    "annotations": {
        "value": "{{ $value }}",
        "summary": "{{ $labels.case }} on {{ $labels.job }} is {{ $value }}",
        "humanize": "{{ $value | humanize }}",
        "humanize1024": "{{ humanize1024 $value }}",
        "duration": "{{ humanizeDuration $value }}",
        "percentage": "{{ $value | humanizePercentage }}",
        "printf": '{{ printf "%.2f|%6.1f|%e|%g" $value $value $value $value }}',
        "printf_text": '{{ printf "%s=%q" $labels.case $labels.case }}',
        "strings": '{{ toUpper $labels.case }} {{ "A B" | toLower }} {{ title "hello world" }}',
        "replace": '{{ reReplaceAll "^(.)(.*)$" "$2-$1" $labels.case }}',
        "external": "{{ $externalURL }}",
    },
}


@dataclass
class Stack:
    """The module's exporter and the Prometheus scraping it (with the annotation rule)."""

    exporter: Exporter
    prometheus: RunningPrometheus
    annotation_rules: Path


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """One exporter and one Prometheus (scrape and rule evaluation every 1 s) per module."""
    folder = tmp_path_factory.mktemp("rules_e2e")
    rules = write_rules(folder / "annotations.yml", [ANNOTATION_RULE], group="annotations")
    async with serve_exporter() as exporter:
        for case, value in VALUES.items():
            exporter.set("e2e_value", {"case": case}, value)
        async with running_prometheus(
            folder,
            scrape_targets=[exporter.target],
            scrape_interval="1s",
            evaluation_interval="1s",
            rule_files=[rules],
            extra_args=[f"--web.external-url={EXTERNAL_URL}"],
        ) as prom:
            await prom.wait_for("e2e_value", count=len(VALUES))
            yield Stack(exporter, prom, rules)


def _rule(service: Service, name: str) -> dict[str, Any]:
    return next(r for r in service.rule_status() if r["name"] == name)


async def _evaluated(service: Service, times: int = 1) -> None:
    """Wait until every rule has been evaluated ``times`` more times, all healthy."""
    start = {r["name"]: r["last_evaluation"] for r in service.rule_status()}
    seen = dict.fromkeys(start, 0)

    async def done() -> bool | None:
        for rule in service.rule_status():
            if rule["last_evaluation"] != start[rule["name"]]:
                start[rule["name"]] = rule["last_evaluation"]
                seen[rule["name"]] += 1
        # last_evaluation is stamped when a cycle starts, health when it ends: wait for both.
        finished = all(r["health"] != "unknown" for r in service.rule_status())
        return True if min(seen.values()) >= times and finished else None

    await eventually(done, within=10, every=0.05)
    assert {r["health"] for r in service.rule_status()} == {"ok"}, service.rule_status()


async def test_expr_and_threshold_rules_fire_and_resolve_within_10s(
    stack: Stack, tmp_path: Path
) -> None:
    exporter, prom = stack.exporter, stack.prometheus
    series = {"host": "cpu-1"}
    exporter.set("e2e_cpu", series, 20.0)
    await prom.wait_for('e2e_cpu{host="cpu-1"} == 20')
    loop = asyncio.get_running_loop()
    async with serve_hooks() as hooks:
        config = write_promalert(
            tmp_path,
            hook_url=hooks.url,
            datasource=prom.url,
            rules=[
                {
                    "alert": "E2EHighCPU",
                    "expr": 'e2e_cpu{host="cpu-1"} > 90',
                    "for": "2s",
                    "labels": {"severity": "warning"},
                    "annotations": {"summary": "{{ $labels.host }} at {{ $value }}%"},
                },
                {
                    "alert": "E2EHotCPU",
                    "kind": "threshold",
                    "query": 'e2e_cpu{host="cpu-1"}',
                    "condition": "> 90",
                    "clear": "< 50",
                    "annotations": {"summary": "{{ $labels.host }} at {{ $value }}%"},
                },
            ],
        )
        async with running_service(config) as service:
            await _evaluated(service)
            assert hooks.payloads == []

            crossed = loop.time()
            exporter.set("e2e_cpu", series, 97.0)
            await hooks.wait_for(
                lambda: (
                    bool(hooks.alerts("firing", "E2EHighCPU"))
                    and bool(hooks.alerts("firing", "E2EHotCPU"))
                ),
                within=WITHIN + 1,
            )
            expr_fired = hooks.first_at("firing", "E2EHighCPU")
            threshold_fired = hooks.first_at("firing", "E2EHotCPU")
            assert expr_fired is not None and threshold_fired is not None
            assert expr_fired - crossed < WITHIN
            assert threshold_fired - crossed < WITHIN
            # `for: 2s` kept the expr alert pending for at least 2 s after the crossing.
            assert expr_fired - crossed >= 1.9  # less a scrape racing the change
            fired = hooks.alerts("firing", "E2EHighCPU")[0]
            assert fired["labels"] == {
                "alertname": "E2EHighCPU",
                "host": "cpu-1",
                "instance": exporter.target,
                "job": "test",
                "severity": "warning",
            }
            assert fired["annotations"] == {"summary": "cpu-1 at 97%"}
            assert fired["endsAt"] == "0001-01-01T00:00:00Z"
            assert fired["generatorURL"].startswith(f"{prom.url}/graph?g0.expr=")

            # 70 is below the expr's 90 but above the threshold's `clear: < 50`.
            recovered = loop.time()
            exporter.set("e2e_cpu", series, 70.0)
            await hooks.wait_for(
                lambda: bool(hooks.alerts("resolved", "E2EHighCPU")), within=WITHIN + 1
            )
            expr_resolved = hooks.first_at("resolved", "E2EHighCPU")
            assert expr_resolved is not None and expr_resolved - recovered < WITHIN
            await _evaluated(service, times=2)
            assert hooks.alerts("resolved", "E2EHotCPU") == []
            assert _rule(service, "E2EHotCPU")["state"] == "firing"

            cleared = loop.time()
            exporter.set("e2e_cpu", series, 10.0)
            await hooks.wait_for(
                lambda: bool(hooks.alerts("resolved", "E2EHotCPU")), within=WITHIN + 1
            )
            threshold_resolved = hooks.first_at("resolved", "E2EHotCPU")
            assert threshold_resolved is not None and threshold_resolved - cleared < WITHIN
            # Each alert fired once and resolved once.
            assert len(hooks.alerts("firing", "E2EHighCPU")) == 1
            assert len(hooks.alerts("firing", "E2EHotCPU")) == 1
            assert len(hooks.alerts("resolved", "E2EHighCPU")) == 1
            assert len(hooks.alerts("resolved", "E2EHotCPU")) == 1


async def test_annotations_match_prometheus_for_the_same_rule_file(
    stack: Stack, tmp_path: Path
) -> None:
    prom = stack.prometheus

    async def prometheus_alerts() -> list[dict[str, Any]] | None:
        alerts = [
            a
            for a in (await prom.api("alerts"))["alerts"]
            if a["labels"]["alertname"] == "E2EValue" and a["state"] == "firing"
        ]
        return alerts if len(alerts) == len(VALUES) else None

    theirs = await eventually(prometheus_alerts, within=15)
    async with serve_hooks() as hooks:
        config = write_promalert(
            tmp_path,
            hook_url=hooks.url,
            datasource=prom.url,
            rule_files=[stack.annotation_rules],
            external_url=EXTERNAL_URL,
        )
        async with running_service(config):
            await hooks.wait_for(
                lambda: len(hooks.alerts("firing", "E2EValue")) == len(VALUES), within=WITHIN
            )
    ours = {a["labels"]["case"]: a for a in hooks.alerts("firing", "E2EValue")}
    assert set(ours) == set(VALUES)
    for alert in theirs:
        case = alert["labels"]["case"]
        assert ours[case]["labels"] == alert["labels"], case
        assert ours[case]["annotations"] == alert["annotations"], case
        assert ours[case]["annotations"]["value"] == VALUE_TEXT[case]
    assert ours["int"]["annotations"]["summary"] == "int on test is 97"
    assert ours["half"]["annotations"]["percentage"] == "50%"
    assert ours["million"]["annotations"]["humanize"] == "1M"
    assert ours["int"]["labels"]["series"] == "int"


async def test_stopping_prometheus_resolves_nothing_and_raises_datasource_down(
    tmp_path: Path,
) -> None:
    # Its own Prometheus (this test stops it) without scrape targets: vector() needs none,
    # so it answers at once instead of after the first target refresh.
    loop = asyncio.get_running_loop()
    async with (
        running_prometheus(tmp_path) as prom,
        serve_hooks() as hooks,
    ):
        config = write_promalert(
            tmp_path / "promalert",
            hook_url=hooks.url,
            datasource=prom.url,
            rules=[
                {
                    "alert": "E2EOutageExpr",
                    "expr": 'label_replace(vector(97), "host", "a", "", "")',
                },
                {
                    "alert": "E2EOutageThreshold",
                    "kind": "threshold",
                    "query": 'label_replace(vector(97), "host", "b", "", "")',
                    "condition": "> 90",
                    "clear": "< 50",
                },
            ],
        )
        url = base_url(config)
        async with running_service(config) as service:
            names = ("E2EOutageExpr", "E2EOutageThreshold")
            await hooks.wait_for(
                lambda: all(hooks.alerts("firing", n) for n in names), within=WITHIN
            )
            assert (await scrape(url)).get("promalert_datasource_up") == 1

            stopped = loop.time()
            await prom.stop()

            async def down() -> Samples | None:
                samples = await scrape(url)
                return samples if samples.get("promalert_datasource_up") == 0 else None

            await eventually(down, within=WITHIN)
            await hooks.wait_for(
                lambda: bool(hooks.alerts("firing", "PromalertDatasourceDown")), within=WITHIN
            )
            meta_fired = hooks.first_at("firing", "PromalertDatasourceDown")
            assert meta_fired is not None
            # Three 1 s intervals of failed queries come first (one may start just before
            # the stop, hence the slack).
            assert meta_fired - stopped >= 2.5
            meta = hooks.alerts("firing", "PromalertDatasourceDown")[0]
            assert meta["labels"] == {
                "alertname": "PromalertDatasourceDown",
                "severity": "critical",
            }

            await _rules_failed(url, names, times=2)
            assert hooks.alerts("resolved") == []
            now = service.clock.now()
            assert service.ingest is not None
            firing = {a.name for a in service.ingest.alerts() if not a.resolved(now)}
            assert set(names) <= firing
            assert {_rule(service, n)["state"] for n in names} == {"firing"}
            assert {_rule(service, n)["health"] for n in names} == {"err"}
            samples = await scrape(url)
            assert samples.get("promalert_datasource_up") == 0
            assert samples.total("promalert_rule_evaluation_failures_total") > 0


async def _rules_failed(url: str, names: tuple[str, ...], times: int) -> None:
    """Wait until each rule in ``names`` has failed ``times`` more evaluations (per /metrics)."""

    async def counts() -> dict[str, float]:
        samples = await scrape(url)
        return {
            n: samples.total("promalert_rule_evaluation_failures_total", group="e2e", rule=n)
            for n in names
        }

    start = await counts()

    async def done() -> bool | None:
        now = await counts()
        return True if all(now[n] >= start[n] + times for n in names) else None

    await eventually(done, within=WITHIN)
