"""``composite`` rules: named conditions combined by ``logic``, joined on ``on`` labels.

Each condition is a ``query`` with a ``condition`` (true for a join key when any of its
series with that key meets the condition) or ``alert: OtherRule`` (true for a join key
when that rule has a firing alert with those label values, in any group). Series that
lack an ``on`` label are ignored; without ``on`` there is one join key for everything.
An alert's labels are the ``on`` labels plus the rule labels; ``$value`` is the value of
the first true query condition (NaN when only alert references are true).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping

from promalert.config.types import Condition
from promalert.datasource.prometheus import QueryResult
from promalert.model import Labels
from promalert.rules.kinds.base import EvalInput, KindEvaluator, Labeler
from promalert.rules.logic import parse_logic
from promalert.rules.spec import AlertingRule, CompositeRule
from promalert.rules.state import Candidate, Key

JoinKey = tuple[str, ...]


class CompositeEvaluator(KindEvaluator):
    """Evaluates ``logic`` per join key over query conditions and alert references."""

    def __init__(self, rule: AlertingRule, labeler: Labeler) -> None:
        if not isinstance(rule, CompositeRule):
            raise TypeError(f"CompositeEvaluator needs a CompositeRule, got {type(rule).__name__}")
        super().__init__(rule, labeler)
        self._logic = parse_logic(rule.logic, list(rule.conditions))
        self._on = tuple(rule.on)
        self._queries: list[tuple[str, str, Condition]] = []
        self._alerts: list[tuple[str, str]] = []
        for name, cond in rule.conditions.items():
            if cond.alert is not None:
                self._alerts.append((name, cond.alert))
            elif cond.query is not None and cond.condition is not None:
                self._queries.append((name, cond.query, cond.condition))
        self.references = frozenset(alert for _, alert in self._alerts)

    @property
    def expr(self) -> str:
        """The first query condition's query (empty when there is none)."""
        return self._queries[0][1] if self._queries else ""

    def _join(self, labels: Mapping[str, str]) -> JoinKey | None:
        try:
            return tuple(labels[name] for name in self._on)
        except KeyError:
            return None

    async def evaluate(self, inp: EvalInput) -> dict[Key, Candidate]:
        """Run the queries together, join per key, keep the keys where ``logic`` holds."""
        results = await asyncio.gather(
            *(inp.query(query) for _, query, _ in self._queries), return_exceptions=True
        )
        keys: dict[JoinKey, None] = {} if self._on else {(): None}
        true_at: dict[str, set[JoinKey]] = {}
        value_at: dict[JoinKey, float] = {}
        for (name, _, condition), result in zip(self._queries, results, strict=True):
            if isinstance(result, BaseException):
                raise result
            true_at[name] = self._true_keys(result, condition, keys, value_at)
        for name, alert in self._alerts:
            true_keys: set[JoinKey] = set()
            for labels in inp.firing(alert):
                key = self._join(labels)
                if key is not None:
                    keys.setdefault(key)
                    true_keys.add(key)
            true_at[name] = true_keys
        out: dict[Key, Candidate] = {}
        for key in keys:
            truth = {name: key in found for name, found in true_at.items()}
            if not self._logic.evaluate(truth):
                continue
            base = dict(zip(self._on, key, strict=True))
            candidate = self.labeler.candidate(Labels(base), value_at.get(key, math.nan), base)
            out[candidate.key] = candidate
        return out

    def _true_keys(
        self,
        result: QueryResult,
        condition: Condition,
        keys: dict[JoinKey, None],
        value_at: dict[JoinKey, float],
    ) -> set[JoinKey]:
        found: set[JoinKey] = set()
        for sample in result.samples:
            key = self._join(sample.labels)
            if key is None:
                continue
            keys.setdefault(key)
            if condition.holds(sample.value):
                found.add(key)
                # Conditions are visited in rule order, so the first true one wins.
                value_at.setdefault(key, sample.value)
        return found
