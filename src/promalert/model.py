"""Domain values shared by every part of promalert: label sets, alerts, fingerprints."""

from __future__ import annotations

from collections.abc import ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TypeVar, overload

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_MASK = (1 << 64) - 1

_T = TypeVar("_T")


# Hash states after one label pair, by (state before, name, value); see fingerprint().
_STEPS: dict[tuple[int, str, str], int] = {}
# Bounded (emptied when full): a few MB at most, and the pairs that recur refill it fast.
_STEPS_MAX = 16_384


def _fnv1a(h: int, data: bytes, prime: int = _FNV_PRIME, mask: int = _MASK) -> int:
    # Locals instead of globals: this per-byte loop is the whole cost of a fingerprint.
    for byte in data:
        h = ((h ^ byte) * prime) & mask
    return h


def fingerprint(labels: Mapping[str, str]) -> str:
    """Return the label set's fingerprint exactly as Alertmanager computes it.

    Alertmanager (prometheus/common ``LabelSet.Fingerprint``) hashes the label names in
    sorted order with 64-bit FNV-1a, each name and value followed by a 0xff separator,
    and prints the result as 16 hex digits.
    """
    return _fingerprint(sorted(labels.items()))


def _fingerprint(pairs: Iterable[tuple[str, str]]) -> str:
    """:func:`fingerprint` of label pairs already sorted by name."""
    # FNV-1a is sequential, so the state after a pair depends only on the state before
    # it and the pair. Label sets share most leading pairs (alertname, instance, job...)
    # and senders re-send the same alerts every interval, so each step is remembered and
    # only new pairs pay for the per-byte loop.
    steps = _STEPS
    h = _FNV_OFFSET
    for name, value in pairs:
        key = (h, name, value)
        after = steps.get(key)
        if after is None:
            after = _fnv1a(h, b"%s\xff%s\xff" % (name.encode(), value.encode()))
            if len(steps) >= _STEPS_MAX:
                steps.clear()
            steps[key] = after
        h = after
    return f"{h:016x}"


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

    # The Mapping mixins go through __iter__ and __getitem__ per key; these are the
    # dict's own, several times faster on the hot path (routing, grouping, payloads).
    def __contains__(self, key: object) -> bool:
        return key in self._items

    @overload
    def get(self, key: str, /) -> str | None: ...

    @overload
    def get(self, key: str, /, default: str | _T) -> str | _T: ...

    def get(self, key: str, /, default: object = None) -> object:
        """The value of label ``key``, or ``default``."""
        return self._items.get(key, default)

    def keys(self) -> KeysView[str]:
        """The label names, in sorted order."""
        return self._items.keys()

    def values(self) -> ValuesView[str]:
        """The label values, in the order of their sorted names."""
        return self._items.values()

    def items(self) -> ItemsView[str, str]:
        """The (name, value) pairs, sorted by name."""
        return self._items.items()

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
            self._fp = _fingerprint(self._items.items())  # kept sorted by name
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
