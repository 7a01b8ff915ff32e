"""Replays of ``anomaly``, ``trend`` and ``frequency`` rules over fetched history.

Each replay turns a rule and a span into one :class:`Replay` per series: the
evaluation times, the observed values, what the rule computed at each (score and
band, or the time to a trend's crossing, or an occurrence count) and whether the
series was active there. They follow the live evaluators: an anomaly model is
rebuilt from ``history`` at the first evaluation and every ``refit``, a series that is
absent at a grid point is dropped and warmed up from history when it returns; a trend
is fitted on the ``window`` before each evaluation; a frequency counts the evaluations
in ``within`` at which the condition held. Evaluations fall on the step grid
(multiples of the step), as live anomaly evaluations do.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from promalert.model import Labels
from promalert.rules.history import History, Progress, RangeQuery, fetch_history, grid_ceil
from promalert.rules.kinds.anomaly_model import Rows, SeriesModel, join_rows, passes
from promalert.rules.kinds.trend import forecast
from promalert.rules.spec import AnomalyRule, FrequencyRule, TrendRule


@dataclass(frozen=True, slots=True)
class Replay:
    """One series over a backtest: per evaluation time, its value, result and activity."""

    labels: Labels
    times: np.ndarray
    values: np.ndarray  # NaN where the series was absent
    active: np.ndarray  # bool
    # What the rule computed: anomaly score; trend seconds to crossing; frequency count.
    result: np.ndarray
    expected: np.ndarray | None = None
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None


def grid(start: float, end: float, step: float) -> np.ndarray:
    """Multiples of ``step`` in [start, end]."""
    first, last = math.ceil(start / step - 1e-9), math.floor(end / step + 1e-9)
    out: np.ndarray = np.arange(first, last + 1, dtype=float) * step
    return out


def _ms(ts: np.ndarray) -> np.ndarray:
    """Timestamps as integer milliseconds, so grid points match exactly."""
    out: np.ndarray = np.rint(np.asarray(ts, dtype=float) * 1000).astype(np.int64)
    return out


def _positions(ts: np.ndarray, times: np.ndarray) -> np.ndarray:
    """For each time, the index of the point at exactly that time, or -1."""
    keys, want = _ms(ts), _ms(times)
    if keys.size == 0:
        return np.full(want.size, -1)
    idx = np.minimum(np.searchsorted(keys, want), keys.size - 1)
    out: np.ndarray = np.where(keys[idx] == want, idx, -1)
    return out


async def replay_anomaly(
    rule: AnomalyRule,
    query_range: RangeQuery,
    start: float,
    end: float,
    progress: Progress | None = None,
) -> list[Replay]:
    """Score every series at each grid point of [start, end] as the live rule would."""
    times = grid(start, end, rule.step)
    if times.size == 0:
        return []
    lo = grid_ceil(times[0] - rule.history, rule.step)
    exprs = [rule.query, *rule.features.values()]
    fetched: list[dict[Labels, History]] = []
    parts = len(exprs) + 1  # each query's fetch, then the replay itself
    for i, expr in enumerate(exprs):
        part = None if progress is None else _sub(progress, i, parts)
        fetched.append(
            await fetch_history(query_range, expr, lo, times[-1], rule.step, progress=part)
        )
    named = list(zip(rule.features, fetched[1:], strict=True))
    rows = join_rows(fetched[0], named, rule.on)
    rebuilds = {0}
    if rule.refit:
        every = max(1, round(rule.refit / rule.step))
        rebuilds.update(range(every, times.size, every))
    out = []
    for done, (labels, series) in enumerate(rows.items(), 1):
        out.append(_replay_series(rule, labels, series, times, rebuilds))
        if progress is not None:
            _sub(progress, parts - 1, parts)(done, len(rows))
    return out


def _sub(progress: Progress, part: int, parts: int) -> Progress:
    """Progress of one of several equal parts, reported as progress of the whole."""
    return lambda done, total: progress(part * total + done, parts * total)


def _replay_series(
    rule: AnomalyRule, labels: Labels, rows: Rows, times: np.ndarray, rebuilds: set[int]
) -> Replay:
    ts, values = rows
    at = _positions(ts, times)
    n = times.size
    score = np.zeros(n)
    band = {name: np.full(n, np.nan) for name in ("expected", "lower", "upper")}
    counts = np.zeros(n, dtype=np.int64)
    k = 0
    while k < n:
        if at[k] < 0:
            k += 1
            continue
        # A segment: consecutive grid points where the series is present, up to a rebuild.
        b = k + 1
        while b < n and at[b] >= 0 and b not in rebuilds:
            b += 1
        model = SeriesModel(labels, rule)
        first = int(at[k])
        begin = int(np.searchsorted(ts, grid_ceil(times[k] - rule.history, rule.step) - 1e-6))
        warm = model.warm_up(ts[begin : first + 1], values[begin : first + 1])
        before = model.count
        rest = slice(first + 1, int(at[b - 1]) + 1)
        fed = model.feed(ts[rest], values[rest])
        finite = np.isfinite(values[rest]).all(axis=1)
        # Grid points are consecutive, so fed rows are exactly the segment's later points.
        seg = slice(k, b)
        score[seg] = np.concatenate((warm.score[-1:], fed.score))
        for name, arr in band.items():
            arr[seg] = np.concatenate((getattr(warm, name)[-1:], getattr(fed, name)))
        counts[seg] = np.concatenate(([before], before + np.cumsum(finite)))
        k = b
    present = at >= 0
    observed = np.where(present, values[np.maximum(at, 0), 0], np.nan)
    expected = band["expected"]
    active = np.array(
        [
            bool(present[i])
            and counts[i] >= rule.min_samples
            and passes(rule, float(score[i]), float(observed[i]), float(expected[i]))
            for i in range(n)
        ],
        dtype=bool,
    )
    return Replay(labels, times, observed, active, score, expected, band["lower"], band["upper"])


async def replay_trend(
    rule: TrendRule,
    query_range: RangeQuery,
    start: float,
    end: float,
    interval: float,
    progress: Progress | None = None,
) -> list[Replay]:
    """Fit each series' trend at every evaluation (each ``interval``, on the step grid)."""
    every = rule.step * max(1, round(interval / rule.step))
    times = grid(start, end, every)
    if times.size == 0:
        return []
    first = grid_ceil(times[0] - rule.window, rule.step)
    fetched = await fetch_history(
        query_range,
        rule.query,
        first,
        times[-1],
        rule.step,
        progress=None if progress is None else _sub(progress, 0, 2),
    )
    out = []
    for done, (labels, history) in enumerate(fetched.items(), 1):
        ts, vs = history.timestamps, history.values
        lo = np.searchsorted(ts, times - rule.window - 1e-6)
        hi = np.searchsorted(ts, times + 1e-6)
        wait = np.full(times.size, np.nan)
        for i, t in enumerate(times):
            if hi[i] > lo[i]:
                wait[i] = forecast(rule, ts[lo[i] : hi[i]], vs[lo[i] : hi[i]], float(t))[1]
        at = _positions(ts, times)
        observed = np.where(at >= 0, vs[np.maximum(at, 0)], np.nan)
        out.append(Replay(labels, times, observed, ~np.isnan(wait), wait))
        if progress is not None:  # fitting every evaluation is the slow part
            _sub(progress, 1, 2)(done, len(fetched))
    return out


async def replay_frequency(
    rule: FrequencyRule,
    query_range: RangeQuery,
    start: float,
    end: float,
    interval: float,
    progress: Progress | None = None,
) -> list[Replay]:
    """Count, at each evaluation (every ``interval``), the recent ones where the condition held."""
    times = grid(start, end, interval)
    if times.size == 0:
        return []
    span = math.ceil(rule.within / interval - 1e-9)  # evaluations in (t - within, t]
    fetched = await fetch_history(
        query_range, rule.query, times[0] - span * interval, times[-1], interval, progress=progress
    )
    holds: Callable[[float], bool] = rule.condition.holds
    out = []
    for labels, history in fetched.items():
        ts, vs = history.timestamps, history.values
        full = grid(times[0] - span * interval, times[-1], interval)
        at = _positions(ts, full)
        held = np.array([i >= 0 and holds(float(vs[i])) for i in at], dtype=np.int64)
        cum = np.concatenate(([0], np.cumsum(held)))
        last = np.arange(span, full.size)  # index of each evaluation time in `full`
        count = (cum[last + 1] - cum[last + 1 - span]).astype(float)
        observed = np.where(at[span:] >= 0, vs[np.maximum(at[span:], 0)], np.nan)
        out.append(Replay(labels, times, observed, count >= rule.count, count))
    return out
