"""Alertmanager API v2 JSON: reading posted alerts and silences, writing Alertmanager's shapes.

Reading is in two steps, like Alertmanager's generated server: a *shape* check of the
body (wrong JSON types, missing required fields: the whole body is refused) and then a
*semantic* check of each item (no labels, invalid names, end before start: only that
item is refused, with Alertmanager's wording).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import repeat
from typing import Any

from promalert.config.matchers import (
    LABEL_NAME,
    Matcher,
    MatchType,
    go_quote,
    parse_matcher,
)
from promalert.dispatch.group import AlertStatus
from promalert.dispatch.silence import Silence
from promalert.model import Alert, Labels
from promalert.notify.payload import ZERO_TIME

_UUID = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)
_YEAR_ONE = datetime(1, 1, 1, tzinfo=UTC)


class ShapeError(ValueError):
    """The body does not have the shape the API expects; ``code`` is Alertmanager's."""

    def __init__(self, message: str, code: int = 400) -> None:
        super().__init__(message)
        self.code = code


def format_time(moment: datetime | None) -> str:
    """A time as Alertmanager's API writes it: UTC with milliseconds (``...:05.020Z``)."""
    if moment is None:
        return ZERO_TIME.replace("Z", ".000Z")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_time(value: Any, field: str) -> datetime | None:
    """An RFC 3339 time from the body; Go's zero time and absent are None."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ShapeError(f"{field} must be a date-time string")
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise ShapeError(f"{field} {value!r} is not an RFC 3339 date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment <= _YEAR_ONE:
        return None
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


def _string_map(value: Any, index: int, name: str) -> dict[str, str]:
    if value is None:
        return {}
    # map/repeat keep the per-value check in C: it runs for every label of every alert.
    if not isinstance(value, dict) or not all(map(isinstance, value.values(), repeat(str))):
        raise ShapeError(f"{index}.{name} must be an object of strings")
    return value


@dataclass(frozen=True, slots=True)
class PostedAlert:
    """One alert of a POST body, shape-checked; :func:`validate_alert` does the rest."""

    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime | None
    ends_at: datetime | None
    generator_url: str


def parse_alerts(data: Any) -> list[PostedAlert]:
    """Shape-check a ``POST /api/v2/alerts`` body; raise ShapeError naming the problem."""
    if not isinstance(data, list):
        raise ShapeError("the body must be a JSON array of alerts")
    out: list[PostedAlert] = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise ShapeError(f"{i}: an alert must be a JSON object")
        if "labels" not in item:
            raise ShapeError(f"{i}.labels in body is required")
        url = item.get("generatorURL", "")
        if not isinstance(url, str):
            raise ShapeError(f"{i}.generatorURL must be a string")
        starts, ends = item.get("startsAt"), item.get("endsAt")
        out.append(
            PostedAlert(
                _string_map(item["labels"], i, "labels"),
                _string_map(item.get("annotations"), i, "annotations"),
                # Field names are formatted only when there is a time to complain about.
                None if starts is None else parse_time(starts, f"{i}.startsAt"),
                None if ends is None else parse_time(ends, f"{i}.endsAt"),
                url,
            )
        )
    return out


_VALID_NAMES: set[str] = set()


def _valid_name(name: str) -> bool:
    """LABEL_NAME check, remembered: the same few names come in every alert."""
    if name in _VALID_NAMES:
        return True
    if LABEL_NAME.match(name) is None:
        return False
    if len(_VALID_NAMES) < 10_000:  # bounded: names are not meant to be unbounded
        _VALID_NAMES.add(name)
    return True


def validate_alert(posted: PostedAlert, now: datetime, resolve_timeout: float) -> Alert:
    """The alert to ingest; raise ValueError with Alertmanager's message when invalid."""
    labels = posted.labels
    if "" in labels.values():
        # Alertmanager drops empty-valued labels before validating.
        labels = {k: v for k, v in labels.items() if v != ""}
    starts = posted.starts_at or posted.ends_at or now
    ends = posted.ends_at or now + timedelta(seconds=resolve_timeout)
    if ends < starts:
        raise ValueError("start time must be before end time")
    # Names seen before are valid: one set operation instead of a call per name.
    if not _VALID_NAMES.issuperset(labels):
        for name in labels:
            if not _valid_name(name):
                raise ValueError(f"invalid label set: invalid name {go_quote(name)}")
    if not labels:
        raise ValueError("at least one label pair required")
    if not _VALID_NAMES.issuperset(posted.annotations):
        for name in posted.annotations:
            if not _valid_name(name):
                raise ValueError(f"invalid annotations: invalid name {go_quote(name)}")
    return Alert(
        Labels(labels),
        annotations=Labels(posted.annotations),
        starts_at=posted.starts_at,
        ends_at=posted.ends_at,
        generator_url=posted.generator_url,
    )


def filter_matchers(values: Iterable[str]) -> list[Matcher]:
    """The ``filter`` query parameters; raise ValueError ("bad matcher format: ...")."""
    return [parse_matcher(v) for v in values]


def filter_matches(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    """Alertmanager's filter semantics: an empty-valued matcher ignores absent labels."""
    for m in matchers:
        present = m.name in labels
        value = labels.get(m.name, "")
        if m.value == "" and present != m.is_equal:
            continue
        if not m.matches(value):
            return False
    return True


def alert_json(
    alert: Alert, status: AlertStatus, receivers: Sequence[str], updated: datetime | None
) -> dict[str, Any]:
    """A ``GettableAlert``, keys in Alertmanager's order."""
    out: dict[str, Any] = {
        "annotations": alert.annotations.as_dict(),
        "endsAt": format_time(alert.ends_at),
        "fingerprint": alert.fingerprint,
        "receivers": [{"name": r} for r in receivers],
        "startsAt": format_time(alert.starts_at),
        "status": {
            "inhibitedBy": list(status.inhibited_by),
            "silencedBy": list(status.silenced_by),
            "state": status.state,
        },
        "updatedAt": format_time(updated or alert.updated_at),
    }
    if alert.generator_url:
        out["generatorURL"] = alert.generator_url
    out["labels"] = alert.labels.as_dict()
    return out


def silence_json(silence: Silence, now: datetime) -> dict[str, Any]:
    """A ``GettableSilence``, keys in Alertmanager's order."""
    return {
        "id": silence.id,
        "status": {"state": silence.state(now).value},
        "updatedAt": format_time(silence.updated_at),
        "comment": silence.comment,
        "createdBy": silence.created_by,
        "endsAt": format_time(silence.ends_at),
        "matchers": [
            {"isEqual": m.is_equal, "isRegex": m.is_regex, "name": m.name, "value": m.value}
            for m in silence.matchers
        ],
        "startsAt": format_time(silence.starts_at),
    }


def _required(data: Mapping[str, Any], field: str, kind: type, where: str = "") -> Any:
    if field not in data:
        raise ShapeError(f"{where}{field} in body is required", 602)
    value = data[field]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ShapeError(
            f'parsing silence body from "" failed, because {where}{field} has the wrong type'
        )
    return value


def parse_silence(data: Any) -> Silence:
    """A ``PostableSilence`` body; raise ShapeError (422 for missing fields, else 400)."""
    if not isinstance(data, dict):
        raise ShapeError('parsing silence body from "" failed, because the body is not an object')
    raw_matchers = _required(data, "matchers", list)
    if not raw_matchers:
        raise ShapeError("matchers in body should have at least 1 items", 612)
    matchers: list[Matcher] = []
    for i, raw in enumerate(raw_matchers):
        where = f"matchers.{i}."
        if not isinstance(raw, dict):
            raise ShapeError(
                f'parsing silence body from "" failed, because {where[:-1]} is not an object'
            )
        name = _required(raw, "name", str, where)
        value = _required(raw, "value", str, where)
        is_regex = _required(raw, "isRegex", bool, where)
        is_equal = raw.get("isEqual", True)
        if not isinstance(is_equal, bool):
            raise ShapeError(
                f'parsing silence body from "" failed, because {where}isEqual is not a boolean'
            )
        kind = {
            (False, True): MatchType.EQUAL,
            (False, False): MatchType.NOT_EQUAL,
            (True, True): MatchType.REGEX,
            (True, False): MatchType.NOT_REGEX,
        }[(is_regex, is_equal)]
        # Invalid regexps are reported by the silence check, with Alertmanager's wording.
        matchers.append(Matcher(name, kind, value, _lenient_regex(kind, value)))
    starts = parse_time(_required(data, "startsAt", str), "startsAt")
    ends = parse_time(_required(data, "endsAt", str), "endsAt")
    created_by = _required(data, "createdBy", str)
    comment = _required(data, "comment", str)
    silence_id = data.get("id", "")
    if not isinstance(silence_id, str):
        raise ShapeError('parsing silence body from "" failed, because id is not a string')
    if starts is None or ends is None:
        raise ShapeError("startsAt and endsAt must be set", 602)
    return Silence(tuple(matchers), starts, ends, created_by, comment, id=silence_id)


def _lenient_regex(kind: MatchType, value: str) -> Any:
    if kind not in (MatchType.REGEX, MatchType.NOT_REGEX):
        return None
    try:
        return Matcher.new("x", kind, value).regex
    except ValueError:
        return None


def is_uuid(text: str) -> bool:
    """Whether ``text`` is a UUID as the API's path parameter requires."""
    return _UUID.match(text) is not None
