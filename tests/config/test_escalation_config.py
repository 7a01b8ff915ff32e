"""Escalation policy config: SPEC §4's example, defaults, and every validation rule."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from promalert.config.escalation import (
    EscalationPolicyConfig,
    LevelConfig,
    RemindersConfig,
    RepeatConfig,
    SlaConfig,
    TargetConfig,
    policy_references,
)

SPEC_EXAMPLE = """\
critical:
  levels:
    - {targets: [{schedule: primary}], channels: [email, slack, sms], timeout: 5m}
    - {targets: [{schedule: secondary}], channels: [email, sms, voice], timeout: 10m}
    - {targets: [{user: manager}, {receiver: team-slack}], timeout: 30m}
  repeat: {times: 3}
  sla: {ack: 5m, resolve: 1h, warn_at: 0.8, notify: [{receiver: team-slack}]}
  reminders: {interval: 30m, max: 3}
  ack_timeout: 1h
  by_priority: {P3: chat-only, P4: chat-only}
chat-only:
  levels:
    - targets: [{receiver: team-chat}]
"""


def load(text: str) -> dict[str, EscalationPolicyConfig]:
    raw = yaml.safe_load(text)
    return {name: EscalationPolicyConfig.model_validate(body) for name, body in raw.items()}


def error(body: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        EscalationPolicyConfig.model_validate(body)
    return str(info.value)


def level(**extra: Any) -> dict[str, Any]:
    return {"targets": [{"user": "alice"}], **extra}


def test_spec_example_loads() -> None:
    policies = load(SPEC_EXAMPLE)
    critical = policies["critical"]
    assert [lv.timeout for lv in critical.levels] == [300.0, 600.0, 1800.0]
    assert critical.levels[0].channels == ["email", "slack", "sms"]
    third = critical.levels[2].targets
    assert [(t.kind, t.name) for t in third] == [("user", "manager"), ("receiver", "team-slack")]
    assert critical.repeat == RepeatConfig(times=3)
    assert critical.sla == SlaConfig.model_validate(
        {"ack": "5m", "resolve": "1h", "notify": [{"receiver": "team-slack"}]}
    )
    assert critical.sla is not None and (critical.sla.ack, critical.sla.resolve) == (300, 3600)
    assert critical.reminders == RemindersConfig.model_validate({"interval": "30m"})
    assert critical.reminders is not None and critical.reminders.interval == 1800
    assert critical.ack_timeout == 3600.0
    assert critical.by_priority == {"P3": "chat-only", "P4": "chat-only"}


def test_defaults() -> None:
    chat = load(SPEC_EXAMPLE)["chat-only"]
    assert chat.levels == [LevelConfig(targets=[TargetConfig(receiver="team-chat")])]
    assert chat.levels[0].channels == ["email"]
    assert chat.levels[0].timeout == 1800.0
    assert chat.repeat.times == 0
    assert chat.sla is None and chat.reminders is None and chat.ack_timeout is None
    assert chat.by_priority == {}
    assert SlaConfig().warn_at == 0.8
    assert RemindersConfig.model_validate({"interval": "10m"}).max == 3


def test_target_kind_and_name() -> None:
    assert (TargetConfig(schedule="primary").kind, TargetConfig(schedule="primary").name) == (
        "schedule",
        "primary",
    )
    assert TargetConfig(user="bob").kind == "user"
    assert TargetConfig(receiver="team").kind == "receiver"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ({}, "exactly one of schedule, user, receiver (got none)"),
        ({"user": "a", "receiver": "b"}, "(got user, receiver)"),
        ({"user": ""}, "user name must not be empty"),
        ({"team": "x"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_targets(target: dict[str, str], expected: str) -> None:
    assert expected in error({"levels": [{"targets": [target]}]})


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"levels": []}, "at least 1 item"),
        ({}, "levels\n  Field required"),
        ({"levels": [{"targets": []}]}, "at least 1 item"),
        ({"levels": [level(channels=["pager"])]}, "'email', 'sms', 'voice' or 'slack'"),
        ({"levels": [level(channels=[])]}, "at least 1 item"),
        ({"levels": [level(channels=["sms", "sms"])]}, "must not repeat a contact kind"),
        ({"levels": [level(timeout="0s")]}, "timeout must be greater than 0"),
        ({"levels": [level(timeout="5 minutes")]}, "levels.0.timeout"),
        ({"levels": [level()], "repeat": {"times": -1}}, "greater than or equal to 0"),
        ({"levels": [level()], "sla": {"warn_at": 0}}, "greater than 0"),
        ({"levels": [level()], "sla": {"warn_at": 1.5}}, "less than or equal to 1"),
        ({"levels": [level()], "sla": {"ack": "0s"}}, "an SLA target must be greater than 0"),
        ({"levels": [level()], "reminders": {"max": 2}}, "reminders.interval\n  Field required"),
        ({"levels": [level()], "reminders": {"interval": "0s"}}, "interval must be greater"),
        ({"levels": [level()], "reminders": {"interval": "1m", "max": 0}}, "greater than or"),
        ({"levels": [level()], "ack_timeout": "0s"}, "ack_timeout must be greater than 0"),
        ({"levels": [level()], "by_priority": {"P9": "x"}}, "by_priority.P9"),
        ({"levels": [level()], "escalate": True}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_policies(body: dict[str, Any], expected: str) -> None:
    assert expected in error(body)


def test_warn_at_one_is_allowed() -> None:
    sla = SlaConfig.model_validate({"ack": "5m", "warn_at": 1})
    assert sla.warn_at == 1.0


def test_level_lookup_is_clamped() -> None:
    policy = load(SPEC_EXAMPLE)["critical"]
    assert policy.level(1).timeout == 300.0
    assert policy.level(3).timeout == 1800.0
    # A reload that removed levels must not break an incident on a removed one.
    assert policy.level(7).timeout == 1800.0


def test_policy_references_cover_targets_sla_and_priorities() -> None:
    assert policy_references(load(SPEC_EXAMPLE)) == {
        ("schedule", "primary"),
        ("schedule", "secondary"),
        ("user", "manager"),
        ("receiver", "team-slack"),
        ("receiver", "team-chat"),
        ("policy", "chat-only"),
    }
    assert policy_references({}) == set()
