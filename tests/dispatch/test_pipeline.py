"""The flush pipeline in Alertmanager's order, driven through a real dispatcher and store:
nested routes, inhibition, time intervals, silences, then promalert's opt-in noise control
and priority channel selection."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from promalert.clock import FakeClock
from promalert.config.matchers import parse_matchers
from promalert.config.models import Config
from promalert.dispatch.flush import Policy
from promalert.dispatch.group import Dispatcher
from promalert.dispatch.silence import Silence, Silences
from promalert.metrics import Metrics
from promalert.model import Alert, Labels
from promalert.notify.base import Notifier
from promalert.store import Store

START = FakeClock().now()  # Monday 2026-01-05 09:00 UTC


def config(extra: dict[str, Any], route: dict[str, Any] | None = None) -> Config:
    data: dict[str, Any] = {
        "route": {
            "receiver": "team",
            "group_by": ["alertname"],
            "group_wait": "10s",
            "group_interval": "1m",
            "repeat_interval": "1h",
            **(route or {}),
        },
        "receivers": [{"name": n} for n in ("team", "db", "web")],
        **extra,
    }
    return Config.model_validate(data)


class Pipe:
    """A dispatcher for a config, on a real store and a fake clock."""

    def __init__(
        self,
        store: Store,
        clock: FakeClock,
        declared: type,
        cfg: Config,
        notifiers: dict[tuple[str, int], Notifier] | None = None,
    ) -> None:
        self.store, self.clock, self.metrics = store, clock, Metrics()
        self.silences = Silences(store, clock)
        self.dispatcher = Dispatcher(
            cfg.route,
            notifiers or {(r, 0): declared() for r in ("team", "db", "web")},
            store,
            clock,
            self.metrics,
            external_url="http://x",
            policy=Policy.from_config(cfg),
            silences=self.silences,
        )
        self.seen = 0

    def put(self, name: str, *, at: float = 0, ends: float | None = None, **labels: str) -> Alert:
        alert = Alert(
            Labels({"alertname": name, **labels}),
            starts_at=START + timedelta(seconds=at),
            ends_at=None if ends is None else START + timedelta(seconds=ends),
            updated_at=self.clock.now(),
        )
        self.dispatcher.insert(alert)
        return alert

    async def at(self, seconds: float) -> list[tuple[str, str, list[tuple[str, str]]]]:
        """(receiver, channel, [(alertname/instance, status)]) of what was queued by then."""
        self.clock.advance(seconds - (self.clock.now() - START).total_seconds())
        await self.dispatcher.run_due()
        rows = sorted(self.store.outbox_rows(), key=lambda r: r.id)[self.seen :]
        self.seen += len(rows)
        return [
            (
                r.receiver,
                r.channel,
                [
                    (a["labels"]["alertname"] + a["labels"].get("instance", ""), a["status"])
                    for a in r.payload["alerts"]
                ],
            )
            for r in rows
        ]

    def suppressed(self, reason: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "promalert_alerts_suppressed_total", {"reason": reason}
        )
        return value or 0.0


@pytest.fixture
def make(store: Store, clock: FakeClock, declared: type) -> Any:
    def build(cfg: Config, notifiers: dict[tuple[str, int], Notifier] | None = None) -> Pipe:
        return Pipe(store, clock, declared, cfg, notifiers)

    return build


async def test_continue_sends_one_alert_to_two_receivers(make: Any) -> None:
    routes = [{"match": {"team": "db"}, "receiver": "db", "continue": True}, {"receiver": "team"}]
    p = make(config({}, {"routes": routes}))
    p.put("Disk", team="db")
    assert await p.at(10) == [
        ("db", "webhook", [("Disk", "firing")]),
        ("team", "webhook", [("Disk", "firing")]),
    ]
    keys = {g.group_key for g in p.dispatcher.groups()}
    assert keys == {'{}/{team="db"}:{alertname="Disk"}', '{}/{}:{alertname="Disk"}'}


async def test_inhibited_alert_is_left_out_until_its_source_resolves(make: Any) -> None:
    rule = {"source_matchers": ["severity=critical"], "target_matchers": ["severity=warning"]}
    p = make(config({"inhibit_rules": [rule]}, {"group_by": ["instance"]}))
    p.put("Down", severity="critical", instance="a")
    p.put("Slow", severity="warning", instance="b")
    assert await p.at(10) == [("team", "webhook", [("Downa", "firing")])]
    assert p.suppressed("inhibited") == 1
    status = p.dispatcher.status({"severity": "warning"}, p.clock.now())
    assert status.state == "suppressed" and len(status.inhibited_by) == 1
    p.put("Down", severity="critical", instance="a", ends=20)
    assert sorted(await p.at(70)) == [
        ("team", "webhook", [("Downa", "resolved")]),
        ("team", "webhook", [("Slowb", "firing")]),
    ]


async def test_silence_mutes_matching_alerts_only_while_active(make: Any) -> None:
    p = make(config({}))
    now = p.clock.now()
    sid = p.silences.set(
        Silence(tuple(parse_matchers("instance=a")), now, now + timedelta(seconds=65), "me", "x")
    )
    p.put("Cpu", instance="a")
    p.put("Cpu", instance="b")
    assert await p.at(10) == [("team", "webhook", [("Cpub", "firing")])]
    assert p.dispatcher.status({"instance": "a"}, p.clock.now()).silenced_by == (sid,)
    assert await p.at(70) == [("team", "webhook", [("Cpua", "firing"), ("Cpub", "firing")])]


async def test_mute_and_active_time_intervals(make: Any) -> None:
    intervals = [
        {
            "name": "morning",
            "time_intervals": [{"times": [{"start_time": "09:00", "end_time": "09:01"}]}],
        },
        {"name": "weekend", "time_intervals": [{"weekdays": ["saturday", "sunday"]}]},
    ]
    routes = [
        {"match": {"team": "db"}, "receiver": "db", "mute_time_intervals": ["morning"]},
        {"match": {"team": "web"}, "receiver": "web", "active_time_intervals": ["weekend"]},
    ]
    p = make(config({"time_intervals": intervals}, {"routes": routes}))
    p.put("Disk", team="db")
    p.put("Http", team="web")
    assert await p.at(10) == []  # 09:00:10 is muted for db; Monday is not active for web
    assert p.suppressed("muted") == 2
    # 09:01:10: db is no longer muted and hears about its alert; web still waits.
    assert await p.at(70) == [("db", "webhook", [("Disk", "firing")])]


async def test_flapping_alert_is_held_then_released_when_stable(make: Any) -> None:
    p = make(config({}, {"flapping": {"changes": 2, "window": "10m", "stable_for": "3m"}}))
    p.put("Flap")
    assert len(await p.at(10)) == 1
    for second, firing in ((11, False), (12, True), (13, False)):  # the third change flaps
        p.clock.advance(1)
        p.put("Flap", at=second, ends=None if firing else second)
    assert p.metrics.registry.get_sample_value("promalert_flapping_detected_total") == 1
    assert await p.at(70) == []
    assert await p.at(130) == []
    assert await p.at(190) == []  # 09:03:10: not yet 3 minutes since the last change
    assert p.suppressed("flapping") == 3
    # Resolved and stable for 3 minutes since 09:00:13: released, and its resolve goes out.
    assert await p.at(250) == [("team", "webhook", [("Flap", "resolved")])]


async def test_storm_collapses_into_one_summary_then_resumes(make: Any) -> None:
    p = make(config({}, {"group_by": [], "storm": {"threshold": 3, "window": "1m", "sample": 2}}))
    for i in range(5):
        p.put("Storm", instance=str(i))
    ((_, _, summary),) = await p.at(10)
    assert summary == [("Storm0", "firing"), ("Storm1", "firing")]
    payload = p.store.outbox_rows()[0].payload
    assert payload["truncatedAlerts"] == 3
    for i in range(5, 9):
        p.clock.advance(5)
        p.put("Storm", at=p_seconds(p), instance=str(i))
    assert await p.at(70) == []  # still storming: collapsed
    assert p.suppressed("storm") == 9
    ((_, _, after),) = await p.at(190)  # the storm is over: everything new is told
    assert len(after) == 9


def p_seconds(p: Pipe) -> float:
    return (p.clock.now() - START).total_seconds()


async def test_priorities_choose_channels(make: Any, declared: type) -> None:
    notifiers = {
        ("team", 0): declared("slack"),
        ("team", 1): declared("email"),
        ("team", 2): declared("pagerduty"),
        ("team", 3): declared("sms"),
    }
    p = make(config({"priorities": {}}, {"group_by": ["alertname"]}), notifiers)
    p.put("Low", severity="low")
    p.put("Warn", severity="warning")
    p.put("High", severity="high")
    p.put("Crit", severity="critical")
    sent = await p.at(10)
    by_alert: dict[str, list[str]] = {}
    for _, channel, alerts in sent:
        by_alert.setdefault(alerts[0][0], []).append(channel)
    assert by_alert == {
        "Low": ["slack"],
        "Warn": ["slack", "email"],
        "High": ["slack", "email", "pagerduty"],
        "Crit": ["slack", "email", "pagerduty", "sms"],
    }


async def test_an_integration_told_of_a_firing_group_hears_its_resolve(
    make: Any, declared: type
) -> None:
    notifiers = {("team", 0): declared("slack"), ("team", 1): declared("pagerduty")}
    p = make(config({"priorities": {}}, {"group_by": ["alertname"]}), notifiers)
    p.put("Db", severity="high", instance="1")
    assert [c for _, c, _ in await p.at(10)] == ["slack", "pagerduty"]
    p.put("Db", severity="high", instance="1", ends=30)
    p.put("Db", severity="low", instance="2")
    # The group is now P4 (slack only) but pagerduty was told of a firing alert.
    assert [c for _, c, _ in await p.at(70)] == ["slack", "pagerduty"]


async def test_per_receiver_priority_map(make: Any, declared: type) -> None:
    notifiers = {("team", 0): declared("slack"), ("team", 1): declared("email")}
    prio = {"receivers": {"team": {"P1": ["email"]}}}
    p = make(config({"priorities": prio}), notifiers)
    p.put("Crit", severity="critical")
    assert [c for _, c, _ in await p.at(10)] == ["email"]


async def test_empty_group_lingers_until_maintenance_like_alertmanager(make: Any) -> None:
    p = make(config({}))
    p.put("Blip", ends=5)
    assert await p.at(10) == []
    assert p.dispatcher.groups() == []
    # The emptied group still ticks: an alert joining it waits for the next tick (09:01:10).
    p.put("Blip", at=20)
    assert await p.at(40) == []
    assert await p.at(70) == [("team", "webhook", [("Blip", "firing")])]
