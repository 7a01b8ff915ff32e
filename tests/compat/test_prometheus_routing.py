"""A real Prometheus sends its rule alerts to promalert as its Alertmanager; promalert
routes them and delivers them to a local webhook, firing and then resolved."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml
from amcompat import Hooks, run_promalert, serve_hooks

from support.prometheus import running_prometheus

FIRING = {
    "groups": [
        {
            "name": "compat",
            "rules": [
                {
                    "alert": "DiskAlmostFull",
                    "expr": "vector(97) > 90",
                    "labels": {"severity": "critical", "team": "db"},
                    "annotations": {"summary": "disk at {{ $value }}%"},
                },
                {"alert": "Quiet", "expr": "vector(1)", "labels": {"severity": "info"}},
            ],
        }
    ]
}
RESOLVED = {"groups": [{"name": "compat", "rules": []}]}


def routing(hook: str) -> dict[str, Any]:
    return {
        "route": {
            "receiver": "blackhole",
            "group_by": ["alertname"],
            "group_wait": "0s",
            "group_interval": "1s",
            "routes": [{"matchers": ['severity=~"critical|high"', 'team="db"'], "receiver": "dba"}],
        },
        "receivers": [
            {"name": "blackhole"},
            {"name": "dba", "webhook_configs": [{"url": f"{hook}/pa/dba"}]},
        ],
    }


async def wait_for(hooks: Hooks, status: str, within: float = 30.0) -> dict[str, Any]:
    for _ in range(int(within / 0.2)):
        for payload in hooks.at("pa"):
            if payload["status"] == status:
                return payload
        await asyncio.sleep(0.2)
    raise AssertionError(f"no {status} notification within {within}s: {hooks.received}")


async def test_prometheus_alerts_are_routed_to_the_webhook(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump(FIRING))
    async with serve_hooks() as hooks:
        async with run_promalert(tmp_path / "pa", routing(hooks.url)) as url:
            target = url.removeprefix("http://")
            # Alerts evaluated before Prometheus has discovered its Alertmanager are dropped
            # and sent again only after the resend delay (1 minute unless told otherwise).
            async with running_prometheus(
                tmp_path,
                rule_files=[rules],
                alertmanagers=[target],
                evaluation_interval="1s",
                extra_args=["--rules.alert.resend-delay=1s"],
            ) as prom:
                try:
                    firing = await wait_for(hooks, "firing")
                except AssertionError as exc:
                    raise AssertionError(f"{exc}\nPrometheus log:\n{prom.logs()[-3000:]}") from None
                (alert,) = firing["alerts"]
                assert firing["receiver"] == "dba"
                assert alert["labels"] == {
                    "alertname": "DiskAlmostFull",
                    "severity": "critical",
                    "team": "db",
                }
                assert alert["annotations"] == {"summary": "disk at 97%"}
                # Prometheus links to itself by host name (its --web.external-url default).
                assert alert["generatorURL"].endswith(
                    "/graph?g0.expr=vector%2897%29+%3E+90&g0.tab=1"
                )
                rules.write_text(yaml.safe_dump(RESOLVED))
                await prom.reload()
                resolved = await wait_for(hooks, "resolved")
                assert resolved["alerts"][0]["fingerprint"] == alert["fingerprint"]
    # Only the routed alert reached a webhook; the info alert went to the black hole.
    assert {p["receiver"] for p in hooks.at("pa")} == {"dba"}
