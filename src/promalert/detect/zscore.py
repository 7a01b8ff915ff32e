"""Rolling z-score detector: distance from the mean of the previous ``window`` points."""

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
from promalert.detect.ewma import sd_floor
from promalert.detect.filters import RollingMean
from promalert.detect.scoring import (
    normal_surprise,
    normal_surprises,
    score_from_surprise,
    scores_from_surprise,
)


@dataclass(frozen=True, slots=True)
class ZscoreParams:
    """Parameters of the ``zscore`` detector."""

    window: int = 60  # points in the rolling window
    band: float = 3.0  # half-width of the expected band, in standard deviations
    warmup: int = 30  # points scored 0 before the first real score

    def __post_init__(self) -> None:
        check(self.window >= 2, f"window must be >= 2, got {self.window}")
        check(self.band > 0.0, f"band must be > 0, got {self.band}")
        check(self.warmup >= 2, f"warmup must be >= 2, got {self.warmup}")


class ZscoreDetector:
    """Scores how many rolling standard deviations a point lies from the rolling mean."""

    name: ClassVar[str] = "zscore"

    def __init__(self, params: ZscoreParams | None = None, **raw: object) -> None:
        self.params = params or parse_params(ZscoreParams, self.name, raw)
        self.count = 0
        self.ref: float | None = None  # first value: sums are taken around it to keep precision
        self.sum1 = RollingMean(self.params.window)
        self.sum2 = RollingMean(self.params.window)

    def update(self, timestamp: float, value: float) -> Score:
        """Score one point against the window before it, then add it to the window."""
        x = float(value)
        if self.ref is None:
            self.ref = x
        m1, m2 = self.sum1.current(), self.sum2.current()
        y = x - self.ref
        self.sum1.step(y)
        self.sum2.step(y * y)
        self.count += 1
        if math.isnan(m1):
            return Score(0.0, x, x, x)
        mean = m1 + self.ref
        sd = math.sqrt(max(m2 - m1 * m1, 0.0))
        z = (x - mean) / max(sd, sd_floor(mean))
        warm = self.count - 1 >= self.params.warmup
        score = score_from_surprise(normal_surprise(z)) if warm else 0.0
        half = self.params.band * sd
        return Score(score, mean, mean - half, mean + half)

    def score_batch(self, timestamps: np.ndarray, values: np.ndarray) -> ScoreArrays:
        """Vectorised ``update`` over many points."""
        _, xs = as_arrays(timestamps, values)
        n = xs.size
        if n == 0:
            empty = np.zeros(0)
            return ScoreArrays(empty, empty, empty, empty)
        if self.ref is None:
            self.ref = float(xs[0])
        first1, first2 = self.sum1.current(), self.sum2.current()
        y = xs - self.ref
        after1 = self.sum1.run(y)
        after2 = self.sum2.run(y * y)
        m1 = np.concatenate(([first1], after1[:-1]))
        m2 = np.concatenate(([first2], after2[:-1]))
        known = np.isfinite(m1)
        mean = np.where(known, m1 + self.ref, xs)
        sd = np.sqrt(np.maximum(np.where(known, m2 - m1 * m1, 0.0), 0.0))
        z = (xs - mean) / np.maximum(sd, 1e-6 * np.abs(mean) + 1e-12)
        score = scores_from_surprise(normal_surprises(z))
        index = self.count + np.arange(n)
        score = np.where(known & (index >= self.params.warmup), score, 0.0)
        self.count += n
        half = self.params.band * sd
        return ScoreArrays(score, mean, mean - half, mean + half)

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {
            **state_header(self),
            "ref": self.ref,
            "sum1": self.sum1.to_state(),
            "sum2": self.sum2.to_state(),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild from ``state_dict`` output."""
        det = restore(cls, ZscoreParams, state)
        det.ref = state["ref"]
        det.sum1 = RollingMean.from_state(state["sum1"])
        det.sum2 = RollingMean.from_state(state["sum2"])
        return det
