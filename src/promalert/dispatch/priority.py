"""Priorities: an alert's ``P1``..``P5`` from its severity, and which integrations of a
receiver a group of a given priority reaches (see :mod:`promalert.config.priorities`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from promalert.config.priorities import (
    ALL,
    CHANNEL_KINDS,
    PRIORITIES,
    PrioritiesConfig,
    Priority,
)

_DEFAULT = PrioritiesConfig()


def priority_of(labels: Mapping[str, str], config: PrioritiesConfig | None = None) -> Priority:
    """The priority of an alert with ``labels`` (SPEC §5's mapping unless configured)."""
    cfg = config or _DEFAULT
    severity = labels.get(cfg.label)
    if severity is None:
        return cfg.default
    return cfg.severities.get(severity.lower(), cfg.default)


def most_urgent(priorities: Iterable[Priority], default: Priority = "P5") -> Priority:
    """The most urgent of ``priorities`` (``P1`` beats ``P2``), or ``default`` if none."""
    return min(priorities, key=PRIORITIES.index, default=default)


def _expand(entries: Iterable[str]) -> frozenset[str] | None:
    """Channel names an entry list covers; None means every channel."""
    names: set[str] = set()
    for entry in entries:
        if entry == ALL:
            return None
        names |= CHANNEL_KINDS.get(entry, frozenset({entry}))
    return frozenset(names)


class ChannelSelector:
    """Decides whether a receiver's integration of some channel hears about a priority."""

    def __init__(self, config: PrioritiesConfig | None) -> None:
        """Select every channel unless ``config`` is given and selects channels."""
        self.config = config
        self.enabled = config is not None and config.select_channels
        self._maps: dict[str, dict[Priority, frozenset[str] | None]] = {}
        if config is not None:
            self._default = {p: _expand(config.channels.get(p, [ALL])) for p in PRIORITIES}
            for receiver, channel_map in config.receivers.items():
                self._maps[receiver] = {
                    p: _expand(channel_map[p]) if p in channel_map else self._default[p]
                    for p in PRIORITIES
                }

    def selects(self, receiver: str, channel: str, priority: Priority) -> bool:
        """True when ``channel`` integrations of ``receiver`` are notified at ``priority``."""
        if not self.enabled:
            return True
        names = self._maps.get(receiver, self._default)[priority]
        return names is None or channel in names
