"""The pure Prometheus alert state machine: every transition, by table."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from promalert.model import Labels
from promalert.rules.state import (
    RESOLVED_RETENTION,
    AlertEntry,
    AlertState,
    Candidate,
    Key,
    Step,
    Timing,
    dump_alerts,
    load_alerts,
    step,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
KEY: Key = (("alertname", "High"), ("instance", "a"))
SOURCE = Labels({"__name__": "m", "instance": "a"})


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def cand(value: float = 1.0, source: Labels = SOURCE) -> dict[Key, Candidate]:
    return {KEY: Candidate(KEY, source, value)}


renders: list[Candidate] = []


def render(c: Candidate) -> Labels:
    renders.append(c)
    return Labels({"summary": f"{c.source.get('instance')} at {c.value}"})


class Machine:
    """Drives one rule's alerts through successive evaluations."""

    def __init__(self, timing: Timing) -> None:
        self.timing = timing
        self.alerts: dict[Key, AlertEntry] = {}
        self.last: Step | None = None

    def eval(self, seconds: float, present: bool = True, value: float = 1.0) -> Step:
        self.last = step(
            self.alerts, cand(value) if present else {}, at(seconds), self.timing, render
        )
        self.alerts = self.last.alerts
        return self.last

    def state(self) -> AlertState | None:
        entry = self.alerts.get(KEY)
        return entry.state if entry else None


def test_pending_then_firing_at_exactly_for() -> None:
    m = Machine(Timing.of(60, 0, 0))
    s = m.eval(0)
    assert m.state() is AlertState.PENDING and s.notify == [] and s.changed and s.pending == 1
    assert m.alerts[KEY].active_at == at(0)
    s = m.eval(59)
    assert m.state() is AlertState.PENDING and s.notify == [] and not s.changed
    s = m.eval(60)
    assert m.state() is AlertState.FIRING and s.changed and s.pending == 0
    assert [e.state for e in s.notify] == [AlertState.FIRING]
    assert m.alerts[KEY].fired_at == at(60) and m.alerts[KEY].active_at == at(0)
    s = m.eval(70)
    assert s.notify == [] and not s.changed


def test_for_zero_fires_on_first_evaluation() -> None:
    m = Machine(Timing())
    s = m.eval(0)
    assert m.state() is AlertState.FIRING and len(s.notify) == 1 and s.active == 1


def test_pending_absent_is_deleted_without_notification() -> None:
    m = Machine(Timing.of(60, 0, 0))
    m.eval(0)
    s = m.eval(30, present=False)
    assert m.alerts == {} and s.notify == [] and s.changed
    m.eval(40)
    assert m.alerts[KEY].active_at == at(40), "a new pending alert restarts the for timer"


def test_firing_absent_resolves_and_is_retained_15_minutes() -> None:
    m = Machine(Timing())
    m.eval(0)
    s = m.eval(10, present=False)
    entry = m.alerts[KEY]
    assert entry.state is AlertState.INACTIVE and entry.resolved_at == at(10)
    assert s.notify == [entry] and s.changed and s.active == 0
    retention = RESOLVED_RETENTION.total_seconds()
    s = m.eval(10 + retention, present=False)
    assert m.state() is AlertState.INACTIVE and s.notify == [] and not s.changed
    s = m.eval(10 + retention + 1, present=False)
    assert m.alerts == {} and s.changed


def test_resolved_alert_returning_starts_a_new_pending_alert() -> None:
    m = Machine(Timing.of(30, 0, 0))
    m.eval(0)
    m.eval(30)
    m.eval(40, present=False)
    m.eval(50)
    entry = m.alerts[KEY]
    assert entry.state is AlertState.PENDING and entry.active_at == at(50)
    assert entry.resolved_at is None and entry.last_resolved == at(40)


def test_keep_firing_for_holds_then_resolves() -> None:
    m = Machine(Timing.of(0, 30, 0))
    m.eval(0)
    s = m.eval(10, present=False)
    assert m.state() is AlertState.FIRING and m.alerts[KEY].keep_firing_since == at(10)
    assert s.notify == [] and s.changed and s.active == 1
    s = m.eval(39, present=False)
    assert m.state() is AlertState.FIRING and not s.changed
    s = m.eval(40, present=False)
    assert m.state() is AlertState.INACTIVE and m.alerts[KEY].resolved_at == at(40)
    assert len(s.notify) == 1


def test_keep_firing_since_resets_when_present_again() -> None:
    m = Machine(Timing.of(0, 30, 0))
    m.eval(0)
    m.eval(10, present=False)
    s = m.eval(20)
    assert m.alerts[KEY].keep_firing_since is None and s.changed and s.notify == []
    m.eval(45, present=False)
    assert m.alerts[KEY].keep_firing_since == at(45)
    m.eval(70, present=False)
    assert m.state() is AlertState.FIRING, "the window restarts from the new absence"


def test_keep_firing_for_does_not_hold_pending_alerts() -> None:
    m = Machine(Timing.of(60, 30, 0))
    m.eval(0)
    m.eval(10, present=False)
    assert m.alerts == {}


def test_new_annotations_are_sent_but_not_saved() -> None:
    m = Machine(Timing())
    m.eval(0, value=1.0)
    renders.clear()
    s = m.eval(10, value=1.0)
    assert renders == [] and s.notify == [] and not s.changed, "same input: no re-render"
    s = m.eval(20, value=2.0)
    assert len(renders) == 1 and [e.annotations["summary"] for e in s.notify] == ["a at 2.0"]
    assert m.alerts[KEY].value == 2.0 and not s.changed


def test_value_change_with_static_annotations_is_not_a_change() -> None:
    m = Machine(Timing())
    static = Labels({"summary": "static"})
    m.alerts = step({}, cand(1.0), at(0), m.timing, lambda c: static).alerts
    s = step(m.alerts, cand(5.0), at(10), m.timing, lambda c: static)
    assert s.notify == [] and not s.changed and s.alerts[KEY].value == 5.0


def test_nan_value_does_not_rerender_every_time() -> None:
    m = Machine(Timing())
    m.eval(0, value=math.nan)
    renders.clear()
    m.eval(10, value=math.nan)
    assert renders == []


def test_cooldown_blocks_refiring_until_elapsed() -> None:
    m = Machine(Timing.of(0, 0, 120))
    m.eval(0)
    m.eval(10, present=False)
    s = m.eval(20)
    assert m.state() is AlertState.INACTIVE and s.notify == [] and s.active == 0
    s = m.eval(129)
    assert m.state() is AlertState.INACTIVE
    s = m.eval(130)
    assert m.state() is AlertState.FIRING and len(s.notify) == 1


def test_cooldown_longer_than_retention_keeps_the_resolved_entry() -> None:
    m = Machine(Timing.of(0, 0, 3600))
    m.eval(0)
    m.eval(10, present=False)
    m.eval(10 + 1800, present=False)
    assert m.state() is AlertState.INACTIVE, "kept beyond 15 minutes for the cooldown"
    m.eval(20 + 1800)
    assert m.state() is AlertState.INACTIVE
    m.eval(10 + 3600)
    assert m.state() is AlertState.FIRING


def test_no_cooldown_for_alerts_that_never_fired() -> None:
    m = Machine(Timing.of(60, 0, 600))
    m.eval(0)
    m.eval(10, present=False)
    m.eval(20)
    assert m.state() is AlertState.PENDING


def test_dump_and_load_round_trip() -> None:
    m = Machine(Timing.of(0, 30, 0))
    m.eval(0, value=math.nan)
    m.eval(10, present=False)
    other: Key = (("alertname", "High"), ("instance", "b"))
    m.alerts[other] = AlertEntry(
        Labels(dict(other)),
        Labels(),
        AlertState.INACTIVE,
        at(0),
        math.inf,
        fired_at=at(1),
        resolved_at=at(5),
        last_resolved=at(5),
    )
    data = dump_alerts(m.alerts)
    assert set(data) == {Labels(dict(KEY)).fingerprint, Labels(dict(other)).fingerprint}
    restored = load_alerts(data)
    assert restored.keys() == m.alerts.keys()
    for key, entry in m.alerts.items():
        got = restored[key]
        assert (got.labels, got.annotations, got.state, got.active_at, got.fired_at) == (
            entry.labels,
            entry.annotations,
            entry.state,
            entry.active_at,
            entry.fired_at,
        )
        assert (got.resolved_at, got.keep_firing_since, got.last_resolved) == (
            entry.resolved_at,
            entry.keep_firing_since,
            entry.last_resolved,
        )
    assert math.isnan(restored[KEY].value) and restored[other].value == math.inf


def test_load_rejects_malformed_state() -> None:
    with pytest.raises(ValueError, match="malformed"):
        load_alerts({"x": {"labels": {}}})
    with pytest.raises(ValueError, match="timezone"):
        load_alerts(
            {
                "x": {
                    "labels": {},
                    "annotations": {},
                    "state": "firing",
                    "active_at": "2026-01-01T00:00:00",
                    "value": 1,
                }
            }
        )
