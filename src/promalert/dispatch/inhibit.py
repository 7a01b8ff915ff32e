"""Inhibition (Alertmanager's ``inhibit`` package): firing source alerts mute targets.

An alert matching a rule's target matchers is inhibited while some other alert that
matches the rule's source matchers is firing and has the same values for the rule's
``equal`` labels (an absent label counts as the empty string). When the target also
matches the source side, sources that match the target side are not counted, so an
alert never inhibits itself and two alerts matching both sides do not inhibit each other.

Source alerts are indexed by their ``equal`` values, so a check costs one dict lookup
per rule rather than a scan of every alert.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from promalert.config.matchers import Matcher, matches_all
from promalert.config.routing import InhibitRuleConfig
from promalert.model import Alert


@dataclass(frozen=True, slots=True)
class InhibitRule:
    """One ``inhibit_rules`` entry with its matchers resolved."""

    sources: tuple[Matcher, ...]
    targets: tuple[Matcher, ...]
    equal: tuple[str, ...]

    @classmethod
    def from_config(cls, config: InhibitRuleConfig) -> InhibitRule:
        """The rule ``config`` describes."""
        return cls(config.sources(), config.targets(), tuple(config.equal))

    def equal_values(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        """The values of the ``equal`` labels, the key sources and targets must share."""
        return tuple(labels.get(name, "") for name in self.equal)


class Inhibitor:
    """Knows the current source alerts of every rule and answers "is this inhibited?"."""

    def __init__(self, rules: Sequence[InhibitRule]) -> None:
        """Start with no source alerts; feed them with :meth:`observe`."""
        self.rules = tuple(rules)
        # Per rule: equal-label values -> fingerprint -> latest source alert.
        self._sources: list[dict[tuple[str, ...], dict[str, Alert]]] = [{} for _ in self.rules]

    @classmethod
    def from_config(cls, rules: Iterable[InhibitRuleConfig]) -> Inhibitor:
        """An inhibitor for the configured rules."""
        return cls([InhibitRule.from_config(r) for r in rules])

    def observe(self, alert: Alert) -> None:
        """Record a new or updated alert as a source of every rule whose source it matches."""
        for rule, index in zip(self.rules, self._sources, strict=True):
            if matches_all(rule.sources, alert.labels):
                index.setdefault(rule.equal_values(alert.labels), {})[alert.fingerprint] = alert

    def inhibited_by(self, labels: Mapping[str, str], now: datetime) -> str | None:
        """Fingerprint of a firing alert that inhibits ``labels`` at ``now``, or None."""
        for rule, index in zip(self.rules, self._sources, strict=True):
            if not index or not matches_all(rule.targets, labels):
                continue
            candidates = index.get(rule.equal_values(labels))
            if not candidates:
                continue
            two_sided = matches_all(rule.sources, labels)
            for fp, source in candidates.items():
                if source.resolved(now):
                    continue
                if two_sided and matches_all(rule.targets, source.labels):
                    continue
                return fp
        return None

    def gc(self, now: datetime) -> int:
        """Forget source alerts that have resolved; return how many."""
        dropped = 0
        for index in self._sources:
            for key in list(index):
                bucket = index[key]
                for fp in [fp for fp, a in bucket.items() if a.resolved(now)]:
                    del bucket[fp]
                    dropped += 1
                if not bucket:
                    del index[key]
        return dropped
