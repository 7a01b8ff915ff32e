"""Noise control state machines: flapping detection and storm windows."""

from __future__ import annotations

from datetime import datetime, timedelta

from promalert.clock import FakeClock
from promalert.config.routing import FlappingConfig, StormConfig
from promalert.dispatch.noise import FlapDetector, StormWindow

T0 = FakeClock().now()


def t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_changes_beyond_the_threshold_within_the_window_flap() -> None:
    d = FlapDetector(FlappingConfig(changes=2, window="1m"))
    assert not d.observe("a", True, t(0))
    assert not d.observe("a", True, t(1))  # not a change
    assert not d.observe("a", False, t(10))
    assert not d.observe("a", True, t(20))
    assert d.observe("a", False, t(30))  # third change within a minute
    assert d.held("a", t(31)) and d.flapping() == 1


def test_changes_outside_the_window_do_not_count() -> None:
    d = FlapDetector(FlappingConfig(changes=2, window="1m"))
    d.observe("a", True, t(0))
    d.observe("a", False, t(0))
    d.observe("a", True, t(50))
    assert not d.observe("a", False, t(100))  # the change at 0 has left the window
    assert not d.held("a", t(100))


def test_release_after_being_stable_and_forget() -> None:
    d = FlapDetector(FlappingConfig(changes=1, window="1m", stable_for="30s"))
    d.observe("a", True, t(0))
    d.observe("a", False, t(1))
    d.observe("a", True, t(2))
    assert d.held("a", t(31))
    assert not d.held("a", t(32))
    assert d.flapping() == 0
    d.forget("a")
    assert not d.observe("a", False, t(33))  # starts afresh


def test_storm_window_counts_recent_arrivals_only() -> None:
    w = StormWindow(StormConfig(threshold=2, window="1m"))
    for s in (0, 1, 2):
        w.arrived(t(s))
    assert w.storming(t(3))
    assert not w.storming(t(61))
