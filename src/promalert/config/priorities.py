"""Priorities (SPEC §4, §5): severity label values to ``P1``..``P5``, and which channels
each priority reaches.

Without a ``priorities`` section the mapping still gives alerts a priority (critical →
P1, high → P2, warning/medium → P3, low → P4, anything else P5) but every channel of a
receiver is notified, as Alertmanager does. With the section, a receiver's integrations
are chosen by the group's priority: by default P4–P5 reach chat channels, P3 chat and
email, P2 adds PagerDuty, P1 reaches everything. ``channels`` replaces that map and
``receivers`` overrides it per receiver. Entries name channel kinds (``chat``,
``email``, ``pagerduty``, ``sms``, ``voice``), single channels (``slack``) or ``all``.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from promalert.config.base import Strict

Priority = Literal["P1", "P2", "P3", "P4", "P5"]
PRIORITIES: tuple[Priority, ...] = ("P1", "P2", "P3", "P4", "P5")
"""Every priority, most urgent first."""

ALL = "all"
"""The channel-map entry that selects every integration."""

CHANNEL_KINDS: dict[str, frozenset[str]] = {
    "chat": frozenset(
        {"slack", "teams", "discord", "telegram", "wecom", "dingtalk", "webhook", "file"}
    ),
    "email": frozenset({"email"}),
    "pagerduty": frozenset({"pagerduty"}),
    "sms": frozenset({"sms"}),
    "voice": frozenset({"voice"}),
}
"""Channel kinds and the notifier ``channel`` names each one covers."""

DEFAULT_SEVERITIES: dict[str, Priority] = {
    "critical": "P1",
    "high": "P2",
    "warning": "P3",
    "medium": "P3",
    "low": "P4",
}
DEFAULT_CHANNELS: dict[Priority, list[str]] = {
    "P1": [ALL],
    "P2": ["chat", "email", "pagerduty"],
    "P3": ["chat", "email"],
    "P4": ["chat"],
    "P5": ["chat"],
}
_CHANNEL = re.compile(r"^[a-z][a-z0-9_]*$")

ChannelMap = dict[Priority, list[str]]


def _check_map(value: ChannelMap) -> ChannelMap:
    for priority, entries in value.items():
        for entry in entries:
            if not _CHANNEL.match(entry):
                raise ValueError(
                    f"{priority}: {entry!r} is not a channel kind ({', '.join(CHANNEL_KINDS)}), "
                    "a channel name like 'slack', or 'all'"
                )
    return value


class PrioritiesConfig(Strict):
    """The ``priorities`` section."""

    label: str = "severity"
    severities: dict[str, Priority] = Field(default_factory=lambda: dict(DEFAULT_SEVERITIES))
    default: Priority = "P5"
    select_channels: bool = True
    channels: ChannelMap = Field(default_factory=lambda: dict(DEFAULT_CHANNELS))
    receivers: dict[str, ChannelMap] = Field(default_factory=dict)

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: ChannelMap) -> ChannelMap:
        return _check_map(value)

    @field_validator("receivers")
    @classmethod
    def _receivers(cls, value: dict[str, ChannelMap]) -> dict[str, ChannelMap]:
        for channel_map in value.values():
            _check_map(channel_map)
        return value

    @field_validator("severities")
    @classmethod
    def _lower(cls, value: dict[str, Priority]) -> dict[str, Priority]:
        return {k.lower(): v for k, v in value.items()}
