"""The escalation decision core: (policy, state, now) -> (new state, actions).

Pure: no clock, no I/O. The incident manager stores :class:`EscalationState`, executes
the returned actions (resolving schedules to people, writing notifications) and calls
:func:`advance` when :func:`next_due` comes round.

Every timed step (a level timeout, an ``ack_timeout`` re-trigger, a reminder, an SLA
warning or breach) is due at a time computed from the previous step's due time, never
from when it was processed, so a late tick (after downtime) replays each overdue step
exactly once, in time order, without drift. Each transition (ack, unack, resolve) first
applies the steps due at or before its ``now``. Once resolved, :func:`advance` returns
no actions, :func:`next_due` returns None and every transition raises
:class:`TransitionError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from promalert.config.escalation import EscalationPolicyConfig
from promalert.config.priorities import Priority
from promalert.errors import PromalertError

IncidentStatus = Literal["triggered", "acknowledged", "resolved"]
NotifyReason = Literal["opened", "timeout", "repeat", "unack", "retrigger"]
SlaKind = Literal["ack", "resolve"]
SlaStage = Literal["warning", "breach"]


class TransitionError(PromalertError):
    """The incident's state does not allow the asked transition (the API answers 409)."""

    def __init__(self, current: IncidentStatus, transition: str, allowed: str) -> None:
        self.current = current
        self.transition = transition
        super().__init__(
            f"cannot {transition} an incident that is {current} (only {allowed} incidents can)"
        )


@dataclass(frozen=True, slots=True)
class EscalationState:
    """Where one incident stands in its policy; JSON-serialisable via :meth:`to_dict`."""

    status: IncidentStatus
    created_at: datetime
    level: int
    passes: int
    level_due: datetime | None
    acked_by: str | None = None
    acked_at: datetime | None = None
    first_ack_at: datetime | None = None
    retrigger_due: datetime | None = None
    reminders_sent: int = 0
    reminder_due: datetime | None = None
    sla_sent: frozenset[str] = frozenset()
    resolved_at: datetime | None = None
    resolved_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The state as JSON-ready values (datetimes as ISO 8601 text)."""
        out: dict[str, Any] = {}
        for name in _FIELDS:
            value = getattr(self, name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, frozenset):
                value = sorted(value)
            out[name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EscalationState:
        """Rebuild a state written by :meth:`to_dict`; raise ValueError if it is malformed.

        Fields missing from ``data`` take their defaults, so states stored before a field
        was added still load.
        """
        try:
            values = {f.name: data[f.name] for f in fields(cls) if f.name in data or _required(f)}
            for name in _TIMES:
                if values.get(name) is not None:
                    values[name] = datetime.fromisoformat(values[name])
            values["sla_sent"] = frozenset(values.get("sla_sent", ()))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed escalation state: {exc!r}") from None
        if values["status"] not in ("triggered", "acknowledged", "resolved"):
            raise ValueError(f"malformed escalation state: status {values['status']!r}")
        return cls(**values)


def _required(f: Field[Any]) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


_FIELDS = tuple(f.name for f in fields(EscalationState))
_TIMES = (
    "created_at",
    "level_due",
    "acked_at",
    "first_ack_at",
    "retrigger_due",
    "reminder_due",
    "resolved_at",
)


@dataclass(frozen=True, slots=True)
class NotifyLevel:
    """Notify every target of ``level`` (on pass ``passes``), for ``reason``; due ``at``."""

    level: int
    passes: int
    reason: NotifyReason
    at: datetime


@dataclass(frozen=True, slots=True)
class Remind:
    """Remind ``user``, who acknowledged, for the ``count``-th time; due ``at``."""

    user: str
    count: int
    at: datetime


@dataclass(frozen=True, slots=True)
class SlaEvent:
    """An SLA target of ``target_seconds`` reached its warning or breach point ``at``."""

    kind: SlaKind
    stage: SlaStage
    target_seconds: float
    at: datetime


@dataclass(frozen=True, slots=True)
class Exhausted:
    """The last level of the last pass timed out ``at``: escalation has no more steps."""

    at: datetime


@dataclass(frozen=True, slots=True)
class Retriggered:
    """``ack_timeout`` fired ``at``: the incident is triggered again (a NotifyLevel follows)."""

    at: datetime


Action = NotifyLevel | Remind | SlaEvent | Exhausted | Retriggered


def _after(moment: datetime, seconds: float) -> datetime:
    return moment + timedelta(seconds=seconds)


def open_incident(
    policy: EscalationPolicyConfig, now: datetime
) -> tuple[EscalationState, list[Action]]:
    """Start a new incident at level 1 and notify that level."""
    state = EscalationState(
        status="triggered",
        created_at=now,
        level=1,
        passes=0,
        level_due=_after(now, policy.level(1).timeout),
    )
    return state, [NotifyLevel(1, 0, "opened", now)]


# --- timed steps -----------------------------------------------------------------

# Rank breaks ties between steps due at the same instant: escalation first, so a
# re-trigger ends the reminders due with it, and SLA notices follow the page they concern.
_LEVEL, _RETRIGGER, _REMINDER, _SLA = range(4)


@dataclass(frozen=True, slots=True)
class _Step:
    due: datetime
    rank: int
    sla_key: str = ""


def _sla_steps(policy: EscalationPolicyConfig, state: EscalationState) -> list[_Step]:
    sla = policy.sla
    if sla is None or state.status == "resolved":
        return []
    steps: list[_Step] = []
    for kind, target, running in (
        ("ack", sla.ack, state.first_ack_at is None),
        ("resolve", sla.resolve, True),
    ):
        if target is None or not running:
            continue
        # warn_at == 1 puts the warning on the breach: report only the breach.
        if sla.warn_at < 1 and f"{kind}_warning" not in state.sla_sent:
            due = _after(state.created_at, sla.warn_at * target)
            steps.append(_Step(due, _SLA, f"{kind}_warning"))
        if f"{kind}_breach" not in state.sla_sent:
            steps.append(_Step(_after(state.created_at, target), _SLA, f"{kind}_breach"))
    return steps


def _pending(policy: EscalationPolicyConfig, state: EscalationState) -> list[_Step]:
    steps = _sla_steps(policy, state)
    if state.status == "triggered" and state.level_due is not None:
        steps.append(_Step(state.level_due, _LEVEL))
    if state.status == "acknowledged":
        if state.retrigger_due is not None:
            steps.append(_Step(state.retrigger_due, _RETRIGGER))
        if state.reminder_due is not None:
            steps.append(_Step(state.reminder_due, _REMINDER))
    return steps


def _level_timeout(
    policy: EscalationPolicyConfig, state: EscalationState, due: datetime
) -> tuple[EscalationState, list[Action]]:
    reason: NotifyReason
    if state.level < len(policy.levels):
        level, passes, reason = state.level + 1, state.passes, "timeout"
    elif state.passes < policy.repeat.times:
        level, passes, reason = 1, state.passes + 1, "repeat"
    else:
        return replace(state, level_due=None), [Exhausted(due)]
    timeout = policy.level(level).timeout
    new = replace(state, level=level, passes=passes, level_due=_after(due, timeout))
    return new, [NotifyLevel(level, passes, reason, due)]


def _renotify(
    policy: EscalationPolicyConfig, state: EscalationState, at: datetime, reason: NotifyReason
) -> tuple[EscalationState, NotifyLevel]:
    """Back to triggered on the current level, whose timeout restarts at ``at``."""
    level = min(state.level, len(policy.levels))
    new = replace(
        state,
        status="triggered",
        level=level,
        level_due=_after(at, policy.level(level).timeout),
        acked_by=None,
        acked_at=None,
        retrigger_due=None,
        reminder_due=None,
    )
    return new, NotifyLevel(level, state.passes, reason, at)


def _remind(
    policy: EscalationPolicyConfig, state: EscalationState, due: datetime
) -> tuple[EscalationState, list[Action]]:
    count = state.reminders_sent + 1
    reminders = policy.reminders
    next_due = None
    if reminders is not None and count < reminders.max:
        next_due = _after(due, reminders.interval)
    new = replace(state, reminders_sent=count, reminder_due=next_due)
    return new, [Remind(state.acked_by or "", count, due)]


def _sla_event(
    policy: EscalationPolicyConfig, state: EscalationState, step: _Step
) -> tuple[EscalationState, list[Action]]:
    assert policy.sla is not None  # _sla_steps yields SLA steps only when it is set
    kind: SlaKind = "ack" if step.sla_key.startswith("ack") else "resolve"
    stage: SlaStage = "warning" if step.sla_key.endswith("warning") else "breach"
    target = policy.sla.ack if kind == "ack" else policy.sla.resolve
    new = replace(state, sla_sent=state.sla_sent | {step.sla_key})
    return new, [SlaEvent(kind, stage, target or 0.0, step.due)]


def _apply(
    policy: EscalationPolicyConfig, state: EscalationState, step: _Step
) -> tuple[EscalationState, list[Action]]:
    if step.rank == _LEVEL:
        return _level_timeout(policy, state, step.due)
    if step.rank == _RETRIGGER:
        new, notify = _renotify(policy, state, step.due, "retrigger")
        return new, [Retriggered(step.due), notify]
    if step.rank == _REMINDER:
        return _remind(policy, state, step.due)
    return _sla_event(policy, state, step)


def advance(
    policy: EscalationPolicyConfig, state: EscalationState, now: datetime
) -> tuple[EscalationState, list[Action]]:
    """Apply every step due at or before ``now``, once each, in time order."""
    actions: list[Action] = []
    while True:
        pending = _pending(policy, state)
        if not pending:
            return state, actions
        step = min(pending, key=lambda s: (s.due, s.rank, s.sla_key))
        if step.due > now:
            return state, actions
        state, done = _apply(policy, state, step)
        actions.extend(done)


def next_due(policy: EscalationPolicyConfig, state: EscalationState) -> datetime | None:
    """When :func:`advance` next has something to do; None when nothing is pending."""
    return min((s.due for s in _pending(policy, state)), default=None)


# --- transitions -------------------------------------------------------------------


def acknowledge(
    policy: EscalationPolicyConfig, state: EscalationState, by: str, now: datetime
) -> tuple[EscalationState, list[Action]]:
    """``by`` acknowledges a triggered incident: escalation stops, reminders and the
    ``ack_timeout`` clock start; raises TransitionError unless triggered."""
    state, actions = advance(policy, state, now)
    if state.status != "triggered":
        raise TransitionError(state.status, "acknowledge", "triggered")
    reminders = policy.reminders
    new = replace(
        state,
        status="acknowledged",
        level_due=None,
        acked_by=by,
        acked_at=now,
        first_ack_at=state.first_ack_at or now,
        retrigger_due=None if policy.ack_timeout is None else _after(now, policy.ack_timeout),
        reminders_sent=0,
        reminder_due=None if reminders is None else _after(now, reminders.interval),
    )
    return new, actions


def unacknowledge(
    policy: EscalationPolicyConfig, state: EscalationState, now: datetime
) -> tuple[EscalationState, list[Action]]:
    """Return an acknowledged incident to triggered and re-notify its current level, whose
    timeout restarts now; raises TransitionError unless acknowledged."""
    state, actions = advance(policy, state, now)
    if state.status != "acknowledged":
        raise TransitionError(state.status, "unacknowledge", "acknowledged")
    new, notify = _renotify(policy, state, now, "unack")
    return new, [*actions, notify]


def resolve(
    policy: EscalationPolicyConfig, state: EscalationState, by: str | None, now: datetime
) -> tuple[EscalationState, list[Action]]:
    """Resolve the incident (``by`` None: automatically, all alerts resolved) and stop every
    clock; raises TransitionError if it is already resolved."""
    state, actions = advance(policy, state, now)
    if state.status == "resolved":
        raise TransitionError(state.status, "resolve", "triggered or acknowledged")
    new = replace(
        state,
        status="resolved",
        level_due=None,
        retrigger_due=None,
        reminder_due=None,
        resolved_at=now,
        resolved_by=by,
    )
    return new, actions


def policy_for_priority(
    policies: Mapping[str, EscalationPolicyConfig], name: str, priority: Priority
) -> str:
    """The policy an incident of ``priority`` routed to policy ``name`` uses.

    One hop only: the chosen policy's own ``by_priority`` is not followed, so policies
    pointing at each other never loop. Raises KeyError for an unknown ``name``.
    """
    return policies[name].by_priority.get(priority, name)
