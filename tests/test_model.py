"""Label sets and fingerprints: Alertmanager's values, with and without the step memo."""

from __future__ import annotations

import random

import pytest

from promalert import model
from promalert.model import Labels, fingerprint

# Captured from prometheus-alertmanager 0.25.0 (the alerts of tests/notify/test_payload.py).
GROUP = {"alertname": "X", "a": "1", "a1": 'q"uo\\te'}
KNOWN = [
    ({**GROUP, "job": "j", "c": "z"}, "6389c224c6d6edde"),
    ({**GROUP, "b": "é\x01"}, "ed158c47ec305caf"),
]


def reference(labels: dict[str, str]) -> str:
    """FNV-1a 64 over sorted ``name 0xff value 0xff``, byte by byte, with no memo."""
    h = 14695981039346656037
    for name in sorted(labels):
        for byte in name.encode() + b"\xff" + labels[name].encode() + b"\xff":
            h = ((h ^ byte) * 1099511628211) % 2**64
    return f"{h:016x}"


@pytest.mark.parametrize(("labels", "expected"), KNOWN)
def test_fingerprint_is_alertmanagers(labels: dict[str, str], expected: str) -> None:
    assert fingerprint(labels) == expected
    assert Labels(labels).fingerprint == expected
    assert fingerprint(labels) == expected  # again, now from remembered steps
    assert reference(labels) == expected


def test_fingerprint_of_nothing_is_the_offset_basis() -> None:
    assert fingerprint({}) == Labels().fingerprint == "cbf29ce484222325"


def test_remembered_steps_never_change_a_fingerprint(monkeypatch: pytest.MonkeyPatch) -> None:
    # A small memo, so it is emptied many times while label sets share and repeat pairs.
    monkeypatch.setattr(model, "_STEPS", {})
    monkeypatch.setattr(model, "_STEPS_MAX", 50)
    rng = random.Random(7)
    names = ["alertname", "instance", "job", "seq", "severity", "ü", ""]
    values = ["", "a", "node", "host-1:9100", "ä\x00é", "warning", "x" * 40]
    sets = [
        {rng.choice(names): rng.choice(values) for _ in range(rng.randint(0, 6))}
        for _ in range(300)
    ]
    for labels in sets + sets:
        assert fingerprint(labels) == reference(labels)
        assert Labels(labels).fingerprint == reference(labels)
    assert len(model._STEPS) <= 50


def test_pairs_are_not_confused_across_positions() -> None:
    # Same pair, different state before it: the memo is keyed by the state as well.
    one = {"a": "1", "b": "2"}
    two = {"a": "0", "b": "2"}
    assert fingerprint(one) == reference(one)
    assert fingerprint(two) == reference(two)
    assert fingerprint(one) != fingerprint(two)


def test_labels_mapping_methods_match_a_dict() -> None:
    given = {"job": "node", "alertname": "Up", "empty": ""}
    labels = Labels(given)
    ordered = dict(sorted(given.items()))
    assert list(labels) == list(labels.keys()) == list(ordered)
    assert list(labels.values()) == list(ordered.values())
    assert list(labels.items()) == list(ordered.items())
    assert "job" in labels and "nope" not in labels
    assert object() not in labels
    assert labels.get("job") == "node"
    assert labels.get("nope") is None
    assert labels.get("nope", "") == ""
    assert labels.get("nope", default="d") == "d"
    assert labels.get("empty", "d") == ""
    assert labels == given and hash(labels) == hash(Labels(ordered))
