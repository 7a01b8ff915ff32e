"""Isolation forest (scikit-learn) on lag and window features, refitted on past data only.

Row t's features are its value, its step from the previous value, its distance from
the mean of the ``window`` values before it, and the spread of the last ``window``
values. The forest is fitted on the ``history`` rows before the fit point, first after
``warmup`` points and then every ``refit`` points, always with the same random_state,
so streaming and batch scoring see the same forests.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.ensemble import IsolationForest  # type: ignore[import-untyped]

from promalert.detect.base import (
    Score,
    ScoreArrays,
    as_arrays,
    check,
    parse_params,
    restore,
    state_header,
)


@dataclass(frozen=True, slots=True)
class IforestParams:
    """Parameters of the ``isolation_forest`` detector."""

    window: int = 12  # points in the window features
    history: int = 2000  # rows a forest is fitted on (the most recent before the fit)
    refit: int = 500  # points between refits
    warmup: int = 200  # points before the first fit; scores are 0 until then
    trees: int = 100  # trees per forest
    random_state: int = 0  # seed of every fit

    def __post_init__(self) -> None:
        check(self.window >= 2, f"window must be >= 2, got {self.window}")
        check(self.history >= 16, f"history must be >= 16, got {self.history}")
        check(self.refit >= 1, f"refit must be >= 1, got {self.refit}")
        check(
            self.warmup >= self.window + 16,
            f"warmup must be >= window + 16 ({self.window + 16}), got {self.warmup}",
        )
        check(self.trees >= 1, f"trees must be >= 1, got {self.trees}")


def window_features(values: np.ndarray, window: int) -> np.ndarray:
    """Feature rows for ``values[window:]``, each from that value and the ``window`` before it."""
    views = sliding_window_view(values, window + 1)
    past, now = views[:, :-1], views[:, -1]
    return np.column_stack(
        (
            now,
            now - past[:, -1],
            now - past.mean(axis=1),
            views[:, 1:].std(axis=1),
        )
    )


class IforestDetector:
    """Scores how easily a point's features are isolated by a forest fitted on the past."""

    name: ClassVar[str] = "isolation_forest"

    def __init__(self, params: IforestParams | None = None, **raw: object) -> None:
        self.params = params or parse_params(IforestParams, self.name, raw)
        p = self.params
        self.count = 0
        self.fitted_at = -1  # position whose fit is current (-1: none yet)
        # enough raw values to rebuild the current forest's training rows after a restart
        self.buffer: deque[float] = deque(maxlen=p.history + p.window + p.refit + 1)
        self.forest: IsolationForest | None = None

    def update(self, timestamp: float, value: float) -> Score:
        """Score one point (the batch path on one row, so both agree by construction)."""
        return self.score_batch(np.array([timestamp]), np.array([value])).at(0)

    def score_batch(self, timestamps: np.ndarray, values: np.ndarray) -> ScoreArrays:
        """Score many points, fitting at the same positions the streaming path would."""
        _, xs = as_arrays(timestamps, values)
        p, n = self.params, xs.size
        prior = np.array(self.buffer, dtype=float)
        joined = np.concatenate((prior, xs))
        base = self.count - prior.size  # position of joined[0]
        feats = window_features(joined, p.window) if joined.size > p.window else np.zeros((0, 4))
        feat_pos0 = base + p.window  # position of feats[0]
        score = np.zeros(n)
        expected = xs.copy()
        lower, upper = xs.copy(), xs.copy()
        positions = self.count + np.arange(n)
        fit_points = [int(t) for t in positions if self._fit_due(int(t))]
        bounds = [*fit_points, self.count + n]
        start = self.count
        for stop in bounds:
            self._score_segment(start, stop, feats, feat_pos0, joined, base, score, expected)
            if self.forest is not None and stop > start:
                seg = slice(start - self.count, stop - self.count)
                lower[seg], upper[seg] = self._train_range(joined, base)
            if stop < self.count + n:
                self._fit(stop, feats, feat_pos0)
            start = stop
        self.count += n
        self.buffer.extend(xs.tolist())
        return ScoreArrays(score, expected, np.minimum(lower, xs), np.maximum(upper, xs))

    def _fit_due(self, t: int) -> bool:
        p = self.params
        return t >= p.warmup and (t - p.warmup) % p.refit == 0

    def _fit(self, t: int, feats: np.ndarray, feat_pos0: int) -> None:
        """Fit a forest on the ``history`` feature rows before position ``t``."""
        p = self.params
        lo = max(t - p.history, feat_pos0)
        rows = feats[lo - feat_pos0 : t - feat_pos0]
        forest = IsolationForest(n_estimators=p.trees, random_state=p.random_state)
        self.forest = forest.fit(rows)
        self.fitted_at = t

    def _score_segment(
        self,
        start: int,
        stop: int,
        feats: np.ndarray,
        feat_pos0: int,
        joined: np.ndarray,
        base: int,
        score: np.ndarray,
        expected: np.ndarray,
    ) -> None:
        if stop <= start:
            return
        out = slice(start - self.count, stop - self.count)
        w = self.params.window
        idx = np.arange(start, stop)
        have = idx >= base + w  # a full window before the point
        if have.any():
            past = sliding_window_view(joined, w)[idx[have] - base - w]
            expected[out][have] = past.mean(axis=1)
        if self.forest is None:
            return
        rows = feats[start - feat_pos0 : stop - feat_pos0]
        raw = -self.forest.score_samples(rows)  # the paper's score: 0.5 normal, near 1 anomalous
        score[out] = np.clip((raw - 0.5) / 0.5, 0.0, 1.0)

    def _train_range(self, joined: np.ndarray, base: int) -> tuple[float, float]:
        """Lowest and highest value in the current forest's training span (the band)."""
        lo = max(self.fitted_at - self.params.history, base)
        span = joined[lo - base : self.fitted_at - base]
        return (float(span.min()), float(span.max())) if span.size else (np.nan, np.nan)

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state; the forest is refitted from the buffer when restored."""
        return {
            **state_header(self),
            "fitted_at": self.fitted_at,
            "buffer": list(self.buffer),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild from ``state_dict`` output, refitting the current forest deterministically."""
        det = restore(cls, IforestParams, state)
        det.buffer.extend(float(v) for v in state["buffer"])
        fitted_at = int(state["fitted_at"])
        if fitted_at >= 0:
            joined = np.array(det.buffer, dtype=float)
            base = det.count - joined.size
            feats = window_features(joined, det.params.window)
            det._fit(fitted_at, feats, base + det.params.window)
        return det
