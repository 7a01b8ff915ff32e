"""Values the store reads and writes, and how times are encoded in it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from promalert.model import Alert

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

Lane = tuple[str, str, str, int]
"""(group key, receiver, channel, integration index): outbox rows in one lane go in order."""


# The last time encoded: a dispatcher tick writes many rows stamped with one "now".
_last: tuple[datetime | None, str] = (None, "")


def encode_time(moment: datetime) -> str:
    """Fixed-width ISO-8601 UTC text, which sorts like the time it names."""
    global _last
    if _last[0] is moment:
        return _last[1]
    # isoformat is several times faster than strftime, and as wide: the year has 4 digits.
    text = moment.astimezone(UTC).isoformat(timespec="microseconds")[:26] + "Z"
    _last = (moment, text)
    return text


def decode_time(text: str) -> datetime:
    """Inverse of :func:`encode_time`; raise ValueError for anything else."""
    if len(text) != 27 or text[-1] != "Z":
        raise ValueError(f"time data {text!r} does not match format '{_TIME_FORMAT}'")
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)


def optional_time(text: str | None) -> datetime | None:
    """:func:`decode_time` that passes None through."""
    return None if text is None else decode_time(text)


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """An alert as ingest keeps it: who sent it and whether ``ends_at`` is a timeout."""

    alert: Alert
    source: str
    # True when ends_at was set by resolve_timeout rather than by the sender.
    timeout: bool = False


@dataclass(frozen=True, slots=True)
class NflogKey:
    """Identifies one notification-log entry: a group as seen by one integration."""

    group_key: str
    receiver: str
    channel: str
    integration: int


@dataclass(frozen=True, slots=True)
class NflogEntry:
    """What one integration was last told about a group, and when."""

    key: NflogKey
    firing: frozenset[str]
    resolved: frozenset[str]
    timestamp: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class NewNotification:
    """A notification to write to the outbox."""

    receiver: str
    channel: str
    integration: int
    group_key: str
    payload: dict[str, Any]
    created_at: datetime
    # Earliest start of the alerts this notification is the first to announce (delay metric).
    first_firing_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One notification in the outbox and its delivery state."""

    id: int
    created_at: datetime
    receiver: str
    channel: str
    integration: int
    group_key: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str
    sent_at: datetime | None
    first_firing_at: datetime | None

    @property
    def lane(self) -> Lane:
        """The ordering lane of this row."""
        return (self.group_key, self.receiver, self.channel, self.integration)
