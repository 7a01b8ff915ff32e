"""Receivers and their channel configs (SPEC §4): one model per channel.

Every channel config shares :class:`ChannelConfig` (``send_resolved``, ``template`` and
the delivery options ``retry``, ``rate_limit``, ``digest``). Defaults of ``send_resolved``
follow Alertmanager per channel. Keys under ``global`` (``smtp_*``, ``slack_api_url``, ...)
fill channel keys left out; :func:`apply_global_defaults` does that on the raw config
before validation, so a key missing from both places is reported at the channel.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from promalert.config.base import Strict
from promalert.config.priorities import Priority
from promalert.config.types import Duration


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


def _http(value: str, info: ValidationInfo) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"{info.field_name} must start with http:// or https://")
    return value


def _http_secret(value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
    if value is not None:
        _http(value.get_secret_value(), info)
    return value


class RetryConfig(Strict):
    """How often and how long a failing notification is retried."""

    # 0 = no limit on attempts; max_age still ends the retries.
    attempts: int = Field(default=0, ge=0)
    base_delay: Duration = 1.0
    factor: float = Field(default=2.0, ge=1.0)
    max_delay: Duration = 300.0
    max_age: Duration = 3600.0
    # Each wait is scaled by a random factor in [1 - jitter, 1 + jitter].
    jitter: float = Field(default=0.2, ge=0.0, le=1.0)

    check_positive = field_validator("base_delay", "max_delay", "max_age")(_positive)


class RateLimit(Strict):
    """At most ``count`` sends per ``per``; later sends wait (they are never dropped)."""

    count: int = Field(ge=1)
    per: Duration

    check_positive = field_validator("per")(_positive)


def _low_priorities() -> list[Priority]:
    return ["P4", "P5"]


class DigestConfig(Strict):
    """Batch notifications whose alerts are all low priority into one message."""

    interval: Duration
    max_size: int = Field(default=50, ge=1)
    priorities: list[Priority] = Field(default_factory=_low_priorities, min_length=1)

    check_positive = field_validator("interval")(_positive)


class ChannelConfig(Strict):
    """What every channel config has."""

    send_resolved: bool = True
    # Path of a Jinja2 template file (relative to the config's folder) for this config.
    template: str | None = None
    retry: RetryConfig | None = None
    rate_limit: RateLimit | None = None
    digest: DigestConfig | None = None
    timeout: Duration = 10.0

    check_timeout = field_validator("timeout")(_positive)

    def recipients(self) -> list[str]:
        """Who this config notifies, for per-recipient rate limits (none by default)."""
        return []


class RecipientChannelConfig(ChannelConfig):
    """A channel config addressing people, which may be rate limited per recipient."""

    recipient_rate_limit: RateLimit | None = None


class WebhookConfig(ChannelConfig):
    """Alertmanager's webhook receiver: POSTs the version 4 payload as JSON."""

    secret_fields: ClassVar[tuple[str, ...]] = ("url", "hmac_secret")
    url: SecretStr
    # Values are secrets: they often carry credentials (Authorization: Bearer ...).
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    hmac_secret: SecretStr | None = None
    max_alerts: int = Field(default=0, ge=0)

    check_secret_url = field_validator("url")(_http_secret)


class FileConfig(Strict):
    """A local inbox: each notification is appended to ``path`` as one JSON line."""

    path: str | None = None
    console: bool = False
    send_resolved: bool = True

    @model_validator(mode="after")
    def _somewhere(self) -> FileConfig:
        if self.path is None and not self.console:
            raise ValueError("give a 'path', 'console: true', or both")
        return self


class TLSClientConfig(Strict):
    """TLS settings for a connection promalert makes."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None
    insecure_skip_verify: bool = False


class EmailConfig(RecipientChannelConfig):
    """SMTP: STARTTLS (or implicit TLS on port 465), auth, multipart text + HTML."""

    secret_fields: ClassVar[tuple[str, ...]] = ("auth_password",)
    send_resolved: bool = False
    to: list[str] = Field(min_length=1)
    from_: str | None = Field(default=None, alias="from")
    smarthost: str | None = None
    hello: str = "localhost"
    auth_username: str | None = None
    auth_password: SecretStr | None = None
    require_tls: bool = True
    # TLS from the first byte (SMTPS); unset: only on port 465, as Alertmanager does.
    implicit_tls: bool | None = None
    tls: TLSClientConfig | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: Duration = 30.0

    @field_validator("to", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        # Alertmanager takes one comma-separated string; a list is accepted too.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("smarthost")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is None:
            return value
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
            raise ValueError(f"smarthost must be HOST:PORT (got {value!r})")
        return value

    @model_validator(mode="after")
    def _complete(self) -> EmailConfig:
        if self.smarthost is None:
            raise ValueError("give 'smarthost' here or 'smtp_smarthost' under 'global'")
        if self.from_ is None:
            raise ValueError("give 'from' here or 'smtp_from' under 'global'")
        if self.auth_password is not None and self.auth_username is None:
            raise ValueError("'auth_password' needs 'auth_username'")
        return self

    @property
    def host(self) -> str:
        """Host part of ``smarthost``."""
        return (self.smarthost or "").rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        """Port part of ``smarthost``."""
        return int((self.smarthost or ":25").rpartition(":")[2])

    def recipients(self) -> list[str]:
        """The ``to`` addresses."""
        return list(self.to)


class SlackConfig(ChannelConfig):
    """Slack incoming webhook with Block Kit."""

    secret_fields: ClassVar[tuple[str, ...]] = ("api_url",)
    send_resolved: bool = False
    api_url: SecretStr | None = None
    channel: str | None = None
    username: str | None = None
    icon_emoji: str | None = None
    icon_url: str | None = None
    # Who is mentioned when alerts fire: "@here", "@channel", "<@U123>", "<!subteam^S1>".
    mention: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> SlackConfig:
        if self.api_url is None:
            raise ValueError("give 'api_url' here or 'slack_api_url' under 'global'")
        return self

    check_secret_url = field_validator("api_url")(_http_secret)


class PagerDutyConfig(ChannelConfig):
    """PagerDuty Events API v2."""

    secret_fields: ClassVar[tuple[str, ...]] = ("routing_key",)
    url: str = "https://events.pagerduty.com/v2/enqueue"
    routing_key: SecretStr
    # critical, error, warning or info; unset = derived from the alerts' severity label.
    severity: Literal["critical", "error", "warning", "info"] | None = None
    source: str | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = Field(default=None, alias="class")
    client: str = "promalert"

    check_url = field_validator("url")(_http)


class TwilioConfig(RecipientChannelConfig):
    """What SMS and voice share: a Twilio account and the numbers to use."""

    secret_fields: ClassVar[tuple[str, ...]] = ("auth_token",)
    provider: Literal["twilio"] = "twilio"
    api_url: str = "https://api.twilio.com"
    account_sid: str = Field(min_length=1)
    auth_token: SecretStr
    from_: str = Field(alias="from", min_length=1)
    to: list[str] = Field(min_length=1)
    # Ask Twilio to report delivery to POST /api/v1/twilio/status on global.external_url.
    status_callback: bool = True

    check_url = field_validator("api_url")(_http)

    @field_validator("to", mode="before")
    @classmethod
    def _one(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def recipients(self) -> list[str]:
        """The ``to`` numbers."""
        return list(self.to)


class SMSConfig(TwilioConfig):
    """Twilio SMS (``Messages.json``)."""

    max_length: int = Field(default=160, ge=10, le=1600)
    # Longer texts are cut ("truncate") or sent as numbered parts ("split").
    overflow: Literal["truncate", "split"] = "truncate"
    max_parts: int = Field(default=4, ge=1, le=10)


class VoiceConfig(TwilioConfig):
    """Twilio voice call (``Calls.json``) reading the message with TwiML ``<Say>``."""

    send_resolved: bool = False
    language: str = "en-US"
    voice: str | None = None
    repeat: int = Field(default=2, ge=1, le=10)


class WeComConfig(ChannelConfig):
    """WeCom (WeChat Work) group robot, markdown messages."""

    secret_fields: ClassVar[tuple[str, ...]] = ("url", "key")
    send_resolved: bool = False
    url: SecretStr | None = None
    key: SecretStr | None = None
    api_url: str = "https://qyapi.weixin.qq.com/cgi-bin/"
    mentions: list[str] = Field(default_factory=list)

    check_url = field_validator("api_url")(_http)

    @model_validator(mode="after")
    def _complete(self) -> WeComConfig:
        if (self.url is None) == (self.key is None):
            raise ValueError("give either 'url' (the robot's webhook) or 'key', not both")
        return self

    check_secret_url = field_validator("url")(_http_secret)

    def webhook_url(self) -> str:
        """The robot's full webhook URL."""
        if self.url is not None:
            return self.url.get_secret_value()
        assert self.key is not None  # the validator requires one of them
        return self.api_url.rstrip("/") + "/webhook/send?key=" + self.key.get_secret_value()


class DingTalkConfig(ChannelConfig):
    """DingTalk group robot, markdown messages signed with the robot's secret."""

    secret_fields: ClassVar[tuple[str, ...]] = ("url", "secret")
    url: SecretStr
    secret: SecretStr | None = None
    at_mobiles: list[str] = Field(default_factory=list)
    at_user_ids: list[str] = Field(default_factory=list)
    at_all: bool = False

    check_secret_url = field_validator("url")(_http_secret)


class TeamsConfig(ChannelConfig):
    """Microsoft Teams through a workflow (Power Automate) webhook, as an Adaptive Card."""

    secret_fields: ClassVar[tuple[str, ...]] = ("url",)
    url: SecretStr

    check_secret_url = field_validator("url")(_http_secret)


class TelegramConfig(RecipientChannelConfig):
    """Telegram Bot API ``sendMessage`` with HTML formatting."""

    secret_fields: ClassVar[tuple[str, ...]] = ("bot_token",)
    api_url: str = "https://api.telegram.org"
    bot_token: SecretStr
    chat_id: int | str
    message_thread_id: int | None = None
    disable_notifications: bool = False

    check_url = field_validator("api_url")(_http)

    def recipients(self) -> list[str]:
        """The chat."""
        return [str(self.chat_id)]


class DiscordConfig(ChannelConfig):
    """Discord webhook with an embed."""

    secret_fields: ClassVar[tuple[str, ...]] = ("url",)
    url: SecretStr
    username: str | None = None
    avatar_url: str | None = None

    check_secret_url = field_validator("url")(_http_secret)


class ReceiverConfig(Strict):
    """A named set of channel configs."""

    name: str = Field(min_length=1)
    webhook_configs: list[WebhookConfig] = Field(default_factory=list)
    file_configs: list[FileConfig] = Field(default_factory=list)
    email_configs: list[EmailConfig] = Field(default_factory=list)
    slack_configs: list[SlackConfig] = Field(default_factory=list)
    pagerduty_configs: list[PagerDutyConfig] = Field(default_factory=list)
    sms_configs: list[SMSConfig] = Field(default_factory=list)
    voice_configs: list[VoiceConfig] = Field(default_factory=list)
    wecom_configs: list[WeComConfig] = Field(default_factory=list)
    dingtalk_configs: list[DingTalkConfig] = Field(default_factory=list)
    teams_configs: list[TeamsConfig] = Field(default_factory=list)
    telegram_configs: list[TelegramConfig] = Field(default_factory=list)
    discord_configs: list[DiscordConfig] = Field(default_factory=list)


# channel list -> {channel key: global key}; secret keys also carry their *_file form.
GLOBAL_DEFAULTS: dict[str, dict[str, str]] = {
    "email_configs": {
        "smarthost": "smtp_smarthost",
        "from": "smtp_from",
        "hello": "smtp_hello",
        "auth_username": "smtp_auth_username",
        "auth_password": "smtp_auth_password",
        "require_tls": "smtp_require_tls",
    },
    "slack_configs": {"api_url": "slack_api_url"},
    "pagerduty_configs": {"url": "pagerduty_url"},
    "telegram_configs": {"api_url": "telegram_api_url"},
    "wecom_configs": {"api_url": "wechat_api_url"},
}


def apply_global_defaults(data: Any) -> Any:
    """Copy ``global`` defaults into channel configs of the raw config that leave them out.

    Works on unvalidated data and returns a new dict; anything malformed is left as it
    is for validation to report.
    """
    if not isinstance(data, dict):
        return data
    defaults = data.get("global")
    receivers = data.get("receivers")
    if not isinstance(defaults, dict) or not isinstance(receivers, list):
        return data
    new_receivers: list[Any] = []
    for receiver in receivers:
        if not isinstance(receiver, dict):
            new_receivers.append(receiver)
            continue
        receiver = dict(receiver)
        for channel, keys in GLOBAL_DEFAULTS.items():
            configs = receiver.get(channel)
            if isinstance(configs, list):
                receiver[channel] = [fill_defaults(c, keys, defaults) for c in configs]
        new_receivers.append(receiver)
    return {**data, "receivers": new_receivers}


def fill_defaults(config: Any, keys: dict[str, str], defaults: dict[str, Any]) -> Any:
    """``config`` with each missing key taken from its ``global`` default."""
    if not isinstance(config, dict):
        return config
    out = dict(config)
    for key, global_key in keys.items():
        if key in out or f"{key}_file" in out:
            continue
        if global_key in defaults:
            out[key] = defaults[global_key]
        elif f"{global_key}_file" in defaults:
            out[f"{key}_file"] = defaults[f"{global_key}_file"]
    return out
