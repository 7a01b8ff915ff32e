"""Routing config: Alertmanager's checks, each problem located in promalert.yml."""

from __future__ import annotations

from pathlib import Path

import pytest

from promalert.config.loader import load_config
from promalert.errors import ConfigError

BASE = """\
receivers:
  - name: team
  - name: db
time_intervals:
  - name: weekend
    time_intervals: [{weekdays: [saturday, sunday]}]
"""


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "promalert.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return [str(p).removeprefix(f"{path}:") for p in info.value.problems]


def test_full_tree_loads(tmp_path: Path) -> None:
    path = tmp_path / "promalert.yml"
    path.write_text(
        BASE
        + """\
route:
  receiver: team
  group_by: [alertname]
  routes:
    - matchers: ['severity=~"critical|high"', team=db]
      receiver: db
      continue: true
      mute_time_intervals: [weekend]
      routes:
        - match_re: {service: "pg.*"}
          group_by: ['...']
    - match: {team: web}
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [alertname, cluster]
priorities:
  channels: {P1: [all], P5: [chat]}
"""
    )
    config = load_config(path)
    child = config.route.routes[0]
    assert [str(m) for m in child.all_matchers()] == ['severity=~"critical|high"', 'team="db"']
    assert child.continue_ and child.routes[0].group_by_all
    assert config.inhibit_rules[0].equal == ["alertname", "cluster"]
    assert config.priorities is not None


def test_broken_references_are_each_reported_where_they_are(tmp_path: Path) -> None:
    text = (
        BASE
        + """\
route:
  receiver: nobody
  routes:
    - receiver: ghost
      active_time_intervals: [weekend, holidays]
      routes:
        - receiver: db
          mute_time_intervals: [lunch]
"""
    )
    assert problems(tmp_path, text) == [
        "8:3: route: receiver 'nobody' is not defined (receivers: db, team)",
        "10:17: route.routes.0.receiver: receiver 'ghost' is not defined (receivers: db, team)",
        "11:40: route.routes.0.active_time_intervals.1: time interval 'holidays' is not "
        "defined in time_intervals",
        "14:33: route.routes.0.routes.0.mute_time_intervals.0: time interval 'lunch' is not "
        "defined in time_intervals",
    ]


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ("  group_by: ['...', alertname]\n", "cannot have wildcard group_by"),
        ("  group_by: [a, a]\n", "duplicated label 'a' in group_by"),
        ("  group_by: [0bad]\n", "invalid label name '0bad' in group_by list"),
        ("  group_interval: 0s\n", "group_interval cannot be zero"),
        ("  repeat_interval: 0s\n", "repeat_interval cannot be zero"),
        ("  matchers: [team=db]\n", "root route must not have any matchers"),
        ("  mute_time_intervals: [weekend]\n", "root route must not have any mute_time_intervals"),
        ("  routes: [{matchers: ['team=~\"(\"']}]\n", "invalid regular expression"),
        ("  routes: [{match: {0x: y}}]\n", "invalid label name '0x'"),
    ],
)
def test_alertmanager_route_checks(tmp_path: Path, route: str, message: str) -> None:
    found = problems(tmp_path, BASE + "route:\n  receiver: team\n" + route)
    assert len(found) == 1 and message in found[0], found


def test_inhibit_rule_equal_names_are_checked(tmp_path: Path) -> None:
    text = BASE + "route: {receiver: team}\ninhibit_rules: [{equal: ['bad name']}]\n"
    (found,) = problems(tmp_path, text)
    assert "invalid label name 'bad name' in equal" in found


def test_time_interval_names_must_be_unique(tmp_path: Path) -> None:
    text = BASE + "mute_time_intervals: [{name: weekend}]\nroute: {receiver: team}\n"
    (found,) = problems(tmp_path, text)
    assert "time_intervals: names must be unique: weekend" in found
