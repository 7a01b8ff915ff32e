"""The version 4 payload, field by field, against what Alertmanager 0.25 sends."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from promalert.dispatch.group import group_key
from promalert.model import Alert, Labels
from promalert.notify.payload import (
    build_payload,
    format_time,
    quote_meta,
    sort_alerts,
    truncate_payload,
)

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
GROUP = {"alertname": "X", "a": "1", "a1": 'q"uo\\te'}

# Captured from prometheus-alertmanager 0.25.0 (route group_by [alertname, a1, a],
# receiver "my.team-x") for the two alerts built in ``alerts()`` below.
ALERTMANAGER_BODY = r"""
{"receiver":"my\\.team-x","status":"firing","alerts":[{"status":"resolved","labels":{"a":"1",
"a1":"q\"uo\\te","alertname":"X","c":"z","job":"j"},"annotations":{"summary":"s"},
"startsAt":"2026-01-05T09:00:00Z","endsAt":"2026-01-05T09:10:00Z","generatorURL":"",
"fingerprint":"6389c224c6d6edde"},{"status":"firing","labels":{"a":"1","a1":"q\"uo\\te",
"alertname":"X","b":"é\u0001"},"annotations":{"e":"","summary":"s"},
"startsAt":"2026-01-05T07:00:00.123456Z","endsAt":"0001-01-01T00:00:00Z",
"generatorURL":"http://g","fingerprint":"ed158c47ec305caf"}],"groupLabels":{"a":"1",
"a1":"q\"uo\\te","alertname":"X"},"commonLabels":{"a":"1","a1":"q\"uo\\te","alertname":"X"},
"commonAnnotations":{"summary":"s"},"externalURL":"http://vm:19093","version":"4",
"groupKey":"{}:{a1=\"q\\\"uo\\\\te\", a=\"1\", alertname=\"X\"}","truncatedAlerts":0}
"""


def alerts() -> list[Alert]:
    firing = Alert(
        Labels({**GROUP, "b": "é\x01"}),
        annotations=Labels({"summary": "s", "e": ""}),
        starts_at=datetime(2026, 1, 5, 7, 0, 0, 123456, tzinfo=UTC),
        ends_at=NOW + timedelta(minutes=5),  # a resolve_timeout end: still firing
        generator_url="http://g",
    )
    resolved = Alert(
        Labels({**GROUP, "job": "j", "c": "z"}),
        annotations=Labels({"summary": "s"}),
        starts_at=datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
        ends_at=datetime(2026, 1, 5, 9, 10, tzinfo=UTC),
    )
    return [firing, resolved]


def payload() -> dict[str, object]:
    return build_payload(
        receiver="my.team-x",
        group_key=group_key("{}", GROUP),
        group_labels=GROUP,
        alerts=sort_alerts(alerts()),
        external_url="http://vm:19093",
        now=NOW,
    )


def test_payload_matches_alertmanager_field_by_field() -> None:
    expected = json.loads(ALERTMANAGER_BODY.replace("\n", ""))
    got = payload()
    assert list(got) == list(expected)  # same field order as Go's encoder
    for name in expected:
        assert got[name] == expected[name], name


def test_alert_order_job_then_instance_then_label_set() -> None:
    def a(**labels: str) -> Alert:
        return Alert(Labels(labels))

    given = [
        a(alertname="Z"),
        a(alertname="A", x="1"),
        a(alertname="B"),
        a(instance="i2", alertname="A"),
        a(instance="i1", alertname="A"),
        a(job="b", alertname="A"),
        a(job="a", instance="z", alertname="A"),
        a(job="a", instance="y", alertname="A"),
    ]
    order = [dict(x.labels) for x in sort_alerts(given)]
    assert order == [
        {"alertname": "A", "instance": "y", "job": "a"},
        {"alertname": "A", "instance": "z", "job": "a"},
        {"alertname": "A", "job": "b"},
        {"alertname": "A", "instance": "i1"},
        {"alertname": "A", "instance": "i2"},
        {"alertname": "B"},  # fewer labels first
        {"alertname": "Z"},
        {"alertname": "A", "x": "1"},
    ]


def test_format_time_like_go() -> None:
    assert format_time(None) == "0001-01-01T00:00:00Z"
    assert format_time(datetime(2026, 1, 5, 9, 0, tzinfo=UTC)) == "2026-01-05T09:00:00Z"
    assert format_time(datetime(2026, 1, 5, 9, 0, 0, 500000, tzinfo=UTC)) == (
        "2026-01-05T09:00:00.5Z"
    )
    plus_two = timezone(timedelta(hours=2))
    assert format_time(datetime(2026, 1, 5, 12, 0, 0, 120, tzinfo=plus_two)) == (
        "2026-01-05T10:00:00.00012Z"
    )


def test_quote_meta_like_go() -> None:
    assert quote_meta("team-ops") == "team-ops"
    assert quote_meta("a.b+c*d?e(f)g|h[i]j{k}l^m$n\\o") == (
        "a\\.b\\+c\\*d\\?e\\(f\\)g\\|h\\[i\\]j\\{k\\}l\\^m\\$n\\\\o"
    )


def test_truncation_recomputes_common_fields_and_counts_the_rest() -> None:
    full = payload()
    cut = truncate_payload(full, 1)
    assert cut["truncatedAlerts"] == 1
    assert len(cut["alerts"]) == 1 and cut["alerts"][0]["status"] == "resolved"
    assert cut["status"] == "resolved"
    assert cut["commonLabels"] == cut["alerts"][0]["labels"]
    assert (cut["receiver"], cut["groupKey"]) == (full["receiver"], full["groupKey"])
    assert truncate_payload(full, 0) is full
    assert truncate_payload(full, 2) is full


def test_all_resolved_payload_status() -> None:
    resolved = [a for a in alerts() if a.labels.get("job")]
    got = build_payload(
        receiver="r",
        group_key="{}:{}",
        group_labels={},
        alerts=resolved,
        external_url="",
        now=NOW,
    )
    assert got["status"] == "resolved" and got["groupLabels"] == {}
