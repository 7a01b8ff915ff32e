"""Channel configs in promalert.yml: every channel, global defaults, located errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from promalert.config.loader import load_config
from promalert.errors import ConfigError

ALL_CHANNELS = """\
global:
  smtp_smarthost: smtp.example.com:587
  smtp_from: alerts@example.com
  smtp_auth_username: alerts
  smtp_auth_password_file: smtp.pass
  slack_api_url_file: slack.url
  pagerduty_url: http://pd.local/v2/enqueue
  telegram_api_url: http://tg.local
  wechat_api_url: http://wecom.local/cgi-bin/
route: {receiver: team}
receivers:
  - name: team
    email_configs: [{to: "a@example.com, b@example.com"}]
    slack_configs: [{channel: "#ops", mention: "@here"}]
    pagerduty_configs: [{routing_key: k}]
    sms_configs: [{account_sid: AC1, auth_token: t, from: "+1", to: "+2", overflow: split}]
    voice_configs: [{account_sid: AC1, auth_token: t, from: "+1", to: ["+2"], language: de-DE}]
    wecom_configs: [{key: wk}]
    dingtalk_configs: [{url: "https://oapi.dingtalk.com/robot/send?access_token=x", secret: s}]
    teams_configs: [{url: "https://x.logic.azure.com/workflows/1?sig=s"}]
    telegram_configs: [{bot_token: b, chat_id: -100}]
    discord_configs: [{url: "https://discord.com/api/webhooks/1/t"}]
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "smtp.pass").write_text("pw\n")
    (tmp_path / "slack.url").write_text("https://hooks.slack.com/services/T/B/X\n")
    path = tmp_path / "promalert.yml"
    path.write_text(text)
    return path


def test_every_channel_loads_with_global_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ALL_CHANNELS))
    team = config.receiver("team")
    email = team.email_configs[0]
    assert (email.smarthost, email.from_, email.auth_username) == (
        "smtp.example.com:587",
        "alerts@example.com",
        "alerts",
    )
    assert email.auth_password is not None and email.auth_password.get_secret_value() == "pw"
    assert email.to == ["a@example.com", "b@example.com"]
    slack = team.slack_configs[0]
    assert slack.api_url is not None
    assert slack.api_url.get_secret_value() == "https://hooks.slack.com/services/T/B/X"
    assert team.pagerduty_configs[0].url == "http://pd.local/v2/enqueue"
    assert team.telegram_configs[0].api_url == "http://tg.local"
    assert team.wecom_configs[0].webhook_url() == "http://wecom.local/cgi-bin/webhook/send?key=wk"
    assert team.sms_configs[0].to == ["+2"] and team.sms_configs[0].overflow == "split"
    # send_resolved defaults follow Alertmanager per channel.
    defaults = {
        name: getattr(team, f"{name}_configs")[0].send_resolved
        for name in ("email", "slack", "pagerduty", "sms", "voice", "wecom", "dingtalk")
    }
    assert defaults == {
        "email": False,
        "slack": False,
        "pagerduty": True,
        "sms": True,
        "voice": False,
        "wecom": False,
        "dingtalk": True,
    }


def test_channel_values_win_over_global(tmp_path: Path) -> None:
    text = ALL_CHANNELS.replace(
        '[{to: "a@example.com, b@example.com"}]',
        "[{to: [c@example.com], smarthost: 'mail:25', require_tls: false}]",
    )
    email = load_config(write(tmp_path, text)).receiver("team").email_configs[0]
    assert (email.smarthost, email.require_tls, email.to) == ("mail:25", False, ["c@example.com"])


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return [str(p) for p in info.value.problems]


def test_missing_values_are_located_at_the_channel(tmp_path: Path) -> None:
    text = """\
route: {receiver: team}
receivers:
  - name: team
    email_configs:
      - to: a@example.com
    slack_configs:
      - channel: '#x'
    wecom_configs:
      - {}
    sms_configs:
      - {account_sid: AC1, auth_token: t, from: "+1", to: [], max_length: 5}
    webhook_configs:
      - {url: http://x, retry: {base_delay: 0}, rate_limit: {count: 0, per: 1m}}
"""
    path = write(tmp_path, text)
    assert problems(path) == [
        f"{path}:5:9: receivers.0.email_configs.0: give 'smarthost' here or 'smtp_smarthost' "
        "under 'global'",
        f"{path}:7:9: receivers.0.slack_configs.0: give 'api_url' here or 'slack_api_url' under "
        "'global'",
        f"{path}:9:9: receivers.0.wecom_configs.0: give either 'url' (the robot's webhook) or "
        "'key', not both",
        f"{path}:11:59: receivers.0.sms_configs.0.to: List should have at least 1 item after "
        "validation, not 0",
        f"{path}:11:75: receivers.0.sms_configs.0.max_length: Input should be greater than or "
        "equal to 10",
        f"{path}:13:45: receivers.0.webhook_configs.0.retry.base_delay: must be greater than 0",
        f"{path}:13:69: receivers.0.webhook_configs.0.rate_limit.count: Input should be greater "
        "than or equal to 1",
    ]
