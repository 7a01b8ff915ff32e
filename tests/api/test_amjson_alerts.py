"""Posted-alert validation where names were seen before: same answers as the first time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from promalert.api.amjson import parse_alerts, validate_alert

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def validate(item: dict[str, object]) -> str:
    """The alert's fingerprint, or the error message."""
    try:
        return validate_alert(parse_alerts([item])[0], NOW, 300.0).fingerprint
    except ValueError as exc:
        return str(exc)


@pytest.mark.parametrize("attempt", [1, 2])  # the second time every valid name is known
@pytest.mark.parametrize(
    ("item", "expected"),
    [
        (
            {"labels": {"alertname": "Up", "bad-name": "x"}},
            'invalid label set: invalid name "bad-name"',
        ),
        ({"labels": {"alertname": "Up", "bad-name": ""}}, "alertname=Up"),
        ({"labels": {"alertname": ""}}, "at least one label pair required"),
        (
            {"labels": {"alertname": "Up"}, "annotations": {"summary": "s", "1x": "y"}},
            'invalid annotations: invalid name "1x"',
        ),
        ({"labels": {"alertname": "Up"}, "annotations": {"summary": ""}}, "alertname=Up"),
        (
            {
                "labels": {"alertname": "Up"},
                "endsAt": "2026-01-05T10:00:00Z",
                "startsAt": "2026-01-05T11:00:00Z",
            },
            "start time must be before end time",
        ),
    ],
)
def test_validation_answers_do_not_depend_on_names_seen(
    attempt: int, item: dict[str, object], expected: str
) -> None:
    if expected == "alertname=Up":
        expected = validate({"labels": {"alertname": "Up"}})
        assert len(expected) == 16
    assert validate(item) == expected


def test_empty_values_are_dropped_but_the_posted_labels_are_untouched() -> None:
    posted = parse_alerts([{"labels": {"alertname": "Up", "gone": ""}}])[0]
    alert = validate_alert(posted, NOW, 300.0)
    assert dict(alert.labels) == {"alertname": "Up"}
    assert posted.labels == {"alertname": "Up", "gone": ""}


def test_shape_errors_name_the_item_and_field() -> None:
    with pytest.raises(ValueError, match=r"^1\.annotations must be an object of strings$"):
        parse_alerts([{"labels": {"a": "b"}}, {"labels": {"a": "b"}, "annotations": {"x": 1}}])
    with pytest.raises(ValueError, match=r"^0\.endsAt 'soon' is not an RFC 3339 date-time$"):
        parse_alerts([{"labels": {"a": "b"}, "endsAt": "soon"}])
