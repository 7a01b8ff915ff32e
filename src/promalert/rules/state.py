"""The alert state machine of one rule, as Prometheus 2.42's ``AlertingRule.Eval`` runs it.

:func:`step` is a pure function of (current alerts, candidates active now, timestamp,
timing): it returns the new alerts and the ones to send. Inactive (resolved) alerts are
kept :data:`RESOLVED_RETENTION` so a resolve is reported, and at least ``cooldown`` so a
resolved alert cannot come back too soon. :func:`dump_alerts` / :func:`load_alerts` turn
the state into JSON-ready dicts for the store.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from promalert.model import Labels

RESOLVED_RETENTION = timedelta(minutes=15)
"""How long Prometheus keeps a resolved alert so Alertmanager hears of the resolve."""

STATE_VERSION = 1

Key = tuple[tuple[str, str], ...]
"""An alert's identity: its label pairs sorted by name (cheap to hash, unlike a fingerprint)."""


class AlertState(StrEnum):
    """Prometheus's alert states; ``inactive`` is what promalert calls resolved."""

    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"


@dataclass(frozen=True, slots=True)
class Candidate:
    """One alert that a rule's evaluation found active at this timestamp."""

    key: Key
    # The labels the templates see as $labels (a sample's labels, __name__ included).
    source: Labels
    value: float


@dataclass(frozen=True, slots=True)
class AlertEntry:
    """The state of one alert of a rule."""

    labels: Labels
    annotations: Labels
    state: AlertState
    active_at: datetime
    value: float
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    keep_firing_since: datetime | None = None
    # Survives re-activation so ``cooldown`` can be judged from the last resolve.
    last_resolved: datetime | None = None
    # What the annotations were rendered from; not persisted, only saves re-rendering.
    source: Labels | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Timing:
    """A rule's durations: ``for``, ``keep_firing_for`` and ``cooldown``."""

    for_: timedelta = timedelta(0)
    keep_firing_for: timedelta = timedelta(0)
    cooldown: timedelta = timedelta(0)

    @classmethod
    def of(cls, for_: float, keep_firing_for: float, cooldown: float) -> Timing:
        """Build from durations in seconds."""
        return cls(
            timedelta(seconds=for_), timedelta(seconds=keep_firing_for), timedelta(seconds=cooldown)
        )


@dataclass(frozen=True, slots=True)
class Step:
    """The outcome of one evaluation."""

    alerts: dict[Key, AlertEntry]
    # Alerts to send: newly firing, firing with new annotations, just resolved.
    notify: list[AlertEntry]
    # True when the state machine moved (new, fired, resolved, dropped, kept firing);
    # new values and annotations alone do not count, so they do not rewrite the store.
    changed: bool
    active: int
    pending: int


Render = Callable[[Candidate], Labels]


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def in_cooldown(entry: AlertEntry, ts: datetime, cooldown: timedelta) -> bool:
    """True while a resolved alert may not go pending again."""
    return (
        entry.state is AlertState.INACTIVE
        and entry.last_resolved is not None
        and ts - entry.last_resolved < cooldown
    )


def step(
    alerts: Mapping[Key, AlertEntry],
    candidates: Mapping[Key, Candidate],
    ts: datetime,
    timing: Timing,
    render: Render,
) -> Step:
    """Advance a rule's alerts to ``ts`` given the candidates active now."""
    out: dict[Key, AlertEntry] = {}
    notify: list[AlertEntry] = []
    changed = False
    active = pending = 0
    for key, e in alerts.items():
        c = candidates.get(key)
        if c is not None and e.state is not AlertState.INACTIVE:
            annotations = e.annotations
            if e.source is None or not _same(e.value, c.value) or e.source != c.source:
                annotations = render(c)
            state, fired_at = e.state, e.fired_at
            if state is AlertState.PENDING and ts - e.active_at >= timing.for_:
                state, fired_at = AlertState.FIRING, ts
            transition = state is not e.state
            # Annotations alone are not saved: the first evaluation after a restart
            # renders them again and sends any difference.
            if transition or e.keep_firing_since is not None:
                changed = True
            new = AlertEntry(
                e.labels,
                annotations,
                state,
                e.active_at,
                c.value,
                fired_at,
                None,
                None,
                e.last_resolved,
                c.source,
            )
            if state is AlertState.FIRING and (transition or annotations != e.annotations):
                notify.append(new)
            out[key] = new
            active += 1
            pending += state is AlertState.PENDING
            continue
        if c is not None:
            # Present again but resolved: either held back by cooldown, or replaced below
            # by a fresh pending alert (Prometheus starts a new ActiveAt).
            if in_cooldown(e, ts, timing.cooldown):
                out[key] = e
            continue
        # Absent from this evaluation.
        if e.state is AlertState.FIRING and timing.keep_firing_for:
            since = e.keep_firing_since or ts
            if ts - since < timing.keep_firing_for:
                if e.keep_firing_since is None:
                    changed = True
                    e = replace(e, keep_firing_since=since)
                out[key] = e
                active += 1
                continue
        if e.state is AlertState.PENDING:
            changed = True
            continue
        if e.state is AlertState.FIRING:
            changed = True
            resolved = replace(
                e,
                state=AlertState.INACTIVE,
                resolved_at=ts,
                last_resolved=ts,
                keep_firing_since=None,
            )
            notify.append(resolved)
            out[key] = resolved
            continue
        assert e.resolved_at is not None
        if ts - e.resolved_at > RESOLVED_RETENTION and not in_cooldown(e, ts, timing.cooldown):
            changed = True
            continue
        out[key] = e
    for key, c in candidates.items():
        if key in out:
            continue
        previous = alerts.get(key)
        # Prometheus checks ts - activeAt >= for right away, so `for: 0` fires at once.
        firing = timing.for_ <= timedelta(0)
        new = AlertEntry(
            Labels(dict(key)),
            render(c),
            AlertState.FIRING if firing else AlertState.PENDING,
            ts,
            c.value,
            fired_at=ts if firing else None,
            last_resolved=previous.last_resolved if previous is not None else None,
            source=c.source,
        )
        changed = True
        out[key] = new
        active += 1
        if firing:
            notify.append(new)
        else:
            pending += 1
    return Step(out, notify, changed, active, pending)


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: Any) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no timezone")
    return parsed


def dump_alerts(alerts: Mapping[Key, AlertEntry]) -> dict[str, Any]:
    """Serialise a rule's alerts to a JSON-ready dict keyed by alert fingerprint."""
    out: dict[str, Any] = {}
    for e in alerts.values():
        value: float | str = e.value if math.isfinite(e.value) else repr(e.value)
        out[e.labels.fingerprint] = {
            "labels": e.labels.as_dict(),
            "annotations": e.annotations.as_dict(),
            "state": e.state.value,
            "active_at": _time(e.active_at),
            "fired_at": _time(e.fired_at),
            "resolved_at": _time(e.resolved_at),
            "keep_firing_since": _time(e.keep_firing_since),
            "value": value,
            "last_resolved": _time(e.last_resolved),
        }
    return out


def load_alerts(data: Mapping[str, Any]) -> dict[Key, AlertEntry]:
    """Rebuild a rule's alerts from :func:`dump_alerts` output; ValueError if malformed."""
    alerts: dict[Key, AlertEntry] = {}
    try:
        for fp, item in data.items():
            labels = Labels({str(k): str(v) for k, v in item["labels"].items()})
            active_at = _parse_time(item["active_at"])
            if active_at is None:
                raise ValueError(f"alert {fp}: active_at is missing")
            entry = AlertEntry(
                labels=labels,
                annotations=Labels({str(k): str(v) for k, v in item["annotations"].items()}),
                state=AlertState(item["state"]),
                active_at=active_at,
                value=float(item["value"]),
                fired_at=_parse_time(item.get("fired_at")),
                resolved_at=_parse_time(item.get("resolved_at")),
                keep_firing_since=_parse_time(item.get("keep_firing_since")),
                last_resolved=_parse_time(item.get("last_resolved")),
            )
            if entry.state is AlertState.INACTIVE and entry.resolved_at is None:
                raise ValueError(f"alert {fp}: inactive without resolved_at")
            alerts[tuple(labels.items())] = entry
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"malformed rule state: {exc!r}") from None
    return alerts
