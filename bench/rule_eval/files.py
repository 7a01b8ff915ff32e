"""The files the benchmark writes: the rule file, Prometheus's config, promalert.yml."""

from __future__ import annotations

from pathlib import Path

import yaml

GROUPS = 10
RULES_PER_GROUP = 100
SERIES = 10_000


def _rule(g: int, i: int, interval: int, templates: bool) -> dict[str, object]:
    """Rule ``i`` of group ``g``: ``bench_value{grp="i"} > 90``, with or without templates."""
    rule: dict[str, object] = {
        "alert": f"Bench_{g}_{i}",
        "expr": f'bench_value{{grp="{i}"}} > 90',
        "for": f"{2 * interval}s",
    }
    if templates:
        rule["labels"] = {"severity": "warning"}
        rule["annotations"] = {"summary": "bench_value of idx {{ $labels.idx }} is {{ $value }}"}
    return rule


def write_rules(path: Path, interval: int, templates: bool = True) -> None:
    """Write 10 groups of 100 Prometheus alerting rules, each matching 100 series."""
    groups = [
        {
            "name": f"bench-{g}",
            "interval": f"{interval}s",
            "rules": [_rule(g, i, interval, templates) for i in range(RULES_PER_GROUP)],
        }
        for g in range(GROUPS)
    ]
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))


def write_prometheus(path: Path, exporter: str, interval: int) -> None:
    """Write a Prometheus config that scrapes only the exporter."""
    config = {
        "global": {"scrape_interval": f"{interval}s", "scrape_timeout": f"{interval - 1}s"},
        "scrape_configs": [{"job_name": "bench", "static_configs": [{"targets": [exporter]}]}],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def write_promalert(
    path: Path, rules: Path, prometheus: str, listen: str, hook: str, interval: int
) -> None:
    """Write promalert.yml: the rule file, the datasource, SQLite state, a webhook to the sink."""
    config = {
        "global": {"evaluation_interval": f"{interval}s", "external_url": f"http://{listen}"},
        "datasource": {"url": prometheus},
        "server": {"listen": listen},
        "storage": {"url": "sqlite:///state.db"},
        "rule_files": [rules.name],
        "route": {
            "receiver": "sink",
            "group_by": ["alertname"],
            "group_wait": "1s",
            "group_interval": f"{interval}s",
            "repeat_interval": "1h",
        },
        "receivers": [{"name": "sink", "webhook_configs": [{"url": hook}]}],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
