"""How the store encodes JSON: exactly what ``json.dumps`` writes, built once."""

from __future__ import annotations

import json
from typing import Any

import pytest

from promalert.store.records import EncodedPayload, StoredText, compact_json, plain_json

VALUES: list[Any] = [
    {},
    {"alertname": "Up", "job": "node"},
    {"é": "ü☃", "q": 'a"b\\c\n\x01', "n": [1, 2.5, -0.0, 1e100, None, True, False]},
    {"nested": {"list": [{"a": []}], "big": 2**70}, "inf": float("inf")},
    [],
    "text",
]


@pytest.mark.parametrize("value", VALUES)
def test_plain_json_is_json_dumps(value: Any) -> None:
    assert plain_json(value) == json.dumps(value)


@pytest.mark.parametrize("value", [v for v in VALUES if isinstance(v, dict)])
def test_compact_json_is_compact_json_dumps(value: dict[str, Any]) -> None:
    assert compact_json(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def test_compact_json_of_an_encoded_payload_is_its_text() -> None:
    payload = EncodedPayload({"a": 1}, '{"a":1}')
    assert compact_json(payload) is payload.json


def test_unencodable_values_fail_as_with_json_dumps() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        plain_json({"a": object()})
    with pytest.raises(TypeError, match="not JSON serializable"):
        compact_json({"a": {1, 2}})


def test_stored_text_decodes_only_when_looked_into() -> None:
    text = '{"receiver":"team","alerts":[{"status":"firing"}],"status":"firing"}'
    payload = StoredText(text)
    assert compact_json(payload) == text  # the text as stored, nothing decoded
    assert dict.__len__(payload) == 0
    assert payload["receiver"] == "team"  # any look decodes it
    assert dict.__len__(payload) == 3
    assert payload == json.loads(text)
    assert list(StoredText(text)) == ["receiver", "alerts", "status"]
    assert StoredText(text).get("status") == "firing"
    assert len(StoredText(text)) == 3 and "alerts" in StoredText(text)
    assert dict(StoredText(text).items()) == json.loads(text)
