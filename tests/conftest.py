"""Shared fixtures: a fake clock and fresh metrics for every test."""

from __future__ import annotations

import pytest

from promalert.clock import FakeClock
from promalert.metrics import Metrics


@pytest.fixture
def clock() -> FakeClock:
    """A clock that only moves when the test says so."""
    return FakeClock()


@pytest.fixture
def metrics() -> Metrics:
    """promalert's metrics on a fresh registry."""
    return Metrics()
