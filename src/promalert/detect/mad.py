"""Robust detector: distance from the rolling median in rolling MADs (median absolute deviation)."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from promalert.detect.base import (
    STATE_VERSION,
    Score,
    ScoreArrays,
    as_arrays,
    check,
    check_state,
    params_state,
    parse_params,
)
from promalert.detect.scoring import normal_surprises, scores_from_surprise

MAD_TO_SD = 1.4826  # MAD of a normal distribution times this is its standard deviation
MEAN_AD_TO_SD = 1.2533  # same for the mean absolute deviation, used when the MAD is 0


@dataclass(frozen=True, slots=True)
class MadParams:
    """Parameters of the ``mad`` detector."""

    window: int = 60  # points in the rolling window
    band: float = 3.0  # half-width of the expected band, in robust standard deviations
    warmup: int = 30  # points scored 0 before the first real score

    def __post_init__(self) -> None:
        check(self.window >= 3, f"window must be >= 3, got {self.window}")
        check(self.band > 0.0, f"band must be > 0, got {self.band}")
        check(self.warmup >= 3, f"warmup must be >= 3, got {self.warmup}")


def _robust(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and robust standard deviation of each row."""
    med = np.median(windows, axis=1)
    dev = np.abs(windows - med[:, None])
    mad = np.median(dev, axis=1) * MAD_TO_SD
    # Mostly-constant windows have MAD 0; fall back to the mean absolute deviation.
    mad = np.where(mad > 0, mad, dev.mean(axis=1) * MEAN_AD_TO_SD)
    return med, np.maximum(mad, 1e-6 * np.abs(med) + 1e-12)


class MadDetector:
    """Scores how many robust standard deviations a point lies from the rolling median."""

    name: ClassVar[str] = "mad"

    def __init__(self, params: MadParams | None = None, **raw: object) -> None:
        self.params = params or parse_params(MadParams, self.name, raw)
        self.count = 0
        self.window: deque[float] = deque(maxlen=self.params.window)

    def update(self, timestamp: float, value: float) -> Score:
        """Score one point against the window before it (O(window)), then add it."""
        return self.score_batch(np.array([timestamp]), np.array([value])).at(0)

    def score_batch(self, timestamps: np.ndarray, values: np.ndarray) -> ScoreArrays:
        """Vectorised ``update`` over many points (one median per row of a sliding view)."""
        _, xs = as_arrays(timestamps, values)
        n = xs.size
        w = self.params.window
        prior = np.array(self.window, dtype=float)
        joined = np.concatenate((prior, xs))
        med = np.full(n, np.nan)
        scale = np.full(n, np.nan)
        # Rows whose window is still short (the first points ever): one at a time.
        short = min(n, max(w - prior.size, 0))
        for i in range(1, short) if prior.size == 0 else range(short):
            past = joined[: prior.size + i][None, :]
            m, s = _robust(past)
            med[i], scale[i] = m[0], s[0]
        if n > short:
            views = sliding_window_view(joined[:-1], w)  # row r holds joined[r : r + w]
            rows = views[prior.size + short - w : prior.size + n - w]
            med[short:], scale[short:] = _robust(rows)
        known = np.isfinite(med)
        z = np.where(known, (xs - med) / np.where(known, scale, 1.0), 0.0)
        score = scores_from_surprise(normal_surprises(z))
        index = self.count + np.arange(n)
        score = np.where(known & (index >= self.params.warmup), score, 0.0)
        self.count += n
        self.window.extend(xs[-w:].tolist())
        expected = np.where(known, med, xs)
        half = np.where(known, self.params.band * scale, 0.0)
        return ScoreArrays(score, expected, expected - half, expected + half)

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {
            "detector": self.name,
            "version": STATE_VERSION,
            "params": params_state(self.params),
            "count": self.count,
            "window": list(self.window),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild from ``state_dict`` output."""
        check_state(state, cls.name)
        det = cls(MadParams(**state["params"]))
        det.count = int(state["count"])
        det.window.extend(float(v) for v in state["window"])
        return det
