"""The notification log decision: does this integration need to hear about the group now?

A pure function of (last entry, current firing and resolved fingerprints, now, repeat
interval, send_resolved), mirroring Alertmanager's ``DedupStage.needsUpdate``.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable
from datetime import datetime, timedelta

from promalert.store import NflogEntry, NflogKey, Store

# Alertmanager keeps notification-log entries for --data.retention (120h). An entry must
# also outlive the repeat interval, or a long repeat_interval would re-notify at expiry.
NFLOG_RETENTION = 120 * 3600.0


class NotifyReason(enum.Enum):
    """Why a flush notifies an integration (or ``NONE``: it does not)."""

    NONE = "none"
    NEW_FIRING = "new_firing"
    NEW_RESOLVED = "new_resolved"
    REPEAT = "repeat"


def needs_update(
    entry: NflogEntry | None,
    firing: frozenset[str],
    resolved: frozenset[str],
    now: datetime,
    repeat_interval: float,
    send_resolved: bool,
) -> NotifyReason:
    """Decide whether to notify, exactly as Alertmanager 0.25's dedup stage does."""
    if entry is None:
        # Never notified: only firing alerts are news.
        return NotifyReason.NEW_FIRING if firing else NotifyReason.NONE
    if not firing <= entry.firing:
        return NotifyReason.NEW_FIRING
    if not firing:
        # Everything resolved. This is recorded even without send_resolved so the log no
        # longer lists the alerts as firing; if the receiver never heard of any firing
        # alert (they fired and resolved between flushes) there is nothing to say.
        return NotifyReason.NEW_RESOLVED if entry.firing else NotifyReason.NONE
    if send_resolved and not resolved <= entry.resolved:
        return NotifyReason.NEW_RESOLVED
    if entry.timestamp < now - timedelta(seconds=repeat_interval):
        return NotifyReason.REPEAT
    return NotifyReason.NONE


def log_entry(
    key: NflogKey,
    firing: frozenset[str],
    resolved: frozenset[str],
    now: datetime,
    repeat_interval: float,
) -> NflogEntry:
    """The entry recording that ``key`` was told about ``firing`` and ``resolved`` at ``now``."""
    keep = max(NFLOG_RETENTION, 2 * repeat_interval)
    return NflogEntry(key, firing, resolved, now, _expiry(now, keep))


@functools.lru_cache(maxsize=16)
def _expiry(now: datetime, keep: float) -> datetime:
    """``keep`` seconds after ``now``: one object for all the entries of a flush tick.

    Memory then holds one expiry per tick, not one per group, and the store encodes it
    once instead of once per entry.
    """
    return now + timedelta(seconds=keep)


class NotificationLog:
    """The notification log in memory, loaded from the store once.

    Entries are written to the store by the dispatcher (with the outbox rows they go
    with) and recorded here only after that commit, so memory never runs ahead of disk.
    """

    def __init__(self, store: Store, now: datetime) -> None:
        """Load every unexpired entry."""
        self._store = store
        self._entries: dict[NflogKey, NflogEntry] = {e.key: e for e in store.load_nflog(now)}

    def get(self, key: NflogKey, now: datetime) -> NflogEntry | None:
        """The unexpired entry for ``key``, or None."""
        entry = self._entries.get(key)
        if entry is None or entry.expires_at <= now:
            return None
        return entry

    def record(self, entries: Iterable[NflogEntry]) -> None:
        """Remember entries that were just committed to the store."""
        for entry in entries:
            self._entries[entry.key] = entry

    def prune(self, now: datetime) -> None:
        """Forget expired entries, here and in the store (raises StoreError)."""
        self._store.delete_expired_nflog(now)
        for key in [k for k, e in self._entries.items() if e.expires_at <= now]:
            del self._entries[key]
