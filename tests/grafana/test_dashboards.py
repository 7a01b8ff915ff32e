"""Static checks of the Grafana dashboards: structure, layout, variables, metric names.

Every expression is also parsed by promtool (as a recording rule, variables filled in),
so a typo in PromQL fails here without a running Prometheus; the live test in
test_dashboards_live.py then runs every expression against real data.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
import yaml

from promalert.metrics import Metrics
from support.dashboards import (
    BUILTINS,
    load_dashboards,
    panels,
    queries,
    substitute,
    variables_used,
)

DASHBOARDS = load_dashboards()
TITLES = {
    "overview.json": "promalert / Overview",
    "delivery.json": "promalert / Delivery",
    "rules.json": "promalert / Rules and anomalies",
}
PANEL_TYPES = {"timeseries", "stat", "table", "state-timeline"}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def test_the_three_dashboards_exist_with_their_titles() -> None:
    assert {name: d["title"] for name, d in DASHBOARDS.items()} == TITLES
    uids = [d["uid"] for d in DASHBOARDS.values()]
    assert len(set(uids)) == len(uids)
    for dashboard in DASHBOARDS.values():
        assert dashboard["schemaVersion"] == 39
        assert dashboard["id"] is None  # provisioned: Grafana assigns the id


@pytest.mark.parametrize("name", list(TITLES))
def test_panel_ids_are_unique_and_the_grid_has_no_overlap(name: str) -> None:
    every = list(panels(DASHBOARDS[name]))
    ids = [p["id"] for p in every]
    assert len(set(ids)) == len(ids), ids
    boxes = [(p["title"], p["gridPos"]) for p in every]
    for title, box in boxes:
        assert box["w"] > 0 and box["h"] > 0 and box["x"] >= 0 and box["y"] >= 0, title
        assert box["x"] + box["w"] <= 24, f"{title} is wider than the grid"
    for (a, p), (b, q) in combinations(boxes, 2):
        apart = (
            p["x"] + p["w"] <= q["x"]
            or q["x"] + q["w"] <= p["x"]
            or p["y"] + p["h"] <= q["y"]
            or q["y"] + q["h"] <= p["y"]
        )
        assert apart, f"{name}: {a!r} {p} overlaps {b!r} {q}"


def test_panels_use_the_four_panel_kinds_and_each_answers_a_question() -> None:
    kinds: set[str] = set()
    for name, dashboard in DASHBOARDS.items():
        for panel in panels(dashboard):
            if panel["type"] == "row":
                continue
            kinds.add(panel["type"])
            assert panel["type"] in PANEL_TYPES, (name, panel["title"])
            assert panel["description"].strip(), (name, panel["title"])
            assert "?" in panel["description"], f"{panel['title']}: not phrased as a question"
            assert panel["targets"], (name, panel["title"])
            refs = [t["refId"] for t in panel["targets"]]
            assert len(set(refs)) == len(refs), (name, panel["title"])
    assert kinds == PANEL_TYPES


def _datasource_refs(node: Any) -> list[Any]:
    if isinstance(node, dict):
        found = [node["datasource"]] if "datasource" in node else []
        return found + [r for value in node.values() for r in _datasource_refs(value)]
    if isinstance(node, list):
        return [r for item in node for r in _datasource_refs(item)]
    return []


@pytest.mark.parametrize("name", list(TITLES))
def test_every_datasource_reference_uses_the_datasource_variable(name: str) -> None:
    dashboard = DASHBOARDS[name]
    (variable,) = [v for v in dashboard["templating"]["list"] if v["name"] == "datasource"]
    assert variable["type"] == "datasource" and variable["query"] == "prometheus"
    refs = _datasource_refs(dashboard["panels"]) + _datasource_refs(
        [v for v in dashboard["templating"]["list"] if v["name"] != "datasource"]
    )
    assert refs and all(ref == DATASOURCE for ref in refs), refs


@pytest.mark.parametrize("name", list(TITLES))
def test_every_variable_used_is_defined(name: str) -> None:
    dashboard = DASHBOARDS[name]
    defined = {v["name"] for v in dashboard["templating"]["list"]} | BUILTINS
    texts = [q.expr for q in queries({name: dashboard})]
    texts += [p["title"] for p in panels(dashboard)]
    texts += [f"${p['repeat']}" for p in panels(dashboard) if p.get("repeat")]
    texts += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    used = set().union(*(variables_used(t) for t in texts))
    assert used <= defined, sorted(used - defined)


def test_the_template_variables_are_label_values_queries() -> None:
    found: dict[str, dict[str, Any]] = {}
    for dashboard in DASHBOARDS.values():
        for variable in dashboard["templating"]["list"]:
            found[variable["name"]] = variable
    for name in ("rule", "channel", "policy", "series"):
        variable = found[name]
        assert variable["type"] == "query", name
        assert variable["query"]["query"] == variable["definition"]
        assert re.fullmatch(r"label_values\((.+), (\w+)\)", variable["definition"]), name
        assert variable["datasource"] == DATASOURCE


# Issue 4's metrics (SPEC §8), whose names the dashboards use before they exist everywhere.
INCIDENT_METRICS = {
    "promalert_incidents",
    "promalert_incident_ack_seconds",
    "promalert_incident_resolve_seconds",
    "promalert_escalation_steps_total",
    "promalert_sla_breaches_total",
    "promalert_oncall",
}
ANOMALY_METRICS = {f"promalert_anomaly_{k}" for k in ("score", "expected", "lower", "upper")}


def test_every_metric_name_is_one_promalert_exports() -> None:
    registry = Metrics().registry
    exported = {m.name for m in registry.collect()}
    exported |= {f"{n}_total" for n in exported}
    known = exported | INCIDENT_METRICS | ANOMALY_METRICS
    used = {
        re.sub(r"_(bucket|sum|count)$", "", name)
        for q in queries(DASHBOARDS)
        for name in re.findall(r"\bpromalert_\w+", q.expr)
    }
    assert used <= known, sorted(used - known)
    assert INCIDENT_METRICS | ANOMALY_METRICS <= used


FILLED = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "6h",
    "datasource": "prometheus",
    "rule": "HighCPU|DiskFull",
    "channel": "webhook",
    "policy": ".*",
    "series": "web-1",
}


def test_promtool_parses_every_expression(tmp_path: Path) -> None:
    promtool = shutil.which("promtool") or shutil.which("promtool", path="/usr/bin")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    rules = [
        {"record": f"dashboard:query_{i}", "expr": substitute(q.expr, FILLED)}
        for i, q in enumerate(queries(DASHBOARDS))
    ]
    path = tmp_path / "dashboards.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_the_overview_answers_the_questions_the_issue_lists() -> None:
    titles = {p["title"] for p in panels(DASHBOARDS["overview.json"])}
    for title in (
        "Alerts by state",
        "Open incidents by priority",
        "MTTA",
        "MTTR",
        "SLA compliance",
        "SLA breaches",
        "Who is on call",
    ):
        assert title in titles, title
    rules = list(panels(DASHBOARDS["rules.json"]))
    (row,) = [p for p in rules if p["type"] == "row"]
    assert row["repeat"] == "series"
    band = next(p for p in rules if p["title"] == "Expected band")
    fills = [o for o in band["fieldConfig"]["overrides"] if o["matcher"]["options"] == "upper"]
    assert {"id": "custom.fillBelowTo", "value": "lower"} in fills[0]["properties"]
    score = next(p for p in rules if p["title"] == "Anomaly score")
    assert score["gridPos"]["y"] >= band["gridPos"]["y"] + band["gridPos"]["h"]  # beneath
