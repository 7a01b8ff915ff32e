"""Values the store reads and writes, and how times are encoded in it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from promalert.model import Alert

if TYPE_CHECKING:
    from _collections_abc import dict_items, dict_keys, dict_values

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

Lane = tuple[str, str, str, int]
"""(group key, receiver, channel, integration index): outbox rows in one lane go in order."""


# The last two times encoded, the latest first. Rows are written in batches stamped with
# one "now" between per-alert times (start, expiry), so "now" must survive a miss.
_recent: list[tuple[datetime | None, str]] = [(None, ""), (None, "")]


def encode_time(moment: datetime) -> str:
    """Fixed-width ISO-8601 UTC text, which sorts like the time it names."""
    recent = _recent
    if recent[0][0] is moment:
        return recent[0][1]
    if recent[1][0] is moment:
        recent.reverse()
        return recent[0][1]
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)
    # isoformat is several times faster than strftime, and as wide: the year has 4 digits.
    # Without a timespec it is faster still, but leaves out a zero fraction.
    iso = utc.isoformat()
    text = iso[:26] + "Z" if len(iso) == 32 else iso[:19] + ".000000Z"
    recent[1] = recent[0]
    recent[0] = (moment, text)
    return text


# The last two times decoded, the latest first: rows read together share one flush's
# "now" between per-alert times (an alert's start), so "now" must survive a miss too.
_decoded: list[tuple[str, datetime | None]] = [("", None), ("", None)]


def decode_time(text: str) -> datetime:
    """Inverse of :func:`encode_time`; raise ValueError for anything else."""
    decoded = _decoded
    if text == decoded[0][0] and (moment := decoded[0][1]) is not None:
        return moment  # datetimes are immutable: sharing one is safe
    if text == decoded[1][0] and (moment := decoded[1][1]) is not None:
        decoded.reverse()
        return moment
    if len(text) != 27 or text[-1] != "Z":
        raise ValueError(f"time data {text!r} does not match format '{_TIME_FORMAT}'")
    moment = datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    decoded[1] = decoded[0]
    decoded[0] = (text, moment)
    return moment


def optional_time(text: str | None) -> datetime | None:
    """:func:`decode_time` that passes None through."""
    return None if text is None else decode_time(text)


class EncodedPayload(dict[str, Any]):
    """A payload that also carries the compact JSON it was stored as.

    The outbox writes every payload as JSON; the webhook sends the same JSON, so it
    takes this text instead of encoding the payload a second time. Payloads are never
    changed after they are built (a changed copy is a new, plain dict).
    """

    __slots__ = ("json",)

    def __init__(self, payload: dict[str, Any], text: str) -> None:
        """``text`` must be ``payload`` as compact JSON (``ensure_ascii=False``)."""
        super().__init__(payload)
        self.json = text


class StoredText(EncodedPayload):
    """A stored payload not decoded yet: the delivery process's rows for integrations that
    send the stored text as it is (a webhook without template or ``max_alerts``).

    Decoding is most of the cost of reading a row, and those sends never look inside.
    Anything that does look (by key, iteration or length) decodes it first, after which
    it is a plain EncodedPayload's dict.
    """

    __slots__ = ("_decoded",)

    def __init__(self, text: str) -> None:
        """``text``: the payload's compact JSON, as the outbox stored it."""
        super().__init__({}, text)
        self._decoded = False

    def _decode(self) -> None:
        if not self._decoded:
            self._decoded = True
            self.update(json.loads(self.json))

    def __getitem__(self, key: str) -> Any:
        self._decode()
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self._decode()
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self._decode()
        return super().__contains__(key)

    def __iter__(self) -> Iterator[str]:
        self._decode()
        return super().__iter__()

    def __len__(self) -> int:
        self._decode()
        return super().__len__()

    def keys(self) -> dict_keys[str, Any]:
        self._decode()
        return super().keys()

    def values(self) -> dict_values[str, Any]:
        self._decode()
        return super().values()

    def items(self) -> dict_items[str, Any]:
        self._decode()
        return super().items()

    def __eq__(self, other: object) -> bool:
        self._decode()
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]  # a dict: not hashable


def _dumps(*, ensure_ascii: bool, separators: tuple[str, str]) -> Callable[[Any], str]:
    """``json.dumps`` with these options, minus its setup on every call.

    ``JSONEncoder.encode`` builds the C encoder anew for each value, which is half the
    cost of encoding a label set; this builds it once. What is encoded here (payloads,
    label sets) is built by promalert and never holds a cycle, so there is no check
    for one.
    """
    encoder = json.JSONEncoder(
        ensure_ascii=ensure_ascii, separators=separators, check_circular=False
    )
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # a Python without the C accelerator
        return encoder.encode
    quote = json.encoder.encode_basestring_ascii if ensure_ascii else json.encoder.encode_basestring
    item_separator, key_separator = separators
    chunks = make(
        None, encoder.default, quote, None, key_separator, item_separator, False, False, True
    )
    return lambda value: "".join(chunks(value, 0))


plain_json = _dumps(ensure_ascii=True, separators=(", ", ": "))
"""``json.dumps(value)``, faster: how the store writes label sets."""

_compact = _dumps(ensure_ascii=False, separators=(",", ":"))


def compact_json(payload: dict[str, Any]) -> str:
    """A payload as the outbox stores it: compact JSON, non-ASCII kept as is."""
    if isinstance(payload, EncodedPayload):
        return payload.json
    return _compact(payload)


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
