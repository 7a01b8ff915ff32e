"""JSON-ready views of rules and their alerts, shaped like Prometheus's ``/api/v1/rules``."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from promalert.rules.spec import AlertingRule, RuleGroup
from promalert.rules.state import AlertEntry, AlertState

_RANK = {AlertState.INACTIVE: 0, AlertState.PENDING: 1, AlertState.FIRING: 2}


def format_value(value: float) -> str:
    """Format a value as Prometheus's API does (Go ``FormatFloat(v, 'e', -1, 64)``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0e+00" if math.copysign(1.0, value) < 0 else "0e+00"
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    assert isinstance(exponent, int)
    # repr gives the shortest round-tripping digits; trailing zeros ("100.0") are not
    # significant for Go's shortest form.
    text = "".join(map(str, digits)).rstrip("0") or "0"
    power = exponent + len(digits) - 1
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'+' if power >= 0 else '-'}{abs(power):02d}"


def _time(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def alert_view(entry: AlertEntry) -> dict[str, Any]:
    """One active alert as Prometheus lists it under a rule."""
    return {
        "labels": entry.labels.as_dict(),
        "annotations": entry.annotations.as_dict(),
        "state": entry.state.value,
        "active_at": _time(entry.active_at),
        "keep_firing_since": _time(entry.keep_firing_since),
        "value": format_value(entry.value),
    }


def rule_status_entry(
    *,
    group: RuleGroup,
    rule: AlertingRule,
    expr: str,
    alerts: Iterable[AlertEntry],
    health: str,
    last_error: str,
    last_evaluation: datetime | None,
    evaluation_time: float,
) -> dict[str, Any]:
    """One rule's status: state (the highest of its alerts), health and active alerts."""
    active = [e for e in alerts if e.state is not AlertState.INACTIVE]
    state = max((e.state for e in active), key=_RANK.__getitem__, default=AlertState.INACTIVE)
    return {
        "group": group.name,
        "file": group.source,
        "name": rule.alert,
        "kind": rule.kind,
        "query": expr,
        "for": rule.for_,
        "keep_firing_for": rule.keep_firing_for,
        "cooldown": rule.cooldown,
        "labels": {**group.labels, **rule.labels},
        "annotations": dict(rule.annotations),
        "state": state.value,
        "health": health,
        "last_error": last_error,
        "last_evaluation": _time(last_evaluation),
        "evaluation_time": evaluation_time,
        "alerts": [alert_view(e) for e in active],
    }
