"""Loading rule files: dispatch by kind, every broken rule at its own line, notes, locators."""

from __future__ import annotations

from pathlib import Path

import pytest

from promalert.config.loader import load_rule_files, load_rule_files_with_notes, load_rules
from promalert.errors import ConfigError
from promalert.rules.spec import (
    RULE_SPECS,
    CompositeRule,
    ExprRule,
    RecordingRule,
    ThresholdRule,
)

FILES = Path(__file__).parent / "files"


def _write(folder: Path, text: str, name: str = "rules.yml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def _problems(*paths: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_rule_files(paths)
    return [str(p) for p in info.value.problems]


def test_valid_files_load_every_kind() -> None:
    paths = [FILES / "rules" / "node.yml", FILES / "rules" / "composite.yml"]
    node, composite, empty = load_rule_files(paths)
    assert node.source == str(paths[0]) and node.interval == 30.0
    assert node.labels == {"team": "infra"}
    expr, threshold = node.rules
    assert isinstance(expr, ExprRule) and expr.for_ == 120.0
    # As in Prometheus, a plain scalar in a string field keeps its text.
    assert expr.labels == {"severity": "critical", "priority": "1"}
    assert expr.annotations["summary"] == "{{ $labels.instance }} down (value {{ $value }})"
    assert isinstance(threshold, ThresholdRule) and threshold.cooldown == 600.0
    [rule] = composite.rules
    assert isinstance(rule, CompositeRule) and rule.on == ["instance"]
    assert empty.name == "empty" and empty.rules == []


def test_rule_files_are_not_env_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/root")
    text = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n"
    text += "        annotations: {a: '${HOME} $value {{ $labels.x }}'}\n"
    [group] = load_rule_files([_write(tmp_path, text)])
    assert group.rules[0].annotations == {"a": "${HOME} $value {{ $labels.x }}"}  # type: ignore[union-attr]


def test_every_broken_rule_is_reported_at_its_own_line(tmp_path: Path) -> None:
    text = """\
groups:
  - name: node
    interval: 1 minute
    rules:
      - alert: A
        expr: up == 0
        for: 5 minutes
      - alert: B
        kind: threshold
        query: cpu
        condition: "above 90"
      - alert: C
        expr: "  "
      - alert: D
        record: d
        expr: up
      - alert: E
        query: cpu
      - alert: F
        expr: up
        labels: {bad-name: x}
      - just a string
"""
    path = _write(tmp_path, text)
    assert _problems(path) == [
        f"{path}:3:15: groups.0.interval: invalid duration '1 minute' (expected a number and "
        "unit like 30s, 5m, 1h30m; units: ms, s, m, h, d, w, y)",
        f"{path}:7:14: groups.0.rules.0.for: invalid duration '5 minutes' (expected a number "
        "and unit like 30s, 5m, 1h30m; units: ms, s, m, h, d, w, y)",
        f"{path}:11:20: groups.0.rules.1.condition: invalid condition 'above 90' (expected an "
        "operator and a number, e.g. '> 90', '<= 0.5'; operators: > >= < <= == !=)",
        f"{path}:13:15: groups.0.rules.2.expr: must not be empty",
        f"{path}:15:9: groups.0.rules.3: give either 'alert' or 'record', not both",
        f"{path}:17:9: groups.0.rules.4: a rule needs 'expr' (Prometheus rule) or 'kind' "
        "(anomaly, composite, frequency, threshold, trend)",
        f"{path}:21:17: groups.0.rules.5.labels: invalid label name 'bad-name'",
        f"{path}:22:9: groups.0.rules.6: a rule must be a mapping",
    ]


def test_unknown_kind_lists_the_registered_kinds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "groups:\n  - name: g\n    rules:\n      - alert: A\n        kind: treshold\n"
    path = _write(tmp_path, text)
    message = "groups.0.rules.0.kind: unknown kind 'treshold' (expected one of: {})"
    kinds = "anomaly, composite, frequency, threshold, trend"
    assert _problems(path) == [f"{path}:5:15: " + message.format(kinds)]
    # A newly registered kind shows up in the message without touching the loader.
    monkeypatch.setitem(RULE_SPECS, "zigzag", ThresholdRule)
    assert _problems(path) == [f"{path}:5:15: " + message.format(kinds + ", zigzag")]


def test_unknown_rule_key_lists_the_kinds_keys(tmp_path: Path) -> None:
    text = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n"
    path = _write(tmp_path, text + "        summary: x\n")
    assert _problems(path) == [
        f"{path}:6:9: groups.0.rules.0: unknown key 'summary' (expected one of: alert, "
        "annotations, cooldown, expr, for, keep_firing_for, kind, labels)"
    ]


def test_group_level_problems(tmp_path: Path) -> None:
    text = """\
groups:
  - name: g
    rules: []
  - name: g
    limit: -1
    source: elsewhere
  - name: ""
top: 1
"""
    path = _write(tmp_path, text)
    assert _problems(path) == [
        f"{path}:4:11: groups.1.name: duplicate group name 'g' (first at line 2)",
        f"{path}:5:12: groups.1.limit: Input should be greater than or equal to 0",
        f"{path}:6:5: unknown key 'source'",
        f"{path}:7:11: groups.2.name: String should have at least 1 character",
        f"{path}:8:1: unknown key 'top' (a rule file holds only 'groups')",
    ]


def test_problems_from_all_files_at_once_sorted_by_path() -> None:
    bad = FILES / "bad"
    paths = [bad / "unknown_kind.yml", bad / "syntax.yml", bad / "duration.yml"]
    problems = _problems(*paths, bad / "missing_field.yml", FILES / "rules" / "node.yml")
    assert [p.split(": ", 1)[0] for p in problems] == [
        f"{bad}/duration.yml:6:14",
        f"{bad}/missing_field.yml:4:9",
        f"{bad}/syntax.yml:6:8",
        f"{bad}/unknown_kind.yml:5:15",
    ]


def test_empty_and_odd_files(tmp_path: Path) -> None:
    assert load_rule_files([_write(tmp_path, "", "empty.yml")]) == []
    assert load_rule_files([_write(tmp_path, "groups:\n", "null.yml")]) == []
    listing = _write(tmp_path, "- a\n", "list.yml")
    groups = _write(tmp_path, "groups: {a: 1}\n", "groups.yml")
    assert _problems(listing, groups) == [
        f"{groups}:1:9: groups: expected a list, got mapping",
        f"{listing}:1:1: a rule file must be a mapping with a 'groups' list",
    ]


def test_recording_rules_are_loaded_and_noted() -> None:
    groups, notes = load_rule_files_with_notes([FILES / "recording.yml"])
    [group] = groups
    assert isinstance(group.rules[0], RecordingRule)
    assert [r.alert for r in group.alerting_rules] == ["JobDown"]
    assert [str(n) for n in notes] == [
        f"{FILES}/recording.yml:4:9: recording rule 'job:up:sum' ignored "
        "(keep recording rules in Prometheus)"
    ]


def test_locators_give_positions_of_annotations() -> None:
    paths = [FILES / "recording.yml", FILES / "rules" / "node.yml", FILES / "recording.yml"]
    loaded = load_rules(paths)
    assert loaded.files == [str(paths[0]), str(paths[1])]  # each file once
    assert [g.name for g in loaded.groups] == ["mixed", "node"]
    problem = loaded.problem(1, ("rules", 0, "annotations", "summary"), "bad template")
    assert str(problem) == f"{paths[1]}:14:20: bad template"


def test_broken_annotation_template_is_reported_at_its_value(tmp_path: Path) -> None:
    """A template Prometheus would reject at load is a problem at the annotation's line."""
    path = tmp_path / "r.yml"
    path.write_text(
        "groups:\n"
        "  - name: g\n"
        "    rules:\n"
        "      - alert: A\n"
        "        expr: up == 0\n"
        "        annotations:\n"
        '          summary: "{{ $labels.instance "\n'
    )
    with pytest.raises(ConfigError) as info:
        load_rule_files([str(path)])
    (problem,) = info.value.problems
    assert (problem.line, problem.column) == (7, 20)
    assert "annotations.summary" in problem.message
    assert "unclosed action" in problem.message
