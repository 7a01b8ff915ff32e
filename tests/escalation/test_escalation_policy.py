"""Escalation scenarios on simulated time: a driver plays the incident manager's timer loop."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from promalert.config.escalation import EscalationPolicyConfig
from promalert.escalation.policy import (
    Action,
    EscalationState,
    Exhausted,
    NotifyLevel,
    Remind,
    Retriggered,
    SlaEvent,
    TransitionError,
    acknowledge,
    advance,
    next_due,
    open_incident,
    policy_for_priority,
    resolve,
    unacknowledge,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def policy(**extra: Any) -> EscalationPolicyConfig:
    """Three levels timing out after 5, 10 and 30 minutes, plus ``extra`` keys."""
    return EscalationPolicyConfig.model_validate(
        {
            "levels": [
                {"targets": [{"schedule": "primary"}], "timeout": "5m"},
                {"targets": [{"schedule": "secondary"}], "timeout": "10m"},
                {"targets": [{"user": "manager"}, {"receiver": "team"}], "timeout": "30m"},
            ],
            **extra,
        }
    )


class Driver:
    """Opens an incident and runs the timer loop: advance exactly at each next_due."""

    def __init__(self, config: EscalationPolicyConfig, start: datetime = T0) -> None:
        self.policy = config
        self.now = start
        self.state, self.actions = open_incident(config, start)

    def run_until(self, end: datetime) -> list[Action]:
        """Step the clock through every due time up to ``end``; return the new actions."""
        done: list[Action] = []
        while (due := next_due(self.policy, self.state)) is not None and due <= end:
            self.now = due
            self.state, new = advance(self.policy, self.state, due)
            assert new, f"next_due {due} promised work but advance did nothing"
            done += new
        self.now = end
        self.actions += done
        return done

    def ack(self, by: str, moment: datetime) -> list[Action]:
        before = self.run_until(moment)
        self.state, new = acknowledge(self.policy, self.state, by, moment)
        assert new == []
        return before

    def unack(self, moment: datetime) -> list[Action]:
        before = self.run_until(moment)
        self.state, new = unacknowledge(self.policy, self.state, moment)
        self.actions += new
        return before + new

    def resolve(self, by: str | None, moment: datetime) -> list[Action]:
        before = self.run_until(moment)
        self.state, new = resolve(self.policy, self.state, by, moment)
        assert new == []
        return before


def notifies(actions: list[Action]) -> list[tuple[int, int, str, datetime]]:
    return [(a.level, a.passes, a.reason, a.at) for a in actions if isinstance(a, NotifyLevel)]


def test_three_levels_escalate_on_timeouts() -> None:
    run = Driver(policy())
    assert run.actions == [NotifyLevel(1, 0, "opened", T0)]
    assert run.state.level_due == at(5)
    assert run.run_until(at(4.99)) == []
    assert run.run_until(at(5)) == [NotifyLevel(2, 0, "timeout", at(5))]
    assert run.run_until(at(15)) == [NotifyLevel(3, 0, "timeout", at(15))]
    assert run.run_until(at(600)) == [Exhausted(at(45))]
    assert (run.state.status, run.state.level, run.state.level_due) == ("triggered", 3, None)
    assert next_due(run.policy, run.state) is None


def test_ack_at_level_two_stops_escalation() -> None:
    run = Driver(policy())
    run.ack("alice", at(7))
    assert run.state.status == "acknowledged"
    assert (run.state.acked_by, run.state.acked_at, run.state.first_ack_at) == (
        "alice",
        at(7),
        at(7),
    )
    assert (run.state.level, run.state.level_due) == (2, None)
    assert next_due(run.policy, run.state) is None
    assert run.run_until(at(24 * 60)) == []
    assert notifies(run.actions) == [(1, 0, "opened", T0), (2, 0, "timeout", at(5))]


def test_unack_renotifies_current_level_and_restarts_its_timeout() -> None:
    run = Driver(policy())
    run.ack("alice", at(7))
    assert run.unack(at(20)) == [NotifyLevel(2, 0, "unack", at(20))]
    assert run.state.status == "triggered" and run.state.acked_by is None
    assert run.state.first_ack_at == at(7)  # MTTA keeps the first acknowledgement
    assert run.run_until(at(29.99)) == []
    assert run.run_until(at(30)) == [NotifyLevel(3, 0, "timeout", at(30))]
    # Acknowledged again, by someone else: that is a fresh acknowledgement.
    run.ack("bob", at(31))
    assert (run.state.acked_by, run.state.acked_at, run.state.first_ack_at) == (
        "bob",
        at(31),
        at(7),
    )


def test_repeat_runs_extra_passes_from_level_one() -> None:
    run = Driver(policy(repeat={"times": 2}))
    run.run_until(at(24 * 60))
    assert notifies(run.actions) == [
        (1, 0, "opened", at(0)),
        (2, 0, "timeout", at(5)),
        (3, 0, "timeout", at(15)),
        (1, 1, "repeat", at(45)),
        (2, 1, "timeout", at(50)),
        (3, 1, "timeout", at(60)),
        (1, 2, "repeat", at(90)),
        (2, 2, "timeout", at(95)),
        (3, 2, "timeout", at(105)),
    ]
    assert run.actions[-1] == Exhausted(at(135))
    assert run.state.passes == 2


def test_ack_timeout_retriggers_and_stops_reminders() -> None:
    run = Driver(policy(ack_timeout="1h", reminders={"interval": "30m"}))
    run.ack("alice", at(2))
    assert run.state.retrigger_due == at(62)
    # Reminders at 32 and 62; the re-trigger at 62 wins the tie and ends them.
    assert run.run_until(at(62)) == [
        Remind("alice", 1, at(32)),
        Retriggered(at(62)),
        NotifyLevel(1, 0, "retrigger", at(62)),
    ]
    assert run.state.status == "triggered"
    assert (run.state.acked_by, run.state.retrigger_due, run.state.reminder_due) == (
        None,
        None,
        None,
    )
    assert run.run_until(at(67)) == [NotifyLevel(2, 0, "timeout", at(67))]


def test_retrigger_keeps_the_level_it_was_acknowledged_on() -> None:
    run = Driver(policy(ack_timeout="1h"))
    run.ack("alice", at(20))  # on level 3
    assert run.run_until(at(200)) == [
        Retriggered(at(80)),
        NotifyLevel(3, 0, "retrigger", at(80)),
        Exhausted(at(110)),
    ]


def test_reminders_go_to_the_acknowledger_up_to_max() -> None:
    run = Driver(policy(reminders={"interval": "30m", "max": 3}))
    run.ack("alice", at(1))
    assert run.run_until(at(24 * 60)) == [
        Remind("alice", 1, at(31)),
        Remind("alice", 2, at(61)),
        Remind("alice", 3, at(91)),
    ]
    assert run.state.reminders_sent == 3 and run.state.reminder_due is None


def test_unack_stops_reminders_and_a_new_ack_restarts_them() -> None:
    run = Driver(policy(reminders={"interval": "30m", "max": 2}))
    run.ack("alice", at(1))
    run.unack(at(40))
    assert [a for a in run.actions if isinstance(a, Remind)] == [Remind("alice", 1, at(31))]
    run.ack("bob", at(42))
    assert run.run_until(at(24 * 60)) == [Remind("bob", 1, at(72)), Remind("bob", 2, at(102))]


def test_resolve_mid_level_stops_everything() -> None:
    config = policy(
        repeat={"times": 3},
        ack_timeout="1h",
        reminders={"interval": "30m"},
        sla={"ack": "1h", "resolve": "2h"},
    )
    run = Driver(config)
    run.resolve("alice", at(7))
    state = run.state
    assert (state.status, state.resolved_at, state.resolved_by, state.level) == (
        "resolved",
        at(7),
        "alice",
        2,
    )
    assert next_due(config, state) is None
    assert advance(config, state, at(10_000)) == (state, [])
    assert notifies(run.actions) == [(1, 0, "opened", T0), (2, 0, "timeout", at(5))]


def test_resolve_while_acknowledged_and_auto_resolve() -> None:
    run = Driver(policy(reminders={"interval": "30m"}, ack_timeout="1h"))
    run.ack("alice", at(1))
    assert run.resolve(None, at(50)) == [Remind("alice", 1, at(31))]
    assert (run.state.status, run.state.resolved_by) == ("resolved", None)
    assert run.run_until(at(24 * 60)) == []


def test_transitions_refused_by_state() -> None:
    config = policy()
    state, _ = open_incident(config, T0)
    with pytest.raises(TransitionError, match="cannot unacknowledge an incident that is triggered"):
        unacknowledge(config, state, at(1))
    acked, _ = acknowledge(config, state, "alice", at(1))
    with pytest.raises(TransitionError, match="cannot acknowledge an incident that is acknowl"):
        acknowledge(config, acked, "bob", at(2))
    done, _ = resolve(config, acked, "alice", at(3))
    for call in (
        lambda: acknowledge(config, done, "bob", at(4)),
        lambda: unacknowledge(config, done, at(4)),
        lambda: resolve(config, done, None, at(4)),
    ):
        with pytest.raises(TransitionError, match="that is resolved") as info:
            call()
        assert info.value.current == "resolved"


def test_transitions_apply_overdue_steps_first() -> None:
    config = policy(sla={"ack": "5m", "warn_at": 1})
    state, _ = open_incident(config, T0)
    # No timer tick ran since the incident opened; the ack at 6m comes in first.
    acked, actions = acknowledge(config, state, "alice", at(6))
    assert actions == [
        NotifyLevel(2, 0, "timeout", at(5)),
        SlaEvent("ack", "breach", 300.0, at(5)),
    ]
    assert (acked.status, acked.level) == ("acknowledged", 2)


def test_sla_warning_and_breach() -> None:
    config = policy(sla={"ack": "5m", "resolve": "1h", "warn_at": 0.8})
    run = Driver(config)
    run.run_until(at(24 * 60))
    assert [a for a in run.actions if isinstance(a, SlaEvent)] == [
        SlaEvent("ack", "warning", 300.0, at(4)),
        SlaEvent("ack", "breach", 300.0, at(5)),
        SlaEvent("resolve", "warning", 3600.0, at(48)),
        SlaEvent("resolve", "breach", 3600.0, at(60)),
    ]
    # SLA clocks run on after escalation is exhausted (at 45m).
    assert run.actions.index(Exhausted(at(45))) < len(run.actions) - 2
    assert run.state.sla_sent == {"ack_warning", "ack_breach", "resolve_warning", "resolve_breach"}


def test_ack_before_target_stops_the_ack_clock_for_good() -> None:
    config = policy(sla={"ack": "5m", "resolve": "1h"})
    run = Driver(config)
    run.ack("alice", at(4.5))
    run.unack(at(4.75))  # unack does not restart the ack clock: first ack counts
    run.resolve("alice", at(50))
    assert [a for a in run.actions if isinstance(a, SlaEvent)] == [
        SlaEvent("ack", "warning", 300.0, at(4)),
        SlaEvent("resolve", "warning", 3600.0, at(48)),
    ]
    assert run.run_until(at(24 * 60)) == []


def test_warn_at_one_reports_only_the_breach() -> None:
    run = Driver(policy(sla={"resolve": "1h", "warn_at": 1}))
    run.ack("alice", at(1))
    assert run.run_until(at(600)) == [SlaEvent("resolve", "breach", 3600.0, at(60))]


FULL = {
    "repeat": {"times": 2},
    "ack_timeout": "20m",
    "reminders": {"interval": "7m", "max": 2},
    "sla": {"ack": "3m", "resolve": "2h", "warn_at": 0.5},
}


def test_late_advance_after_downtime_does_every_step_once() -> None:
    config = policy(**FULL)
    stepped = Driver(config)
    stepped.ack("alice", at(8))
    stepped.run_until(at(12 * 60))

    # The same incident, but the service was down from 9m to 12h: one late advance.
    state, _ = open_incident(config, T0)
    state, early = advance(config, state, at(8))
    state, _ = acknowledge(config, state, "alice", at(8))
    state, late = advance(config, state, at(12 * 60))
    assert [*early, *late] == stepped.actions[1:]
    assert state == stepped.state
    # Due times come from the previous step's due time, not from the late `now`.
    assert NotifyLevel(2, 0, "retrigger", at(28)) in late
    assert NotifyLevel(3, 0, "timeout", at(38)) in late
    assert late[-1] == Exhausted(at(28 + 10 + 30 + 2 * 45))
    # Idempotent: advancing again to the same time emits nothing and changes nothing.
    assert advance(config, state, at(12 * 60)) == (state, [])


def test_state_survives_a_json_round_trip_mid_escalation() -> None:
    config = policy(**FULL)
    run = Driver(config)
    run.ack("alice", at(8))
    run.run_until(at(16))
    stored = json.loads(json.dumps(run.state.to_dict()))
    restored = EscalationState.from_dict(stored)
    assert restored == run.state
    assert advance(config, restored, at(600)) == advance(config, run.state, at(600))


def test_from_dict_rejects_malformed_state_and_fills_new_fields() -> None:
    stored = Driver(policy()).state.to_dict()
    with pytest.raises(ValueError, match="malformed escalation state"):
        EscalationState.from_dict({**stored, "status": "snoozed"})
    with pytest.raises(ValueError, match="malformed escalation state"):
        EscalationState.from_dict({k: v for k, v in stored.items() if k != "level"})
    with pytest.raises(ValueError, match="malformed escalation state"):
        EscalationState.from_dict({**stored, "level_due": "soon"})
    minimal = {k: stored[k] for k in ("status", "created_at", "level", "passes", "level_due")}
    assert EscalationState.from_dict(minimal) == Driver(policy()).state


def test_reload_with_fewer_levels_keeps_the_incident_running() -> None:
    run = Driver(policy())
    run.ack("alice", at(20))  # on level 3
    shorter = EscalationPolicyConfig.model_validate(
        {"levels": [{"targets": [{"user": "a"}], "timeout": "5m"}] * 2, "repeat": {"times": 1}}
    )
    state, actions = unacknowledge(shorter, run.state, at(30))
    assert actions == [NotifyLevel(2, 0, "unack", at(30))]
    state, actions = advance(shorter, state, at(60))
    assert actions == [
        NotifyLevel(1, 1, "repeat", at(35)),
        NotifyLevel(2, 1, "timeout", at(40)),
        Exhausted(at(45)),
    ]


def test_hours_of_simulated_time_run_fast() -> None:
    config = EscalationPolicyConfig.model_validate(
        {
            "levels": [{"targets": [{"user": "a"}], "timeout": "1m"}] * 3,
            "repeat": {"times": 1000},
            "sla": {"ack": "1h", "resolve": "2h"},
        }
    )
    started = time.perf_counter()
    run = Driver(config)
    run.run_until(T0 + timedelta(hours=51))
    elapsed = time.perf_counter() - started
    assert len(notifies(run.actions)) == 3 * 1001
    assert run.actions[-1] == Exhausted(at(3 * 1001))
    assert elapsed < 1.0, f"{elapsed:.2f}s for 51 hours of escalation"


def test_policy_for_priority_is_one_hop() -> None:
    policies = {
        "critical": policy(by_priority={"P3": "chat", "P4": "chat"}),
        "chat": policy(by_priority={"P3": "critical"}),
    }
    assert policy_for_priority(policies, "critical", "P1") == "critical"
    assert policy_for_priority(policies, "critical", "P3") == "chat"
    assert policy_for_priority(policies, "chat", "P3") == "critical"  # not followed further
    assert policy_for_priority(policies, "chat", "P4") == "chat"
    with pytest.raises(KeyError):
        policy_for_priority(policies, "nope", "P1")
