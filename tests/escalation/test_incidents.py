"""The incident manager on a fake clock with a real store: groups in, pages out.

Acceptance 1 of issue 4 in the scenarios that need people and schedules: a rotation
that hands off in the middle of an escalation (the next page goes to the incoming
person), overrides, and steps kept across a restart (a new manager on the same store).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from promalert.clock import FakeClock
from promalert.config.escalation import EscalationPolicyConfig
from promalert.config.people import ContactChannelsConfig, UserConfig, user_receiver
from promalert.config.receivers import ReceiverConfig
from promalert.config.schedules import ScheduleConfig
from promalert.dispatch.flush import EscalationUpdate
from promalert.escalation.incidents import IncidentManager, IncidentNotFound
from promalert.escalation.policy import TransitionError
from promalert.escalation.schedule import build_schedules
from promalert.escalation.targets import Directory
from promalert.metrics import Metrics
from promalert.model import Alert, Labels
from promalert.notify.base import Notifier
from promalert.notify.registry import build_notifiers
from promalert.store import Store

START = datetime(2026, 1, 5, 8, 57, tzinfo=UTC)  # three minutes before bob hands over to alice

POLICY = {
    "levels": [
        {"targets": [{"schedule": "primary"}], "channels": ["email"], "timeout": "5m"},
        {"targets": [{"schedule": "primary"}, {"receiver": "team"}], "timeout": "10m"},
        {"targets": [{"user": "manager"}], "channels": ["email", "sms"], "timeout": "30m"},
    ],
    "sla": {"ack": "20m", "warn_at": 0.5, "notify": [{"receiver": "team"}]},
}
SCHEDULE = {
    "timezone": "UTC",
    "layers": [{"rotation": "daily", "start": "2026-01-01T09:00", "members": ["alice", "bob"]}],
    "overrides": [{"user": "carol", "start": "2026-01-06T09:00", "end": "2026-01-06T12:00"}],
}
USERS = {
    "alice": UserConfig(email="alice@example.com"),
    "bob": UserConfig(email="bob@example.com"),
    "carol": UserConfig(email="carol@example.com"),
    "manager": UserConfig(email="boss@example.com", phone="+15550009"),
}
CONTACTS = ContactChannelsConfig.model_validate(
    {
        "email": {"smarthost": "127.0.0.1:25", "from": "alerts@example.com"},
        "sms": {
            "account_sid": "AC1",
            "auth_token": "secret-token-1234",
            "from": "+15550000",
            "api_url": "http://127.0.0.1:9",
        },
    }
)


def _notifiers(session: aiohttp.ClientSession) -> dict[tuple[str, int], Notifier]:
    receivers = [
        ReceiverConfig.model_validate(
            {"name": "team", "webhook_configs": [{"url": "http://127.0.0.1:9/team"}]}
        ),
        *(user_receiver(n, u, CONTACTS) for n, u in USERS.items()),
    ]
    out: dict[tuple[str, int], Notifier] = {}
    for receiver in receivers:
        for i, notifier in enumerate(build_notifiers(receiver, session)):
            out[(receiver.name, i)] = notifier
    return out


class Rig:
    """A manager on a fake clock and a temp store, rebuilt at will (a restart)."""

    def __init__(self, path: Path, session: aiohttp.ClientSession) -> None:
        self.clock = FakeClock(START)
        self.path = path
        self.session = session
        self.store = Store.open(path)
        self.manager = self._manager()

    def _manager(self) -> IncidentManager:
        schedules = build_schedules({"primary": ScheduleConfig.model_validate(SCHEDULE)})
        directory = Directory(USERS, schedules, _notifiers(self.session))
        return IncidentManager(
            {"critical": EscalationPolicyConfig.model_validate(POLICY)},
            directory,
            self.store,
            self.clock,
            Metrics(),
            external_url="http://127.0.0.1:9099",
            secret_key="k" * 32,
        )

    def restart(self) -> None:
        self.store.close()
        self.store = Store.open(self.path)
        self.manager = self._manager()

    def flush(self, *alerts: Alert, firing: set[str] | None = None) -> None:
        now = self.clock.now()
        fps = {a.fingerprint for a in alerts if not a.resolved(now)} if firing is None else firing
        update = EscalationUpdate(
            "critical",
            '{}:{alertname="Disk"}',
            Labels({"alertname": "Disk"}),
            alerts,
            frozenset(fps),
            now,
        )
        self.manager.observe([update])

    def at(self, minutes: float) -> None:
        self.clock._now = START + timedelta(minutes=minutes)  # noqa: SLF001 - test clock
        self.manager.run_due()

    def pages(self) -> list[tuple[str, str, int]]:
        """(receiver, channel, level) of every queued notification, in order."""
        rows = sorted(self.store.outbox_rows(), key=lambda r: r.id)
        return [(r.receiver, r.channel, r.payload["incident"]["level"]) for r in rows]


@pytest.fixture
async def rig(tmp_path: Path) -> Iterator[Rig]:
    async with aiohttp.ClientSession() as session:
        rig = Rig(tmp_path / "state.db", session)
        yield rig  # type: ignore[misc]
        rig.store.close()


def _alert(name: str = "Disk", severity: str = "critical", **extra: str) -> Alert:
    return Alert(Labels({"alertname": name, "severity": severity, **extra}), starts_at=START)


async def test_rotation_hands_off_in_the_middle_of_an_escalation(rig: Rig) -> None:
    rig.flush(_alert())
    # 08:57 is bob's day (daily from 2026-01-04 09:00); alice takes over at 09:00.
    assert rig.pages() == [("user:bob", "email", 1)]
    rig.at(4.9)
    assert len(rig.pages()) == 1
    rig.at(5)  # 09:02: level 2 reaches the incoming person, alice, plus the team
    assert rig.pages()[1:] == [("user:alice", "email", 2), ("team", "webhook", 2)]
    rig.at(10)  # the SLA warning at half the 20-minute ack target goes to the team
    assert rig.pages()[3:] == [("team", "webhook", 2)]
    rig.at(15)  # level 3 is the manager, by email and SMS
    assert rig.pages()[4:] == [("user:manager", "email", 3), ("user:manager", "sms", 3)]
    [incident] = rig.manager.list()
    assert incident["level"] == 3 and incident["state"] == "triggered"
    # A level-1 page after the handoff goes to bob: re-notify by unack after an ack.
    rig.manager.acknowledge(incident["id"], by="manager", via="api")
    rig.manager.unacknowledge(incident["id"], by="manager", via="api")
    assert rig.pages()[-2:] == [("user:manager", "email", 3), ("user:manager", "sms", 3)]


async def test_override_wins_and_restart_keeps_every_step_once(rig: Rig) -> None:
    rig.clock._now = datetime(2026, 1, 6, 10, 0, tzinfo=UTC)  # noqa: SLF001 - carol's override
    rig.flush(_alert())
    assert rig.pages() == [("user:carol", "email", 1)]
    opened = rig.clock.now()
    rig.restart()
    rig.clock._now = opened + timedelta(minutes=4, seconds=59)  # noqa: SLF001
    rig.manager.run_due()
    assert len(rig.pages()) == 1
    rig.restart()
    # Down across both the level-2 timeout and the SLA warning: each happens once, now.
    rig.clock._now = opened + timedelta(minutes=12)  # noqa: SLF001
    rig.manager.run_due()
    rig.manager.run_due()
    assert rig.pages()[1:] == [
        ("user:carol", "email", 2),
        ("team", "webhook", 2),
        ("team", "webhook", 2),  # the SLA warning
    ]
    [incident] = rig.manager.list()
    detail = rig.manager.get(incident["id"])
    assert detail is not None
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds == ["opened", "alert_added", "notified", "notified", "sla_warning"]


async def test_alerts_join_and_the_incident_resolves_by_itself(rig: Rig) -> None:
    disk, other = _alert(), _alert(device="sdb", severity="warning")
    rig.flush(disk)
    rig.at(1)
    rig.flush(disk, other)
    [incident] = rig.manager.list()
    assert len(incident["alerts"]) == 2 and incident["priority"] == "P1"
    ended = Alert(disk.labels, starts_at=START, ends_at=START + timedelta(minutes=1))
    rig.at(2)
    rig.flush(ended, firing={other.fingerprint})
    assert rig.manager.list()[0]["state"] == "triggered"
    rig.flush(firing=set())
    [incident] = rig.manager.list()
    assert incident["state"] == "resolved" and incident["resolved_by"] is None
    rig.at(60)  # nothing more is due
    assert len(rig.pages()) == 1
    # A new firing alert in the same group opens a new incident.
    rig.flush(_alert())
    assert [i["state"] for i in rig.manager.list()] == ["triggered", "resolved"]


async def test_transitions_refused_and_unknown_ids(rig: Rig) -> None:
    rig.flush(_alert())
    [incident] = rig.manager.list()
    with pytest.raises(TransitionError):
        rig.manager.unacknowledge(incident["id"], by="alice", via="api")
    resolved = rig.manager.resolve(incident["id"], by="alice", via="cli", comment="fixed")
    assert resolved["state"] == "resolved" and resolved["resolved_by"] == "alice"
    with pytest.raises(TransitionError):
        rig.manager.acknowledge(incident["id"], by="alice", via="api")
    with pytest.raises(IncidentNotFound):
        rig.manager.acknowledge(999, by="alice", via="api")
    detail = rig.manager.get(incident["id"])
    assert detail is not None
    last = detail["timeline"][-1]
    assert (last["kind"], last["by"], last["via"], last["comment"]) == (
        "resolved",
        "alice",
        "cli",
        "fixed",
    )


async def test_a_removed_policy_resolves_its_incidents(rig: Rig) -> None:
    rig.flush(_alert())
    manager = rig.manager
    manager.configure({}, manager.directory, external_url="http://127.0.0.1:9099")
    [incident] = manager.list()
    assert incident["state"] == "resolved"
    rig.at(60)
    assert len(rig.pages()) == 1


def _payloads(rig: Rig) -> list[dict[str, Any]]:
    return [r.payload for r in sorted(rig.store.outbox_rows(), key=lambda r: r.id)]


async def test_payload_carries_the_incident_and_a_personal_ack_link(rig: Rig) -> None:
    rig.flush(_alert())
    [payload] = _payloads(rig)
    incident = payload["incident"]
    assert incident["id"] == 1 and incident["level"] == 1 and incident["priority"] == "P1"
    assert incident["user"] == "bob"
    assert incident["ack_url"].startswith("http://127.0.0.1:9099/ack/")
    assert payload["version"] == "4" and payload["alerts"][0]["status"] == "firing"


async def test_priority_picks_the_policy(rig: Rig) -> None:
    chat = EscalationPolicyConfig.model_validate(
        {"levels": [{"targets": [{"receiver": "team"}], "timeout": "1h"}]}
    )
    critical = EscalationPolicyConfig.model_validate({**POLICY, "by_priority": {"P3": "chat"}})
    manager = rig.manager
    policies = {"critical": critical, "chat": chat}
    manager.configure(policies, manager.directory, external_url="http://127.0.0.1:9099")
    rig.flush(_alert(severity="warning"))
    [incident] = manager.list()
    assert (incident["policy"], incident["priority"]) == ("chat", "P3")
    assert rig.pages() == [("team", "webhook", 1)]


async def test_a_hand_resolved_incident_stays_closed_until_something_new_fires(rig: Rig) -> None:
    disk = _alert()
    rig.flush(disk)
    [incident] = rig.manager.list()
    rig.manager.resolve(incident["id"], by="alice", via="api")
    rig.at(5)
    rig.flush(disk)  # the same alert still fires at the next group flush: no new incident
    assert [i["state"] for i in rig.manager.list()] == ["resolved"]
    other = _alert(device="sdb")
    rig.flush(disk, other)  # a new alert in the group opens a new incident
    assert [i["state"] for i in rig.manager.list()] == ["triggered", "resolved"]
    rig.manager.resolve(rig.manager.list()[0]["id"], by="alice", via="api")
    rig.flush(firing=set())  # both stop firing...
    rig.flush(disk)  # ...so the next firing is news again
    assert [i["state"] for i in rig.manager.list()] == ["triggered", "resolved", "resolved"]
