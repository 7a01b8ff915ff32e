"""Fakes for the rule engine tests: a function-backed datasource, an in-memory store, a sink."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from promalert.clock import FakeClock
from promalert.datasource.prometheus import QueryResult, RangeResult, Sample, Series
from promalert.errors import DatasourceUnavailable
from promalert.metrics import Metrics
from promalert.model import Alert, Labels
from promalert.rules.engine import RuleEngine
from promalert.rules.spec import RuleGroup

Rows = list[tuple[Mapping[str, str], float]]


class FakeDatasource:
    """Answers each query from ``fn(expr, at)``; by default from the ``series`` table."""

    def __init__(self) -> None:
        self.series: dict[str, Rows] = {}
        self.fn: Callable[[str, datetime], Rows] = lambda expr, at: self.series.get(expr, [])
        self.hook: Callable[[str, datetime], Awaitable[None]] | None = None
        self.down = False
        self.calls: list[tuple[str, datetime]] = []
        self.range_calls: list[tuple[str, float, float, float]] = []

    def set(self, expr: str, *rows: tuple[Mapping[str, str], float]) -> None:
        self.series[expr] = list(rows)

    async def query(self, expr: str, at: datetime) -> QueryResult:
        self.calls.append((expr, at))
        if self.hook is not None:
            await self.hook(expr, at)
        if self.down:
            raise DatasourceUnavailable(
                "cannot reach http://admin:hunter2@prometheus:9090/api/v1/query: connection refused"
            )
        rows = self.fn(expr, at)
        return QueryResult(samples=[Sample(Labels(dict(ls)), v) for ls, v in rows], warnings=[])

    async def query_range(
        self, expr: str, start: datetime, end: datetime, step: float
    ) -> RangeResult:
        """Like Prometheus: ``fn`` evaluated at start, start + step, ... up to end."""
        self.range_calls.append((expr, start.timestamp(), end.timestamp(), step))
        if self.down:
            raise DatasourceUnavailable("cannot reach prometheus: connection refused")
        points: dict[Labels, tuple[list[float], list[float]]] = {}
        first, stop = start.timestamp(), end.timestamp()
        for k in range(int((stop - first) / step + 1e-9) + 1):
            t = first + k * step
            for labels, value in self.fn(expr, datetime.fromtimestamp(t, UTC)):
                ts, vs = points.setdefault(Labels(dict(labels)), ([], []))
                ts.append(t)
                vs.append(value)
        return RangeResult([Series(lb, ts, vs) for lb, (ts, vs) in points.items()])


class MemoryStore:
    """The rule-state part of the store, in a dict."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, Any]] = {}
        self.saves = 0

    def load_rule_state(self, key: str) -> dict[str, Any] | None:
        return self.data.get(key)

    def save_rule_state(self, key: str, data: dict[str, Any]) -> None:
        self.saves += 1
        self.data[key] = data

    def delete_rule_states_except(self, keys: set[str]) -> None:
        for key in set(self.data) - keys:
            del self.data[key]


class RecordingSink:
    """Records every alert put to it; can be told to fail."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []
        self.sources: set[str] = set()
        self.fail = False

    async def put(self, alerts: Sequence[Alert], source: str) -> None:
        if self.fail:
            raise RuntimeError("ingest is broken")
        self.alerts.extend(alerts)
        self.sources.add(source)

    def take(self) -> list[Alert]:
        out, self.alerts = self.alerts, []
        return out


@pytest.fixture
def ds() -> FakeDatasource:
    return FakeDatasource()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


EngineFactory = Callable[..., RuleEngine]


@pytest.fixture
def make_engine(
    ds: FakeDatasource, store: MemoryStore, sink: RecordingSink, clock: FakeClock, metrics: Metrics
) -> EngineFactory:
    """Build an engine over rule groups given as dicts (rule-file YAML shape)."""

    def build(*groups: dict[str, Any], **kwargs: Any) -> RuleEngine:
        options: dict[str, Any] = {
            "evaluation_interval": 10.0,
            "external_url": "http://promalert.example:9099/",
        }
        options.update(kwargs)
        parsed = [RuleGroup.model_validate({"source": "rules/test.yml", **g}) for g in groups]
        return RuleEngine(parsed, ds, store, sink, clock, metrics, **options)

    return build
