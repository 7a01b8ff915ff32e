"""Models of ``promalert.yml``, validated at load time.

Secret fields are :class:`pydantic.SecretStr` (never printed) and accept a ``<field>_file``
form that reads the secret from a file relative to the config file's folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from promalert.config.auth import AuthConfig
from promalert.config.base import Strict
from promalert.config.escalation import EscalationPolicyConfig, policy_references
from promalert.config.people import (
    CONTACT_KINDS,
    ContactChannelsConfig,
    UserConfig,
    apply_contact_defaults,
)
from promalert.config.priorities import PrioritiesConfig
from promalert.config.receivers import ReceiverConfig, apply_global_defaults
from promalert.config.reports import ReportConfig
from promalert.config.routing import (
    InhibitRuleConfig,
    RootRouteConfig,
    RouteConfig,
    route_problems,
)
from promalert.config.schedules import ScheduleConfig
from promalert.config.timeintervals import NamedTimeInterval
from promalert.config.types import Duration

__all__ = ["Config", "ReceiverConfig", "RouteConfig", "Strict"]


def _error(loc: tuple[str | int, ...], message: str) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError("value_error", message), loc=loc, input=None)


class BasicAuth(Strict):
    """HTTP basic authentication."""

    secret_fields: ClassVar[tuple[str, ...]] = ("password",)
    username: str
    password: SecretStr | None = None


class TLSConfig(Strict):
    """TLS settings for an HTTP client."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure_skip_verify: bool = False


class GlobalConfig(Strict):
    """Defaults for the whole service."""

    secret_fields: ClassVar[tuple[str, ...]] = (
        "secret_key",
        "smtp_auth_password",
        "slack_api_url",
    )
    external_url: str = "http://127.0.0.1:9099"
    evaluation_interval: Duration = 60.0
    resolve_timeout: Duration = 300.0
    secret_key: SecretStr | None = None
    # Alertmanager's defaults for channel configs (copied into them by apply_global_defaults).
    smtp_smarthost: str | None = None
    smtp_from: str | None = None
    smtp_hello: str | None = None
    smtp_auth_username: str | None = None
    smtp_auth_password: SecretStr | None = None
    smtp_require_tls: bool | None = None
    slack_api_url: SecretStr | None = None
    pagerduty_url: str | None = None
    telegram_api_url: str | None = None
    wechat_api_url: str | None = None


class DatasourceConfig(Strict):
    """The Prometheus-API-compatible server that rules query."""

    secret_fields: ClassVar[tuple[str, ...]] = ("bearer_token",)
    url: str
    timeout: Duration = 30.0
    headers: dict[str, str] = Field(default_factory=dict)
    basic_auth: BasicAuth | None = None
    bearer_token: SecretStr | None = None
    tls: TLSConfig | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https:// (got {value!r})")
        return value.rstrip("/")


class ServerConfig(Strict):
    """The HTTP server."""

    listen: str = "127.0.0.1:9099"
    auth: AuthConfig | None = None
    # Send notifications from a second process (a second CPU core); false: from the
    # service's own event loop. The store and the API are the same either way.
    delivery_process: bool = True

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"listen must be HOST:PORT (got {value!r})")
        return value

    @property
    def host(self) -> str:
        """Host part of ``listen``."""
        return self.listen.rpartition(":")[0] or "127.0.0.1"

    @property
    def port(self) -> int:
        """Port part of ``listen``."""
        return int(self.listen.rpartition(":")[2])


class StorageConfig(Strict):
    """Where state lives."""

    url: str = "sqlite:///data/promalert.db"
    # How long sent and failed notifications stay in the delivery log.
    notification_retention: Duration = 7 * 86400.0
    # How long resolved incidents and their timelines are kept.
    incident_retention: Duration = 90 * 86400.0

    @field_validator("url")
    @classmethod
    def _sqlite(cls, value: str) -> str:
        if not value.startswith("sqlite:///"):
            raise ValueError(
                f"storage url must be sqlite:///relative/path.db or sqlite:////absolute/path.db "
                f"(got {value!r})"
            )
        return value


class Config(Strict):
    """The whole of ``promalert.yml``."""

    global_: GlobalConfig = Field(default_factory=GlobalConfig, alias="global")
    datasource: DatasourceConfig | None = None
    server: ServerConfig = Field(default_factory=ServerConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    rule_files: list[str] = Field(default_factory=list)
    templates: list[str] = Field(default_factory=list)
    route: RootRouteConfig
    receivers: list[ReceiverConfig] = Field(min_length=1)
    inhibit_rules: list[InhibitRuleConfig] = Field(default_factory=list)
    time_intervals: list[NamedTimeInterval] = Field(default_factory=list)
    # Alertmanager's older name for time_intervals, still accepted by 0.25.
    mute_time_intervals: list[NamedTimeInterval] = Field(default_factory=list)
    priorities: PrioritiesConfig | None = None
    users: dict[str, UserConfig] = Field(default_factory=dict)
    contact_channels: ContactChannelsConfig = Field(default_factory=ContactChannelsConfig)
    schedules: dict[str, ScheduleConfig] = Field(default_factory=dict)
    escalation_policies: dict[str, EscalationPolicyConfig] = Field(default_factory=dict)
    reports: list[ReportConfig] = Field(default_factory=list)
    # Folder of the config file; relative paths resolve against it.
    base_dir: str = Field(default=".", exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _global_defaults(cls, data: Any) -> Any:
        return apply_contact_defaults(apply_global_defaults(data))

    @model_validator(mode="after")
    def _references(self) -> Config:
        names = [r.name for r in self.receivers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"receivers: receiver names must be unique: {', '.join(dupes)}")
        intervals = [t.name for t in self.all_time_intervals()]
        repeated = sorted({n for n in intervals if intervals.count(n) > 1})
        if repeated:
            raise ValueError(f"time_intervals: names must be unique: {', '.join(repeated)}")
        problems = route_problems(self.route, names, intervals, self.escalation_policies)
        problems += self._people_problems(names)
        if problems:
            # Every broken reference at once, each at its own place in the file.
            raise ValidationError.from_exception_data("Config", problems)
        if self.rule_files and self.datasource is None:
            raise ValueError(
                "rule_files: rule files need a 'datasource' with the Prometheus url to query"
            )
        return self

    def _people_problems(self, receivers: list[str]) -> list[InitErrorDetails]:
        """Names that policies, schedules and reports use but nobody defined."""
        problems: list[InitErrorDetails] = []
        known = {
            "user": set(self.users),
            "schedule": set(self.schedules),
            "receiver": set(receivers),
            "policy": set(self.escalation_policies),
        }
        for name, policy in self.escalation_policies.items():
            for kind, ref in sorted(policy_references({name: policy})):
                if ref not in known[kind]:
                    message = f"{kind} {ref!r} is not defined"
                    problems.append(_error(("escalation_policies", name), message))
            for level in policy.levels:
                if all(t.receiver is not None for t in level.targets):
                    continue  # receivers use their own channel configs
                for channel in level.channels:
                    if getattr(self.contact_channels, channel) is None:
                        message = (
                            f"contact channel {channel!r} is not configured in contact_channels"
                        )
                        problems.append(_error(("escalation_policies", name), message))
        for name, schedule in self.schedules.items():
            users = {m for layer in schedule.layers for m in layer.members}
            users |= {o.user for o in schedule.overrides}
            for user in sorted(users - set(self.users)):
                message = f"user {user!r} is not defined in users"
                problems.append(_error(("schedules", name), message))
            if schedule.handoff_notifications:
                for i, handoff in enumerate(schedule.handoff_channels):
                    if (
                        handoff not in CONTACT_KINDS
                        or getattr(self.contact_channels, handoff) is None
                    ):
                        message = (
                            f"handoff channel {handoff!r} is not configured in contact_channels "
                            f"(configured: {', '.join(self.contact_channels.kinds()) or 'none'})"
                        )
                        at = ("schedules", name, "handoff_channels", i)
                        problems.append(_error(at, message))
        for i, report in enumerate(self.reports):
            if report.receiver not in known["receiver"]:
                message = f"receiver {report.receiver!r} is not defined"
                problems.append(_error(("reports", i, "receiver"), message))
        return problems

    def all_time_intervals(self) -> list[NamedTimeInterval]:
        """``time_intervals`` and the older ``mute_time_intervals`` together."""
        return [*self.time_intervals, *self.mute_time_intervals]

    def receiver(self, name: str) -> ReceiverConfig:
        """The receiver called ``name``."""
        return next(r for r in self.receivers if r.name == name)

    def storage_path(self) -> Path:
        """Filesystem path of the SQLite database."""
        rest = self.storage.url.removeprefix("sqlite:///")
        path = Path(rest)
        return path if path.is_absolute() else Path(self.base_dir) / path
