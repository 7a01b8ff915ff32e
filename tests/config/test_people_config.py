"""Users, contact channels, schedules, escalation policies and reports: every name they
use is checked at load time and every problem is reported at its place in the file."""

from __future__ import annotations

from pathlib import Path

from promalert.config.loader import load_config
from promalert.config.people import ContactChannelsConfig, UserConfig, user_receiver
from promalert.errors import ConfigError

VALID = """\
route:
  escalation: critical
receivers:
  - name: team
    webhook_configs: [{url: "http://127.0.0.1:9/hook"}]
users:
  alice: {email: alice@example.com, phone: "+15550001", slack: "@alice"}
contact_channels:
  email: {smarthost: "127.0.0.1:25", from: alerts@example.com}
schedules:
  primary:
    layers: [{rotation: daily, start: "2026-01-05T09:00", members: [alice]}]
escalation_policies:
  critical:
    levels: [{targets: [{schedule: primary}, {receiver: team}], timeout: 5m}]
reports:
  - {name: daily, receiver: team}
"""


def _problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "promalert.yml"
    path.write_text(text)
    try:
        load_config(path)
    except ConfigError as exc:
        return [str(p).removeprefix(f"{path}:") for p in exc.problems]
    return []


def test_an_escalation_only_root_route_and_people_load(tmp_path: Path) -> None:
    assert _problems(tmp_path, VALID) == []
    path = tmp_path / "promalert.yml"
    config = load_config(path)
    assert config.route.escalation == "critical" and config.route.receiver is None
    assert config.users["alice"].phone == "+15550001"


def test_every_unknown_name_is_reported_where_it_is_used(tmp_path: Path) -> None:
    text = (
        VALID.replace("escalation: critical", "escalation: critcal")
        .replace("members: [alice]", "members: [alice, mallory]")
        .replace("{schedule: primary}", "{schedule: secondary}, {user: bob}")
        .replace("{name: daily, receiver: team}", "{name: daily, receiver: nobody}")
    )
    problems = _problems(tmp_path, text)
    assert problems == [
        "2:15: route.escalation: escalation policy 'critcal' is not defined (critical)",
        "12:5: schedules.primary: user 'mallory' is not defined in users",
        "15:5: escalation_policies.critical: schedule 'secondary' is not defined",
        "15:5: escalation_policies.critical: user 'bob' is not defined",
        "17:29: reports.0.receiver: receiver 'nobody' is not defined",
    ]


def test_contact_kinds_must_be_configured_for_people(tmp_path: Path) -> None:
    text = VALID.replace("timeout: 5m}", "channels: [email, sms], timeout: 5m}").replace(
        "    layers:", "    handoff_notifications: true\n    handoff_channels: [voice]\n    layers:"
    )
    problems = _problems(tmp_path, text)
    assert problems == [
        "13:24: schedules.primary.handoff_channels.0: handoff channel 'voice' is not configured "
        "in contact_channels (configured: email)",
        "17:5: escalation_policies.critical: contact channel 'sms' is not configured in "
        "contact_channels",
    ]


def test_a_root_route_needs_a_receiver_or_an_escalation(tmp_path: Path) -> None:
    text = VALID.replace("  escalation: critical\n", "  group_wait: 1s\n")
    assert _problems(tmp_path, text) == [
        "2:3: route: root route must specify a default receiver (or an escalation)"
    ]


def test_bad_phone_and_zone(tmp_path: Path) -> None:
    text = VALID.replace('phone: "+15550001"', 'phone: "555-0001", timezone: Mars/Base')
    problems = _problems(tmp_path, text)
    assert len(problems) == 2
    assert "users.alice.phone" in problems[0] and "E.164" in problems[0]
    assert "users.alice.timezone" in problems[1] and "Mars/Base" in problems[1]


def test_a_user_becomes_a_receiver_on_the_kinds_they_can_be_reached_by() -> None:
    contacts = ContactChannelsConfig.model_validate(
        {
            "email": {"smarthost": "127.0.0.1:25", "from": "a@example.com"},
            "sms": {"account_sid": "AC1", "auth_token": "t" * 20, "from": "+15550000"},
            "slack": {"api_url": "http://127.0.0.1:9/slack"},
        }
    )
    receiver = user_receiver("alice", UserConfig(email="alice@example.com", slack="@al"), contacts)
    assert receiver.name == "user:alice"
    assert [c.to for c in receiver.email_configs] == [["alice@example.com"]]
    assert [c.mention for c in receiver.slack_configs] == ["@al"]
    assert receiver.sms_configs == []  # no phone
