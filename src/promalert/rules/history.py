"""History from range queries, for rule kinds that look back (anomaly, trend, backtest).

Prometheus answers at most 11,000 points per series per range query, so a long span is
fetched in consecutive chunks on one step grid and merged per series. Grid points are
multiples of the step (``grid_floor``), so live evaluation and backtests sample the
same instants.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from promalert.datasource.prometheus import RangeResult
from promalert.model import Labels

MAX_POINTS = 11_000
"""Points per series Prometheus returns from one range query at most."""

RangeQuery = Callable[[str, datetime, datetime, float], Awaitable[RangeResult]]
"""Runs ``query_range(expr, start, end, step_seconds)``."""

Progress = Callable[[int, int], None]
"""Called with (chunks done, chunks in all) after each chunk."""


@dataclass(frozen=True, slots=True)
class History:
    """One series over a span: its labels and its points in time order."""

    labels: Labels
    timestamps: np.ndarray
    values: np.ndarray

    def since(self, after: float) -> History:
        """The points strictly after ``after``."""
        keep = self.timestamps > after
        return History(self.labels, self.timestamps[keep], self.values[keep])


def grid_floor(t: float, step: float) -> float:
    """The last multiple of ``step`` at or before ``t``."""
    return math.floor(t / step + 1e-9) * step


def grid_ceil(t: float, step: float) -> float:
    """The first multiple of ``step`` at or after ``t``."""
    return math.ceil(t / step - 1e-9) * step


def same_instant(a: float, b: float) -> bool:
    """True when two Unix times are the same millisecond (Prometheus's resolution)."""
    return round(a * 1000) == round(b * 1000)


def to_datetime(t: float) -> datetime:
    """A Unix timestamp as an aware UTC datetime."""
    return datetime.fromtimestamp(t, UTC)


def chunk_spans(
    start: float, end: float, step: float, max_points: int = MAX_POINTS
) -> list[tuple[float, float]]:
    """Split [start, end] into spans of at most ``max_points`` grid points each."""
    if end < start:
        return []
    spans = []
    width = (max_points - 1) * step
    lo = start
    while lo <= end + 1e-9:
        hi = min(lo + width, end)
        spans.append((lo, hi))
        lo = hi + step
    return spans


async def fetch_history(
    query_range: RangeQuery,
    expr: str,
    start: float,
    end: float,
    step: float,
    *,
    max_points: int = MAX_POINTS,
    progress: Progress | None = None,
) -> dict[Labels, History]:
    """Every series of ``expr`` over [start, end] at ``step``, fetched chunk by chunk."""
    spans = chunk_spans(start, end, step, max_points)
    parts: dict[Labels, tuple[list[list[float]], list[list[float]]]] = {}
    for done, (lo, hi) in enumerate(spans, 1):
        result = await query_range(expr, to_datetime(lo), to_datetime(hi), step)
        for series in result.series:
            ts, vs = parts.setdefault(series.labels, ([], []))
            ts.append(series.timestamps)
            vs.append(series.values)
        if progress is not None:
            progress(done, len(spans))
    return {
        labels: History(
            labels,
            np.asarray([t for chunk in ts for t in chunk], dtype=float),
            np.asarray([v for chunk in vs for v in chunk], dtype=float),
        )
        for labels, (ts, vs) in parts.items()
    }
