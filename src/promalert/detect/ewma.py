"""EWMA detector: distance from an exponentially weighted mean, in EW standard deviations."""

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
from promalert.detect.filters import EwMean
from promalert.detect.scoring import (
    normal_surprise,
    normal_surprises,
    score_from_surprise,
    scores_from_surprise,
    z_scores,
)


@dataclass(frozen=True, slots=True)
class EwmaParams:
    """Parameters of the ``ewma`` detector."""

    alpha: float = 0.05  # weight of the newest point in the mean and variance
    band: float = 3.0  # half-width of the expected band, in standard deviations
    warmup: int = 30  # points scored 0 before the first real score

    def __post_init__(self) -> None:
        check(0.0 < self.alpha <= 1.0, f"alpha must be in (0, 1], got {self.alpha}")
        check(self.band > 0.0, f"band must be > 0, got {self.band}")
        check(self.warmup >= 1, f"warmup must be >= 1, got {self.warmup}")


def sd_floor(center: float) -> float:
    """Smallest standard deviation used, so a flat series does not divide by zero."""
    return 1e-6 * abs(center) + 1e-12


class EwmaDetector:
    """Scores how many EW standard deviations a point lies from the EW mean before it."""

    name: ClassVar[str] = "ewma"

    def __init__(self, params: EwmaParams | None = None, **raw: object) -> None:
        self.params = params or parse_params(EwmaParams, self.name, raw)
        self.count = 0
        self.mean = EwMean(self.params.alpha)
        self.var = EwMean(self.params.alpha)

    def update(self, timestamp: float, value: float) -> Score:
        """Score one point, then fold it into the mean and variance."""
        x = float(value)
        mu = self.mean.value
        if mu is None:
            self.mean.step(x)
            self.count += 1
            return Score(0.0, x, x, x)
        sd = math.sqrt(self.var.value) if self.var.value is not None else 0.0
        z = (x - mu) / max(sd, sd_floor(mu))
        score = score_from_surprise(normal_surprise(z)) if self.count >= self.params.warmup else 0.0
        half = self.params.band * sd
        self.var.step((x - mu) ** 2)
        self.mean.step(x)
        self.count += 1
        return Score(score, mu, mu - half, mu + half)

    def score_batch(self, timestamps: np.ndarray, values: np.ndarray) -> ScoreArrays:
        """Vectorised ``update`` over many points."""
        _, xs = as_arrays(timestamps, values)
        n = xs.size
        prev_mean = self.mean.value
        means = self.mean.run(xs)
        mu = np.concatenate(([np.nan if prev_mean is None else prev_mean], means[:-1]))[:n]
        has_mu = np.isfinite(mu)
        prev_var = self.var.value
        resid2 = (xs - mu) ** 2
        var_after = np.full(n, np.nan)
        var_after[has_mu] = self.var.run(resid2[has_mu])
        var_before = np.concatenate(([np.nan if prev_var is None else prev_var], var_after[:-1]))
        # a point whose mean existed but whose variance did not yet: the last known variance
        var_before = fill_forward(var_before[:n])
        sd = np.sqrt(np.where(np.isfinite(var_before), var_before, 0.0))
        floor = 1e-6 * np.abs(np.where(has_mu, mu, 0.0)) + 1e-12
        z = z_scores(xs, mu, np.maximum(sd, floor), 0.0)
        score = scores_from_surprise(normal_surprises(z))
        index = self.count + np.arange(n)
        score = np.where(has_mu & (index >= self.params.warmup), score, 0.0)
        self.count += n
        expected = np.where(has_mu, mu, xs)
        half = np.where(has_mu, self.params.band * sd, 0.0)
        return ScoreArrays(score, expected, expected - half, expected + half)

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state."""
        return {
            **state_header(self),
            "mean": self.mean.to_state(),
            "var": self.var.to_state(),
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Self:
        """Rebuild from ``state_dict`` output."""
        det = restore(cls, EwmaParams, state)
        det.mean = EwMean.from_state(state["mean"])
        det.var = EwMean.from_state(state["var"])
        return det


def fill_forward(a: np.ndarray) -> np.ndarray:
    """Replace each NaN by the last finite value before it (NaN if none)."""
    idx = np.where(np.isfinite(a), np.arange(a.size), -1)
    idx = np.maximum.accumulate(idx) if a.size else idx
    return np.where(idx >= 0, a[np.maximum(idx, 0)], np.nan)
