"""``trend`` rules: a robust straight line through ``window``, extrapolated up to ``within``.

Each evaluation fetches the last ``window`` of the query at ``step`` and fits every
series with the Theil–Sen estimator: the slope is the median of the slopes between all
pairs of points (on at most :data:`FIT_POINTS` evenly spaced points, so the cost stays
fixed), the intercept the median residual. Up to 29% of the points can be outliers
(a spike, a scrape gap filled with a stale value) without moving the line much.

A series is active when the line meets ``condition`` now or within ``within``.
``$value`` is the number of seconds until it does (0 when it already does), so
``{{ $value | humanizeDuration }}`` reads "2h 5m 0s". Templates also see
``$labels.__predicted_at`` (RFC 3339, UTC), ``$labels.__slope`` (change per second) and
``$labels.__forecast`` (the line's value now); these are not alert labels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from promalert.config.types import Condition
from promalert.errors import RuleEvaluationError
from promalert.model import Labels
from promalert.rules.gotemplate.gofloat import format_float
from promalert.rules.history import fetch_history
from promalert.rules.kinds.base import EvalInput, KindEvaluator, Labeler, add_unique
from promalert.rules.spec import AlertingRule, TrendRule
from promalert.rules.state import Candidate, Key

FIT_POINTS = 128
"""Points the pairwise slopes are taken over at most (8,128 pairs)."""


@dataclass(frozen=True, slots=True)
class Line:
    """A fitted line: ``value(t) = level + slope * (t - at)``."""

    at: float
    level: float
    slope: float

    def value(self, t: float) -> float:
        """The line's value at Unix time ``t``."""
        return self.level + self.slope * (t - self.at)


def theil_sen(ts: np.ndarray, values: np.ndarray) -> Line | None:
    """Theil–Sen line through the finite points, anchored at the last one; None if < 2."""
    ok = np.isfinite(ts) & np.isfinite(values)
    t, y = ts[ok], values[ok]
    if t.size < 2:
        return None
    anchor = float(t[-1])
    rel = t - anchor  # small numbers keep the products exact enough
    pick = np.unique(np.linspace(0, t.size - 1, min(t.size, FIT_POINTS)).round().astype(int))
    i, j = np.triu_indices(pick.size, 1)
    dt = rel[pick][j] - rel[pick][i]
    keep = dt > 0
    if not keep.any():
        return None
    slope = float(np.median((y[pick][j] - y[pick][i])[keep] / dt[keep]))
    level = float(np.median(y - slope * rel))
    return Line(anchor, level, slope)


def seconds_until(condition: Condition, now: float, slope: float, within: float) -> float:
    """Seconds until a line at ``now`` moving ``slope``/s meets ``condition``; NaN if not
    within ``within`` (0 when it already does)."""
    if condition.holds(now):
        return 0.0
    if not (math.isfinite(now) and math.isfinite(slope)) or slope == 0.0:
        return math.nan
    op, target = condition.op, condition.threshold
    if (op in (">", ">=") and slope < 0) or (op in ("<", "<=") and slope > 0):
        return math.nan
    wait = 0.0 if op == "!=" else (target - now) / slope
    return wait if 0.0 <= wait <= within else math.nan


def rfc3339(t: float) -> str:
    """Unix time as RFC 3339 in UTC, to the second."""
    return datetime.fromtimestamp(round(t), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def forecast_labels(labels: Labels, line: Line, at: float, wait: float) -> Labels:
    """The series' labels plus the template-only values of a forecast."""
    extra = {
        "__predicted_at": rfc3339(at + wait),
        "__slope": format_float(line.slope),
        "__forecast": format_float(line.value(at)),
    }
    return Labels({**labels, **extra})


def forecast(rule: TrendRule, ts: np.ndarray, values: np.ndarray, at: float) -> tuple[Line, float]:
    """The fitted line and the seconds until it meets the condition (NaN: not in time)."""
    if int(np.isfinite(values).sum()) < rule.min_samples:
        return Line(at, math.nan, math.nan), math.nan
    line = theil_sen(ts, values)
    if line is None:
        return Line(at, math.nan, math.nan), math.nan
    return line, seconds_until(rule.condition, line.value(at), line.slope, rule.within)


class TrendEvaluator(KindEvaluator):
    """Series whose fitted trend meets ``condition`` within ``within``."""

    def __init__(self, rule: AlertingRule, labeler: Labeler) -> None:
        if not isinstance(rule, TrendRule):
            raise TypeError(f"TrendEvaluator needs a TrendRule, got {type(rule).__name__}")
        super().__init__(rule, labeler)
        self._rule = rule

    @property
    def expr(self) -> str:
        """The rule's query."""
        return self._rule.query

    async def evaluate(self, inp: EvalInput) -> dict[Key, Candidate]:
        """Fit every series over the window and keep those predicted to meet the condition."""
        if inp.query_range is None:
            raise RuleEvaluationError("trend rules need a datasource that answers range queries")
        rule = self._rule
        at = inp.at.timestamp()
        data = await fetch_history(inp.query_range, rule.query, at - rule.window, at, rule.step)
        out: dict[Key, Candidate] = {}
        for labels, history in data.items():
            line, wait = forecast(rule, history.timestamps, history.values, at)
            if math.isnan(wait):
                continue
            source = forecast_labels(labels, line, at, wait)
            add_unique(out, self.labeler.candidate(source, wait, labels))
        return out
