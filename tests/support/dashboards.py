"""The Grafana dashboards in grafana/dashboards/, read the way Grafana reads them.

- :func:`load_dashboards` returns every dashboard by file name.
- :func:`panels` walks a dashboard's panels (inside collapsed rows too).
- :func:`queries` lists every panel target with the panel it belongs to.
- :func:`variables_used` finds ``$name`` / ``${name}`` / ``[[name]]`` references in text.
- :func:`substitute` fills variables in as Grafana does before sending a query.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "grafana" / "dashboards"

BUILTINS = frozenset(
    {"__rate_interval", "__interval", "__interval_ms", "__range", "__range_s", "__range_ms"}
)
"""Variables Grafana itself defines for Prometheus queries."""

_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)(?::\w+)?\]\]|\$(\w+)")


@dataclass(frozen=True, slots=True)
class Query:
    """One target of one panel."""

    dashboard: str
    panel: dict[str, Any]
    target: dict[str, Any]

    @property
    def name(self) -> str:
        """``file / panel title / refId``, for failure messages."""
        return f"{self.dashboard} / {self.panel['title']} / {self.target['refId']}"

    @property
    def expr(self) -> str:
        """The PromQL expression as written in the dashboard."""
        return str(self.target["expr"])

    @property
    def instant(self) -> bool:
        """True when Grafana sends it as an instant query (stat and table panels here)."""
        return bool(self.target.get("instant")) and not self.target.get("range")


def load_dashboards() -> dict[str, dict[str, Any]]:
    """Every dashboard JSON under grafana/dashboards, by file name."""
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows included, and the panels held inside collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def queries(dashboards: Mapping[str, Mapping[str, Any]]) -> list[Query]:
    """Every panel target of every dashboard."""
    return [
        Query(name, panel, target)
        for name, dashboard in dashboards.items()
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]


def variables_used(text: str) -> set[str]:
    """Names of the variables referenced in ``text``."""
    return {next(g for g in m.groups() if g) for m in _VARIABLE.finditer(text)}


def substitute(text: str, values: Mapping[str, str]) -> str:
    """``text`` with every variable replaced by its value (KeyError for an unknown one)."""

    def one(match: re.Match[str]) -> str:
        return values[next(g for g in match.groups() if g)]

    return _VARIABLE.sub(one, text)
