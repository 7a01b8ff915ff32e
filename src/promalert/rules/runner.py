"""One configured rule at run time: its evaluator, alert state, health and metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote_plus

from promalert.datasource.prometheus import QueryResult, RangeResult
from promalert.errors import DatasourceError, RuleEvaluationError
from promalert.metrics import Metrics
from promalert.model import Alert, Labels
from promalert.rules.kinds import EVALUATORS, EvalInput, Labeler
from promalert.rules.spec import AlertingRule, RuleGroup
from promalert.rules.state import (
    STATE_VERSION,
    AlertEntry,
    AlertState,
    Key,
    Timing,
    dump_alerts,
    load_alerts,
    step,
)
from promalert.rules.status import rule_status_entry

log = logging.getLogger(__name__)

Query = Callable[[str], Awaitable[QueryResult]]
RangeQuery = Callable[[str, datetime, datetime, float], Awaitable[RangeResult]]
FiringOf = Callable[[str], Iterable[Labels]]


class RuleRunner:
    """Evaluates one rule and keeps what the engine knows about it between cycles."""

    def __init__(
        self,
        key: str,
        group: RuleGroup,
        rule: AlertingRule,
        *,
        external_url: str,
        metrics: Metrics,
        graph_url: str | None = None,
    ) -> None:
        self.key = key
        self.group = group
        self.rule = rule
        labeler = Labeler(
            name=rule.alert,
            labels={**group.labels, **rule.labels},  # group labels are promalert's extension
            annotations=rule.annotations,
            external_url=external_url,
        )
        self.evaluator = EVALUATORS[rule.kind](rule, labeler)
        self.timing = Timing.of(rule.for_, rule.keep_firing_for, rule.cooldown)
        # Prometheus's generatorURL: a graph link to the rule's expression.
        self.generator_url = (
            f"{graph_url or external_url}/graph?g0.expr={quote_plus(self.evaluator.expr)}&g0.tab=1"
        )
        self._evaluations = metrics.rule_evaluations.labels(group=group.name, rule=rule.alert)
        self._failures = metrics.rule_evaluation_failures.labels(group=group.name, rule=rule.alert)
        self._metrics = metrics
        self.alerts: dict[Key, AlertEntry] = {}
        self.pending = 0
        # Label sets of firing alerts, kept only when composite rules read this name.
        self.track_firing = False
        self.firing: tuple[Labels, ...] = ()
        self.health = "unknown"
        self.last_error = ""
        self.last_evaluation: datetime | None = None
        self.evaluation_time = 0.0
        self._extra: dict[str, Any] | None = None

    async def evaluate(
        self,
        at: datetime,
        query: Query,
        firing_of: FiringOf,
        query_range: RangeQuery | None = None,
    ) -> tuple[list[Alert], bool]:
        """Evaluate at ``at``; return the alerts to send and whether to save the state.

        On any failure the state is left exactly as it was (except over the group
        ``limit``, where Prometheus drops every alert of the rule).
        """
        started = time.perf_counter()  # real elapsed time for the status, not logic
        self._evaluations.inc()
        self.last_evaluation = at
        try:
            inp = EvalInput(at, query, self.alerts, firing_of, query_range, self._metrics)
            candidates = await self.evaluator.evaluate(inp)
            result = step(
                self.alerts, candidates, at, self.timing, self.evaluator.labeler.annotations
            )
            limit = self.group.limit
            if limit and result.active > limit:
                sends = self._drop_all(at)
                self._failed(f"exceeded limit of {limit} with {result.active} alerts")
                return sends, True
        except (DatasourceError, RuleEvaluationError) as exc:
            self._failed(str(exc))
            return [], False
        except Exception as exc:  # a bug in one rule must not fail its whole group
            log.exception("rule %s failed unexpectedly", self.key)
            self._failed(f"internal error: {exc!r}")
            return [], False
        finally:
            self.evaluation_time = time.perf_counter() - started
        self.alerts = result.alerts
        self.pending = result.pending
        sends = [self.alert(e, at) for e in result.notify]
        extra = self.evaluator.dump_extra()
        dirty = result.changed or extra != self._extra
        if dirty:
            self._extra = extra
            self._update_firing()
        if self.health == "err":
            log.info("rule %s evaluates again", self.key)
        self.health, self.last_error = "ok", ""
        return sends, dirty

    def _drop_all(self, at: datetime) -> list[Alert]:
        """Drop every alert, resolving the firing ones (ingest would hold them forever)."""
        sends = [
            self.alert(e, at).resolve(at)
            for e in self.alerts.values()
            if e.state is AlertState.FIRING
        ]
        self.alerts = {}
        self.pending = 0
        self._update_firing()
        return sends

    def _failed(self, message: str) -> None:
        self._failures.inc()
        if self.health != "err" or self.last_error != message:
            log.warning("rule %s: %s", self.key, message)
        self.health, self.last_error = "err", message

    def _update_firing(self) -> None:
        if self.track_firing:
            self.firing = tuple(
                e.labels for e in self.alerts.values() if e.state is AlertState.FIRING
            )

    def alert(self, e: AlertEntry, at: datetime) -> Alert:
        """The alert sent to ingest for a state entry."""
        return Alert(
            labels=e.labels,
            annotations=e.annotations,
            starts_at=e.active_at,
            ends_at=e.resolved_at if e.state is AlertState.INACTIVE else None,
            generator_url=self.generator_url,
            updated_at=at,
        )

    def dump(self) -> dict[str, Any]:
        """The rule's state for the store."""
        data: dict[str, Any] = {"version": STATE_VERSION, "alerts": dump_alerts(self.alerts)}
        if self._extra is not None:
            data["extra"] = self._extra
        return data

    def load(self, data: Mapping[str, Any]) -> None:
        """Restore :meth:`dump` output; ValueError (state untouched) if unreadable."""
        try:
            alerts = load_alerts(data["alerts"])
            extra = data.get("extra")
            if extra is not None:
                self.evaluator.load_extra(extra)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed rule state: {exc!r}") from None
        self.alerts = alerts
        self._extra = extra
        self.pending = sum(e.state is AlertState.PENDING for e in alerts.values())
        self._update_firing()

    def status(self) -> dict[str, Any]:
        """The rule's entry for ``GET /api/v1/rules``."""
        return rule_status_entry(
            group=self.group,
            rule=self.rule,
            expr=self.evaluator.expr,
            alerts=self.alerts.values(),
            health=self.health,
            last_error=self.last_error,
            last_evaluation=self.last_evaluation,
            evaluation_time=self.evaluation_time,
        )
