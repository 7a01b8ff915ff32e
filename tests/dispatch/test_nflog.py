"""The dedup decision, case by case, against Alertmanager's needsUpdate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from promalert.dispatch.nflog import NFLOG_RETENTION, NotifyReason, log_entry, needs_update
from promalert.store import NflogEntry, NflogKey

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
KEY = NflogKey("{}:{}", "team", "webhook", 0)
REPEAT = 3600.0


def entry(firing: set[str], resolved: set[str], ago: float = 60) -> NflogEntry:
    at = NOW - timedelta(seconds=ago)
    return NflogEntry(KEY, frozenset(firing), frozenset(resolved), at, at + timedelta(days=5))


N, F, R, P = (
    NotifyReason.NONE,
    NotifyReason.NEW_FIRING,
    NotifyReason.NEW_RESOLVED,
    NotifyReason.REPEAT,
)


@pytest.mark.parametrize(
    ("last", "firing", "resolved", "send_resolved", "want"),
    [
        # Never notified: only firing alerts are news.
        (None, {"a"}, set(), True, F),
        (None, set(), {"a"}, True, N),
        (None, set(), set(), True, N),
        # A firing alert not notified before.
        (entry({"a"}, set()), {"a", "b"}, set(), True, F),
        (entry({"a"}, set()), {"b"}, {"a"}, False, F),
        # Fewer firing alerts, nothing resolved to tell: no news.
        (entry({"a", "b"}, set()), {"a"}, set(), True, N),
        # All resolved: told even without send_resolved (so the log stops listing them).
        (entry({"a"}, set()), set(), {"a"}, True, R),
        (entry({"a"}, set()), set(), {"a"}, False, R),
        (entry({"a"}, set()), set(), set(), False, R),
        # Nothing firing and nothing notified as firing: they came and went unseen.
        (entry(set(), {"a"}), set(), {"a", "b"}, True, N),
        # New resolved alert while others still fire: only with send_resolved.
        (entry({"a", "b"}, set()), {"b"}, {"a"}, True, R),
        (entry({"a", "b"}, set()), {"b"}, {"a"}, False, N),
        (entry({"a", "b"}, {"a"}), {"b"}, {"a"}, True, N),
        # Repeat when the last notification is strictly older than repeat_interval.
        (entry({"a"}, set(), ago=REPEAT + 1), {"a"}, set(), True, P),
        (entry({"a"}, set(), ago=REPEAT), {"a"}, set(), True, N),
        (entry({"a"}, set(), ago=REPEAT + 1), {"a"}, set(), False, P),
    ],
)
def test_needs_update(
    last: NflogEntry | None,
    firing: set[str],
    resolved: set[str],
    send_resolved: bool,
    want: NotifyReason,
) -> None:
    got = needs_update(last, frozenset(firing), frozenset(resolved), NOW, REPEAT, send_resolved)
    assert got is want


def test_log_entry_outlives_retention_and_twice_the_repeat_interval() -> None:
    short = log_entry(KEY, frozenset({"a"}), frozenset(), NOW, 3600)
    assert short.expires_at == NOW + timedelta(seconds=NFLOG_RETENTION)
    week = 7 * 86400.0
    long = log_entry(KEY, frozenset({"a"}), frozenset(), NOW, week)
    assert long.expires_at == NOW + timedelta(seconds=2 * week)
    assert (long.firing, long.resolved, long.timestamp) == (frozenset({"a"}), frozenset(), NOW)
