"""Fixtures for the detector tests: every detector kind, with settings that keep tests fast."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from promalert.detect import DETECTORS, Detector

STEP = 300.0  # 5-minute samples: a day is 288 points
T0 = 1_700_000_000.0

# Small forests keep the isolation forest fast; the others run with their defaults.
FAST_PARAMS: dict[str, dict[str, object]] = {
    "ewma": {},
    "zscore": {},
    "mad": {},
    "seasonal": {},
    "isolation_forest": {"history": 300, "refit": 150, "warmup": 100, "trees": 15},
    "ensemble": {},
}


@pytest.fixture(params=sorted(FAST_PARAMS))
def name(request: pytest.FixtureRequest) -> str:
    """Every registered detector, one test run each."""
    assert set(FAST_PARAMS) == set(DETECTORS), "a new detector needs an entry in FAST_PARAMS"
    value: str = request.param
    return value


@pytest.fixture
def factory(name: str) -> Callable[[], Detector]:
    """Builds a fresh detector of the parametrised kind."""
    return lambda: DETECTORS[name](**FAST_PARAMS[name])


@pytest.fixture
def series() -> tuple[np.ndarray, np.ndarray]:
    """Four days of a noisy daily sine at 5-minute steps, with a step change on day 4."""
    rng = np.random.default_rng(7)
    n = 1200
    ts = T0 + STEP * np.arange(n)
    values = 50 + 10 * np.sin(2 * np.pi * np.arange(n) / 288) + rng.normal(0, 1, n)
    values[1000:] += 8.0
    return ts, values
