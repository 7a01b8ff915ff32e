"""The rule engine: evaluates rule groups on their intervals and feeds alerts to ingest.

Every group runs in its own task on Prometheus-aligned timestamps; the rules of one
cycle share one evaluation timestamp and run concurrently (bounded), except composite
rules that read other rules' alerts, which run after the rest of their group. Each
rule's state advances through :func:`promalert.rules.state.step`, is saved to the
store when it changed, and newly firing, updated and resolved alerts go to the sink.
A datasource that stops answering freezes every rule's state and, after three
evaluation intervals, raises the ``PromalertDatasourceDown`` meta-alert.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from promalert.clock import Clock
from promalert.datasource.prometheus import QueryResult, RangeResult
from promalert.errors import DatasourceError, DatasourceUnavailable, StoreError
from promalert.metrics import Metrics
from promalert.model import Alert, Labels
from promalert.rules.outage import DATASOURCE_DOWN, DatasourceWatch
from promalert.rules.runner import RuleRunner
from promalert.rules.spec import RecordingRule, RuleGroup
from promalert.rules.state import AlertState, load_alerts

log = logging.getLogger(__name__)
_T = TypeVar("_T")

SOURCE = "rules"
"""The ``source`` rule alerts are put to the sink with."""

DATASOURCE_DOWN_INTERVALS = 3
"""Evaluation intervals of failed queries before ``PromalertDatasourceDown`` fires."""

META_STATE_KEY = "promalert:datasource_down"
INDEX_STATE_KEY = "promalert:rule_keys"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Datasource(Protocol):
    """Answers instant PromQL queries."""

    async def query(self, expr: str, at: datetime) -> QueryResult:
        """Evaluate ``expr`` at ``at``; raise DatasourceUnavailable or QueryError."""
        ...

    async def query_range(
        self, expr: str, start: datetime, end: datetime, step: float
    ) -> RangeResult:
        """Evaluate ``expr`` over [start, end] every ``step`` seconds (anomaly, trend)."""
        ...


class RuleStateStore(Protocol):
    """Keeps each rule's alert state as a JSON-ready dict."""

    def load_rule_state(self, key: str) -> dict[str, Any] | None:
        """The saved state of a rule, or None."""
        ...

    def save_rule_state(self, key: str, data: dict[str, Any]) -> None:
        """Replace the saved state of a rule."""
        ...

    def delete_rule_states_except(self, keys: set[str]) -> None:
        """Forget every rule state whose key is not in ``keys``."""
        ...


class AlertSink(Protocol):
    """Where alerts go: the same ingest path as ``/api/v2/alerts``."""

    async def put(self, alerts: Sequence[Alert], source: str) -> None:
        """Accept new or updated alerts."""
        ...


@dataclass(eq=False, slots=True)
class _GroupRun:
    """One configured group: its rules, interval, concurrency bound and metrics."""

    group: RuleGroup
    interval: timedelta
    runners: list[RuleRunner]
    semaphore: asyncio.Semaphore
    duration: Any
    iterations: Any
    missed: Any


class RuleEngine:
    """Evaluates rule groups against a datasource and sends their alerts to a sink."""

    def __init__(
        self,
        groups: Sequence[RuleGroup],
        datasource: Datasource,
        store: RuleStateStore,
        sink: AlertSink,
        clock: Clock,
        metrics: Metrics,
        *,
        evaluation_interval: float,
        external_url: str,
        graph_url: str | None = None,
        concurrency: int = 8,
    ) -> None:
        self._datasource = datasource
        self._store = store
        self._sink = sink
        self._clock = clock
        self._metrics = metrics
        self._external_url = external_url.rstrip("/")
        # generatorURL links point at the datasource's graph page, where the query can run.
        self._graph_url = (graph_url or external_url).rstrip("/")
        self._runners: dict[str, RuleRunner] = {}
        self._groups = [
            _GroupRun(
                group,
                timedelta(seconds=group.interval or evaluation_interval),
                self._build_runners(group),
                asyncio.Semaphore(max(1, concurrency)),
                metrics.group_last_duration.labels(group=group.name),
                metrics.group_iterations.labels(group=group.name),
                metrics.group_iterations_missed.labels(group=group.name),
            )
            for group in groups
        ]
        referenced = {n for r in self._runners.values() for n in r.evaluator.references}
        self._by_name: dict[str, list[RuleRunner]] = {name: [] for name in referenced}
        for runner in self._runners.values():
            if runner.rule.alert in self._by_name:
                runner.track_firing = True
                self._by_name[runner.rule.alert].append(runner)
        for name, found in self._by_name.items():
            if not found:
                log.warning("composite rules reference alert %r, which no rule defines", name)
        self._watch = DatasourceWatch(
            down_after=timedelta(seconds=evaluation_interval) * DATASOURCE_DOWN_INTERVALS,
            external_url=self._external_url,
        )
        self._restored = False
        self._restore_lock = asyncio.Lock()
        self._unsent: list[Alert] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    def _build_runners(self, group: RuleGroup) -> list[RuleRunner]:
        runners = []
        seen: dict[str, int] = {}
        for rule in group.rules:
            if isinstance(rule, RecordingRule):
                continue
            # The n-th rule of this name in the group: stable when other rules are added,
            # removed or reordered, so their alerts keep their state across reloads.
            nth = seen[rule.alert] = seen.get(rule.alert, -1) + 1
            key = f"{group.source}|{group.name}|{rule.alert}|{nth}"
            while key in self._runners:  # two groups of one name in one file: never share
                key += "+"
            runner = RuleRunner(
                key,
                group,
                rule,
                external_url=self._external_url,
                graph_url=self._graph_url,
                metrics=self._metrics,
            )
            self._runners[key] = runner
            runners.append(runner)
        return runners

    # -- lifecycle ---------------------------------------------------------------------

    async def run(self) -> None:
        """Restore state, then evaluate every group on its interval until stopped."""
        await self.restore()
        self._tasks = [
            asyncio.create_task(self._group_loop(g), name=f"rule group {g.group.name}")
            for g in self._groups
        ]
        try:
            await asyncio.gather(*self._tasks)
        except asyncio.CancelledError:
            if not self._stopping:
                raise
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def stop(self) -> None:
        """Stop the group tasks started by :meth:`run` (which then returns)."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def restore(self) -> None:
        """Load saved state once, resolve alerts of removed rules, resend what fires.

        Called by :meth:`run` and by the first evaluation; later calls do nothing.
        """
        async with self._restore_lock:
            if self._restored:
                return
            self._restored = True
            now = self._clock.now()
            sends = self._resolve_removed_rules(now)
            for runner in self._runners.values():
                data = self._load_state(runner.key)
                if not data:
                    continue
                try:
                    runner.load(data)
                except ValueError as exc:
                    log.warning("ignoring unreadable saved state of rule %s: %s", runner.key, exc)
                    continue
                # Ingest dedups these; they cover alerts changed just before a crash.
                sends.extend(
                    runner.alert(e, e.resolved_at or now)
                    for e in runner.alerts.values()
                    if e.state is not AlertState.PENDING
                )
            try:
                self._watch.load(self._load_state(META_STATE_KEY) or {}, now)
            except ValueError as exc:
                log.warning("ignoring unreadable datasource-down state: %s", exc)
            if self._watch.firing is not None:
                sends.append(self._watch.firing)
            self._set_pending_gauge()
            await self._deliver(sends)

    def _resolve_removed_rules(self, now: datetime) -> list[Alert]:
        """Resolve what rules no longer configured left firing, then forget their state.

        Nothing else would ever resolve those alerts: ingest holds rule alerts until the
        engine says they ended.
        """
        sends: list[Alert] = []
        index = self._load_state(INDEX_STATE_KEY) or {}
        for key in index.get("keys", []):
            if key in self._runners:
                continue
            try:
                alerts = load_alerts((self._load_state(key) or {}).get("alerts", {}))
            except ValueError:
                continue
            sends.extend(
                Alert(e.labels, e.annotations, e.active_at, now, updated_at=now)
                for e in alerts.values()
                if e.state is AlertState.FIRING
            )
        try:
            self._store.delete_rule_states_except(
                set(self._runners) | {META_STATE_KEY, INDEX_STATE_KEY}
            )
        except StoreError as exc:
            log.error("cannot delete the state of removed rules: %s", exc)
        self._save_state(INDEX_STATE_KEY, {"keys": sorted(self._runners)})
        return sends

    # -- scheduling ----------------------------------------------------------------------

    def _first_timestamp(self, g: _GroupRun, now: datetime) -> datetime:
        """The first evaluation after ``now`` at the group's fixed offset, as Prometheus."""
        step_us = max(1, g.interval // timedelta(microseconds=1))
        offset = zlib.crc32(f"{g.group.source};{g.group.name}".encode()) % step_us
        now_us = (now - _EPOCH) // timedelta(microseconds=1)
        base = (now_us - offset) // step_us * step_us + offset
        return _EPOCH + timedelta(microseconds=base) + g.interval

    async def _group_loop(self, g: _GroupRun) -> None:
        ts = self._first_timestamp(g, self._clock.now())
        while True:
            await self._clock.sleep(max(0.0, (ts - self._clock.now()).total_seconds()))
            try:
                await self._evaluate_group(g, ts)
            except Exception:  # a bug in one cycle must not stop the group for good
                log.exception("rule group %r: evaluation cycle failed", g.group.name)
            # Like Prometheus: skip the timestamps an overrunning cycle missed.
            elapsed = int((self._clock.now() - ts) / g.interval)
            if elapsed > 1:
                g.missed.inc(elapsed - 1)
            ts += g.interval * max(1, elapsed)

    async def evaluate_group_once(self, group_name: str, at: datetime) -> None:
        """Evaluate every group named ``group_name`` once at ``at`` (tests, benchmarks)."""
        found = [g for g in self._groups if g.group.name == group_name]
        if not found:
            raise KeyError(f"no rule group named {group_name!r}")
        for g in found:
            await self._evaluate_group(g, at)

    # -- evaluation ----------------------------------------------------------------------

    async def _evaluate_group(self, g: _GroupRun, at: datetime) -> None:
        await self.restore()
        started = time.perf_counter()  # real elapsed time for the metric, not logic

        async def query(expr: str) -> QueryResult:
            return await self._query(expr, at)

        async def query_range(
            expr: str, start: datetime, end: datetime, step: float
        ) -> RangeResult:
            return await self._query_range(expr, start, end, step, at)

        async def evaluate(runner: RuleRunner) -> None:
            async with g.semaphore:
                out, save = await runner.evaluate(at, query, self._firing_of, query_range)
            sends.extend(out)
            if save:
                dirty.append(runner)

        sends: list[Alert] = []
        dirty: list[RuleRunner] = []
        plain = [r for r in g.runners if not r.evaluator.references]
        later = [r for r in g.runners if r.evaluator.references]
        for phase in (plain, later):
            if phase:
                await asyncio.gather(*(evaluate(r) for r in phase))
        meta = self._watch.check(at)
        if meta is not None:
            sends.append(meta)
            self._save_state(META_STATE_KEY, self._watch.dump())
        # Send before saving: a crash in between resends (ingest dedups) rather than loses.
        await self._deliver(sends)
        for runner in dirty:
            self._save_state(runner.key, runner.dump())
        self._set_pending_gauge()
        g.duration.set(time.perf_counter() - started)
        g.iterations.inc()

    async def _query(self, expr: str, at: datetime) -> QueryResult:
        result = await self._watched(self._datasource.query(expr, at), at)
        if result.warnings:
            log.debug("query %r: warnings: %s", expr, "; ".join(result.warnings))
        return result

    async def _query_range(
        self, expr: str, start: datetime, end: datetime, step: float, at: datetime
    ) -> RangeResult:
        return await self._watched(self._datasource.query_range(expr, start, end, step), at)

    async def _watched(self, call: Awaitable[_T], at: datetime) -> _T:
        """Await a datasource call, recording whether the datasource answered."""
        try:
            result = await call
        except DatasourceUnavailable as exc:
            self._watch.failed(at, str(exc))
            self._metrics.datasource_up.set(0)
            raise
        except DatasourceError:
            self._watch.answered()  # it answered, with an error about this query
            self._metrics.datasource_up.set(1)
            raise
        self._watch.answered()
        self._metrics.datasource_up.set(1)
        return result

    def _firing_of(self, name: str) -> Iterable[Labels]:
        for runner in self._by_name.get(name, ()):
            yield from runner.firing

    def _set_pending_gauge(self) -> None:
        pending = sum(r.pending for r in self._runners.values())
        self._metrics.alerts.labels(state="pending").set(pending)

    async def _deliver(self, sends: list[Alert]) -> None:
        batch = self._unsent + sends
        if not batch:
            return
        try:
            await self._sink.put(batch, SOURCE)
        except Exception:  # ingest is another component: keep the alerts, retry next cycle
            log.exception("could not hand %d rule alerts to ingest; retrying", len(batch))
            self._unsent = batch
        else:
            self._unsent = []

    def _load_state(self, key: str) -> dict[str, Any] | None:
        try:
            return self._store.load_rule_state(key)
        except StoreError as exc:
            log.error("cannot read saved rule state %s: %s", key, exc)
            return None

    def _save_state(self, key: str, data: dict[str, Any]) -> None:
        try:
            self._store.save_rule_state(key, data)
        except StoreError as exc:
            log.error("cannot save rule state %s: %s", key, exc)

    # -- status --------------------------------------------------------------------------

    def rule_status(self) -> list[dict[str, Any]]:
        """Every rule's state, health and active alerts, for ``GET /api/v1/rules``."""
        return [runner.status() for g in self._groups for runner in g.runners]


__all__ = [
    "DATASOURCE_DOWN",
    "SOURCE",
    "AlertSink",
    "Datasource",
    "RuleEngine",
    "RuleStateStore",
]
