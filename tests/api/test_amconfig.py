"""``status.config.original``: only what Alertmanager 0.25 knows, secrets hidden, and
accepted by Alertmanager's own parser (``amtool check-config``) where it is installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from promalert.api.amconfig import original_yaml
from promalert.config.loader import load_config

CONFIG = """\
global:
  resolve_timeout: 2m
  smtp_smarthost: smtp.example.com:587
  smtp_from: alerts@example.com
route:
  receiver: all
  group_by: ['...']
  routes:
    - matchers: ['team="db"', 'severity=~"critical|high"']
      mute_time_intervals: [weekend]
      continue: true
      flapping: {changes: 3, window: 10m}
      storm: {threshold: 100}
      group_wait: 10s
    - match_re: {service: "pay.*"}
      active_time_intervals: [weekend]
inhibit_rules:
  - source_match: {severity: critical}
    target_matchers: [severity="warning"]
    equal: [instance]
time_intervals:
  - name: weekend
    time_intervals:
      - weekdays: [saturday, sunday]
        times: [{start_time: "08:00", end_time: "20:00"}]
        days_of_month: ["1:5", "-3:-1"]
        location: Europe/Berlin
receivers:
  - name: all
    webhook_configs: [{url: "https://user:pw@hooks.example.com:8443/path?token=s3cret"}]
    email_configs: [{to: [a@example.com], auth_username: bot, auth_password: hunter2}]
    slack_configs: [{api_url: "https://hooks.slack.com/services/T/B/XYZ", channel: "#ops"}]
    pagerduty_configs: [{routing_key: pdkey}]
priorities: {}
"""


@pytest.fixture
def original(tmp_path: Path) -> str:
    path = tmp_path / "promalert.yml"
    path.write_text(CONFIG)
    return original_yaml(load_config(path))


def test_only_alertmanager_keys_and_no_secrets(original: str) -> None:
    for secret in ("pw", "s3cret", "hunter2", "XYZ", "pdkey"):
        assert secret not in original
    config = yaml.safe_load(original)
    assert set(config) == {
        "global",
        "route",
        "inhibit_rules",
        "receivers",
        "time_intervals",
        "templates",
    }
    child = config["route"]["routes"][0]
    assert child == {
        "continue": True,
        "matchers": ['severity=~"critical|high"', 'team="db"'],
        "mute_time_intervals": ["weekend"],
        "group_wait": "10s",
    }
    assert config["global"]["resolve_timeout"] == "2m"
    hook = config["receivers"][0]["webhook_configs"][0]
    assert hook["url"] == "https://hooks.example.com:8443/<secret>"
    assert config["receivers"][0]["email_configs"][0]["auth_password"] == "<secret>"


def test_alertmanagers_parser_accepts_it(original: str, tmp_path: Path) -> None:
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.skip("amtool is not installed")
    (tmp_path / "original.yml").write_text(original)
    check = subprocess.run(
        [amtool, "check-config", str(tmp_path / "original.yml")], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
