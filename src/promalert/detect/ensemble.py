"""The default detector: record tests over several views of a series, combined and suppressed.

Each point is seen through ten views: the value, its short (``short`` points) and long
(``long`` points) rolling means, each in both directions; the short and long rolling
mean of the absolute step (volatility); and, when the sampling step allows, the change
of the short mean since the same time yesterday and a week ago. Every view asks one
question: is this the largest value of the last ``window`` points, and by how much?
A record among n points is a 1-in-(n+1) event and a record that clears the old maximum
by a wide margin is rarer still (``scoring.record_surprise``). The most surprising view
wins, less log10(10) for having looked ten times; after a score reaches
``alert_level`` the next ``suppress`` points are held just under it, so one anomaly
alerts once. This shape was tuned on the NAB development subset (see bench/nab), with
one configuration for every file and no labels in the detector.
"""

from __future__ import annotations

import math
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
from promalert.detect.filters import EwMean, Lag, RollingMean, SlidingMax
from promalert.detect.scoring import (
    Suppressor,
    record_surprises,
    score_from_surprise,
    scores_from_surprise,
)

VIEWS = ("v+", "v-", "m+", "m-", "M+", "M-", "s", "S", "day", "week")
_LN10 = math.log(10.0)
_NAN, _NEG_INF = math.nan, -math.inf
_isfinite, _log10 = math.isfinite, math.log10
_LOOKS = math.log10(len(VIEWS))  # Bonferroni: the best of ten views is less surprising
_STEP_SAMPLES = 16  # timestamps used to estimate the sampling step (for the seasonal lags)
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class EnsembleParams:
    """Parameters of the ``ensemble`` detector (defaults tuned on NAB, see bench/nab)."""

    window: int = 4000  # points a record is taken over
    spread_span: int = 2000  # span of the EW typical level each view's margin is measured from
    short: int = 6  # points in the short rolling means
    long: int = 48  # points in the long rolling means
    excess_scale: float = 0.1  # margin (in spreads) that makes a record 10x rarer, times ln 10
    tie: float = 1.0  # decades a tie with the old maximum counts less than a record
    alert_level: float = 0.25  # a score this high starts a suppression hold
    suppress: int = 200  # points held under alert_level after a detection
    warmup: int = 100  # points scored 0 before the first real score
    max_lag: int = 4032  # seasonal views need this many points of memory at most

    def __post_init__(self) -> None:
        check(self.window >= 2, f"window must be >= 2, got {self.window}")
        check(self.spread_span >= 1, f"spread_span must be >= 1, got {self.spread_span}")
        check(self.short >= 1, f"short must be >= 1, got {self.short}")
        check(self.long >= 1, f"long must be >= 1, got {self.long}")
        check(self.excess_scale > 0.0, f"excess_scale must be > 0, got {self.excess_scale}")
        check(self.tie >= 0.0, f"tie must be >= 0, got {self.tie}")
        check(
            0.0 < self.alert_level <= 1.0, f"alert_level must be in (0, 1], got {self.alert_level}"
        )
        check(self.suppress >= 0, f"suppress must be >= 0, got {self.suppress}")
        check(self.warmup >= 1, f"warmup must be >= 1, got {self.warmup}")
        check(self.max_lag >= 0, f"max_lag must be >= 0, got {self.max_lag}")


class _View:
    """The record test of one view: past maximum, typical level and how many were seen."""

    __slots__ = ("top", "level", "seen", "past_max", "ref")

    def __init__(self, p: EnsembleParams) -> None:
        self.top = SlidingMax(p.window)
        self.level = EwMean(2.0 / (p.spread_span + 1.0))
        self.seen = 0
        self.past_max = self.ref = math.nan  # of the last judged value (not state)

    def judge(self, x: float, window: int, scale: float, tie: float) -> float:
        """Surprise of one value; the past maximum and typical level it was judged by are
        left in ``past_max`` and ``ref``.

        ``SlidingMax.query_push``, ``scoring.record_surprise`` (``scale`` is
        ``excess_scale * ln 10``) and ``EwMean.step`` are inlined here with the same
        arithmetic: this runs ten times per point on the streaming path.
        """
        level = self.level
        mean = level.value
        ref = _NAN if mean is None else mean
        top = self.top
        idx, val, t = top.idx, top.val, top.index
        edge = t - top.h
        while idx and idx[0] < edge:
            idx.popleft()
            val.popleft()
        past_max = val[0] if val else _NEG_INF
        while val and val[-1] <= x:
            idx.pop()
            val.pop()
        idx.append(t)
        val.append(x)
        top.index = t + 1
        seen = self.seen
        if seen > window:
            seen = window
        out = 0.0
        # `b if b > a else a` is max(a, b) and `b if b < a else a` is min(a, b), NaN included.
        if seen > 0 and _isfinite(past_max):
            a, b = abs(past_max), abs(ref)
            floor = 1e-3 * (b if b > a else a) + 1e-12
            if _isfinite(ref):
                gap = past_max - ref
                gap = floor if floor > gap else gap
            else:
                gap = floor
            excess = (x - past_max) / gap
            if excess > 0:
                out = _log10(seen + 1) + excess / scale
            elif excess > -1.0:
                lead = _log10(seen + 1) - tie
                near = 1.0 + excess
                out = (0.0 if 0.0 > lead else lead) * (1.0 if 1.0 < near else near) ** 8
        level.value = x if mean is None else mean + level.alpha * (x - mean)
        self.seen += 1
        self.past_max, self.ref = past_max, ref
        return out

    def run(self, xs: np.ndarray, p: EnsembleParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Array form of ``step``."""
        ref0 = self.level.value
        past_max = self.top.run(xs)
        after = self.level.run(xs)
        ref = np.concatenate(([math.nan if ref0 is None else ref0], after[:-1]))[: xs.size]
        seen = np.minimum(self.seen + np.arange(xs.size), p.window).astype(float)
        self.seen += xs.size
        surprise = record_surprises(xs, past_max, ref, seen, p.excess_scale, p.tie)
        return surprise, past_max, ref

    def to_state(self) -> dict[str, Any]:
        return {"top": self.top.to_state(), "level": self.level.to_state(), "seen": self.seen}

    def load(self, state: Mapping[str, Any]) -> None:
        self.top = SlidingMax.from_state(state["top"])
        self.level = EwMean.from_state(state["level"])
        self.seen = int(state["seen"])


class EnsembleDetector:
    """Record tests over ten views of the series, Bonferroni-combined, with suppression."""

    name: ClassVar[str] = "ensemble"

    def __init__(self, params: EnsembleParams | None = None, **raw: object) -> None:
        self.params = p = params or parse_params(EnsembleParams, self.name, raw)
        self.count = 0
        self.prev: float | None = None
        self.short, self.long = RollingMean(p.short), RollingMean(p.long)
        self.short_step, self.long_step = RollingMean(p.short), RollingMean(p.long)
        self.head: list[float] = []  # first timestamps, for the sampling step
        self.early: list[float] = []  # short means seen before the lags exist
        self.lags: dict[str, Lag] | None = None
        self.views = {name: _View(p) for name in VIEWS}
        # The eight views every point feeds, in VIEWS order (the objects never change).
        self._fixed = tuple(self.views[name] for name in VIEWS[:8])
        self.hold = Suppressor(p.alert_level, p.suppress)

    def _start_lags(self) -> None:
        """Pick the daily and weekly lags from the sampling step; views beyond max_lag stay off."""
        step = float(np.median(np.diff(self.head)))
        self.lags = {}
        if step > 0:
            day = int(round(DAY / step))
            for name, length in (("day", day), ("week", 7 * day)):
                if 4 <= length <= self.params.max_lag:
                    self.lags[name] = Lag(length)
        for lag in self.lags.values():
            lag.run(np.array(self.early))
        self.early = []

    def update(self, timestamp: float, value: float) -> Score:
        """Score one point and fold it into every view."""
        p, x = self.params, float(value)
        m = self.short.step(x)
        big = self.long.step(x)
        jump = 0.0 if self.prev is None else abs(x - self.prev)
        self.prev = x
        s, big_s = self.short_step.step(jump), self.long_step.step(jump)
        window, scale, tie = p.window, p.excess_scale * _LN10, p.tie
        plus, minus, m_plus, m_minus, big_plus, big_minus, small_s, big_s_view = self._fixed
        # Unrolled: this is the hot path of every live anomaly rule.
        best = plus.judge(x, window, scale, tie)
        v = minus.judge(-x, window, scale, tie)
        best = v if v > best else best
        v = m_plus.judge(m, window, scale, tie)
        best = v if v > best else best
        v = m_minus.judge(-m, window, scale, tie)
        best = v if v > best else best
        v = big_plus.judge(big, window, scale, tie)
        best = v if v > best else best
        v = big_minus.judge(-big, window, scale, tie)
        best = v if v > best else best
        v = small_s.judge(s, window, scale, tie)
        best = v if v > best else best
        v = big_s_view.judge(big_s, window, scale, tie)
        best = v if v > best else best
        if self.lags is None:
            self.head.append(float(timestamp))
            self.early.append(m)
            if len(self.head) == _STEP_SAMPLES:
                self._start_lags()
        else:
            for name, lag in self.lags.items():
                back = lag.step(m)
                if back is not None:
                    surprise = self.views[name].judge(abs(m - back), window, scale, tie)
                    if surprise > best:
                        best = surprise
        score = score_from_surprise(best - _LOOKS) if self.count >= p.warmup else 0.0
        self.count += 1
        top, expected, neg_bottom = plus.past_max, plus.ref, minus.past_max
        return Score(
            self.hold.step(score),
            expected if math.isfinite(expected) else x,
            min(-neg_bottom, x) if math.isfinite(neg_bottom) else x,
            max(top, x) if math.isfinite(top) else x,
        )

    def score_batch(self, timestamps: np.ndarray, values: np.ndarray) -> ScoreArrays:
        """Vectorised ``update`` over many points."""
        p = self.params
        ts, xs = as_arrays(timestamps, values)
        n = xs.size
        m, big = self.short.run(xs), self.long.run(xs)
        before = np.concatenate(([math.nan if self.prev is None else self.prev], xs[:-1]))[:n]
        jump = np.where(np.isfinite(before), np.abs(xs - before), 0.0)
        if n:
            self.prev = float(xs[-1])
        series = {"v+": xs, "v-": -xs, "m+": m, "m-": -m, "M+": big, "M-": -big}
        series |= {"s": self.short_step.run(jump), "S": self.long_step.run(jump)}
        masks = {name: np.ones(n, dtype=bool) for name in series}
        start = 0
        if self.lags is None:
            start = min(n, _STEP_SAMPLES - len(self.head))
            self.head.extend(ts[:start].tolist())
            self.early.extend(m[:start].tolist())
            if len(self.head) == _STEP_SAMPLES:
                self._start_lags()
        for name, lag in (self.lags or {}).items():
            back = np.full(n, np.nan)
            back[start:] = lag.run(m[start:])
            masks[name] = np.isfinite(back)
            series[name] = np.abs(m - np.where(masks[name], back, 0.0))
        best = np.zeros(n)
        judged: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for name, x in series.items():
            mask = masks[name]
            judged[name] = self.views[name].run(x[mask], p)
            full = np.zeros(n)
            full[mask] = judged[name][0]
            best = np.maximum(best, full)
        score = scores_from_surprise(best - _LOOKS)
        score = np.where(self.count + np.arange(n) >= p.warmup, score, 0.0)
        self.count += n
        _, top, level = judged["v+"]
        _, neg_bottom, _ = judged["v-"]
        upper = np.where(np.isfinite(top), top, xs)
        lower = np.where(np.isfinite(neg_bottom), -neg_bottom, xs)
        expected = np.where(np.isfinite(level), level, xs)
        return ScoreArrays(
            self.hold.run(score), expected, np.minimum(lower, xs), np.maximum(upper, xs)
        )

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {
            **state_header(self),
            "prev": self.prev,
            "means": [
                r.to_state() for r in (self.short, self.long, self.short_step, self.long_step)
            ],
            "head": self.head,
            "early": self.early,
            "lags": None if self.lags is None else {k: v.to_state() for k, v in self.lags.items()},
            "views": {k: v.to_state() for k, v in self.views.items()},
            "hold": self.hold.to_state(),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild from ``state_dict`` output."""
        det = restore(cls, EnsembleParams, state)
        det.prev = state["prev"]
        det.short, det.long, det.short_step, det.long_step = (
            RollingMean.from_state(s) for s in state["means"]
        )
        det.head = [float(t) for t in state["head"]]
        det.early = [float(v) for v in state["early"]]
        lags = state["lags"]
        det.lags = None if lags is None else {k: Lag.from_state(v) for k, v in lags.items()}
        for name, view in det.views.items():
            view.load(state["views"][name])
        det.hold = Suppressor.from_state(state["hold"])
        return det
