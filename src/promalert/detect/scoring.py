"""Turning raw deviations into anomaly scores in [0, 1].

Every detector speaks the same unit, *surprise*: ``-log10`` of the probability of a
deviation at least this large. A score is ``surprise / 10`` clipped to [0, 1], so a
score of 0.3 means "about a 1-in-1000 event" whichever detector produced it.
Each function has a scalar form (streaming) and an array form (batch) that compute the
same formula.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

SURPRISE_FOR_ONE = 10.0  # surprise (decades) mapped to score 1.0
_LN10 = math.log(10.0)
_SQRT1_2 = math.sqrt(0.5)
# Chebyshev fit of erfc (Numerical Recipes' erfcc, fractional error < 1.2e-7), written as
# log(erfc(x)) = log(t) - x*x + poly(t) so far tails neither underflow nor lose precision.
_ERFC_COEF = (
    -1.26551223,
    1.00002368,
    0.37409196,
    0.09678418,
    -0.18628806,
    0.27886807,
    -1.13520398,
    1.48851587,
    -0.82215223,
    0.17087277,
)


def score_from_surprise(surprise: float) -> float:
    """Map a surprise in decades to a score in [0, 1]."""
    return min(max(surprise / SURPRISE_FOR_ONE, 0.0), 1.0)


def scores_from_surprise(surprise: np.ndarray) -> np.ndarray:
    """Array form of ``score_from_surprise``."""
    return np.clip(np.asarray(surprise, dtype=float) / SURPRISE_FOR_ONE, 0.0, 1.0)


def normal_surprise(z: float) -> float:
    """``-log10`` of the two-sided normal tail probability of ``z``."""
    x = abs(z) * _SQRT1_2
    t = 1.0 / (1.0 + 0.5 * x)
    poly = 0.0
    for c in reversed(_ERFC_COEF):
        poly = poly * t + c
    return max(-(math.log(t) - x * x + poly) / _LN10, 0.0)


def normal_surprises(z: np.ndarray) -> np.ndarray:
    """Array form of ``normal_surprise``."""
    x = np.abs(np.asarray(z, dtype=float)) * _SQRT1_2
    t = 1.0 / (1.0 + 0.5 * x)
    poly = np.zeros_like(t)
    for c in reversed(_ERFC_COEF):
        poly = poly * t + c
    out: np.ndarray = np.maximum(-(np.log(t) - x * x + poly) / _LN10, 0.0)
    return out


def z_scores(x: np.ndarray, center: np.ndarray, scale: np.ndarray, floor: float) -> np.ndarray:
    """``(x - center) / max(scale, floor)``, 0 where the center is not known yet."""
    z = (x - center) / np.maximum(scale, floor)
    return np.where(np.isfinite(z), z, 0.0)


def record_surprise(
    x: float, past_max: float, reference: float, seen: int, excess_scale: float, tie: float
) -> float:
    """Surprise of ``x`` against the maximum of the ``seen`` values before it.

    A new record is a 1-in-(seen+1) event; how far it passes the old maximum, in units
    of the gap between that maximum and the typical level ``reference``, makes it
    exponentially rarer. Values at or under the maximum fall off fast, and a tie counts
    ``tie`` decades less than a record, so flat or repeating series stay quiet.
    """
    if seen <= 0 or not math.isfinite(past_max):
        return 0.0
    floor = 1e-3 * max(abs(past_max), abs(reference)) + 1e-12
    gap = max(past_max - reference, floor) if math.isfinite(reference) else floor
    excess = (x - past_max) / gap
    decades = math.log10(seen + 1)
    if excess > 0:
        return decades + excess / (excess_scale * _LN10)
    return max(decades - tie, 0.0) * min(max(1.0 + excess, 0.0), 1.0) ** 8


def record_surprises(
    x: np.ndarray,
    past_max: np.ndarray,
    reference: np.ndarray,
    seen: np.ndarray,
    excess_scale: float,
    tie: float,
) -> np.ndarray:
    """Array form of ``record_surprise``."""
    with np.errstate(invalid="ignore", over="ignore"):
        floor = 1e-3 * np.maximum(np.abs(past_max), np.abs(reference)) + 1e-12
        floor = np.where(np.isfinite(floor), floor, 1e-12)
        gap = np.where(np.isfinite(reference), np.maximum(past_max - reference, floor), floor)
        excess = (x - past_max) / gap
        decades = np.log10(seen + 1.0)
        above = decades + excess / (excess_scale * _LN10)
        below = np.maximum(decades - tie, 0.0) * np.clip(1.0 + excess, 0.0, 1.0) ** 8
        out = np.where(excess > 0, above, below)
    valid = (seen > 0) & np.isfinite(past_max) & np.isfinite(out)
    return np.where(valid, out, 0.0)


class Suppressor:
    """After a score reaches ``level``, cap the next ``hold`` scores just under it.

    NAB counts only the first detection of an anomaly and charges every repeat as a false
    positive; an operator wants one page, not one per sample, for the same reason.
    """

    __slots__ = ("level", "hold", "remaining")

    def __init__(self, level: float, hold: int, remaining: int = 0) -> None:
        self.level = level
        self.hold = hold
        self.remaining = remaining

    def _capped(self) -> float:
        return self.level * 0.999

    def step(self, score: float) -> float:
        """Pass one score through."""
        if self.remaining > 0:
            self.remaining -= 1
            return self._capped() if score >= self.level else score
        if score >= self.level:
            self.remaining = self.hold
        return score

    def run(self, scores: np.ndarray) -> np.ndarray:
        """Pass many scores through; only points at or above ``level`` are visited in Python."""
        out = np.asarray(scores, dtype=float).copy()
        free_from = self.remaining  # first index not inside a hold
        for i in np.flatnonzero(out >= self.level).tolist():
            if i < free_from:
                out[i] = self._capped()
            else:
                free_from = i + 1 + self.hold
        self.remaining = max(free_from - out.size, 0)
        return out

    def to_state(self) -> dict[str, Any]:
        """JSON-able state."""
        return {"level": self.level, "hold": self.hold, "remaining": self.remaining}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Suppressor:
        """Rebuild from ``to_state``."""
        return cls(float(state["level"]), int(state["hold"]), int(state["remaining"]))
