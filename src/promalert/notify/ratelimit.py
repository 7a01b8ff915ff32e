"""Sliding-window rate limits: how long a send must wait so no window holds too many.

Keys name what is limited: an integration (``("integration", receiver, index)``) or a
recipient of a channel kind (``("recipient", "sms", "+15550001")``), so two receivers
texting one phone share that phone's window. Limits only delay sends, never drop them.
State is in memory: after a restart windows start empty, which at worst lets one
window's worth through early.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Sequence
from datetime import datetime, timedelta

from promalert.notify.policy import Limit

Keyed = tuple[Hashable, Limit]


class RateLimiter:
    """Remembers recent sends per key and says how long the next one must wait."""

    def __init__(self) -> None:
        self._sends: dict[Hashable, deque[datetime]] = {}

    def wait(self, limits: Sequence[Keyed], now: datetime) -> float:
        """Seconds until every limit allows one more send at ``now`` (0 = go)."""
        longest = 0.0
        for key, limit in limits:
            sends = self._window(key, limit, now)
            if len(sends) >= limit.count:
                # Free once the oldest send still counting leaves the window.
                oldest = sends[len(sends) - limit.count]
                free_at = oldest + timedelta(seconds=limit.per)
                longest = max(longest, (free_at - now).total_seconds())
        return longest

    def record(self, limits: Sequence[Keyed], now: datetime) -> None:
        """Count one send at ``now`` against every key."""
        for key, _ in limits:
            self._sends.setdefault(key, deque()).append(now)

    def _window(self, key: Hashable, limit: Limit, now: datetime) -> deque[datetime]:
        sends = self._sends.get(key)
        if sends is None:
            return deque()
        start = now - timedelta(seconds=limit.per)
        while sends and sends[0] <= start:
            sends.popleft()
        if not sends:
            del self._sends[key]
        return sends
