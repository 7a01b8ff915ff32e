"""Statistics, rendering, DST-correct report times, and the report scheduler on a real store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from promalert.clock import FakeClock
from promalert.config.reports import ReportConfig
from promalert.escalation.reports import (
    ReportScheduler,
    next_run,
    previous_run,
    render_report,
    report_payload,
    report_period,
)
from promalert.escalation.stats import compute_stats
from promalert.store.incidents import IncidentEvent, IncidentRecord
from promalert.store.sqlite import Store

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # 09:00 in Berlin


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def incident(
    id: int,
    *,
    created: float,
    policy: str = "critical",
    priority: str = "P1",
    status: str = "resolved",
    acked: float | None = None,
    resolved: float | None = None,
    sla: dict[str, float | None] | None = None,
    alertnames: tuple[str, ...] = ("HighCPU",),
) -> IncidentRecord:
    """An incident record; times are minutes after T0."""
    return IncidentRecord(
        id=id,
        policy=policy,
        group_key=f'{{}}:{{id="{id}"}}',
        group_labels={"id": str(id)},
        priority=priority,
        status=status,
        state={"sla": sla or {"ack": None, "resolve": None}},
        alerts=[
            {"labels": {"alertname": name, "n": str(n)}, "fingerprint": f"{id}-{n}"}
            for n, name in enumerate(alertnames)
        ],
        created_at=at(created),
        updated_at=at(created),
        first_ack_at=None if acked is None else at(acked),
        resolved_at=None if resolved is None else at(resolved),
    )


def notified(incident_id: int, minute: float, *targets: dict[str, str]) -> IncidentEvent:
    detail = {"level": 1, "passes": 0, "reason": "opened", "targets": list(targets)}
    return IncidentEvent(incident_id, at(minute), "notified", detail=detail)


def breach(incident_id: int, minute: float, kind: str) -> IncidentEvent:
    return IncidentEvent(incident_id, at(minute), "sla_breach", detail={"sla": kind})


SLA = {"ack": 300.0, "resolve": 3600.0}
DAY = 24 * 60

INCIDENTS = [
    # Acked in 2m, resolved in 30m: both targets met.
    incident(1, created=0, acked=2, resolved=30, sla=SLA, alertnames=("HighCPU", "HighCPU")),
    # Acked in 10m, resolved in 2h: both breached (the ack breach also has its event).
    incident(2, created=60, acked=70, resolved=180, sla=SLA, alertnames=("DiskFull",)),
    # Auto-resolved in 4m without an ack: resolving stops the ack clock, so both are met.
    incident(3, created=120, policy="default", priority="P3", resolved=124, sla=SLA),
    # Open for 4h without an ack: the ack target is breached by the record alone.
    incident(
        4,
        created=DAY - 240,
        policy="default",
        priority="P3",
        status="triggered",
        sla={"ack": 300.0, "resolve": None},
        alertnames=("HighCPU", "Latency"),
    ),
    # Acked in 2m, open for 10m of its 1h resolve target: resolve is pending.
    incident(
        5,
        created=DAY - 10,
        priority="P2",
        status="acknowledged",
        acked=DAY - 8,
        sla=SLA,
        alertnames=("DiskFull",),
    ),
]

EVENTS = [
    notified(0, 1, {"user": "carol", "channel": "email"}),  # an incident from before the window
    notified(1, 0, {"user": "alice", "channel": "email"}, {"user": "alice", "channel": "sms"}),
    notified(2, 60, {"user": "alice", "channel": "email"}),
    notified(2, 65, {"user": "bob", "channel": "voice"}, {"receiver": "team", "channel": "slack"}),
    breach(2, 65, "ack"),
    breach(2, 120, "resolve"),
    notified(4, DAY - 240, {"user": "bob", "channel": "email"}),
    IncidentEvent(1, at(2), "acknowledged", by="alice", via="api"),
]


def test_stats_counts_times_and_sla() -> None:
    stats = compute_stats(INCIDENTS, iter(EVENTS), T0, at(DAY))
    assert stats["start"] == "2026-01-05T08:00:00Z"
    assert stats["end"] == "2026-01-06T08:00:00Z"
    assert stats["incidents"] == 5
    assert stats["by_priority"] == {"P1": 2, "P2": 1, "P3": 2, "P4": 0, "P5": 0}
    assert stats["by_status"] == {"triggered": 1, "acknowledged": 1, "resolved": 3}
    # Acks after 120, 600 and 120 s; resolves after 1800, 7200 and 240 s.
    assert stats["mtta_seconds"] == {"mean": 280.0, "median": 120.0, "count": 3}
    assert stats["mttr_seconds"] == {"mean": 3080.0, "median": 1800.0, "count": 3}
    assert stats["sla"] == {
        "ack": {"targeted": 5, "met": 3, "breached": 2, "pending": 0, "compliance": 0.6},
        "resolve": {"targeted": 4, "met": 2, "breached": 1, "pending": 1, "compliance": 0.6667},
    }
    assert stats["sla_breach_events"] == {"ack": 1, "resolve": 1}


def test_stats_noisiest_rules_and_pages() -> None:
    stats = compute_stats(INCIDENTS, EVENTS, T0, at(DAY))
    assert stats["noisiest_rules"] == {
        "by_incidents": [
            {"alertname": "HighCPU", "incidents": 3},
            {"alertname": "DiskFull", "incidents": 2},
            {"alertname": "Latency", "incidents": 1},
        ],
        "by_alerts": [
            {"alertname": "HighCPU", "alerts": 4},
            {"alertname": "DiskFull", "alerts": 2},
            {"alertname": "Latency", "alerts": 1},
        ],
    }
    assert stats["paged"] == {
        "users": [
            {"user": "alice", "pages": 3, "channels": {"email": 2, "sms": 1}},
            {"user": "bob", "pages": 2, "channels": {"email": 1, "voice": 1}},
            {"user": "carol", "pages": 1, "channels": {"email": 1}},
        ],
        "receivers": [{"receiver": "team", "pages": 1}],
        "channels": {"email": 4, "slack": 1, "sms": 1, "voice": 1},
    }


def test_stats_per_policy() -> None:
    policies = compute_stats(INCIDENTS, EVENTS, T0, at(DAY))["policies"]
    assert list(policies) == ["critical", "default"]
    critical, default = policies["critical"], policies["default"]
    assert critical["incidents"] == 3
    assert critical["by_priority"] == {"P1": 2, "P2": 1, "P3": 0, "P4": 0, "P5": 0}
    assert critical["mtta_seconds"] == {"mean": 280.0, "median": 120.0, "count": 3}
    assert critical["mttr_seconds"] == {"mean": 4500.0, "median": 4500.0, "count": 2}
    assert critical["sla"]["ack"]["compliance"] == 0.6667
    assert default["incidents"] == 2
    assert default["mttr_seconds"] == {"mean": 240.0, "median": 240.0, "count": 1}
    assert default["sla"]["ack"] == {
        "targeted": 2,
        "met": 1,
        "breached": 1,
        "pending": 0,
        "compliance": 0.5,
    }


def test_stats_open_incident_judged_at_now() -> None:
    early = compute_stats(INCIDENTS[3:4], [], T0, at(DAY), now=at(DAY - 239))
    assert early["sla"]["ack"] == {
        "targeted": 1,
        "met": 0,
        "breached": 0,
        "pending": 1,
        "compliance": None,
    }


def test_sla_target_reached_exactly_is_a_breach() -> None:
    # The policy fires the breach when its due time is reached, so an ack at it is late.
    record = incident(1, created=0, acked=5, resolved=6, sla=SLA)
    assert compute_stats([record], [], T0, at(DAY))["sla"]["ack"]["breached"] == 1


def test_stats_of_nothing() -> None:
    stats = compute_stats([], [], T0, at(DAY))
    assert stats["incidents"] == 0
    assert stats["mtta_seconds"] == {"mean": None, "median": None, "count": 0}
    assert stats["sla"]["resolve"]["compliance"] is None
    assert stats["noisiest_rules"] == {"by_incidents": [], "by_alerts": []}
    assert stats["policies"] == {}


def test_render_report() -> None:
    stats = compute_stats(INCIDENTS, EVENTS, T0, at(DAY))
    summary, text = render_report("ops-daily", stats, T0, at(DAY), "Europe/Berlin")
    assert summary == (
        "Report ops-daily, 2026-01-05 09:00 CET to 2026-01-06 09:00 CET: 5 incidents, "
        "MTTA 4m40s, MTTR 51m20s, SLA ack 60%, resolve 67%"
    )
    lines = text.splitlines()
    assert lines[0] == "promalert report 'ops-daily'"
    assert (
        "Incidents: 5 (P1 2, P2 1, P3 2, P4 0, P5 0); now triggered 1, acknowledged 1, "
        "resolved 3" in lines
    )
    assert "MTTA: mean 4m40s, median 2m (3 acked)" in lines
    assert "SLA resolve: 67% met (2 met, 1 breached, 1 pending, of 4 with a target)" in lines
    assert "Noisiest rules by incidents: HighCPU 3, DiskFull 2, Latency 1" in lines
    assert "Paged: alice 3 (email 2, sms 1); bob 2 (email 1, voice 1); carol 1 (email 1)" in lines
    assert "Receivers notified: team 1" in lines
    assert "  default: 2 incidents, MTTA -, MTTR 4m, SLA ack 50%, resolve 100%" in lines


# --- schedule ---------------------------------------------------------------------------


def report(**extra: Any) -> ReportConfig:
    return ReportConfig.model_validate(
        {"name": "ops", "receiver": "team", "timezone": "Europe/Berlin", **extra}
    )


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_daily_run_follows_local_time_across_dst() -> None:
    daily = report(at="09:00")
    # Saturday 09:00 CET is 08:00 UTC; on Sunday summer time has begun: 09:00 CEST = 07:00.
    assert next_run(daily, utc(2026, 3, 28, 7, 0)) == utc(2026, 3, 28, 8, 0)
    assert next_run(daily, utc(2026, 3, 28, 8, 0)) == utc(2026, 3, 29, 7, 0)
    assert report_period(daily, utc(2026, 3, 29, 7, 0)) == (
        utc(2026, 3, 28, 8),
        utc(2026, 3, 29, 7),
    )
    # Back to winter time on 25 October: that day's period is 25 hours long.
    assert next_run(daily, utc(2026, 10, 24, 7, 0)) == utc(2026, 10, 25, 8, 0)
    start, end = report_period(daily, utc(2026, 10, 25, 8, 0))
    assert end - start == timedelta(hours=25)


def test_wall_time_in_the_gap_and_in_the_repeated_hour() -> None:
    night = report(at="02:30")
    # 02:30 does not exist on 29 March: the report goes at 03:30 CEST, once.
    assert next_run(night, utc(2026, 3, 28, 2, 0)) == utc(2026, 3, 29, 1, 30)
    assert next_run(night, utc(2026, 3, 29, 1, 30)) == utc(2026, 3, 30, 0, 30)
    # 02:30 happens twice on 25 October: only the first (CEST) counts.
    assert next_run(night, utc(2026, 10, 24, 12, 0)) == utc(2026, 10, 25, 0, 30)
    assert next_run(night, utc(2026, 10, 25, 0, 30)) == utc(2026, 10, 26, 1, 30)
    assert previous_run(night, utc(2026, 10, 25, 1, 45)) == utc(2026, 10, 25, 0, 30)


def test_weekly_run_on_its_weekday() -> None:
    weekly = report(every="weekly", weekday="monday", at="09:00")
    # Wednesday 25 March; the next Monday is 30 March, in summer time.
    assert next_run(weekly, utc(2026, 3, 25, 12, 0)) == utc(2026, 3, 30, 7, 0)
    start, end = report_period(weekly, utc(2026, 3, 30, 7, 0))
    assert start == utc(2026, 3, 23, 8, 0)
    assert end - start == timedelta(days=7, hours=-1)


def test_new_york_runs() -> None:
    daily = report(at="09:00", timezone="America/New_York")
    # US summer time starts 8 March 2026: 09:00 EST = 14:00 UTC, 09:00 EDT = 13:00 UTC.
    assert next_run(daily, utc(2026, 3, 7, 14, 0)) == utc(2026, 3, 8, 13, 0)


def test_report_payload() -> None:
    stats = compute_stats(INCIDENTS, EVENTS, T0, at(DAY))
    payload = report_payload(
        report(), stats, T0, at(DAY), external_url="http://pa.example:9099", now=at(DAY + 1)
    )
    assert payload["version"] == "4"
    assert payload["status"] == "firing"
    assert payload["receiver"] == "team"
    assert payload["groupKey"] == "report:ops"
    [alert] = payload["alerts"]
    assert alert["labels"] == {"alertname": "PromalertReport", "report": "ops", "severity": "info"}
    assert alert["annotations"]["summary"].startswith("Report ops, 2026-01-05 09:00 CET")
    assert alert["annotations"]["description"].startswith("promalert report 'ops'")
    assert alert["generatorURL"] == (
        "http://pa.example:9099/api/v1/stats?"
        "start=2026-01-05T08%3A00%3A00Z&end=2026-01-06T08%3A00%3A00Z"
    )
    assert payload["report"]["stats"] == stats
    assert payload["report"]["start"] == "2026-01-05T08:00:00Z"


# --- scheduler --------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(tmp_path / "promalert.db")
    yield opened
    opened.close()


class Outbox:
    """The integrations of receiver ``team`` and a count of outbox wake-ups."""

    def __init__(self) -> None:
        self.wakes = 0

    def integrations(self, receiver: str) -> list[tuple[int, str]]:
        return [(0, "webhook"), (1, "email")] if receiver == "team" else []

    def wake(self) -> None:
        self.wakes += 1


def scheduler(store: Store, clock: FakeClock, outbox: Outbox) -> ReportScheduler:
    return ReportScheduler(
        [report(at="09:00")], store, clock, outbox.integrations, "http://pa:9099", outbox.wake
    )


def sent(store: Store) -> list[tuple[str, str, str]]:
    """(channel, period start, period end) of every queued report, oldest first."""
    rows = sorted(store.outbox_rows(), key=lambda r: r.id)
    return [(r.channel, r.payload["report"]["start"], r.payload["report"]["end"]) for r in rows]


def test_scheduler_sends_one_report_per_period(store: Store) -> None:
    store.write_incidents(INCIDENTS, EVENTS)
    clock, outbox = FakeClock(at(-60)), Outbox()
    reports = scheduler(store, clock, outbox)
    # First start: nothing is owed for the periods before it.
    assert reports.send_due(clock.now()) == []
    assert reports.next_due() == T0
    assert reports.send_due(clock.advance(3599)) == []
    assert reports.send_due(clock.advance(1)) == ["ops"]
    assert reports.send_due(clock.advance(60)) == []
    assert sent(store) == [
        ("webhook", "2026-01-04T08:00:00Z", "2026-01-05T08:00:00Z"),
        ("email", "2026-01-04T08:00:00Z", "2026-01-05T08:00:00Z"),
    ]
    assert outbox.wakes == 1
    clock.advance(DAY * 60)
    assert reports.send_due(clock.now()) == ["ops"]
    row = max(store.outbox_rows(), key=lambda r: r.id)
    assert (row.receiver, row.channel, row.integration) == ("team", "email", 1)
    assert row.payload["report"]["stats"]["incidents"] == 5
    assert row.payload["report"]["stats"]["paged"]["users"][0]["user"] == "alice"


def test_scheduler_restart_neither_repeats_nor_skips(store: Store) -> None:
    clock = FakeClock(at(-60))
    scheduler(store, clock, Outbox()).send_due(clock.now())
    clock.advance(90 * 60)  # 09:30 Berlin: the 09:00 report went out before the restart
    assert scheduler(store, clock, Outbox()).send_due(clock.now()) == ["ops"]
    assert scheduler(store, clock, Outbox()).send_due(clock.now()) == []
    # Down from 09:30 until 11:00 the next day: the missed report goes out at start-up.
    clock.advance((DAY + 90) * 60)
    assert scheduler(store, clock, Outbox()).send_due(clock.now()) == ["ops"]
    assert [s[1:] for s in sent(store)][::2] == [
        ("2026-01-04T08:00:00Z", "2026-01-05T08:00:00Z"),
        ("2026-01-05T08:00:00Z", "2026-01-06T08:00:00Z"),
    ]
    # Down for three days: only the latest period is reported.
    clock.advance(3 * DAY * 60)
    assert scheduler(store, clock, Outbox()).send_due(clock.now()) == ["ops"]
    assert sent(store)[-1][1:] == ("2026-01-08T08:00:00Z", "2026-01-09T08:00:00Z")
    assert len(sent(store)) == 6


class _Stop(Exception):
    pass


class StoppingClock(FakeClock):
    """A fake clock that records each sleep and stops the loop once past ``until``."""

    def __init__(self, start: datetime, until: datetime) -> None:
        super().__init__(start)
        self.until = until

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds)
        if self.now() > self.until:
            raise _Stop


async def test_run_sends_at_the_scheduled_times(store: Store) -> None:
    clock, outbox = StoppingClock(at(-60), until=at(2 * DAY + 30)), Outbox()
    with pytest.raises(_Stop):
        await scheduler(store, clock, outbox).run()
    rows = sorted(store.outbox_rows(), key=lambda r: r.id)
    assert [r.created_at for r in rows] == [
        at(0),
        at(0),
        at(DAY),
        at(DAY),
        at(2 * DAY),
        at(2 * DAY),
    ]
    assert outbox.wakes == 3


async def test_run_without_reports_returns(store: Store, clock: FakeClock) -> None:
    outbox = Outbox()
    await ReportScheduler([], store, clock, outbox.integrations, "", outbox.wake).run()
    assert store.outbox_rows() == []
