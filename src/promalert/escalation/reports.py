"""The daily and weekly reports (SPEC §4 ``reports``) of :mod:`promalert.escalation.stats`.

:class:`ReportScheduler` sends a report of the last period at each configured local time:
one Alertmanager v4 payload per integration of the receiver, written to the outbox, so
every channel shows it with its default template. The end of the last period sent is
kept in the store (kv ``report:<name>``), so a restart neither repeats a report nor, when
down for less than a period, skips one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, get_args
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from promalert.clock import Clock
from promalert.config.reports import ReportConfig, Weekday
from promalert.durations import format_duration
from promalert.errors import StoreError
from promalert.escalation.stats import SLA_KINDS, compute_stats
from promalert.model import Alert, Labels
from promalert.notify.payload import build_payload, format_time
from promalert.store.records import NewNotification
from promalert.store.sqlite import Store

log = logging.getLogger(__name__)

_WEEKDAYS: tuple[Weekday, ...] = get_args(Weekday)
# Re-check the schedule at least this often, so a wall-clock jump is noticed.
_MAX_SLEEP = 300.0
_RETRY_AFTER_ERROR = 60.0


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else format_duration(round(seconds))


def _share(sla: Mapping[str, Any]) -> str:
    share = sla["compliance"]
    return "-" if share is None else f"{share * 100:.0f}%"


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _times(block: Mapping[str, Any]) -> str:
    mtta, mttr = block["mtta_seconds"], block["mttr_seconds"]
    sla = block["sla"]
    return (
        f"MTTA {_duration(mtta['mean'])}, MTTR {_duration(mttr['mean'])}, "
        f"SLA ack {_share(sla['ack'])}, resolve {_share(sla['resolve'])}"
    )


def render_report(
    name: str, stats: Mapping[str, Any], start: datetime, end: datetime, tz: str
) -> tuple[str, str]:
    """The report as (one summary line, full plain text), times shown in zone ``tz``."""
    zone = ZoneInfo(tz)
    period = f"{_local(start, zone)} to {_local(end, zone)}"
    summary = f"Report {name}, {period}: {stats['incidents']} incidents, {_times(stats)}"
    by_priority = ", ".join(f"{p} {n}" for p, n in stats["by_priority"].items())
    by_status = ", ".join(f"{s} {n}" for s, n in stats["by_status"].items())
    lines = [
        f"promalert report {name!r}",
        f"Period: {period}",
        f"Incidents: {stats['incidents']} ({by_priority}); now {by_status}",
    ]
    for key, label, done in (
        ("mtta_seconds", "MTTA", "acked"),
        ("mttr_seconds", "MTTR", "resolved"),
    ):
        t = stats[key]
        lines.append(
            f"{label}: mean {_duration(t['mean'])}, median {_duration(t['median'])} "
            f"({t['count']} {done})"
        )
    for kind in SLA_KINDS:
        s = stats["sla"][kind]
        lines.append(
            f"SLA {kind}: {_share(s)} met ({s['met']} met, {s['breached']} breached, "
            f"{s['pending']} pending, of {s['targeted']} with a target)"
        )
    noisy = stats["noisiest_rules"]
    for key, unit in (("by_incidents", "incidents"), ("by_alerts", "alerts")):
        ranked = ", ".join(f"{r['alertname'] or '(none)'} {r[unit]}" for r in noisy[key])
        lines.append(f"Noisiest rules by {unit}: {ranked or '-'}")
    paged = stats["paged"]
    people = "; ".join(
        f"{u['user']} {u['pages']} ("
        + ", ".join(f"{c or '?'} {n}" for c, n in u["channels"].items())
        + ")"
        for u in paged["users"]
    )
    lines.append(f"Paged: {people or '-'}")
    teams = ", ".join(f"{r['receiver']} {r['pages']}" for r in paged["receivers"])
    lines.append(f"Receivers notified: {teams or '-'}")
    if stats["policies"]:
        lines.append("By policy:")
        for policy, block in stats["policies"].items():
            lines.append(f"  {policy}: {block['incidents']} incidents, {_times(block)}")
    return summary, "\n".join(lines)


# --- schedule ---------------------------------------------------------------------------


def _runs(config: ReportConfig, around: datetime) -> list[datetime]:
    """Every scheduled instant (UTC) within about nine days either side of ``around``.

    Each local date yields one instant: a wall time that does not exist (spring forward)
    is taken with the offset before the change, i.e. moved forward by the gap; one that
    exists twice (fall back) is its first occurrence.
    """
    zone = ZoneInfo(config.timezone)
    hour, minute = (int(part) for part in config.at.split(":"))
    day = around.astimezone(zone).date()
    weekday = _WEEKDAYS.index(config.weekday)
    out = []
    for offset in range(-9, 10):
        local: date = day + timedelta(days=offset)
        if config.every == "weekly" and local.weekday() != weekday:
            continue
        out.append(datetime.combine(local, time(hour, minute), tzinfo=zone).astimezone(UTC))
    return out


def next_run(config: ReportConfig, after: datetime) -> datetime:
    """The first scheduled report time strictly after ``after`` (UTC)."""
    return min(r for r in _runs(config, after) if r > after)


def previous_run(config: ReportConfig, at: datetime) -> datetime:
    """The last scheduled report time at or before ``at`` (UTC)."""
    return max(r for r in _runs(config, at) if r <= at)


def report_period(config: ReportConfig, end: datetime) -> tuple[datetime, datetime]:
    """The period a report sent at scheduled time ``end`` covers: since the run before it."""
    return previous_run(config, end - timedelta(microseconds=1)), end


# --- payload and scheduler --------------------------------------------------------------


def report_payload(
    config: ReportConfig,
    stats: Mapping[str, Any],
    start: datetime,
    end: datetime,
    *,
    external_url: str,
    now: datetime,
) -> dict[str, Any]:
    """A v4 payload with one ``PromalertReport`` alert and the structured ``report``."""
    summary, text = render_report(config.name, stats, start, end, config.timezone)
    query = urlencode({"start": format_time(start), "end": format_time(end)})
    alert = Alert(
        labels=Labels({"alertname": "PromalertReport", "report": config.name, "severity": "info"}),
        annotations=Labels({"summary": summary, "description": text}),
        starts_at=now,
        generator_url=f"{external_url.rstrip('/')}/api/v1/stats?{query}",
        updated_at=now,
    )
    payload = build_payload(
        receiver=config.receiver,
        group_key=f"report:{config.name}",
        group_labels={"report": config.name},
        alerts=[alert],
        external_url=external_url,
        now=now,
    )
    payload["report"] = {
        "name": config.name,
        "every": config.every,
        "timezone": config.timezone,
        "start": format_time(start),
        "end": format_time(end),
        "stats": dict(stats),
    }
    return payload


def _kv_key(config: ReportConfig) -> str:
    return f"report:{config.name}"


class ReportScheduler:
    """Sends each configured report at its time; also answers statistics for the API."""

    def __init__(
        self,
        configs: Sequence[ReportConfig],
        store: Store,
        clock: Clock,
        integrations: Callable[[str], Sequence[tuple[int, str]]],
        external_url: str,
        on_outbox: Callable[[], None],
    ) -> None:
        """``integrations(receiver)`` lists the receiver's (integration index, channel)."""
        self.configs = list(configs)
        self.store = store
        self.clock = clock
        self.integrations = integrations
        self.external_url = external_url
        self.on_outbox = on_outbox

    def stats(self, start: datetime, end: datetime) -> dict[str, Any]:
        """Statistics of [start, end), open incidents judged as of now."""
        incidents = self.store.incidents_between(start, end)
        events = self.store.events_between(start, end)
        return compute_stats(incidents, events, start, end, now=self.clock.now())

    def _last_sent(self, config: ReportConfig, now: datetime) -> datetime:
        """End of the last period sent; on first sight, the last scheduled time (no report
        is owed for periods before promalert first ran this report)."""
        text = self.store.get_kv(_kv_key(config))
        if text is not None:
            try:
                return datetime.fromisoformat(text)
            except ValueError:
                log.warning(
                    "report %s: unreadable last period %r, starting afresh", config.name, text
                )
        baseline = previous_run(config, now)
        self.store.set_kv(_kv_key(config), baseline.isoformat())
        return baseline

    def send_due(self, now: datetime) -> list[str]:
        """Queue every report whose time has come; return the names of those queued.

        After downtime only the latest missed period of a report is sent.
        """
        sent = []
        for config in self.configs:
            last = self._last_sent(config, now)
            end = previous_run(config, now)
            if end <= last:
                continue
            if next_run(config, last) < end:
                log.warning("report %s: periods before %s were missed while down", config.name, end)
            start, end = report_period(config, end)
            self._queue(config, start, end, now)
            # Written after the outbox rows: a crash in between repeats a report, never loses it.
            self.store.set_kv(_kv_key(config), end.isoformat())
            sent.append(config.name)
        if sent:
            self.on_outbox()
        return sent

    def _queue(self, config: ReportConfig, start: datetime, end: datetime, now: datetime) -> None:
        targets = self.integrations(config.receiver)
        if not targets:
            log.error("report %s: receiver %r has no integrations", config.name, config.receiver)
            return
        payload = report_payload(
            config, self.stats(start, end), start, end, external_url=self.external_url, now=now
        )
        self.store.queue_notifications(
            [
                NewNotification(
                    receiver=config.receiver,
                    channel=channel,
                    integration=index,
                    group_key=f"report:{config.name}",
                    payload=payload,
                    created_at=now,
                )
                for index, channel in targets
            ]
        )

    def next_due(self) -> datetime | None:
        """When the next report of any config is due; None without reports."""
        now = self.clock.now()
        return min((next_run(c, self._last_sent(c, now)) for c in self.configs), default=None)

    async def run(self) -> None:
        """Send reports at their times until cancelled."""
        while self.configs:
            try:
                self.send_due(self.clock.now())
                due = self.next_due()
            except StoreError as exc:
                log.error("reports: %s; retrying in %.0fs", exc, _RETRY_AFTER_ERROR)
                await self.clock.sleep(_RETRY_AFTER_ERROR)
                continue
            assert due is not None
            wait = (due - self.clock.now()).total_seconds()
            # At least a moment: a timer may fire a hair early and find nothing due yet.
            await self.clock.sleep(min(max(wait, 0.01), _MAX_SLEEP))
