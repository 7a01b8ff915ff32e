"""Domain values shared by every part of promalert: label sets, alerts, fingerprints."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_MASK = (1 << 64) - 1


def _fnv1a(h: int, data: bytes) -> int:
    for byte in data:
        h = ((h ^ byte) * _FNV_PRIME) & _MASK
    return h


def fingerprint(labels: Mapping[str, str]) -> str:
    """Return the label set's fingerprint exactly as Alertmanager computes it.

    Alertmanager (prometheus/common ``LabelSet.Fingerprint``) hashes the label names in
    sorted order with 64-bit FNV-1a, each name and value followed by a 0xff separator,
    and prints the result as 16 hex digits.
    """
    # One pass over all the bytes: the per-byte loop is the cost, so no call per label.
    data = b"".join(b"%s\xff%s\xff" % (n.encode(), labels[n].encode()) for n in sorted(labels))
    return f"{_fnv1a(_FNV_OFFSET, data):016x}"


class Labels(Mapping[str, str]):
    """An immutable label set; hashable, ordered by name, with a cached fingerprint."""

    __slots__ = ("_items", "_fp")

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._items: dict[str, str] = dict(sorted(items.items())) if items else {}
        self._fp: str | None = None

    def __getitem__(self, key: str) -> str:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Labels):
            return self._items == other._items
        if isinstance(other, Mapping):
            return self._items == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        inner = ", ".join(f'{k}="{v}"' for k, v in self._items.items())
        return "{" + inner + "}"

    @property
    def fingerprint(self) -> str:
        """The Alertmanager fingerprint of this label set."""
        if self._fp is None:
            self._fp = fingerprint(self._items)
        return self._fp

    def with_(self, **updates: str) -> Labels:
        """Return a copy with the given labels set."""
        return Labels({**self._items, **updates})

    def without(self, *names: str) -> Labels:
        """Return a copy without the given labels."""
        return Labels({k: v for k, v in self._items.items() if k not in names})

    def as_dict(self) -> dict[str, str]:
        """Return a plain dict copy (for JSON)."""
        return dict(self._items)


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert as Alertmanager models it: firing while ``ends_at`` is unset or ahead."""

    labels: Labels
    annotations: Labels = field(default_factory=Labels)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    generator_url: str = ""
    # When promalert last changed this alert; used to order updates from several sources.
    updated_at: datetime | None = None

    @property
    def fingerprint(self) -> str:
        """Fingerprint of the alert's labels."""
        return self.labels.fingerprint

    @property
    def name(self) -> str:
        """The ``alertname`` label, or an empty string."""
        return self.labels.get("alertname", "")

    def resolved(self, now: datetime) -> bool:
        """True when the alert has ended at ``now``."""
        return self.ends_at is not None and self.ends_at <= now

    def status(self, now: datetime) -> str:
        """``firing`` or ``resolved`` at ``now``."""
        return "resolved" if self.resolved(now) else "firing"

    def resolve(self, at: datetime) -> Alert:
        """Return a copy that ended at ``at``."""
        return replace(self, ends_at=at, updated_at=at)
