"""Escalation policies (SPEC §4, ``escalation_policies:``): who is paged, how, and when.

A policy is a list of levels numbered from 1. Each level names targets (an on-call
``schedule``, a ``user`` or a ``receiver``), the contact kinds used to reach people
(``channels``) and how long to wait for an acknowledgement before moving on
(``timeout``). ``repeat.times`` adds passes from level 1 after the last level; ``sla``
sets acknowledge/resolve targets; ``reminders`` nag the acknowledger; ``ack_timeout``
re-triggers an incident acknowledged but left unresolved; ``by_priority`` hands incidents
of some priorities to another policy. :mod:`promalert.escalation.policy` runs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field, field_validator, model_validator

from promalert.config.base import Strict
from promalert.config.priorities import Priority
from promalert.config.types import Duration

ContactKind = Literal["email", "sms", "voice", "slack"]
"""How a person is reached: each kind has a transport under ``contact_channels``."""

TargetKind = Literal["schedule", "user", "receiver"]
ReferenceKind = Literal["schedule", "user", "receiver", "policy"]


def _positive(value: float | None, what: str) -> float | None:
    if value is not None and value <= 0:
        raise ValueError(f"{what} must be greater than 0")
    return value


def _default_channels() -> list[ContactKind]:
    return ["email"]


class TargetConfig(Strict):
    """Whom a level or an SLA notice reaches: one of ``schedule``, ``user`` or ``receiver``."""

    schedule: str | None = None
    user: str | None = None
    receiver: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> TargetConfig:
        given = [k for k in ("schedule", "user", "receiver") if getattr(self, k) is not None]
        if len(given) != 1:
            found = f"got {', '.join(given)}" if given else "got none"
            raise ValueError(f"a target names exactly one of schedule, user, receiver ({found})")
        if not self.name:
            raise ValueError(f"{given[0]} name must not be empty")
        return self

    @property
    def kind(self) -> TargetKind:
        """Which kind of thing the target names."""
        if self.schedule is not None:
            return "schedule"
        if self.user is not None:
            return "user"
        return "receiver"

    @property
    def name(self) -> str:
        """The schedule, user or receiver name."""
        return self.schedule or self.user or self.receiver or ""


class LevelConfig(Strict):
    """One escalation level: its targets, the contact kinds for people, and its timeout."""

    targets: list[TargetConfig] = Field(min_length=1)
    # Receivers use their own channel configs; these kinds apply to users and schedules.
    channels: list[ContactKind] = Field(default_factory=_default_channels, min_length=1)
    timeout: Duration = 1800.0

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: float) -> float:
        _positive(value, "timeout")
        return value

    @field_validator("channels")
    @classmethod
    def _unique(cls, value: list[ContactKind]) -> list[ContactKind]:
        # A repeated kind would page the same person twice on the same transport.
        if len(set(value)) != len(value):
            raise ValueError("channels must not repeat a contact kind")
        return value


class RepeatConfig(Strict):
    """Extra passes from level 1 after the last level has timed out."""

    times: int = Field(default=0, ge=0)


class SlaConfig(Strict):
    """Acknowledge and resolve targets counted from the incident's creation."""

    ack: Duration | None = None
    resolve: Duration | None = None
    # Warn at this fraction of a target; 1 means only the breach is reported.
    warn_at: float = Field(default=0.8, gt=0, le=1)
    notify: list[TargetConfig] = Field(default_factory=list)

    @field_validator("ack", "resolve")
    @classmethod
    def _targets(cls, value: float | None) -> float | None:
        return _positive(value, "an SLA target")


class RemindersConfig(Strict):
    """Reminders to the acknowledger while an incident stays acknowledged."""

    interval: Duration
    max: int = Field(default=3, ge=1)

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: float) -> float:
        _positive(value, "interval")
        return value


class EscalationPolicyConfig(Strict):
    """A named escalation policy (one entry of ``escalation_policies``)."""

    levels: list[LevelConfig] = Field(min_length=1)
    repeat: RepeatConfig = Field(default_factory=RepeatConfig)
    sla: SlaConfig | None = None
    reminders: RemindersConfig | None = None
    ack_timeout: Duration | None = None
    by_priority: dict[Priority, str] = Field(default_factory=dict)

    @field_validator("ack_timeout")
    @classmethod
    def _ack_timeout(cls, value: float | None) -> float | None:
        return _positive(value, "ack_timeout")

    def level(self, number: int) -> LevelConfig:
        """The level numbered ``number`` (from 1), clamped to the policy's levels.

        Clamping keeps an incident running when a reload removed the level it was on.
        """
        return self.levels[min(max(number, 1), len(self.levels)) - 1]


def policy_references(
    policies: Mapping[str, EscalationPolicyConfig],
) -> set[tuple[ReferenceKind, str]]:
    """Every (kind, name) the policies refer to: level and SLA targets, and ``by_priority``
    policies as ``("policy", name)``."""
    found: set[tuple[ReferenceKind, str]] = set()
    for policy in policies.values():
        targets = [t for level in policy.levels for t in level.targets]
        if policy.sla is not None:
            targets.extend(policy.sla.notify)
        found.update((t.kind, t.name) for t in targets)
        found.update(("policy", name) for name in policy.by_priority.values())
    return found
