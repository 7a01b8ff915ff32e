"""Receivers and their channel configs (SPEC §4): one model per channel."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, field_validator, model_validator

from promalert.config.base import Strict
from promalert.config.types import Duration


class WebhookConfig(Strict):
    """Alertmanager's webhook receiver: POSTs the version 4 payload as JSON."""

    secret_fields: ClassVar[tuple[str, ...]] = ("url", "hmac_secret")
    url: SecretStr
    send_resolved: bool = True
    headers: dict[str, str] = Field(default_factory=dict)
    hmac_secret: SecretStr | None = None
    max_alerts: int = Field(default=0, ge=0)
    timeout: Duration = 10.0

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        return value


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


class ReceiverConfig(Strict):
    """A named set of channel configs."""

    name: str = Field(min_length=1)
    webhook_configs: list[WebhookConfig] = Field(default_factory=list)
    file_configs: list[FileConfig] = Field(default_factory=list)
