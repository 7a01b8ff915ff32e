"""Noise control, off unless a route configures it: flapping detection and storm collapse.

Both are small state machines fed with (event, now) and asked (now) for a decision, so
tests drive them with plain datetimes.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from promalert.config.routing import FlappingConfig, StormConfig


@dataclass(slots=True)
class _History:
    """What is known about one alert's state changes."""

    firing: bool
    changes: deque[datetime] = field(default_factory=deque)
    last_change: datetime | None = None
    flapping: bool = False


class FlapDetector:
    """Marks alerts that change state more than ``changes`` times within ``window``.

    A flapping alert is held (left out of notifications) until it has kept one state
    for ``stable_for``; then it is released and notified in whatever state it is in.
    """

    def __init__(self, config: FlappingConfig) -> None:
        """Track nothing yet."""
        self.config = config
        self._window = timedelta(seconds=config.window)
        self._release = timedelta(seconds=config.release_after)
        self._alerts: dict[str, _History] = {}

    def observe(self, fingerprint: str, firing: bool, now: datetime) -> bool:
        """Record the alert's state at ``now``; True when this change makes it flapping."""
        history = self._alerts.get(fingerprint)
        if history is None:
            self._alerts[fingerprint] = _History(firing)
            return False
        if history.firing == firing:
            return False
        history.firing = firing
        history.last_change = now
        history.changes.append(now)
        while history.changes and history.changes[0] <= now - self._window:
            history.changes.popleft()
        if not history.flapping and len(history.changes) > self.config.changes:
            history.flapping = True
            return True
        return False

    def held(self, fingerprint: str, now: datetime) -> bool:
        """True while the alert is flapping; releases it once it has been stable long enough."""
        history = self._alerts.get(fingerprint)
        if history is None or not history.flapping:
            return False
        assert history.last_change is not None  # set by the change that made it flap
        if now - history.last_change >= self._release:
            history.flapping = False
            history.changes.clear()
            return False
        return True

    def flapping(self) -> int:
        """How many alerts are marked flapping now."""
        return sum(1 for h in self._alerts.values() if h.flapping)

    def forget(self, fingerprint: str) -> None:
        """Drop an alert that is gone for good (garbage-collected)."""
        history = self._alerts.get(fingerprint)
        if history is not None and not history.flapping:
            del self._alerts[fingerprint]


class StormWindow:
    """Counts alerts joining one group and says when that is a storm."""

    def __init__(self, config: StormConfig) -> None:
        """No arrivals yet."""
        self.config = config
        self._window = timedelta(seconds=config.window)
        self._arrivals: deque[datetime] = deque()
        # True once the storm's summary went out; cleared when the storm ends.
        self.summarized = False

    def arrived(self, now: datetime) -> None:
        """A new alert joined the group at ``now``."""
        self._arrivals.append(now)

    def storming(self, now: datetime) -> bool:
        """True when more than ``threshold`` alerts joined within the last ``window``."""
        while self._arrivals and self._arrivals[0] <= now - self._window:
            self._arrivals.popleft()
        return len(self._arrivals) > self.config.threshold
