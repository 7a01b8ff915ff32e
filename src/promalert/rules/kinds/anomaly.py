"""``anomaly`` rules: one streaming detector per series, fed from range queries on a step grid.

Each evaluation feeds every series the grid points (multiples of ``step``) it has not
seen yet, up to the last grid point at or before the evaluation time, so the detector
sees the same samples whatever the evaluation interval, and a restart catches up from
where the saved state stopped. A series seen for the first time is warmed up from
``history``; every ``refit`` all models are rebuilt from ``history``. A series absent at
the newest grid point has vanished and is dropped (its metrics go with it). A series
is active when it has been fed ``min_samples`` points and its last score reaches
``threshold`` on a side ``direction`` counts.

Templates see the observed value as ``$value`` and, beside the series' labels,
``$labels.__score``, ``$labels.__expected``, ``$labels.__lower`` and
``$labels.__upper`` (these are not alert labels). Model state is saved with the rule
(``dump_extra``) when the set of series changes and otherwise every
:data:`CHECKPOINT_SECONDS`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from promalert.errors import RuleEvaluationError
from promalert.metrics import Metrics
from promalert.model import Labels
from promalert.rules.gotemplate.gofloat import format_float
from promalert.rules.history import (
    RangeQuery,
    fetch_history,
    grid_ceil,
    grid_floor,
    same_instant,
)
from promalert.rules.kinds.anomaly_model import Rows, SeriesModel, join_rows, passes
from promalert.rules.kinds.base import EvalInput, KindEvaluator, Labeler, add_unique
from promalert.rules.spec import AlertingRule, AnomalyRule
from promalert.rules.state import Candidate, Key

CHECKPOINT_SECONDS = 300.0
"""Model state is saved at least this often (a restart replays the rest from Prometheus)."""

STATE_VERSION = 1


def model_signature(rule: AnomalyRule) -> str:
    """What saved models depend on; a rule changed in these starts its models afresh."""
    return json.dumps(
        [rule.query, rule.detector, rule.params, rule.step, rule.features, rule.on],
        sort_keys=True,
        default=str,
    )


def template_labels(model: SeriesModel) -> Labels:
    """The series' labels plus the ``__score``/``__expected``/band values for templates."""
    s = model.last
    if s is None:
        return model.labels
    extra = {
        "__score": format_float(s.score),
        "__expected": format_float(s.expected),
        "__lower": format_float(s.lower),
        "__upper": format_float(s.upper),
    }
    return Labels({**model.labels, **extra})


class AnomalyEvaluator(KindEvaluator):
    """Keeps a model per series of the rule's query and reports the anomalous ones."""

    def __init__(self, rule: AlertingRule, labeler: Labeler) -> None:
        if not isinstance(rule, AnomalyRule):
            raise TypeError(f"AnomalyEvaluator needs an AnomalyRule, got {type(rule).__name__}")
        super().__init__(rule, labeler)
        self._rule = rule
        self.models: dict[Labels, SeriesModel] = {}
        self.fitted_at: float | None = None  # grid time of the last rebuild from history
        self.end: float | None = None  # newest grid point fed
        self._at = 0.0  # time of the last evaluation
        self._extra: dict[str, Any] | None = None
        self._extra_at = -math.inf
        self._changed = False  # series added, dropped or rebuilt since the last checkpoint

    @property
    def expr(self) -> str:
        """The rule's query."""
        return self._rule.query

    async def evaluate(self, inp: EvalInput) -> dict[Key, Candidate]:
        """Feed new grid points to every series' model and return the anomalous series."""
        if inp.query_range is None:
            raise RuleEvaluationError("anomaly rules need a datasource that answers range queries")
        rule = self._rule
        self._at = inp.at.timestamp()
        end = grid_floor(self._at, rule.step)
        stale = self.end is not None and end - self.end > rule.history
        refit_due = self.fitted_at is not None and rule.refit and end - self.fitted_at >= rule.refit
        if self.fitted_at is None or self.end is None or stale or refit_due:
            await self._rebuild(inp.query_range, end)
        elif end > self.end:
            await self._advance(inp.query_range, end)
        self.publish(inp.metrics)
        newest = end if self.end is None else self.end
        out: dict[Key, Candidate] = {}
        for model in self.models.values():
            s = model.last
            if s is None or not model.warm or not same_instant(model.last_ts, newest):
                continue
            if passes(rule, s.score, model.last_value, s.expected):
                candidate = self.labeler.candidate(
                    template_labels(model), model.last_value, model.labels
                )
                add_unique(out, candidate)
        return out

    async def _rows(self, query_range: RangeQuery, start: float, end: float) -> dict[Labels, Rows]:
        """Rows of every series over [start, end]: the query, then each feature."""
        rule = self._rule
        main = await fetch_history(query_range, rule.query, start, end, rule.step)
        features = [
            (name, await fetch_history(query_range, query, start, end, rule.step))
            for name, query in rule.features.items()
        ]
        return join_rows(main, features, rule.on)

    async def _rebuild(self, query_range: RangeQuery, end: float) -> None:
        """Fresh models for every series present at ``end``, warmed up from history."""
        start = grid_ceil(end - self._rule.history, self._rule.step)
        rows = await self._rows(query_range, start, end)
        models: dict[Labels, SeriesModel] = {}
        for labels, (ts, values) in rows.items():
            if ts.size and same_instant(ts[-1], end):
                model = SeriesModel(labels, self._rule)
                model.warm_up(ts, values)
                models[labels] = model
        self.models, self.fitted_at, self.end = models, end, end
        self._changed = True

    async def _advance(self, query_range: RangeQuery, end: float) -> None:
        """Feed the grid points after each model's last one; add new series, drop gone ones."""
        rule = self._rule
        floor = grid_ceil(end - rule.history, rule.step)
        start = min((m.last_ts for m in self.models.values()), default=end - rule.step)
        start = max(start + rule.step, floor)
        rows = await self._rows(query_range, start, end)
        models: dict[Labels, SeriesModel] = {}
        new: list[Labels] = []
        for labels, (ts, values) in rows.items():
            if not ts.size or not same_instant(ts[-1], end):
                continue  # absent at the newest grid point: vanished (or never here)
            model = self.models.get(labels)
            if model is None:
                new.append(labels)
                continue
            model.feed(ts, values)
            models[labels] = model
        if new:
            history = rows if start <= floor else await self._rows(query_range, floor, end)
            for labels in new:
                ts, values = history.get(labels, rows[labels])
                model = SeriesModel(labels, rule)
                model.warm_up(ts, values)
                models[labels] = model
        self._changed |= models.keys() != self.models.keys()
        self.models, self.end = models, end

    def publish(self, metrics: Metrics | None) -> None:
        """Export every series' last score, expected value, band and observed value."""
        if metrics is None:
            return
        rows = [
            (model.labels, s.score, s.expected, s.lower, s.upper, model.last_value)
            for model in self.models.values()
            if (s := model.last) is not None
        ]
        metrics.anomaly.publish(self, self._rule.alert, rows)

    def dump_extra(self) -> dict[str, Any] | None:
        """The models, rebuilt when series changed or the last checkpoint is old enough."""
        if self.fitted_at is None:
            return self._extra
        if self._changed or self._at - self._extra_at >= CHECKPOINT_SECONDS:
            state = {
                "version": STATE_VERSION,
                "signature": model_signature(self._rule),
                "fitted_at": self.fitted_at,
                "end": self.end,
                "series": [model.dump() for model in self.models.values()],
            }
            # A detached copy: detectors hand out their live lists, which change later.
            self._extra = json.loads(json.dumps(state))
            self._extra_at, self._changed = self._at, False
        return self._extra

    def load_extra(self, data: Mapping[str, Any]) -> None:
        """Restore saved models; state of another rule configuration is ignored."""
        self._extra = dict(data)
        if data.get("version") != STATE_VERSION:
            return
        if data.get("signature") != model_signature(self._rule):
            return  # the detector or query changed: its models start afresh
        try:
            models = [SeriesModel.load(item, self._rule) for item in data["series"]]
            fitted_at, end = float(data["fitted_at"]), float(data["end"])
        except (KeyError, TypeError, ValueError, AttributeError):
            return  # e.g. a detector's state version changed: models start afresh, alerts stay
        self.models = {m.labels: m for m in models}
        self.fitted_at, self.end = fitted_at, end
