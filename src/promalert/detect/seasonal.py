"""Seasonal detector: baseline from the same slot of previous periods (days by default).

Each slot of the period (e.g. 5-minute slots of a day) keeps an EW mean and an EW mean
absolute deviation over the periods seen so far. With ``period=0`` the period is
detected: after two days of data, the lag (1 day or 1 hour) with the strongest
autocorrelation wins, or the series is taken as not seasonal (a single slot).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np

from promalert.detect.base import (
    Score,
    ScoreArrays,
    as_arrays,
    check,
    parse_params,
    restore,
    state_header,
)
from promalert.detect.ewma import fill_forward
from promalert.detect.filters import EwMean
from promalert.detect.scoring import normal_surprises, scores_from_surprise

DAY = 86400.0
HOUR = 3600.0
_STEP_SAMPLES = 16  # timestamps used to estimate the sampling step
_DETECT_SPAN = 2 * DAY  # auto mode decides once this much history is buffered
_DETECT_MAX_POINTS = 5000  # ... or once this many points are, whichever comes first
_MIN_ACF = 0.3  # weaker autocorrelation than this is not seasonality
MEAN_AD_TO_SD = 1.2533
_TYPICAL_FLOOR = 0.5  # a slot's spread is at least half the typical one of all slots


@dataclass(frozen=True, slots=True)
class SeasonalParams:
    """Parameters of the ``seasonal`` detector."""

    period: float = DAY  # seconds; 0 detects it (1 day, 1 hour or none)
    alpha: float = 0.3  # weight of the newest period in each slot's baseline
    warmup_periods: int = 2  # whole periods scored 0 before the first real score
    band: float = 3.0  # half-width of the expected band, in standard deviations
    max_slots: int = 2016  # slots per period at most (memory per series)

    def __post_init__(self) -> None:
        check(self.period >= 0.0, f"period must be >= 0 seconds, got {self.period}")
        check(0.0 < self.alpha <= 1.0, f"alpha must be in (0, 1], got {self.alpha}")
        check(self.warmup_periods >= 1, f"warmup_periods must be >= 1, got {self.warmup_periods}")
        check(self.band > 0.0, f"band must be > 0, got {self.band}")
        check(self.max_slots >= 1, f"max_slots must be >= 1, got {self.max_slots}")


def detect_period(ts: np.ndarray, xs: np.ndarray, step: float) -> float:
    """The longest candidate period (1 day, then 1 hour) with strong autocorrelation, or 0.

    Longest first: a smooth daily curve also correlates at a lag of one hour.
    """
    centred = xs - xs.mean()
    denom = float(centred @ centred)
    for period in (DAY, HOUR):
        lag = int(round(period / step))
        if denom <= 0 or lag < 2 or lag > xs.size // 2:
            continue
        if float(centred[lag:] @ centred[:-lag]) / denom >= _MIN_ACF:
            return period
    return 0.0


class SeasonalDetector:
    """Scores the distance from the same slot's baseline, in EW absolute deviations."""

    name: ClassVar[str] = "seasonal"

    def __init__(self, params: SeasonalParams | None = None, **raw: object) -> None:
        self.params = params or parse_params(SeasonalParams, self.name, raw)
        self.count = 0
        self.t0: float | None = None
        self.head: list[float] = []  # first timestamps, for the step
        self.pending: list[tuple[float, float]] = []  # buffered points while detecting
        self.period: float | None = self.params.period or None
        self.slots = 0
        self.mean: np.ndarray = np.zeros(0)
        self.mad: np.ndarray = np.zeros(0)
        self.seen: np.ndarray = np.zeros(0, dtype=np.int64)
        self.typical = EwMean(0.01)  # mean absolute residual over all slots, ~100 points

    def update(self, timestamp: float, value: float) -> Score:
        """Score one point (the batch path on one row, so both agree by construction)."""
        return self.score_batch(np.array([timestamp]), np.array([value])).at(0)

    def score_batch(self, timestamps: np.ndarray, values: np.ndarray) -> ScoreArrays:
        """Score many points: slots of the same round (occurrence) are updated together."""
        ts, xs = as_arrays(timestamps, values)
        out = ScoreArrays(np.zeros(ts.size), xs.copy(), xs.copy(), xs.copy())
        done = 0
        if self.t0 is None and ts.size:
            self.t0 = float(ts[0])
        while done < ts.size and self.slots == 0:
            done += self._warm(ts[done:], xs[done:])
        if done < ts.size:
            part = self._apply(ts[done:], xs[done:])
            for name in ("score", "expected", "lower", "upper"):
                getattr(out, name)[done:] = getattr(part, name)
        self.count += ts.size
        return out

    def _warm(self, ts: np.ndarray, xs: np.ndarray) -> int:
        """Consume points until the step (and, in auto mode, the period) is known."""
        used = 0
        while len(self.head) < _STEP_SAMPLES and used < ts.size:
            self.head.append(float(ts[used]))
            self.pending.append((float(ts[used]), float(xs[used])))
            used += 1
        if len(self.head) < _STEP_SAMPLES:
            return used
        if self.period is None:
            assert self.t0 is not None
            rest = ts[used:]
            span_end = int(np.searchsorted(rest, self.t0 + _DETECT_SPAN, side="left"))
            take = min(rest.size, span_end, _DETECT_MAX_POINTS - len(self.pending))
            self.pending.extend(
                zip(rest[:take].tolist(), xs[used : used + take].tolist(), strict=True)
            )
            used += take
            # decided once a point past the span arrives or the buffer is full
            if len(self.pending) < _DETECT_MAX_POINTS and used == ts.size:
                return used
        self._start()
        return used

    def _start(self) -> None:
        """Fix step, period and slots, then replay the buffered points through the slots."""
        step = float(np.median(np.diff(self.head))) if len(self.head) > 1 else DAY
        step = step if step > 0 else 1.0
        if self.period is None:
            pts = np.array(self.pending)
            self.period = detect_period(pts[:, 0], pts[:, 1], step) or step
        self.slots = int(min(max(round(self.period / step), 1), self.params.max_slots))
        self.mean = np.zeros(self.slots)
        self.mad = np.zeros(self.slots)
        self.seen = np.zeros(self.slots, dtype=np.int64)
        pending, self.pending = self.pending, []
        if pending:
            pts = np.array(pending)
            self._apply(pts[:, 0], pts[:, 1])

    def _apply(self, ts: np.ndarray, xs: np.ndarray) -> ScoreArrays:
        assert self.t0 is not None and self.period is not None
        period, alpha = self.period, self.params.alpha
        width = period / self.slots
        slot = np.minimum(((ts - self.t0) % period // width).astype(np.int64), self.slots - 1)
        order = np.argsort(slot, kind="stable")
        sorted_slots = slot[order]
        starts = np.r_[0, np.flatnonzero(np.diff(sorted_slots)) + 1]
        group_start = np.repeat(starts, np.diff(np.r_[starts, slot.size]))
        rank = np.empty(slot.size, dtype=np.int64)
        rank[order] = np.arange(slot.size) - group_start
        expected = xs.copy()
        scale = np.zeros(xs.size)
        resid = np.zeros(xs.size)
        seen_before = np.zeros(xs.size, dtype=np.int64)
        for r in range(int(rank.max()) + 1 if rank.size else 0):
            idx = np.flatnonzero(rank == r)
            s, x = slot[idx], xs[idx]
            seen, mean, mad = self.seen[s], self.mean[s], self.mad[s]
            seen_before[idx] = seen
            old = seen > 0
            expected[idx] = np.where(old, mean, x)
            scale[idx] = mad * MEAN_AD_TO_SD
            dev = np.abs(x - mean)
            resid[idx] = dev
            self.mad[s] = np.where(seen > 1, mad + alpha * (dev - mad), np.where(old, dev, 0.0))
            self.mean[s] = np.where(old, mean + alpha * (x - mean), x)
            self.seen[s] = seen + 1
        # A slot seen only a few times has an unreliable spread of its own; the typical
        # residual over all slots (time-ordered EW, so both paths agree) is a floor for it.
        has = seen_before > 0
        before = self.typical.value
        after = np.full(xs.size, np.nan)
        after[has] = self.typical.run(resid[has])
        typical = np.concatenate(([np.nan if before is None else before], after[:-1]))
        typical = fill_forward(typical[: xs.size])
        floor = _TYPICAL_FLOOR * MEAN_AD_TO_SD * np.where(np.isfinite(typical), typical, 0.0)
        scale = np.maximum(np.maximum(scale, floor), 1e-6 * np.abs(expected) + 1e-12)
        z = (xs - expected) / scale
        warm = (ts - self.t0 >= self.params.warmup_periods * period) & (seen_before > 0)
        score = np.where(warm, scores_from_surprise(normal_surprises(z)), 0.0)
        half = np.where(seen_before > 1, self.params.band * scale, 0.0)
        return ScoreArrays(score, expected, expected - half, expected + half)

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {
            **state_header(self),
            "t0": self.t0,
            "head": self.head,
            "pending": [list(p) for p in self.pending],
            "period": self.period,
            "slots": self.slots,
            "mean": self.mean.tolist(),
            "mad": self.mad.tolist(),
            "seen": self.seen.tolist(),
            "typical": self.typical.to_state(),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild from ``state_dict`` output."""
        det = restore(cls, SeasonalParams, state)
        det.t0 = state["t0"]
        det.head = [float(t) for t in state["head"]]
        det.pending = [(float(t), float(v)) for t, v in state["pending"]]
        det.period = state["period"]
        det.slots = int(state["slots"])
        det.mean = np.array(state["mean"], dtype=float)
        det.mad = np.array(state["mad"], dtype=float)
        det.seen = np.array(state["seen"], dtype=np.int64)
        det.typical = EwMean.from_state(state["typical"])
        return det
